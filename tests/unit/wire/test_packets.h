// Helpers shared by the wire tests: random packets and whole UDP payloads.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "wire/icrc.h"
#include "wire/packet.h"

namespace flexins::wire::test {

inline std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// A packet of `opcode` with every field random (within its width).
inline Packet random_packet(std::mt19937_64& rng, uint8_t opcode) {
  auto bits = [&](int n) { return n == 64 ? rng() : rng() & ((uint64_t{1} << n) - 1); };
  Packet p;
  p.bth.opcode = opcode;
  p.bth.solicited = bits(1);
  p.bth.mig_req = bits(1);
  p.bth.tver = 0;
  p.bth.pkey = uint16_t(bits(16));
  p.bth.fecn = bits(1);
  p.bth.becn = bits(1);
  p.bth.dest_qp = uint32_t(bits(24));
  p.bth.ack_req = bits(1);
  p.bth.psn = uint32_t(bits(24));
  p.reth = {bits(64), uint32_t(bits(32)), uint32_t(bits(32))};
  p.aeth = {uint8_t(bits(8)), uint32_t(bits(24))};
  p.atomic = {bits(64), uint32_t(bits(32)), bits(64), bits(64)};
  p.atomic_ack = {bits(64)};
  p.deth = {uint32_t(bits(32)), uint32_t(bits(24))};
  p.imm_data = uint32_t(bits(32));
  p.invalidate_rkey = uint32_t(bits(32));
  // FlexiNS's bit in Resv7: taken from a bit already drawn, so the stream
  // of random values, and every packet the tests made before it, is unchanged.
  p.bth.sr = (p.invalidate_rkey >> 13) & 1;
  return p;
}

// BTH … pad followed by a zero ICRC placeholder; sets p.bth.pad_count.
inline std::vector<uint8_t> assemble(Packet& p, const std::vector<uint8_t>& payload) {
  p.bth.pad_count = pad_for(uint32_t(payload.size()));
  std::vector<uint8_t> out(kMaxTransportHeaders);
  out.resize(build(p, out.data()));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), p.bth.pad_count, 0);
  out.insert(out.end(), kIcrcSize, 0);
  return out;
}

// Same, with the real ICRC in the trailer.
inline std::vector<uint8_t> assemble_with_icrc(Packet& p, const std::vector<uint8_t>& payload,
                                               const IcrcIpInfo& ip) {
  std::vector<uint8_t> out = assemble(p, payload);
  const iovec covered{out.data(), out.size() - kIcrcSize};
  icrc_store(icrc_compute(ip, {&covered, 1}), out.data() + covered.iov_len);
  return out;
}

}  // namespace flexins::wire::test
