// riomap / riounmap / riowrite: direct data placement. riomap registers an
// application buffer and, for PROT_WRITE, announces it to the peer (IOMAP);
// the peer's riowrite then RDMA WRITEs straight into it, at the riomap
// offset it names, with no receive WR and no completion on this side.
#include <rdma/rsocket.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

constexpr size_t kMaxWrite = 64 * 1024;  // one WR, so sends complete as they go

const RemoteMap* find_remote(const RSocket* s, uint64_t offset) {
  for (const RemoteMap& m : s->remote_maps)
    if (offset >= m.offset && offset - m.offset < m.length) return &m;
  return nullptr;
}

bool writable(const LocalMap& m) { return m.mr != nullptr && m.remote_write; }

ssize_t do_riowrite(RSocket* s, const uint8_t* buf, size_t count, uint64_t offset, int flags) {
  if (s->state != SockState::kConnected) return set_errno(ENOTCONN);
  const bool nonblock = s->nonblocking || (flags & MSG_DONTWAIT);
  size_t done = 0;
  while (done < count) {
    progress(s);
    if (s->shut_wr || broken(s)) {
      if (done > 0) break;
      return set_errno(s->conn_error != 0 && !s->shut_wr ? s->conn_error : EPIPE);
    }
    const RemoteMap* m = find_remote(s, offset + done);
    if (m == nullptr) {
      if (done > 0) break;
      return set_errno(EINVAL);  // the peer has announced no mapping there
    }
    uint64_t at = offset + done - m->offset;
    size_t n = std::min<uint64_t>({count - done, m->length - at, kMaxWrite});
    const bool inl = goes_inline(s, n);
    n = staging_room(s, n);
    if (n == 0) {
      if (nonblock) {
        if (done > 0) break;
        poll_cm(s);
        return set_errno(EAGAIN);
      }
      wait_events(s, -1);
      continue;
    }
    if (post_write(s, buf + done, n, inl, m->addr + at, m->rkey) != 0) continue;
    done += n;
  }
  return ssize_t(done);
}

}  // namespace
}  // namespace flexins::rdmacm::rs

using namespace flexins::rdmacm::rs;

extern "C" {

off_t riomap(int fd, void* buf, size_t len, int prot, int /*flags*/, off_t offset) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  if ((prot & ~(PROT_WRITE | PROT_NONE)) != 0 || buf == nullptr || len == 0) return set_errno(EINVAL);
  std::lock_guard g(s->mu);
  if (s->state != SockState::kConnected || s->pd == nullptr) return set_errno(EINVAL);
  const bool write = prot & PROT_WRITE;
  if (write) {
    // RDMA_IOMAPSIZE bounds the regions the peer may write into.
    size_t open = std::count_if(s->local_maps.begin(), s->local_maps.end(), writable);
    if (open >= s->opt.iomap_size) return set_errno(ENOMEM);
  }
  int access = IBV_ACCESS_LOCAL_WRITE | (write ? IBV_ACCESS_REMOTE_WRITE : 0);
  ibv_mr* mr = ibv_reg_mr(s->pd, buf, len, access);
  if (mr == nullptr) return -1;
  if (offset == -1) offset = off_t(reinterpret_cast<uintptr_t>(buf));
  s->local_maps.push_back(LocalMap{mr, uint64_t(offset), write});
  if (write) {
    CtrlMsg m;
    m.type = CtrlType::kIomap;
    m.freed = uint64_t(offset);
    m.addr = reinterpret_cast<uintptr_t>(buf);
    m.length = len;
    m.rkey = mr->rkey;
    send_ctrl(s, m);
  }
  return offset;
}

int riounmap(int fd, void* buf, size_t len) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  auto it = std::find_if(s->local_maps.begin(), s->local_maps.end(), [&](const LocalMap& m) {
    return m.mr->addr == buf && m.mr->length == len;
  });
  if (it == s->local_maps.end()) return set_errno(EINVAL);
  if (it->remote_write && s->state == SockState::kConnected && !broken(s)) {
    CtrlMsg m;
    m.type = CtrlType::kIounmap;
    m.freed = it->offset;
    send_ctrl(s, m);
  }
  ibv_dereg_mr(it->mr);
  s->local_maps.erase(it);
  return 0;
}

size_t riowrite(int fd, const void* buf, size_t count, off_t offset, int flags) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return size_t(set_errno(EBADF));
  if (offset < 0) return size_t(set_errno(EINVAL));
  std::lock_guard g(s->mu);
  return size_t(do_riowrite(s, static_cast<const uint8_t*>(buf), count, uint64_t(offset), flags));
}

}  // extern "C"
