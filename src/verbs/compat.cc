// Compat aliases of the export table: the IBVERBS_1.0 ABI (libibverbs 1.0,
// 2006, different structure layouts) and ibv_register_driver@IBVERBS_1.1
// for old out-of-tree providers. Nothing built this century binds to them,
// but the table must be complete; they fail cleanly.
#include <cerrno>

// NAME@VERSION (hidden, not default) made from a local definition.
#define FLEXINS_SYMVER(local, name, version) \
  __asm__(".symver " #local ", " #name "@" #version)

#define FLEXINS_COMPAT_PTR(name)                        \
  extern "C" void* flexins_compat_##name(void) {        \
    errno = EOPNOTSUPP;                                 \
    return nullptr;                                     \
  }                                                     \
  FLEXINS_SYMVER(flexins_compat_##name, name, IBVERBS_1.0);

#define FLEXINS_COMPAT_INT(name)                        \
  extern "C" int flexins_compat_##name(void) {          \
    errno = EOPNOTSUPP;                                 \
    return EOPNOTSUPP;                                  \
  }                                                     \
  FLEXINS_SYMVER(flexins_compat_##name, name, IBVERBS_1.0);

#define FLEXINS_COMPAT_VOID(name)                       \
  extern "C" void flexins_compat_##name(void) {}        \
  FLEXINS_SYMVER(flexins_compat_##name, name, IBVERBS_1.0);

FLEXINS_COMPAT_VOID(ibv_ack_async_event)
FLEXINS_COMPAT_VOID(ibv_ack_cq_events)
FLEXINS_COMPAT_PTR(ibv_alloc_pd)
FLEXINS_COMPAT_INT(ibv_attach_mcast)
FLEXINS_COMPAT_INT(ibv_close_device)
FLEXINS_COMPAT_PTR(ibv_create_ah)
FLEXINS_COMPAT_PTR(ibv_create_cq)
FLEXINS_COMPAT_PTR(ibv_create_qp)
FLEXINS_COMPAT_PTR(ibv_create_srq)
FLEXINS_COMPAT_INT(ibv_dealloc_pd)
FLEXINS_COMPAT_INT(ibv_dereg_mr)
FLEXINS_COMPAT_INT(ibv_destroy_ah)
FLEXINS_COMPAT_INT(ibv_destroy_cq)
FLEXINS_COMPAT_INT(ibv_destroy_qp)
FLEXINS_COMPAT_INT(ibv_destroy_srq)
FLEXINS_COMPAT_INT(ibv_detach_mcast)
FLEXINS_COMPAT_VOID(ibv_free_device_list)
FLEXINS_COMPAT_INT(ibv_get_async_event)
FLEXINS_COMPAT_INT(ibv_get_cq_event)
FLEXINS_COMPAT_INT(ibv_get_device_guid)
FLEXINS_COMPAT_PTR(ibv_get_device_list)
FLEXINS_COMPAT_PTR(ibv_get_device_name)
FLEXINS_COMPAT_INT(ibv_modify_qp)
FLEXINS_COMPAT_INT(ibv_modify_srq)
FLEXINS_COMPAT_PTR(ibv_open_device)
FLEXINS_COMPAT_INT(ibv_query_device)
FLEXINS_COMPAT_INT(ibv_query_gid)
FLEXINS_COMPAT_INT(ibv_query_pkey)
FLEXINS_COMPAT_INT(ibv_query_port)
FLEXINS_COMPAT_INT(ibv_query_qp)
FLEXINS_COMPAT_INT(ibv_query_srq)
FLEXINS_COMPAT_PTR(ibv_reg_mr)
FLEXINS_COMPAT_INT(ibv_resize_cq)

// Providers registered themselves with this before rdma-core's own ABI;
// FlexiNS loads no providers.
extern "C" void flexins_compat_ibv_register_driver(const char*, void*) {}
FLEXINS_SYMVER(flexins_compat_ibv_register_driver, ibv_register_driver, IBVERBS_1.1);
