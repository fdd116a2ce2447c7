#include "fabric/scenario.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "cc/registry.h"
#include "fabric/sim_host.h"
#include "transport/counters.h"

namespace flexins::fabric {
namespace {

constexpr uint64_t kDrainStepNs = 100'000;

uint32_t mtu_bytes(ibv_mtu m) { return 128u << uint32_t(m); }  // IBV_MTU_256 = 1

// Sum of a counter field over every switch port.
uint64_t sum_ports(Sim& sim, uint64_t PortCounters::*field) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < sim.host_count(); ++i) n += sim.port_to(i).counters().*field;
  return n;
}

std::vector<double> smoothed(const std::vector<uint64_t>& bins, size_t from, uint32_t window) {
  // Trailing mean over at most `window` bins, none before `from`.
  std::vector<double> out(bins.size(), 0);
  for (size_t b = from; b < bins.size(); ++b) {
    const size_t lo = b + 1 >= from + window ? b + 1 - window : from;
    double s = 0;
    for (size_t i = lo; i <= b; ++i) s += double(bins[i]);
    out[b] = s / double(b + 1 - lo);
  }
  return out;
}

// First bin b in [from, to) from which pred holds for every bin up to `to`;
// `to` if none.
template <class Pred>
size_t settled_from(size_t from, size_t to, Pred pred) {
  size_t first = to;
  for (size_t b = to; b > from; --b) {
    if (!pred(b - 1)) break;
    first = b - 1;
  }
  return first;
}

std::string gbps(double bps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", bps / 1e9);
  return buf;
}

}  // namespace

std::string complete_cc_spec(const std::string& spec, uint64_t line_rate_bps, uint32_t mtu) {
  if (spec.empty()) return spec;
  // Throws std::invalid_argument for an unknown policy or a bad parameter.
  const auto policy = cc::PolicyRegistry::with_builtins().create(spec);
  std::string out = spec;
  for (const cc::ParamInfo& p : policy->params()) {
    const bool given = spec.find("," + p.name + "=") != std::string::npos;
    if (given) continue;
    if (p.name == "line_rate_bps") out += ",line_rate_bps=" + std::to_string(line_rate_bps);
    if (p.name == "mtu_bytes") out += ",mtu_bytes=" + std::to_string(mtu);
  }
  cc::PolicyRegistry::with_builtins().create(out);  // still valid
  return out;
}

const char* scenario_name(ScenarioKind k) {
  switch (k) {
    case ScenarioKind::kIncast: return "incast";
    case ScenarioKind::kConvergence: return "convergence";
    case ScenarioKind::kLoss: return "loss";
  }
  return "?";
}

bool parse_scenario(const std::string& s, ScenarioKind& out) {
  for (ScenarioKind k : {ScenarioKind::kIncast, ScenarioKind::kConvergence, ScenarioKind::kLoss}) {
    if (s == scenario_name(k)) {
      out = k;
      return true;
    }
  }
  return false;
}

double jain_index(const std::vector<double>& x) {
  double sum = 0, sq = 0;
  for (double v : x) {
    sum += v;
    sq += v * v;
  }
  if (x.empty() || sq == 0) return 0;  // nothing moved: not a fair share
  return sum * sum / (double(x.size()) * sq);
}

uint64_t ScenarioResult::counter(const std::string& name) const {
  for (const auto& [n, v] : counters)
    if (n == name) return v;
  return 0;
}

