#include "graph/api.h"

#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "core/http_server.h"
#include "core/log.h"
#include "gateway/admin.h"
#include "graph/algo.h"
#include "graph/build.h"

namespace hakone::graph {

namespace json = boost::json;

// ---------------------------------------------------------------- algorithms as tables

namespace {

std::string Arg(const std::map<std::string, std::string>& a, const std::string& k, const std::string& def = "") {
  auto it = a.find(k);
  return it == a.end() ? def : it->second;
}

Result<int64_t> IntArg(const std::map<std::string, std::string>& a, const std::string& k, int64_t def, int64_t lo,
                       int64_t hi) {
  std::string s = Arg(a, k);
  if (s.empty()) return def;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != 0 || v < lo || v > hi)
    return Status::InvalidArgument("graph: " + k + " must be an integer in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "], got '" + s + "'");
  return static_cast<int64_t>(v);
}

Result<double> DoubleArg(const std::map<std::string, std::string>& a, const std::string& k, double def, double lo,
                         double hi) {
  std::string s = Arg(a, k);
  if (s.empty()) return def;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != 0 || !(v >= lo && v <= hi))
    return Status::InvalidArgument("graph: " + k + " must be a number in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "], got '" + s + "'");
  return v;
}

Result<uint32_t> NodeArg(const Graph& g, const std::map<std::string, std::string>& a, const std::string& k) {
  std::string s = Arg(a, k);
  if (s.empty()) return Status::InvalidArgument("graph: " + k + " is required (Label:id or a node id)");
  return ResolveNode(g, s);
}

Result<uint32_t> LabelArg(const Graph& g, const std::map<std::string, std::string>& a, const std::string& def = "") {
  std::string l = Arg(a, "label", def);
  if (l.empty()) return kNone;
  uint32_t id = g.LabelId(l);
  if (id == kNone) return Status::NotFound("graph: no label " + l + " in the graph");
  return id;
}

Value PathValue(const std::vector<uint32_t>& nodes, const std::vector<uint32_t>& rels) {
  Path p;
  p.nodes = nodes;
  p.rels = rels;
  return Value(std::move(p));
}

}  // namespace

