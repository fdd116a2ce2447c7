// rdma_create_qp & co: QPs and SRQs on an id, created through the public
// verbs API and moved to INIT (RC) or RTS (UD) as librdmacm does.
#include <cerrno>
#include <cstring>
#include <mutex>

#include <rdma/rdma_verbs.h>

#include "rdmacm/cm_state.h"
#include "rdmacm/devices.h"
#include "rdmacm/qp_setup.h"

using namespace flexins::rdmacm;

namespace {

int fail(int err) {
  errno = err;
  return -1;
}

void destroy_own_cqs(Id* c) {
  if (!c->own_cqs) return;
  rdma_cm_id& id = c->pub;
  if (id.send_cq) ibv_destroy_cq(id.send_cq);
  if (id.recv_cq) ibv_destroy_cq(id.recv_cq);
  if (id.send_cq_channel) ibv_destroy_comp_channel(id.send_cq_channel);
  if (id.recv_cq_channel) ibv_destroy_comp_channel(id.recv_cq_channel);
  id.send_cq = id.recv_cq = nullptr;
  id.send_cq_channel = id.recv_cq_channel = nullptr;
  c->own_cqs = false;
}

// librdmacm gives an id without CQs its own, each with a completion channel
// (rdma_get_send_comp / rdma_get_recv_comp wait on them).
int create_cq(ibv_context* ctx, uint32_t wr, ibv_comp_channel** channel, ibv_cq** cq) {
  *channel = ibv_create_comp_channel(ctx);
  if (*channel == nullptr) return errno ? errno : ENOMEM;
  *cq = ibv_create_cq(ctx, int(wr ? wr : 1), nullptr, *channel, 0);
  if (*cq == nullptr) {
    int err = errno ? errno : ENOMEM;
    ibv_destroy_comp_channel(*channel);
    *channel = nullptr;
    return err;
  }
  return 0;
}

}  // namespace

