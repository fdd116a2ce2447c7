// The FlexiNS devices the CM can use, opened once per process through the
// public libibverbs API, with the IPv4 address each one stands for (its GID
// at index 0 is ::ffff:ADDR, RoCE v2).
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <vector>

namespace flexins::rdmacm {

struct LocalDevice {
  ibv_context* ctx = nullptr;
  uint32_t ipv4 = 0;  // network byte order
  ibv_gid gid{};
  ibv_mtu active_mtu = IBV_MTU_1024;
  uint8_t max_qp_rd_atom = 0;
  uint8_t max_qp_init_rd_atom = 0;
  ibv_pd* default_pd = nullptr;  // allocated on first need, kept
};

// All devices (opened on the first call). Never freed: the contexts are
// handed to applications as id->verbs.
const std::vector<LocalDevice*>& local_devices();

LocalDevice* device_by_ip(uint32_t ipv4);
LocalDevice* device_by_ctx(const ibv_context* ctx);

// The device to reach DST_IPV4 from: $FLEXINS_IP's if set (it is the only
// one listed then); else the one whose address the kernel would use as the
// source towards DST_IPV4; else the one on 127.0.0.1; else the first.
LocalDevice* device_for_destination(uint32_t dst_ipv4);

// The device's default protection domain (rdma_create_qp with a NULL pd).
ibv_pd* default_pd(LocalDevice* dev);

// IPv4 address inside a RoCE v2 GID (::ffff:a.b.c.d), or 0.
uint32_t ipv4_of_gid(const ibv_gid& gid);
void gid_of_ipv4(uint32_t ipv4, ibv_gid* gid);

}  // namespace flexins::rdmacm
