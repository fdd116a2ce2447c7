// The rdma_cm id API: create/destroy, addresses and routes, listen, connect,
// accept, reject, disconnect, migrate.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/lid.h"
#include "rdmacm/cm_state.h"
#include "rdmacm/devices.h"
#include "rdmacm/qp_setup.h"
#include "rdmacm/self_connect.h"
#include "rdmacm/trace.h"

namespace flexins::rdmacm {
namespace {

constexpr uint8_t kMaxRetryCount = 7;  // 3-bit fields (IBA 12.7.38, 12.7.39)
constexpr uint16_t kDefaultPkey = 0xffff;
constexpr uint8_t kPathHopLimit = 64;
constexpr uint8_t kSaRate10Gbps = 3;          // IBA 15.2.5.16 rate encoding
constexpr uint8_t kSaSelectorExactly = 2;
constexpr uint8_t kPacketLifeTime = 14;       // 4.096 µs × 2^14

int fail(int err) {
  errno = err;
  return -1;
}

bool is_ipv4(const sockaddr* a) { return a != nullptr && a->sa_family == AF_INET; }

const sockaddr_in& as_sin(const sockaddr* a) { return *reinterpret_cast<const sockaddr_in*>(a); }

// A TCP socket for ID bound to ADDR (the rdma_cm port is the TCP port).
// Caller holds the lock. 0 or an errno.
int bind_socket(Id* id, const sockaddr_in& addr) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  // rdma_cm ports have no TIME_WAIT: a port is free again once its id is gone.
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(s);
    return err;
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  getsockname(s, reinterpret_cast<sockaddr*>(&bound), &len);
  id->sock = s;
  id->bound = true;
  id->pub.route.addr.src_sin = bound;
  return 0;
}

void use_device(Id* id, LocalDevice* dev) {
  id->pub.verbs = dev->ctx;
  id->pub.port_num = 1;
  rdma_ib_addr& ib = id->pub.route.addr.addr.ibaddr;
  std::memcpy(ib.sgid.raw, dev->gid.raw, 16);
  ib.pkey = htons(kDefaultPkey);
}

void report(Id* id, rdma_cm_event_type type, int status) {
  queue_event(to_channel(id->pub.channel), new_event(id, type, status));
}

// 0xFF asks for the most the device allows; more than that is an error
// (librdmacm: ucma_valid_param).
int clamp_depth(uint8_t asked, uint8_t offered_by_peer, uint8_t device_max, uint8_t* out) {
  if (asked == RDMA_MAX_RESP_RES) {
    *out = std::min(offered_by_peer, device_max);
    return 0;
  }
  if (asked > device_max) return EINVAL;
  *out = asked;
  return 0;
}

}  // namespace

uint32_t random_psn() {
  uint32_t v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) v = uint32_t(now_ns());
  return v & kPsnMask;
}

void fill_path(Id* id) {
  LocalDevice* dev = device_by_ctx(id->pub.verbs);
  ibv_sa_path_rec& p = id->path;
  std::memset(&p, 0, sizeof p);
  const rdma_ib_addr& ib = id->pub.route.addr.addr.ibaddr;
  p.sgid = ib.sgid;
  p.dgid = ib.dgid;
  // LIDs by FlexiNS's rule (pipe/lid.h), as ibv_query_port reports ours:
  // the peer's is 0 when it is outside our /16.
  const uint32_t local_ip = ipv4_of_gid(ib.sgid);
  p.slid = htons(pipe::port_lid(local_ip));
  p.dlid = htons(pipe::peer_lid(local_ip, ipv4_of_gid(ib.dgid)));
  p.pkey = htons(kDefaultPkey);
  p.hop_limit = kPathHopLimit;
  p.traffic_class = id->tos;
  p.reversible = 1;
  p.numb_path = 1;
  p.mtu_selector = kSaSelectorExactly;
  p.mtu = uint8_t(dev ? dev->active_mtu : IBV_MTU_1024);
  p.rate_selector = kSaSelectorExactly;
  p.rate = kSaRate10Gbps;
  p.packet_life_time_selector = kSaSelectorExactly;
  p.packet_life_time = kPacketLifeTime;
  id->pub.route.path_rec = &id->path;
  id->pub.route.num_paths = 1;
}

