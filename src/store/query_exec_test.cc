// Tests of the query side of the event store: range `time_zone` (date math in a DST zone), BM25
// relevance with collection statistics, and search_after paging across many blocks.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "store/event_store.h"
#include "store/store_test_util.h"
#include "store/es_query.h"
#include "store/store_internal.h"
#include "store/tz.h"

namespace hakone::store {
namespace {

namespace fs = std::filesystem;
using internal::ParseDateMs;
using internal::ResolveDateBound;

using testutil::Doc;
using testutil::MustOpen;
using testutil::MustWrite;
using testutil::Opts;
using testutil::Q;
using testutil::TempDir;

int64_t Ms(const char* iso) { return *ParseDateMs(iso); }

// ----- range time_zone

TEST(RangeTimeZone, DateBoundsInADstZone) {
  auto berlin = TimeZone::Get("Europe/Berlin");
  ASSERT_TRUE(berlin.ok()) << berlin.status().ToString();
  const TimeZone* tz = berlin->get();
  auto r = [&](const char* s, bool up, int64_t now = 0) {
    auto v = ResolveDateBound(Value(std::string(s)), now, up, tz);
    EXPECT_TRUE(v.ok()) << s << ": " << v.status().ToString();
    return v.ok() ? *v : INT64_MIN;
  };
  // A date without offset is local time: winter +01:00, summer +02:00.
  EXPECT_EQ(r("2024-01-15T10:00:00", false), Ms("2024-01-15T09:00:00Z"));
  EXPECT_EQ(r("2024-07-15T10:00:00", false), Ms("2024-07-15T08:00:00Z"));
  // An explicit offset wins over time_zone; epoch millis are instants.
  EXPECT_EQ(r("2024-07-15T10:00:00Z", false), Ms("2024-07-15T10:00:00Z"));
  EXPECT_EQ(r("2024-07-15T10:00:00+09:00", false), Ms("2024-07-15T01:00:00Z"));
  EXPECT_EQ(r("1721037600000", false), 1721037600000);
  // Day precision: gte from local midnight, lte to the last ms of the local day. 2024-03-31 is the
  // spring-forward day in Berlin (23 hours long): 23:00Z on the 30th to 22:00Z on the 31st.
  EXPECT_EQ(r("2024-03-31", false), Ms("2024-03-30T23:00:00Z"));
  EXPECT_EQ(r("2024-03-31", true), Ms("2024-03-31T22:00:00Z") - 1);
  // Fall-back day (25 hours): 22:00Z on Oct 26 to 23:00Z on Oct 27.
  EXPECT_EQ(r("2024-10-27||/d", false), Ms("2024-10-26T22:00:00Z"));
  EXPECT_EQ(r("2024-10-27||/d", true), Ms("2024-10-27T23:00:00Z") - 1);
  // now/d rounds to the local day; now at 2024-03-31T12:00Z (14:00 CEST).
  int64_t now = Ms("2024-03-31T12:00:00Z");
  EXPECT_EQ(r("now/d", false, now), Ms("2024-03-30T23:00:00Z"));
  EXPECT_EQ(r("now/d", true, now), Ms("2024-03-31T22:00:00Z") - 1);
  // Hours are added on the UTC timeline (24h before 14:00 CEST is 13:00 CET the day before) ...
  EXPECT_EQ(r("now-24h", false, now), now - 24 * 3600000LL);
  // ... days in local time (same wall-clock time the day before: 14:00 CET = 13:00Z).
  EXPECT_EQ(r("now-1d", false, now), Ms("2024-03-30T13:00:00Z"));
  // Month rounding in local time.
  EXPECT_EQ(r("2024-04-10T00:30:00||/M", false), Ms("2024-03-31T22:00:00Z"));
  // Without a zone nothing changes.
  auto utc = ResolveDateBound(Value(std::string("2024-03-31")), 0, true, nullptr);
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(*utc, Ms("2024-04-01T00:00:00Z") - 1);
}

TEST(RangeTimeZone, MalformedBounds) {
  auto tokyo = TimeZone::Get("Asia/Tokyo");
  ASSERT_TRUE(tokyo.ok());
  for (const char* bad : {"-", "now/", "now-", "now/x", "now+1q", "2024-13-01", "99999999999999999999999", "2024-01-01||*1d", "tomorrow",
                          "9223372036854775807", "now+99999999y+99999999y+99999999y+99999999y", "-"}) {
    auto v = ResolveDateBound(Value(std::string(bad)), 0, false, tokyo->get());
    EXPECT_FALSE(v.ok()) << bad;
  }
}

TEST(RangeTimeZone, DslParsesAndRefusesBadZones) {
  auto ok = es::ParseQuery(boost::json::parse(R"({"range":{"@timestamp":{"gte":"2024-03-31","lte":"2024-03-31","time_zone":"Europe/Berlin"}}})"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->time_zone, "Europe/Berlin");
  auto utc = es::ParseQuery(boost::json::parse(R"({"range":{"@timestamp":{"gte":"now-1d","time_zone":"+00:00"}}})"));
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ((*utc)->time_zone, "");
  for (const char* bad : {R"({"range":{"@timestamp":{"gte":"now","time_zone":"Mars/Olympus_Mons"}}})",
                          R"({"range":{"@timestamp":{"gte":"now","time_zone":5}}})",
                          R"({"range":{"@timestamp":{"gte":"now","time_zone":"+25:99"}}})"}) {
    auto r = es::ParseQuery(boost::json::parse(bad));
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(RangeTimeZone, SearchSelectsTheLocalDay) {
  TempDir dir;
  auto s = MustOpen(Opts(dir.path()));
  // Around Berlin's spring-forward day 2024-03-31 (local day = [03-30T23:00Z, 03-31T22:00Z)).
  std::vector<WriteItem> items;
  for (const char* t : {"2024-03-30T22:59:59Z", "2024-03-30T23:00:00Z", "2024-03-31T12:00:00Z", "2024-03-31T21:59:59Z",
                        "2024-03-31T22:00:00Z", "2024-03-31T23:30:00Z", "2024-04-01T10:00:00Z"})
    items.push_back(Doc("tz", std::string(R"({"@timestamp":")") + t + R"(","d":")" + t + R"("})"));
  MustWrite(*s, items);
  for (const char* field : {"@timestamp", "d"}) {  // the time field and a plain date field
    Query q;
    q.kind = Query::Kind::kRange;
    q.field = field;
    q.gte = std::string("2024-03-31");
    q.lte = std::string("2024-03-31");
    q.time_zone = "Europe/Berlin";
    auto c = s->Count({"tz"}, Q(q));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*c, 3u) << field;
    q.time_zone = "";
    c = s->Count({"tz"}, Q(q));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c, 4u) << field;  // the UTC day
  }
  // time_zone on a numeric field is refused with a clear error.
  MustWrite(*s, {Doc("tz", R"({"@timestamp":"2024-04-02T00:00:00Z","n":5})")});
  Query bad;
  bad.kind = Query::Kind::kRange;
  bad.field = "n";
  bad.gte = int64_t{1};
  bad.time_zone = "Asia/Tokyo";
  auto c = s->Count({"tz"}, Q(bad));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("time_zone"), std::string::npos) << c.status().ToString();
}

// ----- BM25

// Elasticsearch's BM25 for one term: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)).
double Bm25(double n, double df, double tf, double dl, double avgdl) {
  double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
  return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl));
}

std::map<std::string, double> Scores(EventStore& s, QueryPtr q) {
  SearchRequest r;
  r.streams = {"rel"};
  r.query = std::move(q);
  r.size = 100;
  auto res = s.Search(r);
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  std::map<std::string, double> out;
  if (!res.ok()) return out;
  for (size_t i = 1; i < res->hits.size(); ++i) EXPECT_GE(res->hits[i - 1].score, res->hits[i].score);
  for (const auto& h : res->hits) out[h.id] = h.score;
  EXPECT_TRUE(res->max_score.has_value());
  return out;
}

QueryPtr MatchQ(const std::string& field, const std::string& text, Query::Kind k = Query::Kind::kMatch) {
  Query q;
  q.kind = k;
  q.field = field;
  q.text = text;
  return Q(q);
}

// `scanned_avg`: avgdl(msg) when the docs are in blocks and the query reads only the blocks that
// can match (d1..d4's two blocks of 2, not d5's): avgdl comes from the blocks a query reads.
void CheckHandComputedScores(EventStore& s, double scanned_avg) {
  // N = 5; msg lengths 4, 3, 8, 3, 3 → avgdl(msg) = 21 / 5; title only in d1, d2 (1 and 3
  // tokens) → avgdl(title) = 2. df(dog) = 3 (d2, d3, d5), df(zebra) = 1, df(fox) = 2 (d1, d3;
  // d1's title also has it: df counts docs, not fields), df(lazy) = 2.
  const double avg = 21.0 / 5;
  auto sc = Scores(s, MatchQ("msg", "dog zebra"));
  ASSERT_EQ(sc.size(), 4u);
  EXPECT_NEAR(sc["d2"], Bm25(5, 3, 1, 3, avg), 1e-9);
  EXPECT_NEAR(sc["d3"], Bm25(5, 3, 1, 8, avg), 1e-9);
  EXPECT_NEAR(sc["d4"], Bm25(5, 1, 1, 3, avg), 1e-9);
  EXPECT_NEAR(sc["d5"], Bm25(5, 3, 3, 3, avg), 1e-9);
  // The rare term outweighs the common one at equal length, and even three occurrences of it.
  EXPECT_GT(sc["d4"], sc["d2"]);
  EXPECT_GT(sc["d4"], sc["d5"]);
  // avgdl is per field.
  auto ti = Scores(s, MatchQ("title", "dog"));
  ASSERT_EQ(ti.size(), 1u);
  EXPECT_NEAR(ti["d2"], Bm25(5, 3, 1, 3, 2.0), 1e-9);
  // Phrase: sum of the tokens' idf times the phrase-frequency term.
  auto ph = Scores(s, MatchQ("msg", "lazy dog", Query::Kind::kPhrase));
  ASSERT_EQ(ph.size(), 1u);
  double idf_sum = std::log(1 + 3.5 / 2.5) + std::log(1 + 2.5 / 3.5);
  EXPECT_NEAR(ph["d2"], idf_sum * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / scanned_avg)), 1e-9);
  // A boosted bool sums its clauses.
  Query b;
  b.kind = Query::Kind::kBool;
  b.should = {MatchQ("msg", "fox"), MatchQ("msg", "lazy")};
  auto bo = Scores(s, Q(b));
  EXPECT_NEAR(bo["d3"], Bm25(5, 2, 1, 8, scanned_avg) + Bm25(5, 2, 1, 8, scanned_avg), 1e-9);
  EXPECT_NEAR(bo["d1"], Bm25(5, 2, 1, 4, scanned_avg), 1e-9);
}

