#include "transport/requester.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "transport/constants.h"
#include "transport/qp_impl.h"
#include "transport/sge_walk.h"

namespace flexins::transport {

using wire::psn_add;
using wire::psn_diff;

namespace {

// The operations each connected service offers (IBA 9.4 / C10-?): RC all
// of these; UC SEND and RDMA WRITE only, with or without immediate (no
// responses exist on UC, so no READ and no atomics).
bool offered_opcode(ibv_qp_type type, uint8_t op) {
  switch (op) {
    case IBV_WR_SEND:
    case IBV_WR_SEND_WITH_IMM:
    case IBV_WR_RDMA_WRITE:
    case IBV_WR_RDMA_WRITE_WITH_IMM: return type == IBV_QPT_RC || type == IBV_QPT_UC;
    case IBV_WR_RDMA_READ:
    case IBV_WR_ATOMIC_CMP_AND_SWP:
    case IBV_WR_ATOMIC_FETCH_AND_ADD: return type == IBV_QPT_RC;
    default: return false;  // SEND_WITH_INV, LOCAL_INV, BIND_MW, TSO, …: not offered
  }
}

// How many packets the QP needs outstanding to send the packet at psn and
// the rest of its message (capped at its own window: a longer message
// reserves a window at a time).
uint32_t packets_needed(int32_t own, uint32_t msg_end, uint32_t una, uint32_t window) {
  const int32_t to_end = psn_diff(msg_end, una);
  return std::min(uint32_t(std::max(to_end, own + 1)), window);
}

}  // namespace

void Requester::reset() {
  send_index_ = qp_.sq.head;
  cur_psn_ = next_psn_ = max_sent_psn_ = 0;
  sent_any_ = false;
  rd_atomic_outstanding_ = 0;
  pkts_since_ack_req_ = 0;
  reserved_ = false;
}

void Requester::start(uint32_t sq_psn) {
  reset();
  send_index_ = qp_.sq.started;
  cur_psn_ = next_psn_ = sq_psn;
  max_sent_psn_ = psn_add(sq_psn, wire::kPsnMask);  // sq_psn - 1: nothing sent
}

ibv_wc_status Requester::copy_in(SendWr& w, const uint8_t* slot, uint32_t slot_size) const {
  pipe::SendWqe wqe;
  std::memcpy(&wqe, slot, sizeof wqe);
  w.wr_id = wqe.wr_id;
  w.opcode = ibv_wr_opcode(wqe.opcode);
  w.send_flags = wqe.send_flags;
  w.imm_data = wqe.imm_data;
  w.remote_addr = wqe.remote_addr;
  w.rkey = wqe.rkey;
  w.compare_add = wqe.compare_add;
  w.swap = wqe.swap;
  w.num_sge = 0;
  w.length = 0;
  w.is_inline = false;
  w.started = false;
  w.sr = false;
  w.first_psn = w.npkts = w.resp_pkts = 0;

  // IBA 10.8.3 / C10-?: only the operations the QP's service offers.
  if (!offered_opcode(qp_.setup.type, wqe.opcode)) return IBV_WC_LOC_QP_OP_ERR;
  // Inline data is only for operations that send from local memory.
  if ((w.send_flags & IBV_SEND_INLINE) && (w.is_read() || w.is_atomic())) return IBV_WC_LOC_QP_OP_ERR;
  return copy_send_payload(wqe, slot, slot_size, qp_.setup.cap, w);
}

ibv_wc_status Requester::validate(const SendWr& w) const {
  if (w.is_atomic() && w.length != 8) return IBV_WC_LOC_LEN_ERR;  // IBA 9.4.5: 64-bit
  if (w.is_inline) return IBV_WC_SUCCESS;
  // READ and atomic results are written into local memory: IBA 10.6.3.1
  // requires Local Write on those L_Keys.
  uint32_t need = w.needs_response() ? IBV_ACCESS_LOCAL_WRITE : 0;
  return walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, need, 0, w.length,
                   [](uint8_t*, uint32_t) {});
}

void Requester::fetch() {
  pipe::WqConsumer& ring = qp_.setup.sq;
  if (!ring.valid()) return;
  while (ring.pending() > 0) {
    SendWr& w = qp_.sq.at(qp_.sq.fetched);
    const uint8_t* slot = ring.fetch();
    ibv_wc_status st = copy_in(w, slot, ring.slot_size());
    if (st == IBV_WC_SUCCESS) st = validate(w);
    w.bad_status = st;
    ++qp_.sq.fetched;
  }
}