int complete_sync(Id* id) {
  if (!id->sync) return 0;
  if (id->pub.event != nullptr) {
    rdma_ack_cm_event(id->pub.event);
    id->pub.event = nullptr;
  }
  if (rdma_get_cm_event(id->pub.channel, &id->pub.event) != 0) return -1;
  const rdma_cm_event* e = id->pub.event;
  if (e->status == 0) return 0;
  if (e->event == RDMA_CM_EVENT_REJECTED) return fail(ECONNREFUSED);
  return fail(e->status < 0 ? -e->status : e->status);
}

// How long a refused CM connect is retried before RDMA_CM_EVENT_REJECTED.
constexpr int64_t kRefusedRetryWindowNs = 200'000'000;

// A listening TCP socket cannot connect: ID's early listener (see
// Id::listens_early) becomes an ordinary socket on the same address, its
// backlog (nobody should have connected to a client) reset. 0 or an errno.
int stop_early_listen(Id* id) {
  if (!id->listens_early) return 0;
  id->listens_early = false;
  sockaddr_in src = id->pub.route.addr.src_sin;
  close(id->sock);
  id->sock = -1;
  if (bind_socket(id, src) == 0) return 0;
  src.sin_port = 0;  // the port was taken meanwhile
  return bind_socket(id, src);
}

int cm_connect(Id* id, bool after_refusal) {
  constexpr useconds_t kRetryPauseUs = 2000;
  const sockaddr_in& dst = id->pub.route.addr.dst_sin;
  if (int err = stop_early_listen(id); err != 0) return err;
  for (;;) {
    if (after_refusal) {
      if (now_ns() >= id->refused_retry_until_ns) return ECONNREFUSED;
      usleep(kRetryPauseUs);
      // A TCP socket whose connect failed cannot be used again: a new one,
      // on the same local address.
      sockaddr_in src = id->pub.route.addr.src_sin;
      src.sin_port = 0;
      if (id->sock >= 0) {
        service_forget(id->sock);
        close(id->sock);
        id->sock = -1;
      }
      if (int err = bind_socket(id, src); err != 0) return err;
    }
    const int rc = connect(id->sock, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    const bool itself = rc == 0 && connected_to_itself(id->sock);
    const int err = itself ? ECONNREFUSED : rc == 0 ? 0 : errno;
    if (cm_trace_on()) {
      sockaddr_in src{};
      socklen_t len = sizeof src;
      getsockname(id->sock, reinterpret_cast<sockaddr*>(&src), &len);
      char ip[INET_ADDRSTRLEN] = "?";
      inet_ntop(AF_INET, &src.sin_addr, ip, sizeof ip);
      cm_trace("id %p fd %d: connect %s:%u -> port %u: %s", static_cast<void*>(id), id->sock, ip,
               ntohs(src.sin_port), ntohs(dst.sin_port),
               err == 0 ? "connected" : itself ? "connected to itself: refused" : strerror(err));
    }
    if (err == 0) return 0;
    errno = err;
    if (errno == EINPROGRESS || errno == EINTR) return EINPROGRESS;
    if (errno != ECONNREFUSED) return errno;
    after_refusal = true;
  }
}

}  // namespace flexins::rdmacm

using namespace flexins::rdmacm;

extern "C" {

int rdma_create_id(struct rdma_event_channel* channel, struct rdma_cm_id** id, void* context,
                   enum rdma_port_space ps) {
  if (id == nullptr) return fail(EINVAL);
  ibv_qp_type type;
  switch (ps) {
    case RDMA_PS_TCP:
    case RDMA_PS_IB: type = IBV_QPT_RC; break;
    case RDMA_PS_UDP:
    case RDMA_PS_IPOIB: type = IBV_QPT_UD; break;
    default: return fail(EINVAL);
  }
  auto* c = new (std::nothrow) Id;
  if (c == nullptr) return fail(ENOMEM);
  std::memset(&c->pub, 0, sizeof c->pub);
  if (channel == nullptr) {
    c->own_channel = new_channel();
    if (c->own_channel == nullptr) {
      delete c;
      return -1;
    }
    c->sync = true;
    channel = &c->own_channel->pub;
  }
  c->pub.channel = channel;
  c->pub.context = context;
  c->pub.ps = ps;
  c->pub.qp_type = type;
  *id = &c->pub;
  return 0;
}

int rdma_destroy_id(struct rdma_cm_id* id) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  if (c->pub.event != nullptr) {
    rdma_ack_cm_event(c->pub.event);
    c->pub.event = nullptr;
  }
  std::vector<Id*> orphans;
  {
    std::unique_lock g(cm_mutex());
    c->destroying = true;
    orphans = drop_queued_events(c);
    if (c->listening) service_drop_pending_of(c);
    // Closing the CM connection tells the peer: DISCONNECTED if it was
    // connected, UNREACHABLE / CONNECT_ERROR if it was connecting.
    close_socket(c);
    cm_acked().wait(g, [c] { return c->events_outstanding == 0; });
  }
  for (Id* child : orphans) rdma_destroy_id(&child->pub);
  if (c->own_channel != nullptr) {
    std::lock_guard g(cm_mutex());
    free_channel(c->own_channel);
  }
  delete c->ep_qp_attr;
  delete c;
  return 0;
}

