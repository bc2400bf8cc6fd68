// Group commit across connections (durability = strict): many clients, each waiting for its own
// SET, share fsyncs (INFO tiers shows far fewer commits than writes), and every acknowledged
// write survives kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "process_util.h"
#include "sessions/resp_conn.h"

namespace hakone::testing {
namespace {

int64_t InfoInt(const std::string& info, const std::string& field) {
  auto p = info.find("\r\n" + field + ":");
  if (p == std::string::npos) return -1;
  p += field.size() + 3;
  return std::stoll(info.substr(p, info.find("\r\n", p) - p));
}

TEST(SessionsGroupCommitTest, ConcurrentClientsShareCommitsAndLoseNothingOnKill9) {
  std::string dir = MakeTempDir("hakone-sess-gc");
  int port = FreePort();
  auto hk = StartSessions(dir, port, {"--durability", "strict"});
  ASSERT_TRUE(WaitForPort(port)) << hk->Log();
  constexpr int kClients = 32, kRounds = 40;
  std::atomic<int> acked{0}, bad{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < kClients; c++) {
    ts.emplace_back([&, c] {
      RespConn conn(port);
      for (int i = 0; i < kRounds; i++) {
        std::string r = conn.Command({"SET", "k:" + std::to_string(c) + ":" + std::to_string(i), "v" + std::to_string(i)});
        if (r == "+OK\r\n") acked++;
        else bad++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_EQ(acked.load(), kClients * kRounds);
  RespConn h(port);
  std::string info = h.Command({"INFO", "tiers"});
  int64_t commits = InfoInt(info, "durable_commits"), ops = InfoInt(info, "durable_committed_ops");
  EXPECT_EQ(ops, kClients * kRounds) << info;
  // One fsync covers the writes of many connections (with one commit per write this would be 1).
  EXPECT_GT(commits, 0);
  EXPECT_GE(static_cast<double>(ops) / static_cast<double>(commits), 4.0) << info;

  hk->Signal(SIGKILL);
  hk->Wait();
  hk = StartSessions(dir, port, {"--durability", "strict"});
  ASSERT_TRUE(WaitForPort(port)) << hk->Log();
  RespConn h2(port);
  EXPECT_EQ(h2.Command({"DBSIZE"}), ":" + std::to_string(kClients * kRounds) + "\r\n");
  EXPECT_EQ(h2.Command({"GET", "k:31:39"}), "$3\r\nv39\r\n");
  EXPECT_EQ(h2.Command({"GET", "k:0:0"}), "$2\r\nv0\r\n");
  hk.reset();
  if (!HasFailure()) RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
