#include "fabric/switch_port.h"

#include <stdexcept>

#include "fabric/random.h"

namespace flexins::fabric {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
// bytes * 8 * 1e9 must fit in 64 bits: far above any Ethernet frame.
constexpr uint32_t kMaxPacketBytes = 1u << 20;

}  // namespace

SwitchPort::SwitchPort(const SwitchPortConfig& config) : config_(config), rng_(config.seed) {
  if (config_.rate_bps == 0) throw std::invalid_argument("switch port: rate must be > 0");
  if (!(config_.pmax >= 0 && config_.pmax <= 1))
    throw std::invalid_argument("switch port: pmax must be in [0, 1]");
  if (!(config_.loss >= 0 && config_.loss <= 1))
    throw std::invalid_argument("switch port: loss must be in [0, 1]");
  if (config_.kmin_bytes > config_.kmax_bytes)
    throw std::invalid_argument("switch port: kmin must be <= kmax");
}

double SwitchPort::uniform() { return unit_interval(rng_()); }

uint64_t SwitchPort::serialization_ns(uint64_t bytes) const {
  const uint64_t bit_ns = bytes * 8 * kNsPerSecond;
  return (bit_ns + config_.rate_bps - 1) / config_.rate_bps;
}

double SwitchPort::mark_probability(uint64_t queue_bytes) const {
  if (config_.kmin_bytes == kUnlimitedBytes || queue_bytes <= config_.kmin_bytes) return 0;
  if (queue_bytes > config_.kmax_bytes) return 1;
  // kmin < queue <= kmax, so kmax > kmin here.
  return config_.pmax * double(queue_bytes - config_.kmin_bytes) /
         double(config_.kmax_bytes - config_.kmin_bytes);
}

void SwitchPort::advance(uint64_t now_ns) {
  while (!queue_.empty() && queue_.front().done_ns <= now_ns) {
    queued_bytes_ -= queue_.front().bytes;
    queue_.pop_front();
  }
}

uint64_t SwitchPort::queue_bytes(uint64_t now_ns) {
  advance(now_ns);
  return queued_bytes_;
}

uint32_t SwitchPort::queue_packets(uint64_t now_ns) {
  advance(now_ns);
  return uint32_t(queue_.size());
}

uint64_t SwitchPort::time_queue_at_most(uint64_t now_ns, uint32_t packets) {
  advance(now_ns);
  if (queue_.size() <= packets) return now_ns;
  return queue_[queue_.size() - packets - 1].done_ns;
}

Admission SwitchPort::enqueue(uint64_t now_ns, uint32_t bytes, bool ect) {
  if (bytes > kMaxPacketBytes) throw std::invalid_argument("switch port: packet too large");
  advance(now_ns);
  Admission a;
  a.queue_bytes = queued_bytes_;
  if (config_.buffer_bytes != kUnlimitedBytes && queued_bytes_ + bytes > config_.buffer_bytes) {
    a.verdict = Verdict::kTailDrop;
    ++counters_.tail_drop_packets;
    counters_.tail_drop_bytes += bytes;
    return a;
  }
  if (config_.loss > 0 && uniform() < config_.loss) {
    a.verdict = Verdict::kRandomLoss;
    ++counters_.loss_packets;
    return a;
  }
  if (ect) {
    const double p = mark_probability(queued_bytes_);
    a.marked = p >= 1 || (p > 0 && uniform() < p);
    if (a.marked) ++counters_.marked_packets;
  }
  // Transmission starts when the port is free (or now, if it is idle).
  const bool idle = now_ns > busy_ns_ || (now_ns == busy_ns_ && busy_frac_ == 0);
  if (idle) {
    busy_ns_ = now_ns;
    busy_frac_ = 0;
  }
  const uint64_t total = busy_frac_ + uint64_t(bytes) * 8 * kNsPerSecond;
  busy_ns_ += total / config_.rate_bps;
  busy_frac_ = total % config_.rate_bps;
  a.depart_ns = busy_ns_ + (busy_frac_ > 0 ? 1 : 0);
  a.arrive_ns = a.depart_ns + config_.propagation_ns;
  queue_.push_back(Queued{a.depart_ns, bytes});
  queued_bytes_ += bytes;
  ++counters_.forwarded_packets;
  counters_.forwarded_bytes += bytes;
  if (queued_bytes_ > counters_.max_queue_bytes) counters_.max_queue_bytes = queued_bytes_;
  return a;
}

}  // namespace flexins::fabric
