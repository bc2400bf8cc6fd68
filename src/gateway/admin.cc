#include "gateway/admin.h"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "core/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "gateway/audit_chain.h"
#include "gateway/audit_cli.h"
#include "store/audit_store.h"

namespace hakone::gateway {

namespace json = boost::json;

Result<AdminAuth> LoadAdminAuth(const ConfigSection& auth) {
  AdminAuth out;
  int i = 0;
  for (const auto& t : auth.SectionArray("tokens")) {
    AdminToken tok;
    tok.name = t.String("name", "token-" + std::to_string(i));
    tok.role = t.String("role", "reader");
    if (tok.role != "reader" && tok.role != "writer" && tok.role != "admin") {
      t.Fail("role", "must be reader, writer or admin");
    }
    std::string file = t.String("token_file", "");
    tok.token = t.String("token", "");
    if (!file.empty()) {
      std::ifstream f(file);
      if (!f) return Status::InvalidArgument("config: [" + t.path() + "] token_file: cannot read " + file);
      std::stringstream ss;
      ss << f.rdbuf();
      tok.token = ss.str();
      while (!tok.token.empty() && (tok.token.back() == '\n' || tok.token.back() == '\r' || tok.token.back() == ' ')) {
        tok.token.pop_back();
      }
    }
    if (tok.token.size() < 16) {
      return Status::InvalidArgument("config: [" + t.path() + "] token: missing or shorter than 16 characters (set token_file)");
    }
    out.tokens.push_back(std::move(tok));
    ++i;
  }
  return out;
}

struct AdminApi::Impl {
  Impl(asio::io_context& io, store::AuditStore* s, std::string dir, AdminAuth a)
      : server(io, HttpServer::Options{.max_body = 1 << 20, .server_name = "hakone-admin"}),
        store(s),
        data_dir(std::move(dir)),
        auth(std::move(a)) {}

  // The caller's name, or nullopt (and *denied set) when a token is required and missing/wrong.
  std::optional<std::string> Authenticate(const HttpRequest& req, bool need_admin, HttpResponse* denied) {
    if (auth.tokens.empty()) return "loopback:" + req.remote.address().to_string();
    std::string_view h = req.Header("Authorization");
    if (h.size() > 7 && h.substr(0, 7) == "Bearer ") {
      std::string_view given = h.substr(7);
      for (auto& t : auth.tokens) {
        // Constant-time comparison: tokens are secrets.
        if (t.token.size() != given.size()) continue;
        unsigned char diff = 0;
        for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(t.token[i] ^ given[i]);
        if (diff != 0) continue;
        if (need_admin && t.role != "admin") {
          *denied = HttpResponse::Error(403, "this endpoint needs a token with role admin");
          return std::nullopt;
        }
        return t.name;
      }
    }
    *denied = HttpResponse::Error(401, "missing or invalid API token (Authorization: Bearer <token>)");
    denied->headers.emplace_back("WWW-Authenticate", "Bearer");
    return std::nullopt;
  }

  HttpResponse Query(HttpRequest& req, const char* command) {
    HttpResponse denied;
    auto actor = Authenticate(req, false, &denied);
    if (!actor) return denied;
    auto q = AuditQueryFromParams(req.Params());
    if (!q.ok()) return HttpResponse::Error(400, q.status().message());
    if (std::string_view(command) == "timeline" && !q->user) return HttpResponse::Error(400, "user is required");
    if (std::string_view(command) == "who" && !q->path_glob) return HttpResponse::Error(400, "path is required");
    if (Status st = RecordAuditQuery(data_dir, *actor, std::string("api:") + command, AuditQueryToJson(*q)); !st.ok()) {
      // A query that cannot be recorded is not answered: the log of who looked is part of the log.
      log::Error("cannot record an audit query", {{"error", st.ToString()}});
      return HttpResponse::Error(503, "cannot record this query in the audit query log: " + st.message());
    }
    json::object out;
    if (std::string_view(command) == "who") {
      auto rows = WhoAudit(*store, *q);
      if (!rows.ok()) return HttpResponse::Error(500, rows.status().message());
      out["users"] = WhoToJson(*rows);
    } else {
      auto events = std::string_view(command) == "timeline" ? TimelineAudit(*store, *q) : SearchAudit(*store, *q);
      if (!events.ok()) return HttpResponse::Error(500, events.status().message());
      out["count"] = events->size();
      out["events"] = std::move(*events);
    }
    out["query"] = AuditQueryToJson(*q);
    return HttpResponse::Json(200, json::serialize(out));
  }

  void Routes() {
    server.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":"ok"})");
    });
    server.Route("GET", "/metrics", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r = HttpResponse::Text(200, metrics::Registry::Global().Render());
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      co_return r;
    });
    server.Route("GET", "/api/audit/search", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Query(req, "search");
    });
    server.Route("GET", "/api/audit/timeline", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Query(req, "timeline");
    });
    server.Route("GET", "/api/audit/who", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Query(req, "who");
    });
    server.Route("GET", "/api/audit/verify", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      HttpResponse denied;
      auto actor = Authenticate(req, true, &denied);
      if (!actor) co_return denied;
      VerifyReport report;
      Status st = VerifyAudit(data_dir, "", &report);
      json::object out;
      out["intact"] = st.ok();
      out["message"] = st.ok() ? "audit log intact" : st.message();
      out["events"] = report.events;
      out["last_seq"] = report.last_seq;
      out["checkpoints"] = report.checkpoints;
      out["last_checkpoint_seq"] = report.last_checkpoint_seq;
      out["last_checkpoint_time"] = report.last_checkpoint_time;
      out["unsigned_events"] = report.unsigned_events;
      co_return HttpResponse::Json(st.ok() ? 200 : 409, json::serialize(out));
    });
  }

  HttpServer server;
  store::AuditStore* store;
  std::string data_dir;
  AdminAuth auth;
};

AdminApi::AdminApi(asio::io_context& io, store::AuditStore* store, std::string data_dir, AdminAuth auth)
    : impl_(std::make_unique<Impl>(io, store, std::move(data_dir), std::move(auth))) {
  impl_->Routes();
}

AdminApi::~AdminApi() { Stop(); }

Status AdminApi::Start(const std::string& listen) {
  auto ep = ParseEndpoint(listen);
  if (!ep.ok()) return ep.status();
  if (impl_->auth.tokens.empty() && !ep->address().is_loopback()) {
    return Status::InvalidArgument("admin listener " + listen +
                                   " is not a loopback address and no API token is configured ([auth] tokens): "
                                   "the operation log holds personal data");
  }
  return impl_->server.Listen(*ep);
}

void AdminApi::Stop() { impl_->server.Stop(); }

}  // namespace hakone::gateway
