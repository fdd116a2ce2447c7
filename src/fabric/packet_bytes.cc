#include "fabric/packet_bytes.h"

#include "wire/icrc.h"

namespace flexins::fabric {

void udp_payload_of(const transport::OutPacket& pkt, uint32_t src_ip, std::vector<uint8_t>& out) {
  out.assign(pkt.hdr, pkt.hdr + pkt.hdr_len);
  for (uint32_t i = 0; i < pkt.iov_count; ++i) {
    const auto* p = static_cast<const uint8_t*>(pkt.payload[i].iov_base);
    out.insert(out.end(), p, p + pkt.payload[i].iov_len);
  }
  out.resize(out.size() + pkt.pad, 0);
  wire::IcrcIpInfo ip;
  ip.src_ip = src_ip;
  ip.dst_ip = pkt.dst_ip;
  ip.src_port = pkt.src_port;
  const iovec whole{out.data(), out.size()};
  const uint32_t icrc = wire::icrc_compute(ip, std::span<const iovec>(&whole, 1));
  out.resize(out.size() + wire::kIcrcSize);
  wire::icrc_store(icrc, out.data() + out.size() - wire::kIcrcSize);
}

}  // namespace flexins::fabric
