// What is left of a destroyed RC QP for a while, like TCP's TIME_WAIT.
//
// An application that has seen all its completions destroys its QP at once,
// but the peer may not have seen our last ACK (lost on the wire) and keeps
// retransmitting: without an answer it ends in "transport retry counter
// exceeded" although every byte arrived. A duplicate request must be
// acknowledged (IBA 9.7.5.1.2), so for a bounded time the engine answers
// duplicates of SEND/WRITE requests the QP had already executed with an ACK.
// Anything else (new PSNs, READ and atomic replays whose data is gone) is
// dropped as addressed to an unknown QP.
#pragma once

#include <cstdint>

#include "transport/env.h"
#include "wire/packet.h"

namespace flexins::transport {

inline constexpr uint64_t kTombstoneLifetimeNs = 30'000'000'000ull;

struct Tombstone {
  uint32_t qpn = 0;
  uint32_t dest_qpn = 0;
  uint32_t dest_ip = 0;  // network byte order
  uint16_t src_port = 0;
  uint32_t epsn = 0;  // next PSN the responder expected
  uint32_t msn = 0;
  uint64_t expires_ns = 0;
};

// Answer `request` (addressed to the tombstone's QPN) if it is a duplicate of
// an executed SEND/WRITE. Returns true if an ACK went out.
bool tombstone_answer(Env& env, const Tombstone& t, const wire::Packet& request, uint32_t src_ip);

}  // namespace flexins::transport
