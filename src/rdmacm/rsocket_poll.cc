// rpoll and rselect over rsockets and ordinary descriptors together. With
// no rsocket among them they are poll(2) / select(2) (rping and ucmatose
// call rpoll on plain fds). Otherwise: look at every rsocket (reaping its
// completions); if nothing is ready, arm the rsockets' CQs, look once more,
// and sleep in poll(2) on their completion and CM channels next to the
// ordinary fds.
#include <poll.h>
#include <rdma/rsocket.h>
#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

using Clock = std::chrono::steady_clock;

// Ready rsockets and ordinary fds now; revents filled in FDS.
int scan(pollfd* fds, nfds_t n, const std::vector<RSocket*>& socks) {
  std::vector<pollfd> plain;
  std::vector<nfds_t> where;
  for (nfds_t i = 0; i < n; ++i) {
    fds[i].revents = 0;
    if (socks[i] == nullptr) {
      plain.push_back(fds[i]);
      where.push_back(i);
    }
  }
  if (!plain.empty() && poll(plain.data(), plain.size(), 0) < 0) return -1;
  for (size_t k = 0; k < plain.size(); ++k) fds[where[k]].revents = plain[k].revents;
  int ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    if (RSocket* s = socks[i]) {
      std::lock_guard g(s->mu);
      fds[i].revents = readiness(s, fds[i].events);
    }
    if (fds[i].revents != 0) ++ready;
  }
  return ready;
}

// Sleep until an ordinary fd, or a completion / CM channel of an rsocket,
// has news, or TIMEOUT_MS (-1: forever) passes. Then drain the channels.
int sleep_on(pollfd* fds, nfds_t n, const std::vector<RSocket*>& socks, int timeout_ms) {
  std::vector<pollfd> all;
  std::vector<RSocket*> owner;
  for (nfds_t i = 0; i < n; ++i) {
    RSocket* s = socks[i];
    if (s == nullptr) {
      all.push_back(fds[i]);
      owner.push_back(nullptr);
      continue;
    }
    std::lock_guard g(s->mu);
    all.push_back({s->channel->fd, POLLIN, 0});
    owner.push_back(s);
    if (s->comp != nullptr) {
      all.push_back({s->comp->fd, POLLIN, 0});
      owner.push_back(s);
    }
  }
  int r = poll(all.data(), all.size(), timeout_ms);
  if (r <= 0) return r;
  for (size_t k = 0; k < all.size(); ++k) {
    if (owner[k] == nullptr || all[k].revents == 0) continue;
    std::lock_guard g(owner[k]->mu);
    if (owner[k]->comp != nullptr && all[k].fd == owner[k]->comp->fd) take_cq_event(owner[k]);
  }
  return r;
}

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return int(std::max<int64_t>(0, left));
}

}  // namespace

}  // namespace flexins::rdmacm::rs

using namespace flexins::rdmacm::rs;

extern "C" {

int rpoll(struct pollfd* fds, nfds_t nfds, int timeout) {
  std::vector<RSocket*> socks(nfds, nullptr);
  bool any = false;
  for (nfds_t i = 0; i < nfds; ++i) {
    socks[i] = find_socket(fds[i].fd);
    any = any || socks[i] != nullptr;
  }
  if (!any) return poll(fds, nfds, timeout);
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout, 0));
  for (;;) {
    int ready = scan(fds, nfds, socks);
    if (ready != 0 || timeout == 0) return ready;
    for (RSocket* s : socks) {
      if (s == nullptr) continue;
      std::lock_guard g(s->mu);
      arm_cq(s);
    }
    ready = scan(fds, nfds, socks);  // what came before the arming
    if (ready != 0) return ready;
    int wait_ms = timeout < 0 ? -1 : ms_left(deadline);
    if (timeout > 0 && wait_ms == 0) return 0;
    if (sleep_on(fds, nfds, socks, wait_ms) < 0 && errno != EINTR) return -1;
  }
}

int rselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, struct timeval* timeout) {
  if (nfds < 0 || nfds > FD_SETSIZE) {
    errno = EINVAL;
    return -1;
  }
  bool any = false;
  for (int fd = 0; fd < nfds && !any; ++fd) {
    bool asked = (readfds && FD_ISSET(fd, readfds)) || (writefds && FD_ISSET(fd, writefds)) ||
                 (exceptfds && FD_ISSET(fd, exceptfds));
    any = asked && find_socket(fd) != nullptr;
  }
  if (!any) return select(nfds, readfds, writefds, exceptfds, timeout);

  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds; ++fd) {
    short ev = 0;
    if (readfds && FD_ISSET(fd, readfds)) ev |= POLLIN;
    if (writefds && FD_ISSET(fd, writefds)) ev |= POLLOUT;
    if (exceptfds && FD_ISSET(fd, exceptfds)) ev |= POLLPRI;
    if (ev != 0) fds.push_back({fd, ev, 0});
  }
  int ms = timeout == nullptr ? -1 : int(timeout->tv_sec * 1000 + timeout->tv_usec / 1000);
  int r = rpoll(fds.data(), fds.size(), ms);
  if (r < 0) return r;
  if (readfds) FD_ZERO(readfds);
  if (writefds) FD_ZERO(writefds);
  if (exceptfds) FD_ZERO(exceptfds);
  int count = 0;
  for (const pollfd& p : fds) {
    // As select(2): an error or hang-up makes a descriptor readable / writable.
    if (readfds && (p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      FD_SET(p.fd, readfds);
      ++count;
    }
    if (writefds && (p.events & POLLOUT) && (p.revents & (POLLOUT | POLLERR))) {
      FD_SET(p.fd, writefds);
      ++count;
    }
    if (exceptfds && (p.events & POLLPRI) && (p.revents & POLLPRI)) {
      FD_SET(p.fd, exceptfds);
      ++count;
    }
  }
  return count;
}

}  // extern "C"