bool Requester::can_send() const {
  if (qp_.state != IBV_QPS_RTS || qp_.completer.rnr_waiting()) return false;
  // Selective repeat: PSNs to resend go first. They are in flight already,
  // so neither the window nor a new WQE's conditions hold them back.
  if (qp_.sr.has_retransmit()) return true;
  if (send_index_ == qp_.sq.fetched) return false;
  const SendWr& w = qp_.sq.at(send_index_);
  if (!w.started) {
    if (w.bad_status != IBV_WC_SUCCESS) return false;  // the completer fails it at the head
    uint32_t depth = qp_.attrs.attr.max_rd_atomic;
    if (depth == 0) depth = 1;  // 0 would block READs forever; treat as 1
    if (w.needs_response() && rd_atomic_outstanding_ >= depth) return false;
    // IBV_SEND_FENCE: wait for earlier READs/atomics (IBA 10.8.3.3).
    if ((w.send_flags & IBV_SEND_FENCE) && rd_atomic_outstanding_ > 0) return false;
  }
  if (qp_.is_uc()) return true;  // nothing is acknowledged: no window
  return window_allows(cur_psn_, message_end());
}

uint32_t Requester::message_end() const {
  const SendWr& w = qp_.sq.at(send_index_);
  if (w.started) return psn_add(w.first_psn, w.npkts);
  return psn_add(next_psn_, w.packets_at(qp_.mtu()));
}

uint32_t Requester::claim_end() const {
  uint32_t end = psn_add(qp_.completer.una(), qp_.inflight_packets());
  if (reserved_ && psn_diff(reserved_end_, end) > 0) end = reserved_end_;
  return end;
}

uint32_t Requester::pool_claim() const {
  if (qp_.state != IBV_QPS_RTS) return 0;
  return uint32_t(psn_diff(claim_end(), qp_.completer.una()));
}

bool Requester::window_allows(uint32_t psn, uint32_t msg_end) const {
  const uint32_t una = qp_.completer.una();
  const int32_t own = psn_diff(psn, una);
  if (own < 0) return true;
  if (own >= int32_t(window_packets())) return false;
  const WindowPool* pool = qp_.env.tx_window_pool();
  if (pool == nullptr || psn_diff(psn, claim_end()) < 0) return true;  // counted already
  if (!pool->lend) return uint32_t(own) < pool->fair_share();  // a fixed share, in pieces
  // The rest of the message goes whole or waits: a QP held back in the
  // middle of one would wait with packets nobody was asked to acknowledge,
  // and its retransmit timer would run out.
  const uint32_t need = packets_needed(own, msg_end, una, window_packets());
  return need <= pool->fair_share() || pool->may_reserve(need, qp_.window_claim);
}

bool Requester::take_window(uint32_t psn, uint32_t msg_end) {
  if (!window_allows(psn, msg_end)) return false;
  const WindowPool* pool = qp_.env.tx_window_pool();
  if (pool == nullptr || !pool->lend || psn_diff(psn, claim_end()) < 0) return true;
  // Every message reserves the rest of itself, within the fair share too:
  // should the share shrink under it (QPs created meanwhile), it still
  // finishes, and never waits halfway with nobody asked to acknowledge.
  const uint32_t una = qp_.completer.una();
  reserved_ = true;
  reserved_end_ = psn_add(una, packets_needed(psn_diff(psn, una), msg_end, una, window_packets()));
  return true;
}

bool Requester::waits_for_pool() const {
  if (qp_.state != IBV_QPS_RTS || qp_.is_uc() || send_index_ == qp_.sq.fetched) return false;
  const int32_t own = psn_diff(cur_psn_, qp_.completer.una());
  return own >= 0 && own < int32_t(window_packets()) && !window_allows(cur_psn_, message_end());
}

uint32_t Requester::window_packets() const {
  const uint32_t w = std::min(kMaxOutstandingPackets, qp_.cc.window_packets(qp_.mtu()));
  // Selective repeat: no more in flight than one SACK can describe.
  return qp_.sr.active() ? std::min(w, kSrMaxWindowPackets) : w;
}

