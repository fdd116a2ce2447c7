// Options, device lists, event names, and the calls FlexiNS does not
// support (multicast, ECE), which fail cleanly.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "rdmacm/cm_state.h"
#include "rdmacm/devices.h"

using namespace flexins::rdmacm;

namespace {

constexpr uint8_t kMaxAckTimeout = 31;  // 5-bit field (IBA 12.7.34)

int fail(int err) {
  errno = err;
  return -1;
}

}  // namespace

extern "C" {

const char* rdma_event_str(enum rdma_cm_event_type event) {
  switch (event) {
    case RDMA_CM_EVENT_ADDR_RESOLVED: return "RDMA_CM_EVENT_ADDR_RESOLVED";
    case RDMA_CM_EVENT_ADDR_ERROR: return "RDMA_CM_EVENT_ADDR_ERROR";
    case RDMA_CM_EVENT_ROUTE_RESOLVED: return "RDMA_CM_EVENT_ROUTE_RESOLVED";
    case RDMA_CM_EVENT_ROUTE_ERROR: return "RDMA_CM_EVENT_ROUTE_ERROR";
    case RDMA_CM_EVENT_CONNECT_REQUEST: return "RDMA_CM_EVENT_CONNECT_REQUEST";
    case RDMA_CM_EVENT_CONNECT_RESPONSE: return "RDMA_CM_EVENT_CONNECT_RESPONSE";
    case RDMA_CM_EVENT_CONNECT_ERROR: return "RDMA_CM_EVENT_CONNECT_ERROR";
    case RDMA_CM_EVENT_UNREACHABLE: return "RDMA_CM_EVENT_UNREACHABLE";
    case RDMA_CM_EVENT_REJECTED: return "RDMA_CM_EVENT_REJECTED";
    case RDMA_CM_EVENT_ESTABLISHED: return "RDMA_CM_EVENT_ESTABLISHED";
    case RDMA_CM_EVENT_DISCONNECTED: return "RDMA_CM_EVENT_DISCONNECTED";
    case RDMA_CM_EVENT_DEVICE_REMOVAL: return "RDMA_CM_EVENT_DEVICE_REMOVAL";
    case RDMA_CM_EVENT_MULTICAST_JOIN: return "RDMA_CM_EVENT_MULTICAST_JOIN";
    case RDMA_CM_EVENT_MULTICAST_ERROR: return "RDMA_CM_EVENT_MULTICAST_ERROR";
    case RDMA_CM_EVENT_ADDR_CHANGE: return "RDMA_CM_EVENT_ADDR_CHANGE";
    case RDMA_CM_EVENT_TIMEWAIT_EXIT: return "RDMA_CM_EVENT_TIMEWAIT_EXIT";
  }
  return "UNKNOWN EVENT";
}

int rdma_set_option(struct rdma_cm_id* id, int level, int optname, void* optval, size_t optlen) {
  if (id == nullptr || optval == nullptr) return fail(EINVAL);
  Id* c = to_id(id);
  std::lock_guard g(cm_mutex());
  if (level == RDMA_OPTION_ID) {
    switch (optname) {
      case RDMA_OPTION_ID_TOS:
        if (optlen != sizeof(uint8_t)) return fail(EINVAL);
        c->tos = *static_cast<uint8_t*>(optval);
        return 0;
      case RDMA_OPTION_ID_REUSEADDR:
      case RDMA_OPTION_ID_AFONLY:
        if (optlen != sizeof(int)) return fail(EINVAL);
        if (optname == RDMA_OPTION_ID_REUSEADDR) c->reuseaddr = *static_cast<int*>(optval) != 0;
        return 0;  // ports are always reusable; IPv4 only
      case RDMA_OPTION_ID_ACK_TIMEOUT: {
        if (optlen != sizeof(uint8_t)) return fail(EINVAL);
        uint8_t t = *static_cast<uint8_t*>(optval);
        c->ack_timeout = t > kMaxAckTimeout ? kMaxAckTimeout : t;
        return 0;
      }
      default: return fail(ENOSYS);
    }
  }
  // RDMA_OPTION_IB_PATH sets IB path records, which RoCE through FlexiNS
  // resolves itself: accepted and ignored, as for a RoCE device.
  if (level == RDMA_OPTION_IB && optname == RDMA_OPTION_IB_PATH) return 0;
  return fail(ENOSYS);
}

struct ibv_context** rdma_get_devices(int* num_devices) {
  const auto& devs = local_devices();
  auto** list = static_cast<ibv_context**>(calloc(devs.size() + 1, sizeof(ibv_context*)));
  if (list == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  for (size_t i = 0; i < devs.size(); ++i) list[i] = devs[i]->ctx;
  if (num_devices != nullptr) *num_devices = int(devs.size());
  return list;
}

void rdma_free_devices(struct ibv_context** list) { free(list); }

// Multicast needs UD multicast groups, which FlexiNS does not provide.
int rdma_join_multicast(struct rdma_cm_id*, struct sockaddr*, void*) { return fail(ENOSYS); }
int rdma_join_multicast_ex(struct rdma_cm_id*, struct rdma_cm_join_mc_attr_ex*, void*) {
  return fail(ENOSYS);
}
int rdma_leave_multicast(struct rdma_cm_id*, struct sockaddr*) { return fail(ENOSYS); }

// Enhanced connection establishment (vendor options) has nothing to carry.
int rdma_set_local_ece(struct rdma_cm_id*, struct ibv_ece*) { return fail(EOPNOTSUPP); }
int rdma_get_remote_ece(struct rdma_cm_id*, struct ibv_ece*) { return fail(EOPNOTSUPP); }

}  // extern "C"
