#include "console/console.h"

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "console/assets.h"
#include "core/http_client.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/resp_client.h"
#include "gateway/admin.h"

namespace hakone::console {

namespace json = boost::json;

namespace {

// The JSON error shape of the other HTTP APIs, with a console-specific type the page recognises.
HttpResponse TypedError(int status, std::string_view type, std::string_view reason) {
  json::object err{{"type", type}, {"reason", reason}};
  return HttpResponse::Json(status, json::serialize(json::object{{"error", std::move(err)}, {"status", status}}));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The key names without their unique part (session ids are secrets): "sess:ab12" -> "sess:".
std::string KeyPrefix(std::string_view key) {
  auto p = key.rfind(':');
  if (p != std::string_view::npos) return std::string(key.substr(0, p + 1));
  return "(no prefix)";
}

// (Built outside the coroutines: g++ 12 mis-compiles braced initializer lists in coroutine frames.)
json::object UpstreamJson(std::string_view name, std::string_view address, bool configured) {
  return json::object{{"name", name}, {"address", address}, {"configured", configured}, {"up", false}};
}
const std::vector<std::string> kPing = {"PING"}, kInfo = {"INFO", "everything"}, kDbsize = {"DBSIZE"},
                               kScan = {"SCAN", "0", "COUNT", "200"};
std::vector<std::string> Args(const std::vector<std::string>& a) { return a; }
std::vector<std::pair<std::string, std::string>> Headers() { return {}; }
json::object PrefixJson(std::string_view prefix, int64_t n) { return json::object{{"prefix", prefix}, {"sampled", n}}; }

struct Upstream {
  std::string name;
  std::string base;         // "http://host:port" or "" (not configured)
  std::string health_path;  // GET this for /api/console/status
};

class Console final : public Component {
 public:
  Console(Runtime& rt, ConsoleOptions o, std::vector<Upstream> ups)
      : rt_(rt),
        o_(std::move(o)),
        ups_(std::move(ups)),
        server_(rt.io(), HttpServer::Options{.max_body = 16 << 20, .server_name = "hakone-console"}),
        client_(rt.io(), HttpClient::Options{.max_idle_per_host = 8,
                                             .connect_timeout = std::chrono::milliseconds(1000),
                                             .timeout = std::chrono::milliseconds(30000)}) {
    if (!o_.sessions.empty()) {
      auto u = ParseRedisUrl(o_.sessions);
      if (u.ok()) {
        auto& [host, port, password, db] = *u;
        resp_ = std::make_unique<RespClient>(rt.io(), host, port, password, db);
      }
    }
    Routes();
  }

  std::string name() const override { return "console"; }

  Status Start() override {
    auto ep = ParseEndpoint(o_.listen);
    if (!ep.ok()) return ep.status().WithContext("console: listen");
    if (Status st = server_.Listen(*ep); !st.ok()) return st.WithContext("console");
    log::Info("console started", {{"listen", FormatEndpoint(server_.local_endpoint())},
                                  {"assets", o_.assets_dir.empty() ? std::string("embedded") : o_.assets_dir}});
    return Status::Ok();
  }

  void Stop() override {
    server_.Stop();
    if (resp_) resp_->Close();
  }

 private:
  const Upstream* Find(std::string_view name) const {
    for (const auto& u : ups_)
      if (u.name == name) return &u;
    return nullptr;
  }

  // nullopt: allowed (the token's name in *who); else the 401 to send.
  std::optional<HttpResponse> Authenticate(const HttpRequest& req, std::string* who) const {
    if (o_.tokens.empty()) {
      *who = "loopback:" + req.remote.address().to_string();
      return std::nullopt;
    }
    std::string_view h = req.Header("Authorization");
    if (h.size() > 7 && h.substr(0, 7) == "Bearer ") {
      for (const auto& t : o_.tokens) {
        if (ConstantTimeEquals(t.token, h.substr(7))) {
          *who = t.name;
          return std::nullopt;
        }
      }
    }
    HttpResponse r = TypedError(401, "unauthorized", "missing or invalid API token (Authorization: Bearer <token>)");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }

  asio::awaitable<HttpResponse> Forward(HttpRequest& req, std::string_view upstream, std::string target) {
    std::string who;
    if (auto denied = Authenticate(req, &who)) co_return *denied;
    const Upstream* u = Find(upstream);
    if (u == nullptr || u->base.empty()) {
      co_return TypedError(503, "component_not_configured",
                           std::string(upstream) + " is not configured in the console ([console] " + std::string(upstream) + ")");
    }
    if (target.empty() || target[0] != '/') co_return HttpResponse::Error(400, "request target must be a path");
    std::vector<std::pair<std::string, std::string>> headers;
    for (const char* h : {"Authorization", "Content-Type", "Accept"}) {
      std::string_view v = req.Header(h);
      if (!v.empty()) headers.emplace_back(h, std::string(v));
    }
    std::string method = req.method == "HEAD" ? "GET" : req.method;
    auto r = co_await client_.Request(method, u->base + target, std::move(headers), std::move(req.body));
    if (!r.ok()) {
      co_return TypedError(502, "upstream_unavailable",
                           std::string(upstream) + " at " + u->base + " is not running or not answering: " + r.status().message());
    }
    HttpResponse out;
    out.status = r->status;
    out.content_type = std::string(r->Header("Content-Type"));
    out.body = std::move(r->body);
    co_return out;
  }

  // The request target with `prefix` removed ("/es/logs/_search?q=x" -> "/logs/_search?q=x").
  static std::string Strip(const HttpRequest& req, std::string_view prefix) {
    std::string t = req.target.substr(std::min(prefix.size(), req.target.size()));
    if (t.empty() || t[0] != '/') t.insert(t.begin(), '/');
    return t;
  }

  HttpResponse Asset(const HttpRequest& req) const {
    std::string rel = AssetPathFor(req.path);
    if (rel.empty()) return HttpResponse::Error(400, "bad asset path");
    auto found = Lookup(rel);
    bool is_index = false;
    if (!found && rel.rfind("assets/", 0) != 0) {  // a console route: the browser routes it
      found = Lookup("index.html");
      is_index = true;
    }
    if (!found) {
      if (Lookup("index.html")) return HttpResponse::Error(404, "no such file: " + rel);
      HttpResponse r = HttpResponse::Text(
          503, "The web console was not built into this binary.\n"
               "Build it (cd web && npm ci && npm run build) and rebuild hakone, or set [console] assets_dir.\n");
      return r;
    }
    HttpResponse r;
    r.content_type = std::string(ContentTypeFor(is_index ? "index.html" : rel));
    r.body = std::move(*found);
    // Vite puts a content hash in every name under assets/: cache those for good.
    r.headers.emplace_back("Cache-Control", rel.rfind("assets/", 0) == 0 && !is_index ? "public, max-age=31536000, immutable"
                                                                                     : "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  std::optional<std::string> Lookup(const std::string& rel) const {
    if (!o_.assets_dir.empty()) {
      std::ifstream f(o_.assets_dir + "/" + rel, std::ios::binary);
      if (!f || std::filesystem::is_directory(o_.assets_dir + "/" + rel)) return std::nullopt;
      std::stringstream ss;
      ss << f.rdbuf();
      return ss.str();
    }
    for (size_t i = 0; i < kEmbeddedAssetsCount; ++i) {
      if (rel == kEmbeddedAssets[i].path) {
        return std::string(reinterpret_cast<const char*>(kEmbeddedAssets[i].data), kEmbeddedAssets[i].size);
      }
    }
    return std::nullopt;
  }

  asio::awaitable<HttpResponse> Status_(HttpRequest& req) {
    std::string who;
    if (auto denied = Authenticate(req, &who)) co_return *denied;
    json::array out;
    for (const auto& u : ups_) {
      json::object o = UpstreamJson(u.name, u.base, !u.base.empty());
      if (u.base.empty()) {
        out.push_back(std::move(o));
        continue;
      }
      auto t0 = std::chrono::steady_clock::now();
      auto r = co_await client_.Request(std::string("GET"), u.base + u.health_path, Headers(), std::string(),
                                        std::chrono::milliseconds(2000));
      o["ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r.ok()) {
        o["status"] = r->status;
        o["up"] = r->status < 500;
      } else {
        o["error"] = r.status().message();
      }
      out.push_back(std::move(o));
    }
    json::object s = UpstreamJson("sessions", o_.sessions, resp_ != nullptr);
    if (resp_) {
      auto t0 = std::chrono::steady_clock::now();
      auto r = co_await resp_->Command(Args(kPing), std::chrono::milliseconds(2000));
      s["ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (r.ok() && !r->is_error()) s["up"] = true;
      else s["error"] = r.ok() ? r->str : r.status().message();
    }
    out.push_back(std::move(s));
    co_return HttpResponse::Json(200, json::serialize(out));
  }

  asio::awaitable<HttpResponse> SessionsInfo(HttpRequest& req) {
    std::string who;
    if (auto denied = Authenticate(req, &who)) co_return *denied;
    if (!resp_) co_return TypedError(503, "component_not_configured", "sessions is not configured in the console ([console] sessions)");
    auto info = co_await resp_->Command(Args(kInfo), std::chrono::milliseconds(3000));
    if (!info.ok()) co_return TypedError(502, "upstream_unavailable", "sessions at " + resp_->address() + ": " + info.status().message());
    if (info->is_error()) co_return TypedError(502, "upstream_error", "sessions INFO: " + info->str);
    json::object sections;
    json::object* cur = nullptr;
    std::istringstream lines(info->str);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      if (line[0] == '#') {
        std::string sec = line.substr(line.find_first_not_of("# "));
        for (auto& c : sec) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        cur = &sections[sec].emplace_object();
        continue;
      }
      auto colon = line.find(':');
      if (cur && colon != std::string::npos) (*cur)[line.substr(0, colon)] = line.substr(colon + 1);
    }
    json::object out;
    out["address"] = resp_->address();
    out["info"] = std::move(sections);
    auto dbsize = co_await resp_->Command(Args(kDbsize), std::chrono::milliseconds(3000));
    if (dbsize.ok() && dbsize->type == RespValue::kInteger) out["dbsize"] = dbsize->integer;
    // A sample of key names grouped by prefix: the unique part of a key is often a session id.
    auto scan = co_await resp_->Command(Args(kScan), std::chrono::milliseconds(3000));
    std::map<std::string, int64_t> prefixes;
    if (scan.ok() && scan->type == RespValue::kArray && scan->array.size() == 2) {
      for (const auto& k : scan->array[1].array) ++prefixes[KeyPrefix(k.str)];
    }
    json::array pa;
    for (auto& [p, n] : prefixes) pa.push_back(PrefixJson(p, n));
    out["key_prefixes"] = std::move(pa);
    co_return HttpResponse::Json(200, json::serialize(out));
  }

  void Routes() {
    server_.Route("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r = HttpResponse::Text(302, "see /ui/\n");
      r.headers.emplace_back("Location", "/ui/");
      co_return r;
    });
    server_.Route("GET", "/ui/*", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return Asset(req); });
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":"ok"})");
    });
    server_.Route("GET", "/api/console/info", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      json::object ups;
      for (const auto& u : ups_) ups[u.name] = u.base;
      ups["sessions"] = o_.sessions;
      json::object out{{"version", HAKONE_VERSION}, {"auth", !o_.tokens.empty()}, {"upstreams", std::move(ups)},
                       {"embedded_assets", kEmbeddedAssetsCount}};
      co_return HttpResponse::Json(200, json::serialize(out));
    });
    server_.Route("GET", "/api/console/whoami", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      std::string who;
      if (auto denied = Authenticate(req, &who)) co_return *denied;
      co_return HttpResponse::Json(200, json::serialize(json::object{{"name", who}}));
    });
    server_.Route("GET", "/api/console/status", [this](HttpRequest& req) { return Status_(req); });
    server_.Route("GET", "/api/sessions/info", [this](HttpRequest& req) { return SessionsInfo(req); });
    server_.Route("*", "/api/audit/*", [this](HttpRequest& req) { return Forward(req, "gateway_admin", req.target); });
    server_.Route("GET", "/api/gateway/metrics", [this](HttpRequest& req) { return Forward(req, "gateway_admin", "/metrics"); });
    server_.Route("*", "/es/*", [this](HttpRequest& req) { return Forward(req, "store", Strip(req, "/es")); });
    server_.Route("*", "/api/graph/*", [this](HttpRequest& req) { return Forward(req, "graph", req.target); });
    server_.Route("*", "/api/agent/*", [this](HttpRequest& req) { return Forward(req, "agent", Strip(req, "/api/agent")); });
    server_.Route("GET", "/api/agent/alerts", [this](HttpRequest& req) {
      const Upstream* a = Find("alerts");
      return Forward(req, a != nullptr && !a->base.empty() ? "alerts" : "agent", Strip(req, "/api/agent"));
    });
    server_.Route("*", "/api/crawl/*", [this](HttpRequest& req) { return Forward(req, "crawl", req.target); });
  }

  Runtime& rt_;
  ConsoleOptions o_;
  std::vector<Upstream> ups_;
  HttpServer server_;
  HttpClient client_;
  std::unique_ptr<RespClient> resp_;
};

}  // namespace

