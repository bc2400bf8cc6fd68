#include "app/commands.h"

#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/runtime.h"
#include "demo/sample_app.h"
#include "gateway/audit_cli.h"
#include "gateway/gateway.h"

namespace hakone::app {
namespace {

// Loads the config file (or an empty config), applies [log] and the root keys.
Result<Config> LoadConfig(const std::string& path) {
  Config cfg;
  if (!path.empty()) {
    auto c = Config::LoadFile(path);
    if (!c.ok()) return c.status();
    cfg = *c;
  }
  auto logsec = cfg.Section("log");
  std::string level = logsec.String("level", "info");
  log::Level lv;
  if (!log::ParseLevel(level, &lv)) logsec.Fail("level", "must be debug, info, warn or error");
  else log::SetLevel(lv);
  std::string format = logsec.String("format", "json");
  if (format != "json" && format != "text") logsec.Fail("format", "must be json or text");
  log::SetJson(format == "json");
  return cfg;
}

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "hakone %s: %s\n", what.c_str(), st.message().c_str());
  log::Error(what + " failed", {{"error", st.ToString()}});
  return 1;
}

int RunComponents(Runtime& rt, std::vector<std::unique_ptr<Component>>& comps, const Config& cfg) {
  if (Status st = cfg.Finish(); !st.ok()) {
    std::fprintf(stderr, "hakone: %s\n", st.message().c_str());
    return 2;
  }
  for (auto& c : comps) {
    if (Status st = c->Start(); !st.ok()) return Fail(c->name(), st);
  }
  for (auto& c : comps) {
    Component* raw = c.get();
    rt.OnShutdown([raw] { raw->Stop(); });
  }
  rt.Run();
  log::Info("stopped");
  return 0;
}

}  // namespace

int RunServe(int argc, char** argv) {
  // Thread-pool workers share a few malloc arenas instead of one each (glibc: 8 per core), so
  // memory freed after a large _bulk is reused rather than kept per thread (bench/RESULTS.md).
  mallopt(M_ARENA_MAX, 2);
  std::string config_path;
  StoreServeFlags store_flags;
  FlagSet f("hakone serve", "Runs every component whose section is present in the config file, in one process.\n"
            "Without --config: the event store and its Elasticsearch-compatible API.");
  f.String("config", &config_path, "FILE", "the hakone.toml to run");
  f.String("listen", &store_flags.listen, "ADDR", "Elasticsearch-compatible API address (default 127.0.0.1:9200)");
  f.String("data-dir", &store_flags.data_dir, "DIR", "where the store keeps its data (default ./hakone-data)");
  f.Epilog("Examples:\n  hakone serve --config examples/hakone.toml\n  hakone serve --listen 127.0.0.1:9200 --data-dir ./data");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  auto cfg = LoadConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "hakone serve: %s\n", cfg.status().message().c_str());
    return 2;
  }
  int workers = static_cast<int>(cfg->Section("gateway").Int("workers", 1));
  Runtime rt(workers < 1 ? 1 : workers);
  std::vector<std::unique_ptr<Component>> comps;
  if (cfg->HasSection("gateway")) {
    auto gw = gateway::MakeGateway(rt, *cfg, {});
    if (!gw.ok()) return Fail("serve", gw.status());
    comps.push_back(std::move(*gw));
  }
  if (Status st = AddStoreComponent(rt, *cfg, config_path.empty(), store_flags, &comps); !st.ok()) return Fail("serve", st);
  if (Status st = AddSessionsComponent(rt, *cfg, &comps); !st.ok()) return Fail("serve", st);
  if (Status st = AddAgentComponent(*cfg, &comps); !st.ok()) return Fail("serve", st);
  if (Status st = AddConsoleComponent(rt, *cfg, &comps); !st.ok()) return Fail("serve", st);
  if (Status st = AddGraphComponent(rt, *cfg, &comps); !st.ok()) return Fail("serve", st);
  if (comps.empty()) {
    std::fprintf(stderr, "hakone serve: %s has no component section ([gateway], ...)\n", config_path.c_str());
    return 2;
  }
  return RunComponents(rt, comps, *cfg);
}

int RunGateway(int argc, char** argv) {
  std::string config_path;
  gateway::GatewayOverrides ov;
  FlagSet f("hakone gateway",
            "Proxies HTTP/1.1 to one or more upstreams and records one operation event per request\n"
            "(who, when, from where, what) in a tamper-evident, durable audit log.");
  f.String("config", &config_path, "FILE", "hakone.toml; its [gateway] section (flags override it)");
  f.String("listen", &ov.listen, "ADDR", "address for clients (default 127.0.0.1:8080)");
  f.StringList("upstream", &ov.upstreams, "URL", "upstream base URL, repeatable (http://127.0.0.1:9000)");
  f.String("data-dir", &ov.data_dir, "DIR", "where the audit log, keys and spool live (default ./hakone-data)");
  f.String("admin", &ov.admin, "ADDR", "admin listener: /api/audit/*, /metrics, /healthz (default 127.0.0.1:8081)");
  f.String("durability", &ov.durability, "MODE",
           "batch (durable within flush_interval, default) or strict (response completes after its event is durable)");
  f.Int("workers", &ov.workers, "N", "I/O threads (default 1)");
  f.String("instance", &ov.instance, "NAME", "this gateway's name in events (default: host name)");
  f.Epilog(
      "Examples:\n"
      "  hakone gateway --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000 --data-dir ./data\n"
      "  hakone audit search --data-dir ./data --user alice --since 1h");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  auto cfg = LoadConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "hakone gateway: %s\n", cfg.status().message().c_str());
    return 2;
  }
  int workers = ov.workers > 0 ? static_cast<int>(ov.workers) : static_cast<int>(cfg->Section("gateway").Int("workers", 1));
  Runtime rt(workers < 1 ? 1 : workers);
  auto gw = gateway::MakeGateway(rt, *cfg, ov);
  if (!gw.ok()) {
    std::fprintf(stderr, "hakone gateway: %s\n", gw.status().message().c_str());
    return 2;
  }
  std::vector<std::unique_ptr<Component>> comps;
  comps.push_back(std::move(*gw));
  return RunComponents(rt, comps, *cfg);
}

int RunAudit(int argc, char** argv) { return gateway::RunAuditCli(argc, argv); }

int RunSampleApp(int argc, char** argv) {
  demo::SampleAppOptions o;
  FlagSet f("hakone sample-app",
            "A small recruiting web app (candidates, companies, jobs, a login form) to put behind the gateway.");
  f.String("listen", &o.listen, "ADDR", "address to serve on (default 127.0.0.1:9000)");
  f.String("env", &o.env, "NAME", "the environment it plays, in its log lines (default prod)");
  f.String("log-file", &o.log_path, "FILE", "append one JSON line per request here (default: none)");
  f.String("sessions", &o.sessions, "URL",
           "keep login sessions in this Redis-protocol store, e.g. hakone sessions: redis://127.0.0.1:6380 (default: none)");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  Runtime rt(1);
  auto app = demo::MakeSampleApp(rt, o);
  if (!app.ok()) return Fail("sample-app", app.status());
  std::vector<std::unique_ptr<Component>> comps;
  comps.push_back(std::move(*app));
  return RunComponents(rt, comps, Config());
}

}  // namespace hakone::app
