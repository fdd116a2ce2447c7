#include "fabric/sim_host.h"

#include <algorithm>

#include "cc/registry.h"
#include "fabric/packet_bytes.h"
#include "fabric/sim.h"
#include "wire/icrc.h"
#include "wire/packet.h"

namespace flexins::fabric {

SimHost::SimHost(Sim& sim, uint32_t index, uint32_t ip, std::string cc_spec)
    : sim_(sim),
      index_(index),
      ip_(ip),
      cc_spec_(std::move(cc_spec)),
      next_key_(0x0c000100u + index * 0x00010000u),
      next_qpn_(0x1000u * (index + 1) + 0x11) {}

SimHost::~SimHost() = default;

// ------------------------------------------------------------- control path

HostBuffer SimHost::reg(size_t size, uint32_t access) {
  memory_.emplace_back(size ? size : 1);
  HostBuffer b;
  b.data = memory_.back().data();
  b.size = size;
  b.lkey = next_key_++;
  b.rkey = b.lkey ^ 0x5a000000u;
  b.addr = (uint64_t(b.lkey) << 24) | 0x1000;  // an iova, not the heap address
  transport::MemoryRegion mr;
  mr.handle = b.lkey;
  mr.lkey = b.lkey;
  mr.rkey = b.rkey;
  mr.pd = 1;
  mr.access = access;
  mr.iova = b.addr;
  mr.length = size;
  mr.base = b.data;
  mr_by_lkey_[b.lkey] = mr;
  rkey_to_lkey_[b.rkey] = b.lkey;
  return b;
}

HeapCq& SimHost::make_cq(uint32_t slots) { return cqs_.emplace_back(slots); }

HostQp& SimHost::make_rc_qp(HeapCq& send_cq, HeapCq& recv_cq, const RingSizes& sizes) {
  HostQp& q = qps_.emplace_back();
  q.qpn = next_qpn_++;
  q.rings = std::make_unique<QpRings>(sizes);
  transport::QpSetup s;
  s.qpn = q.qpn;
  s.type = IBV_QPT_RC;
  s.pd = 1;
  q.rings->fill_setup(s);
  s.send_cq = &send_cq;
  s.recv_cq = &recv_cq;
  s.local_ip = ip_;
  s.src_port = uint16_t(49152 + (q.qpn & 0x3fff));  // per-QP flow entropy
  q.qp = std::make_unique<transport::Qp>(*this, s);
  by_qpn_[q.qpn] = Entry{&q};
  window_pool_.qps = uint32_t(by_qpn_.size());
  return q;
}

void SimHost::ring_doorbell(uint32_t qpn) {
  if (std::find(doorbells_.begin(), doorbells_.end(), qpn) == doorbells_.end())
    doorbells_.push_back(qpn);
  sim_.request_pass(index_, sim_.now());
}

// ----------------------------------------------------------------- the Env

uint64_t SimHost::now_ns() { return sim_.now(); }

const transport::MemoryRegion* SimHost::mr_by_lkey(uint32_t lkey) {
  auto it = mr_by_lkey_.find(lkey);
  return it == mr_by_lkey_.end() ? nullptr : &it->second;
}

const transport::MemoryRegion* SimHost::mr_by_rkey(uint32_t rkey) {
  auto it = rkey_to_lkey_.find(rkey);
  return it == rkey_to_lkey_.end() ? nullptr : mr_by_lkey(it->second);
}

void SimHost::wake_qp(uint32_t qpn) {
  auto it = by_qpn_.find(qpn);
  if (it == by_qpn_.end() || it->second.active) return;
  it->second.active = true;
  active_.push_back(qpn);
}

std::unique_ptr<cc::CongestionControl> SimHost::new_congestion_control(uint32_t qpn) {
  (void)qpn;
  if (cc_spec_.empty()) return nullptr;
  ++cc_policies_created;
  return cc::PolicyRegistry::with_builtins().create(cc_spec_);
}

transport::LossRecoveryMode SimHost::loss_recovery_mode(uint32_t qpn) {
  (void)qpn;
  return sim_.config().lr;
}

void SimHost::transmit(transport::OutPacket& pkt) {
  if (tx_batch_.size() == kTxBatch) flush();
  tx_batch_.push_back(pkt);
}

void SimHost::flush() {
  for (const transport::OutPacket& pkt : tx_batch_) {
    const uint32_t id = sim_.new_flight();
    Flight& f = sim_.flight(id);
    udp_payload_of(pkt, ip_, f.bytes);
    f.src_ip = ip_;
    f.dst_ip = pkt.dst_ip;
    f.src_port = pkt.src_port;
    f.src_host = index_;
    counters_.tx_packets.add();
    counters_.tx_bytes.add(f.bytes.size());
    sim_.transmit(id);
  }
  tx_batch_.clear();
}

// ----------------------------------------------------------------- the pass

void SimHost::deliver(uint32_t flight) {
  rx_.push_back(flight);
  sim_.request_pass(index_, sim_.now());
}

void SimHost::after_qp_call(uint32_t qpn, Entry& e) {
  if (!e.active && e.q->qp->has_tx_work()) {
    e.active = true;
    active_.push_back(qpn);
  }
  const uint64_t deadline = e.q->qp->next_deadline();
  if (deadline != UINT64_MAX && deadline != e.armed_deadline) {
    e.armed_deadline = deadline;
    timers_.emplace(deadline, qpn);
  }
}

void SimHost::handle_packet(uint32_t id) {
  Flight& f = sim_.flight(id);
  counters_.rx_packets.add();
  counters_.rx_bytes.add(f.bytes.size());
  wire::Packet pkt;
  if (wire::parse(f.bytes, pkt) != wire::ParseError::kOk) {
    counters_.rx_drop_malformed.add();
  } else {
    wire::IcrcIpInfo ip;
    ip.src_ip = f.src_ip;
    ip.dst_ip = ip_;
    ip.src_port = f.src_port;
    auto it = by_qpn_.find(pkt.bth.dest_qp);
    if (!wire::icrc_check(ip, f.bytes)) {
      counters_.rx_drop_bad_icrc.add();
    } else if (it == by_qpn_.end()) {
      counters_.rx_drop_unknown_qp.add();
    } else {
      // Every packet goes to its DestQP, CNPs (opcode 0x81) too.
      transport::RxMeta meta;
      meta.src_ip = f.src_ip;
      meta.src_port = f.src_port;
      meta.ecn = f.ce ? 3 : 2;  // CE, else ECT(0) as sent
      if (rx_tap) rx_tap(pkt, meta);
      it->second.q->qp->on_packet(pkt, meta);
      after_qp_call(it->first, it->second);
    }
  }
  sim_.free_flight(id);
}

uint32_t SimHost::nic_room() {
  const uint32_t ring = sim_.config().nic_tx_ring_packets;
  const uint32_t used = sim_.nic(index_).queue_packets(sim_.now()) + uint32_t(tx_batch_.size());
  return used >= ring ? 0 : ring - used;
}

bool SimHost::tx_pass() {
  last_pass_stalled_ = false;
  if (active_.empty()) return false;
  std::vector<uint32_t> run;
  run.swap(active_);
  uint32_t sent = 0;
  bool room_ran_out = false;
  for (uint32_t qpn : run) {
    auto it = by_qpn_.find(qpn);
    if (it == by_qpn_.end()) continue;
    Entry& e = it->second;
    const uint32_t room = nic_room();
    if (room == 0) {  // the NIC's ring is full: stay active for a later pass
      room_ran_out = true;
      active_.push_back(qpn);
      continue;
    }
    e.active = false;
    sent += e.q->qp->poll(sim_.now(), std::min(kQpTxBudget, room));
    after_qp_call(qpn, e);
  }
  // A poll that sends nothing is normal (a QP woken with its window
  // closed); QPs still claiming work after sending nothing would make an
  // engine spin.
  last_pass_stalled_ = sent == 0 && !room_ran_out && !active_.empty();
  if (last_pass_stalled_) ++stalled_passes;
  return sent > 0;
}

bool SimHost::timer_pass() {
  bool any = false;
  const uint64_t now = sim_.now();
  // Only the deadlines due when the stage began: a QP that re-arms at
  // `now` waits for the next pass.
  for (size_t n = timers_.size(); n > 0 && !timers_.empty() && timers_.top().first <= now; --n) {
    auto [deadline, qpn] = timers_.top();
    timers_.pop();
    auto it = by_qpn_.find(qpn);
    if (it == by_qpn_.end() || it->second.armed_deadline != deadline) continue;  // stale
    it->second.armed_deadline = UINT64_MAX;
    it->second.q->qp->poll(now, std::min(kQpTxBudget, nic_room()));
    after_qp_call(qpn, it->second);
    any = true;
  }
  return any;
}

void SimHost::pass() {
  // 1. receive burst → dispatch
  for (uint32_t n = 0; n < kRxBurst && !rx_.empty(); ++n) {
    const uint32_t id = rx_.front();
    rx_.pop_front();
    handle_packet(id);
  }
  // 2. doorbells
  std::vector<uint32_t> rung;
  rung.swap(doorbells_);
  for (uint32_t qpn : rung) {
    auto it = by_qpn_.find(qpn);
    if (it == by_qpn_.end()) continue;
    it->second.q->qp->on_doorbell();
    after_qp_call(qpn, it->second);
  }
  // 3. transmit, 4. timers, 5. flush
  tx_pass();
  timer_pass();
  flush();
  // The applications poll their CQs and post.
  for (auto& app : apps_) app();
  schedule_next();
}

void SimHost::schedule_next() {
  const uint64_t now = sim_.now();
  uint64_t next = UINT64_MAX;
  if (!rx_.empty() || !doorbells_.empty()) next = now;
  if (!active_.empty()) {
    const uint32_t ring = sim_.config().nic_tx_ring_packets;
    if (nic_room() > 0) {
      // More to send than the budget allowed (or the NIC drained in the
      // meantime): another pass at once, unless the last one sent nothing.
      if (!last_pass_stalled_) next = now;
    } else {
      next = std::min(next, sim_.nic(index_).time_queue_at_most(now, ring - 1));
    }
  }
  // Stale heap entries (superseded deadlines) only cost a pass that finds
  // nothing; pop them here so they do not.
  while (!timers_.empty()) {
    auto [deadline, qpn] = timers_.top();
    auto it = by_qpn_.find(qpn);
    if (it == by_qpn_.end() || it->second.armed_deadline != deadline) {
      timers_.pop();
      continue;
    }
    next = std::min(next, deadline);
    break;
  }
  if (next != UINT64_MAX) sim_.request_pass(index_, next);
}

}  // namespace flexins::fabric
