// The librdmacm replacement against a real engine: both sides of each
// connection live in this process and reach the engine's address over the
// CM's TCP connection, as two hosts would.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "engine_fixture.h"

namespace flexins::rdmacm {
namespace {

using verbs::testing::EngineProcess;
using verbs::testing::engine_addr;
using verbs::testing::kEngineIp;

constexpr int kEventWaitMs = 5000;

// The next event on CH within kEventWaitMs, or nullptr.
rdma_cm_event* next_event(rdma_event_channel* ch) {
  pollfd p{ch->fd, POLLIN, 0};
  if (poll(&p, 1, kEventWaitMs) != 1) return nullptr;
  rdma_cm_event* e = nullptr;
  return rdma_get_cm_event(ch, &e) == 0 ? e : nullptr;
}

// Expects the next event to be TYPE with STATUS; returns it (not acked).
rdma_cm_event* expect_event(rdma_event_channel* ch, rdma_cm_event_type type, int status = 0) {
  rdma_cm_event* e = next_event(ch);
  EXPECT_NE(e, nullptr) << "no event; wanted " << rdma_event_str(type);
  if (e == nullptr) return nullptr;
  EXPECT_EQ(e->event, type) << rdma_event_str(e->event) << " instead of " << rdma_event_str(type);
  EXPECT_EQ(e->status, status) << rdma_event_str(e->event);
  return e;
}

void ack(rdma_cm_event* e) {
  if (e != nullptr) {
    EXPECT_EQ(rdma_ack_cm_event(e), 0);
  }
}

class CmEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { engine_ = new EngineProcess; }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(engine_->ready()) << "flexins daemon did not come up";
    unsetenv("FLEXINS_CM_TIMEOUT_MS");
    server_ch_ = rdma_create_event_channel();
    client_ch_ = rdma_create_event_channel();
    ASSERT_NE(server_ch_, nullptr);
    ASSERT_NE(client_ch_, nullptr);
    ASSERT_EQ(rdma_create_id(server_ch_, &listen_id_, this, RDMA_PS_TCP), 0);
    sockaddr_in a = engine_addr(0);
    ASSERT_EQ(rdma_bind_addr(listen_id_, reinterpret_cast<sockaddr*>(&a)), 0);
    ASSERT_NE(listen_id_->verbs, nullptr) << "bound to the engine's address: its device";
    ASSERT_EQ(rdma_listen(listen_id_, 8), 0);
    port_ = rdma_get_src_port(listen_id_);
    ASSERT_EQ(rdma_create_id(client_ch_, &client_, nullptr, RDMA_PS_TCP), 0);
  }
  void TearDown() override {
    for (rdma_cm_id* id : {client_, server_}) {
      if (id == nullptr) continue;
      if (id->qp) rdma_destroy_qp(id);
      EXPECT_EQ(rdma_destroy_id(id), 0);
    }
    for (ibv_cq* cq : cqs_) {
      EXPECT_EQ(ibv_destroy_cq(cq), 0);
    }
    if (listen_id_) {
      EXPECT_EQ(rdma_destroy_id(listen_id_), 0);
    }
    rdma_destroy_event_channel(client_ch_);
    rdma_destroy_event_channel(server_ch_);
  }

  // Client: address and route to the listener.
  void resolve() {
    sockaddr_in dst = engine_addr(port_);
    ASSERT_EQ(rdma_resolve_addr(client_, nullptr, reinterpret_cast<sockaddr*>(&dst), 2000), 0);
    ack(expect_event(client_ch_, RDMA_CM_EVENT_ADDR_RESOLVED));
    ASSERT_NE(client_->verbs, nullptr);
    ASSERT_EQ(rdma_resolve_route(client_, 2000), 0);
    ack(expect_event(client_ch_, RDMA_CM_EVENT_ROUTE_RESOLVED));
    ASSERT_EQ(client_->route.num_paths, 1);
    EXPECT_GE(client_->route.path_rec->mtu, IBV_MTU_256);
    // LIDs as ibv_query_port reports them (pipe/lid.h): 127.0.0.3 -> 3,
    // on both ends (the listener is the same engine).
    EXPECT_EQ(ntohs(client_->route.path_rec->slid), 0x0003);
    EXPECT_EQ(ntohs(client_->route.path_rec->dlid), 0x0003);
  }

