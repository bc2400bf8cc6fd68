// `hakone serve`'s store component, `hakone search reindex`, `hakone logs search|tail`.
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/http_client.h"
#include "core/runtime.h"
#include "core/units.h"
#include "core/url.h"
#include "store/es_api.h"

namespace hakone::app {
namespace json = boost::json;

Status AddStoreComponent(Runtime& rt, const Config& cfg, bool no_config, const StoreServeFlags& flags,
                         std::vector<std::unique_ptr<Component>>* comps) {
  if (!no_config && !cfg.HasSection("store") && flags.listen.empty() && flags.data_dir.empty()) return Status::Ok();
  store::EsApiOptions o = store::EsApiOptionsFromConfig(cfg);
  if (!flags.listen.empty()) o.listen = flags.listen;
  if (!flags.data_dir.empty()) o.data_dir = flags.data_dir;
  comps->push_back(store::MakeEsApi(rt, std::move(o)));
  return Status::Ok();
}

namespace {

// ---------------------------------------------------------------------------------------------
// A small blocking ES client for the CLIs.

struct Endpoint {
  std::string base;   // "http://host:port"
  std::string index;  // "" when the URL has no path
};

Result<Endpoint> SplitUrl(const std::string& url) {
  auto p = ParseUrl(url);
  if (!p.ok()) return p.status();
  if (p->scheme != "http") return Status::InvalidArgument(url + ": only http:// URLs are supported");
  Endpoint e;
  std::string target = p->target;
  size_t q = target.find('?');
  if (q != std::string::npos) target = target.substr(0, q);
  while (!target.empty() && target.back() == '/') target.pop_back();
  if (!target.empty() && target[0] == '/') target = target.substr(1);
  if (target.find('/') != std::string::npos) return Status::InvalidArgument(url + ": expected http://host:port[/index]");
  e.index = target;
  std::string userinfo = p->userinfo.empty() ? "" : p->userinfo + "@";
  e.base = "http://" + userinfo + p->HostPort();
  return e;
}

struct Client {
  std::string base;
  std::string token;
  Result<HttpClient::Response> Call(const std::string& method, const std::string& path, const std::string& body = "",
                                     const std::string& ctype = "application/json") {
    std::vector<std::pair<std::string, std::string>> h;
    if (!body.empty()) h.emplace_back("Content-Type", ctype);
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return HttpFetch(method, base + path, h, body, std::chrono::seconds(120));
  }
  // Calls and parses a JSON object answer; non-2xx → error naming the call.
  Result<json::value> Json(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::string& ctype = "application/json") {
    auto r = Call(method, path, body, ctype);
    if (!r.ok()) return r.status().WithContext(method + " " + path);
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (r->status / 100 != 2) {
      std::string reason = r->body.substr(0, 500);
      if (!ec && v.is_object() && v.get_object().contains("error")) reason = json::serialize(v.at("error")).substr(0, 500);
      return Status(r->status == 404 ? StatusCode::kNotFound : StatusCode::kIOError,
                    method + " " + path + ": HTTP " + std::to_string(r->status) + ": " + reason);
    }
    if (ec) return Status::IOError(method + " " + path + ": response is not JSON");
    return v;
  }
};

std::string Enc(const std::string& s) { return PercentEncode(s); }

// ---------------------------------------------------------------------------------------------
// 1.x mapping translation

// Translates one 1.x field definition (recursing into objects); notes each change.
json::value TranslateField(const std::string& path, const json::object& f, std::vector<std::string>* notes) {
  json::object out;
  if (auto* props = f.if_contains("properties")) {
    json::object p;
    if (props->is_object()) {
      for (const auto& kv : props->get_object()) {
        if (kv.value().is_object()) p[kv.key()] = TranslateField(path + "." + std::string(kv.key()), kv.value().get_object(), notes);
      }
    }
    out["properties"] = p;
    return out;
  }
  std::string type = f.contains("type") && f.at("type").is_string() ? std::string(f.at("type").get_string()) : "object";
  std::string index = f.contains("index") && f.at("index").is_string() ? std::string(f.at("index").get_string()) : "analyzed";
  if (type == "string") {
    if (index == "not_analyzed") {
      out["type"] = "keyword";
      notes->push_back(path + ": string not_analyzed -> keyword");
    } else if (index == "no") {
      out["type"] = "keyword";
      notes->push_back(path + ": string index:no -> keyword (now searchable)");
    } else {
      out["type"] = "text";
      out["fields"] = json::object{{"keyword", json::object{{"type", "keyword"}, {"ignore_above", 256}}}};
      notes->push_back(path + ": string analyzed -> text + keyword sub-field");
    }
  } else if (type == "integer" || type == "short" || type == "byte" || type == "long") {
    out["type"] = "long";
    if (type != "long") notes->push_back(path + ": " + type + " -> long");
  } else if (type == "float" || type == "double") {
    out["type"] = "double";
    if (type != "double") notes->push_back(path + ": " + type + " -> double");
  } else if (type == "date" || type == "boolean") {
    out["type"] = type;
  } else {
    out["type"] = "keyword";
    notes->push_back(path + ": type " + type + " has no equivalent -> keyword");
  }
  for (const auto& kv : f) {
    std::string k(kv.key());
    if (k == "type" || k == "index" || k == "properties") continue;
    if (k == "fields") {
      notes->push_back(path + ": multi-fields dropped (a keyword sub-field is added for text)");
    } else {
      notes->push_back(path + ": option " + k + " dropped");
    }
  }
  return out;
}

// {"mappings": {...}} of one index from GET /{index}/_mapping (any version) → 8.x mappings.
// multi_type: set when several 1.x types were merged (documents then get a "type" field).
json::object TranslateMappings(const json::value& index_mappings, bool from_1x, std::vector<std::string>* notes, bool* multi_type) {
  *multi_type = false;
  json::object out;
  if (!index_mappings.is_object()) return out;
  const json::object& m = index_mappings.get_object();
  if (!from_1x) {
    if (auto* props = m.if_contains("properties")) out["properties"] = *props;
    return out;
  }
  json::object props;
  std::vector<std::string> types;
  for (const auto& kv : m) {
    if (!kv.value().is_object()) continue;
    types.emplace_back(kv.key());
  }
  if (types.size() > 1) {
    *multi_type = true;
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    notes->push_back("types [" + list + "] merged into one; each document gets a keyword field \"type\" with its 1.x type");
    props["type"] = json::object{{"type", "keyword"}};
  }
  for (const auto& t : types) {
    const json::object& tm = m.at(t).get_object();
    for (const auto& kv : tm) {
      std::string k(kv.key());
      if (k == "properties") {
        if (!kv.value().is_object()) continue;
        for (const auto& f : kv.value().get_object()) {
          if (!f.value().is_object()) continue;
          std::string fname(f.key());
          if (props.contains(fname)) {
            notes->push_back(t + "." + fname + ": already defined by another type, first definition kept");
            continue;
          }
          props[fname] = TranslateField(fname, f.value().get_object(), notes);
        }
      } else if (k == "_all") {
        notes->push_back(t + ": _all dropped (query_string without a field searches every field)");
      } else if (k == "_timestamp" || k == "_ttl") {
        notes->push_back(t + ": " + k + " removed (use an @timestamp field and retention)");
      } else {
        notes->push_back(t + ": " + k + " dropped");
      }
    }
  }
  out["properties"] = props;
  return out;
}

// ---------------------------------------------------------------------------------------------
// reindex

struct Checkpoint {
  uint64_t copied = 0;
  json::value search_after;  // null until the first batch
  bool done = false;
};

Checkpoint LoadCheckpoint(const std::string& path) {
  Checkpoint c;
  std::ifstream in(path);
  if (!in) return c;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return c;
  if (auto* n = v.get_object().if_contains("copied"); n && n->is_number()) c.copied = n->to_number<uint64_t>();
  if (auto* s = v.get_object().if_contains("search_after")) c.search_after = *s;
  if (auto* d = v.get_object().if_contains("done"); d && d->is_bool()) c.done = d->get_bool();
  return c;
}

void SaveCheckpoint(const std::string& path, const Checkpoint& c) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json::serialize(json::object{{"copied", c.copied}, {"search_after", c.search_after}, {"done", c.done}});
  }
  std::rename(tmp.c_str(), path.c_str());
}

