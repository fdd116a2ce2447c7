#include "cc/pacer.h"

#include <algorithm>

namespace flexins::cc {

namespace {
constexpr int64_t kUnitsPerByte = 8'000'000'000;  // bit-ns per byte
constexpr uint64_t kMaxBurstBytes = uint64_t{1} << 28;
constexpr uint64_t kMaxPacedRate = 1'000'000'000'000'000;
constexpr int64_t kMinCredit = -(int64_t{1} << 62);
}  // namespace

Pacer::Pacer(uint64_t burst_bytes) : burst_bytes_(std::min(burst_bytes, kMaxBurstBytes)) {}

int64_t Pacer::cap() const {
  return std::max(static_cast<int64_t>(burst_bytes_) * kUnitsPerByte, static_cast<int64_t>(rate_bps_));
}

// Credit grows by rate * elapsed up to the cap; computed without overflow by
// first asking how long filling to the cap would take.
int64_t Pacer::credit_at(uint64_t now_ns) const {
  if (now_ns <= updated_ns_) return credit_;
  uint64_t elapsed = now_ns - updated_ns_;
  int64_t room = cap() - credit_;
  if (room <= 0) return credit_;
  uint64_t fill_ns = static_cast<uint64_t>(room) / rate_bps_;
  if (elapsed > fill_ns) return cap();
  return credit_ + static_cast<int64_t>(elapsed * rate_bps_);
}

void Pacer::set_rate(uint64_t now_ns, uint64_t rate_bps) {
  if (rate_bps_ != kUnpaced) credit_ = credit_at(now_ns);
  else credit_ = 0;
  updated_ns_ = std::max(updated_ns_, now_ns);
  // A rate of 0 would never pay a debt back; 1 bit/s is the slowest pace.
  rate_bps_ = rate_bps == 0 ? 1 : rate_bps > kMaxPacedRate ? kUnpaced : rate_bps;
  if (rate_bps_ != kUnpaced) credit_ = std::min(credit_, cap());
}

uint64_t Pacer::next_send_ns(uint64_t now_ns) const {
  if (rate_bps_ == kUnpaced) return now_ns;
  int64_t credit = credit_at(now_ns);
  if (credit >= 0) return now_ns;
  uint64_t debt = static_cast<uint64_t>(-credit);
  uint64_t from = std::max(now_ns, updated_ns_);
  return from + (debt + rate_bps_ - 1) / rate_bps_;
}

void Pacer::on_sent(uint64_t now_ns, uint32_t bytes) {
  if (rate_bps_ == kUnpaced) return;
  int64_t credit = credit_at(now_ns);
  int64_t cost = static_cast<int64_t>(std::min<uint64_t>(bytes, kMaxBurstBytes)) * kUnitsPerByte;
  credit_ = credit - kMinCredit < cost ? kMinCredit : credit - cost;
  updated_ns_ = std::max(updated_ns_, now_ns);
}

}  // namespace flexins::cc
