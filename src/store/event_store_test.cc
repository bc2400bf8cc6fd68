// Tests of the event store engine: writes, replay, queries, aggregations, mappings, retention,
// corruption, kill -9, concurrency.
#include "store/event_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace hakone::store {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hakone_store_test_XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path_, ec); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

EventStoreOptions Opts(const std::string& dir) {
  EventStoreOptions o;
  o.dir = dir;
  o.refresh_interval = std::chrono::milliseconds(100);
  o.block_max_events = 64;
  return o;
}

std::unique_ptr<EventStore> MustOpen(const EventStoreOptions& o) {
  auto r = EventStore::Open(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

WriteItem Doc(const std::string& stream, const std::string& json, std::optional<std::string> id = std::nullopt) {
  WriteItem w;
  w.stream = stream;
  w.source_json = json;
  w.id = std::move(id);
  return w;
}

void MustWrite(EventStore& s, const std::vector<WriteItem>& items, bool refresh = true) {
  std::vector<WriteResult> res;
  ASSERT_TRUE(s.Write(items, &res, refresh).ok());
  for (const auto& r : res) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
}

QueryPtr Q(Query q) { return std::make_shared<const Query>(std::move(q)); }
QueryPtr Term(const std::string& f, Value v) {
  Query q;
  q.kind = Query::Kind::kTerm;
  q.field = f;
  q.values = {std::move(v)};
  return Q(q);
}
QueryPtr Match(const std::string& f, const std::string& text, bool op_and = false) {
  Query q;
  q.kind = Query::Kind::kMatch;
  q.field = f;
  q.text = text;
  q.op_and = op_and;
  return Q(q);
}
QueryPtr Phrase(const std::string& f, const std::string& text) {
  Query q;
  q.kind = Query::Kind::kPhrase;
  q.field = f;
  q.text = text;
  return Q(q);
}
QueryPtr Pat(Query::Kind k, const std::string& f, const std::string& text) {
  Query q;
  q.kind = k;
  q.field = f;
  q.text = text;
  return Q(q);
}

uint64_t CountOf(EventStore& s, const std::string& stream, QueryPtr q) {
  auto r = s.Count({stream}, q);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ~0ull;
}

std::vector<std::string> Ids(const SearchResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hits) out.push_back(h.id);
  return out;
}

TEST(Analyzer, LatinWordsLowercased) {
  EXPECT_EQ(AnalyzeText("Hello, WORLD! foo_bar x2 Café"), (std::vector<std::string>{"hello", "world", "foo", "bar", "x2", "café"}));
  EXPECT_EQ(AnalyzeText(""), std::vector<std::string>{});
  EXPECT_EQ(AnalyzeText("  ...  "), std::vector<std::string>{});
  EXPECT_EQ(AnalyzeText("ＡＢＣ１２"), std::vector<std::string>{"abc12"});
}

TEST(Analyzer, JapaneseBigrams) {
  EXPECT_EQ(AnalyzeText("東京都"), (std::vector<std::string>{"東京", "京都"}));
  EXPECT_EQ(AnalyzeText("東"), std::vector<std::string>{"東"});
  EXPECT_EQ(AnalyzeText("ログイン失敗: user=田中"),
            (std::vector<std::string>{"ログ", "グイ", "イン", "ン失", "失敗", "user", "田中"}));
  EXPECT_EQ(AnalyzeText("エラーが発生しました。再試行"),
            (std::vector<std::string>{"エラ", "ラー", "ーが", "が発", "発生", "生し", "しま", "まし", "した", "再試", "試行"}));
  // Invalid UTF-8 never crashes and separates tokens.
  EXPECT_EQ(AnalyzeText(std::string("ab\xff" "cd")), (std::vector<std::string>{"ab", "cd"}));
  EXPECT_EQ(AnalyzeText(std::string("\xe6\x9d")), std::vector<std::string>{});
}

TEST(EventStore, WriteGetSearchAndReplay) {
  TempDir dir;
  {
    auto s = MustOpen(Opts(dir.path()));
    ASSERT_TRUE(s->CreateStream("logs", StreamSettings{}, nullptr).ok());
    EXPECT_EQ(s->CreateStream("logs", StreamSettings{}, nullptr).code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(s->CreateStream("Bad", StreamSettings{}, nullptr).code(), StatusCode::kInvalidArgument);
    MustWrite(*s, {Doc("logs", R"({"@timestamp":"2024-05-01T10:00:00Z","message":"user login ok","level":"info"})", "a"),
                   Doc("logs", R"({"@timestamp":"2024-05-01T10:01:00Z","message":"user login failed","level":"error"})")});
    auto g = s->Get("logs", "a");
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(g->has_value());
    EXPECT_NE((*g)->find("login ok"), std::string::npos);
    EXPECT_EQ(CountOf(*s, "logs", Match("message", "login")), 2u);
    EXPECT_EQ(CountOf(*s, "logs", Match("message", "failed")), 1u);
  }
  // Reopen: closed cleanly (blocks) and then more docs only in the WAL.
  {
    auto s = MustOpen(Opts(dir.path()));
    EXPECT_EQ(CountOf(*s, "logs", nullptr), 2u);
    MustWrite(*s, {Doc("logs", R"({"@timestamp":"2024-05-01T10:02:00Z","message":"third"})", "c")}, false);
    auto g = s->Get("logs", "c");  // real-time get before refresh
    ASSERT_TRUE(g.ok() && g->has_value());
  }
  {
    auto s = MustOpen(Opts(dir.path()));
    EXPECT_EQ(CountOf(*s, "logs", nullptr), 3u);
    auto m = s->GetMapping("logs");
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->fields.at("@timestamp").type, FieldType::kDate);
    EXPECT_EQ(m->fields.at("message").type, FieldType::kText);
    EXPECT_TRUE(m->fields.at("message").keyword_subfield);
    auto info = s->GetStream("logs");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->docs, 3u);
    EXPECT_GT(info->bytes_on_disk, 0u);
  }
}

