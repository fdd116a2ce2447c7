#include "transport/ud_sender.h"

#include <cstring>

#include "transport/qp_impl.h"
#include "transport/sge_walk.h"

namespace flexins::transport {


namespace {

// A Q_Key with its high bit set in a send WR means "use the QP's own
// Q_Key" (IBA 10.2.4.? / C10-15?: controlled Q_Keys).
constexpr uint32_t kQkeyUseQpBit = 0x80000000u;

}  // namespace

ibv_wc_status UdSender::copy_in(SendWr& w, const uint8_t* slot, uint32_t slot_size) const {
  pipe::SendWqe wqe;
  std::memcpy(&wqe, slot, sizeof wqe);
  w.wr_id = wqe.wr_id;
  w.opcode = ibv_wr_opcode(wqe.opcode);
  w.send_flags = wqe.send_flags;
  w.imm_data = wqe.imm_data;
  w.num_sge = 0;
  w.length = 0;
  w.is_inline = false;
  w.started = false;
  w.first_psn = w.npkts = w.resp_pkts = 0;
  w.ud_dest_ip = 0;
  w.ud_dest_qpn = wqe.remote_qpn & wire::kQpnMask;
  w.ud_qkey = (wqe.remote_qkey & kQkeyUseQpBit) ? qp_.attrs.attr.qkey : wqe.remote_qkey;

  // IBA 9.8 / ch. 10: a UD QP offers SEND and SEND with immediate only.
  if (w.opcode != IBV_WR_SEND && w.opcode != IBV_WR_SEND_WITH_IMM) return IBV_WC_LOC_QP_OP_ERR;
  // The AH must exist in the QP's context and share its PD (IBA 10.2.2?).
  const AddressHandle* ah = qp_.env.address_handle(qp_.setup.qpn, wqe.ah);
  if (ah == nullptr || ah->pd != qp_.setup.pd) return IBV_WC_LOC_QP_OP_ERR;
  w.ud_dest_ip = ah->dest_ip;

  return copy_send_payload(wqe, slot, slot_size, qp_.setup.cap, w);
}

ibv_wc_status UdSender::validate(const SendWr& w) const {
  // A UD message is one packet: at most the port's MTU (IBA 9.8?).
  if (w.length > qp_.setup.port_mtu_bytes) return IBV_WC_LOC_LEN_ERR;
  if (w.is_inline) return IBV_WC_SUCCESS;
  return walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, 0, 0, w.length,
                   [](uint8_t*, uint32_t) {});
}

void UdSender::fetch() {
  pipe::WqConsumer& ring = qp_.setup.sq;
  if (!ring.valid()) return;
  while (ring.pending() > 0) {
    SendWr& w = qp_.sq.at(qp_.sq.fetched);
    const uint8_t* slot = ring.fetch();
    ibv_wc_status st = copy_in(w, slot, ring.slot_size());
    if (st == IBV_WC_SUCCESS) st = validate(w);
    w.bad_status = st;
    ++qp_.sq.fetched;
  }
}

bool UdSender::can_send() const { return qp_.state == IBV_QPS_RTS && !qp_.sq.empty(); }

bool UdSender::send(const SendWr& w) {
  using namespace wire;
  const bool imm = w.opcode == IBV_WR_SEND_WITH_IMM;
  Packet p;
  p.bth.opcode = imm ? kUdSendOnlyImm : kUdSendOnly;
  p.bth.solicited = (w.send_flags & IBV_SEND_SOLICITED) != 0;
  p.bth.psn = psn_;
  p.deth = Deth{w.ud_qkey, qp_.setup.qpn};
  if (imm) p.imm_data = w.imm_data;
  qp_.begin_packet();
  bool ok = true;
  if (w.is_inline) {
    ok = qp_.add_payload(w.inline_data.data(), w.length);
  } else {
    ibv_wc_status st = walk_sges(qp_.env, qp_.setup.pd, w.sge, w.num_sge, 0, 0, w.length,
                                 [&](uint8_t* ptr, uint32_t n) { ok = ok && qp_.add_payload(ptr, n); });
    ok = ok && st == IBV_WC_SUCCESS;
  }
  if (!ok) return false;  // the region went away after fetch
  qp_.send_packet_to(p, w.length, w.ud_dest_ip, w.ud_dest_qpn);
  psn_ = psn_add(psn_, 1);
  return true;
}

uint32_t UdSender::transmit(uint32_t budget) {
  SendQueue& sq = qp_.sq;
  uint32_t sent = 0;
  ibv_wc_status failed = IBV_WC_SUCCESS;
  uint32_t index = sq.head;
  while (sent < budget && index != sq.fetched) {
    SendWr& w = sq.at(index);
    if (w.bad_status != IBV_WC_SUCCESS) {
      failed = w.bad_status;
      break;
    }
    if (!send(w)) {
      qp_.counters().tx_errors.add();
      failed = w.bad_status = IBV_WC_LOC_PROT_ERR;
      break;
    }
    ++index;
    ++sent;
  }
  // The payload iovecs point into the host's buffers: they must be on the
  // wire before the completions tell the host it may reuse them.
  if (sent > 0) qp_.env.flush();
  for (uint32_t i = 0; i < sent && qp_.state == IBV_QPS_RTS; ++i)
    qp_.complete_send_head(IBV_WC_SUCCESS);
  if (failed != IBV_WC_SUCCESS && qp_.state == IBV_QPS_RTS) {
    // In order (IBA 10.8.3), then the QP fails; an error reported through a
    // completion raises no async event (IBA 11.6.2).
    qp_.complete_send_head(failed);
    qp_.enter_error(false, IBV_EVENT_QP_FATAL);
  }
  return sent;
}

}  // namespace flexins::transport
