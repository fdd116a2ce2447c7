// Driving one id's connection state machine: report, send, close, timers.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rdmacm/cm_state.h"
#include "rdmacm/devices.h"
#include "rdmacm/qp_setup.h"
#include "rdmacm/trace.h"

namespace flexins::rdmacm {
namespace {

constexpr uint8_t kDefaultAckTimeout = 14;  // 4.096 µs × 2^14 ≈ 67 ms per retry

bool send_message(int sock, const CmMessage& m) {
  uint8_t buf[kMaxMessageBytes];
  size_t n = encode(m, buf, sizeof buf);
  if (n == 0 || sock < 0) return false;
  // The CM messages are a few hundred bytes on a connection that carries
  // nothing else: the socket buffer always has room, so a short write means
  // the connection is broken (the reader then sees it).
  ssize_t w;
  do {
    w = send(sock, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  return w == ssize_t(n);
}

}  // namespace

void fill_event_params(Event* e, const Id* id, const CmMessage& m) {
  std::memcpy(e->private_data, m.private_data, m.private_data_len);
  // As on IB, the consumer sees the whole private data field of the MAD.
  uint8_t padded = uint8_t(max_private_data(m.type));
  if (is_ud(id)) {
    rdma_ud_param& ud = e->pub.param.ud;
    ud.private_data = e->private_data;
    ud.private_data_len = padded;
    if (m.type == CmMsgType::kSidrRep || m.type == CmMsgType::kSidrReq) {
      fill_ah_attr(id, m.gid, &ud.ah_attr);
      ud.qp_num = m.qpn;
      ud.qkey = m.qkey;
    }
  } else {
    e->pub.param.conn.private_data = e->private_data;
    e->pub.param.conn.private_data_len = padded;
  }
}

bool is_ud(const Id* id) { return id->pub.qp_type == IBV_QPT_UD; }

void close_socket(Id* id) {
  if (id->sock >= 0) {
    service_forget(id->sock);
    close(id->sock);
    id->sock = -1;
  }
  id->rx.clear();
  id->deadline_ns = 0;
}

void describe_local(Id* id, CmMessage* m) {
  LocalDevice* dev = device_by_ctx(id->pub.verbs);
  if (id->pub.qp != nullptr) m->qpn = id->pub.qp->qp_num;
  m->starting_psn = id->psn;
  if (dev != nullptr) {
    std::memcpy(m->gid, dev->gid.raw, sizeof m->gid);
    m->mtu = uint8_t(dev->active_mtu);
  }
  m->qkey = id->qkey;
  m->port_space = uint16_t(id->pub.ps);
  m->responder_resources = id->responder_resources;
  m->initiator_depth = id->initiator_depth;
  m->retry_count = id->retry_count;
  m->rnr_retry_count = id->rnr_retry_count;
  m->local_ack_timeout = id->ack_timeout ? id->ack_timeout : kDefaultAckTimeout;
  m->srq = (id->pub.srq != nullptr || (id->pub.qp != nullptr && id->pub.qp->srq != nullptr)) ? 1 : 0;
}

ConnStep drive(Id* id, ConnInput input, const CmMessage* out, const CmMessage* in) {
  ConnStep s = conn_step(id->state, input, is_ud(id));
  FLEXINS_CM_TRACE("id %p fd %d: %s --%s--> %s%s%s", static_cast<void*>(id), id->sock,
                   conn_state_name(id->state), conn_input_name(input),
                   s.legal ? conn_state_name(s.next) : "(ignored)", s.sends ? ", sends " : "",
                   s.sends ? cm_msg_type_name(s.send) : "");
  if (!s.legal) return s;
  ConnState prev = id->state;
  id->state = s.next;
  if (s.sends) {
    CmMessage m;
    if (out != nullptr) {
      m = *out;
    } else if (s.send == CmMsgType::kReq || s.send == CmMsgType::kSidrReq) {
      m = id->outgoing;
    } else if (s.send == CmMsgType::kRej) {
      m.reason = kRejConsumerDefined;
    }
    m.type = s.send;
    if (!send_message(id->sock, m))
      FLEXINS_CM_TRACE("id %p fd %d: sending %s failed", static_cast<void*>(id), id->sock,
                       cm_msg_type_name(s.send));
  }
  if (s.event != kNoEvent && !id->destroying) {
    int status = s.status == kStatusFromMessage ? (in ? int(in->reason) : 0) : s.status;
    Event* e = new_event(id, rdma_cm_event_type(s.event), status);
    if (in != nullptr) fill_event_params(e, id, *in);
    queue_event(to_channel(id->pub.channel), e);
  }
  if (s.close) close_socket(id);
  if (s.next != prev) {
    id->deadline_ns = (conn_state_has_timer(s.next) && id->sock >= 0) ? now_ns() + timeout_ns(s.next) : 0;
    if (id->deadline_ns != 0) service_wake();
  }
  return s;
}

void fill_conn_param(Event* e, const CmMessage& m, size_t padded_len) {
  std::memcpy(e->private_data, m.private_data, m.private_data_len);
  rdma_conn_param& p = e->pub.param.conn;
  p.private_data = e->private_data;
  p.private_data_len = uint8_t(padded_len);
  // What the peer offers, seen from this side: its initiator depth bounds
  // our responder resources and the other way round (IBA 12.7.29, 12.7.30).
  p.responder_resources = m.initiator_depth;
  p.initiator_depth = m.responder_resources;
  p.flow_control = m.flow_control;
  p.retry_count = m.retry_count;
  p.rnr_retry_count = m.rnr_retry_count;
  p.srq = m.srq;
  p.qp_num = m.qpn;
}

}  // namespace flexins::rdmacm
