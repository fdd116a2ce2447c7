// flexins: the command line of FlexiNS.
//
//   flexins daemon --ip ADDR [--cc SPEC] [--plugin PATH] [--loss-recovery MODE] [--inject SPEC] [--ablate LIST]
//                                              run an engine in the foreground
//   flexins run [--ip ADDR] -- CMD ARGS…       run CMD unmodified over FlexiNS
//   flexins stat --ip ADDR [--json]            print an engine's counters
//   flexins qp list|show|set --ip ADDR …       look at and change live QPs' policies
//   flexins stop --ip ADDR                     stop an engine
#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/cpu_pinning.h"
#include "engine/engine.h"
#include "engine_client.h"
#include "io/fault_injector.h"
#include "pipe/control_proto.h"
#include "qp_cmd.h"

namespace {

using flexins::cli::connect_engine;
using flexins::engine::Engine;
namespace fs = std::filesystem;

std::string pid_path(const std::string& run_dir, const std::string& ip) {
  return run_dir + "/engine-" + ip + ".pid";
}

int cmd_daemon(const flexins::engine::EngineConfig& cfg) {
  try {
    Engine engine(cfg);
    std::string run_dir = Engine::default_run_dir();
    std::string pidf = pid_path(run_dir, cfg.ip);
    std::ofstream(pidf) << getpid() << "\n";
    int rc = engine.run();
    unlink(pidf.c_str());
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flexins daemon: %s\n", e.what());
    return 1;
  }
}

// Start `flexins daemon --ip ip` in the background, detached, logging to the
// run directory; wait (bounded) until it accepts connections.
bool start_engine(const std::string& ip) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string run_dir = Engine::default_run_dir();
  fs::create_directories(run_dir);
  std::string log = run_dir + "/engine-" + ip + ".log";
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    setsid();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    // Detach fully: the engine outlives the command that started it.
    if (fork() != 0) _exit(0);
    execl(self.c_str(), self.c_str(), "daemon", "--ip", ip.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  waitpid(pid, nullptr, 0);
  for (int i = 0; i < 500; ++i) {  // up to 5 s
    int fd = connect_engine(ip);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "flexins run: the engine for %s did not start; see %s\n", ip.c_str(), log.c_str());
  return false;
}

int cmd_run(const std::string& ip, std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::fprintf(stderr, "flexins run: no command given (flexins run [--ip ADDR] -- CMD ARGS…)\n");
    return 2;
  }
  int fd = connect_engine(ip);
  if (fd >= 0) close(fd);
  else if (!start_engine(ip)) return 1;

