// Receive WQEs as the responder holds them: copied out of the RQ ring (and
// the slot retired at once) or taken from the SRQ, so the host can reuse
// the slot while the message is still arriving.
#pragma once

#include <cstdint>

#include "pipe/device_caps.h"
#include "pipe/shm_layout.h"

namespace flexins::transport {

struct QpSetup;

struct RecvWr {
  uint64_t wr_id = 0;
  uint32_t pd = 0;  // the PD its L_Keys are checked against (QP's, or the SRQ's)
  uint32_t num_sge = 0;
  uint32_t length = 0;  // sum of SGE lengths
  pipe::Sge sge[pipe::DeviceCaps::kMaxSge];
};

// Takes the next receive WQE of the QP (its RQ, or its SRQ). false if none.
// A host that claims more SGEs than the slot (or the QP's cap) holds gets
// only those that fit: the ring cannot be read past its slot.
bool take_recv_wr(QpSetup& setup, RecvWr& out);

}  // namespace flexins::transport
