// Connection-management messages the librdmacm replacement exchanges over a
// TCP connection from the active side to the listener's IP and port. They
// carry what the IB CM MADs carry for RoCE (IBA 12.6), minus what a TCP
// connection already gives (addresses, ports, reliable delivery):
//
//   REQ      active → passive   QPN, starting PSN, GID, MTU, RDMA read limits,
//                               retry counts, private data (≤ 56 bytes for RC)
//   REP      passive → active   the same from the passive side (≤ 196 bytes)
//   RTU      active → passive   "ready to use": the active QP is in RTS
//   REJ      either             reason (IBA 12.6.7.2 table 112) + private data
//   DREQ/DREP                   disconnect request / reply
//   SIDR_REQ/SIDR_REP           UD service ID resolution: QPN and Q_Key
//
// Wire layout, all integers big-endian:
//
//   0   magic "FXCM"            4
//   4   version (1)             1
//   5   type (CmMsgType)        1
//   6   body length             2   = kBodyFixedBytes + private_data_len
//   8   body:
//       0  qpn (24 bits used)       4
//       4  starting PSN (24 bits)   4
//       8  GID                      16
//      24  Q_Key                    4
//      28  reason / SIDR status     2
//      30  port space               2   (enum rdma_port_space)
//      32  path MTU (enum ibv_mtu)  1
//      33  responder resources      1
//      34  initiator depth          1
//      35  retry count              1   (3 bits used)
//      36  RNR retry count          1   (3 bits used)
//      37  flow control             1
//      38  SRQ                      1
//      39  local ACK timeout        1   (5 bits used)
//      40  private data length      1
//      41  reserved                 3
//      44  private data             0..kMaxPrivateDataBytes
#pragma once

#include <cstddef>
#include <cstdint>

namespace flexins::rdmacm {

enum class CmMsgType : uint8_t {
  kReq = 1,
  kRep = 2,
  kRtu = 3,
  kRej = 4,
  kDreq = 5,
  kDrep = 6,
  kSidrReq = 7,
  kSidrRep = 8,
};
const char* cm_msg_type_name(CmMsgType type);

constexpr uint32_t kCmMagic = 0x4658434d;  // "FXCM"
constexpr uint8_t kCmVersion = 1;
constexpr size_t kHeaderBytes = 8;
constexpr size_t kBodyFixedBytes = 44;

// Private data a consumer may pass, per message (IBA 12.6 MAD sizes, less the
// 36-byte rdma_cm header that a REQ / SIDR_REQ carries on IB).
constexpr size_t kReqPrivateDataBytes = 56;       // 92 - 36
constexpr size_t kRepPrivateDataBytes = 196;
constexpr size_t kRejPrivateDataBytes = 148;
constexpr size_t kRtuPrivateDataBytes = 224;
constexpr size_t kDreqPrivateDataBytes = 220;
constexpr size_t kDrepPrivateDataBytes = 224;
constexpr size_t kSidrReqPrivateDataBytes = 180;  // 216 - 36
constexpr size_t kSidrRepPrivateDataBytes = 136;
constexpr size_t kMaxPrivateDataBytes = 224;
constexpr size_t kMaxMessageBytes = kHeaderBytes + kBodyFixedBytes + kMaxPrivateDataBytes;

size_t max_private_data(CmMsgType type);

// REJ reasons (IBA 12.6.7.2 table 112) that FlexiNS sends.
constexpr uint16_t kRejInvalidServiceId = 8;  // no listener on that port
constexpr uint16_t kRejStaleConnection = 10;
constexpr uint16_t kRejConsumerDefined = 28;  // rdma_reject()
// SIDR_REP status (IBA 12.11.1 table 126).
constexpr uint16_t kSidrStatusValid = 0;
constexpr uint16_t kSidrStatusServiceIdNotSupported = 1;
constexpr uint16_t kSidrStatusRejected = 2;

constexpr uint32_t kQpnMask = 0xffffff;
constexpr uint32_t kPsnMask = 0xffffff;

struct CmMessage {
  CmMsgType type = CmMsgType::kReq;
  uint32_t qpn = 0;
  uint32_t starting_psn = 0;
  uint8_t gid[16] = {};
  uint32_t qkey = 0;
  uint16_t reason = 0;
  uint16_t port_space = 0;
  uint8_t mtu = 0;
  uint8_t responder_resources = 0;
  uint8_t initiator_depth = 0;
  uint8_t retry_count = 0;
  uint8_t rnr_retry_count = 0;
  uint8_t flow_control = 0;
  uint8_t srq = 0;
  uint8_t local_ack_timeout = 0;
  uint8_t private_data_len = 0;
  uint8_t private_data[kMaxPrivateDataBytes] = {};
};

// Writes MSG into OUT (at least kMaxMessageBytes). Returns the byte count,
// or 0 if MSG is not valid (see decode for the rules).
size_t encode(const CmMessage& msg, uint8_t* out, size_t out_len);

enum class DecodeResult {
  kOk,
  kNeedMore,  // a valid prefix: read more bytes
  kBad,       // not a FlexiNS CM message: drop the connection
};

// Decodes one message from the front of IN. On kOk, *consumed is its length.
DecodeResult decode(const uint8_t* in, size_t in_len, CmMessage* msg, size_t* consumed);

}  // namespace flexins::rdmacm
