// The BTH opcode table, IBA vol 1 table 38 (RC, UC, UD) plus the RoCEv2 CNP
// (annex A17). Extension headers in wire order: DETH, RETH | AtomicETH |
// AETH, AtomicAckETH, ImmDt, IETH (IBA 9.2, figure 59).
//
// Flag conventions beyond the spec's wording: single-packet operations (READ
// request, atomics, ACK, atomic ACK) are kOpOnly; kOpRead marks the READ
// request and every READ response; kOpAtomic marks CmpSwap, FetchAdd and the
// atomic ACK; an ACK carries no operation flag.
#include "wire/opcodes.h"

#include <array>
#include <cstddef>

namespace flexins::wire {
namespace {

constexpr size_t kBthBytes = 12;
constexpr size_t kCnpReservedBytes = 16;  // RoCEv2 annex A17: 16 reserved bytes follow the BTH

constexpr uint8_t header_bytes(uint8_t headers) {
  size_t n = kBthBytes;
  if (headers & kHdrReth) n += 16;
  if (headers & kHdrAeth) n += 4;
  if (headers & kHdrAtomicEth) n += 28;
  if (headers & kHdrAtomicAck) n += 8;
  if (headers & kHdrImm) n += 4;
  if (headers & kHdrIeth) n += 4;
  if (headers & kHdrDeth) n += 8;
  return uint8_t(n);
}

struct Def {
  uint8_t opcode;
  const char* name;
  Transport transport;
  uint8_t headers;
  uint16_t flags;
};

// Shorthands for the rows below.
constexpr uint16_t kReq = kOpRequest, kResp = kOpResponse, kPay = kOpPayload;
constexpr uint16_t kSendF = kReq | kOpSend | kPay;
constexpr uint16_t kWriteF = kReq | kOpWrite | kPay;
constexpr uint16_t kReadRespF = kResp | kOpRead | kPay;
constexpr auto kRc = Transport::kRc, kUc = Transport::kUc, kUd = Transport::kUd;

constexpr Def kDefs[] = {
    // RC, IBA table 38 (0x00–0x17; 0x15 is reserved)
    {0x00, "RC SEND First", kRc, 0, kSendF | kOpFirst},
    {0x01, "RC SEND Middle", kRc, 0, kSendF | kOpMiddle},
    {0x02, "RC SEND Last", kRc, 0, kSendF | kOpLast},
    {0x03, "RC SEND Last with Immediate", kRc, kHdrImm, kSendF | kOpLast | kOpImm},
    {0x04, "RC SEND Only", kRc, 0, kSendF | kOpOnly},
    {0x05, "RC SEND Only with Immediate", kRc, kHdrImm, kSendF | kOpOnly | kOpImm},
    {0x06, "RC RDMA WRITE First", kRc, kHdrReth, kWriteF | kOpFirst},
    {0x07, "RC RDMA WRITE Middle", kRc, 0, kWriteF | kOpMiddle},
    {0x08, "RC RDMA WRITE Last", kRc, 0, kWriteF | kOpLast},
    {0x09, "RC RDMA WRITE Last with Immediate", kRc, kHdrImm, kWriteF | kOpLast | kOpImm},
    {0x0a, "RC RDMA WRITE Only", kRc, kHdrReth, kWriteF | kOpOnly},
    {0x0b, "RC RDMA WRITE Only with Immediate", kRc, kHdrReth | kHdrImm,
     kWriteF | kOpOnly | kOpImm},
    {0x0c, "RC RDMA READ Request", kRc, kHdrReth, kReq | kOpRead | kOpOnly},
    {0x0d, "RC RDMA READ response First", kRc, kHdrAeth, kReadRespF | kOpFirst},
    {0x0e, "RC RDMA READ response Middle", kRc, 0, kReadRespF | kOpMiddle},
    {0x0f, "RC RDMA READ response Last", kRc, kHdrAeth, kReadRespF | kOpLast},
    {0x10, "RC RDMA READ response Only", kRc, kHdrAeth, kReadRespF | kOpOnly},
    {0x11, "RC Acknowledge", kRc, kHdrAeth, kResp | kOpOnly},
    {0x12, "RC ATOMIC Acknowledge", kRc, kHdrAeth | kHdrAtomicAck, kResp | kOpAtomic | kOpOnly},
    {0x13, "RC CmpSwap", kRc, kHdrAtomicEth, kReq | kOpAtomic | kOpOnly},
    {0x14, "RC FetchAdd", kRc, kHdrAtomicEth, kReq | kOpAtomic | kOpOnly},
    {0x16, "RC SEND Last with Invalidate", kRc, kHdrIeth, kSendF | kOpLast | kOpInvalidate},
    {0x17, "RC SEND Only with Invalidate", kRc, kHdrIeth, kSendF | kOpOnly | kOpInvalidate},

    // UC, IBA table 38 (0x20–0x2b): SEND and RDMA WRITE only
    {0x20, "UC SEND First", kUc, 0, kSendF | kOpFirst},
    {0x21, "UC SEND Middle", kUc, 0, kSendF | kOpMiddle},
    {0x22, "UC SEND Last", kUc, 0, kSendF | kOpLast},
    {0x23, "UC SEND Last with Immediate", kUc, kHdrImm, kSendF | kOpLast | kOpImm},
    {0x24, "UC SEND Only", kUc, 0, kSendF | kOpOnly},
    {0x25, "UC SEND Only with Immediate", kUc, kHdrImm, kSendF | kOpOnly | kOpImm},
    {0x26, "UC RDMA WRITE First", kUc, kHdrReth, kWriteF | kOpFirst},
    {0x27, "UC RDMA WRITE Middle", kUc, 0, kWriteF | kOpMiddle},
    {0x28, "UC RDMA WRITE Last", kUc, 0, kWriteF | kOpLast},
    {0x29, "UC RDMA WRITE Last with Immediate", kUc, kHdrImm, kWriteF | kOpLast | kOpImm},
    {0x2a, "UC RDMA WRITE Only", kUc, kHdrReth, kWriteF | kOpOnly},
    {0x2b, "UC RDMA WRITE Only with Immediate", kUc, kHdrReth | kHdrImm,
     kWriteF | kOpOnly | kOpImm},

    // UD, IBA table 38 (0x64, 0x65): DETH precedes ImmDt
    {0x64, "UD SEND Only", kUd, kHdrDeth, kSendF | kOpOnly},
    {0x65, "UD SEND Only with Immediate", kUd, kHdrDeth | kHdrImm, kSendF | kOpOnly | kOpImm},

    // RoCEv2 CNP (annex A17): BTH + 16 reserved bytes, no payload
    {0x81, "CNP", Transport::kCnp, 0, 0},
};

constexpr std::array<OpcodeInfo, 256> make_table() {
  std::array<OpcodeInfo, 256> table{};
  for (auto& e : table) e = {"Reserved", Transport::kInvalid, 0, 0, 0};
  for (const Def& d : kDefs) {
    uint8_t size = header_bytes(d.headers);
    if (d.transport == Transport::kCnp) size = uint8_t(size + kCnpReservedBytes);
    table[d.opcode] = {d.name, d.transport, d.headers, d.flags, size};
  }
  return table;
}

constexpr std::array<OpcodeInfo, 256> kTable = make_table();

}  // namespace

const OpcodeInfo& opcode_info(uint8_t opcode) { return kTable[opcode]; }

uint8_t message_opcode(Transport t, bool send, bool imm, bool first, bool last) {
  // Per service and operation: First, Middle, Last, Last with Immediate,
  // Only, Only with Immediate.
  static constexpr uint8_t kOps[2][2][6] = {
      {{kRcWriteFirst, kRcWriteMiddle, kRcWriteLast, kRcWriteLastImm, kRcWriteOnly, kRcWriteOnlyImm},
       {kRcSendFirst, kRcSendMiddle, kRcSendLast, kRcSendLastImm, kRcSendOnly, kRcSendOnlyImm}},
      {{kUcWriteFirst, kUcWriteMiddle, kUcWriteLast, kUcWriteLastImm, kUcWriteOnly, kUcWriteOnlyImm},
       {kUcSendFirst, kUcSendMiddle, kUcSendLast, kUcSendLastImm, kUcSendOnly, kUcSendOnlyImm}},
  };
  const uint8_t* ops = kOps[t == Transport::kUc ? 1 : 0][send ? 1 : 0];
  if (first && last) return ops[imm ? 5 : 4];
  if (first) return ops[0];
  if (last) return ops[imm ? 3 : 2];
  return ops[1];
}

}  // namespace flexins::wire
