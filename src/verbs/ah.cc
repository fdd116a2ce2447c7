// Address handles (UD). The engine keeps the resolved path; a send names it
// by handle.
#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "pipe/control_proto.h"
#include "pipe/lid.h"
#include "verbs/control_client.h"
#include "verbs/objects.h"

using namespace flexins;
using namespace flexins::verbs;

namespace {

// The 40 bytes before a UD receive's payload. For RoCE v2 over IPv4 the
// IPv4 header sits in the last 20 of them, as the kernel and rdma-core's
// providers place it (and the engine does). Told apart from an IPv6 GRH as
// rdma-core's ibv_init_ah_from_wc does: no IPv6 version nibble at offset 0
// and an IPv4 one at offset 20; or, if both look plausible, a 5-word IPv4
// header whose checksum is right.
// Returns 4, 6, or 0 for neither.
int grh_ip_version(const ibv_grh* grh) {
  const auto* b = reinterpret_cast<const uint8_t*>(grh);
  const uint8_t* ip = b + 20;
  if ((b[0] >> 4) != 6) return (ip[0] >> 4) == 4 ? 4 : 0;
  if (ip[0] != 0x45) return 6;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += uint32_t(ip[i]) << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff ? 4 : 6;
}

}  // namespace

extern "C" {

struct ibv_ah* ibv_create_ah(struct ibv_pd* pd, struct ibv_ah_attr* attr) {
  if (pd == nullptr || attr == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  auto* ah = new (std::nothrow) Ah{};
  if (ah == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  pipe::CreateAhRequest req{to_pd(pd)->handle, 0, *attr};
  pipe::HandleReply rep{};
  int err = to_context(pd->context)->control->call(pipe::CtlOp::kCreateAh, req, &rep);
  if (err != 0) {
    delete ah;
    errno = err;
    return nullptr;
  }
  ah->handle = rep.handle;
  ah->ah.context = pd->context;
  ah->ah.pd = pd;
  ah->ah.handle = rep.handle;
  return &ah->ah;
}

int ibv_destroy_ah(struct ibv_ah* ah) {
  if (ah == nullptr) return EINVAL;
  int err = to_context(ah->context)->control->call(pipe::CtlOp::kDestroyAh,
                                                   pipe::HandleRequest{to_ah(ah)->handle, 0});
  if (err != 0 && err != EIO) return err;
  delete to_ah(ah);
  return 0;
}

int ibv_init_ah_from_wc(struct ibv_context* context, uint8_t port_num, struct ibv_wc* wc,
                        struct ibv_grh* grh, struct ibv_ah_attr* ah_attr) {
  if (context == nullptr || wc == nullptr || ah_attr == nullptr) {
    errno = EINVAL;
    return -1;
  }
  std::memset(ah_attr, 0, sizeof *ah_attr);
  ah_attr->dlid = wc->slid;
  ah_attr->sl = wc->sl;
  ah_attr->src_path_bits = wc->dlid_path_bits;
  ah_attr->port_num = port_num;
  if (!(wc->wc_flags & IBV_WC_GRH)) {
    // No GRH (a FlexiNS datagram always has one): as on IB, the way back is
    // the sender's LID alone, which FlexiNS routes (pipe/lid.h) if it has one.
    if (wc->slid == pipe::kNoLid) {
      errno = EINVAL;
      return -1;
    }
    return 0;
  }
  if (grh == nullptr) {
    errno = EINVAL;
    return -1;
  }
  ah_attr->is_global = 1;
  ah_attr->grh.sgid_index = 0;
  ah_attr->grh.hop_limit = 0xff;
  const int version = grh_ip_version(grh);
  if (version == 0) {
    errno = EPROTONOSUPPORT;  // as rdma-core: neither an IPv6 GRH nor an IPv4 header
    return -1;
  }
  if (version == 4) {
    const auto* ip = reinterpret_cast<const uint8_t*>(grh) + 20;
    uint8_t* g = ah_attr->grh.dgid.raw;  // ::ffff:<source address>
    g[10] = g[11] = 0xff;
    std::memcpy(g + 12, ip + 12, 4);
    ah_attr->grh.traffic_class = ip[1];
  } else {
    uint32_t flow = ntohl(grh->version_tclass_flow);
    ah_attr->grh.dgid = grh->sgid;
    ah_attr->grh.flow_label = flow & 0xfffff;
    ah_attr->grh.traffic_class = uint8_t((flow >> 20) & 0xff);
  }
  return 0;
}

struct ibv_ah* ibv_create_ah_from_wc(struct ibv_pd* pd, struct ibv_wc* wc, struct ibv_grh* grh,
                                     uint8_t port_num) {
  if (pd == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  ibv_ah_attr attr;
  if (ibv_init_ah_from_wc(pd->context, port_num, wc, grh, &attr) != 0) return nullptr;
  return ibv_create_ah(pd, &attr);
}

}  // extern "C"
