// LID routing: FlexiNS's one extension to RoCE addressing. The rule lives
// here and nowhere else; the library (ibv_query_port), the engine (address
// handles and QP paths) and librdmacm (path records) all call it.
//
// Why: a RoCE port has no LID. Every path is a GRH naming the peer's GID,
// and hardware refuses an address vector without one (rdma-core's mlx5
// provider: EINVAL for !is_global on an Ethernet port). Yet some programs
// address their peer by LID alone, having exchanged the LID that
// ibv_query_port reported: qperf 0.4.11 without the RDMA CM (its UD tests
// always; its RC tests unless -cm1), ibv_rc_pingpong and ibv_ud_pingpong
// without -g. FlexiNS is software, so it can route what a RoCE NIC cannot:
//
//   - a port's LID is the low 16 bits of its engine's IPv4 address
//     (127.0.3.2 -> 0x0302, 198.18.5.1 -> 0x0501);
//   - a path without a GRH (is_global = 0) to DLID L, from an engine at
//     A.B.x.y, leads to A.B.(L >> 8).(L & 0xff): the host with that LID in
//     the engine's own /16 (LIDs name hosts within one subnet, as in IB).
//     Packets still leave as ordinary RoCEv2 (UDP 4791, ICRC), so a peer
//     cannot tell how the sender addressed it.
//   - a path with a GRH is resolved from its GID, as before; a DLID beside
//     it is ignored.
//
// What has no LID, so that a path without a GRH to it is refused (EINVAL):
//   - LID 0: IBA reserves it, and A.B.0.0 is the /16's network address;
//   - LID 0xffff: IBA's permissive LID, and A.B.255.255 is the /16's
//     broadcast address.
// An engine whose own address ends in .0.0 or .255.255 reports LID 0 and
// routes no LID at all (every path then needs a GRH, as on plain RoCE).
// LIDs 0xc000-0xfffe, which IBA sets aside for multicast, are unicast here:
// FlexiNS has no multicast, and refusing them would leave every address
// whose third byte is 192 or more (192.168.200.7, ...) without a LID.
#pragma once

#include <endian.h>

#include <cstdint>

namespace flexins::pipe {

inline constexpr uint16_t kNoLid = 0;
inline constexpr uint16_t kPermissiveLid = 0xffff;  // IBA 4.1.3 (no host)

// The LID of a port whose engine has IPv4 address IP_BE (network byte
// order); kNoLid if that address gives none.
inline uint16_t port_lid(uint32_t ip_be) {
  const auto lid = uint16_t(be32toh(ip_be) & 0xffff);
  return lid == kPermissiveLid ? kNoLid : lid;
}

// The address a path without a GRH to DLID leads to, from an engine at
// LOCAL_IP_BE (both network byte order). false if it leads nowhere: the
// engine has no LID, or DLID is none.
inline bool ipv4_of_lid(uint32_t local_ip_be, uint16_t dlid, uint32_t& ip_be) {
  if (port_lid(local_ip_be) == kNoLid || dlid == kNoLid || dlid == kPermissiveLid) return false;
  ip_be = htobe32((be32toh(local_ip_be) & 0xffff0000u) | dlid);
  return true;
}

// The LID under which an engine at LOCAL_IP_BE reaches PEER_IP_BE: what a
// work completion reports as the sender's SLID, and a path record as the
// DLID. kNoLid when the peer is outside the engine's /16 (a path to it
// needs a GRH) or either has no LID. ipv4_of_lid inverts it.
inline uint16_t peer_lid(uint32_t local_ip_be, uint32_t peer_ip_be) {
  if (port_lid(local_ip_be) == kNoLid) return kNoLid;
  if ((be32toh(local_ip_be) ^ be32toh(peer_ip_be)) & 0xffff0000u) return kNoLid;
  return port_lid(peer_ip_be);
}

}  // namespace flexins::pipe
