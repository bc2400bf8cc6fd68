// hakone agent as a real process: the correctness cases of the Vector test harness.
//   - kill -9 with a disk buffer: nothing acknowledged is lost, duplicates stay within the
//     records after the last acknowledgement;
//   - rename rotation (and a restart that must not re-read the rotated file);
//   - copytruncate / truncation;
//   - SIGHUP reload while lines are being written;
//   - a sink that fails for a while, then recovers;
//   - environment isolation: a dev flood that fills dev's quota does not delay prod by > 1 s.
// Output is checked through the stdout sink (raw lines) in the process log, or through a local
// Elasticsearch-format receiver.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/http_client.h"
#include "core/http_server.h"
#include "core/runtime.h"
#include "process_util.h"

namespace hakone::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds t = 20s) {
  auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(25ms);
  }
  return f();
}

std::string Slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Counts lines that start with `prefix` in the given files.
std::map<std::string, int> Lines(const std::vector<std::string>& files, const std::string& prefix) {
  std::map<std::string, int> out;
  for (auto& f : files) {
    std::stringstream ss(Slurp(f));
    for (std::string l; std::getline(ss, l);)
      if (l.rfind(prefix, 0) == 0) out[l]++;
  }
  return out;
}

std::string Line(const std::string& prefix, int i) {
  char b[64];
  std::snprintf(b, sizeof b, "%s%07d", prefix.c_str(), i);
  return std::string(b) + " some payload to make the line longer than a few bytes";
}

void Append(const std::string& path, const std::string& prefix, int from, int to) {
  std::ofstream f(path, std::ios::app);
  for (int i = from; i < to; i++) f << Line(prefix, i) << "\n";
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("hakone-agent-it");
    fs::create_directories(dir_ + "/logs");
    admin_port_ = FreePort();
  }
  void TearDown() override {
    agent_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  // A config with a file source on logs/*.log → stdout (raw), plus `extra`.
  std::string Config(const std::string& sources_and_sinks, int batch = 100) {
    return "data_dir = \"" + dir_ + "/data\"\ninstance = \"it\"\n[log]\nlevel = \"info\"\n[agent]\nlisten = \"127.0.0.1:" +
           std::to_string(admin_port_) + "\"\n" + sources_and_sinks;
  }
  std::string FileToStdout(const std::string& glob = "*.log", int batch = 100) {
    return "[agent.envs.prod]\nquota = \"64MiB\"\n"
           "[agent.sources.app]\ntype = \"file\"\npaths = [\"" + dir_ + "/logs/" + glob + "\"]\nenv = \"prod\"\n"
           "poll_interval = \"50ms\"\ncheckpoint_interval = \"100ms\"\nrotate_wait = \"1s\"\n"
           "[agent.sinks.out]\ntype = \"stdout\"\nformat = \"raw\"\ninputs = [\"app\"]\nbatch_size = " + std::to_string(batch) +
           "\nbatch_timeout = \"50ms\"\nack_interval = \"0s\"\n";
  }
  void Start(const std::string& cfg) {
    std::ofstream(dir_ + "/agent.toml") << cfg;
    std::string log = dir_ + "/run" + std::to_string(runs_++) + ".log";
    logs_.push_back(log);
    agent_ = std::make_unique<Process>(std::vector<std::string>{HAKONE_BINARY, "agent", "--config", dir_ + "/agent.toml"}, log);
    ASSERT_TRUE(WaitForPort(admin_port_)) << agent_->Log();
  }
  std::string Metrics() {
    std::string body;
    HttpCall(admin_port_, "GET", "/metrics", {}, "", &body);
    return body;
  }

  std::string dir_;
  int admin_port_ = 0;
  int runs_ = 0;
  std::vector<std::string> logs_;
  std::unique_ptr<Process> agent_;
};

TEST_F(AgentTest, ValidatePrintsTheGraph) {
  std::ofstream(dir_ + "/agent.toml") << Config(FileToStdout());
  std::string out;
  ASSERT_EQ(RunCommand({HAKONE_BINARY, "agent", "--config", dir_ + "/agent.toml", "--validate"}, &out, true), 0) << out;
  EXPECT_NE(out.find("path app -> out"), std::string::npos) << out;
  std::ofstream(dir_ + "/bad.toml") << Config(FileToStdout() + "bogus_key = 1\n");
  ASSERT_EQ(RunCommand({HAKONE_BINARY, "agent", "--config", dir_ + "/bad.toml", "--validate"}, &out, true), 2) << out;
  EXPECT_NE(out.find("bogus_key"), std::string::npos) << out;
}

