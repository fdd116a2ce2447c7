// tshark as an independent dissector: packets built here, wrapped in
// Ethernet | IPv4 | UDP (dport 4791) and written to a pcap file, must decode
// field for field as sent.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_packets.h"
#include "wire/byte_order.h"
#include "wire/icrc.h"
#include "wire/packet.h"
#include "wire/sack.h"

namespace flexins::wire {
namespace {

using Bytes = std::vector<uint8_t>;

void put_le32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

// Ethernet | IPv4 (DF, valid checksum) | UDP (checksum 0: none, RFC 768) | udp_payload.
Bytes ethernet_frame(const IcrcIpInfo& ip, const Bytes& udp_payload) {
  Bytes f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
  uint8_t iph[20] = {0x45, 0x00};
  store_be16(iph + 2, uint16_t(20 + 8 + udp_payload.size()));
  store_be16(iph + 4, ip.ip_id);
  store_be16(iph + 6, ip.ip_flags_frag);
  iph[8] = 64;
  iph[9] = 17;
  std::memcpy(iph + 12, &ip.src_ip, 4);
  std::memcpy(iph + 16, &ip.dst_ip, 4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += load_be16(iph + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  store_be16(iph + 10, uint16_t(~sum));
  f.insert(f.end(), iph, iph + 20);
  uint8_t udph[8] = {};
  store_be16(udph, ip.src_port);
  store_be16(udph + 2, ip.dst_port);
  store_be16(udph + 4, uint16_t(8 + udp_payload.size()));
  f.insert(f.end(), udph, udph + 8);
  f.insert(f.end(), udp_payload.begin(), udp_payload.end());
  return f;
}

// Classic pcap: 24-byte global header, then a 16-byte header per record.
void write_pcap(const std::string& path, const std::vector<Bytes>& frames) {
  Bytes out;
  put_le32(out, 0xa1b2c3d4);  // magic, microsecond timestamps
  put_le32(out, 2 | (4u << 16));  // version 2.4
  put_le32(out, 0);  // thiszone
  put_le32(out, 0);  // sigfigs
  put_le32(out, 65535);  // snaplen
  put_le32(out, 1);  // LINKTYPE_ETHERNET
  uint32_t sec = 1700000000;
  for (const Bytes& f : frames) {
    put_le32(out, sec++);
    put_le32(out, 0);
    put_le32(out, uint32_t(f.size()));
    put_le32(out, uint32_t(f.size()));
    out.insert(out.end(), f.begin(), f.end());
  }
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(out.data()), long(out.size()));
}

bool have_tshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

const std::vector<std::string> kFields = {
    "infiniband.bth.opcode", "infiniband.bth.se", "infiniband.bth.m", "infiniband.bth.padcnt",
    "infiniband.bth.tver", "infiniband.bth.p_key", "infiniband.bth.destqp", "infiniband.bth.a",
    "infiniband.bth.psn", "infiniband.reth.va", "infiniband.reth.r_key", "infiniband.reth.dmalen",
    "infiniband.aeth.syndrome", "infiniband.aeth.msn", "infiniband.atomiceth.swapdt",
    "infiniband.atomiceth.cmpdt", "infiniband.atomicacketh.origremdt", "infiniband.immdt",
    "infiniband.ieth", "infiniband.deth.q_key", "infiniband.deth.srcqp", "infiniband.invariant.crc"};

using Row = std::map<std::string, std::string>;

std::vector<Row> run_tshark(const std::string& pcap) {
  std::string cmd = "tshark -r " + pcap + " -T fields -E separator=/t -E occurrence=f";
  for (const auto& f : kFields) cmd += " -e " + f;
  cmd += " 2>/dev/null";  // tshark warns when run as root
  std::vector<Row> rows;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return rows;
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  pclose(pipe);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    Row row;
    std::istringstream cols(line);
    std::string col;
    for (const auto& f : kFields) {
      std::getline(cols, col, '\t');
      row[f] = col;
    }
    rows.push_back(row);
  }
  return rows;
}

// tshark prints integers in decimal or 0x-hex, booleans as True/False or 1/0,
// byte fields as hex (maybe with colons); reduce all to a number.
uint64_t as_number(const std::string& s, bool bytes_field) {
  if (s == "True") return 1;
  if (s == "False") return 0;
  if (bytes_field) {
    std::string hex;
    for (char c : s)
      if (c != ':') hex += c;
    return std::stoull(hex, nullptr, 16);
  }
  return std::stoull(s, nullptr, 0);
}

// What tshark should print for p: field → value; absent headers → no field.
std::map<std::string, uint64_t> expected_fields(const Packet& p, uint32_t icrc_wire_be) {
  std::map<std::string, uint64_t> e = {
      {"infiniband.bth.opcode", p.bth.opcode}, {"infiniband.bth.se", p.bth.solicited},
      {"infiniband.bth.m", p.bth.mig_req},     {"infiniband.bth.padcnt", p.bth.pad_count},
      {"infiniband.bth.tver", 0},              {"infiniband.bth.p_key", p.bth.pkey},
      {"infiniband.bth.destqp", p.bth.dest_qp}, {"infiniband.bth.a", p.bth.ack_req},
      {"infiniband.bth.psn", p.bth.psn},       {"infiniband.invariant.crc", icrc_wire_be}};
  const uint8_t h = opcode_info(p.bth.opcode).headers;
  if (h & kHdrReth) {
    e["infiniband.reth.va"] = p.reth.va;
    e["infiniband.reth.r_key"] = p.reth.rkey;
    e["infiniband.reth.dmalen"] = p.reth.dma_length;
  }
  if (h & kHdrAeth) {
    e["infiniband.aeth.syndrome"] = p.aeth.syndrome;
    e["infiniband.aeth.msn"] = p.aeth.msn;
  }
  if (h & kHdrAtomicEth) {
    // Wireshark 4.0 shows the AtomicETH's VA and R_Key under the RETH's names.
    e["infiniband.reth.va"] = p.atomic.va;
    e["infiniband.reth.r_key"] = p.atomic.rkey;
    e["infiniband.atomiceth.swapdt"] = p.atomic.swap_add;
    e["infiniband.atomiceth.cmpdt"] = p.atomic.compare;
  }
  if (h & kHdrAtomicAck) e["infiniband.atomicacketh.origremdt"] = p.atomic_ack.orig;
  if (h & kHdrImm) e["infiniband.immdt"] = ntohl(p.imm_data);  // network order on the wire
  if (h & kHdrIeth) e["infiniband.ieth"] = p.invalidate_rkey;
  if (h & kHdrDeth) {
    e["infiniband.deth.q_key"] = p.deth.qkey;
    e["infiniband.deth.srcqp"] = p.deth.src_qp;
  }
  return e;
}

TEST(Tshark, DecodesEveryFieldAsSent) {
  if (!have_tshark()) GTEST_SKIP() << "tshark not installed";

  std::mt19937_64 rng(31337);
  struct Case {
    uint8_t opcode;
    size_t payload_bytes;
    uint8_t syndrome;  // for AETH opcodes
    bool sr = false;   // FlexiNS's SR bit; an Acknowledge then carries a SACK block
  };
  const std::vector<Case> cases = {
      {kRcSendOnlyImm, 13, 0},
      {kRcWriteFirst, 256, 0},
      {kRcReadRequest, 0, 0},
      {kRcReadResponseFirst, 64, make_syndrome(AckType::kAck, 3)},
      {kRcReadResponseOnly, 7, make_syndrome(AckType::kAck, kCreditInvalid)},
      {kRcAcknowledge, 0, make_syndrome(AckType::kAck, 5)},
      {kRcAcknowledge, 0, make_syndrome(AckType::kNak, uint8_t(NakCode::kPsnSequenceError))},
      {kRcAcknowledge, 0, make_syndrome(AckType::kRnrNak, 0x0e)},
      {kRcCompareSwap, 0, 0},
      {kRcFetchAdd, 0, 0},
      {kRcAtomicAcknowledge, 0, make_syndrome(AckType::kAck, 0)},
      {kRcSendOnlyInv, 30, 0},
      {kUdSendOnly, 40, 0},
      {kUdSendOnlyImm, 1, 0},
      // Selective repeat (wire/sack.h): a WRITE Only marked SR, and a SACK,
      // which must still read as an ordinary NAK (the block is its payload).
      {kRcWriteOnly, 256, 0, true},
      {kRcAcknowledge, 24, make_syndrome(AckType::kNak, uint8_t(NakCode::kPsnSequenceError)), true},
  };
  IcrcIpInfo ip;
  ip.src_ip = htonl(0x0a000001);
  ip.dst_ip = htonl(0x0a000002);
  ip.src_port = 50123;

  std::vector<Bytes> frames;
  std::vector<std::map<std::string, uint64_t>> want;
  for (const Case& c : cases) {
    Packet p = test::random_packet(rng, c.opcode);
    p.aeth.syndrome = c.syndrome;
    p.bth.fecn = p.bth.becn = false;
    p.bth.sr = c.sr;
    if (c.opcode == kUdSendOnly || c.opcode == kUdSendOnlyImm) p.bth.dest_qp |= 0x100;  // not QP0/QP1 (MADs)
    Bytes payload = test::random_bytes(rng, c.payload_bytes);
    if (c.opcode == kRcAcknowledge && c.sr) {
      SackBlock sack;
      sack.first_psn = psn_add(p.bth.psn, 1);
      sack.bits = uint16_t((c.payload_bytes - kSackHeaderBytes) * 8);
      for (uint32_t i = 0; i < sack.bits; i += 3) sack.set(i);
      ASSERT_EQ(build_sack(sack, payload.data()), c.payload_bytes);
    }
    const Bytes udp = test::assemble_with_icrc(p, payload, ip);
    frames.push_back(ethernet_frame(ip, udp));
    want.push_back(expected_fields(p, load_be32(udp.data() + udp.size() - 4)));
  }

  const std::string path = ::testing::TempDir() + "flexins_wire_" + std::to_string(getpid()) + ".pcap";
  write_pcap(path, frames);
  const std::vector<Row> rows = run_tshark(path);
  if (!std::getenv("FLEXINS_KEEP_PCAP")) std::remove(path.c_str());

  ASSERT_EQ(rows.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(opcode_info(cases[i].opcode).name);
    // A SACK reads as a NAK: BTH and AETH as sent. Wireshark dissects no
    // payload on an Acknowledge and looks for the ICRC right after the
    // AETH, so it shows none here (icrc_test.cc checks ours against zlib).
    if (cases[i].opcode == kRcAcknowledge && cases[i].sr) want[i].erase("infiniband.invariant.crc");
    for (const auto& field : kFields) {
      const std::string& got = rows[i].at(field);
      const auto it = want[i].find(field);
      if (it == want[i].end()) {
        EXPECT_EQ(got, "") << field << " should be absent";
        continue;
      }
      ASSERT_FALSE(got.empty()) << field << " missing";
      const bool bytes_field = field == "infiniband.immdt" || field == "infiniband.ieth";
      EXPECT_EQ(as_number(got, bytes_field), it->second) << field << " printed as " << got;
    }
  }
}

}  // namespace
}  // namespace flexins::wire
