// The rsocket data path: completions, credits, control messages, and the
// send / receive calls (rsend, rrecv and their read/write/vector/msg forms),
// plus rshutdown. Protocol: rsocket_proto.h.
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <rdma/rsocket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

// Send WR ids carry this bit; receive WR ids are slot numbers.
constexpr uint64_t kSendTag = 1ull << 63;
// A data message never carries more, so credits come back while a large
// rsend is still under way.
constexpr size_t kMaxDataMsg = 64 * 1024;
constexpr int kPollBatch = 32;

void break_connection(RSocket* s, int err) {
  if (s->conn_error == 0) s->conn_error = err;
}

int post_send(RSocket* s, ibv_send_wr* wr, uint32_t staged) {
  wr->wr_id = kSendTag | s->inflight.size();
  wr->send_flags |= IBV_SEND_SIGNALED;
  ibv_send_wr* bad = nullptr;
  if (int err = ibv_post_send(s->id->qp, wr, &bad); err != 0) {
    break_connection(s, ECONNRESET);
    return err;
  }
  s->inflight.push_back(staged);
  --s->sq_free;
  return 0;
}

// One gather element for N bytes of SRC: inline from SRC (INL), or copied
// into the staging buffer. *STAGED: staging bytes used.
ibv_sge stage(RSocket* s, const void* src, size_t n, bool inl, unsigned* flags, uint32_t* staged) {
  ibv_sge sge{};
  sge.length = uint32_t(n);
  if (inl) {
    sge.addr = reinterpret_cast<uintptr_t>(src);
    *flags = IBV_SEND_INLINE;
    *staged = 0;
    return sge;
  }
  uint8_t* dst = s->sbuf + s->staging.offset();
  std::memcpy(dst, src, n);
  s->staging.take(n);
  sge.addr = reinterpret_cast<uintptr_t>(dst);
  sge.lkey = s->sbuf_mr->lkey;
  *flags = 0;
  *staged = uint32_t(n);
  return sge;
}

// Post one data message of N bytes (N within the window and staging room).
int post_data(RSocket* s, const void* src, size_t n, bool inl) {
  unsigned flags = 0;
  uint32_t staged = 0;
  ibv_sge sge = stage(s, src, n, inl, &flags, &staged);
  ibv_send_wr wr{};
  wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
  wr.imm_data = htonl(uint32_t(n));
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.send_flags = flags;
  wr.wr.rdma.remote_addr = s->peer.ring_addr + s->tx.ring_offset();
  wr.wr.rdma.rkey = s->peer.ring_rkey;
  if (int err = post_send(s, &wr, staged); err != 0) return err;
  s->tx.on_data_sent(n);
  return 0;
}

void flush_ctrl(RSocket* s) {
  while (!s->ctrl_queue.empty() && s->tx.can_send_ctrl() && s->sq_free > 0 && !broken(s)) {
    CtrlMsg m = s->ctrl_queue.front();
    // A CREDIT reports the totals as of when it leaves, not when queued.
    if (m.type == CtrlType::kCredit) m = s->rx.take_credit();
    uint8_t buf[kCtrlBytes];
    encode_ctrl(m, buf);
    ibv_sge sge{};
    sge.addr = reinterpret_cast<uintptr_t>(buf);
    sge.length = kCtrlBytes;
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_SEND;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.send_flags = IBV_SEND_INLINE;
    if (post_send(s, &wr, 0) != 0) return;
    s->tx.on_ctrl_sent();
    s->ctrl_queue.pop_front();
  }
}

void maybe_credit(RSocket* s) {
  if (!s->rx.credit_due()) return;
  for (const CtrlMsg& m : s->ctrl_queue)
    if (m.type == CtrlType::kCredit) return;  // one queued is enough
  CtrlMsg m;
  m.type = CtrlType::kCredit;
  s->ctrl_queue.push_back(m);
}

void on_ctrl(RSocket* s, const CtrlMsg& m) {
  switch (m.type) {
    case CtrlType::kCredit:
      if (!s->tx.on_credit(m.reposted, m.freed)) break_connection(s, EPROTO);
      break;
    case CtrlType::kIomap: {
      RemoteMap r{m.freed, m.addr, m.length, m.rkey};
      auto it = std::find_if(s->remote_maps.begin(), s->remote_maps.end(),
                             [&](const RemoteMap& x) { return x.offset == r.offset; });
      if (it != s->remote_maps.end()) *it = r;
      else s->remote_maps.push_back(r);
      break;
    }
    case CtrlType::kIounmap:
      std::erase_if(s->remote_maps, [&](const RemoteMap& x) { return x.offset == m.freed; });
      break;
    case CtrlType::kFin: s->fin_rcvd = true; break;
  }
}

