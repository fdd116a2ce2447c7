#include "io/udp_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace flexins::io {
namespace {

constexpr uint32_t kBurst = 64;
constexpr int kSocketBufferBytes = 32 << 20;
// IP TOS bytes: DSCP 0 with the ECN field ECT(0), or Congestion Experienced.
constexpr int kTosEct0 = 0x02;
constexpr int kTosCe = 0x03;

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

void set_opt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) fail(what);
}

int bound_socket(uint32_t ipv4_be, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  // Larger buffers absorb bursts (a datagram the socket drops costs RC a
  // retransmission and UD the message). The *FORCE variants pass the
  // kernel's rmem/wmem_max where we may (CAP_NET_ADMIN); else we get the cap.
  for (auto [force, plain] : {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}})
    if (setsockopt(fd, SOL_SOCKET, force, &kSocketBufferBytes, sizeof kSocketBufferBytes) != 0)
      setsockopt(fd, SOL_SOCKET, plain, &kSocketBufferBytes, sizeof kSocketBufferBytes);
  // DF and IP ID 0 on every datagram: the ICRC covers both.
  set_opt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
  // ECN-capable transport, ECT(0) (RFC 3168; the ICRC masks the TOS byte).
  set_opt(fd, IPPROTO_IP, IP_TOS, kTosEct0, "IP_TOS");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = ipv4_be;
  sa.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    fail("bind");
  }
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) fail("getsockname");
  return ntohs(sa.sin_port);
}

}  // namespace

UdpBackend::UdpBackend(uint32_t ipv4_be, uint16_t port, uint32_t tx_sockets, bool offload) {
  rx_fd_ = bound_socket(ipv4_be, port);
  set_opt(rx_fd_, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
  set_opt(rx_fd_, IPPROTO_IP, IP_RECVTOS, 1, "IP_RECVTOS");
  // Offloads are an optimisation: a kernel without them (before 5.0) still
  // carries every datagram. GSO is used only where GRO is on too: a receiver
  // without GRO would get a group's segments one by one, without the place
  // in the group that their ICRCs depend on.
  int one = 1;
  gso_ = offload && setsockopt(rx_fd_, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  for (uint32_t i = 0; i < tx_sockets; ++i) {
    int fd = bound_socket(ipv4_be, 0);
    // Nothing is ever sent to these ports; keep their receive side tiny.
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    tx_fds_.push_back(fd);
    tx_ports_.push_back(local_port(fd));
  }
}

UdpBackend::~UdpBackend() {
  if (rx_fd_ >= 0) close(rx_fd_);
  for (int fd : tx_fds_) close(fd);
}

namespace {

// One sendmmsg's worth of messages: each message is one datagram or one GSO
// group, its iovecs laid end to end in `iov`. add_message fills every entry
// it uses, so the arrays are left uninitialised: zeroing them would cost
// about 26 KB of stores on every send.
static_assert(kBurst * kMaxTxIov >= kMaxGsoIov, "one batch must hold the largest group");
struct SendBatch {
  std::array<mmsghdr, kBurst> msgs;
  std::array<sockaddr_in, kBurst> addrs;
  alignas(cmsghdr) std::array<std::array<uint8_t, CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))>, kBurst> ctrl;
  std::array<iovec, kBurst * kMaxTxIov> iov;
  uint32_t count = 0;
  uint32_t iov_used = 0;
};

// Appends the group starting at pkts[0] (datagrams flagged gso_continues
// after it) as one message; returns how many datagrams it took.
uint32_t add_message(SendBatch& b, std::span<TxDatagram> pkts) {
  const TxDatagram& first = pkts[0];
  uint32_t n = 1;
  while (n < pkts.size() && pkts[n].gso_continues) ++n;
  uint32_t iov_needed = 0;
  for (uint32_t i = 0; i < n; ++i) iov_needed += pkts[i].iov_count;
  if (b.iov_used + iov_needed > b.iov.size()) return 0;  // next sendmmsg
  const uint32_t m = b.count;
  iovec* iov = &b.iov[b.iov_used];
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < pkts[i].iov_count; ++j) iov[k++] = pkts[i].iov[j];
  b.iov_used += k;
  b.addrs[m] = sockaddr_in{};
  b.addrs[m].sin_family = AF_INET;
  b.addrs[m].sin_addr.s_addr = first.dst_ip;
  b.addrs[m].sin_port = htons(first.dst_port);
  msghdr& h = b.msgs[m].msg_hdr;
  h = msghdr{};
  h.msg_name = &b.addrs[m];
  h.msg_namelen = sizeof b.addrs[m];
  h.msg_iov = iov;
  h.msg_iovlen = k;
  if (n > 1 || first.ecn_ce) {
    b.ctrl[m] = {};  // the cmsgs' padding too
    h.msg_control = b.ctrl[m].data();
    h.msg_controllen = b.ctrl[m].size();
    size_t used = 0;
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    if (n > 1) {
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t segment = uint16_t(first.length);
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
      used += CMSG_SPACE(sizeof(uint16_t));
      c = CMSG_NXTHDR(&h, c);
    }
    if (first.ecn_ce) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_TOS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &kTosCe, sizeof kTosCe);
      used += CMSG_SPACE(sizeof(int));
    }
    h.msg_controllen = used;
  }
  ++b.count;
  return n;
}

