#include "transport/ring_srq.h"

#include <cstring>

#include "pipe/device_caps.h"

namespace flexins::transport {

RingSrq::RingSrq(pipe::SrqShm* shm, uint8_t* ring, uint32_t slots, uint32_t slot_size, uint32_t pd,
                 uint32_t max_sge, std::function<void()> on_limit)
    : shm_(shm),
      rq_(&shm->rq, ring, slots, slot_size),
      pd_(pd),
      max_sge_(max_sge),
      on_limit_(std::move(on_limit)) {}

bool RingSrq::take(pipe::RecvWqe& wqe, pipe::Sge* sges, uint32_t max_sges) {
  if (rq_.pending() == 0) return false;
  const uint8_t* slot = rq_.fetch();
  std::memcpy(&wqe, slot, sizeof wqe);
  // Never read past the slot, whatever num_sge the host wrote.
  uint32_t fit = (rq_.slot_size() - uint32_t(sizeof wqe)) / uint32_t(sizeof(pipe::Sge));
  if (fit > max_sge_) fit = max_sge_;
  if (fit > max_sges) fit = max_sges;
  if (wqe.num_sge > fit) wqe.num_sge = fit;
  std::memcpy(sges, slot + sizeof wqe, wqe.num_sge * sizeof(pipe::Sge));
  rq_.retire(rq_.next_index());  // copied: the slot is the host's again

  uint32_t armed = limit_.load(std::memory_order_acquire);
  if (armed != 0 && rq_.pending() < armed &&
      limit_.compare_exchange_strong(armed, 0, std::memory_order_acq_rel)) {
    shm_->limit.store(0, std::memory_order_release);
    if (on_limit_) on_limit_();
  }
  return true;
}

void RingSrq::arm_limit(uint32_t limit) {
  limit_.store(limit, std::memory_order_release);
  shm_->limit.store(limit, std::memory_order_release);  // a mirror for the host
}

}  // namespace flexins::transport