void on_recv(RSocket* s, const ibv_wc& wc) {
  if (wc.status != IBV_WC_SUCCESS) {
    if (wc.status != IBV_WC_WR_FLUSH_ERR) break_connection(s, ECONNRESET);
    return;
  }
  uint32_t slot = uint32_t(wc.wr_id);
  if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
    if (!s->rx.on_data(ntohl(wc.imm_data))) break_connection(s, EPROTO);
  } else {
    auto m = decode_ctrl(s->slots + size_t(slot) * kRecvSlotBytes, wc.byte_len);
    if (m) on_ctrl(s, *m);
    else break_connection(s, EPROTO);
  }
  // Give the WR back at once: the credit it stands for is reported later.
  if (post_recv_slot(s, slot) == 0) s->rx.on_reposted();
}

void on_send(RSocket* s, const ibv_wc& wc) {
  if (!s->inflight.empty()) {
    s->staging.give_back(s->inflight.front());
    s->inflight.pop_front();
    ++s->sq_free;
  }
  if (wc.status != IBV_WC_SUCCESS && wc.status != IBV_WC_WR_FLUSH_ERR)
    break_connection(s, ECONNRESET);  // e.g. retries exhausted: the peer is gone
}

bool nonblocking(const RSocket* s, int flags) { return s->nonblocking || (flags & MSG_DONTWAIT); }

// Nothing to do now: tell a non-blocking caller EAGAIN (after a look at the
// CM, so a dead peer shows), or sleep until there is news.
bool would_block(RSocket* s, int flags) {
  if (nonblocking(s, flags)) {
    poll_cm(s);
    // A caller that spins on EAGAIN would starve the engine that must make
    // the progress it waits for, when they share cores.
    sched_yield();
    return true;
  }
  wait_events(s, -1);
  return false;
}

size_t send_room(const RSocket* s, size_t want) {
  if (!s->ctrl_queue.empty() || s->sq_free <= 1) return 0;  // control first, keep an SQ slot for it
  size_t n = s->tx.data_room(want, kMaxDataMsg);
  return goes_inline(s, want) ? n : std::min(n, s->staging.contiguous_free());
}

ssize_t do_send(RSocket* s, const void* buf, size_t len, int flags) {
  if (s->state != SockState::kConnected) return set_errno(ENOTCONN);
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t sent = 0;
  // After the peer's FIN its close is near: look for the DISCONNECTED, so
  // sending fails (EPIPE) instead of writing into a QP that is gone.
  if (s->fin_rcvd && !s->peer_gone) poll_cm(s);
  while (sent < len) {
    progress(s);
    if (s->shut_wr || broken(s)) {
      if (sent > 0) break;
      return set_errno(s->conn_error != 0 && !s->shut_wr ? s->conn_error : EPIPE);
    }
    size_t n = send_room(s, len - sent);
    if (n == 0) {
      if (nonblocking(s, flags) && sent > 0) break;
      if (would_block(s, flags)) return set_errno(EAGAIN);
      continue;
    }
    if (post_data(s, p + sent, n, goes_inline(s, len - sent)) != 0) continue;  // broken now: reported above
    sent += n;
  }
  return ssize_t(sent);
}

// Copy up to LEN readable bytes out of the ring (two pieces across its end).
size_t copy_out(RSocket* s, uint8_t* dst, size_t len, bool peek) {
  size_t total = 0;
  uint64_t at = s->rx.read_offset();
  size_t left = std::min(len, s->rx.readable());
  while (left > 0) {
    size_t piece = std::min<size_t>(left, s->rx.size - at);
    std::memcpy(dst + total, s->ring + at, piece);
    total += piece;
    left -= piece;
    at = (at + piece) % s->rx.size;
  }
  if (!peek) s->rx.on_consumed(total);
  return total;
}

ssize_t do_recv(RSocket* s, void* buf, size_t len, int flags) {
  if (s->state != SockState::kConnected) return set_errno(ENOTCONN);
  auto* p = static_cast<uint8_t*>(buf);
  const bool peek = flags & MSG_PEEK;
  const bool all = (flags & MSG_WAITALL) && !peek;
  size_t got = 0;
  for (;;) {
    progress(s);
    if (s->shut_rd) return ssize_t(got);
    got += copy_out(s, p + got, len - got, peek);
    if (got > 0 && !peek) {
      maybe_credit(s);
      flush_ctrl(s);
    }
    if (got == len || (got > 0 && !all)) return ssize_t(got);
    if (s->fin_rcvd) return ssize_t(got);
    if (s->conn_error != 0) return got > 0 ? ssize_t(got) : set_errno(s->conn_error);
    if (s->peer_gone) return ssize_t(got);
    if (would_block(s, flags)) return got > 0 ? ssize_t(got) : set_errno(EAGAIN);
  }
}

