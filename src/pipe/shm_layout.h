// The notification pipe: shared-memory layout between an application (the
// libibverbs replacement) and the engine. DESIGN.md technique (c).
//
// One memfd per device context ("context shm"), created by the engine, mapped
// by both sides. Every object lives at an *offset* inside it, never a pointer.
//
//   offset 0  CtxShmHeader           magic, version, where the doorbells are
//             DoorbellFifo[workers]  one MPSC FIFO of QP numbers per worker
//             ...                    QpShm / CqShm / SrqShm blocks and their
//                                    rings, allocated by the engine on demand
//
// One engine-wide memfd ("engine status"), mapped read-only by applications:
// which workers are asleep and must be kicked through their eventfd.
//
// Memory ordering, per index (who writes → who reads):
//   WqCtrl.producer   host → engine   host: store-release after writing the
//                                      WQE; engine: load-acquire.
//   WqCtrl.consumer   engine → host   engine: store-release once a WQE is
//                                      completed (slot free again).
//   CqCtrl.producer   engine → host   engine: store-release after the CQE.
//   CqCtrl.consumer   host → engine   host: store-release after reading it.
//   CqCtrl.arm        host sets (release), engine clears with a CAS.
//   QpShm.doorbell_pending  host exchange(1); engine store(0) (seq_cst)
//                     before it re-reads the producer index, so every post is
//                     seen either by the engine's re-read or by a new doorbell.
//   EngineStatusShm.worker[i].kick_every_post  engine writes once, before
//                     any context opens.
//   EngineStatusShm.worker[i].sleeping  engine store(1) + seq_cst fence, then
//                     a last look at its doorbells; host: seq_cst fence after
//                     the doorbell, then load: if 1, write the worker eventfd.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace flexins::pipe {

inline constexpr uint64_t kCtxShmMagic = 0x464c58'4e53'4354'58ull;  // "FLXNSCTX"
inline constexpr uint64_t kEngineShmMagic = 0x464c58'4e53'454e'47ull;  // "FLXNSENG"
inline constexpr uint32_t kPipeVersion = 1;

inline constexpr uint32_t kMaxWorkers = 16;
inline constexpr size_t kCacheLine = 64;
inline constexpr uint64_t kCtxShmSize = 256ull << 20;  // sparse memfd
inline constexpr uint32_t kDoorbellCapacity = 16384;   // ≥ QPs per context

static_assert(std::atomic<uint32_t>::is_always_lock_free);

// ---------------------------------------------------------------- doorbells

// Vyukov bounded MPSC queue of QP numbers. Host threads are the producers,
// the owning worker the only consumer. A QP is in the FIFO at most once
// (QpShm.doorbell_pending), so it cannot overflow while a context has no more
// than kDoorbellCapacity QPs.
struct DoorbellSlot {
  std::atomic<uint32_t> seq;
  uint32_t qpn;
};
static_assert(sizeof(DoorbellSlot) == 8);

struct DoorbellFifo {
  alignas(kCacheLine) std::atomic<uint32_t> tail;  // producers (host)
  alignas(kCacheLine) uint32_t head;               // consumer (engine) only
  uint32_t capacity;                               // power of two
  DoorbellSlot slots[kDoorbellCapacity];
};
static_assert(offsetof(DoorbellFifo, head) == 64);
static_assert(sizeof(DoorbellFifo) == 128 + 8 * kDoorbellCapacity);

// ------------------------------------------------------------------- header

struct CtxShmHeader {
  uint64_t magic;  // kCtxShmMagic
  uint32_t version;
  uint32_t num_workers;
  uint64_t shm_size;
  uint64_t doorbell_offset[kMaxWorkers];  // DoorbellFifo of worker i
};
static_assert(sizeof(CtxShmHeader) == 24 + 8 * kMaxWorkers);

struct alignas(kCacheLine) WorkerStatus {
  std::atomic<uint32_t> sleeping;  // 1: kick my eventfd after a doorbell
  // 1: kick my eventfd after every post, asleep or not. Set at engine start
  // by the doorbell-syscall ablation only (engine/ablation.h): measurement.
  std::atomic<uint32_t> kick_every_post;
  uint32_t reserved[14];
};
static_assert(sizeof(WorkerStatus) == kCacheLine);

struct EngineStatusShm {
  uint64_t magic;  // kEngineShmMagic
  uint32_t version;
  uint32_t num_workers;
  uint64_t reserved[6];
  WorkerStatus worker[kMaxWorkers];
};
static_assert(offsetof(EngineStatusShm, worker) == 64);

// ------------------------------------------------------------- work queues