uint32_t Requester::transmit(uint32_t budget, uint64_t now_ns) {
  if (!qp_.is_uc()) skip_acknowledged();
  // A reservation the ACKs have passed is spent (and must not come back
  // into view when the 24-bit PSNs wrap).
  if (reserved_ && psn_diff(qp_.completer.una(), reserved_end_) >= 0) reserved_ = false;
  uint32_t sent = 0;
  while (sent < budget && can_send() && qp_.cc.next_send_ns(now_ns) <= now_ns) {
    if (!(qp_.sr.has_retransmit() && send_retransmit(now_ns))) {
      if (!can_send()) break;  // the queue held only PSNs no longer in flight
      send_one(qp_.sq.at(send_index_), now_ns);
    }
    ++sent;
  }
  if (qp_.is_uc() && sent > 0) complete_sent_uc();
  return sent;
}

void Requester::complete_sent_uc() {
  // The payload iovecs point into the host's buffers: they must be on the
  // wire before a completion tells the host it may reuse them.
  qp_.env.flush();
  // IBA 9.8?: a UC send WQE is complete once its last packet has left.
  while (qp_.state == IBV_QPS_RTS && qp_.sq.head != send_index_)
    qp_.complete_send_head(IBV_WC_SUCCESS);
  // A WQE that failed validation may now be at the head (in order, IBA 10.8.3).
  qp_.completer.complete_ready();
}

void Requester::start_wqe(SendWr& w) {
  w.started = true;
  w.first_psn = next_psn_;
  w.npkts = w.packets_at(qp_.mtu());
  w.resp_pkts = 0;
  // Selective repeat marks the packets of a multi-packet RDMA WRITE; the
  // mode is latched here, so a change at run time never splits a WQE.
  w.sr = qp_.selective_repeat() && !qp_.is_uc() && w.npkts > 1 &&
         (w.opcode == IBV_WR_RDMA_WRITE || w.opcode == IBV_WR_RDMA_WRITE_WITH_IMM);
  next_psn_ = psn_add(w.first_psn, w.npkts);
  qp_.sq.started = send_index_ + 1;
  if (w.needs_response()) ++rd_atomic_outstanding_;
}

void Requester::send_one(SendWr& w, uint64_t now_ns) {
  if (!w.started) start_wqe(w);
  const uint32_t psn = cur_psn_;
  if (!qp_.is_uc()) take_window(psn, psn_add(w.first_psn, w.npkts));  // can_send() said it may
  const bool retransmission = sent_any_ && psn_diff(psn, max_sent_psn_) <= 0;
  uint32_t last_used = psn;
  if (w.is_read()) {
    last_used = w.last_psn();
    send_read_request(w, psn);
  } else if (w.is_atomic()) {
    send_atomic(w, psn);
  } else {
    send_send_or_write(w, psn, now_ns, false, false);
  }
  if (qp_.state != IBV_QPS_RTS) return;  // the MR vanished under a WQE
  cur_psn_ = psn_add(last_used, 1);
  if (cur_psn_ == psn_add(w.first_psn, w.npkts)) ++send_index_;  // its last packet
  if (!sent_any_ || psn_diff(last_used, max_sent_psn_) > 0) {
    // start() set max_sent_psn_ to sq_psn - 1: the distance counts new PSNs.
    qp_.sr.on_sent_new(uint32_t(psn_diff(last_used, max_sent_psn_)));
    max_sent_psn_ = last_used;
  }
  sent_any_ = true;
  if (retransmission) {
    qp_.counters().retransmitted_packets.add();
    ++qp_.stats.retransmitted_packets;
  }
  qp_.cc.on_sent(now_ns, qp_.out_wire_bytes(), psn, retransmission, last_ack_req_);
  if (!qp_.is_uc()) qp_.completer.on_sent(now_ns);  // UC: no ACK to wait for
}

SendWr* Requester::started_wqe(uint32_t psn) {
  SendQueue& sq = qp_.sq;
  // Resends come in PSN order, mostly: start where the last one was found.
  uint32_t i = sq.head;
  if (wqe_hint_ - sq.head < sq.started - sq.head && psn_diff(psn, sq.at(wqe_hint_).first_psn) >= 0)
    i = wqe_hint_;
  for (; i != sq.started; ++i) {
    if (sq.at(i).contains_psn(psn)) {
      wqe_hint_ = i;
      return &sq.at(i);
    }
  }
  return nullptr;
}