Result<QueryResult> RunAlgorithm(const std::shared_ptr<const Graph>& gp, const std::string& name,
                                 const std::map<std::string, std::string>& args) {
  auto t0 = std::chrono::steady_clock::now();
  const Graph& g = *gp;
  QueryResult r;
  r.graph = gp;
  HAKONE_ASSIGN_OR_RETURN(int64_t top, IntArg(args, "top", 10, 1, 1000000));
  if (name == "pagerank" || name == "ppr") {
    PageRankOptions o;
    HAKONE_ASSIGN_OR_RETURN(o.damping, DoubleArg(args, "damping", 0.85, 0.0, 0.999));
    HAKONE_ASSIGN_OR_RETURN(int64_t iters, IntArg(args, "max_iterations", 100, 1, 10000));
    o.max_iterations = static_cast<int>(iters);
    o.directed = Arg(args, "undirected") != "true";
    if (name == "ppr") {
      std::string src = Arg(args, "source");
      if (src.empty()) return Status::InvalidArgument("graph: ppr needs source (Label:id or a node id)");
      size_t p = 0;
      while (p <= src.size()) {  // several sources, comma-separated
        size_t q = src.find(',', p);
        if (q == std::string::npos) q = src.size();
        HAKONE_ASSIGN_OR_RETURN(uint32_t n, ResolveNode(g, src.substr(p, q - p)));
        o.sources.push_back(n);
        p = q + 1;
      }
    }
    HAKONE_ASSIGN_OR_RETURN(uint32_t label, LabelArg(g, args));
    auto pr = PageRank(g, o);
    std::vector<bool> allowed;
    if (label != kNone) {
      allowed.assign(g.node_count(), false);
      auto [b, e] = g.NodesWithLabel(label);
      for (auto it = b; it != e; ++it) allowed[*it] = true;
    }
    r.columns = {"node", "score"};
    for (auto [n, s] : TopK(pr.scores, static_cast<size_t>(top), label == kNone ? nullptr : &allowed))
      r.rows.push_back({Value(NodeRef{n}), Value(s)});
    r.plan.clear();
  } else if (name == "khop") {
    HAKONE_ASSIGN_OR_RETURN(uint32_t n, NodeArg(g, args, "id"));
    KHopOptions o;
    HAKONE_ASSIGN_OR_RETURN(int64_t k, IntArg(args, "k", 2, 1, 10));
    HAKONE_ASSIGN_OR_RETURN(int64_t limit, IntArg(args, "limit", 1000, 1, 10000000));
    o.k = static_cast<int>(k);
    o.limit = static_cast<size_t>(limit);
    std::string dir = Arg(args, "direction", "both");
    o.direction = dir == "out" ? 1 : dir == "in" ? -1 : 0;
    r.columns = {"node", "distance"};
    for (auto [v, d] : KHop(g, n, o)) r.rows.push_back({Value(NodeRef{v}), Value(static_cast<int64_t>(d))});
  } else if (name == "shortest") {
    HAKONE_ASSIGN_OR_RETURN(uint32_t a, NodeArg(g, args, "from"));
    HAKONE_ASSIGN_OR_RETURN(uint32_t b, NodeArg(g, args, "to"));
    HAKONE_ASSIGN_OR_RETURN(int64_t max, IntArg(args, "max", 10, 1, 100));
    auto p = ShortestPath(g, a, b, static_cast<int>(max));
    r.columns = {"path", "length"};
    if (!p.nodes.empty()) r.rows.push_back({PathValue(p.nodes, p.rels), Value(static_cast<int64_t>(p.rels.size()))});
  } else if (name == "similar" || name == "recommend-similar") {
    HAKONE_ASSIGN_OR_RETURN(uint32_t n, NodeArg(g, args, name == "similar" ? "id" : "person"));
    std::string metric = Arg(args, "metric", "adamic_adar");
    if (metric != "adamic_adar" && metric != "jaccard" && metric != "common")
      return Status::InvalidArgument("graph: metric must be adamic_adar, jaccard or common");
    uint32_t label = kNone;
    if (name == "recommend-similar") label = g.LabelId("Person");
    else {
      HAKONE_ASSIGN_OR_RETURN(label, LabelArg(g, args));
    }
    r.columns = {"node", "score", "paths"};
    for (auto [v, s] : SimilarNodes(g, n, metric, label, static_cast<size_t>(top))) {
      List paths;
      for (const auto& e : ExplainPaths(g, n, v, 3)) paths.push_back(PathValue(e.nodes, e.rels));
      r.rows.push_back({Value(NodeRef{v}), Value(s), Value(std::move(paths))});
    }
  } else if (name == "wcc") {
    auto comp = WeaklyConnectedComponents(g);
    std::map<uint32_t, int64_t> sizes;
    for (uint32_t c : comp) ++sizes[c];
    std::vector<std::pair<int64_t, uint32_t>> v;
    for (auto [c, s] : sizes) v.emplace_back(-s, c);
    std::sort(v.begin(), v.end());
    r.columns = {"component", "size", "example"};
    for (size_t i = 0; i < v.size() && i < static_cast<size_t>(top); ++i)
      r.rows.push_back({Value(static_cast<int64_t>(v[i].second)), Value(-v[i].first), Value(NodeRef{v[i].second})});
    r.rows.push_back({Value("total components"), Value(static_cast<int64_t>(v.size())), Value()});
  } else if (name == "degree") {
    HAKONE_ASSIGN_OR_RETURN(uint32_t label, LabelArg(g, args));
    std::string dir = Arg(args, "direction", "both");
    std::vector<double> deg(g.node_count());
    for (uint32_t v = 0; v < g.node_count(); ++v)
      deg[v] = (dir != "in" ? g.OutDegree(v) : 0) + (dir != "out" ? g.InDegree(v) : 0);
    std::vector<bool> allowed;
    if (label != kNone) {
      allowed.assign(g.node_count(), false);
      auto [b, e] = g.NodesWithLabel(label);
      for (auto it = b; it != e; ++it) allowed[*it] = true;
    }
    r.columns = {"node", "degree"};
    for (auto [n, d] : TopK(deg, static_cast<size_t>(top), label == kNone ? nullptr : &allowed))
      r.rows.push_back({Value(NodeRef{n}), Value(static_cast<int64_t>(d))});
  } else if (name == "recommend-candidates" || name == "recommend-companies") {
    bool cands = name == "recommend-candidates";
    std::string key = cands ? (args.count("job") ? "job" : "company") : "person";
    HAKONE_ASSIGN_OR_RETURN(uint32_t src, NodeArg(g, args, key));
    RecommendOptions o;
    o.top = static_cast<size_t>(top);
    o.target_label = g.LabelId(cands ? "Person" : "Company");
    if (o.target_label == kNone) return Status::NotFound(std::string("graph: no ") + (cands ? "Person" : "Company") + " label");
    o.filter_key = Arg(args, "filter_key");
    if (!o.filter_key.empty()) {
      std::string fv = Arg(args, "filter_value");
      char* end = nullptr;
      long long iv = std::strtoll(fv.c_str(), &end, 10);
      o.filter_value = (!fv.empty() && *end == 0) ? Value(static_cast<int64_t>(iv)) : Value(fv);
    }
    HAKONE_ASSIGN_OR_RETURN(o.damping, DoubleArg(args, "damping", 0.85, 0.0, 0.999));
    r.columns = {"node", "score", "paths"};
    for (const auto& rec : Recommend(g, src, o)) {
      List paths;
      for (const auto& e : rec.paths) paths.push_back(PathValue(e.nodes, e.rels));
      r.rows.push_back({Value(NodeRef{rec.node}), Value(rec.score), Value(std::move(paths))});
    }
  } else {
    return Status::NotFound("graph: unknown algorithm '" + name +
                            "' (pagerank, ppr, khop, shortest, similar, wcc, degree, recommend-candidates, "
                            "recommend-companies, recommend-similar)");
  }
  r.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
Value FromJson(const json::value& v, int depth = 0) {
  if (depth > 64) return Value();
  switch (v.kind()) {
    case json::kind::null: return Value();
    case json::kind::bool_: return Value(v.get_bool());
    case json::kind::int64: return Value(v.get_int64());
    case json::kind::uint64:
      return v.get_uint64() <= static_cast<uint64_t>(INT64_MAX) ? Value(static_cast<int64_t>(v.get_uint64()))
                                                                  : Value(static_cast<double>(v.get_uint64()));
    case json::kind::double_: return Value(v.get_double());
    case json::kind::string: return Value(std::string(v.get_string()));
    case json::kind::array: {
      List l;
      for (const auto& e : v.get_array()) l.push_back(FromJson(e, depth + 1));
      return Value(std::move(l));
    }
    case json::kind::object: {
      Map m;
      for (const auto& [k, e] : v.get_object()) m[std::string(k)] = FromJson(e, depth + 1);
      return Value(std::move(m));
    }
  }
  return Value();
}
}  // namespace

