// Both sides' views of the rings in shm_layout.h. Single producer, single
// consumer per ring (a CQ fed by several engine workers is serialised by the
// engine); indices run freely and wrap at 2^32.
//
// Engine-side views treat shared memory as hostile: an index the application
// scribbled over can make a view report garbage, never reach outside the ring.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "pipe/shm_layout.h"

namespace flexins::pipe {

// ----------------------------------------------------------------- host side

// Producer of a work queue (SQ, RQ or SRQ) in the application.
class WqProducer {
 public:
  WqProducer() = default;
  WqProducer(WqCtrl* ctrl, uint8_t* ring) : ctrl_(ctrl), ring_(ring), mask_(ctrl->slots - 1) {
    next_ = ctrl->producer.value.load(std::memory_order_relaxed);
  }
  bool full() const {
    return next_ - ctrl_->consumer.value.load(std::memory_order_acquire) >= ctrl_->slots;
  }
  // Slot for the next WQE; valid until publish(). Check full() first.
  uint8_t* slot() const { return ring_ + size_t(next_ & mask_) * ctrl_->slot_size; }
  uint32_t slot_size() const { return ctrl_->slot_size; }
  void advance() { ++next_; }
  // Make every advanced slot visible to the engine.
  void publish() { ctrl_->producer.value.store(next_, std::memory_order_release); }
  uint32_t next_index() const { return next_; }

 private:
  WqCtrl* ctrl_ = nullptr;
  uint8_t* ring_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t next_ = 0;
};

// Consumer of a completion queue in the application.
class CqConsumer {
 public:
  CqConsumer() = default;
  CqConsumer(CqShm* ctrl, Cqe* ring) : ctrl_(ctrl), ring_(ring), mask_(ctrl->slots - 1) {
    next_ = ctrl->consumer.value.load(std::memory_order_relaxed);
  }
  // The next completion, or nullptr if none. Call pop() when done with it.
  const Cqe* peek() const {
    if (ctrl_->producer.value.load(std::memory_order_acquire) == next_) return nullptr;
    return &ring_[next_ & mask_];
  }
  void pop() { ctrl_->consumer.value.store(++next_, std::memory_order_release); }
  // Arm the completion channel. The fence pairs with CqProducer::take_arm:
  // after it, either our next peek() sees the engine's newest CQE or the
  // engine sees the arm and fires the channel.
  void arm(bool solicited_only) {
    ctrl_->arm.store(solicited_only ? kCqArmedSolicited : kCqArmedAny, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }

 private:
  CqShm* ctrl_ = nullptr;
  Cqe* ring_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t next_ = 0;
};

// --------------------------------------------------------------- engine side

// Consumer of a work queue in the engine. `fetch` walks posted WQEs;
// `retire` frees slots for the host once their work is complete (SQ) or
// taken (RQ/SRQ: the engine copies receive WQEs out when it takes them).
class WqConsumer {
 public:
  WqConsumer() = default;
  WqConsumer(WqCtrl* ctrl, uint8_t* ring, uint32_t slots, uint32_t slot_size)
      : ctrl_(ctrl), ring_(ring), slots_(slots), slot_size_(slot_size) {
    next_ = ctrl->consumer.value.load(std::memory_order_relaxed);
    retired_ = next_;
  }
  bool valid() const { return ctrl_ != nullptr; }
  // Posted but not yet fetched, clamped to the ring size (a host that claims
  // more than `slots` outstanding is lying; we take what the ring can hold).
  uint32_t pending() const {
    uint32_t n = ctrl_->producer.value.load(std::memory_order_acquire) - next_;
    uint32_t room = slots_ - (next_ - retired_);
    return n < room ? n : room;
  }
  uint32_t next_index() const { return next_; }
  // Pointer to the WQE at `index` (fetched or not); slot_size() bytes.
  const uint8_t* slot(uint32_t index) const {
    return ring_ + size_t(index & (slots_ - 1)) * slot_size_;
  }
  uint32_t slot_size() const { return slot_size_; }
  uint32_t slots() const { return slots_; }
  // Take the next WQE (after pending() > 0).
  const uint8_t* fetch() { return slot(next_++); }
  // Every WQE before `index` is done: give the slots back to the host.
  void retire(uint32_t index) {
    retired_ = index;
    ctrl_->consumer.value.store(index, std::memory_order_release);
  }
  uint32_t retired_index() const { return retired_; }

 private:
  WqCtrl* ctrl_ = nullptr;
  uint8_t* ring_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t slot_size_ = 0;
  uint32_t next_ = 0;
  uint32_t retired_ = 0;
};

// Producer of a completion queue in the engine.
class CqProducer {
 public:
  CqProducer() = default;
  CqProducer(CqShm* ctrl, Cqe* ring, uint32_t slots) : ctrl_(ctrl), ring_(ring), slots_(slots) {
    next_ = ctrl->producer.value.load(std::memory_order_relaxed);
  }
  bool full() const {
    return next_ - ctrl_->consumer.value.load(std::memory_order_acquire) >= slots_;
  }
  // Write one completion. False (and nothing written) if the CQ is full:
  // a CQ overrun, which the caller reports as IBV_EVENT_CQ_ERR.
  bool push(const Cqe& cqe) {
    if (full()) {
      ctrl_->overflowed.store(1, std::memory_order_relaxed);
      return false;
    }
    std::memcpy(&ring_[next_ & (slots_ - 1)], &cqe, sizeof cqe);
    ctrl_->producer.value.store(++next_, std::memory_order_release);
    return true;
  }
  // After a push: should this completion fire the completion channel?
  // Consumes the arm (one event per ibv_req_notify_cq).
  bool take_arm(bool solicited_or_error) {
    // Dekker with the host's arm(): it stores the arm, then reads our
    // producer index; we stored the producer index (release), now read the
    // arm. Without a full fence here the CPU may read a stale arm before our
    // store is visible (x86 reorders a store with a later load), the host a
    // stale producer index, and both wait for ever.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint32_t a = ctrl_->arm.load(std::memory_order_seq_cst);
    if (a == kCqDisarmed || (a == kCqArmedSolicited && !solicited_or_error)) return false;
    return ctrl_->arm.compare_exchange_strong(a, kCqDisarmed, std::memory_order_seq_cst);
  }

 private:
  CqShm* ctrl_ = nullptr;
  Cqe* ring_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t next_ = 0;
};

}  // namespace flexins::pipe
