// UD send side (IBA 9.8): every send WQE becomes one UD SEND Only packet
// with a DETH (Q_Key, source QPN) to the address its AH names, and the
// destination QPN the WQE names. No ACKs, no retransmission: a WQE completes
// as soon as its packet has been handed to the wire (Env::flush), in
// posting order. Payload leaves as slices of registered memory (header-only
// TX, DESIGN.md (a)); inline data leaves from the engine's WQE copy.
#pragma once

#include <cstdint>

#include "transport/qp.h"
#include "transport/send_wr.h"

namespace flexins::transport {

class UdSender {
 public:
  explicit UdSender(Qp::Impl& qp) : qp_(qp) {}

  void reset() { psn_ = 0; }
  // RTR → RTS: the first datagram carries sq_psn.
  void start(uint32_t sq_psn) { psn_ = sq_psn & wire::kPsnMask; }
  // Copy every newly posted WQE into the engine: validated, its AH resolved.
  void fetch();
  // A fetched WQE waits to be sent (or to complete in error).
  bool can_send() const;
  // Send up to `budget` datagrams and complete them; returns how many were sent.
  uint32_t transmit(uint32_t budget);

 private:
  ibv_wc_status copy_in(SendWr& w, const uint8_t* slot, uint32_t slot_size) const;
  ibv_wc_status validate(const SendWr& w) const;
  bool send(const SendWr& w);

  Qp::Impl& qp_;
  uint32_t psn_ = 0;  // UD packets carry a PSN; the receiver does not check it
};

}  // namespace flexins::transport
