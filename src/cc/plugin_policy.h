// A CongestionControl backed by a plug-in's C callbacks and its per-QP state.
#pragma once

#include <memory>

#include "cc/congestion_control.h"
#include "cc/plugin_loader.h"
#include "flexins/cc_plugin.h"

namespace flexins::cc {

class PluginPolicy final : public CongestionControl {
 public:
  // Takes ownership of `state` (from desc->create()).
  PluginPolicy(std::shared_ptr<const CcPlugin> plugin, const flexins_cc_plugin* desc, void* state);
  ~PluginPolicy() override;

  std::string_view name() const override { return plugin_->name(); }
  void on_send(uint64_t now_ns, uint32_t bytes, uint32_t psn) override;
  void on_ack(uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns, bool ecn_echo) override;
  void on_cnp(uint64_t now_ns) override;
  void on_loss(uint64_t now_ns) override;
  void on_timeout(uint64_t now_ns) override;
  void on_timer(uint64_t now_ns) override;
  uint64_t next_timer_ns() const override;
  uint64_t rate_bps() const override { return desc_->rate_bps(state_); }
  uint64_t window_bytes() const override { return desc_->window_bytes(state_); }
  std::optional<std::string> set_param(std::string_view key, double value) override;
  std::vector<ParamInfo> params() const override;

 private:
  std::shared_ptr<const CcPlugin> plugin_;  // keeps the code loaded while state_ lives
  const flexins_cc_plugin* desc_;
  void* state_;
};

}  // namespace flexins::cc
