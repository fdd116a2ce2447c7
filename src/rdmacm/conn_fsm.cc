#include "rdmacm/conn_fsm.h"

#include <rdma/rdma_cma.h>

#include <cerrno>

namespace flexins::rdmacm {
namespace {

using S = ConnState;
using I = ConnInput;

ConnStep go(S next) { return ConnStep{true, next, kNoEvent, 0, false, CmMsgType::kRej, false}; }
ConnStep report(S next, int event, int status = 0) {
  ConnStep s = go(next);
  s.event = event;
  s.status = status;
  return s;
}
ConnStep with_send(ConnStep s, CmMsgType m) {
  s.sends = true;
  s.send = m;
  return s;
}
ConnStep closing(ConnStep s) {
  s.close = true;
  return s;
}
ConnStep illegal(S state) {
  ConnStep s;
  s.next = state;
  return s;
}

// RC and UD both: the TCP connection to the listener is being opened.
ConnStep connecting(I in, bool ud) {
  switch (in) {
    case I::kTcpConnected:
      return ud ? with_send(go(S::kSidrReqSent), CmMsgType::kSidrReq)
                : with_send(go(S::kReqSent), CmMsgType::kReq);
    // No listener. IB answers a REQ for an unknown service ID with REJ reason
    // 8 (IBA 12.6.7.2) and a SIDR_REQ with status 1 (IBA 12.11.1).
    case I::kTcpRefused:
      return ud ? closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE,
                                 kSidrStatusServiceIdNotSupported))
                : closing(report(S::kClosed, RDMA_CM_EVENT_REJECTED, kRejInvalidServiceId));
    case I::kTcpLost: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -EHOSTUNREACH));
    case I::kTimeout: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT));
    case I::kAppDisconnect: return closing(go(S::kClosed));
    default: return illegal(S::kConnecting);
  }
}

ConnStep req_sent(I in) {
  switch (in) {
    case I::kRecvRep: return go(S::kRepRcvd);  // rdma_get_cm_event finishes it
    case I::kRecvRej:
      return closing(report(S::kClosed, RDMA_CM_EVENT_REJECTED, kStatusFromMessage));
    case I::kTcpLost: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -ECONNRESET));
    // IB CM: REQ retries exhausted (IBA 12.9.6) → unreachable.
    case I::kTimeout: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT));
    case I::kAppDisconnect: return closing(with_send(go(S::kClosed), CmMsgType::kRej));
    default: return illegal(S::kReqSent);
  }
}

ConnStep rep_rcvd(I in) {
  switch (in) {
    case I::kAppEstablish: return with_send(go(S::kEstablished), CmMsgType::kRtu);
    case I::kAppReject:
    case I::kAppDisconnect: return closing(with_send(go(S::kClosed), CmMsgType::kRej));
    // The pending CONNECT_RESPONSE turns into CONNECT_ERROR when processed.
    case I::kTcpLost:
    case I::kRecvRej: return closing(go(S::kClosed));
    default: return illegal(S::kRepRcvd);
  }
}

ConnStep req_rcvd(I in) {
  switch (in) {
    case I::kAppAccept: return with_send(go(S::kRepSent), CmMsgType::kRep);
    case I::kAppReject: return closing(with_send(go(S::kClosed), CmMsgType::kRej));
    case I::kRecvRej:
      return closing(report(S::kClosed, RDMA_CM_EVENT_REJECTED, kStatusFromMessage));
    case I::kTcpLost: return closing(go(S::kClosed));  // rdma_accept will fail
    case I::kAppDisconnect: return closing(with_send(go(S::kClosed), CmMsgType::kRej));
    default: return illegal(S::kReqRcvd);
  }
}

ConnStep rep_sent(I in) {
  switch (in) {
    case I::kRecvRtu: return report(S::kEstablished, RDMA_CM_EVENT_ESTABLISHED);
    case I::kRecvRej:
      return closing(report(S::kClosed, RDMA_CM_EVENT_REJECTED, kStatusFromMessage));
    case I::kTcpLost: return closing(report(S::kClosed, RDMA_CM_EVENT_CONNECT_ERROR, -ECONNRESET));
    // IB CM: no RTU within the REP timeout (IBA 12.9.6) → connect error.
    case I::kTimeout: return closing(report(S::kClosed, RDMA_CM_EVENT_CONNECT_ERROR, -ETIMEDOUT));
    case I::kAppDisconnect: return closing(with_send(go(S::kClosed), CmMsgType::kRej));
    default: return illegal(S::kRepSent);
  }
}

ConnStep established(I in, bool ud) {
  if (ud) {
    // SIDR is over; there is no connection to tear down.
    if (in == I::kAppDisconnect) return go(S::kEstablished);
    return illegal(S::kEstablished);
  }
  switch (in) {
    case I::kAppDisconnect: return with_send(go(S::kDreqSent), CmMsgType::kDreq);
    // IBA 12.9.6: DREQ received → reply DREP, the consumer hears "disconnected".
    case I::kRecvDreq:
      return closing(with_send(report(S::kDisconnected, RDMA_CM_EVENT_DISCONNECTED), CmMsgType::kDrep));
    case I::kRecvRej:
    case I::kTcpLost: return closing(report(S::kDisconnected, RDMA_CM_EVENT_DISCONNECTED));
    case I::kAppEstablish: return go(S::kEstablished);  // rdma_establish twice: harmless
    default: return illegal(S::kEstablished);
  }
}

