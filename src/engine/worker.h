// A worker: one "NIC core". It owns its QPs outright (QPs are sharded to
// workers by QPN), so nothing on the data path takes a lock. Other threads
// reach its state only through call(), which runs a function on the worker
// thread between passes.
//
// One pass, in a fixed order, reading the clock once:
//   receive burst → dispatch to QPs → control inbox → doorbells →
//   transmit (active QPs, budgeted) → timers → flush TX batch.
// A pass that wrote completions and found nothing else to do looks at the
// doorbells for up to kLingerNs before it flushes: the application often
// answers a completion with a post at once, and its request then leaves
// with our ACKs, with no kick. A pass after a wake-up reads the socket only
// if epoll said it is readable, and a pass that found no more work is
// followed by the wait, not by another pass: epoll is the look that costs
// one system call either way.
// When idle it busy-polls for spin_ns, then naps (RX socket, eventfd, next
// timer, or the nap's end: it looks at the doorbells after each) for
// nap_window_ns, then sleeps until woken. While some QP awaits an ACK, a
// response or a timer, naps last nap_ns and are silent: a stream, whose ACKs
// wake the worker anyway, gathers the posts of a nap into one batch without
// system calls. With nothing in flight it says in shared memory that it
// sleeps, so a host that posts kicks it and a lone request (a ping-pong)
// goes at once; such a nap lasts idle_nap_ns, as nothing but a kick, a
// packet or a command can bring it work.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cc/registry.h"
#include "engine/ablation.h"
#include "engine/rx_per_qp.h"
#include "engine/tx_copy.h"
#include "engine/worker_priority.h"
#include "io/backend.h"
#include "pipe/shm_layout.h"
#include "transport/env.h"
#include "transport/qp.h"

namespace flexins::engine {

struct WorkerConfig {
  uint32_t index = 0;
  uint32_t local_ip = 0;  // network byte order
  bool verify_icrc = true;
  WorkerPriority priority;               // SCHED_FIFO or fair, and nice (worker_priority.h)
  int cpu = -1;                          // the CPU it is pinned to (cpu_pinning.h); -1: anywhere
  uint64_t spin_ns = 0;                  // busy-poll this long after the last work,
  uint64_t nap_ns = 50'000;              // then nap this long at a time (hosts need no kick)
  uint64_t idle_nap_ns = 1'000'000;      // or this long, with nothing in flight (hosts kick)
  uint64_t nap_window_ns = 100'000'000;  // until this long after the last work; then sleep
  bool idle_kicks = true;                // naps with nothing in flight ask hosts to kick
  Ablations ablate;                      // measurement only (ablation.h)
  // Congestion control of new RC QPs: cc_spec from this registry (the
  // engine's, immutable while workers run). No registry: none at all.
  const cc::PolicyRegistry* policies = nullptr;
  std::string cc_spec = "none";
  // Loss recovery of new RC QPs (transport/selective_repeat.h).
  transport::LossRecoveryMode loss_recovery = transport::LossRecoveryMode::kGoBackN;
};

// A context (application connection) as a worker sees it.
struct WorkerContext {
  uint32_t id = 0;
  pipe::DoorbellFifo* fifo = nullptr;  // this worker's FIFO in the context shm
  int async_fd = -1;                   // engine end of the async event socket
};

class Worker final : public transport::Env {
 public:
  Worker(const WorkerConfig& cfg, io::Backend& backend, pipe::WorkerStatus& status);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void stop();
  int wake_fd() const { return wake_fd_; }
  const transport::Counters& stats() const { return counters_; }
  // Bytes of receive buffering now and at most so far (any thread): the
  // fixed pool, plus the per-QP rings of the rx-per-qp ablation.
  uint64_t rx_buffer_bytes() const { return rx_pool_.size() + (rx_per_qp_ ? rx_per_qp_->bytes() : 0); }
  uint64_t rx_buffer_bytes_peak() const { return rx_pool_.size() + (rx_per_qp_ ? rx_per_qp_->peak_bytes() : 0); }
  // The most QPs this worker has held at once (any thread may read it).
  uint64_t qps_peak() const { return qps_peak_.load(std::memory_order_relaxed); }

