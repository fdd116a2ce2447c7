#include "transport/error_table.h"

namespace flexins::transport {
namespace {

using wire::AckType;
using wire::NakCode;

constexpr RespErrorInfo kRespErrors[] = {
    // name, ack type, NAK code, receive WC status, fatal, event, NAKs-sent counter,
    // UC drop counter
    {"none", AckType::kAck, NakCode::kPsnSequenceError, IBV_WC_SUCCESS, false, IBV_EVENT_QP_FATAL,
     nullptr, nullptr},
    {"psn-sequence", AckType::kNak, NakCode::kPsnSequenceError, IBV_WC_SUCCESS, false,
     IBV_EVENT_QP_FATAL, &Counters::naks_sent_psn_sequence, &Counters::rx_drop_out_of_sequence},
    {"rnr", AckType::kRnrNak, NakCode::kPsnSequenceError, IBV_WC_SUCCESS, false,
     IBV_EVENT_QP_FATAL, &Counters::naks_sent_rnr, &Counters::rx_drop_no_recv_wqe},
    {"invalid-request", AckType::kNak, NakCode::kInvalidRequest, IBV_WC_SUCCESS, true,
     IBV_EVENT_QP_REQ_ERR, &Counters::naks_sent_invalid_request, &Counters::rx_drop_invalid_request},
    {"remote-access", AckType::kNak, NakCode::kRemoteAccessError, IBV_WC_SUCCESS, true,
     IBV_EVENT_QP_ACCESS_ERR, &Counters::naks_sent_remote_access, &Counters::rx_drop_remote_access},
    {"remote-operational", AckType::kNak, NakCode::kRemoteOperationalError, IBV_WC_SUCCESS, true,
     IBV_EVENT_QP_FATAL, &Counters::naks_sent_remote_operational, nullptr},
    {"recv-too-long", AckType::kNak, NakCode::kInvalidRequest, IBV_WC_LOC_LEN_ERR, true,
     IBV_EVENT_QP_REQ_ERR, &Counters::naks_sent_invalid_request, nullptr},
    {"recv-protection", AckType::kNak, NakCode::kRemoteOperationalError, IBV_WC_LOC_PROT_ERR, true,
     IBV_EVENT_QP_ACCESS_ERR, &Counters::naks_sent_remote_operational, nullptr},
};
static_assert(sizeof kRespErrors / sizeof kRespErrors[0] == size_t(RespError::kCount));

constexpr NakInfo kNakInfos[] = {
    {IBV_WC_RETRY_EXC_ERR, &Counters::naks_received_psn_sequence},  // retried, not final
    {IBV_WC_REM_INV_REQ_ERR, &Counters::naks_received_invalid_request},
    {IBV_WC_REM_ACCESS_ERR, &Counters::naks_received_remote_access},
    {IBV_WC_REM_OP_ERR, &Counters::naks_received_remote_operational},
    {IBV_WC_REM_INV_RD_REQ_ERR, &Counters::naks_received_invalid_request},
};

// IBA table 45, in nanoseconds; value 0 is the longest (655.36 ms).
constexpr uint64_t kRnrTimerNs[32] = {
    655'360'000, 10'000,     20'000,     30'000,     40'000,      60'000,      80'000,
    120'000,     160'000,    240'000,    320'000,    480'000,     640'000,     960'000,
    1'280'000,   1'920'000,  2'560'000,  3'840'000,  5'120'000,   7'680'000,   10'240'000,
    15'360'000,  20'480'000, 30'720'000, 40'960'000, 61'440'000,  81'920'000,  122'880'000,
    163'840'000, 245'760'000, 327'680'000, 491'520'000,
};

}  // namespace

const RespErrorInfo& resp_error_info(RespError e) {
  size_t i = size_t(e);
  return kRespErrors[i < size_t(RespError::kCount) ? i : 0];
}

const NakInfo& nak_info(wire::NakCode code) {
  size_t i = size_t(code);
  // Reserved codes are treated as an invalid request (IBA 9.7.5.2.2 spirit).
  return kNakInfos[i < sizeof kNakInfos / sizeof kNakInfos[0] ? i : 1];
}

uint64_t rnr_timer_ns(uint8_t value5) { return kRnrTimerNs[value5 & 31]; }

}  // namespace flexins::transport