  ibv_qp_init_attr qp_attr(ibv_context* ctx) {
    ibv_cq* cq = ibv_create_cq(ctx, 32, nullptr, nullptr, 0);
    EXPECT_NE(cq, nullptr);
    cqs_.push_back(cq);
    ibv_qp_init_attr a{};
    a.send_cq = a.recv_cq = cq;
    a.qp_type = IBV_QPT_RC;
    a.cap.max_send_wr = a.cap.max_recv_wr = 8;
    a.cap.max_send_sge = a.cap.max_recv_sge = 1;
    return a;
  }

  void create_qp(rdma_cm_id* id) {
    ibv_qp_init_attr a = qp_attr(id->verbs);
    ASSERT_EQ(rdma_create_qp(id, nullptr, &a), 0) << strerror(errno);
    ASSERT_NE(id->qp, nullptr);
    ASSERT_NE(id->pd, nullptr) << "rdma_create_qp with no PD uses the device's default";
  }

  // Client connects; the server's CONNECT_REQUEST is returned (not acked)
  // and server_ is its new id.
  rdma_cm_event* connect_and_get_request(rdma_conn_param* param) {
    EXPECT_EQ(rdma_connect(client_, param), 0) << strerror(errno);
    rdma_cm_event* req = expect_event(server_ch_, RDMA_CM_EVENT_CONNECT_REQUEST);
    if (req != nullptr) server_ = req->id;
    return req;
  }

  // A whole connection with default parameters, both sides ESTABLISHED.
  void establish() {
    resolve();
    create_qp(client_);
    rdma_conn_param p{};
    p.responder_resources = p.initiator_depth = 1;
    p.retry_count = p.rnr_retry_count = 7;
    rdma_cm_event* req = connect_and_get_request(&p);
    ASSERT_NE(req, nullptr);
    ack(req);
    create_qp(server_);
    ASSERT_EQ(rdma_accept(server_, &p), 0) << strerror(errno);
    ack(expect_event(client_ch_, RDMA_CM_EVENT_ESTABLISHED));
    ack(expect_event(server_ch_, RDMA_CM_EVENT_ESTABLISHED));
  }

  static EngineProcess* engine_;
  rdma_event_channel* server_ch_ = nullptr;
  rdma_event_channel* client_ch_ = nullptr;
  rdma_cm_id* listen_id_ = nullptr;
  rdma_cm_id* client_ = nullptr;
  rdma_cm_id* server_ = nullptr;
  uint16_t port_ = 0;
  std::vector<ibv_cq*> cqs_;
};
EngineProcess* CmEngine::engine_ = nullptr;