Result<Map> ParseJsonParams(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("graph: parameters are not valid JSON: " + ec.message());
  if (!v.is_object()) return Status::InvalidArgument("graph: parameters must be a JSON object");
  return FromJson(v).map();
}

// ---------------------------------------------------------------- holder

Result<bool> GraphHolder::ReloadIfChanged() {
  HAKONE_ASSIGN_OR_RETURN(std::string cur, store_.Current());
  if (cur.empty()) return false;
  auto held = Get();
  if (held && held->version() == cur) return false;
  auto g = store_.Load(cur);
  if (!g.ok()) return g.status();
  Set(*g);
  log::Info("graph: loaded snapshot", {{"version", cur}, {"nodes", static_cast<long long>((*g)->node_count())},
                                       {"relationships", static_cast<long long>((*g)->rel_count())}});
  return true;
}

// ---------------------------------------------------------------- HTTP

namespace {

HttpResponse StatusResponse(const Status& st) {
  int code = 500;
  switch (st.code()) {
    case StatusCode::kInvalidArgument: code = 400; break;
    case StatusCode::kNotFound: code = 404; break;
    case StatusCode::kResourceExhausted: code = 422; break;
    case StatusCode::kTimeout: code = 504; break;
    case StatusCode::kUnavailable: code = 503; break;
    default: break;
  }
  return HttpResponse::Error(code, st.message());
}

std::map<std::string, std::string> QueryArgs(const HttpRequest& req) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : req.Params()) out[k] = v;
  return out;
}

