// parse() and build() for the IB transport headers of a RoCEv2 packet.
// Both walk the same header list (ext_headers below) over the same layouts.
#include "wire/packet.h"

#include <cstring>
#include <limits>
#include <memory>

#include "wire/field.h"
#include "wire/sack.h"

namespace flexins::wire {
namespace {

// IBA 9.2, figure 62 (BTH).
using BthLayout = Layout<12,
                         Field<&Bth::opcode, 0, 1>,
                         Field<&Bth::solicited, 1, 1, 7, 1>,
                         Field<&Bth::mig_req, 1, 1, 6, 1>,
                         Field<&Bth::pad_count, 1, 1, 4, 2>,
                         Field<&Bth::tver, 1, 1, 0, 4>,
                         Field<&Bth::pkey, 2, 2>,
                         Field<&Bth::fecn, 4, 1, 7, 1>,
                         Field<&Bth::becn, 4, 1, 6, 1>,  // low 6 bits: resv6
                         Field<&Bth::dest_qp, 5, 3>,
                         Field<&Bth::ack_req, 8, 1, 7, 1>,
                         Field<&Bth::sr, 8, 1, 6, 1>,  // FlexiNS; low 6 bits: reserved
                         Field<&Bth::psn, 9, 3>>;

// IBA 9.3.3 (RETH).
using RethLayout = Layout<16,
                          Field<&Reth::va, 0, 8>,
                          Field<&Reth::rkey, 8, 4>,
                          Field<&Reth::dma_length, 12, 4>>;

// IBA 9.3.5 (AETH).
using AethLayout = Layout<4, Field<&Aeth::syndrome, 0, 1>, Field<&Aeth::msn, 1, 3>>;

// IBA 9.3.4 (AtomicETH).
using AtomicEthLayout = Layout<28,
                               Field<&AtomicEth::va, 0, 8>,
                               Field<&AtomicEth::rkey, 8, 4>,
                               Field<&AtomicEth::swap_add, 12, 8>,
                               Field<&AtomicEth::compare, 20, 8>>;

// IBA 9.3.6 (AtomicAckETH).
using AtomicAckLayout = Layout<8, Field<&AtomicAckEth::orig, 0, 8>>;

// IBA 9.3.2 (DETH): Q_Key, 8 reserved bits, SrcQP.
using DethLayout = Layout<8, Field<&Deth::qkey, 0, 4>, Field<&Deth::src_qp, 5, 3>>;

// IBA 9.3.7 (IETH): the R_Key to invalidate.
using IethLayout = Layout<4, Field<&Packet::invalidate_rkey, 0, 4>>;

// ImmDt is opaque to the transport and kept in network byte order (as verbs
// hand it over), so it is copied, not converted.
struct ImmLayout {
  static constexpr size_t kSize = 4;
  static void load(const uint8_t* hdr, Packet& p) { std::memcpy(&p.imm_data, hdr, kSize); }
  static void store(uint8_t* hdr, const Packet& p) { std::memcpy(hdr, &p.imm_data, kSize); }
};

struct Reader {
  const uint8_t* at;
  template <class L, class S>
  void header(S& s) {
    L::load(at, s);
    at += L::kSize;
  }
};

struct Writer {
  uint8_t* at;
  template <class L, class S>
  void header(const S& s) {
    L::store(at, s);
    at += L::kSize;
  }
};

// The extension headers an opcode names, in wire order (IBA 9.2): DETH, then
// RETH / AtomicETH / AETH, AtomicAckETH, ImmDt, IETH.
template <class Io, class P>
void ext_headers(uint8_t headers, Io& io, P& pkt) {
  if (headers & kHdrDeth) io.template header<DethLayout>(pkt.deth);
  if (headers & kHdrReth) io.template header<RethLayout>(pkt.reth);
  if (headers & kHdrAtomicEth) io.template header<AtomicEthLayout>(pkt.atomic);
  if (headers & kHdrAeth) io.template header<AethLayout>(pkt.aeth);
  if (headers & kHdrAtomicAck) io.template header<AtomicAckLayout>(pkt.atomic_ack);
  if (headers & kHdrImm) io.template header<ImmLayout>(pkt);
  if (headers & kHdrIeth) io.template header<IethLayout>(pkt);
}

}  // namespace

const char* parse_error_name(ParseError e) {
  switch (e) {
    case ParseError::kOk: return "ok";
    case ParseError::kTooShort: return "too short";
    case ParseError::kBadOpcode: return "bad opcode";
    case ParseError::kBadVersion: return "bad transport version";
    case ParseError::kBadPad: return "bad pad count";
    case ParseError::kPayloadTooLong: return "payload too long";
  }
  return "unknown parse error";
}

size_t header_size(uint8_t opcode) { return opcode_info(opcode).header_size; }

ParseError parse(std::span<const uint8_t> udp_payload, Packet& out) {
  // Reset in place (`out = Packet{}` zeroed a temporary and copied it).
  std::construct_at(&out);
  const uint8_t* data = udp_payload.data();
  const size_t size = udp_payload.size();
  if (size < BthLayout::kSize + kIcrcSize) return ParseError::kTooShort;

  const OpcodeInfo& info = opcode_info(data[0]);
  if (info.transport == Transport::kInvalid) return ParseError::kBadOpcode;
  if (size < info.header_size + kIcrcSize) return ParseError::kTooShort;

  Reader reader{data};
  reader.header<BthLayout>(out.bth);
  if (out.bth.tver != 0) return ParseError::kBadVersion;  // IBA 9.2 BTH:TVer: only 0 is defined; drop
  ext_headers(info.headers, reader, out);

  // Whatever lies between the headers and the ICRC is payload plus pad.
  const size_t rest = size - info.header_size - kIcrcSize;
  if (!(info.flags & kOpPayload)) {
    // IBA 9.2 (PadCnt): pad only rounds up payload, so none without payload.
    if (out.bth.pad_count != 0) return ParseError::kBadPad;
    // FlexiNS: an Acknowledge marked SR may carry a SACK block (sack.h).
    const bool sack = out.bth.opcode == kRcAcknowledge && out.bth.sr && rest <= kMaxSackBytes &&
                      rest % 4 == 0;
    if (rest != 0 && !sack) return ParseError::kPayloadTooLong;
  } else {
    if (out.bth.pad_count > rest) return ParseError::kBadPad;
    if (rest > std::numeric_limits<uint32_t>::max()) return ParseError::kPayloadTooLong;
  }
  out.payload = data + info.header_size;
  out.payload_len = uint32_t(rest - out.bth.pad_count);
  return ParseError::kOk;
}

size_t build(const Packet& p, uint8_t* out) {
  const OpcodeInfo& info = opcode_info(p.bth.opcode);
  if (info.transport == Transport::kInvalid) return 0;
  std::memset(out, 0, info.header_size);  // reserved fields and the CNP's reserved bytes
  Writer writer{out};
  writer.header<BthLayout>(p.bth);
  ext_headers(info.headers, writer, p);
  return info.header_size;
}

}  // namespace flexins::wire