TEST_F(CmEngine, ConnectAcceptCarryParametersAndPrivateDataBothWays) {
  resolve();
  create_qp(client_);
  const char req_data[] = "hello from the active side";
  rdma_conn_param p{};
  p.private_data = req_data;
  p.private_data_len = sizeof req_data;
  p.responder_resources = 2;
  p.initiator_depth = 3;
  p.retry_count = 5;
  p.rnr_retry_count = 6;
  rdma_cm_event* req = connect_and_get_request(&p);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->listen_id, listen_id_);
  ASSERT_NE(req->id, listen_id_) << "a new id for the connection";
  EXPECT_EQ(req->id->context, this) << "inherits the listener's context";
  const rdma_conn_param& got = req->param.conn;
  EXPECT_EQ(got.private_data_len, 56) << "the whole REQ private data field, as on IB";
  EXPECT_EQ(std::memcmp(got.private_data, req_data, sizeof req_data), 0);
  EXPECT_EQ(static_cast<const uint8_t*>(got.private_data)[sizeof req_data], 0) << "zero padded";
  // Seen from the passive side: the peer's initiator depth is what it may
  // ask of our responder resources, and the other way round.
  EXPECT_EQ(got.responder_resources, 3);
  EXPECT_EQ(got.initiator_depth, 2);
  EXPECT_EQ(got.retry_count, 5);
  EXPECT_EQ(got.rnr_retry_count, 6);
  EXPECT_EQ(got.qp_num, client_->qp->qp_num);
  EXPECT_EQ(rdma_get_dst_port(server_), rdma_get_src_port(client_));
  EXPECT_EQ(rdma_get_src_port(server_), port_);
  ack(req);

  create_qp(server_);
  const char rep_data[] = "welcome";
  rdma_conn_param a{};
  a.private_data = rep_data;
  a.private_data_len = sizeof rep_data;
  a.responder_resources = 3;
  a.initiator_depth = 2;
  a.rnr_retry_count = 7;
  ASSERT_EQ(rdma_accept(server_, &a), 0) << strerror(errno);
  rdma_cm_event* est = expect_event(client_ch_, RDMA_CM_EVENT_ESTABLISHED);
  ASSERT_NE(est, nullptr);
  EXPECT_EQ(est->param.conn.private_data_len, 196);
  EXPECT_EQ(std::memcmp(est->param.conn.private_data, rep_data, sizeof rep_data), 0);
  EXPECT_EQ(est->param.conn.qp_num, server_->qp->qp_num);
  ack(est);
  ack(expect_event(server_ch_, RDMA_CM_EVENT_ESTABLISHED));

  // Both QPs are in RTS, aimed at each other, with the negotiated limits.
  ibv_qp_attr qa{};
  ibv_qp_init_attr qi{};
  ASSERT_EQ(ibv_query_qp(client_->qp, &qa, IBV_QP_STATE | IBV_QP_DEST_QPN | IBV_QP_MAX_QP_RD_ATOMIC |
                                                IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_RNR_RETRY, &qi),
            0);
  EXPECT_EQ(qa.qp_state, IBV_QPS_RTS);
  EXPECT_EQ(qa.dest_qp_num, server_->qp->qp_num);
  EXPECT_EQ(qa.max_rd_atomic, 3) << "min(our initiator depth, its responder resources)";
  EXPECT_EQ(qa.max_dest_rd_atomic, 2) << "min(our responder resources, its initiator depth)";
  EXPECT_EQ(qa.rnr_retry, 7) << "the REP's RNR retry count";
  ASSERT_EQ(ibv_query_qp(server_->qp, &qa, IBV_QP_STATE | IBV_QP_DEST_QPN | IBV_QP_RETRY_CNT, &qi), 0);
  EXPECT_EQ(qa.qp_state, IBV_QPS_RTS);
  EXPECT_EQ(qa.dest_qp_num, client_->qp->qp_num);
  EXPECT_EQ(qa.retry_cnt, 5) << "the REQ's retry count";

  // And data flows: a SEND from the client lands in the server's buffer.
  char rbuf[64] = {};
  char sbuf[64] = "data over an rdma_cm connection";
  ibv_mr* rmr = rdma_reg_msgs(server_, rbuf, sizeof rbuf);
  ibv_mr* smr = rdma_reg_msgs(client_, sbuf, sizeof sbuf);
  ASSERT_NE(rmr, nullptr);
  ASSERT_NE(smr, nullptr);
  ASSERT_EQ(rdma_post_recv(server_, nullptr, rbuf, sizeof rbuf, rmr), 0);
  ASSERT_EQ(rdma_post_send(client_, nullptr, sbuf, sizeof sbuf, smr, IBV_SEND_SIGNALED), 0);
  ibv_wc wc{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int got_wc = 0;
  while (got_wc == 0 && std::chrono::steady_clock::now() < deadline)
    got_wc = ibv_poll_cq(server_->qp->recv_cq, 1, &wc);
  ASSERT_EQ(got_wc, 1);
  EXPECT_EQ(wc.status, IBV_WC_SUCCESS);
  EXPECT_STREQ(rbuf, sbuf);
  rdma_dereg_mr(rmr);
  rdma_dereg_mr(smr);

  // Disconnect: each side hears DISCONNECTED once.
  ASSERT_EQ(rdma_disconnect(client_), 0);
  ack(expect_event(server_ch_, RDMA_CM_EVENT_DISCONNECTED));
  ack(expect_event(client_ch_, RDMA_CM_EVENT_DISCONNECTED));
  EXPECT_EQ(rdma_disconnect(server_), 0);
  ASSERT_EQ(ibv_query_qp(client_->qp, &qa, IBV_QP_STATE, &qi), 0);
  EXPECT_EQ(qa.qp_state, IBV_QPS_ERR) << "rdma_disconnect moves the QP to ERR";
}

