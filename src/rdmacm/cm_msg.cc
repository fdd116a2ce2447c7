#include "rdmacm/cm_msg.h"

#include <cstring>

#include "wire/byte_order.h"

namespace flexins::rdmacm {
namespace {

using wire::load_be16;
using wire::load_be32;
using wire::store_be16;
using wire::store_be32;

// Body offsets (see the layout in cm_msg.h).
constexpr size_t kOffQpn = 0;
constexpr size_t kOffPsn = 4;
constexpr size_t kOffGid = 8;
constexpr size_t kOffQkey = 24;
constexpr size_t kOffReason = 28;
constexpr size_t kOffPortSpace = 30;
constexpr size_t kOffMtu = 32;
constexpr size_t kOffResponderResources = 33;
constexpr size_t kOffInitiatorDepth = 34;
constexpr size_t kOffRetryCount = 35;
constexpr size_t kOffRnrRetryCount = 36;
constexpr size_t kOffFlowControl = 37;
constexpr size_t kOffSrq = 38;
constexpr size_t kOffAckTimeout = 39;
constexpr size_t kOffPrivateDataLen = 40;
static_assert(kOffPrivateDataLen + 4 == kBodyFixedBytes);

constexpr uint8_t kMaxRetryCount = 7;     // 3-bit fields (IBA 12.7.38, 12.7.39)
constexpr uint8_t kMaxAckTimeout = 31;    // 5-bit field (IBA 12.7.34)
constexpr uint8_t kMaxMtuEnum = 5;        // IBV_MTU_4096

bool known_type(uint8_t t) { return t >= uint8_t(CmMsgType::kReq) && t <= uint8_t(CmMsgType::kSidrRep); }

// The connection-establishment messages describe a QP: they need a path MTU.
bool carries_qp(CmMsgType t) {
  return t == CmMsgType::kReq || t == CmMsgType::kRep || t == CmMsgType::kSidrReq;
}

bool valid(const CmMessage& m) {
  if (!known_type(uint8_t(m.type))) return false;
  if (m.private_data_len > max_private_data(m.type)) return false;
  if ((m.qpn & ~kQpnMask) != 0 || (m.starting_psn & ~kPsnMask) != 0) return false;
  if (m.mtu > kMaxMtuEnum || (carries_qp(m.type) && m.mtu == 0)) return false;
  if (m.retry_count > kMaxRetryCount || m.rnr_retry_count > kMaxRetryCount) return false;
  if (m.local_ack_timeout > kMaxAckTimeout) return false;
  if (m.flow_control > 1 || m.srq > 1) return false;
  return true;
}

}  // namespace

const char* cm_msg_type_name(CmMsgType type) {
  switch (type) {
    case CmMsgType::kReq: return "REQ";
    case CmMsgType::kRep: return "REP";
    case CmMsgType::kRtu: return "RTU";
    case CmMsgType::kRej: return "REJ";
    case CmMsgType::kDreq: return "DREQ";
    case CmMsgType::kDrep: return "DREP";
    case CmMsgType::kSidrReq: return "SIDR_REQ";
    case CmMsgType::kSidrRep: return "SIDR_REP";
  }
  return "?";
}

size_t max_private_data(CmMsgType type) {
  switch (type) {
    case CmMsgType::kReq: return kReqPrivateDataBytes;
    case CmMsgType::kRep: return kRepPrivateDataBytes;
    case CmMsgType::kRtu: return kRtuPrivateDataBytes;
    case CmMsgType::kRej: return kRejPrivateDataBytes;
    case CmMsgType::kDreq: return kDreqPrivateDataBytes;
    case CmMsgType::kDrep: return kDrepPrivateDataBytes;
    case CmMsgType::kSidrReq: return kSidrReqPrivateDataBytes;
    case CmMsgType::kSidrRep: return kSidrRepPrivateDataBytes;
  }
  return 0;
}

size_t encode(const CmMessage& m, uint8_t* out, size_t out_len) {
  if (!valid(m)) return 0;
  size_t body_len = kBodyFixedBytes + m.private_data_len;
  size_t total = kHeaderBytes + body_len;
  if (out_len < total) return 0;
  std::memset(out, 0, total);
  store_be32(out, kCmMagic);
  out[4] = kCmVersion;
  out[5] = uint8_t(m.type);
  store_be16(out + 6, uint16_t(body_len));
  uint8_t* b = out + kHeaderBytes;
  store_be32(b + kOffQpn, m.qpn);
  store_be32(b + kOffPsn, m.starting_psn);
  std::memcpy(b + kOffGid, m.gid, sizeof m.gid);
  store_be32(b + kOffQkey, m.qkey);
  store_be16(b + kOffReason, m.reason);
  store_be16(b + kOffPortSpace, m.port_space);
  b[kOffMtu] = m.mtu;
  b[kOffResponderResources] = m.responder_resources;
  b[kOffInitiatorDepth] = m.initiator_depth;
  b[kOffRetryCount] = m.retry_count;
  b[kOffRnrRetryCount] = m.rnr_retry_count;
  b[kOffFlowControl] = m.flow_control;
  b[kOffSrq] = m.srq;
  b[kOffAckTimeout] = m.local_ack_timeout;
  b[kOffPrivateDataLen] = m.private_data_len;
  std::memcpy(b + kBodyFixedBytes, m.private_data, m.private_data_len);
  return total;
}

DecodeResult decode(const uint8_t* in, size_t in_len, CmMessage* m, size_t* consumed) {
  // Check what has arrived so far, so a bad stream is dropped at once.
  static constexpr uint8_t kMagicBytes[4] = {'F', 'X', 'C', 'M'};
  for (size_t i = 0; i < in_len && i < sizeof kMagicBytes; ++i)
    if (in[i] != kMagicBytes[i]) return DecodeResult::kBad;
  if (in_len >= 5 && in[4] != kCmVersion) return DecodeResult::kBad;
  if (in_len >= 6 && !known_type(in[5])) return DecodeResult::kBad;
  if (in_len < kHeaderBytes) return DecodeResult::kNeedMore;
  size_t body_len = load_be16(in + 6);
  if (body_len < kBodyFixedBytes || body_len > kBodyFixedBytes + kMaxPrivateDataBytes)
    return DecodeResult::kBad;
  if (in_len < kHeaderBytes + body_len) return DecodeResult::kNeedMore;

  const uint8_t* b = in + kHeaderBytes;
  CmMessage out;
  out.type = CmMsgType(in[5]);
  out.qpn = load_be32(b + kOffQpn);
  out.starting_psn = load_be32(b + kOffPsn);
  std::memcpy(out.gid, b + kOffGid, sizeof out.gid);
  out.qkey = load_be32(b + kOffQkey);
  out.reason = load_be16(b + kOffReason);
  out.port_space = load_be16(b + kOffPortSpace);
  out.mtu = b[kOffMtu];
  out.responder_resources = b[kOffResponderResources];
  out.initiator_depth = b[kOffInitiatorDepth];
  out.retry_count = b[kOffRetryCount];
  out.rnr_retry_count = b[kOffRnrRetryCount];
  out.flow_control = b[kOffFlowControl];
  out.srq = b[kOffSrq];
  out.local_ack_timeout = b[kOffAckTimeout];
  out.private_data_len = b[kOffPrivateDataLen];
  if (body_len != kBodyFixedBytes + out.private_data_len) return DecodeResult::kBad;
  for (size_t i = kOffPrivateDataLen + 1; i < kBodyFixedBytes; ++i)
    if (b[i] != 0) return DecodeResult::kBad;  // reserved: zero, so a later version can use it
  std::memcpy(out.private_data, b + kBodyFixedBytes, out.private_data_len);
  if (!valid(out)) return DecodeResult::kBad;
  *m = out;
  *consumed = kHeaderBytes + body_len;
  return DecodeResult::kOk;
}

}  // namespace flexins::rdmacm