TEST_F(AgentTest, KillNineLosesNothingAcknowledged) {
  const int kTotal = 40000;
  Start(Config(FileToStdout()));
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kTotal; i += 200) {
      Append(dir_ + "/logs/app.log", "K", i, i + 200);
      written = i + 200;
      std::this_thread::sleep_for(5ms);
    }
  });
  for (int round = 0; round < 3; round++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 300 * round));
    agent_->Signal(SIGKILL);
    agent_->Wait();
    Start(Config(FileToStdout()));
  }
  writer.join();
  std::map<std::string, int> seen;
  ASSERT_TRUE(WaitFor([&] {
    seen = Lines(logs_, "K");
    return static_cast<int>(seen.size()) == kTotal;
  }, 60s)) << "seen " << seen.size() << " of " << kTotal;
  int dups = 0;
  for (auto& [l, n] : seen) {
    EXPECT_LE(n, 4) << l;  // at most once more per kill
    dups += n - 1;
  }
  // Duplicates only from the unacknowledged tail at each kill: the sink's batch in flight and
  // the lines read since the last file checkpoint (100 ms).
  EXPECT_LT(dups, 3 * 6000) << dups;
  std::printf("kill -9 x3: %d lines, %d duplicates\n", kTotal, dups);
}

TEST_F(AgentTest, RenameRotationAndRestartDoNotReread) {
  Start(Config(FileToStdout("app.log*")));
  std::string p = dir_ + "/logs/app.log";
  Append(p, "R", 0, 1000);
  {
    std::ofstream keep(p, std::ios::app);  // the app's handle, still writing after the rename
    fs::rename(p, p + ".1");
    keep << Line("R", 1000) << "\n";
    keep.flush();
    Append(p, "R", 1001, 2000);  // the new file
    keep << Line("R", 2000) << "\n";
  }
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "R").size() == 2001; })) << Lines(logs_, "R").size();
  std::this_thread::sleep_for(300ms);  // let a checkpoint happen
  agent_->Signal(SIGTERM);
  EXPECT_EQ(agent_->Wait(), 0);
  Start(Config(FileToStdout("app.log*")));
  Append(p, "R", 2001, 2100);
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "R").size() == 2100; }));
  std::this_thread::sleep_for(500ms);
  for (auto& [l, n] : Lines(logs_, "R")) EXPECT_EQ(n, 1) << l;
}

TEST_F(AgentTest, CopyTruncateAndTruncation) {
  Start(Config(FileToStdout()));
  std::string p = dir_ + "/logs/app.log";
  Append(p, "C", 0, 500);
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "C").size() == 500; }));
  fs::copy_file(p, dir_ + "/logs/app.log.1");  // not matched by *.log
  fs::resize_file(p, 0);
  Append(p, "C", 500, 1000);  // longer than before: only the fingerprint tells it is new
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "C").size() == 1000; })) << Lines(logs_, "C").size();
  // Plain truncation to a shorter content.
  fs::resize_file(p, 0);
  Append(p, "C", 1000, 1010);
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "C").size() == 1010; })) << Lines(logs_, "C").size();
  std::this_thread::sleep_for(300ms);
  for (auto& [l, n] : Lines(logs_, "C")) EXPECT_EQ(n, 1) << l;
  EXPECT_NE(Slurp(logs_[0]).find("truncated or replaced"), std::string::npos);
}

TEST_F(AgentTest, SighupReloadLosesNothing) {
  Start(Config(FileToStdout()));
  std::thread writer([&] {
    for (int i = 0; i < 20000; i += 100) {
      Append(dir_ + "/logs/app.log", "H", i, i + 100);
      std::this_thread::sleep_for(3ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  // New config: add a JSON stdout sink too; the raw one keeps its spool position.
  std::ofstream(dir_ + "/agent.toml") << Config(FileToStdout() +
                                                "[agent.sinks.json]\ntype = \"stdout\"\ninputs = [\"app\"]\n");
  agent_->Signal(SIGHUP);
  std::this_thread::sleep_for(300ms);
  agent_->Signal(SIGHUP);
  writer.join();
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "H").size() == 20000; }, 30s)) << Lines(logs_, "H").size();
  std::this_thread::sleep_for(300ms);
  for (auto& [l, n] : Lines(logs_, "H")) EXPECT_EQ(n, 1) << l;  // a reload is a clean stop: no duplicates
  EXPECT_NE(Slurp(logs_[0]).find("SIGHUP, reloading"), std::string::npos);
  EXPECT_NE(Slurp(logs_[0]).find("{\"@timestamp\""), std::string::npos);  // the new sink runs
}

