// End-to-end tests of `hakone gateway` as a user runs it: the real binary in front of the real
// sample app (`hakone sample-app`), queried with `hakone audit ...`.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "process_util.h"

namespace hakone::testing {
namespace {

const std::string kBin = HAKONE_BINARY;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("hakone-gw");
    app_port_ = FreePort();
    app_ = std::make_unique<Process>(std::vector<std::string>{kBin, "sample-app", "--listen", "127.0.0.1:" + std::to_string(app_port_)},
                                     dir_ + "/app.log");
    ASSERT_TRUE(WaitForPort(app_port_)) << app_->Log();
  }
  void TearDown() override {
    gw_.reset();
    app_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  void StartGateway(std::vector<std::string> extra = {}) {
    gw_port_ = FreePort();
    admin_port_ = FreePort();
    std::vector<std::string> argv = {kBin, "gateway", "--listen", "127.0.0.1:" + std::to_string(gw_port_), "--admin",
                                     "127.0.0.1:" + std::to_string(admin_port_), "--upstream",
                                     "http://127.0.0.1:" + std::to_string(app_port_), "--data-dir", dir_ + "/data"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    gw_ = std::make_unique<Process>(argv, dir_ + "/gw.log");
    ASSERT_TRUE(WaitForPort(gw_port_)) << gw_->Log();
    ASSERT_TRUE(WaitForPort(admin_port_)) << gw_->Log();
  }
  std::string Search(std::vector<std::string> args) {
    std::vector<std::string> argv = {kBin, "audit", "search", "--data-dir", dir_ + "/data", "--json", "--limit", "1000000"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    int rc = RunCommand(argv, &out);
    EXPECT_EQ(rc, 0) << out;
    return out;
  }

  std::string dir_;
  int app_port_ = 0, gw_port_ = 0, admin_port_ = 0;
  std::unique_ptr<Process> app_, gw_;
};

TEST_F(GatewayTest, RecordsEveryRequestAndIsSearchableWithinASecond) {
  StartGateway();
  std::string body;
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/candidates/1", {{"X-User-Id", "alice"}}, "", &body), 200);
  EXPECT_NE(body.find("\"id\":1"), std::string::npos) << body;
  EXPECT_EQ(HttpCall(gw_port_, "POST", "/candidates", {{"X-User-Id", "bob"}, {"Content-Type", "application/json"}},
                     R"({"name":"山田 花子","email":"h@example.com"})"),
            201);
  EXPECT_EQ(HttpCall(gw_port_, "DELETE", "/candidates/2", {{"X-User-Id", "bob"}}), 200);
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/candidates/999"), 404);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string all = Search({});
  EXPECT_NE(all.find("\"user\":\"alice\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"route\":\"/candidates/{id}\""), std::string::npos) << all;
  EXPECT_NE(all.find("山田 花子"), std::string::npos) << all;
  EXPECT_NE(all.find("\"user\":\"anonymous\""), std::string::npos) << all;
  std::string bobs = Search({"--user", "bob"});
  EXPECT_EQ(std::count(bobs.begin(), bobs.end(), '\n'), 2) << bobs;
  std::string errors = Search({"--status", "4xx"});
  EXPECT_EQ(std::count(errors.begin(), errors.end(), '\n'), 1) << errors;

  std::string api;
  EXPECT_EQ(HttpCall(admin_port_, "GET", "/api/audit/search?user=alice", {}, "", &api), 200);
  EXPECT_NE(api.find("/candidates/1"), std::string::npos) << api;
  std::string metrics;
  EXPECT_EQ(HttpCall(admin_port_, "GET", "/metrics", {}, "", &metrics), 200);
  EXPECT_NE(metrics.find("hakone_gateway_events_total"), std::string::npos);

  std::string out;
  EXPECT_EQ(RunCommand({kBin, "audit", "verify", "--data-dir", dir_ + "/data"}, &out, true), 0) << out;
  EXPECT_NE(out.find("intact"), std::string::npos) << out;
}

TEST_F(GatewayTest, NoSecretReachesAnyFileInTheDataDir) {
  StartGateway();
  const std::vector<std::string> secrets = {"Bearer-tok-3f9a7c1e", "sess-cookie-51b2d8", "hunter2-pass-77",
                                            "form-pass-5e5e", "apikey-9d0c2b", "query-token-aa11"};
  EXPECT_EQ(HttpCall(gw_port_, "POST", "/candidates",
                     {{"Authorization", "Bearer Bearer-tok-3f9a7c1e"},
                      {"Cookie", "PLAY_SESSION=sess-cookie-51b2d8"},
                      {"X-Api-Key", "apikey-9d0c2b"},
                      {"Content-Type", "application/json"}},
                     R"({"name":"x","password":"hunter2-pass-77","nested":{"Token":"hunter2-pass-77"}})"),
            201);
  EXPECT_EQ(HttpCall(gw_port_, "POST", "/login", {{"Content-Type", "application/x-www-form-urlencoded"}},
                     "user=alice&password=form-pass-5e5e"),
            200);
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/jobs/1?token=query-token-aa11&x=1"), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  gw_->Signal(SIGTERM);
  EXPECT_EQ(gw_->Wait(), 0) << gw_->Log();
  auto files = ReadTree(dir_ + "/data");
  ASSERT_FALSE(files.empty());
  for (auto& [path, bytes] : files) {
    for (auto& s : secrets) EXPECT_EQ(bytes.find(s), std::string::npos) << s << " found in " << path;
  }
  std::string all = Search({});  // decoded (decompressed) events too
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 3) << all;
  for (auto& s : secrets) EXPECT_EQ(all.find(s), std::string::npos) << s << " found in decoded events";
  EXPECT_NE(all.find("[REDACTED]"), std::string::npos) << all;
  for (auto& s : secrets) EXPECT_EQ(gw_->Log().find(s), std::string::npos) << s << " found in the gateway's log";
}

TEST_F(GatewayTest, StrictModeKillNineLosesNoAnsweredRequest) {
  StartGateway({"--durability", "strict"});
  std::mutex mu;
  std::set<std::string> answered;
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        std::string id = "kill9-" + std::to_string(t) + "-" + std::to_string(i);
        ++sent;
        std::string body;
        int st = HttpCall(gw_port_, "GET", "/candidates/1", {{"X-Request-Id", id}}, "", &body);
        // A complete response: status 200 and the full JSON body.
        if (st == 200 && body.find("\"stage\"") != std::string::npos && body.back() == '}') {
          std::lock_guard lk(mu);
          answered.insert(id);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  gw_->Signal(SIGKILL);
  gw_->Wait();
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_GT(answered.size(), 50u) << "too little load to mean anything";
  std::string all = Search({});
  size_t missing = 0;
  for (auto& id : answered) {
    if (all.find("\"request_id\":\"" + id + "\"") == std::string::npos) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << answered.size() << " answered requests";
  std::string out;
  EXPECT_EQ(RunCommand({kBin, "audit", "verify", "--data-dir", dir_ + "/data"}, &out, true), 0) << out;
  // The gateway starts again on the same data and continues the chain.
  StartGateway({"--durability", "strict"});
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/jobs"), 200);
  gw_->Signal(SIGTERM);
  EXPECT_EQ(gw_->Wait(), 0);
  EXPECT_EQ(RunCommand({kBin, "audit", "verify", "--data-dir", dir_ + "/data"}, &out, true), 0) << out;
}

TEST_F(GatewayTest, UpstreamDownIs502AndRecorded) {
  int dead = FreePort();
  gw_port_ = FreePort();
  admin_port_ = FreePort();
  gw_ = std::make_unique<Process>(
      std::vector<std::string>{kBin, "gateway", "--listen", "127.0.0.1:" + std::to_string(gw_port_), "--admin",
                               "127.0.0.1:" + std::to_string(admin_port_), "--upstream",
                               "http://127.0.0.1:" + std::to_string(dead), "--data-dir", dir_ + "/data"},
      dir_ + "/gw.log");
  ASSERT_TRUE(WaitForPort(gw_port_)) << gw_->Log();
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/candidates"), 502);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string all = Search({"--status", "502"});
  EXPECT_NE(all.find("\"error\""), std::string::npos) << all;
}

TEST_F(GatewayTest, MalformedRequestsGetClearErrors) {
  StartGateway();
  EXPECT_EQ(RawExchange(gw_port_, "GARBAGE\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  EXPECT_EQ(RawExchange(gw_port_, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(200000, 'a') + "\r\n\r\n").substr(0, 12),
            "HTTP/1.1 431");
  EXPECT_EQ(RawExchange(gw_port_, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 400");
  // Still serving.
  EXPECT_EQ(HttpCall(gw_port_, "GET", "/jobs"), 200);
}

TEST(GatewayCli, ConfigErrorsNameTheKey) {
  std::string dir = MakeTempDir("hakone-cfg");
  {
    std::ofstream f(dir + "/hakone.toml");
    f << "data_dir = \"" << dir << "\"\n[gateway]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"http://127.0.0.1:1\"]\nlistn = 1\n";
  }
  std::string out;
  EXPECT_EQ(RunCommand({kBin, "gateway", "--config", dir + "/hakone.toml"}, &out, true), 2) << out;
  EXPECT_NE(out.find("gateway.listn"), std::string::npos) << out;
  EXPECT_NE(out.find("line 5"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({kBin, "gateway", "--bogus"}, &out, true), 2);
  EXPECT_NE(out.find("unknown flag --bogus"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({kBin, "gateway", "--help"}, &out, true), 0);
  EXPECT_NE(out.find("--upstream"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({kBin, "--version"}, &out, true), 0);
  EXPECT_NE(out.find("hakone "), std::string::npos);
  RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
