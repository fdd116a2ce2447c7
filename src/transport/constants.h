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

// All QPs of one worker share this many outstanding packets (window_pool.h):
// each may have an equal share, between kMinOutstandingPackets and
// kMaxOutstandingPackets, and reserves more for a message that needs it.
// Without a shared bound, N QPs put N windows in flight: at N = 256 that is
// up to 1 GiB, past the peer's 32 MiB receive socket, and even without drops
// the queueing delay at a peer serving ~50k packets/s outgrows the ACK
// timeout (67 ms for perftest's default), so spurious go-back-N storms end in
// IBV_WC_RETRY_EXC_ERR (ib_write_bw -q 256 and -q 1024 did). 4096 packets
// (16 MiB at MTU 4096) queue for about 10 ms at the ~400k packets/s an
// engine moves now; 1024 gave each of 1024 QPs a window of one packet, an
// ACK per packet and a third of one QP's bandwidth.
inline constexpr uint32_t kWorkerOutstandingPackets = 4096;
inline constexpr uint32_t kMinOutstandingPackets = 1;

// The fair share of one QP when `qps` QPs share `capacity` packets.
inline constexpr uint32_t qp_window_packets(uint32_t qps, uint32_t capacity = kWorkerOutstandingPackets) {
  const uint32_t share = qps == 0 ? kMaxOutstandingPackets : capacity / qps;
  return share < kMinOutstandingPackets ? kMinOutstandingPackets
         : share > kMaxOutstandingPackets ? kMaxOutstandingPackets
                                          : share;
}

// The requester sets the BTH AckReq bit on the last packet of every message
// and also on every kAckReqEveryPackets-th packet of a long message (or every
// half window, if the window is smaller), so the window keeps opening without
// an ACK per packet.
inline constexpr uint32_t kAckReqEveryPackets = 64;
inline constexpr uint32_t ack_req_interval(uint32_t window_packets) {
  const uint32_t half = window_packets / 2 > 0 ? window_packets / 2 : 1;
  return half < kAckReqEveryPackets ? half : kAckReqEveryPackets;
}

// The responder ACKs when a request carries AckReq, and in any case after
// this many accepted packets without an ACK (a safety net for a requester
// that never asks).
inline constexpr uint32_t kAckEveryPackets = 128;

// Congestion control (congestion.h). A paced QP may send this many bytes
// back to back: a few packets, so a worker pass can keep up with the rate
// without a timer per packet.
inline constexpr uint64_t kPacerBurstBytes = 16 * 1024;
// The notification point answers ECN-CE marked requests of one QP with at
// most one CNP per this interval (DCQCN's and the RoCEv2 default, 50 us).
inline constexpr uint64_t kCnpIntervalNs = 50'000;

// Retransmit timer floor. IBA encodes the local ACK timeout as
// 4.096 us * 2^timeout; tiny values (1..7, < 1 ms) would fire before a
// software peer on a loaded host could answer, so they are raised to this.
inline constexpr uint64_t kMinRetransmitTimeoutNs = 1'000'000;

// timeout == 0 means "infinite" (IBA 9.7.6.1.3): the QP never gives up with
// IBV_WC_RETRY_EXC_ERR. We still retransmit at this interval (without using up
// retry_cnt), so a lost tail packet cannot hang the QP forever.
inline constexpr uint64_t kInfiniteTimeoutProbeNs = 500'000'000;

// UC responder: a packet at most this many PSNs behind the expected one is
// a late or duplicated copy (the IP network may reorder or duplicate; UC
// never resends) and is dropped. One further behind is taken as a gap, like
// one ahead: the sender started over, and a First or Only begins a new
// message (UC resynchronises on those).
inline constexpr uint32_t kUcLatePsnWindow = 1u << 16;

// READ / atomic requests the responder remembers, so a duplicate is served
// again (READ) or answered from the cache without re-executing (atomic).
// At least max_dest_rd_atomic (≤ 16) plus room for retried ones.
inline constexpr uint32_t kReplayRecords = 32;

// Most READ responses the responder keeps queued (original + replays);
// duplicates beyond it are dropped and the requester retries later.
inline constexpr uint32_t kMaxQueuedReplies = 64;

}  // namespace flexins::transport
