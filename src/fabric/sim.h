// A discrete-event simulator with virtual time: several hosts, each running
// the real RC transport (transport::Qp) under a simulated engine worker
// (sim_host.h), joined by one output-queued switch (switch_port.h).
//
//   host i ──NIC (host rate)──► switch ──egress port toward host j──► host j
//
// A packet a QP transmits is serialised to its RoCEv2 UDP payload when the
// host's worker flushes (packet_bytes.h), leaves through the host's NIC at
// the host's line rate, crosses the link, queues at the switch port toward
// its destination (which may drop it, or mark it ECN-CE), crosses the second
// link and lands in the destination host's receive queue. The line rate of
// NICs and ports counts Ethernet framing (kEthernetIpUdpOverheadBytes).
// Every host sends ECT(0); a packet arrives with ECN CE if a port marked it.
// Hosts jitter a little (host_jitter_ns), as real ones do.
//
// Time only moves from event to event; nothing reads a clock, and every
// random choice comes from seeded generators, so a run is a pure function of
// its configuration. Engine processing takes no virtual time: the limits
// are the links.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "fabric/switch_port.h"
#include "transport/selective_repeat.h"

namespace flexins::fabric {

class SimHost;

struct FabricConfig {
  uint32_t hosts = 2;
  uint64_t host_rate_bps = 25'000'000'000;  // each host's NIC
  // Every switch egress port (rate, buffer, ECN, loss). Its propagation_ns is
  // every link's delay, host → switch as well; its seed is mixed per port.
  SwitchPortConfig port;
  // The host's worker polls QPs for transmission only while its NIC holds
  // fewer packets than this (a NIC's TX ring: back-pressure, so a window
  // waits in the transport, not in an unbounded NIC queue).
  uint32_t nic_tx_ring_packets = 8;
  // Hosts are not in lock-step: each packet's trip to the switch takes a
  // seeded random extra [0, host_jitter_ns] (a link stays FIFO). Without
  // it, senders of equal packets at equal rates phase-lock at a drop-tail
  // port: the flow whose packets arrive just as a slot frees takes every
  // slot, and the others lose every packet (0 shows it).
  uint64_t host_jitter_ns = 1'000;
  // The congestion-control spec each host's Env gives new RC QPs
  // (cc::PolicyRegistry): "" → nullptr (the transport's fixed window).
  std::string cc;
  // The loss recovery of every new RC QP (transport/selective_repeat.h).
  transport::LossRecoveryMode lr = transport::LossRecoveryMode::kGoBackN;
  uint64_t seed = 1;
};

// A packet between two hosts.
struct Flight {
  std::vector<uint8_t> bytes;  // RoCEv2 UDP payload (headers, payload, pad, ICRC)
  uint32_t src_ip = 0;         // network byte order
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint32_t src_host = 0;
  uint32_t dst_host = 0;
  bool ce = false;  // ECN CE set on the way
  uint32_t wire_bytes() const;
};

class Sim {
 public:
  explicit Sim(const FabricConfig& config);
  ~Sim();
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  uint64_t now() const { return now_ns_; }
  const FabricConfig& config() const { return config_; }
  uint32_t host_count() const { return uint32_t(hosts_.size()); }
  SimHost& host(uint32_t i) { return *hosts_[i]; }
  // The switch's egress port toward host i, and host i's NIC.
  SwitchPort& port_to(uint32_t i) { return *ports_[i]; }
  SwitchPort& nic(uint32_t i) { return *nics_[i]; }

  // Run fn at virtual time t (>= now).
  void at(uint64_t t_ns, std::function<void()> fn);
  // Process every event up to and including t_ns; the clock ends at t_ns.
  void run_until(uint64_t t_ns);
  uint64_t events_processed() const { return events_; }

  // ---- for SimHost
  uint32_t new_flight();  // an empty packet record (its buffer reused)
  Flight& flight(uint32_t id) { return flights_[id]; }
  void free_flight(uint32_t id) { free_flights_.push_back(id); }
  // The host's worker flushed this packet: into its NIC now.
  void transmit(uint32_t flight);
  // Host `i`'s worker should run a pass at t_ns (coalesced).
  void request_pass(uint32_t host, uint64_t t_ns);
  // Host whose address is ip (network byte order); -1 if none.
  int host_by_ip(uint32_t ip) const;

  uint64_t unroutable_packets = 0;  // to an address no host has

 private:
  enum class Kind : uint8_t { kAtSwitch, kAtHost, kPass, kCall };
  struct Event {
    uint64_t t;
    uint64_t seq;  // ties: first scheduled, first run
    Kind kind;
    uint32_t arg;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  void push(uint64_t t, Kind kind, uint32_t arg);
  void at_switch(uint32_t flight);

  FabricConfig config_;
  uint64_t now_ns_ = 0;
  uint64_t seq_ = 0;
  uint64_t events_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_q_;
  std::vector<std::unique_ptr<SimHost>> hosts_;
  std::vector<std::unique_ptr<SwitchPort>> ports_;
  std::vector<std::unique_ptr<SwitchPort>> nics_;
  std::vector<uint64_t> pass_at_;  // per host: earliest pass scheduled, UINT64_MAX none
  std::vector<std::mt19937_64> jitter_rng_;  // per host
  std::vector<uint64_t> link_last_ns_;       // per host: last arrival at the switch
  std::vector<Flight> flights_;
  std::vector<uint32_t> free_flights_;
  std::vector<std::function<void()>> calls_;
  std::vector<uint32_t> free_calls_;
};

}  // namespace flexins::fabric
