// The ibv_wr_* send API (struct ibv_qp_ex): a batch between wr_start and
// wr_complete, built straight in the send ring and published at once.
#include <cerrno>
#include <cstring>

#include "verbs/objects.h"
#include "verbs/ops.h"
#include "verbs/wqe.h"

namespace flexins::verbs {
namespace {

Qp& qp_of(ibv_qp_ex* x) { return *to_qp(x); }

uint8_t* sq_ring(Qp& q) { return q.ctx->shm + q.shm->sq.ring_offset; }

void fail(Qp& q, int err) {
  if (q.wr_error == 0) q.wr_error = err;
}

// Finish the WQE being built (if any) and start one for `op`.
pipe::SendWqe* open_wqe(ibv_qp_ex* x, ibv_wr_opcode op) {
  Qp& q = qp_of(x);
  if (q.wr_error != 0) return nullptr;
  if (q.wr_open) {
    q.sq.advance();
    q.wr_open = false;
  }
  if (!opcode_allowed(q.ex.qp_base.qp_type, op)) {
    fail(q, EINVAL);
    return nullptr;
  }
  pipe::SendWqe* w = begin_send_wqe(q);
  if (w == nullptr) {
    fail(q, ENOMEM);
    return nullptr;
  }
  w->wr_id = x->wr_id;
  w->opcode = uint8_t(op);
  w->send_flags = x->wr_flags & ~unsigned(IBV_SEND_INLINE);
  q.wr_open = true;
  ++q.wr_count;
  return w;
}

// The WQE being built, or nullptr after an error or before any wr_<op>.
pipe::SendWqe* current(ibv_qp_ex* x) {
  Qp& q = qp_of(x);
  if (q.wr_error != 0) return nullptr;
  if (!q.wr_open) {
    fail(q, EINVAL);
    return nullptr;
  }
  return reinterpret_cast<pipe::SendWqe*>(q.sq.slot());
}

void rollback(Qp& q) {
  q.sq = pipe::WqProducer(&q.shm->sq, sq_ring(q));  // back to what was published
  q.wr_open = false;
}

void wr_start(ibv_qp_ex* x) {
  Qp& q = qp_of(x);
  pthread_mutex_lock(&q.sq_lock);
  q.wr_open = false;
  q.wr_error = 0;
  q.wr_count = 0;
}

int wr_complete(ibv_qp_ex* x) {
  Qp& q = qp_of(x);
  int err = q.wr_error;
  if (err != 0) {
    rollback(q);
  } else if (q.wr_open) {
    q.sq.advance();
    q.wr_open = false;
    q.sq.publish();
    ring_qp_doorbell(q);
  }
  pthread_mutex_unlock(&q.sq_lock);
  return err;
}

void wr_abort(ibv_qp_ex* x) {
  Qp& q = qp_of(x);
  rollback(q);
  pthread_mutex_unlock(&q.sq_lock);
}

void wr_send(ibv_qp_ex* x) { open_wqe(x, IBV_WR_SEND); }
void wr_send_imm(ibv_qp_ex* x, __be32 imm) {
  if (auto* w = open_wqe(x, IBV_WR_SEND_WITH_IMM)) w->imm_data = imm;
}
void wr_send_inv(ibv_qp_ex* x, uint32_t rkey) {
  if (auto* w = open_wqe(x, IBV_WR_SEND_WITH_INV)) w->imm_data = rkey;
}
void wr_rdma_write(ibv_qp_ex* x, uint32_t rkey, uint64_t addr) {
  if (auto* w = open_wqe(x, IBV_WR_RDMA_WRITE)) {
    w->rkey = rkey;
    w->remote_addr = addr;
  }
}
void wr_rdma_write_imm(ibv_qp_ex* x, uint32_t rkey, uint64_t addr, __be32 imm) {
  if (auto* w = open_wqe(x, IBV_WR_RDMA_WRITE_WITH_IMM)) {
    w->rkey = rkey;
    w->remote_addr = addr;
    w->imm_data = imm;
  }
}
void wr_rdma_read(ibv_qp_ex* x, uint32_t rkey, uint64_t addr) {
  if (auto* w = open_wqe(x, IBV_WR_RDMA_READ)) {
    w->rkey = rkey;
    w->remote_addr = addr;
  }
}
void wr_atomic_cmp_swp(ibv_qp_ex* x, uint32_t rkey, uint64_t addr, uint64_t compare,
                       uint64_t swap) {
  if (auto* w = open_wqe(x, IBV_WR_ATOMIC_CMP_AND_SWP)) {
    w->rkey = rkey;
    w->remote_addr = addr;
    w->compare_add = compare;
    w->swap = swap;
  }
}
void wr_atomic_fetch_add(ibv_qp_ex* x, uint32_t rkey, uint64_t addr, uint64_t add) {
  if (auto* w = open_wqe(x, IBV_WR_ATOMIC_FETCH_AND_ADD)) {
    w->rkey = rkey;
    w->remote_addr = addr;
    w->compare_add = add;
  }
}
void wr_unsupported_bind_mw(ibv_qp_ex* x, ibv_mw*, uint32_t, const ibv_mw_bind_info*) {
  fail(qp_of(x), EOPNOTSUPP);
}
void wr_unsupported_local_inv(ibv_qp_ex* x, uint32_t) { fail(qp_of(x), EOPNOTSUPP); }
void wr_unsupported_tso(ibv_qp_ex* x, void*, uint16_t, uint16_t) { fail(qp_of(x), EOPNOTSUPP); }
void wr_unsupported_xrc(ibv_qp_ex* x, uint32_t) { fail(qp_of(x), EOPNOTSUPP); }
void wr_unsupported_atomic_write(ibv_qp_ex* x, uint32_t, uint64_t, const void*) {
  fail(qp_of(x), EOPNOTSUPP);
}

void wr_set_ud_addr(ibv_qp_ex* x, ibv_ah* ah, uint32_t remote_qpn, uint32_t remote_qkey) {
  pipe::SendWqe* w = current(x);
  if (w == nullptr) return;
  if (ah == nullptr || qp_of(x).ex.qp_base.qp_type != IBV_QPT_UD) return fail(qp_of(x), EINVAL);
  w->ah = to_ah(ah)->handle;
  w->remote_qpn = remote_qpn;
  w->remote_qkey = remote_qkey;
}

void wr_set_sge_list(ibv_qp_ex* x, size_t num_sge, const ibv_sge* list) {
  pipe::SendWqe* w = current(x);
  if (w == nullptr) return;
  Qp& q = qp_of(x);
  if (num_sge > send_sge_capacity(q)) return fail(q, EINVAL);
  w->num_sge = uint8_t(num_sge);
  w->inline_len = 0;
  pipe::Sge* s = wqe_sges(w);
  for (size_t i = 0; i < num_sge; ++i) s[i] = {list[i].addr, list[i].length, list[i].lkey};
}
void wr_set_sge(ibv_qp_ex* x, uint32_t lkey, uint64_t addr, uint32_t length) {
  ibv_sge sge{addr, length, lkey};
  wr_set_sge_list(x, 1, &sge);
}

void wr_set_inline_data_list(ibv_qp_ex* x, size_t num_buf, const ibv_data_buf* bufs) {
  pipe::SendWqe* w = current(x);
  if (w == nullptr) return;
  Qp& q = qp_of(x);
  uint64_t total = 0;
  for (size_t i = 0; i < num_buf; ++i) total += bufs[i].length;
  if (total > inline_capacity(q)) return fail(q, EINVAL);
  uint8_t* out = wqe_inline(w);
  for (size_t i = 0; i < num_buf; ++i) {
    std::memcpy(out, bufs[i].addr, bufs[i].length);
    out += bufs[i].length;
  }
  w->num_sge = 0;
  w->inline_len = uint32_t(total);
  w->send_flags |= IBV_SEND_INLINE;
}
void wr_set_inline_data(ibv_qp_ex* x, void* addr, size_t length) {
  ibv_data_buf buf{addr, length};
  wr_set_inline_data_list(x, 1, &buf);
}

}  // namespace

void init_qp_ex_ops(Qp& qp) {
  ibv_qp_ex& x = qp.ex;
  x.wr_atomic_cmp_swp = wr_atomic_cmp_swp;
  x.wr_atomic_fetch_add = wr_atomic_fetch_add;
  x.wr_bind_mw = wr_unsupported_bind_mw;
  x.wr_local_inv = wr_unsupported_local_inv;
  x.wr_rdma_read = wr_rdma_read;
  x.wr_rdma_write = wr_rdma_write;
  x.wr_rdma_write_imm = wr_rdma_write_imm;
  x.wr_send = wr_send;
  x.wr_send_imm = wr_send_imm;
  x.wr_send_inv = wr_send_inv;
  x.wr_send_tso = wr_unsupported_tso;
  x.wr_set_ud_addr = wr_set_ud_addr;
  x.wr_set_xrc_srqn = wr_unsupported_xrc;
  x.wr_set_inline_data = wr_set_inline_data;
  x.wr_set_inline_data_list = wr_set_inline_data_list;
  x.wr_set_sge = wr_set_sge;
  x.wr_set_sge_list = wr_set_sge_list;
  x.wr_start = wr_start;
  x.wr_complete = wr_complete;
  x.wr_abort = wr_abort;
  x.wr_atomic_write = wr_unsupported_atomic_write;
}

}  // namespace flexins::verbs
