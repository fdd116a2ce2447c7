// rsetsockopt / rgetsockopt / rfcntl / rgetpeername / rgetsockname.
//
// Honoured: SO_RCVBUF (receive ring size) and SO_SNDBUF (send staging size),
// RDMA_SQSIZE / RDMA_RQSIZE (queue depths), RDMA_INLINE (largest inline
// data message), RDMA_IOMAPSIZE (how many riomap(PROT_WRITE) regions may be
// open), SO_ERROR, O_NONBLOCK. The sizes apply to the next connection
// (set them before rconnect / on the listener before raccept), as rsockets'.
// Accepted and remembered, with no effect: SO_REUSEADDR (rdma_cm ports are
// free again as soon as their id is gone), SO_KEEPALIVE / TCP_KEEPIDLE (a
// dead peer is seen through the CM's TCP connection anyway), SO_LINGER
// (rclose always waits, bounded, for the data in flight), TCP_NODELAY
// (every rsend is sent at once), TCP_MAXSEG, RDMA_ROUTE (routes resolve
// locally).
#include <fcntl.h>
#include <netinet/tcp.h>
#include <rdma/rsocket.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "pipe/device_caps.h"
#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

using pipe::DeviceCaps;

constexpr uint32_t kMinBuf = 4096;
constexpr uint32_t kMaxBuf = 64u << 20;
constexpr uint32_t kMinQueue = 2 * kCtrlReserve + 8;
constexpr int kMaxSegment = 64 * 1024;  // the largest data message

uint32_t clamp(int v, uint32_t lo, uint32_t hi) {
  return std::clamp<uint32_t>(v < 0 ? 0u : uint32_t(v), lo, hi);
}

int get_int(const void* optval, socklen_t optlen, int* out) {
  if (optval == nullptr || optlen < socklen_t(sizeof(int))) return EINVAL;
  std::memcpy(out, optval, sizeof(int));
  return 0;
}

int set_option(RSocket* s, int level, int name, const void* optval, socklen_t optlen) {
  Options& o = s->opt;
  if (level == SOL_RDMA && name == RDMA_ROUTE) return 0;
  if (level == SOL_SOCKET && name == SO_LINGER) {
    if (optval == nullptr || optlen < socklen_t(sizeof(struct linger))) return EINVAL;
    std::memcpy(&o.linger, optval, sizeof o.linger);
    return 0;
  }
  int v = 0;
  if (int err = get_int(optval, optlen, &v); err != 0) return err;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_REUSEADDR: o.reuseaddr = v != 0; return 0;
      case SO_KEEPALIVE: o.keepalive = v != 0; return 0;
      case SO_RCVBUF: o.rbuf_bytes = clamp(v, kMinBuf, kMaxBuf); return 0;
      case SO_SNDBUF: o.sbuf_bytes = clamp(v, kMinBuf, kMaxBuf); return 0;
      default: return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY: o.nodelay = v != 0; return 0;
      case TCP_MAXSEG: return 0;
      case TCP_KEEPIDLE:
        if (v < 1) return EINVAL;
        o.keepidle = v;
        return 0;
      default: return ENOPROTOOPT;
    }
  }
  if (level == SOL_RDMA) {
    switch (name) {
      case RDMA_SQSIZE: o.sq_size = clamp(v, kMinQueue, DeviceCaps::kMaxQpWr); return 0;
      case RDMA_RQSIZE: o.rq_size = clamp(v, kMinQueue, DeviceCaps::kMaxQpWr); return 0;
      case RDMA_INLINE: o.inline_bytes = clamp(v, 0, DeviceCaps::kMaxInlineData); return 0;
      case RDMA_IOMAPSIZE: o.iomap_size = clamp(v, 0, 1u << 16); return 0;
      default: return ENOPROTOOPT;
    }
  }
  return ENOPROTOOPT;
}

int get_option(RSocket* s, int level, int name, int* v) {
  const Options& o = s->opt;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_REUSEADDR: *v = o.reuseaddr; return 0;
      case SO_KEEPALIVE: *v = o.keepalive; return 0;
      case SO_RCVBUF: *v = int(o.rbuf_bytes); return 0;
      case SO_SNDBUF: *v = int(o.sbuf_bytes); return 0;
      case SO_TYPE: *v = SOCK_STREAM; return 0;
      case SO_ERROR:
        *v = s->error;
        s->error = 0;
        return 0;
      default: return ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    switch (name) {
      case TCP_NODELAY: *v = o.nodelay; return 0;
      case TCP_MAXSEG: *v = kMaxSegment; return 0;
      case TCP_KEEPIDLE: *v = o.keepidle; return 0;
      default: return ENOPROTOOPT;
    }
  }
  if (level == SOL_RDMA) {
    switch (name) {
      case RDMA_SQSIZE: *v = int(o.sq_size); return 0;
      case RDMA_RQSIZE: *v = int(o.rq_size); return 0;
      case RDMA_INLINE: *v = int(o.inline_bytes); return 0;
      case RDMA_IOMAPSIZE: *v = int(o.iomap_size); return 0;
      default: return ENOPROTOOPT;
    }
  }
  return ENOPROTOOPT;
}

int copy_addr(const sockaddr* from, struct sockaddr* to, socklen_t* len) {
  if (to == nullptr || len == nullptr) return set_errno(EFAULT);
  socklen_t n = std::min<socklen_t>(*len, sizeof(sockaddr_in));
  std::memcpy(to, from, n);
  *len = sizeof(sockaddr_in);
  return 0;
}

}  // namespace
}  // namespace flexins::rdmacm::rs

using namespace flexins::rdmacm::rs;

extern "C" {

int rsetsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  int err = set_option(s, level, optname, optval, optlen);
  return err == 0 ? 0 : set_errno(err);
}

int rgetsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  if (optval == nullptr || optlen == nullptr) return set_errno(EFAULT);
  std::lock_guard g(s->mu);
  if (level == SOL_SOCKET && optname == SO_LINGER) {
    if (*optlen < socklen_t(sizeof(struct linger))) return set_errno(EINVAL);
    std::memcpy(optval, &s->opt.linger, sizeof(struct linger));
    *optlen = sizeof(struct linger);
    return 0;
  }
  if (level == SOL_SOCKET && optname == SO_ERROR && s->state == SockState::kConnecting) poll_cm(s);
  int v = 0;
  if (int err = get_option(s, level, optname, &v); err != 0) return set_errno(err);
  if (*optlen < socklen_t(sizeof v)) return set_errno(EINVAL);
  std::memcpy(optval, &v, sizeof v);
  *optlen = sizeof v;
  return 0;
}

int rfcntl(int fd, int cmd, ...) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  switch (cmd) {
    case F_GETFL: return O_RDWR | (s->nonblocking ? O_NONBLOCK : 0);
    case F_SETFL: {
      va_list ap;
      va_start(ap, cmd);
      int flags = va_arg(ap, int);
      va_end(ap);
      s->nonblocking = (flags & O_NONBLOCK) != 0;
      return 0;
    }
    default: return set_errno(EINVAL);  // only the file status flags mean anything here
  }
}

int rgetpeername(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  if (s->state != SockState::kConnected) return set_errno(ENOTCONN);
  return copy_addr(rdma_get_peer_addr(s->id), addr, addrlen);
}

int rgetsockname(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  return copy_addr(rdma_get_local_addr(s->id), addr, addrlen);
}

}  // extern "C"
