// rsocket, rbind, rlisten, raccept, rconnect, rclose: rsockets on top of
// our own rdma_cm (one event channel and one id per socket) and the public
// verbs API. Setting up a connection allocates its PD, CQ, QP, rings and
// receive WRs, and trades ConnData (rsocket_proto.h) in REQ / REP.
#include <fcntl.h>
#include <poll.h>
#include <rdma/rsocket.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>

#include "rdmacm/rsocket_socket.h"

namespace flexins::rdmacm::rs {
namespace {

// How long rconnect waits for the (immediate) address and route events,
// and rclose for the data still in flight.
constexpr int kResolveWaitMs = 5000;
constexpr int kCloseDrainMs = 5000;

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

uint8_t* map_region(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

void unmap_region(uint8_t* p, size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}

ConnData local_conn_data(const RSocket* s) {
  ConnData d;
  d.rq_credits = s->rq_size;
  d.ring_rkey = s->ring_mr->rkey;
  d.ring_addr = reinterpret_cast<uintptr_t>(s->ring);
  d.ring_size = s->rx.size;
  return d;
}

void start_window(RSocket* s, const ConnData& peer) {
  s->peer = peer;
  s->tx = SendWindow{};
  s->tx.ring_size = peer.ring_size;
  s->tx.rq_credits = peer.rq_credits;
}

// PD, CQ with its completion channel, QP, registered rings and posted
// receives for S's connection on ID. 0 or an errno.
int setup_connection(RSocket* s, rdma_cm_id* id) {
  s->sq_size = s->opt.sq_size;
  s->rq_size = s->opt.rq_size;
  s->pd = ibv_alloc_pd(id->verbs);
  if (s->pd == nullptr) return errno ? errno : ENOMEM;
  s->comp = ibv_create_comp_channel(id->verbs);
  if (s->comp == nullptr) return errno ? errno : ENOMEM;
  set_nonblock(s->comp->fd);
  s->cq = ibv_create_cq(id->verbs, int(s->sq_size + s->rq_size), s, s->comp, 0);
  if (s->cq == nullptr) return errno ? errno : ENOMEM;

  ibv_qp_init_attr attr{};
  attr.qp_context = s;
  attr.send_cq = s->cq;
  attr.recv_cq = s->cq;
  attr.qp_type = IBV_QPT_RC;
  attr.cap.max_send_wr = s->sq_size;
  attr.cap.max_recv_wr = s->rq_size;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  // Control messages always go inline, whatever RDMA_INLINE asked for data.
  attr.cap.max_inline_data = std::max<uint32_t>(s->opt.inline_bytes, kCtrlBytes);
  if (rdma_create_qp(id, s->pd, &attr) != 0) return errno ? errno : ENOMEM;
  s->inline_bytes = std::min(s->opt.inline_bytes, attr.cap.max_inline_data);
  s->sq_free = s->sq_size;

  s->ring = map_region(s->opt.rbuf_bytes);
  s->sbuf = map_region(s->opt.sbuf_bytes);
  s->slots = map_region(size_t(s->rq_size) * kRecvSlotBytes);
  if (s->ring == nullptr || s->sbuf == nullptr || s->slots == nullptr) return ENOMEM;
  s->ring_mr = ibv_reg_mr(s->pd, s->ring, s->opt.rbuf_bytes,
                          IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
  s->sbuf_mr = ibv_reg_mr(s->pd, s->sbuf, s->opt.sbuf_bytes, IBV_ACCESS_LOCAL_WRITE);
  s->slots_mr = ibv_reg_mr(s->pd, s->slots, size_t(s->rq_size) * kRecvSlotBytes,
                           IBV_ACCESS_LOCAL_WRITE);
  if (s->ring_mr == nullptr || s->sbuf_mr == nullptr || s->slots_mr == nullptr)
    return errno ? errno : ENOMEM;

  s->rx = RecvRing{};
  s->rx.size = s->opt.rbuf_bytes;
  s->rx.rq_depth = s->rq_size;
  s->staging = ByteRing{};
  s->staging.size = s->opt.sbuf_bytes;
  for (uint32_t i = 0; i < s->rq_size; ++i)
    if (int err = post_recv_slot(s, i); err != 0) return err;
  return 0;
}

void free_connection(RSocket* s) {
  for (LocalMap& m : s->local_maps) ibv_dereg_mr(m.mr);
  s->local_maps.clear();
  if (s->id != nullptr && s->id->qp != nullptr) rdma_destroy_qp(s->id);
  if (s->ring_mr) ibv_dereg_mr(s->ring_mr);
  if (s->sbuf_mr) ibv_dereg_mr(s->sbuf_mr);
  if (s->slots_mr) ibv_dereg_mr(s->slots_mr);
  s->ring_mr = s->sbuf_mr = s->slots_mr = nullptr;
  unmap_region(s->ring, s->opt.rbuf_bytes);
  unmap_region(s->sbuf, s->opt.sbuf_bytes);
  unmap_region(s->slots, size_t(s->rq_size) * kRecvSlotBytes);
  s->ring = s->sbuf = s->slots = nullptr;
  if (s->cq) ibv_destroy_cq(s->cq);
  if (s->comp) ibv_destroy_comp_channel(s->comp);
  if (s->pd) ibv_dealloc_pd(s->pd);
  s->cq = nullptr;
  s->comp = nullptr;
  s->pd = nullptr;
}

int connect_error_of(rdma_cm_event_type type) {
  switch (type) {
    case RDMA_CM_EVENT_REJECTED: return ECONNREFUSED;
    case RDMA_CM_EVENT_UNREACHABLE:
    case RDMA_CM_EVENT_ADDR_ERROR:
    case RDMA_CM_EVENT_ROUTE_ERROR: return EHOSTUNREACH;
    default: return ECONNABORTED;
  }
}

void fail_connect(RSocket* s, int err) {
  s->state = SockState::kFailed;
  s->error = err;
  s->conn_error = err;
}

// The connection request of a listening socket: queued for raccept if the
// peer speaks our protocol, refused otherwise.
void on_connect_request(RSocket* s, rdma_cm_id* child, const rdma_conn_param& p) {
  auto peer = decode_conn_data(static_cast<const uint8_t*>(p.private_data), p.private_data_len);
  if (!peer) {
    rdma_reject(child, nullptr, 0);
    rdma_destroy_id(child);
    return;
  }
  s->pending.push_back(PendingConn{child, *peer});
}

void on_established(RSocket* s, const rdma_conn_param& p, bool active) {
  if (s->state != SockState::kConnecting) return;
  if (active) {
    auto peer = decode_conn_data(static_cast<const uint8_t*>(p.private_data), p.private_data_len);
    if (!peer) {  // a listener that is no FlexiNS rsocket
      rdma_disconnect(s->id);
      fail_connect(s, ECONNREFUSED);
      return;
    }
    start_window(s, *peer);
  }
  s->state = SockState::kConnected;
}

// The peer disconnected or died. Completions that arrived before are
// handled first, so a FIN sent before the disconnect is seen.
void on_disconnected(RSocket* s) {
  if (s->state == SockState::kConnecting) {
    fail_connect(s, ECONNREFUSED);
    return;
  }
  if (s->state != SockState::kConnected || s->peer_gone) return;
  progress(s);
  s->peer_gone = true;
  if (!s->fin_rcvd && s->conn_error == 0) s->conn_error = ECONNRESET;
  rdma_disconnect(s->id);  // flush what is still posted
}

// Wait up to TIMEOUT_MS for the event ID's channel must produce next.
rdma_cm_event* next_event(RSocket* s, int timeout_ms) {
  pollfd p{s->channel->fd, POLLIN, 0};
  for (;;) {
    rdma_cm_event* e = nullptr;
    if (rdma_get_cm_event(s->channel, &e) == 0) return e;
    if (errno != EAGAIN && errno != EINTR) return nullptr;
    int n = poll(&p, 1, timeout_ms);
    if (n == 0) {
      errno = ETIMEDOUT;
      return nullptr;
    }
  }
}

// rdma_resolve_addr / rdma_resolve_route report at once on our rdma_cm.
int await_resolution(RSocket* s, rdma_cm_event_type want) {
  rdma_cm_event* e = next_event(s, kResolveWaitMs);
  if (e == nullptr) return errno;
  rdma_cm_event_type got = e->event;
  int status = e->status;
  rdma_ack_cm_event(e);
  if (got != want || status != 0) return connect_error_of(got);
  return 0;
}

rdma_conn_param conn_param(const uint8_t* private_data) {
  rdma_conn_param p{};
  p.private_data = private_data;
  p.private_data_len = kConnDataBytes;
  p.retry_count = 7;
  p.rnr_retry_count = 7;  // 7: retry RNR forever (IBA 9.7.5.2.8)
  return p;
}

// Start the active side; returns 0 or an errno (EINPROGRESS excluded).
int start_connect(RSocket* s, const sockaddr* addr) {
  if (rdma_resolve_addr(s->id, nullptr, const_cast<sockaddr*>(addr), kResolveWaitMs) != 0)
    return errno == ENODEV ? ENETUNREACH : errno;
  if (int err = await_resolution(s, RDMA_CM_EVENT_ADDR_RESOLVED); err != 0) return err;
  if (rdma_resolve_route(s->id, kResolveWaitMs) != 0) return errno;
  if (int err = await_resolution(s, RDMA_CM_EVENT_ROUTE_RESOLVED); err != 0) return err;
  if (int err = setup_connection(s, s->id); err != 0) return err;
  uint8_t pd[kConnDataBytes];
  encode_conn_data(local_conn_data(s), pd);
  rdma_conn_param p = conn_param(pd);
  if (rdma_connect(s->id, &p) != 0) return errno;
  s->state = SockState::kConnecting;
  return 0;
}

// Wait (blocking) until S's connect attempt settles.
void await_connected(RSocket* s) {
  while (s->state == SockState::kConnecting) {
    poll_cm(s);
    if (s->state != SockState::kConnecting) break;
    pollfd p{s->channel->fd, POLLIN, 0};
    poll(&p, 1, -1);
  }
}

RSocket* new_socket() {
  auto* s = new (std::nothrow) RSocket;
  if (s == nullptr) return nullptr;
  s->channel = rdma_create_event_channel();
  if (s->channel == nullptr) {
    delete s;
    return nullptr;
  }
  set_nonblock(s->channel->fd);
  s->fd = s->channel->fd;
  return s;
}

// Accept the first queued request of listener L as a new socket; blocks
// until the peer's RTU. nullptr with errno on failure.
RSocket* accept_pending(RSocket* l) {
  PendingConn p = l->pending.front();
  l->pending.pop_front();
  RSocket* s = new_socket();
  if (s == nullptr) {
    rdma_reject(p.id, nullptr, 0);
    rdma_destroy_id(p.id);
    errno = ENOMEM;
    return nullptr;
  }
  s->opt = l->opt;  // as a TCP socket inherits its listener's options
  s->id = p.id;
  int err = rdma_migrate_id(p.id, s->channel) != 0 ? errno : 0;
  if (err == 0) err = setup_connection(s, p.id);
  if (err == 0) {
    start_window(s, p.peer);
    uint8_t pd[kConnDataBytes];
    encode_conn_data(local_conn_data(s), pd);
    rdma_conn_param cp = conn_param(pd);
    s->state = SockState::kConnecting;
    if (rdma_accept(p.id, &cp) != 0) err = errno;
  } else {
    rdma_reject(p.id, nullptr, 0);
  }
  if (err == 0) await_connected(s);
  if (err == 0 && s->state != SockState::kConnected) err = ECONNABORTED;
  if (err != 0) {
    destroy_socket(s);
    delete s;
    errno = err;
    return nullptr;
  }
  return s;
}

int copy_addr(const sockaddr* from, sockaddr* to, socklen_t* len) {
  if (to == nullptr || len == nullptr) return 0;
  socklen_t n = std::min<socklen_t>(*len, sizeof(sockaddr_in));
  std::memcpy(to, from, n);
  *len = sizeof(sockaddr_in);
  return 0;
}

}  // namespace

void poll_cm(RSocket* s) {
  rdma_cm_event* e = nullptr;
  while (rdma_get_cm_event(s->channel, &e) == 0) {
    rdma_cm_event_type type = e->event;
    rdma_cm_id* id = e->id;
    rdma_conn_param param = e->param.conn;
    uint8_t pd[kConnDataBytes] = {};
    if (param.private_data != nullptr && param.private_data_len >= kConnDataBytes) {
      std::memcpy(pd, param.private_data, kConnDataBytes);
      param.private_data = pd;
    } else {
      param.private_data = nullptr;
      param.private_data_len = 0;
    }
    rdma_ack_cm_event(e);
    switch (type) {
      case RDMA_CM_EVENT_CONNECT_REQUEST: on_connect_request(s, id, param); break;
      case RDMA_CM_EVENT_ESTABLISHED: on_established(s, param, s->tx.ring_size == 0); break;
      case RDMA_CM_EVENT_REJECTED:
      case RDMA_CM_EVENT_UNREACHABLE:
      case RDMA_CM_EVENT_CONNECT_ERROR:
        if (s->state == SockState::kConnecting) fail_connect(s, connect_error_of(type));
        break;
      case RDMA_CM_EVENT_DISCONNECTED:
      case RDMA_CM_EVENT_DEVICE_REMOVAL: on_disconnected(s); break;
      default: break;
    }
  }
}

void destroy_socket(RSocket* s) {
  for (PendingConn& p : s->pending) {
    rdma_reject(p.id, nullptr, 0);
    rdma_destroy_id(p.id);
  }
  s->pending.clear();
  free_connection(s);
  if (s->id != nullptr) rdma_destroy_id(s->id);
  s->id = nullptr;
  if (s->channel != nullptr) rdma_destroy_event_channel(s->channel);
  s->channel = nullptr;
}

}  // namespace flexins::rdmacm::rs

using namespace flexins::rdmacm::rs;

extern "C" {

int rsocket(int domain, int type, int protocol) {
  if (domain != AF_INET) return set_errno(EAFNOSUPPORT);  // our rdma_cm is IPv4 only
  int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  // Datagram rsockets (udpong) are not built: stream only.
  if (kind != SOCK_STREAM) return set_errno(ESOCKTNOSUPPORT);
  if (protocol != 0 && protocol != IPPROTO_TCP) return set_errno(EPROTONOSUPPORT);
  RSocket* s = new_socket();
  if (s == nullptr) return set_errno(ENOMEM);
  if (rdma_create_id(s->channel, &s->id, s, RDMA_PS_TCP) != 0) {
    int err = errno;
    destroy_socket(s);
    delete s;
    return set_errno(err);
  }
  s->nonblocking = (type & SOCK_NONBLOCK) != 0;
  add_socket(s);
  return s->fd;
}

int rbind(int fd, const struct sockaddr* addr, socklen_t len) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  if (addr == nullptr || len < socklen_t(sizeof(sockaddr_in))) return set_errno(EINVAL);
  if (addr->sa_family != AF_INET) return set_errno(EAFNOSUPPORT);
  std::lock_guard g(s->mu);
  if (s->state != SockState::kIdle) return set_errno(EINVAL);
  if (rdma_bind_addr(s->id, const_cast<sockaddr*>(addr)) != 0)
    return set_errno(errno == ENODEV ? EADDRNOTAVAIL : errno);  // no FlexiNS device has it
  return 0;
}

int rlisten(int fd, int backlog) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  std::lock_guard g(s->mu);
  if (s->state == SockState::kListening) return 0;
  if (s->state != SockState::kIdle) return set_errno(EINVAL);
  if (rdma_listen(s->id, backlog) != 0) return -1;
  s->state = SockState::kListening;
  return 0;
}

int raccept(int fd, struct sockaddr* addr, socklen_t* addrlen) {
  RSocket* l = find_socket(fd);
  if (l == nullptr) return set_errno(EBADF);
  std::lock_guard g(l->mu);
  if (l->state != SockState::kListening) return set_errno(EINVAL);
  for (;;) {
    poll_cm(l);
    if (!l->pending.empty()) break;
    if (l->nonblocking) return set_errno(EAGAIN);
    pollfd p{l->channel->fd, POLLIN, 0};
    poll(&p, 1, -1);
  }
  RSocket* s = accept_pending(l);
  if (s == nullptr) return -1;
  add_socket(s);
  copy_addr(rdma_get_peer_addr(s->id), addr, addrlen);
  return s->fd;
}

int rconnect(int fd, const struct sockaddr* addr, socklen_t len) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  if (addr == nullptr || len < socklen_t(sizeof(sockaddr_in))) return set_errno(EINVAL);
  if (addr->sa_family != AF_INET) return set_errno(EAFNOSUPPORT);
  std::lock_guard g(s->mu);
  switch (s->state) {
    case SockState::kIdle: break;
    case SockState::kConnecting: return set_errno(EALREADY);
    case SockState::kConnected: return set_errno(EISCONN);
    default: return set_errno(EINVAL);
  }
  if (int err = start_connect(s, addr); err != 0) {
    fail_connect(s, err);
    s->error = 0;  // reported by this call, not again by SO_ERROR
    return set_errno(err);
  }
  if (s->nonblocking) return set_errno(EINPROGRESS);
  await_connected(s);
  if (s->state == SockState::kConnected) return 0;
  int err = s->error;
  s->error = 0;
  return set_errno(err);
}

int rclose(int fd) {
  RSocket* s = find_socket(fd);
  if (s == nullptr) return set_errno(EBADF);
  {
    std::lock_guard g(s->mu);
    if (s->state == SockState::kConnected && !s->peer_gone) {
      // What rsend accepted must reach the peer before the QP is torn down
      // (close(2) would keep sending in the background); bounded, in case
      // the peer is gone.
      if (!s->shut_wr) {
        s->shut_wr = true;
        CtrlMsg fin;
        fin.type = CtrlType::kFin;
        send_ctrl(s, fin);
      }
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCloseDrainMs);
      for (;;) {
        progress(s);
        if (broken(s) || (s->inflight.empty() && s->ctrl_queue.empty())) break;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        wait_events(s, int(left.count()));
      }
      rdma_disconnect(s->id);
    }
    remove_socket(s);
    destroy_socket(s);
  }
  delete s;
  return 0;
}

}  // extern "C"
