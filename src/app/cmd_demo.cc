// `hakone demo` (what `make run` runs): everything on one machine, in one process, with embedded
// defaults. It is `hakone serve` with a demo config — the store, hakone sessions, the gateway,
// the agent, the graph API and the console, added by the same Add*Component functions — plus
// what only a demo needs: three instances of the sample recruiting app (dev, stage, prod; prod
// behind the gateway), a local Slack stand-in for the agent's alerts, a bundled job-board site
// and its crawler, and a traffic generator acting as recruiters and candidates.
#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <random>
#include <functional>
#include <optional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/runtime.h"
#include "demo/alerts.h"
#include "demo/crawl_runs.h"
#include "demo/job_board.h"
#include "demo/sample_app.h"
#include "demo/traffic.h"
#include "gateway/gateway.h"
#include "graph/sample.h"

namespace hakone::app {
namespace {

namespace fs = std::filesystem;

// The graph: the sample ATS database (`hakone graph sample`) plus who viewed and changed which
// candidate and job in the sample app, read from the gateway's operation log. Rebuilt every
// 15 s by the graph component, so the traffic shows up in it.
// Appended to GraphSampleMapping(ATS database).
const char* kDemoAuditMapping = R"(
[[audit]]
type = "VIEWED"
data_dir = "%GATEWAY%"
route = "/candidates/{id}"
method = "GET"
from_label = "User"
to_label = "Person"

[[audit]]
type = "UPDATED"
data_dir = "%GATEWAY%"
route = "/candidates/{id}"
method = "PUT"
from_label = "User"
to_label = "Person"

[[audit]]
type = "VIEWED_JOB"
data_dir = "%GATEWAY%"
route = "/jobs/{id}"
method = "GET"
from_label = "User"
to_label = "Job"
)";

// The demo's config: what `hakone serve --config` would read. %NAME% are filled in below.
const char* kDemoConfig = R"(# hakone demo's embedded config (written to %DIR%/demo.toml for reference)
data_dir = "%DIR%"
instance = "demo"

[log]
level = "%LOGLEVEL%"
format = "text"

[store]
listen = "%STORE%"
data_dir = "%DIR%/store"
refresh_interval = "500ms"

[sessions]
listen = "%SESSIONS%"
durability = "strict"

[gateway]
listen = "%GATEWAY%"
admin = "%ADMIN%"
upstreams = ["http://%APP_PROD%"]
checkpoint_interval = "2s"
record_headers = ["User-Agent"]
exclude_paths = ["/assets/*", "/healthz"]
routes = ["/candidates/{id}", "/jobs/{id}"]

[gateway.identity]
# An SSO proxy in front would set X-User-Id; the sample app's own logins are recognised by their
# PLAY_SESSION cookie, looked up in hakone sessions.
order = ["header", "session"]
header = "X-User-Id"
session = { cookie = "PLAY_SESSION", store = "redis://%SESSIONS%", key_prefix = "sess:", user_field = "user.id" }

[[gateway.sinks]]
# The operation log also goes to the store (index "audit"), searchable with the ES API.
name = "store"
type = "elasticsearch"
url = "http://%STORE%"
index = "audit"
batch_time = "1s"

[graph]
listen = "%GRAPH%"
out = "%DIR%/graph"
mapping = "%DIR%/graph-mapping.toml"
every = "15s"
keep = 3

[agent]
listen = "%AGENT%"

[agent.envs.dev]
quota = "64MiB"
on_full = "drop_oldest"
[agent.envs.stage]
quota = "64MiB"
[agent.envs.prod]
quota = "256MiB"

[agent.sources.app-dev]
type = "file"
paths = ["%DIR%/logs/dev/*.log"]
env = "dev"
poll_interval = "250ms"
[agent.sources.app-stage]
type = "file"
paths = ["%DIR%/logs/stage/*.log"]
env = "stage"
poll_interval = "250ms"
[agent.sources.app-prod]
type = "file"
paths = ["%DIR%/logs/prod/*.log"]
env = "prod"
poll_interval = "250ms"

[agent.transforms.parse]
type = "json"
inputs = ["app-dev", "app-stage", "app-prod"]

[agent.sinks.store]
# Indexed into the store as logs-dev, logs-stage, logs-prod (the console's Logs page).
type = "store"
inputs = ["parse"]
url = "http://%STORE%"
batch_timeout = "500ms"

[agent.sinks.alerts]
# Slack stand-in: the demo's alert board receives the messages (no message leaves the machine).
type = "slack"
inputs = ["parse"]
webhook_url = "http://%ALERTS%/slack/demo"
console_url = "http://%CONSOLE%"
%RULES%

[console]
listen = "%CONSOLE%"
agent = "%AGENT%"
crawl = "%CRAWL%"
)";

