// The library's end of the control protocol, against a peer that follows
// pipe/control_proto.h by hand.
#include "verbs/control_client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "pipe/unix_msg.h"

namespace flexins::verbs {
namespace {

class ControlClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    client_ = std::make_unique<ControlClient>(sv[0]);
    peer_ = sv[1];
  }
  void TearDown() override {
    if (peer_ >= 0) close(peer_);
  }
  // Receive one request; return its op and body.
  uint32_t take_request(std::vector<uint8_t>* body, int* fd = nullptr) {
    uint8_t buf[pipe::kMaxMsg];
    int fds[4];
    size_t nfds = 0;
    ssize_t n = pipe::recv_msg(peer_, buf, sizeof buf, fds, &nfds);
    EXPECT_GE(n, ssize_t(sizeof(pipe::CtlRequest)));
    pipe::CtlRequest hdr;
    std::memcpy(&hdr, buf, sizeof hdr);
    EXPECT_EQ(hdr.size, size_t(n) - sizeof hdr);
    body->assign(buf + sizeof hdr, buf + n);
    if (fd) *fd = nfds > 0 ? fds[0] : -1;
    return hdr.op;
  }
  void reply(int32_t status, const void* body, uint32_t size, int fd = -1) {
    uint8_t buf[pipe::kMaxMsg];
    pipe::CtlReply hdr{status, size};
    std::memcpy(buf, &hdr, sizeof hdr);
    if (size) std::memcpy(buf + sizeof hdr, body, size);
    std::span<const int> fds;
    if (fd >= 0) fds = std::span<const int>(&fd, 1);
    ASSERT_EQ(pipe::send_msg(peer_, buf, sizeof hdr + size, fds), 0);
  }
  std::unique_ptr<ControlClient> client_;
  int peer_ = -1;
};

TEST_F(ControlClientTest, RequestAndReplyWithDescriptors) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  std::thread engine([&] {
    std::vector<uint8_t> body;
    int got_fd = -1;
    EXPECT_EQ(take_request(&body, &got_fd), uint32_t(pipe::CtlOp::kCreateCompChannel));
    EXPECT_GE(got_fd, 0) << "the request's fd arrives";
    if (got_fd >= 0) close(got_fd);
    pipe::HandleReply rep{77, 0};
    reply(0, &rep, sizeof rep, pipefd[1]);
  });
  pipe::HandleReply rep{};
  int fds[2];
  size_t nfds = 0;
  int mine = pipefd[0];
  EXPECT_EQ(client_->call(pipe::CtlOp::kCreateCompChannel, pipe::HandleRequest{}, &rep,
                          std::span<const int>(&mine, 1), fds, &nfds),
            0);
  engine.join();
  EXPECT_EQ(rep.handle, 77u);
  ASSERT_EQ(nfds, 1u);
  // The received fd is the pipe's write end: prove it.
  ASSERT_EQ(write(fds[0], "x", 1), 1);
  char c = 0;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  close(fds[0]);
  close(pipefd[0]);
  close(pipefd[1]);
}

TEST_F(ControlClientTest, EngineErrnoComesBack) {
  std::thread engine([&] {
    std::vector<uint8_t> body;
    EXPECT_EQ(take_request(&body), uint32_t(pipe::CtlOp::kDeallocPd));
    pipe::HandleRequest req;
    ASSERT_EQ(body.size(), sizeof req);
    std::memcpy(&req, body.data(), sizeof req);
    EXPECT_EQ(req.handle, 5u);
    reply(EBUSY, nullptr, 0);
  });
  EXPECT_EQ(client_->call(pipe::CtlOp::kDeallocPd, pipe::HandleRequest{5, 0}), EBUSY);
  engine.join();
  EXPECT_TRUE(client_->alive());
}

TEST_F(ControlClientTest, WrongReplySizeIsAProtocolError) {
  std::thread engine([&] {
    std::vector<uint8_t> body;
    take_request(&body);
    uint32_t short_body = 1;
    reply(0, &short_body, sizeof short_body);
  });
  pipe::HandleReply rep{};
  EXPECT_EQ(client_->call(pipe::CtlOp::kAllocPd, pipe::HandleRequest{}, &rep), EPROTO);
  engine.join();
}

TEST_F(ControlClientTest, DeadEngineGivesEioAndNeverBlocks) {
  EXPECT_TRUE(client_->alive());
  EXPECT_FALSE(client_->known_dead());
  std::thread engine([&] {
    std::vector<uint8_t> body;
    take_request(&body);
    close(peer_);  // dies mid-request
    peer_ = -1;
  });
  pipe::HandleReply rep{};
  EXPECT_EQ(client_->call(pipe::CtlOp::kAllocPd, pipe::HandleRequest{}, &rep), EIO);
  engine.join();
  EXPECT_TRUE(client_->known_dead());
  EXPECT_FALSE(client_->alive());
  EXPECT_EQ(client_->call(pipe::CtlOp::kAllocPd, pipe::HandleRequest{}, &rep), EIO);
}

TEST_F(ControlClientTest, AliveNoticesAClosedPeer) {
  close(peer_);
  peer_ = -1;
  EXPECT_FALSE(client_->alive());
  EXPECT_TRUE(client_->known_dead());
}

}  // namespace
}  // namespace flexins::verbs
