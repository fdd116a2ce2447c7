// Queue pairs: the engine creates and owns the transport state; the library
// keeps the producer side of the shared work queues.
#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/device_caps.h"
#include "verbs/control_client.h"
#include "verbs/object_tables.h"
#include "verbs/objects.h"
#include "verbs/ops.h"

namespace flexins::verbs {
namespace {

using pipe::DeviceCaps;

constexpr uint32_t kSupportedInitMask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
constexpr uint64_t kSupportedSendOps =
    IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | IBV_QP_EX_WITH_SEND |
    IBV_QP_EX_WITH_SEND_WITH_IMM | IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
    IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD | IBV_QP_EX_WITH_SEND_WITH_INV;
// UC offers SEND and RDMA WRITE only (IBA ch. 9: no READ, no atomics), as
// rdma-core's providers refuse the others for a UC QP.
constexpr uint64_t kUcSendOps = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
                                IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM;

bool is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Validate a work queue the engine laid out; its ring pointer, or nullptr.
uint8_t* wq_ring(const Context& ctx, const pipe::WqCtrl& wq, uint32_t min_slot_size) {
  if (!is_pow2(wq.slots) || wq.slot_size < min_slot_size) return nullptr;
  return static_cast<uint8_t*>(shm_at(ctx, wq.ring_offset, uint64_t(wq.slots) * wq.slot_size));
}

int check_init_attr(ibv_context* context, const ibv_qp_init_attr_ex& a) {
  if (a.comp_mask & ~kSupportedInitMask) return EOPNOTSUPP;
  if (!(a.comp_mask & IBV_QP_INIT_ATTR_PD) || a.pd == nullptr || a.pd->context != context)
    return EINVAL;
  if ((a.comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) && (a.send_ops_flags & ~kSupportedSendOps))
    return EOPNOTSUPP;
  if (a.qp_type != IBV_QPT_RC && a.qp_type != IBV_QPT_UC && a.qp_type != IBV_QPT_UD)
    return EOPNOTSUPP;
  if (a.qp_type == IBV_QPT_UC && (a.comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
      (a.send_ops_flags & ~kUcSendOps))
    return EOPNOTSUPP;
  if (a.send_cq == nullptr || a.recv_cq == nullptr || a.send_cq->context != context ||
      a.recv_cq->context != context || (a.srq != nullptr && a.srq->context != context))
    return EINVAL;
  const ibv_qp_cap& c = a.cap;
  if (c.max_send_wr > DeviceCaps::kMaxQpWr || c.max_send_sge > DeviceCaps::kMaxSge ||
      c.max_inline_data > DeviceCaps::kMaxInlineData)
    return EINVAL;
  if (a.srq == nullptr && (c.max_recv_wr > DeviceCaps::kMaxQpWr || c.max_recv_sge > DeviceCaps::kMaxSge))
    return EINVAL;
  return 0;
}

}  // namespace

ibv_qp* create_qp_ex(ibv_context* context, ibv_qp_init_attr_ex* attr) {
  if (context == nullptr || attr == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  if (int err = check_init_attr(context, *attr); err != 0) {
    errno = err;
    return nullptr;
  }
  Context& ctx = *to_context(context);
  auto* qp = new (std::nothrow) Qp{};
  if (qp == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  pipe::CreateQpRequest req{};
  req.pd = to_pd(attr->pd)->handle;
  req.qp_type = attr->qp_type;
  req.send_cq = to_cq(attr->send_cq)->handle;
  req.recv_cq = to_cq(attr->recv_cq)->handle;
  req.srq = attr->srq ? to_srq(attr->srq)->handle : pipe::kNoHandle;
  req.sq_sig_all = attr->sq_sig_all ? 1 : 0;
  req.cap = attr->cap;
  if (attr->srq) req.cap.max_recv_wr = req.cap.max_recv_sge = 0;
  pipe::CreateQpReply rep{};
  int err = ctx.control->call(pipe::CtlOp::kCreateQp, req, &rep);
  pipe::QpShm* shm = nullptr;
  uint8_t* sq_ring = nullptr;
  uint8_t* rq_ring = nullptr;
  if (err == 0) {
    shm = static_cast<pipe::QpShm*>(shm_at(ctx, rep.shm_offset, sizeof(pipe::QpShm)));
    if (shm != nullptr && shm->worker < ctx.num_workers) {
      sq_ring = wq_ring(ctx, shm->sq,
                        pipe::send_slot_size(rep.cap.max_send_sge, rep.cap.max_inline_data));
      rq_ring = attr->srq ? nullptr : wq_ring(ctx, shm->rq, pipe::recv_slot_size(rep.cap.max_recv_sge));
    }
    if (sq_ring == nullptr || (attr->srq == nullptr && rq_ring == nullptr)) {
      ctx.control->call(pipe::CtlOp::kDestroyQp, pipe::HandleRequest{rep.qpn, 0});
      err = EPROTO;
    }
  }
  if (err != 0) {
    delete qp;
    errno = err;
    return nullptr;
  }
  auto* hdr = reinterpret_cast<const pipe::CtxShmHeader*>(ctx.shm);
  qp->ctx = &ctx;
  qp->shm = shm;
  qp->fifo = reinterpret_cast<pipe::DoorbellFifo*>(ctx.shm + hdr->doorbell_offset[shm->worker]);
  qp->worker = &ctx.status->worker[shm->worker];
  qp->worker_eventfd = ctx.worker_eventfd[shm->worker];
  pthread_mutex_init(&qp->sq_lock, nullptr);
  pthread_mutex_init(&qp->rq_lock, nullptr);
  qp->sq = pipe::WqProducer(&shm->sq, sq_ring);
  if (rq_ring) qp->rq = pipe::WqProducer(&shm->rq, rq_ring);
  qp->cap = rep.cap;
  attr->cap = rep.cap;  // ibv_create_qp(3): the actual values

  ibv_qp& q = qp->ex.qp_base;
  q.context = context;
  q.qp_context = attr->qp_context;
  q.pd = attr->pd;
  q.send_cq = attr->send_cq;
  q.recv_cq = attr->recv_cq;
  q.srq = attr->srq;
  q.handle = rep.qpn;
  q.qp_num = rep.qpn;
  q.state = IBV_QPS_RESET;
  q.qp_type = attr->qp_type;
  pthread_mutex_init(&q.mutex, nullptr);
  pthread_cond_init(&q.cond, nullptr);
  init_qp_ex_ops(*qp);
  ctx.objects->qps.insert(rep.qpn, qp);
  return &q;
}

}  // namespace flexins::verbs

using namespace flexins;
using namespace flexins::verbs;

extern "C" {

struct ibv_qp* ibv_create_qp(struct ibv_pd* pd, struct ibv_qp_init_attr* init_attr) {
  if (pd == nullptr || init_attr == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  ibv_qp_init_attr_ex ex{};
  ex.qp_context = init_attr->qp_context;
  ex.send_cq = init_attr->send_cq;
  ex.recv_cq = init_attr->recv_cq;
  ex.srq = init_attr->srq;
  ex.cap = init_attr->cap;
  ex.qp_type = init_attr->qp_type;
  ex.sq_sig_all = init_attr->sq_sig_all;
  ex.comp_mask = IBV_QP_INIT_ATTR_PD;
  ex.pd = pd;
  ibv_qp* qp = create_qp_ex(pd->context, &ex);
  if (qp != nullptr) init_attr->cap = ex.cap;
  return qp;
}

struct ibv_qp_ex* ibv_qp_to_qp_ex(struct ibv_qp* qp) {
  return qp ? &to_qp(qp)->ex : nullptr;
}

int ibv_modify_qp(struct ibv_qp* qp, struct ibv_qp_attr* attr, int attr_mask) {
  if (qp == nullptr || attr == nullptr || attr_mask == 0) return EINVAL;
  Qp& q = *to_qp(qp);
  pipe::ModifyQpRequest req{};
  req.qpn = qp->qp_num;
  req.attr_mask = uint32_t(attr_mask);
  req.attr = *attr;
  int err = q.ctx->control->call(pipe::CtlOp::kModifyQp, req);
  if (err != 0) return err;  // the engine checks the transition (IBA 11.2.4.2)
  if (attr_mask & IBV_QP_STATE) {
    qp->state = attr->qp_state;
    if (attr->qp_state == IBV_QPS_RESET) {
      // The engine emptied the queues: start again from its indices.
      pthread_mutex_lock(&q.sq_lock);
      q.sq = pipe::WqProducer(&q.shm->sq, q.ctx->shm + q.shm->sq.ring_offset);
      pthread_mutex_unlock(&q.sq_lock);
      if (qp->srq == nullptr) {
        pthread_mutex_lock(&q.rq_lock);
        q.rq = pipe::WqProducer(&q.shm->rq, q.ctx->shm + q.shm->rq.ring_offset);
        pthread_mutex_unlock(&q.rq_lock);
      }
    }
  }
  return 0;
}

int ibv_query_qp(struct ibv_qp* qp, struct ibv_qp_attr* attr, int attr_mask,
                 struct ibv_qp_init_attr* init_attr) {
  if (qp == nullptr || attr == nullptr || init_attr == nullptr) return EINVAL;
  Qp& q = *to_qp(qp);
  pipe::QueryQpRequest req{qp->qp_num, uint32_t(attr_mask)};
  auto* rep = new (std::nothrow) pipe::QueryQpReply{};
  if (rep == nullptr) return ENOMEM;
  int err = q.ctx->control->call(pipe::CtlOp::kQueryQp, req, rep);
  if (err == 0) {
    *attr = rep->attr;
    *init_attr = rep->init_attr;
    init_attr->qp_context = qp->qp_context;
    init_attr->send_cq = qp->send_cq;
    init_attr->recv_cq = qp->recv_cq;
    init_attr->srq = qp->srq;
    init_attr->qp_type = qp->qp_type;
    if (attr_mask & IBV_QP_STATE) qp->state = attr->qp_state;
  }
  delete rep;
  return err;
}

int ibv_destroy_qp(struct ibv_qp* qp) {
  if (qp == nullptr) return EINVAL;
  Qp* q = to_qp(qp);
  Context& ctx = *q->ctx;
  int err = ctx.control->call(pipe::CtlOp::kDestroyQp, pipe::HandleRequest{qp->qp_num, 0});
  if (err != 0 && err != EIO) return err;
  ctx.objects->qps.erase(qp->qp_num);
  // Wait until every async event handed out for this QP has been acked.
  pthread_mutex_lock(&qp->mutex);
  while (qp->events_completed != q->async_events_delivered)
    pthread_cond_wait(&qp->cond, &qp->mutex);
  pthread_mutex_unlock(&qp->mutex);
  pthread_mutex_destroy(&q->sq_lock);
  pthread_mutex_destroy(&q->rq_lock);
  pthread_mutex_destroy(&qp->mutex);
  pthread_cond_destroy(&qp->cond);
  delete q;
  return 0;
}

}  // extern "C"
