#include "transport/send_wr.h"

#include <algorithm>
#include <cstring>

namespace flexins::transport {

using pipe::DeviceCaps;

ibv_wc_status copy_send_payload(const pipe::SendWqe& wqe, const uint8_t* slot, uint32_t slot_size,
                                const ibv_qp_cap& cap, SendWr& w) {
  const uint8_t* body = slot + sizeof wqe;
  const uint32_t body_bytes = slot_size - uint32_t(sizeof wqe);
  if (w.send_flags & IBV_SEND_INLINE) {
    const uint32_t granted = cap.max_inline_data ? cap.max_inline_data : DeviceCaps::kMaxInlineData;
    if (wqe.inline_len > std::min({body_bytes, DeviceCaps::kMaxInlineData, granted})) return IBV_WC_LOC_LEN_ERR;
    w.is_inline = true;
    w.length = wqe.inline_len;
    w.inline_data.assign(body, body + wqe.inline_len);
    return IBV_WC_SUCCESS;
  }
  const uint32_t max_sge = std::min({body_bytes / uint32_t(sizeof(pipe::Sge)), DeviceCaps::kMaxSge, cap.max_send_sge});
  if (wqe.num_sge > max_sge) return IBV_WC_LOC_QP_OP_ERR;
  w.num_sge = wqe.num_sge;
  std::memcpy(w.sge, body, w.num_sge * sizeof(pipe::Sge));
  uint64_t total = 0;
  for (uint32_t i = 0; i < w.num_sge; ++i) total += w.sge[i].length;
  if (total > DeviceCaps::kMaxMsgSize) return IBV_WC_LOC_LEN_ERR;  // IBA C9-?: 2^31 at most
  w.length = uint32_t(total);
  return IBV_WC_SUCCESS;
}

}  // namespace flexins::transport
