// `hakone console`: the web console on its own, in front of components running elsewhere; and
// the [console] component of `hakone serve`.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "app/commands.h"
#include "console/console.h"
#include "core/flags.h"
#include "core/log.h"

namespace hakone::app {

Status AddConsoleComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps) {
  if (!cfg.HasSection("console")) return Status::Ok();
  if (!cfg.Section("console").Bool("enabled", true)) return Status::Ok();
  auto o = console::ConsoleOptionsFromConfig(cfg);
  if (!o.ok()) return o.status();
  auto c = console::MakeConsole(rt, std::move(*o));
  if (!c.ok()) return c.status();
  comps->push_back(std::move(*c));
  return Status::Ok();
}

int RunConsole(int argc, char** argv) {
  std::string config_path, listen, gateway_admin, store, graph, agent, crawl, alerts, sessions, assets_dir, token_file;
  FlagSet f("hakone console",
            "Serves the web console at /ui/ and forwards its API calls to the components\n"
            "(operation log, store, graph, agent, crawler, sessions). Flags override [console].");
  f.String("config", &config_path, "FILE", "hakone.toml: its [console] and [auth] sections");
  f.String("listen", &listen, "ADDR", "address to serve on (default 127.0.0.1:8090)");
  f.String("gateway-admin", &gateway_admin, "ADDR", "the gateway's admin listener (default 127.0.0.1:8081)");
  f.String("store", &store, "ADDR", "the store's Elasticsearch-compatible API (default 127.0.0.1:9200)");
  f.String("graph", &graph, "ADDR", "the graph API (default 127.0.0.1:7475)");
  f.String("agent", &agent, "ADDR", "the agent's admin listener (default: none)");
  f.String("crawl", &crawl, "ADDR", "the crawler's status API (default: none)");
  f.String("alerts", &alerts, "ADDR", "serves GET /alerts for the Alerts page (default: the agent's admin listener)");
  f.String("sessions", &sessions, "URL", "hakone sessions, redis://host:port (default: none)");
  f.String("assets-dir", &assets_dir, "DIR", "serve the console from DIR (web/dist) instead of the embedded copy");
  f.String("token-file", &token_file, "FILE", "require this API token (Bearer) from the browser; forwarded upstream");
  f.Epilog(
      "Examples:\n"
      "  hakone console --listen 127.0.0.1:8090 --gateway-admin 127.0.0.1:8081 --store 127.0.0.1:9200\n"
      "  hakone console --config hakone.toml        # then open http://127.0.0.1:8090/ui/");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  Config cfg;
  if (!config_path.empty()) {
    auto c = Config::LoadFile(config_path);
    if (!c.ok()) {
      std::fprintf(stderr, "hakone console: %s\n", c.status().message().c_str());
      return 2;
    }
    cfg = *c;
  }
  auto o = console::ConsoleOptionsFromConfig(cfg);
  if (!o.ok()) {
    std::fprintf(stderr, "hakone console: %s\n", o.status().message().c_str());
    return 2;
  }
  // The file may configure other components too: only [console]'s keys are checked for typos
  // here (Finish() would flag every other section's keys as unknown); type errors still count.
  static const char* const kKeys[] = {"enabled", "listen", "gateway_admin", "store", "graph",
                                      "agent", "crawl", "alerts", "sessions", "assets_dir"};
  for (const auto& k : cfg.Section("console").Keys()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), k) == std::end(kKeys)) {
      std::fprintf(stderr, "hakone console: config: unknown key 'console.%s'\n", k.c_str());
      return 2;
    }
  }
  if (Status st = cfg.Finish(); !st.ok() && st.message().rfind("config: unknown key", 0) != 0) {
    std::fprintf(stderr, "hakone console: %s\n", st.message().c_str());
    return 2;
  }
  for (auto [flag, field] : {std::pair{&listen, &o->listen}, {&gateway_admin, &o->gateway_admin}, {&store, &o->store},
                             {&graph, &o->graph}, {&agent, &o->agent}, {&crawl, &o->crawl}, {&alerts, &o->alerts}, {&sessions, &o->sessions},
                             {&assets_dir, &o->assets_dir}}) {
    if (!flag->empty()) *field = *flag;
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string tok((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
    if (!in && tok.empty()) {
      std::fprintf(stderr, "hakone console: --token-file: cannot read %s\n", token_file.c_str());
      return 2;
    }
    if (tok.size() < 16) {
      std::fprintf(stderr, "hakone console: --token-file: the token is shorter than 16 characters\n");
      return 2;
    }
    o->tokens.push_back({"console", tok});
  }
  Runtime rt(1);
  auto c = console::MakeConsole(rt, std::move(*o));
  if (!c.ok()) {
    std::fprintf(stderr, "hakone console: %s\n", c.status().message().c_str());
    return 2;
  }
  if (Status st = (*c)->Start(); !st.ok()) {
    std::fprintf(stderr, "hakone console: %s\n", st.message().c_str());
    return 1;
  }
  Component* raw = c->get();
  rt.OnShutdown([raw] { raw->Stop(); });
  rt.Run();
  return 0;
}

}  // namespace hakone::app