  // Our libibverbs.so.1 is found first; nothing else about CMD changes.
  fs::path lib = fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "lib";
  std::string path = lib.string();
  if (const char* old = std::getenv("LD_LIBRARY_PATH"); old && *old) path += std::string(":") + old;
  setenv("LD_LIBRARY_PATH", path.c_str(), 1);
  setenv("FLEXINS_IP", ip.c_str(), 1);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "flexins run: cannot run %s: %s\n", args[0], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

int cmd_stat(const std::string& ip, bool json) {
  auto reply = flexins::cli::engine_request("flexins stat", ip, flexins::pipe::CtlOp::kStats);
  if (!reply) return 1;
  const std::string& body = reply->body;
  if (json) {
    std::printf("%s\n", body.c_str());
    return 0;
  }
  // A readable listing: one "name value" per line.
  std::string text = body.substr(1, body.size() - 2);
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(", ", at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t colon = item.find(": ");
    std::string key = item.substr(1, colon - 2), value = item.substr(colon + 2);
    if (!value.empty() && value.front() == '"') value = value.substr(1, value.size() - 2);
    std::printf("%-36s %s\n", key.c_str(), value.c_str());
    if (comma == std::string::npos) break;
    at = comma + 2;
  }
  return 0;
}

int cmd_stop(const std::string& ip) {
  std::ifstream in(pid_path(Engine::default_run_dir(), ip));
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0 || kill(pid, SIGTERM) != 0) {
    std::fprintf(stderr, "flexins stop: no engine is serving %s\n", ip.c_str());
    return 1;
  }
  for (int i = 0; i < 500 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FlexiNS: a NIC-centric, software-programmable RDMA stack"};
  app.require_subcommand(1);

  flexins::engine::EngineConfig cfg;
  std::string inject;
  auto* daemon = app.add_subcommand("daemon", "run an engine (flexinsd) for one device address, in the foreground");
  daemon->add_option("--ip", cfg.ip, "device address (the GID is ::ffff:ADDR)")->capture_default_str();
  daemon->add_option("--inject", inject, "fault injection on sent packets: loss=P,reorder=P,dup=P,ecn=P (mark CE),seed=N");
  daemon->add_option("--workers", cfg.workers, "worker threads")->capture_default_str();
  daemon->add_option("--rt-priority", cfg.priority.rt_priority,
                     "1..99: worker threads run SCHED_FIFO at this priority, so they act on work at once, "
                     "except in 10 ms windows after one used over 75 % of its CPU (for an engine that owns its "
                     "cores; without CAP_SYS_NICE: fair scheduling, with a warning); 0: fair scheduling at --nice")
      ->capture_default_str();
  daemon->add_option("--nice", cfg.priority.nice,
                     "worker thread nice value under fair scheduling, -20..19 (below 0 needs CAP_SYS_NICE; refused: a warning)")
      ->capture_default_str();
  std::string cpus;
  daemon->add_option("--cpus", cpus,
                     "pin the worker threads to these CPUs, e.g. 2 or 2-3 (worker i on the i-th; default: "
                     "wherever the scheduler puts them)");
  daemon->add_option("--spin-us", cfg.spin_us, "idle worker: busy-poll this long after the last work")
      ->capture_default_str();
  daemon->add_option("--nap-us", cfg.nap_us, "then nap this long at a time, looking at doorbells in between")
      ->capture_default_str();
  daemon->add_option("--idle-nap-us", cfg.idle_nap_us,
                     "with nothing in flight, nap this long instead (applications kick the worker when they post)")
      ->capture_default_str();
  daemon->add_option("--nap-window-ms", cfg.nap_window_ms, "for this long; then sleep until an application kicks")
      ->capture_default_str();
  daemon->add_flag("--no-idle-kicks", [&cfg](int64_t) { cfg.idle_kicks = false; },
                   "a napping worker with nothing in flight does not ask applications to kick it: no post ever "
                   "makes a system call before the nap window ends, and a lone request waits up to --nap-us");
  std::string ablate;
  daemon->add_option("--ablate", ablate,
                     "measurement only: switch techniques back to their naive counterparts, any of "
                     "tx-copy,rx-per-qp,doorbell-syscall");
  daemon->add_flag("--no-icrc-check", [&cfg](int64_t) { cfg.verify_icrc = false; },
                   "accept received packets without checking their ICRC (for peers whose IP ID is not 0)");
  daemon->add_option("--cc", cfg.cc,
                     "congestion control of new RC QPs: NAME[,key=value...] (none, dcqcn, swift, or a plug-in's)")
      ->capture_default_str();
  daemon->add_option("--plugin", cfg.plugins, "load a congestion-control plug-in (a shared object; repeatable)");
  std::string loss_recovery = "go_back_n";
  daemon
      ->add_option("--loss-recovery", loss_recovery,
                   "loss recovery of new RC QPs: go_back_n (IBA) or selective_repeat (FlexiNS extension: "
                   "takes effect only toward peers that enable it too)")
      ->capture_default_str();
  daemon->add_flag("--no-udp-offload", [&cfg](int64_t) { cfg.udp_offload = false; },
                   "send and receive datagrams one by one, without UDP GSO/GRO (for paths that segment)");

  std::string ip = "127.0.0.1";
  std::vector<std::string> command;
  auto* run = app.add_subcommand("run", "run a program unmodified over FlexiNS");
  run->add_option("--ip", ip, "device address; an engine is started if none serves it")->capture_default_str();
  run->add_option("command", command, "the command and its arguments (after --)");
  run->prefix_command();

  bool json = false;
  auto* stat = app.add_subcommand("stat", "print an engine's counters");
  stat->add_option("--ip", ip, "device address")->capture_default_str();
  stat->add_flag("--json", json, "one JSON object");

  auto* qp = app.add_subcommand("qp", "look at and change live QPs' transport policies");
  qp->require_subcommand(1);
  auto* qp_list = qp->add_subcommand("list", "one line per QP: policy, rate, window, counters");
  qp_list->add_option("--ip", ip, "device address")->capture_default_str();
  qp_list->add_flag("--json", json, "one JSON object");
  uint32_t qpn = 0;
  auto* qp_show = qp->add_subcommand("show", "one QP in full, with its policy's parameters");
  qp_show->add_option("--ip", ip, "device address")->capture_default_str();
  qp_show->add_option("qpn", qpn, "the QP number")->required();
  qp_show->add_flag("--json", json, "one JSON object");
  std::string target;
  std::vector<std::string> settings;
  auto* qp_set = qp->add_subcommand("set", "change a live QP's policies or their parameters, e.g. `qp set 0x1234 cc=dcqcn rai_bps=40e6` or `qp set 0x1234 lr=selective_repeat`");
  qp_set->add_option("--ip", ip, "device address")->capture_default_str();
  qp_set->add_option("qpn", target, "the QP number, or `all` (every RC QP)")->required();
  qp_set->add_option("settings", settings,
                     "cc=NAME (a new congestion-control policy) and/or key=value (its parameters); "
                     "lr=go_back_n|selective_repeat (loss recovery)")
      ->required();

  auto* stop = app.add_subcommand("stop", "stop the engine serving an address");
  stop->add_option("--ip", ip, "device address")->capture_default_str();

  // `flexins run [opts] -- CMD ARGS…`: everything after the first "--" is the
  // command, verbatim. (CLI11 2.1's prefix_command appends a stray "--" and
  // can reorder the arguments; qperf, for one, rejects the "--".)
  int cli_argc = argc;
  bool verbatim = false;
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) {
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--") != 0) continue;
      command.assign(argv + i + 1, argv + argc);
      cli_argc = i;
      verbatim = true;
      break;
    }
  }
  CLI11_PARSE(app, cli_argc, argv);

  if (*daemon) {
    try {
      if (!inject.empty()) cfg.faults = flexins::io::parse_fault_spec(inject);
      cfg.ablate = flexins::engine::parse_ablations(ablate);
      if (!cpus.empty()) cfg.cpus = flexins::engine::parse_cpu_list(cpus);
      const auto lr = flexins::transport::parse_loss_recovery(loss_recovery);
      if (!lr) throw std::invalid_argument("--loss-recovery must be go_back_n or selective_repeat, not '" + loss_recovery + "'");
      cfg.loss_recovery = *lr;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "flexins daemon: %s\n", e.what());
      return 2;
    }
    return cmd_daemon(cfg);
  }
  if (*run) {
    if (!verbatim)
      for (const auto& extra : run->remaining()) command.push_back(extra);
    return cmd_run(ip, command);
  }
  if (*stat) return cmd_stat(ip, json);
  if (*qp_list) return flexins::cli::cmd_qp_list(ip, json);
  if (*qp_show) return flexins::cli::cmd_qp_show(ip, qpn, json);
  if (*qp_set) return flexins::cli::cmd_qp_set(ip, target, settings);
  if (*stop) return cmd_stop(ip);
  return 2;
}
