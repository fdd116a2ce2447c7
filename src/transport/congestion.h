// The transport's side of congestion control (DESIGN (d)): one per RC QP.
// The policy (src/cc: none, DCQCN, Swift, a plug-in) decides rates and
// windows; this class feeds it the QP's events and enforces its answers.
//
//   reaction point (our requests): the requester asks may_send() before
//     each packet (the policy's window, in path-MTU packets, and its pacing
//     rate); sends, ACKs with RTT samples, CNPs, NAKs and timeouts go in.
//   notification point (the peer's requests): a request that arrived ECN-CE
//     marked may be answered with a CNP (RoCEv2 annex A17.9), at most one
//     per QP per interval (cc::CnpGenerator).
//
// RTT samples follow Karn's rule: only packets sent once are timed, and
// only those carrying AckReq (the ones the responder answers at once), so a
// few slots suffice.
//
// Without a policy the QP runs as before congestion control existed: the
// transport's own window, unpaced. The owning worker thread is the only
// caller.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "cc/congestion_control.h"
#include "cc/dcqcn.h"
#include "cc/pacer.h"

namespace flexins::transport {

class Congestion {
 public:
  Congestion();

  // Replace the policy (nullptr: none) from now on: the new one starts from
  // its initial state, as on a new QP. Takes effect at the next packet.
  void set_policy(std::unique_ptr<cc::CongestionControl> policy, uint64_t now_ns);
  const cc::CongestionControl* policy() const { return policy_.get(); }
  cc::CongestionControl* policy() { return policy_.get(); }
  // The policy's parameters were changed from outside: its answers may differ.
  void policy_changed(uint64_t now_ns) { update_rate(now_ns); }

  // ---- reaction point
  // The policy's window in packets of `mtu_bytes` (at least one: a policy
  // below one packet paces instead, as Swift does), or UINT32_MAX for none.
  // The transport's own window is the caller's to apply as well.
  uint32_t window_packets(uint32_t mtu_bytes) const;
  // Earliest time >= now_ns the pacer lets the next packet go.
  uint64_t next_send_ns(uint64_t now_ns) const { return pacer_.next_send_ns(now_ns); }
  // Whether, once a packet of `wire_bytes` leaves now, the pacer will hold
  // the one after it.
  bool pacer_holds_after(uint64_t now_ns, uint32_t wire_bytes) const;
  // A request packet left: `wire_bytes` on the wire, a first transmission
  // or a retransmission, with or without AckReq.
  void on_sent(uint64_t now_ns, uint32_t wire_bytes, uint32_t psn, bool retransmission, bool ack_req);
  // Every PSN through `acked_through` arrived; `packets` were newly
  // acknowledged (each counted as mtu_bytes for the policy).
  void on_acked(uint64_t now_ns, uint32_t acked_through, uint32_t packets, uint32_t mtu_bytes);
  void on_cnp(uint64_t now_ns);
  void on_loss(uint64_t now_ns);
  void on_timeout(uint64_t now_ns);
  // The policy's own timer: run it if due; when it is due next.
  void on_timer(uint64_t now_ns);
  uint64_t timer_deadline() const;

  // ---- notification point
  // A request arrived ECN-CE marked: true if a CNP should go back now.
  bool on_ce_marked(uint64_t now_ns);

  // ---- for `flexins qp list`
  uint64_t rate_bps() const { return policy_ ? policy_->rate_bps() : cc::kUnpaced; }
  uint64_t window_bytes() const { return policy_ ? policy_->window_bytes() : cc::kUnlimitedWindow; }
  uint64_t last_rtt_ns() const { return last_rtt_ns_; }
  uint64_t rtt_samples() const { return rtt_samples_; }

 private:
  // The policy's rate may change after any event: hand it to the pacer.
  void update_rate(uint64_t now_ns);

  struct Timed {
    uint32_t psn = 0;
    uint64_t sent_ns = 0;
  };
  static constexpr uint32_t kTimedSlots = 8;

  std::unique_ptr<cc::CongestionControl> policy_;
  cc::Pacer pacer_;
  cc::CnpGenerator cnp_;
  std::array<Timed, kTimedSlots> timed_{};
  uint32_t timed_head_ = 0;   // oldest
  uint32_t timed_count_ = 0;
  uint64_t last_rtt_ns_ = 0;
  uint64_t rtt_samples_ = 0;
};

}  // namespace flexins::transport