void Progress(uint64_t done, uint64_t total, bool tty) {
  int width = 30;
  double frac = total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 1.0;
  int fill = static_cast<int>(frac * width);
  std::fprintf(stderr, "%s[%s%s] %llu/%llu docs %3d%%%s", tty ? "\r" : "", std::string(fill, '=').c_str(),
               std::string(width - fill, ' ').c_str(), static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               static_cast<int>(frac * 100), tty ? "" : "\n");
  std::fflush(stderr);
}

Result<uint64_t> CountOf(Client& c, const std::string& index) {
  auto v = c.Json("GET", "/" + Enc(index) + "/_count");
  if (!v.ok()) return v.status();
  if (!v->is_object() || !v->get_object().contains("count")) return Status::IOError("_count: no count in the answer");
  return v->at("count").to_number<uint64_t>();
}

// Sends one _bulk; returns an error if the request failed or any item failed.
Status SendBulk(Client& to, const std::string& body) {
  auto v = to.Json("POST", "/_bulk", body, "application/x-ndjson");
  if (!v.ok()) return v.status();
  if (v->at("errors").as_bool()) {
    for (const auto& it : v->at("items").as_array()) {
      const auto& o = it.as_object().begin()->value().as_object();
      if (o.contains("error")) return Status::IOError("_bulk item failed: " + json::serialize(o.at("error")));
    }
  }
  return Status::Ok();
}

