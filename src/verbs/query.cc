// Device, port, GID and P_Key queries. Everything comes from the device
// limits table (pipe/device_caps.h) and the engine's Open reply: no round
// trip to the engine.
#include <endian.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pipe/device_caps.h"
#include "pipe/lid.h"
#include "verbs/objects.h"
#include "verbs/ops.h"

#undef ibv_query_port

namespace flexins::verbs {
namespace {

using pipe::DeviceCaps;

constexpr uint8_t kPort = 1;
constexpr uint8_t kPhysStateLinkUp = 5;    // IBA 14.2.5.6 PortPhysicalState
constexpr uint8_t kWidth4x = 2;            // IBA PortInfo LinkWidthActive
constexpr uint8_t kSpeedEdr = 32;          // 25 Gb/s per lane: 4x = 100 Gb/s
constexpr uint32_t kGidTypeSysfsRoceV2 = 1;  // rdma-core's enum ibv_gid_type_sysfs

void fill_device_attr(const Context& c, ibv_device_attr& a) {
  std::memset(&a, 0, sizeof a);
  snprintf(a.fw_ver, sizeof a.fw_ver, "flexins-%d.%d", 0, 1);
  a.node_guid = htobe64(c.device->guid);
  a.sys_image_guid = a.node_guid;
  a.max_mr_size = DeviceCaps::kMaxMrSize;
  a.page_size_cap = DeviceCaps::kPageSizeCap;
  a.vendor_id = DeviceCaps::kVendorId;
  a.vendor_part_id = DeviceCaps::kVendorPartId;
  a.hw_ver = DeviceCaps::kHwVer;
  a.max_qp = int(DeviceCaps::kMaxQp);
  a.max_qp_wr = int(DeviceCaps::kMaxQpWr);
  a.device_cap_flags = IBV_DEVICE_PORT_ACTIVE_EVENT | IBV_DEVICE_SYS_IMAGE_GUID |
                       IBV_DEVICE_RC_RNR_NAK_GEN;
  a.max_sge = int(DeviceCaps::kMaxSge);
  a.max_sge_rd = int(DeviceCaps::kMaxSge);
  a.max_cq = int(DeviceCaps::kMaxCq);
  a.max_cqe = int(DeviceCaps::kMaxCqe);
  a.max_mr = int(DeviceCaps::kMaxMr);
  a.max_pd = int(DeviceCaps::kMaxPd);
  a.max_qp_rd_atom = int(DeviceCaps::kMaxQpRdAtom);
  a.max_res_rd_atom = int(DeviceCaps::kMaxResRdAtom);
  a.max_qp_init_rd_atom = int(DeviceCaps::kMaxQpInitRdAtom);
  a.atomic_cap = IBV_ATOMIC_HCA;
  a.max_ah = int(DeviceCaps::kMaxAh);
  a.max_srq = int(DeviceCaps::kMaxSrq);
  a.max_srq_wr = int(DeviceCaps::kMaxSrqWr);
  a.max_srq_sge = int(DeviceCaps::kMaxSrqSge);
  a.max_pkeys = DeviceCaps::kMaxPkeys;
  a.local_ca_ack_delay = 15;  // 4.096 us * 2^15: the transport's ACK timer scale
  a.phys_port_cnt = uint8_t(DeviceCaps::kPhysPortCnt);
}

void fill_port_attr(const Context& c, ibv_port_attr& a) {
  std::memset(&a, 0, sizeof a);
  a.state = IBV_PORT_ACTIVE;
  a.max_mtu = IBV_MTU_4096;
  a.active_mtu = static_cast<ibv_mtu>(c.open.active_mtu);
  a.gid_tbl_len = int(DeviceCaps::kGidTableLen);
  a.port_cap_flags = IBV_PORT_IP_BASED_GIDS;
  a.max_msg_sz = DeviceCaps::kMaxMsgSize;
  a.pkey_tbl_len = DeviceCaps::kMaxPkeys;
  a.max_vl_num = 1;
  a.active_width = kWidth4x;
  a.active_speed = kSpeedEdr;
  a.phys_state = kPhysStateLinkUp;
  a.link_layer = IBV_LINK_LAYER_ETHERNET;
  // FlexiNS's LID routing (pipe/lid.h): the port has a LID, and a path
  // without a GRH to a peer's LID is routed, so a GRH is not required; a
  // port whose address gives no LID is plain RoCE, where it is.
  a.lid = pipe::port_lid(c.open.ipv4);
  a.flags = a.lid != pipe::kNoLid ? 0 : IBV_QPF_GRH_REQUIRED;
}

void fill_gid_entry(const Context& c, ibv_gid_entry& e) {
  std::memset(&e, 0, sizeof e);
  std::memcpy(e.gid.raw, c.open.gid, sizeof e.gid.raw);
  e.gid_index = 0;
  e.port_num = kPort;
  e.gid_type = IBV_GID_TYPE_ROCE_V2;
}

}  // namespace

int query_device_ex(ibv_context* context, const ibv_query_device_ex_input* input,
                    ibv_device_attr_ex* attr, size_t attr_size) {
  if (context == nullptr || attr == nullptr) return EINVAL;
  if (input != nullptr && input->comp_mask != 0) return EINVAL;
  if (attr_size < sizeof(ibv_device_attr)) return EINVAL;
  ibv_device_attr_ex full;
  std::memset(&full, 0, sizeof full);
  fill_device_attr(*to_context(context), full.orig_attr);
  full.device_cap_flags_ex = full.orig_attr.device_cap_flags;
  full.phys_port_cnt_ex = DeviceCaps::kPhysPortCnt;
  // An older application passes a shorter structure: fill what it has.
  std::memcpy(attr, &full, attr_size < sizeof full ? attr_size : sizeof full);
  return 0;
}

int query_port(ibv_context* context, uint8_t port_num, ibv_port_attr* attr, size_t attr_size) {
  if (context == nullptr || attr == nullptr) return EINVAL;
  if (port_num != kPort) return EINVAL;
  ibv_port_attr full;
  fill_port_attr(*to_context(context), full);
  std::memcpy(attr, &full, attr_size < sizeof full ? attr_size : sizeof full);
  return 0;
}

}  // namespace flexins::verbs

