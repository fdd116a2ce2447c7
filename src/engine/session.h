// One application context (one control connection): the objects it created
// and the shared memory it talks through. Destroying the session (the socket
// closed: exit, crash or SIGKILL) reclaims every one of them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/engine_cq.h"
#include "engine/mr_mapping.h"
#include "engine/shm_arena.h"
#include "engine/worker.h"
#include "pipe/control_proto.h"
#include "transport/env.h"
#include "transport/ring_srq.h"

namespace flexins::engine {

class Engine;

class Session {
 public:
  Session(Engine& engine, int sock);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Serve one request. False when the connection is gone.
  bool serve();
  size_t qp_count() const { return qps_.size(); }
  bool opened() const { return opened_; }
  size_t mr_count() const { return mrs_.size(); }
  size_t cq_count() const { return cqs_.size(); }
  size_t pd_count() const { return pds_.size(); }
  size_t srq_count() const { return srqs_.size(); }
  size_t ah_count() const { return ahs_.size(); }

 private:
  struct Reply {
    int status = 0;
    std::vector<uint8_t> body;
    std::vector<int> fds;  // sent, not owned
    template <class T>
    void set(const T& v) {
      body.resize(sizeof v);
      std::memcpy(body.data(), &v, sizeof v);
    }
  };
  struct Mr {
    MrMapping mapping;
    transport::MemoryRegion region;
  };
  struct Cq {
    std::unique_ptr<EngineCq> cq;
    uint64_t shm_offset = 0;
    uint32_t channel = pipe::kNoHandle;
    uint32_t users = 0;  // QPs using it
  };
  struct Qp {
    uint64_t shm_offset = 0;
    uint64_t sq_offset = 0;
    uint64_t rq_offset = 0;  // 0: the QP receives from an SRQ
    uint32_t pd = 0;
    uint32_t send_cq = 0;
    uint32_t recv_cq = 0;
    uint32_t srq = pipe::kNoHandle;
  };
  struct Srq {
    std::unique_ptr<transport::RingSrq> srq;
    uint64_t shm_offset = 0;  // SrqShm
    uint64_t ring_offset = 0;
    uint32_t pd = 0;
    uint32_t max_wr = 0;  // ring slots
    uint32_t max_sge = 0;
    uint32_t users = 0;  // QPs created with it
  };

  void dispatch(uint32_t op, std::span<const uint8_t> body, std::span<const int> fds, Reply& r);
  template <class T>
  static bool body_as(std::span<const uint8_t> body, T& out);

  void open(std::span<const uint8_t> body, Reply& r);
  void alloc_pd(Reply& r);
  void dealloc_pd(std::span<const uint8_t> body, Reply& r);
  void reg_mr(std::span<const uint8_t> body, std::span<const int> fds, Reply& r);
  void dereg_mr(std::span<const uint8_t> body, Reply& r);
  void create_channel(std::span<const int> fds, Reply& r);
  void destroy_channel(std::span<const uint8_t> body, Reply& r);
  void create_cq(std::span<const uint8_t> body, Reply& r);
  void destroy_cq(std::span<const uint8_t> body, Reply& r);
  void create_qp(std::span<const uint8_t> body, Reply& r);
  void modify_qp(std::span<const uint8_t> body, Reply& r);
  void query_qp(std::span<const uint8_t> body, Reply& r);
  void destroy_qp(std::span<const uint8_t> body, Reply& r);
  void destroy_qp_now(uint32_t qpn);
  void destroy_mr_now(uint32_t handle);
  void create_srq(std::span<const uint8_t> body, Reply& r);
  void modify_srq(std::span<const uint8_t> body, Reply& r);
  void query_srq(std::span<const uint8_t> body, Reply& r);
  void destroy_srq(std::span<const uint8_t> body, Reply& r);
  void destroy_srq_now(uint32_t handle);
  void create_ah(std::span<const uint8_t> body, Reply& r);
  void destroy_ah(std::span<const uint8_t> body, Reply& r);
  void destroy_ah_now(uint32_t handle);

  Engine& engine_;
  int sock_;
  uint32_t id_;
  bool opened_ = false;
  std::unique_ptr<ShmArena> shm_;
  int async_fd_ = -1;       // engine end of the async event socket
  int async_peer_fd_ = -1;  // library end, sent at open, then closed here
  WorkerContext ctx_;

  std::map<uint32_t, uint32_t> pds_;  // handle → objects using it
  std::map<uint32_t, Mr> mrs_;
  std::map<uint32_t, int> channels_;  // handle → engine end of the socket
  std::map<uint32_t, uint32_t> channel_users_;
  std::map<uint32_t, Cq> cqs_;
  std::map<uint32_t, Qp> qps_;
  std::map<uint32_t, Srq> srqs_;
  std::map<uint32_t, transport::AddressHandle> ahs_;
  uint32_t next_handle_ = 1;
};

}  // namespace flexins::engine
