#include "transport/recv_wr.h"

#include <cstring>

#include "transport/qp.h"

namespace flexins::transport {

bool take_recv_wr(QpSetup& setup, RecvWr& out) {
  constexpr uint32_t kMaxSge = pipe::DeviceCaps::kMaxSge;
  pipe::RecvWqe wqe{};
  if (setup.srq != nullptr) {
    if (!setup.srq->take(wqe, out.sge, kMaxSge)) return false;
    out.pd = setup.srq->pd();
    out.num_sge = wqe.num_sge < kMaxSge ? wqe.num_sge : kMaxSge;
  } else {
    pipe::WqConsumer& rq = setup.rq;
    if (!rq.valid() || rq.pending() == 0) return false;
    const uint8_t* slot = rq.fetch();
    std::memcpy(&wqe, slot, sizeof wqe);
    uint32_t fit = (rq.slot_size() - uint32_t(sizeof wqe)) / uint32_t(sizeof(pipe::Sge));
    uint32_t cap = setup.cap.max_recv_sge < kMaxSge ? setup.cap.max_recv_sge : kMaxSge;
    if (fit > cap) fit = cap;
    out.num_sge = wqe.num_sge < fit ? wqe.num_sge : fit;
    std::memcpy(out.sge, slot + sizeof wqe, out.num_sge * sizeof(pipe::Sge));
    rq.retire(rq.next_index());  // copied: the host may reuse the slot
    out.pd = setup.pd;
  }
  out.wr_id = wqe.wr_id;
  uint64_t total = 0;
  for (uint32_t i = 0; i < out.num_sge; ++i) total += out.sge[i].length;
  out.length = total > UINT32_MAX ? UINT32_MAX : uint32_t(total);
  return true;
}

}  // namespace flexins::transport
