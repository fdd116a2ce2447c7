// The librdmacm replacement without an engine: argument checking, names,
// addresses, event channels, and the passive side of the CM protocol as a
// raw TCP peer sees it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <rdma/rsocket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../interrupt_after.h"
#include "../private_run_dir.h"
#include "rdmacm/cm_msg.h"

namespace flexins::rdmacm {
namespace {

// No engines: a private, empty run directory and no $FLEXINS_IP.
class NoEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { run_dir_ = new flexins::testing::PrivateRunDir("flexins-rdmacm-test"); }
  static void TearDownTestSuite() {
    delete run_dir_;
    run_dir_ = nullptr;
  }

 private:
  static inline flexins::testing::PrivateRunDir* run_dir_ = nullptr;
};

sockaddr_in ipv4(const char* addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, addr, &a.sin_addr);
  return a;
}

int unknown_event_ = 99;  // not constexpr: converting it must not be folded

TEST_F(NoEngine, EventNamesAreTheLibrarysOwn) {
  EXPECT_STREQ(rdma_event_str(RDMA_CM_EVENT_ESTABLISHED), "RDMA_CM_EVENT_ESTABLISHED");
  EXPECT_STREQ(rdma_event_str(RDMA_CM_EVENT_REJECTED), "RDMA_CM_EVENT_REJECTED");
  EXPECT_STREQ(rdma_event_str(RDMA_CM_EVENT_TIMEWAIT_EXIT), "RDMA_CM_EVENT_TIMEWAIT_EXIT");
  EXPECT_STREQ(rdma_event_str(static_cast<rdma_cm_event_type>(unknown_event_)), "UNKNOWN EVENT");
}

TEST_F(NoEngine, GetAddrInfoPutsThePassiveAddressInSrcAndTheActiveOneInDst) {
  rdma_addrinfo hints{};
  hints.ai_flags = RAI_PASSIVE;
  hints.ai_port_space = RDMA_PS_TCP;
  rdma_addrinfo* res = nullptr;
  ASSERT_EQ(rdma_getaddrinfo(nullptr, "7471", &hints, &res), 0);
  ASSERT_NE(res->ai_src_addr, nullptr);
  EXPECT_EQ(res->ai_dst_addr, nullptr);
  const auto* src = reinterpret_cast<const sockaddr_in*>(res->ai_src_addr);
  EXPECT_EQ(src->sin_family, AF_INET);
  EXPECT_EQ(ntohs(src->sin_port), 7471);
  EXPECT_EQ(src->sin_addr.s_addr, htonl(INADDR_ANY));
  EXPECT_EQ(res->ai_port_space, RDMA_PS_TCP);
  EXPECT_EQ(res->ai_qp_type, IBV_QPT_RC);
  rdma_freeaddrinfo(res);

  ASSERT_EQ(rdma_getaddrinfo("127.0.0.9", "20079", nullptr, &res), 0);
  ASSERT_NE(res->ai_dst_addr, nullptr);
  const auto* dst = reinterpret_cast<const sockaddr_in*>(res->ai_dst_addr);
  EXPECT_EQ(ntohs(dst->sin_port), 20079);
  EXPECT_EQ(dst->sin_addr.s_addr, ipv4("127.0.0.9", 0).sin_addr.s_addr);
  EXPECT_EQ(res->ai_dst_len, sizeof(sockaddr_in));
  rdma_freeaddrinfo(res);

  hints = {};
  hints.ai_qp_type = IBV_QPT_UD;
  ASSERT_EQ(rdma_getaddrinfo("127.0.0.9", nullptr, &hints, &res), 0);
  EXPECT_EQ(res->ai_port_space, RDMA_PS_UDP) << "UD goes with the UDP port space";
  rdma_freeaddrinfo(res);

  EXPECT_EQ(rdma_getaddrinfo(nullptr, nullptr, nullptr, &res), -1);
  EXPECT_EQ(errno, EINVAL);
  hints = {};
  hints.ai_flags = RAI_NUMERICHOST;
  EXPECT_EQ(rdma_getaddrinfo("not-a-number.invalid", "1", &hints, &res), -1);
}

TEST_F(NoEngine, AnEmptyChannelIsNotReadableAndNonblockingReadsSayEagain) {
  rdma_event_channel* ch = rdma_create_event_channel();
  ASSERT_NE(ch, nullptr);
  pollfd p{ch->fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  ASSERT_EQ(fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK), 0);
  rdma_cm_event* e = nullptr;
  EXPECT_EQ(rdma_get_cm_event(ch, &e), -1);
  EXPECT_EQ(errno, EAGAIN);
  rdma_destroy_event_channel(ch);
}

