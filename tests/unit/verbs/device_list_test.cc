// Device discovery: engine sockets in the run directory, or FLEXINS_IP.
#include "verbs/device_list.h"

#include <arpa/inet.h>
#include <endian.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "../private_run_dir.h"

namespace flexins::verbs {
namespace {

uint32_t ip(const char* s) {
  in_addr a;
  inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

class RunDir : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_.emplace("flexins-devlist");
    ASSERT_TRUE(run_dir_->ok());
  }
  void TearDown() override {
    for (int fd : socks_) close(fd);
    ASSERT_TRUE(run_dir_->remove());
    unsetenv("FLEXINS_RUN_DIR");
    unsetenv("FLEXINS_IP");
  }
  void listen_on(const std::string& name) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = dir() + "/" + name;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socks_.push_back(fd);
  }
  const std::string& dir() const { return run_dir_->path(); }
  std::optional<flexins::testing::PrivateRunDir> run_dir_;
  std::vector<int> socks_;
};

TEST(DeviceNames, ParsesEngineSocketNames) {
  uint32_t a = 0;
  EXPECT_TRUE(parse_engine_socket_name("engine-10.0.0.1.sock", &a));
  EXPECT_EQ(a, ip("10.0.0.1"));
  EXPECT_FALSE(parse_engine_socket_name("engine-10.0.0.sock", &a));
  EXPECT_FALSE(parse_engine_socket_name("engine-.sock", &a));
  EXPECT_FALSE(parse_engine_socket_name("engine-10.0.0.1.sock.bak", &a));
  EXPECT_FALSE(parse_engine_socket_name("daemon-10.0.0.1.sock", &a));
  EXPECT_EQ(engine_socket_path("/run/x", ip("127.0.0.3")), "/run/x/engine-127.0.0.3.sock");
}

TEST(DeviceNames, GuidCarriesTheAddress) {
  EXPECT_EQ(node_guid_for_ipv4(ip("10.1.2.3")), 0x02464eff0a010203ull);
  EXPECT_NE(node_guid_for_ipv4(ip("10.1.2.3")), node_guid_for_ipv4(ip("10.1.2.4")));
}

TEST_F(RunDir, OneDevicePerEngineSocketInAddressOrder) {
  listen_on("engine-10.0.0.2.sock");
  listen_on("engine-9.0.0.1.sock");
  listen_on("engine-10.0.0.10.sock");
  ASSERT_EQ(system(("touch " + dir() + "/engine-10.0.0.3.sock").c_str()), 0);  // not a socket
  auto addrs = discover_engine_addresses();
  ASSERT_EQ(addrs.size(), 3u);
  EXPECT_EQ(addrs[0], ip("9.0.0.1"));
  EXPECT_EQ(addrs[1], ip("10.0.0.2"));
  EXPECT_EQ(addrs[2], ip("10.0.0.10"));

  int n = -1;
  ibv_device** list = ibv_get_device_list(&n);
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(n, 3);
  EXPECT_EQ(list[3], nullptr);
  EXPECT_STREQ(ibv_get_device_name(list[0]), "flexins0");
  EXPECT_STREQ(ibv_get_device_name(list[2]), "flexins2");
  EXPECT_EQ(ibv_get_device_index(list[1]), 1);
  EXPECT_EQ(be64toh(ibv_get_device_guid(list[1])), node_guid_for_ipv4(ip("10.0.0.2")));
  EXPECT_EQ(list[0]->node_type, IBV_NODE_CA);
  EXPECT_EQ(list[0]->transport_type, IBV_TRANSPORT_IB);
  ibv_device* kept = list[0];
  ibv_free_device_list(list);
  // Device structures outlive the list.
  EXPECT_STREQ(ibv_get_device_name(kept), "flexins0");
}

TEST_F(RunDir, FlexinsIpNamesTheOnlyDevice) {
  listen_on("engine-10.0.0.2.sock");
  setenv("FLEXINS_IP", "192.168.7.9", 1);
  int n = -1;
  ibv_device** list = ibv_get_device_list(&n);
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(be64toh(ibv_get_device_guid(list[0])), node_guid_for_ipv4(ip("192.168.7.9")));
  ibv_free_device_list(list);
}

TEST_F(RunDir, NoEngineNoDevice) {
  int n = -1;
  ibv_device** list = ibv_get_device_list(&n);
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(list[0], nullptr);
  ibv_free_device_list(list);
}

TEST_F(RunDir, OpeningAStaleSocketFailsWithEnodev) {
  listen_on("engine-10.0.0.2.sock");  // bound, never listening: like a dead engine
  ibv_device** list = ibv_get_device_list(nullptr);
  ASSERT_NE(list[0], nullptr);
  errno = 0;
  EXPECT_EQ(ibv_open_device(list[0]), nullptr);
  EXPECT_EQ(errno, ENODEV);
  ibv_free_device_list(list);
}

}  // namespace
}  // namespace flexins::verbs
