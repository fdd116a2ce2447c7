// "none": no congestion control, only a fixed window of bytes in flight and
// no pacing. This is what the transport does without a policy; the window
// keeps one QP from flooding the wire and the peer's receive path.
#pragma once

#include "cc/congestion_control.h"
#include "cc/param_table.h"

namespace flexins::cc {

struct NoneConfig {
  // 0 means unlimited. The default is 1024 packets of 4 KiB, the transport's
  // kMaxOutstandingPackets at the largest path MTU.
  uint64_t window_bytes = 4 * 1024 * 1024;
};

class NonePolicy final : public CongestionControl {
 public:
  explicit NonePolicy(const NoneConfig& config = {});

  std::string_view name() const override { return "none"; }
  void on_send(uint64_t, uint32_t, uint32_t) override {}
  void on_ack(uint64_t, uint64_t, uint64_t, bool) override {}
  void on_cnp(uint64_t) override {}
  void on_loss(uint64_t) override {}
  void on_timeout(uint64_t) override {}
  void on_timer(uint64_t) override {}
  uint64_t next_timer_ns() const override { return kNoTimer; }
  uint64_t rate_bps() const override { return kUnpaced; }
  uint64_t window_bytes() const override {
    return config_.window_bytes == 0 ? kUnlimitedWindow : config_.window_bytes;
  }
  std::optional<std::string> set_param(std::string_view key, double value) override {
    return table_.set(name(), key, value);
  }
  std::vector<ParamInfo> params() const override { return table_.list(); }

 private:
  NoneConfig config_;
  ParamTable table_;
};

}  // namespace flexins::cc
