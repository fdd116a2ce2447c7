// What the transport needs from whoever runs it (the engine worker, or a
// test harness): a clock, a way to put packets on the wire, registered
// memory, completion queues and a place to report asynchronous events.
// The transport does no I/O and owns no threads.
#pragma once

#include <infiniband/verbs.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "cc/congestion_control.h"
#include "pipe/device_caps.h"
#include "pipe/shm_layout.h"
#include "transport/constants.h"
#include "transport/counters.h"
#include "transport/selective_repeat.h"
#include "transport/window_pool.h"
#include "wire/packet.h"
#include "wire/sack.h"

namespace flexins::transport {

// Payload pieces of one packet: a packet can straddle SGEs.
inline constexpr uint32_t kMaxGather = pipe::DeviceCaps::kMaxSge + 2;

// One packet to send: transport headers built by the transport, payload as
// slices of registered memory (header-only TX, DESIGN.md (a)). The engine's
// TX stage adds pad and ICRC and hands the whole gather list to the backend.
struct OutPacket {
  uint32_t dst_ip = 0;    // network byte order
  uint16_t src_port = 0;  // UDP source port (per-QP flow entropy), host order
  uint8_t hdr_len = 0;  // transport headers (and a SACK block, wire/sack.h)
  uint8_t pad = 0;  // 0..3, equals the BTH pad count
  uint8_t iov_count = 0;
  uint32_t payload_len = 0;
  uint8_t hdr[wire::kMaxHeadersWithSack];
  iovec payload[kMaxGather];
};

// A registered memory region as the engine reaches it. `base` is the engine's
// address of `iova`; [iova, iova + length) is the whole region.
struct MemoryRegion {
  uint32_t handle = 0;
  uint32_t lkey = 0;
  uint32_t rkey = 0;
  uint32_t pd = 0;
  uint32_t access = 0;  // enum ibv_access_flags
  uint64_t iova = 0;
  uint64_t length = 0;
  uint8_t* base = nullptr;

  // Engine pointer for [va, va + len) if it lies inside the region, else
  // nullptr. (Key, PD and access flags are the caller's checks.)
  uint8_t* translate(uint64_t va, uint64_t len) const {
    if (va < iova || len > length || va - iova > length - len) return nullptr;
    return base + (va - iova);
  }
};

// An address handle (ibv_create_ah) as the engine resolved it: where a UD
// send goes. RoCEv2 over IPv4: the path is the peer's IPv4 address.
struct AddressHandle {
  uint32_t pd = 0;
  uint32_t dest_ip = 0;  // network byte order
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
};

// The engine side of a completion queue.
class CompletionQueue {
 public:
  virtual ~CompletionQueue() = default;
  // Write one completion; false if the CQ overflowed (the caller moves the QP
  // to the error state; the CQ owner reports IBV_EVENT_CQ_ERR).
  virtual bool push(const pipe::Cqe& cqe) = 0;
};

// A shared receive queue as the responder takes from it.
class SharedReceiveQueue {
 public:
  virtual ~SharedReceiveQueue() = default;
  // Copy the next receive WQE (header + SGEs) into `wqe`/`sges`; false if none.
  virtual bool take(pipe::RecvWqe& wqe, pipe::Sge* sges, uint32_t max_sges) = 0;
  virtual uint32_t pd() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  virtual uint64_t now_ns() = 0;  // monotonic
  virtual void transmit(OutPacket& pkt) = 0;
  // Memory regions visible to this QP's worker; nullptr if no such key.
  virtual const MemoryRegion* mr_by_lkey(uint32_t lkey) = 0;
  virtual const MemoryRegion* mr_by_rkey(uint32_t rkey) = 0;
  // IBV_EVENT_QP_FATAL, IBV_EVENT_QP_REQ_ERR, IBV_EVENT_QP_ACCESS_ERR,
  // IBV_EVENT_COMM_EST, IBV_EVENT_SQ_DRAINED, IBV_EVENT_QP_LAST_WQE_REACHED.
  virtual void qp_event(uint32_t qpn, ibv_event_type event) = 0;
  // The QP now has transmit work or a new deadline: the worker should call
  // its poll() soon. (Called from inside the transport.)
  virtual void wake_qp(uint32_t qpn) = 0;
  virtual Counters& counters() = 0;
  // UD: address handle `handle` of the context that owns QP `qpn`, or
  // nullptr if that context has no such handle.
  virtual const AddressHandle* address_handle(uint32_t qpn, uint32_t handle) {
    (void)qpn;
    (void)handle;
    return nullptr;
  }
  // Put every packet transmit() took on the wire now. A UD send completes
  // as soon as its packet has left, and the host may then reuse the buffer
  // the payload iovecs point into, so the packet must be gone by then.
  virtual void flush() {}
  // The window the QPs of this worker share (window_pool.h); nullptr: none,
  // each QP may have kMaxOutstandingPackets in flight.
  virtual WindowPool* tx_window_pool() { return nullptr; }
  // The congestion controller for a new RC QP; nullptr: none (the
  // built-in fixed window only).
  virtual std::unique_ptr<cc::CongestionControl> new_congestion_control(uint32_t qpn) {
    (void)qpn;
    return nullptr;
  }
  // The loss recovery of a new RC QP (selective_repeat.h).
  virtual LossRecoveryMode loss_recovery_mode(uint32_t qpn) {
    (void)qpn;
    return LossRecoveryMode::kGoBackN;
  }
};

}  // namespace flexins::transport
