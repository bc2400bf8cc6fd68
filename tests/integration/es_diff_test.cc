// Differential test: the same queries against `hakone serve` and against a straightforward
// reference evaluation in C++ over the same generated documents (English and Japanese text,
// keywords, numbers, dates). Hit sets, counts and aggregation results must match exactly.
// The reference tokenizes with store::AnalyzeText, the analyser the engine documents.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "es_util.h"
#include "store/event_store.h"

namespace hakone::testing {
namespace {
namespace json = boost::json;

struct Doc {
  std::string id, level, service, msg, ts;
  int64_t n = 0;
  int64_t ts_ms = 0;
  bool has_user = false;
  std::vector<std::string> tokens;
};

const char* kWords[] = {"connection", "refused", "timeout", "user", "login", "failed", "payment", "accepted", "disk", "full",
                        "東京", "大阪", "京都", "接続", "失敗", "成功", "ユーザー", "ログイン", "東京都", "応募"};
const char* kLevels[] = {"debug", "info", "warn", "error"};
const char* kServices[] = {"api", "web", "db", "batch"};

std::vector<Doc> Generate(int count) {
  std::mt19937 rng(12345);
  std::vector<Doc> docs;
  const int64_t base = 1714521600000;  // 2024-05-01T00:00:00Z
  for (int i = 0; i < count; i++) {
    Doc d;
    d.id = "d" + std::to_string(i);
    d.level = kLevels[rng() % 4];
    d.service = kServices[rng() % 4];
    int words = 2 + static_cast<int>(rng() % 5);
    for (int w = 0; w < words; w++) d.msg += (w ? " " : "") + std::string(kWords[rng() % 20]);
    d.n = static_cast<int64_t>(rng() % 1000);
    d.ts_ms = base + static_cast<int64_t>(i) * 37000 + static_cast<int64_t>(rng() % 1000);
    std::time_t t = d.ts_ms / 1000;
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(d.ts_ms % 1000));
    d.ts = std::string(buf) + ms;
    d.has_user = rng() % 3 == 0;
    d.tokens = store::AnalyzeText(d.msg);
    docs.push_back(d);
  }
  return docs;
}

bool HasAll(const Doc& d, const std::vector<std::string>& q) {
  for (const auto& t : q) {
    if (std::find(d.tokens.begin(), d.tokens.end(), t) == d.tokens.end()) return false;
  }
  return !q.empty();
}
bool HasAny(const Doc& d, const std::vector<std::string>& q) {
  for (const auto& t : q) {
    if (std::find(d.tokens.begin(), d.tokens.end(), t) != d.tokens.end()) return true;
  }
  return false;
}
bool HasPhrase(const Doc& d, const std::vector<std::string>& q) {
  if (q.empty() || q.size() > d.tokens.size()) return false;
  for (size_t i = 0; i + q.size() <= d.tokens.size(); i++) {
    if (std::equal(q.begin(), q.end(), d.tokens.begin() + static_cast<long>(i))) return true;
  }
  return false;
}

struct Case {
  std::string name;
  std::string query;  // the ES query DSL object
  std::function<bool(const Doc&)> ref;
};

class EsDiffTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    es_ = new EsServer();
    ASSERT_TRUE(es_->Start()) << es_->Log();
    docs_ = Generate(1500);
    EsReply c = es_->Call("PUT", "/diff", R"({"mappings":{"properties":{"level":{"type":"keyword"},"service":{"type":"keyword"},
        "msg":{"type":"text"},"n":{"type":"long"},"@timestamp":{"type":"date"},"user":{"type":"keyword"}}}})");
    ASSERT_EQ(c.status, 200) << c.body;
    std::string body;
    for (const auto& d : docs_) {
      json::object src{{"@timestamp", d.ts}, {"level", d.level}, {"service", d.service}, {"msg", d.msg}, {"n", d.n}};
      if (d.has_user) src["user"] = "u" + d.id;
      body += "{\"index\":{\"_index\":\"diff\",\"_id\":\"" + d.id + "\"}}\n" + json::serialize(src) + "\n";
    }
    EsReply b = es_->Call("POST", "/_bulk?refresh=true", body);
    ASSERT_EQ(b.status, 200) << b.body.substr(0, 300);
    ASSERT_FALSE(b.json.at("errors").as_bool());
  }
  static void TearDownTestSuite() {
    delete es_;
    es_ = nullptr;
  }
  static EsServer* es_;
  static std::vector<Doc> docs_;
};
EsServer* EsDiffTest::es_ = nullptr;
std::vector<Doc> EsDiffTest::docs_;

