// Which descriptors are rsockets: a vector indexed by fd.
#include <cerrno>
#include <mutex>
#include <vector>

#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

std::mutex& table_mutex() {
  static std::mutex m;
  return m;
}

std::vector<RSocket*>& table() {
  static std::vector<RSocket*> t;
  return t;
}

}  // namespace

RSocket* find_socket(int fd) {
  std::lock_guard g(table_mutex());
  auto& t = table();
  return fd >= 0 && size_t(fd) < t.size() ? t[size_t(fd)] : nullptr;
}

void add_socket(RSocket* s) {
  std::lock_guard g(table_mutex());
  auto& t = table();
  if (size_t(s->fd) >= t.size()) t.resize(size_t(s->fd) + 1, nullptr);
  t[size_t(s->fd)] = s;
}

void remove_socket(RSocket* s) {
  std::lock_guard g(table_mutex());
  auto& t = table();
  if (s->fd >= 0 && size_t(s->fd) < t.size() && t[size_t(s->fd)] == s) t[size_t(s->fd)] = nullptr;
}

int set_errno(int err) {
  errno = err;
  return -1;
}

}  // namespace flexins::rdmacm::rs
