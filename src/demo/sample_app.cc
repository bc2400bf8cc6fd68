#include "demo/sample_app.h"

#include <atomic>
#include <cctype>
#include <functional>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "core/http_server.h"
#include "core/log.h"
#include "core/resp_client.h"
#include "core/units.h"

namespace hakone::demo {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct Candidate {
  int64_t id;
  std::string name, email, stage;
};

// (Built outside the coroutines: g++ 12 mis-compiles braced initializer lists in coroutine frames.)
json::object ToJson(const Candidate& c) { return {{"id", c.id}, {"name", c.name}, {"email", c.email}, {"stage", c.stage}}; }
std::string SessionValue(const std::string& user) {
  return json::serialize(json::object{{"user", json::object{{"id", user}}}});
}
std::vector<std::string> Cmd3(const char* a, std::string b, std::string c = {}, std::string d = {}, std::string e = {}) {
  std::vector<std::string> v{a, std::move(b)};
  for (auto* s : {&c, &d, &e})
    if (!s->empty()) v.push_back(std::move(*s));
  return v;
}

// A form field from an application/x-www-form-urlencoded body ("" when absent), decoded.
std::string FormField(std::string_view body, std::string_view name) {
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find('&', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view kv = body.substr(pos, end - pos);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == name) {
      std::string out;
      std::string_view v = kv.substr(eq + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '+') out.push_back(' ');
        else if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
          out.push_back(static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16)));
          i += 2;
        } else out.push_back(v[i]);
      }
      return out;
    }
    pos = end + 1;
  }
  return "";
}

std::string CookieValue(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    while (pos < header.size() && (header[pos] == ' ' || header[pos] == ';')) ++pos;
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view kv = header.substr(pos, end - pos);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == name) return std::string(kv.substr(eq + 1));
    pos = end + 1;
  }
  return "";
}

std::string HtmlEscape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

class SampleApp : public Component {
 public:
  SampleApp(Runtime& rt, SampleAppOptions o, asio::ip::tcp::endpoint ep)
      : rt_(rt), o_(std::move(o)), ep_(ep), server_(rt.io(), HttpServer::Options{}) {
    const char* names[] = {"山田 花子", "Alice Smith", "佐藤 太郎", "Bob Jones", "鈴木 一郎", "Carol White"};
    const char* stages[] = {"applied", "screening", "interview", "offer"};
    for (int i = 0; i < 6; ++i) {
      candidates_[i + 1] = {i + 1, names[i], "candidate" + std::to_string(i + 1) + "@example.com", stages[i % 4]};
    }
    next_id_ = 7;
    if (!o_.sessions.empty()) {
      auto u = ParseRedisUrl(o_.sessions);
      if (u.ok()) {
        auto& [host, port, password, db] = *u;
        resp_ = std::make_unique<RespClient>(rt.io(), host, port, password, db);
      }
    }
    Routes();
  }
  std::string name() const override { return "sample-app"; }
  Status Start() override {
    if (!o_.log_path.empty()) {
      log_.open(o_.log_path, std::ios::app);
      if (!log_) return Status::IOError("sample app: cannot open the log file " + o_.log_path);
    }
    HAKONE_RETURN_IF_ERROR(server_.Listen(ep_));
    log::Info("sample app listening", {{"listen", FormatEndpoint(server_.local_endpoint())}, {"env", o_.env}});
    return Status::Ok();
  }
  void Stop() override {
    server_.Stop();
    if (resp_) resp_->Close();
    std::lock_guard lk(log_mu_);
    if (log_.is_open()) log_.close();
  }

 private:
  static std::optional<int64_t> IdFrom(const std::string& path, std::string_view prefix) {
    if (path.size() <= prefix.size()) return std::nullopt;
    std::string tail = path.substr(prefix.size());
    try {
      size_t pos = 0;
      long long id = std::stoll(tail, &pos);
      if (pos == tail.size()) return id;
    } catch (...) {
    }
    return std::nullopt;
  }

  // One JSON line per request, the way an application server logs.
  void LogLine(const HttpRequest& req, const HttpResponse& r, double ms, const std::string& user, const std::string& note) {
    if (!log_.is_open()) return;
    const char* level = r.status >= 500 ? "ERROR" : r.status >= 400 ? "WARN" : "INFO";
    std::string msg = req.method + " " + req.path + " " + std::to_string(r.status);
    if (!note.empty()) msg += ": " + note;
    json::object o{{"@timestamp", FormatIsoTime(std::chrono::system_clock::now())}, {"level", level}, {"service", "sample-app"}, {"env", o_.env},
                   {"method", req.method}, {"path", req.path}, {"status", r.status}, {"ms", ms},
                   {"user", user.empty() ? "anonymous" : user}, {"message", msg}};
    std::string line = json::serialize(o);
    std::lock_guard lk(log_mu_);
    log_ << line << '\n';
    log_.flush();
  }

