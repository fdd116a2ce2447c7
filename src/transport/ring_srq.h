// A shared receive queue as the engine consumes it: the host's ring in
// shared memory (pipe::SrqShm), shared by every QP of the context that was
// created with it. A take copies the WQE out and retires its slot at once,
// so the host can post again while the message is still arriving.
//
// The SRQ limit (ibv_modify_srq(3), IBV_SRQ_LIMIT; IBA 10.2.9.?): once armed,
// the first take that leaves fewer WQEs posted than the limit fires the
// limit handler (the engine raises IBV_EVENT_SRQ_LIMIT_REACHED) and
// disarms it.
//
// Threads: take() runs on the worker that owns the QPs (the engine runs one
// worker, so every QP of a context is on it); arm_limit() and limit() may run
// on the control thread (the limit is an atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "pipe/rings.h"
#include "pipe/shm_layout.h"
#include "transport/env.h"

namespace flexins::transport {

class RingSrq final : public SharedReceiveQueue {
 public:
  // `ring`: slots × slot_size bytes as `shm->rq` describes them (the caller
  // laid them out: shared memory is not trusted for its own geometry).
  RingSrq(pipe::SrqShm* shm, uint8_t* ring, uint32_t slots, uint32_t slot_size, uint32_t pd,
          uint32_t max_sge, std::function<void()> on_limit);

  bool take(pipe::RecvWqe& wqe, pipe::Sge* sges, uint32_t max_sges) override;
  uint32_t pd() const override { return pd_; }

  // Arm the limit (0 disarms).
  void arm_limit(uint32_t limit);
  uint32_t limit() const { return limit_.load(std::memory_order_acquire); }
  // WQEs posted by the host and not yet taken.
  uint32_t posted() const { return rq_.pending(); }

 private:
  pipe::SrqShm* shm_;
  pipe::WqConsumer rq_;
  uint32_t pd_;
  uint32_t max_sge_;
  std::atomic<uint32_t> limit_{0};
  std::function<void()> on_limit_;
};

}  // namespace flexins::transport
