// connected_to_itself: a socket that connected to its own address and port
// (TCP simultaneous open) is told apart from one with a real peer.
#include "rdmacm/self_connect.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flexins::rdmacm {
namespace {

sockaddr_in loopback(uint16_t port_net) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = port_net;
  return a;
}

// A TCP socket bound to 127.0.0.1 on a port of the kernel's choosing.
int bound_socket(sockaddr_in* where) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(s);
    return -1;
  }
  *where = a;
  return s;
}

TEST(SelfConnect, ASocketCallingItsOwnPortIsConnectedToItself) {
  sockaddr_in own{};
  int s = bound_socket(&own);
  ASSERT_GE(s, 0);
  // Nobody listens on `own`: the SYN meets the socket's own SYN.
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&own), sizeof own), 0) << strerror(errno);
  EXPECT_TRUE(connected_to_itself(s));
  close(s);
}

TEST(SelfConnect, AConnectionToAListenerIsNot) {
  sockaddr_in at{};
  int listener = bound_socket(&at);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(listen(listener, 1), 0);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&at), sizeof at), 0) << strerror(errno);
  int server = accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  EXPECT_FALSE(connected_to_itself(client));
  EXPECT_FALSE(connected_to_itself(server));
  close(server);
  close(client);
  close(listener);
}

TEST(SelfConnect, AnUnconnectedSocketIsNot) {
  sockaddr_in own{};
  int s = bound_socket(&own);
  ASSERT_GE(s, 0);
  EXPECT_FALSE(connected_to_itself(s));
  close(s);
  EXPECT_FALSE(connected_to_itself(-1));
}

}  // namespace
}  // namespace flexins::rdmacm
