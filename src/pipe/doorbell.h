// Doorbells without system calls (DESIGN.md (c)): the host tells a worker
// "QP n has new work" by queueing n on the worker's DoorbellFifo, at most
// once until the worker has looked (QpShm.doorbell_pending). Only a worker
// that said it sleeps gets a kick (eventfd write).
#pragma once

#include <atomic>
#include <cstdint>

#include "pipe/shm_layout.h"

namespace flexins::pipe {

inline void doorbell_fifo_init(DoorbellFifo& f) {
  f.tail.store(0, std::memory_order_relaxed);
  f.head = 0;
  f.capacity = kDoorbellCapacity;
  for (uint32_t i = 0; i < kDoorbellCapacity; ++i) f.slots[i].seq.store(i, std::memory_order_relaxed);
}

// Host side, any thread. False only if the FIFO is full, which the
// one-entry-per-QP rule makes impossible for a context within its QP limit.
inline bool doorbell_push(DoorbellFifo& f, uint32_t qpn) {
  const uint32_t mask = kDoorbellCapacity - 1;
  uint32_t pos = f.tail.load(std::memory_order_relaxed);
  for (;;) {
    DoorbellSlot& s = f.slots[pos & mask];
    uint32_t seq = s.seq.load(std::memory_order_acquire);
    int32_t dif = int32_t(seq - pos);
    if (dif == 0) {
      if (f.tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        s.qpn = qpn;
        s.seq.store(pos + 1, std::memory_order_release);
        return true;
      }
    } else if (dif < 0) {
      return false;
    } else {
      pos = f.tail.load(std::memory_order_relaxed);
    }
  }
}

// Engine side, the owning worker only. False if empty.
inline bool doorbell_pop(DoorbellFifo& f, uint32_t& qpn) {
  const uint32_t mask = kDoorbellCapacity - 1;
  DoorbellSlot& s = f.slots[f.head & mask];
  if (s.seq.load(std::memory_order_acquire) != f.head + 1) return false;
  qpn = s.qpn;
  s.seq.store(f.head + kDoorbellCapacity, std::memory_order_release);
  ++f.head;
  return true;
}

// Host side, after publishing WQEs on `qp`: ring the doorbell if nobody has
// yet, then report whether the worker sleeps and needs an eventfd kick.
// Only the post that rang it can need to kick: a doorbell still pending was
// rung by a post that either kicked or saw the worker awake, and an awake
// worker looks at its doorbells once more before it sleeps.
inline bool ring_doorbell(QpShm& qp, uint32_t qpn, DoorbellFifo& fifo, const WorkerStatus& worker) {
  if (worker.kick_every_post.load(std::memory_order_relaxed) != 0) {
    if (qp.doorbell_pending.exchange(1, std::memory_order_seq_cst) == 0) doorbell_push(fifo, qpn);
    return true;
  }
  if (qp.doorbell_pending.exchange(1, std::memory_order_seq_cst) != 0) return false;
  doorbell_push(fifo, qpn);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return worker.sleeping.load(std::memory_order_seq_cst) != 0;
}

}  // namespace flexins::pipe
