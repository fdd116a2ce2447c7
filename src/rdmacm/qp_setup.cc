#include "rdmacm/qp_setup.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "pipe/lid.h"
#include "rdmacm/devices.h"

namespace flexins::rdmacm {
namespace {

constexpr uint8_t kPortNum = 1;
constexpr uint8_t kDefaultAckTimeout = 14;  // 4.096 µs × 2^14 ≈ 67 ms per retry
// RNR NAK timer this side asks for (IBA table 45: 12 = 0.64 ms), short so that
// a receiver that posts late costs little.
constexpr uint8_t kMinRnrTimer = 12;
constexpr uint8_t kHopLimit = 64;

ibv_mtu min_mtu(ibv_mtu a, uint8_t b) {
  if (b == 0) return a;
  return std::min(a, static_cast<ibv_mtu>(b));
}

int modify(ibv_qp* qp, Id* id, ibv_qp_state state) {
  ibv_qp_attr attr{};
  attr.qp_state = state;
  int mask = 0;
  int err;
  {
    std::lock_guard g(cm_mutex());
    err = init_qp_attr(id, &attr, &mask);
  }
  if (err != 0) return err;
  return ibv_modify_qp(qp, &attr, mask);
}

}  // namespace

void fill_ah_attr(const Id* id, const uint8_t gid[16], ibv_ah_attr* ah) {
  std::memset(ah, 0, sizeof *ah);
  ah->is_global = 1;
  std::memcpy(ah->grh.dgid.raw, gid, 16);
  // The GRH routes it; the peer's LID (pipe/lid.h) is there for coherence
  // with ibv_query_port and the work completions' SLID.
  if (const LocalDevice* dev = device_by_ctx(id->pub.verbs); dev != nullptr)
    ah->dlid = pipe::peer_lid(dev->ipv4, ipv4_of_gid(ah->grh.dgid));
  ah->grh.sgid_index = 0;
  ah->grh.hop_limit = kHopLimit;
  ah->grh.traffic_class = id->tos;
  ah->port_num = kPortNum;
}

int init_qp_attr(Id* id, ibv_qp_attr* a, int* mask) {
  LocalDevice* dev = device_by_ctx(id->pub.verbs);
  if (dev == nullptr) return EINVAL;
  ibv_qp_state state = a->qp_state;
  std::memset(a, 0, sizeof *a);
  a->qp_state = state;
  *mask = IBV_QP_STATE;
  bool ud = is_ud(id);
  switch (state) {
    case IBV_QPS_INIT:
      a->pkey_index = 0;
      a->port_num = kPortNum;
      *mask |= IBV_QP_PKEY_INDEX | IBV_QP_PORT;
      if (ud) {
        a->qkey = id->qkey;
        *mask |= IBV_QP_QKEY;
      } else {
        // Before the peer is known, no remote access; afterwards write, and
        // read/atomic only if this side grants RDMA read resources.
        a->qp_access_flags = 0;
        if (id->have_remote) {
          a->qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
          if (id->responder_resources > 0)
            a->qp_access_flags |= IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
        }
        *mask |= IBV_QP_ACCESS_FLAGS;
      }
      return 0;
    case IBV_QPS_RTR:
      if (ud) return 0;
      if (!id->have_remote) return EINVAL;
      fill_ah_attr(id, id->remote.gid, &a->ah_attr);
      a->path_mtu = min_mtu(dev->active_mtu, id->remote.mtu);
      a->dest_qp_num = id->remote.qpn;
      a->rq_psn = id->remote.starting_psn;
      a->max_dest_rd_atomic = id->responder_resources;
      a->min_rnr_timer = kMinRnrTimer;
      *mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
               IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
      return 0;
    case IBV_QPS_RTS:
      a->sq_psn = id->psn;
      *mask |= IBV_QP_SQ_PSN;
      if (ud) return 0;
      if (!id->have_remote) return EINVAL;
      a->timeout = id->ack_timeout ? id->ack_timeout : kDefaultAckTimeout;
      a->retry_cnt = id->retry_count;
      a->rnr_retry = id->rnr_retry_count;
      a->max_rd_atomic = id->initiator_depth;
      *mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
      return 0;
    default:
      return EINVAL;
  }
}

int move_qp_to_rts(Id* id) {
  ibv_qp* qp = id->pub.qp;
  if (qp == nullptr) return 0;
  if (int err = modify(qp, id, IBV_QPS_INIT); err != 0) return err;
  if (int err = modify(qp, id, IBV_QPS_RTR); err != 0) return err;
  return modify(qp, id, IBV_QPS_RTS);
}

int ready_ud_qp(Id* id, ibv_qp* qp) {
  if (int err = modify(qp, id, IBV_QPS_INIT); err != 0) return err;
  if (int err = modify(qp, id, IBV_QPS_RTR); err != 0) return err;
  return modify(qp, id, IBV_QPS_RTS);
}

void finish_conn_response(Event* e) {
  Id* id = to_id(e->pub.id);
  e->conn_response = false;
  ibv_qp* qp;
  {
    std::lock_guard g(cm_mutex());
    qp = id->pub.qp;
    if (id->state != ConnState::kRepRcvd) {
      e->pub.event = RDMA_CM_EVENT_CONNECT_ERROR;
      e->pub.status = -ECONNRESET;
      return;
    }
    if (qp == nullptr) {  // the application moves its own QP, then rdma_establish
      e->pub.event = RDMA_CM_EVENT_CONNECT_RESPONSE;
      return;
    }
  }
  int err = move_qp_to_rts(id);
  std::lock_guard g(cm_mutex());
  if (err != 0) {
    drive(id, ConnInput::kAppReject);
    e->pub.event = RDMA_CM_EVENT_CONNECT_ERROR;
    e->pub.status = -err;
    return;
  }
  if (!drive(id, ConnInput::kAppEstablish).legal) {
    e->pub.event = RDMA_CM_EVENT_CONNECT_ERROR;
    e->pub.status = -ECONNRESET;
    return;
  }
  e->pub.event = RDMA_CM_EVENT_ESTABLISHED;
}

}  // namespace flexins::rdmacm
