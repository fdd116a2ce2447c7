// The BTH opcode table (IBA vol 1, table 38): for each opcode its name, the
// extension headers that follow the BTH, and what kind of packet it is.
// Parsing and building consult this one table.
#pragma once

#include <cstdint>

namespace flexins::wire {

// Opcode values: transport (upper 3 bits) | operation (lower 5 bits).
enum Opcode : uint8_t {
  kRcSendFirst = 0x00,
  kRcSendMiddle = 0x01,
  kRcSendLast = 0x02,
  kRcSendLastImm = 0x03,
  kRcSendOnly = 0x04,
  kRcSendOnlyImm = 0x05,
  kRcWriteFirst = 0x06,
  kRcWriteMiddle = 0x07,
  kRcWriteLast = 0x08,
  kRcWriteLastImm = 0x09,
  kRcWriteOnly = 0x0a,
  kRcWriteOnlyImm = 0x0b,
  kRcReadRequest = 0x0c,
  kRcReadResponseFirst = 0x0d,
  kRcReadResponseMiddle = 0x0e,
  kRcReadResponseLast = 0x0f,
  kRcReadResponseOnly = 0x10,
  kRcAcknowledge = 0x11,
  kRcAtomicAcknowledge = 0x12,
  kRcCompareSwap = 0x13,
  kRcFetchAdd = 0x14,
  kRcSendLastInv = 0x16,
  kRcSendOnlyInv = 0x17,

  kUcSendFirst = 0x20,
  kUcSendMiddle = 0x21,
  kUcSendLast = 0x22,
  kUcSendLastImm = 0x23,
  kUcSendOnly = 0x24,
  kUcSendOnlyImm = 0x25,
  kUcWriteFirst = 0x26,
  kUcWriteMiddle = 0x27,
  kUcWriteLast = 0x28,
  kUcWriteLastImm = 0x29,
  kUcWriteOnly = 0x2a,
  kUcWriteOnlyImm = 0x2b,

  kUdSendOnly = 0x64,
  kUdSendOnlyImm = 0x65,

  kCnp = 0x81,  // RoCEv2 congestion notification packet (annex A17)
};

// Which extension headers follow the BTH, in wire order.
enum HeaderBit : uint8_t {
  kHdrReth = 1 << 0,       // 16 bytes
  kHdrAeth = 1 << 1,       // 4
  kHdrAtomicEth = 1 << 2,  // 28
  kHdrAtomicAck = 1 << 3,  // 8
  kHdrImm = 1 << 4,        // 4
  kHdrIeth = 1 << 5,       // 4
  kHdrDeth = 1 << 6,       // 8
};

// What the packet is.
enum OpFlag : uint16_t {
  kOpRequest = 1 << 0,   // requester → responder
  kOpResponse = 1 << 1,  // responder → requester (ACK, READ response, atomic ACK)
  kOpFirst = 1 << 2,
  kOpMiddle = 1 << 3,
  kOpLast = 1 << 4,
  kOpOnly = kOpFirst | kOpLast,
  kOpPayload = 1 << 5,  // may carry payload
  kOpSend = 1 << 6,
  kOpWrite = 1 << 7,
  kOpRead = 1 << 8,
  kOpAtomic = 1 << 9,
  kOpImm = 1 << 10,
  kOpInvalidate = 1 << 11,
};

enum class Transport : uint8_t { kRc, kUc, kUd, kCnp, kInvalid };

struct OpcodeInfo {
  const char* name;  // as the IB spec names it, e.g. "RC SEND First"
  Transport transport;
  uint8_t headers;  // HeaderBit mask
  uint16_t flags;   // OpFlag mask
  uint8_t header_size;  // BTH + extension headers, bytes
};

// Entry for every value 0..255; transport == kInvalid for undefined ones.
const OpcodeInfo& opcode_info(uint8_t opcode);
inline bool opcode_valid(uint8_t op) { return opcode_info(op).transport != Transport::kInvalid; }

// The opcode of one packet of a SEND or RDMA WRITE message on a connected
// service (kRc or kUc; IBA table 38): First / Middle / Last / Only by the
// packet's place in the message, "with Immediate" on the Last or Only.
uint8_t message_opcode(Transport t, bool send, bool imm, bool first, bool last);

}  // namespace flexins::wire
