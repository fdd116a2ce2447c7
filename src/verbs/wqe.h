// Writing work requests into the shared rings, and ringing the doorbell.
// Shared by ibv_post_send/recv (post.cc) and the ibv_wr_* API (qp_ex.cc).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "pipe/doorbell.h"
#include "pipe/shm_layout.h"
#include "verbs/objects.h"

namespace flexins::verbs {

inline pipe::Sge* wqe_sges(pipe::SendWqe* w) { return reinterpret_cast<pipe::Sge*>(w + 1); }
inline uint8_t* wqe_inline(pipe::SendWqe* w) { return reinterpret_cast<uint8_t*>(w + 1); }
inline pipe::Sge* wqe_sges(pipe::RecvWqe* w) { return reinterpret_cast<pipe::Sge*>(w + 1); }

// Room after the SendWqe header in one slot.
inline uint32_t send_body_bytes(const Qp& qp) {
  return qp.sq.slot_size() - uint32_t(sizeof(pipe::SendWqe));
}
inline uint32_t send_sge_capacity(const Qp& qp) {
  uint32_t slot = send_body_bytes(qp) / uint32_t(sizeof(pipe::Sge));
  return qp.cap.max_send_sge < slot ? qp.cap.max_send_sge : slot;
}
inline uint32_t inline_capacity(const Qp& qp) {
  uint32_t slot = send_body_bytes(qp);
  return qp.cap.max_inline_data < slot ? qp.cap.max_inline_data : slot;
}

// Operations each service type offers (IBA ch. 9: UC has no RDMA READ or
// atomics, UD only SENDs).
inline bool opcode_allowed(ibv_qp_type type, ibv_wr_opcode op) {
  switch (op) {
    case IBV_WR_SEND:
    case IBV_WR_SEND_WITH_IMM:
      return true;
    case IBV_WR_RDMA_WRITE:
    case IBV_WR_RDMA_WRITE_WITH_IMM:
      return type == IBV_QPT_RC || type == IBV_QPT_UC;
    case IBV_WR_RDMA_READ:
    case IBV_WR_ATOMIC_CMP_AND_SWP:
    case IBV_WR_ATOMIC_FETCH_AND_ADD:
    case IBV_WR_SEND_WITH_INV:
      return type == IBV_QPT_RC;
    default:
      return false;  // LOCAL_INV, BIND_MW, TSO, ATOMIC_WRITE: not offered
  }
}

// A cleared send WQE in the next free slot, or nullptr if the SQ is full.
// (Room is checked before anything is written.)
inline pipe::SendWqe* begin_send_wqe(Qp& qp) {
  if (qp.sq.full()) return nullptr;
  auto* w = reinterpret_cast<pipe::SendWqe*>(qp.sq.slot());
  std::memset(w, 0, sizeof *w);
  return w;
}

// After publishing: make sure the QP's worker will look, waking it only if
// it said it sleeps. No system call unless it does.
inline void ring_qp_doorbell(Qp& qp) {
  if (pipe::ring_doorbell(*qp.shm, qp.ex.qp_base.qp_num, *qp.fifo, *qp.worker)) {
    uint64_t one = 1;
    ssize_t r = write(qp.worker_eventfd, &one, sizeof one);
    (void)r;  // EAGAIN: the counter is already non-zero, the worker wakes anyway
  }
}

// Copy the data of `num_sge` gather entries inline after the WQE header.
// False if it exceeds `cap` bytes.
inline bool copy_inline(pipe::SendWqe* w, const ibv_sge* sg, int num_sge, uint32_t cap) {
  uint64_t total = 0;
  for (int i = 0; i < num_sge; ++i) total += sg[i].length;
  if (total > cap) return false;
  uint8_t* out = wqe_inline(w);
  for (int i = 0; i < num_sge; ++i) {
    std::memcpy(out, reinterpret_cast<const void*>(uintptr_t(sg[i].addr)), sg[i].length);
    out += sg[i].length;
  }
  w->inline_len = uint32_t(total);
  return true;
}

}  // namespace flexins::verbs
