// hakone sessions with real client libraries and real failures: express-session + connect-redis
// (npm), Python's redis and pymemcache clients, libmemcached's command-line tools; kill -9 and
// restarts with an empty in-process cache must not log anybody out nor lose an acknowledged write.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "process_util.h"
#include "sessions/resp_conn.h"

namespace hakone::testing {
namespace {

const std::string kSrc = std::string(HAKONE_SOURCE_DIR) + "/tests/integration/sessions";

// npm ci into <build dir>/sessions-node (once), from the package files in the source tree.
std::string NodeDir() {
  std::string dir = std::filesystem::path(HAKONE_BINARY).parent_path().string() + "/sessions-node";
  if (std::filesystem::exists(dir + "/node_modules/connect-redis") &&
      std::filesystem::exists(dir + "/package-lock.json")) {
    std::filesystem::copy_file(kSrc + "/login_app.js", dir + "/login_app.js",
                               std::filesystem::copy_options::overwrite_existing);
    return dir;
  }
  std::filesystem::create_directories(dir);
  for (const char* f : {"package.json", "package-lock.json", "login_app.js"}) {
    std::filesystem::copy_file(kSrc + "/" + f, dir + "/" + f, std::filesystem::copy_options::overwrite_existing);
  }
  std::string out;
  int rc = RunCommand({"/bin/sh", "-c", "cd '" + dir + "' && npm ci --no-audit --no-fund 2>&1"}, &out, true,
                      std::chrono::seconds(300));
  if (rc != 0) return "";
  return dir;
}

class SessionsClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("hakone-sess-cli");
    port_ = FreePort();
  }
  void TearDown() override {
    app_.reset();
    sess_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  void Start(std::vector<std::string> extra = {}) {
    sess_ = StartSessions(dir_, port_, extra);
    ASSERT_TRUE(WaitForPort(port_)) << sess_->Log();
  }
  void Kill9AndRestart(std::vector<std::string> extra = {}) {
    sess_->Signal(SIGKILL);
    sess_->Wait();
    sess_.reset();
    Start(extra);
  }
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> sess_, app_;
};

// GET /me until it answers 200 (the app's Redis client reconnects on its own), up to 10 s.
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

TEST_F(SessionsClientsTest, ExpressSessionLoginSurvivesKill9AndEmptyCacheRestarts) {
  std::string node = NodeDir();
  if (node.empty()) GTEST_SKIP() << "npm ci failed (no network and no npm cache?)";
  Start();
  int app_port = FreePort();
  app_ = std::make_unique<Process>(std::vector<std::string>{"/usr/bin/node", node + "/login_app.js", std::to_string(app_port),
                                                            "redis://127.0.0.1:" + std::to_string(port_)},
                                   dir_ + "/app.log");
  ASSERT_TRUE(WaitForPort(app_port)) << app_->Log();
  std::string cookie;
  ASSERT_EQ(HttpCall(app_port, "POST", "/login?user=alice", {}, "", &cookie), 200) << cookie << app_->Log();
  ASSERT_EQ(Me(app_port, cookie), "alice");
  EXPECT_EQ(Me(app_port, "connect.sid=bogus"), "401");

  // (c) kill -9 of hakone sessions: the login was acknowledged, so it is durable.
  Kill9AndRestart();
  EXPECT_EQ(Me(app_port, cookie), "alice") << app_->Log();

  // (d) a clean restart: the in-process cache starts empty and reads through to SQLite.
  sess_->Signal(SIGTERM);
  EXPECT_EQ(sess_->Wait(), 0);
  sess_.reset();
  Start();
  EXPECT_EQ(Me(app_port, cookie), "alice") << app_->Log();
  RespConn c(port_);
  std::string ttl = c.Command({"TTL", "sess:" + cookie.substr(cookie.find("s%3A") + 4, 32)});
  EXPECT_EQ(ttl[0], ':') << ttl;
}

TEST_F(SessionsClientsTest, PythonRedisClientAfterKill9) {
  Start();
  std::string out;
  ASSERT_EQ(RunCommand({"/usr/bin/python3", kSrc + "/py_session.py", std::to_string(port_), "write", "sid42", "bob"}, &out, true), 0)
      << out << sess_->Log();
  Kill9AndRestart();
  ASSERT_EQ(RunCommand({"/usr/bin/python3", kSrc + "/py_session.py", std::to_string(port_), "read", "sid42"}, &out, true), 0)
      << out << sess_->Log();
  // user, remaining TTL (the key's own, not reset), hash field, set membership
  std::istringstream is(out);
  std::string user, sid;
  int ttl = 0, member = 0;
  is >> user >> ttl >> sid >> member;
  EXPECT_EQ(user, "bob");
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);
  EXPECT_EQ(sid, "sid42");
  EXPECT_EQ(member, 1);
}

