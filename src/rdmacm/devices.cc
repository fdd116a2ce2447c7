#include "rdmacm/devices.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace flexins::rdmacm {
namespace {

constexpr uint8_t kPortNum = 1;

std::mutex g_dev_mu;

std::vector<LocalDevice*>& open_all() {
  static auto* devices = new std::vector<LocalDevice*>;  // never freed: see header
  static bool opened = false;
  if (opened) return *devices;
  opened = true;
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) return *devices;
  for (int i = 0; i < n; ++i) {
    ibv_context* ctx = ibv_open_device(list[i]);
    if (ctx == nullptr) continue;
    auto* d = new LocalDevice;
    d->ctx = ctx;
    ibv_port_attr port{};
    ibv_device_attr attr{};
    if (ibv_query_gid(ctx, kPortNum, 0, &d->gid) != 0 || ibv_query_port(ctx, kPortNum, &port) != 0 ||
        ibv_query_device(ctx, &attr) != 0) {
      ibv_close_device(ctx);
      delete d;
      continue;
    }
    d->ipv4 = ipv4_of_gid(d->gid);
    d->active_mtu = port.active_mtu;
    d->max_qp_rd_atom = uint8_t(attr.max_qp_rd_atom > 255 ? 255 : attr.max_qp_rd_atom);
    d->max_qp_init_rd_atom = uint8_t(attr.max_qp_init_rd_atom > 255 ? 255 : attr.max_qp_init_rd_atom);
    devices->push_back(d);
  }
  ibv_free_device_list(list);
  return *devices;
}

// The source address the kernel picks towards DST (a UDP connect sends nothing).
uint32_t kernel_source_for(uint32_t dst_ipv4) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = dst_ipv4;
  dst.sin_port = htons(9);
  sockaddr_in src{};
  socklen_t len = sizeof src;
  uint32_t out = 0;
  if (connect(s, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&src), &len) == 0)
    out = src.sin_addr.s_addr;
  close(s);
  return out;
}

}  // namespace

const std::vector<LocalDevice*>& local_devices() {
  std::lock_guard g(g_dev_mu);
  return open_all();
}

LocalDevice* device_by_ip(uint32_t ipv4) {
  for (LocalDevice* d : local_devices())
    if (d->ipv4 == ipv4) return d;
  return nullptr;
}

LocalDevice* device_by_ctx(const ibv_context* ctx) {
  for (LocalDevice* d : local_devices())
    if (d->ctx == ctx) return d;
  return nullptr;
}

LocalDevice* device_for_destination(uint32_t dst_ipv4) {
  const auto& devs = local_devices();
  if (devs.empty()) return nullptr;
  if (devs.size() == 1) return devs[0];  // $FLEXINS_IP, or a single engine
  if (LocalDevice* d = device_by_ip(kernel_source_for(dst_ipv4))) return d;
  if (LocalDevice* d = device_by_ip(htonl(INADDR_LOOPBACK))) return d;
  return devs[0];
}

ibv_pd* default_pd(LocalDevice* dev) {
  std::lock_guard g(g_dev_mu);
  if (dev->default_pd == nullptr) dev->default_pd = ibv_alloc_pd(dev->ctx);
  return dev->default_pd;
}

uint32_t ipv4_of_gid(const ibv_gid& gid) {
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(gid.raw, kV4MappedPrefix, sizeof kV4MappedPrefix) != 0) return 0;
  uint32_t v;
  std::memcpy(&v, gid.raw + 12, 4);
  return v;
}

void gid_of_ipv4(uint32_t ipv4, ibv_gid* gid) {
  std::memset(gid->raw, 0, sizeof gid->raw);
  gid->raw[10] = gid->raw[11] = 0xff;
  std::memcpy(gid->raw + 12, &ipv4, 4);
}

}  // namespace flexins::rdmacm
