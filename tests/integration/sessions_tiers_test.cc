// hakone sessions with the external Redis cache tier: a login survives FLUSHALL on the cache and
// a kill + restart of Redis; with PostgreSQL as the durable tier, two hakone sessions instances
// sharing one Redis see each other's writes.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "pg_util.h"
#include "process_util.h"
#include "sessions/resp_conn.h"

namespace hakone::testing {
namespace {

const std::string kSrc = std::string(HAKONE_SOURCE_DIR) + "/tests/integration/sessions";

std::string NodeDir() {
  std::string dir = std::filesystem::path(HAKONE_BINARY).parent_path().string() + "/sessions-node";
  if (!std::filesystem::exists(dir + "/node_modules/connect-redis")) {
    std::filesystem::create_directories(dir);
    for (const char* f : {"package.json", "package-lock.json"}) {
      std::filesystem::copy_file(kSrc + "/" + f, dir + "/" + f, std::filesystem::copy_options::overwrite_existing);
    }
    std::string out;
    if (RunCommand({"/bin/sh", "-c", "cd '" + dir + "' && npm ci --no-audit --no-fund 2>&1"}, &out, true,
                   std::chrono::seconds(300)) != 0)
      return "";
  }
  std::filesystem::copy_file(kSrc + "/login_app.js", dir + "/login_app.js", std::filesystem::copy_options::overwrite_existing);
  return dir;
}

std::string Me(int app_port, const std::string& cookie) {
  std::string body;
  for (int i = 0; i < 100; i++) {
    body.clear();
    int st = HttpCall(app_port, "GET", "/me", {{"Cookie", cookie}}, "", &body);
    if (st == 200) return body;
    if (st == 401) return "401";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "timeout: " + body;
}

class SessionsTiersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("hakone-sess-tiers");
    redis_port_ = FreePort();
    redis_ = StartRedis(dir_, redis_port_);
    ASSERT_TRUE(WaitForPort(redis_port_)) << redis_->Log();
  }
  void TearDown() override {
    app_.reset();
    a_.reset();
    b_.reset();
    redis_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  std::string RedisUrl() const { return "redis://127.0.0.1:" + std::to_string(redis_port_); }
  std::string dir_;
  int redis_port_ = 0;
  std::unique_ptr<Process> redis_, a_, b_, app_;
};

TEST_F(SessionsTiersTest, LoginSurvivesFlushallAndRedisRestart) {
  std::string node = NodeDir();
  if (node.empty()) GTEST_SKIP() << "npm ci failed";
  int port = FreePort();
  a_ = StartSessions(dir_, port, {"--cache-redis", RedisUrl()});
  ASSERT_TRUE(WaitForPort(port)) << a_->Log();
  int app_port = FreePort();
  app_ = std::make_unique<Process>(std::vector<std::string>{"/usr/bin/node", node + "/login_app.js", std::to_string(app_port),
                                                            "redis://127.0.0.1:" + std::to_string(port)},
                                   dir_ + "/app.log");
  ASSERT_TRUE(WaitForPort(app_port)) << app_->Log();
  std::string cookie;
  ASSERT_EQ(HttpCall(app_port, "POST", "/login?user=carol", {}, "", &cookie), 200) << cookie;
  ASSERT_EQ(Me(app_port, cookie), "carol");
  RespConn redis(redis_port_);
  // The session is in the cache tier, with its TTL.
  std::string keys = redis.Command({"KEYS", "hakone:sessions:0:sess:*"});
  EXPECT_EQ(keys.substr(0, 2), "*1") << keys;

  // (a) FLUSHALL on the cache: the next read goes to SQLite and refills the cache.
  EXPECT_EQ(redis.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(Me(app_port, cookie), "carol");
  keys = redis.Command({"KEYS", "hakone:sessions:0:sess:*"});
  EXPECT_EQ(keys.substr(0, 2), "*1") << "refilled: " << keys;
  std::string name = keys.substr(keys.find("hakone:"), keys.find("\r\n", keys.find("hakone:")) - keys.find("hakone:"));
  std::string pttl = redis.Command({"PTTL", name});
  EXPECT_EQ(pttl[0], ':');
  EXPECT_GT(std::stoll(pttl.substr(1)), 3000000) << "the remaining TTL, not a fixed one: " << pttl;

  // (b) Redis killed: served from the durable tier, no errors; a new login works too.
  redis_->Signal(SIGKILL);
  redis_->Wait();
  EXPECT_EQ(Me(app_port, cookie), "carol");
  std::string cookie2;
  ASSERT_EQ(HttpCall(app_port, "POST", "/login?user=dave", {}, "", &cookie2), 200) << cookie2;
  EXPECT_EQ(Me(app_port, cookie2), "dave");
  RespConn h(port);
  EXPECT_NE(h.Command({"INFO", "tiers"}).find("cache_up:0"), std::string::npos);
  // ... and restarted (empty): the cache is used again.
  redis_ = StartRedis(dir_, redis_port_);
  ASSERT_TRUE(WaitForPort(redis_port_));
  bool back = false;
  for (int i = 0; i < 100 && !back; i++) {
    (void)Me(app_port, cookie2);
    back = h.Command({"INFO", "tiers"}).find("cache_up:1") != std::string::npos;
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(back);
  EXPECT_EQ(Me(app_port, cookie), "carol");
  EXPECT_EQ(Me(app_port, cookie2), "dave");
  RespConn redis2(redis_port_);
  EXPECT_NE(redis2.Command({"KEYS", "hakone:sessions:0:sess:*"}), "*0\r\n");
  EXPECT_NE(a_->Log().find("cache tier down"), std::string::npos);
  EXPECT_NE(a_->Log().find("cache tier is back"), std::string::npos);
}

TEST_F(SessionsTiersTest, TwoInstancesOnPostgresSharingOneRedisSeeEachOthersWrites) {
  auto pg = TestPostgres::Start();
  if (!pg.ok() && pg.status().code() == StatusCode::kNotFound) GTEST_SKIP() << pg.status().ToString();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  int pa = FreePort(), pb = FreePort();
  std::string url = (*pg)->url();
  a_ = StartSessions(dir_ + "", pa, {"--cache-redis", RedisUrl(), "--durable", "postgres", "--postgres", url});
  std::filesystem::create_directories(dir_ + "/b");
  b_ = StartSessions(dir_ + "/b", pb, {"--cache-redis", RedisUrl(), "--durable", "postgres", "--postgres", url});
  ASSERT_TRUE(WaitForPort(pa)) << a_->Log();
  ASSERT_TRUE(WaitForPort(pb)) << b_->Log();
  RespConn a(pa), b(pb);
  EXPECT_EQ(a.Command({"SET", "sess:x", "from-a", "EX", "600"}), "+OK\r\n");
  EXPECT_EQ(b.Command({"GET", "sess:x"}), "$6\r\nfrom-a\r\n");
  EXPECT_EQ(b.Command({"HSET", "user:1", "name", "bob"}), ":1\r\n");
  EXPECT_EQ(a.Command({"HGET", "user:1", "name"}), "$3\r\nbob\r\n");
  EXPECT_EQ(b.Command({"SET", "sess:x", "from-b", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(a.Command({"GET", "sess:x"}), "$6\r\nfrom-b\r\n");
  std::string ttl = a.Command({"TTL", "sess:x"});
  EXPECT_TRUE(ttl == ":600\r\n" || ttl == ":599\r\n") << ttl;
  EXPECT_EQ(a.Command({"DEL", "sess:x"}), ":1\r\n");
  EXPECT_EQ(b.Command({"GET", "sess:x"}), "$-1\r\n");
  // Without the cache, both still agree: PostgreSQL is the source of truth.
  RespConn redis(redis_port_);
  EXPECT_EQ(redis.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(b.Command({"HGET", "user:1", "name"}), "$3\r\nbob\r\n");
  EXPECT_EQ(a.Command({"DBSIZE"}), ":1\r\n");
  // kill -9 of one instance loses nothing: the other reads the write it acknowledged.
  EXPECT_EQ(a.Command({"SET", "sess:y", "durable"}), "+OK\r\n");
  a_->Signal(SIGKILL);
  a_->Wait();
  EXPECT_EQ(redis.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(b.Command({"GET", "sess:y"}), "$7\r\ndurable\r\n");
}

}  // namespace
}  // namespace hakone::testing
