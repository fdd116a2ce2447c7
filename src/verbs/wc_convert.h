// A completion as the engine writes it (pipe::Cqe) → as verbs report it.
#pragma once

#include <infiniband/verbs.h>

#include "pipe/shm_layout.h"

namespace flexins::verbs {

inline void cqe_to_wc(const pipe::Cqe& c, ibv_wc& wc) {
  wc.wr_id = c.wr_id;
  wc.status = static_cast<ibv_wc_status>(c.status);
  wc.opcode = static_cast<ibv_wc_opcode>(c.opcode);
  wc.vendor_err = c.vendor_err;
  wc.byte_len = c.byte_len;
  wc.imm_data = c.imm_data;  // network order, or the invalidated rkey
  wc.qp_num = c.qp_num;
  wc.src_qp = c.src_qp;
  wc.wc_flags = c.wc_flags;
  wc.pkey_index = c.pkey_index;
  wc.slid = c.slid;
  wc.sl = c.sl;
  wc.dlid_path_bits = c.dlid_path_bits;
}

}  // namespace flexins::verbs