bool is_gso_group(msghdr& h) {
  const cmsghdr* c = h.msg_controllen > 0 ? CMSG_FIRSTHDR(&h) : nullptr;
  return c != nullptr && c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT;
}

}  // namespace

// Sends a run of datagrams that all leave from one socket.
uint32_t UdpBackend::send_run(int fd, std::span<TxDatagram> pkts) {
  SendBatch b;
  uint32_t done = 0;
  while (done < pkts.size()) {
    b.count = 0;
    b.iov_used = 0;
    uint32_t queued = done;
    while (queued < pkts.size() && b.count < kBurst) {
      uint32_t took = add_message(b, pkts.subspan(queued));
      if (took == 0) break;
      queued += took;
    }
    if (b.count == 0) break;  // cannot happen: a group never exceeds the batch
    uint32_t m = 0;
    while (m < b.count) {
      int r = sendmmsg(fd, b.msgs.data() + m, b.count - m, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        // EAGAIN (socket buffer full) or an error for this message: drop it
        // like a congested wire would; the transport retransmits. A kernel
        // that refuses segmentation offload gets no more groups.
        if (is_gso_group(b.msgs[m].msg_hdr) && (errno == EIO || errno == EINVAL)) gso_ = false;
        ++m;
        continue;
      }
      m += uint32_t(r);
    }
    done = queued;
  }
  return done;
}

uint32_t UdpBackend::tx_burst(std::span<TxDatagram> pkts) {
  // Consecutive datagrams from the same source port go in one sendmmsg.
  uint32_t done = 0;
  while (done < pkts.size()) {
    uint16_t port = pkts[done].src_port;
    size_t end = done + 1;
    while (end < pkts.size() && pkts[end].src_port == port) ++end;
    int fd = tx_fds_[0];
    for (size_t i = 0; i < tx_ports_.size(); ++i)
      if (tx_ports_[i] == port) fd = tx_fds_[i];
    send_run(fd, pkts.subspan(done, end - done));
    done = uint32_t(end);
  }
  return done;
}

uint32_t UdpBackend::rx_burst(std::span<RxDatagram> pkts) {
  const uint32_t n = uint32_t(std::min<size_t>(kBurst, pkts.size()));
  std::array<mmsghdr, kBurst> msgs{};
  std::array<iovec, kBurst> iovs{};
  std::array<sockaddr_in, kBurst> addrs{};
  constexpr size_t kCtrlBytes =
      CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(int));
  alignas(cmsghdr) std::array<std::array<uint8_t, kCtrlBytes>, kBurst> ctrl{};
  for (uint32_t i = 0; i < n; ++i) {
    iovs[i] = {pkts[i].data, pkts[i].capacity};
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctrl[i].data();
    msgs[i].msg_hdr.msg_controllen = kCtrlBytes;
  }
  int r = recvmmsg(rx_fd_, msgs.data(), n, MSG_DONTWAIT, nullptr);
  if (r <= 0) return 0;
  for (int i = 0; i < r; ++i) {
    RxDatagram& d = pkts[i];
    const msghdr& h = msgs[i].msg_hdr;
    d.length = msgs[i].msg_len;
    d.truncated = (h.msg_flags & MSG_TRUNC) != 0;
    d.src_ip = addrs[i].sin_addr.s_addr;
    d.src_port = ntohs(addrs[i].sin_port);
    d.dst_ip = 0;
    d.ecn = 0;
    d.segment_size = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int segment;
        std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
        if (segment > 0 && uint32_t(segment) < d.length) d.segment_size = uint32_t(segment);
        continue;
      }
      if (c->cmsg_level != IPPROTO_IP) continue;
      if (c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        d.dst_ip = pi.ipi_addr.s_addr;
      } else if (c->cmsg_type == IP_TOS) {
        uint8_t tos;
        std::memcpy(&tos, CMSG_DATA(c), 1);
        d.ecn = tos & 3;
      }
    }
  }
  return uint32_t(r);
}

}  // namespace flexins::io
