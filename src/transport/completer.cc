#include "transport/completer.h"

#include <cstring>

#include "transport/constants.h"
#include "transport/error_table.h"
#include "transport/qp_impl.h"
#include "transport/sge_walk.h"

namespace flexins::transport {

using wire::psn_add;
using wire::psn_diff;

const char* Completer::state_name(State s) {
  static constexpr const char* kNames[] = {
      "check-psn", "implicit-ack", "dispatch", "ack",   "read-response", "atomic-ack",
      "rnr-nak",   "sequence-nak", "sack",      "fatal-nak", "retry", "ghost", "done",
  };
  static_assert(sizeof kNames / sizeof kNames[0] == size_t(State::kCount));
  return size_t(s) < size_t(State::kCount) ? kNames[size_t(s)] : "?";
}

void Completer::reset() {
  una_ = 0;
  retry_left_ = rnr_retry_left_ = 0;
  timer_armed_ = false;
  timer_start_ns_ = 0;
  rnr_wait_ = false;
  rnr_deadline_ns_ = 0;
  rnr_psn_ = 0;
  rewound_ = false;
  rewound_psn_ = retry_psn_ = 0;
  in_episode_ = false;
  recovery_psn_ = 0;
}

void Completer::start(uint32_t sq_psn) {
  reset();
  una_ = sq_psn;
  retry_left_ = qp_.attrs.attr.retry_cnt;
  rnr_retry_left_ = qp_.attrs.attr.rnr_retry;
}

uint64_t Completer::timeout_ns() const {
  uint64_t t = retransmit_timeout_ns(qp_.attrs.attr.timeout);
  return t != 0 ? t : kInfiniteTimeoutProbeNs;
}

bool Completer::in_flight() const {
  return qp_.requester.sent_any() && psn_diff(qp_.requester.max_sent_psn(), una_) >= 0;
}

void Completer::on_sent(uint64_t now_ns) {
  if (!timer_armed_) {
    timer_armed_ = true;
    timer_start_ns_ = now_ns;
  }
}

uint64_t Completer::deadline() const {
  if (rnr_wait_) return rnr_deadline_ns_;
  if (timer_armed_ && in_flight()) return timer_start_ns_ + timeout_ns();
  return UINT64_MAX;
}

void Completer::progress(uint64_t now_ns) {
  // IBA 9.7.6.1.3 / 9.7.5.2.8: forward progress restarts both retry counts.
  retry_left_ = qp_.attrs.attr.retry_cnt;
  rnr_retry_left_ = qp_.attrs.attr.rnr_retry;
  rewound_ = false;
  // The timer times what is in flight; with nothing in flight (the rest of
  // a message held back by the window or the pacer) it waits for the next
  // packet to be sent.
  timer_start_ns_ = now_ns;
  timer_armed_ = in_flight();
}

void Completer::advance_una(uint32_t acked_through_psn, uint64_t now_ns) {
  uint32_t candidate = psn_add(acked_through_psn, 1);
  if (qp_.sq.awaiting_response()) {
    const SendWr& w = qp_.sq.at(qp_.sq.head);
    if (w.needs_response()) {
      // An ACK never stands in for READ data: una stays at the first
      // response packet still missing.
      uint32_t resume = psn_add(w.first_psn, w.resp_pkts);
      if (psn_diff(candidate, resume) > 0) candidate = resume;
    }
  }
  if (psn_diff(candidate, una_) > 0) {
    una_ = candidate;
    qp_.sr.on_una(una_);
    progress(now_ns);
  }
}

void Completer::complete_head_ok() { qp_.complete_send_head(IBV_WC_SUCCESS); }

void Completer::fail_head(ibv_wc_status status) {
  if (qp_.sq.head != qp_.sq.fetched) qp_.complete_send_head(status);
  // Errors reported through a completion raise no async event (IBA 11.6.2).
  qp_.enter_error(false, IBV_EVENT_QP_FATAL);
}

void Completer::complete_ready() {
  SendQueue& sq = qp_.sq;
  while (qp_.state == IBV_QPS_RTS && sq.head != sq.fetched && sq.head == sq.started) {
    const SendWr& w = sq.at(sq.head);
    if (w.bad_status == IBV_WC_SUCCESS) break;
    fail_head(w.bad_status);  // IBA 10.8.3: after every earlier WQE, in order
  }
}

void Completer::on_response(const wire::Packet& pkt, uint64_t now_ns) {
  Ctx c{&pkt, pkt.bth.psn, now_ns};
  const uint32_t una_before = una_;
  State s = State::kCheckPsn;
  while (s != State::kDone) {
    if (qp_.state != IBV_QPS_RTS) break;  // a completion failed the QP
    switch (s) {
      case State::kCheckPsn: s = check_psn(c); break;
      case State::kImplicitAck: s = implicit_ack(c); break;
      case State::kDispatch: s = dispatch(c); break;
      case State::kAck: s = on_ack(c); break;
      case State::kReadResponse: s = on_read_response(c); break;
      case State::kAtomicAck: s = on_atomic_ack(c); break;
      case State::kRnrNak: s = on_rnr_nak(c); break;
      case State::kSequenceNak: s = on_sequence_nak(c); break;
      case State::kSack: s = on_sack(c); break;
      case State::kFatalNak: s = on_fatal_nak(c); break;
      case State::kRetry: s = retry(c); break;
      case State::kGhost:
        qp_.counters().rx_drop_ghost_response.add();
        s = State::kDone;
        break;
      default: s = State::kDone; break;
    }
  }
  // One response is one acknowledgement for congestion control, whether it
  // moved una implicitly, explicitly or both (one RTT sample, not two).
  const int32_t acked = psn_diff(una_, una_before);
  if (qp_.state == IBV_QPS_RTS && acked > 0)
    qp_.cc.on_acked(now_ns, psn_add(una_, wire::kPsnMask), uint32_t(acked), qp_.mtu());
  complete_ready();
  if (qp_.requester.can_send()) qp_.env.wake_qp(qp_.setup.qpn);
}

Completer::State Completer::check_psn(Ctx& c) {
  // IBA 9.7.5.3.1: a response must be for a PSN in flight, [una, last sent].
  if (!qp_.sq.awaiting_response() || !qp_.requester.sent_any()) return State::kGhost;
  if (psn_diff(c.psn, una_) < 0) return State::kGhost;  // old duplicate
  if (psn_diff(c.psn, qp_.requester.max_sent_psn()) > 0) return State::kGhost;
  return State::kImplicitAck;
}

Completer::State Completer::implicit_ack(Ctx& c) {
  // IBA 9.7.5.3.2: any response for PSN p also acknowledges every request
  // before p. A READ/atomic wholly before p whose response never came had
  // its response lost: resend it (C9-? "implied NAK").
  SendQueue& sq = qp_.sq;
  bool lost = false;
  while (sq.awaiting_response()) {
    SendWr& w = sq.at(sq.head);
    if (psn_diff(w.last_psn(), c.psn) >= 0) break;
    if (w.needs_response()) {
      lost = true;
      retry_psn_ = psn_add(w.first_psn, w.resp_pkts);
      break;
    }
    complete_head_ok();
    if (qp_.state != IBV_QPS_RTS) return State::kDone;
  }
  advance_una(psn_add(c.psn, wire::kPsnMask), c.now_ns);  // through p - 1
  return lost ? State::kRetry : State::kDispatch;
}

Completer::State Completer::dispatch(Ctx& c) {
  using namespace wire;
  switch (c.pkt->bth.opcode) {
    case kRcAcknowledge:
      switch (ack_type(c.pkt->aeth.syndrome)) {
        case AckType::kAck: return State::kAck;
        case AckType::kRnrNak: return State::kRnrNak;
        case AckType::kNak:
          if (NakCode(syndrome_value(c.pkt->aeth.syndrome)) != NakCode::kPsnSequenceError)
            return State::kFatalNak;
          // A SACK (selective_repeat.h) is a sequence NAK with a block. In
          // go-back-N mode, or if the block is malformed, it is a NAK.
          if (qp_.sr.active() && c.pkt->bth.sr && c.pkt->payload_len > 0 &&
              parse_sack({c.pkt->payload, c.pkt->payload_len}, sack_))
            return State::kSack;
          return State::kSequenceNak;
        default: return State::kGhost;  // reserved syndrome (IBA table 44)
      }
    case kRcReadResponseFirst:
    case kRcReadResponseMiddle:
    case kRcReadResponseLast:
    case kRcReadResponseOnly: return State::kReadResponse;
    case kRcAtomicAcknowledge: return State::kAtomicAck;
    default: return State::kGhost;
  }
}

Completer::State Completer::on_ack(Ctx& c) {
  qp_.counters().acks_received.add();
  SendQueue& sq = qp_.sq;
  bool lost = false;
  while (sq.awaiting_response()) {
    SendWr& w = sq.at(sq.head);
    if (w.needs_response()) {
      // An ACK past a READ/atomic means its response was lost on the way.
      if (psn_diff(c.psn, w.first_psn) >= 0) {
        lost = true;
        retry_psn_ = psn_add(w.first_psn, w.resp_pkts);
      }
      break;
    }
    if (psn_diff(w.last_psn(), c.psn) > 0) break;
    complete_head_ok();
    if (qp_.state != IBV_QPS_RTS) return State::kDone;
  }
  advance_una(c.psn, c.now_ns);
  return lost ? State::kRetry : State::kDone;
}

Completer::State Completer::on_read_response(Ctx& c) {
  using namespace wire;
  SendQueue& sq = qp_.sq;
  if (!sq.awaiting_response()) return State::kGhost;
  SendWr& w = sq.at(sq.head);
  if (!w.is_read() || !w.contains_psn(c.psn)) return State::kGhost;
  const uint32_t expected = psn_add(w.first_psn, w.resp_pkts);
  const int32_t d = psn_diff(c.psn, expected);
  if (d < 0) return State::kGhost;  // already placed
  if (d > 0) {                      // an earlier response packet was lost
    retry_psn_ = expected;
    return State::kRetry;
  }
  // IBA 9.7.5.3.3? the responses of one READ are First, Middle…, Last (or Only).
  const uint32_t k = w.resp_pkts;
  const uint32_t mtu = qp_.mtu();
  const uint8_t want = w.npkts == 1   ? kRcReadResponseOnly
                       : k == 0       ? kRcReadResponseFirst
                       : k + 1 == w.npkts ? kRcReadResponseLast
                                      : kRcReadResponseMiddle;
  const uint64_t offset = uint64_t(k) * mtu;
  const uint32_t want_len = uint32_t(w.length - offset < mtu ? w.length - offset : mtu);
  if (c.pkt->bth.opcode != want || c.pkt->payload_len != want_len) {
    qp_.counters().rx_drop_malformed.add();
    return State::kDone;  // the retransmit timer asks again
  }
  const uint8_t* src = c.pkt->payload;
  ibv_wc_status st = walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, IBV_ACCESS_LOCAL_WRITE,
                               offset, want_len, [&](uint8_t* dst, uint32_t n) {
                                 std::memcpy(dst, src, n);
                                 src += n;
                               });
  if (st != IBV_WC_SUCCESS) {
    fail_head(IBV_WC_LOC_PROT_ERR);  // the local MR went away under the READ
    return State::kDone;
  }
  ++w.resp_pkts;
  if (w.resp_pkts == w.npkts) {
    complete_head_ok();
    if (qp_.state != IBV_QPS_RTS) return State::kDone;
  }
  advance_una(c.psn, c.now_ns);
  return State::kDone;
}

