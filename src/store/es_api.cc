#include "store/es_api.h"
#include "store/local.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "core/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/units.h"
#include "store/es_bulk.h"
#include "store/es_query.h"

namespace hakone::store {
namespace json = boost::json;
using es::EsError;

namespace {

constexpr const char* kVersion = "8.11.0";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Base64Decode(std::string_view in) {
  static const std::string kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    size_t p = kChars.find(c);
    if (p == std::string::npos) {
      if (c == '-') p = 62;
      else if (c == '_') p = 63;
      else return "";
    }
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

bool ConstEq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// Shortest round-trip form, always with a '.' or an exponent ("1.0", "0.25", "1e+300").
std::string Num(double d) {
  if (!std::isfinite(d)) return "null";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string ValueJson(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return "null";
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) return Num(x);
        else return json::serialize(json::value(x));
      },
      v);
}

std::string Human(uint64_t b) {
  char buf[32];
  if (b < 1024) std::snprintf(buf, sizeof buf, "%llub", static_cast<unsigned long long>(b));
  else if (b < (1 << 20)) std::snprintf(buf, sizeof buf, "%.1fkb", b / 1024.0);
  else if (b < (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1fmb", b / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%.1fgb", b / 1073741824.0);
  return buf;
}

// ---- mappings <-> ES JSON

Status MappingFromJson(const json::value& v, const std::string& prefix, Mapping* out) {
  if (!v.is_object()) return Status::InvalidArgument("mapper_parsing_exception: [properties] must be an object");
  for (const auto& kv : v.get_object()) {
    std::string name = prefix + std::string(kv.key());
    if (!kv.value().is_object()) return Status::InvalidArgument("mapper_parsing_exception: field [" + name + "] must be an object");
    const auto& f = kv.value().get_object();
    if (auto* props = f.if_contains("properties")) {
      if (Status st = MappingFromJson(*props, name + ".", out); !st.ok()) return st;
      continue;
    }
    FieldMapping fm;
    std::string type = "object";
    for (const auto& p : f) {
      std::string k(p.key());
      if (k == "type") {
        if (!p.value().is_string()) return Status::InvalidArgument("mapper_parsing_exception: [type] of [" + name + "] must be a string");
        type = std::string(p.value().get_string());
      } else if (k == "fields") {
        if (!p.value().is_object()) return Status::InvalidArgument("mapper_parsing_exception: [fields] must be an object");
        for (const auto& sub : p.value().get_object()) {
          const json::value* t = sub.value().is_object() ? sub.value().get_object().if_contains("type") : nullptr;
          if (sub.key() == "keyword" && t && t->is_string() && t->get_string() == "keyword") fm.keyword_subfield = true;
          else
            return Status::InvalidArgument("mapper_parsing_exception: multi-field [" + name + "." + std::string(sub.key()) +
                                           "] is not supported (only a keyword sub-field named keyword)");
        }
      } else if (k == "format" || k == "ignore_above" || k == "index" || k == "doc_values" || k == "norms" ||
                 k == "store" || k == "null_value" || k == "coerce" || k == "ignore_malformed" || k == "scaling_factor") {
        // storage hints; the engine indexes every field the same way
      } else if (k == "analyzer" || k == "search_analyzer") {
        if (!p.value().is_string() || p.value().get_string() != "standard") {
          return Status::InvalidArgument("mapper_parsing_exception: analyzer [" + json::serialize(p.value()) + "] on [" + name +
                                         "] is not supported (only the built-in one)");
        }
      } else {
        return Status::InvalidArgument("mapper_parsing_exception: mapping parameter [" + k + "] on [" + name + "] is not supported");
      }
    }
    auto ft = ParseFieldType(type);
    if (!ft) return Status::InvalidArgument("mapper_parsing_exception: No handler for type [" + type + "] declared on field [" + name + "]");
    fm.type = *ft;
    out->fields[name] = fm;
  }
  return Status::Ok();
}

Status MappingsBody(const json::value& v, Mapping* out) {
  if (!v.is_object()) return Status::InvalidArgument("mapper_parsing_exception: [mappings] must be an object");
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "properties") {
      if (Status st = MappingFromJson(kv.value(), "", out); !st.ok()) return st;
    } else if (kv.key() == "dynamic" && (kv.value() == json::value(true) || kv.value() == json::value("true"))) {
    } else if (kv.key() == "_source" || kv.key() == "_meta" || kv.key() == "date_detection" || kv.key() == "numeric_detection") {
    } else {
      return Status::InvalidArgument("mapper_parsing_exception: mapping option [" + std::string(kv.key()) + "] is not supported");
    }
  }
  return Status::Ok();
}

json::object MappingToJson(const Mapping& m) {
  json::object root;
  for (const auto& [path, fm] : m.fields) {
    json::object* cur = &root;
    size_t p = 0;
    while (true) {
      size_t dot = path.find('.', p);
      if (dot == std::string::npos) break;
      std::string part = path.substr(p, dot - p);
      json::value& node = (*cur)[part];
      if (!node.is_object()) node = json::object();
      json::value& props = node.get_object()["properties"];
      if (!props.is_object()) props = json::object();
      cur = &props.get_object();
      p = dot + 1;
    }
    json::object f;
    if (fm.type == FieldType::kObject) continue;
    f["type"] = std::string(FieldTypeName(fm.type));
    if (fm.keyword_subfield) f["fields"] = json::object{{"keyword", json::object{{"type", "keyword"}, {"ignore_above", 256}}}};
    (*cur)[path.substr(p)] = f;
  }
  return root;
}

Status SettingsBody(const json::value& v, StreamSettings* s) {
  if (!v.is_object()) return Status::InvalidArgument("settings_exception: [settings] must be an object");
  for (const auto& kv : v.get_object()) {
    std::string k(kv.key());
    if (k == "index") {
      if (Status st = SettingsBody(kv.value(), s); !st.ok()) return st;
      continue;
    }
    if (k.rfind("index.", 0) == 0) k = k.substr(6);
    auto as_int = [&]() -> Result<int64_t> {
      if (kv.value().is_int64()) return kv.value().get_int64();
      if (kv.value().is_uint64()) return static_cast<int64_t>(kv.value().get_uint64());
      if (kv.value().is_string()) {
        try {
          return static_cast<int64_t>(std::stoll(std::string(kv.value().get_string())));
        } catch (...) {
        }
      }
      return Status::InvalidArgument("settings_exception: [" + k + "] must be an integer");
    };
    if (k == "number_of_shards" || k == "number_of_replicas") {
      auto n = as_int();
      if (!n.ok()) return n.status();
      (k == "number_of_shards" ? s->number_of_shards : s->number_of_replicas) = static_cast<int>(*n);
    } else if (k == "refresh_interval" || k == "codec" || k == "max_result_window") {
    } else if (k == "hakone.time_field" && kv.value().is_string()) {
      s->time_field = std::string(kv.value().get_string());
    } else if (k == "hakone.label_fields" && kv.value().is_array()) {
      s->label_fields.clear();
      for (const auto& e : kv.value().get_array()) {
        if (e.is_string()) s->label_fields.emplace_back(e.get_string());
      }
    } else if (k == "hakone.retention" && kv.value().is_string()) {
      auto d = ParseDuration(kv.value().get_string());
      if (!d.ok()) return Status::InvalidArgument("settings_exception: [hakone.retention]: " + d.status().message());
      s->retention_age = std::chrono::duration_cast<std::chrono::seconds>(*d);
    } else if (k == "hakone.retention_bytes") {
      if (kv.value().is_string()) {
        auto b = ParseSize(kv.value().get_string());
        if (!b.ok()) return Status::InvalidArgument("settings_exception: [hakone.retention_bytes]: " + b.status().message());
        s->retention_bytes = *b;
      } else {
        auto n = as_int();
        if (!n.ok()) return n.status();
        s->retention_bytes = static_cast<uint64_t>(*n);
      }
    } else {
      return Status::InvalidArgument("settings_exception: index setting [" + k + "] is not supported");
    }
  }
  return Status::Ok();
}

struct IndexTemplate {
  std::string name;
  std::vector<std::string> patterns;
  int64_t priority = 0;
  json::value body;  // as PUT (for GET)
  StreamSettings settings;
  Mapping mapping;
};