ScenarioResult run_scenario(const ScenarioConfig& in) {
  ScenarioResult r;
  r.config = in;
  ScenarioConfig& c = r.config;
  if (c.duration_ns == 0 || c.bin_ns == 0 || c.sample_ns == 0)
    throw std::invalid_argument("scenario: duration, bin and sample intervals must be > 0");
  uint32_t senders = 1;
  switch (c.kind) {
    case ScenarioKind::kIncast: senders = c.senders; break;
    case ScenarioKind::kConvergence:
      senders = 2;
      if (c.join_ns == 0) c.join_ns = c.duration_ns / 3;
      if (c.leave_ns == 0) c.leave_ns = 2 * c.duration_ns / 3;
      if (!(c.join_ns < c.leave_ns && c.leave_ns < c.duration_ns))
        throw std::invalid_argument("scenario: need join < leave < duration");
      break;
    case ScenarioKind::kLoss: senders = 1; break;
  }
  if (senders == 0) throw std::invalid_argument("scenario: at least one sender");
  c.senders = senders;
  c.fabric.hosts = senders + 1;
  const uint32_t receiver = senders;
  c.fabric.cc = complete_cc_spec(c.fabric.cc, c.fabric.host_rate_bps, mtu_bytes(c.flow.path.mtu));
  const uint64_t D = c.duration_ns;
  const uint64_t half = D / 2;
  const size_t nbins = size_t((D + c.bin_ns - 1) / c.bin_ns);

  Sim sim(c.fabric);
  std::vector<std::unique_ptr<BwFlow>> flows;
  r.flows.resize(senders);
  for (uint32_t i = 0; i < senders; ++i) {
    FlowSpec s = c.flow;
    s.sender = i;
    s.receiver = receiver;
    s.start_ns = 0;
    s.stop_ns = D;
    if (c.kind == ScenarioKind::kConvergence && i == 1) {
      s.start_ns = c.join_ns;
      s.stop_ns = c.leave_ns;
    }
    FlowResult& fr = r.flows[i];
    fr.id = i;
    fr.sender = i;
    fr.start_ns = s.start_ns;
    fr.stop_ns = s.stop_ns;
    fr.bin_bytes.assign(nbins, 0);
    auto& f = flows.emplace_back(std::make_unique<BwFlow>(sim, i, s));
    f->on_complete = [&fr, D, half, bin = c.bin_ns](uint64_t now, uint32_t bytes) {
      fr.bytes_total += bytes;
      if (now >= D) return;
      fr.bytes += bytes;
      ++fr.messages;
      if (now >= half) fr.bytes_last_half += bytes;
      fr.bin_bytes[size_t(now / bin)] += bytes;
    };
  }

  SwitchPort& bottleneck = sim.port_to(receiver);
  // Queue samples through the run.
  std::function<void()> sample = [&] {
    r.queue_samples.emplace_back(sim.now(), bottleneck.queue_bytes(sim.now()));
    if (sim.now() + c.sample_ns < D) sim.at(sim.now() + c.sample_ns, sample);
  };
  sim.at(0, sample);
  PortCounters at_half;
  uint64_t drops_at_half = 0;
  sim.at(half, [&] {
    at_half = bottleneck.counters();
    drops_at_half = sum_ports(sim, &PortCounters::tail_drop_packets);
    bottleneck.reset_max_queue(sim.now());
  });

  sim.run_until(D);
  r.bottleneck = bottleneck.counters();
  r.bottleneck_last_half = r.bottleneck;
  PortCounters& lh = r.bottleneck_last_half;
  lh.forwarded_packets -= at_half.forwarded_packets;
  lh.forwarded_bytes -= at_half.forwarded_bytes;
  lh.tail_drop_packets -= at_half.tail_drop_packets;
  lh.tail_drop_bytes -= at_half.tail_drop_bytes;
  lh.loss_packets -= at_half.loss_packets;
  lh.marked_packets -= at_half.marked_packets;
  r.tail_drops_last_half = sum_ports(sim, &PortCounters::tail_drop_packets) - drops_at_half;

  // Let every outstanding message finish, so every posted byte is checked.
  auto all_finished = [&] {
    return std::all_of(flows.begin(), flows.end(), [](const auto& f) { return f->finished(); });
  };
  while (!all_finished() && sim.now() < D + c.drain_limit_ns) sim.run_until(sim.now() + kDrainStepNs);
  r.all_finished = all_finished();
  r.end_ns = sim.now();
  r.events = sim.events_processed();

  // Whole-run figures (the drain included) for the counters.
  r.tail_drops = sum_ports(sim, &PortCounters::tail_drop_packets);
  r.random_losses = sum_ports(sim, &PortCounters::loss_packets);
  r.marks = sum_ports(sim, &PortCounters::marked_packets);
  for (uint32_t i = 0; i < sim.host_count(); ++i) r.ports.push_back(sim.port_to(i).counters());
#define FLEXINS_SUM_COUNTER(name)                                            \
  {                                                                          \
    uint64_t v = 0;                                                          \
    for (uint32_t h = 0; h < sim.host_count(); ++h) v += sim.host(h).counters().name.get(); \
    r.counters.emplace_back(#name, v);                                       \
  }
  FLEXINS_COUNTERS(FLEXINS_SUM_COUNTER)
#undef FLEXINS_SUM_COUNTER
  for (uint32_t h = 0; h < sim.host_count(); ++h) {
    r.stalled_passes += sim.host(h).stalled_passes;
    r.cc_policies_created += sim.host(h).cc_policies_created;
  }

  bool intact = r.all_finished;
  for (uint32_t i = 0; i < senders; ++i) {
    const BwFlow& f = *flows[i];
    FlowResult& fr = r.flows[i];
    fr.verified_bytes = f.verified_bytes;
    fr.corrupt_messages = f.corrupt_messages;
    fr.recv_mismatches = f.recv_mismatches;
    fr.error_completions = f.error_completions;
    fr.first_error = f.first_error;
    const uint64_t active = std::min(fr.stop_ns, D) - fr.start_ns;
    fr.goodput_bps = active ? double(fr.bytes) * 8e9 / double(active) : 0;
    // WRITE WITH IMM and SEND: one receive completion per message, too.
    const bool receives_ok = c.flow.op == FlowOp::kWrite || f.recv_completions == f.completed;
    intact = intact && f.verified_bytes == f.completed_bytes && f.corrupt_messages == 0 &&
             f.recv_mismatches == 0 && f.error_completions == 0 && f.completed == f.posted &&
             receives_ok;
  }
  r.data_intact = intact;

  const uint32_t mtu = mtu_bytes(c.flow.path.mtu);
  const double efficiency = double(c.flow.msg_bytes) / double(message_wire_bytes(c.flow, mtu));
  r.best_goodput_bps = uint64_t(double(c.fabric.port.rate_bps) * efficiency);

  // Fairness over the last half, among the flows active all of it.
  std::vector<double> last_half;
  double total = 0;
  for (const FlowResult& fr : r.flows) {
    total += double(fr.bytes_last_half);
    if (fr.start_ns <= half && fr.stop_ns >= D) last_half.push_back(double(fr.bytes_last_half));
  }
  r.jain_last_half = jain_index(last_half);
  r.goodput_last_half_bps = total * 8e9 / double(D - half);
  uint64_t qsum = 0, qn = 0;
  for (const auto& [t, q] : r.queue_samples) {
    if (t < half) continue;
    qsum += q;
    ++qn;
  }
  r.mean_queue_last_half = qn ? qsum / qn : 0;

  if (c.kind == ScenarioKind::kConvergence) {
    const size_t jb = size_t(c.join_ns / c.bin_ns);
    const size_t lb = size_t(c.leave_ns / c.bin_ns);
    // Flow 0 alone, before the join: the reference, in bytes per bin.
    double alone = 0;
    for (size_t i = jb / 2; i < jb; ++i) alone += double(r.flows[0].bin_bytes[i]);
    alone = jb - jb / 2 > 0 ? alone / double(jb - jb / 2) : 0;
    alone = std::min(alone, double(r.best_goodput_bps) * double(c.bin_ns) / 8e9);
    const auto s0 = smoothed(r.flows[0].bin_bytes, jb + 1, c.smooth_bins);
    const auto s1 = smoothed(r.flows[1].bin_bytes, jb + 1, c.smooth_bins);
    // Bins that straddle the join or the leave are left out.
    const size_t b = settled_from(jb + 1, lb, [&](size_t i) {
      return jain_index({s0[i], s1[i]}) >= c.fair_jain && s0[i] + s1[i] >= c.min_utilization * alone;
    });
    if (b < lb) r.join_convergence_ns = int64_t((b + 1) * c.bin_ns) - int64_t(c.join_ns);
    const auto a0 = smoothed(r.flows[0].bin_bytes, lb + 1, c.smooth_bins);
    const size_t b2 = settled_from(lb + 1, nbins, [&](size_t i) { return a0[i] >= c.recovered_fraction * alone; });
    if (b2 < nbins && alone > 0) r.leave_convergence_ns = int64_t((b2 + 1) * c.bin_ns) - int64_t(c.leave_ns);
  }
  return r;
}

// ------------------------------------------------------------------ output

std::string summary_text(const ScenarioResult& r) {
  const ScenarioConfig& c = r.config;
  std::ostringstream o;
  const auto& p = c.fabric.port;
  o << "scenario " << scenario_name(c.kind) << ": " << c.senders << " sender(s) -> host " << c.senders
    << "; bottleneck " << gbps(double(p.rate_bps)) << " Gb/s, buffer " << p.buffer_bytes << " B";
  if (p.kmin_bytes == kUnlimitedBytes) o << ", no ECN";
  else o << ", ECN Kmin " << p.kmin_bytes << " B Kmax " << p.kmax_bytes << " B Pmax " << p.pmax;
  o << ", link delay " << p.propagation_ns << " ns";
  if (p.loss > 0) o << ", random loss " << p.loss;
  o << "\n  hosts " << gbps(double(c.fabric.host_rate_bps)) << " Gb/s; cc '"
    << (c.fabric.cc.empty() ? "" : c.fabric.cc) << "'; loss recovery "
    << transport::loss_recovery_name(c.fabric.lr) << "; " << flow_op_name(c.flow.op) << " "
    << c.flow.msg_bytes << " B x " << c.flow.depth << " outstanding, MTU "
    << mtu_bytes(c.flow.path.mtu) << "; " << c.duration_ns / 1000 << " us";
  if (c.kind == ScenarioKind::kConvergence)
    o << " (flow 1 joins at " << c.join_ns / 1000 << " us, leaves at " << c.leave_ns / 1000 << " us)";
  o << "; seed " << c.fabric.seed << "\n";
  o << "  flow  goodput Gb/s  last half Gb/s  messages\n";
  const double half_s = double(c.duration_ns - c.duration_ns / 2) / 1e9;
  for (const FlowResult& f : r.flows) {
    char line[128];
    std::snprintf(line, sizeof line, "  %4u  %12s  %14s  %8llu\n", f.id, gbps(f.goodput_bps).c_str(),
                  gbps(double(f.bytes_last_half) * 8 / half_s).c_str(), (unsigned long long)f.messages);
    o << line;
  }
  char pct[16];
  std::snprintf(pct, sizeof pct, "%.1f", 100.0 * r.goodput_last_half_bps / double(r.best_goodput_bps));
  char jain[16];
  std::snprintf(jain, sizeof jain, "%.4f", r.jain_last_half);
  o << "  goodput, last half: " << gbps(r.goodput_last_half_bps) << " Gb/s of "
    << gbps(double(r.best_goodput_bps)) << " possible (" << pct << " %); Jain's index " << jain << "\n";
  o << "  bottleneck queue: max " << r.bottleneck.max_queue_bytes << " B (last half "
    << r.bottleneck_last_half.max_queue_bytes << " B), mean last half " << r.mean_queue_last_half
    << " B; tail drops " << r.bottleneck.tail_drop_packets << " (last half "
    << r.bottleneck_last_half.tail_drop_packets << "), ECN marks " << r.bottleneck.marked_packets
    << " (last half " << r.bottleneck_last_half.marked_packets << ")\n";
  o << "  all switch ports: tail drops " << r.tail_drops << ", random losses " << r.random_losses
    << ", ECN marks " << r.marks << "\n";
  o << "  transport: retransmitted_packets " << r.counter("retransmitted_packets") << " (selective "
    << r.counter("selective_retransmits") << "), retransmit_timeouts " << r.counter("retransmit_timeouts")
    << ", sacks_received " << r.counter("sacks_received") << ", naks_received_psn_sequence "
    << r.counter("naks_received_psn_sequence") << ", rx_drop_out_of_sequence "
    << r.counter("rx_drop_out_of_sequence") << ", duplicate_requests " << r.counter("duplicate_requests")
    << ", qp_errors " << r.counter("qp_errors") << "\n";
  if (c.kind == ScenarioKind::kConvergence) {
    auto t = [](int64_t ns) { return ns < 0 ? std::string("not converged") : std::to_string(ns / 1000) + " us"; };
    o << "  convergence: fair share " << t(r.join_convergence_ns) << " after the join; flow 0 back at "
      << "its rate alone " << t(r.leave_convergence_ns) << " after the leave\n";
  }
  uint64_t messages = 0, verified = 0;
  for (const FlowResult& f : r.flows) {
    messages += f.messages;
    verified += f.verified_bytes;
  }
  if (r.data_intact) {
    o << "  data: intact (" << verified << " bytes verified in the receiver's memory, drain ended at "
      << r.end_ns / 1000 << " us)\n";
  } else {
    o << "  data: NOT INTACT or unfinished (all flows finished: " << (r.all_finished ? "yes" : "no") << ")";
    for (const FlowResult& f : r.flows)
      if (!f.first_error.empty()) o << "; flow " << f.id << ": " << f.first_error;
    o << "\n";
  }
  return o.str();
}

std::string summary_json(const ScenarioResult& r) {
  const ScenarioConfig& c = r.config;
  std::ostringstream o;
  o.precision(10);
  const auto& p = c.fabric.port;
  auto u64 = [](uint64_t v) { return v == kUnlimitedBytes ? std::string("null") : std::to_string(v); };
  o << "{\"scenario\":\"" << scenario_name(c.kind) << "\",\"senders\":" << c.senders
    << ",\"cc\":\"" << c.fabric.cc << "\",\"lr\":\"" << transport::loss_recovery_name(c.fabric.lr)
    << "\",\"seed\":" << c.fabric.seed << ",\"rate_bps\":" << p.rate_bps
    << ",\"host_rate_bps\":" << c.fabric.host_rate_bps << ",\"buffer_bytes\":" << u64(p.buffer_bytes)
    << ",\"kmin_bytes\":" << u64(p.kmin_bytes) << ",\"kmax_bytes\":" << u64(p.kmax_bytes)
    << ",\"pmax\":" << p.pmax << ",\"loss\":" << p.loss << ",\"link_delay_ns\":" << p.propagation_ns
    << ",\"op\":\"" << flow_op_name(c.flow.op) << "\",\"msg_bytes\":" << c.flow.msg_bytes
    << ",\"depth\":" << c.flow.depth << ",\"mtu\":" << mtu_bytes(c.flow.path.mtu)
    << ",\"duration_ns\":" << c.duration_ns << ",\"join_ns\":" << c.join_ns << ",\"leave_ns\":" << c.leave_ns
    << ",\"bin_ns\":" << c.bin_ns << ",\"best_goodput_bps\":" << r.best_goodput_bps
    << ",\"goodput_last_half_bps\":" << r.goodput_last_half_bps << ",\"jain_last_half\":" << r.jain_last_half
    << ",\"max_queue_bytes\":" << r.bottleneck.max_queue_bytes
    << ",\"max_queue_last_half_bytes\":" << r.bottleneck_last_half.max_queue_bytes
    << ",\"mean_queue_last_half_bytes\":" << r.mean_queue_last_half
    << ",\"bottleneck_tail_drops\":" << r.bottleneck.tail_drop_packets
    << ",\"bottleneck_tail_drops_last_half\":" << r.bottleneck_last_half.tail_drop_packets
    << ",\"bottleneck_marks\":" << r.bottleneck.marked_packets
    << ",\"bottleneck_marks_last_half\":" << r.bottleneck_last_half.marked_packets
    << ",\"tail_drops\":" << r.tail_drops << ",\"tail_drops_last_half\":" << r.tail_drops_last_half
    << ",\"random_losses\":" << r.random_losses << ",\"marks\":" << r.marks
    << ",\"join_convergence_ns\":" << r.join_convergence_ns
    << ",\"leave_convergence_ns\":" << r.leave_convergence_ns
    << ",\"all_finished\":" << (r.all_finished ? "true" : "false")
    << ",\"data_intact\":" << (r.data_intact ? "true" : "false") << ",\"end_ns\":" << r.end_ns
    << ",\"events\":" << r.events << ",\"stalled_passes\":" << r.stalled_passes
    << ",\"cc_policies_created\":" << r.cc_policies_created << ",\"counters\":{";
  for (size_t i = 0; i < r.counters.size(); ++i)
    o << (i ? "," : "") << "\"" << r.counters[i].first << "\":" << r.counters[i].second;
  o << "},\"ports\":[";
  for (size_t i = 0; i < r.ports.size(); ++i) {
    const PortCounters& pc = r.ports[i];
    o << (i ? "," : "") << "{\"to_host\":" << i << ",\"forwarded_packets\":" << pc.forwarded_packets
      << ",\"forwarded_bytes\":" << pc.forwarded_bytes << ",\"tail_drop_packets\":" << pc.tail_drop_packets
      << ",\"loss_packets\":" << pc.loss_packets << ",\"marked_packets\":" << pc.marked_packets
      << ",\"max_queue_bytes\":" << pc.max_queue_bytes << "}";
  }
  o << "],\"flows\":[";
  for (size_t i = 0; i < r.flows.size(); ++i) {
    const FlowResult& f = r.flows[i];
    o << (i ? "," : "") << "{\"id\":" << f.id << ",\"start_ns\":" << f.start_ns
      << ",\"stop_ns\":" << f.stop_ns << ",\"messages\":" << f.messages << ",\"bytes\":" << f.bytes
      << ",\"bytes_last_half\":" << f.bytes_last_half << ",\"bytes_total\":" << f.bytes_total
      << ",\"verified_bytes\":" << f.verified_bytes << ",\"goodput_bps\":" << f.goodput_bps
      << ",\"error_completions\":" << f.error_completions << "}";
  }
  o << "]}\n";
  return o.str();
}

std::string goodput_csv(const ScenarioResult& r) {
  std::ostringstream o;
  o << "time_us";
  for (const FlowResult& f : r.flows) o << ",flow" << f.id << "_gbps";
  o << ",total_gbps\n";
  const uint64_t bin = r.config.bin_ns;
  const size_t n = r.flows.empty() ? 0 : r.flows[0].bin_bytes.size();
  char buf[32];
  for (size_t b = 0; b < n; ++b) {
    std::snprintf(buf, sizeof buf, "%.3f", double((b + 1) * bin) / 1e3);
    o << buf;
    double total = 0;
    for (const FlowResult& f : r.flows) {
      const double g = double(f.bin_bytes[b]) * 8 / double(bin);  // bits/ns = Gb/s
      total += g;
      std::snprintf(buf, sizeof buf, ",%.4f", g);
      o << buf;
    }
    std::snprintf(buf, sizeof buf, ",%.4f\n", total);
    o << buf;
  }
  return o.str();
}

std::string queue_csv(const ScenarioResult& r) {
  std::ostringstream o;
  o << "time_us,queue_bytes\n";
  char buf[64];
  for (const auto& [t, q] : r.queue_samples) {
    std::snprintf(buf, sizeof buf, "%.3f,%llu\n", double(t) / 1e3, (unsigned long long)q);
    o << buf;
  }
  return o.str();
}

}  // namespace flexins::fabric
