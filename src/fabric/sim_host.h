// One simulated host: registered memory, completion queues and RC QPs (the
// real transport::Qp), run by a simulated engine worker that schedules them
// as engine/worker.cc does, in virtual time.
//
// One pass, in the worker's fixed order:
//   receive burst (up to kRxBurst packets that have arrived) → dispatch by
//   BTH DestQP, CNPs included → doorbells the host rang → transmit (active
//   QPs, kQpTxBudget packets each, while the NIC's TX ring has room) →
//   timers (QPs whose next_deadline() has come) → flush the TX batch.
// Then the applications on the host look at their completion queues
// (HostApp::after_pass) and may post and ring doorbells. A pass runs when
// something arrives, a doorbell rings, the NIC drains, or a deadline falls.
// A QP is active after Env::wake_qp or whenever has_tx_work() says so after
// the worker called it (the worker's after_qp_call).
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "fabric/host_queues.h"
#include "transport/env.h"
#include "transport/qp.h"
#include "wire/packet.h"

namespace flexins::fabric {

class Sim;

// A region of host memory registered for RDMA.
struct HostBuffer {
  uint32_t lkey = 0;
  uint32_t rkey = 0;
  uint64_t addr = 0;  // the iova the application uses
  uint8_t* data = nullptr;
  size_t size = 0;
  pipe::Sge sge(uint64_t offset, uint32_t len) const { return pipe::Sge{addr + offset, len, lkey}; }
};

// A QP with the host side of its rings.
struct HostQp {
  uint32_t qpn = 0;
  std::unique_ptr<QpRings> rings;
  std::unique_ptr<transport::Qp> qp;
};

class SimHost final : public transport::Env {
 public:
  // As engine/worker.cc: receive burst and per-QP transmit budget per pass.
  static constexpr uint32_t kRxBurst = 16;
  static constexpr uint32_t kQpTxBudget = 32;
  static constexpr uint32_t kTxBatch = 64;

  SimHost(Sim& sim, uint32_t index, uint32_t ip, std::string cc_spec);
  ~SimHost() override;

  uint32_t index() const { return index_; }
  uint32_t ip() const { return ip_; }  // network byte order

  // ---- setting up (the control path)
  HostBuffer reg(size_t size, uint32_t access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                                                IBV_ACCESS_REMOTE_READ);
  HeapCq& make_cq(uint32_t slots);
  HostQp& make_rc_qp(HeapCq& send_cq, HeapCq& recv_cq, const RingSizes& sizes);
  // The host posted to this QP's rings: the worker calls on_doorbell() in
  // its next pass (which this schedules now).
  void ring_doorbell(uint32_t qpn);
  // Called after every pass of this host's worker.
  void add_app(std::function<void()> after_pass) { apps_.push_back(std::move(after_pass)); }

  // ---- the simulator
  void deliver(uint32_t flight);  // a packet arrived (queued for the next pass)
  void pass();

  // Passes that found active QPs with room to send but sent nothing
  // (has_tx_work() and poll() disagree; an engine would spin).
  uint64_t stalled_passes = 0;
  std::vector<std::pair<uint32_t, ibv_event_type>> events;  // async events (qpn, event)
  // Congestion controllers handed to the transport (new_congestion_control).
  uint64_t cc_policies_created = 0;
  // Sees every packet about to be dispatched to a QP (tests, traces).
  std::function<void(const wire::Packet&, const transport::RxMeta&)> rx_tap;

  // ---- transport::Env
  uint64_t now_ns() override;
  void transmit(transport::OutPacket& pkt) override;
  const transport::MemoryRegion* mr_by_lkey(uint32_t lkey) override;
  const transport::MemoryRegion* mr_by_rkey(uint32_t rkey) override;
  void qp_event(uint32_t qpn, ibv_event_type event) override { events.emplace_back(qpn, event); }
  void wake_qp(uint32_t qpn) override;
  transport::Counters& counters() override { return counters_; }
  void flush() override;
  transport::WindowPool* tx_window_pool() override { return &window_pool_; }
  std::unique_ptr<cc::CongestionControl> new_congestion_control(uint32_t qpn) override;
  transport::LossRecoveryMode loss_recovery_mode(uint32_t qpn) override;

 private:
  struct Entry {
    HostQp* q = nullptr;
    bool active = false;
    uint64_t armed_deadline = UINT64_MAX;
  };
  void after_qp_call(uint32_t qpn, Entry& e);
  void handle_packet(uint32_t flight);
  bool tx_pass();
  bool timer_pass();
  uint32_t nic_room();
  void schedule_next();

  Sim& sim_;
  uint32_t index_;
  uint32_t ip_;
  std::string cc_spec_;
  transport::Counters counters_;

  std::deque<std::vector<uint8_t>> memory_;
  std::map<uint32_t, transport::MemoryRegion> mr_by_lkey_;
  std::map<uint32_t, uint32_t> rkey_to_lkey_;
  uint32_t next_key_;
  uint32_t next_qpn_;
  std::deque<HeapCq> cqs_;
  // As the worker's, but each QP keeps to its share: this host does not
  // requeue the QPs a lending pool would hold back. Before qps_: a QP gives
  // its claim back when it goes.
  transport::WindowPool window_pool_{.lend = false};
  std::deque<HostQp> qps_;
  std::map<uint32_t, Entry> by_qpn_;
  std::vector<std::function<void()>> apps_;

  std::deque<uint32_t> rx_;          // arrived flights, not yet dispatched
  std::vector<uint32_t> doorbells_;  // QPNs, in the order rung
  std::vector<uint32_t> active_;
  using Deadline = std::pair<uint64_t, uint32_t>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> timers_;
  std::vector<transport::OutPacket> tx_batch_;
  bool last_pass_stalled_ = false;
};

}  // namespace flexins::fabric