Completer::State Completer::on_atomic_ack(Ctx& c) {
  SendQueue& sq = qp_.sq;
  if (!sq.awaiting_response()) return State::kGhost;
  SendWr& w = sq.at(sq.head);
  if (!w.is_atomic() || w.first_psn != c.psn || w.resp_pkts != 0) return State::kGhost;
  const uint64_t orig = c.pkt->atomic_ack.orig;  // host order, as verbs return it
  const uint8_t* src = reinterpret_cast<const uint8_t*>(&orig);
  ibv_wc_status st = walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, IBV_ACCESS_LOCAL_WRITE, 0,
                               8, [&](uint8_t* dst, uint32_t n) {
                                 std::memcpy(dst, src, n);
                                 src += n;
                               });
  if (st != IBV_WC_SUCCESS) {
    fail_head(IBV_WC_LOC_PROT_ERR);
    return State::kDone;
  }
  w.resp_pkts = 1;
  complete_head_ok();
  if (qp_.state != IBV_QPS_RTS) return State::kDone;
  advance_una(c.psn, c.now_ns);
  return State::kDone;
}

Completer::State Completer::on_rnr_nak(Ctx& c) {
  qp_.counters().naks_received_rnr.add();
  if (rnr_wait_ && rnr_psn_ == c.psn) return State::kDone;  // a duplicate of the same NAK
  // IBA 9.7.5.2.8: rnr_retry 7 means retry forever.
  if (qp_.attrs.attr.rnr_retry != 7) {
    if (rnr_retry_left_ == 0) {
      fail_head(IBV_WC_RNR_RETRY_EXC_ERR);
      return State::kDone;
    }
    --rnr_retry_left_;
  }
  rnr_wait_ = true;
  rnr_psn_ = c.psn;
  rnr_deadline_ns_ = c.now_ns + rnr_timer_ns(wire::syndrome_value(c.pkt->aeth.syndrome));
  qp_.env.wake_qp(qp_.setup.qpn);  // the deadline changed
  return State::kDone;
}

