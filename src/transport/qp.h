// A queue pair in the engine: the transport's public face. The worker that
// owns the QP is the only thread that calls it.
//
// Inside, the RC transport is split the way IBA chapter 9 splits it:
//   requester  (requester.*)  walks the send queue, segments WRs at the path
//                             MTU into request packets, assigns PSNs;
//   responder  (responder.*)  validates incoming requests, places data,
//                             answers with coalesced ACKs / NAKs / READ
//                             responses / atomic ACKs, RNR;
//   completer  (completer.*)  matches ACKs and responses to WQEs, writes
//                             completions, retransmits on timeout or NAK,
//                             counts retry_cnt / rnr_retry, fails the QP.
// A UC QP uses the same requester and responder with UC branches (look for
// is_uc()): no ACKs, no retransmission, no completer; a send WQE completes
// once its last packet has left, and the responder drops a message that
// lost a packet and resynchronises on the next First/Only packet.
// A UD QP (IBA 9.8) uses ud_sender.* (one datagram per WQE, completed once
// on the wire) and ud_receiver.* (Q_Key check, GRH + payload) instead.
// A QP created with an SRQ takes its receive WQEs from it (ring_srq.*).
// State transitions and attribute validation are in qp_state.*.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cc/congestion_control.h"
#include "pipe/rings.h"
#include "transport/env.h"
#include "transport/selective_repeat.h"
#include "transport/tombstone.h"
#include "wire/packet.h"

namespace flexins::transport {

// Everything a QP is created with (ibv_create_qp), resolved by the engine.
struct QpSetup {
  uint32_t qpn = 0;
  ibv_qp_type type = IBV_QPT_RC;
  uint32_t pd = 0;
  bool sq_sig_all = false;
  ibv_qp_cap cap{};
  pipe::QpShm* shm = nullptr;  // state mirror for the host (may be null in tests)
  pipe::WqConsumer sq;
  pipe::WqConsumer rq;                 // !valid() when srq is set
  SharedReceiveQueue* srq = nullptr;
  CompletionQueue* send_cq = nullptr;
  CompletionQueue* recv_cq = nullptr;
  uint32_t local_ip = 0;   // network byte order: this device's address
  uint16_t src_port = 0;   // UDP source port for this QP's packets
  // UD: the largest message, the port's active MTU (IBA 9.8: a UD message
  // is one packet).
  uint32_t port_mtu_bytes = 4096;
};

// Where a received packet came from (the UDP/IP layer below the BTH).
struct RxMeta {
  uint32_t src_ip = 0;  // network byte order
  uint16_t src_port = 0;
  uint8_t ecn = 0;  // IP ECN bits, when the backend can see them
};

// Per-QP counters (the worker's Counters add up all QPs): what `flexins qp
// list` shows beside each QP. Written and read on the owning worker thread.
struct QpStats {
  uint64_t tx_packets = 0;             // everything this QP sent, replies included
  uint64_t tx_bytes = 0;               // their RoCEv2 bytes (BTH .. ICRC)
  uint64_t rx_packets = 0;             // packets handed to this QP
  uint64_t retransmitted_packets = 0;  // requests sent again
  uint64_t retransmit_timeouts = 0;
  uint64_t naks_received_psn_sequence = 0;
  uint64_t selective_retransmits = 0;  // of retransmitted_packets: resent from a SACK or timeout plan
  uint64_t sacks_sent = 0;
  uint64_t sacks_received = 0;
  uint64_t rx_ecn_ce = 0;    // requests that arrived ECN-CE marked
  uint64_t cnps_sent = 0;    // notification point
  uint64_t cnps_received = 0;  // reaction point
};

// One QP as `flexins qp list` shows it.
struct QpInfo {
  uint32_t qpn = 0;
  ibv_qp_type type = IBV_QPT_RC;
  ibv_qp_state state = IBV_QPS_RESET;
  uint32_t dest_ip = 0;  // network byte order; 0: not connected (or UD)
  uint32_t dest_qpn = 0;
  uint32_t mtu_bytes = 0;
  std::string cc;  // the congestion-control policy, "" for none
  std::string lr;  // the loss-recovery mode (RC: go_back_n / selective_repeat), "" for UC and UD
  std::vector<cc::ParamInfo> cc_params;
  uint64_t cc_rate_bps = cc::kUnpaced;
  uint64_t cc_window_bytes = cc::kUnlimitedWindow;
  uint32_t inflight_packets = 0;
  uint64_t last_rtt_ns = 0;  // 0: no sample yet
  QpStats stats;
};

class Qp {
 public:
  Qp(Env& env, const QpSetup& setup);
  ~Qp();
  Qp(const Qp&) = delete;
  Qp& operator=(const Qp&) = delete;

  uint32_t qpn() const;
  ibv_qp_state state() const;

  // ibv_modify_qp: 0, or the errno the verbs give (EINVAL for a bad
  // transition, a missing required attribute or an out-of-range value).
  int modify(const ibv_qp_attr& attr, int attr_mask);
  void query(ibv_qp_attr& attr, ibv_qp_init_attr& init_attr) const;

  // The host posted new WQEs (or, in the error state, anything to flush).
  void on_doorbell();
  // A parsed, ICRC-checked packet whose BTH DestQP is this QP.
  void on_packet(const wire::Packet& pkt, const RxMeta& meta);
  // Transmit what the window and the budget allow, and run expired timers.
  // Returns the number of packets transmitted.
  uint32_t poll(uint64_t now_ns, uint32_t budget);
  // Whether poll() has packets to send right now.
  bool has_tx_work() const;
  // RC: it has a packet to send that only the worker's window pool holds
  // back (window_pool.h); the worker polls it again when the pool has room.
  bool waits_for_window_pool() const;
  // When poll() must run next for a timer (monotonic ns); UINT64_MAX: never.
  uint64_t next_deadline() const;
  // Run-time control: replace this RC QP's congestion-control policy
  // (nullptr: none). False for a QP type without congestion control (UD).
  bool set_congestion_control(std::unique_ptr<cc::CongestionControl> policy);
  // Set parameters of the current policy ("key=value,..."); an error
  // message if there is no policy or a setting is refused (the ones before
  // it stay applied: check them on a fresh policy first).
  std::optional<std::string> set_congestion_params(std::string_view assignments);
  // Run-time control: this RC QP's loss recovery from now on (each WQE keeps
  // the mode it started with; selective_repeat.h). False for UC and UD.
  bool set_loss_recovery(LossRecoveryMode mode);
  QpInfo info() const;

  // For destroy: the tombstone that keeps acknowledging duplicates (see
  // tombstone.h). False if the QP never connected.
  bool tombstone(Tombstone& out) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace flexins::transport
