#include "store/audit_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/spool.h"
#include "store/block.h"

namespace hakone::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kDay = 86400LL * 1000000;
constexpr int64_t kT0 = 1714521600LL * 1000000;  // 2024-05-01T00:00:00Z

std::string TempDir() {
  char tmpl[] = "/tmp/hakone_audit_store_test_XXXXXX";
  char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

struct Ev {
  int64_t time_us;
  std::string user, method, path, route, ip;
  int status;
};

std::string Line(const Ev& e) {
  return "{\"time\":\"" + FormatRfc3339Micros(e.time_us) + "\",\"instance\":\"t\",\"user\":\"" + e.user +
         "\",\"client_ip\":\"" + e.ip + "\",\"method\":\"" + e.method + "\",\"path\":\"" + e.path + "\",\"route\":\"" +
         e.route + "\",\"status\":" + std::to_string(e.status) + ",\"total_ms\":1.5}";
}

// A data directory with a spool and a writing store.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = TempDir();
    OpenSpool();
  }
  void TearDown() override {
    store_.reset();
    spool_.reset();
    fs::remove_all(data_);
  }
  void OpenSpool() {
    SpoolOptions so;
    so.dir = AuditSpoolDir(data_);
    so.name = "audit";
    so.fsync = false;
    so.flush_interval = 10ms;
    auto s = Spool::Open(so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }
  void OpenStore(std::chrono::milliseconds flush = 50ms) {
    AuditStoreOptions o;
    o.flush_interval = flush;
    auto st = AuditStore::Open(AuditStoreDir(data_), spool_.get(), o);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(*st);
  }
  uint64_t Append(const Ev& e) {
    auto r = spool_->Append(Line(e));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : 0;
  }
  std::unique_ptr<AuditStore> ReadOnly() {
    auto st = AuditStore::Open(AuditStoreDir(data_), nullptr);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? std::move(*st) : nullptr;
  }
  static std::vector<std::string> Run(const AuditStore& s, const AuditQuery& q) {
    std::vector<std::string> out;
    Status st = s.Query(q, [&](std::string_view l) {
      out.emplace_back(l);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  static std::vector<std::string> Paths(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (auto& l : lines) {
      ForEachTopLevelMember(l, [&](std::string_view k, std::string_view v) {
        if (k == "path") out.push_back(*JsonStringValue(v));
        return true;
      });
    }
    return out;
  }
  std::vector<std::string> SegmentFiles() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(AuditStoreDir(data_))) {
      if (e.path().extension() == ".blk") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // 20 events, one second apart: users alice/bob/carol, varied methods/status/ips.
  uint64_t AppendSample() {
    uint64_t last = 0;
    const char* users[] = {"alice", "bob", "carol"};
    const char* methods[] = {"GET", "POST", "DELETE", "PUT"};
    int statuses[] = {200, 404, 503, 201, 500};
    for (int i = 0; i < 20; ++i) {
      Ev e;
      e.time_us = kT0 + i * 1000000LL;
      e.user = users[i % 3];
      e.method = methods[i % 4];
      e.path = (i % 2 ? "/candidates/" : "/companies/") + std::to_string(i);
      e.route = i % 2 ? "/candidates/:id" : "/companies/:id";
      e.status = statuses[i % 5];
      e.ip = i % 2 ? "10.1.0." + std::to_string(i) : "192.168.7." + std::to_string(i);
      last = Append(e);
    }
    return last;
  }

  std::string data_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<AuditStore> store_;
};

TEST(AuditHelpersTest, TopLevelMembers) {
  std::string obj = R"( {"a":1, "b":"x\"y", "c":{"a":2,"d":[1,{"e":"}"}]}, "d":null , "e":-3.5e2} )";
  std::vector<std::pair<std::string, std::string>> got;
  EXPECT_TRUE(ForEachTopLevelMember(obj, [&](std::string_view k, std::string_view v) {
    got.emplace_back(k, v);
    return true;
  }));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1].second, "\"x\\\"y\"");
  EXPECT_EQ(got[2].first, "c");
  EXPECT_EQ(got[2].second, R"({"a":2,"d":[1,{"e":"}"}]})");
  EXPECT_EQ(got[3].second, "null");
  EXPECT_EQ(JsonIntValue(got[4].second), std::nullopt);  // -3.5e2: not read as an integer
  EXPECT_FALSE(ForEachTopLevelMember("{\"a\":", [](auto, auto) { return true; }));
  EXPECT_FALSE(ForEachTopLevelMember("[1]", [](auto, auto) { return true; }));
  EXPECT_FALSE(ForEachTopLevelMember("{\"a\" 1}", [](auto, auto) { return true; }));
  EXPECT_TRUE(ForEachTopLevelMember("{}", [](auto, auto) { return true; }));
}