// graphology / sigma.js serialisation: {"nodes":[{"key","attributes"}],"edges":[...]}.
std::string SigmaJson(const Graph& g, const std::vector<uint32_t>& nodes, const std::vector<uint32_t>& rels,
                      uint32_t center) {
  std::string out = "{\"nodes\":[";
  size_t n = nodes.size();
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = nodes[i];
    if (i) out += ',';
    double x = 0, y = 0;
    if (v != center) {
      double a = 2 * M_PI * static_cast<double>(i) / static_cast<double>(std::max<size_t>(n, 1));
      x = std::cos(a) * 10;
      y = std::sin(a) * 10;
    }
    Value name = g.NodeProp(v, "name");
    if (name.is_null()) name = g.NodeProp(v, "title");
    if (name.is_null()) name = g.NodeProp(v, "id");
    auto [lb, le] = g.Labels(v);
    std::string first = lb != le ? g.label_names()[*lb] : "";
    out += "{\"key\":\"" + std::to_string(v) + "\",\"attributes\":{\"label\":";
    AppendJsonString(&out, (first.empty() ? "" : first + ": ") + (name.is_null() ? "#" + std::to_string(v) : ToCypherString(name, nullptr)));
    char buf[96];
    std::snprintf(buf, sizeof buf, ",\"x\":%.4f,\"y\":%.4f,\"size\":%.2f,\"node\":", x, y,
                  2.0 + std::log2(1.0 + g.OutDegree(v) + g.InDegree(v)));
    out += buf;
    AppendJson(&out, Value(NodeRef{v}), &g);
    out += "}}";
  }
  out += "],\"edges\":[";
  for (size_t i = 0; i < rels.size(); ++i) {
    uint32_t r = rels[i];
    if (i) out += ',';
    out += "{\"key\":\"r" + std::to_string(r) + "\",\"source\":\"" + std::to_string(g.RelSrc(r)) + "\",\"target\":\"" +
           std::to_string(g.RelDst(r)) + "\",\"attributes\":{\"label\":";
    AppendJsonString(&out, g.type_names()[g.RelType(r)]);
    out += ",\"properties\":";
    AppendJson(&out, Value(g.RelProps(r)), &g);
    out += "}}";
  }
  return out + "]}";
}

}  // namespace