class EsApi : public Component {
 public:
  EsApi(Runtime& rt, EsApiOptions o) : rt_(rt), o_(std::move(o)), pool_(o_.threads < 1 ? 1 : o_.threads) {
    HttpServer::Options so;
    so.max_body = o_.max_body;
    so.server_name = "store";
    server_ = std::make_unique<HttpServer>(rt_.io(), so);
    auto& reg = metrics::Registry::Global();
    ingest_docs_ = reg.AddCounter("hakone_store_ingest_docs_total", "Documents accepted by the ES API (bulk and _doc)")->Get();
    ingest_bytes_ = reg.AddCounter("hakone_store_ingest_raw_bytes_total", "Source bytes of the documents accepted")->Get();
    ingest_errors_ = reg.AddCounter("hakone_store_ingest_item_errors_total", "Bulk/_doc items rejected")->Get();
    auto* lat = reg.AddHistogram("hakone_store_query_duration_seconds", "ES API query latency", {"op"});
    search_lat_ = lat->WithLabels({"search"});
    count_lat_ = lat->WithLabels({"count"});
    msearch_lat_ = lat->WithLabels({"msearch"});
    bulk_lat_ = reg.AddHistogram("hakone_store_bulk_duration_seconds", "ES API _bulk request latency")->Get();
    bytes_on_disk_ = reg.AddGauge("hakone_store_bytes_on_disk", "Bytes of the store on disk")->Get();
    raw_bytes_ = reg.AddGauge("hakone_store_raw_bytes", "Raw (uncompressed source) bytes of the documents stored")->Get();
    blocks_scanned_ = reg.AddCounter("hakone_store_blocks_scanned_total", "Blocks read by queries")->Get();
    blocks_pruned_ = reg.AddCounter("hakone_store_blocks_pruned_total", "Blocks skipped by queries thanks to skip data")->Get();
    damaged_ = reg.AddGauge("hakone_store_damaged_blocks", "Blocks found corrupt (checksum) and skipped")->Get();
    server_->Route("GET", "/metrics", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return co_await OnPool(req, [this](HttpRequest& r) { return Metrics(r); });
    });
    // Probes (docs/es-api.md): no authentication, they reveal nothing. Liveness is answered on
    // the I/O thread (the process and its event loop are alive); readiness on the store pool.
    server_->Route("GET", "/healthz", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return Finish(req, HttpResponse::Json(200, R"({"status":"ok"})"));
    });
    server_->Route("GET", "/readyz", [this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return co_await OnPool(req, [this](HttpRequest& r) { return Ready(r); });
    });
    for (const char* method : {"POST", "PUT"}) {
      for (const char* pattern : {"/_bulk", "/*/_bulk"}) {
        server_->StreamRoute(
            method, pattern,
            [this](HttpRequest& req, HttpServer::BodyStream& body) -> asio::awaitable<HttpResponse> {
              co_return co_await BulkStream(req, body);
            },
            o_.max_body);
      }
    }
    server_->SetFallback([this](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return co_await OnPool(req, [this](HttpRequest& r) { return Handle(r); });
    });
  }

  ~EsApi() override {
    if (store_ && ProcessStore() == store_.get()) SetProcessStore(nullptr);
    server_->Stop();
    pool_.join();
    if (store_) store_->Close();
  }

  std::string name() const override { return "store"; }

  Status Start() override {
    auto ep = ParseEndpoint(o_.listen);
    if (!ep.ok()) return ep.status().WithContext("listen");
    if (o_.tokens.empty() && !ep->address().is_loopback()) {
      return Status::InvalidArgument("refusing to listen on " + o_.listen +
                                     ", which is not a loopback address, with no API tokens configured; add "
                                     "[[store.tokens]] entries (see docs/es-api.md) or listen on 127.0.0.1");
    }
    std::error_code ec;
    std::filesystem::create_directories(o_.data_dir, ec);
    if (ec) return Status::IOError("cannot create data dir " + o_.data_dir + ": " + ec.message());
    EventStoreOptions so = o_.store;
    so.dir = o_.data_dir + "/store";
    auto st = EventStore::Open(so);
    if (!st.ok()) return st.status().WithContext("opening " + so.dir);
    store_ = std::move(*st);
    SetProcessStore(store_.get());  // in-process writers (agent/crawler store sinks): store/local.h
    LoadTemplates();
    if (Status ls = server_->Listen(*ep); !ls.ok()) return ls.WithContext("listen on " + o_.listen);
    log::Info("store listening", {{"listen", FormatEndpoint(server_->local_endpoint())}, {"data_dir", o_.data_dir}});
    return Status::Ok();
  }

  void Stop() override {
    server_->Stop();
    if (ProcessStore() == store_.get()) SetProcessStore(nullptr);
    // Close after in-flight requests: the pool finishes them; Close() flushes the head.
    asio::post(pool_, [this] {
      if (store_) store_->Close();
    });
  }

 private:
  template <typename F>
  asio::awaitable<HttpResponse> OnPool(HttpRequest& req, F f) {
    HttpRequest* rp = &req;
    HttpResponse r = co_await asio::co_spawn(
        pool_, [rp, f]() mutable -> asio::awaitable<HttpResponse> { co_return f(*rp); }, asio::use_awaitable);
    co_return r;
  }

  // ---- responses

  HttpResponse Finish(const HttpRequest& req, HttpResponse r) {
    r.headers.emplace_back("X-Elastic-Product", "Elasticsearch");
    if (r.content_type == "application/json") {
      std::string_view accept = req.Header("Accept");
      size_t c = accept.find("compatible-with=");
      if (accept.find("vnd.elasticsearch+json") != std::string_view::npos && c != std::string_view::npos) {
        r.content_type = "application/vnd.elasticsearch+json;compatible-with=" + std::string(accept.substr(c + 16, 1));
      } else {
        r.content_type = "application/json; charset=UTF-8";
      }
    }
    return r;
  }

  static HttpResponse Err(const EsError& e) { return HttpResponse::Json(e.status, es::EsErrorJson(e)); }
  static HttpResponse Err(const Status& st) { return Err(es::EsErrorFromStatus(st)); }
  static HttpResponse Err(int status, std::string type, std::string reason) { return Err(EsError{status, std::move(type), std::move(reason)}); }
  static HttpResponse IndexNotFound(const std::string& index) {
    json::object cause{{"type", "index_not_found_exception"},
                       {"reason", "no such index [" + index + "]"},
                       {"index", index},
                       {"resource.type", "index_or_alias"},
                       {"resource.id", index}};
    json::object err = cause;
    err["root_cause"] = json::array{cause};
    return HttpResponse::Json(404, json::serialize(json::object{{"error", err}, {"status", 404}}));
  }

  // ---- auth

  enum class Need { kRead, kWrite, kAdmin };
  std::optional<EsToken::Role> Authenticate(const HttpRequest& req) {
    std::string_view h = req.Header("Authorization");
    auto find = [&](std::string_view name, std::string_view secret, bool need_name) -> std::optional<EsToken::Role> {
      for (const auto& t : o_.tokens) {
        if ((!need_name || t.name == name) && ConstEq(t.token, secret)) return t.role;
      }
      return std::nullopt;
    };
    if (h.rfind("Bearer ", 0) == 0) return find("", h.substr(7), false);
    if (h.rfind("Basic ", 0) == 0 || h.rfind("ApiKey ", 0) == 0) {
      bool basic = h[0] == 'B';
      std::string dec = Base64Decode(h.substr(basic ? 6 : 7));
      size_t c = dec.find(':');
      if (c != std::string::npos) {
        if (auto r = find(dec.substr(0, c), dec.substr(c + 1), true)) return r;
      }
      if (!basic) return find("", h.substr(7), false);  // a raw key
    }
    return std::nullopt;
  }

  std::optional<HttpResponse> Authorize(const HttpRequest& req, Need need) {
    if (o_.tokens.empty()) return std::nullopt;
    auto role = Authenticate(req);
    if (!role) {
      HttpResponse r = Err(401, "security_exception", "missing or invalid authentication credentials for REST request [" + req.path + "]");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"security\" charset=\"UTF-8\"");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"security\"");
      r.headers.emplace_back("WWW-Authenticate", "ApiKey");
      return r;
    }
    int have = *role == EsToken::Role::kAdmin ? 2 : *role == EsToken::Role::kWriter ? 1 : 0;
    int want = need == Need::kAdmin ? 2 : need == Need::kWrite ? 1 : 0;
    if (have < want) {
      return Err(403, "security_exception",
                 std::string("action [") + req.method + " " + req.path + "] is unauthorized: it needs the " +
                     (want == 2 ? "admin" : "writer") + " role");
    }
    return std::nullopt;
  }

  // ---- index names

  // Expands "a,b*,-b2" to concrete stream names. Missing concrete names: NotFound (unless ignore).
  Result<std::vector<std::string>> Expand(const std::string& expr, const HttpRequest& req) {
    bool ignore_unavailable = req.Param("ignore_unavailable").value_or("false") == "true";
    bool allow_no_indices = req.Param("allow_no_indices").value_or("true") != "false";
    std::vector<std::string> parts;
    size_t p = 0;
    while (p <= expr.size()) {
      size_t c = expr.find(',', p);
      std::string item = expr.substr(p, c == std::string::npos ? std::string::npos : c - p);
      if (!item.empty()) parts.push_back(item);
      if (c == std::string::npos) break;
      p = c + 1;
    }
    if (parts.empty()) parts.push_back("_all");
    std::vector<std::string> all;
    bool listed = false;
    std::set<std::string> out_set;
    std::vector<std::string> out;
    bool any_wild = false;
    for (const auto& part : parts) {
      bool neg = part[0] == '-' && out.size() + out_set.size() > 0;
      std::string pat = neg ? part.substr(1) : part;
      bool wild = pat == "_all" || pat.find_first_of("*?") != std::string::npos;
      if (wild || neg) {
        any_wild = any_wild || wild;
        if (!listed) {
          for (auto& s : store_->ListStreams()) all.push_back(s.name);
          listed = true;
        }
        for (const auto& n : all) {
          bool m = pat == "_all" || ::fnmatch(pat.c_str(), n.c_str(), 0) == 0;
          if (!m) continue;
          if (neg) {
            out_set.erase(n);
          } else if (n[0] != '.' || pat[0] == '.') {
            out_set.insert(n);
          }
        }
      } else {
        if (!store_->HasStream(pat)) {
          if (ignore_unavailable) continue;
          return Status::NotFound(pat);
        }
        out_set.insert(pat);
      }
    }
    out.assign(out_set.begin(), out_set.end());
    if (out.empty() && !allow_no_indices && any_wild) return Status::NotFound(expr);
    return out;
  }

  // ---- templates

  std::string TemplatesPath() const { return o_.data_dir + "/store/es_index_templates.json"; }

  void LoadTemplates() {
    std::ifstream in(TemplatesPath());
    if (!in) return;
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    if (ec || !v.is_object()) {
      log::Warn("store: ignoring unreadable index templates file", {{"path", TemplatesPath()}});
      return;
    }
    for (const auto& kv : v.get_object()) {
      auto t = ParseTemplate(std::string(kv.key()), kv.value());
      if (t.ok()) templates_[t->name] = std::move(*t);
    }
  }

  Status SaveTemplates() {
    json::object all;
    for (const auto& [n, t] : templates_) all[n] = t.body;
    std::string tmp = TemplatesPath() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << json::serialize(all);
      out.flush();
      if (!out) return Status::IOError("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, TemplatesPath(), ec);
    if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
    return Status::Ok();
  }

  Result<IndexTemplate> ParseTemplate(const std::string& name, const json::value& body) {
    if (!body.is_object()) return Status::InvalidArgument("parsing_exception: index template must be an object");
    IndexTemplate t;
    t.name = name;
    t.body = body;
    for (const auto& kv : body.get_object()) {
      std::string k(kv.key());
      if (k == "index_patterns") {
        if (kv.value().is_string()) t.patterns.emplace_back(kv.value().get_string());
        else if (kv.value().is_array()) {
          for (const auto& e : kv.value().get_array()) {
            if (e.is_string()) t.patterns.emplace_back(e.get_string());
          }
        }
      } else if (k == "priority" && kv.value().is_number()) {
        t.priority = kv.value().to_number<int64_t>();
      } else if (k == "template") {
        if (!kv.value().is_object()) return Status::InvalidArgument("parsing_exception: [template] must be an object");
        for (const auto& tk : kv.value().get_object()) {
          if (tk.key() == "settings") {
            if (Status st = SettingsBody(tk.value(), &t.settings); !st.ok()) return st;
          } else if (tk.key() == "mappings") {
            if (Status st = MappingsBody(tk.value(), &t.mapping); !st.ok()) return st;
          } else if (tk.key() == "aliases" && tk.value().is_object() && tk.value().get_object().empty()) {
          } else {
            return Status::InvalidArgument("parsing_exception: template option [" + std::string(tk.key()) + "] is not supported");
          }
        }
      } else if (k == "_meta" || k == "version" || k == "composed_of") {
        if (k == "composed_of" && kv.value().is_array() && !kv.value().get_array().empty()) {
          return Status::InvalidArgument("illegal_argument_exception: component templates ([composed_of]) are not supported");
        }
      } else if (k == "data_stream") {
        return Status::InvalidArgument("illegal_argument_exception: data streams are not supported; indices are streams already");
      } else {
        return Status::InvalidArgument("parsing_exception: index template option [" + k + "] is not supported");
      }
    }
    if (t.patterns.empty()) return Status::InvalidArgument("action_request_validation_exception: index patterns are missing");
    return t;
  }

  // Settings and mapping for a new index: the highest-priority matching template, then the
  // configured retention.
  void NewIndexDefaults(const std::string& index, StreamSettings* s, Mapping* m) {
    const IndexTemplate* best = nullptr;
    {
      std::lock_guard lk(templates_mu_);
      for (const auto& [n, t] : templates_) {
        for (const auto& p : t.patterns) {
          if (::fnmatch(p.c_str(), index.c_str(), 0) == 0 && (!best || t.priority > best->priority)) best = &t;
        }
      }
      if (best) {
        *s = best->settings;
        *m = best->mapping;
      }
    }
    if (s->retention_age.count() == 0) {
      std::string r = o_.retention.count(index) ? o_.retention.at(index) : o_.retention_default;
      if (!r.empty()) {
        auto d = ParseDuration(r);
        if (d.ok()) s->retention_age = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
  }

  Status EnsureIndex(const std::string& index) {
    if (store_->HasStream(index)) return Status::Ok();
    StreamSettings s;
    Mapping m;
    NewIndexDefaults(index, &s, &m);
    Status st = store_->CreateStream(index, s, m.fields.empty() ? nullptr : &m);
    if (st.code() == StatusCode::kAlreadyExists) return Status::Ok();
    return st;
  }

  // ---- dispatch

  HttpResponse Handle(HttpRequest& req) {
    try {
      return Finish(req, Dispatch(req));
    } catch (const std::exception& e) {
      log::Error("store: request failed", {{"path", req.path}, {"error", e.what()}});
      return Finish(req, Err(500, "exception", e.what()));
    }
  }

  // 200 once the store is open and accepting writes; 503 with the reason otherwise (not open
  // yet / closed, or a write-ahead-log error such as a full disk: EventStore::Writable()).
  HttpResponse Ready(HttpRequest& req) {
    Status st = store_ ? store_->Writable() : Status::Unavailable("the store is not open");
    if (st.ok()) return Finish(req, HttpResponse::Json(200, R"({"status":"ready"})"));
    log::Warn("store: not ready", {{"reason", st.ToString()}});
    return Finish(req, HttpResponse::Json(503, json::serialize(json::object{{"status", "not_ready"}, {"reason", st.ToString()}})));
  }

  HttpResponse Metrics(HttpRequest& req) {
    if (auto deny = Authorize(req, Need::kRead)) return Finish(req, *deny);
    UpdateStatsMetrics();
    HttpResponse r = HttpResponse::Text(200, metrics::Registry::Global().Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }

  void UpdateStatsMetrics() {
    if (!store_) return;
    EventStoreStats s = store_->stats();
    std::lock_guard lk(stats_mu_);
    bytes_on_disk_->Set(static_cast<double>(s.bytes_on_disk));
    raw_bytes_->Set(static_cast<double>(s.raw_bytes));
    damaged_->Set(static_cast<double>(s.damaged_blocks));
    if (s.blocks_scanned > last_scanned_) blocks_scanned_->Inc(s.blocks_scanned - last_scanned_);
    if (s.blocks_pruned > last_pruned_) blocks_pruned_->Inc(s.blocks_pruned - last_pruned_);
    last_scanned_ = std::max(last_scanned_, s.blocks_scanned);
    last_pruned_ = std::max(last_pruned_, s.blocks_pruned);
  }

  static std::vector<std::string> Segments(const std::string& path) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p < path.size()) {
      size_t s = path.find('/', p);
      if (s == std::string::npos) s = path.size();
      if (s > p) out.push_back(path.substr(p, s - p));
      p = s + 1;
    }
    return out;
  }

  // Content-Type and Content-Encoding a request may use (Dispatch and the streaming _bulk routes).
  static std::optional<HttpResponse> RefuseMediaTypes(const HttpRequest& req) {
    std::string_view ct = req.Header("Content-Type");
    if (!ct.empty() && ct.find("json") == std::string_view::npos && ct.find("ndjson") == std::string_view::npos &&
        ct.find("text/plain") == std::string_view::npos && ct.find("x-www-form-urlencoded") == std::string_view::npos) {
      return Err(406, "media_type_header_exception", "Content-Type header [" + std::string(ct) + "] is not supported");
    }
    std::string_view ce = req.Header("Content-Encoding");
    if (!ce.empty() && ce != "gzip" && ce != "deflate" && ce != "identity") {
      return Err(400, "illegal_argument_exception", "Content-Encoding [" + std::string(ce) + "] is not supported");
    }
    return std::nullopt;
  }

  HttpResponse Dispatch(HttpRequest& req) {
    if (!store_) return Err(503, "unavailable_shards_exception", "the store is not open");
    if (auto refused = RefuseMediaTypes(req)) return *refused;
    const std::string& m = req.method;
    bool read = m == "GET" || m == "HEAD";
    auto seg = Segments(req.path);
    // Cluster-level endpoints.
    if (seg.empty()) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      return Root();
    }
    const std::string& s0 = seg[0];
    if (s0 == "_cluster" && seg.size() >= 2 && seg[1] == "health" && read) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      return Health();
    }
    if (s0 == "_cat" && seg.size() >= 2 && seg[1] == "indices" && read) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      return CatIndices(req, seg.size() >= 3 ? seg[2] : "*");
    }
    if (s0 == "_index_template" || s0 == "_template") {
      if (auto d = Authorize(req, read ? Need::kRead : Need::kAdmin)) return *d;
      return Template(req, seg.size() >= 2 ? seg[1] : "");
    }
    if (s0 == "_bulk" && (m == "POST" || m == "PUT")) {
      if (auto d = Authorize(req, Need::kWrite)) return *d;
      return Bulk(req, "");
    }
    if (s0 == "_refresh" && (m == "POST" || m == "GET")) {
      if (auto d = Authorize(req, Need::kWrite)) return *d;
      return Refresh({});
    }
    if ((s0 == "_search" || s0 == "_count" || s0 == "_msearch") && (m == "GET" || m == "POST")) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      if (s0 == "_search") return Search(req, "_all");
      if (s0 == "_count") return Count(req, "_all");
      return MSearch(req, "");
    }
    if (s0 == "_mapping" && read) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      return GetMapping(req, "_all");
    }
    if (s0 == "_nodes" || s0 == "_license" || s0 == "_xpack") {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      if (s0 == "_nodes") return HttpResponse::Json(200, R"({"_nodes":{"total":1,"successful":1,"failed":0},"cluster_name":"hakone","nodes":{}})");
    }
    if (s0[0] == '_') {
      return Err(400, "illegal_argument_exception", "no handler found for uri [" + req.path + "] and method [" + m + "]");
    }
    // Index-level endpoints.
    const std::string& index = s0;
    if (seg.size() == 1) {
      if (m == "HEAD") {
        if (auto d = Authorize(req, Need::kRead)) return *d;
        auto e = Expand(index, req);
        HttpResponse r;
        r.status = e.ok() && !e->empty() ? 200 : 404;
        return r;
      }
      if (m == "GET") {
        if (auto d = Authorize(req, Need::kRead)) return *d;
        return GetIndex(req, index);
      }
      if (m == "PUT") {
        if (auto d = Authorize(req, Need::kAdmin)) return *d;
        return CreateIndex(req, index);
      }
      if (m == "DELETE") {
        if (auto d = Authorize(req, Need::kAdmin)) return *d;
        return DeleteIndex(req, index);
      }
      return Err(405, "illegal_argument_exception", "Incorrect HTTP method for uri [" + req.path + "] and method [" + m + "]");
    }
    const std::string& s1 = seg[1];
    if ((s1 == "_search" || s1 == "_count" || s1 == "_msearch") && (m == "GET" || m == "POST")) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      if (s1 == "_search") return Search(req, index);
      if (s1 == "_count") return Count(req, index);
      return MSearch(req, index);
    }
    if (s1 == "_bulk" && (m == "POST" || m == "PUT")) {
      if (auto d = Authorize(req, Need::kWrite)) return *d;
      return Bulk(req, index);
    }
    if (s1 == "_refresh" && (m == "POST" || m == "GET")) {
      if (auto d = Authorize(req, Need::kWrite)) return *d;
      auto e = Expand(index, req);
      if (!e.ok()) return IndexNotFound(e.status().message());
      return Refresh(*e);
    }
    if (s1 == "_mapping" || s1 == "_mappings") {
      if (read) {
        if (auto d = Authorize(req, Need::kRead)) return *d;
        return GetMapping(req, index);
      }
      if (m == "PUT" || m == "POST") {
        if (auto d = Authorize(req, Need::kAdmin)) return *d;
        return PutMapping(req, index);
      }
    }
    if (s1 == "_settings" && read) {
      if (auto d = Authorize(req, Need::kRead)) return *d;
      return GetIndex(req, index, true);
    }
    if (s1 == "_doc" || s1 == "_create") {
      std::string id = seg.size() >= 3 ? seg[2] : "";
      if (seg.size() > 3) return Err(400, "illegal_argument_exception", "no handler found for uri [" + req.path + "]");
      if (read) {
        if (auto d = Authorize(req, Need::kRead)) return *d;
        if (id.empty()) return Err(400, "illegal_argument_exception", "GET _doc needs an id");
        return GetDoc(req, index, id);
      }
      if (auto d = Authorize(req, Need::kWrite)) return *d;
      if (m == "DELETE" && !id.empty()) return DeleteDoc(req, index, id);
      if (m == "PUT" || m == "POST") {
        if (m == "PUT" && id.empty()) return Err(405, "illegal_argument_exception", "PUT /{index}/_doc needs an id; use POST");
        bool create = s1 == "_create" || req.Param("op_type").value_or("") == "create";
        return IndexDoc(req, index, id, create);
      }
    }
    return Err(400, "illegal_argument_exception", "no handler found for uri [" + req.path + "] and method [" + m + "]");
  }

  HttpResponse Root() {
    char host[256] = "hakone";
    ::gethostname(host, sizeof host - 1);
    json::object v{{"name", host},
                   {"cluster_name", "hakone"},
                   {"cluster_uuid", "hakone-single-node"},
                   {"version", json::object{{"number", kVersion},
                                            {"build_flavor", "default"},
                                            {"build_type", "hakone"},
                                            {"build_hash", "hakone-" HAKONE_VERSION},
                                            {"build_date", "2024-01-01T00:00:00.000Z"},
                                            {"build_snapshot", false},
                                            {"lucene_version", "9.8.0"},
                                            {"minimum_wire_compatibility_version", "7.17.0"},
                                            {"minimum_index_compatibility_version", "7.0.0"}}},
                   {"tagline", "You Know, for Search"}};
    return HttpResponse::Json(200, json::serialize(v));
  }

  HttpResponse Health() {
    size_t n = store_->ListStreams().size();
    json::object v{{"cluster_name", "hakone"},
                   {"status", "green"},
                   {"timed_out", false},
                   {"number_of_nodes", 1},
                   {"number_of_data_nodes", 1},
                   {"active_primary_shards", n},
                   {"active_shards", n},
                   {"relocating_shards", 0},
                   {"initializing_shards", 0},
                   {"unassigned_shards", 0},
                   {"delayed_unassigned_shards", 0},
                   {"number_of_pending_tasks", 0},
                   {"number_of_in_flight_fetch", 0},
                   {"task_max_waiting_in_queue_millis", 0},
                   {"active_shards_percent_as_number", 100.0}};
    return HttpResponse::Json(200, json::serialize(v));
  }

  HttpResponse CatIndices(HttpRequest& req, const std::string& pattern) {
    bool as_json = req.Param("format").value_or("") == "json";
    bool verbose = req.Param("v").has_value() && req.Param("v").value() != "false";
    bool raw_bytes = req.Param("bytes").has_value();
    std::vector<StreamInfo> infos;
    for (auto& s : store_->ListStreams()) {
      if (::fnmatch(pattern.c_str(), s.name.c_str(), 0) == 0 || pattern == "_all") infos.push_back(s);
    }
    std::sort(infos.begin(), infos.end(), [](const StreamInfo& a, const StreamInfo& b) { return a.name < b.name; });
    auto size = [&](uint64_t b) { return raw_bytes ? std::to_string(b) : Human(b); };
    if (as_json) {
      json::array arr;
      for (const auto& s : infos) {
        arr.push_back(json::object{{"health", "green"},
                                   {"status", "open"},
                                   {"index", s.name},
                                   {"uuid", s.uuid},
                                   {"pri", std::to_string(s.settings.number_of_shards)},
                                   {"rep", std::to_string(s.settings.number_of_replicas)},
                                   {"docs.count", std::to_string(s.docs)},
                                   {"docs.deleted", std::to_string(s.deleted_docs)},
                                   {"store.size", size(s.bytes_on_disk)},
                                   {"pri.store.size", size(s.bytes_on_disk)}});
      }
      return HttpResponse::Json(200, json::serialize(arr));
    }
    std::vector<std::vector<std::string>> rows;
    if (verbose) rows.push_back({"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size"});
    for (const auto& s : infos) {
      rows.push_back({"green", "open", s.name, s.uuid, std::to_string(s.settings.number_of_shards),
                      std::to_string(s.settings.number_of_replicas), std::to_string(s.docs), std::to_string(s.deleted_docs),
                      size(s.bytes_on_disk), size(s.bytes_on_disk)});
    }
    std::vector<size_t> w(10, 0);
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); i++) w[i] = std::max(w[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); i++) {
        out += r[i];
        if (i + 1 < r.size()) out += std::string(w[i] - r[i].size() + 1, ' ');
      }
      out += "\n";
    }
    return HttpResponse::Text(200, out);
  }

  HttpResponse Template(HttpRequest& req, const std::string& name) {
    if (req.method == "GET" || req.method == "HEAD") {
      std::lock_guard lk(templates_mu_);
      json::array arr;
      for (const auto& [n, t] : templates_) {
        if (name.empty() || ::fnmatch(name.c_str(), n.c_str(), 0) == 0) {
          arr.push_back(json::object{{"name", n}, {"index_template", t.body}});
        }
      }
      if (!name.empty() && arr.empty()) {
        return Err(404, "resource_not_found_exception", "index template matching [" + name + "] not found");
      }
      return HttpResponse::Json(200, json::serialize(json::object{{"index_templates", arr}}));
    }
    if (name.empty()) return Err(400, "illegal_argument_exception", "index template name is missing");
    if (req.method == "DELETE") {
      std::lock_guard lk(templates_mu_);
      if (!templates_.erase(name)) return Err(404, "resource_not_found_exception", "index_template [" + name + "] missing");
      if (Status st = SaveTemplates(); !st.ok()) return Err(st);
      return HttpResponse::Json(200, R"({"acknowledged":true})");
    }
    if (req.method != "PUT" && req.method != "POST") return Err(405, "illegal_argument_exception", "method not allowed");
    boost::system::error_code ec;
    json::value body = json::parse(req.body, ec);
    if (ec) return Err(400, "x_content_parse_exception", "request body is not valid JSON: " + ec.message());
    auto t = ParseTemplate(name, body);
    if (!t.ok()) return Err(t.status());
    std::lock_guard lk(templates_mu_);
    templates_[name] = std::move(*t);
    if (Status st = SaveTemplates(); !st.ok()) return Err(st);
    return HttpResponse::Json(200, R"({"acknowledged":true})");
  }

  HttpResponse CreateIndex(HttpRequest& req, const std::string& index) {
    StreamSettings s;
    Mapping m;
    NewIndexDefaults(index, &s, &m);
    if (!req.body.empty()) {
      boost::system::error_code ec;
      json::value body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return Err(400, "x_content_parse_exception", "request body is not a JSON object");
      for (const auto& kv : body.get_object()) {
        Status st;
        if (kv.key() == "settings") st = SettingsBody(kv.value(), &s);
        else if (kv.key() == "mappings") st = MappingsBody(kv.value(), &m);
        else if (kv.key() == "aliases" && kv.value().is_object() && kv.value().get_object().empty()) {
        } else st = Status::InvalidArgument("parsing_exception: unknown key [" + std::string(kv.key()) + "] for create index");
        if (!st.ok()) return Err(st);
      }
    }
    Status st = store_->CreateStream(index, s, m.fields.empty() ? nullptr : &m);
    if (st.code() == StatusCode::kAlreadyExists) {
      json::object cause{{"type", "resource_already_exists_exception"},
                         {"reason", "index [" + index + "] already exists"},
                         {"index", index}};
      json::object err = cause;
      err["root_cause"] = json::array{cause};
      return HttpResponse::Json(400, json::serialize(json::object{{"error", err}, {"status", 400}}));
    }
    if (st.code() == StatusCode::kInvalidArgument) {
      return Err(400, "invalid_index_name_exception", "Invalid index name [" + index + "], " + st.message());
    }
    if (!st.ok()) return Err(st);
    return HttpResponse::Json(200, json::serialize(json::object{{"acknowledged", true}, {"shards_acknowledged", true}, {"index", index}}));
  }

  HttpResponse DeleteIndex(HttpRequest& req, const std::string& index) {
    auto e = Expand(index, req);
    if (!e.ok()) return IndexNotFound(e.status().message());
    if (e->empty() && index.find_first_of("*?") == std::string::npos) return IndexNotFound(index);
    for (const auto& n : *e) {
      Status st = store_->DeleteStream(n);
      if (!st.ok() && st.code() != StatusCode::kNotFound) return Err(st);
    }
    return HttpResponse::Json(200, R"({"acknowledged":true})");
  }

  HttpResponse GetIndex(HttpRequest& req, const std::string& index, bool settings_only = false) {
    auto e = Expand(index, req);
    if (!e.ok()) return IndexNotFound(e.status().message());
    json::object out;
    for (const auto& n : *e) {
      auto info = store_->GetStream(n);
      if (!info.ok()) continue;
      json::object settings{{"index", json::object{{"number_of_shards", std::to_string(info->settings.number_of_shards)},
                                                   {"number_of_replicas", std::to_string(info->settings.number_of_replicas)},
                                                   {"uuid", info->uuid},
                                                   {"creation_date", std::to_string(info->created_ms)},
                                                   {"provided_name", n},
                                                   {"hakone", json::object{{"time_field", info->settings.time_field}}}}}};
      if (settings_only) {
        out[n] = json::object{{"settings", settings}};
        continue;
      }
      auto mapping = store_->GetMapping(n);
      json::object mj;
      if (mapping.ok()) mj["properties"] = MappingToJson(*mapping);
      out[n] = json::object{{"aliases", json::object()}, {"mappings", mj}, {"settings", settings}};
    }
    return HttpResponse::Json(200, json::serialize(out));
  }

  HttpResponse GetMapping(HttpRequest& req, const std::string& index) {
    auto e = Expand(index, req);
    if (!e.ok()) return IndexNotFound(e.status().message());
    json::object out;
    for (const auto& n : *e) {
      auto mapping = store_->GetMapping(n);
      if (!mapping.ok()) continue;
      out[n] = json::object{{"mappings", json::object{{"properties", MappingToJson(*mapping)}}}};
    }
    return HttpResponse::Json(200, json::serialize(out));
  }

  HttpResponse PutMapping(HttpRequest& req, const std::string& index) {
    auto e = Expand(index, req);
    if (!e.ok()) return IndexNotFound(e.status().message());
    boost::system::error_code ec;
    json::value body = json::parse(req.body, ec);
    if (ec) return Err(400, "x_content_parse_exception", "request body is not valid JSON: " + ec.message());
    Mapping m;
    if (Status st = MappingsBody(body, &m); !st.ok()) return Err(st);
    for (const auto& n : *e) {
      Status st = store_->PutMapping(n, m);
      if (!st.ok()) return Err(st.code() == StatusCode::kInvalidArgument ? Status::InvalidArgument("illegal_argument_exception: " + st.message()) : st);
    }
    return HttpResponse::Json(200, R"({"acknowledged":true})");
  }

  HttpResponse Refresh(const std::vector<std::string>& streams) {
    Status st = store_->Refresh(streams);
    if (!st.ok()) return Err(st);
    return HttpResponse::Json(200, R"({"_shards":{"total":1,"successful":1,"failed":0}})");
  }

  // ---- documents

  static const char* OutcomeName(WriteResult::Outcome o) {
    switch (o) {
      case WriteResult::Outcome::kCreated: return "created";
      case WriteResult::Outcome::kUpdated: return "updated";
      case WriteResult::Outcome::kDeleted: return "deleted";
      case WriteResult::Outcome::kNotFound: return "not_found";
      case WriteResult::Outcome::kNoop: return "noop";
    }
    return "noop";
  }

  // A JSON string literal; the common case (nothing to escape) without building a json::value.
  static std::string JsonStr(const std::string& s) {
    for (unsigned char c : s) {
      if (c < 0x20 || c == '"' || c == '\\') return json::serialize(json::value(s));
    }
    return "\"" + s + "\"";
  }

  static std::string WriteMeta(const std::string& index, const WriteResult& r) {
    std::string o = "{\"_index\":" + JsonStr(index) + ",\"_id\":" + JsonStr(r.id) + ",\"_version\":" + std::to_string(r.version) +
                    ",\"result\":\"" + OutcomeName(r.outcome) + "\",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":" +
                    std::to_string(r.seq_no) + ",\"_primary_term\":1}";
    return o;
  }

  // ?refresh / ?refresh=true: refresh now; ?refresh=wait_for: wait for the next periodic refresh.
  static bool RefreshParam(const HttpRequest& req) {
    auto r = req.Param("refresh");
    return r && (*r == "" || *r == "true");
  }
  static bool WaitForParam(const HttpRequest& req) { return req.Param("refresh").value_or("") == "wait_for"; }
  static std::optional<HttpResponse> BadRefreshParam(const HttpRequest& req) {
    auto r = req.Param("refresh");
    if (!r || *r == "" || *r == "true" || *r == "false" || *r == "wait_for") return std::nullopt;
    return Err(400, "illegal_argument_exception", "Unknown value for refresh: [" + std::string(*r) + "]. Use true, false or wait_for.");
  }

  static EsError ItemError(const Status& st, const std::string& index, const std::string& id) {
    EsError e = es::EsErrorFromStatus(st);
    if (st.code() == StatusCode::kIOError) {
      e.status = 500;
      e.type = "io_exception";
    } else if (st.code() == StatusCode::kAlreadyExists) {
      e.status = 409;
      e.type = "version_conflict_engine_exception";
      e.reason = "[" + id + "]: version conflict, document already exists";
    } else if (st.code() == StatusCode::kInvalidArgument && e.type == "illegal_argument_exception") {
      e.type = "mapper_parsing_exception";
    } else if (st.code() == StatusCode::kNotFound) {
      e.type = "index_not_found_exception";
      e.reason = "no such index [" + index + "]";
    }
    return e;
  }

  HttpResponse IndexDoc(HttpRequest& req, const std::string& index, const std::string& id, bool create) {
    size_t k = 0;
    while (k < req.body.size() && std::isspace(static_cast<unsigned char>(req.body[k]))) k++;
    if (k >= req.body.size() || req.body[k] != '{') return Err(400, "mapper_parsing_exception", "failed to parse: the document must be a JSON object");
    if (auto bad = BadRefreshParam(req)) return *bad;
    if (Status st = EnsureIndex(index); !st.ok()) {
      if (st.code() == StatusCode::kInvalidArgument) return Err(400, "invalid_index_name_exception", "Invalid index name [" + index + "], " + st.message());
      return Err(st);
    }
    WriteItem item;
    item.op = create ? WriteItem::Op::kCreate : WriteItem::Op::kIndex;
    item.stream = index;
    if (!id.empty()) item.id = id;
    item.source_json = std::move(req.body);
    size_t bytes = item.source_json.size();
    std::vector<WriteResult> res;
    Status st = store_->Write({item}, &res, RefreshParam(req));
    if (!st.ok()) return Err(st);
    if (res.empty()) return Err(500, "exception", "the store returned no result");
    if (!res[0].status.ok()) {
      ingest_errors_->Inc();
      return Err(ItemError(res[0].status, index, id));
    }
    ingest_docs_->Inc();
    ingest_bytes_->Inc(bytes);
    if (WaitForParam(req)) {
      if (Status ws = store_->WaitForRefresh({index}); !ws.ok()) return Err(ws);
    }
    HttpResponse r = HttpResponse::Json(res[0].outcome == WriteResult::Outcome::kCreated ? 201 : 200, WriteMeta(index, res[0]));
    r.headers.emplace_back("Location", "/" + index + "/_doc/" + res[0].id);
    return r;
  }

  HttpResponse GetDoc(HttpRequest& req, const std::string& index, const std::string& id) {
    if (!store_->HasStream(index)) return IndexNotFound(index);
    int64_t version = 1;
    uint64_t seq_no = 0;
    auto doc = store_->Get(index, id, &version, &seq_no);
    if (!doc.ok()) return Err(doc.status());
    if (!doc->has_value()) {
      return HttpResponse::Json(404, json::serialize(json::object{{"_index", index}, {"_id", id}, {"found", false}}));
    }
    std::string head = "{\"_index\":" + json::serialize(json::value(index)) + ",\"_id\":" + json::serialize(json::value(id)) +
                       ",\"_version\":" + std::to_string(version) + ",\"_seq_no\":" + std::to_string(seq_no) + ",\"_primary_term\":1,\"found\":true";
    std::string out = head + ",\"_source\":" + **doc + "}";
    if (req.Param("_source").value_or("") == "false") out = head + "}";
    return HttpResponse::Json(200, out);
  }

  HttpResponse DeleteDoc(HttpRequest& req, const std::string& index, const std::string& id) {
    if (!store_->HasStream(index)) return IndexNotFound(index);
    if (auto bad = BadRefreshParam(req)) return *bad;
    WriteItem item;
    item.op = WriteItem::Op::kDelete;
    item.stream = index;
    item.id = id;
    std::vector<WriteResult> res;
    Status st = store_->Write({item}, &res, RefreshParam(req));
    if (!st.ok()) return Err(st);
    if (res.empty()) return Err(500, "exception", "the store returned no result");
    WriteResult r = res[0];
    if (r.id.empty()) r.id = id;
    if (!r.status.ok() && r.status.code() == StatusCode::kNotFound) r.outcome = WriteResult::Outcome::kNotFound;
    else if (!r.status.ok()) return Err(ItemError(r.status, index, id));
    if (WaitForParam(req) && r.status.ok()) {
      if (Status ws = store_->WaitForRefresh({index}); !ws.ok()) return Err(ws);
    }
    return HttpResponse::Json(r.outcome == WriteResult::Outcome::kNotFound ? 404 : 200, WriteMeta(index, r));
  }

  // ---- bulk

  // The per-item results of a _bulk request, in order: kept in memory up to kSpillAt bytes,
  // then moved to an unlinked temporary file in the data dir, so that a response for millions of
  // items costs disk, not memory.
  class BulkItems {
   public:
    static constexpr size_t kSpillAt = 1u << 20;
    explicit BulkItems(std::string dir) : dir_(std::move(dir)) { mem_.reserve(kSpillAt + (1u << 20)); }
    ~BulkItems() {
      if (fd_ >= 0) ::close(fd_);
    }
    BulkItems(const BulkItems&) = delete;
    BulkItems& operator=(const BulkItems&) = delete;

    Status Append(std::string_view s) {
      mem_.append(s);
      return mem_.size() >= kSpillAt ? Spill() : Status::Ok();
    }
    // The response: head + items + tail, from memory or (when spilled) read from the file.
    HttpResponse Response(std::string head, std::string tail) {
      if (fd_ < 0) return HttpResponse::Json(200, head + mem_ + tail);
      auto src = std::make_shared<Source>();
      src->head = std::move(head);
      src->tail = std::move(mem_);
      src->tail += tail;
      src->fd = fd_;
      src->file_bytes = file_bytes_;
      fd_ = -1;
      HttpResponse r = HttpResponse::Json(200, "");
      r.body_source = std::move(src);
      return r;
    }

   private:
    struct Source : HttpBodySource {
      std::string head, tail;
      int fd = -1;
      uint64_t file_bytes = 0, pos = 0;
      ~Source() override {
        if (fd >= 0) ::close(fd);
      }
      uint64_t size() const override { return head.size() + file_bytes + tail.size(); }
      Result<size_t> Read(char* buf, size_t cap) override {
        size_t n = 0;
        if (pos < head.size()) {
          n = std::min(cap, head.size() - pos);
          std::memcpy(buf, head.data() + pos, n);
        } else if (pos < head.size() + file_bytes) {
          uint64_t off = pos - head.size();
          size_t want = static_cast<size_t>(std::min<uint64_t>(cap, file_bytes - off));
          ssize_t got = ::pread(fd, buf, want, static_cast<off_t>(off));
          if (got < 0) return Status::FromErrno("reading the spilled _bulk response", errno);
          if (got == 0) return Status::IOError("the spilled _bulk response file is shorter than written");
          n = static_cast<size_t>(got);
        } else if (pos < size()) {
          uint64_t off = pos - head.size() - file_bytes;
          n = std::min<size_t>(cap, tail.size() - off);
          std::memcpy(buf, tail.data() + off, n);
        }
        pos += n;
        return n;
      }
    };

    Status Spill() {
      if (fd_ < 0) {
        std::string tmpl = dir_ + "/.bulk-response-XXXXXX";
        fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
        if (fd_ < 0) return Status::FromErrno("creating a temporary file for the _bulk response in " + dir_, errno);
        ::unlink(tmpl.c_str());  // gone when closed, crash or not
      }
      std::string_view rest = mem_;
      while (!rest.empty()) {
        ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Status::FromErrno("writing the spilled _bulk response in " + dir_, errno);
        rest.remove_prefix(static_cast<size_t>(n));
      }
      file_bytes_ += mem_.size();
      mem_.clear();
      return Status::Ok();
    }

    std::string dir_;
    std::string mem_;
    int fd_ = -1;
    uint64_t file_bytes_ = 0;
  };

  // One _bulk request. Feed() takes the body as it arrives (raw, gzip-decoded here when the
  // request says so), parses it incrementally and writes a batch (at most kBatchItems items /
  // kBatchBytes) as soon as it is full, so neither the body nor its parsed form is held whole.
  // Complete() after the whole body. Not thread safe; one caller at a time.
  class BulkRun {
   public:
    static constexpr size_t kBatchItems = 2000;
    static constexpr size_t kBatchBytes = 8u << 20;
    static constexpr size_t kSlice = 256u << 10;

    BulkRun(EsApi& api, const HttpRequest& req, const std::string& default_index)
        : api_(api), refresh_(RefreshParam(req)), wait_for_(WaitForParam(req)), parser_(default_index), items_(api.o_.data_dir) {
      std::string_view ce = req.Header("Content-Encoding");
      if (ce == "gzip" || ce == "deflate") inflater_ = std::make_unique<es::Inflater>();
    }

    // Fatal errors only (a malformed action line, corrupt gzip, an I/O error writing the
    // response); per-item problems become per-item results.
    Status Feed(std::string_view raw) {
      if (inflater_) return inflater_->Feed(raw, [this](std::string_view plain) { return FeedPlain(plain); });
      return FeedPlain(raw);
    }

    HttpResponse Complete() {
      if (inflater_) {
        if (Status st = inflater_->Finish(); !st.ok()) return Fatal(st);
      }
      if (Status st = parser_.Finish(&actions_); !st.ok()) return Fatal(st);
      if (Status st = Flush(); !st.ok()) return Fatal(st);
      if (first_) return Err(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
      if (wait_for_) {
        std::vector<std::string> wait;
        for (const auto& n : written_)
          if (api_.store_->HasStream(n)) wait.push_back(n);
        if (Status ws = api_.store_->WaitForRefresh(wait); !ws.ok() && ws.code() != StatusCode::kNotFound) return Err(ws);
      }
      auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_).count();
      api_.bulk_lat_->Observe(static_cast<double>(took) / 1000.0);
      std::string head = "{\"took\":" + std::to_string(took) + ",\"errors\":" + (errors_ ? "true" : "false") + ",\"items\":[";
      return items_.Response(std::move(head), "]}");
    }

    HttpResponse Fatal(const Status& st) {
      // Batches already written are durable; say how far we got.
      EsError e = es::EsErrorFromStatus(st);
      if (st.code() == StatusCode::kIOError) {
        e.status = 500;
        e.type = "io_exception";
      }
      if (!first_) e.reason += " (items before this point were written and acknowledged in earlier batches of this request: " + std::to_string(parser_.lines()) + " lines read)";
      return Err(e);
    }

    uint64_t lines() const { return parser_.lines(); }
    bool wrote_any() const { return !first_; }

   private:
    Status FeedPlain(std::string_view data) {
      // In slices, so that a batch never grows far past its limits.
      for (size_t q = 0; q < data.size(); q += kSlice) {
        std::string_view slice = data.substr(q, kSlice);
        if (Status st = parser_.Feed(slice, &actions_); !st.ok()) return st;
        batch_bytes_ += slice.size();
        if (actions_.size() >= kBatchItems || batch_bytes_ >= kBatchBytes) {
          if (Status st = Flush(); !st.ok()) return st;
          batch_bytes_ = 0;
        }
      }
      return Status::Ok();
    }

    Status Flush() {
      if (actions_.empty()) return Status::Ok();
      std::vector<WriteItem> items;
      items.reserve(actions_.size());
      for (size_t i = 0; i < actions_.size(); i++) {
        auto& a = actions_[i];
        if (!a.error_type.empty()) continue;
        if (!known_.count(a.item.stream)) {
          Status st = a.item.op == WriteItem::Op::kDelete ? Status::Ok() : api_.EnsureIndex(a.item.stream);
          if (!st.ok()) {
            a.error_status = 400;
            a.error_type = st.code() == StatusCode::kInvalidArgument ? "invalid_index_name_exception" : es::EsErrorFromStatus(st).type;
            a.error_reason = "Invalid index name [" + a.item.stream + "], " + st.message();
            continue;
          }
          known_.insert(a.item.stream);
        }
        items.push_back(std::move(a.item));
      }
      std::vector<WriteResult> res;
      uint64_t bytes = 0;
      for (const auto& it : items) bytes += it.source_json.size();
      if (!items.empty()) {
        Status st = api_.store_->Write(items, &res, refresh_);
        if (!st.ok()) {
          // Nothing in this batch is acknowledged (e.g. the disk is full): every item says so,
          // and later batches of the request are still tried (space may free up).
          res.assign(items.size(), WriteResult{});
          for (size_t k = 0; k < items.size(); k++) {
            res[k].status = st;
            res[k].id = items[k].id.value_or("");
          }
        }
        for (const auto& it : items) written_.insert(it.stream);
        if (res.size() != items.size()) return Status::Internal("the store returned " + std::to_string(res.size()) + " results for " + std::to_string(items.size()) + " items");
      }
      size_t ri = 0;
      uint64_t ok_docs = 0;
      std::string out;
      out.reserve(actions_.size() * 160);
      for (size_t i = 0; i < actions_.size(); i++) {
        auto& a = actions_[i];
        if (!first_) out += ",";
        first_ = false;
        if (!a.error_type.empty()) {
          errors_ = true;
          api_.ingest_errors_->Inc();
          json::object o{{"_index", a.item.stream},
                         {"_id", a.item.id.value_or("")},
                         {"status", a.error_status},
                         {"error", json::object{{"type", a.error_type}, {"reason", a.error_reason}}}};
          out += "{" + json::serialize(json::value(a.op)) + ":" + json::serialize(o) + "}";
          continue;
        }
        const WriteItem& it = items[ri];
        const WriteResult& r = res[ri];
        ri++;
        if (!r.status.ok() && !(it.op == WriteItem::Op::kDelete && r.status.code() == StatusCode::kNotFound)) {
          errors_ = true;
          api_.ingest_errors_->Inc();
          EsError e = ItemError(r.status, it.stream, it.id.value_or(r.id));
          json::object o{{"_index", it.stream},
                         {"_id", it.id.value_or(r.id)},
                         {"status", e.status},
                         {"error", json::object{{"type", e.type}, {"reason", e.reason}}}};
          out += "{" + json::serialize(json::value(a.op)) + ":" + json::serialize(o) + "}";
          continue;
        }
        WriteResult rr = r;
        if (rr.id.empty()) rr.id = it.id.value_or("");
        int status = 200;
        if (it.op == WriteItem::Op::kDelete) {
          if (!r.status.ok() || rr.outcome == WriteResult::Outcome::kNotFound) {
            rr.outcome = WriteResult::Outcome::kNotFound;
            status = 404;
          }
        } else {
          ok_docs++;
          status = rr.outcome == WriteResult::Outcome::kCreated ? 201 : 200;
        }
        std::string meta = WriteMeta(it.stream, rr);
        meta.pop_back();
        out += "{" + JsonStr(a.op) + ":" + meta + ",\"status\":" + std::to_string(status) + "}}";
      }
      api_.ingest_docs_->Inc(ok_docs);
      api_.ingest_bytes_->Inc(bytes);
      actions_.clear();
      return items_.Append(out);
    }

    EsApi& api_;
    bool refresh_, wait_for_;
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
    es::BulkParser parser_;
    std::unique_ptr<es::Inflater> inflater_;
    BulkItems items_;
    bool errors_ = false;
    bool first_ = true;  // no item result yet
    std::vector<es::BulkAction> actions_;
    std::set<std::string> known_;    // streams checked/created in this request
    std::set<std::string> written_;  // streams written to (for ?refresh=wait_for)
    size_t batch_bytes_ = 0;
  };

  // A buffered _bulk (the body is in req.body): reached only by paths the streaming routes do
  // not match, such as "/_bulk/".
  HttpResponse Bulk(HttpRequest& req, const std::string& default_index) {
    if (auto bad = BadRefreshParam(req)) return *bad;
    BulkRun run(*this, req, default_index);
    if (Status st = run.Feed(req.body); !st.ok()) return run.Fatal(st);
    return run.Complete();
  }

  // What Dispatch() checks before a _bulk, for the streaming routes (which bypass it), plus the
  // default index from the path. A response means: refuse without reading the body.
  std::optional<HttpResponse> BulkPrecheck(const HttpRequest& req, std::string* default_index) {
    if (!store_) return Err(503, "unavailable_shards_exception", "the store is not open");
    if (auto refused = RefuseMediaTypes(req)) return *refused;
    auto seg = Segments(req.path);
    if (seg.size() == 2) {
      if (seg[0][0] == '_') return Err(400, "illegal_argument_exception", "no handler found for uri [" + req.path + "] and method [" + req.method + "]");
      *default_index = seg[0];
    }
    if (auto d = Authorize(req, Need::kWrite)) return *d;
    if (auto bad = BadRefreshParam(req)) return *bad;
    return std::nullopt;
  }

  template <typename F>
  asio::awaitable<std::invoke_result_t<F>> RunOnPool(F f) {
    using R = std::invoke_result_t<F>;
    co_return co_await asio::co_spawn(pool_, [f]() mutable -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
  }

  // POST|PUT /_bulk and /{index}/_bulk: the body is read from the socket as it arrives (about
  // 1 MiB at a time, parsed and written on the store pool meanwhile nothing more is read), so
  // memory stays bounded whatever the body size. If the body does not arrive whole (the client
  // disconnects, a timeout, over max_body) the request fails: batches written before stay in the
  // store, but nothing of the request is acknowledged and the incomplete last line is never
  // parsed. After a fatal error (malformed action line), the rest of the body is read and
  // discarded so that the client, still sending, gets the 400.
  asio::awaitable<HttpResponse> BulkStream(HttpRequest& req, HttpServer::BodyStream& body) {
    std::string default_index;
    if (auto refused = BulkPrecheck(req, &default_index)) co_return Finish(req, std::move(*refused));
    auto run = std::make_shared<BulkRun>(*this, req, default_index);
    std::optional<HttpResponse> fatal;
    std::string pending;
    constexpr size_t kHop = 1u << 20;
    pending.reserve(kHop + (64u << 10));
    for (;;) {
      auto piece = co_await body.Read();
      if (!piece.ok()) {
        const Status& st = piece.status();
        log::Warn("store: _bulk body not received whole; the request fails",
                  {{"error", st.ToString()}, {"bytes", body.bytes_read()}, {"lines", run->lines()}});
        int code = st.code() == StatusCode::kResourceExhausted ? 413 : st.code() == StatusCode::kTimeout ? 408 : 400;
        std::string type = code == 413 ? "content_too_long_exception" : code == 408 ? "timeout_exception" : "parse_exception";
        co_return Finish(req, Err(code, type, "the _bulk request body did not arrive whole: " + st.message() +
                                                  "; nothing of this request is acknowledged"));
      }
      bool end = piece->empty();
      if (fatal) {
        if (end) break;
        continue;  // drain
      }
      pending.append(*piece);
      if (pending.size() >= kHop || (end && !pending.empty())) {
        BulkRun* rp = run.get();
        const std::string* pp = &pending;
        Status st = co_await RunOnPool([rp, pp] { return rp->Feed(*pp); });
        pending.clear();
        if (!st.ok()) fatal = run->Fatal(st);
      }
      if (end) break;
    }
    if (fatal) co_return Finish(req, std::move(*fatal));
    BulkRun* rp = run.get();
    HttpResponse res = co_await RunOnPool([rp] { return rp->Complete(); });
    co_return Finish(req, std::move(res));
  }

  // ---- search

  static std::string RenderSearch(const SearchResult& r, int64_t took, bool total_as_int, bool with_total, bool with_sort) {
    std::string out;
    out.reserve(1024 + r.hits.size() * 256);
    out += "{\"took\":" + std::to_string(took) +
           ",\"timed_out\":false,\"_shards\":{\"total\":1,\"successful\":1,\"skipped\":0,\"failed\":0},\"hits\":{";
    if (with_total) {
      if (total_as_int) out += "\"total\":" + std::to_string(r.total) + ",";
      else
        out += "\"total\":{\"value\":" + std::to_string(r.total) + ",\"relation\":\"" + (r.total_is_lower_bound ? "gte" : "eq") + "\"},";
    }
    out += "\"max_score\":";
    out += r.max_score ? Num(*r.max_score) : "null";
    out += ",\"hits\":[";
    for (size_t i = 0; i < r.hits.size(); i++) {
      const SearchHit& h = r.hits[i];
      if (i) out += ",";
      out += "{\"_index\":" + json::serialize(json::value(h.stream)) + ",\"_id\":" + json::serialize(json::value(h.id)) +
             ",\"_score\":";
      out += r.max_score ? Num(h.score) : "null";
      if (!h.source_json.empty()) out += ",\"_source\":" + h.source_json;
      if (with_sort && !h.sort_values.empty()) {
        out += ",\"sort\":[";
        for (size_t k = 0; k < h.sort_values.size(); k++) {
          if (k) out += ",";
          out += ValueJson(h.sort_values[k]);
        }
        out += "]";
      }
      out += "}";
    }
    out += "]}";
    if (!r.aggregations_json.empty()) out += ",\"aggregations\":" + r.aggregations_json;
    out += "}";
    return out;
  }

  // One search; *status gets the HTTP status. Returns the body.
  std::string SearchOne(const std::string& index, std::string_view body, const std::vector<std::pair<std::string, std::string>>& params,
                        const HttpRequest& req, int* status) {
    auto t0 = std::chrono::steady_clock::now();
    auto sp = es::ParseSearch(body, params);
    if (!sp.ok()) {
      EsError e = es::EsErrorFromStatus(sp.status());
      *status = e.status;
      return es::EsErrorJson(e);
    }
    auto e = Expand(index, req);
    if (!e.ok()) {
      *status = 404;
      return IndexNotFound(e.status().message()).body;
    }
    sp->req.streams = *e;
    SearchResult r;
    if (!sp->req.streams.empty()) {
      auto res = store_->Search(sp->req);
      if (!res.ok()) {
        if (res.status().code() == StatusCode::kNotFound) {
          *status = 404;
          return IndexNotFound(res.status().message()).body;
        }
        EsError er = es::EsErrorFromStatus(res.status());
        if (er.status == 500) log::Error("store: search failed", {{"error", res.status().ToString()}});
        *status = er.status;
        return es::EsErrorJson(er);
      }
      r = std::move(*res);
    } else if (!sp->req.aggs.empty()) {
      r.aggregations_json = "{}";
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    search_lat_->Observe(secs);
    if (r.blocks_scanned || r.blocks_pruned) UpdateStatsMetrics();
    *status = 200;
    return RenderSearch(r, static_cast<int64_t>(secs * 1000), sp->rest_total_hits_as_int, sp->req.track_total_hits != 0,
                        !sp->req.sort.empty());
  }

  HttpResponse Search(HttpRequest& req, const std::string& index) {
    int status = 200;
    std::string body = SearchOne(index, req.body, req.Params(), req, &status);
    return HttpResponse::Json(status, std::move(body));
  }

  HttpResponse Count(HttpRequest& req, const std::string& index) {
    auto t0 = std::chrono::steady_clock::now();
    auto q = es::ParseCount(req.body, req.Params());
    if (!q.ok()) return Err(q.status());
    auto e = Expand(index, req);
    if (!e.ok()) return IndexNotFound(e.status().message());
    uint64_t n = 0;
    if (!e->empty()) {
      auto c = store_->Count(*e, *q);
      if (!c.ok()) return c.status().code() == StatusCode::kNotFound ? IndexNotFound(c.status().message()) : Err(c.status());
      n = *c;
    }
    count_lat_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return HttpResponse::Json(200, "{\"count\":" + std::to_string(n) + ",\"_shards\":{\"total\":1,\"successful\":1,\"skipped\":0,\"failed\":0}}");
  }

  HttpResponse MSearch(HttpRequest& req, const std::string& default_index) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string_view> lines;
    std::string_view b = req.body;
    size_t p = 0;
    while (p < b.size()) {
      size_t nl = b.find('\n', p);
      if (nl == std::string_view::npos) nl = b.size();
      std::string_view line = b.substr(p, nl - p);
      bool blank = true;
      for (char c : line) blank = blank && std::isspace(static_cast<unsigned char>(c));
      if (!blank) lines.push_back(line);
      p = nl + 1;
    }
    if (lines.empty()) return Err(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
    if (lines.size() % 2) return Err(400, "illegal_argument_exception", "_msearch: the last header line has no body line");
    auto base = req.Params();
    std::string out = "{\"took\":";
    std::string responses;
    for (size_t i = 0; i < lines.size(); i += 2) {
      boost::system::error_code ec;
      json::value h = json::parse(lines[i], ec);
      if (ec || !h.is_object()) return Err(400, "illegal_argument_exception", "_msearch: header line " + std::to_string(i + 1) + " is not a JSON object");
      std::string index = default_index;
      auto params = base;
      for (const auto& kv : h.get_object()) {
        if (kv.key() == "index") {
          if (kv.value().is_string()) index = std::string(kv.value().get_string());
          else if (kv.value().is_array()) {
            index.clear();
            for (const auto& e : kv.value().get_array()) {
              if (!e.is_string()) continue;
              if (!index.empty()) index += ",";
              index += std::string(e.get_string());
            }
          }
        } else if (kv.key() == "ignore_unavailable" || kv.key() == "allow_no_indices") {
          params.emplace_back(std::string(kv.key()), kv.value().is_bool() ? (kv.value().get_bool() ? "true" : "false") : "");
        } else if (kv.key() == "search_type" || kv.key() == "preference" || kv.key() == "request_cache" || kv.key() == "routing" ||
                   kv.key() == "expand_wildcards") {
        } else {
          return Err(400, "illegal_argument_exception", "_msearch: header key [" + std::string(kv.key()) + "] is not supported");
        }
      }
      if (index.empty()) index = "_all";
      int status = 200;
      HttpRequest sub;
      sub.query = req.query;
      for (const auto& [k, v] : params) {
        if (k == "ignore_unavailable" || k == "allow_no_indices") sub.query += "&" + k + "=" + v;
      }
      std::string body = SearchOne(index, lines[i + 1], params, sub, &status);
      if (!responses.empty()) responses += ",";
      body.pop_back();
      responses += body + ",\"status\":" + std::to_string(status) + "}";
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    msearch_lat_->Observe(static_cast<double>(took) / 1000.0);
    out += std::to_string(took) + ",\"responses\":[" + responses + "]}";
    return HttpResponse::Json(200, std::move(out));
  }

  Runtime& rt_;
  EsApiOptions o_;
  asio::thread_pool pool_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<EventStore> store_;
  std::mutex templates_mu_;
  std::map<std::string, IndexTemplate> templates_;
  std::mutex stats_mu_;
  uint64_t last_scanned_ = 0, last_pruned_ = 0;
  metrics::Counter *ingest_docs_, *ingest_bytes_, *ingest_errors_, *blocks_scanned_, *blocks_pruned_;
  metrics::Histogram *search_lat_, *count_lat_, *msearch_lat_, *bulk_lat_;
  metrics::Gauge *bytes_on_disk_, *raw_bytes_, *damaged_;
};

}  // namespace

EsApiOptions EsApiOptionsFromConfig(const Config& cfg) {
  EsApiOptions o;
  ConfigSection s = cfg.Section("store");
  o.listen = s.String("listen", o.listen);
  o.data_dir = s.String("data_dir", cfg.Root().String("data_dir", o.data_dir));
  o.max_body = s.Size("max_body", o.max_body);
  o.threads = static_cast<int>(s.Int("threads", o.threads));
  if (o.threads < 1 || o.threads > 256) s.Fail("threads", "must be between 1 and 256");
  o.store.refresh_interval = std::chrono::duration_cast<std::chrono::milliseconds>(s.Duration("refresh_interval", o.store.refresh_interval));
  o.store.wal_max_bytes = s.Size("wal_max_bytes", o.store.wal_max_bytes);
  o.store.zstd_level = static_cast<int>(s.Int("zstd_level", o.store.zstd_level));
  o.store.auto_create_streams = s.Bool("auto_create_index", o.store.auto_create_streams);
  if (s.Has("retention")) {
    ConfigSection r = s.Section("retention");
    for (const auto& k : r.Keys()) {
      std::string v = r.String(k, "");
      if (!ParseDuration(v).ok()) r.Fail(k, "must be a duration such as 30d");
      if (k == "default") o.retention_default = v;
      else o.retention[k] = v;
    }
  }
  // [[store.tokens]], or else the shared [auth] tokens.
  std::vector<ConfigSection> tokens = s.SectionArray("tokens");
  if (tokens.empty() && cfg.HasSection("auth")) tokens = cfg.Section("auth").SectionArray("tokens");
  for (const auto& t : tokens) {
    EsToken tok;
    tok.name = t.String("name", "");
    std::string secret = t.String("token", "");
    std::string file = t.String("token_file", "");
    if (!file.empty()) {
      std::ifstream in(file);
      if (!in) {
        t.Fail("token_file", "cannot read " + file);
      } else {
        std::getline(in, secret);
      }
    }
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
    if (secret.size() < 16) t.Fail(file.empty() ? "token" : "token_file", "a token of at least 16 characters is required");
    tok.token = secret;
    std::string role = t.String("role", "reader");
    if (role == "reader") tok.role = EsToken::Role::kReader;
    else if (role == "writer") tok.role = EsToken::Role::kWriter;
    else if (role == "admin") tok.role = EsToken::Role::kAdmin;
    else t.Fail("role", "must be reader, writer or admin");
    if (tok.name.empty()) t.Fail("name", "is required (the Basic auth user name / ApiKey id)");
    o.tokens.push_back(tok);
  }
  return o;
}

std::unique_ptr<Component> MakeEsApi(Runtime& rt, EsApiOptions opts) { return std::make_unique<EsApi>(rt, std::move(opts)); }

}  // namespace hakone::store
