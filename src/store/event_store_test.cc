// Tests of the event store engine: writes, replay, queries, aggregations, mappings, retention,
// corruption, kill -9, concurrency.
#include "store/event_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/crc32c.h"
#include "store/store_test_util.h"

namespace hakone::store {
namespace {

namespace fs = std::filesystem;

using testutil::Doc;
using testutil::MustOpen;
using testutil::MustWrite;
using testutil::Opts;
using testutil::Q;
using testutil::TempDir;
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
  std::string seg = testutil::SegmentFile(dir.path(), "k");
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


// ---------------------------------------------------------------------------------------------
// Block format versions and doc frames

// A stream written by the version-2 block format (hakone before doc frames): 76 generated log
// lines (bench/store_bench.cc gen 12000) in 4 blocks of at most 20 docs, auto ids.
const char* const kV2Meta = R"({"uuid":"5702fde2eac40ffba46317","salt":"f5d01b5","created_ms":1795764579638,"settings":{"time_field":"@timestamp","label_fields":["env","service","level","host"],"retention_age_s":0,"retention_bytes":0,"number_of_shards":1,"number_of_replicas":0},"mapping":{"@timestamp":{"type":"date"},"env":{"type":"text","keyword_subfield":true},"host":{"type":"text","keyword_subfield":true},"level":{"type":"text","keyword_subfield":true},"message":{"type":"text","keyword_subfield":true},"service":{"type":"text","keyword_subfield":true}}})";
const char* const kV2IdsLogHex = "110000000fffb58443000000000000000000000000000000001100000074bf9f0f4301000000000000004c00000000000000";
const char* const kV2SegHex =
    "484b455602000000010000000000000014000000000000000080ed2a59170600e07d0a2b59170600140000005c010000590600008c040000880c0000b1030000f14e8d2039f4"
    "951d2ced01de1fa870670403656e76020470726f640773746167696e6704686f73740a07686f73742d313107686f73742d313307686f73742d313507686f73742d313607686f"
    "73742d313706686f73742d3207686f73742d323006686f73742d3506686f73742d3606686f73742d39056c6576656c02056572726f7204696e666f0773657276696365050361"
    "7069046175746805626174636807637261776c657203776562e005000006bab22e060e50c61099d8830b9e608a284245118e8cc8d523fabb241cfa4b5121ce1266e65745799d"
    "d161313bb37252c006e05530452bb76df0a854ba3547c4be22f5fd191803b4eab8f01c080d12d8b0401176962078c9b1ec3b1c0fa8a4768516910a621223948050280a8101b0"
    "24b82cdd0a39e6dda02411166ef1d60473040a1b6988f40ce52cdc8edde6dfede652660777118c563360d046e9410bd8df8d07627fa67fe432b48fe5bb18684b9b86bbf14780"
    "6867f1ec273c081028b52ffd6059051524004a46e40e4500ad5807c066266500a7ff7fd219fe2480d601c31134369c0230340160308067e748f9d9736ccffeaa222c0450fdff"
    "ffffcfedc12db6faffffcba9009f7c43442491326907cf00d300df00996f2190c7b37df2c6b96d0b711e98b3e641c75cff39c63f9b07fc402f533859026da08733efba93a52e"
    "e4c1ac839cc762fc1ebffe819de5f8f77d3690d765ccc9d207f43a8c71b2e4e96ec73d20cff379ba9c71aeebecc6b7adb36e3f73b7eeb177be71b2b47d210e5f8aff708fb307"
    "b9afb8ff715fe1208fb3ef6f3ddc77dcf3ba8ec3dc39ee33beb97f68a90a404b550b2d553b5aaa72b454add05275a3a52a8596aa9a96aa1a2d55335aaa62b454cdb454cd5aaa"
    "622d55312d55af96aa564bd5d752d531031322aa13070e5c01b9e3a31e8da2497ccf9e2449a59b71132943dcc03c7b0f3dc076dc834380dd3879210ab89efd8528c03e0011c3"
    "44ba37ff88f47e05284951e36ebcd41936e32571c4b81d1f450c9bf191de20851858e3a3388e1ad326528649679a83fe5d8c34195e846538caae8f7ac340388a32c66f1249a5"
    "489b4ca228e3d96b0d5128c2fefd3ab659435486179875cc31c71a6547782fb6f62f4ce2086dc74b5387580a31a6f85197182196f12ef4efa10fe44258f6906b7ce3380f0c7d"
    "f2e5dbe771dee793017c3e988577a10efc60d93bce0371e0270723cead7232b70a88b943989c1b045a828e6c3877063401baf1759653656e1615748f489ddba404dd240ad03d"
    "7286c880eed43972ee0de7c69ceb512cb020a8acb82c3857cccd52c1dc2b20e65eb1f63c619d1eacaa1174abf29fa4560fa8148b0376dfba5fd9cafbbdaf09313788b9f1f55f"
    "556871fe41a0fb646eacf10b6dc05eee75202fc471b0fb401bf7be8f0b7930191f35d9314014cbdb21ea12a9ccd6627e334ca48cb02433e77a934822494d6a88c6509318e3f7"
    "184b3d96a4ee20a0c791263b30f49831c513f0bf382371e4b81d1f6992d42271e4c0e89247c811d6ed5bfb8f59ebd6dfb5885460d4647eff0d5d406f601683e57cb18cc9d9cd"
    "e0b7ff9ef9bf1730697b2d1cb55a3b507841add612e80b7e5771307704f385c5dc2a2b2e1a5c464a5cf0cd270d2e24e7de80d282706e1205222b061195b94fa81009ad558516"
    "be1e22a115c17c4911c1c2ae717b61ab55cb79c24269a1521ecc1d8232f960a1586061ce65f2013281c56045b1acd86aae55991bb53aa15a17522ea4ac0a444026b04e522bb6"
    "f00e145e38a44250acd38305e7fe70b062eb6e5344b0404e09d01dc2601d2971698060fd70b08e20d14222d25aad5a209c7bb56ac19afb25d0970fab169673ab045fa8511864"
    "3c0b898c04223329480ac30160023993b5391058e926c9b406b8040c40c34c928130c0e5944d11fba8b1d5d8e7a57921bae31324d5520a0e544a13bc39d613b7909603f66a3b"
    "6cd241ac54ac7534a10668e7758aa41a672d4c51a93054dd0de3faf26010049dbf0d7b50cd58a9215b8b6f6f8e68d39fd91b58c91f5676dd3e7c7c8e484d38c1d96a5bd6c273"
    "bfc3be9a4c74be69e9eb7a9b993296a4e01998e6be56182a53c31e39e2f81036c636c9fa6d5d0ce3c0eeab43555561b9ea00bb1a28b52ffd60880b3d1d0046ad9e440091b60d"
    "4c22fe1b2efdffff7390bf38500281e43d3299cfde312243cecfcac0944ad647ad27f3d259de68b6dff355b7fe1ad3d7c6ba4964db6685010451a8aaaa1a87048d0091008d00"
    "27c46e22ec24544ea2125309b06b005f5eb8308d84c64eb775328fff7778a057a1be49af7d6b59b2d31be7994b5b2f8bedcc41722403ec236067216252f9600a09bb09931389"
    "d412a6983a19e7999b98b9d1fb3333d3a3cb13336f80ccf4b8ee9898b97db2999959db3c76e6133335a7db66667ab247f64c0cc55faf7deb33f3c3651ecfdce60d98100080a0"
    "025edef26a361c7293398893b7a7e5aed39acc3cd3645eb6a99883856dbd29175711698c21bea820b5dc9d3d0fb2ad590fd43759c05e92e14221ec2218c615182df8ab90b0a3"
    "803d243a81783182988c214c4e95e6659aea03f5cd162cc2be42ec21b063173f5612fb4a78227694ea6b08ea9b9cab582541c47e127612611721f692b0b3845d66461b4e2492"
    "5308ec25b107d6574f82eb8bd07f8b31acc90fb6de3bff7fad1a15d3a01af425a737476eb267cb38b2db3ada23ef7daca295fe866ad10a5f6cb10b95950db4f624c5aeaaa256"
    "46a319707ce40692f38d93b943cb347c51a0be49121ae17272c2c54284714269467d7b3db66486c00190d28c110ea694923105d847225328c38802761609621f5518452c2366"
    "ad50dface4c70ed4b2fe492a56b185a2c34b8992115fffcd050910486b6b7de97520cd65b2ba6c75ab2a77de6c2db7e6f0ace9fd915e97b98fec635922ea9bf75ab8decbfee8"
    "b27fbfc365abe51cbdd84b4aab7c4ab1b778836b34838ded936d4805050cbcfd10ea9b3be76eeb7499c381800e6d67996fc84e4bce5d145bb9b3c7c9a407d2d2e319e420ef7e"
    "a831496668644432224961f2d0220924b0b20d12c0911401823214c71030084a311c420492758aa0cb4c50ba01b0013a36dc3fc85d91b2abe86cb1a1f791bbd242c974d4994f"
    "4babbe923c6ec86af51e69552008e5dd11c627f2dbd392b77d6de8bc1453e5e58dd388139002649e694689a328d3bd8a1511d7c9c7a10c1ed43fc3ff241723a5b2ca40623442"
    "97f667d5e388f7d6e26171be10727b8f83dca2ac00289f151143a6d82c2e869761d0e338f656f8dc1304da9fc53b8167da4e4162fb92b810416fdc9ca70bf68a14c36e8a9e62"
    "d2d6cda352db67c54dc2c025a1b56fd636a92b43978c202b83d248e265c8254fb0461b1437f95de5b2217d4b341f6e7e5abd65a30d72abdeb94f5a31ab2d27ea1053d40d2553"
    "8c844d778f322742e1818bfc455301610a484b4556020000001500000000000000280000000000000080040c2b591706006002292b5917060014000000880100002a0600008d"
    "040000560c0000f8030000cdc452040a23da3d2e9bf0c8b5cf25840403656e76020470726f640773746167696e6704686f73740f06686f73742d3107686f73742d313007686f"
    "73742d313107686f73742d313207686f73742d313407686f73742d313507686f73742d313607686f73742d313707686f73742d313806686f73742d3306686f73742d3406686f"
    "73742d3506686f73742d3706686f73742d3806686f73742d39056c6576656c03056572726f7204696e666f047761726e07736572766963650503617069046175746805626174"
    "636807637261776c657203776562f0050000061aaa1145b074a6653642bba39ebfd29a96a05778d2b16b0664003fa00fa05be9d3b96e49b0b66e2f14800d6120e4eca56cb156"
    "044048f28dc623341c20cbd347e116138b36d0170ab08d05702353d096d101e6c88483ce2530c895a85dba5a8d40850efab8061b3f09b0935002c2f284852029574c5e084879"
    "1140231cd93dec1e13c68b9d07046b2931400d1d9a1ecd345a5bd0573b1022e3756560bbd0c806753ee5e2fe8da62698a083e56b96ec5cdce179e2db26d9aba46d899d400328"
    "b52ffd602a051d24004a4dac0f4200ad461ddb9b5e72faffe7e54f8afd3800204064804c0c1864f9d00666feb7701d00dd804479c7d82c1effffffffdfd7ec89a805fdffbf08"
    "44e593acb5bbc9de927eda00dc00e400996bef6e63a98fa087bb8dedeecdef4790b37599adf80872dd96d9be873d0eb76537e32388b56cca38e6691a976577fa08765b96598a"
    "8f20e6e1cc668e61dec6c159467f0cc3b2fa4ca51896d1e9c2d0ec9a63d806db78b8693787db9e83fbe2dd8629e61b6ecd391ee6346c2bee71380ed3f0adaee1b6ae715d966d"
    "f0bd7897619af10c775334c65de9a98ae1ee6b51fc5b9b56ec877095a6e62acd8cab3431aed2bcb84ad3e22acdcc559a1557695e5769525ca5695da5595da5495da579afd2b4"
    "57694e5769d6ab34e9559a7d95e6ad8212163c98686000131e9f6fc36a9e3d42e057205f7a3114c53c65d0870394a9eb9a8687d2630d0fad68e7f1d3f8c8cf43d5ea5315b3c7"
    "c727766e45bb9341a0b063690e861daaf928e62c7e9dabf99849108da9e9bb4f6963ac8e0ef9694c6d750729fa2ac6c9109849f2bb181f41e187fc3a1f8f50e8bb6e2ba5b79f"
    "d0474f594a824421f859ea622637bec9e218077bde44f14ccb364ff36ea5ed7d7a87b5cec3ba5bf1eed53bae33dfb08de3268b73b7f7b2cee34c986359a7618d732d8e651bde"
    "30cec57c04b7cd36613cc336fa6faff738dac671dab5c7d886cb345b3f821b0ed36c67c8e8b4621620861fb6a945ab46fea0b49e82c4efa35e1ccbb0cdabbed9645c57df6598"
    "d332be751bde54b76a318fa28a71f0cb223986441475521466f0438ac88f1c6db5f4bfe5007d383e72bcd43b3ae297478b714f068922328b54451b4424b3385127c72c1a9045"
    "4f1e451b59bcd407bc2b26e309c550f5e471cc9d500c551827c730543308f285ae983d62385107857dab067d38428f092414808e1a6180daef6ecc45b801fa54d0a7ad7b3ead"
    "f91822c98ee91800e41876d44c6d3273d05b35188a1bb54fd92a861bb42d6dcce4c91de307f4d9a034f7e48e0e9937eeadda930374a253a5137dad9fe869ee7c088879bcddb4"
    "dfb43d3281ec31bdbeaaa0c834fdd41697b22ca8cbf64f009469bd1f4159c900e1c57e44e985828bc9898bb54228b8d87b0ca4b3420812072d28115aec2571d012a265a484c5"
    "fe1b504e7c90a06174928cb0584be4018b829511950ba3730445e401cb8792157b9f01c2cb85129211961006084a278982156bdde4c465c18115fb8f28bd6c403961adab90ce"
    "1411a433256474a6888c4e101e48278793d2696f5281744e289dd642503aed55e9303a55524aa78812d2e9e1a4746248503a4d48202694ce129209e9ac408a303a49888c4e12"
    "210c563a9894ce0ea3d35aff50b2a261a484e502096a4f4946a7c8e8b4f728115a7e0ea545a85118823448942281cc485041124dda80823133ca0310883b19f60ccf00aa88a1"
    "3999e24210e047b714fee5521b3a38a7cf905df5b47ead43514a3c0a3a213be839a3cb5280952279ca82a1ef6e9e286737945bfb5d303d547bba5a84fa24bc10bd0331860f1e"
    "ffd05c5a489166c83487a14bc235bd16b4903a046e44f93a218b595381ff0f95a733afb411fe2d246f00fa5528b52ffd60560b751f009671a6411073d3068019a45955555535"
    "ce3074cdedeec110e74744f5e8933d95f5a87c7e34796b42880e90354b46fc7fe3c48863a4b74296567677b578902d22000000b50598008f00a300169133ed186d11a36da3b4"
    "4b489b0669cb28ed91d146296d1ca48d52da26a53d63b475947cc438e151e3848a27bb3c57e76bbb19be21d06411b98c51493dbbfcc56ac249b973fe93afecea7874fc12b016"
    "e2b9393fe62e8ea3e1cd691c48f6eee2281ca0713a6b1f77711f4bdf8dd3b8b72e10fcd95d9cd6c92ea771a0077990bbbcf7e2a360a41356a8711b76757eecd2065c05001d2c"
    "01237cb02839d94ac32272101a2c701b2b4bb9ce421a761d3e59e374fc1cac39d63af92d0d6faeb3c744ee4651282a1a630567655ff5f083422eb6a8078bc85511d6893f873c"
    "63b2bee9ef45b7d4a4b5ce4cde681132d77633fe00410239395844eeb908d68f1d6e38049cf339d479ec997669ebb34cb3fcf3dd5c7d3976f32158c3f825885a55d2424b551a"
    "658d1f02104a91233192a287898b1e1b2c9c32a0fc98b58a5142d71c508001e58708102a354a4e3046db44a232d2e13463b45348174adba4e1449272fae8d093382a66c28879"
    "98071dd370c7390fba6ec7b3cba3815cca58ab69f17f7679b22730a1c0c7c2f773c633cd336661251dbfee5cd721cd75fed084c7af2a41d12a3a86d236216d15a48d2285b45d"
    "63fab07242626564e4a2b45b90b68a1b2b24252a2c469be4e4f4222247595827f4fc5a649343faeaecd2424cb3300fdab04be13119ffe36b65329abc69fdb1f4771c5a99c322"
    "72b4a250c2199f9db3c6182b2920badeb0d7fa06f07cad0bb46dd7018306f151e77c8643d87dacf31682750585982ac2171fb5900af128686da4903e8aca13f4d15adfb39482"
    "714a13d452b5be092b29e38c32c4b330c619a99d16c28095a82145850c4989449124854963c0220944c8ac031220b208c98010024308049118618410461991e6e41c67c980c1"
    "055cc122f68ba37d54c0a224aa0096d3488577015b15d1262221450833e04c2a325c8be40d826893ed2eea83687eedcaf2808b82ff09a0a0b0e62f6a92a70fa3ec5412f12318"
    "6e641fd1daf5b21d7afe53b63fb38368a5ebbe05ed0888cdc8e3122e4c3446baa31d4d89660b5a374750549efeb7153fe88f188d762c7633f0848d72d62848dbe2662253e86f"
    "e276eea3e3808c51bdde494c34f2734147803115b595befb7013bb1f2ade215c0ee8bb854d38327ac23a9f574e0ca553bb39d760121eb8f2acbfb7319712f19081aba571b70e"
    "8c578ce102347e356e2f981b33ff02c3958864a492503b0a3732bb878285e8f6785e684ec98378626684d9290345784f9ce4b5a5ccf934267dddb400ed44b75100daecf15ab2"
    "4d8a25d4a4f70ff17b15484b45560200000029000000000000003c0000000000000000892a2b59170600e086472b5917060014000000770100001a06000082040000570c0000"
    "c0030000eeb5bbaff5ca4142b6560c4a2f4abc8a0403656e76020470726f640773746167696e6704686f73740d06686f73742d3107686f73742d313007686f73742d31320768"
    "6f73742d313307686f73742d313407686f73742d313707686f73742d313807686f73742d313907686f73742d323006686f73742d3306686f73742d3706686f73742d3806686f"
    "73742d39056c6576656c03056572726f7204696e666f047761726e07736572766963650503617069046175746805626174636807637261776c657203776562d805000006f820"
    "b560a0d1d9ad3069802afc5f8329970aac62ba5bbaac96a47054809725d9aae4c110afa2c0a4905edc167a2d2c6314e5608efdb1e48c359cd8af58bd55a57615008bb4fae682"
    "c146d156f80c8840b51cb36a261dd800347802664e2536a1c334a429f881439e66ca60fe63ac06f1064ecf792b60a6bf91463e04fe386727b24424e41080578d153949526912"
    "25186e7512b1d930aa051e502ca5ecb034c507dee4c8974781a3124df68e107d5e950d600fcb9302de436ccf0428b52ffd601a05c52300aa48300f43108d3a071b10ab22baaa"
    "aac353b38b9806194911ba393c1a33c574a17c445b4f83c6805993f3f10bd391cdabaaaaaa8afbed7faf5a55557510ba46bd5edb5b4a29935ad400d600e7009f67ddc99107ec"
    "3c9cf1cfe370baafc3003839e27456e3dd266fbafbfe9d53649b39c8d9741b3063169e410ef8655cfdcbaf39d8c935f3cce1647bbdd3e5faf5bf9cebc5379b5c2dbec98fefd7"
    "ec14bef16490e3e1b04b56a91eee2b4e8e400fe4f075907bcd3fee0138f875be8fc361164e8e72e771f8e21ef718efb8d7aaad997bb77cb51bee2d1557ceb1af75e31e614353"
    "001b9a6a3634b5d8d034b3a169c586a6141b9a623634dd3634bd6c68aa6d686ad9d034dbd014dbd0146f687a3734b51b9ad60d4d7f4353c70a4c807828a12a500902ec471450"
    "ff33e20549642d9c24fa8c8744ef9500252966d88b971a63248e1716f3fb76142faa858774062922892eb2af1fd21aa2f00257d81fc571d4d7e2df275437f73ea18a3d7f4215"
    "e3dc275435197ec2320c65ffd6fe1db50647388230af155b902691449076355b75062804dda7a8350354869f9b39e636a3dc08edfd2f4b235d962176ff4992282a439048a354"
    "0ab76a6dfdaf60a25258b1ec4bd286380a71857f9d8ff3b20773bb558f5bf772063d1d886107fde21d2e7f5ee7c3de3faff0afeb7838f7fee70da75e9c1c711c8f87ad93a33b"
    "c4b4b16675e1dc164c1b670e9854e7363945cc6dd2326d11aa73770831ed0c084c7b757eb060daaa7375ee0b67ab2425c159626e9309e62e4199bbc4dc58f373e4756ae01259"
    "99b688b971c647542e0d29d50b4385576cc9638b57ae87b951e6c65e79d604148d7330ed93b9b1858f7ac02872e09addfad11cd56e4f1a430e7b71cfdb78aa731e277bd77307"
    "dc7496af3f6a726314eab1244b1bd900512cedad16c3208930c2920c69d2b851ea31eb184b3dde9026372ef488b95b4c481c439a2435481c4b16522c593dea084b1896fda843"
    "a34892a291fdfa241186a8713bf4808e92808f18d5ffbabdd6edf56adf35484460d424e6f5ff5f4313d01a37730ce6df622eb66475c3aa76d1b2ff7f772740d2d53a09d309ac"
    "79609ec09a9b98bb5592f291b20a49397da46438f705101f1e5c0c5608405c154050b0e62215c760ee53ca03020a6b020acadc1e1050b0c61f98274842bcb0e62cd6c939f202"
    "819252bdb0fb06d6c908050de6f648bd700615e1a5c0953271618d02890b57fc9442f9f04081c485000415e135a2f248bd4e0d129c5b020317d638498817ea74c0b43d14b870"
    "c65721290b0cb8b0e61218b8448c38c19a3b38378b7582dd49984e6c609de08c9b9cbb25e2dcad93b95b28737fe8706e0e2d5352a831100371d82034333313a43405c9015002"
    "61cc6a1d1090e9b26f908133c783d73d2f67e5a55e6a02532315a5b9c2bb509e8fb737fa9f42345af428f2a261740710ee12e4d382e0041fbc74334fb35e353363fc3ab2862a"
    "fec0bf3836af71b2d1ec58d157003d255a3923cc4cf00f09eec13d397ec4a6259a7c4c0cfd66b2a51d284d339329411d84ec1f3ad53c67229aa7761f50839175f2957044a4ad"
    "9f5f9fdca7f01e186a28b52ffd60570bb51d00a62d9f430091b60d2c17f60d97feffff39c8a7436a3786ef91c9606a76270466303ed9502a598f6a5dba9b6878516dbfc771b9"
    "c2af315533a3955ee99505198394f7ffff7f7b6c910087008b0078aa34401b2a60645e5248d307179a5de418ae783e09d85bbe5ee2eb23c0bef2f598af3f47a586d74fbcaec2"
    "a10403a224f2fa08ec28c07ee2eb255e9450564826bc2e422991681196b4943c32e71a8b9be8d1f616393124d37113ab39801339ae7dc44dbcb61c39515b57c8d63c6ea2f6c9"
    "aec889201da2417123a5ac929ad4d67927276e58e6b8c62eae408c00e045131496139e1d2d624d6e7d104de3be528aab09733a1a0402231ae439bfb0d71f56b63cb2cb23739c"
    "6e6d6f5d3168ba7829c7a5944372c8f998b63fefd1a02b7f3ebb3c34d0cf6a69fdad79c8e2726732d17451007d6ec334c7e500cf33ede2b27581b62d775c5bee78070d1630f8"
    "ad7d9e4afb1e9ded10a7f763596f8e6fa1bb3548246f8bb254019395b5ca7616a11f345dac55561c9bb6aa2f257d6ad25ba9dbc13b1a840308eab419345d8cf1faa8c64c85af"
    "7b280963cc90c114ddf075181899ef85e492222324610945b094a6b42957d2ea0103054fada5cf65210dcb8fad9c24a6bfb5676b5c5bdade9ecb343692371c82def9239b763c"
    "04dea379e8a3f75b3acb34eb35cf9dcc650fa63a68ba484d345de4989df0a5eeb5950b165f5f017691d72749e534027b8c16b0bb78ddc4b3210306e94414623b824e757e763d"
    "c5165ffaefd11ffccaaecfd3f95b836c4de49668ba08424462a605c5cc05092185d18d5bad9deef41c03094846374e3a905e56c2145e5741218932842e5e8ff926805dc54288"
    "12135216c69da8ca5eeace4a2b6943602a2b8a6d3567d5a0e9229d538083a8114d4688646432324192a631b0220924a03a0f1240a1180a221906640820028c2141022560d421"
    "c42e282d150ea42099aa88cd6b7f719385210943ced9cc6532d7a4772e26ef5689f340a270540f35d980f617cec390184f1b9d9d8b35d5f56345a4a9d1671d09a41c4df39d34"
    "86accc409d29d9d50530e01f362ff854ba4427926ef89619f8d1c75c8164d9306362b7686eb832b531068f08ff7a148d20c5959a1b6d928cf67b58e8eedd699aae788c7bdef6"
    "e3580e163d878f2a898f9b4fec60e9aed07fde83310092d7ccce9168be76034044fdb980c9742740b5c1a68f680088030430a196bb208b4c446da051143a092e550eb7cccb3d"
    "c56186106c145c0cab6588e1b7aa73c6aadab4f033d43f8c79c072e2067c69bd493a800cd8eb48b5b7050e879deaf1468d520ca8c5fe7ea181a902484b4556020000003d0000"
    "00000000004c00000000000000800d492b59170600e0f05f2b59170600100000005f010000d5050000400400006e0a0000930300009859889733e0aa4aee5e5e7d5a443e3104"
    "03656e76020470726f640773746167696e6704686f73740c07686f73742d313007686f73742d313207686f73742d313307686f73742d313507686f73742d313707686f73742d"
    "313906686f73742d3207686f73742d323006686f73742d3506686f73742d3606686f73742d3806686f73742d39056c6576656c0104696e666f07736572766963650503617069"
    "046175746805626174636807637261776c657203776562b005000006d0dcc2215fca356a9a2c743e340e53c18bd0e462d4e630493883a3545134f8866aa111b838047646ca35"
    "e6866678c77a10a39414e5375d97177d1648fe1464fad1b016504fa064f7aa914402e9a891eb11824a2d25424196105c4cb4df8d00621d14915b2da037a7a476afce3721efa9"
    "9aa01667403afdb2a4a8e7ee8f0fcc8ab2410386d32330696f858bd0318d50561b98c67b9c0b101a2a51f24bd0122ff6801e2440196401aba494fe1955214794cc0dab0dcf7a"
    "28b52ffd60d504b521005a454c0e42108d5863833fabeabb72a5a11f3c29c2d5872f621dc67bc11da1e7f9a8439d0d93335da9fa620720a20ae000000000400476c9f6010000"
    "00c4183bda264512290905c500c800d60000be71ddd7795daeae619dbdeffe97e2c65d389c5f8add9671b8e2da76f9b6fb7bdca76ddf9629bc6ec3f8a5f8699475aed32cc5b9"
    "efe27d9a966daeffc530cdda635ab5aebd724c562d5e8a1ce6cbbeeccbee7dfdb24afdf2651be66599e25d56f3b9acd66bdb86d9326c7976c1bc2dc3d4b7acda97a2965100fe"
    "619a96dd5bab96d553b7505856ab67b78efd0f2e34b5b8d014c085a615179a5e179a525c686a5d686ab9d0b4bad0345f688a2f34bd179a52179ada0b4deb85a6c70b4a7c9890"
    "0871a012bf1805d811a31352f99db05aae09abc73437f7950066396e28ebd5d419d6ba38921814555572c4b0f91abd29c34e885169f426636a8c6c5da33921888135c7238206"
    "74feab5a2fa93905403293c5316349ad493093edf5260366ae55ab2db5b97171ebff4ae14dc6042f6ec56f37a6064855373da2364d30572f3b6368829990e3f18097b5afd471"
    "e801ed75b3a3318a20bebe7d980d732b8e79e5dea5bb5c6ebdc7611fb761dc9679d9255fbffc7eeb3a4dfbb075cfabf698c77ddfe6e5eadef3b5ccc3745f97039f8d7202da21"
    "46e72e19016d1105a00d7282c800daa313e4dc1ace8def4d2c98209c153e7b04c7678f08392891808036c93d8c4a1c442353c8884ad9df0aeef86c8ecfc6165c49154e1595da"
    "01b4439f8df3493d801c0be06c2bf64217b0d62f1ba775ff7dd7751d47710df33ecd629dd4a506555d043569961e8dca7ec0389a9486099a25aed5be1e6774c20cd02cf37d67"
    "0ccb5297b9ba4677480d539355adb7b562694652a3cb526746d263a96e96a387d2e206e8c9d749ad21c76b5f96a14859ef841923e7da6fe801f6fa8647802d2f4601940df514"
    "65afb5b7b7b7d6ab3321015297f91c4d4073ee7f5150f956bd165bd58bffd7d713e8684b595c442a6da070c22305642425e49122726e0d26275cb9c78752031008e716f93829"
    "f82861f83891e0877c764874ea8870225538610bee8870c2f7249289d383c9e4241a99b0e51c3ebb435432c16462c1846fc904d3677348302d288950423e5b440a894e174494"
    "70e521d1c9e34309675c2f882829f8e09060f2302a618b6fa0702264d42132851c2400ed8e05256c39c8480a0304257c2ff27122914c60cb51ce7d12e2dc27a1cf3e01717c36"
    "8892737718018168387706d009682700a1900447a84118832c6b8c2122222414888c446d500261ce8c1b10689841526a0cae2679db14c631c4129ea578601aa73bb23dd8d85f"
    "4ab11b6377b626fb65d865044e7ec288b80adf1cea19a6e8e4dad3ea1c4e5ac388fad88069cbaf50388be3dc959ffa4032eb828a996d8d03871391831514a9126d861ce2aa70"
    "18d43d9ad94963e0662130b26fbb3a36541d41053c45439af996e3376a6d7eed1535ba06560128b52ffd606e094d1c0026efa142f072dc06ccddeca01978069ea32a503681de"
    "2cd16058a53233b3a4ce02183c8670555c8dd424a31af18b5ed2b05b3f9983da68b4b2bbbb0b7e7549161687c5c9a70592008a009500f5639c7f2b9e14d3cbd668102ed7962f"
    "efe000828fecfac87ce30eff64d981ea60090e500701ea34429de4f5185e7f11ea2250bf95adaa9450b7e1f594503f097518a02e1a9d4eccf8309c9c3ef2de1a8315b8d1b80d"
    "666048a6610562e4800ce45bebc00ad468119881daba4238bd61056a9cec8219e8d121da032b31c61baf9cb64a2c3370c332df1abb7801280140092a5befb7d6da181f4c2823"
    "4c1bbcbec2e4542ae9f06498ecb5653ba23a28b1c41596345e492d9e35b544757063533e88a6f18fb7624c6f46a3412030a2417eef0b7bddb1b21527bd407570528aa1f2b7e6"
    "239afde199efbf35e24a2b4cb32cdab3613982b66c4e6b2e5b974b666f9c777ea33b16d79ce7b4472473d69c37a80e5a6c6fe5f4fefcc668ad02203c9864903e17a05e323289"
    "327c30403d874721d44b2c7ca31c5fc40890cf374c739e03fcceb48b67ebf26c5b6eb080c1731ae767b4bfd119f7e19a7b2c6b8eefed73ab1496cafad9f5535e8cc5f67fa33b"
    "fbca2ece57f99c06e13411cc01cf2709f513afa3f0ba891c5eff4c49875349c449046211ea2bbc8e02e53422995490b8f191987c254c4ef8a2501da4d6ce893fd3ae1d1ddc58"
    "c560392a7d2d42f05041faa29d417510c73969b5b1e21a935698622889eae003060a9e620cc53ccf3e1a963f562aafac9ed31b4edbe8bdb5a571dbf34c632379ab2626112f9e"
    "f35a5a7175f19c527aa03a58edb4dc6b8996281fd338ce6fb4e7ca9ccfae0fcdf315add3727a47ac81eaa008d1891d272c765c98f05548e921ab78a9fc8c810424293d0266a8"
    "214944080533128a042369d21cb022092438330f12e0e0200c21118482200801290a448840718a0858e651700cd18e86872fda460ae88b692dcb13c01a02e0f2f3d8ddd8176f"
    "7e631dee129e6863880f90bb9e1e951ead9d974272217d4116464893af292ef76c255250a80e495d951eac7ef9e85f748ad3d6c938f9e4aab19d85482ed43099af94ce81a6a7"
    "83d4aaa952b63ef5d5484339a5f9c8fca89fbda97ef98a5f56fa48620bd0ae0f743aaef27db19b07a28a0fa52f8dfa8a92a629c975b2eba0349d0fd62390a03531ea3cb71c9a"
    "382623a63e3d57cf2f4a6f464192663a731e5df5c66dcd1b45e1dbc01229308926971854c54eb490dc5401";

std::string Unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::string V2SegPath(const std::string& dir) { return dir + "/streams/logs/seg-20240501-1.hkv"; }

void WriteV2Store(const std::string& dir) {
  fs::create_directories(dir + "/streams/logs");
  WriteFile(dir + "/streams/logs/meta.json", kV2Meta);
  WriteFile(dir + "/streams/logs/ids.log", Unhex(kV2IdsLogHex));
  WriteFile(V2SegPath(dir), Unhex(kV2SegHex));
}

// Every doc of the stream (at most 1000), newest first.
std::vector<SearchHit> AllHits(EventStore& s, const std::string& stream) {
  SearchRequest r;
  r.streams = {stream};
  r.size = 1000;
  r.track_total_hits = -1;
  auto res = s.Search(r);
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  return res.ok() ? res->hits : std::vector<SearchHit>{};
}

// Counts computed from the sources themselves must equal the engine's answers.
void CheckAgainstSources(EventStore& s, size_t want_docs) {
  auto hits = AllHits(s, "logs");
  ASSERT_EQ(hits.size(), want_docs);
  size_t hokkaido = 0, errors = 0, api = 0;
  for (const auto& h : hits) {
    auto v = boost::json::parse(h.source_json).as_object();
    std::string msg(v.at("message").as_string());
    hokkaido += msg.find("北海道") != std::string::npos;
    errors += v.at("level").as_string() == "error";
    api += v.at("service").as_string() == "api";
    auto got = s.Get("logs", h.id);
    ASSERT_TRUE(got.ok() && got->has_value()) << h.id;
    EXPECT_EQ(**got, h.source_json);
  }
  EXPECT_GT(hokkaido, 0u);
  EXPECT_GT(errors, 0u);
  EXPECT_EQ(CountOf(s, "logs", Phrase("message", "北海道")), hokkaido);
  EXPECT_EQ(CountOf(s, "logs", Term("level.keyword", std::string("error"))), errors);
  EXPECT_EQ(CountOf(s, "logs", Match("service", "api")), api);
}

TEST(EventStoreFormat, ReadsVersion2BlocksAndMixesWithVersion3) {
  TempDir dir;
  WriteV2Store(dir.path());
  auto o = Opts(dir.path());
  {
    auto s = MustOpen(o);
    ASSERT_TRUE(s);
    CheckAgainstSources(*s, 76);
    EXPECT_EQ(s->stats().damaged_blocks, 0u);
    // New docs go to version-3 blocks in the same segment file.
    std::vector<WriteItem> items;
    for (int i = 0; i < 30; ++i)
      items.push_back(Doc("logs", R"({"@timestamp":)" + std::to_string(1714521700000LL + i) +
                                      R"(,"level":"error","service":"api","host":"h","env":"prod","message":"北海道 new )" + std::to_string(i) + "\"}"));
    MustWrite(*s, items, false);
  }
  auto s = MustOpen(o);
  CheckAgainstSources(*s, 106);
  EXPECT_EQ(s->stats().damaged_blocks, 0u);
}

TEST(EventStoreFormat, CompactionRewritesVersion2BlocksAsVersion3) {
  TempDir dir;
  WriteV2Store(dir.path());
  auto o = Opts(dir.path());
  o.block_max_events = 200;  // the four 20-doc blocks are "small" (< 50)
  o.maintenance_interval = std::chrono::milliseconds(20);
  auto s = MustOpen(o);
  ASSERT_TRUE(s);
  SearchRequest r;
  r.streams = {"logs"};
  r.track_total_hits = -1;
  SearchResult after;
  for (int i = 0; i < 200; ++i) {
    after = *s->Search(r);
    if (after.blocks_scanned == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(after.blocks_scanned, 1u);
  CheckAgainstSources(*s, 76);
  s.reset();
  std::ifstream f(V2SegPath(dir.path()), std::ios::binary);
  std::string head(8, '\0');
  f.read(head.data(), 8);
  EXPECT_EQ(head.substr(0, 4), "HKEV");
  EXPECT_EQ(static_cast<int>(head[4]), 3);
  s = MustOpen(o);
  CheckAgainstSources(*s, 76);
}

TEST(EventStoreFormat, NewerBlockVersionRefusesToOpenAndKeepsTheFile) {
  TempDir dir;
  auto o = Opts(dir.path());
  {
    auto s = MustOpen(o);
    MustWrite(*s, {Doc("nv", R"({"message":"one"})"), Doc("nv", R"({"message":"two"})")}, false);
  }
  std::string seg = testutil::SegmentFile(dir.path(), "nv");
  ASSERT_FALSE(seg.empty());
  auto size = fs::file_size(seg);
  {
    // Version 200 with a valid header checksum (CRC-32C of bytes [0, 76) at 76).
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    std::string h(80, '\0');
    f.read(h.data(), 80);
    h[4] = static_cast<char>(200);
    uint32_t crc = crc32c::Value(h.data(), 76);
    std::memcpy(h.data() + 76, &crc, 4);
    f.seekp(0);
    f.write(h.data(), 80);
  }
  auto r = EventStore::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("format version 200"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("index [nv]"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(fs::file_size(seg), size);  // not cut off as a torn tail
}

TEST(EventStoreFormat, DamagedFrameSkipsItsBlockOnlyWhenRead) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.block_max_events = 2000;
  std::vector<std::string> ids;
  {
    auto s = MustOpen(o);
    std::vector<WriteItem> items;
    for (int i = 0; i < 2000; ++i) {
      std::string word = i == 10 ? "zeppelin" : (i == 1990 ? "quasar" : "routine");
      ids.push_back("d" + std::to_string(i));
      items.push_back(Doc("fr", R"({"@timestamp":)" + std::to_string(1714521600000LL + i) + R"(,"message":")" + word + " event " +
                                     std::to_string(i) + R"( with some padding text to fill the frames"})",
                          ids.back()));
    }
    MustWrite(*s, items, false);
  }
  std::string seg = testutil::SegmentFile(dir.path(), "fr");
  ASSERT_FALSE(seg.empty());
  // Docs are stored in seq order at the end of the (only) block: damage a byte in the middle of
  // the docs section, far from the first and last frames.
  auto size = fs::file_size(seg);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    std::string h(80, '\0');
    f.read(h.data(), 80);
    uint32_t docs_comp;
    std::memcpy(&docs_comp, h.data() + 60, 4);
    ASSERT_EQ(h[4], 3);
    auto at = static_cast<std::streamoff>(size - docs_comp / 2);
    f.seekg(at);
    char c;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5A);
    f.seekp(at);
    f.write(&c, 1);
  }
  auto s = MustOpen(o);
  // Fetching docs from intact frames works: the damage is not read.
  EXPECT_EQ(CountOf(*s, "fr", Match("message", "zeppelin")), 1u);
  // Newest first by time, as log views ask (sorting by _score would first read every doc of the
  // block for BM25 field lengths).
  SearchRequest r;
  r.streams = {"fr"};
  r.sort = {{"@timestamp", true}};
  r.query = Match("message", "quasar");
  auto one = s->Search(r);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->hits.size(), 1u);
  EXPECT_EQ(one->hits[0].id, "d1990");
  EXPECT_EQ(one->blocks_damaged, 0u);
  auto g = s->Get("fr", "d5");
  ASSERT_TRUE(g.ok() && g->has_value());
  // A query that needs the damaged frame reports the block and skips it, without counting any
  // of its docs, and the store keeps answering.
  r.query = nullptr;
  r.track_total_hits = -1;
  auto all = s->Search(r);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->blocks_damaged, 1u);
  EXPECT_EQ(all->total, 0u);
  EXPECT_EQ(s->stats().damaged_blocks, 1u);
  EXPECT_EQ(CountOf(*s, "fr", Match("message", "zeppelin")), 0u);  // the block is now skipped
  MustWrite(*s, {Doc("fr", R"({"@timestamp":1714521700000,"message":"zeppelin again"})")});
  EXPECT_EQ(CountOf(*s, "fr", Match("message", "zeppelin")), 1u);
}

}  // namespace
}  // namespace hakone::store
