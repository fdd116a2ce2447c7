// FlexiNS's LID rule (pipe/lid.h): a port's LID is the low 16 bits of its
// engine's IPv4 address, and a DLID without a GRH names the host with that
// LID in the engine's own /16.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "pipe/lid.h"

namespace flexins::pipe {
namespace {

uint32_t ip(const char* dotted) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, dotted, &a), 1) << dotted;
  return a.s_addr;  // network byte order, as the engine keeps addresses
}

std::string dotted(uint32_t ip_be) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{ip_be};
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

TEST(Lid, APortsLidIsTheLow16BitsOfItsAddress) {
  EXPECT_EQ(port_lid(ip("127.0.3.2")), 0x0302);
  EXPECT_EQ(port_lid(ip("198.18.5.1")), 0x0501);
  EXPECT_EQ(port_lid(ip("127.0.0.1")), 0x0001);
  EXPECT_EQ(port_lid(ip("10.1.255.254")), 0xfffe);
  // IBA's multicast range (0xc000-0xfffe) is unicast here: 198.18.221.x is
  // one of the test slots.
  EXPECT_EQ(port_lid(ip("198.18.221.2")), 0xdd02);
}

TEST(Lid, AddressesEndingInZeroOrAllOnesHaveNoLid) {
  EXPECT_EQ(port_lid(ip("10.1.0.0")), kNoLid);       // LID 0 is reserved
  EXPECT_EQ(port_lid(ip("10.1.255.255")), kNoLid);   // the permissive LID
  EXPECT_EQ(port_lid(ip("0.0.0.0")), kNoLid);
}

TEST(Lid, ADlidLeadsToThatHostInTheEnginesSlash16) {
  uint32_t out = 0;
  ASSERT_TRUE(ipv4_of_lid(ip("127.0.3.2"), 0x0301, out));
  EXPECT_EQ(dotted(out), "127.0.3.1");
  ASSERT_TRUE(ipv4_of_lid(ip("198.18.221.1"), 0xdd02, out));
  EXPECT_EQ(dotted(out), "198.18.221.2");
  ASSERT_TRUE(ipv4_of_lid(ip("10.20.1.1"), 0x7f05, out));  // any host of the /16
  EXPECT_EQ(dotted(out), "10.20.127.5");
  ASSERT_TRUE(ipv4_of_lid(ip("127.0.3.2"), 0x0302, out));  // its own LID: itself
  EXPECT_EQ(dotted(out), "127.0.3.2");
}

TEST(Lid, NoneAndPermissiveDlidsLeadNowhere) {
  uint32_t out = 0x12345678;
  EXPECT_FALSE(ipv4_of_lid(ip("127.0.3.2"), kNoLid, out));
  EXPECT_FALSE(ipv4_of_lid(ip("127.0.3.2"), kPermissiveLid, out));
  EXPECT_EQ(out, 0x12345678u) << "left alone on failure";
}

TEST(Lid, AnEngineWithoutALidRoutesNoLid) {
  uint32_t out = 0;
  EXPECT_FALSE(ipv4_of_lid(ip("10.1.0.0"), 0x0001, out));
  EXPECT_FALSE(ipv4_of_lid(ip("10.1.255.255"), 0x0001, out));
  EXPECT_EQ(peer_lid(ip("10.1.0.0"), ip("10.1.0.1")), kNoLid);
}

TEST(Lid, APeersLidIsKnownOnlyWithinTheSlash16) {
  EXPECT_EQ(peer_lid(ip("127.0.3.2"), ip("127.0.3.1")), 0x0301);
  EXPECT_EQ(peer_lid(ip("198.18.5.1"), ip("198.18.5.2")), 0x0502);
  EXPECT_EQ(peer_lid(ip("198.18.5.1"), ip("198.19.5.2")), kNoLid);  // another /16
  EXPECT_EQ(peer_lid(ip("10.0.0.1"), ip("11.0.0.2")), kNoLid);
  EXPECT_EQ(peer_lid(ip("10.0.0.1"), ip("10.0.255.255")), kNoLid);   // has none
}

TEST(Lid, PeerLidAndIpv4OfLidInvertEachOther) {
  const uint32_t local = ip("172.16.40.7");
  for (uint32_t lid = 1; lid < 0xffff; lid += 97) {
    uint32_t peer = 0;
    ASSERT_TRUE(ipv4_of_lid(local, uint16_t(lid), peer)) << lid;
    EXPECT_EQ(peer_lid(local, peer), lid);
    EXPECT_EQ(port_lid(peer), lid) << "the peer reports the LID we route to it by";
  }
}

}  // namespace
}  // namespace flexins::pipe
