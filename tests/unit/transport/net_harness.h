// A second transport test harness, for what the two-QP Fabric (harness.h)
// cannot express: several hosts, several QPs per host of any type (UD, RC),
// shared CQs, address handles and shared receive queues over real rings.
//
// Each host has an Env (NetEnv) with its own memory regions, address
// handles and counters. Packets a QP transmits wait in the host's TX batch
// until the Env is flushed, as in the engine's worker (the payload iovecs
// are read then, as sendmmsg would); Net flushes after every delivery and
// every poll, the way a worker pass ends. The wire is an in-memory FIFO of
// serialised RoCEv2 UDP payloads, ICRC-checked and parsed on delivery.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "harness.h"
#include "transport/env.h"
#include "transport/qp.h"
#include "transport/ring_srq.h"

namespace flexins::transport::test {

class Net;

class NetEnv : public Env {
 public:
  NetEnv(Net& net, int host) : net_(net), host_(host) {}
  uint64_t now_ns() override;
  void transmit(OutPacket& pkt) override;
  const MemoryRegion* mr_by_lkey(uint32_t lkey) override;
  const MemoryRegion* mr_by_rkey(uint32_t rkey) override;
  void qp_event(uint32_t qpn, ibv_event_type event) override { events.emplace_back(qpn, event); }
  void wake_qp(uint32_t) override { ++wakes; }
  Counters& counters() override { return counters_; }
  const AddressHandle* address_handle(uint32_t qpn, uint32_t handle) override;
  void flush() override;

  std::vector<std::pair<uint32_t, ibv_event_type>> events;  // (qpn, event)
  uint64_t wakes = 0;
  uint64_t flushes = 0;
  std::vector<OutPacket> tx_batch;  // transmitted, not yet flushed
  std::map<uint32_t, MemoryRegion> by_lkey;
  std::map<uint32_t, uint32_t> rkey_to_lkey;
  std::map<uint32_t, AddressHandle> ahs;  // by handle

 private:
  Net& net_;
  int host_;
  Counters counters_;
};

// A completion queue that can check something on every push.
class WatchedCq : public TestCq {
 public:
  explicit WatchedCq(uint32_t slots) : TestCq(slots) {}
  bool push(const pipe::Cqe& cqe) override {
    if (on_push) on_push(cqe);
    return TestCq::push(cqe);
  }
  std::function<void(const pipe::Cqe&)> on_push;
};

// One QP with the host side of its rings.
struct NetQp {
  uint32_t qpn = 0;
  ibv_qp_type type = IBV_QPT_UD;
  std::vector<uint8_t> shm_mem;
  pipe::QpShm* shm = nullptr;
  pipe::WqProducer sq_prod;
  pipe::WqProducer rq_prod;  // unused with an SRQ
  std::unique_ptr<Qp> qp;

  void post_send(const pipe::SendWqe& wqe, const std::vector<pipe::Sge>& sges);
  void post_send_inline(const pipe::SendWqe& wqe, const uint8_t* data, uint32_t len);
  void post_recv(uint64_t wr_id, const std::vector<pipe::Sge>& sges);
};

// A shared receive queue: a heap ring the host produces into, consumed by
// the engine-side RingSrq.
struct NetSrq {
  std::vector<uint8_t> mem;
  pipe::SrqShm* shm = nullptr;
  pipe::WqProducer prod;
  std::unique_ptr<RingSrq> srq;
  uint32_t limit_events = 0;

  void post(uint64_t wr_id, const std::vector<pipe::Sge>& sges);
  uint32_t posted() const { return srq->posted(); }
};

struct QpConfig {
  uint32_t sq_depth = 64;
  uint32_t rq_depth = 64;
  uint32_t max_inline = 256;
  uint32_t port_mtu_bytes = 4096;
  NetSrq* srq = nullptr;
  bool sq_sig_all = false;
};

class Host {
 public:
  Host(Net& net, int index, uint32_t ip_net);

  Buffer reg(size_t size, uint32_t access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                                            IBV_ACCESS_REMOTE_READ,
             uint32_t pd = 0);
  WatchedCq& make_cq(uint32_t slots = 1024);
  NetSrq& make_srq(uint32_t max_wr, uint32_t max_sge = 4, uint32_t pd = 0);
  NetQp& make_qp(ibv_qp_type type, WatchedCq& send_cq, WatchedCq& recv_cq, const QpConfig& cfg = {});
  // An address handle to `dest` (its IPv4-mapped GID), on `pd` (0: the host's).
  uint32_t make_ah(const Host& dest, uint32_t pd = 0);
  NetQp* find_qp(uint32_t qpn);
  std::deque<NetQp>& qps() { return qps_; }

  uint32_t ip;  // network byte order
  uint32_t pd = 7;
  NetEnv env;

 private:
  int index_;
  uint32_t next_key_;
  uint32_t next_qpn_;
  uint32_t next_ah_ = 1;
  std::deque<std::vector<uint8_t>> memory_;
  std::deque<WatchedCq> cqs_;
  std::deque<NetSrq> srqs_;
  std::deque<NetQp> qps_;
};

class Net {
 public:
  explicit Net(int hosts = 2);
  Host& host(int i) { return *hosts_[size_t(i)]; }

  // UD: RESET → INIT (qkey) → RTR → RTS. Returns the first non-zero errno.
  static int ud_to_rts(Qp& qp, uint32_t qkey, uint32_t sq_psn = 0x123);
  // RC: connect two QPs of two hosts (both to RTS).
  static void rc_connect(Host& ha, NetQp& a, Host& hb, NetQp& b);

  // ---- the wire
  void flush(int host);
  void deliver_one();
  void deliver_all();
  // Deliver passes and QP polls until nothing moves; then jump the clock to
  // the next QP deadline (RC timers) and go on, up to max_time_ns.
  void run(uint64_t max_time_ns = 1'000'000'000ull);
  std::deque<WirePacket>& wire() { return wire_; }
  std::vector<WirePacket>& delivered() { return delivered_; }  // everything delivered so far
  uint64_t now() const { return now_ns_; }
  uint64_t iovs_outside_mrs = 0;  // payload slices outside registered memory (not inline)
  uint64_t unknown_destination = 0;

 private:
  std::vector<std::unique_ptr<Host>> hosts_;
  std::deque<WirePacket> wire_;
  std::vector<WirePacket> delivered_;
  uint64_t now_ns_ = 1'000'000'000;
};

}  // namespace flexins::transport::test
