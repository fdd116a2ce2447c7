#include "fabric/host_queues.h"

#include <cstring>
#include <new>

#include "pipe/device_caps.h"

namespace flexins::fabric {
namespace {

// The pipe structures want 64-byte alignment; heap vectors give less.
uint8_t* align64(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

}  // namespace

// ------------------------------------------------------------------- CQ

HeapCq::HeapCq(uint32_t slots) {
  slots = pipe::ring_slots(slots);
  mem_.resize(sizeof(pipe::CqShm) + size_t(slots) * sizeof(pipe::Cqe) + 64);
  uint8_t* base = align64(mem_.data());
  auto* ctrl = new (base) pipe::CqShm();
  ctrl->slots = slots;
  ctrl->ring_offset = sizeof(pipe::CqShm);
  auto* ring = reinterpret_cast<pipe::Cqe*>(base + sizeof(pipe::CqShm));
  producer_ = pipe::CqProducer(ctrl, ring, slots);
  consumer_ = pipe::CqConsumer(ctrl, ring);
}

bool HeapCq::poll(pipe::Cqe& out) {
  const pipe::Cqe* c = consumer_.peek();
  if (c == nullptr) return false;
  out = *c;
  consumer_.pop();
  return true;
}

// ---------------------------------------------------------------- rings

QpRings::QpRings(const RingSizes& sizes) : sizes_(sizes) {
  sq_slots_ = pipe::ring_slots(sizes.sq_depth);
  rq_slots_ = sizes.rq_depth == 0 ? 0 : pipe::ring_slots(sizes.rq_depth);
  sq_slot_ = pipe::send_slot_size(pipe::DeviceCaps::kMaxSge, sizes.max_inline);
  rq_slot_ = pipe::recv_slot_size(pipe::DeviceCaps::kMaxSge);
  mem_.resize(sizeof(pipe::QpShm) + size_t(sq_slots_) * sq_slot_ + size_t(rq_slots_) * rq_slot_ + 64);
  uint8_t* base = align64(mem_.data());
  shm_ = new (base) pipe::QpShm();
  sq_ring_ = base + sizeof(pipe::QpShm);
  rq_ring_ = sq_ring_ + size_t(sq_slots_) * sq_slot_;
  shm_->sq.slots = sq_slots_;
  shm_->sq.slot_size = sq_slot_;
  shm_->sq.ring_offset = sizeof(pipe::QpShm);
  shm_->rq.slots = rq_slots_;
  shm_->rq.slot_size = rq_slot_;
  shm_->rq.ring_offset = sizeof(pipe::QpShm) + uint64_t(sq_slots_) * sq_slot_;
  sq_prod_ = pipe::WqProducer(&shm_->sq, sq_ring_);
  if (rq_slots_ > 0) rq_prod_ = pipe::WqProducer(&shm_->rq, rq_ring_);
}

void QpRings::fill_setup(transport::QpSetup& s) const {
  s.shm = shm_;
  s.cap.max_send_wr = sq_slots_;
  s.cap.max_recv_wr = rq_slots_;
  s.cap.max_send_sge = pipe::DeviceCaps::kMaxSge;
  s.cap.max_recv_sge = rq_slots_ > 0 ? pipe::DeviceCaps::kMaxSge : 0;
  s.cap.max_inline_data = sizes_.max_inline;
  s.sq = pipe::WqConsumer(&shm_->sq, sq_ring_, sq_slots_, sq_slot_);
  if (rq_slots_ > 0) s.rq = pipe::WqConsumer(&shm_->rq, rq_ring_, rq_slots_, rq_slot_);
}

bool QpRings::post_send(const pipe::SendWqe& wqe, const pipe::Sge* sges, uint32_t num_sge) {
  if (sq_prod_.full() || num_sge > pipe::DeviceCaps::kMaxSge) return false;
  uint8_t* slot = sq_prod_.slot();
  pipe::SendWqe w = wqe;
  w.num_sge = uint8_t(num_sge);
  std::memcpy(slot, &w, sizeof w);
  if (num_sge > 0) std::memcpy(slot + sizeof w, sges, num_sge * sizeof(pipe::Sge));
  sq_prod_.advance();
  sq_prod_.publish();
  return true;
}

bool QpRings::post_recv(uint64_t wr_id, const pipe::Sge* sges, uint32_t num_sge) {
  if (rq_slots_ == 0 || rq_prod_.full() || num_sge > pipe::DeviceCaps::kMaxSge) return false;
  uint8_t* slot = rq_prod_.slot();
  pipe::RecvWqe w{wr_id, num_sge, 0};
  std::memcpy(slot, &w, sizeof w);
  if (num_sge > 0) std::memcpy(slot + sizeof w, sges, num_sge * sizeof(pipe::Sge));
  rq_prod_.advance();
  rq_prod_.publish();
  return true;
}

// ---------------------------------------------------------- QP transitions

int rc_to_init(transport::Qp& qp, const RcPath& p) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_INIT;
  attr.pkey_index = 0;
  attr.port_num = 1;
  attr.qp_access_flags = p.access;
  return qp.modify(attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

int rc_to_rtr_via(transport::Qp& qp, const RcPath& p, const ibv_ah_attr& av, uint32_t peer_qpn,
                  uint32_t rq_psn) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTR;
  attr.path_mtu = p.mtu;
  attr.dest_qp_num = peer_qpn;
  attr.rq_psn = rq_psn;
  attr.max_dest_rd_atomic = p.max_dest_rd_atomic;
  attr.min_rnr_timer = p.min_rnr_timer;
  attr.ah_attr = av;
  const int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
  if (p.type == IBV_QPT_UC) return qp.modify(attr, mask);
  return qp.modify(attr, mask | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
}

int rc_to_rtr(transport::Qp& qp, const RcPath& p, uint32_t peer_ip, uint32_t peer_qpn,
              uint32_t rq_psn) {
  // RoCEv2: the peer's GID is its IPv4-mapped IPv6 address.
  ibv_ah_attr av{};
  av.is_global = 1;
  av.port_num = 1;
  av.grh.hop_limit = 64;
  av.grh.sgid_index = 0;
  av.grh.dgid.raw[10] = 0xff;
  av.grh.dgid.raw[11] = 0xff;
  std::memcpy(av.grh.dgid.raw + 12, &peer_ip, 4);
  return rc_to_rtr_via(qp, p, av, peer_qpn, rq_psn);
}

int rc_to_rts(transport::Qp& qp, const RcPath& p, uint32_t sq_psn) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTS;
  attr.sq_psn = sq_psn;
  attr.timeout = p.timeout;
  attr.retry_cnt = p.retry_cnt;
  attr.rnr_retry = p.rnr_retry;
  attr.max_rd_atomic = p.max_rd_atomic;
  if (p.type == IBV_QPT_UC) return qp.modify(attr, IBV_QP_STATE | IBV_QP_SQ_PSN);
  return qp.modify(attr, IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                             IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

}  // namespace flexins::fabric