template <typename Op>
ssize_t for_socket(int fd, Op op) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  return op(s);
}

// Vector I/O: element by element; a short transfer ends it, as in TCP.
template <typename One>
ssize_t each_iov(const struct iovec* iov, int n, One one) {
  if (n < 0 || (n > 0 && iov == nullptr)) return set_errno(EINVAL);
  ssize_t total = 0;
  for (int i = 0; i < n; ++i) {
    if (iov[i].iov_len == 0) continue;
    ssize_t r = one(iov[i].iov_base, iov[i].iov_len);
    if (r < 0) return total > 0 ? total : r;
    total += r;
    if (size_t(r) < iov[i].iov_len) break;
  }
  return total;
}

}  // namespace

int post_recv_slot(RSocket* s, uint32_t slot) {
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(s->slots + size_t(slot) * kRecvSlotBytes);
  sge.length = kRecvSlotBytes;
  sge.lkey = s->slots_mr->lkey;
  ibv_recv_wr wr{};
  wr.wr_id = slot;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  return ibv_post_recv(s->id->qp, &wr, &bad);
}

bool broken(const RSocket* s) { return s->conn_error != 0 || s->peer_gone; }

// Inline only a request that is small as a whole: cutting a big one into
// inline bits while the staging buffer drains would flood the peer with
// tiny messages.
bool goes_inline(const RSocket* s, size_t want) { return want <= s->inline_bytes; }

int progress(RSocket* s) {
  if (s->cq == nullptr || s->state != SockState::kConnected) return 0;
  int handled = 0;
  ibv_wc wc[kPollBatch];
  for (;;) {
    int n = ibv_poll_cq(s->cq, kPollBatch, wc);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      if (wc[i].wr_id & kSendTag) on_send(s, wc[i]);
      else on_recv(s, wc[i]);
    }
    handled += n;
    if (n < kPollBatch) break;
  }
  maybe_credit(s);
  flush_ctrl(s);
  return handled;
}

void arm_cq(RSocket* s) {
  if (s->cq != nullptr) ibv_req_notify_cq(s->cq, 0);
}

void take_cq_event(RSocket* s) {
  if (s->comp == nullptr) return;
  ibv_cq* cq = nullptr;
  void* ctx = nullptr;
  while (ibv_get_cq_event(s->comp, &cq, &ctx) == 0) ibv_ack_cq_events(cq, 1);
}

void wait_events(RSocket* s, int timeout_ms) {
  arm_cq(s);
  if (progress(s) > 0) return;  // arrived before the CQ was armed
  pollfd p[2] = {{s->channel->fd, POLLIN, 0}, {s->comp ? s->comp->fd : -1, POLLIN, 0}};
  if (poll(p, 2, timeout_ms) <= 0) return;
  if (p[1].revents != 0) take_cq_event(s);
  if (p[0].revents != 0) poll_cm(s);
}

void send_ctrl(RSocket* s, const CtrlMsg& m) {
  s->ctrl_queue.push_back(m);
  flush_ctrl(s);
}

bool can_send(const RSocket* s) {
  return s->state == SockState::kConnected && !broken(s) && !s->shut_wr && send_room(s, 1) > 0;
}

short readiness(RSocket* s, short events) {
  short r = 0;
  switch (s->state) {
    case SockState::kIdle: r = POLLHUP; break;  // as an unconnected TCP socket
    case SockState::kFailed: r = POLLERR | POLLHUP; break;
    case SockState::kListening:
      poll_cm(s);
      if (!s->pending.empty()) r = POLLIN;
      break;
    case SockState::kConnecting:
      poll_cm(s);
      if (s->state == SockState::kConnected) r = POLLOUT;
      else if (s->state == SockState::kFailed) r = POLLOUT | POLLERR | POLLHUP;
      break;
    case SockState::kConnected: {
      progress(s);
      auto now = [&] {
        short v = 0;
        if (s->rx.readable() > 0 || s->fin_rcvd || s->shut_rd || broken(s)) v |= POLLIN;
        if (can_send(s) || s->shut_wr || broken(s)) v |= POLLOUT;
        if (s->conn_error != 0) v |= POLLERR;
        if (s->peer_gone || (s->fin_rcvd && s->shut_wr)) v |= POLLHUP;
        return v;
      };
      r = now();
      if ((r & events) == 0) {  // nothing yet: has the peer gone?
        poll_cm(s);
        r = now();
      }
      break;
    }
  }
  return short(r & (events | POLLERR | POLLHUP));
}

