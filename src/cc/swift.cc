#include "cc/swift.h"

#include <algorithm>
#include <cmath>

namespace flexins::cc {

SwiftPolicy::SwiftPolicy(const SwiftConfig& config) : config_(config), cwnd_(config.init_cwnd) {
  SwiftConfig& c = config_;
  table_.add("mtu_bytes", "packet size the window counts in (bytes)", &c.mtu_bytes, 64, 65536);
  table_.add("target_delay_ns", "target RTT (ns)", &c.target_delay_ns, 1, 10'000'000'000);
  table_.add("ai", "additive increase (packets per RTT)", &c.ai, 0, 1e6);
  table_.add("beta", "multiplicative decrease per unit of excess delay", &c.beta, 0, 1);
  table_.add("max_mdf", "largest multiplicative decrease in one step", &c.max_mdf, 0, 1);
  table_.add("min_cwnd", "smallest window (packets, may be < 1)", &c.min_cwnd, 1e-6, 1e9);
  table_.add("max_cwnd", "largest window (packets)", &c.max_cwnd, 1e-6, 1e9);
  table_.add("init_cwnd", "window before any feedback (packets)", &c.init_cwnd, 1e-6, 1e9);
  table_.add("retx_reset_threshold", "timeouts in a row that reset cwnd to min_cwnd", &c.retx_reset_threshold,
             1, 1'000'000);
  table_.set_validator([this]() -> std::optional<std::string> {
    if (config_.min_cwnd > config_.max_cwnd) return "min_cwnd must not exceed max_cwnd";
    return std::nullopt;
  });
}

std::optional<std::string> SwiftPolicy::set_param(std::string_view key, double value) {
  auto err = table_.set(name(), key, value);
  if (!err) clamp_cwnd();
  return err;
}

void SwiftPolicy::on_ack(uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns, bool) {
  retx_count_ = 0;
  if (rtt_ns == 0) return;
  rtt_ns_ = rtt_ns;
  double target = static_cast<double>(config_.target_delay_ns);
  double delay = static_cast<double>(rtt_ns);
  if (delay < target) {
    double acked = static_cast<double>(acked_bytes) / static_cast<double>(config_.mtu_bytes);
    cwnd_ += cwnd_ >= 1 ? config_.ai * acked / cwnd_ : config_.ai * acked;
    clamp_cwnd();
  } else if (can_decrease(now_ns)) {
    decrease(now_ns, std::max(1 - config_.beta * (delay - target) / delay, 1 - config_.max_mdf));
  }
}

void SwiftPolicy::on_loss(uint64_t now_ns) {
  if (can_decrease(now_ns)) decrease(now_ns, 1 - config_.max_mdf);
}

void SwiftPolicy::on_timeout(uint64_t now_ns) {
  ++retx_count_;
  if (retx_count_ >= config_.retx_reset_threshold) {
    cwnd_ = config_.min_cwnd;
    decreased_ = true;
    last_decrease_ns_ = now_ns;
  } else if (can_decrease(now_ns)) {
    decrease(now_ns, 1 - config_.max_mdf);
  }
}

// Swift decreases at most once per RTT: the effect of the last decrease
// cannot show in delays measured sooner.
bool SwiftPolicy::can_decrease(uint64_t now_ns) const {
  return !decreased_ || now_ns - last_decrease_ns_ >= rtt_ns_;
}

void SwiftPolicy::decrease(uint64_t now_ns, double factor) {
  cwnd_ *= factor;
  decreased_ = true;
  last_decrease_ns_ = now_ns;
  clamp_cwnd();
}

void SwiftPolicy::clamp_cwnd() { cwnd_ = std::clamp(cwnd_, config_.min_cwnd, config_.max_cwnd); }

uint64_t SwiftPolicy::window_bytes() const {
  double packets = std::max(1.0, std::floor(cwnd_));
  return static_cast<uint64_t>(packets) * config_.mtu_bytes;
}

// Below one packet: one packet every RTT / cwnd, i.e. cwnd * mtu bytes per RTT.
uint64_t SwiftPolicy::rate_bps() const {
  if (cwnd_ >= 1) return kUnpaced;
  double rtt = static_cast<double>(rtt_ns_ != 0 ? rtt_ns_ : config_.target_delay_ns);
  double bps = cwnd_ * static_cast<double>(config_.mtu_bytes) * 8 * 1e9 / rtt;
  return std::max<uint64_t>(1, static_cast<uint64_t>(bps));
}

}  // namespace flexins::cc
