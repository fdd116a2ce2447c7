// Runs a real engine (`flexins daemon`) for a test: private run directory,
// address 127.0.0.3, killed at the end.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "../private_run_dir.h"

namespace flexins::verbs::testing {

inline constexpr const char* kEngineIp = "127.0.0.3";

// The engine's address with port PORT_BE (network order), for rdma_cm and
// rsockets calls.
inline sockaddr_in engine_addr(uint16_t port_be) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = port_be;
  inet_pton(AF_INET, kEngineIp, &a.sin_addr);
  return a;
}

class EngineProcess {
 public:
  EngineProcess() {
    if (!dir_.ok()) return;
    pid_ = fork();
    if (pid_ == 0) {
      execl(FLEXINS_ENGINE_BIN, FLEXINS_ENGINE_BIN, "daemon", "--ip", kEngineIp, nullptr);
      _exit(127);
    }
    std::string sock = dir_.path() + "/engine-" + kEngineIp + ".sock";
    for (int i = 0; i < 500 && !ready_; ++i) {
      struct stat st;
      ready_ = stat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~EngineProcess() { kill_now(SIGTERM); }  // then dir_ goes
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  bool ready() const { return ready_; }
  void kill_now(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  flexins::testing::PrivateRunDir dir_{"flexins-verbs-test"};
  pid_t pid_ = -1;
  bool ready_ = false;
};

// The engine's device, opened.
inline ibv_context* open_engine_device() {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n != 1) {
    if (list) ibv_free_device_list(list);
    return nullptr;
  }
  ibv_context* ctx = ibv_open_device(list[0]);
  ibv_free_device_list(list);
  return ctx;
}

// Posts one receive of [buf, buf + len) on QP.
inline int post_recv(ibv_qp* qp, void* buf, uint32_t len, uint32_t lkey, uint64_t wr_id) {
  ibv_sge s{reinterpret_cast<uintptr_t>(buf), len, lkey};
  ibv_recv_wr w{};
  w.wr_id = wr_id;
  w.sg_list = &s;
  w.num_sge = 1;
  ibv_recv_wr* bad;
  return ibv_post_recv(qp, &w, &bad);
}

}  // namespace flexins::verbs::testing
