// UD receive side (IBA 9.8, 10.2.5?): checks the Q_Key, takes a receive WQE
// (the QP's RQ or its SRQ), writes the 40-byte GRH area and the payload
// behind it, and completes. Nothing is ever acknowledged: a datagram that
// cannot be received (wrong Q_Key, no receive WQE: UD has no RNR) is dropped
// and counted.
//
// The GRH area, for RoCEv2 over IPv4, holds what the kernel and rdma-core's
// providers put there: 20 zero bytes, then the packet's IPv4 header in the
// last 20 (ibv_init_ah_from_wc finds it by the version nibble at offset 20).
#pragma once

#include <cstdint>

#include "transport/qp.h"
#include "wire/packet.h"

namespace flexins::transport {

inline constexpr uint32_t kGrhBytes = 40;
inline constexpr uint32_t kGrhIpv4Offset = 20;
// The UDP backend does not see the received TTL; the GRH reports this one.
inline constexpr uint8_t kGrhIpv4Ttl = 64;

// The 40 bytes a UD receive gets ahead of the payload for a RoCEv2/IPv4
// packet from src_ip to dst_ip (network byte order) whose UDP payload
// (BTH … ICRC) is udp_payload_bytes long.
void build_grh_ipv4(uint8_t out[kGrhBytes], uint32_t src_ip, uint32_t dst_ip, uint8_t tos,
                    uint32_t udp_payload_bytes);

class UdReceiver {
 public:
  explicit UdReceiver(Qp::Impl& qp) : qp_(qp) {}
  // A packet for this UD QP in RTR or RTS.
  void on_packet(const wire::Packet& pkt, const RxMeta& meta);

 private:
  Qp::Impl& qp_;
};

}  // namespace flexins::transport
