// flexins-fabric: one experiment on the emulated fabric (src/fabric): the
// real RC transport on simulated hosts, joined through a switch with a
// shallow-buffered bottleneck port, in virtual time (seeded: the same
// arguments give the same numbers).
//
//   flexins-fabric incast      [--senders 8] [options]
//   flexins-fabric convergence [--join-ms T1 --leave-ms T2] [options]
//   flexins-fabric loss        [--loss 0.01] [--lr selective_repeat] [options]
//
// Prints a summary; --out DIR writes summary.json, goodput.csv (Gb/s per
// flow per bin) and queue.csv (bottleneck queue samples); --json prints the
// JSON summary instead of the text one.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "fabric/scenario.h"

namespace {

using namespace flexins::fabric;

bool write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  return bool(f);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flexins-fabric: incast, convergence and loss experiments on an emulated switch"};
  ScenarioConfig c;
  std::string scenario = "incast";
  double rate = 25e9, host_rate = 0, kmin = 5000, kmax = 100000, pmax = 0.1, loss = -1;
  double duration_ms = 20, join_ms = 0, leave_ms = 0, bin_us = 100, sample_us = 5;
  uint64_t buffer = 256 * 1024;
  uint32_t mtu = 4096;
  bool no_ecn = false, json = false;
  std::string op = "write", out, cc = "none", lr = "go_back_n";
  int timeout = 8, retry_cnt = 7;

  app.add_option("scenario", scenario, "incast, convergence or loss")->capture_default_str();
  app.add_option("--senders", c.senders, "incast: senders toward one receiver")->capture_default_str();
  app.add_option("--rate", rate, "switch port line rate, bit/s (the bottleneck)")->capture_default_str();
  app.add_option("--host-rate", host_rate, "host NIC line rate, bit/s (default: --rate)");
  app.add_option("--buffer", buffer, "switch port buffer, bytes (tail drop beyond)")->capture_default_str();
  app.add_option("--kmin", kmin, "ECN: no mark at or below this queue, bytes")->capture_default_str();
  app.add_option("--kmax", kmax, "ECN: mark with Pmax at this queue, always above, bytes")->capture_default_str();
  app.add_option("--pmax", pmax, "ECN: marking probability at Kmax")->capture_default_str();
  app.add_flag("--no-ecn", no_ecn, "switch ports never mark");
  app.add_option("--delay-ns", c.fabric.port.propagation_ns, "propagation delay of each link")
      ->capture_default_str();
  app.add_option("--loss", loss, "random loss probability at every switch port (loss: default 0.01)");
  app.add_option("--nic-ring", c.fabric.nic_tx_ring_packets, "host NIC TX ring, packets")->capture_default_str();
  app.add_option("--jitter-ns", c.fabric.host_jitter_ns,
                 "random extra delay of each packet from a host to the switch, at most (0: hosts in lock-step)")
      ->capture_default_str();
  app.add_option("--cc", cc,
                 "congestion control for every RC QP (cc::PolicyRegistry spec, e.g. dcqcn,rai_bps=40e6); "
                 "a policy's line_rate_bps / mtu_bytes default to the host rate / MTU")
      ->capture_default_str();
  app.add_option("--lr", lr, "loss recovery of every RC QP: go_back_n or selective_repeat")->capture_default_str();
  app.add_option("--op", op, "write, write_imm or send")->capture_default_str();
  app.add_option("--size", c.flow.msg_bytes, "message size, bytes")->capture_default_str();
  app.add_option("--depth", c.flow.depth, "messages outstanding per flow")->capture_default_str();
  app.add_option("--mtu", mtu, "path MTU: 256, 512, 1024, 2048 or 4096")->capture_default_str();
  app.add_option("--timeout", timeout, "QP local ACK timeout exponent (4.096 us * 2^t, at least 1 ms)")
      ->capture_default_str();
  app.add_option("--retry-cnt", retry_cnt, "QP retry_cnt (0..7)")->capture_default_str();
  app.add_option("--duration-ms", duration_ms, "run time (senders then stop posting and drain)")
      ->capture_default_str();
  app.add_option("--join-ms", join_ms, "convergence: flow 1 joins (default duration / 3)");
  app.add_option("--leave-ms", leave_ms, "convergence: flow 1 leaves (default 2 * duration / 3)");
  app.add_option("--bin-us", bin_us, "goodput time bin")->capture_default_str();
  app.add_option("--sample-us", sample_us, "queue sampling interval")->capture_default_str();
  app.add_option("--seed", c.fabric.seed, "seed of every random choice")->capture_default_str();
  app.add_option("--out", out, "directory for summary.json, goodput.csv, queue.csv");
  app.add_flag("--json", json, "print the JSON summary instead of the text");
  CLI11_PARSE(app, argc, argv);

