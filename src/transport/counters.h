// Engine counters. Each worker owns one Counters and is its only writer;
// `flexins stat` reads them from another thread, hence relaxed atomics that
// are loaded and stored (no locked read-modify-write on the data path).
#pragma once

#include <atomic>
#include <cstdint>

namespace flexins::transport {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// X(name): one line per counter, in the order `flexins stat` prints them.
// app_kicks counts the eventfd writes by which applications woke a sleeping
// or idle worker (engine/worker.h): the system calls of the doorbell pipe.
// tx_window_waits counts the times a QP had to wait in line for room in
// its worker's window pool (transport/window_pool.h).
// rx_drop_* count packets. UC has no NAKs, so a UC responder counts what RC
// would NAK: rx_drop_out_of_sequence (lost packets before it, or the rest
// of a message already dropped), rx_drop_no_recv_wqe, rx_drop_invalid_request
// (opcode sequence, length), rx_drop_remote_access (R_Key, bounds, access
// flags; a bad key also counts in rx_drop_bad_key), duplicate_requests
// (packets just behind the expected PSN); and uc_messages_dropped counts the
// messages so dropped (a receive WQE a dropped SEND had begun to fill stays
// posted for the next one).
// Selective repeat (transport/selective_repeat.h): selective_retransmits
// counts the packets resent from a SACK's or a timeout's plan (also in
// retransmitted_packets); sacks_sent / sacks_received the SACKs (sequence
// NAKs with a SACK block; naks_*_psn_sequence count only plain ones);
// sr_placed_out_of_order the SR packets placed ahead of the expected PSN;
// rx_drop_sr_deferred those that failed a check there (dropped, to be NAKed
// when they arrive in order).
#define FLEXINS_COUNTERS(X)        \
  X(tx_packets)                    \
  X(tx_bytes)                      \
  X(rx_packets)                    \
  X(rx_bytes)                      \
  X(tx_payload_bytes_copied)       \
  X(tx_gso_segments)               \
  X(rx_gro_segments)               \
  X(app_kicks)                     \
  X(tx_window_waits)               \
  X(tx_errors)                     \
  X(retransmitted_packets)         \
  X(retransmit_timeouts)           \
  X(selective_retransmits)         \
  X(sacks_sent)                    \
  X(sacks_received)                \
  X(sr_placed_out_of_order)        \
  X(rx_drop_sr_deferred)           \
  X(acks_sent)                     \
  X(acks_received)                 \
  X(naks_sent_psn_sequence)        \
  X(naks_sent_rnr)                 \
  X(naks_sent_invalid_request)     \
  X(naks_sent_remote_access)       \
  X(naks_sent_remote_operational)  \
  X(naks_received_psn_sequence)    \
  X(naks_received_rnr)             \
  X(naks_received_invalid_request) \
  X(naks_received_remote_access)   \
  X(naks_received_remote_operational) \
  X(duplicate_requests)            \
  X(read_responses_replayed)       \
  X(tombstone_acks)                \
  X(rx_ecn_ce)                     \
  X(cnps_sent)                     \
  X(cnps_received)                 \
  X(cc_changes)                    \
  X(rx_drop_bad_icrc)              \
  X(rx_drop_unknown_qp)            \
  X(rx_drop_malformed)             \
  X(rx_drop_bad_key)               \
  X(rx_drop_misaddressed)          \
  X(rx_drop_qp_state)              \
  X(rx_drop_out_of_sequence)       \
  X(rx_drop_ghost_response)        \
  X(rx_drop_bad_qkey)              \
  X(rx_drop_no_recv_wqe)           \
  X(rx_drop_invalid_request)       \
  X(rx_drop_remote_access)         \
  X(uc_messages_dropped)           \
  X(cq_overflows)                  \
  X(qp_errors)                     \
  X(completions)                   \
  X(completions_error)

struct Counters {
#define FLEXINS_DECLARE_COUNTER(name) Counter name;
  FLEXINS_COUNTERS(FLEXINS_DECLARE_COUNTER)
#undef FLEXINS_DECLARE_COUNTER
};

}  // namespace flexins::transport
