#include "transport/qp.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "cc/registry.h"
#include "transport/qp_impl.h"
#include "wire/opcodes.h"

namespace flexins::transport {

namespace {
// IP ECN field (RFC 3168): the two low bits of the TOS byte.
constexpr uint8_t kEcnMask = 0x3;
constexpr uint8_t kEcnCe = 0x3;  // Congestion Experienced
}  // namespace

// ------------------------------------------------------------------ Impl

Qp::Impl::Impl(Env& e, const QpSetup& s)
    : env(e),
      setup(s),
      requester(*this),
      responder(*this),
      completer(*this),
      ud_sender(*this),
      ud_receiver(*this) {
  attrs.attr.qp_state = IBV_QPS_RESET;
  attrs.attr.cap = setup.cap;
  sq.init(setup.sq.valid() ? setup.sq.slots() : 1,
          setup.sq.valid() ? setup.sq.retired_index() : 0);
  set_state(IBV_QPS_RESET);
  if (setup.type == IBV_QPT_RC) {
    cc.set_policy(env.new_congestion_control(setup.qpn), env.now_ns());
    lr = env.loss_recovery_mode(setup.qpn);
  }
}

uint32_t Qp::Impl::inflight_packets() const {
  if (state != IBV_QPS_RTS || !requester.sent_any()) return 0;
  const int32_t d = wire::psn_diff(wire::psn_add(requester.max_sent_psn(), 1), completer.una());
  return d > 0 ? uint32_t(d) : 0;
}

Qp::Impl::~Impl() {
  if (WindowPool* pool = env.tx_window_pool()) pool->outstanding -= window_claim;
}

void Qp::Impl::sync_window_claim() {
  WindowPool* pool = env.tx_window_pool();
  if (pool == nullptr) return;
  // UC sends are never acknowledged: only RC holds packets in flight.
  const uint32_t now = setup.type == IBV_QPT_RC ? requester.pool_claim() : 0;
  if (now < window_claim) ++pool->releases;
  pool->outstanding = pool->outstanding - window_claim + now;
  window_claim = now;
}

void Qp::Impl::set_state(ibv_qp_state s) {
  state = s;
  attrs.attr.qp_state = s;
  attrs.attr.cur_qp_state = s;
  if (setup.shm != nullptr) setup.shm->state.store(uint32_t(s), std::memory_order_release);
}

int Qp::Impl::modify(const ibv_qp_attr& attr, int attr_mask) {
  ibv_qp_state next = state;
  int err = validate_modify(setup.type, state, attr, attr_mask, setup.local_ip, next);
  if (err != 0) return err;
  const ibv_qp_state prev = state;
  apply_modify(attrs, attr, attr_mask, setup.local_ip);
  if (next == IBV_QPS_RESET) {
    // IBA 10.3.1: RESET empties both work queues and forgets all state.
    discard_queues();
    requester.reset();
    responder.reset();
    completer.reset();
    sr.stop();
    ud_sender.reset();
    QpAttrs fresh;
    fresh.attr.cap = setup.cap;
    attrs = fresh;
    comm_established = false;
    set_state(IBV_QPS_RESET);
    return 0;
  }
  if (next == IBV_QPS_ERR) {
    set_state(prev);
    enter_error(false, IBV_EVENT_QP_FATAL);  // asked for: no async event
    return 0;
  }
  set_state(next);
  if (is_ud()) {
    if (prev == IBV_QPS_RTR && next == IBV_QPS_RTS) {
      ud_sender.start(attrs.attr.sq_psn);
      ud_sender.fetch();
      if (ud_sender.can_send()) env.wake_qp(setup.qpn);
    }
    return 0;
  }
  if (prev == IBV_QPS_INIT && next == IBV_QPS_RTR) responder.start(attrs.attr.rq_psn);
  if (prev == IBV_QPS_RTR && next == IBV_QPS_RTS) {
    requester.start(attrs.attr.sq_psn);
    completer.start(attrs.attr.sq_psn);
    if (selective_repeat()) sr.start(attrs.attr.sq_psn, 0);
    requester.fetch();
    completer.complete_ready();
    if (requester.can_send()) env.wake_qp(setup.qpn);
  }
  return 0;
}

bool Qp::Impl::signaled(const SendWr& w) const {
  return setup.sq_sig_all || (w.send_flags & IBV_SEND_SIGNALED) != 0;
}

namespace {

ibv_wc_opcode wc_opcode(ibv_wr_opcode op) {
  switch (op) {
    case IBV_WR_RDMA_WRITE:
    case IBV_WR_RDMA_WRITE_WITH_IMM: return IBV_WC_RDMA_WRITE;
    case IBV_WR_RDMA_READ: return IBV_WC_RDMA_READ;
    case IBV_WR_ATOMIC_CMP_AND_SWP: return IBV_WC_COMP_SWAP;
    case IBV_WR_ATOMIC_FETCH_AND_ADD: return IBV_WC_FETCH_ADD;
    default: return IBV_WC_SEND;
  }
}

}  // namespace

bool Qp::Impl::push_cqe(CompletionQueue* cq, const pipe::Cqe& cqe) {
  counters().completions.add();
  if (cqe.status != IBV_WC_SUCCESS) counters().completions_error.add();
  if (cq != nullptr && cq->push(cqe)) return true;
  counters().cq_overflows.add();
  // The CQ owner raises IBV_EVENT_CQ_ERR; the QP cannot report anything any
  // more, so it fails (once: enter_error ignores a QP already in ERR).
  enter_error(true, IBV_EVENT_QP_FATAL);
  return false;
}

void Qp::Impl::complete_send_head(ibv_wc_status status) {
  SendWr& w = sq.at(sq.head);
  const bool was_started = w.started;
  if (was_started && w.needs_response()) requester.on_rd_atomic_done();
  const bool report = status != IBV_WC_SUCCESS || signaled(w);
  pipe::Cqe c{};
  if (report) {
    c.wr_id = w.wr_id;
    c.status = status;
    c.opcode = wc_opcode(w.opcode);
    c.byte_len = w.length;
    c.qp_num = setup.qpn;
    c.src_qp = attrs.attr.dest_qp_num;
  }
  ++sq.head;
  // A WQE that failed validation never got PSNs: `started` was at it.
  if (!was_started) sq.started = sq.head;
  if (setup.sq.valid()) setup.sq.retire(sq.head);
  if (report) push_cqe(setup.send_cq, c);
}

void Qp::Impl::enter_error(bool raise_event, ibv_event_type event) {
  if (state == IBV_QPS_ERR) return;
  set_state(IBV_QPS_ERR);
  counters().qp_errors.add();
  if (raise_event) env.qp_event(setup.qpn, event);
  responder.flush_current_recv();
  // IBA 10.2.9.5? (C10-?): a QP on an SRQ that enters the error state
  // reports Last WQE Reached, whatever moved it there, so the consumer
  // knows no more completions will name it.
  if (setup.srq != nullptr) env.qp_event(setup.qpn, IBV_EVENT_QP_LAST_WQE_REACHED);
  flush_send_queue();
  flush_recv_queue();
  completer.reset();
  sr.clear_queue();
}

void Qp::Impl::set_loss_recovery(LossRecoveryMode mode) {
  lr = mode;
  if (mode == LossRecoveryMode::kGoBackN) {
    sr.stop();  // what the queue held is found again by NAK or timeout
    return;
  }
  if (state != IBV_QPS_RTS || sr.active()) return;  // RTR -> RTS starts it
  const uint32_t una = completer.una();
  uint32_t sent = 0;
  if (requester.sent_any()) {
    const int32_t d = wire::psn_diff(wire::psn_add(requester.max_sent_psn(), 1), una);
    sent = d > 0 ? uint32_t(d) : 0;
  }
  sr.start(una, sent);
}

void Qp::Impl::flush_send_queue() {
  if (!setup.sq.valid()) return;
  // Pull in whatever the host posted; every WQE completes flushed (IBA
  // 10.8.3.1: in the error state, signaled or not).
  while (setup.sq.pending() > 0) {
    SendWr& w = sq.at(sq.fetched);
    const uint8_t* slot = setup.sq.fetch();
    pipe::SendWqe wqe;
    std::memcpy(&wqe, slot, sizeof wqe);
    w.wr_id = wqe.wr_id;
    w.opcode = ibv_wr_opcode(wqe.opcode);
    w.send_flags = wqe.send_flags;
    w.length = 0;
    w.started = false;
    w.bad_status = IBV_WC_SUCCESS;
    ++sq.fetched;
  }
  while (sq.head != sq.fetched) {
    SendWr& w = sq.at(sq.head);
    if (w.started && w.needs_response()) requester.on_rd_atomic_done();
    pipe::Cqe c{};
    c.wr_id = w.wr_id;
    // A WQE that failed under way (Requester::send_send_or_write) reports
    // its own error; every other one is flushed.
    c.status = w.started && w.bad_status != IBV_WC_SUCCESS ? w.bad_status : IBV_WC_WR_FLUSH_ERR;
    c.opcode = wc_opcode(w.opcode);
    c.qp_num = setup.qpn;
    ++sq.head;
    counters().completions.add();
    counters().completions_error.add();
    if (setup.send_cq == nullptr || !setup.send_cq->push(c)) counters().cq_overflows.add();
  }
  sq.started = sq.head;
  setup.sq.retire(sq.head);
}

void Qp::Impl::flush_recv_queue() {
  // An SRQ's WQEs belong to the SRQ and stay there (IBA 10.2.9.5); only the
  // QP's own RQ is flushed.
  if (setup.srq != nullptr || !setup.rq.valid()) return;
  RecvWr r;
  while (take_recv_wr(setup, r)) {
    pipe::Cqe c{};
    c.wr_id = r.wr_id;
    c.status = IBV_WC_WR_FLUSH_ERR;
    c.opcode = IBV_WC_RECV;
    c.qp_num = setup.qpn;
    counters().completions.add();
    counters().completions_error.add();
    if (setup.recv_cq == nullptr || !setup.recv_cq->push(c)) counters().cq_overflows.add();
  }
}

void Qp::Impl::discard_queues() {
  for (pipe::WqConsumer* q : {&setup.sq, &setup.rq}) {
    if (!q->valid()) continue;
    while (q->pending() > 0) q->fetch();
    q->retire(q->next_index());
  }
  uint32_t at = setup.sq.valid() ? setup.sq.next_index() : 0;
  sq.head = sq.started = sq.fetched = at;
}

bool Qp::Impl::add_payload(const uint8_t* p, uint32_t len) {
  if (len == 0) return true;
  if (out.iov_count >= kMaxGather) return false;
  out.payload[out.iov_count].iov_base = const_cast<uint8_t*>(p);
  out.payload[out.iov_count].iov_len = len;
  ++out.iov_count;
  return true;
}

void Qp::Impl::send_packet(wire::Packet& p, uint32_t payload_len) {
  send_packet_to(p, payload_len, attrs.dest_ip, attrs.attr.dest_qp_num);
}

void Qp::Impl::send_packet_with_sack(wire::Packet& p, const wire::SackBlock& sack) {
  p.bth.dest_qp = attrs.attr.dest_qp_num;
  p.bth.pkey = pipe::DeviceCaps::kDefaultPkey;
  p.bth.sr = true;     // the block follows (wire/sack.h)
  p.bth.pad_count = 0;  // a whole number of 32-bit words
  size_t n = wire::build(p, out.hdr);
  n += wire::build_sack(sack, out.hdr + n);
  out.hdr_len = uint8_t(n);
  out.pad = 0;
  out.payload_len = 0;
  out.dst_ip = attrs.dest_ip;
  out.src_port = setup.src_port;
  ++stats.tx_packets;
  stats.tx_bytes += out_wire_bytes();
  env.transmit(out);
}

void Qp::Impl::send_packet_to(wire::Packet& p, uint32_t payload_len, uint32_t dst_ip,
                              uint32_t dest_qpn) {
  p.bth.dest_qp = dest_qpn;
  p.bth.pkey = pipe::DeviceCaps::kDefaultPkey;
  p.bth.pad_count = wire::pad_for(payload_len);
  out.hdr_len = uint8_t(wire::build(p, out.hdr));
  out.pad = p.bth.pad_count;
  out.payload_len = payload_len;
  out.dst_ip = dst_ip;
  out.src_port = setup.src_port;
  ++stats.tx_packets;
  stats.tx_bytes += out_wire_bytes();
  env.transmit(out);
}

void Qp::Impl::send_cnp() {
  // Annex A17.9.2: opcode CNP, the notified QP as DestQP, BECN set, PSN 0,
  // 16 reserved bytes (wire::build zeroes them), no payload.
  wire::Packet p;
  p.bth.opcode = wire::kCnp;
  p.bth.becn = true;
  p.bth.psn = 0;
  begin_packet();
  send_packet(p, 0);
  ++stats.cnps_sent;
  counters().cnps_sent.add();
}

void Qp::Impl::on_packet(const wire::Packet& pkt, const RxMeta& meta) {
  const wire::OpcodeInfo& info = wire::opcode_info(pkt.bth.opcode);
  ++stats.rx_packets;
  if (info.transport == wire::Transport::kCnp) {
    // The reaction point: our requests met congestion on the way to the peer.
    if (setup.type != IBV_QPT_RC || state != IBV_QPS_RTS) {
      counters().rx_drop_qp_state.add();
    } else if (meta.src_ip != attrs.dest_ip) {
      counters().rx_drop_misaddressed.add();
    } else {
      ++stats.cnps_received;
      counters().cnps_received.add();
      cc.on_cnp(env.now_ns());
      if (requester.can_send()) env.wake_qp(setup.qpn);  // the pacer's deadline moved
    }
    return;
  }
  // Requests are served from RTR on, responses only in RTS (IBA 10.3.1:
  // RESET and INIT drop everything; ERR drops everything).
  const bool request = (info.flags & wire::kOpRequest) != 0;
  if (state == IBV_QPS_RESET || state == IBV_QPS_INIT || state == IBV_QPS_ERR ||
      (!request && state != IBV_QPS_RTS)) {
    counters().rx_drop_qp_state.add();
    return;
  }
  if (is_ud()) {
    // IBA C9-41?: one partition only.
    if ((pkt.bth.pkey & 0x7fff) != (pipe::DeviceCaps::kDefaultPkey & 0x7fff)) {
      counters().rx_drop_misaddressed.add();
      return;
    }
    ud_receiver.on_packet(pkt, meta);
    return;
  }
  // IBA 9.6.?: the opcode's transport bits must name the QP's own service
  // (RC or UC; UC has request opcodes only).
  if (info.transport != (is_uc() ? wire::Transport::kUc : wire::Transport::kRc)) {
    counters().rx_drop_malformed.add();
    return;
  }
  // A connected QP talks to one peer only (IBA 9.6.1.5.1: source checks;
  // for RoCE the peer is its IP address) and one P_Key (C9-41).
  if ((attrs.dest_ip != 0 && meta.src_ip != attrs.dest_ip) ||
      (pkt.bth.pkey & 0x7fff) != (pipe::DeviceCaps::kDefaultPkey & 0x7fff)) {
    counters().rx_drop_misaddressed.add();
    return;
  }
  if (request) {
    // IBA 11.6.3: the first packet received in RTR establishes the
    // connection (rdma_cm uses it when the peer's RTU is late).
    if (state == IBV_QPS_RTR && !comm_established) {
      comm_established = true;
      env.qp_event(setup.qpn, IBV_EVENT_COMM_EST);
    }
    // The notification point (DCQCN, RoCEv2 annex A17.9): congestion on the
    // way here is answered with a CNP, at most one per interval.
    if ((meta.ecn & kEcnMask) == kEcnCe) {
      ++stats.rx_ecn_ce;
      counters().rx_ecn_ce.add();
      if (cc.on_ce_marked(env.now_ns())) send_cnp();
    }
    responder.on_request(pkt);
  } else {
    completer.on_response(pkt, env.now_ns());
  }
}

// ------------------------------------------------------------------- Qp

Qp::Qp(Env& env, const QpSetup& setup) : impl_(std::make_unique<Impl>(env, setup)) {}
Qp::~Qp() = default;

uint32_t Qp::qpn() const { return impl_->setup.qpn; }
ibv_qp_state Qp::state() const { return impl_->state; }

bool Qp::tombstone(Tombstone& out) const {
  const Impl& q = *impl_;
  if (q.setup.type != IBV_QPT_RC || q.attrs.dest_ip == 0 ||
      (q.state != IBV_QPS_RTR && q.state != IBV_QPS_RTS && q.state != IBV_QPS_SQD))
    return false;
  out.qpn = q.setup.qpn;
  out.dest_qpn = q.attrs.attr.dest_qp_num;
  out.dest_ip = q.attrs.dest_ip;
  out.src_port = q.setup.src_port;
  out.epsn = q.responder.expected_psn();
  out.msn = q.responder.msn();
  return true;
}

int Qp::modify(const ibv_qp_attr& attr, int attr_mask) {
  const int err = impl_->modify(attr, attr_mask);
  impl_->sync_window_claim();
  return err;
}

void Qp::query(ibv_qp_attr& attr, ibv_qp_init_attr& init_attr) const {
  attr = impl_->attrs.attr;
  attr.cap = impl_->setup.cap;
  init_attr = ibv_qp_init_attr{};
  init_attr.qp_type = impl_->setup.type;
  init_attr.sq_sig_all = impl_->setup.sq_sig_all ? 1 : 0;
  init_attr.cap = impl_->setup.cap;
}

void Qp::on_doorbell() {
  Impl& q = *impl_;
  switch (q.state) {
    case IBV_QPS_ERR:
      q.flush_send_queue();  // IBA 10.8.3.1: posts to a failed QP complete flushed
      q.flush_recv_queue();
      break;
    case IBV_QPS_RTS:
      if (q.is_ud()) {
        q.ud_sender.fetch();
        if (q.ud_sender.can_send()) q.env.wake_qp(q.setup.qpn);
        break;
      }
      q.requester.fetch();
      q.completer.complete_ready();
      if (q.requester.can_send()) q.env.wake_qp(q.setup.qpn);
      break;
    default:
      break;  // RESET..RTR: WQEs wait in the ring until RTS
  }
  q.sync_window_claim();  // a bad WQE at the head may have failed the QP
}

void Qp::on_packet(const wire::Packet& pkt, const RxMeta& meta) {
  impl_->on_packet(pkt, meta);
  impl_->sync_window_claim();
}

uint32_t Qp::poll(uint64_t now_ns, uint32_t budget) {
  Impl& q = *impl_;
  if (q.is_ud()) return q.state == IBV_QPS_RTS ? q.ud_sender.transmit(budget) : 0;
  if (q.state == IBV_QPS_RTS) {
    if (!q.is_uc()) q.completer.on_timer(now_ns);
    q.cc.on_timer(now_ns);
  }
  uint32_t sent = 0;
  // Replies first: they free the peer's window and READ credits.
  if (q.state == IBV_QPS_RTR || q.state == IBV_QPS_RTS) sent += q.responder.transmit(budget);
  if (q.state == IBV_QPS_RTS && sent < budget) sent += q.requester.transmit(budget - sent, now_ns);
  q.sync_window_claim();
  return sent;
}

bool Qp::waits_for_window_pool() const { return !impl_->is_ud() && impl_->requester.waits_for_pool(); }

bool Qp::has_tx_work() const {
  const Impl& q = *impl_;
  if (q.is_ud()) return q.ud_sender.can_send();
  if (q.state != IBV_QPS_RTR && q.state != IBV_QPS_RTS) return false;
  if (q.responder.has_replies()) return true;
  const uint64_t now = q.env.now_ns();
  return q.state == IBV_QPS_RTS && q.requester.can_send() && q.cc.next_send_ns(now) <= now;
}

uint64_t Qp::next_deadline() const {
  const Impl& q = *impl_;
  // UD, UC: nothing is acknowledged, so no retransmit timer.
  if (q.is_ud() || q.is_uc() || q.state != IBV_QPS_RTS) return UINT64_MAX;
  uint64_t deadline = std::min(q.completer.deadline(), q.cc.timer_deadline());
  // Work held back by the pacer: when it may go.
  if (q.requester.can_send()) {
    const uint64_t now = q.env.now_ns();
    const uint64_t send_at = q.cc.next_send_ns(now);
    if (send_at > now) deadline = std::min(deadline, send_at);
  }
  return deadline;
}

bool Qp::set_congestion_control(std::unique_ptr<cc::CongestionControl> policy) {
  Impl& q = *impl_;
  if (q.setup.type != IBV_QPT_RC) return false;
  q.cc.set_policy(std::move(policy), q.env.now_ns());
  q.counters().cc_changes.add();
  if (q.state == IBV_QPS_RTS && q.requester.can_send()) q.env.wake_qp(q.setup.qpn);
  return true;
}

bool Qp::set_loss_recovery(LossRecoveryMode mode) {
  Impl& q = *impl_;
  if (q.setup.type != IBV_QPT_RC) return false;
  q.set_loss_recovery(mode);
  return true;
}

std::optional<std::string> Qp::set_congestion_params(std::string_view assignments) {
  Impl& q = *impl_;
  cc::CongestionControl* policy = q.cc.policy();
  if (policy == nullptr) return "QP " + std::to_string(q.setup.qpn) + " has no congestion-control policy";
  try {
    cc::apply_params(*policy, assignments);
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
  q.cc.policy_changed(q.env.now_ns());
  q.counters().cc_changes.add();
  if (q.state == IBV_QPS_RTS && q.requester.can_send()) q.env.wake_qp(q.setup.qpn);
  return std::nullopt;
}

QpInfo Qp::info() const {
  const Impl& q = *impl_;
  QpInfo i;
  i.qpn = q.setup.qpn;
  i.type = q.setup.type;
  i.state = q.state;
  i.dest_ip = q.attrs.dest_ip;
  i.dest_qpn = q.attrs.attr.dest_qp_num;
  i.mtu_bytes = q.attrs.mtu_bytes;
  if (const cc::CongestionControl* p = q.cc.policy()) {
    i.cc = std::string(p->name());
    i.cc_params = p->params();
  }
  if (q.setup.type == IBV_QPT_RC) i.lr = loss_recovery_name(q.lr);
  i.cc_rate_bps = q.cc.rate_bps();
  i.cc_window_bytes = q.cc.window_bytes();
  i.inflight_packets = q.is_ud() ? 0 : q.inflight_packets();
  i.last_rtt_ns = q.cc.last_rtt_ns();
  i.stats = q.stats;
  return i;
}

}  // namespace flexins::transport
