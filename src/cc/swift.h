// "swift": delay-based congestion control after Swift (Kumar et al., "Swift:
// Delay is Simple and Effective for Congestion Control in the Datacenter",
// SIGCOMM 2020, §3 and its Algorithm 1), with a fixed target delay (the
// paper adds flow- and hop-based scaling of the target; not done here).
//
// The window cwnd is counted in packets of mtu_bytes and may fall below one:
//   RTT <  target:  cwnd += ai * acked / cwnd   (ai packets per RTT; ai * acked when cwnd < 1)
//   RTT >= target:  cwnd *= max(1 - β (RTT - target) / RTT, 1 - max_mdf)   at most once per RTT
//   loss (NAK):     cwnd *= 1 - max_mdf                                     at most once per RTT
//   timeout:        as loss; after retx_reset_threshold timeouts in a row, cwnd = min_cwnd
// cwnd stays in [min_cwnd, max_cwnd]. Below one packet the window is one
// packet and the sender is paced instead: one packet per RTT / cwnd.
//
// The RTT is the whole sample the transport measures (Swift subtracts host
// delays the NIC timestamps; a software engine has no such timestamps).
// ECN echoes and CNPs are ignored.
#pragma once

#include "cc/congestion_control.h"
#include "cc/param_table.h"

namespace flexins::cc {

// Swift's published settings are per fabric; these defaults are ours, for
// a software engine whose idle RTT is tens of microseconds.
struct SwiftConfig {
  uint64_t mtu_bytes = 4096;           // packet size the window is counted in
  uint64_t target_delay_ns = 50'000;
  double ai = 1.0;                     // additive increase, packets per RTT
  double beta = 0.8;                   // multiplicative decrease per unit of excess delay
  double max_mdf = 0.5;                // largest decrease in one step
  double min_cwnd = 0.001;             // packets
  double max_cwnd = 1024;              // packets; the transport's outstanding-PSN window
  double init_cwnd = 64;               // packets
  uint64_t retx_reset_threshold = 5;   // consecutive timeouts before cwnd = min_cwnd
};

class SwiftPolicy final : public CongestionControl {
 public:
  explicit SwiftPolicy(const SwiftConfig& config = {});

  std::string_view name() const override { return "swift"; }
  void on_send(uint64_t, uint32_t, uint32_t) override {}
  // An ACK without an RTT sample (rtt_ns == 0) changes nothing.
  void on_ack(uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns, bool ecn_echo) override;
  void on_cnp(uint64_t) override {}
  void on_loss(uint64_t now_ns) override;
  void on_timeout(uint64_t now_ns) override;
  void on_timer(uint64_t) override {}
  uint64_t next_timer_ns() const override { return kNoTimer; }
  // Unpaced while cwnd >= 1 packet.
  uint64_t rate_bps() const override;
  uint64_t window_bytes() const override;
  std::optional<std::string> set_param(std::string_view key, double value) override;
  std::vector<ParamInfo> params() const override { return table_.list(); }

  double cwnd_packets() const { return cwnd_; }
  uint64_t last_rtt_ns() const { return rtt_ns_; }

 private:
  bool can_decrease(uint64_t now_ns) const;
  void decrease(uint64_t now_ns, double factor);
  void clamp_cwnd();

  SwiftConfig config_;
  ParamTable table_;
  double cwnd_;
  uint64_t rtt_ns_ = 0;          // latest sample; 0 before the first
  bool decreased_ = false;
  uint64_t last_decrease_ns_ = 0;
  uint64_t retx_count_ = 0;      // timeouts since the last ACK
};

}  // namespace flexins::cc