int rdma_bind_addr(struct rdma_cm_id* id, struct sockaddr* addr) {
  if (id == nullptr || addr == nullptr) return fail(EINVAL);
  if (!is_ipv4(addr)) return fail(EAFNOSUPPORT);
  Id* c = to_id(id);
  sockaddr_in sin = as_sin(addr);
  LocalDevice* dev = nullptr;
  if (sin.sin_addr.s_addr != htonl(INADDR_ANY)) {
    dev = device_by_ip(sin.sin_addr.s_addr);
    if (dev == nullptr) return fail(ENODEV);  // no FlexiNS device has that address
  }
  std::lock_guard g(cm_mutex());
  if (c->bound) return fail(EINVAL);
  if (int err = bind_socket(c, sin); err != 0) return fail(err);
  if (listen(c->sock, SOMAXCONN) == 0) c->listens_early = true;
  if (dev != nullptr) use_device(c, dev);
  return 0;
}

int rdma_resolve_addr(struct rdma_cm_id* id, struct sockaddr* src_addr, struct sockaddr* dst_addr,
                      int /*timeout_ms: resolution is immediate*/) {
  if (id == nullptr || dst_addr == nullptr) return fail(EINVAL);
  if (!is_ipv4(dst_addr) || (src_addr != nullptr && !is_ipv4(src_addr))) return fail(EAFNOSUPPORT);
  Id* c = to_id(id);
  if (src_addr != nullptr && !c->bound && rdma_bind_addr(id, src_addr) != 0) return -1;
  const sockaddr_in dst = as_sin(dst_addr);
  LocalDevice* dev = c->pub.verbs ? device_by_ctx(c->pub.verbs) : device_for_destination(dst.sin_addr.s_addr);
  if (dev == nullptr) return fail(ENODEV);
  {
    std::lock_guard g(cm_mutex());
    if (c->state != ConnState::kIdle || c->listening) return fail(EINVAL);
    if (!c->bound) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = dev->ipv4;
      if (int err = bind_socket(c, src); err != 0) return fail(err);
    }
    use_device(c, dev);
    if (c->pub.route.addr.src_sin.sin_addr.s_addr == htonl(INADDR_ANY))
      c->pub.route.addr.src_sin.sin_addr.s_addr = dev->ipv4;
    c->pub.route.addr.dst_sin = dst;
    gid_of_ipv4(dst.sin_addr.s_addr, &c->pub.route.addr.addr.ibaddr.dgid);
    report(c, RDMA_CM_EVENT_ADDR_RESOLVED, 0);
  }
  return complete_sync(c);
}

int rdma_resolve_route(struct rdma_cm_id* id, int /*timeout_ms: immediate*/) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  {
    std::lock_guard g(cm_mutex());
    if (c->pub.verbs == nullptr || c->pub.route.addr.dst_sin.sin_family != AF_INET) return fail(EINVAL);
    fill_path(c);
    report(c, RDMA_CM_EVENT_ROUTE_RESOLVED, 0);
  }
  return complete_sync(c);
}

int rdma_listen(struct rdma_cm_id* id, int backlog) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  local_devices();  // open them now, not later under the CM lock
  std::lock_guard g(cm_mutex());
  if (c->listening || c->state != ConnState::kIdle) return fail(EINVAL);
  if (!c->bound) {
    sockaddr_in any{};
    any.sin_family = AF_INET;
    if (int err = bind_socket(c, any); err != 0) return fail(err);
  }
  if (listen(c->sock, backlog > 0 ? backlog : SOMAXCONN) != 0) return -1;
  c->listening = true;
  c->listens_early = false;
  FLEXINS_CM_TRACE("listener %p fd %d: listening on port %u", static_cast<void*>(c), c->sock,
                   ntohs(c->pub.route.addr.src_sin.sin_port));
  c->backlog = backlog;
  service_watch(c, false);
  return 0;
}

