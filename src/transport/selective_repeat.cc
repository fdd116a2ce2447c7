#include "transport/selective_repeat.h"

#include <algorithm>
#include <vector>

#include "cc/selective_repeat.h"
#include "wire/packet.h"

namespace flexins::transport {

using wire::psn_add;
using wire::psn_diff;

namespace {
// The policy's own bound on PSNs in flight. The transport's window (at most
// kMaxOutstandingPackets) is the real one, but a READ takes all its
// response PSNs at once, so the policy must allow more.
constexpr uint32_t kPolicyWindowPackets = 1u << 23;
}  // namespace

const char* loss_recovery_name(LossRecoveryMode m) {
  return m == LossRecoveryMode::kSelectiveRepeat ? "selective_repeat" : "go_back_n";
}

std::optional<LossRecoveryMode> parse_loss_recovery(std::string_view name) {
  if (name == "go_back_n") return LossRecoveryMode::kGoBackN;
  if (name == "selective_repeat") return LossRecoveryMode::kSelectiveRepeat;
  return std::nullopt;
}

// ------------------------------------------------------- SrReceiveWindow

void SrReceiveWindow::reset() {
  bits_.reset();
  seen_ = false;
  highest_seen_ = 0;
}

bool SrReceiveWindow::take(uint32_t psn) {
  const size_t i = psn % kSrWindowPackets;
  if (!bits_.test(i)) return false;
  bits_.reset(i);
  return true;
}

void SrReceiveWindow::saw(uint32_t epsn, uint32_t psn) {
  const int32_t d = psn_diff(psn, epsn);
  if (d < 0) return;
  // Further than any SACK can say: the window's end stands for it.
  if (uint32_t(d) >= kSrWindowPackets) psn = psn_add(epsn, kSrWindowPackets - 1);
  if (!ahead(epsn) || psn_diff(psn, highest_seen_) > 0) highest_seen_ = psn;
  seen_ = true;
}

bool SrReceiveWindow::ahead(uint32_t epsn) const {
  return seen_ && psn_diff(highest_seen_, epsn) >= 0;
}

void SrReceiveWindow::fill(uint32_t epsn, wire::SackBlock& out) const {
  out = wire::SackBlock{};
  out.first_psn = psn_add(epsn, 1);
  if (!ahead(epsn)) return;
  out.bits = uint16_t(std::min<uint32_t>(uint32_t(psn_diff(highest_seen_, epsn)), wire::kMaxSackBits));
  for (uint32_t i = 0; i < out.bits; ++i)
    if (recorded(psn_add(out.first_psn, i))) out.set(i);
}

// --------------------------------------------------------------- SrSender

void SrSender::start(uint32_t una, uint32_t sent) {
  policy_ = std::make_unique<cc::SelectiveRepeat>(una, kPolicyWindowPackets);
  if (sent > 0) policy_->on_sent_new(sent);
  queue_.clear();
}

void SrSender::stop() {
  policy_.reset();
  queue_.clear();
}

void SrSender::on_sent_new(uint32_t count) {
  if (policy_ && count > 0) policy_->on_sent_new(count);
}

void SrSender::on_una(uint32_t una) {
  if (!policy_) return;
  policy_->on_ack(psn_add(una, wire::kPsnMask));  // false (no change) if not outstanding
  drop_before(una);
}

uint32_t SrSender::on_sack(uint32_t expected, const wire::SackBlock& sack) {
  if (!policy_) return 0;
  std::vector<cc::PsnRange> got;
  for (uint32_t i = 0; i < sack.bits; ++i) {
    if (!sack.test(i)) continue;
    const uint32_t psn = psn_add(sack.first_psn, i);
    if (!got.empty() && psn_add(got.back().first, got.back().count) == psn) ++got.back().count;
    else got.push_back({psn, 1});
  }
  const uint32_t seen = sack.bits > 0 ? psn_add(sack.first_psn, sack.bits - 1u) : expected;
  const cc::RetransmitPlan plan = policy_->on_sack_through(expected, got, seen);
  enqueue(plan);
  return cc::plan_packets(plan);
}

uint32_t SrSender::on_timeout() {
  if (!policy_) return 0;
  queue_.clear();
  const cc::RetransmitPlan plan = policy_->on_timeout();
  enqueue(plan);
  return cc::plan_packets(plan);
}

void SrSender::enqueue(const cc::RetransmitPlan& plan) {
  for (const cc::PsnRange& r : plan) {
    if (r.count == 0) continue;
    if (!queue_.empty() && psn_add(queue_.back().first, queue_.back().count) == r.first)
      queue_.back().count += r.count;
    else
      queue_.push_back(r);
  }
}

uint32_t SrSender::queued_packets() const {
  uint32_t n = 0;
  for (const cc::PsnRange& r : queue_) n += r.count;
  return n;
}

void SrSender::pop_through(uint32_t psn) {
  while (!queue_.empty()) {
    cc::PsnRange& r = queue_.front();
    const int32_t d = psn_diff(psn, r.first);
    if (d < 0) return;
    if (uint32_t(d) + 1 >= r.count) {
      queue_.pop_front();
      continue;
    }
    r.first = psn_add(r.first, uint32_t(d) + 1);
    r.count -= uint32_t(d) + 1;
    return;
  }
}

void SrSender::drop_before(uint32_t psn) {
  for (cc::PsnRange& r : queue_) {
    const int32_t d = psn_diff(psn, r.first);
    if (d <= 0) continue;
    const uint32_t cut = std::min(uint32_t(d), r.count);
    r.first = psn_add(r.first, cut);
    r.count -= cut;
  }
  std::erase_if(queue_, [](const cc::PsnRange& r) { return r.count == 0; });
}

void SrSender::drop_from(uint32_t psn) {
  for (cc::PsnRange& r : queue_) {
    const int32_t d = psn_diff(psn, r.first);
    if (d <= 0) r.count = 0;
    else if (uint32_t(d) < r.count) r.count = uint32_t(d);
  }
  std::erase_if(queue_, [](const cc::PsnRange& r) { return r.count == 0; });
}

}  // namespace flexins::transport