void AddGraphRoutes(HttpServer& server, GraphHolder* holder, const GraphServeOptions& opts) {
  auto tokens = std::make_shared<std::vector<std::string>>(opts.tokens);
  QueryOptions qopts = opts.query;
  // Authorization: with tokens configured, every call needs one.
  auto authorized = [tokens](const HttpRequest& req) {
    if (tokens->empty()) return true;
    std::string_view h = req.Header("Authorization");
    if (h.size() <= 7 || h.substr(0, 7) != "Bearer ") return false;
    std::string_view given = h.substr(7);
    bool ok = false;
    for (const auto& t : *tokens) {
      if (t.size() != given.size()) continue;
      unsigned diff = 0;
      for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(t[i] ^ given[i]);
      ok = ok || diff == 0;
    }
    return ok;
  };
  auto guard = [authorized, holder](auto fn) {
    return [authorized, holder, fn](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      if (!authorized(req)) co_return HttpResponse::Error(401, "missing or invalid API token (Authorization: Bearer <token>)");
      auto g = holder->Get();
      if (!g) co_return HttpResponse::Error(503, "no graph snapshot loaded yet (run hakone graph build)");
      co_return fn(req, g);
    };
  };
  server.Route("POST", "/api/graph/cypher", guard([qopts](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 boost::system::error_code ec;
                 json::value body = json::parse(req.body, ec);
                 if (ec || !body.is_object())
                   return HttpResponse::Error(400, "body must be a JSON object {\"query\": \"...\", \"parameters\": {...}}");
                 const auto& obj = body.get_object();
                 auto q = obj.if_contains("query");
                 if (!q || !q->is_string()) return HttpResponse::Error(400, "\"query\" (a string) is required");
                 Map params;
                 if (auto p = obj.if_contains("parameters"); p && !p->is_null()) {
                   if (!p->is_object()) return HttpResponse::Error(400, "\"parameters\" must be an object");
                   params = FromJson(*p).map();
                 }
                 auto res = RunCypher(g, std::string(q->get_string()), params, qopts);
                 if (!res.ok()) return StatusResponse(res.status());
                 return HttpResponse::Json(200, res->ToJson());
               }));
  server.Route("GET", "/api/graph/stats", guard([](HttpRequest&, std::shared_ptr<const Graph> g) {
                 std::string out = "{\"version\":";
                 AppendJsonString(&out, g->version());
                 out += ",\"nodes\":" + std::to_string(g->node_count()) +
                        ",\"relationships\":" + std::to_string(g->rel_count()) +
                        ",\"memory_bytes\":" + std::to_string(g->MemoryBytes()) + ",\"labels\":{";
                 for (uint32_t l = 0; l < g->label_names().size(); ++l) {
                   if (l) out += ',';
                   AppendJsonString(&out, g->label_names()[l]);
                   auto [b, e] = g->NodesWithLabel(l);
                   out += ":" + std::to_string(e - b);
                 }
                 out += "},\"types\":{";
                 std::vector<uint64_t> counts(g->type_names().size());
                 for (uint32_t r = 0; r < g->rel_count(); ++r) ++counts[g->RelType(r)];
                 for (size_t t = 0; t < counts.size(); ++t) {
                   if (t) out += ',';
                   AppendJsonString(&out, g->type_names()[t]);
                   out += ":" + std::to_string(counts[t]);
                 }
                 return HttpResponse::Json(200, out + "}}");
               }));
  server.Route("GET", "/api/graph/search", guard([](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 auto a = QueryArgs(req);
                 std::string q = Arg(a, "q");
                 if (q.empty()) return HttpResponse::Error(400, "q (a prefix) is required");
                 uint32_t label = kNone;
                 if (!Arg(a, "label").empty()) {
                   label = g->LabelId(Arg(a, "label"));
                   if (label == kNone) return HttpResponse::Json(200, "{\"nodes\":[]}");
                 }
                 auto limit = IntArg(a, "limit", 20, 1, 1000);
                 if (!limit.ok()) return StatusResponse(limit.status());
                 auto nodes = g->FindNodesByPrefix(label, Arg(a, "key", "name"), q, static_cast<size_t>(*limit));
                 std::string out = "{\"nodes\":[";
                 for (size_t i = 0; i < nodes.size(); ++i) {
                   if (i) out += ',';
                   AppendJson(&out, Value(NodeRef{nodes[i]}), g.get());
                 }
                 return HttpResponse::Json(200, out + "]}");
               }));
  server.Route("GET", "/api/graph/neighbours", guard([](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 auto a = QueryArgs(req);
                 auto n = NodeArg(*g, a, "id");
                 if (!n.ok()) return StatusResponse(n.status());
                 auto per_type = IntArg(a, "per_type", 100, 1, 100000);
                 if (!per_type.ok()) return StatusResponse(per_type.status());
                 std::vector<uint32_t> nodes{*n}, rels;
                 std::map<uint32_t, int64_t> taken;  // per type
                 std::set<uint32_t> seen{*n};
                 auto visit = [&](uint32_t r, uint32_t v) {
                   if (taken[g->RelType(r)] >= *per_type) return;
                   ++taken[g->RelType(r)];
                   rels.push_back(r);
                   if (seen.insert(v).second) nodes.push_back(v);
                 };
                 auto [ob, oe] = g->Out(*n);
                 for (auto it = ob; it != oe; ++it) visit(*it, g->RelDst(*it));
                 auto [ib, ie] = g->In(*n);
                 for (auto it = ib; it != ie; ++it) visit(*it, g->RelSrc(*it));
                 return HttpResponse::Json(200, SigmaJson(*g, nodes, rels, *n));
               }));
  server.Route("POST", "/api/graph/subgraph", guard([](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 boost::system::error_code ec;
                 json::value body = json::parse(req.body, ec);
                 if (ec || !body.is_object() || !body.get_object().if_contains("ids") ||
                     !body.get_object().at("ids").is_array())
                   return HttpResponse::Error(400, "body must be {\"ids\": [\"Label:id\" or node id, ...]}");
                 std::vector<uint32_t> nodes;
                 std::set<uint32_t> in;
                 for (const auto& e : body.get_object().at("ids").get_array()) {
                   std::string ref = e.is_string() ? std::string(e.get_string())
                                    : e.is_int64() ? std::to_string(e.get_int64())
                                                   : "";
                   auto n = ResolveNode(*g, ref);
                   if (!n.ok()) return StatusResponse(n.status());
                   if (in.insert(*n).second) nodes.push_back(*n);
                   if (nodes.size() > 5000) return HttpResponse::Error(400, "at most 5000 ids");
                 }
                 std::vector<uint32_t> rels;
                 for (uint32_t v : nodes) {
                   auto [b, e] = g->Out(v);
                   for (auto it = b; it != e; ++it)
                     if (in.count(g->RelDst(*it))) rels.push_back(*it);
                 }
                 return HttpResponse::Json(200, SigmaJson(*g, nodes, rels, kNone));
               }));
  server.Route("GET", "/api/graph/algo/*", guard([](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 std::string name = req.path.substr(std::string("/api/graph/algo/").size());
                 auto res = RunAlgorithm(g, name, QueryArgs(req));
                 if (!res.ok()) return StatusResponse(res.status());
                 return HttpResponse::Json(200, res->ToJson());
               }));
  server.Route("GET", "/api/graph/recommend/*", guard([](HttpRequest& req, std::shared_ptr<const Graph> g) {
                 std::string name = "recommend-" + req.path.substr(std::string("/api/graph/recommend/").size());
                 auto res = RunAlgorithm(g, name, QueryArgs(req));
                 if (!res.ok()) return StatusResponse(res.status());
                 return HttpResponse::Json(200, res->ToJson());
               }));
}