TEST(EventStore, LockHeldByAnotherOpen) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  auto r = EventStore::Open(Opts(dir.path()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(EventStore, UpdateDeleteCreateConflict) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  std::vector<WriteResult> res;
  ASSERT_TRUE(s->Write({Doc("x", R"({"v":1})", "k")}, &res, true).ok());
  EXPECT_EQ(res[0].outcome, WriteResult::Outcome::kCreated);
  ASSERT_TRUE(s->Write({Doc("x", R"({"v":2})", "k")}, &res, true).ok());
  EXPECT_EQ(res[0].outcome, WriteResult::Outcome::kUpdated);
  EXPECT_EQ(res[0].version, 2);
  EXPECT_EQ(CountOf(*s, "x", nullptr), 1u);
  EXPECT_EQ(**s->Get("x", "k"), R"({"v":2})");
  WriteItem c = Doc("x", R"({"v":3})", "k");
  c.op = WriteItem::Op::kCreate;
  ASSERT_TRUE(s->Write({c}, &res, true).ok());
  EXPECT_EQ(res[0].status.code(), StatusCode::kAlreadyExists);
  // Auto id, then update it by id, then delete.
  ASSERT_TRUE(s->Write({Doc("x", R"({"v":10})")}, &res, true).ok());
  std::string auto_id = res[0].id;
  EXPECT_EQ(auto_id.size(), 20u);
  ASSERT_TRUE(s->Write({Doc("x", R"({"v":11})", auto_id)}, &res, true).ok());
  EXPECT_EQ(res[0].outcome, WriteResult::Outcome::kUpdated);
  EXPECT_EQ(CountOf(*s, "x", nullptr), 2u);
  WriteItem d;
  d.op = WriteItem::Op::kDelete;
  d.stream = "x";
  d.id = "k";
  ASSERT_TRUE(s->Write({d}, &res, true).ok());
  EXPECT_EQ(res[0].outcome, WriteResult::Outcome::kDeleted);
  ASSERT_TRUE(s->Write({d}, &res, true).ok());
  EXPECT_EQ(res[0].outcome, WriteResult::Outcome::kNotFound);
  EXPECT_EQ(CountOf(*s, "x", nullptr), 1u);
  EXPECT_FALSE(s->Get("x", "k")->has_value());
  // Invalid JSON and not-an-object are per-item errors.
  ASSERT_TRUE(s->Write({Doc("x", "{bad"), Doc("x", "[1]"), Doc("x", R"({"v":5})")}, &res, true).ok());
  EXPECT_EQ(res[0].status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(res[1].status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(res[2].status.ok());
  // Everything survives a reopen (deletes and updates included).
  s.reset();
  s = MustOpen(Opts(dir.path()));
  EXPECT_EQ(CountOf(*s, "x", nullptr), 2u);
  EXPECT_FALSE(s->Get("x", "k")->has_value());
  EXPECT_EQ(**s->Get("x", auto_id), R"({"v":11})");
}

TEST(EventStore, MappingInferenceAndConflicts) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  MustWrite(*s, {Doc("m", R"({"n":1,"d":1.5,"b":true,"t":"2024-01-01T00:00:00Z","s":"hello","o":{"x":"y"}})")});
  auto m = *s->GetMapping("m");
  EXPECT_EQ(m.fields.at("n").type, FieldType::kLong);
  EXPECT_EQ(m.fields.at("d").type, FieldType::kDouble);
  EXPECT_EQ(m.fields.at("b").type, FieldType::kBoolean);
  EXPECT_EQ(m.fields.at("t").type, FieldType::kDate);
  EXPECT_EQ(m.fields.at("s").type, FieldType::kText);
  EXPECT_EQ(m.fields.at("o.x").type, FieldType::kText);
  std::vector<WriteResult> res;
  ASSERT_TRUE(s->Write({Doc("m", R"({"n":"abc"})"), Doc("m", R"({"n":"42"})"), Doc("m", R"({"t":"yesterday"})")}, &res, true).ok());
  EXPECT_EQ(res[0].status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(res[0].status.message().find("[n]"), std::string::npos);
  EXPECT_TRUE(res[1].status.ok());
  EXPECT_EQ(res[2].status.code(), StatusCode::kInvalidArgument);
  Mapping pm;
  pm.fields["n"] = {FieldType::kKeyword, false};
  Status st = s->PutMapping("m", pm);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("[n]"), std::string::npos);
  pm.fields.clear();
  pm.fields["code"] = {FieldType::kKeyword, false};
  ASSERT_TRUE(s->PutMapping("m", pm).ok());
  MustWrite(*s, {Doc("m", R"({"code":"A-1 b"})")});
  EXPECT_EQ(CountOf(*s, "m", Term("code", std::string("A-1 b"))), 1u);
  EXPECT_EQ(CountOf(*s, "m", Term("code", std::string("a"))), 0u);
  // Explicit mapping at creation.
  Mapping em;
  em.fields["status"] = {FieldType::kLong, false};
  ASSERT_TRUE(s->CreateStream("em", StreamSettings{}, &em).ok());
  ASSERT_TRUE(s->Write({Doc("em", R"({"status":"oops"})")}, &res, true).ok());
  EXPECT_EQ(res[0].status.code(), StatusCode::kInvalidArgument);
}

// A fixed corpus for query and aggregation tests.
class Corpus : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = Opts(dir_.path());
    o.block_max_events = 4;  // many small blocks: pruning paths get exercised
    s_ = MustOpen(o);
    std::vector<WriteItem> items;
    const char* docs[] = {
        R"({"@timestamp":"2024-05-01T00:10:00Z","level":"info","service":"api","status":200,"bytes":100,"message":"GET /jobs ok"})",
        R"({"@timestamp":"2024-05-01T00:20:00Z","level":"error","service":"api","status":500,"bytes":300,"message":"database connection failed"})",
        R"({"@timestamp":"2024-05-01T01:05:00Z","level":"info","service":"web","status":200,"bytes":50,"message":"GET /index ok"})",
        R"({"@timestamp":"2024-05-01T01:30:00Z","level":"warn","service":"web","status":404,"bytes":0,"message":"page not found"})",
        R"({"@timestamp":"2024-05-01T02:00:00Z","level":"error","service":"api","status":503,"bytes":10,"message":"connection refused by database"})",
        R"({"@timestamp":"2024-05-01T03:45:00Z","level":"info","service":"batch","status":200,"bytes":1000,"message":"東京都の求人を取り込みました"})",
        R"({"@timestamp":"2024-05-02T00:00:00Z","level":"error","service":"batch","status":500,"bytes":20,"message":"京都の求人でエラーが発生しました"})",
        R"({"@timestamp":"2024-05-02T05:00:00Z","level":"info","service":"web","status":200,"bytes":70,"message":"user login ok","user":{"name":"Tanaka"}})",
    };
    int i = 0;
    for (const char* d : docs) items.push_back(Doc("c", d, "d" + std::to_string(++i)));
    MustWrite(*s_, items);
    if (GetParam_flush()) {
      s_.reset();
      s_ = MustOpen(o);  // docs now in blocks on disk
    }
  }
  virtual bool GetParam_flush() const { return true; }
  SearchResult Search(QueryPtr q, std::vector<AggRequest> aggs = {}, size_t size = 10) {
    SearchRequest r;
    r.streams = {"c"};
    r.query = q;
    r.aggs = std::move(aggs);
    r.size = size;
    auto res = s_->Search(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : SearchResult{};
  }
  std::string AggJson(AggRequest a) {
    a.name = "a";
    auto r = Search(nullptr, {a}, 0);
    const std::string& j = r.aggregations_json;
    EXPECT_EQ(j.substr(0, 5), "{\"a\":");
    return j.size() > 6 ? j.substr(5, j.size() - 6) : j;
  }
  TempDir dir_;
  std::unique_ptr<EventStore> s_;
};

TEST_F(Corpus, QueryKinds) {
  EXPECT_EQ(CountOf(*s_, "c", nullptr), 8u);
  EXPECT_EQ(CountOf(*s_, "c", Term("level", std::string("error"))), 3u);
  EXPECT_EQ(CountOf(*s_, "c", Term("level.keyword", std::string("error"))), 3u);
  EXPECT_EQ(CountOf(*s_, "c", Term("status", int64_t{200})), 4u);
  Query terms;
  terms.kind = Query::Kind::kTerms;
  terms.field = "service.keyword";
  terms.values = {std::string("web"), std::string("batch")};
  EXPECT_EQ(CountOf(*s_, "c", Q(terms)), 5u);
  Query ids;
  ids.kind = Query::Kind::kIds;
  ids.values = {std::string("d1"), std::string("d8"), std::string("nope")};
  EXPECT_EQ(CountOf(*s_, "c", Q(ids)), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Match("message", "database connection", false)), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Match("message", "database ok", false)), 5u);
  EXPECT_EQ(CountOf(*s_, "c", Match("message", "database ok", true)), 0u);
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "connection failed")), 1u);
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "failed connection")), 0u);
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "東京都")), 1u);
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "京都")), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "求人")), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Match("", "tanaka")), 1u);  // all fields
  Query range;
  range.kind = Query::Kind::kRange;
  range.field = "status";
  range.gte = int64_t{400};
  range.lt = int64_t{503};
  EXPECT_EQ(CountOf(*s_, "c", Q(range)), 3u);
  Query tr;
  tr.kind = Query::Kind::kRange;
  tr.field = "@timestamp";
  tr.gte = std::string("2024-05-01T01:00:00Z");
  tr.lte = std::string("2024-05-01");  // day precision, lte rounds up to the end of the day
  EXPECT_EQ(CountOf(*s_, "c", Q(tr)), 4u);
  Query nowr;
  nowr.kind = Query::Kind::kRange;
  nowr.field = "@timestamp";
  nowr.gte = std::string("now-1h");
  EXPECT_EQ(CountOf(*s_, "c", Q(nowr)), 0u);
  Query ex;
  ex.kind = Query::Kind::kExists;
  ex.field = "user";
  EXPECT_EQ(CountOf(*s_, "c", Q(ex)), 1u);
  ex.field = "user.name";
  EXPECT_EQ(CountOf(*s_, "c", Q(ex)), 1u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kPrefix, "service.keyword", "ap")), 3u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kPrefix, "message", "datab")), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kWildcard, "message", "*nnect*")), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kWildcard, "message.keyword", "*東京*")), 1u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kWildcard, "service.keyword", "w?b")), 3u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kRegexp, "message", "conn[a-z]+")), 2u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kRegexp, "service.keyword", "(api|batch)")), 5u);
  // bool
  Query b;
  b.kind = Query::Kind::kBool;
  b.filter = {Term("service.keyword", std::string("api"))};
  b.must_not = {Term("level", std::string("error"))};
  EXPECT_EQ(CountOf(*s_, "c", Q(b)), 1u);
  Query sh;
  sh.kind = Query::Kind::kBool;
  sh.should = {Term("level", std::string("warn")), Term("status", int64_t{503}), Match("message", "login")};
  EXPECT_EQ(CountOf(*s_, "c", Q(sh)), 3u);
  sh.minimum_should_match = 2;
  EXPECT_EQ(CountOf(*s_, "c", Q(sh)), 0u);
  // Unsupported regexp operator is an error naming it.
  SearchRequest r;
  r.streams = {"c"};
  r.query = Pat(Query::Kind::kRegexp, "message", "a&b");
  auto bad = s_->Search(r);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("&"), std::string::npos);
  r.query = nullptr;
  r.streams = {"missing"};
  EXPECT_EQ(s_->Search(r).status().code(), StatusCode::kNotFound);
}

