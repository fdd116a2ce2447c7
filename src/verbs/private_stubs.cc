// IBVERBS_PRIVATE_34: the interface between libibverbs and its providers.
// perftest's binaries load the real libmlx5/libefa next to us; their
// constructors call verbs_register_driver_34 and they import the ibv_cmd_*
// helpers. FlexiNS never hands them a device, so registration does nothing
// and the helpers fail if ever called.
#include <cerrno>

#define FLEXINS_PRIVATE_INT(name) \
  extern "C" int name(void) { return EOPNOTSUPP; }

extern "C" {

bool verbs_allow_disassociate_destroy = false;

void verbs_register_driver_34(const void*) {}
void verbs_set_ops(void*, const void*) {}
void verbs_uninit_context(void*) {}
void __verbs_log(void*, int, const char*, ...) {}
void* _verbs_init_and_alloc_context(void*, int, unsigned long, unsigned long, unsigned int) {
  errno = EOPNOTSUPP;
  return nullptr;
}
void* verbs_open_device(void*, void*) {
  errno = EOPNOTSUPP;
  return nullptr;
}
unsigned int __ioctl_final_num_attrs(unsigned int num_attrs, void*) { return num_attrs; }

}  // extern "C"

FLEXINS_PRIVATE_INT(execute_ioctl)
FLEXINS_PRIVATE_INT(verbs_init_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_advise_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_alloc_dm)
FLEXINS_PRIVATE_INT(ibv_cmd_alloc_mw)
FLEXINS_PRIVATE_INT(ibv_cmd_alloc_pd)
FLEXINS_PRIVATE_INT(ibv_cmd_attach_mcast)
FLEXINS_PRIVATE_INT(ibv_cmd_close_xrcd)
FLEXINS_PRIVATE_INT(ibv_cmd_create_ah)
FLEXINS_PRIVATE_INT(ibv_cmd_create_counters)
FLEXINS_PRIVATE_INT(ibv_cmd_create_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_create_cq_ex)
FLEXINS_PRIVATE_INT(ibv_cmd_create_flow)
FLEXINS_PRIVATE_INT(ibv_cmd_create_flow_action_esp)
FLEXINS_PRIVATE_INT(ibv_cmd_create_qp)
FLEXINS_PRIVATE_INT(ibv_cmd_create_qp_ex)
FLEXINS_PRIVATE_INT(ibv_cmd_create_qp_ex2)
FLEXINS_PRIVATE_INT(ibv_cmd_create_rwq_ind_table)
FLEXINS_PRIVATE_INT(ibv_cmd_create_srq)
FLEXINS_PRIVATE_INT(ibv_cmd_create_srq_ex)
FLEXINS_PRIVATE_INT(ibv_cmd_create_wq)
FLEXINS_PRIVATE_INT(ibv_cmd_dealloc_mw)
FLEXINS_PRIVATE_INT(ibv_cmd_dealloc_pd)
FLEXINS_PRIVATE_INT(ibv_cmd_dereg_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_ah)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_counters)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_flow)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_flow_action)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_qp)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_rwq_ind_table)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_srq)
FLEXINS_PRIVATE_INT(ibv_cmd_destroy_wq)
FLEXINS_PRIVATE_INT(ibv_cmd_detach_mcast)
FLEXINS_PRIVATE_INT(ibv_cmd_free_dm)
FLEXINS_PRIVATE_INT(ibv_cmd_get_context)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_flow_action_esp)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_qp)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_qp_ex)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_srq)
FLEXINS_PRIVATE_INT(ibv_cmd_modify_wq)
FLEXINS_PRIVATE_INT(ibv_cmd_open_qp)
FLEXINS_PRIVATE_INT(ibv_cmd_open_xrcd)
FLEXINS_PRIVATE_INT(ibv_cmd_poll_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_post_recv)
FLEXINS_PRIVATE_INT(ibv_cmd_post_send)
FLEXINS_PRIVATE_INT(ibv_cmd_post_srq_recv)
FLEXINS_PRIVATE_INT(ibv_cmd_query_context)
FLEXINS_PRIVATE_INT(ibv_cmd_query_device_any)
FLEXINS_PRIVATE_INT(ibv_cmd_query_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_query_port)
FLEXINS_PRIVATE_INT(ibv_cmd_query_qp)
FLEXINS_PRIVATE_INT(ibv_cmd_query_srq)
FLEXINS_PRIVATE_INT(ibv_cmd_read_counters)
FLEXINS_PRIVATE_INT(ibv_cmd_reg_dm_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_reg_dmabuf_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_reg_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_req_notify_cq)
FLEXINS_PRIVATE_INT(ibv_cmd_rereg_mr)
FLEXINS_PRIVATE_INT(ibv_cmd_resize_cq)