  if (!parse_scenario(scenario, c.kind)) {
    std::cerr << "flexins-fabric: unknown scenario '" << scenario << "' (incast, convergence, loss)\n";
    return 2;
  }
  if (!parse_flow_op(op, c.flow.op)) {
    std::cerr << "flexins-fabric: --op must be write, write_imm or send\n";
    return 2;
  }
  if (const auto mode = flexins::transport::parse_loss_recovery(lr)) {
    c.fabric.lr = *mode;
  } else {
    std::cerr << "flexins-fabric: --lr must be go_back_n or selective_repeat\n";
    return 2;
  }
  switch (mtu) {
    case 256: c.flow.path.mtu = IBV_MTU_256; break;
    case 512: c.flow.path.mtu = IBV_MTU_512; break;
    case 1024: c.flow.path.mtu = IBV_MTU_1024; break;
    case 2048: c.flow.path.mtu = IBV_MTU_2048; break;
    case 4096: c.flow.path.mtu = IBV_MTU_4096; break;
    default: std::cerr << "flexins-fabric: --mtu must be 256, 512, 1024, 2048 or 4096\n"; return 2;
  }
  if (rate < 1e6 || (host_rate != 0 && host_rate < 1e6) || duration_ms <= 0 || bin_us <= 0 ||
      sample_us <= 0 || timeout < 0 || timeout > 31 || retry_cnt < 0 || retry_cnt > 7) {
    std::cerr << "flexins-fabric: a rate, duration, interval, timeout or retry count is out of range\n";
    return 2;
  }
  c.fabric.port.rate_bps = uint64_t(rate);
  c.fabric.host_rate_bps = uint64_t(host_rate != 0 ? host_rate : rate);
  c.fabric.port.buffer_bytes = buffer;
  if (!no_ecn) {
    c.fabric.port.kmin_bytes = uint64_t(kmin);
    c.fabric.port.kmax_bytes = uint64_t(kmax);
    c.fabric.port.pmax = pmax;
  }
  if (loss < 0) loss = c.kind == ScenarioKind::kLoss ? 0.01 : 0;
  c.fabric.port.loss = loss;
  c.fabric.cc = cc;
  c.flow.path.timeout = uint8_t(timeout);
  c.flow.path.retry_cnt = uint8_t(retry_cnt);
  c.duration_ns = uint64_t(duration_ms * 1e6);
  c.join_ns = uint64_t(join_ms * 1e6);
  c.leave_ns = uint64_t(leave_ms * 1e6);
  c.bin_ns = uint64_t(bin_us * 1e3);
  c.sample_ns = uint64_t(sample_us * 1e3);

  ScenarioResult r;
  try {
    r = run_scenario(c);
  } catch (const std::exception& e) {
    std::cerr << "flexins-fabric: " << e.what() << "\n";
    return 2;
  }
  const std::string js = summary_json(r);
  std::cout << (json ? js : summary_text(r));
  if (!out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    const std::filesystem::path dir(out);
    if (ec || !write_file(dir / "summary.json", js) || !write_file(dir / "goodput.csv", goodput_csv(r)) ||
        !write_file(dir / "queue.csv", queue_csv(r))) {
      std::cerr << "flexins-fabric: cannot write to " << out << "\n";
      return 1;
    }
  }
  return r.data_intact ? 0 : 1;
}