Result<std::string> NormalizeUpstream(std::string_view address) {
  std::string a(address);
  if (a.empty()) return a;
  if (a.rfind("https://", 0) == 0) return Status::InvalidArgument("upstream " + a + ": https is not supported; use http://");
  if (a.rfind("http://", 0) == 0) a = a.substr(7);
  while (!a.empty() && a.back() == '/') a.pop_back();
  if (a.find('/') != std::string::npos) return Status::InvalidArgument("upstream " + std::string(address) + ": give host:port (no path)");
  auto ep = ParseEndpoint(a);
  if (!ep.ok()) return Status::InvalidArgument("upstream " + std::string(address) + ": " + ep.status().message());
  return "http://" + a;
}

std::string_view ContentTypeFor(std::string_view path) {
  auto dot = path.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::string AssetPathFor(std::string_view request_path) {
  std::string_view p = request_path;
  if (p.rfind("/ui", 0) == 0) p.remove_prefix(3);
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  if (p.empty()) return "index.html";
  // No "..", no empty or "." segments, no backslashes or NULs: only plain relative names.
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view seg = p.substr(start, end - start);
    if (seg.empty() && end != p.size()) return "";
    if (seg == ".." || seg == ".") return "";
    start = end + 1;
  }
  if (p.find('\\') != std::string_view::npos || p.find('\0') != std::string_view::npos) return "";
  if (p.back() == '/') return std::string(p) + "index.html";
  return std::string(p);
}

