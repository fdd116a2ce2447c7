// One output-queued switch port, as a shallow-buffered datacenter switch
// has: a FIFO drained at line rate, a byte buffer with tail drop, RED-style
// ECN marking on the instantaneous queue (DCQCN's switch setting), a
// propagation delay to the far end, and a seeded random-loss fault.
//
// Pure logic: time is passed in (ns, never decreasing), no clock is read,
// and the only randomness is the port's own seeded generator, so the same
// packets at the same times give the same verdicts.
//
// What the queue counts: the bytes of every packet admitted and not yet
// fully transmitted (the packet on the wire included). A packet is judged
// on arrival, against the queue it finds:
//   tail drop    queue + packet > buffer
//   random loss  with probability `loss` (the packet never takes buffer)
//   ECN mark     only ECT packets; p = 0 while queue <= Kmin, rising
//                linearly to Pmax at Kmax, 1 above Kmax (Zhu et al.,
//                "Congestion Control for Large-Scale RDMA Deployments",
//                SIGCOMM 2015, the switch's RED-ECN setting)
// An admitted packet starts transmission when the port is free; its last
// bit leaves `bytes * 8 / rate` later (exact: the fractions of a ns carry
// over from packet to packet) and reaches the far end `propagation_ns`
// after that (store and forward).
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <random>

namespace flexins::fabric {

inline constexpr uint64_t kUnlimitedBytes = std::numeric_limits<uint64_t>::max();

struct SwitchPortConfig {
  uint64_t rate_bps = 25'000'000'000;  // line rate; counts every byte handed to enqueue()
  uint64_t buffer_bytes = 256 * 1024;  // kUnlimitedBytes: never tail-drops
  // ECN (RED on the instantaneous queue). kmin_bytes == kUnlimitedBytes: off.
  uint64_t kmin_bytes = kUnlimitedBytes;
  uint64_t kmax_bytes = kUnlimitedBytes;
  double pmax = 0;
  uint64_t propagation_ns = 1'000;  // to the far end of the link
  double loss = 0;                  // random loss probability, [0, 1]
  uint64_t seed = 1;
};

struct PortCounters {
  uint64_t forwarded_packets = 0;  // admitted (each leaves in its turn)
  uint64_t forwarded_bytes = 0;
  uint64_t tail_drop_packets = 0;  // buffer full
  uint64_t tail_drop_bytes = 0;
  uint64_t loss_packets = 0;       // the random-loss fault
  uint64_t marked_packets = 0;     // ECN CE set by this port
  uint64_t max_queue_bytes = 0;    // largest queue, the admitted packet counted
};

enum class Verdict : uint8_t { kForwarded, kTailDrop, kRandomLoss };

struct Admission {
  Verdict verdict = Verdict::kForwarded;
  bool marked = false;      // ECN CE set (forwarded ECT packets only)
  uint64_t queue_bytes = 0; // what the packet found on arrival
  uint64_t depart_ns = 0;   // its last bit leaves the port (rounded up to a ns)
  uint64_t arrive_ns = 0;   // and reaches the far end
};

class SwitchPort {
 public:
  explicit SwitchPort(const SwitchPortConfig& config);

  // A packet of `bytes` (as the line rate counts them) arrives at now_ns.
  // `ect`: its IP ECN field is ECT(0) or ECT(1), so it may be marked.
  Admission enqueue(uint64_t now_ns, uint32_t bytes, bool ect);

  // Bytes / packets queued at now_ns (admitted, not fully transmitted).
  uint64_t queue_bytes(uint64_t now_ns);
  uint32_t queue_packets(uint64_t now_ns);
  // When at most `packets` packets will be left queued (now_ns if already).
  uint64_t time_queue_at_most(uint64_t now_ns, uint32_t packets);

  // The marking probability for a packet that finds `queue_bytes` queued.
  double mark_probability(uint64_t queue_bytes) const;
  // Transmission time of `bytes` at the line rate, rounded up to a ns.
  uint64_t serialization_ns(uint64_t bytes) const;

  const SwitchPortConfig& config() const { return config_; }
  const PortCounters& counters() const { return counters_; }
  // Start measuring max_queue_bytes afresh (from the queue at now_ns).
  void reset_max_queue(uint64_t now_ns) { counters_.max_queue_bytes = queue_bytes(now_ns); }

 private:
  struct Queued {
    uint64_t done_ns;  // last bit out
    uint32_t bytes;
  };
  void advance(uint64_t now_ns);
  double uniform();  // [0, 1), from the seeded generator

  SwitchPortConfig config_;
  PortCounters counters_;
  std::mt19937_64 rng_;
  std::deque<Queued> queue_;
  uint64_t queued_bytes_ = 0;
  // The port is busy until busy_ns_ + busy_frac_ / rate (busy_frac_ in
  // bit-ns, < rate): exact, so the long-run rate has no rounding drift.
  uint64_t busy_ns_ = 0;
  uint64_t busy_frac_ = 0;
};

}  // namespace flexins::fabric
