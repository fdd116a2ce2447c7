// One message with file descriptors over a Unix socket (SCM_RIGHTS), as the
// control path and the event sockets use them. Header-only: both the engine
// and the verbs library include it.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "pipe/control_proto.h"

namespace flexins::pipe {

// Send `len` bytes and `fds` as one message. Returns 0 or an errno.
inline int send_msg(int sock, const void* data, size_t len, std::span<const int> fds = {}) {
  iovec iov{const_cast<void*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
  if (!fds.empty()) {
    if (fds.size() > kMaxFdsPerMsg) return EINVAL;
    msg.msg_control = ctrl;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (r == ssize_t(len)) return 0;
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? errno : EIO;
  }
}

// Receive one message into buf (cap bytes) and up to fds.size() descriptors
// (received with O_CLOEXEC). Returns the byte count, 0 on EOF, or -errno.
// *nfds gets the number of descriptors; extra ones are closed.
inline ssize_t recv_msg(int sock, void* buf, size_t cap, std::span<int> fds, size_t* nfds, int flags = 0) {
  iovec iov{buf, cap};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFdsPerMsg)];
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  ssize_t r;
  do {
    r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  } while (r < 0 && errno == EINTR);
  if (nfds) *nfds = 0;
  if (r < 0) return -errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds && *nfds < fds.size()) fds[(*nfds)++] = fd;
      else close(fd);
    }
  }
  if (msg.msg_flags & MSG_TRUNC) return -EMSGSIZE;
  return r;
}

}  // namespace flexins::pipe
