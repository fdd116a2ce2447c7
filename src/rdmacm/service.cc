// The CM service thread: one per process, started on first need. It watches
// every CM TCP socket (listeners, accepted connections waiting for their REQ,
// connections of ids) with epoll, feeds what arrives to the ids' state
// machines, and fires their timers. All under the CM lock; it never calls
// libibverbs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "rdmacm/cm_state.h"
#include "rdmacm/devices.h"
#include "rdmacm/self_connect.h"
#include "rdmacm/trace.h"

namespace flexins::rdmacm {
namespace {

// How long an accepted connection may take to send its REQ.
constexpr int64_t kRequestWaitNs = 10'000'000'000;
constexpr size_t kReadChunkBytes = 4096;
constexpr int kMaxEpollEvents = 64;

struct Endpoint {
  Id* id = nullptr;            // a listener or a connection of an id
  Id* listener = nullptr;      // pending: accepted, REQ not yet read
  std::vector<uint8_t> rx;     // pending only (ids keep their own)
  int64_t deadline_ns = 0;     // pending only
};

std::unordered_map<int, Endpoint>& endpoints() {
  static auto* m = new std::unordered_map<int, Endpoint>;
  return *m;
}
int g_epfd = -1;
int g_wakefd = -1;

void service_loop();

void ensure_started() {
  if (g_epfd >= 0) return;
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  g_wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = g_wakefd;
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_wakefd, &ev);
  std::thread(service_loop).detach();
}

void watch_fd(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
    epoll_ctl(g_epfd, EPOLL_CTL_MOD, fd, &ev);
  FLEXINS_CM_TRACE("fd %d: watched for %#x", fd, events);
}

void close_pending(int fd) {
  service_forget(fd);
  close(fd);
}

void reply_and_close(int fd, const CmMessage& m) {
  uint8_t buf[kMaxMessageBytes];
  size_t n = encode(m, buf, sizeof buf);
  if (n > 0) (void)!send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  close_pending(fd);
}

// Refuse a request nobody can serve (IBA 12.6.7.2 reason 8; SIDR status 1).
void refuse(int fd, const CmMessage& req) {
  FLEXINS_CM_TRACE("fd %d: refusing %s", fd, cm_msg_type_name(req.type));
  CmMessage m;
  if (req.type == CmMsgType::kSidrReq) {
    m.type = CmMsgType::kSidrRep;
    m.reason = kSidrStatusServiceIdNotSupported;
  } else {
    m.type = CmMsgType::kRej;
    m.reason = kRejInvalidServiceId;
  }
  reply_and_close(fd, m);
}

LocalDevice* device_for_local(const Id* listener, uint32_t local_ipv4) {
  if (listener->pub.verbs != nullptr) return device_by_ctx(listener->pub.verbs);
  if (LocalDevice* d = device_by_ip(local_ipv4)) return d;
  const auto& devs = local_devices();
  return devs.size() == 1 ? devs[0] : nullptr;
}

// A REQ / SIDR_REQ arrived on a connection accepted by LISTENER: a new id.
void on_request(int fd, Id* listener, const CmMessage& req, std::vector<uint8_t> rest) {
  bool ud_req = req.type == CmMsgType::kSidrReq;
  if ((req.type != CmMsgType::kReq && !ud_req) || ud_req != is_ud(listener) ||
      req.port_space != uint16_t(listener->pub.ps)) {
    refuse(fd, req);
    return;
  }
  sockaddr_in local{}, peer{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  len = sizeof peer;
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  LocalDevice* dev = device_for_local(listener, local.sin_addr.s_addr);
  if (dev == nullptr) {
    refuse(fd, req);
    return;
  }
  Channel* own = nullptr;
  if (listener->sync && (own = new_channel()) == nullptr) {
    refuse(fd, req);
    return;
  }
  auto* c = new Id;
  std::memset(&c->pub, 0, sizeof c->pub);
  c->sync = listener->sync;
  c->own_channel = own;
  c->pub.channel = own ? &own->pub : listener->pub.channel;
  c->pub.context = listener->pub.context;
  c->pub.verbs = dev->ctx;
  c->pub.ps = listener->pub.ps;
  c->pub.qp_type = listener->pub.qp_type;
  c->pub.port_num = 1;
  c->pub.route.addr.src_sin = local;
  c->pub.route.addr.dst_sin = peer;
  rdma_ib_addr& ib = c->pub.route.addr.addr.ibaddr;
  std::memcpy(ib.sgid.raw, dev->gid.raw, 16);
  std::memcpy(ib.dgid.raw, req.gid, 16);
  ib.pkey = htons(0xffff);
  c->bound = true;
  c->sock = fd;
  c->rx = std::move(rest);
  c->state = ud_req ? ConnState::kSidrReqRcvd : ConnState::kReqRcvd;
  c->remote = req;
  c->have_remote = true;
  c->psn = random_psn();
  // Until rdma_accept says otherwise, what the REQ offers (IBA 12.7.29/30).
  c->responder_resources = std::min(req.initiator_depth, dev->max_qp_rd_atom);
  c->initiator_depth = std::min(req.responder_resources, dev->max_qp_init_rd_atom);
  c->retry_count = req.retry_count;
  c->rnr_retry_count = req.rnr_retry_count;
  c->ack_timeout = listener->ack_timeout;
  c->tos = listener->tos;
  fill_path(c);
  endpoints()[fd] = Endpoint{c, nullptr, {}, 0};
  watch_fd(fd, EPOLLIN | EPOLLRDHUP);

  Event* e = new_event(listener, RDMA_CM_EVENT_CONNECT_REQUEST, 0);
  e->pub.id = &c->pub;
  e->pub.listen_id = &listener->pub;
  if (ud_req)
    fill_event_params(e, c, req);
  else
    fill_conn_param(e, req, kReqPrivateDataBytes);
  queue_event(to_channel(listener->pub.channel), e);
}

void on_listener_readable(Id* listener) {
  for (;;) {
    int fd = accept4(listener->sock, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an aborted handshake
    FLEXINS_CM_TRACE("listener %p fd %d: accepted fd %d", static_cast<void*>(listener), listener->sock, fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    endpoints()[fd] = Endpoint{nullptr, listener, {}, now_ns() + kRequestWaitNs};
    watch_fd(fd, EPOLLIN | EPOLLRDHUP);
  }
}

// Read what is there. Returns false on EOF or error.
bool read_available(int fd, std::vector<uint8_t>* rx) {
  uint8_t buf[kReadChunkBytes];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      rx->insert(rx->end(), buf, buf + n);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

void on_pending_readable(int fd) {
  Endpoint& ep = endpoints()[fd];
  bool open = read_available(fd, &ep.rx);
  CmMessage m;
  size_t used = 0;
  DecodeResult r = decode(ep.rx.data(), ep.rx.size(), &m, &used);
  FLEXINS_CM_TRACE("fd %d (accepted): %zu bytes, %s%s", fd, ep.rx.size(),
                   r == DecodeResult::kOk ? cm_msg_type_name(m.type)
                   : r == DecodeResult::kBad ? "bad message" : "incomplete",
                   open ? "" : ", closed by the peer");
  if (r == DecodeResult::kOk) {
    std::vector<uint8_t> rest(ep.rx.begin() + ptrdiff_t(used), ep.rx.end());
    Id* listener = ep.listener;
    on_request(fd, listener, m, std::move(rest));
    return;
  }
  if (r == DecodeResult::kBad || !open) close_pending(fd);
}

void on_message(Id* id, const CmMessage& m) {
  switch (m.type) {
    case CmMsgType::kRep: {
      if (id->state != ConnState::kReqSent) return;
      id->remote = m;
      id->have_remote = true;
      // IB CM (REP): our RDMA read resources are bounded by the passive
      // side's initiator depth and ours by its resources (IBA 12.7.29/30);
      // the REP says how often we retry an RNR NAK.
      id->responder_resources = std::min(id->responder_resources, m.initiator_depth);
      id->initiator_depth = std::min(id->initiator_depth, m.responder_resources);
      id->rnr_retry_count = m.rnr_retry_count;
      if (!drive(id, ConnInput::kRecvRep, nullptr, &m).legal || id->destroying) return;
      Event* e = new_event(id, RDMA_CM_EVENT_CONNECT_RESPONSE, 0);
      e->conn_response = true;
      fill_conn_param(e, m, kRepPrivateDataBytes);
      queue_event(to_channel(id->pub.channel), e);
      return;
    }
    case CmMsgType::kRtu: drive(id, ConnInput::kRecvRtu); return;
    case CmMsgType::kRej: drive(id, ConnInput::kRecvRej, nullptr, &m); return;
    case CmMsgType::kDreq: drive(id, ConnInput::kRecvDreq); return;
    case CmMsgType::kDrep: drive(id, ConnInput::kRecvDrep); return;
    case CmMsgType::kSidrRep:
      if (id->state != ConnState::kSidrReqSent) return;
      id->remote = m;
      id->have_remote = true;
      drive(id, m.reason == kSidrStatusValid ? ConnInput::kRecvSidrRepOk : ConnInput::kRecvSidrRepRejected,
            nullptr, &m);
      return;
    case CmMsgType::kReq:
    case CmMsgType::kSidrReq: return;  // only a listener takes requests
  }
}

void on_connection_event(Id* id, uint32_t events) {
  if (id->state == ConnState::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(id->sock, SOL_SOCKET, SO_ERROR, &err, &len);
    const bool itself = err == 0 && connected_to_itself(id->sock);
    if (itself) err = ECONNREFUSED;
    FLEXINS_CM_TRACE("id %p fd %d: connect finished, events %#x, %s", static_cast<void*>(id), id->sock,
                     events, itself ? "connected to itself: refused" : err == 0 ? "connected" : strerror(err));
    if (err == ECONNREFUSED) {
      err = cm_connect(id, true);
      if (err == EINPROGRESS) {
        service_watch(id, true);  // the new socket
        return;
      }
      if (err == 0) service_watch(id, false);
    }
    if (err == 0) {
      service_connected(id);
      drive(id, ConnInput::kTcpConnected);
    } else {
      drive(id, err == ECONNREFUSED ? ConnInput::kTcpRefused : ConnInput::kTcpLost);
    }
    return;
  }
  bool open = read_available(id->sock, &id->rx);
  for (;;) {
    CmMessage m;
    size_t used = 0;
    DecodeResult r = decode(id->rx.data(), id->rx.size(), &m, &used);
    if (r == DecodeResult::kNeedMore) break;
    if (r == DecodeResult::kBad) {
      open = false;
      break;
    }
    id->rx.erase(id->rx.begin(), id->rx.begin() + ptrdiff_t(used));
    on_message(id, m);
    if (id->sock < 0) return;  // the step closed it
  }
  if (!open) {
    if (!drive(id, ConnInput::kTcpLost).legal) close_socket(id);
  }
}

int next_timeout_ms() {
  int64_t next = 0;
  for (auto& [fd, ep] : endpoints()) {
    int64_t d = ep.id ? ep.id->deadline_ns : ep.deadline_ns;
    if (d != 0 && (next == 0 || d < next)) next = d;
  }
  if (next == 0) return -1;
  int64_t wait_ms = (next - now_ns()) / 1'000'000 + 1;
  return wait_ms < 0 ? 0 : int(std::min<int64_t>(wait_ms, 60'000));
}

void fire_timers() {
  int64_t now = now_ns();
  std::vector<Id*> ids;
  std::vector<int> pendings;
  for (auto& [fd, ep] : endpoints()) {
    if (ep.id != nullptr && ep.id->deadline_ns != 0 && ep.id->deadline_ns <= now) ids.push_back(ep.id);
    if (ep.id == nullptr && ep.listener != nullptr && ep.deadline_ns <= now) pendings.push_back(fd);
  }
  for (Id* id : ids) {
    id->deadline_ns = 0;
    drive(id, ConnInput::kTimeout);
  }
  for (int fd : pendings) {
    FLEXINS_CM_TRACE("fd %d (accepted): no request in time, closed", fd);
    close_pending(fd);
  }
}

void service_loop() {
  epoll_event evs[kMaxEpollEvents];
  for (;;) {
    int timeout_ms;
    {
      std::lock_guard g(cm_mutex());
      timeout_ms = next_timeout_ms();
    }
    int n = epoll_wait(g_epfd, evs, kMaxEpollEvents, timeout_ms);
    std::lock_guard g(cm_mutex());
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == g_wakefd) {
        uint64_t v;
        (void)!read(g_wakefd, &v, sizeof v);
        continue;
      }
      auto it = endpoints().find(fd);
      FLEXINS_CM_TRACE("fd %d: events %#x%s", fd, evs[i].events,
                       it == endpoints().end() ? " (not ours: no longer watched)" : "");
      if (it == endpoints().end()) {
        // Nobody to read it: level-triggered, it would wake us forever.
        epoll_ctl(g_epfd, EPOLL_CTL_DEL, fd, nullptr);
        continue;
      }
      if (it->second.id == nullptr) {
        on_pending_readable(fd);
      } else if (it->second.id->listening) {
        on_listener_readable(it->second.id);
      } else {
        on_connection_event(it->second.id, evs[i].events);
      }
    }
    fire_timers();
  }
}

}  // namespace

void service_watch(Id* id, bool connecting) {
  ensure_started();
  endpoints()[id->sock] = Endpoint{id, nullptr, {}, 0};
  watch_fd(id->sock, connecting ? (EPOLLOUT | EPOLLIN) : (EPOLLIN | EPOLLRDHUP));
}

void service_connected(Id* id) { watch_fd(id->sock, EPOLLIN | EPOLLRDHUP); }

void service_forget(int fd) {
  FLEXINS_CM_TRACE("fd %d: unwatched", fd);
  if (g_epfd >= 0) epoll_ctl(g_epfd, EPOLL_CTL_DEL, fd, nullptr);
  endpoints().erase(fd);
}

void service_wake() {
  if (g_wakefd < 0) return;
  uint64_t one = 1;
  (void)!write(g_wakefd, &one, sizeof one);
}

void service_drop_pending_of(Id* listener) {
  std::vector<int> fds;
  for (auto& [fd, ep] : endpoints())
    if (ep.id == nullptr && ep.listener == listener) fds.push_back(fd);
  for (int fd : fds) close_pending(fd);
}

}  // namespace flexins::rdmacm