Completer::State Completer::on_sequence_nak(Ctx& c) {
  qp_.counters().naks_received_psn_sequence.add();
  ++qp_.stats.naks_received_psn_sequence;
  qp_.cc.on_loss(c.now_ns);
  retry_psn_ = c.psn;  // IBA 9.7.5.2.1: resend from the PSN the responder expects
  return State::kRetry;
}

Completer::State Completer::on_sack(Ctx& c) {
  qp_.counters().sacks_received.add();
  ++qp_.stats.sacks_received;
  // implicit_ack() acknowledged everything before the SACK's PSN; if a
  // READ or atomic there still lacked its response, it went to kRetry.
  // During an RNR wait nothing is sent, and the wait ends going back to
  // the NAKed PSN anyway.
  if (rnr_wait_ || una_ != c.psn) return State::kDone;
  if (!in_episode_ || psn_diff(una_, recovery_psn_) > 0) {
    in_episode_ = true;
    recovery_psn_ = qp_.requester.max_sent_psn();
    qp_.cc.on_loss(c.now_ns);
  }
  // No retry_cnt is used up: the responder is making progress.
  qp_.sr.on_sack(c.psn, sack_);
  return State::kDone;
}

Completer::State Completer::on_fatal_nak(Ctx& c) {
  const NakInfo& info = nak_info(wire::NakCode(wire::syndrome_value(c.pkt->aeth.syndrome)));
  (qp_.counters().*info.naks_received).add();
  fail_head(info.status);  // IBA 9.7.5.2.2–4: the WQE fails, the QP too
  return State::kDone;
}

