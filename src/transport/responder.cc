#include "transport/responder.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "pipe/device_caps.h"
#include "pipe/lid.h"
#include "transport/qp_impl.h"
#include "transport/sge_walk.h"

namespace flexins::transport {

using wire::psn_add;
using wire::psn_diff;

const char* Responder::state_name(State s) {
  static constexpr const char* kNames[] = {
      "check-psn",        "uc-check-psn", "duplicate",       "out-of-sequence", "sr-place",
      "sr-drop",          "check-op-sequence", "check-op-allowed", "check-length", "check-resources",
      "check-rkey",       "execute",      "complete",        "acknowledge",     "error",
      "done",
  };
  static_assert(sizeof kNames / sizeof kNames[0] == size_t(State::kCount));
  return size_t(s) < size_t(State::kCount) ? kNames[size_t(s)] : "?";
}

void Responder::reset() {
  epsn_ = msn_ = 0;
  nak_sent_for_gap_ = false;
  in_msg_ = InMessage::kNone;
  have_recv_ = false;
  recv_offset_ = 0;
  write_va_ = 0;
  write_rkey_ = write_len_ = write_offset_ = 0;
  unacked_pkts_ = 0;
  for (ReplayRecord& r : records_) r = ReplayRecord{};
  next_record_ = 0;
  replies_.clear();
  sr_window_.reset();
  sr_peer_ = false;
  sr_ooo_since_sack_ = 0;
  sr_run_bytes_ = 0;
}

void Responder::start(uint32_t rq_psn) {
  reset();
  epsn_ = rq_psn;
}

uint32_t Responder::read_npkts(uint32_t length) const {
  const uint32_t mtu = qp_.mtu();
  return length == 0 ? 1 : (length + mtu - 1) / mtu;
}

void Responder::on_request(const wire::Packet& pkt) {
  Ctx c;
  c.pkt = &pkt;
  c.opcode = pkt.bth.opcode;
  c.flags = wire::opcode_info(c.opcode).flags;
  State s = qp_.is_uc() ? State::kUcCheckPsn : State::kCheckPsn;
  while (s != State::kDone) {
    switch (s) {
      case State::kCheckPsn: s = check_psn(c); break;
      case State::kUcCheckPsn: s = uc_check_psn(c); break;
      case State::kDuplicate: s = duplicate(c); break;
      case State::kOutOfSequence: s = out_of_sequence(c); break;
      case State::kSrPlace: s = sr_place(c); break;
      case State::kSrDrop: s = sr_drop(c); break;
      case State::kCheckOpSequence: s = check_op_sequence(c); break;
      case State::kCheckOpAllowed: s = check_op_allowed(c); break;
      case State::kCheckLength: s = check_length(c); break;
      case State::kCheckResources: s = check_resources(c); break;
      case State::kCheckRkey: s = check_rkey(c); break;
      case State::kExecute: s = execute(c); break;
      case State::kComplete: s = complete(c); break;
      case State::kAcknowledge: s = acknowledge(c); break;
      case State::kError: s = error(c); break;
      default: s = State::kDone; break;
    }
  }
}

// ---------------------------------------------------------------- checks

Responder::State Responder::check_psn(Ctx& c) {
  // IBA 9.7.5.1.1: the expected PSN executes; an earlier one is a duplicate
  // (9.7.5.1.2); a later one means packets were lost (sequence error).
  const int32_t d = psn_diff(c.pkt->bth.psn, epsn_);
  // FlexiNS selective repeat (selective_repeat.h): the SR bit counts on an
  // RDMA WRITE Only, and is acted on only in selective-repeat mode.
  c.marked = c.pkt->bth.sr && c.opcode == wire::kRcWriteOnly;
  const bool sr = c.marked && qp_.selective_repeat();
  if (sr) sr_peer_ = true;
  if (d == 0) {
    c.gap = sr_replies() && sr_window_.ahead(epsn_);
    return State::kCheckOpSequence;
  }
  if (d < 0) return State::kDuplicate;
  if (sr && uint32_t(d) < kSrWindowPackets) return State::kSrPlace;
  return sr_replies() ? State::kSrDrop : State::kOutOfSequence;
}

Responder::State Responder::uc_check_psn(Ctx& c) {
  const int32_t d = psn_diff(c.pkt->bth.psn, epsn_);
  // Just behind the expected PSN: UC never resends, so this is a packet the
  // IP network duplicated or delayed. Taking a late First or Only as a new
  // message would deliver it twice or out of order: drop it.
  if (d < 0 && uint32_t(-d) <= kUcLatePsnWindow) {
    qp_.counters().duplicate_requests.add();
    return State::kDone;
  }
  epsn_ = psn_add(c.pkt->bth.psn, 1);
  const bool starts = c.flags & wire::kOpFirst;
  // IBA 9.8.? (C9-?): any other PSN than the expected one means packets
  // were lost. The message in progress is dropped; so is one whose start
  // was lost.
  if (d != 0 && (in_msg_ == InMessage::kSend || in_msg_ == InMessage::kWrite ||
                 (in_msg_ == InMessage::kNone && !starts)))
    uc_drop_message(true);
  if (in_msg_ == InMessage::kDropping) {
    // Resynchronise on the next First or Only; discard everything else.
    if (starts) {
      in_msg_ = InMessage::kNone;
      return State::kCheckOpSequence;
    }
    qp_.counters().rx_drop_out_of_sequence.add();
    if (c.flags & wire::kOpLast) in_msg_ = InMessage::kNone;
    return State::kDone;
  }
  return State::kCheckOpSequence;
}

Responder::State Responder::out_of_sequence(Ctx& c) {
  qp_.counters().rx_drop_out_of_sequence.add();
  // IBA C9-?: one sequence-error NAK per gap; later packets of the same gap
  // are dropped silently until the expected PSN arrives.
  if (nak_sent_for_gap_) return State::kDone;
  c.error = RespError::kPsnSequence;
  return State::kError;
}

Responder::State Responder::sr_place(Ctx& c) {
  const wire::Packet& p = *c.pkt;
  const uint32_t psn = p.bth.psn;
  sr_window_.saw(epsn_, psn);
  if (sr_window_.recorded(psn)) {
    // Placed already (a resend after a lost SACK): the SACK says so.
    qp_.counters().duplicate_requests.add();
    queue_sack();
    return State::kDone;
  }
  // The checks of an in-order RDMA WRITE Only: the QP's access flags (IBA
  // 10.2.4), exactly one PMTU (an SR packet is never its message's last)
  // which is all of its RETH's length (IBA C9-?: an Only carries its whole
  // message), then R_Key, PD, bounds and access (check_remote, IBA 10.6.3.2).
  // A failure ahead of ePSN is not NAKed: a NAK for this PSN would
  // acknowledge the missing ones before it (IBA 9.7.5.3.2). The packet is
  // dropped; it is resent, and fails in order, by the error table.
  const uint32_t len = p.payload_len;
  uint8_t* dst = nullptr;
  if ((uint32_t(qp_.attrs.attr.qp_access_flags) & IBV_ACCESS_REMOTE_WRITE) && len == qp_.mtu() &&
      p.reth.dma_length == len)
    dst = check_remote(p.reth.rkey, p.reth.va, len, IBV_ACCESS_REMOTE_WRITE);
  if (dst == nullptr) {
    qp_.counters().rx_drop_sr_deferred.add();
  } else {
    std::memcpy(dst, p.payload, len);  // the RX path's one copy, ahead of order
    sr_window_.record(psn);
    qp_.counters().sr_placed_out_of_order.add();
  }
  sack_out_of_order(c);
  return State::kDone;
}

Responder::State Responder::sr_drop(Ctx& c) {
  // Ahead of ePSN and not placeable alone (unmarked, or past the window):
  // dropped, as in go-back-N, and reported by a SACK, which says this PSN
  // was seen but not kept.
  qp_.counters().rx_drop_out_of_sequence.add();
  sr_window_.saw(epsn_, c.pkt->bth.psn);
  sack_out_of_order(c);
  return State::kDone;
}

Responder::State Responder::duplicate(Ctx& c) {
  qp_.counters().duplicate_requests.add();
  const uint32_t psn = c.pkt->bth.psn;
  if (c.flags & wire::kOpAtomic) {
    // IBA 9.7.5.1.2 / C9-?: a retried atomic is answered from the cache,
    // never executed twice.
    ReplayRecord* rec = find_record(psn, true);
    if (rec == nullptr || rec->psn != psn) return State::kDone;  // too old: let it time out
    Reply r;
    r.kind = Reply::Kind::kAtomicAck;
    r.psn = psn;
    r.msn = msn_;
    r.orig = rec->orig;
    push_reply(r);
    return State::kDone;
  }
  if (c.flags & wire::kOpRead) {
    // IBA 9.7.5.1.2: serve the READ again from the PSN asked for.
    ReplayRecord* rec = find_record(psn, false);
    if (rec == nullptr) return State::kDone;
    const uint32_t k = uint32_t(psn_diff(psn, rec->psn));
    for (Reply& q : replies_) {
      if (q.kind == Reply::Kind::kReadResponse && q.psn == rec->psn) {
        if (q.next_pkt > k) {  // still queued: go back to where the requester is
          q.next_pkt = k;
          qp_.counters().read_responses_replayed.add();
        }
        return State::kDone;
      }
    }
    if (replies_.size() >= kMaxQueuedReplies) return State::kDone;
    Reply r;
    r.kind = Reply::Kind::kReadResponse;
    r.psn = rec->psn;
    r.npkts = rec->npkts;
    r.next_pkt = k;
    r.va = rec->va;
    r.rkey = rec->rkey;
    r.length = rec->length;
    r.msn = msn_;
    push_reply(r);
    qp_.counters().read_responses_replayed.add();
    return State::kDone;
  }
  // SEND / WRITE: already placed; ACK again so the requester moves on.
  if (sr_replies()) queue_ack_or_sack();
  else queue_ack(psn_add(epsn_, wire::kPsnMask));
  return State::kDone;
}

Responder::State Responder::check_op_sequence(Ctx& c) {
  // IBA 9.7.5.1.3? (C9-?): First, Middle…, Last of one message, nothing in
  // between; a Middle or Last needs a First, a First/Only ends nothing.
  const bool continues = (c.flags & wire::kOpMiddle) ||
                         ((c.flags & wire::kOpLast) && !(c.flags & wire::kOpFirst));
  // UC (C9-?): a First or Only in the middle of a message begins a new one;
  // the unfinished one is dropped.
  if (qp_.is_uc() && !continues && in_msg_ != InMessage::kNone) uc_drop_message(false);
  bool ok = false;
  switch (in_msg_) {
    case InMessage::kNone: ok = !continues; break;
    case InMessage::kSend: ok = continues && (c.flags & wire::kOpSend); break;
    case InMessage::kWrite: ok = continues && (c.flags & wire::kOpWrite); break;
    case InMessage::kDropping: ok = false; break;  // uc_check_psn ends it first
  }
  if (c.flags & wire::kOpInvalidate) ok = false;  // SEND with Invalidate: not offered
  if (!ok) {
    c.error = RespError::kInvalidRequest;
    return State::kError;
  }
  return State::kCheckOpAllowed;
}

Responder::State Responder::check_op_allowed(Ctx& c) {
  // IBA 10.2.4 / 11.2.4.3: remote operations need the QP's access flags.
  const uint32_t qp_access = uint32_t(qp_.attrs.attr.qp_access_flags);
  uint32_t need = 0;
  if (c.flags & wire::kOpWrite) need = IBV_ACCESS_REMOTE_WRITE;
  if (c.flags & wire::kOpRead) need = IBV_ACCESS_REMOTE_READ;
  if (c.flags & wire::kOpAtomic) need = IBV_ACCESS_REMOTE_ATOMIC;
  if ((qp_access & need) != need) {
    c.error = RespError::kRemoteAccess;
    return State::kError;
  }
  return State::kCheckLength;
}

Responder::State Responder::check_length(Ctx& c) {
  const wire::Packet& p = *c.pkt;
  const uint32_t mtu = qp_.mtu();
  const uint32_t len = p.payload_len;
  const bool first = c.flags & wire::kOpFirst;
  const bool middle = c.flags & wire::kOpMiddle;
  const bool last = c.flags & wire::kOpLast;
  bool ok = true;
  if (c.flags & wire::kOpPayload) {
    // IBA C9-?: First and Middle carry exactly one PMTU, Last 1..PMTU,
    // Only 0..PMTU.
    if (middle || (first && !last)) ok = len == mtu;
    else if (last && !first) ok = len > 0 && len <= mtu;
    else ok = len <= mtu;
    if (c.flags & wire::kOpWrite) {
      if (first) {
        ok = ok && p.reth.dma_length <= pipe::DeviceCaps::kMaxMsgSize && len <= p.reth.dma_length;
        if (last) ok = ok && len == p.reth.dma_length;  // Only: all of it
      } else {
        const uint64_t end = uint64_t(write_offset_) + len;
        ok = ok && end <= write_len_ && (!last || end == write_len_);
      }
    }
  } else if (c.flags & wire::kOpRead) {
    ok = p.reth.dma_length <= pipe::DeviceCaps::kMaxMsgSize;
  }
  if (!ok) {
    c.error = RespError::kInvalidRequest;
    return State::kError;
  }
  return State::kCheckResources;
}

Responder::State Responder::check_resources(Ctx& c) {
  const bool first = c.flags & wire::kOpFirst;
  const bool last = c.flags & wire::kOpLast;
  const bool needs_recv = ((c.flags & wire::kOpSend) && first) ||
                          ((c.flags & wire::kOpWrite) && (c.flags & wire::kOpImm) && last);
  if (needs_recv && !have_recv_) {
    if (!take_recv_wr(qp_.setup, recv_)) {
      c.error = RespError::kRnr;  // IBA 9.7.5.2.8: Receiver Not Ready
      return State::kError;
    }
    have_recv_ = true;
    recv_offset_ = 0;
  }
  return State::kCheckRkey;
}

uint8_t* Responder::check_remote(uint32_t rkey, uint64_t va, uint64_t len, uint32_t access) const {
  // IBA 10.6.3.2 (C10-?): the R_Key names a region of this QP's PD, with
  // the access right, and [va, va+len) lies inside it.
  const MemoryRegion* mr = qp_.env.mr_by_rkey(rkey);
  uint8_t* p = nullptr;
  if (mr != nullptr && mr->pd == qp_.setup.pd && (mr->access & access) == access) p = mr->translate(va, len);
  // The request is refused (and NAKed): count it by its reason.
  if (p == nullptr) qp_.counters().rx_drop_bad_key.add();
  return p;
}

Responder::State Responder::check_rkey(Ctx& c) {
  const wire::Packet& p = *c.pkt;
  bool ok = true;
  if ((c.flags & wire::kOpWrite) && (c.flags & wire::kOpFirst)) {
    // IBA 9.7.5.1.? : a zero-length RDMA does not check the R_Key.
    if (p.reth.dma_length > 0)
      ok = check_remote(p.reth.rkey, p.reth.va, p.reth.dma_length, IBV_ACCESS_REMOTE_WRITE) != nullptr;
    write_va_ = p.reth.va;
    write_rkey_ = p.reth.rkey;
    write_len_ = p.reth.dma_length;
    write_offset_ = 0;
  } else if (c.flags & wire::kOpRead) {
    if (p.reth.dma_length > 0)
      ok = check_remote(p.reth.rkey, p.reth.va, p.reth.dma_length, IBV_ACCESS_REMOTE_READ) != nullptr;
  } else if (c.flags & wire::kOpAtomic) {
    if (p.atomic.va & 7) {  // IBA C9-?: atomics are naturally aligned
      c.error = RespError::kInvalidRequest;
      return State::kError;
    }
    ok = check_remote(p.atomic.rkey, p.atomic.va, 8, IBV_ACCESS_REMOTE_ATOMIC) != nullptr;
  }
  if (!ok) {
    c.error = RespError::kRemoteAccess;
    return State::kError;
  }
  return State::kExecute;
}

// ------------------------------------------------------------- execution

uint64_t Responder::execute_atomic(uint8_t* target, uint8_t opcode, uint64_t swap_add,
                                   uint64_t compare) {
  // The host may touch the same word: use a real atomic when aligned.
  uint64_t orig = 0;
  if ((reinterpret_cast<uintptr_t>(target) & 7) == 0) {
    std::atomic_ref<uint64_t> word(*reinterpret_cast<uint64_t*>(reinterpret_cast<void*>(target)));
    if (opcode == wire::kRcCompareSwap) {
      orig = compare;
      word.compare_exchange_strong(orig, swap_add);
    } else {
      orig = word.fetch_add(swap_add);
    }
    return orig;
  }
  std::memcpy(&orig, target, 8);
  uint64_t next = opcode == wire::kRcCompareSwap ? (orig == compare ? swap_add : orig)
                                                 : orig + swap_add;
  std::memcpy(target, &next, 8);
  return orig;
}

Responder::State Responder::execute(Ctx& c) {
  const wire::Packet& p = *c.pkt;
  const uint32_t len = p.payload_len;
  if (c.flags & wire::kOpSend) {
    // IBA 9.7.5.2.? (C9-?): a message longer than the receive WQE is an
    // invalid request for the requester and a length error for the receiver.
    if (uint64_t(recv_offset_) + len > recv_.length) {
      c.error = RespError::kRecvTooLong;
      return State::kError;
    }
    const uint8_t* src = p.payload;
    ibv_wc_status st = walk_sges(qp_.env, recv_.pd, recv_.sge, recv_.num_sge,
                                 IBV_ACCESS_LOCAL_WRITE, recv_offset_, len,
                                 [&](uint8_t* dst, uint32_t n) {
                                   std::memcpy(dst, src, n);  // the RX path's one copy
                                   src += n;
                                 });
    if (st != IBV_WC_SUCCESS) {
      c.error = RespError::kRecvProtection;
      return State::kError;
    }
    recv_offset_ += len;
  } else if (c.flags & wire::kOpWrite) {
    if (len > 0) {
      // Re-resolved per packet: the region may have been deregistered.
      uint8_t* dst = check_remote(write_rkey_, write_va_ + write_offset_, len,
                                  IBV_ACCESS_REMOTE_WRITE);
      if (dst == nullptr) {
        c.error = RespError::kRemoteAccess;
        return State::kError;
      }
      std::memcpy(dst, p.payload, len);
    }
    write_offset_ += len;
  } else if (c.flags & wire::kOpRead) {
    msn_ = psn_add(msn_, 1);
    ReplayRecord& rec = records_[next_record_++ % kReplayRecords];
    rec = ReplayRecord{true, false, p.bth.psn, read_npkts(p.reth.dma_length), p.reth.va,
                       p.reth.rkey, p.reth.dma_length, 0};
    Reply r;
    r.kind = Reply::Kind::kReadResponse;
    r.psn = rec.psn;
    r.npkts = rec.npkts;
    r.va = rec.va;
    r.rkey = rec.rkey;
    r.length = rec.length;
    r.msn = msn_;
    push_reply(r);
  } else if (c.flags & wire::kOpAtomic) {
    uint8_t* target = check_remote(p.atomic.rkey, p.atomic.va, 8, IBV_ACCESS_REMOTE_ATOMIC);
    const uint64_t orig = execute_atomic(target, c.opcode, p.atomic.swap_add, p.atomic.compare);
    msn_ = psn_add(msn_, 1);
    ReplayRecord& rec = records_[next_record_++ % kReplayRecords];
    rec = ReplayRecord{true, true, p.bth.psn, 1, p.atomic.va, p.atomic.rkey, 8, orig};
    Reply r;
    r.kind = Reply::Kind::kAtomicAck;
    r.psn = p.bth.psn;
    r.msn = msn_;
    r.orig = orig;
    push_reply(r);
  }
  return State::kComplete;
}

Responder::State Responder::complete(Ctx& c) {
  const wire::Packet& p = *c.pkt;
  const bool last = c.flags & wire::kOpLast;
  const bool imm = c.flags & wire::kOpImm;
  if (c.flags & wire::kOpSend) {
    in_msg_ = last ? InMessage::kNone : InMessage::kSend;
    if (last) {
      msn_ = psn_add(msn_, 1);
      have_recv_ = false;
      complete_recv(IBV_WC_SUCCESS, recv_offset_, imm, p.imm_data, false, p.bth.solicited);
    }
  } else if (c.flags & wire::kOpWrite) {
    in_msg_ = last ? InMessage::kNone : InMessage::kWrite;
    if (last) {
      msn_ = psn_add(msn_, 1);
      if (imm) {  // IBA 9.4.1?: WRITE with immediate consumes a receive WQE
        have_recv_ = false;
        // Selective repeat: the message's SR packets came just before this
        // last one (selective_repeat.h).
        const uint64_t bytes = write_len_ + sr_run_bytes_;
        complete_recv(IBV_WC_SUCCESS, uint32_t(std::min<uint64_t>(bytes, UINT32_MAX)), true, p.imm_data,
                      true, p.bth.solicited);
      }
    }
  }
  sr_run_bytes_ = c.marked ? sr_run_bytes_ + p.payload_len : 0;
  epsn_ = (c.flags & wire::kOpRead) ? psn_add(p.bth.psn, read_npkts(p.reth.dma_length))
                                    : psn_add(p.bth.psn, 1);
  nak_sent_for_gap_ = false;
  if (sr_window_.any()) advance_over_placed();
  if (qp_.state == IBV_QPS_ERR) return State::kDone;  // the receive CQ overflowed
  return State::kAcknowledge;
}

Responder::State Responder::acknowledge(Ctx& c) {
  if (qp_.is_uc()) return State::kDone;  // UC: no acknowledgements at all
  if (c.flags & (wire::kOpRead | wire::kOpAtomic)) {
    unacked_pkts_ = 0;  // the response acknowledges (IBA 9.7.5.1.6? implicit)
    // Selective repeat: behind the response, what is still missing.
    if (c.gap && sr_window_.ahead(epsn_)) queue_sack();
    return State::kDone;
  }
  ++unacked_pkts_;
  // Selective repeat: a packet that fills a hole is answered at once, so
  // the requester learns how far ePSN moved and what is still missing.
  if (c.gap) {
    queue_ack_or_sack();
    return State::kDone;
  }
  // Coalesced ACKs: answer an AckReq, or every kAckEveryPackets packets.
  if (c.pkt->bth.ack_req || unacked_pkts_ >= kAckEveryPackets) {
    if (sr_replies()) queue_ack_or_sack();
    else queue_ack(c.pkt->bth.psn);
  }
  return State::kDone;
}

// ------------------------------------------------------ selective repeat

bool Responder::sr_replies() const { return sr_peer_ && qp_.selective_repeat(); }

void Responder::advance_over_placed() {
  // Each SR packet placed ahead is a whole WRITE Only message (IBA
  // 9.7.5.1.5: the MSN counts messages).
  while (sr_window_.take(epsn_)) {
    // After an unfinished message the op sequence is broken: the PSN is
    // forgotten, so it is resent and refused in order (check_op_sequence).
    if (in_msg_ != InMessage::kNone) break;
    msn_ = psn_add(msn_, 1);
    sr_run_bytes_ += qp_.mtu();  // sr_place took only whole PMTUs
    epsn_ = psn_add(epsn_, 1);
  }
}

void Responder::sack_out_of_order(const Ctx& c) {
  // The first packet of a gap (as IBA's one NAK per gap), one carrying
  // AckReq (the requester waits for an answer), and every
  // kSackEveryPackets-th other one.
  ++sr_ooo_since_sack_;
  if (!nak_sent_for_gap_ || c.pkt->bth.ack_req || sr_ooo_since_sack_ >= kSackEveryPackets) queue_sack();
  nak_sent_for_gap_ = true;
}

void Responder::queue_sack() {
  sr_ooo_since_sack_ = 0;
  unacked_pkts_ = 0;
  if (!replies_.empty()) {
    Reply& back = replies_.back();
    // Written when it leaves: a SACK already queued will say this too.
    if (back.kind == Reply::Kind::kSack && !back.sealed) return;
    // A plain ACK at the back: the SACK, for ePSN, acknowledges as much.
    if (back.kind == Reply::Kind::kAck && wire::ack_type(back.syndrome) == wire::AckType::kAck) {
      back.kind = Reply::Kind::kSack;
      return;
    }
  }
  Reply r;
  r.kind = Reply::Kind::kSack;
  push_reply(r);
}

void Responder::queue_ack_or_sack() {
  if (sr_window_.ahead(epsn_)) queue_sack();
  else queue_ack(psn_add(epsn_, wire::kPsnMask));
}

void Responder::seal(Reply& r) const {
  r.sealed = true;
  r.psn = epsn_;
  r.msn = msn_;
  r.sealed_gap = sr_window_.ahead(epsn_);
  if (r.sealed_gap) sr_window_.fill(epsn_, r.sack);
}

void Responder::send_sack(Reply& r) {
  if (!r.sealed) seal(r);
  if (!r.sealed_gap) {
    // Nothing is missing any more: a plain ACK through ePSN - 1.
    Reply ack;
    ack.psn = psn_add(r.psn, wire::kPsnMask);
    ack.syndrome = wire::make_syndrome(wire::AckType::kAck, wire::kCreditInvalid);
    ack.msn = r.msn;
    send_ack(ack);
    return;
  }
  // A NAK, PSN sequence error, for ePSN, with the block (wire/sack.h).
  wire::Packet p;
  p.bth.opcode = wire::kRcAcknowledge;
  p.bth.psn = r.psn;
  p.aeth = wire::Aeth{wire::make_syndrome(wire::AckType::kNak, uint8_t(wire::NakCode::kPsnSequenceError)),
                      r.msn & wire::kPsnMask};
  qp_.begin_packet();
  qp_.send_packet_with_sack(p, r.sack);
  qp_.counters().sacks_sent.add();
  ++qp_.stats.sacks_sent;
}

Responder::State Responder::error(Ctx& c) {
  if (qp_.is_uc()) return uc_error(c);
  const RespErrorInfo& info = resp_error_info(c.error);
  if (info.naks_sent != nullptr) (qp_.counters().*info.naks_sent).add();
  if (c.error == RespError::kPsnSequence) {
    queue_nak(epsn_, wire::make_syndrome(wire::AckType::kNak, uint8_t(info.nak_code)));
    nak_sent_for_gap_ = true;
    return State::kDone;
  }
  if (c.error == RespError::kRnr) {
    queue_nak(c.pkt->bth.psn,
              wire::make_syndrome(wire::AckType::kRnrNak, qp_.attrs.attr.min_rnr_timer));
    // The packets behind it are dropped quietly: the requester resends from
    // this PSN after its RNR wait anyway.
    nak_sent_for_gap_ = true;
    return State::kDone;
  }
  if (info.recv_status != IBV_WC_SUCCESS && have_recv_) {
    have_recv_ = false;
    complete_recv(info.recv_status, 0, false, 0, false, false);
  }
  queue_nak(c.pkt->bth.psn, wire::make_syndrome(info.ack_type, uint8_t(info.nak_code)));
  transmit(UINT32_MAX);  // the NAK leaves before the QP stops sending
  if (info.fatal) qp_.enter_error(true, info.event);
  return State::kDone;
}

Responder::State Responder::uc_error(Ctx& c) {
  const RespErrorInfo& info = resp_error_info(c.error);
  if (info.recv_status != IBV_WC_SUCCESS) {
    // The receive WQE completes in error and the QP fails, as on RC but
    // with no NAK; the completion reports it, so no async event (IBA 11.6.2).
    in_msg_ = InMessage::kNone;
    if (have_recv_) {
      have_recv_ = false;
      complete_recv(info.recv_status, 0, false, 0, false, false);
    }
    qp_.enter_error(false, info.event);
    return State::kDone;
  }
  // IBA 9.9.3? (class D): UC has no NAKs; the request is silently dropped
  // with the rest of its message, and the QP carries on.
  if (info.uc_drops != nullptr) (qp_.counters().*info.uc_drops).add();
  uc_drop_message(!(c.flags & wire::kOpLast));
  return State::kDone;
}

void Responder::uc_drop_message(bool rest_follows) {
  qp_.counters().uc_messages_dropped.add();
  // The receive WQE a dropped SEND was filling is not consumed: the next
  // message is placed in it from its start.
  recv_offset_ = 0;
  in_msg_ = rest_follows ? InMessage::kDropping : InMessage::kNone;
}

// ----------------------------------------------------------------- replies

void Responder::push_reply(const Reply& r) {
  const bool was_idle = replies_.empty();
  // A SACK queued before this reply must say what held before it.
  if (!was_idle && replies_.back().kind == Reply::Kind::kSack && !replies_.back().sealed)
    seal(replies_.back());
  replies_.push_back(r);
  if (was_idle) qp_.env.wake_qp(qp_.setup.qpn);
}

void Responder::queue_ack(uint32_t psn) {
  unacked_pkts_ = 0;
  if (!replies_.empty()) {
    Reply& back = replies_.back();
    // A SACK still to be written acknowledges through ePSN - 1 when it leaves.
    if (back.kind == Reply::Kind::kSack && !back.sealed) return;
    if (back.kind == Reply::Kind::kAck && wire::ack_type(back.syndrome) == wire::AckType::kAck) {
      back.psn = psn;  // coalesce: one ACK covers both
      back.msn = msn_;
      return;
    }
  }
  Reply r;
  r.kind = Reply::Kind::kAck;
  r.psn = psn;
  r.syndrome = wire::make_syndrome(wire::AckType::kAck, wire::kCreditInvalid);
  r.msn = msn_;
  push_reply(r);
}

void Responder::queue_nak(uint32_t psn, uint8_t syndrome) {
  Reply r;
  r.kind = Reply::Kind::kAck;
  r.psn = psn;
  r.syndrome = syndrome;
  r.msn = msn_;
  push_reply(r);
}

void Responder::send_ack(const Reply& r) {
  wire::Packet p;
  p.bth.opcode = wire::kRcAcknowledge;
  p.bth.psn = r.psn;
  p.aeth = wire::Aeth{r.syndrome, r.msn & wire::kPsnMask};
  qp_.begin_packet();
  qp_.send_packet(p, 0);
  if (wire::ack_type(r.syndrome) == wire::AckType::kAck) qp_.counters().acks_sent.add();
}

bool Responder::send_read_response(Reply& r) {
  using namespace wire;
  const uint32_t mtu = qp_.mtu();
  const uint32_t k = r.next_pkt;
  const uint64_t offset = uint64_t(k) * mtu;
  const uint32_t len = uint32_t(r.length - offset < mtu ? r.length - offset : mtu);
  Packet p;
  p.bth.opcode = r.npkts == 1        ? kRcReadResponseOnly
                 : k == 0            ? kRcReadResponseFirst
                 : k + 1 == r.npkts  ? kRcReadResponseLast
                                     : kRcReadResponseMiddle;
  p.bth.psn = psn_add(r.psn, k);
  // AETH on First, Last and Only (IBA 9.3.5 / table 38); build() skips it on Middle.
  p.aeth = Aeth{make_syndrome(AckType::kAck, kCreditInvalid), r.msn & kPsnMask};
  qp_.begin_packet();
  if (len > 0) {
    // Header-only TX: the payload is a slice of the region itself.
    const uint8_t* src = check_remote(r.rkey, r.va + offset, len, IBV_ACCESS_REMOTE_READ);
    if (src == nullptr) return false;
    qp_.add_payload(src, len);
  }
  qp_.send_packet(p, len);
  ++r.next_pkt;
  return true;
}

void Responder::send_atomic_ack(const Reply& r) {
  wire::Packet p;
  p.bth.opcode = wire::kRcAtomicAcknowledge;
  p.bth.psn = r.psn;
  p.aeth = wire::Aeth{wire::make_syndrome(wire::AckType::kAck, wire::kCreditInvalid),
                      r.msn & wire::kPsnMask};
  p.atomic_ack.orig = r.orig;
  qp_.begin_packet();
  qp_.send_packet(p, 0);
  qp_.counters().acks_sent.add();
}

uint32_t Responder::transmit(uint32_t budget) {
  uint32_t sent = 0;
  while (sent < budget && !replies_.empty()) {
    Reply& r = replies_.front();
    switch (r.kind) {
      case Reply::Kind::kAck:
        send_ack(r);
        replies_.pop_front();
        break;
      case Reply::Kind::kAtomicAck:
        send_atomic_ack(r);
        replies_.pop_front();
        break;
      case Reply::Kind::kSack:
        send_sack(r);
        replies_.pop_front();
        break;
      case Reply::Kind::kReadResponse:
        if (!send_read_response(r)) {
          // The region was deregistered while the READ was being served.
          const uint32_t psn = psn_add(r.psn, r.next_pkt);
          replies_.clear();
          qp_.counters().naks_sent_remote_access.add();
          Reply nak;
          nak.psn = psn;
          nak.syndrome = wire::make_syndrome(wire::AckType::kNak,
                                             uint8_t(wire::NakCode::kRemoteAccessError));
          nak.msn = msn_;
          send_ack(nak);
          qp_.enter_error(true, IBV_EVENT_QP_ACCESS_ERR);
          return sent + 1;
        }
        if (r.next_pkt >= r.npkts) replies_.pop_front();
        break;
    }
    ++sent;
  }
  return sent;
}

void Responder::complete_recv(ibv_wc_status status, uint32_t byte_len, bool with_imm, uint32_t imm,
                              bool rdma_imm, bool solicited) {
  pipe::Cqe c{};
  c.wr_id = recv_.wr_id;
  c.status = status;
  c.opcode = rdma_imm ? IBV_WC_RECV_RDMA_WITH_IMM : IBV_WC_RECV;
  c.byte_len = byte_len;
  c.imm_data = with_imm ? imm : 0;
  c.qp_num = qp_.setup.qpn;
  c.src_qp = qp_.attrs.attr.dest_qp_num;
  c.slid = pipe::peer_lid(qp_.setup.local_ip, qp_.attrs.dest_ip);  // the peer's LID (pipe/lid.h)
  c.wc_flags = with_imm ? IBV_WC_WITH_IMM : 0;
  c.solicited = solicited ? 1 : 0;
  qp_.push_cqe(qp_.setup.recv_cq, c);
}

void Responder::flush_current_recv() {
  replies_.clear();
  in_msg_ = InMessage::kNone;
  if (!have_recv_) return;
  have_recv_ = false;
  complete_recv(IBV_WC_WR_FLUSH_ERR, 0, false, 0, false, false);
}

Responder::ReplayRecord* Responder::find_record(uint32_t psn, bool atomic) {
  for (ReplayRecord& r : records_) {
    if (!r.valid || r.atomic != atomic) continue;
    const int32_t d = psn_diff(psn, r.psn);
    if (d >= 0 && uint32_t(d) < r.npkts) return &r;
  }
  return nullptr;
}

}  // namespace flexins::transport
