// The opcode table against IBA vol 1 table 38 (and RoCEv2 annex A17 for the
// CNP), written out here independently of src/wire/opcodes.cc.
#include "wire/opcodes.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace flexins::wire {
namespace {

struct SpecRow {
  const char* name;
  uint8_t headers;
  size_t header_bytes;  // BTH (12) + extension headers, summed by hand
  bool payload;
};

// Byte sizes: BTH 12, RETH 16, AETH 4, AtomicETH 28, AtomicAckETH 8, ImmDt 4,
// IETH 4, DETH 8.
const std::map<uint8_t, SpecRow>& spec_table() {
  static const std::map<uint8_t, SpecRow> rows = {
      {0x00, {"RC SEND First", 0, 12, true}},
      {0x01, {"RC SEND Middle", 0, 12, true}},
      {0x02, {"RC SEND Last", 0, 12, true}},
      {0x03, {"RC SEND Last with Immediate", kHdrImm, 16, true}},
      {0x04, {"RC SEND Only", 0, 12, true}},
      {0x05, {"RC SEND Only with Immediate", kHdrImm, 16, true}},
      {0x06, {"RC RDMA WRITE First", kHdrReth, 28, true}},
      {0x07, {"RC RDMA WRITE Middle", 0, 12, true}},
      {0x08, {"RC RDMA WRITE Last", 0, 12, true}},
      {0x09, {"RC RDMA WRITE Last with Immediate", kHdrImm, 16, true}},
      {0x0a, {"RC RDMA WRITE Only", kHdrReth, 28, true}},
      {0x0b, {"RC RDMA WRITE Only with Immediate", kHdrReth | kHdrImm, 32, true}},
      {0x0c, {"RC RDMA READ Request", kHdrReth, 28, false}},
      {0x0d, {"RC RDMA READ response First", kHdrAeth, 16, true}},
      {0x0e, {"RC RDMA READ response Middle", 0, 12, true}},
      {0x0f, {"RC RDMA READ response Last", kHdrAeth, 16, true}},
      {0x10, {"RC RDMA READ response Only", kHdrAeth, 16, true}},
      {0x11, {"RC Acknowledge", kHdrAeth, 16, false}},
      {0x12, {"RC ATOMIC Acknowledge", kHdrAeth | kHdrAtomicAck, 24, false}},
      {0x13, {"RC CmpSwap", kHdrAtomicEth, 40, false}},
      {0x14, {"RC FetchAdd", kHdrAtomicEth, 40, false}},
      {0x16, {"RC SEND Last with Invalidate", kHdrIeth, 16, true}},
      {0x17, {"RC SEND Only with Invalidate", kHdrIeth, 16, true}},
      {0x20, {"UC SEND First", 0, 12, true}},
      {0x21, {"UC SEND Middle", 0, 12, true}},
      {0x22, {"UC SEND Last", 0, 12, true}},
      {0x23, {"UC SEND Last with Immediate", kHdrImm, 16, true}},
      {0x24, {"UC SEND Only", 0, 12, true}},
      {0x25, {"UC SEND Only with Immediate", kHdrImm, 16, true}},
      {0x26, {"UC RDMA WRITE First", kHdrReth, 28, true}},
      {0x27, {"UC RDMA WRITE Middle", 0, 12, true}},
      {0x28, {"UC RDMA WRITE Last", 0, 12, true}},
      {0x29, {"UC RDMA WRITE Last with Immediate", kHdrImm, 16, true}},
      {0x2a, {"UC RDMA WRITE Only", kHdrReth, 28, true}},
      {0x2b, {"UC RDMA WRITE Only with Immediate", kHdrReth | kHdrImm, 32, true}},
      {0x64, {"UD SEND Only", kHdrDeth, 20, true}},
      {0x65, {"UD SEND Only with Immediate", kHdrDeth | kHdrImm, 24, true}},
      {0x81, {"CNP", 0, 28, false}},  // BTH + 16 reserved bytes
  };
  return rows;
}

Transport expected_transport(uint8_t op) {
  if (op == 0x81) return Transport::kCnp;
  switch (op >> 5) {  // IBA 9.2: upper 3 opcode bits name the transport
    case 0: return Transport::kRc;
    case 1: return Transport::kUc;
    case 3: return Transport::kUd;
    default: return Transport::kInvalid;
  }
}

TEST(OpcodeTable, EveryDefinedOpcodeMatchesTheSpec) {
  for (const auto& [op, row] : spec_table()) {
    SCOPED_TRACE(row.name);
    const OpcodeInfo& info = opcode_info(op);
    EXPECT_STREQ(info.name, row.name);
    EXPECT_EQ(info.transport, expected_transport(op));
    EXPECT_EQ(info.headers, row.headers);
    EXPECT_EQ(info.header_size, row.header_bytes);
    EXPECT_EQ((info.flags & kOpPayload) != 0, row.payload);
    EXPECT_TRUE(opcode_valid(op));
  }
}

TEST(OpcodeTable, EveryOtherValueIsInvalid) {
  int invalid = 0;
  for (int op = 0; op < 256; ++op) {
    if (spec_table().count(uint8_t(op))) continue;
    SCOPED_TRACE(op);
    EXPECT_EQ(opcode_info(uint8_t(op)).transport, Transport::kInvalid);
    EXPECT_FALSE(opcode_valid(uint8_t(op)));
    EXPECT_NE(opcode_info(uint8_t(op)).name, nullptr);
    ++invalid;
  }
  EXPECT_EQ(invalid, 256 - 38);
}

// The flags say what each packet is; check them by what the name says.
TEST(OpcodeTable, FlagsAgreeWithNames) {
  for (const auto& [op, row] : spec_table()) {
    const std::string name = row.name;
    const uint16_t f = opcode_info(op).flags;
    SCOPED_TRACE(name);
    auto has = [&](const char* word) { return name.find(word) != std::string::npos; };
    EXPECT_EQ((f & kOpSend) != 0, has("SEND"));
    EXPECT_EQ((f & kOpWrite) != 0, has("WRITE"));
    EXPECT_EQ((f & kOpRead) != 0, has("READ"));
    EXPECT_EQ((f & kOpAtomic) != 0, has("CmpSwap") || has("FetchAdd") || has("ATOMIC"));
    EXPECT_EQ((f & kOpImm) != 0, has("Immediate"));
    EXPECT_EQ((f & kOpImm) != 0, (row.headers & kHdrImm) != 0);
    EXPECT_EQ((f & kOpInvalidate) != 0, has("Invalidate"));
    EXPECT_EQ((f & kOpResponse) != 0, has("response") || has("Acknowledge"));
    EXPECT_EQ((f & kOpRequest) != 0, !has("response") && !has("Acknowledge") && op != 0x81);
    if (has("First")) {
      EXPECT_EQ(f & kOpOnly, kOpFirst);
    }
    if (has("Middle")) {
      EXPECT_EQ(f & (kOpOnly | kOpMiddle), kOpMiddle);
    }
    if (has("Last")) {
      EXPECT_EQ(f & kOpOnly, kOpLast);
    }
    if (has("Only")) {
      EXPECT_EQ(f & kOpOnly, kOpOnly);
    }
  }
}

// The opcode a requester picks for each packet of a SEND / RDMA WRITE must
// be the table's row for that service, operation, place and immediate data.
TEST(OpcodeTable, MessageOpcodeNamesTheRowForEachPacketOfAMessage) {
  int checked = 0;
  for (Transport t : {Transport::kRc, Transport::kUc}) {
    for (bool send : {false, true}) {
      for (bool imm : {false, true}) {
        for (int place = 0; place < 4; ++place) {  // First, Middle, Last, Only
          const bool first = place == 0 || place == 3, last = place >= 2;
          const uint8_t op = message_opcode(t, send, imm, first, last);
          const OpcodeInfo& info = opcode_info(op);
          SCOPED_TRACE(info.name);
          ASSERT_TRUE(spec_table().count(op));
          EXPECT_EQ(info.transport, t);
          EXPECT_EQ((info.flags & kOpSend) != 0, send);
          EXPECT_EQ((info.flags & kOpWrite) != 0, !send);
          EXPECT_EQ(info.flags & kOpOnly, (first ? kOpFirst : 0) | (last ? kOpLast : 0));
          EXPECT_EQ((info.flags & kOpMiddle) != 0, !first && !last);
          // Immediate data rides on the last packet only.
          EXPECT_EQ((info.flags & kOpImm) != 0, imm && last);
          // A WRITE's RETH is on its First or Only packet (IBA 9.3.3).
          EXPECT_EQ((info.headers & kHdrReth) != 0, !send && first);
          // UC opcodes are RC's with transport bits 001 (IBA 9.2, table 38).
          EXPECT_EQ(op, uint8_t(message_opcode(Transport::kRc, send, imm, first, last) |
                                (t == Transport::kUc ? 0x20 : 0)));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 32);
}

}  // namespace
}  // namespace flexins::wire
