#include "fabric/sim.h"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

#include "fabric/packet_bytes.h"
#include "fabric/random.h"
#include "fabric/sim_host.h"

namespace flexins::fabric {

uint32_t Flight::wire_bytes() const { return uint32_t(bytes.size()) + kEthernetIpUdpOverheadBytes; }

Sim::Sim(const FabricConfig& config) : config_(config) {
  if (config_.hosts == 0 || config_.hosts > 250) throw std::invalid_argument("fabric: 1..250 hosts");
  if (config_.nic_tx_ring_packets == 0) throw std::invalid_argument("fabric: NIC TX ring must hold a packet");
  pass_at_.assign(config_.hosts, UINT64_MAX);
  link_last_ns_.assign(config_.hosts, 0);
  for (uint32_t i = 0; i < config_.hosts; ++i) {
    SwitchPortConfig p = config_.port;
    p.seed = splitmix64(config_.seed * 1'000'003 + i);
    ports_.push_back(std::make_unique<SwitchPort>(p));
    SwitchPortConfig n;
    n.rate_bps = config_.host_rate_bps;
    n.buffer_bytes = kUnlimitedBytes;  // the TX ring back-pressures the host
    n.propagation_ns = config_.port.propagation_ns;
    nics_.push_back(std::make_unique<SwitchPort>(n));
    jitter_rng_.emplace_back(splitmix64(config_.seed * 1'000'003 + 1000 + i));
    // 10.0.0.(i+1)
    hosts_.push_back(std::make_unique<SimHost>(*this, i, htonl(0x0a000001u + i), config_.cc));
  }
}

Sim::~Sim() = default;

int Sim::host_by_ip(uint32_t ip) const {
  const uint32_t i = ntohl(ip) - 0x0a000001u;
  return i < hosts_.size() ? int(i) : -1;
}

void Sim::push(uint64_t t, Kind kind, uint32_t arg) { events_q_.push(Event{t, seq_++, kind, arg}); }

void Sim::at(uint64_t t_ns, std::function<void()> fn) {
  uint32_t slot;
  if (!free_calls_.empty()) {
    slot = free_calls_.back();
    free_calls_.pop_back();
    calls_[slot] = std::move(fn);
  } else {
    slot = uint32_t(calls_.size());
    calls_.push_back(std::move(fn));
  }
  push(t_ns < now_ns_ ? now_ns_ : t_ns, Kind::kCall, slot);
}

void Sim::request_pass(uint32_t host, uint64_t t_ns) {
  if (t_ns < now_ns_) t_ns = now_ns_;
  // One pass covers everything due by then; a later request is kept in
  // mind by the pass itself (it schedules its own next one).
  if (t_ns >= pass_at_[host]) return;
  pass_at_[host] = t_ns;
  push(t_ns, Kind::kPass, host);
}

uint32_t Sim::new_flight() {
  if (!free_flights_.empty()) {
    uint32_t id = free_flights_.back();
    free_flights_.pop_back();
    Flight& f = flights_[id];
    f.ce = false;
    return id;
  }
  flights_.emplace_back();
  return uint32_t(flights_.size() - 1);
}

void Sim::transmit(uint32_t id) {
  Flight& f = flights_[id];
  const int dst = host_by_ip(f.dst_ip);
  if (dst < 0) {
    ++unroutable_packets;
    free_flight(id);
    return;
  }
  f.dst_host = uint32_t(dst);
  const Admission a = nics_[f.src_host]->enqueue(now_ns_, f.wire_bytes(), false);
  uint64_t t = a.arrive_ns;
  if (config_.host_jitter_ns > 0) t += jitter_rng_[f.src_host]() % (config_.host_jitter_ns + 1);
  t = std::max(t, link_last_ns_[f.src_host]);  // no overtaking on a link
  link_last_ns_[f.src_host] = t;
  push(t, Kind::kAtSwitch, id);
}

void Sim::at_switch(uint32_t id) {
  Flight& f = flights_[id];
  // RoCE traffic is ECT(0) (DCQCN needs ECN-capable packets).
  const Admission a = ports_[f.dst_host]->enqueue(now_ns_, f.wire_bytes(), true);
  if (a.verdict != Verdict::kForwarded) {
    free_flight(id);
    return;
  }
  f.ce = f.ce || a.marked;
  push(a.arrive_ns, Kind::kAtHost, id);
}

void Sim::run_until(uint64_t t_ns) {
  while (!events_q_.empty() && events_q_.top().t <= t_ns) {
    const Event e = events_q_.top();
    events_q_.pop();
    now_ns_ = e.t;
    ++events_;
    switch (e.kind) {
      case Kind::kAtSwitch: at_switch(e.arg); break;
      case Kind::kAtHost: hosts_[flights_[e.arg].dst_host]->deliver(e.arg); break;
      case Kind::kPass:
        if (pass_at_[e.arg] != e.t) break;  // superseded by an earlier pass
        pass_at_[e.arg] = UINT64_MAX;
        hosts_[e.arg]->pass();
        break;
      case Kind::kCall: {
        std::function<void()> fn = std::move(calls_[e.arg]);
        free_calls_.push_back(e.arg);
        fn();
        break;
      }
    }
  }
  if (t_ns > now_ns_) now_ns_ = t_ns;
}

}  // namespace flexins::fabric
