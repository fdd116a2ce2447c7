// Tunables of the RC transport. Each one is a policy choice, not a spec
// value; the spec values (RNR timer table, timeout encoding) live where they
// are used.
#pragma once

#include <cstdint>

namespace flexins::transport {

// Requester window: at most this many PSNs between the oldest unacknowledged
// PSN and the next PSN to send (a READ's response PSNs count). Bounds the
// go-back-N work after a loss and the responder's ACK lag.
inline constexpr uint32_t kMaxOutstandingPackets = 1024;

// The requester sets the BTH AckReq bit on the last packet of every message
// and also on every kAckReqEveryPackets-th packet of a long message, so the
// window keeps opening without an ACK per packet.
inline constexpr uint32_t kAckReqEveryPackets = 64;

// The responder ACKs when a request carries AckReq, and in any case after
// this many accepted packets without an ACK (a safety net for a requester
// that never asks).
inline constexpr uint32_t kAckEveryPackets = 128;

// Retransmit timer floor. IBA encodes the local ACK timeout as
// 4.096 us * 2^timeout; tiny values (1..7, < 1 ms) would fire before a
// software peer on a loaded host could answer, so they are raised to this.
inline constexpr uint64_t kMinRetransmitTimeoutNs = 1'000'000;

// timeout == 0 means "infinite" (IBA 9.7.6.1.3): the QP never gives up with
// IBV_WC_RETRY_EXC_ERR. We still retransmit at this interval (without using up
// retry_cnt), so a lost tail packet cannot hang the QP forever.
inline constexpr uint64_t kInfiniteTimeoutProbeNs = 500'000'000;

// READ / atomic requests the responder remembers, so a duplicate is served
// again (READ) or answered from the cache without re-executing (atomic).
// At least max_dest_rd_atomic (≤ 16) plus room for retried ones.
inline constexpr uint32_t kReplayRecords = 32;

// Most READ responses the responder keeps queued (original + replays);
// duplicates beyond it are dropped and the requester retries later.
inline constexpr uint32_t kMaxQueuedReplies = 64;

}  // namespace flexins::transport