int rdma_connect(struct rdma_cm_id* id, struct rdma_conn_param* param) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  bool ud = is_ud(c);
  size_t max_pd = ud ? kSidrReqPrivateDataBytes : kReqPrivateDataBytes;
  if (param != nullptr && param->private_data_len > 0 &&
      (param->private_data == nullptr || param->private_data_len > max_pd))
    return fail(EINVAL);
  {
    std::lock_guard g(cm_mutex());
    LocalDevice* dev = device_by_ctx(c->pub.verbs);
    if (dev == nullptr || c->state != ConnState::kIdle || c->listening || c->sock < 0 ||
        c->pub.route.addr.dst_sin.sin_family != AF_INET)
      return fail(EINVAL);
    CmMessage& req = c->outgoing;
    req = CmMessage{};
    c->psn = random_psn();
    if (param != nullptr && !ud) {
      if (clamp_depth(param->responder_resources, dev->max_qp_rd_atom, dev->max_qp_rd_atom,
                      &c->responder_resources) != 0 ||
          clamp_depth(param->initiator_depth, dev->max_qp_init_rd_atom, dev->max_qp_init_rd_atom,
                      &c->initiator_depth) != 0)
        return fail(EINVAL);
      c->retry_count = std::min(param->retry_count, kMaxRetryCount);
      c->rnr_retry_count = std::min(param->rnr_retry_count, kMaxRetryCount);
      req.flow_control = param->flow_control ? 1 : 0;
    }
    describe_local(c, &req);
    if (c->pub.qp == nullptr && param != nullptr) {
      req.qpn = param->qp_num & kQpnMask;
      req.srq = param->srq ? 1 : 0;
    }
    if (param != nullptr && param->private_data_len > 0) {
      req.private_data_len = param->private_data_len;
      std::memcpy(req.private_data, param->private_data, param->private_data_len);
    }
    req.type = ud ? CmMsgType::kSidrReq : CmMsgType::kReq;

    drive(c, ConnInput::kAppConnect);
    c->refused_retry_until_ns = now_ns() + kRefusedRetryWindowNs;
    int err = cm_connect(c, false);
    if (err == 0) {
      service_watch(c, false);
      drive(c, ConnInput::kTcpConnected);
    } else if (err == EINPROGRESS) {
      service_watch(c, true);
    } else {
      drive(c, err == ECONNREFUSED ? ConnInput::kTcpRefused : ConnInput::kTcpLost);
    }
  }
  return complete_sync(c);
}

int rdma_accept(struct rdma_cm_id* id, struct rdma_conn_param* param) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  bool ud = is_ud(c);
  size_t max_pd = ud ? kSidrRepPrivateDataBytes : kRepPrivateDataBytes;
  if (param != nullptr && param->private_data_len > 0 &&
      (param->private_data == nullptr || param->private_data_len > max_pd))
    return fail(EINVAL);
  if (c->listening) return fail(EINVAL);
  {
    std::lock_guard g(cm_mutex());
    ConnState want = ud ? ConnState::kSidrReqRcvd : ConnState::kReqRcvd;
    if (c->state != want) return fail(c->state == ConnState::kClosed ? ECONNRESET : EINVAL);
    LocalDevice* dev = device_by_ctx(c->pub.verbs);
    if (dev == nullptr) return fail(EINVAL);
    if (param != nullptr && !ud) {
      if (clamp_depth(param->responder_resources, c->remote.initiator_depth, dev->max_qp_rd_atom,
                      &c->responder_resources) != 0 ||
          clamp_depth(param->initiator_depth, c->remote.responder_resources, dev->max_qp_init_rd_atom,
                      &c->initiator_depth) != 0)
        return fail(EINVAL);
      // As the kernel's CM does: the passive side retries RNR NAKs as often
      // as it tells the active side to (REP RNR retry count).
      c->rnr_retry_count = std::min(param->rnr_retry_count, kMaxRetryCount);
    }
  }
  if (!ud) {
    if (int err = move_qp_to_rts(c); err != 0) {
      std::lock_guard g(cm_mutex());
      drive(c, ConnInput::kAppReject);
      return fail(err);
    }
  }
  {
    std::lock_guard g(cm_mutex());
    CmMessage rep;
    describe_local(c, &rep);
    if (c->pub.qp == nullptr && param != nullptr) {
      rep.qpn = param->qp_num & kQpnMask;
      rep.srq = param->srq ? 1 : 0;
    }
    if (param != nullptr) {
      rep.flow_control = param->flow_control ? 1 : 0;
      if (param->private_data_len > 0) {
        rep.private_data_len = param->private_data_len;
        std::memcpy(rep.private_data, param->private_data, param->private_data_len);
      }
    }
    rep.type = ud ? CmMsgType::kSidrRep : CmMsgType::kRep;
    rep.reason = kSidrStatusValid;
    if (!drive(c, ConnInput::kAppAccept, &rep).legal) return fail(ECONNRESET);
    if (ud) return 0;  // SIDR is over: no ESTABLISHED on the passive side
  }
  return complete_sync(c);
}

