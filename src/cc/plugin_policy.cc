#include "cc/plugin_policy.h"

#include <array>

namespace flexins::cc {

PluginPolicy::PluginPolicy(std::shared_ptr<const CcPlugin> plugin, const flexins_cc_plugin* desc, void* state)
    : plugin_(std::move(plugin)), desc_(desc), state_(state) {}

PluginPolicy::~PluginPolicy() { desc_->destroy(state_); }

void PluginPolicy::on_send(uint64_t now_ns, uint32_t bytes, uint32_t psn) {
  if (desc_->on_send) desc_->on_send(state_, now_ns, bytes, psn);
}
void PluginPolicy::on_ack(uint64_t now_ns, uint64_t acked_bytes, uint64_t rtt_ns, bool ecn_echo) {
  if (desc_->on_ack) desc_->on_ack(state_, now_ns, acked_bytes, rtt_ns, ecn_echo ? 1 : 0);
}
void PluginPolicy::on_cnp(uint64_t now_ns) {
  if (desc_->on_cnp) desc_->on_cnp(state_, now_ns);
}
void PluginPolicy::on_loss(uint64_t now_ns) {
  if (desc_->on_loss) desc_->on_loss(state_, now_ns);
}
void PluginPolicy::on_timeout(uint64_t now_ns) {
  if (desc_->on_timeout) desc_->on_timeout(state_, now_ns);
}
void PluginPolicy::on_timer(uint64_t now_ns) {
  if (desc_->on_timer) desc_->on_timer(state_, now_ns);
}
uint64_t PluginPolicy::next_timer_ns() const {
  return desc_->next_timer_ns ? desc_->next_timer_ns(state_) : kNoTimer;
}

std::optional<std::string> PluginPolicy::set_param(std::string_view key, double value) {
  if (!desc_->set_param) return std::string(name()) + ": has no parameters";
  std::array<char, 256> err{};
  std::string k(key);  // the C side wants it NUL-terminated
  if (desc_->set_param(state_, k.c_str(), value, err.data(), err.size()) == 0) return std::nullopt;
  err.back() = '\0';  // a plug-in that ignored err_len still yields a string
  std::string msg = err[0] != '\0' ? err.data() : "refused " + k;
  return std::string(name()) + ": " + msg;
}

std::vector<ParamInfo> PluginPolicy::params() const {
  std::vector<ParamInfo> out;
  if (!desc_->param_count || !desc_->get_param) return out;
  size_t n = desc_->param_count(state_);
  for (size_t i = 0; i < n; ++i) {
    flexins_cc_param p{};
    if (desc_->get_param(state_, i, &p) != 0 || p.name == nullptr) continue;
    out.push_back({p.name, p.value, p.help ? p.help : ""});
  }
  return out;
}

}  // namespace flexins::cc
