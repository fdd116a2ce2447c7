#include "cc/selective_repeat.h"

#include <algorithm>

#include "wire/packet.h"

namespace flexins::cc {

using wire::psn_add;
using wire::psn_diff;

namespace {
// Appends offset i (as a PSN from una) to the plan, extending the last range
// when it is adjacent.
void append(RetransmitPlan& plan, uint32_t una, uint32_t i) {
  uint32_t psn = psn_add(una, i);
  if (!plan.empty() && psn_add(plan.back().first, plan.back().count) == psn) {
    ++plan.back().count;
  } else {
    plan.push_back({psn, 1});
  }
}
}  // namespace

void SelectiveRepeat::sync_size() { flags_.resize(outstanding(), 0); }

void SelectiveRepeat::on_una_advanced(uint32_t count) {
  flags_.erase(flags_.begin(), flags_.begin() + std::min<size_t>(count, flags_.size()));
}

bool SelectiveRepeat::sacked(uint32_t psn) const {
  int32_t d = psn_diff(psn, una());
  return d >= 0 && size_t(d) < flags_.size() && (flags_[size_t(d)] & kSacked) != 0;
}

// Missing: not SACKed and before the highest SACKed PSN; una itself is
// always missing when this runs (a NAK or SACK names it as expected).
RetransmitPlan SelectiveRepeat::resend_missing() {
  RetransmitPlan plan;
  if (flags_.empty()) return plan;
  size_t last = 0;
  for (size_t i = flags_.size(); i-- > 1;) {
    if (flags_[i] & kSacked) {
      last = i;
      break;
    }
  }
  for (size_t i = 0; i <= last; ++i) {
    if (flags_[i] & (kSacked | kResent)) continue;
    flags_[i] |= kResent;
    append(plan, una(), uint32_t(i));
  }
  return plan;
}

RetransmitPlan SelectiveRepeat::on_nak_seq_err(uint32_t expected_psn) {
  if (!is_outstanding_or_next(expected_psn)) return {};
  sync_size();
  advance_una(expected_psn);
  return resend_missing();
}

RetransmitPlan SelectiveRepeat::on_sack(uint32_t expected_psn, std::span<const PsnRange> received) {
  if (!is_outstanding_or_next(expected_psn)) return {};
  sync_size();
  advance_una(expected_psn);
  // Offsets (from una) of each range, clipped to (0, outstanding): PSN una
  // is the one the responder still expects.
  const int64_t end = int64_t(flags_.size());
  for (const PsnRange& r : received) {
    int64_t from = psn_diff(r.first & wire::kPsnMask, una());
    int64_t to = std::min(from + int64_t(r.count), end);
    for (int64_t i = std::max<int64_t>(from, 1); i < to; ++i) flags_[size_t(i)] |= kSacked;
  }
  return resend_missing();
}

RetransmitPlan SelectiveRepeat::on_timeout() {
  sync_size();
  RetransmitPlan plan;
  for (size_t i = 0; i < flags_.size(); ++i) {
    if (flags_[i] & kSacked) continue;
    flags_[i] |= kResent;
    append(plan, una(), uint32_t(i));
  }
  return plan;
}

}  // namespace flexins::cc