extern "C" {

int rdma_create_qp_ex(struct rdma_cm_id* id, struct ibv_qp_init_attr_ex* attr) {
  if (id == nullptr || attr == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  if (id->qp != nullptr) return fail(EINVAL);
  LocalDevice* dev = device_by_ctx(id->verbs);
  if (dev == nullptr) return fail(EINVAL);
  ibv_pd* pd = (attr->comp_mask & IBV_QP_INIT_ATTR_PD) ? attr->pd : nullptr;
  if (pd == nullptr) pd = id->pd ? id->pd : default_pd(dev);
  if (pd == nullptr) return -1;
  if (pd->context != id->verbs) return fail(EINVAL);
  attr->pd = pd;
  attr->comp_mask |= IBV_QP_INIT_ATTR_PD;

  if (attr->send_cq == nullptr || attr->recv_cq == nullptr) {
    c->own_cqs = true;
    int err = 0;
    if (attr->recv_cq == nullptr)
      err = create_cq(id->verbs, attr->cap.max_recv_wr, &id->recv_cq_channel, &id->recv_cq);
    if (err == 0 && attr->send_cq == nullptr)
      err = create_cq(id->verbs, attr->cap.max_send_wr, &id->send_cq_channel, &id->send_cq);
    if (err != 0) {
      destroy_own_cqs(c);
      return fail(err);
    }
    if (attr->recv_cq == nullptr) attr->recv_cq = id->recv_cq;
    if (attr->send_cq == nullptr) attr->send_cq = id->send_cq;
  } else {
    id->send_cq = attr->send_cq;
    id->recv_cq = attr->recv_cq;
  }
  if (attr->srq == nullptr && id->srq != nullptr) attr->srq = id->srq;

  ibv_qp* qp = ibv_create_qp_ex(id->verbs, attr);
  if (qp == nullptr) {
    int err = errno ? errno : ENOMEM;
    destroy_own_cqs(c);
    return fail(err);
  }
  int err = 0;
  if (qp->qp_type == IBV_QPT_UD) {
    err = ready_ud_qp(c, qp);
  } else {
    ibv_qp_attr qa{};
    qa.qp_state = IBV_QPS_INIT;
    int mask = 0;
    {
      std::lock_guard g(cm_mutex());
      err = init_qp_attr(c, &qa, &mask);
    }
    if (err == 0) err = ibv_modify_qp(qp, &qa, mask);
  }
  if (err != 0) {
    ibv_destroy_qp(qp);
    destroy_own_cqs(c);
    return fail(err);
  }
  id->qp = qp;
  id->pd = pd;
  return 0;
}

int rdma_create_qp(struct rdma_cm_id* id, struct ibv_pd* pd, struct ibv_qp_init_attr* qp_init_attr) {
  if (id == nullptr || qp_init_attr == nullptr) return fail(EINVAL);
  ibv_qp_init_attr_ex ex{};
  ex.qp_context = qp_init_attr->qp_context;
  ex.send_cq = qp_init_attr->send_cq;
  ex.recv_cq = qp_init_attr->recv_cq;
  ex.srq = qp_init_attr->srq;
  ex.cap = qp_init_attr->cap;
  ex.qp_type = qp_init_attr->qp_type;
  ex.sq_sig_all = qp_init_attr->sq_sig_all;
  ex.comp_mask = IBV_QP_INIT_ATTR_PD;
  ex.pd = pd;
  if (rdma_create_qp_ex(id, &ex) != 0) return -1;
  qp_init_attr->cap = ex.cap;
  qp_init_attr->send_cq = ex.send_cq;
  qp_init_attr->recv_cq = ex.recv_cq;
  return 0;
}

void rdma_destroy_qp(struct rdma_cm_id* id) {
  if (id == nullptr || id->qp == nullptr) return;
  ibv_destroy_qp(id->qp);
  id->qp = nullptr;
  destroy_own_cqs(to_id(id));
}

int rdma_init_qp_attr(struct rdma_cm_id* id, struct ibv_qp_attr* qp_attr, int* qp_attr_mask) {
  if (id == nullptr || qp_attr == nullptr || qp_attr_mask == nullptr) return fail(EINVAL);
  std::lock_guard g(cm_mutex());
  if (int err = init_qp_attr(to_id(id), qp_attr, qp_attr_mask); err != 0) return fail(err);
  return 0;
}

int rdma_create_srq_ex(struct rdma_cm_id* id, struct ibv_srq_init_attr_ex* attr) {
  if (id == nullptr || attr == nullptr || id->srq != nullptr) return fail(EINVAL);
  LocalDevice* dev = device_by_ctx(id->verbs);
  if (dev == nullptr) return fail(EINVAL);
  if (attr->comp_mask & ~uint32_t(IBV_SRQ_INIT_ATTR_PD)) return fail(EOPNOTSUPP);  // no XRC
  ibv_pd* pd = (attr->comp_mask & IBV_SRQ_INIT_ATTR_PD) ? attr->pd : nullptr;
  if (pd == nullptr) pd = id->pd ? id->pd : default_pd(dev);
  if (pd == nullptr) return -1;
  ibv_srq_init_attr plain{};
  plain.srq_context = attr->srq_context;
  plain.attr = attr->attr;
  ibv_srq* srq = ibv_create_srq(pd, &plain);
  if (srq == nullptr) return -1;
  attr->attr = plain.attr;
  id->srq = srq;
  id->pd = pd;
  return 0;
}

int rdma_create_srq(struct rdma_cm_id* id, struct ibv_pd* pd, struct ibv_srq_init_attr* attr) {
  if (attr == nullptr) return fail(EINVAL);
  ibv_srq_init_attr_ex ex{};
  ex.srq_context = attr->srq_context;
  ex.attr = attr->attr;
  ex.comp_mask = IBV_SRQ_INIT_ATTR_PD;
  ex.pd = pd;
  if (rdma_create_srq_ex(id, &ex) != 0) return -1;
  attr->attr = ex.attr;
  return 0;
}

void rdma_destroy_srq(struct rdma_cm_id* id) {
  if (id == nullptr || id->srq == nullptr) return;
  ibv_destroy_srq(id->srq);
  id->srq = nullptr;
}

}  // extern "C"
