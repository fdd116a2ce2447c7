#include "cc/loss_recovery.h"

#include <algorithm>

#include "cc/go_back_n.h"
#include "cc/selective_repeat.h"
#include "wire/packet.h"

namespace flexins::cc {

using wire::psn_add;
using wire::psn_diff;

uint32_t plan_packets(const RetransmitPlan& plan) {
  uint32_t n = 0;
  for (const PsnRange& r : plan) n += r.count;
  return n;
}

LossRecovery::LossRecovery(uint32_t first_psn, uint32_t window_packets)
    : una_(first_psn & wire::kPsnMask),
      next_(first_psn & wire::kPsnMask),
      // More than 2^23 outstanding PSNs would make psn_diff ambiguous.
      window_(std::min<uint32_t>(window_packets, 1u << 23)) {}

uint32_t LossRecovery::outstanding() const { return uint32_t(psn_diff(next_, una_)); }

bool LossRecovery::on_sent_new(uint32_t count) {
  if (count > window_ - outstanding()) return false;
  next_ = psn_add(next_, count);
  return true;
}

bool LossRecovery::is_outstanding_or_next(uint32_t psn) const {
  int32_t d = psn_diff(psn, una_);
  return d >= 0 && uint32_t(d) <= outstanding();
}

bool LossRecovery::on_ack(uint32_t psn) {
  uint32_t after = psn_add(psn, 1);
  if (psn == next_ || !is_outstanding_or_next(psn)) return false;
  advance_una(after);
  return true;
}

void LossRecovery::advance_una(uint32_t psn) {
  uint32_t moved = uint32_t(psn_diff(psn, una_));
  una_ = psn;
  if (moved > 0) on_una_advanced(moved);
}

std::unique_ptr<LossRecovery> make_loss_recovery(std::string_view name, uint32_t first_psn,
                                                 uint32_t window_packets) {
  if (name == "go_back_n") return std::make_unique<GoBackN>(first_psn, window_packets);
  if (name == "selective_repeat") return std::make_unique<SelectiveRepeat>(first_psn, window_packets);
  return nullptr;
}

}  // namespace flexins::cc
