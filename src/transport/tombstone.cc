#include "transport/tombstone.h"

#include "pipe/device_caps.h"
#include "wire/opcodes.h"

namespace flexins::transport {

bool tombstone_answer(Env& env, const Tombstone& t, const wire::Packet& request, uint32_t src_ip) {
  const wire::OpcodeInfo& info = wire::opcode_info(request.bth.opcode);
  if (info.transport != wire::Transport::kRc || !(info.flags & wire::kOpRequest) || src_ip != t.dest_ip) return false;
  if (info.flags & (wire::kOpRead | wire::kOpAtomic)) return false;  // nothing left to replay
  if (wire::psn_diff(request.bth.psn, t.epsn) >= 0) return false;     // never executed
  // A coalesced ACK for everything the QP received (IBA 9.7.5.1.2).
  wire::Packet ack;
  ack.bth.opcode = wire::kRcAcknowledge;
  ack.bth.dest_qp = t.dest_qpn;
  ack.bth.pkey = pipe::DeviceCaps::kDefaultPkey;
  ack.bth.psn = wire::psn_add(t.epsn, wire::kPsnMask);  // epsn - 1
  ack.aeth = wire::Aeth{wire::make_syndrome(wire::AckType::kAck, wire::kCreditInvalid), t.msn & wire::kPsnMask};
  OutPacket out;
  out.hdr_len = uint8_t(wire::build(ack, out.hdr));
  out.dst_ip = t.dest_ip;
  out.src_port = t.src_port;
  env.transmit(out);
  env.counters().tombstone_acks.add();
  return true;
}

}  // namespace flexins::transport