TEST_F(CmEngine, RejectReachesTheActiveSideWithReasonAndPrivateData) {
  resolve();
  create_qp(client_);
  rdma_cm_event* req = connect_and_get_request(nullptr);
  ASSERT_NE(req, nullptr);
  ack(req);
  const char why[] = "go away";
  ASSERT_EQ(rdma_reject(server_, why, sizeof why), 0);
  rdma_cm_event* rej = expect_event(client_ch_, RDMA_CM_EVENT_REJECTED, 28);  // IBA: consumer reject
  ASSERT_NE(rej, nullptr);
  EXPECT_EQ(std::memcmp(rej->param.conn.private_data, why, sizeof why), 0);
  ack(rej);
  EXPECT_EQ(rdma_accept(server_, nullptr), -1) << "a rejected request cannot be accepted";
}

TEST_F(CmEngine, NoListenerIsRejectedAtOnce) {
  ASSERT_EQ(rdma_destroy_id(listen_id_), 0);
  listen_id_ = nullptr;
  resolve();
  create_qp(client_);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(rdma_connect(client_, nullptr), 0);
  ack(expect_event(client_ch_, RDMA_CM_EVENT_REJECTED, 8));  // IBA 12.6.7.2: invalid service ID
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(CmEngine, AnAcceptThatNeverComesEndsInUnreachable) {
  setenv("FLEXINS_CM_TIMEOUT_MS", "300", 1);
  resolve();
  create_qp(client_);
  rdma_cm_event* req = connect_and_get_request(nullptr);
  ASSERT_NE(req, nullptr);
  ack(req);
  ack(expect_event(client_ch_, RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT));
}

TEST_F(CmEngine, DestroyingAConnectedIdDisconnectsThePeer) {
  establish();
  rdma_destroy_qp(client_);
  ASSERT_EQ(rdma_destroy_id(client_), 0);
  client_ = nullptr;
  ack(expect_event(server_ch_, RDMA_CM_EVENT_DISCONNECTED));
}

TEST_F(CmEngine, ANonblockingChannelSaysEagainUntilAnEventIsThere) {
  ASSERT_EQ(fcntl(client_ch_->fd, F_SETFL, fcntl(client_ch_->fd, F_GETFL) | O_NONBLOCK), 0);
  rdma_cm_event* e = nullptr;
  EXPECT_EQ(rdma_get_cm_event(client_ch_, &e), -1);
  EXPECT_EQ(errno, EAGAIN);
  sockaddr_in dst = engine_addr(port_);
  ASSERT_EQ(rdma_resolve_addr(client_, nullptr, reinterpret_cast<sockaddr*>(&dst), 2000), 0);
  pollfd p{client_ch_->fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, kEventWaitMs), 1);
  ASSERT_EQ(rdma_get_cm_event(client_ch_, &e), 0);
  EXPECT_EQ(e->event, RDMA_CM_EVENT_ADDR_RESOLVED);
  EXPECT_EQ(e->id, client_);
  ack(e);
  EXPECT_EQ(rdma_get_cm_event(client_ch_, &e), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(CmEngine, AnApplicationMovesItsOwnQpWithInitQpAttrAndEstablish) {
  resolve();
  // The client's QP is not the id's: it says its number in the parameters.
  ibv_pd* pd = ibv_alloc_pd(client_->verbs);
  ASSERT_NE(pd, nullptr);
  ibv_qp_init_attr a = qp_attr(client_->verbs);
  ibv_qp* qp = ibv_create_qp(pd, &a);
  ASSERT_NE(qp, nullptr);
  auto move = [&](ibv_qp_state s) {
    ibv_qp_attr attr{};
    attr.qp_state = s;
    int mask = 0;
    ASSERT_EQ(rdma_init_qp_attr(client_, &attr, &mask), 0) << strerror(errno);
    if (s == IBV_QPS_RTR) {
      EXPECT_EQ(attr.ah_attr.is_global, 1) << "the CM routes by GRH";
      EXPECT_EQ(attr.ah_attr.dlid, 0x0003) << "and names the peer's LID beside it";
    }
    ASSERT_EQ(ibv_modify_qp(qp, &attr, mask), 0);
  };
  move(IBV_QPS_INIT);
  rdma_conn_param p{};
  p.qp_num = qp->qp_num;
  p.responder_resources = p.initiator_depth = 1;
  rdma_cm_event* req = connect_and_get_request(&p);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->param.conn.qp_num, qp->qp_num);
  ack(req);
  create_qp(server_);
  ASSERT_EQ(rdma_accept(server_, &p), 0);
  ack(expect_event(client_ch_, RDMA_CM_EVENT_CONNECT_RESPONSE));
  move(IBV_QPS_INIT);
  move(IBV_QPS_RTR);
  move(IBV_QPS_RTS);
  ASSERT_EQ(rdma_establish(client_), 0);
  ack(expect_event(server_ch_, RDMA_CM_EVENT_ESTABLISHED));
  ibv_qp_attr qa{};
  ibv_qp_init_attr qi{};
  ASSERT_EQ(ibv_query_qp(qp, &qa, IBV_QP_STATE | IBV_QP_DEST_QPN, &qi), 0);
  EXPECT_EQ(qa.qp_state, IBV_QPS_RTS);
  EXPECT_EQ(qa.dest_qp_num, server_->qp->qp_num);
  EXPECT_EQ(ibv_destroy_qp(qp), 0);
  EXPECT_EQ(ibv_dealloc_pd(pd), 0);
}

TEST_F(CmEngine, SynchronousEndpointsConnectWithoutEventChannels) {
  rdma_addrinfo hints{};
  hints.ai_flags = RAI_PASSIVE;
  hints.ai_port_space = RDMA_PS_TCP;
  rdma_addrinfo* res = nullptr;
  ASSERT_EQ(rdma_getaddrinfo(kEngineIp, "0", &hints, &res), 0);
  ibv_qp_init_attr attr{};
  attr.cap.max_send_wr = attr.cap.max_recv_wr = 4;
  attr.cap.max_send_sge = attr.cap.max_recv_sge = 1;
  rdma_cm_id* listen = nullptr;
  ASSERT_EQ(rdma_create_ep(&listen, res, nullptr, &attr), 0) << strerror(errno);
  rdma_freeaddrinfo(res);
  ASSERT_EQ(rdma_listen(listen, 1), 0);
  uint16_t port = ntohs(rdma_get_src_port(listen));

  int server_rc = -1;
  std::thread server([&] {
    rdma_cm_id* id = nullptr;
    if (rdma_get_request(listen, &id) != 0) return;
    if (id->qp == nullptr || id->recv_cq == nullptr) return;  // made from the ep's attributes
    if (rdma_accept(id, nullptr) != 0) return;  // returns once ESTABLISHED
    server_rc = 0;
    rdma_disconnect(id);
    rdma_destroy_ep(id);
  });
  hints = {};
  hints.ai_port_space = RDMA_PS_TCP;
  ASSERT_EQ(rdma_getaddrinfo(kEngineIp, std::to_string(port).c_str(), &hints, &res), 0);
  rdma_cm_id* id = nullptr;
  ASSERT_EQ(rdma_create_ep(&id, res, nullptr, &attr), 0) << strerror(errno);
  rdma_freeaddrinfo(res);
  ASSERT_NE(id->qp, nullptr);
  EXPECT_EQ(rdma_connect(id, nullptr), 0) << strerror(errno);
  server.join();
  EXPECT_EQ(server_rc, 0);
  rdma_disconnect(id);
  rdma_destroy_ep(id);
  rdma_destroy_ep(listen);
}

}  // namespace
}  // namespace flexins::rdmacm
