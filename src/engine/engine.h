// flexinsd: one engine per device address. It owns the wire (an I/O
// backend), the workers ("NIC cores") that run the transport, and the control
// server through which applications open the device and manage objects.
//
// Threads: the control thread (Engine::run: accepts connections, serves
// requests, handles signals) and the workers. The control thread changes a
// worker's state only through Worker::call.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cc/plugin_loader.h"
#include "cc/registry.h"
#include "engine/ablation.h"
#include "engine/shm_arena.h"
#include "engine/worker.h"
#include "engine/worker_priority.h"
#include "io/backend.h"
#include "io/fault_injector.h"
#include "pipe/shm_layout.h"

namespace flexins::engine {

class Session;

struct EngineConfig {
  std::string ip = "127.0.0.1";
  std::string run_dir;  // empty: $FLEXINS_RUN_DIR or /tmp/flexins
  io::FaultSpec faults;
  uint32_t workers = 1;
  bool verify_icrc = true;
  bool udp_offload = true;       // UDP GSO/GRO (io/udp_backend.h)
  // Worker scheduling (worker_priority.h): fair at nice, or SCHED_FIFO at
  // rt_priority when asked (an engine that owns its cores).
  WorkerPriority priority{.rt_priority = 0, .nice = -20};
  std::vector<int> cpus;         // worker i runs on cpus[i % size] (cpu_pinning.h); empty: anywhere
  uint64_t spin_us = 0;          // idle worker: busy-poll this long,
  uint64_t nap_us = 50;          // then nap this long at a time,
  uint64_t idle_nap_us = 1000;   // or this long with nothing in flight (applications kick),
  uint64_t nap_window_ms = 100;  // for this long after the last work; then sleep until kicked
  bool idle_kicks = true;        // a nap with nothing in flight asks applications to kick (worker.h)
  Ablations ablate;              // measurement only (ablation.h)
  // Congestion control: the policy spec every new RC QP starts with
  // ("NAME[,key=value...]", cc/registry.h), and plug-ins to load first.
  std::string cc = "none";
  std::vector<std::string> plugins;
  // Loss recovery of every new RC QP (transport/selective_repeat.h).
  transport::LossRecoveryMode loss_recovery = transport::LossRecoveryMode::kGoBackN;
  bool quiet = false;
};

class Engine {
 public:
  // Binds the address and the control socket; throws std::runtime_error with
  // a message a user can act on (address in use, engine already running…).
  explicit Engine(const EngineConfig& cfg);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Serve until SIGINT/SIGTERM (or stop()). Returns the exit code.
  int run();
  void stop();

  // ---- used by sessions (control thread)
  uint32_t ip_be() const { return ip_be_; }
  uint32_t active_mtu() const { return active_mtu_; }
  uint32_t num_workers() const { return uint32_t(workers_.size()); }
  Worker& worker(uint32_t i) { return *workers_[i]; }
  Worker& worker_for_qpn(uint32_t qpn) { return *workers_[qpn % workers_.size()]; }
  int status_fd() const { return status_->fd(); }
  uint16_t src_port_for(uint32_t qpn) const;
  uint32_t alloc_qpn();
  void free_qpn(uint32_t qpn);
  uint32_t alloc_key();  // random, unique engine-wide, never 0
  void free_key(uint32_t key);
  uint32_t alloc_pd_handle() { return next_pd_++; }  // engine-wide: PDs never collide
  uint32_t next_session_id() { return next_session_++; }
  std::string stats_json() const;
  // Built-in and plug-in congestion-control policies (immutable after start).
  const cc::PolicyRegistry& policies() const { return policies_; }

  static std::string socket_path(const std::string& run_dir, const std::string& ip);
  static std::string default_run_dir();

 private:
  void accept_client();

  EngineConfig cfg_;
  cc::PolicyRegistry policies_;
  uint32_t ip_be_ = 0;
  uint32_t active_mtu_ = IBV_MTU_1024;
  std::string sock_path_;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  int stop_fd_ = -1;
  std::unique_ptr<ShmArena> status_;  // EngineStatusShm
  std::unique_ptr<io::Backend> backend_;
  io::FaultInjector* injector_ = nullptr;  // inside backend_, if any
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<int, std::unique_ptr<Session>> sessions_;  // by socket fd
  std::set<uint32_t> qpns_;
  std::set<uint32_t> keys_;
  uint32_t next_qpn_ = 0;
  uint32_t next_pd_ = 1;
  uint32_t next_session_ = 1;
  std::mt19937 rng_;
  uint64_t started_ns_ = 0;
};

}  // namespace flexins::engine
