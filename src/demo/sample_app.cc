#include "demo/sample_app.h"

#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "core/http_server.h"
#include "core/log.h"

namespace hakone::demo {
namespace {

namespace json = boost::json;

struct Candidate {
  int64_t id;
  std::string name, email, stage;
};

class SampleApp : public Component {
 public:
  SampleApp(Runtime& rt, asio::ip::tcp::endpoint ep) : rt_(rt), ep_(ep), server_(rt.io(), HttpServer::Options{}) {
    const char* names[] = {"山田 花子", "Alice Smith", "佐藤 太郎", "Bob Jones", "鈴木 一郎", "Carol White"};
    const char* stages[] = {"applied", "screening", "interview", "offer"};
    for (int i = 0; i < 6; ++i) {
      candidates_[i + 1] = {i + 1, names[i], "candidate" + std::to_string(i + 1) + "@example.com", stages[i % 4]};
    }
    next_id_ = 7;
    Routes();
  }
  std::string name() const override { return "sample-app"; }
  Status Start() override {
    HAKONE_RETURN_IF_ERROR(server_.Listen(ep_));
    log::Info("sample app listening", {{"listen", FormatEndpoint(server_.local_endpoint())}});
    return Status::Ok();
  }
  void Stop() override { server_.Stop(); }

 private:
  static json::object ToJson(const Candidate& c) {
    return {{"id", c.id}, {"name", c.name}, {"email", c.email}, {"stage", c.stage}};
  }
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

  void Routes() {
    server_.Route("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
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
    server_.Route("GET", "/login", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body =
          "<form method=post action=/login><input name=user><input name=password type=password>"
          "<button>Log in</button></form>";
      co_return r;
    });
    server_.Route("POST", "/login", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      std::string user = "unknown";
      auto pos = req.body.find("user=");
      if (pos != std::string::npos) {
        auto end = req.body.find('&', pos);
        user = req.body.substr(pos + 5, end == std::string::npos ? std::string::npos : end - pos - 5);
      }
      HttpResponse r = HttpResponse::Json(200, json::serialize(json::object{{"ok", true}, {"user", user}}));
      r.headers.emplace_back("Set-Cookie", "PLAY_SESSION=s-" + user + "; Path=/; HttpOnly");
      co_return r;
    });
    server_.Route("GET", "/candidates", [this](HttpRequest&) -> asio::awaitable<HttpResponse> {
      json::array a;
      {
        std::lock_guard lk(mu_);
        for (auto& [id, c] : candidates_) a.push_back(ToJson(c));
      }
      co_return HttpResponse::Json(200, json::serialize(a));
    });
    server_.Route("POST", "/candidates", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
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
    server_.Route("*", "/candidates/*", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
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
    server_.Route("GET", "/jobs", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(
          200, R"([{"id":1,"title":"SRE","company_id":1},{"id":2,"title":"DBA","company_id":2},{"id":3,"title":"バックエンドエンジニア","company_id":1}])");
    });
    server_.Route("GET", "/jobs/*", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      auto id = IdFrom(req.path, "/jobs/");
      if (!id || *id < 1 || *id > 3) co_return HttpResponse::Error(404, "no such job");
      co_return HttpResponse::Json(200, "{\"id\":" + std::to_string(*id) + ",\"title\":\"job " + std::to_string(*id) + "\"}");
    });
    server_.Route("GET", "/companies", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"([{"id":1,"name":"株式会社箱根"},{"id":2,"name":"Example Corp"}])");
    });
  }

  Runtime& rt_;
  asio::ip::tcp::endpoint ep_;
  HttpServer server_;
  std::mutex mu_;
  std::map<int64_t, Candidate> candidates_;
  int64_t next_id_;
};

}  // namespace

Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const std::string& listen) {
  auto ep = ParseEndpoint(listen);
  if (!ep.ok()) return ep.status();
  return std::unique_ptr<Component>(new SampleApp(rt, *ep));
}

}  // namespace hakone::demo