TEST_F(EsDiffTest, QueriesMatchTheReference) {
  using A = std::vector<std::string>;
  auto an = [](const char* s) { return store::AnalyzeText(s); };
  const int64_t t1 = 1714521600000 + 10000 * 1000LL, t2 = 1714521600000 + 30000 * 1000LL;
  std::vector<Case> cases = {
      {"match_all", R"({"match_all":{}})", [](const Doc&) { return true; }},
      {"match one word", R"({"match":{"msg":"refused"}})", [&](const Doc& d) { return HasAll(d, an("refused")); }},
      {"match or", R"({"match":{"msg":"timeout payment"}})", [&](const Doc& d) { return HasAny(d, an("timeout payment")); }},
      {"match and", R"({"match":{"msg":{"query":"timeout payment","operator":"and"}}})",
       [&](const Doc& d) { return HasAll(d, an("timeout payment")); }},
      {"match Japanese", R"({"match":{"msg":"東京"}})", [&](const Doc& d) { return HasAll(d, an("東京")); }},
      {"phrase", R"({"match_phrase":{"msg":"login failed"}})", [&](const Doc& d) { return HasPhrase(d, an("login failed")); }},
      {"phrase Japanese", R"({"match_phrase":{"msg":"東京都"}})", [&](const Doc& d) { return HasPhrase(d, an("東京都")); }},
      {"phrase mixed", R"({"match_phrase":{"msg":"ユーザー ログイン"}})", [&](const Doc& d) { return HasPhrase(d, an("ユーザー ログイン")); }},
      {"term", R"({"term":{"level":"error"}})", [](const Doc& d) { return d.level == "error"; }},
      {"terms", R"({"terms":{"service":["api","db"]}})", [](const Doc& d) { return d.service == "api" || d.service == "db"; }},
      {"range n", R"({"range":{"n":{"gte":100,"lt":300}}})", [](const Doc& d) { return d.n >= 100 && d.n < 300; }},
      {"range date", "{\"range\":{\"@timestamp\":{\"gte\":" + std::to_string(t1) + ",\"lte\":\"2024-05-01T08:20:00Z\"}}}",
       [&](const Doc& d) { return d.ts_ms >= t1 && d.ts_ms <= t2; }},
      {"exists", R"({"exists":{"field":"user"}})", [](const Doc& d) { return d.has_user; }},
      {"prefix", R"({"prefix":{"service":"ba"}})", [](const Doc& d) { return d.service.rfind("ba", 0) == 0; }},
      {"wildcard", R"({"wildcard":{"service":"*b"}})", [](const Doc& d) { return d.service.back() == 'b'; }},
      {"regexp", R"x({"regexp":{"level":"(warn|error)"}})x", [](const Doc& d) { return d.level == "warn" || d.level == "error"; }},
      {"bool", R"({"bool":{"must":[{"match":{"msg":"disk"}}],"filter":[{"range":{"n":{"lt":500}}}],"must_not":[{"term":{"service":"web"}}]}})",
       [&](const Doc& d) { return HasAll(d, an("disk")) && d.n < 500 && d.service != "web"; }},
      {"should msm 2", R"({"bool":{"should":[{"term":{"level":"error"}},{"term":{"service":"api"}},{"match":{"msg":"成功"}}],"minimum_should_match":2}})",
       [&](const Doc& d) { return (d.level == "error") + (d.service == "api") + HasAll(d, an("成功")) >= 2; }},
      {"query_string AND", R"({"query_string":{"query":"level:error AND msg:refused"}})",
       [&](const Doc& d) { return d.level == "error" && HasAll(d, an("refused")); }},
      {"query_string OR phrase", R"({"query_string":{"query":"msg:\"login failed\" OR service:db"}})",
       [&](const Doc& d) { return HasPhrase(d, an("login failed")) || d.service == "db"; }},
      {"query_string NOT range", R"({"query_string":{"query":"n:[10 TO 99] AND NOT level:debug"}})",
       [&](const Doc& d) { return d.n >= 10 && d.n <= 99 && d.level != "debug"; }},
      {"query_string default field", R"({"query_string":{"query":"接続 失敗","default_field":"msg","default_operator":"AND"}})",
       [&](const Doc& d) { return HasAll(d, an("接続")) && HasAll(d, an("失敗")); }},
      {"simple_query_string", R"({"simple_query_string":{"query":"payment + -accepted","fields":["msg"]}})",
       [&](const Doc& d) { return HasAll(d, an("payment")) && !HasAll(d, an("accepted")); }},
      // 03:00-07:00 local in Berlin on May 1 (CEST, +02:00) = 01:00-05:00 UTC.
      {"range time_zone", R"({"range":{"@timestamp":{"gte":"2024-05-01T03:00:00","lt":"2024-05-01T07:00:00","time_zone":"Europe/Berlin"}}})",
       [&](const Doc& d) { return d.ts_ms >= 1714521600000 + 3600000 && d.ts_ms < 1714521600000 + 5 * 3600000; }},
      {"range time_zone date math", R"({"range":{"@timestamp":{"gte":"2024-05-01T10:30:00||/h","lte":"2024-05-01T10:30:00||/h","time_zone":"Asia/Tokyo"}}})",
       [&](const Doc& d) { return d.ts_ms >= 1714521600000 + 3600000 && d.ts_ms < 1714521600000 + 2 * 3600000; }},  // 10:00-11:00 JST
  };
  for (const auto& c : cases) {
    std::set<std::string> want;
    for (const auto& d : docs_) {
      if (c.ref(d)) want.insert(d.id);
    }
    EXPECT_FALSE(want.empty()) << c.name << ": the reference matches nothing, the case proves little";
    EsReply s = es_->Call("POST", "/diff/_search", "{\"query\":" + c.query + ",\"size\":10000,\"_source\":false,\"track_total_hits\":true}");
    ASSERT_EQ(s.status, 200) << c.name << ": " << s.body.substr(0, 500);
    std::set<std::string> got;
    for (const auto& h : s.json.at_pointer("/hits/hits").as_array()) got.insert(std::string(h.at("_id").as_string()));
    EXPECT_EQ(s.json.at_pointer("/hits/total/value").to_number<size_t>(), want.size()) << c.name;
    std::vector<std::string> missing, extra;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
    std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
    EXPECT_TRUE(missing.empty() && extra.empty())
        << c.name << ": " << missing.size() << " missing (e.g. " << (missing.empty() ? "" : missing[0]) << "), " << extra.size()
        << " extra (e.g. " << (extra.empty() ? "" : extra[0]) << ")";
    EsReply n = es_->Call("POST", "/diff/_count", "{\"query\":" + c.query + "}");
    EXPECT_EQ(n.json.at("count").to_number<size_t>(), want.size()) << c.name << " (_count)";
  }
}

