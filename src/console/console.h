// The web console (`web/`, built with Vite) served by the C++ binary, plus a small proxy so that
// the browser talks to one origin.
//
//   GET /ui/...            the built assets: embedded into the binary at build time (from
//                          web/dist), or read from `assets_dir`; unknown paths under /ui/ get
//                          index.html (the console routes in the browser, deep links work).
//   GET /                  302 to /ui/
//   GET /api/console/info    {"version","auth","upstreams":{name: address|""}}  (no token needed)
//   GET /api/console/whoami  200 {"name": token name} or 401 (the login page checks the token)
//   GET /api/console/status  [{"name","address","configured","up","status","ms","error"}] health of
//                            every upstream (HTTP /healthz, sessions: RESP PING)
//   *   /api/audit/*         -> gateway admin listener, same path (search, timeline, who, verify)
//   GET /api/gateway/metrics -> gateway admin /metrics
//   *   /es/*                -> store (Elasticsearch-compatible API), "/es" stripped
//   *   /api/graph/*         -> graph API, same path
//   *   /api/agent/*         -> agent admin listener, "/api/agent" stripped (/metrics, /healthz, /alerts)
//   GET /api/agent/alerts    -> `alerts` + "/alerts" when `alerts` is set (the demo's alert board,
//                            which receives the agent's slack sink messages), else the agent's /alerts
//   *   /api/crawl/*         -> crawler status API, same path
//   GET /api/sessions/info   sessions server over RESP: INFO, DBSIZE and a SCAN sample of keys
//
// Upstream down: 502 {"error":{"type":"upstream_unavailable","reason":...}}; upstream not
// configured: 503 {"error":{"type":"component_not_configured",...}}. The console page shows
// "component not running" for both (and for a 404 from an older upstream).
//
// Auth: with tokens configured ([auth] tokens) every /api/ and /es/ call needs
// `Authorization: Bearer <token>`, checked here and forwarded unchanged to the upstream (which
// checks it again: the same [auth] tokens). Without tokens the console only binds loopback.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone::console {

struct ConsoleToken {
  std::string name;
  std::string token;
};

struct ConsoleOptions {
  std::string listen = "127.0.0.1:8090";      // where the console serves /ui/ and the proxy
  std::string gateway_admin = "127.0.0.1:8081";  // the gateway's admin listener ("" = none)
  std::string store = "127.0.0.1:9200";        // the store's ES-compatible API ("" = none)
  std::string graph = "127.0.0.1:7475";        // the graph API ("" = none)
  std::string agent = "";                      // the agent's admin listener ("" = none)
  std::string crawl = "";                      // the crawler's status API ("" = none)
  std::string alerts = "";                     // serves GET /alerts for the Alerts page ("" = the agent)
  std::string sessions = "";                   // redis://host:port of hakone sessions ("" = none)
  std::string assets_dir;                      // serve these files instead of the embedded ones
  std::vector<ConsoleToken> tokens;            // empty: no token needed, loopback only
};

// Reads [console] (listen, gateway_admin, store, graph, agent, crawl, alerts, sessions, assets_dir,
// enabled) and [auth] tokens. Upstream addresses default to the other sections of the same file
// ([gateway] admin, [store] listen, [graph] listen, [sessions] listen) when present.
Result<ConsoleOptions> ConsoleOptionsFromConfig(const Config& cfg);

// The console as a Component on rt's io_context. Errors: InvalidArgument for a bad listen or
// upstream address, or a non-loopback listen without tokens; IOError from bind (in Start()).
Result<std::unique_ptr<Component>> MakeConsole(Runtime& rt, ConsoleOptions options);

// ---- Exposed for tests ----

// "host:port" or "http://host:port[/]" -> "http://host:port"; "" stays "". InvalidArgument else.
Result<std::string> NormalizeUpstream(std::string_view address);
// The Content-Type for a file name by extension ("app.js" -> "text/javascript; charset=utf-8").
std::string_view ContentTypeFor(std::string_view path);
// Maps a request path under /ui/ to an asset path relative to the assets root: "/ui/" ->
// "index.html", "/ui/assets/a.js" -> "assets/a.js". Rejects ".." segments (returns "").
std::string AssetPathFor(std::string_view request_path);
// Number of files embedded at build time (0 when web/dist did not exist).
size_t EmbeddedAssetCount();

}  // namespace hakone::console
