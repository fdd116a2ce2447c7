// rsockets against a real engine: both ends of each connection live in this
// process (the client connects from a thread) and reach the engine's
// address over the CM's TCP connection and RDMA, as two hosts would. What
// rstream and riostream do not show: half-close, EAGAIN, rpoll / rselect
// next to ordinary fds, options, vector I/O, riomap rules, clean errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rdma/rsocket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine_fixture.h"

namespace flexins::rdmacm {
namespace {

using verbs::testing::EngineProcess;
using verbs::testing::engine_addr;

constexpr int kWaitMs = 5000;

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return rpoll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

// Receive exactly N bytes (each wait bounded); the bytes, or what came.
std::string recv_exactly(int fd, size_t n) {
  std::string out;
  std::vector<char> buf(n);
  while (out.size() < n) {
    if (!readable_within(fd, kWaitMs)) break;
    ssize_t r = rrecv(fd, buf.data(), n - out.size(), MSG_DONTWAIT);
    if (r <= 0) break;
    out.append(buf.data(), size_t(r));
  }
  return out;
}

class RsocketEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { engine_ = new EngineProcess; }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(engine_->ready()) << "flexins daemon did not come up";
    listener_ = rsocket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener_, 0) << strerror(errno);
    sockaddr_in a = engine_addr(0);
    ASSERT_EQ(rbind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    ASSERT_EQ(rlisten(listener_, 4), 0) << strerror(errno);
    socklen_t len = sizeof a;
    ASSERT_EQ(rgetsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = a.sin_port;
    ASSERT_NE(port_, 0);
    ASSERT_EQ(rfcntl(listener_, F_SETFL, O_NONBLOCK), 0);
  }
  void TearDown() override {
    if (client_ >= 0) rclose(client_);
    if (server_ >= 0) rclose(server_);
    if (listener_ >= 0) rclose(listener_);
  }

  // CONFIGURE runs on the client socket before rconnect.
  template <typename F>
  void connect_pair(F configure) {
    int client_rc = -1, client_errno = 0;
    client_ = rsocket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(client_, 0);
    configure(client_);
    std::thread t([&] {
      sockaddr_in a = engine_addr(port_);
      client_rc = rconnect(client_, reinterpret_cast<sockaddr*>(&a), sizeof a);
      client_errno = errno;
    });
    if (readable_within(listener_, kWaitMs)) server_ = raccept(listener_, nullptr, nullptr);
    t.join();
    ASSERT_EQ(client_rc, 0) << strerror(client_errno);
    ASSERT_GE(server_, 0) << "no connection to accept";
  }
  void connect_pair() {
    connect_pair([](int) {});
  }

  static EngineProcess* engine_;
  int listener_ = -1, client_ = -1, server_ = -1;
  uint16_t port_ = 0;
};

EngineProcess* RsocketEngine::engine_ = nullptr;

TEST_F(RsocketEngine, BytesFlowBothWaysAndShutdownWriteGivesThePeerEof) {
  connect_pair();
  ASSERT_EQ(rsend(client_, "hello", 5, 0), 5);
  ASSERT_EQ(rshutdown(client_, SHUT_WR), 0);
  EXPECT_EQ(recv_exactly(server_, 5), "hello");
  char c;
  ASSERT_TRUE(readable_within(server_, kWaitMs)) << "end of file is readable";
  EXPECT_EQ(rrecv(server_, &c, 1, 0), 0) << "EOF after the peer's SHUT_WR";
  EXPECT_EQ(rsend(client_, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPIPE) << "no sending after our own SHUT_WR";
  // Half-close: the other direction still works.
  ASSERT_EQ(rwrite(server_, "back", 4), 4);
  EXPECT_EQ(recv_exactly(client_, 4), "back");
}

TEST_F(RsocketEngine, ANonblockingReceiveSaysEagainUntilDataComes) {
  connect_pair();
  ASSERT_EQ(rfcntl(server_, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(rfcntl(server_, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  char buf[8];
  EXPECT_EQ(rrecv(server_, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(rrecv(client_, buf, sizeof buf, MSG_DONTWAIT), -1) << "MSG_DONTWAIT on a blocking socket";
  EXPECT_EQ(errno, EAGAIN);
  pollfd p{server_, POLLIN, 0};
  EXPECT_EQ(rpoll(&p, 1, 0), 0);
  ASSERT_EQ(rsend(client_, "abc", 3, 0), 3);
  ASSERT_EQ(rpoll(&p, 1, kWaitMs), 1);
  EXPECT_TRUE(p.revents & POLLIN);
  EXPECT_EQ(rrecv(server_, buf, 2, MSG_PEEK), 2);
  EXPECT_EQ(rrecv(server_, buf, sizeof buf, 0), 3) << "MSG_PEEK left the bytes";
  EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST_F(RsocketEngine, RpollAndRselectMixRsocketsWithOrdinaryFds) {
  connect_pair();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pollfd p[2] = {{server_, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
  EXPECT_EQ(rpoll(p, 2, 10), 0) << "nothing yet: times out";
  ASSERT_EQ(write(pipefd[1], "p", 1), 1);
  ASSERT_EQ(rpoll(p, 2, kWaitMs), 1);
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_TRUE(p[1].revents & POLLIN) << "the pipe woke it";
  char c;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);

  ASSERT_EQ(rsend(client_, "r", 1, 0), 1);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(server_, &rd);
  FD_SET(pipefd[0], &rd);
  timeval tv{5, 0};
  ASSERT_EQ(rselect(std::max(server_, pipefd[0]) + 1, &rd, nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(FD_ISSET(server_, &rd));
  EXPECT_FALSE(FD_ISSET(pipefd[0], &rd));
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(client_, &wr);
  tv = {5, 0};
  EXPECT_EQ(rselect(client_ + 1, nullptr, &wr, nullptr, &tv), 1) << "room to send";
  close(pipefd[0]);
  close(pipefd[1]);
}

TEST_F(RsocketEngine, VectorAndMessageCallsMoveEveryPiece) {
  connect_pair();
  char a[] = "one", b[] = "two!";
  iovec out[2] = {{a, 3}, {b, 4}};
  ASSERT_EQ(rwritev(client_, out, 2), 7);
  msghdr m{};
  m.msg_iov = out;
  m.msg_iovlen = 2;
  ASSERT_EQ(rsendmsg(client_, &m, 0), 7);
  std::string got = recv_exactly(server_, 7);
  EXPECT_EQ(got, "onetwo!");
  char x[3], y[4];
  iovec in[2] = {{x, 3}, {y, 4}};
  msghdr r{};
  r.msg_iov = in;
  r.msg_iovlen = 2;
  ASSERT_TRUE(readable_within(server_, kWaitMs));
  EXPECT_EQ(rrecvmsg(server_, &r, MSG_WAITALL), 7);
  EXPECT_EQ(std::string(x, 3) + std::string(y, 4), "onetwo!");
}

TEST_F(RsocketEngine, OptionsAreKeptAndNamesAreTheEngines) {
  int v = 1 << 19;
  ASSERT_EQ(rsetsockopt(listener_, SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
  connect_pair([](int fd) {
    int inl = 0;
    rsetsockopt(fd, SOL_RDMA, RDMA_INLINE, &inl, sizeof inl);
    int nodelay = 1;
    rsetsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
  });
  socklen_t len = sizeof v;
  ASSERT_EQ(rgetsockopt(server_, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
  EXPECT_EQ(v, 1 << 19) << "inherited from the listener";
  ASSERT_EQ(rgetsockopt(client_, SOL_RDMA, RDMA_INLINE, &v, &len), 0);
  EXPECT_EQ(v, 0);
  ASSERT_EQ(rgetsockopt(client_, SOL_SOCKET, SO_ERROR, &v, &len), 0);
  EXPECT_EQ(v, 0);
  EXPECT_EQ(rsetsockopt(client_, SOL_SOCKET, SO_BROADCAST, &v, sizeof v), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  // Inline off: even a small message goes through the staging buffer.
  ASSERT_EQ(rsend(client_, "staged", 6, 0), 6);
  EXPECT_EQ(recv_exactly(server_, 6), "staged");

  sockaddr_in peer{}, local{};
  len = sizeof peer;
  ASSERT_EQ(rgetpeername(client_, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(peer.sin_port, port_);
  EXPECT_EQ(peer.sin_addr.s_addr, engine_addr(0).sin_addr.s_addr);
  len = sizeof local;
  ASSERT_EQ(rgetsockname(server_, reinterpret_cast<sockaddr*>(&local), &len), 0);
  EXPECT_EQ(local.sin_addr.s_addr, engine_addr(0).sin_addr.s_addr);
}

TEST_F(RsocketEngine, RiowriteLandsInThePeersRiomappedBuffer) {
  connect_pair();
  std::vector<char> target(8192, 0);
  EXPECT_EQ(riomap(server_, target.data(), target.size(), PROT_WRITE, 0, 0), -1)
      << "RDMA_IOMAPSIZE is 0 by default";
  EXPECT_EQ(errno, ENOMEM);
  int one = 1;
  ASSERT_EQ(rsetsockopt(server_, SOL_RDMA, RDMA_IOMAPSIZE, &one, sizeof one), 0);
  ASSERT_EQ(riomap(server_, target.data(), target.size(), PROT_WRITE, 0, 4096), 4096);
  // The announcement travels in order with data: after this byte, the map is known.
  ASSERT_EQ(rsend(server_, "m", 1, 0), 1);
  ASSERT_EQ(recv_exactly(client_, 1), "m");
  std::string msg(5000, 'w');
  ASSERT_EQ(riowrite(client_, msg.data(), msg.size(), 4096 + 100, 0), msg.size());
  EXPECT_EQ(riowrite(client_, msg.data(), 1, 0, 0), size_t(-1)) << "no map at offset 0";
  EXPECT_EQ(errno, EINVAL);
  // A marker after it: RC keeps order, so the write has landed when it arrives.
  ASSERT_EQ(rsend(client_, "d", 1, 0), 1);
  ASSERT_EQ(recv_exactly(server_, 1), "d");
  EXPECT_EQ(std::string(target.data() + 100, 5000), msg);
  EXPECT_EQ(target[99], 0);
  EXPECT_EQ(riounmap(server_, target.data(), target.size()), 0);
  EXPECT_EQ(riounmap(server_, target.data(), target.size()), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(RsocketEngine, AClosedPeerGivesEofAndSendingThenFails) {
  connect_pair();
  ASSERT_EQ(rsend(server_, "bye", 3, 0), 3);
  ASSERT_EQ(rclose(server_), 0);
  server_ = -1;
  EXPECT_EQ(recv_exactly(client_, 3), "bye") << "data sent before the close arrives";
  ASSERT_TRUE(readable_within(client_, kWaitMs));
  char c;
  EXPECT_EQ(rrecv(client_, &c, 1, 0), 0);
  // The CM's DISCONNECTED follows the FIN; then sends fail.
  ssize_t r = 0;
  for (int i = 0; i < 500 && r >= 0; ++i) {
    r = rsend(client_, "x", 1, 0);
    if (r >= 0) usleep(10000);
  }
  EXPECT_EQ(r, -1);
  EXPECT_TRUE(errno == EPIPE || errno == ECONNRESET) << strerror(errno);
}

TEST_F(RsocketEngine, ANonblockingConnectCompletesThroughRpoll) {
  int fd = rsocket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(fd, 0);
  client_ = fd;
  sockaddr_in a = engine_addr(port_);
  ASSERT_EQ(rconnect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  // The accept needs the client to take the REP (and send the RTU), which
  // it does inside rpoll: accept from a thread.
  std::thread t([&] {
    if (readable_within(listener_, kWaitMs)) server_ = raccept(listener_, nullptr, nullptr);
  });
  pollfd p{fd, POLLOUT, 0};
  int n = rpoll(&p, 1, kWaitMs);
  t.join();
  ASSERT_EQ(n, 1);
  EXPECT_EQ(p.revents & (POLLERR | POLLHUP), 0);
  int err = -1;
  socklen_t len = sizeof err;
  ASSERT_EQ(rgetsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);
  ASSERT_GE(server_, 0);
  ASSERT_EQ(rsend(server_, "ok", 2, 0), 2);
  EXPECT_EQ(recv_exactly(client_, 2), "ok");
}

TEST_F(RsocketEngine, ConnectingToAPortNobodyListensOnIsRefused) {
  client_ = rsocket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client_, 0);
  rclose(listener_);
  listener_ = -1;
  sockaddr_in a = engine_addr(port_);
  EXPECT_EQ(rconnect(client_, reinterpret_cast<sockaddr*>(&a), sizeof a), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST(RsocketApi, WhatIsNotBuiltFailsClearly) {
  EXPECT_EQ(rsocket(AF_INET, SOCK_DGRAM, 0), -1) << "datagram rsockets are not built";
  EXPECT_EQ(errno, ESOCKTNOSUPPORT);
  EXPECT_EQ(rsocket(AF_INET6, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  char c;
  EXPECT_EQ(rrecv(0, &c, 1, 0), -1) << "fd 0 is no rsocket";
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(rclose(12345), -1);
  EXPECT_EQ(errno, EBADF);
  // rpoll on ordinary fds alone is poll(2).
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  ASSERT_EQ(write(pipefd[1], "x", 1), 1);
  pollfd p{pipefd[0], POLLIN, 0};
  EXPECT_EQ(rpoll(&p, 1, 0), 1);
  close(pipefd[0]);
  close(pipefd[1]);
}

}  // namespace
}  // namespace flexins::rdmacm
