// Which FlexiNS devices exist: one per engine, found by its control socket
// ($FLEXINS_RUN_DIR/engine-<ADDR>.sock), or only $FLEXINS_IP's if set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flexins::verbs {

// $FLEXINS_RUN_DIR, or pipe::kDefaultRunDir.
std::string run_dir();

// "engine-10.0.0.1.sock" → 10.0.0.1 (network byte order). False otherwise.
bool parse_engine_socket_name(const char* name, uint32_t* ipv4);

std::string engine_socket_path(const std::string& dir, uint32_t ipv4);

// Addresses of the engines to list as devices, in ascending address order.
std::vector<uint32_t> discover_engine_addresses();

// Node GUID of the device for an address (network byte order in, host order
// out): a locally administered EUI-64, 02:46:4e:ff (".FN." ) then the IPv4
// address, so every address has its own and ibv_devices shows where it is.
inline uint64_t node_guid_for_ipv4(uint32_t ipv4_be) {
  uint32_t host = __builtin_bswap32(ipv4_be);
  return (0x02464eff'00000000ull) | host;
}

}  // namespace flexins::verbs