size_t EmbeddedAssetCount() { return kEmbeddedAssetsCount; }

Result<ConsoleOptions> ConsoleOptionsFromConfig(const Config& cfg) {
  ConsoleOptions o;
  auto c = cfg.Section("console");
  c.Ignore("enabled");
  // Defaults from the other sections of the same file, so one [console] line is enough.
  if (cfg.HasSection("gateway")) o.gateway_admin = cfg.Section("gateway").String("admin", o.gateway_admin);
  if (cfg.HasSection("store")) o.store = cfg.Section("store").String("listen", o.store);
  if (cfg.HasSection("graph")) o.graph = cfg.Section("graph").String("listen", o.graph);
  if (cfg.HasSection("sessions")) o.sessions = "redis://" + cfg.Section("sessions").String("listen", "127.0.0.1:6380");
  o.listen = c.String("listen", o.listen);
  o.gateway_admin = c.String("gateway_admin", o.gateway_admin);
  o.store = c.String("store", o.store);
  o.graph = c.String("graph", o.graph);
  o.agent = c.String("agent", o.agent);
  o.crawl = c.String("crawl", o.crawl);
  o.alerts = c.String("alerts", o.alerts);
  o.sessions = c.String("sessions", o.sessions);
  o.assets_dir = c.String("assets_dir", "");
  auto auth = gateway::LoadAdminAuth(cfg.Section("auth"));
  if (!auth.ok()) return auth.status();
  for (auto& t : auth->tokens) o.tokens.push_back({t.name, t.token});
  return o;
}

