#pragma once

#include <arpa/inet.h>
#include <poll.h>

#include <cstdint>
#include <vector>

#include "io/backend.h"

namespace flexins::io::testing {

inline uint32_t ip(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

// Receive everything that arrives within `wait_ms` of quiet.
inline std::vector<std::vector<uint8_t>> drain(Backend& b, int wait_ms = 200) {
  std::vector<std::vector<uint8_t>> got;
  std::vector<uint8_t> buf(16 * 9216);
  for (;;) {
    pollfd p{b.rx_fd(), POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return got;
    RxDatagram d[16];
    for (int i = 0; i < 16; ++i) {
      d[i].data = buf.data() + i * 9216;
      d[i].capacity = 9216;
    }
    uint32_t n = b.rx_burst(d);
    for (uint32_t i = 0; i < n; ++i) got.emplace_back(d[i].data, d[i].data + d[i].length);
  }
}

inline TxDatagram datagram(uint32_t dst, uint16_t src_port, std::vector<uint8_t>& bytes) {
  TxDatagram d;
  d.dst_ip = dst;
  d.dst_port = 4791;
  d.src_port = src_port;
  d.iov_count = 1;
  d.iov[0] = {bytes.data(), bytes.size()};
  d.length = uint32_t(bytes.size());
  return d;
}

}  // namespace flexins::io::testing