// BM25 as Elasticsearch computes it, over the reference docs: every doc is in one stream whose
// only text field is msg, so N, df and avgdl are the whole corpus's.
TEST_F(EsDiffTest, Bm25ScoresMatchTheReference) {
  double total_len = 0;
  for (const auto& d : docs_) total_len += static_cast<double>(d.tokens.size());
  const double n = static_cast<double>(docs_.size()), avgdl = total_len / n;
  auto idf = [&](const std::string& t) {
    double df = 0;
    for (const auto& d : docs_) df += std::find(d.tokens.begin(), d.tokens.end(), t) != d.tokens.end();
    return std::log(1 + (n - df + 0.5) / (df + 0.5));
  };
  auto tfn = [&](double tf, double dl) { return tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl)); };
  struct ScoreCase {
    std::string text;
    bool phrase;
  };
  for (const ScoreCase& c : {ScoreCase{"refused", false}, ScoreCase{"timeout payment disk", false}, ScoreCase{"東京", false},
                             ScoreCase{"login failed", true}}) {
    auto q = store::AnalyzeText(c.text);
    std::map<std::string, double> want;
    for (const auto& d : docs_) {
      double dl = static_cast<double>(d.tokens.size()), score = 0;
      if (c.phrase) {
        double pf = 0;
        for (size_t i = 0; i + q.size() <= d.tokens.size(); i++) pf += std::equal(q.begin(), q.end(), d.tokens.begin() + static_cast<long>(i));
        if (pf > 0) {
          double idf_sum = 0;
          for (const auto& t : q) idf_sum += idf(t);
          score = idf_sum * tfn(pf, dl);
        }
      } else {
        for (const auto& t : q) {
          double tf = static_cast<double>(std::count(d.tokens.begin(), d.tokens.end(), t));
          if (tf > 0) score += idf(t) * tfn(tf, dl);
        }
      }
      if (score > 0) want[d.id] = score;
    }
    ASSERT_FALSE(want.empty()) << c.text;
    json::object body{{"size", 10000}, {"_source", false}};
    body["query"] = json::object{{c.phrase ? "match_phrase" : "match", json::object{{"msg", c.text}}}};
    EsReply s = es_->Call("POST", "/diff/_search", json::serialize(body));
    ASSERT_EQ(s.status, 200) << s.body.substr(0, 300);
    const auto& hits = s.json.at_pointer("/hits/hits").as_array();
    ASSERT_EQ(hits.size(), want.size()) << c.text;
    double prev = 1e300;
    for (const auto& h : hits) {
      std::string id(h.at("_id").as_string());
      double got = h.at("_score").to_number<double>();
      EXPECT_NEAR(got, want[id], 1e-6 * want[id]) << c.text << " " << id;
      EXPECT_LE(got, prev) << c.text << ": hits not ranked by score";
      prev = got;
    }
  }
}