// ---------------------------------------------------------------- component

Result<GraphServeOptions> GraphServeOptionsFromConfig(const Config& cfg) {
  GraphServeOptions o;
  auto s = cfg.Section("graph");
  o.listen = s.String("listen", o.listen);
  o.dir = s.String("out", "");
  if (o.dir.empty()) o.dir = cfg.Root().String("data_dir", "./hakone-data") + "/graph";
  o.mapping = s.String("mapping", "");
  o.every = std::chrono::duration_cast<std::chrono::seconds>(s.Duration("every", std::chrono::seconds(0)));
  o.keep = static_cast<int>(s.Int("keep", 7));
  o.reload_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
      s.Duration("reload_interval", std::chrono::seconds(2)));
  o.query.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      s.Duration("query_timeout", std::chrono::seconds(30)));
  o.query.max_rows = static_cast<size_t>(s.Int("max_rows", 5'000'000));
  if (o.keep < 1) s.Fail("keep", "must be at least 1");
  if (o.every.count() > 0 && o.mapping.empty()) s.Fail("every", "needs mapping (the graph mapping file to rebuild from)");
  auto auth = gateway::LoadAdminAuth(cfg.Section("auth"));
  if (!auth.ok()) return auth.status();
  for (const auto& t : auth->tokens) o.tokens.push_back(t.token);
  return o;
}

