#include "transport/qp_state.h"

#include <cerrno>
#include <cstring>

#include "pipe/device_caps.h"
#include "pipe/lid.h"
#include "transport/constants.h"

namespace flexins::transport {
namespace {

using pipe::DeviceCaps;

// Index of a QP type in the transition table.
enum TypeIndex { kRc = 0, kUc = 1, kUd = 2, kTypeCount = 3 };

struct Transition {
  ibv_qp_state from;
  ibv_qp_state to;
  int required[kTypeCount];  // besides IBV_QP_STATE
  int optional[kTypeCount];
};

constexpr int kRtrRequiredRc = IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                               IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
constexpr int kRtrRequiredUc = IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
constexpr int kRtsRequiredRc =
    IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
constexpr int kInitAttrs = IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
constexpr int kInitAttrsUd = IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY;

// The legal transitions (IBA 10.3.1 figure 124, minus SQD/SQE which FlexiNS
// does not implement) with their attributes, as ibv_modify_qp(3) lists them.
// Any state may go to RESET or ERR with IBV_QP_STATE alone (handled apart).
constexpr Transition kTransitions[] = {
    {IBV_QPS_RESET, IBV_QPS_INIT, {kInitAttrs, kInitAttrs, kInitAttrsUd}, {0, 0, 0}},
    {IBV_QPS_INIT, IBV_QPS_INIT, {0, 0, 0}, {kInitAttrs, kInitAttrs, kInitAttrsUd}},
    {IBV_QPS_INIT,
     IBV_QPS_RTR,
     {kRtrRequiredRc, kRtrRequiredUc, 0},
     {IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX,
      IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX, IBV_QP_PKEY_INDEX | IBV_QP_QKEY}},
    {IBV_QPS_RTR,
     IBV_QPS_RTS,
     {kRtsRequiredRc, IBV_QP_SQ_PSN, IBV_QP_SQ_PSN},
     {IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE,
      IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PATH_MIG_STATE, IBV_QP_QKEY}},
    {IBV_QPS_RTS,
     IBV_QPS_RTS,
     {0, 0, 0},
     {IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH | IBV_QP_PATH_MIG_STATE | IBV_QP_MIN_RNR_TIMER,
      IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH | IBV_QP_PATH_MIG_STATE, IBV_QP_QKEY}},
};

int type_index(ibv_qp_type type) {
  switch (type) {
    case IBV_QPT_RC: return kRc;
    case IBV_QPT_UC: return kUc;
    case IBV_QPT_UD: return kUd;
    default: return -1;
  }
}

bool known_state(int s) { return s >= IBV_QPS_RESET && s <= IBV_QPS_ERR; }

// Range checks of every attribute present in the mask.
bool values_ok(const ibv_qp_attr& a, int mask, uint32_t local_ip) {
  if ((mask & IBV_QP_PKEY_INDEX) && a.pkey_index >= DeviceCaps::kMaxPkeys) return false;
  if ((mask & IBV_QP_PORT) && a.port_num != 1) return false;  // one port
  if ((mask & IBV_QP_PATH_MTU) && mtu_bytes(a.path_mtu) == 0) return false;
  if ((mask & IBV_QP_DEST_QPN) && a.dest_qp_num > 0xffffff) return false;
  if ((mask & IBV_QP_TIMEOUT) && a.timeout > 31) return false;       // 5-bit field
  if ((mask & IBV_QP_RETRY_CNT) && a.retry_cnt > 7) return false;    // 3-bit field
  if ((mask & IBV_QP_RNR_RETRY) && a.rnr_retry > 7) return false;    // 3-bit field
  if ((mask & IBV_QP_MIN_RNR_TIMER) && a.min_rnr_timer > 31) return false;
  if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) && a.max_rd_atomic > DeviceCaps::kMaxQpInitRdAtom)
    return false;
  if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && a.max_dest_rd_atomic > DeviceCaps::kMaxQpRdAtom)
    return false;
  if (mask & IBV_QP_AV) {
    uint32_t ip = 0;
    if (!path_destination(a.ah_attr, local_ip, ip)) return false;
    if (a.ah_attr.port_num > 1) return false;
  }
  return true;
}

}  // namespace

const char* qp_state_name(ibv_qp_state s) {
  switch (s) {
    case IBV_QPS_RESET: return "RESET";
    case IBV_QPS_INIT: return "INIT";
    case IBV_QPS_RTR: return "RTR";
    case IBV_QPS_RTS: return "RTS";
    case IBV_QPS_SQD: return "SQD";
    case IBV_QPS_SQE: return "SQE";
    case IBV_QPS_ERR: return "ERR";
    default: return "UNKNOWN";
  }
}

uint32_t mtu_bytes(ibv_mtu mtu) {
  int m = int(mtu);
  if (m < IBV_MTU_256 || m > IBV_MTU_4096) return 0;
  return 256u << (m - IBV_MTU_256);
}

bool ipv4_from_gid(const ibv_gid& gid, uint32_t& ip_net) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(gid.raw, kPrefix, sizeof kPrefix) != 0) return false;
  std::memcpy(&ip_net, gid.raw + 12, 4);
  return true;
}

