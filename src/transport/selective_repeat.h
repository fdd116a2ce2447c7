// Selective repeat: FlexiNS's loss recovery for RC besides IBA's go-back-N,
// in the style of IRN (Mittal et al., "Revisiting Network Support for
// RDMA", SIGCOMM 2018). A FlexiNS extension, described here in full.
//
// MODES. Each RC QP has a loss-recovery mode, go_back_n (the default, IBA
// 9.7.5 exactly as before) or selective_repeat: for new QPs from the engine
// (`flexins daemon --loss-recovery MODE`, Env::loss_recovery_mode), for a
// live one from the command line (`flexins qp set QPN lr=MODE`). The mode
// governs both halves of the QP: what its requester sends and how its
// responder treats the SR bit. Selective repeat happens only when both ends
// have it: a requester in selective_repeat mode marks its packets, and only
// a responder in selective_repeat mode acts on the marks.
//
// WIRE. (1) The SR bit, the top bit of the BTH's Resv7 (byte 8, 0x40,
// wire::Bth::sr). IBA sends reserved bits as 0 and ignores them on receive;
// the ICRC covers them. (2) The SACK block (wire/sack.h), the payload of an
// Acknowledge whose SR bit is set.
//
// REQUESTER (selective_repeat mode; the mode is latched per WQE when its
// first packet goes out, so a change never splits a WQE). An RDMA WRITE or
// WRITE WITH IMMEDIATE of more than one packet is sent as one "RDMA WRITE
// Only" per packet, each with its own RETH (the VA of that packet, the
// R_Key, its length): standard opcodes any responder can place alone. Every
// packet but the last is marked SR and carries exactly one path MTU. The
// last keeps the WQE's meaning (WRITE Only, or WRITE Only with Immediate)
// and is not marked, so a responder takes it only in order: the last byte,
// and the immediate's receive completion, never show before the data ahead
// of them (ib_write_lat polls the last byte). Single-packet WRITEs, SENDs,
// READs and atomics are sent as in go-back-N mode, unmarked.
//
// RESPONDER (selective_repeat mode; the first SR packet from the peer makes
// it "SR-aware" of that peer until the QP restarts). A packet marked SR
// whose PSN lies in (ePSN, ePSN + kSrWindowPackets) is checked as any
// WRITE Only (access flags, one PMTU, R_Key, bounds: the same checks) and
// placed at once, straight into memory (no buffering: DESIGN (b)); its PSN
// is recorded in a bitmap of kSrWindowPackets bits (SrReceiveWindow). When
// the packet at ePSN completes, ePSN moves over every recorded PSN after it
// (each one a WRITE Only message for the MSN). A recorded PSN that arrives
// again is a duplicate. An SR packet that fails a check out of order is
// dropped (rx_drop_sr_deferred), not NAKed: a NAK for PSN p would
// acknowledge every PSN before p (IBA 9.7.5.3.2), including the missing
// ones. It is resent, and fails in order, where the error table answers.
// Unmarked packets are handled exactly as in go-back-N mode, except that a
// packet ahead of ePSN from an SR-aware peer is dropped and reported by a
// SACK instead of a plain NAK.
//   SACKs go only to an SR-aware peer (a peer that never marked a packet,
// e.g. not FlexiNS, never sees one): an Acknowledge, AETH = NAK PSN
// sequence error, PSN = ePSN, with the SACK block: which PSNs after ePSN
// were placed, up to the highest PSN seen (placed or dropped). Every
// sequence NAK to an SR-aware peer is a SACK, so a plain sequence NAK tells
// a requester that the responder drops everything after the gap. Rate: a
// SACK answers the first packet of a gap (as IBA's one NAK per gap), any
// later out-of-order packet that carries AckReq (the requester asks at
// least every kAckReqEveryPackets packets and at each message's end, and
// when its window or pacer holds it back: it is waiting for an answer),
// every kSackEveryPackets-th other out-of-order packet, a duplicate, and
// every in-order packet while PSNs after it have been seen (it filled a
// hole: the requester learns at once that una moved and what is still
// missing). SACKs waiting in the reply queue coalesce, and the block is
// written when the SACK leaves, so it carries the latest state. That is
// at most a few SACKs per window, not one per packet as in IRN, whose NACK
// names one PSN.
//
// REQUESTER RECOVERY (selective_repeat mode). A cc::SelectiveRepeat policy
// (src/cc) tracks the PSNs in flight (SrSender). On a SACK the policy says
// which PSNs to resend: every PSN up to the highest one the responder has
// seen that it did not place, each once per episode unless the SACK proves
// the resend lost too (cc/selective_repeat.h). They go into a retransmit
// queue of PSN ranges that the requester serves before new packets,
// rebuilding each packet from its WQE and PSN; they do not use up
// retry_cnt (a SACK is progress, not a retry). The requester keeps at most
// kSrMaxWindowPackets PSNs in flight, so one SACK covers everything it may
// have sent and shows a lost resend. A timeout resends what the
// policy says (every PSN not SACKed) and uses up retry_cnt as in go-back-N.
// A plain sequence NAK means the responder is not placing out of order
// (go_back_n mode, or no SR bit honoured), so the requester goes back N as
// IBA says. Missing READ responses and RNR NAKs are recovered go-back-N
// style too. Congestion control hears one on_loss per episode (until una
// passes the last PSN sent when the loss was found); RTT samples follow
// Karn's rule as before.
//
// LIMITS. Only multi-packet RDMA WRITEs gain: SENDs, READs, atomics and
// single-packet WRITEs recover go-back-N style. A WRITE's last packet that
// arrives while a hole is open is dropped and resent (cheap when a hole
// lasts a few packets, not when a round trip spans a window). Data of a
// later WRITE may be placed before an earlier WRITE's holes are filled;
// only each WRITE's last packet is ordered. Against a responder that is not
// FlexiNS, a selective-repeat requester still works (the WRITE Only
// packets are standard, and it recovers go-back-N style), but a WRITE WITH
// IMMEDIATE's receive completion there reports only the last packet's
// length: a FlexiNS responder, in either mode, adds the SR packets that
// completed in order since the last unmarked one. A lost resend is found
// by a later SACK only if newer packets follow it; otherwise (a full
// window, the end of a transfer) by the retransmit timer: IRN's short
// timer for few packets in flight is not built.
#pragma once