// Paging with search_after on _doc returns every document once.
TEST_F(EsDiffTest, SearchAfterPagesThroughEveryDocOnce) {
  std::set<std::string> seen;
  size_t returned = 0;
  std::string after;
  for (int page = 0; page < 100; page++) {
    std::string body = R"({"size":97,"_source":false,"track_total_hits":false,"sort":["_doc"])" +
                       (after.empty() ? std::string() : ",\"search_after\":[" + after + "]") + "}";
    EsReply s = es_->Call("POST", "/diff/_search", body);
    ASSERT_EQ(s.status, 200) << s.body.substr(0, 300);
    const auto& hits = s.json.at_pointer("/hits/hits").as_array();
    if (hits.empty()) break;
    for (const auto& h : hits) seen.insert(std::string(h.at("_id").as_string()));
    returned += hits.size();
    after = json::serialize(hits.back().at("sort").as_array()[0]);
  }
  EXPECT_EQ(returned, docs_.size());
  EXPECT_EQ(seen.size(), docs_.size());
}

TEST_F(EsDiffTest, SortAndPagingMatchTheReference) {
  std::vector<Doc> sorted = docs_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Doc& a, const Doc& b) { return a.ts_ms > b.ts_ms; });
  EsReply s = es_->Call("POST", "/diff/_search", R"({"sort":[{"@timestamp":"desc"}],"from":20,"size":15,"_source":false})");
  ASSERT_EQ(s.status, 200) << s.body;
  const auto& hits = s.json.at_pointer("/hits/hits").as_array();
  ASSERT_EQ(hits.size(), 15u);
  for (size_t i = 0; i < 15; i++) EXPECT_EQ(hits[i].at("_id").as_string(), sorted[20 + i].id) << i;
}

