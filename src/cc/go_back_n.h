// "go_back_n": the IBA RC requester's recovery (IBA 9.7.5): on a NAK
// sequence error for PSN p, send every PSN from p on again; on a timeout,
// every PSN from the oldest unacknowledged one. A SACK is read as a NAK at
// its cumulative point (go-back-N has no use for the rest).
#pragma once

#include "cc/loss_recovery.h"

namespace flexins::cc {

class GoBackN final : public LossRecovery {
 public:
  using LossRecovery::LossRecovery;
  std::string_view name() const override { return "go_back_n"; }
  RetransmitPlan on_nak_seq_err(uint32_t expected_psn) override;
  RetransmitPlan on_sack(uint32_t expected_psn, std::span<const PsnRange>) override {
    return on_nak_seq_err(expected_psn);
  }
  RetransmitPlan on_timeout() override;

 private:
  void on_una_advanced(uint32_t) override {}
};

}  // namespace flexins::cc
