// ibv_get_device_list & co. Device objects live as long as the process:
// an ibv_device pointer must stay valid after ibv_free_device_list for any
// device the application opened, and they are small.
#include "verbs/device_list.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <endian.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "pipe/control_proto.h"
#include "verbs/objects.h"

namespace flexins::verbs {

std::string run_dir() {
  const char* d = getenv("FLEXINS_RUN_DIR");
  return (d != nullptr && *d != '\0') ? d : pipe::kDefaultRunDir;
}

bool parse_engine_socket_name(const char* name, uint32_t* ipv4) {
  static constexpr char kPrefix[] = "engine-";
  static constexpr char kSuffix[] = ".sock";
  size_t len = strlen(name);
  size_t pre = sizeof kPrefix - 1, suf = sizeof kSuffix - 1;
  if (len <= pre + suf || strncmp(name, kPrefix, pre) != 0 ||
      strcmp(name + len - suf, kSuffix) != 0)
    return false;
  std::string addr(name + pre, len - pre - suf);
  in_addr a;
  if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return false;
  *ipv4 = a.s_addr;
  return true;
}

std::string engine_socket_path(const std::string& dir, uint32_t ipv4) {
  char addr[INET_ADDRSTRLEN];
  in_addr a{ipv4};
  inet_ntop(AF_INET, &a, addr, sizeof addr);
  return dir + "/engine-" + addr + ".sock";
}

std::vector<uint32_t> discover_engine_addresses() {
  std::vector<uint32_t> out;
  if (const char* ip = getenv("FLEXINS_IP"); ip != nullptr && *ip != '\0') {
    in_addr a;
    if (inet_pton(AF_INET, ip, &a) == 1) out.push_back(a.s_addr);
    return out;
  }
  std::string dir = run_dir();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    uint32_t ip;
    if (!parse_engine_socket_name(e->d_name, &ip)) continue;
    struct stat st;
    if (stat((dir + "/" + e->d_name).c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    out.push_back(ip);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](uint32_t a, uint32_t b) { return ntohl(a) < ntohl(b); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

std::mutex g_devices_mu;
std::vector<std::unique_ptr<Device>>& all_devices() {
  static auto* v = new std::vector<std::unique_ptr<Device>>;  // never freed: see top
  return *v;
}

Device* device_for(uint32_t ipv4, int index, const std::string& dir) {
  std::string path = engine_socket_path(dir, ipv4);
  char name[IBV_SYSFS_NAME_MAX];
  snprintf(name, sizeof name, "flexins%d", index);
  for (auto& d : all_devices())
    if (d->ipv4 == ipv4 && d->index == index && path == d->socket_path) return d.get();
  if (path.size() >= sizeof(Device::socket_path)) return nullptr;
  auto d = std::make_unique<Device>();
  std::memset(d.get(), 0, sizeof(Device));
  d->ibdev.node_type = IBV_NODE_CA;
  d->ibdev.transport_type = IBV_TRANSPORT_IB;
  snprintf(d->ibdev.name, sizeof d->ibdev.name, "%s", name);
  snprintf(d->ibdev.dev_name, sizeof d->ibdev.dev_name, "uverbs%d", index);
  snprintf(d->ibdev.dev_path, sizeof d->ibdev.dev_path, "%s", dir.c_str());
  snprintf(d->ibdev.ibdev_path, sizeof d->ibdev.ibdev_path, "%s", dir.c_str());
  d->ipv4 = ipv4;
  d->guid = node_guid_for_ipv4(ipv4);
  d->index = index;
  snprintf(d->socket_path, sizeof d->socket_path, "%s", path.c_str());
  all_devices().push_back(std::move(d));
  return all_devices().back().get();
}

}  // namespace
}  // namespace flexins::verbs

using namespace flexins::verbs;

extern "C" {

struct ibv_device** ibv_get_device_list(int* num_devices) {
  std::vector<uint32_t> addrs = discover_engine_addresses();
  std::string dir = run_dir();
  auto** list = static_cast<ibv_device**>(calloc(addrs.size() + 1, sizeof(ibv_device*)));
  if (list == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  int n = 0;
  {
    std::lock_guard g(g_devices_mu);
    for (size_t i = 0; i < addrs.size(); ++i)
      if (Device* d = device_for(addrs[i], int(i), dir)) list[n++] = &d->ibdev;
  }
  if (num_devices) *num_devices = n;
  return list;
}

void ibv_free_device_list(struct ibv_device** list) { free(list); }

const char* ibv_get_device_name(struct ibv_device* device) {
  return device ? device->name : nullptr;
}

__be64 ibv_get_device_guid(struct ibv_device* device) {
  return device ? htobe64(to_device(device)->guid) : 0;
}

int ibv_get_device_index(struct ibv_device* device) {
  return device ? to_device(device)->index : -1;
}

}  // extern "C"
