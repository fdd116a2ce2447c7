// A backend decorator that makes the wire unreliable on purpose, reproducibly:
// it drops, duplicates, reorders and ECN-CE marks a given fraction of the
// datagrams the engine sends
// (`flexins daemon --inject loss=P,reorder=P,dup=P,ecn=P,seed=N`). Marking
// stands for a congested switch on the way: the receiver sees CE and, for
// RC requests, answers with CNPs.
//
// Reordering holds a datagram back (a private copy: this is a test device,
// not the data path) and sends it after the next one, or at the next tick.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/backend.h"

namespace flexins::io {

struct FaultSpec {
  double loss = 0;
  double reorder = 0;
  double dup = 0;
  double ecn = 0;  // mark Congestion Experienced
  uint64_t seed = 1;
  bool any() const { return loss > 0 || reorder > 0 || dup > 0 || ecn > 0; }
};

// Parses "loss=0.01,reorder=0.01,dup=0.01,ecn=0.1,seed=7" (any subset, any order).
// Throws std::invalid_argument with a message naming the bad part.
FaultSpec parse_fault_spec(const std::string& text);

// Written by the worker, read by `flexins stat` from the control thread.
struct FaultCounters {
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> duplicated{0};
  std::atomic<uint64_t> reordered{0};
  std::atomic<uint64_t> ecn_marked{0};
};

class FaultInjector final : public Backend {
 public:
  FaultInjector(std::unique_ptr<Backend> inner, const FaultSpec& spec);

  uint32_t tx_burst(std::span<TxDatagram> pkts) override;
  uint32_t rx_burst(std::span<RxDatagram> pkts) override { return inner_->rx_burst(pkts); }
  int rx_fd() const override { return inner_->rx_fd(); }
  std::span<const uint16_t> src_ports() const override { return inner_->src_ports(); }
  // Datagrams are dropped and reordered one by one: no GSO groups, whose
  // segments' ICRCs depend on their place in the group.
  uint32_t max_gso_segments() const override { return 1; }
  void tick(uint64_t now_ns) override;
  const FaultCounters& counters() const { return counters_; }

 private:
  struct Held {
    TxDatagram header;  // addresses; iov rebuilt to point at bytes
    std::vector<uint8_t> bytes;
  };
  bool chance(double p) { return p > 0 && uniform_(rng_) < p; }
  void release_held();

  std::unique_ptr<Backend> inner_;
  FaultSpec spec_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  std::vector<Held> held_;
  std::vector<TxDatagram> out_;
  FaultCounters counters_;
};

}  // namespace flexins::io
