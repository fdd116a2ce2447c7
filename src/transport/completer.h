// RC completer (IBA 9.7.5.3, 9.7.6): matches ACKs, NAKs, READ responses and
// atomic ACKs to outstanding WQEs, places READ / atomic results, writes send
// completions in order, and decides retransmissions: the local ACK timeout
// (retry_cnt), PSN sequence NAKs (go-back-N), RNR NAKs (rnr_retry), and in
// selective-repeat mode SACKs and timeouts through the policy
// (selective_repeat.h).
#pragma once

#include <cstdint>

#include "transport/qp.h"
#include "transport/send_wr.h"
#include "wire/sack.h"

namespace flexins::transport {

class Completer {
 public:
  // The completer's explicit states (rxe style), with a name table for traces.
  enum class State : uint8_t {
    kCheckPsn,      // is the response for something outstanding?
    kImplicitAck,   // a response for PSN p acknowledges every request before p
    kDispatch,      // by response kind
    kAck,           // plain ACK: complete WQEs it covers
    kReadResponse,  // place READ data, complete the READ at its last packet
    kAtomicAck,     // place the original value, complete the atomic
    kRnrNak,        // wait the peer's RNR timer, then resend
    kSequenceNak,   // go-back-N from the NAK's PSN
    kSack,          // selective repeat: resend what the SACK says is missing
    kFatalNak,      // invalid request / remote access / remote operational
    kRetry,         // rewind to retry_psn_, using up retry_cnt
    kGhost,         // duplicate or unexpected: drop, count
    kDone,
    kCount,
  };
  static const char* state_name(State s);

  explicit Completer(Qp::Impl& qp) : qp_(qp) {}

  void reset();
  void start(uint32_t sq_psn);
  void on_response(const wire::Packet& pkt, uint64_t now_ns);
  // The requester put a packet on the wire: start the timer if it was idle.
  void on_sent(uint64_t now_ns);
  void on_timer(uint64_t now_ns);
  // When on_timer must run next (UINT64_MAX: nothing armed).
  uint64_t deadline() const;
  bool rnr_waiting() const { return rnr_wait_; }
  uint32_t una() const { return una_; }  // oldest unacknowledged PSN
  // Complete WQEs at the head that fail validation (in order, IBA 10.8.3).
  void complete_ready();

 private:
  struct Ctx {
    const wire::Packet* pkt = nullptr;
    uint32_t psn = 0;
    uint64_t now_ns = 0;
  };
  State check_psn(Ctx& c);
  State implicit_ack(Ctx& c);
  State dispatch(Ctx& c);
  State on_ack(Ctx& c);
  State on_read_response(Ctx& c);
  State on_atomic_ack(Ctx& c);
  State on_rnr_nak(Ctx& c);
  State on_sequence_nak(Ctx& c);
  State on_sack(Ctx& c);
  State on_fatal_nak(Ctx& c);
  State retry(Ctx& c);

  // Complete the head WQE successfully / with an error (then the QP fails).
  void complete_head_ok();
  void fail_head(ibv_wc_status status);
  void advance_una(uint32_t acked_through_psn, uint64_t now_ns);
  void progress(uint64_t now_ns);
  // Packets sent and not yet acknowledged (what the timer times).
  bool in_flight() const;
  uint64_t timeout_ns() const;

  Qp::Impl& qp_;
  uint32_t una_ = 0;
  uint8_t retry_left_ = 0;
  uint8_t rnr_retry_left_ = 0;
  bool timer_armed_ = false;
  uint64_t timer_start_ns_ = 0;
  // RNR wait (IBA 9.7.5.2.8): nothing is sent until rnr_deadline_ns_.
  bool rnr_wait_ = false;
  uint64_t rnr_deadline_ns_ = 0;
  uint32_t rnr_psn_ = 0;
  // Set when we rewound to retry_psn_ and have made no progress since, so
  // that a duplicate NAK or the tail of an already-lost burst does not make
  // us rewind (and use up retry_cnt) again.
  bool rewound_ = false;
  uint32_t rewound_psn_ = 0;
  uint32_t retry_psn_ = 0;  // where kRetry rewinds to
  // Selective repeat: a loss episode lasts until una passes recovery_psn_
  // (the last PSN sent when it began); congestion control hears of each
  // episode once, however many SACKs it brings.
  bool in_episode_ = false;
  uint32_t recovery_psn_ = 0;
  wire::SackBlock sack_;  // scratch: the block of the SACK being handled
};

}  // namespace flexins::transport