struct DemoRule {
  const char* name;
  const char* query;
  int64_t threshold;
  int64_t window_s;
  int64_t rate_limit_s;
};
// Evaluated in every environment.
const DemoRule kRules[] = {
    {"server errors", "level:ERROR", 0, 300, 60},             // each 5xx alerts (at most once a minute)
    {"login failures", "\"login failed\"", 2, 120, 300},      // more than 2 mistyped passwords in 2 minutes
};

void Replace(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

struct Ports {
  std::string gateway = "127.0.0.1:8080", admin = "127.0.0.1:8081", console = "127.0.0.1:8090", store = "127.0.0.1:9200",
              sessions = "127.0.0.1:6380", graph = "127.0.0.1:7475", agent = "127.0.0.1:8686", app_prod = "127.0.0.1:9000",
              app_stage = "127.0.0.1:9001", app_dev = "127.0.0.1:9002", jobs = "127.0.0.1:9010", alerts = "127.0.0.1:9011",
              crawl = "127.0.0.1:9012";
  void FromBase(int64_t base) {
    std::string* all[] = {&gateway, &admin, &console, &store, &sessions, &graph, &agent,
                          &app_prod, &app_stage, &app_dev, &jobs, &alerts, &crawl};
    for (int i = 0; i < 13; ++i) *all[i] = "127.0.0.1:" + std::to_string(base + i);
  }
};

// The first of n consecutive loopback ports that are all free now (random start, 50 tries).
Result<int64_t> FreePortRange(int n) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 50; ++attempt) {
    int64_t base = 20000 + static_cast<int64_t>(rng() % 30000);
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::acceptor a(io);
      boost::system::error_code ec;
      a.open(boost::asio::ip::tcp::v4(), ec);
      if (!ec) a.bind({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(base + i)}, ec);
      if (ec) ok = false;
    }
    if (ok) return base;
  }
  return Status::Unavailable("no 13 consecutive free ports found");
}

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "hakone demo: %s: %s\n", what.c_str(), st.message().c_str());
  return 1;
}

// GET url; the body when it answers 200.
std::optional<std::string> Get(const std::string& url) {
  auto r = HttpFetch("GET", url, {}, "", std::chrono::seconds(3));
  if (!r.ok() || r->status != 200) return std::nullopt;
  return r->body;
}
int64_t Count(const std::string& store, const std::string& index) {
  auto b = Get("http://" + store + "/" + index + "/_count");
  if (!b) return 0;
  boost::system::error_code ec;
  auto v = boost::json::parse(*b, ec);
  if (ec || !v.is_object() || !v.as_object().contains("count") || !v.as_object()["count"].is_int64()) return 0;
  return v.as_object()["count"].as_int64();
}

}  // namespace

