// RoCEv2 ICRC (IBA annex A17.3.3), see icrc.h. The masked pseudo-header
// (LRH stand-in, IPv4, UDP, BTH) is assembled in a small stack buffer; the
// rest of the packet is fed to the CRC piece by piece, never copied.
#include "wire/icrc.h"

#include <isa-l/crc.h>

#include <cassert>
#include <cstring>

#include "wire/byte_order.h"

namespace flexins::wire {
namespace {

constexpr size_t kLrhStandInBytes = 8;
constexpr size_t kIpv4HeaderBytes = 20;
constexpr size_t kUdpHeaderBytes = 8;
constexpr size_t kBthBytes = 12;
constexpr size_t kIcrcBytes = 4;
constexpr size_t kPseudoHeaderBytes = kLrhStandInBytes + kIpv4HeaderBytes + kUdpHeaderBytes + kBthBytes;
constexpr uint8_t kIpProtoUdp = 17;
constexpr size_t kBthMaskedByte = 4;  // FECN, BECN, resv6: may change in flight

// Writes the masked pseudo-header for a UDP payload of `udp_payload_bytes`
// (BTH … ICRC) whose first 12 bytes are `bth`.
void write_pseudo_header(const IcrcIpInfo& ip, size_t udp_payload_bytes, const uint8_t* bth,
                         uint8_t* out) {
  std::memset(out, 0xff, kLrhStandInBytes);
  uint8_t* iph = out + kLrhStandInBytes;
  iph[0] = 0x45;  // version 4, IHL 5 words
  iph[1] = 0xff;  // TOS (DSCP, ECN): masked
  store_be16(iph + 2, uint16_t(kIpv4HeaderBytes + kUdpHeaderBytes + udp_payload_bytes));
  store_be16(iph + 4, ip.ip_id);
  store_be16(iph + 6, ip.ip_flags_frag);
  iph[8] = 0xff;  // TTL: masked
  iph[9] = kIpProtoUdp;
  store_be16(iph + 10, 0xffff);  // header checksum: masked
  std::memcpy(iph + 12, &ip.src_ip, 4);  // already network order
  std::memcpy(iph + 16, &ip.dst_ip, 4);

  uint8_t* udph = iph + kIpv4HeaderBytes;
  store_be16(udph + 0, ip.src_port);
  store_be16(udph + 2, ip.dst_port);
  store_be16(udph + 4, uint16_t(kUdpHeaderBytes + udp_payload_bytes));
  store_be16(udph + 6, 0xffff);  // checksum: masked

  uint8_t* bth_copy = udph + kUdpHeaderBytes;
  std::memcpy(bth_copy, bth, kBthBytes);
  bth_copy[kBthMaskedByte] = 0xff;
}

// ISA-L's gzip CRC-32 is the IEEE 802.3 reflected CRC the ICRC uses, with
// zlib's chaining; it folds with VPCLMULQDQ where the CPU has it (about 4x
// libdeflate 1.14's PCLMUL fold on 4 KiB blocks here).
uint32_t crc32_update(uint32_t crc, const void* data, size_t len) {
  return crc32_gzip_refl(crc, static_cast<const unsigned char*>(data), len);
}

}  // namespace

uint32_t icrc_compute(const IcrcIpInfo& ip, std::span<const iovec> parts) {
  assert(!parts.empty() && parts[0].iov_len >= kBthBytes);  // contract in icrc.h
  size_t udp_payload_bytes = kIcrcBytes;
  for (const iovec& part : parts) udp_payload_bytes += part.iov_len;

  const auto* first = static_cast<const uint8_t*>(parts[0].iov_base);
  uint8_t pseudo[kPseudoHeaderBytes];
  write_pseudo_header(ip, udp_payload_bytes, first, pseudo);

  uint32_t crc = crc32_update(0, pseudo, sizeof pseudo);
  crc = crc32_update(crc, first + kBthBytes, parts[0].iov_len - kBthBytes);
  for (const iovec& part : parts.subspan(1)) crc = crc32_update(crc, part.iov_base, part.iov_len);
  return crc;
}

bool icrc_check(const IcrcIpInfo& ip, std::span<const uint8_t> udp_payload_with_icrc) {
  if (udp_payload_with_icrc.size() < kBthBytes + kIcrcBytes) return false;
  const size_t covered = udp_payload_with_icrc.size() - kIcrcBytes;
  const iovec part{const_cast<uint8_t*>(udp_payload_with_icrc.data()), covered};
  return icrc_compute(ip, {&part, 1}) == icrc_load(udp_payload_with_icrc.data() + covered);
}

void icrc_store(uint32_t icrc, uint8_t out[4]) {
  for (size_t i = 0; i < kIcrcBytes; ++i) out[i] = uint8_t(icrc >> (8 * i));
}

uint32_t icrc_load(const uint8_t in[4]) {
  uint32_t v = 0;
  for (size_t i = kIcrcBytes; i-- > 0;) v = (v << 8) | in[i];
  return v;
}

}  // namespace flexins::wire