TEST_F(Corpus, SortPagingSourceAndScoring) {
  // Default: time descending.
  auto r = Search(nullptr, {}, 3);
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"d8", "d7", "d6"}));
  EXPECT_EQ(r.total, 8u);
  // search_after continues.
  SearchRequest req;
  req.streams = {"c"};
  req.size = 3;
  req.search_after = r.hits.back().sort_values;
  auto r2 = *s_->Search(req);
  EXPECT_EQ(Ids(r2), (std::vector<std::string>{"d5", "d4", "d3"}));
  // Explicit sort on a numeric field then time.
  req.search_after.clear();
  req.sort = {{"bytes", true}};
  req.size = 2;
  EXPECT_EQ(Ids(*s_->Search(req)), (std::vector<std::string>{"d6", "d2"}));
  req.from = 1;
  EXPECT_EQ(Ids(*s_->Search(req)), (std::vector<std::string>{"d2", "d1"}));
  req.from = 0;
  req.sort = {{"message", false}};
  EXPECT_EQ(s_->Search(req).status().code(), StatusCode::kInvalidArgument);
  // Scoring: the doc with both terms ranks first.
  req.sort.clear();
  req.query = Match("message", "database refused");
  auto sr = *s_->Search(req);
  ASSERT_EQ(sr.hits.size(), 2u);
  EXPECT_EQ(sr.hits[0].id, "d5");
  EXPECT_GT(sr.hits[0].score, sr.hits[1].score);
  ASSERT_TRUE(sr.max_score.has_value());
  // _source filtering.
  req.query = Term("status", int64_t{404});
  req.source.includes = {"level", "st*"};
  auto fr = *s_->Search(req);
  ASSERT_EQ(fr.hits.size(), 1u);
  EXPECT_EQ(fr.hits[0].source_json, R"({"level":"warn","status":404})");
  req.source.includes.clear();
  req.source.excludes = {"message", "@timestamp", "bytes"};
  EXPECT_EQ(s_->Search(req)->hits[0].source_json, R"({"level":"warn","service":"web","status":404})");
  req.source.enabled = false;
  EXPECT_EQ(s_->Search(req)->hits[0].source_json, "");
  // track_total_hits
  SearchRequest tt;
  tt.streams = {"c"};
  tt.track_total_hits = 3;
  tt.size = 1;
  auto t = *s_->Search(tt);
  EXPECT_EQ(t.total, 3u);
  EXPECT_TRUE(t.total_is_lower_bound);
}

TEST_F(Corpus, Aggregations) {
  AggRequest t;
  t.kind = AggRequest::Kind::kTerms;
  t.field = "service.keyword";
  t.size = 2;
  EXPECT_EQ(AggJson(t), R"({"doc_count_error_upper_bound":0,"sum_other_doc_count":2,"buckets":[{"key":"api","doc_count":3},{"key":"web","doc_count":3}]})");
  t.order = AggRequest::Order::kKeyDesc;
  t.size = 10;
  EXPECT_EQ(AggJson(t), R"({"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"web","doc_count":3},{"key":"batch","doc_count":2},{"key":"api","doc_count":3}]})");
  AggRequest tn;
  tn.kind = AggRequest::Kind::kTerms;
  tn.field = "status";
  tn.size = 1;
  EXPECT_EQ(AggJson(tn), R"({"doc_count_error_upper_bound":0,"sum_other_doc_count":4,"buckets":[{"key":200,"doc_count":4}]})");
  AggRequest text;
  text.kind = AggRequest::Kind::kTerms;
  text.field = "message";
  text.name = "a";
  SearchRequest r;
  r.streams = {"c"};
  r.aggs = {text};
  auto bad = s_->Search(r);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[message]"), std::string::npos);

  AggRequest dh;
  dh.kind = AggRequest::Kind::kDateHistogram;
  dh.field = "@timestamp";
  dh.calendar_interval = "day";
  EXPECT_EQ(AggJson(dh), R"({"buckets":[{"key_as_string":"2024-05-01T00:00:00.000Z","key":1714521600000,"doc_count":6},{"key_as_string":"2024-05-02T00:00:00.000Z","key":1714608000000,"doc_count":2}]})");
  AggRequest fh;
  fh.kind = AggRequest::Kind::kDateHistogram;
  fh.field = "@timestamp";
  fh.fixed_interval_ms = 3600000;
  fh.min_doc_count = 1;
  std::string j = AggJson(fh);
  EXPECT_NE(j.find(R"({"key_as_string":"2024-05-01T00:00:00.000Z","key":1714522000000)"), 0u);
  auto v = boost::json::parse(j).at("buckets").as_array();
  ASSERT_EQ(v.size(), 6u);  // hours 0,1,2,3 of May 1 and 0,5 of May 2
  EXPECT_EQ(v[0].at("doc_count").as_int64(), 2);
  fh.min_doc_count = 0;
  v = boost::json::parse(AggJson(fh)).at("buckets").as_array();
  EXPECT_EQ(v.size(), 30u);  // every hour from May 1 00:00 to May 2 05:00
  fh.extended_bounds_max_ms = 1714608000000 + 10 * 3600000LL;  // May 2 10:00
  v = boost::json::parse(AggJson(fh)).at("buckets").as_array();
  EXPECT_EQ(v.size(), 35u);
  AggRequest tz = dh;
  tz.time_zone = "+09:00";
  v = boost::json::parse(AggJson(tz)).at("buckets").as_array();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].at("key_as_string").as_string(), "2024-05-01T00:00:00.000+09:00");
  EXPECT_EQ(v[0].at("doc_count").as_int64(), 6);  // 2024-05-02T00:00Z is 09:00 on May 2 in Tokyo
  AggRequest mh = dh;
  mh.calendar_interval = "month";
  EXPECT_EQ(AggJson(mh), R"({"buckets":[{"key_as_string":"2024-05-01T00:00:00.000Z","key":1714521600000,"doc_count":8}]})");

  AggRequest h;
  h.kind = AggRequest::Kind::kHistogram;
  h.field = "status";
  h.interval = 100;
  EXPECT_EQ(AggJson(h), R"({"buckets":[{"key":200.0,"doc_count":4},{"key":300.0,"doc_count":0},{"key":400.0,"doc_count":1},{"key":500.0,"doc_count":3}]})");
  h.min_doc_count = 1;
  EXPECT_EQ(AggJson(h), R"({"buckets":[{"key":200.0,"doc_count":4},{"key":400.0,"doc_count":1},{"key":500.0,"doc_count":3}]})");

  AggRequest rg;
  rg.kind = AggRequest::Kind::kRange;
  rg.field = "bytes";
  rg.ranges = {{std::nullopt, std::nullopt, 50.0}, {std::string("mid"), 50.0, 300.0}, {std::nullopt, 300.0, std::nullopt}};
  EXPECT_EQ(AggJson(rg), R"({"buckets":[{"key":"*-50.0","to":50.0,"doc_count":3},{"key":"mid","from":50.0,"to":300.0,"doc_count":3},{"key":"300.0-*","from":300.0,"doc_count":2}]})");

  AggRequest f;
  f.kind = AggRequest::Kind::kFilters;
  f.filters = {{"errors", Term("level", std::string("error"))}, {"ok", Match("message", "ok")}};
  EXPECT_EQ(AggJson(f), R"({"buckets":{"errors":{"doc_count":3},"ok":{"doc_count":3}}})");

  auto metric = [&](AggRequest::Kind k) {
    AggRequest m;
    m.kind = k;
    m.field = "bytes";
    return AggJson(m);
  };
  // bytes: 100 300 50 0 10 1000 20 70 → sum 1550, avg 193.75
  EXPECT_EQ(metric(AggRequest::Kind::kMin), R"({"value":0.0})");
  EXPECT_EQ(metric(AggRequest::Kind::kMax), R"({"value":1000.0})");
  EXPECT_EQ(metric(AggRequest::Kind::kSum), R"({"value":1550.0})");
  EXPECT_EQ(metric(AggRequest::Kind::kAvg), R"({"value":193.75})");
  EXPECT_EQ(metric(AggRequest::Kind::kValueCount), R"({"value":8})");
  EXPECT_EQ(metric(AggRequest::Kind::kStats), R"({"count":8,"min":0.0,"max":1000.0,"avg":193.75,"sum":1550.0})");
  AggRequest card;
  card.kind = AggRequest::Kind::kCardinality;
  card.field = "service.keyword";
  EXPECT_EQ(AggJson(card), R"({"value":3})");
  AggRequest pc;
  pc.kind = AggRequest::Kind::kPercentiles;
  pc.field = "bytes";
  pc.percents = {0, 50, 100};
  // sorted: 0 10 20 50 70 100 300 1000; median between 50 and 70
  EXPECT_EQ(AggJson(pc), R"({"values":{"0.0":0.0,"50.0":60.0,"100.0":1000.0}})");
  AggRequest mt;
  mt.kind = AggRequest::Kind::kMax;
  mt.field = "@timestamp";
  EXPECT_EQ(AggJson(mt), R"({"value":1714626000000.0,"value_as_string":"2024-05-02T05:00:00.000Z"})");

  // Nested: terms → avg
  AggRequest nested;
  nested.kind = AggRequest::Kind::kTerms;
  nested.field = "level.keyword";
  nested.order = AggRequest::Order::kKeyAsc;
  AggRequest sub;
  sub.kind = AggRequest::Kind::kAvg;
  sub.name = "avg_bytes";
  sub.field = "bytes";
  nested.subs = {sub};
  EXPECT_EQ(AggJson(nested), R"({"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"error","doc_count":3,"avg_bytes":{"value":110.0}},{"key":"info","doc_count":4,"avg_bytes":{"value":305.0}},{"key":"warn","doc_count":1,"avg_bytes":{"value":0.0}}]})");
  // Aggregations only see matching docs.
  SearchRequest q;
  q.streams = {"c"};
  q.query = Term("service.keyword", std::string("api"));
  AggRequest s2 = sub;
  s2.name = "x";
  q.aggs = {s2};
  EXPECT_EQ(s_->Search(q)->aggregations_json, R"({"x":{"value":136.66666666666666}})");
}