namespace {

class GraphComponent : public Component {
 public:
  GraphComponent(Runtime& rt, GraphServeOptions o)
      : rt_(rt), opts_(std::move(o)), holder_(opts_.dir), server_(rt.io(), HttpServer::Options{.max_body = 4 << 20, .server_name = "hakone-graph"}) {}
  ~GraphComponent() override { StopThreads(); }
  std::string name() const override { return "graph"; }

  Status Start() override {
    auto ep = ParseEndpoint(opts_.listen);
    if (!ep.ok()) return ep.status().WithContext("graph: listen");
    if (opts_.tokens.empty() && !ep->address().is_loopback())
      return Status::InvalidArgument("graph: listen " + opts_.listen +
                                     " is not a loopback address: configure [auth] tokens first (the graph holds personal data)");
    auto loaded = holder_.ReloadIfChanged();
    if (!loaded.ok()) log::Warn("graph: cannot load the current snapshot", {{"error", loaded.status().ToString()}});
    else if (!*loaded) log::Warn("graph: no snapshot yet; serving 503 until one is built", {{"dir", opts_.dir}});
    AddGraphRoutes(server_, &holder_, opts_);
    server_.Route("GET", "/healthz", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"status":"ok"})");
    });
    HAKONE_RETURN_IF_ERROR(server_.Listen(*ep));
    log::Info("graph: serving", {{"listen", FormatEndpoint(server_.local_endpoint())}, {"dir", opts_.dir}});
    watcher_ = std::thread([this] { Watch(); });
    return Status::Ok();
  }
  void Stop() override {
    server_.Stop();
    StopThreads();
  }

 private:
  void StopThreads() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }
  void Watch() {
    auto next_build = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      if (opts_.every.count() > 0 && std::chrono::steady_clock::now() >= next_build) {
        lk.unlock();
        Rebuild();
        lk.lock();
        next_build = std::chrono::steady_clock::now() + opts_.every;
      }
      lk.unlock();
      auto r = holder_.ReloadIfChanged();
      if (!r.ok()) log::Warn("graph: reload failed; keeping the current snapshot", {{"error", r.status().ToString()}});
      lk.lock();
      cv_.wait_for(lk, opts_.reload_interval, [this] { return stop_; });
    }
  }
  void Rebuild() {
    auto m = LoadMapping(opts_.mapping);
    if (!m.ok()) {
      log::Error("graph: rebuild failed", {{"error", m.status().ToString()}});
      return;
    }
    BuildReport rep;
    auto g = BuildGraph(*m, {}, &rep);
    if (!g.ok()) {
      log::Error("graph: rebuild failed", {{"error", g.status().ToString()}});
      return;
    }
    auto v = holder_.store().Publish(**g, opts_.keep);
    if (!v.ok()) {
      log::Error("graph: publishing the snapshot failed", {{"error", v.status().ToString()}});
      return;
    }
    log::Info("graph: rebuilt", {{"version", *v}, {"rejected", static_cast<long long>(rep.rejected)},
                                 {"seconds", rep.seconds}});
  }

  Runtime& rt_;
  GraphServeOptions opts_;
  GraphHolder holder_;
  HttpServer server_;
  std::thread watcher_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace

Result<std::unique_ptr<Component>> MakeGraphComponent(Runtime& rt, const GraphServeOptions& opts) {
  if (opts.dir.empty()) return Status::InvalidArgument("graph: the snapshot directory (out) is required");
  return std::unique_ptr<Component>(std::make_unique<GraphComponent>(rt, opts));
}

}  // namespace hakone::graph