TEST(Bm25, HandComputedScoresInTheHeadAndInBlocks) {
  TempDir dir;
  std::vector<WriteItem> docs = {
      Doc("rel", R"({"@timestamp":"2024-05-01T00:00:01Z","msg":"the quick brown fox","title":"fox"})", "d1"),
      Doc("rel", R"({"@timestamp":"2024-05-01T00:00:02Z","msg":"the lazy dog","title":"dog story here"})", "d2"),
      Doc("rel", R"({"@timestamp":"2024-05-01T00:00:03Z","msg":"the quick dog jumps over the lazy fox"})", "d3"),
      Doc("rel", R"({"@timestamp":"2024-05-01T00:00:04Z","msg":"a rare zebra"})", "d4"),
      Doc("rel", R"({"@timestamp":"2024-05-01T00:00:05Z","msg":["dog dog", "dog"]})", "d5"),
  };
  {
    auto s = MustOpen(Opts(dir.path(), 2));
    MustWrite(*s, docs);
    SCOPED_TRACE("head");
    CheckHandComputedScores(*s, 21.0 / 5);  // every doc in the head: exact
    s->Close();
  }
  auto s = MustOpen(Opts(dir.path(), 2));  // reopened: the docs are in blocks of 2
  SCOPED_TRACE("blocks");
  CheckHandComputedScores(*s, 18.0 / 4);
  // Statistics come from the query's time range (whole blocks): only d1..d2's block here.
  Query tr;
  tr.kind = Query::Kind::kRange;
  tr.field = "@timestamp";
  tr.lte = std::string("2024-05-01T00:00:02Z");
  Query b;
  b.kind = Query::Kind::kBool;
  b.must = {MatchQ("msg", "dog")};
  b.filter = {Q(tr)};
  auto sc = Scores(*s, Q(b));
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_NEAR(sc["d2"], Bm25(2, 1, 1, 3, 3.5), 1e-9);
}

