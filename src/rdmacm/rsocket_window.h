// Credit and ring accounting of one rsocket connection (the protocol is in
// rsocket_proto.h). Pure arithmetic on running totals, so the unit tests
// drive it without verbs. Totals only grow; the 32-bit message counters wrap
// and are compared by difference.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "rdmacm/rsocket_proto.h"

namespace flexins::rdmacm::rs {

// Receive WRs a data message must leave for control messages (CREDIT, FIN,
// IOMAP), so a side that has run out of data credits can still report the
// space it freed and the peer never waits on a report that cannot be sent.
constexpr uint32_t kCtrlReserve = 4;

// What this side may still write into the peer's receive ring.
struct SendWindow {
  uint32_t ring_size = 0;    // the peer's ring (ConnData)
  uint32_t rq_credits = 0;   // receive WRs the peer posted (ConnData)
  uint64_t written = 0;      // ring bytes written in total
  uint64_t peer_freed = 0;   // ring bytes the peer reported freed
  uint32_t sent_msgs = 0;    // messages (data and control) sent
  uint32_t peer_reposted = 0;

  uint64_t ring_free() const { return ring_size - (written - peer_freed); }
  uint32_t msg_credits() const { return rq_credits - (sent_msgs - peer_reposted); }
  uint64_t ring_offset() const { return written % ring_size; }
  // Bytes the next data message may carry: at most WANT and MAX_MSG, what
  // the ring holds, and never across its end. 0: wait for a CREDIT.
  size_t data_room(size_t want, size_t max_msg) const {
    if (msg_credits() <= kCtrlReserve) return 0;
    uint64_t to_end = ring_size - ring_offset();
    return size_t(std::min<uint64_t>({want, max_msg, ring_free(), to_end}));
  }
  bool can_send_ctrl() const { return msg_credits() > 0; }
  void on_data_sent(size_t n) {
    written += n;
    ++sent_msgs;
  }
  void on_ctrl_sent() { ++sent_msgs; }
  // A CREDIT from the peer. False if it reports more than was ever sent or
  // goes backwards: the peer is broken and the connection must end.
  bool on_credit(uint32_t reposted, uint64_t freed) {
    if (freed < peer_freed || freed > written) return false;
    if (uint32_t(reposted - peer_reposted) > uint32_t(sent_msgs - peer_reposted)) return false;
    peer_freed = freed;
    peer_reposted = reposted;
    return true;
  }
};

// This side's receive ring, which the peer writes into.
struct RecvRing {
  uint32_t size = 0;
  uint32_t rq_depth = 0;       // receive WRs kept posted
  uint64_t arrived = 0;        // bytes the peer wrote, in total
  uint64_t consumed = 0;       // bytes the application read
  uint64_t announced_freed = 0;
  uint32_t reposted = 0;       // receive WRs reposted after a completion
  uint32_t announced_reposted = 0;

  size_t readable() const { return size_t(arrived - consumed); }
  uint64_t read_offset() const { return consumed % size; }
  size_t contiguous_readable() const {
    return size_t(std::min<uint64_t>(readable(), size - read_offset()));
  }
  // A data message of N bytes landed. False if it cannot have: empty, past
  // the space this side reported free, or across the ring's end.
  bool on_data(uint64_t n) {
    if (n == 0 || arrived + n - announced_freed > size) return false;
    if (arrived % size + n > size) return false;
    arrived += n;
    return true;
  }
  void on_consumed(size_t n) { consumed += n; }
  void on_reposted() { ++reposted; }
  // Report once half the ring or half the receive WRs were freed unreported.
  bool credit_due() const {
    return uint32_t(reposted - announced_reposted) >= std::max<uint32_t>(1, rq_depth / 2) ||
           consumed - announced_freed >= std::max<uint64_t>(1, size / 2);
  }
  CtrlMsg take_credit() {
    announced_reposted = reposted;
    announced_freed = consumed;
    CtrlMsg m;
    m.type = CtrlType::kCredit;
    m.reposted = reposted;
    m.freed = consumed;
    return m;
  }
};

// The send staging buffer: bytes are taken at the head as messages are
// posted and given back in the same order as their sends complete.
struct ByteRing {
  uint32_t size = 0;
  uint64_t head = 0;
  uint64_t tail = 0;

  uint64_t offset() const { return head % size; }
  size_t used() const { return size_t(head - tail); }
  size_t contiguous_free() const {
    return size_t(std::min<uint64_t>(size - used(), size - offset()));
  }
  void take(size_t n) { head += n; }
  void give_back(size_t n) { tail += n; }
};

}  // namespace flexins::rdmacm::rs
