// The connection state machine, driven input by input as the two sides of
// a connection would see them.
#include "rdmacm/conn_fsm.h"

#include <gtest/gtest.h>
#include <rdma/rdma_cma.h>

#include <cerrno>

namespace flexins::rdmacm {
namespace {

using S = ConnState;
using I = ConnInput;

// Applies IN to *STATE, checks it was legal, returns the step.
ConnStep step(S* state, I in, bool ud = false) {
  ConnStep s = conn_step(*state, in, ud);
  EXPECT_TRUE(s.legal) << conn_input_name(in) << " in " << conn_state_name(*state);
  *state = s.next;
  return s;
}

TEST(ConnFsm, ActiveSideHappyPath) {
  S s = S::kIdle;
  step(&s, I::kAppConnect);
  EXPECT_EQ(s, S::kConnecting);
  EXPECT_TRUE(conn_state_has_timer(s)) << "a TCP connect must not wait forever";
  ConnStep st = step(&s, I::kTcpConnected);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kReq) << "the REQ leaves once TCP is up";
  EXPECT_EQ(s, S::kReqSent);
  st = step(&s, I::kRecvRep);
  EXPECT_EQ(st.event, kNoEvent) << "REP is reported by rdma_get_cm_event after the QP moves";
  EXPECT_EQ(s, S::kRepRcvd);
  st = step(&s, I::kAppEstablish);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kRtu);
  EXPECT_EQ(s, S::kEstablished);
  EXPECT_FALSE(conn_state_has_timer(s));
}

TEST(ConnFsm, PassiveSideHappyPath) {
  S s = S::kReqRcvd;
  ConnStep st = step(&s, I::kAppAccept);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kRep);
  EXPECT_EQ(s, S::kRepSent);
  EXPECT_TRUE(conn_state_has_timer(s)) << "waiting for the RTU is bounded";
  st = step(&s, I::kRecvRtu);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_ESTABLISHED);
  EXPECT_EQ(s, S::kEstablished);
}

TEST(ConnFsm, NoListenerIsRejectedWithInvalidServiceId) {
  S s = S::kConnecting;
  ConnStep st = step(&s, I::kTcpRefused);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_REJECTED);
  EXPECT_EQ(st.status, kRejInvalidServiceId);  // IBA 12.6.7.2 reason 8
  EXPECT_TRUE(st.close);
  EXPECT_EQ(s, S::kClosed);
}

TEST(ConnFsm, ConsumerRejectReachesTheActiveSideWithTheRejReason) {
  S passive = S::kReqRcvd;
  ConnStep st = step(&passive, I::kAppReject);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kRej);
  EXPECT_TRUE(st.close);
  S active = S::kReqSent;
  st = step(&active, I::kRecvRej);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_REJECTED);
  EXPECT_EQ(st.status, kStatusFromMessage) << "the caller puts the REJ's reason there";
  EXPECT_EQ(active, S::kClosed);
}

TEST(ConnFsm, EveryWaitEndsInAnEventWhenTheTimerFires) {
  struct Case {
    S state;
    bool ud;
    int event;
  } cases[] = {
      {S::kConnecting, false, RDMA_CM_EVENT_UNREACHABLE},
      {S::kReqSent, false, RDMA_CM_EVENT_UNREACHABLE},
      {S::kRepSent, false, RDMA_CM_EVENT_CONNECT_ERROR},
      {S::kDreqSent, false, RDMA_CM_EVENT_DISCONNECTED},
      {S::kSidrReqSent, true, RDMA_CM_EVENT_UNREACHABLE},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(conn_state_name(c.state));
    EXPECT_TRUE(conn_state_has_timer(c.state));
    ConnStep st = conn_step(c.state, I::kTimeout, c.ud);
    ASSERT_TRUE(st.legal);
    EXPECT_EQ(st.event, c.event);
    EXPECT_EQ(st.status, -ETIMEDOUT);
    EXPECT_TRUE(st.close);
  }
}

TEST(ConnFsm, ThePeerDyingIsReportedInEveryConnectedOrConnectingState) {
  EXPECT_EQ(conn_step(S::kEstablished, I::kTcpLost, false).event, RDMA_CM_EVENT_DISCONNECTED);
  EXPECT_EQ(conn_step(S::kDreqSent, I::kTcpLost, false).event, RDMA_CM_EVENT_DISCONNECTED);
  EXPECT_EQ(conn_step(S::kReqSent, I::kTcpLost, false).event, RDMA_CM_EVENT_UNREACHABLE);
  EXPECT_EQ(conn_step(S::kRepSent, I::kTcpLost, false).event, RDMA_CM_EVENT_CONNECT_ERROR);
  EXPECT_EQ(conn_step(S::kSidrReqSent, I::kTcpLost, true).event, RDMA_CM_EVENT_UNREACHABLE);
  // A REP being processed turns into CONNECT_ERROR there; nothing doubles it.
  ConnStep st = conn_step(S::kRepRcvd, I::kTcpLost, false);
  EXPECT_TRUE(st.legal);
  EXPECT_EQ(st.event, kNoEvent);
  EXPECT_EQ(st.next, S::kClosed);
}

