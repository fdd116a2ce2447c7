#include "engine/engine_cq.h"

#include <sys/socket.h>

#include "pipe/control_proto.h"

namespace flexins::engine {

bool EngineCq::push(const pipe::Cqe& cqe) {
  if (!producer_.push(cqe)) {
    // CQ overrun (IBA 11.4.2.1): the CQ is in error; tell the owner once.
    if (!overflow_reported_) {
      overflow_reported_ = true;
      pipe::AsyncEvent ev{IBV_EVENT_CQ_ERR, uint32_t(pipe::AsyncObject::kCq), handle_, 0};
      send(async_fd_, &ev, sizeof ev, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    return false;
  }
  if (channel_fd_ >= 0 && producer_.take_arm(cqe.solicited || cqe.status != IBV_WC_SUCCESS)) {
    // One event per arm; if the application never reads its channel the
    // socket fills and further events are dropped, never blocking us.
    pipe::CompEvent ev{handle_, 0};
    send(channel_fd_, &ev, sizeof ev, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  return true;
}

}  // namespace flexins::engine
