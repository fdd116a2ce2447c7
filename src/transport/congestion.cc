#include "transport/congestion.h"

#include <algorithm>

#include "transport/constants.h"
#include "wire/packet.h"

namespace flexins::transport {

using wire::psn_diff;

Congestion::Congestion() : pacer_(kPacerBurstBytes), cnp_(kCnpIntervalNs) {}

void Congestion::set_policy(std::unique_ptr<cc::CongestionControl> policy, uint64_t now_ns) {
  policy_ = std::move(policy);
  update_rate(now_ns);  // packets already timed still give valid RTT samples
}

void Congestion::update_rate(uint64_t now_ns) {
  const uint64_t rate = rate_bps();
  if (rate != pacer_.rate_bps()) pacer_.set_rate(now_ns, rate);
}

uint32_t Congestion::window_packets(uint32_t mtu_bytes) const {
  const uint64_t window = window_bytes();
  if (window == cc::kUnlimitedWindow) return UINT32_MAX;
  const uint64_t packets = window / std::max<uint32_t>(mtu_bytes, 1);
  return uint32_t(std::clamp<uint64_t>(packets, 1, UINT32_MAX - 1));
}

bool Congestion::pacer_holds_after(uint64_t now_ns, uint32_t wire_bytes) const {
  if (pacer_.rate_bps() == cc::kUnpaced) return false;
  cc::Pacer after = pacer_;
  after.on_sent(now_ns, wire_bytes);
  return after.next_send_ns(now_ns) > now_ns;
}

void Congestion::on_sent(uint64_t now_ns, uint32_t wire_bytes, uint32_t psn, bool retransmission,
                         bool ack_req) {
  if (retransmission) {
    timed_count_ = 0;  // Karn: nothing in flight gives a clean sample any more
  } else if (ack_req && timed_count_ < kTimedSlots) {
    // When all slots are busy this packet goes untimed: the ACKs of the
    // ones already timed come first and give their samples.
    timed_[(timed_head_ + timed_count_) % kTimedSlots] = {psn, now_ns};
    ++timed_count_;
  }
  pacer_.on_sent(now_ns, wire_bytes);
  if (!policy_) return;
  policy_->on_send(now_ns, wire_bytes, psn);
  update_rate(now_ns);
}

void Congestion::on_acked(uint64_t now_ns, uint32_t acked_through, uint32_t packets, uint32_t mtu_bytes) {
  // The newest timed packet the ACK covers gives the sample; older ones go.
  uint64_t rtt = 0;
  while (timed_count_ > 0 && psn_diff(timed_[timed_head_].psn, acked_through) <= 0) {
    rtt = now_ns - timed_[timed_head_].sent_ns;
    timed_head_ = (timed_head_ + 1) % kTimedSlots;
    --timed_count_;
  }
  if (rtt != 0) {
    last_rtt_ns_ = rtt;
    ++rtt_samples_;
  }
  if (!policy_) return;
  policy_->on_ack(now_ns, uint64_t(packets) * mtu_bytes, rtt, false);
  update_rate(now_ns);
}

void Congestion::on_cnp(uint64_t now_ns) {
  if (!policy_) return;
  policy_->on_cnp(now_ns);
  update_rate(now_ns);
}

void Congestion::on_loss(uint64_t now_ns) {
  timed_count_ = 0;
  if (!policy_) return;
  policy_->on_loss(now_ns);
  update_rate(now_ns);
}

void Congestion::on_timeout(uint64_t now_ns) {
  timed_count_ = 0;
  if (!policy_) return;
  policy_->on_timeout(now_ns);
  update_rate(now_ns);
}

void Congestion::on_timer(uint64_t now_ns) {
  if (!policy_ || now_ns < policy_->next_timer_ns()) return;
  policy_->on_timer(now_ns);
  update_rate(now_ns);
}

uint64_t Congestion::timer_deadline() const {
  if (!policy_) return UINT64_MAX;
  const uint64_t t = policy_->next_timer_ns();
  return t == cc::kNoTimer ? UINT64_MAX : t;
}

bool Congestion::on_ce_marked(uint64_t now_ns) { return cnp_.on_ce_marked(now_ns); }

}  // namespace flexins::transport