Completer::State Completer::retry(Ctx&) {
  if (rewound_ && rewound_psn_ == retry_psn_) return State::kDone;  // already going back there
  // IBA C9-?: a sequence NAK or lost response uses up the retry count.
  if (retry_left_ == 0) {
    fail_head(IBV_WC_RETRY_EXC_ERR);
    return State::kDone;
  }
  --retry_left_;
  rewound_ = true;
  rewound_psn_ = retry_psn_;
  qp_.requester.rewind(retry_psn_);
  timer_armed_ = false;  // restarted when the first packet is sent again
  return State::kDone;
}

void Completer::on_timer(uint64_t now_ns) {
  if (rnr_wait_) {
    if (now_ns < rnr_deadline_ns_) return;
    rnr_wait_ = false;
    rewound_ = true;
    rewound_psn_ = rnr_psn_;
    qp_.requester.rewind(rnr_psn_);
    timer_armed_ = false;  // restarted when the request is sent again
    return;
  }
  if (!timer_armed_ || !in_flight()) return;
  if (now_ns < timer_start_ns_ + timeout_ns()) return;
  // IBA 9.7.6.1.3: local ACK timeout. Go back to the oldest unacknowledged
  // PSN; give up when retry_cnt is used up (timeout 0: never).
  qp_.counters().retransmit_timeouts.add();
  ++qp_.stats.retransmit_timeouts;
  qp_.cc.on_timeout(now_ns);
  if (qp_.attrs.attr.timeout != 0) {
    if (retry_left_ == 0) {
      fail_head(IBV_WC_RETRY_EXC_ERR);
      return;
    }
    --retry_left_;
  }
  // Restarted when the first packet is sent again: a pacer that holds the
  // resend longer than the timeout must not use up retry_cnt meanwhile.
  timer_armed_ = false;
  // Selective repeat: resend every PSN from una not known to have arrived.
  if (qp_.sr.active() && qp_.sr.on_timeout() > 0) return;
  rewound_ = true;
  rewound_psn_ = una_;
  qp_.requester.rewind(una_);
}

}  // namespace flexins::transport
