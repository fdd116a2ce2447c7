// The library's end of the control socket (pipe/control_proto.h): one
// request, one reply, strictly in turn, from any application thread.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <span>

#include "pipe/control_proto.h"

namespace flexins::verbs {

class ControlClient {
 public:
  explicit ControlClient(int fd) : fd_(fd) {}
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  int fd() const { return fd_; }

  // Send `op` with `body` (and fds), wait for its reply. On status 0 the
  // reply body must be exactly reply.size() bytes; received fds go to
  // `fds_in` (*nfds_in of them; the caller owns them). Returns 0, the
  // engine's errno, or EIO once the engine is gone.
  int call(pipe::CtlOp op, std::span<const uint8_t> body, std::span<uint8_t> reply,
           std::span<const int> fds_out = {}, std::span<int> fds_in = {},
           size_t* nfds_in = nullptr);

  template <class Req, class Rep>
  int call(pipe::CtlOp op, const Req& req, Rep* rep, std::span<const int> fds_out = {},
           std::span<int> fds_in = {}, size_t* nfds_in = nullptr) {
    return call(op, as_bytes(req), as_writable_bytes(rep), fds_out, fds_in, nfds_in);
  }
  template <class Req>
  int call(pipe::CtlOp op, const Req& req) {
    return call(op, as_bytes(req), std::span<uint8_t>{});
  }

  // Whether the engine is still there. Cheap to call (no system call) once
  // the engine is known dead; otherwise one non-blocking peek.
  bool alive();
  bool known_dead() const { return dead_.load(std::memory_order_relaxed); }

 private:
  template <class T>
  static std::span<const uint8_t> as_bytes(const T& t) {
    return {reinterpret_cast<const uint8_t*>(&t), sizeof t};
  }
  template <class T>
  static std::span<uint8_t> as_writable_bytes(T* t) {
    return {reinterpret_cast<uint8_t*>(t), sizeof *t};
  }
  void mark_dead() { dead_.store(true, std::memory_order_relaxed); }

  int fd_;
  pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<bool> dead_{false};
};

}  // namespace flexins::verbs
