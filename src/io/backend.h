// Packet I/O backends: one small interface, one implementation per file,
// chosen at engine start. The engine hands a backend whole RoCEv2 UDP
// payloads as gather lists (header-only TX: the payload pieces point into
// registered memory) and gets received datagrams back in its own RX buffers.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>

namespace flexins::io {

inline constexpr uint32_t kMaxTxIov = 24;

// Limits of one segmentation-offload send (UDP GSO): the datagrams of a
// group share one UDP/IP header template, so together they must fit one
// IPv4 packet's 16-bit length, and the kernel takes at most 64 segments
// (UDP_MAX_SEGMENTS) and 1024 iovecs (UIO_MAXIOV) per message.
inline constexpr uint32_t kMaxGsoBytes = 65535 - 20 - 8;
inline constexpr uint32_t kMaxGsoSegments = 64;
inline constexpr uint32_t kMaxGsoIov = 1024;

// One datagram to send. `iov` lists the UDP payload in order.
//
// Segmentation offload: a datagram with `gso_continues` set is the next
// segment of the group the datagram before it belongs to. A group goes out
// in one send; every datagram of it but the last has the first one's
// length, and all share dst and src. Once segmented, segment k of a group
// carries IP ID k (the kernel numbers them from the first's ID, which is 0
// for our DF datagrams), and the sender computes each ICRC accordingly.
struct TxDatagram {
  uint32_t dst_ip = 0;    // network byte order
  uint16_t dst_port = 0;  // host order
  uint16_t src_port = 0;  // host order: which of the backend's source ports
  bool gso_continues = false;
  // Leave with the IP ECN field Congestion Experienced instead of ECT(0),
  // as a congested switch would have marked it (the fault injector's doing;
  // a group is marked as a whole, by its first datagram).
  bool ecn_ce = false;
  uint32_t iov_count = 0;
  uint32_t length = 0;  // sum of iov lengths
  iovec iov[kMaxTxIov];
};

// One received datagram, in a buffer the caller supplied.
struct RxDatagram {
  uint8_t* data = nullptr;  // caller's buffer
  uint32_t capacity = 0;    // its size
  uint32_t length = 0;      // bytes received
  uint32_t src_ip = 0;      // network byte order
  uint32_t dst_ip = 0;      // network byte order
  uint16_t src_port = 0;    // host order
  uint8_t ecn = 0;          // IP ECN bits (0 if unknown; 3: Congestion Experienced)
  bool truncated = false;   // the datagram did not fit
  // Receive offload (UDP GRO): non-zero when `data` holds several datagrams
  // back to back, each `segment_size` bytes except the last.
  uint32_t segment_size = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Send up to pkts.size() datagrams; returns how many the backend took.
  // The payload memory need only stay valid until the call returns.
  virtual uint32_t tx_burst(std::span<TxDatagram> pkts) = 0;
  // Receive up to pkts.size() datagrams without blocking; returns how many.
  virtual uint32_t rx_burst(std::span<RxDatagram> pkts) = 0;
  // An fd that polls readable when rx_burst has something (for sleeping).
  virtual int rx_fd() const = 0;
  // The UDP source ports this backend can send from (per-QP entropy).
  virtual std::span<const uint16_t> src_ports() const = 0;
  // How many datagrams one group may hold (1: no segmentation offload).
  virtual uint32_t max_gso_segments() const { return 1; }
  // Called once per engine pass: a decorator may release held packets.
  virtual void tick(uint64_t now_ns) { (void)now_ns; }
};

}  // namespace flexins::io
