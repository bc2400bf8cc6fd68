// The shared (Redis) frontier against a real redis-server: seen-set dedupe, leasing, expired
// leases requeued, release, a finished frontier starting over, bad URLs and unreachable Redis.
#include "crawl/redis_frontier.h"

#include <gtest/gtest.h>

#include <thread>

#include "crawl/crawl.h"
#include "testing/test_servers.h"

namespace hakone::crawl {
namespace {

using hakone::testing::FreePort;
using hakone::testing::RedisServer;

TEST(FrontierEntryTest, RoundTripAndMalformed) {
  std::string e = EncodeFrontierEntry("http://a/x", 3, 1, {"http://a/y", "http://a/z"});
  std::string url;
  int depth = -1, kind = -1;
  std::vector<std::string> chain;
  ASSERT_TRUE(DecodeFrontierEntry(e, &url, &depth, &kind, &chain).ok());
  EXPECT_EQ(url, "http://a/x");
  EXPECT_EQ(depth, 3);
  EXPECT_EQ(kind, 1);
  EXPECT_EQ(chain, (std::vector<std::string>{"http://a/y", "http://a/z"}));
  for (const char* bad : {"", "not json", "[1,2]", "{\"u\":\"\",\"d\":0,\"k\":0}", "{\"u\":\"x\",\"d\":-1,\"k\":0}",
                          "{\"u\":\"x\",\"d\":0,\"k\":7}", "{\"u\":\"x\",\"d\":0}", "{\"u\":1,\"d\":0,\"k\":0}",
                          "{\"u\":\"x\",\"d\":0,\"k\":0,\"c\":\"y\"}", "{\"u\":\"x\",\"d\":0,\"k\":0,\"c\":[1]}",
                          "{\"u\":\"x\",\"d\":0.5,\"k\":0}", "{\"u\":\"x\""}) {
    Status s = DecodeFrontierEntry(bad, &url, &depth, &kind, &chain);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << bad;
    EXPECT_NE(s.message().find("frontier entry"), std::string::npos) << s.message();
  }
}

TEST(RedisFrontierTest, SeenSetLeasesExpiryReleaseAndDone) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start());
  auto fa = RedisFrontier::Create(redis.url(), "t", std::chrono::milliseconds(300));
  auto fb = RedisFrontier::Create(redis.url() + "/0", "t", std::chrono::milliseconds(300));
  ASSERT_TRUE(fa.ok() && fb.ok());
  RedisFrontier& a = **fa;
  RedisFrontier& b = **fb;
  ASSERT_TRUE(a.Start().ok());
  EXPECT_FALSE(*a.Start());  // nothing there yet
  EXPECT_TRUE(*a.Add("u1", "e1", false));
  EXPECT_FALSE(*b.Add("u1", "e1-again", false));  // seen by the other process
  EXPECT_TRUE(*b.Add("u2", "e2", false));
  EXPECT_TRUE(*b.Add("u3", "e3", true));  // front
  EXPECT_TRUE(*b.Start());                // unfinished: joined

  auto c1 = a.Claim(2);
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->entries, (std::vector<std::string>{"e3", "e1"}));
  EXPECT_EQ(c1->queued, 1);
  EXPECT_EQ(c1->in_flight, 2);
  auto c2 = b.Claim(5);
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->entries, (std::vector<std::string>{"e2"}));
  EXPECT_EQ(c2->in_flight, 3);
  ASSERT_TRUE(a.Finish("e3").ok());
  ASSERT_TRUE(b.Release("e2").ok());  // back to the queue
  // "a" dies holding e1: after the lease it is requeued for b.
  auto c3 = b.Claim(5);
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(c3->entries, (std::vector<std::string>{"e2"}));
  EXPECT_EQ(c3->recovered, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  // e2's lease expired too (b was slow): both come back, and b releasing e2 late must not
  // duplicate it.
  auto c4 = b.Claim(5);
  ASSERT_TRUE(c4.ok());
  EXPECT_EQ(c4->recovered, 2);
  ASSERT_EQ(c4->entries.size(), 2u);
  ASSERT_TRUE(b.Finish("e1").ok());
  ASSERT_TRUE(b.Finish("e2").ok());
  ASSERT_TRUE(b.Release("e2").ok());  // lease no longer held: no effect
  auto c5 = a.Claim(5);
  ASSERT_TRUE(c5.ok());
  EXPECT_TRUE(c5->entries.empty());
  EXPECT_EQ(c5->queued, 0);
  EXPECT_EQ(c5->in_flight, 0);

  // Finished: the next Start clears it and the URLs are new again.
  ASSERT_TRUE(a.MarkDone().ok());
  EXPECT_FALSE(*b.Start());
  EXPECT_TRUE(*b.Add("u1", "e1", false));
}

TEST(RedisFrontierTest, BadUrlAndUnreachable) {
  for (const char* bad : {"redis://127.0.0.1:notaport", "redis://127.0.0.1:99999", "redis://h/x", "redis://h?x=1"}) {
    auto f = RedisFrontier::Create(bad, "t", std::chrono::seconds(1));
    EXPECT_FALSE(f.ok()) << bad;
    if (!f.ok()) EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(CheckFrontierUrl("http://127.0.0.1:6379").ok());
  EXPECT_NE(CheckFrontierUrl("http://127.0.0.1:6379").message().find("redis://"), std::string::npos);
  std::string url = "redis://127.0.0.1:" + std::to_string(FreePort());
  auto f = RedisFrontier::Create(url, "t", std::chrono::seconds(1));
  ASSERT_TRUE(f.ok());
  auto s = (*f)->Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("frontier " + url), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace hakone::crawl
