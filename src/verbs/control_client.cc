#include "verbs/control_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pipe/unix_msg.h"
#include "verbs/locked.h"

namespace flexins::verbs {

namespace {

bool is_disconnect(int err) {
  return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ECONNREFUSED;
}

}  // namespace

ControlClient::~ControlClient() {
  if (fd_ >= 0) close(fd_);
}

int ControlClient::call(pipe::CtlOp op, std::span<const uint8_t> body, std::span<uint8_t> reply,
                        std::span<const int> fds_out, std::span<int> fds_in, size_t* nfds_in) {
  if (nfds_in) *nfds_in = 0;
  if (body.size() + sizeof(pipe::CtlRequest) > pipe::kMaxMsg) return EINVAL;
  uint8_t msg[pipe::kMaxMsg];
  pipe::CtlRequest hdr{static_cast<uint32_t>(op), static_cast<uint32_t>(body.size())};
  std::memcpy(msg, &hdr, sizeof hdr);
  if (!body.empty()) std::memcpy(msg + sizeof hdr, body.data(), body.size());

  Locked hold(&lock_);
  if (known_dead()) return EIO;
  int err = pipe::send_msg(fd_, msg, sizeof hdr + body.size(), fds_out);
  if (err != 0) {
    if (is_disconnect(err)) {
      mark_dead();
      return EIO;
    }
    return err;
  }
  int fds[pipe::kMaxFdsPerMsg];
  size_t nfds = 0;
  ssize_t n = pipe::recv_msg(fd_, msg, sizeof msg, fds, &nfds);
  auto drop_fds = [&] {
    for (size_t i = 0; i < nfds; ++i) close(fds[i]);
  };
  if (n == 0 || (n < 0 && is_disconnect(int(-n)))) {
    drop_fds();
    mark_dead();
    return EIO;
  }
  if (n < 0) {
    drop_fds();
    return int(-n);
  }
  pipe::CtlReply rep;
  if (size_t(n) < sizeof rep) {
    drop_fds();
    return EPROTO;
  }
  std::memcpy(&rep, msg, sizeof rep);
  if (rep.status != 0) {
    drop_fds();
    return rep.status > 0 ? rep.status : EPROTO;
  }
  if (rep.size != reply.size() || size_t(n) != sizeof rep + reply.size() ||
      nfds > fds_in.size()) {
    drop_fds();
    return EPROTO;
  }
  if (!reply.empty()) std::memcpy(reply.data(), msg + sizeof rep, reply.size());
  for (size_t i = 0; i < nfds; ++i) fds_in[i] = fds[i];
  if (nfds_in) *nfds_in = nfds;
  return 0;
}

bool ControlClient::alive() {
  if (known_dead()) return false;
  // A peer that closed its end makes a peek return 0 at once; a live idle
  // engine makes it fail with EAGAIN. Pending reply bytes (another thread's
  // call in flight) are left where they are.
  char byte;
  ssize_t r = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0 || (r < 0 && is_disconnect(errno))) {
    mark_dead();
    return false;
  }
  return true;
}

}  // namespace flexins::verbs
