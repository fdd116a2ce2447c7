#include "net_harness.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "fabric/packet_bytes.h"
#include "wire/icrc.h"

namespace flexins::transport::test {
namespace {

uint8_t* align64(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

}  // namespace

// ------------------------------------------------------------------ env

uint64_t NetEnv::now_ns() { return net_.now(); }

void NetEnv::transmit(OutPacket& pkt) { tx_batch.push_back(pkt); }

void NetEnv::flush() {
  ++flushes;
  net_.flush(host_);
}

const MemoryRegion* NetEnv::mr_by_lkey(uint32_t lkey) {
  auto it = by_lkey.find(lkey);
  return it == by_lkey.end() ? nullptr : &it->second;
}

const MemoryRegion* NetEnv::mr_by_rkey(uint32_t rkey) {
  auto it = rkey_to_lkey.find(rkey);
  return it == rkey_to_lkey.end() ? nullptr : mr_by_lkey(it->second);
}

const AddressHandle* NetEnv::address_handle(uint32_t, uint32_t handle) {
  auto it = ahs.find(handle);
  return it == ahs.end() ? nullptr : &it->second;
}

// ------------------------------------------------------------------- QP

void NetQp::post_send(const pipe::SendWqe& wqe, const std::vector<pipe::Sge>& sges) {
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

void NetQp::post_send_inline(const pipe::SendWqe& wqe, const uint8_t* data, uint32_t len) {
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

void NetQp::post_recv(uint64_t wr_id, const std::vector<pipe::Sge>& sges) {
  ASSERT_FALSE(rq_prod.full());
  uint8_t* slot = rq_prod.slot();
  pipe::RecvWqe w{wr_id, uint32_t(sges.size()), 0};
  std::memcpy(slot, &w, sizeof w);
  if (!sges.empty()) std::memcpy(slot + sizeof w, sges.data(), sges.size() * sizeof(pipe::Sge));
  rq_prod.advance();
  rq_prod.publish();
}

void NetSrq::post(uint64_t wr_id, const std::vector<pipe::Sge>& sges) {
  ASSERT_FALSE(prod.full());
  uint8_t* slot = prod.slot();
  pipe::RecvWqe w{wr_id, uint32_t(sges.size()), 0};
  std::memcpy(slot, &w, sizeof w);
  if (!sges.empty()) std::memcpy(slot + sizeof w, sges.data(), sges.size() * sizeof(pipe::Sge));
  prod.advance();
  prod.publish();
}

// ----------------------------------------------------------------- host

Host::Host(Net& net, int index, uint32_t ip_net)
    : ip(ip_net),
      env(net, index),
      index_(index),
      next_key_(0x0c000100u + uint32_t(index) * 0x01000000u),
      next_qpn_(0x100 * uint32_t(index + 1) + 0x11) {}

Buffer Host::reg(size_t size, uint32_t access, uint32_t mr_pd) {
  memory_.emplace_back(size ? size : 1);
  Buffer b;
  b.data = memory_.back().data();
  b.size = size;
  b.lkey = next_key_++;
  b.rkey = b.lkey ^ 0x00beef00u;
  b.addr = (uint64_t(b.lkey & 0xffff) << 32) | 0x2000;  // an iova, not the heap address
  MemoryRegion mr;
  mr.handle = b.lkey;
  mr.lkey = b.lkey;
  mr.rkey = b.rkey;
  mr.pd = mr_pd ? mr_pd : pd;
  mr.access = access;
  mr.iova = b.addr;
  mr.length = size;
  mr.base = b.data;
  env.by_lkey[b.lkey] = mr;
  env.rkey_to_lkey[b.rkey] = b.lkey;
  return b;
}

WatchedCq& Host::make_cq(uint32_t slots) { return cqs_.emplace_back(slots); }

NetSrq& Host::make_srq(uint32_t max_wr, uint32_t max_sge, uint32_t srq_pd) {
  NetSrq& s = srqs_.emplace_back();
  const uint32_t slots = pipe::ring_slots(max_wr);
  const uint32_t slot_size = pipe::recv_slot_size(max_sge);
  s.mem.resize(sizeof(pipe::SrqShm) + size_t(slots) * slot_size + 64);
  uint8_t* base = align64(s.mem.data());
  s.shm = new (base) pipe::SrqShm();
  uint8_t* ring = base + sizeof(pipe::SrqShm);
  s.shm->rq.slots = slots;
  s.shm->rq.slot_size = slot_size;
  s.shm->rq.ring_offset = sizeof(pipe::SrqShm);
  s.prod = pipe::WqProducer(&s.shm->rq, ring);
  NetSrq* self = &s;
  s.srq = std::make_unique<RingSrq>(s.shm, ring, slots, slot_size, srq_pd ? srq_pd : pd, max_sge,
                                    [self] { ++self->limit_events; });
  return s;
}

NetQp& Host::make_qp(ibv_qp_type type, WatchedCq& send_cq, WatchedCq& recv_cq, const QpConfig& cfg) {
  NetQp& q = qps_.emplace_back();
  q.qpn = next_qpn_++;
  q.type = type;
  const uint32_t sq_slots = pipe::ring_slots(cfg.sq_depth);
  const uint32_t rq_slots = cfg.srq ? 0 : pipe::ring_slots(cfg.rq_depth);
  const uint32_t sq_slot = pipe::send_slot_size(pipe::DeviceCaps::kMaxSge, cfg.max_inline);
  const uint32_t rq_slot = pipe::recv_slot_size(pipe::DeviceCaps::kMaxSge);
  q.shm_mem.resize(sizeof(pipe::QpShm) + size_t(sq_slots) * sq_slot + size_t(rq_slots) * rq_slot + 64);
  uint8_t* base = align64(q.shm_mem.data());
  q.shm = new (base) pipe::QpShm();
  uint8_t* sq_ring = base + sizeof(pipe::QpShm);
  uint8_t* rq_ring = sq_ring + size_t(sq_slots) * sq_slot;
  q.shm->sq.slots = sq_slots;
  q.shm->sq.slot_size = sq_slot;
  q.shm->rq.slots = rq_slots;
  q.shm->rq.slot_size = rq_slot;
  q.sq_prod = pipe::WqProducer(&q.shm->sq, sq_ring);

  QpSetup s;
  s.qpn = q.qpn;
  s.type = type;
  s.pd = pd;
  s.sq_sig_all = cfg.sq_sig_all;
  s.cap.max_send_wr = sq_slots;
  s.cap.max_recv_wr = rq_slots;
  s.cap.max_send_sge = pipe::DeviceCaps::kMaxSge;
  s.cap.max_recv_sge = cfg.srq ? 0 : pipe::DeviceCaps::kMaxSge;
  s.cap.max_inline_data = cfg.max_inline;
  s.shm = q.shm;
  s.sq = pipe::WqConsumer(&q.shm->sq, sq_ring, sq_slots, sq_slot);
  if (cfg.srq) {
    s.srq = cfg.srq->srq.get();
  } else {
    q.rq_prod = pipe::WqProducer(&q.shm->rq, rq_ring);
    s.rq = pipe::WqConsumer(&q.shm->rq, rq_ring, rq_slots, rq_slot);
  }
  s.send_cq = &send_cq;
  s.recv_cq = &recv_cq;
  s.local_ip = ip;
  s.src_port = uint16_t(49152 + (q.qpn & 0x3fff));
  s.port_mtu_bytes = cfg.port_mtu_bytes;
  q.qp = std::make_unique<Qp>(env, s);
  return q;
}

uint32_t Host::make_ah(const Host& dest, uint32_t ah_pd) {
  AddressHandle ah;
  ah.pd = ah_pd ? ah_pd : pd;
  ah.dest_ip = dest.ip;
  const uint32_t h = next_ah_++;
  env.ahs[h] = ah;
  return h;
}

NetQp* Host::find_qp(uint32_t qpn) {
  for (NetQp& q : qps_)
    if (q.qpn == qpn) return &q;
  return nullptr;
}

// ------------------------------------------------------------------ net

Net::Net(int hosts) {
  for (int i = 0; i < hosts; ++i)
    hosts_.push_back(std::make_unique<Host>(*this, i, htonl(0x0a000001u + uint32_t(i))));
}

int Net::ud_to_rts(Qp& qp, uint32_t qkey, uint32_t sq_psn) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = 1;
  a.qkey = qkey;
  if (int e = qp.modify(a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY)) return e;
  a = {};
  a.qp_state = IBV_QPS_RTR;
  if (int e = qp.modify(a, IBV_QP_STATE)) return e;
  a.qp_state = IBV_QPS_RTS;
  a.sq_psn = sq_psn;
  return qp.modify(a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

void Net::rc_connect(Host& ha, NetQp& a, Host& hb, NetQp& b) {
  QpOptions o;
  o.mtu = IBV_MTU_1024;
  ASSERT_EQ(Fabric::modify_to_init(*a.qp, o.access), 0);
  ASSERT_EQ(Fabric::modify_to_init(*b.qp, o.access), 0);
  ASSERT_EQ(Fabric::modify_to_rtr(*a.qp, o, hb.ip, b.qpn, 0x100), 0);
  ASSERT_EQ(Fabric::modify_to_rtr(*b.qp, o, ha.ip, a.qpn, 0x200), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*a.qp, o, 0x200), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*b.qp, o, 0x100), 0);
}

void Net::flush(int from) {
  Host& src = host(from);
  for (OutPacket& pkt : src.env.tx_batch) {
    WirePacket w;
    w.src_ip = src.ip;
    w.src_port = pkt.src_port;
    w.to = -1;
    for (size_t i = 0; i < hosts_.size(); ++i)
      if (hosts_[i]->ip == pkt.dst_ip) w.to = int(i);
    for (uint32_t i = 0; i < pkt.iov_count; ++i) {
      const auto* p = static_cast<const uint8_t*>(pkt.payload[i].iov_base);
      bool inside = false;
      for (const auto& [key, mr] : src.env.by_lkey)
        if (p >= mr.base && p + pkt.payload[i].iov_len <= mr.base + mr.length) inside = true;
      if (!inside) ++iovs_outside_mrs;
    }
    fabric::udp_payload_of(pkt, src.ip, w.bytes);
    EXPECT_EQ(wire::parse(w.bytes, w.parsed), wire::ParseError::kOk);
    if (w.to < 0) {
      ++unknown_destination;
      continue;
    }
    wire_.push_back(std::move(w));
  }
  src.env.tx_batch.clear();
}

void Net::deliver_all() {
  while (!wire_.empty()) deliver_one();
}

void Net::deliver_one() {
  if (!wire_.empty()) {
    WirePacket w = std::move(wire_.front());
    wire_.pop_front();
    Host& dst = host(w.to);
    wire::IcrcIpInfo ip;
    ip.src_ip = w.src_ip;
    ip.dst_ip = dst.ip;
    ip.src_port = w.src_port;
    ASSERT_TRUE(wire::icrc_check(ip, w.bytes)) << "ICRC mismatch on the wire";
    wire::Packet pkt;
    ASSERT_EQ(wire::parse(w.bytes, pkt), wire::ParseError::kOk);
    NetQp* q = dst.find_qp(pkt.bth.dest_qp);
    if (q != nullptr) {
      RxMeta meta;
      meta.src_ip = w.src_ip;
      meta.src_port = w.src_port;
      q->qp->on_packet(pkt, meta);
    } else {
      dst.env.counters().rx_drop_unknown_qp.add();
    }
    flush(w.to);  // replies the packet caused leave at the end of the "pass"
    delivered_.push_back(std::move(w));
    wire::parse(delivered_.back().bytes, delivered_.back().parsed);  // re-point the payload
  }
}

void Net::run(uint64_t max_time_ns) {
  const uint64_t end = now_ns_ + max_time_ns;
  for (int pass = 0; pass < 1'000'000; ++pass) {
    bool moved = !wire_.empty();
    deliver_all();
    for (size_t h = 0; h < hosts_.size(); ++h) {
      // Poll every QP of the host, then end the pass with a flush.
      for (NetQp& q : hosts_[h]->qps())
        if (q.qp->poll(now_ns_, 64) > 0) moved = true;
      flush(int(h));
    }
    if (moved) continue;
    uint64_t next = UINT64_MAX;
    for (auto& h : hosts_)
      for (NetQp& q : h->qps()) next = std::min(next, q.qp->next_deadline());
    if (next == UINT64_MAX || next > end) return;
    now_ns_ = next > now_ns_ ? next : now_ns_ + 1000;
  }
  ADD_FAILURE() << "the net never went quiet";
}

}  // namespace flexins::transport::test
