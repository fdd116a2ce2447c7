#include "cc/go_back_n.h"

namespace flexins::cc {

RetransmitPlan GoBackN::on_nak_seq_err(uint32_t expected_psn) {
  if (!is_outstanding_or_next(expected_psn)) return {};
  advance_una(expected_psn);  // the NAK acknowledges everything before it
  if (outstanding() == 0) return {};
  return {PsnRange{una(), outstanding()}};
}

RetransmitPlan GoBackN::on_timeout() {
  if (outstanding() == 0) return {};
  return {PsnRange{una(), outstanding()}};
}

}  // namespace flexins::cc
