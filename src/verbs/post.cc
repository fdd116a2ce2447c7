// ibv_post_send / ibv_post_recv / ibv_post_srq_recv: the data path. Each
// writes WQEs straight into the shared ring, publishes the list once, and
// rings the doorbell once. No system call unless the worker sleeps.
#include <cerrno>
#include <cstring>

#include "pipe/doorbell.h"
#include "pipe/shm_layout.h"
#include "verbs/locked.h"
#include "verbs/objects.h"
#include "verbs/ops.h"
#include "verbs/wqe.h"

namespace flexins::verbs {
namespace {

bool reads_remote(ibv_wr_opcode op) {
  return op == IBV_WR_RDMA_READ || op == IBV_WR_ATOMIC_CMP_AND_SWP ||
         op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

// One send WR into the ring. Returns 0 or the errno ibv_post_send reports.
int write_send(Qp& qp, const ibv_send_wr& wr) {
  const ibv_qp_type type = qp.ex.qp_base.qp_type;
  if (!opcode_allowed(type, wr.opcode) || wr.num_sge < 0) return EINVAL;
  const bool inl = (wr.send_flags & IBV_SEND_INLINE) && !reads_remote(wr.opcode);
  if (!inl && uint32_t(wr.num_sge) > send_sge_capacity(qp)) return EINVAL;
  if (type == IBV_QPT_UD && wr.wr.ud.ah == nullptr) return EINVAL;
  pipe::SendWqe* w = begin_send_wqe(qp);
  if (w == nullptr) return ENOMEM;  // send queue full
  w->wr_id = wr.wr_id;
  w->opcode = uint8_t(wr.opcode);
  w->send_flags = wr.send_flags;
  w->imm_data = wr.opcode == IBV_WR_SEND_WITH_INV ? wr.invalidate_rkey : wr.imm_data;
  switch (wr.opcode) {
    case IBV_WR_RDMA_WRITE:
    case IBV_WR_RDMA_WRITE_WITH_IMM:
    case IBV_WR_RDMA_READ:
      w->remote_addr = wr.wr.rdma.remote_addr;
      w->rkey = wr.wr.rdma.rkey;
      break;
    case IBV_WR_ATOMIC_CMP_AND_SWP:
    case IBV_WR_ATOMIC_FETCH_AND_ADD:
      w->remote_addr = wr.wr.atomic.remote_addr;
      w->rkey = wr.wr.atomic.rkey;
      w->compare_add = wr.wr.atomic.compare_add;
      w->swap = wr.wr.atomic.swap;
      break;
    default:
      break;
  }
  if (type == IBV_QPT_UD) {
    w->ah = to_ah(wr.wr.ud.ah)->handle;
    w->remote_qpn = wr.wr.ud.remote_qpn;
    w->remote_qkey = wr.wr.ud.remote_qkey;
  }
  if (inl) {
    if (!copy_inline(w, wr.sg_list, wr.num_sge, inline_capacity(qp))) return EINVAL;
  } else {
    w->send_flags &= ~uint32_t(IBV_SEND_INLINE);
    w->num_sge = uint8_t(wr.num_sge);
    pipe::Sge* s = wqe_sges(w);
    for (int i = 0; i < wr.num_sge; ++i)
      s[i] = {wr.sg_list[i].addr, wr.sg_list[i].length, wr.sg_list[i].lkey};
  }
  qp.sq.advance();
  return 0;
}

// One receive WR into `wq`. Returns 0 or the errno.
int write_recv(pipe::WqProducer& wq, uint32_t max_sge, const ibv_recv_wr& wr) {
  if (wr.num_sge < 0 || uint32_t(wr.num_sge) > max_sge) return EINVAL;
  if (wq.full()) return ENOMEM;  // receive queue full
  auto* w = reinterpret_cast<pipe::RecvWqe*>(wq.slot());
  w->wr_id = wr.wr_id;
  w->num_sge = uint32_t(wr.num_sge);
  w->reserved0 = 0;
  pipe::Sge* s = wqe_sges(w);
  for (int i = 0; i < wr.num_sge; ++i)
    s[i] = {wr.sg_list[i].addr, wr.sg_list[i].length, wr.sg_list[i].lkey};
  wq.advance();
  return 0;
}

uint32_t recv_sge_capacity(const pipe::WqProducer& wq, uint32_t granted) {
  uint32_t slot = (wq.slot_size() - uint32_t(sizeof(pipe::RecvWqe))) / uint32_t(sizeof(pipe::Sge));
  return granted < slot ? granted : slot;
}

}  // namespace

int post_send(ibv_qp* ibqp, ibv_send_wr* wr, ibv_send_wr** bad_wr) {
  Qp& qp = *to_qp(ibqp);
  // The send queue takes work from RTS on (and in SQD/SQE/ERR, where the
  // engine completes it in error); before that, an immediate error.
  const ibv_qp_state st = ibqp->state;
  int err = (st == IBV_QPS_RESET || st == IBV_QPS_INIT || st == IBV_QPS_RTR) ? EINVAL : 0;
  Locked hold(&qp.sq_lock);
  uint32_t before = qp.sq.next_index();
  for (; wr != nullptr && err == 0; wr = wr->next) {
    err = write_send(qp, *wr);
    if (err != 0) break;
  }
  if (err != 0 && bad_wr != nullptr) *bad_wr = wr;
  if (qp.sq.next_index() != before) {
    qp.sq.publish();
    ring_qp_doorbell(qp);
  }
  return err;
}

int post_recv(ibv_qp* ibqp, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) {
  Qp& qp = *to_qp(ibqp);
  // With an SRQ the QP has no receive queue of its own; in RESET it takes
  // none yet.
  int err = (ibqp->srq != nullptr || ibqp->state == IBV_QPS_RESET) ? EINVAL : 0;
  Locked hold(&qp.rq_lock);
  uint32_t before = qp.rq.next_index();
  const uint32_t max_sge = err == 0 ? recv_sge_capacity(qp.rq, qp.cap.max_recv_sge) : 0;
  for (; wr != nullptr && err == 0; wr = wr->next) {
    err = write_recv(qp.rq, max_sge, *wr);
    if (err != 0) break;
  }
  if (err != 0 && bad_wr != nullptr) *bad_wr = wr;
  if (qp.rq.next_index() != before) {
    qp.rq.publish();
    // Receive WQEs wait for packets, so the engine need not hear of them;
    // except in the error state, where it must flush them (IBA ch. 10,
    // Error state), and under the doorbell-syscall ablation (measurement).
    if (qp.shm->state.load(std::memory_order_acquire) == IBV_QPS_ERR ||
        qp.worker->kick_every_post.load(std::memory_order_relaxed) != 0)
      ring_qp_doorbell(qp);
  }
  return err;
}

int post_srq_recv(ibv_srq* ibsrq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) {
  Srq& srq = *to_srq(ibsrq);
  int err = 0;
  Locked hold(&srq.lock);
  uint32_t before = srq.rq.next_index();
  const uint32_t max_sge = recv_sge_capacity(srq.rq, srq.max_sge);
  for (; wr != nullptr; wr = wr->next) {
    err = write_recv(srq.rq, max_sge, *wr);
    if (err != 0) break;
  }
  if (err != 0 && bad_wr != nullptr) *bad_wr = wr;
  if (srq.rq.next_index() != before) srq.rq.publish();
  return err;
}

}  // namespace flexins::verbs
