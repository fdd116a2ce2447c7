// "selective_repeat": recovery in the style of IRN (Mittal et al.,
// "Revisiting Network Support for RDMA", SIGCOMM 2018, §3.1): the responder
// keeps out-of-order packets and reports them (SACK); the requester resends
// only PSNs that are missing, i.e. not acknowledged although a later PSN
// arrived. Each missing PSN is resent once per recovery episode (a NAK or
// SACK that arrives after the resend says nothing new about it), unless a
// SACK shows that the resend itself was lost: the responder has seen a PSN
// first sent after the resend, and the resent PSN is still missing (on a
// path that keeps packets in order, the resend arrived before it or not at
// all). A timeout starts a new episode and resends every PSN not known to
// have arrived.
// IRN's BDP-FC bounds the outstanding PSNs: window_packets should be the
// path's bandwidth-delay product in packets.
#pragma once

#include <deque>

#include "cc/loss_recovery.h"

namespace flexins::cc {

class SelectiveRepeat final : public LossRecovery {
 public:
  using LossRecovery::LossRecovery;
  std::string_view name() const override { return "selective_repeat"; }
  // The expected PSN is missing; so is every unreported PSN before the
  // highest one a SACK reported.
  RetransmitPlan on_nak_seq_err(uint32_t expected_psn) override;
  RetransmitPlan on_sack(uint32_t expected_psn, std::span<const PsnRange> received) override;
  RetransmitPlan on_sack_through(uint32_t expected_psn, std::span<const PsnRange> received,
                                 uint32_t seen_through) override;
  RetransmitPlan on_timeout() override;

  // Whether `psn` (outstanding) is known to have arrived.
  bool sacked(uint32_t psn) const;

 private:
  enum Flag : uint8_t { kSacked = 1, kResent = 2 };
  void on_una_advanced(uint32_t count) override;
  void sync_size();  // flags_ and resent_at_ cover [una, next)
  // Resend every missing PSN up to offset `through` from una (see above).
  RetransmitPlan resend_missing(size_t through);
  void mark_resent(RetransmitPlan& plan, size_t i);

  std::deque<uint8_t> flags_;  // per outstanding PSN, index = distance from una
  // Per outstanding PSN flagged kResent: next() when it was resent (a
  // responder that has seen that PSN has seen everything sent before it).
  std::deque<uint32_t> resent_at_;
};

}  // namespace flexins::cc
