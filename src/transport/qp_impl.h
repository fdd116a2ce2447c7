// The inside of a Qp: state shared by the requester, responder and
// completer, and the QP-wide actions (completions, the error state,
// putting a packet on the wire). Only transport/*.cc include this.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

#include "transport/completer.h"
#include "transport/congestion.h"
#include "transport/qp.h"
#include "transport/qp_state.h"
#include "transport/requester.h"
#include "transport/responder.h"
#include "transport/selective_repeat.h"
#include "transport/send_wr.h"
#include "transport/ud_receiver.h"
#include "transport/ud_sender.h"

namespace flexins::transport {

struct Qp::Impl {
  Impl(Env& e, const QpSetup& s);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Env& env;
  QpSetup setup;
  QpAttrs attrs;
  ibv_qp_state state = IBV_QPS_RESET;
  bool comm_established = false;  // IBV_EVENT_COMM_EST raised
  SendQueue sq;
  OutPacket out;  // scratch: one packet being built
  Requester requester;
  Responder responder;
  Completer completer;
  Congestion cc;  // RC only: policy, pacer, CNPs
  // RC only: go-back-N or selective repeat (selective_repeat.h), for both
  // halves of the QP; `sr` is the requester's side of selective repeat,
  // active while lr is kSelectiveRepeat.
  LossRecoveryMode lr = LossRecoveryMode::kGoBackN;
  SrSender sr;
  QpStats stats;
  UdSender ud_sender;      // UD QPs only
  UdReceiver ud_receiver;  // UD QPs only

  Counters& counters() { return env.counters(); }
  uint32_t mtu() const { return attrs.mtu_bytes; }
  bool is_ud() const { return setup.type == IBV_QPT_UD; }
  bool is_uc() const { return setup.type == IBV_QPT_UC; }
  bool selective_repeat() const { return lr == LossRecoveryMode::kSelectiveRepeat; }

  int modify(const ibv_qp_attr& attr, int attr_mask);
  void set_state(ibv_qp_state s);
  void on_packet(const wire::Packet& pkt, const RxMeta& meta);
  // RC: packets sent and not yet acknowledged (READ response PSNs count).
  uint32_t inflight_packets() const;
  // What the worker's window pool counts for this QP (window_pool.h), and
  // bringing it up to date: after every call into the QP, and 0 when the
  // QP goes.
  uint32_t window_claim = 0;
  void sync_window_claim();

  // ---- completions
  bool signaled(const SendWr& w) const;
  // Complete the WQE at the head of the send queue and retire its slot.
  void complete_send_head(ibv_wc_status status);
  // Push to a CQ; an overflow fails the QP (IBA 11.4.2.1: CQ overrun).
  bool push_cqe(CompletionQueue* cq, const pipe::Cqe& cqe);

  // ---- the error state (IBA 10.3.1, 11.6.3)
  // Move to ERR (no-op if already there), raise `event` if given, and flush
  // every outstanding and posted WQE with IBV_WC_WR_FLUSH_ERR.
  void enter_error(bool raise_event, ibv_event_type event);
  void flush_send_queue();
  void flush_recv_queue();
  void discard_queues();  // RESET: posted WQEs vanish without completions

  // ---- transmit: begin_packet(), add_payload() slices, send_packet().
  // (tx/rx packet and byte counters are the engine's I/O stage's to count.)
  void begin_packet() { out.iov_count = 0; }
  bool add_payload(const uint8_t* p, uint32_t len);
  // To the connected peer (RC) ...
  void send_packet(wire::Packet& p, uint32_t payload_len);
  // An Acknowledge with a SACK block after its AETH (wire/sack.h).
  void send_packet_with_sack(wire::Packet& p, const wire::SackBlock& sack);
  // Start (the QP is in RTS) or stop the requester's selective repeat.
  void set_loss_recovery(LossRecoveryMode mode);
  // ... or to any address and QPN (UD).
  void send_packet_to(wire::Packet& p, uint32_t payload_len, uint32_t dst_ip, uint32_t dest_qpn);
  // A RoCEv2 CNP to the peer's QP (annex A17.9.2).
  void send_cnp();
  // Bytes of the packet just built in `out`, as the wire carries them from
  // the BTH to the ICRC.
  uint32_t out_wire_bytes() const { return out.hdr_len + out.payload_len + out.pad + uint32_t(wire::kIcrcSize); }
};

}  // namespace flexins::transport