// A local Elasticsearch-format receiver.
class Receiver {
 public:
  using Fn = std::function<HttpResponse(HttpRequest&)>;
  explicit Receiver(Fn fn) : fn_(std::move(fn)), server_(io_, HttpServer::Options{}) {
    server_.SetFallback([this](HttpRequest& r) -> asio::awaitable<HttpResponse> { co_return fn_(r); });
    EXPECT_TRUE(server_.Listen(*ParseEndpoint("127.0.0.1:0")).ok());
    guard_.emplace(io_.get_executor());
    th_ = std::thread([this] { io_.run(); });
  }
  ~Receiver() {
    server_.Stop();
    guard_.reset();
    io_.stop();
    th_.join();
  }
  std::string url() const { return "http://" + FormatEndpoint(server_.local_endpoint()); }

 private:
  Fn fn_;
  boost::asio::io_context io_;
  HttpServer server_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread th_;
};

// Answers _bulk with every item created; records the messages.
HttpResponse BulkOk(HttpRequest& r, std::mutex& mu, std::map<std::string, int>& got) {
  std::stringstream ss(r.body);
  std::string items;
  int n = 0;
  for (std::string l; std::getline(ss, l);) {
    if (l.rfind("{\"create\"", 0) == 0) {
      items += std::string(items.empty() ? "" : ",") + "{\"create\":{\"status\":201}}";
      n++;
      continue;
    }
    size_t m = l.find("\"message\":\"");
    if (m != std::string::npos) {
      std::lock_guard lk(mu);
      got[l.substr(m + 11, l.find('"', m + 11) - m - 11)]++;
    }
  }
  return HttpResponse::Json(200, "{\"errors\":false,\"items\":[" + items + "]}");
}

TEST_F(AgentTest, SinkFailsForAWhileThenRecovers) {
  std::mutex mu;
  std::map<std::string, int> got;
  std::atomic<bool> healthy{false};
  std::atomic<int> refused{0};
  Receiver es([&](HttpRequest& r) {
    if (!healthy) {
      refused++;
      return HttpResponse::Error(503, "down");
    }
    return BulkOk(r, mu, got);
  });
  Start(Config(FileToStdout() + "[agent.sinks.es]\ntype = \"elasticsearch\"\ninputs = [\"app\"]\nurl = \"" + es.url() +
               "\"\nretry_initial = \"50ms\"\nretry_max = \"400ms\"\n"));
  Append(dir_ + "/logs/app.log", "F", 0, 3000);
  ASSERT_TRUE(WaitFor([&] { return refused > 3; }));
  // While the sink is down the other sink of the route is not held back.
  ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "F").size() == 3000; }));
  EXPECT_NE(Metrics().find("hakone_agent_errors_total{component=\"es\",env=\"prod\"}"), std::string::npos);
  // Restart while it is still down: the spool keeps the records for the failing sink.
  agent_->Signal(SIGTERM);
  agent_->Wait();
  Start(Config(FileToStdout() + "[agent.sinks.es]\ntype = \"elasticsearch\"\ninputs = [\"app\"]\nurl = \"" + es.url() +
               "\"\nretry_initial = \"50ms\"\nretry_max = \"400ms\"\n"));
  std::this_thread::sleep_for(500ms);
  healthy = true;
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lk(mu);
    return got.size() == 3000;
  })) << got.size();
  std::lock_guard lk(mu);
  for (auto& [l, n] : got) EXPECT_EQ(n, 1) << l;
}

