// Test harness for the RC transport: two QPs ("A" and "B") on two simulated
// hosts, no sockets. Each host has heap-allocated pipe rings driven through
// the same ring views the verbs library uses (WqProducer / CqConsumer), an
// Env with its own memory regions over heap buffers, and a fake clock. The
// wire between them is an in-memory FIFO of fully serialised RoCEv2 UDP
// payloads (headers + gathered payload + pad + ICRC); delivery checks the
// ICRC, parses with wire::parse and calls Qp::on_packet. A seeded fault
// injector can drop, duplicate and reorder packets.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "pipe/rings.h"
#include "pipe/shm_layout.h"
#include "transport/env.h"
#include "transport/qp.h"
#include "wire/packet.h"

namespace flexins::transport::test {

// A completion queue as the engine writes it (pipe::CqProducer) and the
// host reads it (pipe::CqConsumer), over a heap ring.
class TestCq : public CompletionQueue {
 public:
  explicit TestCq(uint32_t slots);
  bool push(const pipe::Cqe& cqe) override { return producer_.push(cqe); }
  // Everything the host can poll now (consumed).
  std::vector<pipe::Cqe> drain();

 private:
  std::vector<uint8_t> mem_;
  pipe::CqShm* ctrl_ = nullptr;
  pipe::CqProducer producer_;
  pipe::CqConsumer consumer_;
};

class TestSrq : public SharedReceiveQueue {
 public:
  explicit TestSrq(uint32_t pd) : pd_(pd) {}
  bool take(pipe::RecvWqe& wqe, pipe::Sge* sges, uint32_t max_sges) override;
  uint32_t pd() const override { return pd_; }
  void post(uint64_t wr_id, std::vector<pipe::Sge> sges) { q_.push_back({wr_id, std::move(sges)}); }
  size_t size() const { return q_.size(); }

 private:
  struct Entry {
    uint64_t wr_id;
    std::vector<pipe::Sge> sges;
  };
  uint32_t pd_;
  std::deque<Entry> q_;
};

struct Buffer {
  uint32_t lkey = 0;
  uint32_t rkey = 0;
  uint64_t addr = 0;  // the region's virtual address as the application sees it (iova)
  uint8_t* data = nullptr;
  size_t size = 0;
  pipe::Sge sge(uint64_t offset, uint32_t len) const { return pipe::Sge{addr + offset, len, lkey}; }
};

class Fabric;

class TestEnv : public Env {
 public:
  TestEnv(Fabric& fabric, int side) : fabric_(fabric), side_(side) {}
  uint64_t now_ns() override;
  void transmit(OutPacket& pkt) override;
  const MemoryRegion* mr_by_lkey(uint32_t lkey) override;
  const MemoryRegion* mr_by_rkey(uint32_t rkey) override;
  void qp_event(uint32_t, ibv_event_type event) override { events.push_back(event); }
  void wake_qp(uint32_t) override { ++wakes; }
  Counters& counters() override { return counters_; }
  LossRecoveryMode loss_recovery_mode(uint32_t) override { return lr; }
  WindowPool* tx_window_pool() override { return pool; }

  LossRecoveryMode lr = LossRecoveryMode::kGoBackN;  // for the QP created next
  WindowPool* pool = nullptr;  // a test's window pool; none by default
  std::vector<ibv_event_type> events;
  uint64_t wakes = 0;
  std::map<uint32_t, MemoryRegion> by_lkey;  // the region table (by L_Key)
  std::map<uint32_t, uint32_t> rkey_to_lkey;

 private:
  Fabric& fabric_;
  int side_;
  Counters counters_;
};

struct QpOptions {
  ibv_qp_type type = IBV_QPT_RC;  // or IBV_QPT_UC (connect() passes UC's masks)
  ibv_mtu mtu = IBV_MTU_1024;
  uint8_t timeout = 14;  // 67 ms
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;
  uint8_t min_rnr_timer = 1;  // 0.01 ms
  uint8_t max_rd_atomic = 16;
  uint32_t access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
                    IBV_ACCESS_REMOTE_ATOMIC;
  uint32_t sq_depth = 256;
  uint32_t rq_depth = 256;
  uint32_t cq_depth = 4096;
  bool use_srq = false;
  bool sq_sig_all = false;
  LossRecoveryMode lr = LossRecoveryMode::kGoBackN;  // Env::loss_recovery_mode
};

// One simulated host with its QP.
struct Side {
  Side(Fabric& fabric, int index, uint32_t ip, uint32_t qpn, const QpOptions& opt);
  ~Side();

  Buffer reg(size_t size, uint32_t access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                                            IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
             uint32_t pd = 0);
  void dereg(const Buffer& b);

  // Host posts (then rings the doorbell).
  void post_send(const pipe::SendWqe& wqe, const std::vector<pipe::Sge>& sges);
  void post_send_inline(const pipe::SendWqe& wqe, const uint8_t* data, uint32_t len);
  void post_recv(uint64_t wr_id, const std::vector<pipe::Sge>& sges);
  bool sq_full() const { return sq_prod.full(); }

  std::vector<pipe::Cqe> send_cqes() { return send_cq->drain(); }
  std::vector<pipe::Cqe> recv_cqes() { return recv_cq->drain(); }
  Counters& counters() { return env->counters(); }