// A signal whose handler has no SA_RESTART ends a blocking
// rdma_get_cm_event with EINTR, as librdmacm's read() does.
TEST_F(NoEngine, ASignalInterruptsAWaitForACmEvent) {
  rdma_event_channel* ch = rdma_create_event_channel();
  ASSERT_NE(ch, nullptr);
  rdma_cm_event* e = nullptr;
  {
    flexins::testing::InterruptAfter alarm(std::chrono::milliseconds(100));
    errno = 0;
    EXPECT_EQ(rdma_get_cm_event(ch, &e), -1);
    EXPECT_EQ(errno, EINTR);
  }
  rdma_destroy_event_channel(ch);
}

int unknown_ps_ = 0x7777;

TEST_F(NoEngine, IdsCheckTheirArguments) {
  rdma_cm_id* id = nullptr;
  EXPECT_EQ(rdma_create_id(nullptr, &id, nullptr, static_cast<rdma_port_space>(unknown_ps_)), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(rdma_create_id(nullptr, &id, this, RDMA_PS_UDP), 0);  // synchronous
  EXPECT_EQ(id->qp_type, IBV_QPT_UD);
  EXPECT_EQ(id->context, this);
  EXPECT_NE(id->channel, nullptr) << "a synchronous id has a channel of its own";
  EXPECT_EQ(rdma_disconnect(id), -1) << "nothing to disconnect";
  EXPECT_EQ(rdma_accept(id, nullptr), -1) << "nothing to accept";
  EXPECT_EQ(rdma_connect(id, nullptr), -1) << "no route";
  EXPECT_EQ(rdma_resolve_route(id, 100), -1) << "no address";
  sockaddr_in a6{};
  a6.sin_family = AF_INET6;
  EXPECT_EQ(rdma_bind_addr(id, reinterpret_cast<sockaddr*>(&a6)), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  EXPECT_EQ(rdma_destroy_id(id), 0);
}

TEST_F(NoEngine, WithoutADeviceAddressesCannotBeUsed) {
  rdma_cm_id* id = nullptr;
  ASSERT_EQ(rdma_create_id(nullptr, &id, nullptr, RDMA_PS_TCP), 0);
  sockaddr_in a = ipv4("127.0.0.9", 0);
  EXPECT_EQ(rdma_bind_addr(id, reinterpret_cast<sockaddr*>(&a)), -1);
  EXPECT_EQ(errno, ENODEV);
  EXPECT_EQ(rdma_resolve_addr(id, nullptr, reinterpret_cast<sockaddr*>(&a), 100), -1);
  EXPECT_EQ(errno, ENODEV);
  int n = -1;
  ibv_context** devs = rdma_get_devices(&n);
  ASSERT_NE(devs, nullptr);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(devs[0], nullptr);
  rdma_free_devices(devs);
  EXPECT_EQ(rdma_destroy_id(id), 0);
}

TEST_F(NoEngine, OptionsAreCheckedAndUnsupportedCallsFailCleanly) {
  rdma_cm_id* id = nullptr;
  ASSERT_EQ(rdma_create_id(nullptr, &id, nullptr, RDMA_PS_TCP), 0);
  uint8_t tos = 32;
  EXPECT_EQ(rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS, &tos, sizeof tos), 0);
  int one = 1;
  EXPECT_EQ(rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS, &one, sizeof one), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_REUSEADDR, &one, sizeof one), 0);
  EXPECT_EQ(rdma_set_option(id, RDMA_OPTION_ID, 42, &one, sizeof one), -1);
  EXPECT_EQ(errno, ENOSYS);
  sockaddr_in group = ipv4("239.1.1.1", 0);
  EXPECT_EQ(rdma_join_multicast(id, reinterpret_cast<sockaddr*>(&group), nullptr), -1);
  EXPECT_EQ(errno, ENOSYS);
  ibv_ece ece{};
  EXPECT_EQ(rdma_set_local_ece(id, &ece), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(rsocket(AF_INET, SOCK_DGRAM, 0), -1);  // datagram rsockets are not built
  EXPECT_EQ(errno, ESOCKTNOSUPPORT);
  EXPECT_EQ(rdma_destroy_id(id), 0);
}

TEST_F(NoEngine, RpollWorksOnOrdinaryDescriptors) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pollfd p{sv[0], POLLIN, 0};
  EXPECT_EQ(rpoll(&p, 1, 0), 0);
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  EXPECT_EQ(rpoll(&p, 1, 1000), 1);
  EXPECT_TRUE(p.revents & POLLIN);
  close(sv[0]);
  close(sv[1]);
}