TEST_F(EsDiffTest, AggregationsMatchTheReference) {
  EsReply s = es_->Call("POST", "/diff/_search", R"({"size":0,"query":{"match":{"msg":"東京"}},"aggs":{
      "lv":{"terms":{"field":"level","size":10}},
      "hourly":{"date_histogram":{"field":"@timestamp","fixed_interval":"1h"},"aggs":{"svc":{"terms":{"field":"service"}}}},
      "nr":{"range":{"field":"n","ranges":[{"to":250},{"from":250,"to":750},{"from":750}]}},
      "st":{"stats":{"field":"n"}},
      "card":{"cardinality":{"field":"service"}},
      "errs":{"filters":{"filters":{"e":{"term":{"level":"error"}},"w":{"term":{"level":"warn"}}}}}}})");
  ASSERT_EQ(s.status, 200) << s.body.substr(0, 500);
  auto an = store::AnalyzeText("東京");
  std::map<std::string, int64_t> lv;
  std::map<int64_t, int64_t> hourly;
  std::map<int64_t, std::map<std::string, int64_t>> hourly_svc;
  int64_t r0 = 0, r1 = 0, r2 = 0, cnt = 0, e = 0, w = 0;
  int64_t mn = INT64_MAX, mx = INT64_MIN, sum = 0;
  std::set<std::string> svcs;
  for (const auto& d : docs_) {
    if (!HasAll(d, an)) continue;
    lv[d.level]++;
    int64_t h = d.ts_ms - d.ts_ms % 3600000;
    hourly[h]++;
    hourly_svc[h][d.service]++;
    (d.n < 250 ? r0 : d.n < 750 ? r1 : r2)++;
    cnt++;
    mn = std::min(mn, d.n);
    mx = std::max(mx, d.n);
    sum += d.n;
    svcs.insert(d.service);
    e += d.level == "error";
    w += d.level == "warn";
  }
  const json::value& a = s.json.at("aggregations");
  std::map<std::string, int64_t> got_lv;
  for (const auto& b : a.at_pointer("/lv/buckets").as_array()) got_lv[std::string(b.at("key").as_string())] = b.at("doc_count").to_number<int64_t>();
  EXPECT_EQ(got_lv, lv);
  std::map<int64_t, int64_t> got_h;
  for (const auto& b : a.at_pointer("/hourly/buckets").as_array()) {
    int64_t key = b.at("key").to_number<int64_t>();
    if (b.at("doc_count").to_number<int64_t>() > 0) got_h[key] = b.at("doc_count").to_number<int64_t>();
    std::map<std::string, int64_t> sv;
    for (const auto& sb : b.at_pointer("/svc/buckets").as_array()) sv[std::string(sb.at("key").as_string())] = sb.at("doc_count").to_number<int64_t>();
    if (!sv.empty() || hourly_svc.count(key)) {
      EXPECT_EQ(sv, hourly_svc[key]) << key;
    }
  }
  EXPECT_EQ(got_h, hourly);
  const auto& rb = a.at_pointer("/nr/buckets").as_array();
  ASSERT_EQ(rb.size(), 3u);
  EXPECT_EQ(rb[0].at("doc_count").to_number<int64_t>(), r0);
  EXPECT_EQ(rb[1].at("doc_count").to_number<int64_t>(), r1);
  EXPECT_EQ(rb[2].at("doc_count").to_number<int64_t>(), r2);
  EXPECT_EQ(a.at_pointer("/st/count").to_number<int64_t>(), cnt);
  EXPECT_EQ(a.at_pointer("/st/min").to_number<double>(), static_cast<double>(mn));
  EXPECT_EQ(a.at_pointer("/st/max").to_number<double>(), static_cast<double>(mx));
  EXPECT_EQ(a.at_pointer("/st/sum").to_number<double>(), static_cast<double>(sum));
  EXPECT_NEAR(a.at_pointer("/st/avg").to_number<double>(), static_cast<double>(sum) / static_cast<double>(cnt), 1e-9);
  EXPECT_EQ(a.at_pointer("/card/value").to_number<int64_t>(), static_cast<int64_t>(svcs.size()));
  EXPECT_EQ(a.at_pointer("/errs/buckets/e/doc_count").to_number<int64_t>(), e);
  EXPECT_EQ(a.at_pointer("/errs/buckets/w/doc_count").to_number<int64_t>(), w);
}

}  // namespace
}  // namespace hakone::testing
