#include "cc/dcqcn.h"

#include <algorithm>
#include <cmath>

namespace flexins::cc {

namespace {
// (Rt + Rc) / 2 only approaches Rt; within this fraction of line rate the
// flow counts as recovered and stops being paced and timed.
constexpr double kRecoveredFraction = 1e-4;
}  // namespace

DcqcnPolicy::DcqcnPolicy(const DcqcnConfig& config)
    : config_(config), rc_(config.line_rate_bps), rt_(config.line_rate_bps), alpha_(config.alpha_init) {
  DcqcnConfig& c = config_;
  table_.add("line_rate_bps", "port speed, the highest rate (bit/s)", &c.line_rate_bps, 1e6, 1e13);
  table_.add("min_rate_bps", "lowest rate a cut can reach (bit/s)", &c.min_rate_bps, 1e3, 1e13);
  table_.add("g", "alpha gain", &c.g, 0, 1);
  table_.add("alpha_init", "alpha before the first CNP", &c.alpha_init, 0, 1);
  table_.add("alpha_timer_ns", "K: alpha decays once per K without CNP (ns)", &c.alpha_timer_ns, 1, 10'000'000'000);
  table_.add("increase_timer_ns", "T: one rate increase event per T (ns)", &c.increase_timer_ns, 1,
             10'000'000'000);
  table_.add("byte_counter", "B: one rate increase event per B bytes sent", &c.byte_counter, 1, uint64_t{1} << 40);
  table_.add("fast_recovery_steps", "F: increase events in fast recovery", &c.fast_recovery_steps, 0, 1'000'000);
  table_.add("rai_bps", "R_AI: additive increase step (bit/s)", &c.rai_bps, 0, 1e12);
  table_.add("rhai_bps", "R_HAI: hyper increase step (bit/s)", &c.rhai_bps, 0, 1e12);
  table_.add("cnp_cut_interval_ns", "CNPs this soon after a cut are ignored; 0 = react to all (ns)",
             &c.cnp_cut_interval_ns, 0, 10'000'000'000);
  table_.set_validator([this]() -> std::optional<std::string> {
    if (config_.min_rate_bps > config_.line_rate_bps) return "min_rate_bps must not exceed line_rate_bps";
    return std::nullopt;
  });
}

std::optional<std::string> DcqcnPolicy::set_param(std::string_view key, double value) {
  auto err = table_.set(name(), key, value);
  if (!err) {
    if (!limited_) rc_ = rt_ = config_.line_rate_bps;
    if (!cut_before_) alpha_ = config_.alpha_init;
    clamp_rates();
  }
  return err;
}

// Every K without a CNP: α = (1 - g) α. The K timer starts at the first CNP
// (before it α keeps alpha_init, so the first cut halves the rate as in the
// paper). Whole periods are applied at once, so a late timer, or a flow that
// stopped its timers after recovering, decays by exactly the periods passed.
void DcqcnPolicy::decay_alpha(uint64_t now_ns) {
  if (now_ns < alpha_since_ns_ + config_.alpha_timer_ns) return;
  uint64_t periods = (now_ns - alpha_since_ns_) / config_.alpha_timer_ns;
  alpha_ *= std::pow(1.0 - config_.g, static_cast<double>(periods));
  alpha_since_ns_ += periods * config_.alpha_timer_ns;
}

// CNP: Rt = Rc, Rc = Rc (1 - α/2), α = (1 - g) α + g, increase state reset.
void DcqcnPolicy::on_cnp(uint64_t now_ns) {
  if (cut_before_ && config_.cnp_cut_interval_ns > 0 && now_ns - last_cut_ns_ < config_.cnp_cut_interval_ns) {
    ++cnps_ignored_;
    return;
  }
  if (cut_before_) decay_alpha(now_ns);
  rt_ = rc_;
  rc_ = rc_ * (1.0 - alpha_ / 2);
  alpha_ = (1.0 - config_.g) * alpha_ + config_.g;
  alpha_since_ns_ = now_ns;
  t_count_ = bc_count_ = 0;
  bytes_ = 0;
  next_increase_ns_ = now_ns + config_.increase_timer_ns;
  limited_ = true;
  cut_before_ = true;
  last_cut_ns_ = now_ns;
  clamp_rates();
}

void DcqcnPolicy::on_timer(uint64_t now_ns) {
  if (!limited_) return;
  decay_alpha(now_ns);
  while (limited_ && now_ns >= next_increase_ns_) {
    ++t_count_;
    next_increase_ns_ += config_.increase_timer_ns;
    increase_event();
  }
}

void DcqcnPolicy::on_send(uint64_t, uint32_t bytes, uint32_t) {
  if (!limited_) return;
  bytes_ += bytes;
  while (limited_ && bytes_ >= config_.byte_counter) {
    bytes_ -= config_.byte_counter;
    ++bc_count_;
    increase_event();
  }
}

uint64_t DcqcnPolicy::next_timer_ns() const {
  if (!limited_) return kNoTimer;
  return std::min(next_increase_ns_, alpha_since_ns_ + config_.alpha_timer_ns);
}

uint64_t DcqcnPolicy::rate_bps() const { return limited_ ? static_cast<uint64_t>(rc_) : kUnpaced; }

// One rate increase event (timer or byte counter); the stage follows from how
// many events each source has counted since the last cut.
void DcqcnPolicy::increase_event() {
  uint64_t f = config_.fast_recovery_steps;
  uint64_t most = std::max(t_count_, bc_count_), least = std::min(t_count_, bc_count_);
  if (most <= f) {
    // fast recovery: Rt unchanged
  } else if (least > f) {
    rt_ += static_cast<double>(least - f) * config_.rhai_bps;  // hyper increase
  } else {
    rt_ += config_.rai_bps;  // additive increase
  }
  rc_ = (rt_ + rc_) / 2;
  clamp_rates();
}

void DcqcnPolicy::clamp_rates() {
  double line = config_.line_rate_bps;
  rt_ = std::clamp(rt_, config_.min_rate_bps, line);
  rc_ = std::clamp(rc_, config_.min_rate_bps, line);
  if (limited_ && rt_ >= line && line - rc_ <= kRecoveredFraction * line) {
    rc_ = rt_ = line;
    limited_ = false;
  }
}

bool CnpGenerator::on_ce_marked(uint64_t now_ns) {
  if (sent_any_ && now_ns - last_sent_ns_ < interval_ns_) {
    ++suppressed_;
    return false;
  }
  sent_any_ = true;
  last_sent_ns_ = now_ns;
  return true;
}

}  // namespace flexins::cc
