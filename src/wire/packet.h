// RoCEv2 packets as the transport sees them: the IB transport headers that
// follow the UDP header (BTH and its extension headers), parsed into a plain
// struct and built back from it. Pure functions, no I/O. (IBA vol 1, 9.2–9.5.)
//
// On the wire (UDP payload):  BTH | ext headers | payload | pad (0–3) | ICRC
// ICRC: see icrc.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/opcodes.h"

namespace flexins::wire {

inline constexpr uint16_t kRoceV2Port = 4791;
inline constexpr uint32_t kPsnMask = 0xffffff;
inline constexpr uint32_t kQpnMask = 0xffffff;
inline constexpr size_t kIcrcSize = 4;
inline constexpr size_t kMaxTransportHeaders = 12 + 16 + 4 + 28 + 8 + 4 + 4 + 8;  // upper bound

// Base Transport Header (12 bytes). IBA 9.2.
struct Bth {
  uint8_t opcode = 0;
  bool solicited = false;  // SE
  bool mig_req = true;     // M: RoCE peers (mlx5) send 1
  uint8_t pad_count = 0;   // 0..3
  uint8_t tver = 0;
  uint16_t pkey = 0xffff;
  bool fecn = false;
  bool becn = false;
  uint32_t dest_qp = 0;  // 24 bits
  bool ack_req = false;  // A
  // FlexiNS extension, the top bit of Resv7 (byte 8, 0x40): "SR", selective
  // repeat. IBA sends reserved bits as 0 and ignores them on receive; the
  // ICRC covers them (only byte 4 is masked). See wire/sack.h and
  // transport/selective_repeat.h.
  bool sr = false;
  uint32_t psn = 0;      // 24 bits
};

struct Reth {  // RDMA Extended Transport Header, 16 bytes. IBA 9.3.3
  uint64_t va = 0;
  uint32_t rkey = 0;
  uint32_t dma_length = 0;
};

// AETH syndrome (IBA 9.3.5, table 44): top 3 bits say what it is.
enum class AckType : uint8_t { kAck = 0, kRnrNak = 1, kReserved = 2, kNak = 3 };
enum class NakCode : uint8_t {  // low 5 bits when AckType::kNak
  kPsnSequenceError = 0,
  kInvalidRequest = 1,
  kRemoteAccessError = 2,
  kRemoteOperationalError = 3,
  kInvalidRdRequest = 4,
};
struct Aeth {  // ACK Extended Transport Header, 4 bytes
  uint8_t syndrome = 0;  // use make_syndrome / ack_type / syndrome_value
  uint32_t msn = 0;      // 24 bits
};
constexpr uint8_t make_syndrome(AckType t, uint8_t value5) {
  return uint8_t((uint8_t(t) << 5) | (value5 & 0x1f));
}
constexpr AckType ack_type(uint8_t syndrome) { return AckType(syndrome >> 5); }
constexpr uint8_t syndrome_value(uint8_t syndrome) { return syndrome & 0x1f; }
// For an ACK the value is the credit count; 0x1f = "invalid credit count".
inline constexpr uint8_t kCreditInvalid = 0x1f;

struct AtomicEth {  // 28 bytes. IBA 9.3.4
  uint64_t va = 0;
  uint32_t rkey = 0;
  uint64_t swap_add = 0;
  uint64_t compare = 0;
};

struct AtomicAckEth {  // 8 bytes
  uint64_t orig = 0;
};

struct Deth {  // Datagram Extended Transport Header, 8 bytes
  uint32_t qkey = 0;
  uint32_t src_qp = 0;  // 24 bits
};

// Everything one packet carries. Which optional headers are meaningful is
// opcode_info(bth.opcode).headers; the others are ignored by build().
struct Packet {
  Bth bth;
  Reth reth;
  Aeth aeth;
  AtomicEth atomic;
  AtomicAckEth atomic_ack;
  Deth deth;
  uint32_t imm_data = 0;      // ImmDt, kept in network byte order (as verbs)
  uint32_t invalidate_rkey = 0;  // IETH
  // Payload: parse() points into the input; build() does not touch it.
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;  // without pad and ICRC
};

enum class ParseError : uint8_t {
  kOk = 0,
  kTooShort,        // shorter than BTH + headers + ICRC
  kBadOpcode,       // not in the opcode table (or a transport we do not serve)
  kBadVersion,      // BTH TVer != 0 (IBA C9-?: drop)
  kBadPad,          // pad count on a packet that may not carry payload, or > payload
  kPayloadTooLong,  // payload on an opcode that carries none (an Acknowledge
                    // may carry a SACK block, wire/sack.h, when its SR bit is set)
};
const char* parse_error_name(ParseError e);

// Parse a UDP payload (headers … ICRC). Does not check the ICRC (icrc.h does,
// since it needs the IP and UDP headers). An RC Acknowledge with the SR bit
// may carry a FlexiNS SACK block (wire/sack.h) where other opcodes carry
// payload: up to kMaxSackBytes, a multiple of 4, no pad; `payload` points
// at it (parse_sack reads it).
ParseError parse(std::span<const uint8_t> udp_payload, Packet& out);

// Size of BTH + extension headers for this opcode (0 if unknown).
size_t header_size(uint8_t opcode);

// Write BTH + the opcode's extension headers into out (≥ header_size bytes).
// bth.pad_count is written as given: the caller sets it from the payload
// length, pad_for(payload_len). Returns the bytes written.
size_t build(const Packet& p, uint8_t* out);

constexpr uint8_t pad_for(uint32_t payload_len) { return uint8_t((4 - (payload_len & 3)) & 3); }

// 24-bit PSN arithmetic (IBA 9.7.2): a - b as a signed distance in
// [-2^23, 2^23). psn_diff(a, b) > 0 means a is after b.
constexpr int32_t psn_diff(uint32_t a, uint32_t b) {
  return int32_t((a - b) << 8) >> 8;
}
constexpr uint32_t psn_add(uint32_t psn, uint32_t n) { return (psn + n) & kPsnMask; }

}  // namespace flexins::wire