TEST_F(SessionsClientsTest, NoAcknowledgedWriteIsLostOnKill9) {
  Start();
  std::atomic<int64_t> acked{-1};
  std::atomic<bool> stop{false};
  // A pipelining writer: 8 SETs per round trip; a round's replies acknowledge all 8.
  std::thread writer([&] {
    RespConn c(port_);
    for (int64_t i = 0; !stop; i += 8) {
      std::string wire;
      for (int j = 0; j < 8; j++) wire += EncodeRespCommand({"SET", "ack:" + std::to_string(i + j), std::to_string(i + j)});
      if (!c.SendRaw(wire)) break;
      auto r = c.ReadReplies(8, std::chrono::seconds(2));
      bool all = true;
      for (auto& x : r) all &= x == "+OK\r\n";
      if (!all) break;
      acked = i + 7;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  sess_->Signal(SIGKILL);
  sess_->Wait();
  stop = true;
  writer.join();
  ASSERT_GT(acked.load(), 0);
  sess_.reset();
  Start();
  RespConn c(port_);
  int64_t missing = 0;
  for (int64_t i = 0; i <= acked; i++) {
    if (c.Command({"GET", "ack:" + std::to_string(i)}) != "$" + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n") missing++;
  }
  EXPECT_EQ(missing, 0) << "of " << acked + 1 << " acknowledged writes";
}

TEST_F(SessionsClientsTest, MemcachedProtocolWithPymemcacheAndLibmemcachedTools) {
  int mc = FreePort();
  Start({"--memcached", "127.0.0.1:" + std::to_string(mc)});
  ASSERT_TRUE(WaitForPort(mc));
  std::string out;
  ASSERT_EQ(RunCommand({"/usr/bin/python3", kSrc + "/py_memcache.py", std::to_string(mc)}, &out, true), 0) << out;
  EXPECT_EQ(out, "ok\n");
  std::string servers = "--servers=127.0.0.1:" + std::to_string(mc);
  EXPECT_EQ(RunCommand({"/usr/bin/memcping", servers}, &out, true), 0) << out;
  {
    std::ofstream f(dir_ + "/sess-file");
    f << "session-payload-123";
  }
  ASSERT_EQ(RunCommand({"/bin/sh", "-c", "cd '" + dir_ + "' && /usr/bin/memccp " + servers + " sess-file"}, &out, true), 0) << out;
  ASSERT_EQ(RunCommand({"/usr/bin/memccat", servers, "sess-file"}, &out, true), 0) << out;
  EXPECT_EQ(out, "session-payload-123\n");  // memccat adds a newline
  // Written over memcached, read over RESP: one keyspace.
  RespConn c(port_);
  EXPECT_EQ(c.Command({"GET", "mc:sess"}), "$4\r\ndave\r\n");
  Kill9AndRestart({"--memcached", "127.0.0.1:" + std::to_string(mc)});
  ASSERT_TRUE(WaitForPort(mc));
  ASSERT_EQ(RunCommand({"/usr/bin/memccat", servers, "sess-file"}, &out, true), 0) << out;
  EXPECT_EQ(out, "session-payload-123\n");  // memccat adds a newline
}

TEST_F(SessionsClientsTest, ProtectedModeAndRequirepass) {
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "sessions", "--listen", "0.0.0.0:" + std::to_string(port_), "--data-dir", dir_}, &out, true);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("refusing to listen on 0.0.0.0"), std::string::npos) << out;
  {
    std::ofstream f(dir_ + "/pass");
    f << "s3cret\n";
    std::ofstream t(dir_ + "/h.toml");
    t << "[sessions]\nrequirepass_file = \"" << dir_ << "/pass\"\n"
      << "[[sessions.users]]\nname = \"reader\"\npassword = \"pw\"\ncommands = [\"get\", \"ttl\"]\n";
  }
  Start({"--config", dir_ + "/h.toml"});
  RespConn c(port_);
  EXPECT_EQ(c.Command({"GET", "k"}), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(c.Command({"AUTH", "nope"}), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(c.Command({"AUTH", "s3cret"}), "+OK\r\n");
  EXPECT_EQ(c.Command({"SET", "k", "v"}), "+OK\r\n");
  RespConn r(port_);
  EXPECT_EQ(r.Command({"AUTH", "reader", "pw"}), "+OK\r\n");
  EXPECT_EQ(r.Command({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(r.Command({"DEL", "k"}), "-NOPERM this user has no permissions to run the 'del' command\r\n");
  // Before AUTH, big requests are refused like Redis does (at most 10 arguments).
  RespConn u(port_);
  u.SendRaw("*11\r\n");
  EXPECT_EQ(u.ReadReplies(1)[0], "-ERR Protocol error: invalid multibulk length\r\n");
  EXPECT_TRUE(u.Closed());
}

}  // namespace
}  // namespace hakone::testing
