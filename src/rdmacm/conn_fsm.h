// The connection state machine of one rdma_cm_id, as a pure function: the
// current state and an input (a CM message, a TCP socket event, a timer, an
// application call) give the next state, the event to report, the message to
// send and whether to close the TCP connection. It follows the IB CM state
// diagrams (IBA 12.9.6 figure 172 for RC, 12.11 for SIDR) as seen through
// librdmacm's events; the caller does the I/O.
#pragma once

#include <cstdint>

#include "rdmacm/cm_msg.h"

namespace flexins::rdmacm {

enum class ConnState : uint8_t {
  kIdle,         // no connection attempt yet
  kConnecting,   // active: TCP connect to the listener in progress
  kReqSent,      // active: REQ sent, waiting for REP or REJ
  kRepRcvd,      // active: REP arrived; rdma_get_cm_event moves the QP, then RTU
  kReqRcvd,      // passive: REQ reported (CONNECT_REQUEST), waiting for accept/reject
  kRepSent,      // passive: REP sent, waiting for RTU
  kEstablished,  // RC connected, or UD resolved (SIDR done)
  kDreqSent,     // rdma_disconnect sent DREQ, waiting for DREP
  kDisconnected, // DISCONNECTED reported; the QP is (or will be) in ERR
  kSidrReqSent,  // active UD: SIDR_REQ sent, waiting for SIDR_REP
  kSidrReqRcvd,  // passive UD: SIDR_REQ reported, waiting for accept/reject
  kClosed,       // rejected, unreachable or failed: the id can only be destroyed
};
const char* conn_state_name(ConnState s);

enum class ConnInput : uint8_t {
  kAppConnect,       // rdma_connect: TCP connect started
  kTcpConnected,
  kTcpRefused,       // nobody listens on that address and port
  kTcpLost,          // EOF, reset or socket error
  kTimeout,          // the state's timer expired
  kRecvRep,
  kRecvRtu,
  kRecvRej,
  kRecvDreq,
  kRecvDrep,
  kRecvSidrRepOk,
  kRecvSidrRepRejected,
  kAppAccept,        // rdma_accept
  kAppReject,        // rdma_reject, or the active QP could not reach RTS
  kAppEstablish,     // active: QP in RTS (or rdma_establish): send RTU
  kAppDisconnect,    // rdma_disconnect
};
const char* conn_input_name(ConnInput in);

constexpr int kNoEvent = -1;
// Status placeholders the caller replaces with the message's value.
constexpr int kStatusFromMessage = 0x10000;  // REJ reason or SIDR_REP status

struct ConnStep {
  bool legal = false;       // false: the input makes no sense here (API: EINVAL; message: ignored)
  ConnState next = ConnState::kClosed;
  int event = kNoEvent;     // enum rdma_cm_event_type to report
  int status = 0;           // its status (negative errno, IB reason, or kStatusFromMessage)
  bool sends = false;
  CmMsgType send = CmMsgType::kRej;
  bool close = false;       // close the TCP connection after sending
};

// ud: the id's QP type is UD (PS_UDP / PS_IPOIB): SIDR instead of REQ/REP/RTU.
ConnStep conn_step(ConnState state, ConnInput input, bool ud);

// States in which a timer bounds the wait for the peer.
bool conn_state_has_timer(ConnState s);

}  // namespace flexins::rdmacm