bool Requester::send_retransmit(uint64_t now_ns) {
  SrSender& sr = qp_.sr;
  while (sr.has_retransmit()) {
    const uint32_t psn = sr.front();
    // Only PSNs in flight: acknowledged ones go, and so do those a
    // go-back-N walk (cur_psn_ moved back) is about to send anyway.
    SendWr* w = nullptr;
    if (sent_any_ && psn_diff(psn, qp_.completer.una()) >= 0 && psn_diff(psn, cur_psn_) < 0)
      w = started_wqe(psn);
    if (w == nullptr) {
      sr.pop_through(psn);
      continue;
    }
    uint32_t first = psn;
    uint32_t last_used = psn;
    if (w->is_read()) {
      // IBA 9.7.4.1.4: ask again for what is still missing of the READ.
      const uint32_t resume = psn_add(w->first_psn, w->resp_pkts);
      if (psn_diff(first, resume) < 0) first = resume;
      last_used = w->last_psn();
      send_read_request(*w, first);
    } else if (w->is_atomic()) {
      send_atomic(*w, psn);
    } else {
      send_send_or_write(*w, psn, now_ns, true, sr.queued_packets() == 1);
    }
    if (qp_.state != IBV_QPS_RTS) return true;  // the MR vanished under the WQE
    sr.pop_through(last_used);
    qp_.counters().retransmitted_packets.add();
    qp_.counters().selective_retransmits.add();
    ++qp_.stats.retransmitted_packets;
    ++qp_.stats.selective_retransmits;
    qp_.cc.on_sent(now_ns, qp_.out_wire_bytes(), first, true, last_ack_req_);
    qp_.completer.on_sent(now_ns);
    return true;
  }
  return false;
}

ibv_wc_status Requester::gather(const SendWr& w, uint64_t offset, uint32_t len) {
  if (w.is_inline)
    return qp_.add_payload(w.inline_data.data() + offset, len) ? IBV_WC_SUCCESS : IBV_WC_LOC_QP_OP_ERR;
  bool ok = true;
  ibv_wc_status st = walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, 0, offset, len,
                               [&](uint8_t* p, uint32_t n) { ok = ok && qp_.add_payload(p, n); });
  if (ok && st == IBV_WC_SUCCESS) return IBV_WC_SUCCESS;
  // Rare and fatal to the QP: say exactly what could not be gathered. (A
  // go-back-N walk over a completed WQE's freed slot once ended here; see
  // skip_acknowledged.)
  std::fprintf(stderr,
               "flexinsd: QP %u: cannot gather wr_id %llu bytes %llu..%llu of %llu (%s %d, %u SGEs; "
               "WQE PSNs %u..+%u, next PSN %u): QP fatal\n",
               qp_.setup.qpn, static_cast<unsigned long long>(w.wr_id), static_cast<unsigned long long>(offset),
               static_cast<unsigned long long>(offset + len), static_cast<unsigned long long>(w.length),
               ok ? "ibv_wc_status" : "more pieces than a packet takes; status", int(st), w.num_sge,
               w.first_psn, w.npkts, cur_psn_);
  return ok ? st : IBV_WC_LOC_QP_OP_ERR;  // more pieces than a packet takes: validate() should have refused it
}