TEST(Bm25, AvgdlFromAnEvenSampleOfManyBlocks) {
  TempDir dir;
  const int kBlocks = 20;
  {
    auto s = MustOpen(Opts(dir.path(), 4));
    std::vector<WriteItem> items;
    for (int i = 0; i < kBlocks * 4; ++i) {  // block b's docs have 1 + b % 3 tokens
      std::string msg = "common";
      for (int k = 0; k < (i / 4) % 3; ++k) msg += " x";
      char ts[64];
      std::snprintf(ts, sizeof ts, "2024-05-01T00:%02d:%02dZ", i / 60, i % 60);
      items.push_back(Doc("rel", std::string(R"({"@timestamp":")") + ts + R"(","msg":")" + msg + R"("})", "s" + std::to_string(i)));
    }
    MustWrite(*s, items);
    s->Close();
  }
  auto s = MustOpen(Opts(dir.path(), 4));
  // Every block is read; 16 of the 20 are sampled for avgdl: blocks k * 20 / 16.
  double sum = 0;
  for (int k = 0; k < 16; ++k) sum += 1 + (k * kBlocks / 16) % 3;
  const double avg = sum / 16;
  double whole = 0;
  for (int b = 0; b < kBlocks; ++b) whole += 1 + b % 3;
  ASSERT_NE(avg, whole / kBlocks);  // the sample's avgdl differs from the whole stream's: it is used
  auto sc = Scores(*s, MatchQ("msg", "common"));
  ASSERT_EQ(sc.size(), static_cast<size_t>(kBlocks * 4));
  for (int i = 0; i < kBlocks * 4; ++i) {
    double len = 1 + (i / 4) % 3;
    EXPECT_NEAR(sc["s" + std::to_string(i)], Bm25(kBlocks * 4, kBlocks * 4, 1, len, avg), 1e-9) << i;
  }
}

// ----- search_after paging

struct Page {
  std::vector<std::string> ids;
  std::vector<Value> last_sort;
  uint64_t scanned = 0;
};

Page NextPage(EventStore& s, const std::vector<SortKey>& sort, const std::vector<Value>& after, int64_t track, size_t size) {
  SearchRequest r;
  r.streams = {"pg"};
  r.size = size;
  r.sort = sort;
  r.search_after = after;
  r.track_total_hits = track;
  auto res = s.Search(r);
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  Page p;
  if (!res.ok()) return p;
  for (const auto& h : res->hits) p.ids.push_back(h.id);
  if (!res->hits.empty()) p.last_sort = res->hits.back().sort_values;
  p.scanned = res->blocks_scanned;
  return p;
}

// Pages through the whole stream; every doc once, in order; returns the most blocks one page read.
uint64_t PageThrough(EventStore& s, const std::vector<SortKey>& sort, int64_t track, const std::vector<std::string>& expected_order) {
  std::vector<std::string> seen;
  std::vector<Value> after;
  uint64_t most = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    Page p = NextPage(s, sort, after, track, 100);
    if (p.ids.empty()) break;
    seen.insert(seen.end(), p.ids.begin(), p.ids.end());
    after = p.last_sort;
    if (guard > 0) most = std::max(most, p.scanned);  // the first page may count up to `track`
  }
  EXPECT_EQ(seen.size(), expected_order.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << "a doc was returned twice";
  EXPECT_TRUE(seen == expected_order) << "order differs";
  return most;
}

TEST(SearchAfter, PagesStartWhereThePreviousEnded) {
  TempDir dir;
  const int kDocs = 64 * 40;  // 40 blocks of 64
  std::vector<std::string> by_time_desc, by_seq, by_seq_desc, tied;
  {
    auto s = MustOpen(Opts(dir.path(), 64));
    std::vector<WriteItem> items;
    for (int i = 0; i < kDocs; ++i) {
      char ts[64];
      std::snprintf(ts, sizeof ts, "2024-05-01T%02d:%02d:%02d.000Z", i / 3600, i / 60 % 60, i % 60);
      std::string id = "doc" + std::to_string(i);
      items.push_back(Doc("pg", std::string(R"({"@timestamp":")") + ts + R"(","n":)" + std::to_string(i) + "}", id));
      by_seq.push_back(id);
    }
    MustWrite(*s, items);
    s->Close();
  }
  by_time_desc.assign(by_seq.rbegin(), by_seq.rend());
  by_seq_desc = by_time_desc;
  auto s = MustOpen(Opts(dir.path(), 64));
  // Default order (time, newest first), _doc ascending and descending; with totals not tracked a
  // page reads the block holding the cursor and the next one at most (a page of 100 spans <= 3).
  EXPECT_LE(PageThrough(*s, {{"@timestamp", true}}, 0, by_time_desc), 3u);
  EXPECT_LE(PageThrough(*s, {{"_doc", false}}, 0, by_seq), 3u);
  EXPECT_LE(PageThrough(*s, {{"_doc", true}}, 0, by_seq_desc), 3u);
  EXPECT_LE(PageThrough(*s, {{"@timestamp", false}}, 0, by_seq), 3u);
  // Tracking totals (ES default 10,000 > the stream): still every doc once, exact totals.
  PageThrough(*s, {{"@timestamp", true}}, 10000, by_time_desc);
  PageThrough(*s, {{"_doc", false}}, -1, by_seq);
  auto first = NextPage(*s, {{"_doc", false}}, {}, -1, 10);
  SearchRequest r;
  r.streams = {"pg"};
  r.sort = {{"_doc", false}};
  r.search_after = {Value(int64_t{500})};
  r.track_total_hits = -1;
  auto res = s->Search(r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->total, static_cast<uint64_t>(kDocs));  // total counts every match, as ES
  EXPECT_FALSE(res->total_is_lower_bound);
}

TEST(SearchAfter, TiesOnTimeBrokenByTheSecondKey) {
  TempDir dir;
  std::vector<std::string> expected;
  {
    auto s = MustOpen(Opts(dir.path(), 16));
    std::vector<WriteItem> items;
    for (int i = 0; i < 400; ++i) {  // 10 docs per second: pages end in the middle of a tie
      char ts[64];
      std::snprintf(ts, sizeof ts, "2024-05-01T00:%02d:%02d.000Z", i / 10 / 60, i / 10 % 60);
      items.push_back(Doc("pg", std::string(R"({"@timestamp":")") + ts + R"("})", "t" + std::to_string(i)));
    }
    MustWrite(*s, items);
    s->Close();
    // time descending, then _doc ascending (seq order within a second)
    for (int sec = 39; sec >= 0; --sec)
      for (int k = 0; k < 10; ++k) expected.push_back("t" + std::to_string(sec * 10 + k));
  }
  auto s = MustOpen(Opts(dir.path(), 16));
  std::vector<std::string> seen;
  std::vector<Value> after;
  for (int guard = 0; guard < 100; ++guard) {
    Page p = NextPage(*s, {{"@timestamp", true}, {"_doc", false}}, after, 0, 7);
    if (p.ids.empty()) break;
    seen.insert(seen.end(), p.ids.begin(), p.ids.end());
    after = p.last_sort;
  }
  EXPECT_TRUE(seen == expected);
}

}  // namespace
}  // namespace hakone::store
