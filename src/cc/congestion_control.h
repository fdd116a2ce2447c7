// The per-QP congestion controller: the policy half of the programmable
// transport. The transport tells it what happened (events) and asks it how
// fast and how much it may send (answers); it never reads a clock, so every
// policy is deterministic and unit-testable with scripted time.
//
// Threading: one engine worker thread owns a QP and calls its controller;
// nothing here is thread-safe and nothing may block.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flexins::cc {

// rate_bps() value meaning "do not pace: send as fast as the window allows".
inline constexpr uint64_t kUnpaced = std::numeric_limits<uint64_t>::max();
// window_bytes() value meaning "no window limit: only the rate limits".
inline constexpr uint64_t kUnlimitedWindow = std::numeric_limits<uint64_t>::max();
// next_timer_ns() value meaning "no timer armed".
inline constexpr uint64_t kNoTimer = std::numeric_limits<uint64_t>::max();

// One tunable of a policy and its current value, for `flexins qp show`.
struct ParamInfo {
  std::string name;
  double value;
  std::string help;  // unit and meaning, e.g. "additive increase step (bit/s)"
};

class CongestionControl {
 public:
  CongestionControl() = default;
  CongestionControl(const CongestionControl&) = delete;  // policies point into themselves
  CongestionControl& operator=(const CongestionControl&) = delete;
  virtual ~CongestionControl() = default;

  // The policy's registry name ("none", "dcqcn", "swift", or a plug-in's).
  virtual std::string_view name() const = 0;

  // --- events; now_ns is the engine's monotonic clock, never decreasing ---

  // A packet of `bytes` (UDP payload, headers included) left for the wire.
  virtual void on_send(uint64_t now_ns, uint32_t bytes, uint32_t psn) = 0;
  // An ACK newly acknowledged `acked_bytes`. rtt_ns is 0 when the ACK gives
  // no RTT sample. ecn_echo: the acknowledged data arrived ECN-CE marked.
  virtual void on_ack(uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns, bool ecn_echo) = 0;
  // A RoCEv2 CNP (BTH opcode 0x81) arrived for this QP.
  virtual void on_cnp(uint64_t now_ns) = 0;
  // A NAK (PSN sequence error) reported a loss.
  virtual void on_loss(uint64_t now_ns) = 0;
  // The retransmit timer fired.
  virtual void on_timeout(uint64_t now_ns) = 0;
  // The policy's own timer: called once now_ns >= next_timer_ns().
  virtual void on_timer(uint64_t now_ns) = 0;
  // When on_timer wants to run next (absolute ns), or kNoTimer.
  virtual uint64_t next_timer_ns() const = 0;

  // --- answers ---

  // Pacing rate in bits per second of wire bytes as counted by on_send, or kUnpaced.
  virtual uint64_t rate_bps() const = 0;
  // Most bytes in flight (sent, not yet acknowledged), or kUnlimitedWindow.
  virtual uint64_t window_bytes() const = 0;

  // --- tunables ---

  // Sets one parameter; returns an error message (unknown key, out of range)
  // or nothing on success. A refused value leaves the policy unchanged.
  [[nodiscard]] virtual std::optional<std::string> set_param(std::string_view key, double value) = 0;
  virtual std::vector<ParamInfo> params() const = 0;
};

}  // namespace flexins::cc