using namespace flexins::verbs;

extern "C" {

int ibv_query_device(struct ibv_context* context, struct ibv_device_attr* device_attr) {
  if (context == nullptr || device_attr == nullptr) return EINVAL;
  fill_device_attr(*to_context(context), *device_attr);
  return 0;
}

// The exported symbol serves programs built before ibv_port_attr grew: it
// receives a 48-byte structure (up to and including `flags`) and must not
// write past it. Newer programs reach query_port through verbs_context.
int ibv_query_port(struct ibv_context* context, uint8_t port_num,
                   struct _compat_ibv_port_attr* port_attr) {
  static_assert(offsetof(ibv_port_attr, port_cap_flags2) == 48);
  return query_port(context, port_num, reinterpret_cast<ibv_port_attr*>(port_attr),
                    offsetof(ibv_port_attr, port_cap_flags2));
}

int ibv_query_gid(struct ibv_context* context, uint8_t port_num, int index, union ibv_gid* gid) {
  if (context == nullptr || gid == nullptr || port_num != kPort || index != 0) {
    errno = EINVAL;
    return -1;
  }
  std::memcpy(gid->raw, to_context(context)->open.gid, sizeof gid->raw);
  return 0;
}

int _ibv_query_gid_ex(struct ibv_context* context, uint32_t port_num, uint32_t gid_index,
                      struct ibv_gid_entry* entry, uint32_t flags, size_t entry_size) {
  if (context == nullptr || entry == nullptr || flags != 0 || entry_size < sizeof *entry)
    return EINVAL;
  if (port_num != kPort || gid_index >= DeviceCaps::kGidTableLen) return EINVAL;
  fill_gid_entry(*to_context(context), *entry);
  return 0;
}

ssize_t _ibv_query_gid_table(struct ibv_context* context, struct ibv_gid_entry* entries,
                             size_t max_entries, uint32_t flags, size_t entry_size) {
  if (context == nullptr || flags != 0 || entry_size < sizeof(ibv_gid_entry)) return -EINVAL;
  if (max_entries < DeviceCaps::kGidTableLen) return -EINVAL;
  // Entries are entry_size apart: a newer caller's structure may be larger.
  auto* out = reinterpret_cast<uint8_t*>(entries);
  ibv_gid_entry e;
  fill_gid_entry(*to_context(context), e);
  std::memset(out, 0, entry_size);
  std::memcpy(out, &e, sizeof e);
  return DeviceCaps::kGidTableLen;
}

// rdma-core private: the GID type as sysfs spells it (RoCE v2 = 1).
int ibv_query_gid_type(struct ibv_context* context, uint8_t port_num, unsigned int index,
                       uint32_t* type) {
  if (context == nullptr || type == nullptr || port_num != kPort ||
      index >= DeviceCaps::kGidTableLen) {
    errno = EINVAL;
    return -1;
  }
  *type = kGidTypeSysfsRoceV2;
  return 0;
}

int ibv_query_pkey(struct ibv_context* context, uint8_t port_num, int index, __be16* pkey) {
  if (context == nullptr || pkey == nullptr || port_num != kPort || index < 0 ||
      index >= DeviceCaps::kMaxPkeys) {
    errno = EINVAL;
    return -1;
  }
  *pkey = htobe16(DeviceCaps::kDefaultPkey);
  return 0;
}

int ibv_get_pkey_index(struct ibv_context* context, uint8_t port_num, __be16 pkey) {
  if (context == nullptr || port_num != kPort || be16toh(pkey) != DeviceCaps::kDefaultPkey) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

}  // extern "C"
