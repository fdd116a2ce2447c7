// Loss recovery: which PSNs the requester sends again, and when it may send
// new ones. Pure logic over 24-bit PSNs; the transport keeps the packets and
// asks a policy for a plan on each loss signal.
//
// PSNs compare modulo 2^24 (IBA 9.7, wire::psn_diff): the outstanding
// PSNs [una, next) may straddle 0xFFFFFF -> 0.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace flexins::cc {

// PSNs first, first + 1, ..., first + count - 1 (modulo 2^24).
struct PsnRange {
  uint32_t first;
  uint32_t count;
  bool operator==(const PsnRange&) const = default;
};

// PSNs to send again, in this order.
using RetransmitPlan = std::vector<PsnRange>;
uint32_t plan_packets(const RetransmitPlan& plan);

class LossRecovery {
 public:
  // window_packets: most PSNs outstanding at once (sent, not acknowledged).
  LossRecovery(uint32_t first_psn, uint32_t window_packets);
  LossRecovery(const LossRecovery&) = delete;
  LossRecovery& operator=(const LossRecovery&) = delete;
  virtual ~LossRecovery() = default;

  virtual std::string_view name() const = 0;

  uint32_t una() const { return una_; }    // oldest unacknowledged PSN
  uint32_t next() const { return next_; }  // next new PSN
  uint32_t outstanding() const;
  uint32_t window_packets() const { return window_; }
  bool may_send_new() const { return outstanding() < window_; }
  // `count` new PSNs from next() went out. False (nothing recorded) if that
  // overruns the window.
  bool on_sent_new(uint32_t count = 1);

  // ACK (IBA 9.7.5): every PSN up to and including `psn` arrived. False,
  // and nothing changes, for a PSN not outstanding (a stale duplicate, or
  // one never sent).
  bool on_ack(uint32_t psn);

  // NAK, PSN sequence error (IBA 9.7.5): the responder expects
  // `expected_psn`, so everything before it arrived and it was lost. An
  // expected_psn not in [una, next] yields an empty plan and changes nothing.
  virtual RetransmitPlan on_nak_seq_err(uint32_t expected_psn) = 0;
  // A selective acknowledgement: everything before `expected_psn` arrived,
  // and so did the PSNs in `received` (parts outside (expected, next) are
  // ignored).
  virtual RetransmitPlan on_sack(uint32_t expected_psn, std::span<const PsnRange> received) = 0;
  // The same from a responder that also says it has seen every PSN through
  // `seen_through`, whether it kept them or not (a FlexiNS responder places
  // only selective-repeat packets out of order and drops the others,
  // wire/sack.h): a PSN through it that is not in `received` is missing as
  // well. A policy that has no use for it answers as on_sack.
  virtual RetransmitPlan on_sack_through(uint32_t expected_psn, std::span<const PsnRange> received,
                                         uint32_t seen_through) {
    (void)seen_through;
    return on_sack(expected_psn, received);
  }
  // The retransmit timer fired.
  virtual RetransmitPlan on_timeout() = 0;

 protected:
  // Moves una forward to `psn` (already checked to be in [una, next]).
  void advance_una(uint32_t psn);
  // Called after una moved forward by `count` PSNs.
  virtual void on_una_advanced(uint32_t count) = 0;
  bool is_outstanding_or_next(uint32_t psn) const;

 private:
  uint32_t una_;
  uint32_t next_;
  uint32_t window_;
};

// "go_back_n" (IBA 9.7.5: resend everything from the lost PSN) or
// "selective_repeat" (IRN: only the missing PSNs). nullptr for another name.
std::unique_ptr<LossRecovery> make_loss_recovery(std::string_view name, uint32_t first_psn,
                                                 uint32_t window_packets);

}  // namespace flexins::cc
