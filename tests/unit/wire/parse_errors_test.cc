// parse() on bad input: every truncation, unknown opcodes, TVer, pad counts,
// and a seeded stream of random bytes. Each input lives in a heap block of
// exactly its size, so AddressSanitizer catches any read past the end.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_packets.h"
#include "wire/packet.h"

namespace flexins::wire {
namespace {

using Bytes = std::vector<uint8_t>;

ParseError parse_exact(const uint8_t* data, size_t size, Packet& out) {
  auto copy = std::make_unique<uint8_t[]>(size);  // exactly `size` bytes
  std::copy(data, data + size, copy.get());
  ParseError e = parse({copy.get(), size}, out);
  if (e == ParseError::kOk) {  // the payload must point inside the copy
    EXPECT_GE(out.payload, copy.get());
    EXPECT_LE(out.payload + out.payload_len + out.bth.pad_count + kIcrcSize, copy.get() + size);
  }
  return e;
}

ParseError parse_bytes(const Bytes& b) {
  Packet p;
  return parse_exact(b.data(), b.size(), p);
}

Bytes packet_bytes(uint8_t opcode, size_t payload_bytes) {
  std::mt19937_64 rng(opcode);
  Packet p = test::random_packet(rng, opcode);
  return test::assemble(p, Bytes(payload_bytes, 0x5a));
}

TEST(ParseErrors, TruncatedAtEveryLength) {
  for (int op = 0; op < 256; ++op) {
    if (!opcode_valid(uint8_t(op))) continue;
    SCOPED_TRACE(opcode_info(uint8_t(op)).name);
    const bool carries = opcode_info(uint8_t(op)).flags & kOpPayload;
    const Bytes full = packet_bytes(uint8_t(op), carries ? 5 : 0);  // pad 3 if payload
    const size_t min_size = header_size(uint8_t(op)) + kIcrcSize;
    for (size_t len = 0; len < full.size(); ++len) {
      Packet p;
      const ParseError e = parse_exact(full.data(), len, p);
      if (len < min_size) {
        EXPECT_EQ(e, ParseError::kTooShort) << len;
      } else {
        // No length field in the BTH: a cut packet is a shorter packet, and
        // only the pad count can still give it away.
        const size_t rest = len - min_size;
        EXPECT_EQ(e, rest < 3 ? ParseError::kBadPad : ParseError::kOk) << len;
      }
    }
    EXPECT_EQ(parse_bytes(full), ParseError::kOk);
  }
}

TEST(ParseErrors, UnknownOpcodes) {
  int bad = 0;
  for (int op = 0; op < 256; ++op) {
    if (opcode_valid(uint8_t(op))) continue;
    Bytes b = packet_bytes(kRcSendOnly, 64);
    b[0] = uint8_t(op);
    EXPECT_EQ(parse_bytes(b), ParseError::kBadOpcode) << op;
    ++bad;
  }
  EXPECT_EQ(bad, 218);
}

TEST(ParseErrors, TransportVersionMustBeZero) {
  for (uint8_t tver = 1; tver < 16; ++tver) {
    Bytes b = packet_bytes(kRcWriteOnly, 8);
    b[1] = uint8_t((b[1] & 0xf0) | tver);
    EXPECT_EQ(parse_bytes(b), ParseError::kBadVersion) << int(tver);
  }
}

TEST(ParseErrors, PadCount) {
  // Pad on opcodes that carry no payload (IBA 9.2: pad only rounds payload up).
  for (uint8_t op : {kRcAcknowledge, kRcReadRequest, kRcCompareSwap, kRcAtomicAcknowledge, kCnp}) {
    for (uint8_t pad = 1; pad < 4; ++pad) {
      Bytes b = packet_bytes(op, 0);
      b[1] = uint8_t((b[1] & 0xcf) | (pad << 4));
      EXPECT_EQ(parse_bytes(b), ParseError::kBadPad) << opcode_info(op).name;
    }
  }
  // Pad longer than what lies between headers and ICRC.
  Bytes b = packet_bytes(kRcSendOnly, 0);
  for (uint8_t pad = 1; pad < 4; ++pad) {
    b[1] = uint8_t((b[1] & 0xcf) | (pad << 4));
    EXPECT_EQ(parse_bytes(b), ParseError::kBadPad);
  }
  // A larger pad that still fits only shortens the payload: 2 bytes of
  // payload + 2 of pad, read with pad 3, is 1 byte of payload.
  b = packet_bytes(kRcSendOnly, 2);
  b[1] = uint8_t((b[1] & 0xcf) | (0x3 << 4));
  Packet p;
  ASSERT_EQ(parse_exact(b.data(), b.size(), p), ParseError::kOk);
  EXPECT_EQ(p.payload_len, 1u);
}

TEST(ParseErrors, PayloadOnOpcodesThatCarryNone) {
  for (uint8_t op : {kRcAcknowledge, kRcReadRequest, kRcFetchAdd, kRcAtomicAcknowledge, kCnp}) {
    Bytes b = packet_bytes(op, 0);
    b[8] &= 0xbf;  // no SR bit: an Acknowledge with it may carry a SACK block (sack_test.cc)
    b.insert(b.begin() + long(header_size(op)), 4, 0);
    EXPECT_EQ(parse_bytes(b), ParseError::kPayloadTooLong) << opcode_info(op).name;
  }
}

TEST(ParseErrors, ZeroLengthSendIsFine) {
  const Bytes b = packet_bytes(kRcSendOnly, 0);
  Packet p;
  ASSERT_EQ(parse_exact(b.data(), b.size(), p), ParseError::kOk);
  EXPECT_EQ(p.payload_len, 0u);
}

TEST(ParseErrors, ErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (auto e : {ParseError::kOk, ParseError::kTooShort, ParseError::kBadOpcode, ParseError::kBadVersion,
                 ParseError::kBadPad, ParseError::kPayloadTooLong}) {
    names.insert(parse_error_name(e));
  }
  EXPECT_EQ(names.size(), 6u);
}

// Random bytes, half of them given a valid opcode and TVer 0 so the deeper
// checks run too. Whatever parse() says, an accepted packet must add up.
TEST(ParseErrors, RandomBytesNeverCrash) {
  std::mt19937_64 rng(0xf1e215);
  std::vector<uint8_t> valid_ops;
  for (int op = 0; op < 256; ++op)
    if (opcode_valid(uint8_t(op))) valid_ops.push_back(uint8_t(op));

  int accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    Bytes b = test::random_bytes(rng, rng() % 96);
    if (b.size() >= 2 && (i & 1)) {
      b[0] = valid_ops[rng() % valid_ops.size()];
      b[1] &= 0xf0;
    }
    Packet p;
    if (parse_exact(b.data(), b.size(), p) != ParseError::kOk) continue;
    ++accepted;
    ASSERT_EQ(header_size(p.bth.opcode) + p.payload_len + p.bth.pad_count + kIcrcSize, b.size());
  }
  EXPECT_GT(accepted, 1000);  // the loop did reach the payload checks
}

}  // namespace
}  // namespace flexins::wire