class CorpusHead : public Corpus {
  bool GetParam_flush() const override { return false; }
};

TEST_F(CorpusHead, SameAnswersFromTheHead) {
  EXPECT_EQ(CountOf(*s_, "c", Phrase("message", "東京都")), 1u);
  EXPECT_EQ(CountOf(*s_, "c", Term("level", std::string("error"))), 3u);
  EXPECT_EQ(CountOf(*s_, "c", Pat(Query::Kind::kRegexp, "message", "conn[a-z]+")), 2u);
  auto r = Search(nullptr, {}, 3);
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"d8", "d7", "d6"}));
}

// date_histogram with IANA time zones: buckets are local days/hours (DST days are 23 or 25 hours
// long), keys are the UTC instants of the local starts, key_as_string carries the local offset.
TEST(EventStore, DateHistogramTimeZones) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  // Around Berlin's switch to summer time (2024-03-31 01:00 UTC) and on both sides of midnight.
  std::vector<WriteItem> items;
  for (const char* t : {"2024-03-29T23:30:00Z", "2024-03-30T22:59:00Z", "2024-03-30T23:00:00Z", "2024-03-31T00:59:00Z",
                        "2024-03-31T01:00:00Z", "2024-03-31T21:59:00Z", "2024-03-31T22:00:00Z"})
    items.push_back(Doc("tz", std::string(R"({"@timestamp":")") + t + R"("})"));
  MustWrite(*s, items);
  auto agg = [&](AggRequest a) {
    a.name = "h";
    a.field = "@timestamp";
    SearchRequest r;
    r.streams = {"tz"};
    r.size = 0;
    r.aggs = {a};
    auto res = s->Search(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? boost::json::parse(res->aggregations_json).at("h").at("buckets").as_array() : boost::json::array{};
  };
  AggRequest day;
  day.kind = AggRequest::Kind::kDateHistogram;
  day.calendar_interval = "day";
  day.time_zone = "Europe/Berlin";
  auto b = agg(day);
  ASSERT_EQ(b.size(), 3u) << boost::json::serialize(b);
  // Mar 30 local starts at Mar 29 23:00 UTC (+01:00); Mar 31 at Mar 30 23:00 UTC; Apr 1 at Mar 31
  // 22:00 UTC (+02:00). 2024-03-29T23:30Z is 00:30 on Mar 30 in Berlin.
  EXPECT_EQ(b[0].at("key_as_string").as_string(), "2024-03-30T00:00:00.000+01:00");
  EXPECT_EQ(b[0].at("key").as_int64(), 1711753200000);  // 2024-03-29T23:00:00Z
  EXPECT_EQ(b[0].at("doc_count").as_int64(), 2);
  EXPECT_EQ(b[1].at("key_as_string").as_string(), "2024-03-31T00:00:00.000+01:00");
  EXPECT_EQ(b[1].at("key").as_int64(), 1711839600000);  // 2024-03-30T23:00:00Z
  EXPECT_EQ(b[1].at("doc_count").as_int64(), 4);        // a 23-hour day
  EXPECT_EQ(b[2].at("key_as_string").as_string(), "2024-04-01T00:00:00.000+02:00");
  EXPECT_EQ(b[2].at("key").as_int64(), 1711922400000);  // 2024-03-31T22:00:00Z
  EXPECT_EQ(b[2].at("doc_count").as_int64(), 1);
  day.time_zone = "Asia/Tokyo";
  b = agg(day);
  ASSERT_EQ(b.size(), 3u) << boost::json::serialize(b);
  EXPECT_EQ(b[0].at("key_as_string").as_string(), "2024-03-30T00:00:00.000+09:00");
  EXPECT_EQ(b[0].at("key").as_int64(), 1711724400000);  // 2024-03-29T15:00:00Z
  EXPECT_EQ(b[0].at("doc_count").as_int64(), 1);
  EXPECT_EQ(b[1].at("key_as_string").as_string(), "2024-03-31T00:00:00.000+09:00");
  EXPECT_EQ(b[1].at("doc_count").as_int64(), 4);
  EXPECT_EQ(b[2].at("key_as_string").as_string(), "2024-04-01T00:00:00.000+09:00");
  EXPECT_EQ(b[2].at("doc_count").as_int64(), 2);
  // Hourly buckets in Berlin skip the missing local hour 02:00 (no empty bucket for it).
  AggRequest hour;
  hour.kind = AggRequest::Kind::kDateHistogram;
  hour.calendar_interval = "hour";
  hour.time_zone = "Europe/Berlin";
  hour.extended_bounds_min_ms = 1711846800000 - 3600000;  // 2024-03-31T00:00Z (01:00 local)
  hour.extended_bounds_max_ms = 1711846800000 + 3600000;  // 02:00Z (04:00 local)
  b = agg(hour);
  std::vector<std::string> keys;
  for (const auto& x : b) keys.emplace_back(x.at("key_as_string").as_string());
  auto at = std::find(keys.begin(), keys.end(), "2024-03-31T01:00:00.000+01:00");
  ASSERT_NE(at, keys.end()) << boost::json::serialize(b);
  ASSERT_LT(at + 2, keys.end());
  EXPECT_EQ(*(at + 1), "2024-03-31T03:00:00.000+02:00");
  EXPECT_EQ(*(at + 2), "2024-03-31T04:00:00.000+02:00");
  // An unknown zone: a clear InvalidArgument naming it.
  day.time_zone = "Mars/Olympus_Mons";
  SearchRequest r;
  r.streams = {"tz"};
  day.name = "h";
  day.field = "@timestamp";
  r.aggs = {day};
  auto bad = s->Search(r);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("Mars/Olympus_Mons"), std::string::npos) << bad.status().ToString();
}