size_t staging_room(const RSocket* s, size_t want) {
  if (s->sq_free <= 1 || !s->ctrl_queue.empty()) return 0;
  return goes_inline(s, want) ? want : std::min(want, s->staging.contiguous_free());
}

int post_write(RSocket* s, const void* src, size_t n, bool inl, uint64_t raddr, uint32_t rkey) {
  unsigned flags = 0;
  uint32_t staged = 0;
  ibv_sge sge = stage(s, src, n, inl, &flags, &staged);
  ibv_send_wr wr{};
  wr.opcode = IBV_WR_RDMA_WRITE;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.send_flags = flags;
  wr.wr.rdma.remote_addr = raddr;
  wr.wr.rdma.rkey = rkey;
  return post_send(s, &wr, staged);
}

}  // namespace flexins::rdmacm::rs

using namespace flexins::rdmacm::rs;

extern "C" {

ssize_t rsend(int fd, const void* buf, size_t len, int flags) {
  return for_socket(fd, [&](RSocket* s) { return do_send(s, buf, len, flags); });
}

ssize_t rrecv(int fd, void* buf, size_t len, int flags) {
  return for_socket(fd, [&](RSocket* s) { return do_recv(s, buf, len, flags); });
}

// A stream socket ignores the address, as TCP does on a connected socket.
ssize_t rsendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr*, socklen_t) {
  return rsend(fd, buf, len, flags);
}

ssize_t rrecvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* src, socklen_t* srclen) {
  ssize_t n = rrecv(fd, buf, len, flags);
  if (n >= 0 && src != nullptr && srclen != nullptr) rgetpeername(fd, src, srclen);
  return n;
}

ssize_t rread(int fd, void* buf, size_t count) { return rrecv(fd, buf, count, 0); }

ssize_t rwrite(int fd, const void* buf, size_t count) { return rsend(fd, buf, count, 0); }

ssize_t rreadv(int fd, const struct iovec* iov, int iovcnt) {
  return for_socket(fd, [&](RSocket* s) {
    return each_iov(iov, iovcnt, [&](void* b, size_t n) { return do_recv(s, b, n, 0); });
  });
}

ssize_t rwritev(int fd, const struct iovec* iov, int iovcnt) {
  return for_socket(fd, [&](RSocket* s) {
    return each_iov(iov, iovcnt, [&](void* b, size_t n) { return do_send(s, b, n, 0); });
  });
}

ssize_t rsendmsg(int fd, const struct msghdr* msg, int flags) {
  if (msg == nullptr) return set_errno(EINVAL);
  return for_socket(fd, [&](RSocket* s) {
    return each_iov(msg->msg_iov, int(msg->msg_iovlen),
                    [&](void* b, size_t n) { return do_send(s, b, n, flags); });
  });
}

ssize_t rrecvmsg(int fd, struct msghdr* msg, int flags) {
  if (msg == nullptr) return set_errno(EINVAL);
  ssize_t n = for_socket(fd, [&](RSocket* s) {
    return each_iov(msg->msg_iov, int(msg->msg_iovlen),
                    [&](void* b, size_t len) { return do_recv(s, b, len, flags); });
  });
  if (n >= 0) {
    msg->msg_controllen = 0;  // no ancillary data on an rsocket
    msg->msg_flags = 0;
    if (msg->msg_name != nullptr) rgetpeername(fd, static_cast<sockaddr*>(msg->msg_name), &msg->msg_namelen);
  }
  return n;
}

int rshutdown(int fd, int how) {
  return int(for_socket(fd, [&](RSocket* s) -> ssize_t {
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return set_errno(EINVAL);
    if (s->state != SockState::kConnected) return set_errno(ENOTCONN);
    if (how != SHUT_WR) s->shut_rd = true;
    if (how != SHUT_RD && !s->shut_wr) {
      s->shut_wr = true;
      CtrlMsg fin;
      fin.type = CtrlType::kFin;
      if (!broken(s)) send_ctrl(s, fin);
    }
    return 0;
  }));
}

}  // extern "C"