// A raw TCP peer talking to a listening id.
class RawPeer {
 public:
  explicit RawPeer(uint16_t port_be) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = ipv4("127.0.0.1", 0);
    a.sin_port = port_be;
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawPeer() { close(fd_); }
  bool connected() const { return connected_; }
  void send_bytes(const void* p, size_t n) { ASSERT_EQ(send(fd_, p, n, 0), ssize_t(n)); }
  void send_msg(const CmMessage& m) {
    uint8_t buf[kMaxMessageBytes];
    size_t n = encode(m, buf, sizeof buf);
    ASSERT_GT(n, 0u);
    send_bytes(buf, n);
  }
  // The next message, or false at EOF / timeout.
  bool recv_msg(CmMessage* m) {
    for (;;) {
      size_t used = 0;
      if (decode(rx_.data(), rx_.size(), m, &used) == DecodeResult::kOk) {
        rx_.erase(rx_.begin(), rx_.begin() + ptrdiff_t(used));
        return true;
      }
      uint8_t buf[512];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      rx_.insert(rx_.end(), buf, buf + n);
    }
  }
  // True when the library closed the connection.
  bool closed_by_peer() {
    uint8_t b;
    return recv(fd_, &b, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::vector<uint8_t> rx_;
};

class Listening : public NoEngine {
 protected:
  void SetUp() override {
    ch_ = rdma_create_event_channel();
    ASSERT_NE(ch_, nullptr);
    ASSERT_EQ(rdma_create_id(ch_, &listen_id_, nullptr, RDMA_PS_TCP), 0);
    sockaddr_in any = ipv4("0.0.0.0", 0);
    ASSERT_EQ(rdma_bind_addr(listen_id_, reinterpret_cast<sockaddr*>(&any)), 0);
    ASSERT_EQ(rdma_listen(listen_id_, 4), 0);
    port_ = rdma_get_src_port(listen_id_);
    ASSERT_NE(port_, 0) << "binding port 0 picks a port";
  }
  void TearDown() override {
    EXPECT_EQ(rdma_destroy_id(listen_id_), 0);
    rdma_destroy_event_channel(ch_);
  }
  bool event_waiting() {
    pollfd p{ch_->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }
  rdma_event_channel* ch_ = nullptr;
  rdma_cm_id* listen_id_ = nullptr;
  uint16_t port_ = 0;
};

TEST_F(Listening, ARequestNoDeviceCanServeIsRejectedWithInvalidServiceId) {
  RawPeer peer(port_);
  ASSERT_TRUE(peer.connected());
  CmMessage req;
  req.type = CmMsgType::kReq;
  req.qpn = 0x42;
  req.mtu = 3;
  req.port_space = RDMA_PS_TCP;
  peer.send_msg(req);
  CmMessage rej;
  ASSERT_TRUE(peer.recv_msg(&rej));
  EXPECT_EQ(rej.type, CmMsgType::kRej);
  EXPECT_EQ(rej.reason, kRejInvalidServiceId);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_FALSE(event_waiting()) << "nothing to report to the application";
}

TEST_F(Listening, ARequestForAnotherPortSpaceIsRejected) {
  RawPeer peer(port_);
  CmMessage req;
  req.type = CmMsgType::kSidrReq;  // a UD request to an RC listener
  req.mtu = 3;
  req.port_space = RDMA_PS_UDP;
  peer.send_msg(req);
  CmMessage rep;
  ASSERT_TRUE(peer.recv_msg(&rep));
  EXPECT_EQ(rep.type, CmMsgType::kSidrRep);
  EXPECT_EQ(rep.reason, kSidrStatusServiceIdNotSupported);
  EXPECT_FALSE(event_waiting());
}

TEST_F(Listening, ForeignBytesCloseTheConnectionAndReportNothing) {
  RawPeer peer(port_);
  const char http[] = "GET / HTTP/1.0\r\n\r\n";
  peer.send_bytes(http, sizeof http - 1);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_FALSE(event_waiting());
}

TEST_F(NoEngine, ASecondListenerOnTheSamePortIsRefused) {
  rdma_cm_id* a = nullptr;
  rdma_cm_id* b = nullptr;
  ASSERT_EQ(rdma_create_id(nullptr, &a, nullptr, RDMA_PS_TCP), 0);
  ASSERT_EQ(rdma_create_id(nullptr, &b, nullptr, RDMA_PS_TCP), 0);
  sockaddr_in any = ipv4("0.0.0.0", 0);
  ASSERT_EQ(rdma_bind_addr(a, reinterpret_cast<sockaddr*>(&any)), 0);
  ASSERT_EQ(rdma_listen(a, 1), 0);
  any.sin_port = rdma_get_src_port(a);
  EXPECT_EQ(rdma_bind_addr(b, reinterpret_cast<sockaddr*>(&any)), -1);
  EXPECT_EQ(errno, EADDRINUSE);
  EXPECT_EQ(rdma_destroy_id(b), 0);
  EXPECT_EQ(rdma_destroy_id(a), 0);
}

}  // namespace
}  // namespace flexins::rdmacm