Result<std::unique_ptr<Component>> MakeConsole(Runtime& rt, ConsoleOptions o) {
  auto ep = ParseEndpoint(o.listen);
  if (!ep.ok()) return Status::InvalidArgument("console: listen " + o.listen + ": " + ep.status().message());
  if (o.tokens.empty() && !ep->address().is_loopback()) {
    return Status::InvalidArgument("console: listen " + o.listen +
                                   " is not a loopback address and no API token is configured ([auth] tokens): "
                                   "the console shows the operation log, which holds personal data");
  }
  if (!o.assets_dir.empty() && !std::filesystem::is_regular_file(o.assets_dir + "/index.html")) {
    return Status::InvalidArgument("console: assets_dir " + o.assets_dir + " has no index.html (run npm run build in web/)");
  }
  if (!o.sessions.empty()) {
    auto u = ParseRedisUrl(o.sessions);
    if (!u.ok()) return Status::InvalidArgument("console: sessions: " + u.status().message());
  }
  std::vector<Upstream> ups;
  const std::pair<const char*, std::string*> named[] = {
      {"gateway_admin", &o.gateway_admin}, {"store", &o.store}, {"graph", &o.graph}, {"agent", &o.agent}, {"crawl", &o.crawl}};
  for (auto& [name, addr] : named) {
    auto n = NormalizeUpstream(*addr);
    if (!n.ok()) return Status::InvalidArgument(std::string("console: ") + name + ": " + n.status().message());
    std::string health = std::string(name) == "store" ? "/" : "/healthz";
    ups.push_back({name, *n, health});
  }
  if (!o.alerts.empty()) {  // only listed (and health-checked) when configured
    auto n = NormalizeUpstream(o.alerts);
    if (!n.ok()) return Status::InvalidArgument("console: alerts: " + n.status().message());
    ups.push_back({"alerts", *n, "/healthz"});
  }
  return std::unique_ptr<Component>(new Console(rt, std::move(o), std::move(ups)));
}

}  // namespace hakone::console
