// The RoCEv2 Invariant CRC (IBA annex A17.3.3): CRC-32 (the Ethernet/zlib
// polynomial, reflected) over
//   8 bytes of 0xFF (stand-in for the LRH)
//   | IPv4 header with TOS, TTL and header checksum set to all ones
//   | UDP header with the checksum set to all ones
//   | BTH with byte 4 (FECN, BECN, resv6) set to all ones
//   | the rest of the packet up to the ICRC (headers, payload, pad).
// The 32-bit result is stored little-endian (least significant byte first),
// as the Ethernet FCS is.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>

namespace flexins::wire {

// The parts of the IPv4 and UDP headers the ICRC covers. The UDP backend
// sends with DF set and IP ID 0 (see io/udp), so a receiver that never sees
// the IP header can rebuild it.
struct IcrcIpInfo {
  uint32_t src_ip = 0;  // network byte order
  uint32_t dst_ip = 0;  // network byte order
  uint16_t src_port = 0;  // host byte order
  uint16_t dst_port = 4791;
  uint16_t ip_id = 0;
  uint16_t ip_flags_frag = 0x4000;  // DF
};

// ICRC of a packet whose UDP payload (BTH … pad, without the ICRC) is the
// concatenation of `parts`. parts[0] must hold at least the 12-byte BTH.
uint32_t icrc_compute(const IcrcIpInfo& ip, std::span<const iovec> parts);

// Convenience: contiguous UDP payload *including* its trailing 4-byte ICRC;
// true if the stored ICRC matches.
bool icrc_check(const IcrcIpInfo& ip, std::span<const uint8_t> udp_payload_with_icrc);

// Store / load the ICRC trailer (little-endian).
void icrc_store(uint32_t icrc, uint8_t out[4]);
uint32_t icrc_load(const uint8_t in[4]);

}  // namespace flexins::wire
