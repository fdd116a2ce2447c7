// The library's objects behind the verbs handles. Each one starts with the
// structure the application sees (ibv_cq_ex, ibv_qp_ex, ...), so the handle
// converts back with a cast, and stays standard-layout so that cast is valid.
#pragma once

#include <infiniband/verbs.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "pipe/control_proto.h"
#include "pipe/rings.h"
#include "pipe/shm_layout.h"

namespace flexins::verbs {

class ControlClient;
struct ObjectTables;

struct Device {
  ibv_device ibdev;  // first: ibv_device* ↔ Device*
  uint32_t ipv4;     // network byte order
  uint64_t guid;     // host order
  int index;
  char socket_path[108];
};

struct Context {
  verbs_context vctx;  // first; ends with the application's ibv_context
  Device* device;
  ControlClient* control;
  ObjectTables* objects;
  uint8_t* shm;
  size_t shm_size;
  const pipe::EngineStatusShm* status;
  uint32_t num_workers;
  int worker_eventfd[pipe::kMaxWorkers];
  pipe::OpenReply open;
  // Empty polls look at the engine's liveness no more often than this.
  std::atomic<int64_t> next_liveness_check_ns;
  std::atomic<bool> fatal_reported;
};

struct Pd {
  ibv_pd pd;
  uint32_t handle;
};

class SharedRange;

struct Mr {
  ibv_mr mr;
  uint32_t handle;
  SharedRange* range;
};

struct CompChannel {
  ibv_comp_channel ch;
  uint32_t handle;
};

struct Cq {
  ibv_cq_ex ex;  // also the ibv_cq: its first members are ibv_cq's
  Context* ctx;
  CompChannel* channel;
  pipe::CqConsumer consumer;
  pthread_mutex_t poll_lock;
  const pipe::Cqe* current;  // ibv_start_poll .. ibv_end_poll
  uint32_t handle;
  uint32_t comp_events_delivered;   // under ex.mutex
  uint32_t async_events_delivered;  // under ex.mutex
  bool lock_free;                   // IBV_CREATE_CQ_ATTR_SINGLE_THREADED
};

struct Srq {
  ibv_srq srq;
  Context* ctx;
  pipe::SrqShm* shm;
  pthread_mutex_t lock;
  pipe::WqProducer rq;
  uint32_t handle;
  uint32_t max_wr;
  uint32_t max_sge;
  uint32_t async_events_delivered;  // under srq.mutex
};

struct Qp {
  ibv_qp_ex ex;  // ex.qp_base is the application's ibv_qp
  Context* ctx;
  pipe::QpShm* shm;
  pipe::DoorbellFifo* fifo;
  const pipe::WorkerStatus* worker;
  int worker_eventfd;
  pthread_mutex_t sq_lock;
  pthread_mutex_t rq_lock;
  pipe::WqProducer sq;
  pipe::WqProducer rq;
  ibv_qp_cap cap;  // what the engine granted
  uint32_t async_events_delivered;  // under qp_base.mutex
  // ibv_wr_* batch state, valid between wr_start and wr_complete/wr_abort
  // (sq_lock held throughout).
  bool wr_open;   // a WQE is being built in sq.slot()
  int wr_error;   // first error of the batch
  uint32_t wr_count;
};

struct Ah {
  ibv_ah ah;
  uint32_t handle;
};

static_assert(std::is_standard_layout_v<Device>);
static_assert(std::is_standard_layout_v<Context>);
static_assert(std::is_standard_layout_v<Cq>);
static_assert(std::is_standard_layout_v<Qp>);
static_assert(std::is_standard_layout_v<Srq>);

inline Context* to_context(ibv_context* c) {
  auto* v = reinterpret_cast<verbs_context*>(reinterpret_cast<uint8_t*>(c) -
                                             offsetof(verbs_context, context));
  return reinterpret_cast<Context*>(v);
}
inline Device* to_device(ibv_device* d) { return reinterpret_cast<Device*>(d); }
inline Pd* to_pd(ibv_pd* p) { return reinterpret_cast<Pd*>(p); }
inline Mr* to_mr(ibv_mr* m) { return reinterpret_cast<Mr*>(m); }
inline Cq* to_cq(ibv_cq* c) { return reinterpret_cast<Cq*>(c); }
inline Cq* to_cq(ibv_cq_ex* c) { return reinterpret_cast<Cq*>(c); }
inline Qp* to_qp(ibv_qp* q) { return reinterpret_cast<Qp*>(q); }
inline Qp* to_qp(ibv_qp_ex* q) { return reinterpret_cast<Qp*>(q); }
inline Srq* to_srq(ibv_srq* s) { return reinterpret_cast<Srq*>(s); }
inline Ah* to_ah(ibv_ah* a) { return reinterpret_cast<Ah*>(a); }
inline CompChannel* to_channel(ibv_comp_channel* c) { return reinterpret_cast<CompChannel*>(c); }
inline ibv_cq* as_cq(Cq* c) { return reinterpret_cast<ibv_cq*>(&c->ex); }

// A pointer `offset` bytes into the context shm, or nullptr unless
// [offset, offset + bytes) lies inside it.
inline void* shm_at(const Context& ctx, uint64_t offset, uint64_t bytes) {
  if (offset > ctx.shm_size || bytes > ctx.shm_size - offset) return nullptr;
  return ctx.shm + offset;
}

}  // namespace flexins::verbs
