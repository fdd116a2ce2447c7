// Go-back-N and selective repeat on scripted NAK / SACK / timeout sequences,
// including windows that straddle the 24-bit PSN wrap (IBA 9.7).
#include "cc/loss_recovery.h"

#include <gtest/gtest.h>

#include "cc/go_back_n.h"
#include "cc/selective_repeat.h"

namespace flexins::cc {
namespace {

using Plan = RetransmitPlan;

constexpr uint32_t kWindow = 1024;

void send(LossRecovery& p, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) ASSERT_TRUE(p.on_sent_new());
}

TEST(LossRecovery, FactoryByName) {
  EXPECT_EQ(make_loss_recovery("go_back_n", 0, 16)->name(), "go_back_n");
  EXPECT_EQ(make_loss_recovery("selective_repeat", 0, 16)->name(), "selective_repeat");
  EXPECT_EQ(make_loss_recovery("sack", 0, 16), nullptr);
}

TEST(LossRecovery, AcksMoveUnaAndRejectStaleOrUnsentPsns) {
  GoBackN p(100, kWindow);
  send(p, 10);  // 100..109 outstanding
  EXPECT_EQ(p.outstanding(), 10u);
  EXPECT_FALSE(p.on_ack(110));  // never sent
  EXPECT_FALSE(p.on_ack(99));   // before una: a stale duplicate
  EXPECT_TRUE(p.on_ack(104));
  EXPECT_EQ(p.una(), 105u);
  EXPECT_FALSE(p.on_ack(104));  // duplicate
  EXPECT_TRUE(p.on_ack(109));
  EXPECT_EQ(p.outstanding(), 0u);
  EXPECT_TRUE(p.on_timeout().empty());
}

TEST(LossRecovery, WindowBoundsNewPsns) {
  SelectiveRepeat p(0, 4);
  send(p, 4);
  EXPECT_FALSE(p.may_send_new());
  EXPECT_FALSE(p.on_sent_new());
  EXPECT_EQ(p.next(), 4u);
  EXPECT_TRUE(p.on_ack(0));
  EXPECT_TRUE(p.may_send_new());
  EXPECT_FALSE(p.on_sent_new(2));
  EXPECT_TRUE(p.on_sent_new(1));
}

TEST(GoBackN, NakResendsEverythingFromTheLostPsn) {
  GoBackN p(100, kWindow);
  send(p, 10);
  EXPECT_EQ(p.on_nak_seq_err(104), (Plan{{104, 6}}));
  EXPECT_EQ(p.una(), 104u);  // the NAK acknowledged 100..103
  EXPECT_EQ(p.on_timeout(), (Plan{{104, 6}}));
  // A SACK is read as a NAK at its cumulative point.
  const PsnRange got[] = {{107, 2}};
  EXPECT_EQ(p.on_sack(105, got), (Plan{{105, 5}}));
  EXPECT_TRUE(p.on_nak_seq_err(99).empty());   // stale
  EXPECT_TRUE(p.on_nak_seq_err(111).empty());  // never sent
  EXPECT_EQ(p.una(), 105u);
}

TEST(SelectiveRepeat, NakResendsOnlyTheLostPsn) {
  SelectiveRepeat p(100, kWindow);
  send(p, 10);
  EXPECT_EQ(p.on_nak_seq_err(104), (Plan{{104, 1}}));
  EXPECT_EQ(p.una(), 104u);
  // The same NAK again (e.g. raised by a later out-of-order packet) does
  // not resend 104 a second time; the timeout does.
  EXPECT_TRUE(p.on_nak_seq_err(104).empty());
  EXPECT_EQ(p.on_timeout(), (Plan{{104, 6}}));
}

TEST(SelectiveRepeat, SackResendsHolesBelowTheHighestReceivedOnce) {
  SelectiveRepeat p(100, kWindow);
  send(p, 10);  // 100..109
  const PsnRange first[] = {{104, 2}, {108, 1}};
  // Missing: 102, 103 (before 104), 106, 107 (before 108); 109 may still be
  // in flight, so it is not resent.
  EXPECT_EQ(p.on_sack(102, first), (Plan{{102, 2}, {106, 2}}));
  EXPECT_TRUE(p.sacked(104));
  EXPECT_FALSE(p.sacked(106));
  const PsnRange second[] = {{109, 1}};
  EXPECT_TRUE(p.on_sack(102, second).empty());  // all holes already resent
  // The resent 102 and 103 arrived: the cumulative point moves past the
  // SACKed 104, 105.
  EXPECT_TRUE(p.on_ack(105));
  EXPECT_EQ(p.una(), 106u);
  // Timeout: a new episode; only PSNs not known to have arrived.
  EXPECT_EQ(p.on_timeout(), (Plan{{106, 2}}));
  EXPECT_TRUE(p.on_ack(109));
  EXPECT_TRUE(p.on_timeout().empty());
}

TEST(SelectiveRepeat, PsnsSeenButNotKeptAreMissingToo) {
  // A FlexiNS responder places only SR packets out of order and drops the
  // rest, and says how far it has seen (wire/sack.h).
  SelectiveRepeat p(100, kWindow);
  send(p, 10);  // 100..109
  const PsnRange got[] = {{104, 1}};
  // Expects 102; placed 104; saw up to 107: 102, 103, 105..107 are missing,
  // 108 and 109 may still be on their way.
  EXPECT_EQ(p.on_sack_through(102, got, 107), (Plan{{102, 2}, {105, 3}}));
  EXPECT_TRUE(p.on_sack_through(102, got, 107).empty());  // each once
  // Seen through a PSN below the highest SACKed: the SACKed one bounds it.
  SelectiveRepeat q(100, kWindow);
  send(q, 10);
  const PsnRange high[] = {{106, 1}};
  EXPECT_EQ(q.on_sack_through(100, high, 101), (Plan{{100, 6}}));
  // Go-back-N has no use for it: a NAK at the cumulative point.
  GoBackN g(100, kWindow);
  send(g, 10);
  EXPECT_EQ(g.on_sack_through(102, got, 107), (Plan{{102, 8}}));
}

TEST(SelectiveRepeat, AResendThatASackProvesLostIsResentAgain) {
  SelectiveRepeat p(100, kWindow);
  send(p, 4);  // 100..103
  const PsnRange got[] = {{101, 3}};
  EXPECT_EQ(p.on_sack_through(100, got, 103), (Plan{{100, 1}}));
  // Nothing sent since the resend: a SACK that repeats itself is no proof.
  EXPECT_TRUE(p.on_sack_through(100, got, 103).empty());
  send(p, 2);  // 104, 105 leave after the resend of 100
  // 105 arrived and 100 is still missing: on an ordered path the resend
  // was lost, so 100 goes again (with 104, missing for the first time).
  const PsnRange later[] = {{101, 3}, {105, 1}};
  EXPECT_EQ(p.on_sack_through(100, later, 105), (Plan{{100, 1}, {104, 1}}));
  EXPECT_TRUE(p.on_sack_through(100, later, 105).empty());
}

TEST(SelectiveRepeat, SackRangesOutsideTheWindowAreIgnored) {
  SelectiveRepeat p(100, kWindow);
  send(p, 10);
  const PsnRange odd[] = {{90, 12}, {105, 1000}, {0x7FFFFF, 3}};  // 90..101, 105.., far away
  // Ranges clip to (102, 110): 105..109 SACKed; 102..104 missing.
  EXPECT_EQ(p.on_sack(102, odd), (Plan{{102, 3}}));
  EXPECT_TRUE(p.sacked(109));
  EXPECT_FALSE(p.sacked(102));
}

TEST(PsnWraparound, GoBackNAcrossTheWrap) {
  GoBackN p(0xFFFFFA, kWindow);
  send(p, 10);  // FFFFFA..FFFFFF, 0..3
  EXPECT_EQ(p.next(), 4u);
  EXPECT_EQ(p.outstanding(), 10u);
  EXPECT_EQ(p.on_timeout(), (Plan{{0xFFFFFA, 10}}));
  EXPECT_EQ(p.on_nak_seq_err(0xFFFFFE), (Plan{{0xFFFFFE, 6}}));
  EXPECT_TRUE(p.on_ack(0xFFFFFF));
  EXPECT_EQ(p.una(), 0u);
  EXPECT_FALSE(p.on_ack(0xFFFFFE));  // now stale
  EXPECT_EQ(p.on_nak_seq_err(2), (Plan{{2, 2}}));
}

TEST(PsnWraparound, SelectiveRepeatAcrossTheWrap) {
  SelectiveRepeat p(0xFFFFFA, kWindow);
  send(p, 10);  // FFFFFA..FFFFFF, 0..3
  const PsnRange got[] = {{0, 2}};
  // Expected FFFFFE; 0 and 1 arrived: FFFFFE and FFFFFF are missing.
  EXPECT_EQ(p.on_sack(0xFFFFFE, got), (Plan{{0xFFFFFE, 2}}));
  EXPECT_EQ(p.una(), 0xFFFFFEu);
  const PsnRange later[] = {{3, 1}};
  EXPECT_EQ(p.on_sack(0xFFFFFE, later), (Plan{{2, 1}}));
  // Timeout: everything not SACKed, one range that runs through the wrap.
  EXPECT_EQ(p.on_timeout(), (Plan{{0xFFFFFE, 2}, {2, 1}}));
  EXPECT_TRUE(p.on_ack(1));
  EXPECT_EQ(p.una(), 2u);
  EXPECT_EQ(p.on_timeout(), (Plan{{2, 1}}));
}

TEST(PsnWraparound, OneRangeThroughZero) {
  SelectiveRepeat p(0xFFFFFD, kWindow);
  send(p, 6);  // FFFFFD..FFFFFF, 0..2
  EXPECT_EQ(p.on_timeout(), (Plan{{0xFFFFFD, 6}}));
  EXPECT_EQ(plan_packets(p.on_timeout()), 6u);
}

}  // namespace
}  // namespace flexins::cc
