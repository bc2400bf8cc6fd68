#include "sessions/memcache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace hakone::sessions {
namespace {

class MemcacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hakone-mc-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    auto t = OpenSqliteTier((dir_ / "s.db").string());
    ASSERT_TRUE(t.ok());
    engine_ = std::make_unique<Engine>(EngineOptions{}, std::move(*t));
    engine_->Start();
    mc_ = std::make_unique<MemcacheSession>(*engine_, 1 << 20);
  }
  void TearDown() override {
    mc_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string Run(std::string_view in, size_t* used = nullptr, bool* close = nullptr) {
    std::string out;
    bool cl = false;
    uint64_t seq;
    size_t u;
    {
      std::lock_guard lk(engine_->mu());
      u = mc_->Process(in, NowMs(), &out, &cl);
      seq = engine_->SubmitBatch();
    }
    while (engine_->done_seq() < seq) std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (used) *used = u;
    if (close) *close = cl;
    return out;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<MemcacheSession> mc_;
};

TEST_F(MemcacheTest, StorageCommands) {
  EXPECT_EQ(Run("set k 5 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(Run("add k 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("replace nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("append k 0 0 2\r\nde\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("prepend k 0 0 1\r\n_\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k nope\r\n"), "VALUE k 5 6\r\n_abcde\r\nEND\r\n");
  std::string g = Run("gets k\r\n");
  auto sp = g.rfind(' ', g.find("\r\n"));
  std::string cas = g.substr(sp + 1, g.find("\r\n") - sp - 1);
  EXPECT_EQ(Run("cas k 0 0 1 " + cas + "\r\nZ\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("cas k 0 0 1 " + cas + "\r\nY\r\n"), "EXISTS\r\n");
  EXPECT_EQ(Run("cas nope 0 0 1 1\r\nY\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n"), "STORED\r\n15\r\n0\r\n");
  EXPECT_EQ(Run("incr k 1\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Run("touch k 100\r\ntouch nope 1\r\n"), "TOUCHED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(Run("delete k\r\ndelete k\r\n"), "DELETED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(Run("set q 0 0 1 noreply\r\nq\r\nget q\r\n"), "VALUE q 0 1\r\nq\r\nEND\r\n");
  EXPECT_EQ(Run("bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("version\r\n").rfind("VERSION ", 0), 0u);
}

TEST_F(MemcacheTest, PartialDataWaitsForMore) {
  size_t used;
  EXPECT_EQ(Run("set k 0 0 10\r\nabc", &used), "");
  EXPECT_EQ(used, 0u);
}

TEST_F(MemcacheTest, MalformedClosesTheConnection) {
  bool close;
  EXPECT_EQ(Run("set k 0 0 3\r\nabcdef\r\n", nullptr, &close), "CLIENT_ERROR bad data chunk\r\n");
  EXPECT_TRUE(close);
  EXPECT_EQ(Run("set k x 0 3\r\nabc\r\n", nullptr, &close), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_TRUE(close);
  EXPECT_EQ(Run(std::string(3000, 'a'), nullptr, &close), "CLIENT_ERROR line too long\r\n");
  EXPECT_TRUE(close);
  EXPECT_EQ(Run("set k 0 0 99999999\r\n", nullptr, &close), "SERVER_ERROR object too large for cache\r\n");
  EXPECT_TRUE(close);
  EXPECT_EQ(Run("get " + std::string(251, 'k') + "\r\n", nullptr, &close), "CLIENT_ERROR bad command line format\r\n");
}

TEST_F(MemcacheTest, ExpiryRules) {
  int64_t now = 1'700'000'000'000;
  EXPECT_EQ(MemcacheExpiry(0, now), 0);
  EXPECT_EQ(MemcacheExpiry(10, now), now + 10000);
  EXPECT_EQ(MemcacheExpiry(-1, now), -1);
  EXPECT_EQ(MemcacheExpiry(1'800'000'000, now), 1'800'000'000'000);
  EXPECT_EQ(MemcacheExpiry(1'600'000'000, now), -1);
}

}  // namespace
}  // namespace hakone::sessions
