// The engine side of a completion queue: writes CQEs into the shared ring
// and fires the completion channel for an armed CQ (ibv_req_notify_cq).
#pragma once

#include <cstdint>

#include "pipe/rings.h"
#include "transport/env.h"

namespace flexins::engine {

class EngineCq final : public transport::CompletionQueue {
 public:
  // channel_fd: engine end of the completion channel socket, or -1.
  // async_fd: the context's async event socket (for IBV_EVENT_CQ_ERR).
  EngineCq(uint32_t handle, pipe::CqShm* shm, pipe::Cqe* ring, uint32_t slots, int channel_fd, int async_fd)
      : handle_(handle), producer_(shm, ring, slots), channel_fd_(channel_fd), async_fd_(async_fd) {}

  bool push(const pipe::Cqe& cqe) override;
  uint32_t handle() const { return handle_; }

 private:
  uint32_t handle_;
  pipe::CqProducer producer_;
  int channel_fd_;
  int async_fd_;
  bool overflow_reported_ = false;
};

}  // namespace flexins::engine
