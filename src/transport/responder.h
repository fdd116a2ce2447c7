// RC responder (IBA 9.7.5.1, 9.7.5.2): checks each request (PSN, opcode
// sequence, length, receive WQE, R_Key), places payload straight into the
// destination memory (the RX path's one copy), writes receive completions,
// and answers with coalesced ACKs, NAKs, READ responses and atomic ACKs.
// Replies are queued in PSN order and sent by poll(). In selective-repeat
// mode it also places SR packets ahead of the expected PSN and answers
// with SACKs (selective_repeat.h: kSrPlace, kSrDrop).
//
// The UC responder is this one with three UC branches: its own PSN check
// (kUcCheckPsn), no replies at all, and errors that drop the message
// silently instead of NAKing it (uc_error). A UC message that lost a packet,
// or that the checks refuse, is dropped whole: its receive WQE is not
// consumed, and the responder takes the next First or Only packet as the
// start of the next message.
#pragma once

#include <cstdint>

#include "transport/constants.h"
#include "transport/error_table.h"
#include "transport/qp.h"
#include "transport/recv_wr.h"
#include "transport/reused_fifo.h"
#include "transport/selective_repeat.h"
#include "wire/sack.h"

namespace flexins::transport {

class Responder {
 public:
  // The responder's explicit states (rxe style), with a name table for traces.
  enum class State : uint8_t {
    kCheckPsn,         // expected, duplicate or out of sequence?
    kUcCheckPsn,       // UC: lost packets drop the message; resync on First/Only
    kDuplicate,        // re-ACK; replay a READ / atomic (IBA 9.7.5.1.2)
    kOutOfSequence,    // one PSN sequence NAK per gap (IBA 9.7.5.1.1)
    kSrPlace,          // selective repeat: an SR packet ahead of ePSN, placed at once
    kSrDrop,           // selective repeat: any other packet ahead of ePSN, SACKed
    kCheckOpSequence,  // First … Middle … Last (IBA 9.7.5.1.3? C9-?)
    kCheckOpAllowed,   // the QP's access flags permit the operation
    kCheckLength,      // packet and message lengths (IBA C9-?, 9.7.5.1.3)
    kCheckResources,   // a receive WQE for SEND / WRITE-with-imm, else RNR
    kCheckRkey,        // R_Key, PD, bounds, access rights (IBA 10.6.3)
    kExecute,          // place data / run the READ / atomic
    kComplete,         // receive completion, MSN, next expected PSN
    kAcknowledge,      // coalesced ACK
    kError,            // NAK by the error table, maybe fail the QP
    kDone,
    kCount,
  };
  static const char* state_name(State s);

  explicit Responder(Qp::Impl& qp) : qp_(qp) {}

  void reset();
  void start(uint32_t rq_psn);
  void on_request(const wire::Packet& pkt);
  bool has_replies() const { return !replies_.empty(); }
  uint32_t transmit(uint32_t budget);
  // The QP failed: the receive in progress completes flushed.
  void flush_current_recv();
  uint32_t expected_psn() const { return epsn_; }
  uint32_t msn() const { return msn_; }

 private:
  // kDropping (UC only): the rest of a dropped message is being discarded
  // until the next First or Only packet.
  enum class InMessage : uint8_t { kNone, kSend, kWrite, kDropping };

  struct Reply {
    // kSack: an ACK or a SACK, whichever the state calls for when it is
    // written (selective_repeat.h).
    enum class Kind : uint8_t { kAck, kReadResponse, kAtomicAck, kSack } kind = Kind::kAck;
    uint32_t psn = 0;  // ACK/NAK/atomic ACK: its PSN; READ: first response PSN
    uint8_t syndrome = 0;
    uint32_t msn = 0;
    // READ
    uint32_t npkts = 0;
    uint32_t next_pkt = 0;
    uint64_t va = 0;
    uint32_t rkey = 0;
    uint32_t length = 0;
    // atomic
    uint64_t orig = 0;
    // kSack: written from the state when it leaves, or when a later reply
    // is queued behind it (sealed: psn, msn and the block fixed then).
    bool sealed = false;
    bool sealed_gap = false;  // there was a gap: a SACK, not an ACK
    wire::SackBlock sack;
  };