  // Run fn on the worker thread and return its result (control thread only).
  template <class F>
  auto call(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

  // ---- worker-thread only (through call())
  void add_context(const WorkerContext& ctx);
  void remove_context(uint32_t id);
  void add_qp(std::unique_ptr<transport::Qp> qp, pipe::QpShm* shm, const WorkerContext& ctx);
  transport::Qp* find_qp(uint32_t qpn);
  void remove_qp(uint32_t qpn);
  void add_mr(const transport::MemoryRegion& mr);
  void remove_mr(uint32_t lkey, uint32_t rkey);
  void add_ah(uint32_t ctx_id, uint32_t handle, const transport::AddressHandle& ah);
  void remove_ah(uint32_t ctx_id, uint32_t handle);
  size_t qp_count() const { return qps_.size(); }
  // What `flexins qp list` shows of each QP with qpn > after, by QPN, at most max.
  std::vector<transport::QpInfo> qp_infos(uint32_t after, size_t max) const;

  // ---- transport::Env
  uint64_t now_ns() override { return now_; }
  void transmit(transport::OutPacket& pkt) override;
  const transport::MemoryRegion* mr_by_lkey(uint32_t lkey) override;
  const transport::MemoryRegion* mr_by_rkey(uint32_t rkey) override;
  void qp_event(uint32_t qpn, ibv_event_type event) override;
  void wake_qp(uint32_t qpn) override;
  transport::Counters& counters() override { return counters_; }
  const transport::AddressHandle* address_handle(uint32_t qpn, uint32_t handle) override;
  void flush() override { flush_tx(); }
  transport::WindowPool* tx_window_pool() override { return &window_pool_; }
  std::unique_ptr<cc::CongestionControl> new_congestion_control(uint32_t qpn) override;
  transport::LossRecoveryMode loss_recovery_mode(uint32_t) override { return cfg_.loss_recovery; }

 private:
  struct QpEntry {
    std::unique_ptr<transport::Qp> qp;
    pipe::QpShm* shm = nullptr;
    uint32_t ctx_id = 0;
    int async_fd = -1;
    bool active = false;
    uint64_t armed_deadline = UINT64_MAX;  // last deadline put in the heap
    bool expecting = false;                // it has a deadline: it awaits an ACK, a response or a timer
    bool pool_waiting = false;             // in pool_waiters_
  };
  struct TxSlot {
    uint8_t hdr[wire::kMaxHeadersWithSack];
    uint8_t trailer[8];  // pad + ICRC
  };
  // The datagrams waiting to leave from one of the backend's source ports,
  // in order, with the GSO group still open at their end (io/backend.h).
  // One lane per port, so that packets of QPs on different ports, which
  // arrive interleaved (many QPs, one packet each), still fill groups and
  // sendmmsg calls instead of alternating runs of one.
  struct TxLane {
    uint16_t src_port = 0;
    std::vector<TxSlot> slots;
    std::vector<io::TxDatagram> batch;
    uint32_t count = 0;
    uint32_t gso_first = 0;  // the open group: its first datagram's index,
    uint32_t gso_segments = 0;  // datagrams,
    uint32_t gso_iovs = 0;      // iovecs
    uint32_t gso_bytes = 0;     // and bytes
  };

  void post(std::function<void()> fn);
  void run();
  uint32_t rx_pass();  // datagrams (GRO buffers) received
  void handle_datagram(const io::RxDatagram& d, uint16_t ip_id);
  bool joins_gso_group(const TxLane& lane, const io::TxDatagram& d, uint32_t iovs) const;
  TxLane& lane_for(uint16_t src_port);
  void flush_lane(TxLane& lane);
  bool inbox_pass();
  bool doorbell_pass();
  bool tx_pass();
  bool timer_pass();
  void flush_tx();
  void sleep_until_work(uint64_t max_ns);  // asks hosts to kick; UINT64_MAX: until they do
  void wait_for_events(uint64_t max_ns);
  bool work_pending() const;
  // After a pass that wrote completions: whether a post came within kLingerNs.
  bool linger_for_posts() const;
  void after_qp_call(uint32_t qpn, QpEntry& e);
  // The line for the window pool may move: ACKs freed room since its head
  // last found too little.
  bool pool_waiters_may_go() const {
    return !pool_waiters_.empty() && window_pool_.releases != waiters_tried_at_;
  }
  void kick();

  WorkerConfig cfg_;
  WorkerScheduler scheduler_{cfg_.priority};  // used on the worker thread only
  io::Backend& backend_;
  pipe::WorkerStatus& status_;
  int wake_fd_ = -1;   // applications kick it (wake_fd(), pipe/doorbell.h)
  int inbox_fd_ = -1;  // the engine's other threads kick it (post(), stop())
  int epoll_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  uint64_t now_ = 0;

  std::mutex inbox_mu_;
  std::vector<std::function<void()>> inbox_;
  std::atomic<bool> inbox_pending_{false};

  std::vector<WorkerContext> contexts_;
  // Before qps_: a QP gives its claim back when it goes.
  transport::WindowPool window_pool_;
  std::unordered_map<uint32_t, QpEntry> qps_;
  std::atomic<uint64_t> qps_peak_{0};
  uint32_t qps_expecting_ = 0;  // QPs whose entry says `expecting`
  std::vector<uint32_t> active_;
  // QPs only the window pool holds back, in the order they came: served as
  // ACKs give the pool room (tx_pass).
  std::deque<uint32_t> pool_waiters_;
  uint64_t waiters_tried_at_ = UINT64_MAX;  // window_pool_.releases then
  using Deadline = std::pair<uint64_t, uint32_t>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> timers_;
  // Destroyed QPs that still acknowledge duplicates (transport/tombstone.h).
  std::unordered_map<uint32_t, transport::Tombstone> tombstones_;
  uint64_t next_tombstone_sweep_ = 0;
  std::unordered_map<uint32_t, transport::MemoryRegion> mr_by_lkey_;
  std::unordered_map<uint32_t, transport::MemoryRegion> mr_by_rkey_;
  // Address handles are per context: key (context id << 32) | handle.
  std::unordered_map<uint64_t, transport::AddressHandle> ahs_;

  // Receive pool: a small fixed set of buffers, reused every burst, so the
  // RX working set stays in cache however many QPs there are (DESIGN (b)).
  // A buffer holds the largest UDP datagram, i.e. a whole GRO group.
  static constexpr uint32_t kRxBurst = 16;
  static constexpr uint32_t kRxBufferBytes = 65536;
  std::vector<uint8_t> rx_pool_;
  bool rx_may_be_ready_ = true;     // false: epoll has just said the RX socket is empty
  std::vector<io::RxDatagram> rx_descs_;

  static constexpr uint32_t kTxBatch = 64;  // datagrams per lane before it is flushed
  static constexpr uint64_t kLingerNs = 3'000;  // linger_for_posts()
  std::vector<TxLane> lanes_;

  // Ablations (measurement only): null unless switched on.
  std::unique_ptr<TxCopy> tx_copy_;
  std::unique_ptr<RxPerQpRings> rx_per_qp_;

  transport::Counters counters_;
};

}  // namespace flexins::engine
