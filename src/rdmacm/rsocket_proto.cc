#include "rdmacm/rsocket_proto.h"

#include "wire/byte_order.h"

namespace flexins::rdmacm::rs {
namespace {

using wire::load_be32;
using wire::load_be64;
using wire::store_be32;
using wire::store_be64;

// ConnData layout: magic 4, version 1, reserved 3, rq_credits 4, ring_rkey 4,
// ring_addr 8, ring_size 4, reserved 4.
constexpr size_t kOffVersion = 4;
constexpr size_t kOffCredits = 8;
constexpr size_t kOffRkey = 12;
constexpr size_t kOffAddr = 16;
constexpr size_t kOffSize = 24;

}  // namespace

void encode_conn_data(const ConnData& d, uint8_t out[kConnDataBytes]) {
  for (size_t i = 0; i < kConnDataBytes; ++i) out[i] = 0;
  store_be32(out, kConnMagic);
  out[kOffVersion] = kConnVersion;
  store_be32(out + kOffCredits, d.rq_credits);
  store_be32(out + kOffRkey, d.ring_rkey);
  store_be64(out + kOffAddr, d.ring_addr);
  store_be32(out + kOffSize, d.ring_size);
}

std::optional<ConnData> decode_conn_data(const uint8_t* p, size_t len) {
  if (p == nullptr || len < kConnDataBytes) return std::nullopt;
  if (load_be32(p) != kConnMagic || p[kOffVersion] != kConnVersion) return std::nullopt;
  ConnData d;
  d.rq_credits = load_be32(p + kOffCredits);
  d.ring_rkey = load_be32(p + kOffRkey);
  d.ring_addr = load_be64(p + kOffAddr);
  d.ring_size = load_be32(p + kOffSize);
  if (d.rq_credits == 0 || d.ring_size == 0) return std::nullopt;
  return d;
}

void encode_ctrl(const CtrlMsg& m, uint8_t out[kCtrlBytes]) {
  for (size_t i = 0; i < kCtrlBytes; ++i) out[i] = 0;
  out[0] = uint8_t(m.type);
  store_be32(out + 4, m.reposted);
  store_be64(out + 8, m.freed);
  store_be64(out + 16, m.addr);
  store_be64(out + 24, m.length);
  store_be32(out + 32, m.rkey);
}

std::optional<CtrlMsg> decode_ctrl(const uint8_t* p, size_t len) {
  if (p == nullptr || len != kCtrlBytes) return std::nullopt;
  CtrlMsg m;
  switch (p[0]) {
    case uint8_t(CtrlType::kCredit):
    case uint8_t(CtrlType::kIomap):
    case uint8_t(CtrlType::kIounmap):
    case uint8_t(CtrlType::kFin): m.type = CtrlType(p[0]); break;
    default: return std::nullopt;
  }
  m.reposted = load_be32(p + 4);
  m.freed = load_be64(p + 8);
  m.addr = load_be64(p + 16);
  m.length = load_be64(p + 24);
  m.rkey = load_be32(p + 32);
  return m;
}

}  // namespace flexins::rdmacm::rs