int ReindexOne(Client& from, Client& to, const std::string& src, const std::string& dst, bool from_1x, int64_t batch,
               const std::string& checkpoint_path) {
  bool tty = ::isatty(2);
  // Which protocol does the source speak?
  auto root = from.Json("GET", "/");
  if (!root.ok()) {
    std::fprintf(stderr, "hakone search reindex: source: %s\n", root.status().message().c_str());
    return 1;
  }
  std::string version = root->at_pointer("/version/number").is_string() ? std::string(root->at_pointer("/version/number").get_string()) : "";
  bool is_hakone = root->get_object().contains("version") && root->at_pointer("/version").get_object().contains("build_type") &&
                   root->at_pointer("/version/build_type") == json::value("hakone");
  int major = version.empty() ? 0 : std::atoi(version.c_str());
  std::printf("source %s: version %s%s; destination index %s\n", src.c_str(), version.c_str(), is_hakone ? " (hakone)" : "", dst.c_str());

  // Mapping.
  auto mv = from.Json("GET", "/" + Enc(src) + "/_mapping");
  if (!mv.ok()) {
    std::fprintf(stderr, "hakone search reindex: %s\n", mv.status().message().c_str());
    return 1;
  }
  json::value index_mappings;
  if (mv->is_object()) {
    for (const auto& kv : mv->get_object()) {
      if (kv.value().is_object() && kv.value().get_object().contains("mappings")) index_mappings = kv.value().at("mappings");
    }
  }
  std::vector<std::string> notes;
  bool multi_type = false;
  json::object mappings = TranslateMappings(index_mappings, from_1x, &notes, &multi_type);
  for (const auto& n : notes) std::printf("mapping: %s\n", n.c_str());

  Checkpoint cp = LoadCheckpoint(checkpoint_path);
  if (cp.done) {
    std::printf("checkpoint %s says this copy is complete; delete it to copy again\n", checkpoint_path.c_str());
  }
  auto head = to.Call("HEAD", "/" + Enc(dst));
  if (!head.ok()) {
    std::fprintf(stderr, "hakone search reindex: destination: %s\n", head.status().message().c_str());
    return 1;
  }
  if (head->status == 404) {
    auto cr = to.Json("PUT", "/" + Enc(dst), json::serialize(json::object{{"mappings", mappings}}));
    if (!cr.ok()) {
      std::fprintf(stderr, "hakone search reindex: create %s: %s\n", dst.c_str(), cr.status().message().c_str());
      return 1;
    }
    std::printf("created %s\n", dst.c_str());
  } else if (cp.copied == 0) {
    std::printf("destination %s exists; documents with the same _id are overwritten\n", dst.c_str());
  }

  auto total = CountOf(from, src);
  if (!total.ok()) {
    std::fprintf(stderr, "hakone search reindex: %s\n", total.status().message().c_str());
    return 1;
  }
  uint64_t copied = cp.done ? *total : cp.copied;
  if (!cp.done) {
    bool use_scroll = !is_hakone;
    std::string scroll_id;
    if (use_scroll && copied > 0) {
      std::printf("resuming: a scroll cannot be resumed, copying again from the start (documents keep their _id, so nothing is duplicated)\n");
      copied = 0;
    } else if (copied > 0) {
      std::printf("resuming after %llu documents\n", static_cast<unsigned long long>(copied));
    }
    Progress(copied, *total, tty);
    while (true) {
      Result<json::value> page = Status::Internal("unset");
      if (use_scroll) {
        if (scroll_id.empty()) {
          json::object q{{"size", batch}};
          if (major >= 2) q["sort"] = json::array{"_doc"};
          page = from.Json("POST", "/" + Enc(src) + "/_search?scroll=5m", json::serialize(q));
        } else {
          page = from.Json("GET", "/_search/scroll?scroll=5m&scroll_id=" + Enc(scroll_id));
        }
      } else {
        json::object q{{"size", batch}, {"sort", json::array{json::object{{"_doc", "asc"}}}}, {"track_total_hits", false}};
        if (!cp.search_after.is_null()) q["search_after"] = cp.search_after;
        page = from.Json("POST", "/" + Enc(src) + "/_search", json::serialize(q));
      }
      if (!page.ok()) {
        std::fprintf(stderr, "\nhakone search reindex: source: %s\n", page.status().message().c_str());
        return 1;
      }
      if (use_scroll && page->get_object().contains("_scroll_id")) scroll_id = std::string(page->at("_scroll_id").as_string());
      const auto& hits = page->at_pointer("/hits/hits").as_array();
      if (hits.empty()) break;
      std::string bulk;
      json::value last_sort;
      for (const auto& h : hits) {
        const auto& ho = h.as_object();
        json::object meta{{"_index", dst}, {"_id", ho.at("_id")}};
        json::value src_doc = ho.contains("_source") ? ho.at("_source") : json::object();
        if (multi_type && src_doc.is_object() && ho.contains("_type")) src_doc.as_object()["type"] = ho.at("_type");
        bulk += json::serialize(json::object{{"index", meta}}) + "\n" + json::serialize(src_doc) + "\n";
        if (ho.contains("sort")) last_sort = ho.at("sort");
      }
      if (Status st = SendBulk(to, bulk); !st.ok()) {
        std::fprintf(stderr, "\nhakone search reindex: destination: %s\n", st.message().c_str());
        return 1;
      }
      copied += hits.size();
      if (!use_scroll) {
        if (last_sort.is_null()) {
          std::fprintf(stderr, "\nhakone search reindex: the source returned hits without sort values\n");
          return 1;
        }
        cp.search_after = last_sort;
      }
      cp.copied = copied;
      SaveCheckpoint(checkpoint_path, cp);
      Progress(copied, *total, tty);
    }
    if (use_scroll && !scroll_id.empty()) (void)from.Call("DELETE", "/_search/scroll?scroll_id=" + Enc(scroll_id));
    if (tty) std::fprintf(stderr, "\n");
  }
  (void)to.Call("POST", "/" + Enc(dst) + "/_refresh");
  auto got = CountOf(to, dst);
  if (!got.ok()) {
    std::fprintf(stderr, "hakone search reindex: %s\n", got.status().message().c_str());
    return 1;
  }
  if (*got < *total) {
    std::fprintf(stderr, "hakone search reindex: count check FAILED: source %s has %llu documents, destination %s has %llu\n",
                 src.c_str(), static_cast<unsigned long long>(*total), dst.c_str(), static_cast<unsigned long long>(*got));
    return 1;
  }
  cp.done = true;
  cp.copied = copied;
  SaveCheckpoint(checkpoint_path, cp);
  std::printf("count check ok: %s %llu documents, %s %llu documents\n", src.c_str(), static_cast<unsigned long long>(*total),
              dst.c_str(), static_cast<unsigned long long>(*got));
  return 0;
}

