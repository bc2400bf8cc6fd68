// hakone sessions with a Sentinel-managed Redis as the cache tier (a real redis-server master and
// replica and a real sentinel, `redis-server --sentinel`): the master is found through the
// sentinel, and after the master is killed and the sentinel promotes the replica, hakone writes
// to the new master. Also: the external tier is reached with one MGET per command and pipelined
// write-backs, and bad Sentinel flags are refused with a clear error.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "process_util.h"
#include "sessions/resp_conn.h"

namespace hakone::testing {
namespace {

// The value of `field` in an INFO reply ("" when absent).
std::string InfoField(const std::string& info, const std::string& field) {
  auto p = info.find("\r\n" + field + ":");
  if (p == std::string::npos) return "";
  p += field.size() + 3;
  return info.substr(p, info.find("\r\n", p) - p);
}

class SessionsSentinelTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("hakone-sess-sentinel"); }
  void TearDown() override {
    hk_.reset();
    sentinel_.reset();
    replica_.reset();
    master_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  std::string dir_;
  std::unique_ptr<Process> master_, replica_, sentinel_, hk_;
};

TEST_F(SessionsSentinelTest, FindsMasterThroughSentinelAndFollowsFailover) {
  int pm = FreePort(), pr = FreePort(), ps = FreePort(), ph = FreePort();
  std::filesystem::create_directories(dir_ + "/m");
  std::filesystem::create_directories(dir_ + "/r");
  std::filesystem::create_directories(dir_ + "/s");
  std::filesystem::create_directories(dir_ + "/hk");
  master_ = StartRedis(dir_ + "/m", pm);
  ASSERT_TRUE(WaitForPort(pm)) << master_->Log();
  replica_ = StartRedis(dir_ + "/r", pr, {"--replicaof", "127.0.0.1", std::to_string(pm)});
  ASSERT_TRUE(WaitForPort(pr)) << replica_->Log();
  {
    std::ofstream conf(dir_ + "/s/sentinel.conf");
    conf << "port " << ps << "\nbind 127.0.0.1\ndir " << dir_ << "/s\n"
         << "sentinel monitor cachemaster 127.0.0.1 " << pm << " 1\n"
         << "sentinel down-after-milliseconds cachemaster 500\n"
         << "sentinel failover-timeout cachemaster 3000\n";
  }
  sentinel_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/redis-server", dir_ + "/s/sentinel.conf", "--sentinel"}, dir_ + "/s/sentinel.log");
  ASSERT_TRUE(WaitForPort(ps)) << sentinel_->Log();
  // The replica has caught up before the master goes (otherwise the sentinel may refuse it).
  RespConn m(pm), r(pr), s(ps);
  for (int i = 0; i < 100 && InfoField(r.Command({"INFO", "replication"}), "master_link_status") != "up"; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(InfoField(r.Command({"INFO", "replication"}), "master_link_status"), "up");

  hk_ = StartSessions(dir_ + "/hk", ph, {"--cache-sentinel", "127.0.0.1:" + std::to_string(ps), "--cache-master", "cachemaster"});
  ASSERT_TRUE(WaitForPort(ph)) << hk_->Log();
  RespConn h(ph);
  std::string info = h.Command({"INFO", "tiers"});
  EXPECT_EQ(InfoField(info, "cache_address"), "127.0.0.1:" + std::to_string(pm)) << info;
  EXPECT_EQ(InfoField(info, "cache_sentinel_master"), "cachemaster");
  EXPECT_EQ(h.Command({"SET", "sess:a", "alice", "EX", "600"}), "+OK\r\n");
  EXPECT_EQ(m.Command({"EXISTS", "hakone:sessions:0:sess:a"}), ":1\r\n") << "written to the master the sentinel named";

  // Failover: the master dies, the sentinel promotes the replica.
  master_->Signal(SIGKILL);
  master_->Wait();
  std::string now;
  for (int i = 0; i < 300; i++) {
    now = s.Command({"SENTINEL", "get-master-addr-by-name", "cachemaster"});
    if (now.find(std::to_string(pr)) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(now.find(std::to_string(pr)), std::string::npos) << "sentinel did not fail over: " << now << sentinel_->Log();
  // The session written before the failover is still there (durable tier, or the replicated copy).
  EXPECT_EQ(h.Command({"GET", "sess:a"}), "$5\r\nalice\r\n");
  bool moved = false;
  for (int i = 0; i < 50 && !moved; i++) {
    moved = InfoField(h.Command({"INFO", "tiers"}), "cache_address") == "127.0.0.1:" + std::to_string(pr);
    if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(moved) << h.Command({"INFO", "tiers"}) << hk_->Log();
  // New writes land on the new master; hakone's cache is usable again. (A new connection: the
  // sentinel kills the promoted replica's normal clients.)
  RespConn r2(pr);
  bool up = false;
  for (int i = 0; i < 50 && !up; i++) {
    EXPECT_EQ(h.Command({"SET", "sess:b", "bob", "EX", "600"}), "+OK\r\n");
    up = r2.Command({"EXISTS", "hakone:sessions:0:sess:b"}) == ":1\r\n";
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(up) << h.Command({"INFO", "tiers"}) << hk_->Log() << r2.Command({"INFO", "replication"});
  EXPECT_EQ(InfoField(h.Command({"INFO", "tiers"}), "cache_up"), "1");
  EXPECT_EQ(h.Command({"GET", "sess:a"}), "$5\r\nalice\r\n");
  EXPECT_EQ(h.Command({"GET", "sess:b"}), "$3\r\nbob\r\n");
  EXPECT_NE(hk_->Log().find("cache tier master (from Sentinel)"), std::string::npos);
}

TEST_F(SessionsSentinelTest, ExternalTierReadsWithOneMgetAndPipelinesWriteBacks) {
  int pc = FreePort(), ph = FreePort();
  master_ = StartRedis(dir_, pc);
  ASSERT_TRUE(WaitForPort(pc)) << master_->Log();
  hk_ = StartSessions(dir_, ph, {"--cache-redis", "redis://127.0.0.1:" + std::to_string(pc)});
  ASSERT_TRUE(WaitForPort(ph)) << hk_->Log();
  RespConn h(ph), c(pc);
  EXPECT_EQ(h.Command({"MSET", "k1", "v1", "k2", "v2", "k3", "v3"}), "+OK\r\n");
  EXPECT_EQ(c.Command({"DBSIZE"}), ":3\r\n") << "all three written back";
  EXPECT_EQ(c.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(c.Command({"CONFIG", "RESETSTAT"}), "+OK\r\n");
  // A miss on all three: one MGET to the cache, three reads through to SQLite, three refills.
  EXPECT_EQ(h.Command({"MGET", "k1", "k2", "k3", "nope"}), "*4\r\n$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n$-1\r\n");
  std::string stats = c.Command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_mget:calls=1,"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_get:"), std::string::npos) << stats;
  EXPECT_EQ(c.Command({"DBSIZE"}), ":3\r\n") << "refilled";
  // A transaction touching several keys: the write-backs (SETs and a DEL) all arrive.
  EXPECT_EQ(h.Command({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"SET", "k1", "w1"}), "+QUEUED\r\n");
  EXPECT_EQ(h.Command({"DEL", "k2"}), "+QUEUED\r\n");
  EXPECT_EQ(h.Command({"HSET", "h", "f", "x"}), "+QUEUED\r\n");
  EXPECT_EQ(h.Command({"EXEC"}), "*3\r\n+OK\r\n:1\r\n:1\r\n");
  EXPECT_EQ(c.Command({"EXISTS", "hakone:sessions:0:k1", "hakone:sessions:0:k2", "hakone:sessions:0:h"}), ":2\r\n");
  EXPECT_EQ(c.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"MGET", "k1", "k2", "k3"}), "*3\r\n$2\r\nw1\r\n$-1\r\n$2\r\nv3\r\n");
  EXPECT_EQ(h.Command({"HGET", "h", "f"}), "$1\r\nx\r\n");
  // Blind overwrites (plain SET, SETEX, MSET) read nothing from the cache tier; KEEPTTL does.
  EXPECT_EQ(c.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(c.Command({"CONFIG", "RESETSTAT"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"SET", "b1", "one", "EX", "100"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"SETEX", "b2", "100", "two"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"MSET", "k1", "m1", "k3", "m3"}), "+OK\r\n");
  stats = c.Command({"INFO", "commandstats"});
  EXPECT_EQ(stats.find("cmdstat_mget:"), std::string::npos) << stats;
  EXPECT_NE(stats.find("cmdstat_set:calls=4,"), std::string::npos) << stats;
  EXPECT_EQ(c.Command({"FLUSHALL"}), "+OK\r\n");
  EXPECT_EQ(h.Command({"SET", "b1", "uno", "KEEPTTL"}), "+OK\r\n");
  EXPECT_NE(c.Command({"INFO", "commandstats"}).find("cmdstat_mget:calls=1,"), std::string::npos);
  std::string ttl = h.Command({"TTL", "b1"});
  EXPECT_TRUE(ttl == ":100\r\n" || ttl == ":99\r\n") << "the TTL read through from SQLite: " << ttl;
  EXPECT_EQ(h.Command({"MGET", "b1", "b2", "k1", "k3"}), "*4\r\n$3\r\nuno\r\n$3\r\ntwo\r\n$2\r\nm1\r\n$2\r\nm3\r\n");
}

TEST_F(SessionsSentinelTest, BadSentinelFlagsAreRefused) {
  std::string out;
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "sessions", "--data-dir", dir_, "--cache-sentinel", "127.0.0.1:26379"}, &out, true), 2);
  EXPECT_NE(out.find("master_name: required with sentinels"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "sessions", "--data-dir", dir_, "--cache-sentinel", "127.0.0.1:notaport",
                        "--cache-master", "m"},
                       &out, true),
            2);
  EXPECT_NE(out.find("sentinels: '127.0.0.1:notaport': bad port"), std::string::npos) << out;
}

}  // namespace
}  // namespace hakone::testing