void Requester::send_send_or_write(SendWr& w, uint32_t psn, uint64_t now_ns, bool from_queue, bool ask) {
  using namespace wire;
  const uint32_t mtu = qp_.mtu();
  const uint32_t k = uint32_t(psn_diff(psn, w.first_psn));
  const bool first = k == 0;
  const bool last = k + 1 == w.npkts;
  const uint64_t offset = uint64_t(k) * mtu;
  const uint32_t len = uint32_t(w.length - offset < mtu ? w.length - offset : mtu);
  const bool send = w.opcode == IBV_WR_SEND || w.opcode == IBV_WR_SEND_WITH_IMM;
  const bool imm = w.opcode == IBV_WR_SEND_WITH_IMM || w.opcode == IBV_WR_RDMA_WRITE_WITH_IMM;
  const bool uc = qp_.is_uc();

  Packet p;
  if (w.sr) {
    // Selective repeat (selective_repeat.h): each packet an RDMA WRITE Only
    // with its own RETH, so it can be placed alone; all but the last
    // marked SR. The last keeps the WQE's meaning (with Immediate) and is
    // taken only in order.
    p.bth.opcode = last && imm ? kRcWriteOnlyImm : kRcWriteOnly;
    p.reth = Reth{w.remote_addr + offset, w.rkey, len};
    p.bth.sr = !last;
  } else {
    p.bth.opcode = message_opcode(uc ? Transport::kUc : Transport::kRc, send, imm, first, last);
    if (!send && first) p.reth = Reth{w.remote_addr, w.rkey, w.length};  // IBA 9.3.3: First/Only
  }
  if (last && imm) p.imm_data = w.imm_data;
  p.bth.solicited = last && (w.send_flags & IBV_SEND_SOLICITED);
  p.bth.psn = psn;
  if (from_queue) {
    // A selective resend: an ACK for the message's end, as always, and for
    // the last resend queued, so the requester hears how the holes fared.
    p.bth.ack_req = last || ask;
  } else {
    // RC: AckReq on each message's last packet, every ack_req_interval,
    // and on the last packet the window or the pacer lets go for now: what
    // is in flight is then acknowledged while the rest waits, and the ACK
    // timer never runs out over a wait of our own making.
    // UC: nothing is acknowledged; the bit stays 0.
    p.bth.ack_req = !uc && (last || ++pkts_since_ack_req_ >= ack_req_interval(window_packets()) ||
                            !take_window(psn_add(psn, 1), psn_add(w.first_psn, w.npkts)) ||
                            qp_.cc.pacer_holds_after(now_ns, len + uint32_t(kMaxTransportHeaders)));
    if (p.bth.ack_req) pkts_since_ack_req_ = 0;
  }
  last_ack_req_ = p.bth.ack_req;

  qp_.begin_packet();
  if (const ibv_wc_status st = gather(w, offset, len); st != IBV_WC_SUCCESS) {
    // A local error in a WQE already under way (its region was deregistered
    // meanwhile): it completes with that error, the WQEs not yet complete
    // are flushed around it, in order (IBA 10.8.3), and as the error is
    // reported through a completion, no async event (IBA 11.6.2).
    qp_.counters().tx_errors.add();
    w.bad_status = st;
    qp_.enter_error(false, IBV_EVENT_QP_FATAL);
    return;
  }
  qp_.send_packet(p, len);
}

void Requester::send_read_request(SendWr& w, uint32_t psn) {
  using namespace wire;
  // A retried READ asks only for what is still missing (IBA 9.7.4.1.4):
  // PSN, address and length move forward together.
  const uint32_t k = uint32_t(psn_diff(psn, w.first_psn));
  const uint64_t offset = uint64_t(k) * qp_.mtu();
  Packet p;
  p.bth.opcode = kRcReadRequest;
  p.bth.psn = psn;
  p.bth.ack_req = last_ack_req_ = true;
  p.reth = Reth{w.remote_addr + offset, w.rkey, uint32_t(w.length - offset)};
  qp_.begin_packet();
  qp_.send_packet(p, 0);
}

void Requester::send_atomic(SendWr& w, uint32_t psn) {
  using namespace wire;
  Packet p;
  const bool cas = w.opcode == IBV_WR_ATOMIC_CMP_AND_SWP;
  p.bth.opcode = cas ? kRcCompareSwap : kRcFetchAdd;
  p.bth.psn = psn;
  p.bth.ack_req = last_ack_req_ = true;
  p.atomic = AtomicEth{w.remote_addr, w.rkey, cas ? w.swap : w.compare_add, cas ? w.compare_add : 0};
  qp_.begin_packet();
  qp_.send_packet(p, 0);
}

void Requester::rewind(uint32_t psn) {
  qp_.sr.clear_queue();
  walk_from(psn);
}

void Requester::walk_from(uint32_t psn) {
  for (uint32_t i = qp_.sq.head; i != qp_.sq.started; ++i) {
    if (qp_.sq.at(i).contains_psn(psn)) {
      send_index_ = i;
      cur_psn_ = psn;
      return;
    }
  }
  send_index_ = qp_.sq.started;  // everything started is acknowledged
  cur_psn_ = next_psn_;
}

void Requester::skip_acknowledged() {
  const uint32_t una = qp_.completer.una();
  if (!sent_any_ || psn_diff(cur_psn_, una) >= 0) return;
  // Resending what is acknowledged only wastes the wire; but the WQEs it
  // completed have left the send queue, and the host may already have
  // posted new ones into their slots (a queue of one does every time).
  walk_from(una);
}

void Requester::on_rd_atomic_done() {
  if (rd_atomic_outstanding_ > 0) --rd_atomic_outstanding_;
}

}  // namespace flexins::transport
