// The demo's parts: the sample app (sessions in a real Redis-protocol server, its per-request
// log), the alert board (Slack messages in, /alerts out, kept across restarts), and the crawler
// service over the bundled job board (run records, the runs API).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/http_client.h"
#include "core/resp_client.h"
#include "demo/alerts.h"
#include "demo/crawl_runs.h"
#include "demo/job_board.h"
#include "demo/sample_app.h"
#include "testing/test_servers.h"

namespace hakone::demo {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using hakone::testing::FreePort;

std::string Addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Components on a runtime thread, stopped at the end.
class Running {
 public:
  explicit Running(Runtime& rt) : rt_(rt) {}
  ~Running() {
    rt_.Shutdown();
    if (t_.joinable()) t_.join();
  }
  void Add(Component* c) {
    Status st = c->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    rt_.OnShutdown([c] { std::thread([c] { c->Stop(); }).join(); });
  }
  void Run() {
    t_ = std::thread([this] { rt_.Run(); });
  }

 private:
  Runtime& rt_;
  std::thread t_;
};

fs::path TempDir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<json::object> LogLines(const fs::path& p) {
  std::vector<json::object> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
  return out;
}

TEST(SampleApp, SessionsInTheStoreAndOneLogLinePerRequest) {
  hakone::testing::RedisServer redis;
  ASSERT_TRUE(redis.Start());
  fs::path dir = TempDir("demo_sample_app");
  Runtime rt(1);
  SampleAppOptions o;
  o.listen = Addr(FreePort());
  o.env = "stage";
  o.log_path = (dir / "app.log").string();
  o.sessions = redis.url();
  auto app = MakeSampleApp(rt, o);
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  Running run(rt);
  run.Add(app->get());
  run.Run();
  std::string base = "http://" + o.listen;
  const std::vector<std::pair<std::string, std::string>> form = {{"Content-Type", "application/x-www-form-urlencoded"}};

  // A short password is refused; the log says why, without the password.
  auto r = HttpFetch("POST", base + "/login", form, "user=kenji&password=short");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  // Percent-encoding (and broken encodings kept as they are) in the form.
  r = HttpFetch("POST", base + "/login", form, "user=%E7%94%B0%E4%B8%AD+%zz%4&password=correct-horse");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("田中 %zz%4"), std::string::npos) << r->body;
  std::string cookie(r->Header("Set-Cookie"));
  ASSERT_EQ(cookie.rfind("PLAY_SESSION=", 0), 0u) << cookie;
  std::string sid = cookie.substr(13, cookie.find(';') - 13);
  ASSERT_EQ(sid.size(), 16u);
  auto v = RespCommandSync(redis.url(), {"GET", "sess:" + sid});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->str, R"({"user":{"id":"田中 %zz%4"}})");
  auto ttl = RespCommandSync(redis.url(), {"TTL", "sess:" + sid});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(ttl->integer, 3500);
  // A JSON login too; a body that is neither gives 400.
  r = HttpFetch("POST", base + "/login", {{"Content-Type", "application/json"}}, R"({"user":"alice","password":"alice-pass-1"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  r = HttpFetch("POST", base + "/login", {{"Content-Type", "application/json"}}, R"({"user":)");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  // Requests with the cookie are the session's user; after logout the session is gone.
  r = HttpFetch("GET", base + "/candidates/1", {{"Cookie", "theme=dark; PLAY_SESSION=" + sid}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  r = HttpFetch("POST", base + "/logout", {{"Cookie", "PLAY_SESSION=" + sid}});
  ASSERT_TRUE(r.ok());
  v = RespCommandSync(redis.url(), {"EXISTS", "sess:" + sid});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->integer, 0);
  // Every 4th report fails with 500 (an ERROR line).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(HttpFetch("GET", base + "/reports").ok());

  auto lines = LogLines(dir / "app.log");
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[0]["level"].as_string(), "WARN");
  EXPECT_EQ(lines[0]["status"].as_int64(), 401);
  EXPECT_EQ(lines[0]["env"].as_string(), "stage");
  EXPECT_NE(lines[0]["message"].as_string().find("login failed for kenji"), std::string::npos);
  EXPECT_EQ(lines[1]["user"].as_string(), "田中 %zz%4");
  EXPECT_EQ(lines[3]["status"].as_int64(), 400);
  EXPECT_EQ(lines[4]["path"].as_string(), "/candidates/1");
  EXPECT_EQ(lines[4]["user"].as_string(), "田中 %zz%4");
  EXPECT_EQ(lines[9]["level"].as_string(), "ERROR");
  EXPECT_NE(lines[9]["message"].as_string().find("timeout calling ats-db"), std::string::npos);
  for (auto& l : lines) {
    EXPECT_EQ(json::serialize(l).find("correct-horse"), std::string::npos);
    EXPECT_EQ(json::serialize(l).find(sid), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(SampleApp, SessionStoreDownIsA503NotALogin) {
  fs::path dir = TempDir("demo_sample_app_down");
  Runtime rt(1);
  SampleAppOptions o;
  o.listen = Addr(FreePort());
  o.sessions = "redis://" + Addr(FreePort());  // nothing listens
  o.log_path = (dir / "app.log").string();
  auto app = MakeSampleApp(rt, o);
  ASSERT_TRUE(app.ok());
  Running run(rt);
  run.Add(app->get());
  run.Run();
  auto r = HttpFetch("POST", "http://" + o.listen + "/login", {{"Content-Type", "application/x-www-form-urlencoded"}},
                     "user=a&password=long-enough");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(r->Header("Set-Cookie").empty());
  fs::remove_all(dir);
}

TEST(SampleApp, RejectsBadOptions) {
  Runtime rt(1);
  SampleAppOptions o;
  o.listen = "nowhere";
  EXPECT_FALSE(MakeSampleApp(rt, o).ok());
  o.listen = "127.0.0.1:0";
  o.sessions = "http://127.0.0.1:1";
  EXPECT_FALSE(MakeSampleApp(rt, o).ok());
}

std::string SlackMessage(const std::string& env, const std::string& rule, const std::string& count, const std::string& state) {
  json::array fields;
  for (auto [k, v] : {std::pair{"env", env}, {"rule", rule}, {"count", count}, {"state", state}})
    fields.push_back(json::object{{"type", "mrkdwn"}, {"text", std::string("*") + k + "*\n" + v}});
  json::array blocks;
  blocks.push_back(json::object{{"type", "section"}, {"text", json::object{{"type", "mrkdwn"}, {"text", "*title*"}}}});
  blocks.push_back(json::object{{"type", "section"}, {"fields", fields}});
  return json::serialize(json::object{{"text", ":rotating_light: [" + env + "] " + rule}, {"blocks", blocks}});
}

TEST(SlackAlert, Parses) {
  auto a = ParseSlackAlert(SlackMessage("prod", "server errors", "3", "firing"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->env, "prod");
  EXPECT_EQ(a->rule, "server errors");
  EXPECT_EQ(a->count, 3);
  EXPECT_EQ(a->state, "firing");
  EXPECT_EQ(a->text, ":rotating_light: [prod] server errors");
}

TEST(SlackAlert, RejectsMalformedMessages) {
  for (const char* bad : {"", "{", "[]", "42", R"({"text":"x"})", R"({"blocks":{}})", R"({"blocks":[]})",
                          R"({"blocks":[{"fields":[{"text":"*env*\nprod"}]}]})",  // no rule
                          R"({"blocks":[{"fields":[{"text":"*rule*\nr"}]}]})",    // no env
                          R"({"blocks":[{"fields":[{"text":"*env*\nprod"},{"text":"*rule*\nr"},{"text":"*count*\nlots"}]}]})",
                          R"({"blocks":[{"fields":[{"text":"env prod"},{"text":"*rule"},7,null]}]})"}) {
    EXPECT_FALSE(ParseSlackAlert(bad).ok()) << bad;
  }
  // Truncated at every byte: never a crash, and never an alert without env and rule.
  std::string m = SlackMessage("dev", "r", "1", "resolved");
  for (size_t i = 0; i < m.size(); ++i) {
    auto a = ParseSlackAlert(m.substr(0, i));
    EXPECT_FALSE(a.ok()) << i;
  }
}

TEST(AlertBoard, HistoryAndStateKeptAcrossRestarts) {
  fs::path dir = TempDir("demo_alerts");
  std::string listen = Addr(FreePort());
  AlertBoardOptions o;
  o.listen = listen;
  o.history_path = (dir / "alerts.jsonl").string();
  o.rules = {{"prod", "server errors", "level:ERROR", 0, std::chrono::seconds(300)},
             {"prod", "login failures", "\"login failed\"", 2, std::chrono::seconds(120)},
             {"dev", "server errors", "level:ERROR", 0, std::chrono::seconds(300)}};
  {
    Runtime rt(1);
    auto b = MakeAlertBoard(rt, o);
    ASSERT_TRUE(b.ok());
    Running run(rt);
    run.Add(b->get());
    run.Run();
    std::string url = "http://" + listen;
    auto r = HttpFetch("POST", url + "/slack/demo", {{"Content-Type", "application/json"}}, SlackMessage("prod", "server errors", "1", "firing"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
    r = HttpFetch("POST", url + "/slack/demo", {}, SlackMessage("prod", "login failures", "3", "firing"));
    ASSERT_TRUE(r.ok());
    r = HttpFetch("POST", url + "/slack/demo", {}, SlackMessage("prod", "login failures", "0", "resolved"));
    ASSERT_TRUE(r.ok());
    r = HttpFetch("POST", url + "/slack/demo", {}, "not slack");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400);
  }
  std::ofstream(dir / "alerts.jsonl", std::ios::app) << "garbage line\n";
  Runtime rt(1);
  auto b = MakeAlertBoard(rt, o);
  ASSERT_TRUE(b.ok());
  Running run(rt);
  run.Add(b->get());
  run.Run();
  auto r = HttpFetch("GET", "http://" + listen + "/alerts");
  ASSERT_TRUE(r.ok());
  auto v = json::parse(r->body).as_object();
  auto& rules = v["rules"].as_array();
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].as_object().at("state").as_string(), "firing");  // within its window
  EXPECT_TRUE(rules[0].as_object().contains("last_fired"));
  EXPECT_EQ(rules[0].as_object().at("window").as_string(), "5m");
  EXPECT_EQ(rules[1].as_object().at("state").as_string(), "ok");  // resolved
  EXPECT_TRUE(rules[1].as_object().contains("last_fired"));
  EXPECT_EQ(rules[2].as_object().at("state").as_string(), "ok");
  EXPECT_FALSE(rules[2].as_object().contains("last_fired"));
  auto& hist = v["history"].as_array();
  ASSERT_EQ(hist.size(), 3u);
  EXPECT_EQ(hist[0].as_object().at("state").as_string(), "resolved");  // newest first
  EXPECT_EQ(hist[2].as_object().at("rule").as_string(), "server errors");
  fs::remove_all(dir);
}

TEST(CrawlService, CrawlsTheJobBoardAndServesItsRuns) {
  fs::path dir = TempDir("demo_crawl");
  Runtime rt(1);
  std::string site = Addr(FreePort());
  auto board = MakeJobBoard(rt, site);
  ASSERT_TRUE(board.ok());
  CrawlServiceOptions o;
  o.listen = Addr(FreePort());
  o.crawl.seeds = {"http://" + site + "/"};
  o.crawl.robots_sitemaps = true;
  o.crawl.concurrency = 2;
  o.crawl.retries = 0;
  o.crawl.state_path = (dir / "state.db").string();
  o.crawl.table = "sqlite:" + (dir / "jobs.db").string();
  o.runs_path = (dir / "runs.jsonl").string();
  auto svc = MakeCrawlService(rt, o);
  ASSERT_TRUE(svc.ok()) << svc.status().ToString();
  Running run(rt);
  run.Add(board->get());
  CrawlService* s = svc->get();
  run.Add(s);
  run.Run();
  for (int i = 0; i < 300 && s->finished_runs() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(s->finished_runs(), 1);
  std::string api = "http://" + o.listen + "/api/crawl/runs";
  auto r = HttpFetch("GET", api);
  ASSERT_TRUE(r.ok());
  auto runs = json::parse(r->body).as_object()["runs"].as_array();
  ASSERT_EQ(runs.size(), 1u) << r->body;
  auto& run0 = runs[0].as_object();
  EXPECT_EQ(run0["id"].as_string(), "1");
  EXPECT_EQ(run0["state"].as_string(), "ok");  // the 404 and the 410 are dead links, not failures
  EXPECT_EQ(run0["postings"].as_int64(), JobBoardPostingCount() - 1);  // the closed one is 410
  EXPECT_EQ(run0["postings_invalid"].as_int64(), 1);                   // one lacks its description
  EXPECT_EQ(run0["errors"].as_int64(), 2);
  EXPECT_EQ(run0["robots_denied"].as_int64(), 1);  // /admin/
  EXPECT_FALSE(run0.contains("hosts"));
  r = HttpFetch("GET", api + "/1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  auto detail = json::parse(r->body).as_object();
  ASSERT_EQ(detail["hosts"].as_array().size(), 1u);
  auto& host = detail["hosts"].as_array()[0].as_object();
  EXPECT_EQ(host["host"].as_string(), site);
  EXPECT_GT(host["pages"].as_int64(), 10);
  EXPECT_EQ(host["errors"].as_int64(), 2);
  EXPECT_EQ(host["robots"].as_string(), "rules");
  EXPECT_EQ(detail["postings_sample"].as_array().size(), static_cast<size_t>(JobBoardPostingCount() - 1));
  EXPECT_NE(r->body.find("株式会社箱根"), std::string::npos);
  r = HttpFetch("GET", api + "/99");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  r = HttpFetch("GET", api + "/..%2f");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hakone::demo