TEST(ConnFsm, DisconnectInitiatorHearsDisconnectedOnDrep) {
  S a = S::kEstablished, b = S::kEstablished;
  ConnStep st = step(&a, I::kAppDisconnect);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kDreq);
  EXPECT_EQ(st.event, kNoEvent);
  st = step(&b, I::kRecvDreq);  // IBA 12.9.6: reply DREP, report
  EXPECT_EQ(st.event, RDMA_CM_EVENT_DISCONNECTED);
  ASSERT_TRUE(st.sends);
  EXPECT_EQ(st.send, CmMsgType::kDrep);
  st = step(&a, I::kRecvDrep);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_DISCONNECTED);
  // The passive application then calls rdma_disconnect too: fine, silent.
  st = step(&b, I::kAppDisconnect);
  EXPECT_FALSE(st.sends);
  EXPECT_EQ(st.event, kNoEvent);
}

TEST(ConnFsm, SimultaneousDisconnectReportsOnceOnEachSide) {
  S a = S::kEstablished;
  step(&a, I::kAppDisconnect);
  ConnStep st = step(&a, I::kRecvDreq);  // the peer's DREQ crossed ours
  EXPECT_EQ(st.event, RDMA_CM_EVENT_DISCONNECTED);
  EXPECT_EQ(a, S::kDisconnected);
  // Its DREP, or its socket closing, comes later and reports nothing more.
  EXPECT_FALSE(conn_step(a, I::kRecvDrep, false).legal);
  EXPECT_FALSE(conn_step(a, I::kTcpLost, false).legal);
}

TEST(ConnFsm, UdServiceIdResolution) {
  S active = S::kIdle, passive = S::kSidrReqRcvd;
  step(&active, I::kAppConnect, true);
  ConnStep st = step(&active, I::kTcpConnected, true);
  EXPECT_EQ(st.send, CmMsgType::kSidrReq);
  st = step(&passive, I::kAppAccept, true);
  EXPECT_EQ(st.send, CmMsgType::kSidrRep);
  EXPECT_TRUE(st.close) << "SIDR needs no connection afterwards";
  EXPECT_EQ(st.event, kNoEvent) << "no ESTABLISHED on the passive side of SIDR";
  st = step(&active, I::kRecvSidrRepOk, true);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_ESTABLISHED);
  st = conn_step(S::kSidrReqSent, I::kRecvSidrRepRejected, true);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_UNREACHABLE);
  st = conn_step(S::kConnecting, I::kTcpRefused, true);
  EXPECT_EQ(st.event, RDMA_CM_EVENT_UNREACHABLE);
  EXPECT_EQ(st.status, kSidrStatusServiceIdNotSupported);
}

TEST(ConnFsm, InputsThatMakeNoSenseAreRefusedAndChangeNothing) {
  struct Case {
    S state;
    I in;
  } cases[] = {
      {S::kIdle, I::kAppAccept},      {S::kIdle, I::kAppDisconnect}, {S::kIdle, I::kRecvRep},
      {S::kReqSent, I::kRecvRtu},     {S::kReqSent, I::kAppAccept},  {S::kEstablished, I::kRecvRep},
      {S::kEstablished, I::kAppAccept}, {S::kRepSent, I::kRecvRep},  {S::kClosed, I::kAppDisconnect},
      {S::kClosed, I::kRecvDreq},     {S::kReqRcvd, I::kRecvRtu},    {S::kConnecting, I::kRecvRep},
  };
  for (const Case& c : cases) {
    ConnStep st = conn_step(c.state, c.in, false);
    EXPECT_FALSE(st.legal) << conn_input_name(c.in) << " in " << conn_state_name(c.state);
    EXPECT_EQ(st.next, c.state);
    EXPECT_FALSE(st.sends);
    EXPECT_EQ(st.event, kNoEvent);
  }
}

TEST(ConnFsm, EveryStateAndInputHasAName) {
  for (int s = 0; s <= int(S::kClosed); ++s) EXPECT_STRNE(conn_state_name(S(s)), "?");
  for (int i = 0; i <= int(I::kAppDisconnect); ++i) EXPECT_STRNE(conn_input_name(I(i)), "?");
}

}  // namespace
}  // namespace flexins::rdmacm
