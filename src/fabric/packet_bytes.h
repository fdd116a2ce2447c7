// A transmitted packet as the wire carries it: the RoCEv2 UDP payload the
// engine's TX stage hands to its backend (engine/worker.cc, Worker::transmit):
// the transport's headers, the payload gathered from registered memory, the
// pad bytes and the ICRC (IBA annex A17), computed over the IPv4/UDP
// fields a datagram sent alone carries (DF set, IP ID 0).
#pragma once

#include <cstdint>
#include <vector>

#include "transport/env.h"

namespace flexins::fabric {

// Replaces `out` with the UDP payload of `pkt` sent from `src_ip` (network
// byte order). The payload iovecs are read now, as sendmmsg would.
void udp_payload_of(const transport::OutPacket& pkt, uint32_t src_ip, std::vector<uint8_t>& out);

// Bytes an Ethernet link spends on a RoCEv2 packet besides its UDP payload:
// preamble + SFD (8), Ethernet header (14), IPv4 (20), UDP (8), FCS (4) and
// the inter-frame gap (12).
inline constexpr uint32_t kEthernetIpUdpOverheadBytes = 8 + 14 + 20 + 8 + 4 + 12;

}  // namespace flexins::fabric
