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

void SelectiveRepeat::sync_size() {
  flags_.resize(outstanding(), 0);
  resent_at_.resize(outstanding(), 0);
}

void SelectiveRepeat::on_una_advanced(uint32_t count) {
  flags_.erase(flags_.begin(), flags_.begin() + std::min<size_t>(count, flags_.size()));
  resent_at_.erase(resent_at_.begin(), resent_at_.begin() + std::min<size_t>(count, resent_at_.size()));
}

bool SelectiveRepeat::sacked(uint32_t psn) const {
  int32_t d = psn_diff(psn, una());
  return d >= 0 && size_t(d) < flags_.size() && (flags_[size_t(d)] & kSacked) != 0;
}

void SelectiveRepeat::mark_resent(RetransmitPlan& plan, size_t i) {
  flags_[i] |= kResent;
  resent_at_[i] = next();
  append(plan, una(), uint32_t(i));
}

// Missing: not SACKed and at most `through` after una; una itself is always
// missing when this runs (a NAK or SACK names it as expected). A PSN already
// resent is resent again only if PSN una + through, which the responder has
// seen, was first sent after that resend.
RetransmitPlan SelectiveRepeat::resend_missing(size_t through) {
  RetransmitPlan plan;
  if (flags_.empty()) return plan;
  through = std::min(through, flags_.size() - 1);
  const uint32_t seen = psn_add(una(), uint32_t(through));
  for (size_t i = 0; i <= through; ++i) {
    if (flags_[i] & kSacked) continue;
    if ((flags_[i] & kResent) && psn_diff(seen, resent_at_[i]) < 0) continue;
    mark_resent(plan, i);
  }
  return plan;
}

RetransmitPlan SelectiveRepeat::on_nak_seq_err(uint32_t expected_psn) {
  if (!is_outstanding_or_next(expected_psn)) return {};
  sync_size();
  advance_una(expected_psn);
  return resend_missing(0);
}

RetransmitPlan SelectiveRepeat::on_sack(uint32_t expected_psn, std::span<const PsnRange> received) {
  return on_sack_through(expected_psn, received, expected_psn);
}

RetransmitPlan SelectiveRepeat::on_sack_through(uint32_t expected_psn, std::span<const PsnRange> received,
                                                uint32_t seen_through) {
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
  // Everything up to the highest PSN known to have arrived, this SACK or
  // an earlier one, or the highest one the responder says it has seen.
  int64_t last = 0;
  for (int64_t i = end - 1; i > 0; --i) {
    if (flags_[size_t(i)] & kSacked) {
      last = i;
      break;
    }
  }
  const int64_t seen = psn_diff(seen_through & wire::kPsnMask, una());
  if (seen > last) last = std::min(seen, end - 1);
  return resend_missing(size_t(std::max<int64_t>(last, 0)));
}

RetransmitPlan SelectiveRepeat::on_timeout() {
  sync_size();
  RetransmitPlan plan;
  for (size_t i = 0; i < flags_.size(); ++i) {
    if (flags_[i] & kSacked) continue;
    mark_resent(plan, i);
  }
  return plan;
}

}  // namespace flexins::cc