#include <bitset>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>

#include "cc/loss_recovery.h"
#include "transport/constants.h"
#include "wire/sack.h"

namespace flexins::transport {

enum class LossRecoveryMode : uint8_t { kGoBackN, kSelectiveRepeat };
// "go_back_n" / "selective_repeat".
const char* loss_recovery_name(LossRecoveryMode m);
std::optional<LossRecoveryMode> parse_loss_recovery(std::string_view name);

// PSNs ahead of ePSN a responder may place: the requester window's bound.
inline constexpr uint32_t kSrWindowPackets = kMaxOutstandingPackets;
// A selective-repeat requester keeps at most this many PSNs in flight:
// the expected PSN and every PSN one SACK block can describe after it, so
// a SACK always says how far the responder has seen.
inline constexpr uint32_t kSrMaxWindowPackets = 1 + wire::kMaxSackBits;
// A SACK for every this many out-of-order packets without AckReq.
inline constexpr uint32_t kSackEveryPackets = 16;

// Responder side: the PSNs in (ePSN, ePSN + kSrWindowPackets) that were
// placed, and the highest PSN seen after ePSN. 128 bytes of bitmap per QP.
class SrReceiveWindow {
 public:
  void reset();
  // Whether `psn` (ahead of epsn, inside the window) was placed.
  bool recorded(uint32_t psn) const { return bits_.test(psn % kSrWindowPackets); }
  void record(uint32_t psn) { bits_.set(psn % kSrWindowPackets); }
  // ePSN reached `psn`: true (and forgotten) if it was placed already.
  bool take(uint32_t psn);
  bool any() const { return bits_.any(); }
  // A packet with `psn` (after epsn) arrived, kept or not.
  void saw(uint32_t epsn, uint32_t psn);
  // Some PSN at or after epsn has been seen and epsn has not: a gap.
  bool ahead(uint32_t epsn) const;
  // The SACK block for a responder expecting epsn (wire/sack.h).
  void fill(uint32_t epsn, wire::SackBlock& out) const;

 private:
  std::bitset<kSrWindowPackets> bits_;
  bool seen_ = false;
  uint32_t highest_seen_ = 0;
};

// Requester side: the policy and the retransmit queue. Exists (active())
// while the QP's mode is selective_repeat.
class SrSender {
 public:
  bool active() const { return policy_ != nullptr; }
  // Begin with una and `sent` PSNs already sent from it; stop (go_back_n).
  void start(uint32_t una, uint32_t sent);
  void stop();
  // `count` new PSNs went out after the last one sent.
  void on_sent_new(uint32_t count);
  // The oldest unacknowledged PSN is now una.
  void on_una(uint32_t una);
  // A SACK for `expected`: queue what the policy says; the packets queued.
  uint32_t on_sack(uint32_t expected, const wire::SackBlock& sack);
  // The retransmit timer fired: the queue becomes the policy's plan
  // (empty: nothing the policy knows of is outstanding).
  uint32_t on_timeout();

  // ---- the retransmit queue, PSN ranges in the order to send
  bool has_retransmit() const { return !queue_.empty(); }
  uint32_t queued_packets() const;
  uint32_t front() const { return queue_.front().first; }
  // Take PSNs through `psn` (modulo 2^24, >= front) off the queue.
  void pop_through(uint32_t psn);
  // Forget queued PSNs before `psn`, or at and after it.
  void drop_before(uint32_t psn);
  void drop_from(uint32_t psn);
  void clear_queue() { queue_.clear(); }

 private:
  void enqueue(const cc::RetransmitPlan& plan);

  std::unique_ptr<cc::LossRecovery> policy_;
  std::deque<cc::PsnRange> queue_;
};

}  // namespace flexins::transport
