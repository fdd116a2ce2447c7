// QP state machine and ibv_modify_qp attribute validation (IBA 10.3, 11.2.5;
// rdma-core's ibv_modify_qp(3) table of required and optional attributes).
// Pure functions over the attributes: the side effects of a transition
// (flushing, resetting the engines) are the QP's (qp.cc).
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

namespace flexins::transport {

// What a QP currently holds: ibv_qp_attr as ibv_query_qp reports it, plus the
// values derived from it that the data path uses.
struct QpAttrs {
  ibv_qp_attr attr{};
  uint32_t mtu_bytes = 0;  // from attr.path_mtu
  uint32_t dest_ip = 0;    // network byte order, where ah_attr leads (path_destination)
};

const char* qp_state_name(ibv_qp_state s);

// 256 << (mtu - 1) for IBV_MTU_256..IBV_MTU_4096; 0 otherwise.
uint32_t mtu_bytes(ibv_mtu mtu);

// RoCEv2 GIDs of IPv4 addresses are IPv4-mapped IPv6 (::ffff:a.b.c.d).
// true and the address (network byte order) if `gid` is one.
bool ipv4_from_gid(const ibv_gid& gid, uint32_t& ip_net);

// Where a path leads (the address vector of ibv_create_ah, or a QP's
// IBV_QP_AV) from a device at LOCAL_IP: with a GRH (is_global), to the
// address in its RoCEv2 GID, from our one GID (sgid_index 0); without a
// GRH, to the DLID's host under FlexiNS's LID rule (pipe/lid.h). true and
// DEST_IP if it leads somewhere; false for EINVAL. Addresses are in network
// byte order. The port number is left to the caller.
bool path_destination(const ibv_ah_attr& ah, uint32_t local_ip, uint32_t& dest_ip);

// Checks a modify request against the QP's type and current state:
// the transition must be legal, every required attribute present, no
// attribute outside required|optional, every value in range, and a path
// (IBV_QP_AV) must lead somewhere from LOCAL_IP (path_destination).
// Returns 0 and the next state, or EINVAL.
int validate_modify(ibv_qp_type type, ibv_qp_state current, const ibv_qp_attr& attr, int attr_mask,
                    uint32_t local_ip, ibv_qp_state& next);

// Copies the attributes named in attr_mask into `attrs` (after validate).
void apply_modify(QpAttrs& attrs, const ibv_qp_attr& attr, int attr_mask, uint32_t local_ip);

// The retransmit timeout in ns for an IBA-encoded `timeout` (1..31); 0 means
// infinite and returns 0. Floors at kMinRetransmitTimeoutNs.
uint64_t retransmit_timeout_ns(uint8_t timeout);

}  // namespace flexins::transport
