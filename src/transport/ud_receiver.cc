#include "transport/ud_receiver.h"

#include <cstring>

#include "pipe/lid.h"
#include "transport/qp_impl.h"
#include "transport/recv_wr.h"
#include "transport/sge_walk.h"

namespace flexins::transport {

namespace {

constexpr uint32_t kIpv4HeaderBytes = 20;
constexpr uint32_t kUdpHeaderBytes = 8;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint16_t kIpFlagDontFragment = 0x4000;

uint16_t ipv4_checksum(const uint8_t* h) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i < kIpv4HeaderBytes; i += 2) sum += uint32_t(h[i]) << 8 | h[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace

void build_grh_ipv4(uint8_t out[kGrhBytes], uint32_t src_ip, uint32_t dst_ip, uint8_t tos,
                    uint32_t udp_payload_bytes) {
  std::memset(out, 0, kGrhBytes);
  uint8_t* h = out + kGrhIpv4Offset;
  const uint32_t total = kIpv4HeaderBytes + kUdpHeaderBytes + udp_payload_bytes;
  h[0] = 0x45;  // version 4, 5 words
  h[1] = tos;
  h[2] = uint8_t(total >> 8);
  h[3] = uint8_t(total);
  // Identification 0 with DF: what the UDP backend sends (see wire/icrc.h).
  h[6] = uint8_t(kIpFlagDontFragment >> 8);
  h[7] = uint8_t(kIpFlagDontFragment);
  h[8] = kGrhIpv4Ttl;
  h[9] = kIpProtoUdp;
  std::memcpy(h + 12, &src_ip, 4);
  std::memcpy(h + 16, &dst_ip, 4);
  const uint16_t sum = ipv4_checksum(h);
  h[10] = uint8_t(sum >> 8);
  h[11] = uint8_t(sum);
}

void UdReceiver::on_packet(const wire::Packet& pkt, const RxMeta& meta) {
  Counters& counters = qp_.counters();
  const uint16_t flags = wire::opcode_info(pkt.bth.opcode).flags;
  // A UD QP takes UD SEND Only (with or without immediate), one packet of
  // at most the path MTU (IBA 9.8).
  if (wire::opcode_info(pkt.bth.opcode).transport != wire::Transport::kUd ||
      pkt.payload_len > qp_.setup.port_mtu_bytes) {
    counters.rx_drop_malformed.add();
    return;
  }
  // IBA 10.2.5 (C9-?): the DETH Q_Key must match the QP's; else silently dropped.
  if (pkt.deth.qkey != qp_.attrs.attr.qkey) {
    counters.rx_drop_bad_qkey.add();
    return;
  }
  RecvWr r;
  if (!take_recv_wr(qp_.setup, r)) {
    counters.rx_drop_no_recv_wqe.add();  // UD has no RNR: the datagram is lost
    return;
  }
  const bool imm = (flags & wire::kOpImm) != 0;
  pipe::Cqe c{};
  c.wr_id = r.wr_id;
  c.opcode = IBV_WC_RECV;
  c.qp_num = qp_.setup.qpn;
  c.src_qp = pkt.deth.src_qp & wire::kQpnMask;
  // The sender's LID, as a path without a GRH would name it (pipe/lid.h);
  // 0 if it is outside our /16. The GRH below names it in any case.
  c.slid = pipe::peer_lid(qp_.setup.local_ip, meta.src_ip);
  c.pkey_index = 0;
  c.solicited = pkt.bth.solicited ? 1 : 0;

  ibv_wc_status st = IBV_WC_SUCCESS;
  const uint64_t need = uint64_t(kGrhBytes) + pkt.payload_len;
  if (need > r.length) {
    st = IBV_WC_LOC_LEN_ERR;  // the receive buffer is too small (class D error)
  } else {
    uint8_t grh[kGrhBytes];
    const uint32_t udp_payload = uint32_t(wire::header_size(pkt.bth.opcode)) + pkt.payload_len +
                                 pkt.bth.pad_count + uint32_t(wire::kIcrcSize);
    build_grh_ipv4(grh, meta.src_ip, qp_.setup.local_ip, meta.ecn & 3, udp_payload);
    const uint8_t* src = grh;
    auto copy = [&src](uint8_t* dst, uint32_t n) {
      std::memcpy(dst, src, n);  // the RX path's one copy
      src += n;
    };
    st = walk_sges(qp_.env, r.pd, r.sge, r.num_sge, IBV_ACCESS_LOCAL_WRITE, 0, kGrhBytes, copy);
    if (st == IBV_WC_SUCCESS && pkt.payload_len > 0) {
      src = pkt.payload;
      st = walk_sges(qp_.env, r.pd, r.sge, r.num_sge, IBV_ACCESS_LOCAL_WRITE, kGrhBytes,
                     pkt.payload_len, copy);
    }
  }
  c.status = st;
  if (st != IBV_WC_SUCCESS) {
    // The receive WQE completes in error and the QP fails (IBA 10.8.3?).
    qp_.push_cqe(qp_.setup.recv_cq, c);
    qp_.enter_error(false, IBV_EVENT_QP_FATAL);
    return;
  }
  c.byte_len = uint32_t(need);
  c.wc_flags = IBV_WC_GRH | (imm ? IBV_WC_WITH_IMM : 0);
  c.imm_data = imm ? pkt.imm_data : 0;
  qp_.push_cqe(qp_.setup.recv_cq, c);
}

}  // namespace flexins::transport
