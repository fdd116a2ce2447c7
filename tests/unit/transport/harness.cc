#include "harness.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "fabric/host_queues.h"
#include "fabric/packet_bytes.h"
#include "wire/icrc.h"
#include "wire/opcodes.h"

namespace flexins::transport::test {
namespace {

// Round a heap pointer up to the 64-byte alignment the pipe structures need.
uint8_t* align64(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

constexpr uint32_t kMaxInline = 512;

fabric::RcPath rc_path(const QpOptions& o) {
  fabric::RcPath p;
  p.type = o.type;
  p.mtu = o.mtu;
  p.access = o.access;
  p.timeout = o.timeout;
  p.retry_cnt = o.retry_cnt;
  p.rnr_retry = o.rnr_retry;
  p.min_rnr_timer = o.min_rnr_timer;
  p.max_rd_atomic = o.max_rd_atomic;
  return p;
}

}  // namespace

// ------------------------------------------------------------------ CQ

TestCq::TestCq(uint32_t slots) {
  slots = pipe::ring_slots(slots);
  mem_.resize(sizeof(pipe::CqShm) + slots * sizeof(pipe::Cqe) + 64);
  uint8_t* base = align64(mem_.data());
  ctrl_ = new (base) pipe::CqShm();
  ctrl_->slots = slots;
  ctrl_->ring_offset = sizeof(pipe::CqShm);
  auto* ring = reinterpret_cast<pipe::Cqe*>(base + sizeof(pipe::CqShm));
  producer_ = pipe::CqProducer(ctrl_, ring, slots);
  consumer_ = pipe::CqConsumer(ctrl_, ring);
}

std::vector<pipe::Cqe> TestCq::drain() {
  std::vector<pipe::Cqe> out;
  while (const pipe::Cqe* c = consumer_.peek()) {
    out.push_back(*c);
    consumer_.pop();
  }
  return out;
}

bool TestSrq::take(pipe::RecvWqe& wqe, pipe::Sge* sges, uint32_t max_sges) {
  if (q_.empty()) return false;
  Entry e = std::move(q_.front());
  q_.pop_front();
  wqe = pipe::RecvWqe{e.wr_id, uint32_t(e.sges.size()), 0};
  for (uint32_t i = 0; i < e.sges.size() && i < max_sges; ++i) sges[i] = e.sges[i];
  return true;
}

// ----------------------------------------------------------------- Env

uint64_t TestEnv::now_ns() { return fabric_.now(); }
void TestEnv::transmit(OutPacket& pkt) { fabric_.on_transmit(side_, pkt); }

const MemoryRegion* TestEnv::mr_by_lkey(uint32_t lkey) {
  auto it = by_lkey.find(lkey);
  return it == by_lkey.end() ? nullptr : &it->second;
}

const MemoryRegion* TestEnv::mr_by_rkey(uint32_t rkey) {
  auto it = rkey_to_lkey.find(rkey);
  return it == rkey_to_lkey.end() ? nullptr : mr_by_lkey(it->second);
}

// ---------------------------------------------------------------- Side

Side::Side(Fabric& fabric, int index, uint32_t ip_net, uint32_t qp_number, const QpOptions& o)
    : ip(ip_net), qpn(qp_number), opt(o), env(std::make_unique<TestEnv>(fabric, index)) {
  next_key = (index == 0 ? 0x0a000100u : 0x0b000100u);
  const uint32_t sq_slots = pipe::ring_slots(o.sq_depth);
  const uint32_t rq_slots = pipe::ring_slots(o.rq_depth);
  const uint32_t sq_slot = pipe::send_slot_size(pipe::DeviceCaps::kMaxSge, kMaxInline);
  const uint32_t rq_slot = pipe::recv_slot_size(pipe::DeviceCaps::kMaxSge);
  shm_mem.resize(sizeof(pipe::QpShm) + size_t(sq_slots) * sq_slot + size_t(rq_slots) * rq_slot + 64);
  uint8_t* base = align64(shm_mem.data());
  shm = new (base) pipe::QpShm();
  uint8_t* sq_ring = base + sizeof(pipe::QpShm);
  uint8_t* rq_ring = sq_ring + size_t(sq_slots) * sq_slot;
  shm->sq.slots = sq_slots;
  shm->sq.slot_size = sq_slot;
  shm->sq.ring_offset = sizeof(pipe::QpShm);
  shm->rq.slots = o.use_srq ? 0 : rq_slots;
  shm->rq.slot_size = rq_slot;
  sq_prod = pipe::WqProducer(&shm->sq, sq_ring);
  send_cq = std::make_unique<TestCq>(o.cq_depth);
  recv_cq = std::make_unique<TestCq>(o.cq_depth);

  QpSetup s;
  s.qpn = qpn;
  s.type = o.type;
  s.pd = pd;
  s.sq_sig_all = o.sq_sig_all;
  s.cap.max_send_wr = sq_slots;
  s.cap.max_recv_wr = rq_slots;
  s.cap.max_send_sge = pipe::DeviceCaps::kMaxSge;
  s.cap.max_recv_sge = pipe::DeviceCaps::kMaxSge;
  s.cap.max_inline_data = kMaxInline;
  s.shm = shm;
  s.sq = pipe::WqConsumer(&shm->sq, sq_ring, sq_slots, sq_slot);
  if (o.use_srq) {
    srq = std::make_unique<TestSrq>(pd);
    s.srq = srq.get();
  } else {
    rq_prod = pipe::WqProducer(&shm->rq, rq_ring);
    s.rq = pipe::WqConsumer(&shm->rq, rq_ring, rq_slots, rq_slot);
  }
  s.send_cq = send_cq.get();
  s.recv_cq = recv_cq.get();
  s.local_ip = ip;
  s.src_port = uint16_t(49152 + (qpn & 0x3fff));
  env->lr = o.lr;
  qp = std::make_unique<Qp>(*env, s);
}

Side::~Side() = default;

Buffer Side::reg(size_t size, uint32_t access, uint32_t mr_pd) {
  memory.emplace_back(size ? size : 1);
  Buffer b;
  b.data = memory.back().data();
  b.size = size;
  b.lkey = next_key++;
  b.rkey = b.lkey ^ 0x00c0ffeeu;
  b.addr = (uint64_t(b.lkey & 0xffff) << 32) | 0x1000;  // not the heap address: translate() must map it
  MemoryRegion mr;
  mr.handle = b.lkey;
  mr.lkey = b.lkey;
  mr.rkey = b.rkey;
  mr.pd = mr_pd ? mr_pd : pd;
  mr.access = access;
  mr.iova = b.addr;
  mr.length = size;
  mr.base = b.data;
  env->by_lkey[b.lkey] = mr;
  env->rkey_to_lkey[b.rkey] = b.lkey;
  return b;
}

void Side::dereg(const Buffer& b) {
  env->by_lkey.erase(b.lkey);
  env->rkey_to_lkey.erase(b.rkey);
}

void Side::post_send(const pipe::SendWqe& wqe, const std::vector<pipe::Sge>& sges) {
  ASSERT_FALSE(sq_prod.full());
  uint8_t* slot = sq_prod.slot();
  pipe::SendWqe w = wqe;
  w.num_sge = uint8_t(sges.size());
  std::memcpy(slot, &w, sizeof w);
  if (!sges.empty()) std::memcpy(slot + sizeof w, sges.data(), sges.size() * sizeof(pipe::Sge));
  sq_prod.advance();
  sq_prod.publish();
  qp->on_doorbell();
}

void Side::post_send_inline(const pipe::SendWqe& wqe, const uint8_t* data, uint32_t len) {
  ASSERT_FALSE(sq_prod.full());
  ASSERT_LE(len, sq_prod.slot_size() - sizeof(pipe::SendWqe));
  uint8_t* slot = sq_prod.slot();
  pipe::SendWqe w = wqe;
  w.send_flags |= IBV_SEND_INLINE;
  w.inline_len = len;
  w.num_sge = 0;
  std::memcpy(slot, &w, sizeof w);
  std::memcpy(slot + sizeof w, data, len);
  sq_prod.advance();
  sq_prod.publish();
  qp->on_doorbell();
}

void Side::post_recv(uint64_t wr_id, const std::vector<pipe::Sge>& sges) {
  if (srq) {
    srq->post(wr_id, sges);
  } else {
    ASSERT_FALSE(rq_prod.full());
    uint8_t* slot = rq_prod.slot();
    pipe::RecvWqe w{wr_id, uint32_t(sges.size()), 0};
    std::memcpy(slot, &w, sizeof w);
    if (!sges.empty()) std::memcpy(slot + sizeof w, sges.data(), sges.size() * sizeof(pipe::Sge));
    rq_prod.advance();
    rq_prod.publish();
  }
  qp->on_doorbell();
}

// -------------------------------------------------------------- Fabric

Fabric::Fabric(const QpOptions& a, const QpOptions& b, uint64_t seed) : rng_(seed) {
  sides_.push_back(std::make_unique<Side>(*this, 0, htonl(0x0a000001), 0x000011, a));
  sides_.push_back(std::make_unique<Side>(*this, 1, htonl(0x0a000002), 0x000022, b));
}

// The QP transitions are the fabric simulator's (fabric/host_queues.h);
// the responder side always offers 16 READ/atomic credits.
int Fabric::modify_to_init(Qp& qp, uint32_t access) {
  fabric::RcPath p;
  p.access = access;
  return fabric::rc_to_init(qp, p);
}

int Fabric::modify_to_rtr(Qp& qp, const QpOptions& o, uint32_t peer_ip, uint32_t peer_qpn,
                          uint32_t rq_psn) {
  return fabric::rc_to_rtr(qp, rc_path(o), peer_ip, peer_qpn, rq_psn);
}

int Fabric::modify_to_rtr_by_lid(Qp& qp, const QpOptions& o, uint16_t peer_lid, uint32_t peer_qpn,
                                 uint32_t rq_psn) {
  ibv_ah_attr path{};
  path.is_global = 0;
  path.dlid = peer_lid;
  path.port_num = 1;
  return fabric::rc_to_rtr_via(qp, rc_path(o), path, peer_qpn, rq_psn);
}

int Fabric::modify_to_rts(Qp& qp, const QpOptions& o, uint32_t sq_psn) {
  return fabric::rc_to_rts(qp, rc_path(o), sq_psn);
}

void Fabric::connect() {
  // PSNs start just below the 24-bit wrap so every test crosses it.
  const uint32_t a_psn = 0xfffff0, b_psn = 0x123456;
  ASSERT_EQ(modify_to_init(*a().qp, a().opt.access), 0);
  ASSERT_EQ(modify_to_init(*b().qp, b().opt.access), 0);
  ASSERT_EQ(modify_to_rtr(*a().qp, a().opt, b().ip, b().qpn, b_psn), 0);
  ASSERT_EQ(modify_to_rtr(*b().qp, b().opt, a().ip, a().qpn, a_psn), 0);
  ASSERT_EQ(modify_to_rts(*a().qp, a().opt, a_psn), 0);
  ASSERT_EQ(modify_to_rts(*b().qp, b().opt, b_psn), 0);
  ASSERT_EQ(a().qp->state(), IBV_QPS_RTS);
  ASSERT_EQ(b().qp->state(), IBV_QPS_RTS);
}

void Fabric::on_transmit(int from, OutPacket& pkt) {
  Side& src = side(from);
  uint32_t gathered = 0;
  for (uint32_t i = 0; i < pkt.iov_count; ++i) {
    gathered += uint32_t(pkt.payload[i].iov_len);
    // Header-only TX: every payload slice must lie in registered memory
    // (inline data is the one exception, and those tests do not check this).
    const auto* p = static_cast<const uint8_t*>(pkt.payload[i].iov_base);
    bool inside = false;
    for (const auto& [key, mr] : src.env->by_lkey)
      if (p >= mr.base && p + pkt.payload[i].iov_len <= mr.base + mr.length) inside = true;
    if (!inside) ++iovs_outside_mrs;
  }
  if (gathered != pkt.payload_len || pkt.pad != wire::pad_for(pkt.payload_len)) ++bad_out_packets;

  WirePacket w;
  w.src_ip = src.ip;
  w.src_port = pkt.src_port;
  w.to = pkt.dst_ip == a().ip ? 0 : pkt.dst_ip == b().ip ? 1 : -1;
  fabric::udp_payload_of(pkt, src.ip, w.bytes);
  if (w.to < 0 || wire::parse(w.bytes, w.parsed) != wire::ParseError::kOk) {
    ++bad_out_packets;
    return;
  }
  ++transmitted;
  if (tx_filter_ && tx_filter_(w)) return;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (faults_.loss > 0 && u(rng_) < faults_.loss) {
    ++dropped_by_faults;
    return;
  }
  ++sent_by_opcode[w.parsed.bth.opcode];
  const bool dup = faults_.duplicate > 0 && u(rng_) < faults_.duplicate;
  const bool reorder = faults_.reorder > 0 && u(rng_) < faults_.reorder;
  WirePacket copy;
  if (dup) copy = w;
  wire_.push_back(std::move(w));
  if (reorder && wire_.size() >= 2) std::swap(wire_[wire_.size() - 1], wire_[wire_.size() - 2]);
  if (dup) {
    wire::parse(copy.bytes, copy.parsed);  // re-point the payload into the copy
    wire_.push_back(std::move(copy));
  }
}

void Fabric::deliver_one() {
  if (wire_.empty()) return;
  WirePacket w = std::move(wire_.front());
  wire_.pop_front();
  Side& dst = side(w.to);
  wire::IcrcIpInfo ip;
  ip.src_ip = w.src_ip;
  ip.dst_ip = dst.ip;
  ip.src_port = w.src_port;
  ASSERT_TRUE(wire::icrc_check(ip, w.bytes)) << "ICRC mismatch on the wire";
  wire::Packet pkt;
  ASSERT_EQ(wire::parse(w.bytes, pkt), wire::ParseError::kOk);
  ASSERT_EQ(pkt.bth.dest_qp, dst.qpn);
  ++delivered;
  RxMeta meta;
  meta.src_ip = w.src_ip;
  meta.src_port = w.src_port;
  meta.ecn = ce_marker_ && ce_marker_(w) ? 3 : 2;  // CE : ECT(0)
  dst.qp->on_packet(pkt, meta);
}

void Fabric::deliver_all() {
  size_t n = wire_.size();
  for (size_t i = 0; i < n && !wire_.empty(); ++i) deliver_one();
}

void Fabric::inject(int from, wire::Packet p, const std::vector<uint8_t>& payload) {
  Side& src = side(from);
  Side& dst = side(1 - from);
  p.bth.dest_qp = dst.qpn;
  p.bth.pad_count = wire::pad_for(uint32_t(payload.size()));
  WirePacket w;
  w.to = 1 - from;
  w.src_ip = src.ip;
  w.src_port = uint16_t(49152 + (src.qpn & 0x3fff));
  w.bytes.resize(wire::header_size(p.bth.opcode));
  wire::build(p, w.bytes.data());
  w.bytes.insert(w.bytes.end(), payload.begin(), payload.end());
  w.bytes.resize(w.bytes.size() + p.bth.pad_count, 0);
  wire::IcrcIpInfo ip;
  ip.src_ip = src.ip;
  ip.dst_ip = dst.ip;
  ip.src_port = w.src_port;
  iovec part{w.bytes.data(), w.bytes.size()};
  uint32_t icrc = wire::icrc_compute(ip, std::span<const iovec>(&part, 1));
  w.bytes.resize(w.bytes.size() + 4);
  wire::icrc_store(icrc, w.bytes.data() + w.bytes.size() - 4);
  ASSERT_EQ(wire::parse(w.bytes, w.parsed), wire::ParseError::kOk);
  wire_.push_back(std::move(w));
}

uint32_t Fabric::pump(int s, uint32_t budget) { return side(s).qp->poll(now_ns_, budget); }

uint64_t Fabric::run(uint64_t max_time_ns) {
  const uint64_t end = now_ns_ + max_time_ns;
  uint64_t passes = 0;
  while (passes < 50'000'000) {
    ++passes;
    bool moved = false;
    if (!wire_.empty()) {
      deliver_all();
      moved = true;
    }
    for (int s = 0; s < 2; ++s)
      if (pump(s, 64) > 0) moved = true;
    if (moved) continue;
    // Idle: has_tx_work() must agree, or an engine would spin on it.
    EXPECT_FALSE(a().qp->has_tx_work());
    EXPECT_FALSE(b().qp->has_tx_work());
    uint64_t d = std::min(a().qp->next_deadline(), b().qp->next_deadline());
    if (d == UINT64_MAX || d > end) break;
    now_ns_ = d > now_ns_ ? d : now_ns_ + 1000;
  }
  return passes;
}

pipe::SendWqe make_wqe(uint64_t wr_id, ibv_wr_opcode op, uint32_t flags) {
  pipe::SendWqe w{};
  w.wr_id = wr_id;
  w.opcode = uint8_t(op);
  w.send_flags = flags;
  return w;
}

uint64_t message_packets(uint32_t size, ibv_mtu mtu) {
  const uint32_t mtu_bytes = 256u << (mtu - IBV_MTU_256);
  return size == 0 ? 1 : (uint64_t(size) + mtu_bytes - 1) / mtu_bytes;
}

uint64_t expect_requests_of(Fabric& f, ibv_qp_type type) {
  const wire::Transport service = type == IBV_QPT_UC ? wire::Transport::kUc : wire::Transport::kRc;
  uint64_t requests = 0;
  for (const auto& [op, n] : f.sent_by_opcode) {
    const wire::OpcodeInfo& info = wire::opcode_info(op);
    EXPECT_EQ(info.transport, service) << info.name;
    if (info.flags & wire::kOpRequest) requests += n;
  }
  if (type == IBV_QPT_UC) {
    EXPECT_EQ(f.b().counters().acks_sent.get(), 0u) << "UC acknowledges nothing";
  }
  return requests;
}

const char* service_name(ibv_qp_type type) { return type == IBV_QPT_UC ? "UC" : "RC"; }

void fill_pattern(uint8_t* p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    p[i] = uint8_t(x >> 16);
  }
}

}  // namespace flexins::transport::test