TEST(EventStore, PruningSkipsBlocks) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 100;
  {
    auto s = MustOpen(o);
    std::vector<WriteItem> items;
    for (int i = 0; i < 1000; ++i) {
      std::string msg = i == 777 ? "a rare zebra appeared" : "routine message number " + std::to_string(i % 10);
      items.push_back(Doc("p", R"({"@timestamp":)" + std::to_string(1714521600000LL + i * 1000LL) + R"(,"service":"s)" +
                                   std::to_string(i / 100) + R"(","message":")" + msg + "\"}"));
    }
    MustWrite(*s, items, false);
  }
  auto s = MustOpen(o);
  SearchRequest r;
  r.streams = {"p"};
  r.query = Match("message", "zebra");
  auto res = *s->Search(r);
  EXPECT_EQ(res.total, 1u);
  EXPECT_EQ(res.blocks_scanned, 1u);
  EXPECT_EQ(res.blocks_pruned, 9u);
  // Time range prunes too.
  Query tr;
  tr.kind = Query::Kind::kRange;
  tr.field = "@timestamp";
  tr.gte = int64_t{1714521600000LL + 950 * 1000LL};
  r.query = Q(tr);
  res = *s->Search(r);
  EXPECT_EQ(res.total, 50u);
  EXPECT_EQ(res.blocks_scanned, 1u);
  // Labels prune.
  r.query = Term("service.keyword", std::string("s3"));
  res = *s->Search(r);
  EXPECT_EQ(res.total, 100u);
  EXPECT_EQ(res.blocks_scanned, 1u);
  // Newest 10 by time read only the newest block(s).
  r.query = nullptr;
  r.track_total_hits = 0;
  res = *s->Search(r);
  ASSERT_EQ(res.hits.size(), 10u);
  EXPECT_EQ(res.blocks_scanned, 1u);
}

TEST(EventStore, CorruptBlockIsSkippedAndReported) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 10;
  {
    auto s = MustOpen(o);
    std::vector<WriteItem> items;
    for (int i = 0; i < 50; ++i)
      items.push_back(Doc("k", R"({"@timestamp":"2024-05-01T00:00:00Z","message":"event )" + std::to_string(i) + "\"}"));
    MustWrite(*s, items, false);
  }
  // Damage the middle of the segment file (a payload byte of some block).
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir.path() + "/streams/k"))
    if (e.path().extension() == ".hkv") seg = e.path().string();
  ASSERT_FALSE(seg.empty());
  auto size = fs::file_size(seg);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    char c;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 2));
    c = static_cast<char>(c ^ 0x5A);
    f.write(&c, 1);
  }
  auto s = MustOpen(o);
  SearchRequest r;
  r.streams = {"k"};
  r.track_total_hits = -1;
  auto res = s->Search(r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->total, 40u);
  EXPECT_EQ(res->blocks_damaged, 1u);
  EXPECT_GE(s->stats().damaged_blocks, 1u);
  // Still answers afterwards.
  EXPECT_EQ(CountOf(*s, "k", Match("message", "event")), 40u);
  // Garbage appended (torn block) is cut at open.
  s.reset();
  {
    std::ofstream f(seg, std::ios::app | std::ios::binary);
    f << "HKEV garbage";
  }
  s = MustOpen(o);
  EXPECT_EQ(fs::file_size(seg), size);
  EXPECT_EQ(CountOf(*s, "k", nullptr), 40u);
}

TEST(EventStore, RetentionDropsWholeSegments) {
  TempDir dir;
  auto o = Opts(dir.path());
  auto s = MustOpen(o);
  StreamSettings st;
  st.retention_age = std::chrono::seconds(3 * 86400);
  ASSERT_TRUE(s->CreateStream("r", st, nullptr).ok());
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<WriteItem> items;
  for (int day = 0; day < 6; ++day)
    for (int i = 0; i < 5; ++i)
      items.push_back(Doc("r", R"({"@timestamp":)" + std::to_string(now - day * 86400000LL - i * 1000) + R"(,"m":"x"})"));
  MustWrite(*s, items);
  EXPECT_EQ(CountOf(*s, "r", nullptr), 30u);
  s.reset();  // flush to day segments
  o.refresh_interval = std::chrono::milliseconds(10);
  o.maintenance_interval = std::chrono::milliseconds(50);
  s = MustOpen(o);
  // Retention runs in the background; wait for it.
  for (int i = 0; i < 150 && CountOf(*s, "r", nullptr) != 15u; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(CountOf(*s, "r", nullptr), 15u);  // days 0, 1, 2 kept
  int segs = 0;
  for (const auto& e : fs::directory_iterator(dir.path() + "/streams/r")) segs += e.path().extension() == ".hkv";
  EXPECT_EQ(segs, 3);
}

// Retention by size: the oldest segments go while the stream is larger than retention_bytes; the
// newest one always stays.
TEST(EventStore, RetentionBySizeDropsOldestSegments) {
  TempDir dir;
  auto o = Opts(dir.path());
  auto s = MustOpen(o);
  ASSERT_TRUE(s->CreateStream("r", StreamSettings{}, nullptr).ok());
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<WriteItem> items;
  std::mt19937 rng(7);
  for (int day = 5; day >= 0; --day)
    for (int i = 0; i < 40; ++i) {
      std::string noise;
      for (int k = 0; k < 200; ++k) noise.push_back(static_cast<char>('a' + rng() % 26));  // incompressible-ish
      items.push_back(Doc("r", R"({"@timestamp":)" + std::to_string(now - day * 86400000LL - i * 1000) + R"(,"day":)" + std::to_string(day) +
                                   R"(,"m":")" + noise + R"("})"));
    }
  MustWrite(*s, items);
  s.reset();  // flush: one segment per day
  std::map<std::string, uint64_t> sizes;
  for (const auto& e : fs::directory_iterator(dir.path() + "/streams/r"))
    if (e.path().extension() == ".hkv") sizes[e.path().filename().string()] = fs::file_size(e.path());
  ASSERT_EQ(sizes.size(), 6u);
  // Room for the newest two segments and a bit: the four oldest days go.
  uint64_t limit = 0;
  auto it = sizes.rbegin();
  limit += (it++)->second;
  limit += it->second;
  limit += 10;
  o.refresh_interval = std::chrono::milliseconds(10);
  o.maintenance_interval = std::chrono::milliseconds(50);
  // Set the limit in the stream's meta.json (where index settings live), then reopen.
  {
    std::string meta;
    std::ifstream in(dir.path() + "/streams/r/meta.json");
    meta.assign(std::istreambuf_iterator<char>(in), {});
    auto v = boost::json::parse(meta);
    v.at("settings").as_object()["retention_bytes"] = limit;
    std::ofstream(dir.path() + "/streams/r/meta.json", std::ios::trunc) << boost::json::serialize(v);
    s = MustOpen(o);
  }
  for (int i = 0; i < 150 && CountOf(*s, "r", nullptr) != 80u; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(CountOf(*s, "r", nullptr), 80u);
  EXPECT_EQ(CountOf(*s, "r", Term("day", int64_t{0})), 40u);
  EXPECT_EQ(CountOf(*s, "r", Term("day", int64_t{1})), 40u);
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path() + "/streams/r"))
    if (e.path().extension() == ".hkv") left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{std::next(sizes.begin(), 4)->first, std::next(sizes.begin(), 5)->first}));
  auto info = s->GetStream("r");
  ASSERT_TRUE(info.ok());
  EXPECT_LE(info->bytes_on_disk, limit);
}