  uint32_t ip;  // network byte order
  uint32_t qpn;
  uint32_t pd = 7;
  QpOptions opt;
  std::unique_ptr<TestEnv> env;
  std::vector<uint8_t> shm_mem;  // QpShm + SQ ring + RQ ring, 64-byte aligned inside
  pipe::QpShm* shm = nullptr;
  pipe::WqProducer sq_prod;
  pipe::WqProducer rq_prod;
  std::unique_ptr<TestCq> send_cq;
  std::unique_ptr<TestCq> recv_cq;
  std::unique_ptr<TestSrq> srq;
  std::unique_ptr<Qp> qp;
  std::deque<std::vector<uint8_t>> memory;  // registered buffers
  uint32_t next_key = 0x100;
};

// A packet on the in-memory wire.
struct WirePacket {
  int to = 0;  // 0: A, 1: B
  uint32_t src_ip = 0;
  uint16_t src_port = 0;
  std::vector<uint8_t> bytes;  // UDP payload: headers, payload, pad, ICRC
  wire::Packet parsed;         // for the test to look at (payload points into bytes)
};

struct Faults {
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;
};

class Fabric {
 public:
  explicit Fabric(const QpOptions& a = {}, const QpOptions& b = {}, uint64_t seed = 1);

  Side& a() { return *sides_[0]; }
  Side& b() { return *sides_[1]; }
  Side& side(int i) { return *sides_[i]; }

  // RESET → INIT → RTR → RTS on both QPs; asserts each step returns 0.
  void connect();
  static int modify_to_init(Qp& qp, uint32_t access);
  static int modify_to_rtr(Qp& qp, const QpOptions& o, uint32_t peer_ip, uint32_t peer_qpn,
                           uint32_t rq_psn);
  // The same with no GRH, only the peer's LID (FlexiNS's LID routing).
  static int modify_to_rtr_by_lid(Qp& qp, const QpOptions& o, uint16_t peer_lid, uint32_t peer_qpn,
                                  uint32_t rq_psn);
  static int modify_to_rts(Qp& qp, const QpOptions& o, uint32_t sq_psn);

  // ---- the wire
  std::deque<WirePacket>& wire() { return wire_; }
  void set_faults(const Faults& f) { faults_ = f; }
  // Drop (true) a packet as it is transmitted; cleared with nullptr.
  void set_tx_filter(std::function<bool(const WirePacket&)> drop) { tx_filter_ = std::move(drop); }
  // Mark (true) a packet ECN-CE on delivery, as a congested switch would;
  // every other packet arrives ECT(0). Cleared with nullptr.
  void set_ce_marker(std::function<bool(const WirePacket&)> mark) { ce_marker_ = std::move(mark); }
  // Deliver the packet at the front of the wire to its destination QP.
  void deliver_one();
  void deliver_all();
  // Put a hand-made packet from side `from` on the wire (to the other QP):
  // the test crafts what a buggy or hostile peer would send.
  void inject(int from, wire::Packet p, const std::vector<uint8_t>& payload = {});
  // Let a side's QP transmit (Qp::poll at the current time).
  uint32_t pump(int side, uint32_t budget = 64);

  // ---- running
  // Engine passes (deliver everything in flight, poll both QPs) until
  // nothing moves; then, if allowed, jump the clock to the next QP deadline
  // and carry on, up to `max_time_ns` of simulated time. Returns the passes.
  uint64_t run(uint64_t max_time_ns = 10'000'000'000ull);
  uint64_t now() const { return now_ns_; }
  void advance(uint64_t ns) { now_ns_ += ns; }

  // ---- bookkeeping by the wire
  void on_transmit(int side, OutPacket& pkt);
  uint64_t transmitted = 0;           // packets put on the wire
  uint64_t iovs_outside_mrs = 0;      // payload slices not pointing into registered memory
  uint64_t bad_out_packets = 0;       // OutPacket inconsistencies (pad, lengths)
  uint64_t delivered = 0;
  uint64_t dropped_by_faults = 0;
  std::map<uint8_t, uint64_t> sent_by_opcode;  // opcode → count (after faults/filters)

 private:
  std::vector<std::unique_ptr<Side>> sides_;
  std::deque<WirePacket> wire_;
  Faults faults_;
  std::function<bool(const WirePacket&)> tx_filter_;
  std::function<bool(const WirePacket&)> ce_marker_;
  std::mt19937_64 rng_;
  uint64_t now_ns_ = 1'000'000'000;
};

// Helpers to write WQEs.
pipe::SendWqe make_wqe(uint64_t wr_id, ibv_wr_opcode op, uint32_t flags = IBV_SEND_SIGNALED);
void fill_pattern(uint8_t* p, size_t n, uint32_t seed);

// Packets of a SEND or RDMA WRITE message of `size` bytes at `mtu`.
uint64_t message_packets(uint32_t size, ibv_mtu mtu);
// The request packets the wire carried (Fabric::sent_by_opcode), checking
// that each is of `type`'s service (RC or UC opcodes) and that a UC
// responder sent nothing back (UC has no ACKs or responses).
uint64_t expect_requests_of(Fabric& f, ibv_qp_type type);
// "RC" / "UC", for test names.
const char* service_name(ibv_qp_type type);

}  // namespace flexins::transport::test
