// DCQCN: the reaction point (RP, the sender's rate controller) and the
// notification point (NP, the receiver's CNP generator) of Zhu et al.,
// "Congestion Control for Large-Scale RDMA Deployments", SIGCOMM 2015, §3.
//
// The switch (congestion point) marks ECN-CE; the NP answers marked packets
// with CNPs, at most one per QP per interval; the RP cuts its rate on each
// CNP and climbs back on its own timer and byte counter:
//   CNP:          Rt = Rc;  Rc = Rc (1 - α/2);  α = (1 - g) α + g
//   every K:      α = (1 - g) α                       (no CNP in the period)
//   rate increase event (every T, and every B bytes sent):
//     fast recovery  (first F events):   Rc = (Rt + Rc) / 2
//     additive       (timer or bytes past F): Rt += R_AI;      Rc = (Rt + Rc) / 2
//     hyper          (both past F):      Rt += i R_HAI;   Rc = (Rt + Rc) / 2,  i = min(T, BC) - F
// Rates stay within [min_rate, line_rate].
//
// DCQCN assumes a lossless (PFC) fabric: losses and timeouts do not change
// the rate; ECN echoes in ACKs are not used (CNPs carry the signal).
#pragma once

#include "cc/congestion_control.h"
#include "cc/param_table.h"

namespace flexins::cc {

// Defaults: the settings usually cited from the paper (g = 1/256,
// K = T = 55 µs, B = 10 MB, F = 5, R_AI = 40 Mb/s; NP interval 50 µs).
// They were not re-checked against the paper's text here, and R_HAI =
// 100 Mb/s is our choice. line_rate is the port speed FlexiNS reports (4x
// EDR, 100 Gb/s); min_rate is ours too (the paper leaves it to the NIC).
struct DcqcnConfig {
  double line_rate_bps = 100e9;
  double min_rate_bps = 10e6;
  double g = 1.0 / 256;                  // α gain
  double alpha_init = 1.0;               // α before the first CNP
  uint64_t alpha_timer_ns = 55'000;      // K
  uint64_t increase_timer_ns = 55'000;   // T
  uint64_t byte_counter = 10'000'000;    // B, 10 MB
  uint64_t fast_recovery_steps = 5;      // F
  double rai_bps = 40e6;                 // R_AI
  double rhai_bps = 100e6;               // R_HAI
  // CNPs closer than this to the last rate cut are ignored. 0 (the paper's
  // RP) reacts to every CNP, relying on the NP's spacing.
  uint64_t cnp_cut_interval_ns = 0;
};

class DcqcnPolicy final : public CongestionControl {
 public:
  explicit DcqcnPolicy(const DcqcnConfig& config = {});

  std::string_view name() const override { return "dcqcn"; }
  void on_send(uint64_t now_ns, uint32_t bytes, uint32_t psn) override;
  void on_ack(uint64_t, uint64_t, uint64_t, bool) override {}
  void on_cnp(uint64_t now_ns) override;
  void on_loss(uint64_t) override {}
  void on_timeout(uint64_t) override {}
  void on_timer(uint64_t now_ns) override;
  uint64_t next_timer_ns() const override;
  // Unpaced while at line rate (never cut, or fully recovered).
  uint64_t rate_bps() const override;
  uint64_t window_bytes() const override { return kUnlimitedWindow; }
  std::optional<std::string> set_param(std::string_view key, double value) override;
  std::vector<ParamInfo> params() const override { return table_.list(); }

  // State, for tests and `flexins qp show`.
  double current_rate_bps() const { return rc_; }
  double target_rate_bps() const { return rt_; }
  double alpha() const { return alpha_; }
  bool rate_limited() const { return limited_; }
  uint64_t timer_events() const { return t_count_; }
  uint64_t byte_events() const { return bc_count_; }
  uint64_t cnps_ignored() const { return cnps_ignored_; }

 private:
  void decay_alpha(uint64_t now_ns);
  void increase_event();
  void clamp_rates();

  DcqcnConfig config_;
  ParamTable table_;
  double rc_;      // current rate Rc
  double rt_;      // target rate Rt
  double alpha_;
  bool limited_ = false;       // cut at least once and not yet back at line rate
  uint64_t t_count_ = 0;       // increase-timer events since the last cut
  uint64_t bc_count_ = 0;      // byte-counter events since the last cut
  uint64_t bytes_ = 0;         // bytes sent since the last byte-counter event
  uint64_t alpha_since_ns_ = 0;     // start of the current K period
  uint64_t next_increase_ns_ = 0;   // next T expiry, while limited
  uint64_t last_cut_ns_ = 0;
  bool cut_before_ = false;
  uint64_t cnps_ignored_ = 0;
};

// The NP: decides which ECN-CE marked packets of one QP are answered with a
// CNP. DCQCN §3 (and the RoCEv2 CNP default): at most one CNP per QP per
// interval, 50 µs.
class CnpGenerator {
 public:
  explicit CnpGenerator(uint64_t interval_ns = 50'000) : interval_ns_(interval_ns) {}
  // A packet marked ECN-CE arrived for this QP at now_ns; true: send a CNP now.
  bool on_ce_marked(uint64_t now_ns);
  uint64_t suppressed() const { return suppressed_; }

 private:
  uint64_t interval_ns_;
  bool sent_any_ = false;
  uint64_t last_sent_ns_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace flexins::cc