// A size limit below one segment keeps the newest segment instead of dropping everything.
TEST(EventStore, RetentionBySizeKeepsTheNewestSegment) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.refresh_interval = std::chrono::milliseconds(10);
  o.maintenance_interval = std::chrono::milliseconds(50);
  auto s = MustOpen(o);
  StreamSettings st;
  st.retention_bytes = 1;
  ASSERT_TRUE(s->CreateStream("r", st, nullptr).ok());
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<WriteItem> items;
  for (int day = 2; day >= 0; --day)
    for (int i = 0; i < 10; ++i)
      items.push_back(Doc("r", R"({"@timestamp":)" + std::to_string(now - day * 86400000LL - i * 1000) + R"(,"day":)" + std::to_string(day) + "}"));
  MustWrite(*s, items);
  s.reset();
  s = MustOpen(o);
  for (int i = 0; i < 150 && CountOf(*s, "r", nullptr) != 10u; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(CountOf(*s, "r", nullptr), 10u);
  EXPECT_EQ(CountOf(*s, "r", Term("day", int64_t{0})), 10u);
}

TEST(EventStore, KillDuringIngestLosesNothingAcknowledged) {
  TempDir dir;
  int pfd[2];
  ASSERT_EQ(::pipe(pfd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pfd[0]);
    auto o = Opts(dir.path());
    o.block_max_events = 50;
    auto r = EventStore::Open(o);
    if (!r.ok()) ::_exit(2);
    auto& s = *r;
    for (int batch = 0;; ++batch) {
      std::vector<WriteItem> items;
      for (int i = 0; i < 20; ++i) {
        std::string id = "b" + std::to_string(batch) + "-" + std::to_string(i);
        items.push_back(Doc("kill", R"({"message":"payload )" + id + R"( some words to fill the block","n":)" + std::to_string(i) + "}", id));
      }
      std::vector<WriteResult> res;
      if (!s->Write(items, &res, batch % 7 == 0).ok()) ::_exit(3);
      std::string line;
      for (auto& wr : res) line += wr.id + "\n";
      if (::write(pfd[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
    }
  }
  ::close(pfd[1]);
  std::set<std::string> acked;
  std::string buf;
  char tmp[4096];
  auto start = std::chrono::steady_clock::now();
  while (acked.size() < 3000 && std::chrono::steady_clock::now() - start < std::chrono::seconds(8)) {
    ssize_t n = ::read(pfd[0], tmp, sizeof tmp);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
    size_t p;
    while ((p = buf.find('\n')) != std::string::npos) {
      acked.insert(buf.substr(0, p));
      buf.erase(0, p + 1);
    }
  }
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  // Lines that arrived after the kill are also acknowledged.
  ssize_t n;
  while ((n = ::read(pfd[0], tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<size_t>(n));
  size_t p;
  while ((p = buf.find('\n')) != std::string::npos) {
    acked.insert(buf.substr(0, p));
    buf.erase(0, p + 1);
  }
  ::close(pfd[0]);
  ASSERT_GT(acked.size(), 100u);
  auto s = MustOpen(Opts(dir.path()));
  for (const auto& id : acked) {
    auto g = s->Get("kill", id);
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(g->has_value()) << "acknowledged id lost: " << id;
    ASSERT_NE((*g)->find(id), std::string::npos);
  }
  SearchRequest r;
  r.streams = {"kill"};
  r.track_total_hits = -1;
  auto res = s->Search(r);
  ASSERT_TRUE(res.ok());
  EXPECT_GE(res->total, acked.size());
  EXPECT_EQ(res->blocks_damaged, 0u);
  EXPECT_EQ(s->stats().damaged_blocks, 0u);
}

// ----- crash images: the files as a kill -9 at a given point of a flush leaves them

std::map<std::string, std::string> ReadFiles(const std::string& dir, const std::string& prefix) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string f = e.path().filename().string();
    if (f.rfind(prefix, 0) != 0) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[f] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

void WriteFileBytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Every doc the test wrote is there exactly once, with its latest source.
void ExpectDocs(EventStore& s, const std::string& stream, const std::map<std::string, std::string>& want) {
  for (const auto& [id, src] : want) {
    auto g = s.Get(stream, id);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(g->has_value()) << "acknowledged id lost: " << id;
    EXPECT_EQ(**g, src) << id;
  }
  EXPECT_EQ(CountOf(s, stream, nullptr), want.size());
}

// A kill -9 after a flush wrote its blocks and ids.log but before it removed the old
// write-ahead log: the replayed log must not mark its own (already flushed) docs as superseded.
TEST(EventStoreCrash, WalLeftBehindAfterCompletedFlush) {
  TempDir dir;
  std::map<std::string, std::string> want;
  std::map<std::string, std::string> wal;
  auto o = Opts(dir.path());
  o.block_max_events = 4096;  // no flush before Close
  {
    auto s = MustOpen(o);
    std::vector<WriteItem> items;
    for (int i = 0; i < 300; ++i) {
      std::string id = "d" + std::to_string(i);
      std::string src = R"({"message":"doc )" + id + R"(","n":)" + std::to_string(i) + "}";
      items.push_back(Doc("c", src, id));
      want[id] = src;
    }
    // Overwrites inside the same log: the latest version must win after replay.
    for (int i = 0; i < 300; i += 7) {
      std::string id = "d" + std::to_string(i);
      std::string src = R"({"message":"again )" + id + R"("})";
      items.push_back(Doc("c", src, id));
      want[id] = src;
    }
    MustWrite(*s, items, false);
    wal = ReadFiles(dir.path() + "/streams/c", "wal-");
    ASSERT_EQ(wal.size(), 1u);
    ASSERT_GT(wal.begin()->second.size(), 10000u);
  }  // Close: flush to blocks + ids.log, new log, old log removed
  ASSERT_EQ(ReadFiles(dir.path() + "/streams/c", wal.begin()->first).size(), 0u);
  for (const auto& [f, data] : wal) WriteFileBytes(dir.path() + "/streams/c/" + f, data);
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto s = MustOpen(o);
    ExpectDocs(*s, "c", want);
  }
}

// A kill -9 in the middle of a flush that spans two time partitions: the blocks of the first
// partition are on disk, the second partition's are not, ids.log is as before the flush.
TEST(EventStoreCrash, FlushTornBetweenTimePartitions) {
  TempDir dir;
  std::map<std::string, std::string> want;
  std::map<std::string, std::string> wal, idlog;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  {
    auto s = MustOpen(Opts(dir.path()));
    std::vector<WriteItem> items;
    // Newer day first (lower seqs), then the older day: the older day's segment is written first.
    for (int day = 0; day < 2; ++day) {
      for (int i = 0; i < 100; ++i) {
        std::string id = "day" + std::to_string(day) + "-" + std::to_string(i);
        std::string src = R"({"@timestamp":)" + std::to_string(now - day * 86400000LL - i) + R"(,"message":"doc )" + id + R"("})";
        items.push_back(Doc("c", src, id));
        want[id] = src;
      }
    }
    MustWrite(*s, items, false);
    wal = ReadFiles(dir.path() + "/streams/c", "wal-");
    idlog = ReadFiles(dir.path() + "/streams/c", "ids.log");
  }
  auto segs = ReadFiles(dir.path() + "/streams/c", "seg-");
  ASSERT_EQ(segs.size(), 2u);
  // Undo the newer day's segment (written second), restore the log and ids.log.
  fs::resize_file(dir.path() + "/streams/c/" + segs.rbegin()->first, 0);
  fs::remove(dir.path() + "/streams/c/ids.log");
  for (const auto& [f, data] : idlog) WriteFileBytes(dir.path() + "/streams/c/" + f, data);
  for (const auto& [f, data] : wal) WriteFileBytes(dir.path() + "/streams/c/" + f, data);
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto s = MustOpen(Opts(dir.path()));
    ExpectDocs(*s, "c", want);
  }
}

// The same flush torn after both partitions' blocks were written but before ids.log: the blocks
// of the unfinished flush must not show up twice next to the replayed log.
TEST(EventStoreCrash, FlushTornBeforeIdsLog) {
  TempDir dir;
  std::map<std::string, std::string> want;
  std::map<std::string, std::string> wal, idlog;
  {
    auto s = MustOpen(Opts(dir.path()));
    std::vector<WriteItem> items;
    for (int i = 0; i < 200; ++i) {
      std::string id = "x" + std::to_string(i);
      std::string src = R"({"message":"doc )" + id + R"("})";
      items.push_back(Doc("c", src, id));
      want[id] = src;
    }
    MustWrite(*s, items, false);
    wal = ReadFiles(dir.path() + "/streams/c", "wal-");
    idlog = ReadFiles(dir.path() + "/streams/c", "ids.log");
  }
  fs::remove(dir.path() + "/streams/c/ids.log");
  for (const auto& [f, data] : idlog) WriteFileBytes(dir.path() + "/streams/c/" + f, data);
  for (const auto& [f, data] : wal) WriteFileBytes(dir.path() + "/streams/c/" + f, data);
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto s = MustOpen(Opts(dir.path()));
    ExpectDocs(*s, "c", want);
  }
}

// ?refresh=wait_for: waits for a refresh by someone else and never forces one.
TEST(EventStore, WaitForRefreshWaitsForTheNextRefresh) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.refresh_interval = std::chrono::hours(1);  // no periodic refresh during the test
  auto s = MustOpen(o);
  MustWrite(*s, {Doc("w", R"({"m":"one"})", "1")}, false);
  EXPECT_EQ(CountOf(*s, "w", nullptr), 0u);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_TRUE(s->WaitForRefresh({"w"}).ok());
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(returned.load()) << "wait_for forced a refresh";
  EXPECT_EQ(CountOf(*s, "w", nullptr), 0u);
  ASSERT_TRUE(s->Refresh({"w"}).ok());
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(CountOf(*s, "w", nullptr), 1u);
  // Nothing unrefreshed: returns at once. A missing stream: NotFound.
  EXPECT_TRUE(s->WaitForRefresh({"w"}).ok());
  EXPECT_EQ(s->WaitForRefresh({"nope"}).code(), StatusCode::kNotFound);
}

TEST(EventStore, WaitForRefreshReleasedByThePeriodicRefresh) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.refresh_interval = std::chrono::milliseconds(200);
  auto s = MustOpen(o);
  for (int i = 0; i < 3; ++i) {
    MustWrite(*s, {Doc("w", R"({"m":"x"})")}, false);
    ASSERT_TRUE(s->WaitForRefresh({"w"}).ok());
    EXPECT_EQ(CountOf(*s, "w", nullptr), static_cast<uint64_t>(i + 1));
  }
  // A delete is waited for too.
  MustWrite(*s, {Doc("w", R"({"m":"y"})", "d")}, true);
  std::vector<WriteResult> res;
  WriteItem del;
  del.op = WriteItem::Op::kDelete;
  del.stream = "w";
  del.id = "d";
  ASSERT_TRUE(s->Write({del}, &res, false).ok());
  ASSERT_TRUE(s->WaitForRefresh({"w"}).ok());
  EXPECT_EQ(CountOf(*s, "w", nullptr), 3u);
}