TEST(AuditHelpersTest, JsonValues) {
  EXPECT_EQ(JsonStringValue("\"plain\""), "plain");
  EXPECT_EQ(JsonStringValue(R"("a\"b\\c\/d\n")"), "a\"b\\c/d\n");
  EXPECT_EQ(JsonStringValue(R"("\u3042\ud83d\ude00")"), "\xE3\x81\x82\xF0\x9F\x98\x80");
  EXPECT_EQ(JsonStringValue("42"), std::nullopt);
  EXPECT_EQ(JsonStringValue(R"("bad\q")"), std::nullopt);
  EXPECT_EQ(JsonIntValue("404"), 404);
  EXPECT_EQ(JsonIntValue("12.9"), 12);
  EXPECT_EQ(JsonIntValue("\"404\""), std::nullopt);
  EXPECT_EQ(JsonIntValue("4x"), std::nullopt);
}

TEST(AuditHelpersTest, Rfc3339) {
  EXPECT_EQ(*ParseRfc3339Micros("2024-05-01T00:00:00Z"), kT0);
  EXPECT_EQ(*ParseRfc3339Micros("2024-05-01T09:00:00+09:00"), kT0);
  EXPECT_EQ(*ParseRfc3339Micros("2024-05-01T00:00:01.5Z"), kT0 + 1500000);
  EXPECT_EQ(*ParseRfc3339Micros("2024-04-30T23:00:00.000001-01:00"), kT0 + 1);
  EXPECT_EQ(*ParseRfc3339Micros("1969-12-31T23:59:59Z"), -1000000);
  EXPECT_EQ(FormatRfc3339Micros(kT0 + 1500000), "2024-05-01T00:00:01.500000Z");
  EXPECT_EQ(FormatRfc3339Micros(-1), "1969-12-31T23:59:59.999999Z");
  for (int64_t t : {kT0, kT0 + 123456789, int64_t{0}, int64_t{951782400000000}}) {
    EXPECT_EQ(*ParseRfc3339Micros(FormatRfc3339Micros(t)), t);
  }
  for (const char* bad : {"2024-05-01", "2024-05-01T00:00:00", "2024-13-01T00:00:00Z", "2024-05-01T00:00:00Zx",
                          "2024-05-01T00:00:00.Z", "yesterday"}) {
    EXPECT_FALSE(ParseRfc3339Micros(bad).ok()) << bad;
  }
  EXPECT_EQ(EventTimeMicros(R"({"seq":1,"time":"2024-05-01T00:00:00Z"})"), kT0);
  EXPECT_EQ(EventTimeMicros(R"({"time":1714521600000000})"), kT0);
  EXPECT_EQ(EventTimeMicros(R"({"x":{"time":"2024-05-01T00:00:00Z"}})"), 0);
  EXPECT_EQ(EventSeq(R"({"seq":17,"a":1})"), 17u);
}

TEST(AuditHelpersTest, ParsersNeverCrashOnMutatedInput) {
  std::string base = Line({kT0, "alice", "GET", "/candidates/1", "/candidates/:id", "10.0.0.1", 200});
  base.pop_back();
  base += R"(,"nested":{"a":[1,"\u00e9\"",{"b":null}]}})";
  AuditQuery q;
  q.user = "alice";
  q.since_us = 0;
  q.status = "2xx";
  q.path_glob = "/c*";
  q.ip_cidr = "10.0.0.0/8";
  std::srand(11);
  for (int round = 0; round < 20000; ++round) {
    std::string s = base;
    int edits = 1 + std::rand() % 4;
    for (int k = 0; k < edits; ++k) {
      size_t pos = static_cast<size_t>(std::rand()) % s.size();
      switch (std::rand() % 3) {
        case 0: s[pos] = static_cast<char>(std::rand()); break;
        case 1: s.erase(pos, 1 + static_cast<size_t>(std::rand()) % 8); break;
        default: s.insert(pos, 1, "{}[]\",:\\u"[std::rand() % 9]); break;
      }
      if (s.empty()) s = "{";
    }
    ForEachTopLevelMember(s, [](std::string_view, std::string_view v) {
      (void)JsonStringValue(v);
      (void)JsonIntValue(v);
      return true;
    });
    (void)EventTimeMicros(s);
    (void)EventSeq(s);
    (void)ParseRfc3339Micros(s.substr(0, 40));
    (void)GlobMatch(s.substr(0, 12), s);
  }
}