struct Sge {
  uint64_t addr;
  uint32_t length;
  uint32_t lkey;
};
static_assert(sizeof(Sge) == 16);

// A send work request as the host writes it. Followed in its slot by
// num_sge Sge entries, or by inline_len bytes of data (IBV_SEND_INLINE).
struct SendWqe {
  uint64_t wr_id;
  uint8_t opcode;      // enum ibv_wr_opcode
  uint8_t num_sge;
  uint16_t reserved0;
  uint32_t send_flags;  // enum ibv_send_flags
  uint32_t imm_data;    // as in ibv_send_wr: network byte order; or invalidate_rkey
  uint32_t inline_len;  // > 0 only with IBV_SEND_INLINE
  uint64_t remote_addr;
  uint32_t rkey;
  uint32_t ah;  // UD: address handle number (engine-side)
  uint64_t compare_add;
  uint64_t swap;
  uint32_t remote_qpn;  // UD
  uint32_t remote_qkey;  // UD
};
static_assert(sizeof(SendWqe) == 64);

struct RecvWqe {
  uint64_t wr_id;
  uint32_t num_sge;
  uint32_t reserved0;
};
static_assert(sizeof(RecvWqe) == 16);

inline constexpr uint32_t send_slot_size(uint32_t max_sge, uint32_t max_inline) {
  uint32_t body = max_sge * uint32_t(sizeof(Sge));
  if (max_inline > body) body = max_inline;
  return (uint32_t(sizeof(SendWqe)) + body + 63u) & ~63u;
}
inline constexpr uint32_t recv_slot_size(uint32_t max_sge) {
  return uint32_t(sizeof(RecvWqe)) + max_sge * uint32_t(sizeof(Sge));
}

struct alignas(kCacheLine) WqIndex {
  std::atomic<uint32_t> value;
  uint32_t reserved[15];
};
static_assert(sizeof(WqIndex) == kCacheLine);

// A ring of `slots` entries of `slot_size` bytes at `ring_offset`. Indices run
// freely and wrap at 2^32; slot = index % slots (slots is a power of two).
struct WqCtrl {
  WqIndex producer;  // host
  WqIndex consumer;  // engine: all WQEs before it are completed
  uint64_t ring_offset;
  uint32_t slots;
  uint32_t slot_size;
  uint32_t reserved[12];
};
static_assert(sizeof(WqCtrl) == 3 * kCacheLine);

struct QpShm {
  WqCtrl sq;
  WqCtrl rq;  // unused (slots == 0) when the QP has an SRQ
  alignas(kCacheLine) std::atomic<uint32_t> doorbell_pending;
  std::atomic<uint32_t> state;  // enum ibv_qp_state, mirrored by the engine
  uint32_t worker;              // whose doorbell FIFO to ring
  uint32_t reserved[13];
};
static_assert(sizeof(QpShm) == 7 * kCacheLine);

struct SrqShm {
  WqCtrl rq;
  alignas(kCacheLine) std::atomic<uint32_t> limit;  // host arms (release)
  uint32_t reserved[15];
};

// --------------------------------------------------------- completion queues

struct Cqe {
  uint64_t wr_id;
  uint32_t status;  // enum ibv_wc_status
  uint32_t opcode;  // enum ibv_wc_opcode
  uint32_t vendor_err;
  uint32_t byte_len;
  uint32_t imm_data;  // network byte order (or invalidated rkey)
  uint32_t qp_num;
  uint32_t src_qp;
  uint32_t wc_flags;  // enum ibv_wc_flags
  uint16_t pkey_index;
  uint16_t slid;
  uint8_t sl;
  uint8_t dlid_path_bits;
  uint8_t solicited;  // engine-internal: the event may wake a solicited-only arm
  uint8_t reserved0;
  uint64_t reserved1[2];
};
static_assert(sizeof(Cqe) == 64);

enum : uint32_t { kCqDisarmed = 0, kCqArmedAny = 1, kCqArmedSolicited = 2 };

struct CqShm {
  WqIndex producer;  // engine
  WqIndex consumer;  // host
  alignas(kCacheLine) std::atomic<uint32_t> arm;  // kCqArmed*
  std::atomic<uint32_t> overflowed;               // engine sets: CQ error
  uint64_t ring_offset;                           // Cqe[slots]
  uint32_t slots;                                 // power of two
  uint32_t reserved[9];
};
static_assert(sizeof(CqShm) == 3 * kCacheLine);

// Round a requested depth up to the power of two the rings use.
inline constexpr uint32_t ring_slots(uint32_t wanted) {
  uint32_t n = 1;
  while (n < wanted) n <<= 1;
  return n;
}

}  // namespace flexins::pipe