// _version: 1 when created, +1 per overwrite, kept across a flush and a reopen.
TEST(EventStore, VersionsIncreaseOnOverwrite) {
  TempDir dir;
  auto o = Opts(dir.path());
  {
    auto s = MustOpen(o);
    for (int v = 1; v <= 3; ++v) {
      std::vector<WriteResult> res;
      ASSERT_TRUE(s->Write({Doc("v", R"({"n":)" + std::to_string(v) + "}", "a")}, &res, false).ok());
      EXPECT_EQ(res[0].version, v);
      EXPECT_EQ(res[0].outcome, v == 1 ? WriteResult::Outcome::kCreated : WriteResult::Outcome::kUpdated);
      int64_t ver = 0;
      uint64_t seq = 0;
      auto g = s->Get("v", "a", &ver, &seq);
      ASSERT_TRUE(g.ok() && g->has_value());
      EXPECT_EQ(ver, v);
      EXPECT_EQ(seq, res[0].seq_no);
      EXPECT_EQ(**g, R"({"n":)" + std::to_string(v) + "}");
    }
  }
  auto s = MustOpen(o);
  int64_t ver = 0;
  auto g = s->Get("v", "a", &ver);
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ(ver, 3);
  std::vector<WriteResult> res;
  ASSERT_TRUE(s->Write({Doc("v", R"({"n":4})", "a")}, &res, false).ok());
  EXPECT_EQ(res[0].version, 4);
}

