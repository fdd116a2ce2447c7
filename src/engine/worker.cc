#include "engine/worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

#include "pipe/control_proto.h"
#include "pipe/doorbell.h"
#include "wire/icrc.h"
#include "wire/opcodes.h"

namespace flexins::engine {
namespace {

constexpr uint32_t kQpTxBudget = 32;  // packets per QP per pass: fairness
constexpr uint32_t kIpDf = 0x4000;

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

bool fifo_nonempty(const pipe::DoorbellFifo& f) {
  const auto& s = f.slots[f.head & (pipe::kDoorbellCapacity - 1)];
  return s.seq.load(std::memory_order_acquire) == f.head + 1;
}

// A spin-wait hint: lets the sibling hyperthread run, saves power.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

Worker::Worker(const WorkerConfig& cfg, io::Backend& backend, pipe::WorkerStatus& status)
    : cfg_(cfg), backend_(backend), status_(status) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  inbox_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || inbox_fd_ < 0 || epoll_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "worker fds");
  for (int fd : {wake_fd_, inbox_fd_, backend_.rx_fd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
  rx_pool_.resize(size_t(kRxBurst) * kRxBufferBytes);
  rx_descs_.resize(kRxBurst);
  for (uint16_t port : backend_.src_ports()) {
    TxLane& lane = lanes_.emplace_back();
    lane.src_port = port;
    lane.slots.resize(kTxBatch);
    lane.batch.resize(kTxBatch);
  }
  if (lanes_.empty()) throw std::logic_error("worker: the backend has no source port");
  if (cfg_.ablate.tx_copy) tx_copy_ = std::make_unique<TxCopy>(uint32_t(lanes_.size()) * kTxBatch);
  if (cfg_.ablate.rx_per_qp) rx_per_qp_ = std::make_unique<RxPerQpRings>();
  now_ = monotonic_ns();
}

Worker::~Worker() {
  stop();
  close(wake_fd_);
  close(inbox_fd_);
  close(epoll_fd_);
}

void Worker::start() {
  thread_ = std::thread([this] {
    // "flexins-w0" in ps -L, top -H and perf, beside the engine's other threads.
    const std::string name = "flexins-w" + std::to_string(cfg_.index);
    pthread_setname_np(pthread_self(), name.c_str());
    // A NIC core runs the moment it has work (worker_priority.h).
    if (std::string warning = scheduler_.start(); !warning.empty())
      std::fprintf(stderr, "flexinsd: warning: worker %u: %s\n", cfg_.index, warning.c_str());
    run();
  });
  if (cfg_.cpu < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cfg_.cpu, &one);
  // The engine checked the CPU against its affinity; should the kernel still
  // refuse (the cpuset changed since), the worker runs unpinned, and says so.
  if (int err = pthread_setaffinity_np(thread_.native_handle(), sizeof one, &one); err != 0)
    std::fprintf(stderr, "flexinsd: warning: cannot pin worker %u to CPU %d (%s): it runs unpinned\n", cfg_.index,
                 cfg_.cpu, std::strerror(err));
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  kick();
  thread_.join();
}

void Worker::kick() {
  uint64_t one = 1;
  (void)!write(inbox_fd_, &one, sizeof one);
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.push_back(std::move(fn));
  }
  inbox_pending_.store(true, std::memory_order_release);
  kick();
}

// ------------------------------------------------------------------ the loop

void Worker::run() {
  // Naps of a few microseconds need a precise timer, not the default 50 µs slack.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  uint64_t last_work = monotonic_ns();
  while (!stop_.load(std::memory_order_relaxed)) {
    now_ = monotonic_ns();
    scheduler_.pass(now_);
    const uint64_t completions_before = counters_.completions.get();
    const uint32_t received = rx_may_be_ready_ || cfg_.spin_ns > 0 ? rx_pass() : 0;
    const bool more_to_receive = received == kRxBurst;  // a full burst: more may wait
    bool work = received > 0;
    work |= inbox_pass();
    work |= doorbell_pass();
    work |= tx_pass();
    work |= timer_pass();
    // An application that polls its CQ often posts the moment it sees a
    // completion (a ping-pong, an RPC client, ib_read_lat). Look for that
    // post a few microseconds before flushing: its request then leaves in
    // the same batch as our ACKs, and needs no kick to wake us later.
    if (counters_.completions.get() != completions_before && !more_to_receive && !work_pending() &&
        linger_for_posts()) {
      work |= doorbell_pass();
      work |= tx_pass();
    }
    flush_tx();
    backend_.tick(now_);
    rx_may_be_ready_ = true;  // from here on, nobody has looked
    if (work) {
      last_work = now_;
      // Another pass only if work is known to wait. Otherwise straight to
      // the wait below: its epoll returns at once if a packet or a kick came
      // meanwhile, where a pass would make a system call to find the socket
      // empty (each wake-up of a ping-pong engine made two such).
      if (more_to_receive || work_pending() || cfg_.spin_ns > 0) continue;
    }
    // Idle: busy-poll briefly, then nap (wake every nap_ns to look at the
    // doorbells, so hosts need no system call to reach us), and after a
    // longer quiet spell sleep deeply until a host kicks us. A nap with
    // nothing in flight asks for kicks too: no ACK will come to wake us, and
    // the next post is likely a lone request someone waits on. Kicked, it
    // need not look often: waking every nap_ns instead, it preempted the
    // application sharing its CPU 20,000 times a second, and that
    // application's 64 B posts ran at half the rate (docs/architecture.md).
    const uint64_t idle = now_ - last_work;
    if (idle < cfg_.spin_ns) continue;
    if (idle >= cfg_.nap_window_ns) {
      sleep_until_work(UINT64_MAX);
    } else if (cfg_.idle_kicks && qps_expecting_ == 0) {
      sleep_until_work(cfg_.idle_nap_ns);
    } else {
      wait_for_events(cfg_.nap_ns);
    }
  }
  inbox_pass();  // nobody waits forever on a stopped worker
}

bool Worker::linger_for_posts() const {
  const uint64_t until = monotonic_ns() + kLingerNs;
  do {
    if (work_pending()) return true;
    cpu_relax();
  } while (monotonic_ns() < until);
  return false;
}

bool Worker::work_pending() const {
  if (inbox_pending_.load(std::memory_order_acquire) || !active_.empty() || pool_waiters_may_go())
    return true;
  for (const WorkerContext& c : contexts_)
    if (fifo_nonempty(*c.fifo)) return true;
  return false;
}

void Worker::wait_for_events(uint64_t max_ns) {
  uint64_t wait = max_ns;
  if (!timers_.empty()) {
    uint64_t now = monotonic_ns();
    uint64_t until_timer = timers_.top().first > now ? timers_.top().first - now : 0;
    wait = std::min(wait, until_timer);
  }
  timespec timeout{};
  timeout.tv_sec = time_t(wait / 1'000'000'000ull);
  timeout.tv_nsec = long(wait % 1'000'000'000ull);
  epoll_event evs[3];
  int n = epoll_pwait2(epoll_fd_, evs, 3, wait == UINT64_MAX ? nullptr : &timeout, nullptr);
  // Whether the next pass need read the socket: not if epoll said it is empty.
  rx_may_be_ready_ = n < 0;
  for (int i = 0; i < n; ++i) {
    const int fd = evs[i].data.fd;
    if (fd != wake_fd_ && fd != inbox_fd_) {
      rx_may_be_ready_ = true;
      continue;
    }
    uint64_t drained = 0;
    if (read(fd, &drained, sizeof drained) == sizeof drained && fd == wake_fd_) counters_.app_kicks.add(drained);
  }
}

void Worker::sleep_until_work(uint64_t max_ns) {
  // Say we sleep, then look once more: a host that posted before seeing the
  // flag left a doorbell we find here; one that posts after will kick us.
  status_.sleeping.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!work_pending() && !stop_.load()) wait_for_events(max_ns);
  status_.sleeping.store(0, std::memory_order_seq_cst);
}

// ------------------------------------------------------------------ receive

uint32_t Worker::rx_pass() {
  for (uint32_t i = 0; i < kRxBurst; ++i) {
    rx_descs_[i].data = rx_pool_.data() + size_t(i) * kRxBufferBytes;
    rx_descs_[i].capacity = kRxBufferBytes;
  }
  uint32_t n = backend_.rx_burst(rx_descs_);
  for (uint32_t i = 0; i < n; ++i) {
    const io::RxDatagram& d = rx_descs_[i];
    if (d.segment_size == 0 || d.truncated) {
      handle_datagram(d, 0);
      continue;
    }
    // A GRO buffer: the datagrams of one sender's GSO group, back to back.
    // Segment k left the sender with IP ID k (io/backend.h).
    io::RxDatagram seg = d;
    uint16_t k = 0;
    for (uint32_t off = 0; off < d.length; off += d.segment_size, ++k) {
      seg.data = d.data + off;
      seg.length = std::min(d.segment_size, d.length - off);
      if (k > 0) counters_.rx_gro_segments.add();
      handle_datagram(seg, k);
    }
  }
  return n;
}

void Worker::handle_datagram(const io::RxDatagram& d, uint16_t ip_id) {
  counters_.rx_packets.add();
  counters_.rx_bytes.add(d.length);
  if (d.truncated) {
    counters_.rx_drop_malformed.add();
    return;
  }
  if (d.dst_ip != 0 && d.dst_ip != cfg_.local_ip) {
    counters_.rx_drop_misaddressed.add();
    return;
  }
  std::span<const uint8_t> bytes(d.data, d.length);
  wire::Packet pkt;
  if (wire::parse(bytes, pkt) != wire::ParseError::kOk) {
    counters_.rx_drop_malformed.add();
    return;
  }
  if (cfg_.verify_icrc) {
    wire::IcrcIpInfo ip;
    ip.src_ip = d.src_ip;
    ip.dst_ip = d.dst_ip != 0 ? d.dst_ip : cfg_.local_ip;
    ip.src_port = d.src_port;
    ip.dst_port = wire::kRoceV2Port;
    ip.ip_id = ip_id;
    ip.ip_flags_frag = kIpDf;
    bool good = wire::icrc_check(ip, bytes);
    if (!good && ip_id != 0) {
      // A receive offload that merged datagrams sent one by one (each with
      // IP ID 0) gives the same shape as a GSO group: try ID 0 as well.
      ip.ip_id = 0;
      good = wire::icrc_check(ip, bytes);
    }
    if (!good) {
      counters_.rx_drop_bad_icrc.add();
      return;
    }
  }
  // IBA C9-42 (P_Key check): we serve the default partition only.
  if ((pkt.bth.pkey & 0x7fff) != 0x7fff) {
    counters_.rx_drop_misaddressed.add();
    return;
  }
  auto it = qps_.find(pkt.bth.dest_qp);
  if (it == qps_.end()) {
    auto t = tombstones_.find(pkt.bth.dest_qp);
    if (t == tombstones_.end() || !transport::tombstone_answer(*this, t->second, pkt, d.src_ip))
      counters_.rx_drop_unknown_qp.add();
    return;
  }
  // Measurement only (--ablate rx-per-qp): the packet goes through a per-QP ring.
  if (rx_per_qp_) rx_per_qp_->stage(pkt.bth.dest_qp, d.data, d.length, pkt);
  transport::RxMeta meta{d.src_ip, d.src_port, d.ecn};
  it->second.qp->on_packet(pkt, meta);
  after_qp_call(it->first, it->second);
}

// ------------------------------------------------------------- control inbox

bool Worker::inbox_pass() {
  if (!inbox_pending_.load(std::memory_order_acquire)) return false;
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(inbox_mu_);
    work.swap(inbox_);
    inbox_pending_.store(false, std::memory_order_relaxed);
  }
  // Packets already built point into memory a command may unmap: send them.
  flush_tx();
  for (auto& fn : work) fn();
  return true;
}

void Worker::add_context(const WorkerContext& ctx) { contexts_.push_back(ctx); }

void Worker::remove_context(uint32_t id) {
  std::erase_if(contexts_, [id](const WorkerContext& c) { return c.id == id; });
  std::erase_if(ahs_, [id](const auto& kv) { return uint32_t(kv.first >> 32) == id; });
}

void Worker::add_qp(std::unique_ptr<transport::Qp> qp, pipe::QpShm* shm, const WorkerContext& ctx) {
  uint32_t qpn = qp->qpn();
  tombstones_.erase(qpn);
  QpEntry e;
  e.qp = std::move(qp);
  e.shm = shm;
  e.ctx_id = ctx.id;
  e.async_fd = ctx.async_fd;
  qps_.emplace(qpn, std::move(e));
  window_pool_.qps = uint32_t(qps_.size());
  if (qps_.size() > qps_peak()) qps_peak_.store(qps_.size(), std::memory_order_relaxed);
}

transport::Qp* Worker::find_qp(uint32_t qpn) {
  auto it = qps_.find(qpn);
  return it == qps_.end() ? nullptr : it->second.qp.get();
}

void Worker::remove_qp(uint32_t qpn) {
  auto it = qps_.find(qpn);
  if (it == qps_.end()) return;
  transport::Tombstone t;
  if (it->second.qp->tombstone(t)) {
    t.expires_ns = now_ + transport::kTombstoneLifetimeNs;
    tombstones_[qpn] = t;
  }
  if (it->second.expecting) --qps_expecting_;
  qps_.erase(it);
  window_pool_.qps = uint32_t(qps_.size());
  if (rx_per_qp_) rx_per_qp_->release(qpn);
  std::erase(active_, qpn);  // timers for it are skipped when they pop
  std::erase(pool_waiters_, qpn);
}

std::vector<transport::QpInfo> Worker::qp_infos(uint32_t after, size_t max) const {
  std::vector<uint32_t> qpns;
  for (const auto& [qpn, e] : qps_)
    if (qpn > after) qpns.push_back(qpn);
  std::sort(qpns.begin(), qpns.end());
  if (qpns.size() > max) qpns.resize(max);
  std::vector<transport::QpInfo> out;
  out.reserve(qpns.size());
  for (uint32_t qpn : qpns) out.push_back(qps_.at(qpn).qp->info());
  return out;
}

std::unique_ptr<cc::CongestionControl> Worker::new_congestion_control(uint32_t qpn) {
  if (cfg_.policies == nullptr) return nullptr;
  try {
    return cfg_.policies->create(cfg_.cc_spec);  // checked when the engine started
  } catch (const std::exception& e) {
    // A plug-in's create() may fail (out of memory): the QP runs without.
    std::fprintf(stderr, "flexinsd: QP %u runs without congestion control: %s\n", qpn, e.what());
    return nullptr;
  }
}

void Worker::add_mr(const transport::MemoryRegion& mr) {
  mr_by_lkey_[mr.lkey] = mr;
  mr_by_rkey_[mr.rkey] = mr;
}

void Worker::remove_mr(uint32_t lkey, uint32_t rkey) {
  mr_by_lkey_.erase(lkey);
  mr_by_rkey_.erase(rkey);
}

void Worker::add_ah(uint32_t ctx_id, uint32_t handle, const transport::AddressHandle& ah) {
  ahs_[uint64_t(ctx_id) << 32 | handle] = ah;
}

void Worker::remove_ah(uint32_t ctx_id, uint32_t handle) { ahs_.erase(uint64_t(ctx_id) << 32 | handle); }

// ----------------------------------------------------------------- doorbells

bool Worker::doorbell_pass() {
  bool any = false;
  for (const WorkerContext& c : contexts_) {
    uint32_t qpn;
    while (pipe::doorbell_pop(*c.fifo, qpn)) {
      auto it = qps_.find(qpn);
      // A doorbell for a QP this context does not own is ignored.
      if (it == qps_.end() || it->second.ctx_id != c.id) continue;
      // Clear before reading the producer index (see pipe/shm_layout.h).
      it->second.shm->doorbell_pending.store(0, std::memory_order_seq_cst);
      it->second.qp->on_doorbell();
      after_qp_call(qpn, it->second);
      any = true;
    }
  }
  return any;
}

// ----------------------------------------------------------------- transmit

void Worker::wake_qp(uint32_t qpn) {
  auto it = qps_.find(qpn);
  if (it == qps_.end() || it->second.active) return;
  it->second.active = true;
  active_.push_back(qpn);
}

void Worker::after_qp_call(uint32_t qpn, QpEntry& e) {
  if (!e.active && e.qp->has_tx_work()) {
    e.active = true;
    active_.push_back(qpn);
  } else if (!e.active && !e.pool_waiting && e.qp->waits_for_window_pool()) {
    e.pool_waiting = true;
    pool_waiters_.push_back(qpn);
    counters_.tx_window_waits.add();
  }
  uint64_t deadline = e.qp->next_deadline();
  if (const bool expecting = deadline != UINT64_MAX; expecting != e.expecting) {
    e.expecting = expecting;
    expecting ? ++qps_expecting_ : --qps_expecting_;
  }
  if (deadline != UINT64_MAX && deadline != e.armed_deadline) {
    e.armed_deadline = deadline;
    timers_.emplace(deadline, qpn);
  }
}

bool Worker::tx_pass() {
  if (active_.empty() && !pool_waiters_may_go()) return false;
  // While QPs wait in line for the window pool, the others keep to their
  // fair share: a QP that just got an ACK does not take the room first.
  window_pool_.queue_first = !pool_waiters_.empty();
  std::vector<uint32_t> run;
  run.swap(active_);
  for (uint32_t qpn : run) {
    auto it = qps_.find(qpn);
    if (it == qps_.end()) continue;
    it->second.active = false;
    it->second.qp->poll(now_, kQpTxBudget);
    after_qp_call(qpn, it->second);
  }
  // Then the line, in order, until the one at its head still finds too
  // little room; it waits there for the next ACK.
  window_pool_.queue_first = false;
  while (pool_waiters_may_go()) {
    const uint32_t qpn = pool_waiters_.front();
    auto it = qps_.find(qpn);
    if (it == qps_.end()) {
      pool_waiters_.pop_front();
      continue;
    }
    it->second.qp->poll(now_, kQpTxBudget);
    const bool still_waits = it->second.qp->waits_for_window_pool();
    if (!still_waits) {
      pool_waiters_.pop_front();
      it->second.pool_waiting = false;
    }
    after_qp_call(qpn, it->second);
    if (still_waits) {
      waiters_tried_at_ = window_pool_.releases;
      break;
    }
  }
  window_pool_.queue_first = !pool_waiters_.empty();
  return true;
}

bool Worker::timer_pass() {
  if (now_ >= next_tombstone_sweep_) {
    std::erase_if(tombstones_, [this](const auto& kv) { return kv.second.expires_ns <= now_; });
    next_tombstone_sweep_ = now_ + 1'000'000'000ull;
  }
  bool any = false;
  while (!timers_.empty() && timers_.top().first <= now_) {
    auto [deadline, qpn] = timers_.top();
    timers_.pop();
    auto it = qps_.find(qpn);
    if (it == qps_.end() || it->second.armed_deadline != deadline) continue;  // stale
    it->second.armed_deadline = UINT64_MAX;
    it->second.qp->poll(now_, kQpTxBudget);
    after_qp_call(qpn, it->second);
    any = true;
  }
  return any;
}

// Whether D, which will have IOVS iovecs, can be the next segment of the
// lane's open GSO group: same destination (the lane is the source), no
// longer than the group's segments, the group's last datagram full-sized,
// and the group's limits kept.
bool Worker::joins_gso_group(const TxLane& lane, const io::TxDatagram& d, uint32_t iovs) const {
  if (lane.gso_segments == 0 || lane.gso_segments >= backend_.max_gso_segments()) return false;
  const io::TxDatagram& first = lane.batch[lane.gso_first];
  const io::TxDatagram& last = lane.batch[lane.count - 1];
  return d.dst_ip == first.dst_ip && d.length <= first.length && last.length == first.length &&
         lane.gso_bytes + d.length <= io::kMaxGsoBytes && lane.gso_iovs + iovs <= io::kMaxGsoIov;
}

Worker::TxLane& Worker::lane_for(uint16_t src_port) {
  for (TxLane& lane : lanes_)
    if (lane.src_port == src_port) return lane;
  return lanes_[0];  // not one of ours: cannot happen (QPs get their ports from the backend)
}

void Worker::transmit(transport::OutPacket& pkt) {
  TxLane& lane = lane_for(pkt.src_port);
  if (lane.count == kTxBatch) flush_lane(lane);
  TxSlot& slot = lane.slots[lane.count];
  io::TxDatagram& d = lane.batch[lane.count];
  if (pkt.hdr_len > sizeof slot.hdr || pkt.iov_count + 2u > io::kMaxTxIov || pkt.pad > 3) {
    counters_.tx_errors.add();
    return;
  }
  // Header-only TX: the engine owns the headers and the trailer; the payload
  // iovecs point straight into registered memory (DESIGN (a)).
  std::memcpy(slot.hdr, pkt.hdr, pkt.hdr_len);
  d.dst_ip = pkt.dst_ip;
  d.dst_port = wire::kRoceV2Port;
  d.src_port = lane.src_port;
  d.ecn_ce = false;
  d.iov_count = 0;
  d.iov[d.iov_count++] = {slot.hdr, pkt.hdr_len};
  for (uint32_t i = 0; i < pkt.iov_count; ++i) d.iov[d.iov_count++] = pkt.payload[i];
  // Measurement only (--ablate tx-copy): the payload is copied into an engine buffer.
  if (tx_copy_) {
    const uint32_t staging = uint32_t(&lane - lanes_.data()) * kTxBatch + lane.count;
    d.iov_count = 1 + tx_copy_->stage(staging, {d.iov + 1, pkt.iov_count}, counters_.tx_payload_bytes_copied);
  }
  std::memset(slot.trailer, 0, sizeof slot.trailer);
  if (pkt.pad) d.iov[d.iov_count++] = {slot.trailer, pkt.pad};

  wire::IcrcIpInfo ip;
  ip.src_ip = cfg_.local_ip;
  ip.dst_ip = pkt.dst_ip;
  ip.src_port = lane.src_port;
  ip.dst_port = wire::kRoceV2Port;
  ip.ip_id = 0;
  ip.ip_flags_frag = kIpDf;
  // Place the datagram in a GSO group before its ICRC: the IP ID it will
  // carry is its place in the group. Length and iovecs count the ICRC's 4
  // bytes and the iovec that may still come for it.
  d.length = pkt.hdr_len + pkt.payload_len + pkt.pad + uint32_t(wire::kIcrcSize);
  const uint32_t iovs = d.iov_count + (pkt.pad ? 0 : 1);
  d.gso_continues = joins_gso_group(lane, d, iovs);
  if (d.gso_continues) {
    counters_.tx_gso_segments.add();
    ++lane.gso_segments;
    lane.gso_iovs += iovs;
    lane.gso_bytes += d.length;
  } else {
    lane.gso_first = lane.count;
    lane.gso_segments = 1;
    lane.gso_iovs = iovs;
    lane.gso_bytes = d.length;
  }
  ip.ip_id = uint16_t(lane.gso_segments - 1);
  uint32_t icrc = wire::icrc_compute(ip, std::span<const iovec>(d.iov, d.iov_count));
  // The ICRC goes right after the pad bytes in the same trailer buffer.
  if (pkt.pad) {
    wire::icrc_store(icrc, slot.trailer + pkt.pad);
    d.iov[d.iov_count - 1].iov_len = pkt.pad + wire::kIcrcSize;
  } else {
    wire::icrc_store(icrc, slot.trailer);
    d.iov[d.iov_count++] = {slot.trailer, wire::kIcrcSize};
  }
  counters_.tx_packets.add();
  counters_.tx_bytes.add(d.length);
  ++lane.count;
}

void Worker::flush_lane(TxLane& lane) {
  if (lane.count == 0) return;
  backend_.tx_burst(std::span<io::TxDatagram>(lane.batch.data(), lane.count));
  lane.count = 0;
  lane.gso_segments = 0;
}

void Worker::flush_tx() {
  for (TxLane& lane : lanes_) flush_lane(lane);
}

// ------------------------------------------------------------ memory, events

const transport::MemoryRegion* Worker::mr_by_lkey(uint32_t lkey) {
  auto it = mr_by_lkey_.find(lkey);
  return it == mr_by_lkey_.end() ? nullptr : &it->second;
}

const transport::MemoryRegion* Worker::mr_by_rkey(uint32_t rkey) {
  auto it = mr_by_rkey_.find(rkey);
  return it == mr_by_rkey_.end() ? nullptr : &it->second;
}

const transport::AddressHandle* Worker::address_handle(uint32_t qpn, uint32_t handle) {
  auto q = qps_.find(qpn);
  if (q == qps_.end()) return nullptr;
  auto it = ahs_.find(uint64_t(q->second.ctx_id) << 32 | handle);
  return it == ahs_.end() ? nullptr : &it->second;
}

void Worker::qp_event(uint32_t qpn, ibv_event_type event) {
  auto it = qps_.find(qpn);
  if (it == qps_.end()) return;
  pipe::AsyncEvent ev{uint32_t(event), uint32_t(pipe::AsyncObject::kQp), qpn, 0};
  send(it->second.async_fd, &ev, sizeof ev, MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace flexins::engine
