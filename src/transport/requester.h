// RC requester (IBA 9.7.1–9.7.4): copies posted send WQEs out of the SQ,
// validates them, segments each message at the path MTU into request
// packets with consecutive PSNs, and transmits what the window allows.
// Payload leaves as slices of registered memory (header-only TX, DESIGN.md
// (a)); inline data leaves from the engine's WQE copy.
//
// In selective-repeat mode (selective_repeat.h) it also serves a retransmit
// queue of PSNs, before new packets, and sends multi-packet RDMA WRITEs as
// one WRITE Only per packet.
//
// The UC requester is this one too: segmentation and PSNs are the same, but
// UC offers only SEND and RDMA WRITE, nothing is acknowledged or resent, so
// there is no window, and a WQE completes as soon as its last packet has
// left (complete_sent_uc).
#pragma once

#include <cstdint>

#include "transport/qp.h"
#include "transport/send_wr.h"

namespace flexins::transport {

class Requester {
 public:
  explicit Requester(Qp::Impl& qp) : qp_(qp) {}

  void reset();
  // RTR → RTS: the first request carries sq_psn.
  void start(uint32_t sq_psn);
  // Copy every newly posted WQE into the engine (validated; a bad one is
  // marked and completes in error when it reaches the head of the queue).
  void fetch();
  // A packet can go out (window, congestion window, RNR wait, READ/atomic
  // credits, fence), pacing aside: transmit() also waits for the pacer.
  bool can_send() const;
  // Most PSNs this QP may have outstanding now: kMaxOutstandingPackets or
  // the congestion window, whichever is smaller. The worker's pool
  // (window_pool.h) may hold it to less.
  uint32_t window_packets() const;
  // It has a packet to send that only the worker's pool holds back.
  bool waits_for_pool() const;
  // RC: the packets the worker's pool counts for this QP: those in flight,
  // and the rest of a message it reserved (window_pool.h).
  uint32_t pool_claim() const;
  // Send up to `budget` packets; returns how many were sent.
  uint32_t transmit(uint32_t budget, uint64_t now_ns);
  // Go-back-N: the next packet sent is the one with this PSN (IBA 9.7.4.1.3).
  // A selective-repeat retransmit queue is emptied: the walk resends it all.
  void rewind(uint32_t psn);
  // A READ/atomic WQE completed (or was flushed): one more may be issued.
  void on_rd_atomic_done();

  uint32_t next_psn() const { return next_psn_; }          // for the next new WQE
  uint32_t max_sent_psn() const { return max_sent_psn_; }  // last PSN used by a sent packet
  bool sent_any() const { return sent_any_; }

 private:
  ibv_wc_status copy_in(SendWr& w, const uint8_t* slot, uint32_t slot_size) const;
  ibv_wc_status validate(const SendWr& w) const;
  void start_wqe(SendWr& w);
  // The packet at cur_psn_ (new, or go-back-N walking over old PSNs).
  void send_one(SendWr& w, uint64_t now_ns);
  // Selective repeat: the first PSN of the retransmit queue (SrSender) that
  // is still in flight; false if the queue held none.
  bool send_retransmit(uint64_t now_ns);
  // Go-back-N: an ACK that passed the PSN the walk is at (the first
  // transmission arrived after all) moves the walk up to it.
  void skip_acknowledged();
  // The walk continues at psn: in the started WQE that holds it, or, if
  // none does (all acknowledged), with the next new WQE.
  void walk_from(uint32_t psn);
  // Build and send w's packet with this PSN. `from_queue`: a selective
  // resend, which asks for an ACK if `ask` (the last one queued).
  void send_send_or_write(SendWr& w, uint32_t psn, uint64_t now_ns, bool from_queue, bool ask);
  void send_read_request(SendWr& w, uint32_t psn);
  void send_atomic(SendWr& w, uint32_t psn);
  // The window lets the packet at `psn`, of the message that ends before
  // `msg_end`, go: the QP's own window, then the worker's pool, in which
  // each message reserves the rest of itself as it starts (within the fair
  // share always, beyond it if there is room). take_window() also makes
  // that reservation.
  bool window_allows(uint32_t psn, uint32_t msg_end) const;
  bool take_window(uint32_t psn, uint32_t msg_end);
  // The PSN after the last one the pool counts for this QP.
  uint32_t claim_end() const;
  // The PSN after the message the packet at cur_psn_ belongs to.
  uint32_t message_end() const;
  // The started, unfinished WQE whose PSNs hold psn; nullptr if none.
  SendWr* started_wqe(uint32_t psn);
  // Put w's bytes [offset, offset + len) into the packet being built; a
  // local error status if they cannot be.
  ibv_wc_status gather(const SendWr& w, uint64_t offset, uint32_t len);
  // UC: put what was sent on the wire, then complete every WQE whose last
  // packet went with it.
  void complete_sent_uc();

  Qp::Impl& qp_;
  uint32_t send_index_ = 0;   // SQ index of the WQE being transmitted
  uint32_t cur_psn_ = 0;      // PSN of the next packet to transmit
  uint32_t next_psn_ = 0;     // first PSN of the next WQE to start
  uint32_t max_sent_psn_ = 0;
  bool sent_any_ = false;
  uint32_t rd_atomic_outstanding_ = 0;  // ≤ max_rd_atomic (IBA C9-?: initiator depth)
  uint32_t pkts_since_ack_req_ = 0;
  bool last_ack_req_ = false;  // the packet just sent carried AckReq
  uint32_t wqe_hint_ = 0;      // SQ index where started_wqe() looks first
  // The message under way holds the pool up to this PSN (take_window).
  bool reserved_ = false;
  uint32_t reserved_end_ = 0;
};

}  // namespace flexins::transport