// A full disk (RLIMIT_FSIZE: writes past the limit fail with EFBIG) in a child process that keeps
// writing: clear errors, then after a kill -9 and a reopen without the limit, nothing that was
// acknowledged is lost. `limit_kb` small: the write-ahead log, ids.log and segments all hit it.
void DiskFullRun(uint64_t limit_bytes, size_t block_events, int seconds) {
  TempDir dir;
  int pfd[2];
  ASSERT_EQ(::pipe(pfd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pfd[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {limit_bytes, limit_bytes};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(5);
    auto o = Opts(dir.path());
    o.block_max_events = block_events;
    o.refresh_interval = std::chrono::milliseconds(20);
    o.head_flush_interval = std::chrono::milliseconds(50);
    o.maintenance_interval = std::chrono::milliseconds(100);
    auto r = EventStore::Open(o);
    if (!r.ok()) ::_exit(2);
    auto& s = *r;
    std::mt19937 rng(3);
    for (int batch = 0;; ++batch) {
      std::vector<WriteItem> items;
      for (int i = 0; i < 20; ++i) {
        std::string id = "b" + std::to_string(batch) + "-" + std::to_string(i);
        std::string noise;  // hardly compressible, so that segments fill up too
        for (int k = 0; k < 100 + i * 7; ++k) noise.push_back(static_cast<char>('a' + rng() % 26));
        items.push_back(Doc("full", R"({"message":"payload )" + id + " " + noise + R"(","n":)" + std::to_string(i) + "}", id));
      }
      std::vector<WriteResult> res;
      Status st = s->Write(items, &res, false);
      std::string line;
      for (auto& wr : res) line += (st.ok() && wr.status.ok() ? "A " : "E ") + wr.id + " " + (st.ok() ? wr.status.ToString() : st.ToString()) + "\n";
      if (::write(pfd[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
    }
  }
  ::close(pfd[1]);
  std::set<std::string> acked;
  std::vector<std::string> errors;
  std::string buf;
  char tmp[4096];
  auto take = [&] {
    size_t p;
    while ((p = buf.find('\n')) != std::string::npos) {
      std::string l = buf.substr(0, p);
      buf.erase(0, p + 1);
      size_t sp = l.find(' ', 2);
      if (l[0] == 'A') acked.insert(l.substr(2, sp - 2));
      else errors.push_back(l);
    }
  };
  // At least `seconds`, and on until writes have been failing for a while (a slow, loaded
  // machine fills the files later), at most a minute.
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(60) &&
         (std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds) || errors.size() < 200)) {
    ssize_t n = ::read(pfd[0], tmp, sizeof tmp);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
    take();
  }
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  ssize_t n;
  while ((n = ::read(pfd[0], tmp, sizeof tmp)) > 0) buf.append(tmp, static_cast<size_t>(n));
  take();
  ::close(pfd[0]);
  ASSERT_GT(acked.size(), 0u);
  ASSERT_FALSE(errors.empty()) << "no write failed under a " << limit_bytes << "-byte file size limit (" << acked.size() << " acknowledged)";
  EXPECT_NE(errors[0].find("File too large"), std::string::npos) << errors[0];
  auto s = MustOpen(Opts(dir.path()));
  size_t lost = 0;
  std::string first_lost;
  for (const auto& id : acked) {
    auto g = s->Get("full", id);
    ASSERT_TRUE(g.ok());
    if (!g->has_value()) {
      if (!lost++) first_lost = id;
    }
  }
  EXPECT_EQ(lost, 0u) << "acknowledged ids lost, e.g. " << first_lost << " (" << acked.size() << " acknowledged, " << errors.size() << " errors)";
  EXPECT_GE(CountOf(*s, "full", nullptr), acked.size());
  // Space again: writes work.
  MustWrite(*s, {Doc("full", R"({"message":"after"})", "after")});
  EXPECT_EQ(CountOf(*s, "full", Match("message", "after")), 1u);
}

// Writable() (readiness): Ok while open; after a write cannot reach the WAL (EFBIG under a 32 KiB
// RLIMIT_FSIZE in a forked child, where the 64 KiB trial write fails too) it reports that error;
// a later successful write clears it; Unavailable once closed. The child's exit code names the
// first step that went wrong.
TEST(EventStoreDiskFull, WritableReflectsWalErrors) {
  TempDir dir;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {32u << 10, 32u << 10};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(20);
    auto r = EventStore::Open(Opts(dir.path()));
    if (!r.ok()) ::_exit(21);
    auto& s = *r;
    std::vector<WriteResult> res;
    if (!s->Write({Doc("w", R"({"message":"small"})", "a")}, &res).ok() || !res[0].status.ok()) ::_exit(22);
    if (!s->Writable().ok()) ::_exit(23);
    std::string big = R"({"message":")" + std::string(48u << 10, 'x') + R"("})";
    if (s->Write({Doc("w", big, "big")}, &res).ok()) ::_exit(24);
    Status w = s->Writable();
    if (w.ok()) ::_exit(25);
    if (w.ToString().find("File too large") == std::string::npos) ::_exit(26);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the trial write is retried and fails
    if (s->Writable().ok()) ::_exit(27);
    if (!s->Write({Doc("w", R"({"message":"small again"})", "b")}, &res).ok() || !res[0].status.ok()) ::_exit(28);
    if (!s->Writable().ok()) ::_exit(29);
    s->Close();
    if (s->Writable().code() != StatusCode::kUnavailable) ::_exit(30);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed step (see the test body): " << WEXITSTATUS(status);
}

TEST(EventStoreDiskFull, SmallLimitManyFlushes) { DiskFullRun(256 << 10, 50, 3); }
TEST(EventStoreDiskFull, LargerLimit) { DiskFullRun(1 << 20, 500, 4); }

TEST(EventStore, ConcurrentReadersAndOneWriter) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 32;
  auto s = MustOpen(o);
  ASSERT_TRUE(s->CreateStream("cc", StreamSettings{}, nullptr).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    for (int b = 0; b < 60; ++b) {
      std::vector<WriteItem> items;
      for (int i = 0; i < 25; ++i) items.push_back(Doc("cc", R"({"message":"hello world )" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}"));
      std::vector<WriteResult> res;
      if (!s->Write(items, &res, true).ok()) ++errors;
      written += items.size();
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!stop) {
        auto before = written.load();
        auto c = s->Count({"cc"}, Match("message", "hello"));
        if (!c.ok()) { ++errors; continue; }
        // Counts never go backwards; refreshed writes are all visible.
        if (*c < last) ++errors;
        last = *c;
        (void)before;
        AggRequest a;
        a.kind = AggRequest::Kind::kStats;
        a.name = "s";
        a.field = "n";
        SearchRequest r;
        r.streams = {"cc"};
        r.aggs = {a};
        if (!s->Search(r).ok()) ++errors;
      }
    });
  writer.join();
  for (auto& r : readers) r.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(CountOf(*s, "cc", nullptr), 1500u);
}

TEST(EventStore, CompactionMergesSmallBlocks) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 100;
  for (int round = 0; round < 6; ++round) {  // each Close() flushes a small block
    auto s = MustOpen(o);
    std::vector<WriteItem> items;
    for (int i = 0; i < 5; ++i)
      items.push_back(Doc("cmp", R"({"@timestamp":"2024-05-01T00:00:0)" + std::to_string(i) + R"(Z","message":"round )" +
                                     std::to_string(round) + R"( item )" + std::to_string(i) + R"(","service":"s)" + std::to_string(i) + "\"}",
                          "r" + std::to_string(round) + "-" + std::to_string(i)));
    MustWrite(*s, items, false);
  }
  SearchRequest r;
  r.streams = {"cmp"};
  r.track_total_hits = -1;
  r.size = 100;
  o.maintenance_interval = std::chrono::milliseconds(20);
  auto s = MustOpen(o);
  auto before = *s->Search(r);
  EXPECT_EQ(before.total, 30u);
  EXPECT_EQ(before.blocks_scanned, 6u);
  SearchResult after;
  for (int i = 0; i < 200; ++i) {
    after = *s->Search(r);
    if (after.blocks_scanned == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(after.blocks_scanned, 1u);
  EXPECT_EQ(after.total, 30u);
  EXPECT_EQ(CountOf(*s, "cmp", Phrase("message", "round 3")), 5u);
  EXPECT_EQ(CountOf(*s, "cmp", Term("service.keyword", std::string("s2"))), 6u);
  EXPECT_TRUE(s->Get("cmp", "r4-2")->has_value());
  s.reset();
  s = MustOpen(o);  // the compacted file reopens cleanly
  EXPECT_EQ(CountOf(*s, "cmp", nullptr), 30u);
  EXPECT_EQ(s->stats().damaged_blocks, 0u);
}

// Repeated compactions in one process while blocks are read and new ones flushed: every doc stays
// readable with its own source (the block cache must never hand a new block an old block's data).
TEST(EventStore, CompactionCyclesKeepEveryDocReadable) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 40;  // small blocks: fewer than 10 docs
  o.refresh_interval = std::chrono::milliseconds(10);
  o.head_flush_interval = std::chrono::milliseconds(20);
  o.maintenance_interval = std::chrono::milliseconds(30);
  auto s = MustOpen(o);
  std::map<std::string, std::string> want;
  for (int round = 0; round < 60; ++round) {
    std::vector<WriteItem> items;
    for (int i = 0; i < 3 + round % 5; ++i) {
      std::string id = "c" + std::to_string(round) + "-" + std::to_string(i);
      std::string src = R"({"message":"round )" + std::to_string(round) + " item " + id + R"("})";
      items.push_back(Doc("cc", src, id));
      want[id] = src;
    }
    MustWrite(*s, items, false);
    // Read everything (fills the block cache) between flushes and compactions.
    for (const auto& [id, src] : want) {
      auto g = s->Get("cc", id);
      ASSERT_TRUE(g.ok() && g->has_value()) << "round " << round << ": " << id << " unreadable";
      ASSERT_EQ(**g, src) << "round " << round;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  ExpectDocs(*s, "cc", want);
  s.reset();
  s = MustOpen(o);
  ExpectDocs(*s, "cc", want);
}

TEST(EventStore, DeleteStreamAndList) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  MustWrite(*s, {Doc("one", R"({"a":1})"), Doc("two", R"({"a":2})")});
  auto l = s->ListStreams();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "one");
  EXPECT_EQ(l[0].docs, 1u);
  ASSERT_TRUE(s->DeleteStream("one").ok());
  EXPECT_EQ(s->DeleteStream("one").code(), StatusCode::kNotFound);
  EXPECT_FALSE(s->HasStream("one"));
  s.reset();
  s = MustOpen(Opts(dir.path()));
  EXPECT_EQ(s->ListStreams().size(), 1u);
}

}  // namespace
}  // namespace hakone::store