int rdma_reject(struct rdma_cm_id* id, const void* private_data, uint8_t private_data_len) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  bool ud = is_ud(c);
  size_t max_pd = ud ? kSidrRepPrivateDataBytes : kRejPrivateDataBytes;
  if (private_data_len > max_pd || (private_data_len > 0 && private_data == nullptr)) return fail(EINVAL);
  std::lock_guard g(cm_mutex());
  CmMessage m;
  m.type = ud ? CmMsgType::kSidrRep : CmMsgType::kRej;
  m.reason = ud ? kSidrStatusRejected : kRejConsumerDefined;
  m.private_data_len = private_data_len;
  if (private_data_len > 0) std::memcpy(m.private_data, private_data, private_data_len);
  if (!drive(c, ConnInput::kAppReject, &m).legal)
    return fail(c->state == ConnState::kClosed ? ECONNRESET : EINVAL);
  return 0;
}

int rdma_reject_ece(struct rdma_cm_id* id, const void* private_data, uint8_t private_data_len) {
  return rdma_reject(id, private_data, private_data_len);
}

int rdma_establish(struct rdma_cm_id* id) {
  if (id == nullptr) return fail(EINVAL);
  std::lock_guard g(cm_mutex());
  if (!drive(to_id(id), ConnInput::kAppEstablish).legal) return fail(EINVAL);
  return 0;
}

int rdma_disconnect(struct rdma_cm_id* id) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  // librdmacm moves an IB QP to ERR first: outstanding work flushes.
  if (c->pub.qp != nullptr && !is_ud(c)) {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_ERR;
    ibv_modify_qp(c->pub.qp, &attr, IBV_QP_STATE);
  }
  std::lock_guard g(cm_mutex());
  if (!drive(c, ConnInput::kAppDisconnect).legal) return fail(EINVAL);
  return 0;
}

int rdma_notify(struct rdma_cm_id* id, enum ibv_event_type /*event*/) {
  // IBV_EVENT_COMM_EST tells IB CM that data arrived before the RTU; our RTU
  // rides a reliable TCP connection and cannot be lost.
  return id == nullptr ? fail(EINVAL) : 0;
}

int rdma_migrate_id(struct rdma_cm_id* id, struct rdma_event_channel* channel) {
  if (id == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  Channel* own = nullptr;
  if (channel == nullptr) {
    own = new_channel();
    if (own == nullptr) return -1;
    channel = &own->pub;
  }
  Channel* old_own = nullptr;
  {
    std::unique_lock g(cm_mutex());
    // As librdmacm: the events already handed out must be acked first.
    cm_acked().wait(g, [c] { return c->events_outstanding == 0; });
    Channel* from = to_channel(c->pub.channel);
    Channel* to = to_channel(channel);
    std::vector<Event*> moving;
    for (auto it = from->queue.begin(); it != from->queue.end();) {
      if ((*it)->owner == c) {
        moving.push_back(*it);
        it = from->queue.erase(it);
        char b;
        (void)!recv(from->pub.fd, &b, 1, MSG_DONTWAIT);
      } else {
        ++it;
      }
    }
    for (Event* e : moving) queue_event(to, e);
    c->pub.channel = channel;
    old_own = c->own_channel;
    c->own_channel = own;
    c->sync = own != nullptr;
  }
  if (old_own != nullptr) {
    std::lock_guard g(cm_mutex());
    free_channel(old_own);
  }
  return 0;
}

uint16_t rdma_get_src_port(struct rdma_cm_id* id) {
  return id ? id->route.addr.src_sin.sin_port : 0;
}

uint16_t rdma_get_dst_port(struct rdma_cm_id* id) {
  return id ? id->route.addr.dst_sin.sin_port : 0;
}

}  // extern "C"
