// The rdma_verbs.h "endpoint" calls: rdma_create_ep, rdma_destroy_ep,
// rdma_get_request (synchronous ids).
#include <cerrno>
#include <cstring>
#include <mutex>

#include <rdma/rdma_verbs.h>

#include "rdmacm/cm_state.h"

using namespace flexins::rdmacm;

namespace {

constexpr int kResolveTimeoutMs = 2000;

int fail(int err) {
  errno = err;
  return -1;
}

}  // namespace

extern "C" {

int rdma_create_ep(struct rdma_cm_id** id, struct rdma_addrinfo* res, struct ibv_pd* pd,
                   struct ibv_qp_init_attr* qp_init_attr) {
  if (id == nullptr || res == nullptr) return fail(EINVAL);
  rdma_port_space ps = rdma_port_space(res->ai_port_space);
  if (ps == 0) ps = res->ai_qp_type == IBV_QPT_UD ? RDMA_PS_UDP : RDMA_PS_TCP;
  rdma_cm_id* cm_id = nullptr;
  if (rdma_create_id(nullptr, &cm_id, nullptr, ps) != 0) return -1;
  Id* c = to_id(cm_id);
  if (res->ai_qp_type != 0) cm_id->qp_type = ibv_qp_type(res->ai_qp_type);
  int err = 0;
  // The QP's type is the id's (rdma_server/rdma_client leave it 0).
  if (qp_init_attr != nullptr) qp_init_attr->qp_type = cm_id->qp_type;
  if (res->ai_flags & RAI_PASSIVE) {
    if (res->ai_src_addr != nullptr && rdma_bind_addr(cm_id, res->ai_src_addr) != 0) goto out;
    // Every request rdma_get_request returns gets a QP like this.
    if (qp_init_attr != nullptr) {
      c->ep_qp_attr = new ibv_qp_init_attr(*qp_init_attr);
      c->ep_pd = pd;
    }
    *id = cm_id;
    return 0;
  }
  if (rdma_resolve_addr(cm_id, res->ai_src_addr, res->ai_dst_addr, kResolveTimeoutMs) != 0) goto out;
  if (rdma_resolve_route(cm_id, kResolveTimeoutMs) != 0) goto out;
  if (qp_init_attr != nullptr && rdma_create_qp(cm_id, pd, qp_init_attr) != 0) goto out;
  *id = cm_id;
  return 0;
out:
  err = errno;
  rdma_destroy_id(cm_id);
  return fail(err);
}

void rdma_destroy_ep(struct rdma_cm_id* id) {
  if (id == nullptr) return;
  if (id->qp != nullptr) rdma_destroy_qp(id);
  if (id->srq != nullptr) rdma_destroy_srq(id);
  rdma_destroy_id(id);
}

int rdma_get_request(struct rdma_cm_id* listen, struct rdma_cm_id** id) {
  if (listen == nullptr || id == nullptr) return fail(EINVAL);
  Id* l = to_id(listen);
  if (!l->sync) return fail(EINVAL);  // only for ids without an event channel
  if (listen->event != nullptr) {
    rdma_ack_cm_event(listen->event);
    listen->event = nullptr;
  }
  rdma_cm_event* event = nullptr;
  if (rdma_get_cm_event(listen->channel, &event) != 0) return -1;
  if (event->status != 0) {
    int err = event->status < 0 ? -event->status : event->status;
    rdma_ack_cm_event(event);
    return fail(err);
  }
  if (event->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
    rdma_ack_cm_event(event);
    return fail(EINVAL);
  }
  rdma_cm_id* child = event->id;
  if (l->ep_qp_attr != nullptr) {
    ibv_qp_init_attr attr = *l->ep_qp_attr;
    if (rdma_create_qp(child, l->ep_pd, &attr) != 0) {
      int err = errno;
      rdma_ack_cm_event(event);
      rdma_reject(child, nullptr, 0);
      rdma_destroy_id(child);
      return fail(err);
    }
  }
  child->event = event;  // acked by the child's next synchronous call
  *id = child;
  return 0;
}

}  // extern "C"