ConnStep dreq_sent(I in) {
  switch (in) {
    case I::kRecvDrep:
    case I::kTcpLost: return closing(report(S::kDisconnected, RDMA_CM_EVENT_DISCONNECTED));
    // Both sides disconnected at once: answer, and we are done too.
    case I::kRecvDreq:
      return closing(with_send(report(S::kDisconnected, RDMA_CM_EVENT_DISCONNECTED), CmMsgType::kDrep));
    // IBA 12.9.6: DREQ retries exhausted → disconnected anyway.
    case I::kTimeout: return closing(report(S::kDisconnected, RDMA_CM_EVENT_DISCONNECTED, -ETIMEDOUT));
    case I::kAppDisconnect: return go(S::kDreqSent);
    default: return illegal(S::kDreqSent);
  }
}

ConnStep sidr_req_sent(I in) {
  switch (in) {
    case I::kRecvSidrRepOk: return closing(report(S::kEstablished, RDMA_CM_EVENT_ESTABLISHED));
    case I::kRecvSidrRepRejected:
      return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, kStatusFromMessage));
    case I::kTcpLost: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -ECONNRESET));
    case I::kTimeout: return closing(report(S::kClosed, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT));
    case I::kAppDisconnect: return closing(go(S::kClosed));
    default: return illegal(S::kSidrReqSent);
  }
}

ConnStep sidr_req_rcvd(I in) {
  switch (in) {
    case I::kAppAccept: return closing(with_send(go(S::kEstablished), CmMsgType::kSidrRep));
    case I::kAppReject: return closing(with_send(go(S::kClosed), CmMsgType::kSidrRep));
    case I::kTcpLost: return closing(go(S::kClosed));
    case I::kAppDisconnect: return closing(go(S::kClosed));
    default: return illegal(S::kSidrReqRcvd);
  }
}

}  // namespace

ConnStep conn_step(ConnState state, ConnInput in, bool ud) {
  switch (state) {
    case S::kIdle:
      if (in == I::kAppConnect) return go(S::kConnecting);
      return illegal(state);
    case S::kConnecting: return connecting(in, ud);
    case S::kReqSent: return req_sent(in);
    case S::kRepRcvd: return rep_rcvd(in);
    case S::kReqRcvd: return req_rcvd(in);
    case S::kRepSent: return rep_sent(in);
    case S::kEstablished: return established(in, ud);
    case S::kDreqSent: return dreq_sent(in);
    case S::kDisconnected:
      // rdma_disconnect after DISCONNECTED only moves the QP to ERR.
      if (in == I::kAppDisconnect) return go(S::kDisconnected);
      return illegal(state);
    case S::kSidrReqSent: return sidr_req_sent(in);
    case S::kSidrReqRcvd: return sidr_req_rcvd(in);
    case S::kClosed: return illegal(state);
  }
  return illegal(state);
}

bool conn_state_has_timer(ConnState s) {
  return s == S::kConnecting || s == S::kReqSent || s == S::kRepSent || s == S::kDreqSent ||
         s == S::kSidrReqSent;
}

const char* conn_state_name(ConnState s) {
  switch (s) {
    case S::kIdle: return "IDLE";
    case S::kConnecting: return "CONNECTING";
    case S::kReqSent: return "REQ_SENT";
    case S::kRepRcvd: return "REP_RCVD";
    case S::kReqRcvd: return "REQ_RCVD";
    case S::kRepSent: return "REP_SENT";
    case S::kEstablished: return "ESTABLISHED";
    case S::kDreqSent: return "DREQ_SENT";
    case S::kDisconnected: return "DISCONNECTED";
    case S::kSidrReqSent: return "SIDR_REQ_SENT";
    case S::kSidrReqRcvd: return "SIDR_REQ_RCVD";
    case S::kClosed: return "CLOSED";
  }
  return "?";
}

const char* conn_input_name(ConnInput in) {
  switch (in) {
    case I::kAppConnect: return "app connect";
    case I::kTcpConnected: return "TCP connected";
    case I::kTcpRefused: return "TCP refused";
    case I::kTcpLost: return "TCP lost";
    case I::kTimeout: return "timeout";
    case I::kRecvRep: return "REP";
    case I::kRecvRtu: return "RTU";
    case I::kRecvRej: return "REJ";
    case I::kRecvDreq: return "DREQ";
    case I::kRecvDrep: return "DREP";
    case I::kRecvSidrRepOk: return "SIDR_REP ok";
    case I::kRecvSidrRepRejected: return "SIDR_REP rejected";
    case I::kAppAccept: return "app accept";
    case I::kAppReject: return "app reject";
    case I::kAppEstablish: return "app establish";
    case I::kAppDisconnect: return "app disconnect";
  }
  return "?";
}

}  // namespace flexins::rdmacm
