// Turns a policy's rate_bps() into send times: a token bucket in exact
// integer arithmetic, so the long-run rate has no drift.
//
// Credit is counted in bit-nanoseconds (a byte is 8e9 units; at R bit/s the
// bucket gains R units per ns). A packet may leave while the credit is not
// negative; sending it may drive the credit below zero (a debt), which the
// rate then pays back. So any packet size works with any burst, and the
// long-run rate is R exactly. The credit is capped at `burst_bytes` (the most
// a flow idle for a while may send back to back) and at least one ns worth of
// rate, so rounding send times up to whole ns loses no rate.
#pragma once

#include <cstdint>

#include "cc/congestion_control.h"

namespace flexins::cc {

class Pacer {
 public:
  // Bursts are capped at 256 MiB and rates above 1 Pb/s count as unpaced,
  // which keeps the credit arithmetic within 64 bits.
  explicit Pacer(uint64_t burst_bytes = 4096);

  // A new rate (kUnpaced: no pacing) from now on; credit earned so far at the
  // old rate is kept.
  void set_rate(uint64_t now_ns, uint64_t rate_bps);
  uint64_t rate_bps() const { return rate_bps_; }

  // Earliest time >= now_ns at which the next packet may leave.
  uint64_t next_send_ns(uint64_t now_ns) const;
  bool may_send(uint64_t now_ns) const { return next_send_ns(now_ns) == now_ns; }
  // A packet of `bytes` left at now_ns (the caller checked may_send; if it
  // did not, the debt grows, saturating at about 500 MiB).
  void on_sent(uint64_t now_ns, uint32_t bytes);

 private:
  int64_t credit_at(uint64_t now_ns) const;
  int64_t cap() const;

  uint64_t burst_bytes_;
  uint64_t rate_bps_ = kUnpaced;
  int64_t credit_ = 0;  // bit-ns, as of updated_ns_
  uint64_t updated_ns_ = 0;
};

}  // namespace flexins::cc