int RunDemo(int argc, char** argv) {
  std::string data_dir = "./hakone-demo-data";
  Ports p;
  std::string port_base;
  int64_t rate = 2;
  bool exit_after = false, verbose = false;
  FlagSet f("hakone demo",
            "Runs everything in one process with embedded defaults: the store (Elasticsearch-compatible API),\n"
            "hakone sessions, the sample recruiting app (dev, stage and prod instances; prod behind the gateway,\n"
            "its sessions in hakone sessions), the agent collecting the app's logs per environment with alert\n"
            "rules, the graph (sample ATS data + the operation log), a crawl of a bundled job-board site, the\n"
            "web console, and traffic from recruiters and candidates. Ctrl-C stops it; the data stays in --data-dir.");
  f.String("data-dir", &data_dir, "DIR", "where the demo keeps its data (default ./hakone-demo-data; kept between runs)");
  f.String("listen", &p.gateway, "ADDR", "the gateway: the sample app as users see it (default 127.0.0.1:8080)");
  f.String("admin", &p.admin, "ADDR", "the gateway's admin API (default 127.0.0.1:8081)");
  f.String("console", &p.console, "ADDR", "the web console (default 127.0.0.1:8090)");
  f.String("store", &p.store, "ADDR", "the store's Elasticsearch-compatible API (default 127.0.0.1:9200)");
  f.String("sessions", &p.sessions, "ADDR", "hakone sessions, Redis protocol (default 127.0.0.1:6380)");
  f.String("graph", &p.graph, "ADDR", "the graph API (default 127.0.0.1:7475)");
  f.String("agent", &p.agent, "ADDR", "the agent's admin listener (default 127.0.0.1:8686)");
  f.String("app", &p.app_prod, "ADDR", "the sample app, prod instance (default 127.0.0.1:9000; stage 9001, dev 9002)");
  f.String("port-base", &port_base, "N|auto",
           "use ports N..N+12 for everything instead (gateway N, admin N+1, console N+2, store N+3, sessions N+4, "
           "graph N+5, agent N+6, app prod/stage/dev N+7..9, job board N+10, alerts N+11, crawler N+12); auto: "
           "13 free consecutive ports (the URLs are printed)");
  f.Int("rate", &rate, "N", "traffic: requests per second after the first round (default 2)");
  f.Bool("verbose", &verbose, "log at info level (default: warnings only)");
  f.Bool("exit-after-traffic", &exit_after,
         "send one round of traffic, wait until every component shows it (logs indexed, an alert fired, a crawl run "
         "recorded, the graph built), then stop: exit 0 when all did, 1 naming what did not (for tests)");
  f.Epilog(
      "Examples:\n"
      "  hakone demo                         # then open the console URL it prints\n"
      "  hakone demo --data-dir /tmp/demo --port-base 18000\n"
      "Docs: docs/console.md");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (port_base == "auto") {
    auto base = FreePortRange(13);
    if (!base.ok()) return Fail("--port-base auto", base.status());
    p.FromBase(*base);
  } else if (!port_base.empty()) {
    int64_t base = 0;
    try {
      size_t pos = 0;
      base = std::stoll(port_base, &pos);
      if (pos != port_base.size()) base = 0;
    } catch (...) {
    }
    if (base < 1024 || base > 65535 - 12) {
      std::fprintf(stderr, "hakone demo: --port-base must be auto or a number between 1024 and 65523, got '%s'\n", port_base.c_str());
      return 2;
    }
    p.FromBase(base);
  }
  if (port_base.empty()) {
    // stage and dev follow the prod instance's port.
    auto ep = ParseEndpoint(p.app_prod);
    if (!ep.ok()) return Fail("--app", ep.status());
    std::string host = ep->address().to_string();
    p.app_stage = host + ":" + std::to_string(ep->port() + 1);
    p.app_dev = host + ":" + std::to_string(ep->port() + 2);
  }
  std::error_code ec;
  for (const char* sub : {"", "/logs/dev", "/logs/stage", "/logs/prod", "/crawl", "/gateway"}) {
    fs::create_directories(data_dir + sub, ec);
    if (ec) return Fail("data dir", Status::IOError("cannot create " + data_dir + sub + ": " + ec.message()));
  }
  std::string dir = fs::absolute(data_dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();

  // The config.
  std::string rules;
  for (const auto& r : kRules) {
    rules += "[[agent.sinks.alerts.rules]]\nname = \"" + TomlEscape(r.name) + "\"\nquery = \"" + TomlEscape(r.query) + "\"\n";
    if (r.threshold > 0) rules += "threshold = " + std::to_string(r.threshold) + "\n";
    rules += "window = \"" + std::to_string(r.window_s) + "s\"\nrate_limit = \"" + std::to_string(r.rate_limit_s) + "s\"\n";
  }
  std::string text = kDemoConfig;
  Replace(text, "%RULES%", rules);
  Replace(text, "%DIR%", TomlEscape(dir));
  Replace(text, "%LOGLEVEL%", verbose ? "info" : "warn");
  const std::pair<const char*, const std::string*> addrs[] = {
      {"%STORE%", &p.store}, {"%SESSIONS%", &p.sessions}, {"%GATEWAY%", &p.gateway}, {"%ADMIN%", &p.admin},
      {"%APP_PROD%", &p.app_prod}, {"%GRAPH%", &p.graph}, {"%AGENT%", &p.agent}, {"%ALERTS%", &p.alerts},
      {"%CONSOLE%", &p.console}, {"%CRAWL%", &p.crawl}};
  for (const auto& [k, v] : addrs) Replace(text, k, *v);
  {
    std::ofstream out(dir + "/demo.toml");
    out << text;
  }
  auto cfg = Config::LoadString(text, dir + "/demo.toml");
  if (!cfg.ok()) return Fail("config", cfg.status());
  {
    auto logsec = cfg->Section("log");
    log::Level lv = log::Level::kWarn;
    (void)log::ParseLevel(logsec.String("level", "warn"), &lv);
    log::SetLevel(lv);
    log::SetJson(logsec.String("format", "text") == "json");
  }

  // The graph's sources: the sample database once (kept between runs) and the mapping.
  std::string db = dir + "/ats.db";
  if (!fs::exists(db)) {
    std::printf("[0/11] writing the sample ATS database (hakone graph sample) to %s\n", db.c_str());
    graph::SampleOptions so;
    so.people = 3000;
    so.companies = 150;
    auto c = graph::WriteSampleDb(db, so);
    if (!c.ok()) return Fail("graph sample", c.status());
  }
  {
    std::string m = "# Graph mapping written by `hakone demo`: the sample ATS database + the operation log.\n" +
                    GraphSampleMapping(db) + kDemoAuditMapping;
    Replace(m, "%GATEWAY%", TomlEscape(dir + "/gateway"));
    std::ofstream out(dir + "/graph-mapping.toml");
    out << m;
    if (!out) return Fail("graph mapping", Status::IOError("cannot write " + dir + "/graph-mapping.toml"));
  }

  Runtime rt(2, std::chrono::seconds(10));
  std::vector<std::unique_ptr<Component>> comps;
  StoreServeFlags no_flags;
  if (Status st = AddStoreComponent(rt, *cfg, false, no_flags, &comps); !st.ok()) return Fail("store", st);
  if (Status st = AddSessionsComponent(rt, *cfg, &comps); !st.ok()) return Fail("sessions", st);
  // The sample app: three instances, their logs per environment, sessions in hakone sessions.
  const std::pair<const char*, const std::string*> apps[] = {{"prod", &p.app_prod}, {"stage", &p.app_stage}, {"dev", &p.app_dev}};
  for (const auto& [env, addr] : apps) {
    demo::SampleAppOptions ao;
    ao.listen = *addr;
    ao.env = env;
    ao.log_path = dir + "/logs/" + env + "/sample-app.log";
    ao.sessions = "redis://" + p.sessions;
    auto a = demo::MakeSampleApp(rt, ao);
    if (!a.ok()) return Fail(std::string("sample app ") + env, a.status());
    comps.push_back(std::move(*a));
  }
  gateway::GatewayOverrides gov;
  gov.data_dir = dir + "/gateway";
  auto gw = gateway::MakeGateway(rt, *cfg, gov);
  if (!gw.ok()) return Fail("gateway", gw.status());
  comps.push_back(std::move(*gw));
  demo::AlertBoardOptions ab;
  ab.listen = p.alerts;
  ab.history_path = dir + "/alerts.jsonl";
  for (const char* env : {"dev", "stage", "prod"}) {
    for (const auto& r : kRules) ab.rules.push_back({env, r.name, r.query, r.threshold, std::chrono::seconds(r.window_s)});
  }
  auto board = demo::MakeAlertBoard(rt, std::move(ab));
  if (!board.ok()) return Fail("alerts", board.status());
  comps.push_back(std::move(*board));
  if (Status st = AddAgentComponent(*cfg, &comps); !st.ok()) return Fail("agent", st);
  if (Status st = AddGraphComponent(rt, *cfg, &comps); !st.ok()) return Fail("graph", st);
  auto jobs = demo::MakeJobBoard(rt, p.jobs);
  if (!jobs.ok()) return Fail("job board", jobs.status());
  comps.push_back(std::move(*jobs));
  demo::CrawlServiceOptions co;
  co.listen = p.crawl;
  co.crawl.seeds = {"http://" + p.jobs + "/"};
  co.crawl.robots_sitemaps = true;
  co.crawl.concurrency = 2;
  co.crawl.per_host_concurrency = 2;
  co.crawl.max_pages = 200;
  co.crawl.max_duration = std::chrono::minutes(2);
  co.crawl.retries = 0;
  co.crawl.state_path = dir + "/crawl/state.db";
  co.crawl.table = "sqlite:" + dir + "/crawl/jobs.db";
  co.crawl.es_url = "http://" + p.store;
  co.crawl.fetch.user_agent = "hakone-demo-crawler/1.0";
  co.interval = std::chrono::minutes(5);
  co.runs_path = dir + "/crawl/runs.jsonl";
  auto crawler = demo::MakeCrawlService(rt, std::move(co));
  if (!crawler.ok()) return Fail("crawler", crawler.status());
  demo::CrawlService* crawl_raw = crawler->get();
  if (Status st = AddConsoleComponent(rt, *cfg, &comps); !st.ok()) return Fail("console", st);
  // Every key of the config was read by some component: a typo in it is a bug here.
  if (Status st = cfg->Finish(); !st.ok()) return Fail("config", st);

  // Start in dependency order, saying what starts.
  const std::pair<const char*, std::string> labels[] = {
      {"store", "the store (Elasticsearch-compatible API) on " + p.store},
      {"sessions", "hakone sessions (Redis protocol) on " + p.sessions},
      {"sample-app", "the sample recruiting app: prod " + p.app_prod + ", stage " + p.app_stage + ", dev " + p.app_dev},
      {"gateway", "the gateway on " + p.gateway + " (admin " + p.admin + "), operation log in " + dir + "/gateway"},
      {"alerts", "the alert board (the agent's Slack stand-in) on " + p.alerts},
      {"agent", "the agent: the app's logs for dev, stage, prod → the store, alert rules"},
      {"graph", "the graph API on " + p.graph + " (sample ATS data + the operation log, rebuilt every 15 s)"},
      {"job-board", "the bundled job-board site on " + p.jobs},
      {"console", "the web console on " + p.console},
  };
  int step = 0;
  std::vector<Component*> started;
  std::vector<std::string> printed;
  // Stops in reverse order; the store last, after a moment for the gateway's sink to ship its
  // last batch of the operation log (its spool keeps what it could not ship for the next run).
  auto stop_all = [&started] {
    Component* store = nullptr;
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
      if ((*it)->name() == "store" || (*it)->name() == "es-api") {
        store = *it;
        continue;
      }
      (*it)->Stop();
    }
    if (store) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      store->Stop();
    }
  };
  for (auto& c : comps) {
    std::string what = c->name();
    for (const auto& [n, l] : labels)
      if (what == n) what = l;
    if (std::find(printed.begin(), printed.end(), c->name()) == printed.end()) {
      printed.push_back(c->name());
      std::printf("[%d/11] %s\n", ++step, what.c_str());
      std::fflush(stdout);
    }
    if (Status st = c->Start(); !st.ok()) {
      stop_all();
      return Fail(c->name(), st);
    }
    started.push_back(c.get());
  }
  std::printf("[10/11] the crawler of the job board (status API on %s)\n", p.crawl.c_str());
  if (Status st = crawl_raw->Start(); !st.ok()) {
    stop_all();
    return Fail("crawler", st);
  }
  started.push_back(crawl_raw);
  comps.push_back(std::move(*crawler));

  demo::TrafficOptions to;
  to.targets = {{"prod", p.gateway}, {"stage", p.app_stage}, {"dev", p.app_dev}};
  to.rate = static_cast<double>(rate);
  to.verbose = exit_after;
  demo::TrafficGenerator traffic(to);
  std::printf("[11/11] traffic: recruiters and candidates (%lld requests/s after a first round)\n", static_cast<long long>(rate));
  std::fflush(stdout);
  std::atomic<int> exit_code{0};
  std::thread waiter([&] {
    traffic.Start();
    traffic.WaitFirstRound();
    std::printf(
        "\nhakone demo is running (data in %s).\n"
        "  the sample app, through the gateway:  http://%s/\n"
        "  the console:                          http://%s/ui/\n"
        "  the store (Elasticsearch API):        http://%s/\n"
        "  the gateway's admin API:              http://%s/api/audit/search?since=10m\n"
        "  the graph API:                        http://%s/api/graph/stats\n"
        "  hakone sessions (Redis protocol):     redis://%s\n"
        "  the bundled job board (crawled):      http://%s/\n"
        "Press Ctrl-C to stop.\n\n",
        dir.c_str(), p.gateway.c_str(), p.console.c_str(), p.store.c_str(), p.admin.c_str(), p.graph.c_str(),
        p.sessions.c_str(), p.jobs.c_str());
    std::fflush(stdout);
    if (!exit_after) return;
    // Wait until every component shows the traffic, then stop.
    struct Check {
      const char* what;
      std::function<bool()> ok;
      bool done = false;
    };
    std::vector<Check> checks = {
        {"app logs indexed for dev, stage and prod", [&] {
           return Count(p.store, "logs-dev") > 0 && Count(p.store, "logs-stage") > 0 && Count(p.store, "logs-prod") > 0;
         }},
        {"operation log in the gateway and in the store", [&] {
           auto b = Get("http://" + p.admin + "/api/audit/search?since=1h&path=/login");
           return b && b->find("/login") != std::string::npos && Count(p.store, "audit") > 0;
         }},
        {"an alert fired", [&] {
           auto b = Get("http://" + p.agent + "/alerts");  // the agent's own alert state
           return b && b->find("\"state\":\"firing\"") != std::string::npos;
         }},
        {"a crawl run recorded, postings indexed", [&] { return crawl_raw->finished_runs() > 0 && Count(p.store, "crawl.jobs") > 0; }},
        {"the graph built", [&] {
           auto b = Get("http://" + p.graph + "/api/graph/stats");
           return b.has_value();
         }},
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    size_t done = 0;
    while (done < checks.size() && std::chrono::steady_clock::now() < deadline && !rt.stopping()) {
      for (auto& c : checks) {
        if (!c.done && c.ok()) {
          c.done = true;
          ++done;
          std::printf("  ✓ %s\n", c.what);
          std::fflush(stdout);
        }
      }
      if (done < checks.size()) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    for (auto& c : checks) {
      if (!c.done) {
        std::printf("  ✗ %s: not seen within 90 s\n", c.what);
        exit_code = 1;
      }
    }
    std::printf("%lld requests sent, %lld answered\n", static_cast<long long>(traffic.sent()), static_cast<long long>(traffic.answered()));
    rt.Shutdown();
  });
  rt.OnShutdown([&] {
    // Stopping joins threads: do it off the io threads.
    std::thread([&] {
      traffic.Stop();
      stop_all();
    }).join();
  });
  rt.Run();
  waiter.join();
  std::printf("hakone demo stopped. Data kept in %s\n", dir.c_str());
  return exit_code.load();
}

}  // namespace hakone::app
