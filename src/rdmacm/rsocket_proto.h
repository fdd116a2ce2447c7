// The rsocket wire protocol between two FlexiNS librdmacm libraries. It
// borrows rsockets' design (man 7 rsocket), not its bytes: both ends are ours.
//
// Connection: rconnect/raccept exchange a ConnData in the REQ / REP private
// data. Each side tells the other where its receive ring is (address, rkey,
// size) and how many receive WRs it has posted (the peer's message credits).
//
// Data: the sender RDMA WRITEs WITH IMM the bytes at the next position of the
// peer's receive ring (never across its end: a write that would wrap is cut
// in two). The immediate value is the byte count; the receiver learns nothing
// else and needs nothing else, because RC delivers in order: message n lands
// right after message n-1.
//
// Control: SENDs of at most kCtrlBytes into the 64-byte buffer of each posted
// receive (so every message, data or control, costs the peer one receive WR):
//
//   0  type (CtrlType)  1
//   1  reserved         3
//   4  a                4   CREDIT: receive WRs reposted in total (mod 2^32)
//   8  b                8   CREDIT: ring bytes freed in total
//  16  c                8   IOMAP: peer address of the mapping
//  24  d                8   IOMAP: length
//  32  e                4   IOMAP: rkey
//   IOMAP / IOUNMAP use b for the riomap offset. FIN has no fields.
//
// Credits: a data message needs ring space (ring size minus bytes written
// and not yet reported freed) and a receive WR beyond kCtrlReserve; control
// messages may use the reserve, so a side starved of data credits can always
// still report its own freed space. A receiver reports (CREDIT) once half its
// ring or half its receive WRs have been freed since its last report.
//
// riowrite: a plain RDMA WRITE into a region the peer announced with IOMAP.
// It costs the peer no receive WR and raises no completion there.
//
// FIN (rshutdown SHUT_WR): the peer's reads return 0 once the ring is empty.
// All integers are big-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace flexins::rdmacm::rs {

constexpr uint32_t kConnMagic = 0x46585253;  // "FXRS"
constexpr uint8_t kConnVersion = 1;
constexpr size_t kConnDataBytes = 32;  // fits the 56 bytes of a REQ

struct ConnData {
  uint32_t rq_credits = 0;   // receive WRs posted for the peer's messages
  uint32_t ring_rkey = 0;
  uint64_t ring_addr = 0;
  uint32_t ring_size = 0;
};

void encode_conn_data(const ConnData& d, uint8_t out[kConnDataBytes]);
// nullopt: not a FlexiNS rsocket peer, another version, or sizes that make
// no sense (an empty ring or no credits).
std::optional<ConnData> decode_conn_data(const uint8_t* p, size_t len);

enum class CtrlType : uint8_t {
  kCredit = 1,
  kIomap = 2,
  kIounmap = 3,
  kFin = 4,
};

constexpr size_t kCtrlBytes = 36;
constexpr size_t kRecvSlotBytes = 64;  // each posted receive's buffer

struct CtrlMsg {
  CtrlType type = CtrlType::kCredit;
  uint32_t reposted = 0;   // CREDIT
  uint64_t freed = 0;      // CREDIT: bytes; IOMAP/IOUNMAP: riomap offset
  uint64_t addr = 0;       // IOMAP
  uint64_t length = 0;     // IOMAP
  uint32_t rkey = 0;       // IOMAP
};

void encode_ctrl(const CtrlMsg& m, uint8_t out[kCtrlBytes]);
std::optional<CtrlMsg> decode_ctrl(const uint8_t* p, size_t len);

}  // namespace flexins::rdmacm::rs