TEST(AuditHelpersTest, Glob) {
  EXPECT_TRUE(GlobMatch("/candidates/*", "/candidates/123"));
  EXPECT_TRUE(GlobMatch("/candidates/*", "/candidates/123/notes"));
  EXPECT_FALSE(GlobMatch("/candidates/*", "/companies/1"));
  EXPECT_TRUE(GlobMatch("/candidates/123", "/candidates/123"));
  EXPECT_FALSE(GlobMatch("/candidates/123", "/candidates/1234"));
  EXPECT_TRUE(GlobMatch("/c?ndidates/*/notes", "/candidates/9/notes"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*a*b*c", "xxaxxbxxc"));
  EXPECT_FALSE(GlobMatch("*a*b*c", "xxaxxcxxb"));
  EXPECT_TRUE(GlobMatch("/x\\*", "/x*"));
  EXPECT_FALSE(GlobMatch("/x\\*", "/xy"));
}

TEST(AuditHelpersTest, ValidateQuery) {
  AuditQuery q;
  EXPECT_TRUE(ValidateAuditQuery(q).ok());
  q.status = "5xx";
  EXPECT_TRUE(ValidateAuditQuery(q).ok());
  q.status = "404";
  EXPECT_TRUE(ValidateAuditQuery(q).ok());
  for (const char* bad : {"6xx", "5x", "abc", "4044", ""}) {
    q.status = bad;
    EXPECT_EQ(ValidateAuditQuery(q).code(), StatusCode::kInvalidArgument) << bad;
  }
  q.status.reset();
  q.ip_cidr = "10.0.0.0/33";
  EXPECT_EQ(ValidateAuditQuery(q).code(), StatusCode::kInvalidArgument);
  q.ip_cidr = "10.0.0.0/8, 2001:db8::/32";
  EXPECT_TRUE(ValidateAuditQuery(q).ok());
  q.method = "GE T";
  EXPECT_EQ(ValidateAuditQuery(q).code(), StatusCode::kInvalidArgument);
  q.method.reset();
  q.since_us = 10;
  q.until_us = 5;
  EXPECT_EQ(ValidateAuditQuery(q).code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreFixture, WritesBlocksAndFilters) {
  OpenStore();
  uint64_t last = AppendSample();
  ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  auto stats = store_->stats();
  EXPECT_EQ(stats.events_in_blocks, 20u);
  EXPECT_EQ(stats.last_block_seq, last);
  EXPECT_GE(stats.blocks, 1u);
  ASSERT_EQ(SegmentFiles().size(), 1u);
  EXPECT_NE(SegmentFiles()[0].find("-20240501.blk"), std::string::npos);

  for (AuditStore* s : {store_.get(), ReadOnly().release()}) {
    std::unique_ptr<AuditStore> owner(s == store_.get() ? nullptr : s);
    AuditQuery q;
    q.limit = 0;
    auto all = Run(*s, q);
    ASSERT_EQ(all.size(), 20u);
    EXPECT_EQ(Paths(all).front(), "/candidates/19");  // newest first
    EXPECT_EQ(Paths(all).back(), "/companies/0");

    q.user = "alice";
    EXPECT_EQ(Run(*s, q).size(), 7u);  // i = 0,3,...,18
    q = {};
    q.limit = 0;
    q.since_us = kT0 + 5 * 1000000LL;
    q.until_us = kT0 + 8 * 1000000LL;
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/candidates/7", "/companies/6", "/candidates/5"}));
    q = {};
    q.limit = 0;
    q.path_glob = "/candidates/1*";
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/candidates/19", "/candidates/17", "/candidates/15",
                                                           "/candidates/13", "/candidates/11", "/candidates/1"}));
    q.path_glob = "/companies/:id";  // matches the route
    EXPECT_EQ(Run(*s, q).size(), 10u);
    q = {};
    q.limit = 0;
    q.method = "delete";
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/companies/18", "/companies/14", "/companies/10",
                                                           "/companies/6", "/companies/2"}));
    q = {};
    q.limit = 0;
    q.status = "5xx";
    EXPECT_EQ(Run(*s, q).size(), 8u);  // 503 and 500: i%5 in {2,4}
    q.status = "404";
    EXPECT_EQ(Run(*s, q).size(), 4u);
    q.status = "2xx";
    EXPECT_EQ(Run(*s, q).size(), 8u);
    q = {};
    q.limit = 0;
    q.ip_cidr = "10.0.0.0/8";
    EXPECT_EQ(Run(*s, q).size(), 10u);
    q.ip_cidr = "192.168.7.4";
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/companies/4"}));
    q.ip_cidr = "192.168.7.4,10.1.0.5";
    EXPECT_EQ(Run(*s, q).size(), 2u);
    // Combined, limit, oldest first.
    q = {};
    q.user = "bob";
    q.status = "4xx";
    q.limit = 0;
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/companies/16", "/candidates/1"}));
    q = {};
    q.limit = 3;
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/candidates/19", "/companies/18", "/candidates/17"}));
    q.newest_first = false;
    EXPECT_EQ(Paths(Run(*s, q)), (std::vector<std::string>{"/companies/0", "/candidates/1", "/companies/2"}));
    // The callback can stop early.
    int n = 0;
    q.limit = 0;
    ASSERT_TRUE(s->Query(q, [&](std::string_view) { return ++n < 2; }).ok());
    EXPECT_EQ(n, 2);
    // Bad queries.
    q.status = "9xx";
    EXPECT_EQ(s->Query(q, [](std::string_view) { return true; }).code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(StoreFixture, PrunesByTimeAndSplitsSegmentsByDay) {
  OpenStore();
  uint64_t last = 0;
  for (int d = 0; d < 3; ++d) {
    for (int i = 0; i < 5; ++i) last = Append({kT0 + d * kDay + i, "u" + std::to_string(d), "GET", "/x", "/x", "10.0.0.1", 200});
    ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  }
  EXPECT_EQ(SegmentFiles().size(), 3u);
  AuditQuery q;
  q.limit = 0;
  q.since_us = kT0 + kDay;
  q.until_us = kT0 + 2 * kDay;
  auto got = Run(*store_, q);
  ASSERT_EQ(got.size(), 5u);
  for (auto& l : got) EXPECT_NE(l.find("\"u1\""), std::string::npos);
}

TEST_F(StoreFixture, HeadIsVisibleBeforeItsBlockIsWritten) {
  OpenStore(std::chrono::milliseconds(60000));  // blocks only on Flush/Stop
  uint64_t last = AppendSample();
  ASSERT_TRUE(spool_->Sync().ok());
  AuditQuery q;
  q.limit = 0;
  auto deadline = std::chrono::steady_clock::now() + 2s;
  size_t n = 0;
  while (std::chrono::steady_clock::now() < deadline && (n = Run(*store_, q).size()) < 20) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(n, 20u);
  EXPECT_EQ(store_->stats().blocks, 0u);
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_EQ(store_->stats().events_in_blocks, 20u);
  EXPECT_EQ(Run(*store_, q).size(), 20u);  // no duplicates between head and blocks
  (void)last;
}

TEST_F(StoreFixture, ReadOnlySeesEventsWithinASecond) {
  OpenStore(std::chrono::milliseconds(1000));
  auto ro = ReadOnly();
  ASSERT_TRUE(ro);
  AuditQuery q;
  q.limit = 0;
  for (int round = 0; round < 3; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t seq = Append({kT0 + round, "dave", "POST", "/jobs/" + std::to_string(round), "/jobs/:id", "10.0.0.1", 201});
    ASSERT_GT(seq, 0u);
    size_t n = 0;
    while (std::chrono::steady_clock::now() - t0 < 1s) {
      n = Run(*ro, q).size();
      if (n == static_cast<size_t>(round + 1)) break;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(n, static_cast<size_t>(round + 1)) << "round " << round;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  }
  // Once the writer has cut blocks, the long-lived reader sees them and no duplicates.
  ASSERT_TRUE(store_->WaitStored(spool_->last_seq(), 10s).ok());
  EXPECT_EQ(Run(*ro, q).size(), 3u);
  uint64_t n = 0;
  ASSERT_TRUE(ro->ScanAll([&](std::string_view) { return ++n > 0; }, nullptr).ok());
  EXPECT_EQ(n, 3u);
  auto last = ro->LastEvent();
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(last->has_value());
  EXPECT_NE((*last)->find("/jobs/2"), std::string::npos);
}

TEST_F(StoreFixture, RestartStoresNothingTwice) {
  OpenStore();
  uint64_t last = AppendSample();
  ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  store_.reset();
  // Simulate a crash between the block fsync and the spool commit: a re-registered consumer
  // starts from the oldest retained record and re-reads everything already stored.
  ASSERT_TRUE(spool_->RemoveConsumer(kAuditStoreConsumer).ok());
  AuditStoreOptions o;
  o.flush_interval = 50ms;
  auto st = AuditStore::Open(AuditStoreDir(data_), spool_.get(), o);
  ASSERT_TRUE(st.ok());
  store_ = std::move(*st);
  for (int i = 0; i < 5; ++i) last = Append({kT0 + 100000000 + i, "erin", "GET", "/after", "/after", "10.0.0.2", 200});
  ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  store_->Stop();
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(store_->ScanAll(
                        [&](std::string_view l) {
                          seqs.push_back(EventSeq(l).value_or(0));
                          return true;
                        },
                        nullptr)
                  .ok());
  EXPECT_EQ(seqs.size(), 25u);
  EXPECT_EQ(store_->stats().events_in_blocks, 25u);

  // A second writer on the same directory is refused.
  auto again = AuditStore::Open(AuditStoreDir(data_), spool_.get());
  EXPECT_FALSE(again.ok());
}

TEST_F(StoreFixture, CorruptBlockIsSkippedAndReported) {
  OpenStore();
  uint64_t last = 0;
  for (int b = 0; b < 3; ++b) {
    for (int i = 0; i < 4; ++i) last = Append({kT0 + b * 10 + i, "u", "GET", "/b" + std::to_string(b), "/b", "10.0.0.1", 200});
    ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  }
  store_.reset();
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 1u);
  std::vector<DecodedBlock> blocks;
  ASSERT_TRUE(ReadSegmentFile(files[0], &blocks).ok());
  ASSERT_EQ(blocks.size(), 3u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(blocks[1].ref.offset + kBlockHeaderBytes + 5));
    char c;
    f.seekg(f.tellp());
    f.get(c);
    f.seekp(static_cast<std::streamoff>(blocks[1].ref.offset + kBlockHeaderBytes + 5));
    f.put(static_cast<char>(c ^ 0x55));
  }
  auto ro = ReadOnly();
  AuditQuery q;
  q.limit = 0;
  auto got = Paths(Run(*ro, q));
  EXPECT_EQ(got, (std::vector<std::string>{"/b2", "/b2", "/b2", "/b2", "/b0", "/b0", "/b0", "/b0"}));
  EXPECT_EQ(ro->stats().damaged_blocks, 1u);
  std::vector<BlockProblem> problems;
  size_t n = 0;
  ASSERT_TRUE(ro->ScanAll([&](std::string_view) { return ++n > 0; }, [&](const BlockProblem& p) { problems.push_back(p); }).ok());
  EXPECT_EQ(n, 8u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].seqs_known);
  EXPECT_EQ(problems[0].first_seq, blocks[1].ref.header.first_seq);
  EXPECT_NE(problems[0].reason.find("checksum"), std::string::npos);

  // A damaged header: the reader resynchronises on the next block.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(blocks[1].ref.offset + 2));
    f.put('!');
  }
  auto ro2 = ReadOnly();
  EXPECT_EQ(Paths(Run(*ro2, q)).size(), 8u);
}

TEST_F(StoreFixture, TornTailIsCutOnOpen) {
  OpenStore();
  uint64_t last = 0;
  for (int i = 0; i < 4; ++i) last = Append({kT0 + i, "u", "GET", "/t", "/t", "10.0.0.1", 200});
  ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  store_.reset();
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 1u);
  uintmax_t good = fs::file_size(files[0]);
  {
    std::ofstream f(files[0], std::ios::app | std::ios::binary);
    f << "HKAB\x01\x01partial-header";
  }
  auto ro = ReadOnly();  // a reader just treats it as a block being written
  AuditQuery q;
  q.limit = 0;
  EXPECT_EQ(Run(*ro, q).size(), 4u);
  OpenStore();
  EXPECT_EQ(fs::file_size(files[0]), good);
  last = Append({kT0 + 10, "u", "GET", "/t2", "/t", "10.0.0.1", 200});
  ASSERT_TRUE(store_->WaitStored(last, 10s).ok());
  EXPECT_EQ(Run(*store_, q).size(), 5u);
}

TEST(AuditStoreOpenTest, ReadOnlyMissingDirIsNotFound) {
  auto st = AuditStore::Open("/nonexistent/hakone/audit", nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace hakone::store