  // Who the request's session belongs to ("" without a session or a store).
  asio::awaitable<std::string> SessionUser(const HttpRequest& req) {
    if (!resp_) co_return std::string();
    std::string sid = CookieValue(req.Header("Cookie"), "PLAY_SESSION");
    if (sid.empty()) co_return std::string();
    auto r = co_await resp_->Command(Cmd3("GET", "sess:" + sid), std::chrono::milliseconds(1000));
    if (!r.ok() || r->type != RespValue::kString) co_return std::string();
    boost::system::error_code ec;
    json::value v = json::parse(r->str, ec);
    if (ec || !v.is_object()) co_return std::string();
    auto* u = v.as_object().if_contains("user");
    if (!u || !u->is_object()) co_return std::string();
    auto* id = u->as_object().if_contains("id");
    if (!id || !id->is_string()) co_return std::string();
    co_return std::string(id->as_string());
  }

  using Handler = std::function<asio::awaitable<HttpResponse>(HttpRequest&, std::string& note)>;
  // Registers a route whose requests are logged with their user and duration.
  void R(std::string method, std::string pattern, Handler h) {
    server_.Route(std::move(method), std::move(pattern), [this, h = std::move(h)](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      auto t0 = Clock::now();
      std::string note;
      HttpResponse r = co_await h(req, note);
      std::string user = co_await SessionUser(req);
      if (user.empty() && !note.empty() && req.path == "/login" && r.status == 200) user = FormField(req.body, "user");
      LogLine(req, r, std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), user, note);
      co_return r;
    });
  }

  asio::awaitable<HttpResponse> Login(HttpRequest& req, std::string& note) {
    std::string user = FormField(req.body, "user");
    std::string password = FormField(req.body, "password");
    if (req.Header("Content-Type").find("json") != std::string_view::npos) {
      boost::system::error_code ec;
      json::value v = json::parse(req.body, ec);
      if (!ec && v.is_object()) {
        if (auto* u = v.as_object().if_contains("user"); u && u->is_string()) user = std::string(u->as_string());
        if (auto* p = v.as_object().if_contains("password"); p && p->is_string()) password = std::string(p->as_string());
      }
    }
    if (user.empty()) co_return HttpResponse::Error(400, "user is required");
    if (password.size() < 8) {
      note = "login failed for " + user + " (bad password)";
      co_return HttpResponse::Error(401, "login failed");
    }
    std::string sid;
    {
      std::lock_guard lk(mu_);
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
      sid = buf;
    }
    if (resp_) {
      auto r = co_await resp_->Command(Cmd3("SET", "sess:" + sid, SessionValue(user), "EX", "3600"), std::chrono::milliseconds(2000));
      if (!r.ok() || r->is_error()) {
        note = "session store unavailable: " + (r.ok() ? r->str : r.status().message());
        co_return HttpResponse::Error(503, "session store unavailable");
      }
    }
    note = "login ok for " + user;
    HttpResponse out;
    out.content_type = "text/html; charset=utf-8";
    out.body = "<!doctype html><html><head><title>Sample ATS</title></head><body><p>Logged in as <b id=user>" +
               HtmlEscape(user) + "</b>.</p><p><a href=/candidates>Candidates</a></p></body></html>";
    out.headers.emplace_back("Set-Cookie", "PLAY_SESSION=" + sid + "; Path=/; HttpOnly; SameSite=Lax");
    co_return out;
  }

  void Routes() {
    R("GET", "/", [](HttpRequest&, std::string&) -> asio::awaitable<HttpResponse> {
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body =
          "<!doctype html><html><head><title>Sample ATS</title><link rel=stylesheet href=/assets/app.css></head>"
          "<body><h1>Sample ATS</h1><ul><li><a href=/candidates>Candidates</a></li><li><a href=/jobs>Jobs</a></li>"
          "<li><a href=/companies>Companies</a></li><li><a href=/login>Log in</a></li></ul></body></html>";
      co_return r;
    });
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, "ok\n");
    });
    server_.Route("GET", "/assets/*", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r;
      r.content_type = "text/css";
      r.body = "body{font-family:sans-serif;margin:2em}\n";
      co_return r;
    });
    R("GET", "/login", [](HttpRequest&, std::string&) -> asio::awaitable<HttpResponse> {
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body =
          "<!doctype html><html><head><title>Log in · Sample ATS</title></head><body><h1>Log in</h1>"
          "<form method=post action=/login><label>User <input name=user></label>"
          "<label>Password <input name=password type=password></label><button>Log in</button></form></body></html>";
      co_return r;
    });
    R("POST", "/login", [this](HttpRequest& req, std::string& note) -> asio::awaitable<HttpResponse> {
      co_return co_await Login(req, note);
    });
    R("POST", "/logout", [this](HttpRequest& req, std::string&) -> asio::awaitable<HttpResponse> {
      std::string sid = CookieValue(req.Header("Cookie"), "PLAY_SESSION");
      if (resp_ && !sid.empty()) (void)co_await resp_->Command(Cmd3("DEL", "sess:" + sid), std::chrono::milliseconds(1000));
      HttpResponse r = HttpResponse::Json(200, "{\"ok\":true}");
      r.headers.emplace_back("Set-Cookie", "PLAY_SESSION=; Path=/; Max-Age=0");
      co_return r;
    });
    R("GET", "/candidates", [this](HttpRequest&, std::string&) -> asio::awaitable<HttpResponse> {
      json::array a;
      {
        std::lock_guard lk(mu_);
        for (auto& [id, c] : candidates_) a.push_back(ToJson(c));
      }
      co_return HttpResponse::Json(200, json::serialize(a));
    });
    R("POST", "/candidates", [this](HttpRequest& req, std::string&) -> asio::awaitable<HttpResponse> {
      boost::system::error_code ec;
      json::value v = json::parse(req.body, ec);
      if (ec || !v.is_object()) co_return HttpResponse::Error(400, "body must be a JSON object");
      auto& o = v.as_object();
      Candidate c;
      {
        std::lock_guard lk(mu_);
        c.id = next_id_++;
        c.name = o.contains("name") && o["name"].is_string() ? std::string(o["name"].as_string()) : "unnamed";
        c.email = o.contains("email") && o["email"].is_string() ? std::string(o["email"].as_string()) : "";
        c.stage = "applied";
        candidates_[c.id] = c;
      }
      co_return HttpResponse::Json(201, json::serialize(ToJson(c)));
    });
    R("*", "/candidates/*", [this](HttpRequest& req, std::string&) -> asio::awaitable<HttpResponse> {
      auto id = IdFrom(req.path, "/candidates/");
      if (!id) co_return HttpResponse::Error(404, "no such candidate");
      std::lock_guard lk(mu_);
      auto it = candidates_.find(*id);
      if (it == candidates_.end()) co_return HttpResponse::Error(404, "no such candidate");
      if (req.method == "GET") co_return HttpResponse::Json(200, json::serialize(ToJson(it->second)));
      if (req.method == "DELETE") {
        candidates_.erase(it);
        co_return HttpResponse::Json(200, "{\"deleted\":true}");
      }
      if (req.method == "PUT" || req.method == "PATCH") {
        boost::system::error_code ec;
        json::value v = json::parse(req.body, ec);
        if (ec || !v.is_object()) co_return HttpResponse::Error(400, "body must be a JSON object");
        auto& o = v.as_object();
        if (o.contains("stage") && o["stage"].is_string()) it->second.stage = std::string(o["stage"].as_string());
        if (o.contains("name") && o["name"].is_string()) it->second.name = std::string(o["name"].as_string());
        co_return HttpResponse::Json(200, json::serialize(ToJson(it->second)));
      }
      co_return HttpResponse::Error(405, "method not allowed");
    });
    R("GET", "/jobs", [](HttpRequest&, std::string&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(
          200, R"([{"id":1,"title":"SRE","company_id":1},{"id":2,"title":"DBA","company_id":2},{"id":3,"title":"バックエンドエンジニア","company_id":1}])");
    });
    R("GET", "/jobs/*", [](HttpRequest& req, std::string&) -> asio::awaitable<HttpResponse> {
      auto id = IdFrom(req.path, "/jobs/");
      if (!id || *id < 1 || *id > 3) co_return HttpResponse::Error(404, "no such job");
      co_return HttpResponse::Json(200, "{\"id\":" + std::to_string(*id) + ",\"title\":\"job " + std::to_string(*id) + "\"}");
    });
    R("GET", "/companies", [](HttpRequest&, std::string&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"([{"id":1,"name":"株式会社箱根"},{"id":2,"name":"Example Corp"}])");
    });
    R("GET", "/reports", [this](HttpRequest&, std::string& note) -> asio::awaitable<HttpResponse> {
      if (++reports_ % 4 == 0) {
        note = "timeout calling ats-db (report query over 5 s)";
        co_return HttpResponse::Error(500, "the report database timed out");
      }
      co_return HttpResponse::Json(200, R"({"open_jobs":3,"candidates_in_pipeline":6})");
    });
  }

  Runtime& rt_;
  SampleAppOptions o_;
  asio::ip::tcp::endpoint ep_;
  HttpServer server_;
  std::unique_ptr<RespClient> resp_;
  std::mutex mu_;
  std::map<int64_t, Candidate> candidates_;
  int64_t next_id_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::atomic<int64_t> reports_{0};
  std::mutex log_mu_;
  std::ofstream log_;
};

}  // namespace

Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const SampleAppOptions& o) {
  auto ep = ParseEndpoint(o.listen);
  if (!ep.ok()) return ep.status();
  if (!o.sessions.empty()) {
    auto u = ParseRedisUrl(o.sessions);
    if (!u.ok()) return Status::InvalidArgument("sample app: sessions: " + u.status().message());
  }
  return std::unique_ptr<Component>(new SampleApp(rt, o, *ep));
}

Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const std::string& listen) {
  SampleAppOptions o;
  o.listen = listen;
  return MakeSampleApp(rt, o);
}

}  // namespace hakone::demo
