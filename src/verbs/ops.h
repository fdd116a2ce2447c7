// The library's implementations behind ibv_context.ops and verbs_context:
// the entry points applications reach through inline functions of verbs.h.
#pragma once

#include <infiniband/verbs.h>

namespace flexins::verbs {

// cq.cc
int poll_cq(ibv_cq* cq, int num_entries, ibv_wc* wc);
int req_notify_cq(ibv_cq* cq, int solicited_only);
ibv_cq_ex* create_cq_ex(ibv_context* context, ibv_cq_init_attr_ex* attr);

// post.cc
int post_send(ibv_qp* qp, ibv_send_wr* wr, ibv_send_wr** bad_wr);
int post_recv(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad_wr);
int post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr);

// qp.cc
ibv_qp* create_qp_ex(ibv_context* context, ibv_qp_init_attr_ex* attr);

// query.cc
int query_device_ex(ibv_context* context, const ibv_query_device_ex_input* input,
                    ibv_device_attr_ex* attr, size_t attr_size);
int query_port(ibv_context* context, uint8_t port_num, ibv_port_attr* attr,
               size_t attr_size);

// qp_ex.cc: the ibv_wr_* function pointers of a new QP.
struct Qp;
void init_qp_ex_ops(Qp& qp);

}  // namespace flexins::verbs