// `hakone serve` with [store] and [agent]: a `store` sink without url writes to the process's
// own event store (no HTTP to itself); what the agent delivered is searchable through the ES API,
// and a restart delivers nothing twice.
TEST_F(AgentTest, ServeWritesToItsOwnStoreInProcess) {
  int store_port = FreePort();
  std::string cfg = Config("[agent.envs.prod]\nquota = \"64MiB\"\n"
                           "[agent.sources.app]\ntype = \"file\"\npaths = [\"" + dir_ + "/logs/*.log\"]\nenv = \"prod\"\n"
                           "poll_interval = \"50ms\"\n"
                           "[agent.sinks.events]\ntype = \"store\"\ninputs = [\"app\"]\nstream = \"itlogs-{env}\"\n"
                           "batch_size = 500\nbatch_timeout = \"50ms\"\n") +
                    "[store]\nlisten = \"127.0.0.1:" + std::to_string(store_port) + "\"\n";
  std::ofstream(dir_ + "/serve.toml") << cfg;
  auto serve = [&](int run) {
    return std::make_unique<Process>(std::vector<std::string>{HAKONE_BINARY, "serve", "--config", dir_ + "/serve.toml"},
                                     dir_ + "/serve" + std::to_string(run) + ".log");
  };
  auto count = [&]() -> int {
    std::string body;
    HttpCall(store_port, "POST", "/itlogs-prod/_refresh", {}, "", nullptr);
    if (HttpCall(store_port, "GET", "/itlogs-prod/_count", {}, "", &body) != 200) return -1;
    size_t p = body.find("\"count\":");
    return p == std::string::npos ? -1 : std::atoi(body.c_str() + p + 8);
  };
  Append(dir_ + "/logs/app.log", "S", 0, 2000);
  {
    auto p = serve(0);
    ASSERT_TRUE(WaitForPort(store_port)) << p->Log();
    ASSERT_TRUE(WaitFor([&] { return count() == 2000; })) << count() << "\n" << p->Log();
    std::string body;
    ASSERT_EQ(HttpCall(store_port, "POST", "/itlogs-prod/_search", {{"Content-Type", "application/json"}},
                       "{\"query\":{\"match_phrase\":{\"message\":\"S0001234\"}}}", &body), 200) << body;
    EXPECT_NE(body.find("S0001234 some payload"), std::string::npos) << body;
    EXPECT_NE(body.find("\"env\":\"prod\""), std::string::npos) << body;
    EXPECT_EQ(p->Log().find("_bulk"), std::string::npos);  // no HTTP request to itself
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(), 0) << p->Log();
  }
  Append(dir_ + "/logs/app.log", "S", 2000, 2500);
  auto p = serve(1);
  ASSERT_TRUE(WaitForPort(store_port)) << p->Log();
  ASSERT_TRUE(WaitFor([&] { return count() == 2500; })) << count() << "\n" << p->Log();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(count(), 2500);
  p->Signal(SIGTERM);
  EXPECT_EQ(p->Wait(), 0) << p->Log();
}

TEST_F(AgentTest, DevFloodDoesNotDelayProd) {
  // dev: a sink that never accepts, so dev's 2 MiB quota fills and its source blocks.
  Receiver dead([&](HttpRequest&) { return HttpResponse::Error(503, "down"); });
  std::string cfg = Config(
      "[agent.envs.prod]\nquota = \"64MiB\"\n[agent.envs.dev]\nquota = \"2MiB\"\n"
      "[agent.sources.prod]\ntype = \"file\"\npaths = [\"" + dir_ + "/logs/prod.log\"]\nenv = \"prod\"\npoll_interval = \"20ms\"\n"
      "[agent.sources.dev]\ntype = \"file\"\npaths = [\"" + dir_ + "/logs/dev.log\"]\nenv = \"dev\"\npoll_interval = \"20ms\"\n"
      "[agent.sinks.out]\ntype = \"stdout\"\nformat = \"raw\"\ninputs = [\"prod\"]\nenvs = [\"prod\"]\nbatch_timeout = \"20ms\"\n"
      "[agent.sinks.es]\ntype = \"elasticsearch\"\ninputs = [\"dev\"]\nenvs = [\"dev\"]\nurl = \"" + dead.url() + "\"\n");
  Start(cfg);
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    int i = 0;
    while (!stop) {
      Append(dir_ + "/logs/dev.log", "D", i, i + 5000);
      i += 5000;
      std::this_thread::sleep_for(5ms);
    }
  });
  ASSERT_TRUE(WaitFor([&] {
    std::string m = Metrics();
    size_t p = m.find("hakone_agent_buffer_fill_ratio{env=\"dev\"} ");
    return p != std::string::npos && std::atof(m.c_str() + p + 43) > 0.8;
  })) << Metrics();
  double worst = 0;
  for (int i = 0; i < 20; i++) {
    auto t0 = std::chrono::steady_clock::now();
    Append(dir_ + "/logs/prod.log", "P", i, i + 1);
    ASSERT_TRUE(WaitFor([&] { return Lines(logs_, "P").count(Line("P", i)) == 1; }, 5s));
    worst = std::max(worst, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  flood.join();
  EXPECT_LT(worst, 1.0) << "prod delayed by " << worst << " s";
  std::string m = Metrics();
  EXPECT_NE(m.find("hakone_agent_buffer_full_waits_total{component=\"spool\",env=\"dev\"}"), std::string::npos);
  std::printf("prod worst latency during the dev flood: %.3f s\n", worst);
}

}  // namespace
}  // namespace hakone::testing