bool path_destination(const ibv_ah_attr& ah, uint32_t local_ip, uint32_t& dest_ip) {
  if (ah.is_global) {
    // RoCEv2: a GRH to an IPv4-mapped GID, from our one GID.
    return ipv4_from_gid(ah.grh.dgid, dest_ip) && ah.grh.sgid_index < DeviceCaps::kGidTableLen;
  }
  // No GRH: a LID, which plain RoCE cannot route and FlexiNS can.
  return pipe::ipv4_of_lid(local_ip, ah.dlid, dest_ip);
}

int validate_modify(ibv_qp_type type, ibv_qp_state current, const ibv_qp_attr& attr, int attr_mask,
                    uint32_t local_ip, ibv_qp_state& next) {
  int ti = type_index(type);
  if (ti < 0) return EINVAL;
  if ((attr_mask & IBV_QP_STATE) && !known_state(attr.qp_state)) return EINVAL;
  // IBA 11.2.5.2: a claimed current state must be the real one.
  if ((attr_mask & IBV_QP_CUR_STATE) && attr.cur_qp_state != current) return EINVAL;
  next = (attr_mask & IBV_QP_STATE) ? attr.qp_state : current;
  const int given = attr_mask & ~(IBV_QP_STATE | IBV_QP_CUR_STATE);

  if (next == IBV_QPS_RESET || next == IBV_QPS_ERR) {
    // Any state → RESET / ERR (IBA 10.3.1), with nothing else to set.
    if (!(attr_mask & IBV_QP_STATE) && next != current) return EINVAL;
    return given == 0 ? 0 : EINVAL;
  }
  for (const Transition& t : kTransitions) {
    if (t.from != current || t.to != next) continue;
    const int required = t.required[ti];
    if ((given & required) != required) return EINVAL;
    if (given & ~(required | t.optional[ti])) return EINVAL;
    return values_ok(attr, given, local_ip) ? 0 : EINVAL;
  }
  return EINVAL;  // SQD, SQE, RTR→RTR, backwards moves: not legal here
}

void apply_modify(QpAttrs& a, const ibv_qp_attr& attr, int mask, uint32_t local_ip) {
  ibv_qp_attr& q = a.attr;
  if (mask & IBV_QP_STATE) q.qp_state = attr.qp_state;
  q.cur_qp_state = q.qp_state;
  if (mask & IBV_QP_PKEY_INDEX) q.pkey_index = attr.pkey_index;
  if (mask & IBV_QP_PORT) q.port_num = attr.port_num;
  if (mask & IBV_QP_ACCESS_FLAGS) q.qp_access_flags = attr.qp_access_flags;
  if (mask & IBV_QP_QKEY) q.qkey = attr.qkey;
  if (mask & IBV_QP_AV) {
    q.ah_attr = attr.ah_attr;
    path_destination(attr.ah_attr, local_ip, a.dest_ip);
  }
  if (mask & IBV_QP_PATH_MTU) {
    q.path_mtu = attr.path_mtu;
    a.mtu_bytes = mtu_bytes(attr.path_mtu);
  }
  if (mask & IBV_QP_DEST_QPN) q.dest_qp_num = attr.dest_qp_num;
  if (mask & IBV_QP_RQ_PSN) q.rq_psn = attr.rq_psn & 0xffffff;
  if (mask & IBV_QP_SQ_PSN) q.sq_psn = attr.sq_psn & 0xffffff;
  if (mask & IBV_QP_MAX_DEST_RD_ATOMIC) q.max_dest_rd_atomic = attr.max_dest_rd_atomic;
  if (mask & IBV_QP_MAX_QP_RD_ATOMIC) q.max_rd_atomic = attr.max_rd_atomic;
  if (mask & IBV_QP_MIN_RNR_TIMER) q.min_rnr_timer = attr.min_rnr_timer;
  if (mask & IBV_QP_TIMEOUT) q.timeout = attr.timeout;
  if (mask & IBV_QP_RETRY_CNT) q.retry_cnt = attr.retry_cnt;
  if (mask & IBV_QP_RNR_RETRY) q.rnr_retry = attr.rnr_retry;
  if (mask & IBV_QP_ALT_PATH) {
    q.alt_ah_attr = attr.alt_ah_attr;
    q.alt_pkey_index = attr.alt_pkey_index;
    q.alt_port_num = attr.alt_port_num;
    q.alt_timeout = attr.alt_timeout;
  }
  if (mask & IBV_QP_PATH_MIG_STATE) q.path_mig_state = attr.path_mig_state;
}

uint64_t retransmit_timeout_ns(uint8_t timeout) {
  if (timeout == 0) return 0;  // IBA 9.7.6.1.3: infinite
  uint64_t ns = uint64_t(4096) << (timeout & 31);  // 4.096 us * 2^timeout
  return ns < kMinRetransmitTimeoutNs ? kMinRetransmitTimeoutNs : ns;
}

}  // namespace flexins::transport