int RunReindex(int argc, char** argv) {
  std::string from_url, to_url, checkpoint, token_from, token_to;
  bool from_1x = false;
  int64_t batch = 1000;
  FlagSet f("hakone search reindex",
            "Copies indices between two Elasticsearch-compatible endpoints (Elasticsearch 1.x to 9.x, OpenSearch,\n"
            "hakone): scroll or search_after out, _bulk in, with a progress bar, a checkpoint file to resume,\n"
            "and a final count check. Documents keep their _id, so running it again never duplicates.");
  f.String("from", &from_url, "URL[/INDEX]", "source endpoint and index (all indices when no index is given)");
  f.String("to", &to_url, "URL[/INDEX]", "destination endpoint and index (default: the source index name)");
  f.Bool("mapping-from-1x", &from_1x,
         "translate 1.x mappings: string → text+keyword / keyword, merge types (adds a \"type\" field), drop _all, _timestamp, _ttl");
  f.String("checkpoint", &checkpoint, "FILE", "progress file for resuming (default .hakone-reindex-<index>.json)");
  f.Int("batch", &batch, "N", "documents per page and per _bulk (default 1000)");
  f.String("from-token", &token_from, "TOKEN", "Bearer token for the source");
  f.String("to-token", &token_to, "TOKEN", "Bearer token for the destination");
  f.Epilog(
      "Examples:\n"
      "  hakone search reindex --from http://old-es:9200/jobs --to http://127.0.0.1:9200 --mapping-from-1x\n"
      "  hakone search reindex --from http://127.0.0.1:9200/logs.app --to http://127.0.0.1:9201/logs.app");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (from_url.empty() || to_url.empty()) {
    std::fprintf(stderr, "hakone search reindex: --from and --to are required\n");
    return 2;
  }
  if (batch < 1 || batch > 10000) {
    std::fprintf(stderr, "hakone search reindex: --batch must be between 1 and 10000\n");
    return 2;
  }
  auto fe = SplitUrl(from_url);
  auto te = SplitUrl(to_url);
  if (!fe.ok() || !te.ok()) {
    std::fprintf(stderr, "hakone search reindex: %s\n", (!fe.ok() ? fe.status() : te.status()).message().c_str());
    return 2;
  }
  Client from{fe->base, token_from}, to{te->base, token_to};
  std::vector<std::string> indices;
  if (!fe->index.empty()) {
    indices.push_back(fe->index);
  } else {
    auto m = from.Json("GET", "/_mapping");
    if (!m.ok()) {
      std::fprintf(stderr, "hakone search reindex: %s\n", m.status().message().c_str());
      return 1;
    }
    for (const auto& kv : m->as_object()) {
      if (kv.key().empty() || kv.key()[0] != '.') indices.emplace_back(kv.key());
    }
  }
  if (!te->index.empty() && indices.size() != 1) {
    std::fprintf(stderr, "hakone search reindex: a destination index needs exactly one source index\n");
    return 2;
  }
  int rc = 0;
  for (const auto& src : indices) {
    std::string dst = te->index.empty() ? src : te->index;
    std::string cp = checkpoint.empty() ? ".hakone-reindex-" + src + ".json" : checkpoint;
    if (int r = ReindexOne(from, to, src, dst, from_1x, batch, cp); r != 0) rc = r;
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// logs

std::string DefaultUrl() {
  const char* u = std::getenv("HAKONE_STORE_URL");
  return u && *u ? u : "http://127.0.0.1:9200";
}
std::string DefaultToken() {
  const char* t = std::getenv("HAKONE_STORE_TOKEN");
  return t ? t : "";
}

std::string LineOf(const json::value& hit, bool as_json) {
  const auto& h = hit.as_object();
  json::value src = h.contains("_source") ? h.at("_source") : json::object();
  if (as_json) {
    json::object o{{"_index", h.at("_index")}, {"_id", h.at("_id")}, {"_source", src}};
    return json::serialize(o);
  }
  std::string ts, msg;
  if (src.is_object()) {
    const auto& so = src.as_object();
    if (auto* t = so.if_contains("@timestamp")) ts = t->is_string() ? std::string(t->as_string()) : json::serialize(*t);
    for (const char* k : {"message", "msg", "log", "text"}) {
      if (auto* m = so.if_contains(k)) {
        msg = m->is_string() ? std::string(m->as_string()) : json::serialize(*m);
        break;
      }
    }
    if (msg.empty()) {
      json::object rest = so;
      rest.erase("@timestamp");
      msg = json::serialize(rest);
    }
  }
  std::string index(h.at("_index").as_string());
  return (ts.empty() ? "-" : ts) + " [" + index + "] " + msg;
}

json::object LogsQuery(const std::string& q, const std::string& since_expr, const std::string& after_ts) {
  json::array filter;
  if (!since_expr.empty()) filter.push_back(json::object{{"range", json::object{{"@timestamp", json::object{{"gte", since_expr}}}}}});
  if (!after_ts.empty()) filter.push_back(json::object{{"range", json::object{{"@timestamp", json::object{{"gte", after_ts}}}}}});
  json::array must;
  if (!q.empty()) must.push_back(json::object{{"query_string", json::object{{"query", q}}}});
  return json::object{{"bool", json::object{{"must", must}, {"filter", filter}}}};
}

int RunLogsSearch(int argc, char** argv, bool tail) {
  std::string url = DefaultUrl(), index = "*", since = tail ? "" : "15m", token = DefaultToken(), for_dur;
  bool as_json = false;
  int64_t size = tail ? 20 : 100;
  std::vector<std::string> pos;
  FlagSet f(tail ? "hakone logs tail" : "hakone logs search",
            tail ? "Prints the newest events matching QUERY (Lucene syntax, optional), then follows new ones."
                 : "Searches events with a Lucene query (query_string syntax) and prints them oldest first.");
  f.String("url", &url, "URL", "the hakone (or Elasticsearch) API (default $HAKONE_STORE_URL or http://127.0.0.1:9200)");
  f.String("index", &index, "PATTERN", "indices to search, comma list and wildcards (default *)");
  if (!tail) f.String("since", &since, "DURATION", "only events newer than this (default 15m; 0 = all)");
  f.Bool("json", &as_json, "print one JSON object per event");
  f.Int("size", &size, "N", tail ? "events shown before following (default 20)" : "maximum events printed (default 100)");
  f.String("token", &token, "TOKEN", "Bearer token (default $HAKONE_STORE_TOKEN)");
  if (tail) f.String("for", &for_dur, "DURATION", "stop following after this long (default: until interrupted)");
  f.Positional(&pos, tail ? "[QUERY]" : "QUERY");
  f.Epilog(tail ? "Example:\n  hakone logs tail --index 'logs.*' 'level:error'"
                : "Examples:\n  hakone logs search 'level:error AND service:api' --index 'logs.*' --since 1h\n"
                  "  hakone logs search '\"connection refused\"' --json");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  std::string prog = tail ? "hakone logs tail" : "hakone logs search";
  if (pos.size() > 1) {
    std::fprintf(stderr, "%s: one QUERY argument expected (quote it)\n", prog.c_str());
    return 2;
  }
  if (!tail && pos.empty()) {
    std::fprintf(stderr, "%s: QUERY is required (use '*' for everything)\n", prog.c_str());
    return 2;
  }
  if (size < 1 || size > 10000) {
    std::fprintf(stderr, "%s: --size must be between 1 and 10000\n", prog.c_str());
    return 2;
  }
  std::string since_expr;
  if (!since.empty() && since != "0") {
    auto d = ParseDuration(since);
    if (!d.ok()) {
      std::fprintf(stderr, "%s: --since: %s\n", prog.c_str(), d.status().message().c_str());
      return 2;
    }
    since_expr = "now-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*d).count()) + "s";
  }
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  if (!for_dur.empty()) {
    auto d = ParseDuration(for_dur);
    if (!d.ok()) {
      std::fprintf(stderr, "%s: --for: %s\n", prog.c_str(), d.status().message().c_str());
      return 2;
    }
    deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(*d);
  }
  auto ep = SplitUrl(url);
  if (!ep.ok()) {
    std::fprintf(stderr, "%s: --url: %s\n", prog.c_str(), ep.status().message().c_str());
    return 2;
  }
  Client c{ep->base, token};
  std::string q = pos.empty() ? "" : pos[0];
  if (q == "*") q.clear();
  json::object body{{"query", LogsQuery(q, since_expr, "")},
                    {"size", size},
                    {"sort", json::array{json::object{{"@timestamp", "desc"}}}}};
  auto r = c.Json("POST", "/" + Enc(index) + "/_search?ignore_unavailable=true", json::serialize(body));
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", prog.c_str(), r.status().message().c_str());
    return 1;
  }
  const auto& hits = r->at_pointer("/hits/hits").as_array();
  std::string last_ts;
  std::set<std::string> seen_at_last;
  for (size_t i = hits.size(); i-- > 0;) {
    std::printf("%s\n", LineOf(hits[i], as_json).c_str());
    const auto& src = hits[i].as_object().contains("_source") ? hits[i].at("_source") : json::value();
    if (src.is_object() && src.as_object().contains("@timestamp") && src.at("@timestamp").is_string()) {
      std::string ts(src.at("@timestamp").as_string());
      if (ts != last_ts) seen_at_last.clear();
      last_ts = ts;
      seen_at_last.insert(std::string(hits[i].at("_index").as_string()) + "/" + std::string(hits[i].at("_id").as_string()));
    }
  }
  std::fflush(stdout);
  if (!tail) return 0;
  if (last_ts.empty()) last_ts = "now-1s";
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    json::object b{{"query", LogsQuery(q, "", last_ts)}, {"size", 1000}, {"sort", json::array{json::object{{"@timestamp", "asc"}}}}};
    auto p = c.Json("POST", "/" + Enc(index) + "/_search?ignore_unavailable=true", json::serialize(b));
    if (!p.ok()) {
      std::fprintf(stderr, "%s: %s (retrying)\n", prog.c_str(), p.status().message().c_str());
      continue;
    }
    for (const auto& h : p->at_pointer("/hits/hits").as_array()) {
      std::string key = std::string(h.at("_index").as_string()) + "/" + std::string(h.at("_id").as_string());
      const auto& src = h.as_object().contains("_source") ? h.at("_source") : json::value();
      std::string ts = src.is_object() && src.as_object().contains("@timestamp") && src.at("@timestamp").is_string()
                           ? std::string(src.at("@timestamp").as_string())
                           : last_ts;
      if (ts == last_ts && seen_at_last.count(key)) continue;
      if (ts != last_ts && ts.substr(0, 3) != "now") {
        seen_at_last.clear();
        last_ts = ts;
      }
      seen_at_last.insert(key);
      std::printf("%s\n", LineOf(h, as_json).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int RunSearch(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf(
        "Usage: hakone search <command> [flags]\n\nCommands:\n"
        "  reindex   copy indices between Elasticsearch-compatible endpoints (1.x mapping translation)\n");
    return argc < 2 ? 2 : 0;
  }
  std::string sub = argv[1];
  if (sub == "reindex") return RunReindex(argc - 1, argv + 1);
  std::fprintf(stderr, "hakone search: unknown command '%s' (try --help)\n", sub.c_str());
  return 2;
}

int RunLogs(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf(
        "Usage: hakone logs <command> [flags]\n\nCommands:\n"
        "  search QUERY   search events (Lucene query syntax) in the store\n"
        "  tail [QUERY]   show the newest events and follow\n");
    return argc < 2 ? 2 : 0;
  }
  std::string sub = argv[1];
  if (sub == "search") return RunLogsSearch(argc - 1, argv + 1, false);
  if (sub == "tail") return RunLogsSearch(argc - 1, argv + 1, true);
  std::fprintf(stderr, "hakone logs: unknown command '%s' (try --help)\n", sub.c_str());
  return 2;
}

}  // namespace hakone::app
