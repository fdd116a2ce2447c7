// The experiments of the emulated fabric, each a pure function of its
// configuration (seeded, virtual time):
//   incast       N senders → one receiver through one bottleneck port
//   convergence  flow 0 runs throughout; flow 1 joins at join_ns and
//                leaves at leave_ns (both → the same receiver)
//   loss         one sender → one receiver; every switch port loses
//                packets at random with probability `loss`
// and what they measure: per-flow goodput in time bins (bytes of messages
// completed at the sender), the bottleneck queue over time, drops and ECN
// marks (whole run and last half), the transport's counters summed over
// hosts, Jain's fairness index over the last half, convergence times, and
// whether every byte arrived intact.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fabric/flow.h"
#include "fabric/sim.h"

namespace flexins::fabric {

enum class ScenarioKind : uint8_t { kIncast, kConvergence, kLoss };
const char* scenario_name(ScenarioKind k);
bool parse_scenario(const std::string& s, ScenarioKind& out);

struct ScenarioConfig {
  ScenarioKind kind = ScenarioKind::kIncast;
  uint32_t senders = 8;  // incast; convergence uses 2, loss 1
  FabricConfig fabric;   // hosts is set by the scenario
  FlowSpec flow;         // op, size, depth, RC path; hosts and times are set
  uint64_t duration_ns = 20'000'000;
  uint64_t join_ns = 0;   // convergence; 0: duration / 3
  uint64_t leave_ns = 0;  // convergence; 0: 2 * duration / 3
  uint64_t bin_ns = 100'000;
  uint64_t sample_ns = 5'000;  // bottleneck queue samples
  // After duration_ns the senders stop posting; the run goes on until every
  // outstanding message completed, at most this long.
  uint64_t drain_limit_ns = 2'000'000'000;
  // Convergence. The reference is what flow 0 had alone: its goodput over
  // the second half of [0, join_ns) (at most the bottleneck's best).
  // After the join, a bin is fair when Jain's index of the two flows'
  // goodput, each averaged over `smooth_bins` bins, is at least fair_jain
  // and together they have at least min_utilization of the reference.
  // After the leave, flow 0 is back when its averaged goodput is at least
  // recovered_fraction of the reference. Each must then hold to the end of
  // its interval.
  double fair_jain = 0.95;
  double min_utilization = 0.8;
  uint32_t smooth_bins = 5;
  double recovered_fraction = 0.9;
};

struct FlowResult {
  uint32_t id = 0;
  uint32_t sender = 0;
  uint64_t start_ns = 0;
  uint64_t stop_ns = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;             // completed within [0, duration)
  uint64_t bytes_last_half = 0;   // completed within [duration / 2, duration)
  uint64_t bytes_total = 0;       // including the drain
  uint64_t verified_bytes = 0;
  uint64_t corrupt_messages = 0;
  uint64_t recv_mismatches = 0;
  uint64_t error_completions = 0;
  std::string first_error;
  double goodput_bps = 0;  // bytes over its own active time within the run
  std::vector<uint64_t> bin_bytes;
};

struct ScenarioResult {
  ScenarioConfig config;
  std::vector<FlowResult> flows;
  uint64_t best_goodput_bps = 0;  // the bottleneck's rate × payload / wire bytes
  // Bottleneck port (toward the receiver).
  PortCounters bottleneck;
  PortCounters bottleneck_last_half;  // counted within [duration / 2, duration)
  uint64_t mean_queue_last_half = 0;  // bytes, over the samples
  std::vector<std::pair<uint64_t, uint64_t>> queue_samples;  // (ns, bytes)
  // Every switch port, by the host it leads to (the drain included).
  std::vector<PortCounters> ports;
  // All switch ports (both directions).
  uint64_t tail_drops = 0;
  uint64_t random_losses = 0;
  uint64_t tail_drops_last_half = 0;
  uint64_t marks = 0;
  // The transport's counters, summed over all hosts (name, value).
  std::vector<std::pair<std::string, uint64_t>> counters;
  uint64_t counter(const std::string& name) const;
  double jain_last_half = 0;
  double goodput_last_half_bps = 0;  // all flows together
  // Convergence: ns from the join until the two flows share fairly (and
  // stay so until the leave), and from the leave until flow 0 has the
  // bottleneck again (and keeps it); -1: not within the run.
  int64_t join_convergence_ns = -1;
  int64_t leave_convergence_ns = -1;
  bool all_finished = false;   // every flow drained (no outstanding message)
  bool data_intact = false;    // all_finished, every completed byte verified, no error
  uint64_t stalled_passes = 0;
  // Congestion controllers the transport asked the hosts for: 0 while the
  // transport does not call Env::new_congestion_control.
  uint64_t cc_policies_created = 0;
  uint64_t events = 0;
  uint64_t end_ns = 0;
};

ScenarioResult run_scenario(const ScenarioConfig& config);

// The cc spec with the host's line rate and the path MTU filled in for a
// policy that has line_rate_bps / mtu_bytes parameters the spec leaves
// out ("dcqcn" at 25 Gb/s → "dcqcn,line_rate_bps=25000000000"). "" stays
// "" (no policy). Throws std::invalid_argument for a spec the registry
// refuses.
std::string complete_cc_spec(const std::string& spec, uint64_t line_rate_bps, uint32_t mtu);

double jain_index(const std::vector<double>& x);

// A human summary (several lines), and the result as one JSON object.
std::string summary_text(const ScenarioResult& r);
std::string summary_json(const ScenarioResult& r);
// Time series as CSV: goodput per flow per bin (Gb/s), and the queue samples.
std::string goodput_csv(const ScenarioResult& r);
std::string queue_csv(const ScenarioResult& r);

}  // namespace flexins::fabric