  // A READ or atomic request as executed, for duplicates (IBA 9.7.5.1.2).
  struct ReplayRecord {
    bool valid = false;
    bool atomic = false;
    uint32_t psn = 0;
    uint32_t npkts = 0;
    uint64_t va = 0;
    uint32_t rkey = 0;
    uint32_t length = 0;
    uint64_t orig = 0;  // atomic result
  };

  struct Ctx {
    const wire::Packet* pkt = nullptr;
    uint8_t opcode = 0;
    uint16_t flags = 0;
    RespError error = RespError::kNone;
    bool marked = false;  // an RDMA WRITE Only with the SR bit
    bool gap = false;     // in order, and PSNs after it had been seen: it fills a hole
  };

  State check_psn(Ctx& c);
  State uc_check_psn(Ctx& c);
  State duplicate(Ctx& c);
  State out_of_sequence(Ctx& c);
  State sr_place(Ctx& c);
  State sr_drop(Ctx& c);
  State check_op_sequence(Ctx& c);
  State check_op_allowed(Ctx& c);
  State check_length(Ctx& c);
  State check_resources(Ctx& c);
  State check_rkey(Ctx& c);
  State execute(Ctx& c);
  State complete(Ctx& c);
  State acknowledge(Ctx& c);
  State error(Ctx& c);
  State uc_error(Ctx& c);
  // UC: give up the message in progress (or one whose start was lost);
  // `rest_follows`: discard its packets up to the next First / Only.
  void uc_drop_message(bool rest_follows);

  // Resolve an R_Key for [va, va+len) with `access` (IBA 10.6.3.1, C10-?).
  uint8_t* check_remote(uint32_t rkey, uint64_t va, uint64_t len, uint32_t access) const;
  void queue_ack(uint32_t psn);
  void queue_nak(uint32_t psn, uint8_t syndrome);
  void push_reply(const Reply& r);
  void send_ack(const Reply& r);
  // ---- selective repeat (selective_repeat.h)
  // The peer has marked SR packets and this QP acts on them: its sequence
  // NAKs are SACKs.
  bool sr_replies() const;
  // ePSN moved: on over the PSNs placed ahead of it.
  void advance_over_placed();
  // A packet ahead of ePSN arrived: a SACK if the rate rules say so.
  void sack_out_of_order(const Ctx& c);
  void queue_sack();
  // A SACK if PSNs after ePSN have been seen, else an ACK through ePSN - 1.
  void queue_ack_or_sack();
  void seal(Reply& r) const;
  void send_sack(Reply& r);
  bool send_read_response(Reply& r);  // false: the MR went away
  void send_atomic_ack(const Reply& r);
  void complete_recv(ibv_wc_status status, uint32_t byte_len, bool with_imm, uint32_t imm,
                     bool rdma_imm, bool solicited);
  ReplayRecord* find_record(uint32_t psn, bool atomic);
  uint64_t execute_atomic(uint8_t* target, uint8_t opcode, uint64_t swap_add, uint64_t compare);
  uint32_t read_npkts(uint32_t length) const;

  Qp::Impl& qp_;
  uint32_t epsn_ = 0;  // next expected request PSN
  uint32_t msn_ = 0;   // messages completed (24 bits, IBA 9.7.5.1.5)
  bool nak_sent_for_gap_ = false;
  InMessage in_msg_ = InMessage::kNone;
  // SEND in progress
  bool have_recv_ = false;
  RecvWr recv_;
  uint32_t recv_offset_ = 0;
  // WRITE in progress (the RETH of its First packet)
  uint64_t write_va_ = 0;
  uint32_t write_rkey_ = 0;
  uint32_t write_len_ = 0;
  uint32_t write_offset_ = 0;
  uint32_t unacked_pkts_ = 0;

  // Selective repeat: what was placed ahead of ePSN; whether the peer marks
  // SR packets; out-of-order packets since the last SACK; bytes of the SR
  // packets completed in order since the last unmarked one (a WRITE WITH
  // IMM's receive completion counts them).
  SrReceiveWindow sr_window_;
  bool sr_peer_ = false;
  uint32_t sr_ooo_since_sack_ = 0;
  uint64_t sr_run_bytes_ = 0;

  ReplayRecord records_[kReplayRecords];
  uint32_t next_record_ = 0;
  ReusedFifo<Reply> replies_;
};

}  // namespace flexins::transport
