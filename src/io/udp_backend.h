// The default backend: plain UDP sockets, works anywhere.
//
// One socket bound to ADDR:4791 receives (recvmmsg, IP_PKTINFO for the
// destination address, IP_RECVTOS for ECN). A few more sockets bound to
// ADDR:ephemeral send (sendmmsg), one per UDP source port, so QPs spread
// over several 5-tuples as RoCEv2 flow entropy asks. They send ECN-capable
// (ECT(0)), so ECN-marking switches mark instead of dropping (DCQCN); a
// datagram flagged ecn_ce leaves marked (an IP_TOS control message).
//
// Every sending socket uses IP_PMTUDISC_DO: the kernel then sets DF and IP
// ID 0 on each datagram, which lets a receiver that never sees the IP header
// rebuild it for the ICRC (see wire/icrc.h and shared/notes/verbs-abi.md).
//
// Segmentation offload both ways: a group of datagrams (backend.h) leaves in
// one message with UDP_SEGMENT, and the receive socket has UDP_GRO, so on
// loopback and veth the group crosses the kernel as one buffer and arrives
// whole. If the kernel refuses a GSO send, GSO is off from then on (the
// group is lost like a congested wire's packets; the transport resends).
// A path that segments a group (a NIC without GRO in between) delivers
// segments whose IP ID the receiver cannot know: run such engines with the
// offloads off (`flexins daemon --no-udp-offload`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/backend.h"

namespace flexins::io {

class UdpBackend final : public Backend {
 public:
  // Throws std::system_error if the address cannot be bound.
  // OFFLOAD: use UDP GSO and GRO where the kernel has them.
  UdpBackend(uint32_t ipv4_be, uint16_t port, uint32_t tx_sockets = 4, bool offload = true);
  ~UdpBackend() override;
  UdpBackend(const UdpBackend&) = delete;
  UdpBackend& operator=(const UdpBackend&) = delete;

  uint32_t tx_burst(std::span<TxDatagram> pkts) override;
  uint32_t rx_burst(std::span<RxDatagram> pkts) override;
  int rx_fd() const override { return rx_fd_; }
  std::span<const uint16_t> src_ports() const override { return tx_ports_; }
  uint32_t max_gso_segments() const override { return gso_ ? kMaxGsoSegments : 1; }

 private:
  uint32_t send_run(int fd, std::span<TxDatagram> pkts);

  int rx_fd_ = -1;
  std::vector<int> tx_fds_;
  std::vector<uint16_t> tx_ports_;
  bool gso_ = false;
};

}  // namespace flexins::io
