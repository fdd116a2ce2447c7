// Every way an RC or UC request can fail, and what each failure means on
// both ends, in one place (style.md: "one table, not scattered through the
// code").
//
// Responder side: a failed check picks a RespError; the table says which
// NAK (or RNR NAK) goes back, whether a receive WQE completes in error and
// with which status, which async event the QP raises and whether it moves to
// the error state (IBA 9.7.5.2: class A/B errors are fatal for the QP,
// sequence errors and RNR are not).
// UC responder: no NAKs exist. An error that completes a receive WQE in
// error (recv_status) fails the QP as on RC; any other drops the message
// silently (IBA 9.9.3?, class D) and counts it in uc_drops.
// Requester side: a NAK code received maps to a work-completion status.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

#include "transport/counters.h"
#include "wire/packet.h"

namespace flexins::transport {

enum class RespError : uint8_t {
  kNone,
  kPsnSequence,       // a later PSN than expected (IBA 9.7.5.1.1)
  kRnr,               // SEND / WRITE-with-imm and no receive WQE (IBA 9.7.5.2.8)
  kInvalidRequest,    // bad opcode sequence, length, unsupported op (IBA 9.7.5.2.2)
  kRemoteAccess,      // R_Key, PD, bounds or access flags (IBA 9.7.5.2.3)
  kRemoteOperational, // could not place into a receive buffer (IBA 9.7.5.2.4)
  kRecvTooLong,       // SEND larger than the receive WQE: invalid request + LOC_LEN_ERR
  kRecvProtection,    // receive SGE fails its L_Key check: op error + LOC_PROT_ERR
  kCount,
};

struct RespErrorInfo {
  const char* name;
  wire::AckType ack_type;    // kRnrNak or kNak
  wire::NakCode nak_code;    // for kNak
  ibv_wc_status recv_status; // IBV_WC_SUCCESS: no receive completion
  bool fatal;                // the responder QP moves to the error state
  ibv_event_type event;      // raised when fatal
  Counter Counters::*naks_sent;
  Counter Counters::*uc_drops;  // UC: the dropped packet's counter (nullptr: none)
};

const RespErrorInfo& resp_error_info(RespError e);

// The completion status a requester reports for a NAK code (IBA 9.7.5.2,
// verbs' ibv_wc_status), and the counter of NAKs received of that kind.
struct NakInfo {
  ibv_wc_status status;
  Counter Counters::*naks_received;
};
const NakInfo& nak_info(wire::NakCode code);

// IBA table 45: the RNR NAK timer field (5 bits) in nanoseconds.
uint64_t rnr_timer_ns(uint8_t value5);

}  // namespace flexins::transport
