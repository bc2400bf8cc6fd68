#include "core/cidr.h"

#include <gtest/gtest.h>

namespace hakone {
namespace {

TEST(IpAddress, ParsesAndFormats) {
  IpAddress a;
  ASSERT_TRUE(ParseIpAddress("10.1.2.3", &a));
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.ToString(), "10.1.2.3");
  ASSERT_TRUE(ParseIpAddress(" ::ffff:10.1.2.3 ", &a));
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.ToString(), "10.1.2.3");
  ASSERT_TRUE(ParseIpAddress("2001:DB8:0:0::1", &a));
  EXPECT_FALSE(a.is_v4());
  EXPECT_EQ(a.ToString(), "2001:db8::1");
  ASSERT_TRUE(ParseIpAddress("[2001:db8::2]", &a));
  EXPECT_EQ(a.ToString(), "2001:db8::2");
  ASSERT_TRUE(ParseIpAddress("fe80::1%eth0", &a));
  EXPECT_EQ(a.ToString(), "fe80::1");

  EXPECT_FALSE(ParseIpAddress("10.1.2.3:80", &a));
  ASSERT_TRUE(ParseIpAddress("10.1.2.3:80", &a, true));
  EXPECT_EQ(a.ToString(), "10.1.2.3");
  ASSERT_TRUE(ParseIpAddress("[::1]:443", &a, true));
  EXPECT_EQ(a.ToString(), "::1");
  EXPECT_FALSE(ParseIpAddress("[::1]:x", &a, true));

  for (const std::string& bad : std::vector<std::string>{"", "unknown", "10.1.2", "10.1.2.256", "1.2.3.4.5", "::g", "[::1",
                                                        "a.b.c.d", "10.1.2.3 junk", std::string(200, '1')}) {
    EXPECT_FALSE(ParseIpAddress(bad, &a)) << bad;
  }
}

TEST(CidrSet, ContainsV4AndV6) {
  auto s = CidrSet::Parse({"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "172.16.0.0/12", "::1"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->empty());
  EXPECT_TRUE(s->Contains("10.0.0.1"));
  EXPECT_TRUE(s->Contains("10.255.255.255"));
  EXPECT_FALSE(s->Contains("11.0.0.1"));
  EXPECT_TRUE(s->Contains("192.168.1.7"));
  EXPECT_FALSE(s->Contains("192.168.1.8"));
  EXPECT_TRUE(s->Contains("172.31.255.1"));
  EXPECT_FALSE(s->Contains("172.32.0.1"));
  EXPECT_TRUE(s->Contains("2001:db8:1234::5"));
  EXPECT_FALSE(s->Contains("2001:db9::5"));
  EXPECT_TRUE(s->Contains("::1"));
  EXPECT_FALSE(s->Contains("::2"));
  // IPv4-mapped IPv6 addresses match IPv4 networks.
  EXPECT_TRUE(s->Contains("::ffff:10.9.8.7"));
  EXPECT_FALSE(s->Contains("::ffff:11.9.8.7"));
  EXPECT_FALSE(s->Contains("not an ip"));
  EXPECT_FALSE(s->Contains(""));
}

TEST(CidrSet, OddPrefixesAndHostBits) {
  auto s = CidrSet::Parse({"10.1.2.3/13", "fe80::/10", "0.0.0.0/0"});
  ASSERT_TRUE(s.ok());
  auto t = CidrSet::Parse({"10.1.2.3/13", "fe80::/10"});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->Contains("10.7.255.255"));  // 10.0.0.0/13
  EXPECT_FALSE(t->Contains("10.8.0.0"));
  EXPECT_TRUE(t->Contains("febf::1"));
  EXPECT_FALSE(t->Contains("fec0::1"));
  EXPECT_TRUE(s->Contains("8.8.8.8"));
  EXPECT_FALSE(s->Contains("2001::1"));  // 0.0.0.0/0 is IPv4 only
  auto mapped = CidrSet::Parse({"::ffff:10.0.0.0/104"});
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped->Contains("10.2.3.4"));
}

TEST(CidrSet, RejectsBadEntriesNamingThem) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "hello", "10.0.0.0/8/9", "10.0.0.0:80"}) {
    auto s = CidrSet::Parse({"127.0.0.1", bad});
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find(bad), std::string::npos) << s.status().message();
    EXPECT_NE(s.status().message().find("#2"), std::string::npos) << s.status().message();
  }
  auto empty = CidrSet::Parse({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(empty->Contains("10.0.0.1"));
}

}  // namespace
}  // namespace hakone
