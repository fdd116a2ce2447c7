// The packets all RC QPs of one worker may have outstanding together
// (constants.h, kWorkerOutstandingPackets). A QP may always have its fair
// share in flight (capacity / QPs). A message goes whole or not at all: as
// it starts, the QP reserves the rest of it in the pool, which a message
// that fits in the fair share may always do and a longer one only if the
// pool has room; otherwise it waits in line (the worker's pool_waiters_)
// until ACKs free enough. With a fixed share, 1024 QPs streaming 64 KiB
// writes each had 4 packets in flight: a message took four windows and the
// requester asked for an ACK every 2 packets. Now each message leaves in
// one go and asks once, and the pool still bounds what all QPs have in
// flight (to its capacity plus the fair shares).
//
// Each QP's claim is its packets in flight plus the rest of a reserved
// message (Requester::pool_claim); the QP brings it up to date after every
// call into it (Qp::Impl::sync_window_claim). Only the owning worker thread
// touches the pool.
#pragma once

#include <cstdint>

#include "transport/constants.h"

namespace flexins::transport {

struct WindowPool {
  uint32_t capacity = kWorkerOutstandingPackets;
  // false: no reservations, every QP keeps to its fair share (the emulated
  // fabric's hosts, which keep no line of waiting QPs).
  bool lend = true;
  // QPs wait in line for room: no other QP reserves ahead of them.
  bool queue_first = false;
  uint32_t qps = 0;          // QPs sharing it
  uint32_t outstanding = 0;  // the sum of their claims
  uint64_t releases = 0;     // times a claim shrank (room may have come)

  uint32_t fair_share() const { return qp_window_packets(qps, capacity); }
  // Whether a QP whose claim counts `claimed` may have `need` packets
  // outstanding, beyond its fair share.
  bool may_reserve(uint32_t need, uint32_t claimed) const {
    return lend && !queue_first && outstanding - claimed + need <= capacity;
  }
};

}  // namespace flexins::transport
