// The agent in-process: config validation, the graph, and sources → transforms → sinks against
// real local HTTP receivers (Elasticsearch-format _bulk, Slack webhook).
#include "pipeline/agent.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/http_client.h"
#include "core/http_server.h"
#include "core/runtime.h"
#include "pipeline/event.h"
#include "pipeline/parse.h"
#include "store/event_store.h"
#include "store/local.h"

namespace hakone::pipeline {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string TempDir() {
  std::string t = "/tmp/hakone-agent-test-XXXXXX";
  return mkdtemp(t.data());
}

Result<std::unique_ptr<Agent>> MakeFrom(const std::string& toml) {
  auto cfg = Config::LoadString(toml);
  if (!cfg.ok()) return cfg.status();
  auto a = Agent::Make(*cfg);
  if (!a.ok()) return a.status();
  HAKONE_RETURN_IF_ERROR(cfg->Finish());
  return a;
}

// A local HTTP receiver on its own thread.
class Receiver {
 public:
  using Fn = std::function<HttpResponse(HttpRequest&)>;
  explicit Receiver(Fn fn) : fn_(std::move(fn)), server_(io_, HttpServer::Options{}) {
    server_.SetFallback([this](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      std::lock_guard lk(mu_);
      co_return fn_(r);
    });
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
  std::mutex mu_;

 private:
  Fn fn_;
  boost::asio::io_context io_;
  HttpServer server_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread th_;
};

template <typename F>
bool WaitFor(F f, std::chrono::milliseconds t = 10s) {
  auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

// The value of one sample in the agent's /metrics ("" when absent).
std::string Metric(const Agent& a, const std::string& name) {
  auto m = HttpFetch("GET", "http://" + a.admin_address() + "/metrics");
  if (!m.ok()) return "";
  std::stringstream ss(m->body);
  for (std::string l; std::getline(ss, l);)
    if (l.rfind(name + " ", 0) == 0) return l.substr(name.size() + 1);
  return "";
}

TEST(AgentConfig, ErrorsNameTheProblem) {
  auto bad_type = MakeFrom("[agent.sources.a]\ntype = \"nope\"\n");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("unknown source type 'nope'"), std::string::npos) << bad_type.status().message();
  auto bad_input = MakeFrom(
      "[agent.sources.a]\ntype = \"stdin\"\n[agent.sinks.s]\ntype = \"stdout\"\ninputs = [\"b\"]\n");
  ASSERT_FALSE(bad_input.ok());
  EXPECT_NE(bad_input.status().message().find("unknown component 'b'"), std::string::npos) << bad_input.status().message();
  auto cycle = MakeFrom(
      "[agent.sources.a]\ntype = \"stdin\"\n[agent.transforms.x]\ntype = \"json\"\ninputs = [\"y\"]\n"
      "[agent.transforms.y]\ntype = \"json\"\ninputs = [\"x\"]\n");
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.status().message().find("cycle"), std::string::npos) << cycle.status().message();
  auto unknown_key = MakeFrom("[agent.sources.a]\ntype = \"file\"\npaths = [\"/x\"]\npathz = 1\n");
  ASSERT_FALSE(unknown_key.ok());
  EXPECT_NE(unknown_key.status().message().find("pathz"), std::string::npos) << unknown_key.status().message();
  auto bad_regex = MakeFrom(
      "[agent.sources.a]\ntype = \"stdin\"\n[agent.transforms.r]\ntype = \"regex\"\ninputs = [\"a\"]\npattern = \"(x\"\n");
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_NE(bad_regex.status().message().find("agent.transforms.r"), std::string::npos) << bad_regex.status().message();
  auto no_s3_bucket = MakeFrom(
      "[agent.sources.a]\ntype = \"stdin\"\n[agent.sinks.s]\ntype = \"archive\"\ninputs = [\"a\"]\ns3 = { region = \"x\" }\n");
  ASSERT_FALSE(no_s3_bucket.ok());
  EXPECT_NE(no_s3_bucket.status().message().find("s3.bucket is required"), std::string::npos);
  auto bad_dl = MakeFrom(
      "[agent.sources.a]\ntype = \"stdin\"\n[agent.sinks.s]\ntype = \"elasticsearch\"\ninputs = [\"a\"]\nurl = \"http://x:1\"\n"
      "dead_letter = \"nope\"\n");
  ASSERT_FALSE(bad_dl.ok());
  EXPECT_NE(bad_dl.status().message().find("'nope' is not an archive sink"), std::string::npos) << bad_dl.status().message();
  auto dl_on_stdout = MakeFrom("[agent.sources.a]\ntype = \"stdin\"\n[agent.sinks.s]\ntype = \"stdout\"\ninputs = [\"a\"]\ndead_letter = \"file\"\n");
  ASSERT_FALSE(dl_on_stdout.ok());
  EXPECT_NE(dl_on_stdout.status().message().find("only elasticsearch and store sinks"), std::string::npos) << dl_on_stdout.status().message();
}

TEST(AgentConfig, GraphListsPaths) {
  auto a = MakeFrom(
      "[agent.envs.prod]\nquota = \"16MiB\"\n"
      "[agent.sources.app]\ntype = \"file\"\npaths = [\"/tmp/*.log\"]\nenv = \"prod\"\nmultiline = { start = '^\\d' }\n"
      "[agent.transforms.parse]\ntype = \"json\"\ninputs = [\"app\"]\n"
      "[agent.transforms.errors]\ntype = \"filter\"\ninputs = [\"parse\"]\ncondition = \"level:error\"\n"
      "[agent.sinks.out]\ntype = \"stdout\"\ninputs = [\"errors\", \"app\"]\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::string g = (*a)->Graph();
  EXPECT_NE(g.find("source app (file) env=prod"), std::string::npos) << g;
  EXPECT_NE(g.find("path app -> parse -> errors -> out"), std::string::npos) << g;
  EXPECT_NE(g.find("path app -> out"), std::string::npos) << g;
  EXPECT_NE(g.find("env prod quota=16.0MiB"), std::string::npos) << g;
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int r;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    r = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (r == Z_OK);
  inflateEnd(&z);
  return out;
}

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// HTTP source → json → elasticsearch sink. The receiver fails twice (503), then answers
// per item: a 400 item goes to the dead-letter file, a 429 item is retried and then accepted.
TEST(AgentSinks, ElasticsearchRetriesAndDeadLetters) {
  std::string dir = TempDir();
  std::atomic<int> requests{0};
  std::map<std::string, std::string> docs;  // id → doc
  std::map<std::string, int> tries;
  Receiver es([&](HttpRequest& r) {
    int n = ++requests;
    if (n <= 2) return HttpResponse::Error(503, "warming up");
    EXPECT_EQ(r.path, "/_bulk");
    EXPECT_EQ(r.Header("Authorization"), "ApiKey k123");
    std::vector<std::string> lines;
    std::stringstream ss(r.body);
    for (std::string l; std::getline(ss, l);)
      if (!l.empty()) lines.push_back(l);
    std::string items;
    bool errors = false;
    for (size_t i = 0; i + 1 < lines.size(); i += 2) {
      auto meta = boost::json::parse(lines[i]).as_object()["create"].as_object();
      std::string id(meta["_index"].as_string());
      id += "/" + std::string(meta["_id"].as_string());
      auto doc = boost::json::parse(lines[i + 1]).as_object();
      int status = 201;
      std::string msg(doc["msg"].is_string() ? doc["msg"].as_string() : "");
      if (msg == "bad") status = 400;
      if (msg == "busy" && tries[id]++ == 0) status = 429;
      if (status == 201) docs[id] = lines[i + 1];
      if (status != 201) errors = true;
      items += std::string(items.empty() ? "" : ",") + "{\"create\":{\"status\":" + std::to_string(status) +
               (status == 400 ? ",\"error\":{\"type\":\"mapper_parsing_exception\"}" : "") + "}}";
    }
    return HttpResponse::Json(200, std::string("{\"errors\":") + (errors ? "true" : "false") + ",\"items\":[" + items + "]}");
  });
  auto a = MakeFrom("data_dir = \"" + dir + "\"\n[agent]\nlisten = \"127.0.0.1:0\"\n"
                    "[agent.sources.in]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"stage\"\n"
                    "[agent.transforms.p]\ntype = \"json\"\ninputs = [\"in\"]\n"
                    "[agent.sinks.es]\ntype = \"elasticsearch\"\ninputs = [\"p\"]\nurl = \"" + es.url() +
                    "\"\nindex = \"logs-{env}-%Y\"\napi_key = \"k123\"\ngzip = false\nretry_initial = \"20ms\"\nretry_max = \"100ms\"\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  std::string src = "http://" + (*a)->source_address("in");
  auto r = HttpFetch("POST", src + "/", {}, "{\"msg\":\"ok1\"}\n{\"msg\":\"bad\"}\n{\"msg\":\"busy\"}\nnot json\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  auto b = HttpFetch("POST", src + "/_bulk", {}, "{\"index\":{\"_index\":\"ignored\"}}\n{\"msg\":\"ok2\"}\n");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->status, 200);
  EXPECT_NE(b->body.find("\"errors\":false"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lk(es.mu_);
    return docs.size() == 4;
  })) << docs.size();
  {
    std::lock_guard lk(es.mu_);
    int with_parse_error = 0;
    for (auto& [id, d] : docs) {
      EXPECT_EQ(id.find("logs-stage-20") == 0 || id.find("ignored/") == 0, true) << id;
      if (d.find("_parse_error") != std::string::npos) with_parse_error++;
    }
    EXPECT_EQ(with_parse_error, 1);  // "not json" kept raw with _parse_error
  }
  EXPECT_TRUE(WaitFor([&] { return fs::exists(dir + "/agent/dead-letter/stage/es.ndjson"); }));
  std::string dl = ReadAll(dir + "/agent/dead-letter/stage/es.ndjson");
  EXPECT_NE(dl.find("mapper_parsing_exception"), std::string::npos) << dl;
  EXPECT_NE(dl.find("\\\"bad\\\""), std::string::npos) << dl;
  auto m = HttpFetch("GET", "http://" + (*a)->admin_address() + "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("hakone_agent_events_out_total{component=\"es\",env=\"stage\"}"), std::string::npos);
  EXPECT_NE(m->body.find("hakone_agent_buffer_fill_ratio{env=\"stage\"}"), std::string::npos);
  EXPECT_NE(m->body.find("hakone_agent_errors_total{component=\"es\",env=\"stage\"}"), std::string::npos);
  (*a)->Stop();
  fs::remove_all(dir);
}

TEST(AgentSinks, SlackThresholdResolvedAbsenceAndPerEnvWebhooks) {
  std::string dir = TempDir();
  std::vector<std::string> prod_posts, dev_posts;
  Receiver hook([&](HttpRequest& r) {
    auto v = boost::json::parse(r.body).as_object();
    EXPECT_TRUE(v.contains("blocks"));
    (r.path == "/prod" ? prod_posts : dev_posts).push_back(std::string(v["text"].as_string()));
    return HttpResponse::Text(200, "ok");
  });
  auto a = MakeFrom("data_dir = \"" + dir + "\"\n[agent]\nlisten = \"\"\n"
                    "[agent.sources.p]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"prod\"\n"
                    "[agent.sources.d]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"dev\"\n"
                    "[agent.transforms.j]\ntype = \"json\"\ninputs = [\"p\", \"d\"]\n"
                    "[agent.sinks.alerts]\ntype = \"slack\"\ninputs = [\"j\"]\nconsole_url = \"http://console\"\n"
                    "webhooks = { prod = \"" + hook.url() + "/prod\", dev = \"" + hook.url() + "/dev\" }\n"
                    "rules = [ { name = \"errors\", query = \"level:error\", threshold = 3, window = \"1500ms\", rate_limit = \"1ms\" },\n"
                    "          { name = \"heartbeat\", query = \"msg:tick\", absence = \"700ms\" },\n"
                    "          { name = \"panic\", query = \"panic\", group_by = \"svc\", rate_limit = \"1h\" } ]\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  std::string p = "http://" + (*a)->source_address("p"), d = "http://" + (*a)->source_address("d");
  std::string body;
  for (int i = 0; i < 5; i++) body += "{\"level\":\"error\",\"msg\":\"boom " + std::to_string(i) + "\"}\n";
  body += "{\"msg\":\"tick\"}\n{\"svc\":\"api\",\"msg\":\"panic: x\"}\n{\"svc\":\"api\",\"msg\":\"panic: y\"}\n";
  ASSERT_EQ(HttpFetch("POST", p + "/", {}, body)->status, 200);
  ASSERT_EQ(HttpFetch("POST", d + "/", {}, "{\"svc\":\"web\",\"msg\":\"panic: z\"}\n")->status, 200);
  auto has = [&](std::vector<std::string>& v, const std::string& s) {
    std::lock_guard lk(hook.mu_);
    for (auto& x : v)
      if (x.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(WaitFor([&] { return has(prod_posts, "errors: 5 matches"); }));
  EXPECT_TRUE(WaitFor([&] { return has(prod_posts, "panic (api): 2 match(es)"); }));
  EXPECT_TRUE(WaitFor([&] { return has(dev_posts, "[dev] panic (web): 1 match(es)"); }));
  EXPECT_TRUE(WaitFor([&] { return has(prod_posts, "errors resolved"); }, 10s));
  EXPECT_TRUE(WaitFor([&] { return has(prod_posts, "heartbeat: nothing matched"); }, 10s));
  ASSERT_EQ(HttpFetch("POST", p + "/", {}, "{\"msg\":\"tick\"}\n")->status, 200);
  EXPECT_TRUE(WaitFor([&] { return has(prod_posts, "heartbeat resolved"); }, 10s));
  EXPECT_FALSE(has(dev_posts, "errors:"));  // per env: dev saw no errors
  (*a)->Stop();
  fs::remove_all(dir);
}

// GET /alerts on the admin listener: every rule per env with its state, count, since and samples,
// and the history of the alerts sent, newest first.
TEST(AgentSinks, AlertsEndpointServesRuleStatesPerEnv) {
  std::string dir = TempDir();
  Receiver hook([&](HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  auto a = MakeFrom("data_dir = \"" + dir + "\"\n[agent]\nlisten = \"127.0.0.1:0\"\n"
                    "[agent.sources.p]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"prod\"\n"
                    "[agent.sources.d]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"dev\"\n"
                    "[agent.transforms.j]\ntype = \"json\"\ninputs = [\"p\", \"d\"]\n"
                    "[agent.sinks.alerts]\ntype = \"slack\"\ninputs = [\"j\"]\nwebhook_url = \"" + hook.url() + "/x\"\n"
                    "samples = 2\n"
                    "rules = [ { name = \"errors\", query = \"level:error\", threshold = 2, window = \"1200ms\", rate_limit = \"1ms\" },\n"
                    "          { name = \"panic\", query = \"panic\", window = \"600ms\", rate_limit = \"1ms\" } ]\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  std::string url = "http://" + (*a)->admin_address() + "/alerts";
  auto get = [&]() -> boost::json::object {
    auto r = HttpFetch("GET", url);
    if (!r.ok() || r->status != 200) return {};
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    return !ec && v.is_object() ? v.as_object() : boost::json::object{};
  };
  auto rule = [](const boost::json::object& doc, const std::string& env, const std::string& name) -> boost::json::object {
    if (!doc.contains("rules")) return {};
    for (auto& r : doc.at("rules").as_array())
      if (r.at("env").as_string() == env && r.at("name").as_string() == name) return r.as_object();
    return {};
  };
  // Before anything matched: every rule of every env is listed, state ok.
  auto doc = get();
  ASSERT_TRUE(doc.contains("rules")) << boost::json::serialize(doc);
  EXPECT_EQ(doc.at("rules").as_array().size(), 4u) << boost::json::serialize(doc);  // 2 rules x 2 envs
  EXPECT_EQ(rule(doc, "dev", "errors").at("state").as_string(), "ok");
  EXPECT_EQ(rule(doc, "prod", "errors").at("query").as_string(), "level:error");
  EXPECT_EQ(rule(doc, "prod", "errors").at("threshold").as_int64(), 2);
  EXPECT_TRUE(doc.at("history").as_array().empty());

  std::string p = "http://" + (*a)->source_address("p");
  std::string body;
  for (int i = 0; i < 3; i++) body += "{\"level\":\"error\",\"msg\":\"boom " + std::to_string(i) + "\"}\n";
  body += "{\"msg\":\"panic: x\"}\n";
  ASSERT_EQ(HttpFetch("POST", p + "/", {}, body)->status, 200);
  auto state_of = [&](const std::string& env, const std::string& name) {
    auto r = rule(get(), env, name);
    return r.contains("state") ? std::string(r.at("state").as_string()) : std::string();
  };
  EXPECT_TRUE(WaitFor([&] { return state_of("prod", "errors") == "firing"; })) << boost::json::serialize(get());
  doc = get();
  auto errors = rule(doc, "prod", "errors");
  EXPECT_EQ(errors.at("count").as_int64(), 3);
  EXPECT_TRUE(errors.contains("since"));
  EXPECT_TRUE(errors.contains("last_fired"));
  auto& samples = errors.at("samples").as_array();
  ASSERT_EQ(samples.size(), 2u) << boost::json::serialize(errors);  // samples = 2: the last two lines
  EXPECT_NE(std::string(samples[1].as_string()).find("boom 2"), std::string::npos) << boost::json::serialize(errors);
  EXPECT_EQ(state_of("dev", "errors"), "ok");  // per env: dev saw nothing
  EXPECT_TRUE(WaitFor([&] { return state_of("prod", "panic") == "firing"; })) << boost::json::serialize(get());

  // The errors fall out of the 1.2 s window: resolved; the match rule's 600 ms window lapses too.
  EXPECT_TRUE(WaitFor([&] { return state_of("prod", "errors") == "resolved"; })) << boost::json::serialize(get());
  EXPECT_TRUE(WaitFor([&] { return state_of("prod", "panic") == "resolved"; })) << boost::json::serialize(get());
  doc = get();
  auto& hist = doc.at("history").as_array();
  ASSERT_GE(hist.size(), 3u) << boost::json::serialize(doc);
  // Newest first: the errors' resolution comes after its firing.
  size_t resolved_at = hist.size(), fired_at = hist.size();
  for (size_t i = 0; i < hist.size(); i++) {
    auto& h = hist[i].as_object();
    if (h.at("rule").as_string() != "errors") continue;
    if (h.at("state").as_string() == "resolved" && resolved_at == hist.size()) resolved_at = i;
    if (h.at("state").as_string() == "firing" && fired_at == hist.size()) fired_at = i;
    EXPECT_EQ(h.at("env").as_string(), "prod");
    EXPECT_TRUE(h.contains("time") && h.contains("text") && h.contains("count"));
  }
  EXPECT_LT(resolved_at, fired_at) << boost::json::serialize(doc);
  // Anything but GET is refused.
  auto post = HttpFetch("POST", url, {}, "{}");
  ASSERT_TRUE(post.ok());
  EXPECT_GE(post->status, 400);
  (*a)->Stop();
  fs::remove_all(dir);
}

// stdin-free file source → archive (gzip), both copies, and the key layout.
TEST(AgentSinks, FileToArchiveGzip) {
  std::string dir = TempDir();
  fs::create_directories(dir + "/logs");
  {
    std::ofstream f(dir + "/logs/a.log");
    f << "first\n2024-01-01 trace start\n  at x\n  at y\n2024-01-01 next\n";
  }
  auto a = MakeFrom("data_dir = \"" + dir + "\"\ninstance = \"i1\"\n[agent]\nlisten = \"\"\n"
                    "[agent.sources.app]\ntype = \"file\"\npaths = [\"" + dir + "/logs/*.log\"]\nenv = \"prod\"\n"
                    "multiline = { start = '^\\d{4}-|^first', timeout = \"200ms\" }\n"
                    "[agent.sinks.arch]\ntype = \"archive\"\ninputs = [\"app\"]\ndir = \"" + dir + "/arch\"\n"
                    "compression = \"gzip\"\nmax_age = \"300ms\"\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  std::vector<std::string> files;
  ASSERT_TRUE(WaitFor([&] {
    files.clear();
    if (fs::exists(dir + "/arch"))
      for (auto& e : fs::recursive_directory_iterator(dir + "/arch"))
        if (e.is_regular_file()) files.push_back(e.path().string());
    return files.size() >= 2;
  }));
  (*a)->Stop();
  std::string raw, formatted;
  for (auto& f : files) {
    fs::path rel = fs::relative(f, dir + "/arch");
    EXPECT_EQ(rel.string().rfind("prod/app/dt=", 0), 0u) << rel;
    EXPECT_NE(rel.string().find("/hour="), std::string::npos) << rel;
    EXPECT_NE(rel.filename().string().find("i1-00000000000000000001"), std::string::npos) << rel;
    if (f.find(".raw.gz") != std::string::npos) raw += Gunzip(ReadAll(f));
    else formatted += Gunzip(ReadAll(f));
  }
  EXPECT_EQ(raw, "first\n2024-01-01 trace start\n  at x\n  at y\n2024-01-01 next\n");
  EXPECT_NE(formatted.find("\"message\":\"2024-01-01 trace start\\n  at x\\n  at y\""), std::string::npos) << formatted;
  fs::remove_all(dir);
}

// A syslog source spools records without their parsed fields (they are re-parsed on the sink
// side): stdout (json and raw), the archive (formatted and raw copies) and the in-process store
// write exactly what they wrote when the source spooled the fields JSON, on RFC 5424 and 3164
// input. The expected lines are built the old way: SyslogToFieldsJson at the source.
TEST(AgentSinks, SyslogSinksWriteTheSameAsWithSpooledFields) {
  std::string dir = TempDir();
  store::EventStoreOptions so;
  so.dir = dir + "/store";
  auto es = store::EventStore::Open(so);
  ASSERT_TRUE(es.ok()) << es.status().ToString();
  store::SetProcessStore(es->get());
  const std::vector<std::string> lines = {
      "<34>1 2026-11-27T08:00:01.123456+09:00 web1 app 4711 ID47 [ex@32473 iut=\"3\" eventSource=\"App\"] "
      "user \"alice\" logged in\\ from 10.0.0.1",
      "<165>1 2026-11-27T08:00:02Z host - - - - \xc3\xa9t\xc3\xa9 caf\xc3\xa9 \t tab",
      "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
      "<0>Nov  7 01:02:03 h kernel: {\"json\":\"inside\"}",
      "Nov 27 07:59:59 nohost cron: a line without PRI",
      "<999>Dec 31 23:59:59 bad pri: kept with _parse_error",
  };
  std::string conf = "data_dir = \"" + dir + "\"\n[agent]\nlisten = \"\"\n"
                     "[agent.sources.sys]\ntype = \"syslog\"\nmode = \"tcp\"\naddress = \"127.0.0.1:0\"\nenv = \"prod\"\n"
                     "[agent.sinks.out]\ntype = \"stdout\"\ninputs = [\"sys\"]\n"
                     "[agent.sinks.arch]\ntype = \"archive\"\ninputs = [\"sys\"]\ndir = \"" + dir + "/arch\"\n"
                     "compression = \"gzip\"\nmax_age = \"200ms\"\n"
                     "[agent.sinks.st]\ntype = \"store\"\ninputs = [\"sys\"]\nstream = \"logs-{env}\"\n";
  ::testing::internal::CaptureStdout();
  auto a = MakeFrom(conf);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  std::string addr = (*a)->source_address("sys");
  int port = std::stoi(addr.substr(addr.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  std::string payload;
  for (auto& l : lines) payload += l + "\n";
  const int64_t sent_ns = NowNs();
  ASSERT_EQ(::write(fd, payload.data(), payload.size()), static_cast<ssize_t>(payload.size()));
  ::close(fd);
  auto count = [&]() -> uint64_t {
    if (!(*es)->HasStream("logs-prod")) return 0;
    (void)(*es)->Refresh({"logs-prod"});
    auto c = (*es)->Count({"logs-prod"}, nullptr);
    return c.ok() ? *c : 0;
  };
  bool done = WaitFor([&] { return count() == lines.size(); });
  (*a)->Stop();  // the archive publishes the objects it still holds (one per hour of event time)
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(done) << count() << " in the store";
  std::vector<std::string> files;
  for (auto& e : fs::recursive_directory_iterator(dir + "/arch"))
    if (e.is_regular_file()) files.push_back(e.path().string());
  // Expected: the event as the source built it before (fields JSON spooled).
  std::vector<std::string> expected;
  for (auto& l : lines) {
    Event e;
    e.env = "prod";
    e.source = "sys";
    e.origin = "127.0.0.1";
    e.message = l;
    SyslogMessage m;
    if (Status st = ParseSyslog(l, sent_ns, &m); st.ok()) {
      ASSERT_NE(m.ts_ns, 0) << l;  // the lines carry timestamps: no dependence on the clock
      e.ts_ns = m.ts_ns;
      SyslogToFieldsJson(m, &e.fields_json);
      ASSERT_TRUE(MaterializeFields(&e).ok());
    } else {
      e.fields["_parse_error"] = st.message();
    }
    std::string j;
    FormatEventJson(e, &j);
    expected.push_back(j);
  }
  // stdout (json): the same lines in the same order (the parse error's @timestamp is the clock:
  // compare that one line without it).
  std::vector<std::string> got;
  {
    std::stringstream ss(out);
    for (std::string l; std::getline(ss, l);)
      if (!l.empty() && l[0] == '{' && l.find("\"source\":\"sys\"") != std::string::npos) got.push_back(l);
  }
  auto strip_ts = [](std::string j) {
    auto v = boost::json::parse(j).as_object();
    v.erase("@timestamp");
    return boost::json::serialize(v);
  };
  ASSERT_EQ(got.size(), expected.size()) << out;
  for (size_t i = 0; i + 1 < expected.size(); i++) EXPECT_EQ(got[i], expected[i]);
  EXPECT_EQ(strip_ts(got.back()), strip_ts(expected.back()));
  // archive (objects per hour of event time, so compared as sets): the raw copy is the input,
  // the formatted copy the expected lines.
  std::multiset<std::string> raw, formatted, want_raw(lines.begin(), lines.end());
  std::multiset<std::string> want_formatted(expected.begin(), expected.end() - 1);
  size_t parse_errors = 0;
  for (auto& f : files) {
    bool is_raw = f.find(".raw.gz") != std::string::npos;
    std::stringstream ss(Gunzip(ReadAll(f)));
    for (std::string l; std::getline(ss, l);) {
      if (is_raw) raw.insert(l);
      else if (l.find("_parse_error") != std::string::npos && ++parse_errors) EXPECT_EQ(strip_ts(l), strip_ts(expected.back()));
      else formatted.insert(l);
    }
  }
  EXPECT_EQ(raw, want_raw);
  EXPECT_EQ(formatted, want_formatted);
  EXPECT_EQ(parse_errors, 1u);
  // store: the documents' sources are the expected lines.
  store::SearchRequest q;
  q.streams = {"logs-prod"};
  q.size = 100;
  auto res = (*es)->Search(q);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  std::multiset<std::string> docs, want;
  for (auto& h : res->hits) docs.insert(strip_ts(h.source_json));
  for (auto& j : expected) want.insert(strip_ts(j));
  EXPECT_EQ(docs, want);
  std::set<std::string> exact(expected.begin(), expected.end() - 1);
  size_t exact_hits = 0;
  for (auto& h : res->hits) exact_hits += exact.count(h.source_json);
  EXPECT_EQ(exact_hits, expected.size() - 1);
  store::SetProcessStore(nullptr);
  (*es)->Close();
  fs::remove_all(dir);
}

// A `store` sink without url writes to the process store (store/local.h) and acknowledges a
// batch only after the store's Write() returned (durable): while no store is published the
// records stay in the spool, and they all arrive once it is back.
TEST(AgentSinks, InProcessStoreSink) {
  std::string dir = TempDir();
  store::EventStoreOptions so;
  so.dir = dir + "/store";
  auto es = store::EventStore::Open(so);
  ASSERT_TRUE(es.ok()) << es.status().ToString();
  std::string conf = "data_dir = \"" + dir + "\"\n[agent]\nlisten = \"127.0.0.1:0\"\n"
                     "[agent.sources.in]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"ipst\"\n"
                     "[agent.transforms.p]\ntype = \"json\"\ninputs = [\"in\"]\n"
                     "[agent.sinks.st]\ntype = \"store\"\ninputs = [\"p\"]\nstream = \"logs-{env}\"\n"
                     "retry_initial = \"20ms\"\nretry_max = \"50ms\"\n";
  {
    // No store in the process and no url: a clear error at start.
    store::SetProcessStore(nullptr);
    auto a = MakeFrom(conf);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    Status st = (*a)->Start();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("set url"), std::string::npos) << st.ToString();
    (*a)->Stop();
  }
  store::SetProcessStore(es->get());
  auto a = MakeFrom(conf);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  EXPECT_NE((*a)->Graph().find("sink st (store) in-process"), std::string::npos) << (*a)->Graph();
  std::string src = "http://" + (*a)->source_address("in");
  // The store goes away (as at shutdown): nothing is acknowledged, the sink retries.
  store::SetProcessStore(nullptr);
  auto r = HttpFetch("POST", src + "/", {}, "{\"msg\":\"one\",\"n\":1}\n{\"msg\":\"two\",\"n\":2}\nplain three\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  std::string errors = "hakone_agent_errors_total{component=\"st\",env=\"ipst\"}";
  EXPECT_TRUE(WaitFor([&] { return !Metric(**a, errors).empty() && Metric(**a, errors) != "0"; })) << Metric(**a, errors);
  EXPECT_FALSE((*es)->HasStream("logs-ipst"));
  EXPECT_EQ(Metric(**a, "hakone_agent_events_out_total{component=\"st\",env=\"ipst\"}"), "0");
  store::SetProcessStore(es->get());
  auto count = [&]() -> uint64_t {
    if (!(*es)->HasStream("logs-ipst")) return 0;
    (void)(*es)->Refresh({"logs-ipst"});
    auto c = (*es)->Count({"logs-ipst"}, nullptr);
    return c.ok() ? *c : 0;
  };
  EXPECT_TRUE(WaitFor([&] { return count() == 3; })) << count();
  store::SearchRequest q;
  q.streams = {"logs-ipst"};
  q.size = 10;
  auto res = (*es)->Search(q);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  std::string all;
  for (auto& h : res->hits) all += h.source_json + "\n";
  EXPECT_NE(all.find("\"msg\":\"two\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"env\":\"ipst\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"_parse_error\""), std::string::npos) << all;  // "plain three" kept raw
  std::string in = "hakone_agent_events_in_total{component=\"st\",env=\"ipst\"}";
  std::string in_before = Metric(**a, in);
  EXPECT_EQ(in_before, "3");
  (*a)->Stop();
  // Restart: everything was acknowledged, nothing is delivered twice (ids are stable, too).
  auto b = MakeFrom(conf);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Start().ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Metric(**b, in), in_before);  // the counters are process-wide: no record read again
  EXPECT_EQ(count(), 3u);
  (*b)->Stop();
  store::SetProcessStore(nullptr);
  (*es)->Close();
  fs::remove_all(dir);
}

// Items the cluster refuses for good (400) go to the archive (the only archive sink is the
// default dead-letter target), under {env}/dead-letter/<sink>/, with the reason attached.
TEST(AgentSinks, DeadLettersGoToTheArchive) {
  std::string dir = TempDir();
  std::atomic<int> accepted{0};
  Receiver es([&](HttpRequest& r) {
    std::vector<std::string> lines;
    std::stringstream ss(r.body);
    for (std::string l; std::getline(ss, l);)
      if (!l.empty()) lines.push_back(l);
    std::string items;
    for (size_t i = 0; i + 1 < lines.size(); i += 2) {
      bool bad = lines[i + 1].find("\\\"bad") != std::string::npos;
      if (!bad) accepted++;
      items += std::string(items.empty() ? "" : ",") + "{\"create\":{\"status\":" + (bad ? "400" : "201") +
               (bad ? ",\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"failed to parse [n]\"}" : "") + "}}";
    }
    return HttpResponse::Json(200, "{\"errors\":true,\"items\":[" + items + "]}");
  });
  auto a = MakeFrom("data_dir = \"" + dir + "\"\ninstance = \"i9\"\n[agent]\nlisten = \"127.0.0.1:0\"\n"
                    "[agent.sources.in]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"dlenv\"\n"
                    "[agent.sinks.es]\ntype = \"elasticsearch\"\ninputs = [\"in\"]\nurl = \"" + es.url() + "\"\n"
                    "[agent.sinks.arch]\ntype = \"archive\"\ninputs = [\"in\"]\ndir = \"" + dir + "/arch\"\n"
                    "compression = \"gzip\"\ncopies = [\"formatted\"]\nmax_age = \"300ms\"\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NE((*a)->Graph().find("dead_letter=arch"), std::string::npos) << (*a)->Graph();
  ASSERT_TRUE((*a)->Start().ok());
  std::string src = "http://" + (*a)->source_address("in");
  auto r = HttpFetch("POST", src + "/", {}, "{\"msg\":\"good1\"}\n{\"msg\":\"bad1\"}\n{\"msg\":\"good2\"}\n{\"msg\":\"bad2\"}\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  std::string dl_dir = dir + "/arch/dlenv/dead-letter/es";
  std::string dead;
  ASSERT_TRUE(WaitFor([&] {
    dead.clear();
    if (!fs::exists(dl_dir)) return false;
    for (auto& e : fs::recursive_directory_iterator(dl_dir))
      if (e.is_regular_file()) dead += Gunzip(ReadAll(e.path().string()));
    return std::count(dead.begin(), dead.end(), '\n') == 2;
  })) << dead;
  EXPECT_EQ(accepted.load(), 2);
  std::stringstream ss(dead);
  int n = 0;
  for (std::string l; std::getline(ss, l); n++) {
    auto v = boost::json::parse(l).as_object();
    EXPECT_NE(std::string(v["message"].as_string()).find("bad"), std::string::npos) << l;
    EXPECT_EQ(v["source"].as_string(), "in") << l;
    EXPECT_EQ(v["env"].as_string(), "dlenv") << l;
    auto why = v["_dead_letter"].as_object();
    EXPECT_EQ(why["sink"].as_string(), "es");
    EXPECT_EQ(why["status"].as_int64(), 400);
    EXPECT_EQ(why["error"].as_object()["type"].as_string(), "mapper_parsing_exception") << l;
  }
  EXPECT_EQ(n, 2);
  // No local dead-letter file when the archive takes them.
  EXPECT_FALSE(fs::exists(dir + "/agent/dead-letter"));
  (*a)->Stop();
  fs::remove_all(dir);
}

// Retention by age: a sink that keeps failing does not hold records forever. Records older than
// the env's retention are dropped (counted) so the spool can let them go; newer records are
// delivered once the sink recovers, and the expired ones never are.
TEST(AgentSinks, RetentionDropsExpiredRecordsOfAFailingSink) {
  std::string dir = TempDir();
  std::atomic<bool> up{false};
  std::vector<std::string> got;
  Receiver es([&](HttpRequest& r) {
    if (!up) return HttpResponse::Error(503, "down");
    std::stringstream ss(r.body);
    int i = 0;
    std::string items;
    for (std::string l; std::getline(ss, l); i++)
      if (i % 2 == 1) {
        got.push_back(l);
        items += std::string(items.empty() ? "" : ",") + "{\"create\":{\"status\":201}}";
      }
    return HttpResponse::Json(200, "{\"errors\":false,\"items\":[" + items + "]}");
  });
  auto a = MakeFrom("data_dir = \"" + dir + "\"\n[agent]\nlisten = \"127.0.0.1:0\"\n"
                    "[agent.envs.ret]\nretention = \"600ms\"\n"
                    "[agent.sources.in]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\nenv = \"ret\"\n"
                    "[agent.sinks.rs]\ntype = \"elasticsearch\"\ninputs = [\"in\"]\nurl = \"" + es.url() + "\"\n"
                    "retry_initial = \"50ms\"\nretry_max = \"100ms\"\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  EXPECT_NE((*a)->Graph().find("retention=600.0ms"), std::string::npos) << (*a)->Graph();
  std::string src = "http://" + (*a)->source_address("in");
  std::string old;
  for (int i = 0; i < 5; i++) old += "old " + std::to_string(i) + "\n";
  ASSERT_EQ(HttpFetch("POST", src + "/", {}, old)->status, 200);
  std::string dropped = "hakone_agent_dropped_total{component=\"rs\",env=\"ret\"}";
  EXPECT_TRUE(WaitFor([&] { return Metric(**a, dropped) == "5"; })) << Metric(**a, dropped);
  up = true;
  ASSERT_EQ(HttpFetch("POST", src + "/", {}, "new 1\nnew 2\n")->status, 200);
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard lk(es.mu_);
    return got.size() >= 2;
  }));
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lk(es.mu_);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[0].find("new 1"), std::string::npos) << got[0];
    EXPECT_NE(got[1].find("new 2"), std::string::npos) << got[1];
  }
  (*a)->Stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hakone::pipeline
