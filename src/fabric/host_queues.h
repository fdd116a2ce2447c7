// The host side of a simulated RDMA device, over heap memory: completion
// queues and QP work-queue rings laid out as the verbs library lays them in
// shared memory (pipe/shm_layout.h) and driven through the same ring views
// (WqProducer / CqConsumer on the host, WqConsumer / CqProducer in the
// transport). No threads: the simulator is the only caller.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "pipe/rings.h"
#include "pipe/shm_layout.h"
#include "transport/env.h"
#include "transport/qp.h"

namespace flexins::fabric {

// A completion queue: the transport pushes, the host polls.
class HeapCq final : public transport::CompletionQueue {
 public:
  explicit HeapCq(uint32_t slots);
  bool push(const pipe::Cqe& cqe) override { return producer_.push(cqe); }
  // The next completion, if any (consumed).
  bool poll(pipe::Cqe& out);

 private:
  std::vector<uint8_t> mem_;
  pipe::CqProducer producer_;
  pipe::CqConsumer consumer_;
};

struct RingSizes {
  uint32_t sq_depth = 64;
  uint32_t rq_depth = 64;  // 0: no receive queue of its own
  uint32_t max_inline = 0;
};

// A QP's rings (QpShm + SQ + RQ) and the host's producers for them. The
// consumer views go into the transport's QpSetup (fill_setup).
class QpRings {
 public:
  explicit QpRings(const RingSizes& sizes);
  QpRings(const QpRings&) = delete;
  QpRings& operator=(const QpRings&) = delete;

  // Sets shm, sq, rq and cap in `s`.
  void fill_setup(transport::QpSetup& s) const;
  // Write one WQE and publish it; false if the ring is full. The caller
  // then rings the doorbell (Qp::on_doorbell, or its simulated worker's).
  bool post_send(const pipe::SendWqe& wqe, const pipe::Sge* sges, uint32_t num_sge);
  bool post_recv(uint64_t wr_id, const pipe::Sge* sges, uint32_t num_sge);
  bool sq_full() const { return sq_prod_.full(); }

 private:
  RingSizes sizes_;
  std::vector<uint8_t> mem_;
  pipe::QpShm* shm_ = nullptr;
  uint8_t* sq_ring_ = nullptr;
  uint8_t* rq_ring_ = nullptr;
  uint32_t sq_slots_ = 0, sq_slot_ = 0, rq_slots_ = 0, rq_slot_ = 0;
  pipe::WqProducer sq_prod_;
  pipe::WqProducer rq_prod_;
};

// What ibv_modify_qp is given to bring a connected QP to RTS (RoCEv2,
// IPv4). A UC QP gets the masks ibv_uc_pingpong passes: no READ/atomic
// resources, RNR, timeout or retry counts (nothing is acknowledged).
struct RcPath {
  ibv_qp_type type = IBV_QPT_RC;  // or IBV_QPT_UC
  ibv_mtu mtu = IBV_MTU_4096;
  uint32_t access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
                    IBV_ACCESS_REMOTE_ATOMIC;
  uint8_t timeout = 14;  // IBA: 4.096 us * 2^timeout
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;
  uint8_t min_rnr_timer = 1;
  uint8_t max_rd_atomic = 16;       // as initiator (RTS)
  uint8_t max_dest_rd_atomic = 16;  // as responder (RTR)
};

// RESET → INIT, INIT → RTR (toward peer_ip / peer_qpn, expecting rq_psn),
// RTR → RTS (first PSN sq_psn). Each returns the errno ibv_modify_qp would.
int rc_to_init(transport::Qp& qp, const RcPath& p);
int rc_to_rtr(transport::Qp& qp, const RcPath& p, uint32_t peer_ip, uint32_t peer_qpn,
              uint32_t rq_psn);
// INIT → RTR over any path: with a GRH, or a LID (pipe/lid.h).
int rc_to_rtr_via(transport::Qp& qp, const RcPath& p, const ibv_ah_attr& av, uint32_t peer_qpn,
                  uint32_t rq_psn);
int rc_to_rts(transport::Qp& qp, const RcPath& p, uint32_t sq_psn);

}  // namespace flexins::fabric
