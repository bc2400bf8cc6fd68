#include "core/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "core/crc32c.h"
#include "core/metrics.h"

namespace hakone {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hakone_spool_test_XXXXXX";
    char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "/tmp/hakone_spool_test_failed";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

std::string TestName() {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name();
}

SpoolOptions Opts(const std::string& dir, const std::string& suffix = "") {
  SpoolOptions o;
  o.dir = dir;
  o.name = TestName() + suffix;
  o.fsync = false;
  o.flush_interval = 20ms;
  return o;
}

std::string Payload(uint64_t seq) {
  std::string s = "seq=" + std::to_string(seq) + ":";
  s.append((seq * 7919) % 300, static_cast<char>('a' + seq % 26));
  return s;
}

uint64_t CounterValue(const std::string& metric, const std::string& spool) {
  return metrics::Registry::Global().AddCounter(metric, "", {"spool"})->WithLabels({spool})->Value();
}
uint64_t FsyncCount(const std::string& spool) {
  return metrics::Registry::Global()
      .AddHistogram("hakone_spool_fsync_seconds", "", {"spool"})
      ->WithLabels({spool})
      ->Count();
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("seg-", 0) == 0 && n.size() == 28) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Spool> MustOpen(const SpoolOptions& o) {
  auto r = Spool::Open(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::unique_ptr<SpoolReader> MustReader(Spool& s, const std::string& name) {
  auto r = s.OpenReader(name);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Reads everything durable now.
std::vector<SpoolRecord> ReadAll(SpoolReader& r) {
  std::vector<SpoolRecord> all;
  while (true) {
    auto got = r.Read(1000, 1 << 20, 0ms);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || got->empty()) break;
    for (auto& rec : *got) all.push_back(std::move(rec));
  }
  return all;
}

void AppendN(Spool& s, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint64_t want = s.last_seq() + 1;
    auto r = s.Append(Payload(want));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(*r, want);
  }
}

void CheckRecords(const std::vector<SpoolRecord>& recs, uint64_t first, uint64_t last) {
  ASSERT_EQ(recs.size(), last - first + 1);
  for (uint64_t s = first; s <= last; s++) {
    ASSERT_EQ(recs[s - first].seq, s);
    ASSERT_EQ(recs[s - first].payload, Payload(s));
  }
}

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << data;
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, 0);
  for (int i = 0; i < 32; i++) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::Value(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c::Value(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c::Value(inc), 0x46DD794Eu);
  // Extend composes, for every split point and alignment.
  std::string data;
  for (int i = 0; i < 200; i++) data += static_cast<char>(i * 31 + 7);
  for (size_t start = 0; start < 9; start++) {
    std::string_view v(data.data() + start, data.size() - start);
    uint32_t whole = crc32c::Value(v);
    for (size_t cut = 0; cut <= v.size(); cut += 13) {
      EXPECT_EQ(crc32c::Extend(crc32c::Value(v.substr(0, cut)), v.data() + cut, v.size() - cut), whole);
    }
  }
}

TEST(Spool, AppendReadCommitAcrossReopen) {
  TempDir d;
  auto o = Opts(d.path());
  {
    auto s = MustOpen(o);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->last_seq(), 0u);
    auto r = MustReader(*s, "shipper");
    AppendN(*s, 100);
    ASSERT_TRUE(s->Sync().ok());
    EXPECT_EQ(s->durable_seq(), 100u);
    auto got = r->Read(1000, 1 << 20, 0ms);
    ASSERT_TRUE(got.ok());
    CheckRecords(*got, 1, 100);
    EXPECT_FALSE(r->Commit(101).ok());  // beyond what was read
    ASSERT_TRUE(r->Commit(50).ok());
    EXPECT_EQ(r->committed(), 50u);
    ASSERT_TRUE(r->Commit(40).ok());  // going back is a no-op
    EXPECT_EQ(r->committed(), 50u);
  }
  {
    auto s = MustOpen(o);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->last_seq(), 100u);
    EXPECT_EQ(s->durable_seq(), 100u);
    auto r = MustReader(*s, "shipper");
    EXPECT_EQ(r->committed(), 50u);
    auto got = ReadAll(*r);
    CheckRecords(got, 51, 100);
    auto seq = s->Append(Payload(101));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 101u);
    ASSERT_TRUE(s->Sync().ok());
    got = ReadAll(*r);
    CheckRecords(got, 101, 101);
    ASSERT_TRUE(r->Commit(101).ok());
  }
}

// ReadEach hands out views (no copies) with the same records, limits and position as Read.
TEST(Spool, ReadEachMatchesRead) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 4096;  // several segments
  auto s = MustOpen(o);
  ASSERT_TRUE(s);
  auto a = MustReader(*s, "copying");
  auto b = MustReader(*s, "viewing");
  AppendN(*s, 300);
  ASSERT_TRUE(s->Sync().ok());
  std::vector<SpoolRecord> viewed;
  while (true) {
    auto n = b->ReadEach(7, 1 << 20, 0ms, [&](uint64_t seq, std::string_view p) {
      viewed.push_back(SpoolRecord{seq, std::string(p)});
    });
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    EXPECT_LE(*n, 7u);
    EXPECT_EQ(b->position(), viewed.back().seq);
  }
  CheckRecords(viewed, 1, 300);
  CheckRecords(ReadAll(*a), 1, 300);
  // Waits for records appended later, then returns them.
  AppendN(*s, 1);
  viewed.clear();
  auto n = b->ReadEach(10, 1 << 20, 2000ms, [&](uint64_t seq, std::string_view p) {
    viewed.push_back(SpoolRecord{seq, std::string(p)});
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  CheckRecords(viewed, 301, 301);
}

TEST(Spool, SequenceContinuesAfterRestart) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 1024;
  {
    auto s = MustOpen(o);
    AppendN(*s, 30);
  }  // the destructor flushes
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 30u);
    AppendN(*s, 30);
    // A consumer takes everything: all sealed segments go away, the active one stays.
    auto r = MustReader(*s, "c");
    ASSERT_TRUE(s->Sync().ok());
    auto got = ReadAll(*r);
    CheckRecords(got, 1, 60);
    ASSERT_TRUE(r->Commit(60).ok());
    EXPECT_LE(SegmentFiles(d.path()).size(), 2u);
  }
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 60u);
    auto seq = s->Append("next");
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 61u);
    auto r = MustReader(*s, "c");
    ASSERT_TRUE(s->Sync().ok());
    auto got = ReadAll(*r);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].seq, 61u);
    EXPECT_EQ(got[0].payload, "next");
  }
}

TEST(Spool, TornTailIsTruncated) {
  TempDir d;
  auto o = Opts(d.path());
  {
    auto s = MustOpen(o);
    AppendN(*s, 10);
  }
  auto segs = SegmentFiles(d.path());
  ASSERT_EQ(segs.size(), 1u);
  std::string clean = ReadFile(segs[0]);

  // 1. Garbage after the last record (a torn or half-written record).
  WriteFile(segs[0], clean + std::string("\x25\x00\x00\x00garbage", 11));
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 10u);
    EXPECT_EQ(ReadFile(segs[0]), clean);
    auto r = MustReader(*s, "c");
    CheckRecords(ReadAll(*r), 1, 10);
  }
  // 2. The last record cut short.
  WriteFile(segs[0], clean.substr(0, clean.size() - 3));
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 9u);
    auto seq = s->Append(Payload(10));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 10u);
    ASSERT_TRUE(s->Sync().ok());
    auto r = MustReader(*s, "c");
    CheckRecords(ReadAll(*r), 1, 10);
  }
  EXPECT_EQ(ReadFile(segs[0]), clean);
  // 3. A zero-filled tail (what a crash can leave after the file size was extended).
  WriteFile(segs[0], clean + std::string(4096, '\0'));
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 10u);
    EXPECT_EQ(ReadFile(segs[0]).size(), clean.size());
  }
  // 4. A new segment whose header was torn.
  std::string next = d.sub("seg-00000000000000000011.log");
  WriteFile(next, "HKSP");
  uint64_t corrupt_before = CounterValue("hakone_spool_corrupt_records_total", o.name);
  {
    auto s = MustOpen(o);
    EXPECT_EQ(s->last_seq(), 10u);
    auto seq = s->Append(Payload(11));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 11u);
  }
  EXPECT_EQ(CounterValue("hakone_spool_corrupt_records_total", o.name), corrupt_before);
  SegmentDecodeResult res;
  ASSERT_TRUE(DecodeSegment(ReadFile(next), 11, nullptr, &res).ok());
  EXPECT_EQ(res.end, SegmentDecodeResult::End::kClean);
  EXPECT_EQ(res.records, 1u);
  {
    auto s = MustOpen(o);
    auto r = MustReader(*s, "c2");
    CheckRecords(ReadAll(*r), 1, 11);
  }
}

// Offset of the record with seq `seq` inside a segment image.
size_t RecordOffset(const std::string& seg, uint64_t seq) {
  size_t off = kSpoolSegmentHeaderBytes;
  size_t found = 0;
  SegmentDecodeResult res;
  (void)DecodeSegment(
      seg, 0,
      [&](const SpoolRecordView& v) {
        if (v.seq == seq) {
          found = off;
          return false;
        }
        off += kSpoolRecordHeaderBytes + v.payload.size();
        return true;
      },
      &res);
  return found;
}

uint64_t FirstSeqOf(const std::string& path) {
  return std::stoull(fs::path(path).filename().string().substr(4, 20));
}

TEST(Spool, CorruptMiddleRecordIsReportedAndSkipped) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 2048;
  {
    auto s = MustOpen(o);
    AppendN(*s, 80);
  }
  auto segs = SegmentFiles(d.path());
  ASSERT_GE(segs.size(), 4u);
  // Flip a payload byte of the 2nd record of the 2nd segment.
  uint64_t first2 = FirstSeqOf(segs[1]), first3 = FirstSeqOf(segs[2]);
  std::string img = ReadFile(segs[1]);
  size_t off = RecordOffset(img, first2 + 1);
  ASSERT_GT(off, 0u);
  img[off + kSpoolRecordHeaderBytes + 2] ^= 0x40;
  WriteFile(segs[1], img);

  uint64_t corrupt_before = CounterValue("hakone_spool_corrupt_records_total", o.name);
  std::vector<uint64_t> expected;
  for (uint64_t s = 1; s <= 80; s++) {
    if (s > first2 && s < first3) continue;
    expected.push_back(s);
  }
  {
    auto s = MustOpen(o);
    ASSERT_TRUE(s);
    EXPECT_EQ(CounterValue("hakone_spool_corrupt_records_total", o.name), corrupt_before + 1);
    EXPECT_EQ(s->last_seq(), 80u);
    EXPECT_EQ(ReadFile(segs[1]), img);  // evidence kept
    auto r = MustReader(*s, "c");
    auto got = ReadAll(*r);
    std::vector<uint64_t> seqs;
    for (auto& rec : got) {
      seqs.push_back(rec.seq);
      EXPECT_EQ(rec.payload, Payload(rec.seq));
    }
    EXPECT_EQ(seqs, expected);
    auto seq = s->Append(Payload(81));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 81u);
  }
  // Scan delivers the same records and names the problem.
  std::vector<uint64_t> scanned;
  Status st = Spool::Scan(d.path(), 1, [&](const SpoolRecord& r) {
    scanned.push_back(r.seq);
    return true;
  });
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  expected.push_back(81);
  EXPECT_EQ(scanned, expected);
}

TEST(Spool, CorruptRecordInLastSegmentIsNotTruncatedAway) {
  TempDir d;
  auto o = Opts(d.path());
  {
    auto s = MustOpen(o);
    AppendN(*s, 20);
  }
  auto segs = SegmentFiles(d.path());
  ASSERT_EQ(segs.size(), 1u);
  std::string img = ReadFile(segs[0]);
  size_t off = RecordOffset(img, 5);
  img[off + kSpoolRecordHeaderBytes] ^= 0x01;  // records 6..20 are intact after it
  WriteFile(segs[0], img);
  SegmentDecodeResult res;
  EXPECT_EQ(DecodeSegment(img, 1, nullptr, &res).code(), StatusCode::kCorruption);
  EXPECT_EQ(res.end, SegmentDecodeResult::End::kCorrupt);
  EXPECT_EQ(res.records, 4u);
  EXPECT_EQ(res.max_seq_after, 20u);
  uint64_t corrupt_before = CounterValue("hakone_spool_corrupt_records_total", o.name);
  {
    auto s = MustOpen(o);
    EXPECT_EQ(CounterValue("hakone_spool_corrupt_records_total", o.name), corrupt_before + 1);
    EXPECT_EQ(s->last_seq(), 20u);  // seqs 6..20 are never reused
    EXPECT_EQ(ReadFile(segs[0]), img);
    auto seq = s->Append(Payload(21));
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 21u);
    ASSERT_TRUE(s->Sync().ok());
    auto r = MustReader(*s, "c");
    auto got = ReadAll(*r);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[3].seq, 4u);
    EXPECT_EQ(got[4].seq, 21u);
  }
}

TEST(Spool, DecodeSegmentSurvivesArbitraryBytes) {
  std::mt19937_64 rng(12345);
  auto check = [](const std::string& bytes) {
    SegmentDecodeResult res;
    uint64_t n = 0, prev = 0;
    Status st = DecodeSegment(
        bytes, 0,
        [&](const SpoolRecordView& v) {
          if (n > 0) {
            EXPECT_EQ(v.seq, prev + 1);
          }
          prev = v.seq;
          n++;
          return true;
        },
        &res);
    EXPECT_LE(res.valid_bytes, bytes.size());
    EXPECT_EQ(res.records, n);
    EXPECT_EQ(st.ok(), res.end != SegmentDecodeResult::End::kCorrupt);
    if (res.end == SegmentDecodeResult::End::kClean) {
      EXPECT_EQ(res.valid_bytes, bytes.size());
    }
  };
  // Pure noise, with and without a valid header.
  for (int i = 0; i < 3000; i++) {
    std::string b(rng() % 200, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    check(b);
    std::string h;
    EncodeSegmentHeader(1 + rng() % 5, &h);
    check(h + b);
  }
  // Valid images, mutated.
  std::string base;
  EncodeSegmentHeader(7, &base);
  for (uint64_t s = 7; s < 40; s++) EncodeSpoolRecord(s, Payload(s), &base);
  check(base);
  for (int i = 0; i < 3000; i++) {
    std::string b = base;
    switch (rng() % 4) {
      case 0:
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); k++) b[rng() % b.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:
        b.resize(rng() % b.size());
        break;
      case 2:
        b.insert(rng() % b.size(), std::string(1 + rng() % 20, static_cast<char>(rng())));
        break;
      case 3:
        b.erase(rng() % b.size(), 1 + rng() % 30);
        break;
    }
    check(b);
  }
  // Lengths at the edges.
  std::string h;
  EncodeSegmentHeader(1, &h);
  std::string huge = h + std::string("\xff\xff\xff\xff\0\0\0\0\1\0\0\0\0\0\0\0", 16);
  check(huge);
}

TEST(Spool, FullWithBlockTimesOutThenUnblocksOnCommit) {
  TempDir d;
  auto o = Opts(d.path());
  o.max_bytes = 16 << 10;
  o.block_timeout = 300ms;
  auto s = MustOpen(o);
  auto r = MustReader(*s, "slow");
  std::string payload(200, 'x');
  uint64_t waits_before = CounterValue("hakone_spool_full_waits_total", o.name);
  int ok = 0;
  Status last;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; i++) {
    auto a = s->Append(payload);
    if (!a.ok()) {
      last = a.status();
      break;
    }
    ok++;
  }
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted) << last.ToString();
  EXPECT_GT(ok, 40);
  EXPECT_LT(ok, 100);
  EXPECT_GE(waited, 250ms);
  EXPECT_LE(s->bytes(), o.max_bytes);
  EXPECT_EQ(CounterValue("hakone_spool_full_waits_total", o.name), waits_before + 1);

  // A blocked append goes through as soon as the consumer commits.
  std::atomic<bool> done{false};
  Status blocked_status;
  std::thread t([&] {
    auto a = s->Append(payload);
    blocked_status = a.status();
    done = true;
  });
  for (int i = 0; i < 200 && CounterValue("hakone_spool_full_waits_total", o.name) < waits_before + 2; i++) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_FALSE(done.load());
  ASSERT_TRUE(s->Sync().ok());
  auto got = ReadAll(*r);
  ASSERT_EQ(got.size(), static_cast<size_t>(ok));
  uint64_t before = s->bytes();
  ASSERT_TRUE(r->Commit(got.back().seq).ok());
  t.join();
  EXPECT_TRUE(blocked_status.ok()) << blocked_status.ToString();
  EXPECT_LT(s->bytes(), before);
}

TEST(Spool, FullWithDropOldestCountsDrops) {
  TempDir d;
  auto o = Opts(d.path());
  o.max_bytes = 16 << 10;
  o.on_full = SpoolOptions::OnFull::kDropOldest;
  auto s = MustOpen(o);
  auto r = MustReader(*s, "never-commits");
  uint64_t dropped_before = CounterValue("hakone_spool_dropped_total", o.name);
  for (int i = 0; i < 500; i++) {
    auto a = s->Append(Payload(i + 1));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
  }
  ASSERT_TRUE(s->Sync().ok());
  EXPECT_LE(s->bytes(), o.max_bytes);
  uint64_t dropped = CounterValue("hakone_spool_dropped_total", o.name) - dropped_before;
  EXPECT_GT(dropped, 300u);
  auto got = ReadAll(*r);
  ASSERT_FALSE(got.empty());
  // Everything before the first record retained was dropped and counted; the rest is intact.
  EXPECT_EQ(got.front().seq, dropped + 1);
  CheckRecords(got, dropped + 1, 500);
  EXPECT_LE(SegmentFiles(d.path()).size(), 5u);
}

TEST(Spool, WhenDurableFiresInOrderAndSharesFsyncs) {
  TempDir d;
  auto o = Opts(d.path());
  o.fsync = true;
  o.flush_interval = 10s;  // only explicit requests flush
  auto s = MustOpen(o);
  std::mutex mu;
  std::condition_variable cv;

  // 1. One thread, 1000 records, 1000 waiters: a single commit.
  std::vector<std::string_view> batch;
  std::vector<std::string> payloads;
  for (int i = 1; i <= 1000; i++) payloads.push_back(Payload(i));
  for (auto& p : payloads) batch.push_back(p);
  auto last = s->AppendBatch(batch);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(*last, 1000u);
  EXPECT_EQ(s->durable_seq(), 0u);
  uint64_t fsyncs_before = FsyncCount(o.name);
  std::vector<uint64_t> fired;
  for (uint64_t seq = 1; seq <= 1000; seq++) {
    s->WhenDurable(seq, [&, seq](Status st) {
      EXPECT_TRUE(st.ok());
      EXPECT_GE(s->durable_seq(), seq);
      std::lock_guard lk(mu);
      fired.push_back(seq);
      cv.notify_all();
    });
  }
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 10s, [&] { return fired.size() == 1000; }));
  }
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
  EXPECT_LE(FsyncCount(o.name) - fsyncs_before, 2u);

  // 2. Four appenders, each waiter registered right after its append.
  constexpr int kThreads = 4, kPer = 200;
  fsyncs_before = FsyncCount(o.name);
  std::vector<std::vector<uint64_t>> per_thread(kThreads);
  std::atomic<int> total{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; i++) {
        auto seq = s->Append("x");
        ASSERT_TRUE(seq.ok());
        s->WhenDurable(*seq, [&, t, seq = *seq](Status st) {
          EXPECT_TRUE(st.ok());
          per_thread[t].push_back(seq);  // callbacks run on the flusher thread only
          total++;
          std::lock_guard lk(mu);
          cv.notify_all();
        });
      }
    });
  }
  for (auto& t : ts) t.join();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 20s, [&] { return total.load() == kThreads * kPer; }));
  }
  for (auto& v : per_thread) {
    EXPECT_EQ(v.size(), static_cast<size_t>(kPer));
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
  }
  uint64_t fsyncs = FsyncCount(o.name) - fsyncs_before;
  EXPECT_GE(fsyncs, 1u);
  std::printf("%d waiters from %d threads shared %llu fsyncs\n", kThreads * kPer, kThreads,
              static_cast<unsigned long long>(fsyncs));
  EXPECT_LT(fsyncs, static_cast<uint64_t>(kThreads * kPer / 2)) << "group commit did not share fsyncs";

  // 3. Request handlers: each waits for its record to be durable before appending the next one.
  //    Appends arriving during an fdatasync ride on the next one.
  constexpr int kRounds = 50;
  fsyncs_before = FsyncCount(o.name);
  std::vector<std::thread> handlers;
  for (int t = 0; t < kThreads; t++) {
    handlers.emplace_back([&] {
      for (int i = 0; i < kRounds; i++) {
        auto seq = s->Append("req");
        ASSERT_TRUE(seq.ok());
        struct Ack {
          std::mutex m;
          std::condition_variable cv;
          bool done = false;
        };
        auto ack = std::make_shared<Ack>();  // outlives a timed-out wait
        s->WhenDurable(*seq, [ack](Status st) {
          EXPECT_TRUE(st.ok());
          std::lock_guard lk(ack->m);
          ack->done = true;
          ack->cv.notify_all();
        });
        std::unique_lock lk(ack->m);
        ASSERT_TRUE(ack->cv.wait_for(lk, 10s, [&] { return ack->done; }));
      }
    });
  }
  for (auto& t : handlers) t.join();
  fsyncs = FsyncCount(o.name) - fsyncs_before;
  std::printf("%d acknowledged appends from %d waiting threads took %llu fsyncs\n", kThreads * kRounds, kThreads,
              static_cast<unsigned long long>(fsyncs));
  EXPECT_LT(fsyncs, static_cast<uint64_t>(kThreads * kRounds));

  // 4. Beyond the last seq: an error, right away.
  Status beyond;
  s->WhenDurable(s->last_seq() + 5, [&](Status st) { beyond = st; });
  EXPECT_EQ(beyond.code(), StatusCode::kInvalidArgument);
}

TEST(Spool, BatchModeMakesDataDurableWithinFlushInterval) {
  TempDir d;
  auto o = Opts(d.path());
  o.fsync = true;
  o.flush_interval = 50ms;
  auto s = MustOpen(o);
  auto t0 = std::chrono::steady_clock::now();
  auto seq = s->Append("hello");
  ASSERT_TRUE(seq.ok());
  while (s->durable_seq() < *seq && std::chrono::steady_clock::now() - t0 < 5s) std::this_thread::sleep_for(2ms);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s->durable_seq(), *seq);
  EXPECT_GE(took, 40ms);
  EXPECT_LT(took, 2s);
}

TEST(Spool, SegmentsDeletedOnlyAfterEveryConsumerCommits) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 2048;
  auto s = MustOpen(o);
  auto a = MustReader(*s, "a");
  auto b = MustReader(*s, "b");
  AppendN(*s, 200);
  ASSERT_TRUE(s->Sync().ok());
  size_t files = SegmentFiles(d.path()).size();
  ASSERT_GE(files, 8u);
  uint64_t full = s->bytes();

  CheckRecords(ReadAll(*a), 1, 200);
  ASSERT_TRUE(a->Commit(200).ok());
  EXPECT_EQ(SegmentFiles(d.path()).size(), files);  // b still needs them
  EXPECT_EQ(s->bytes(), full);

  auto got = b->Read(100, 1 << 20, 0ms);
  ASSERT_TRUE(got.ok());
  CheckRecords(*got, 1, 100);
  ASSERT_TRUE(b->Commit(100).ok());
  size_t mid = SegmentFiles(d.path()).size();
  EXPECT_LT(mid, files);
  EXPECT_GT(mid, 2u);
  CheckRecords(ReadAll(*b), 101, 200);
  ASSERT_TRUE(b->Commit(200).ok());
  EXPECT_LE(SegmentFiles(d.path()).size(), 2u);
  EXPECT_LT(s->bytes(), full / 4);

  // Removing a consumer releases what it was holding.
  auto c = MustReader(*s, "c");  // starts at the oldest retained record
  c.reset();
  AppendN(*s, 100);
  ASSERT_TRUE(s->Sync().ok());
  CheckRecords(ReadAll(*a), 201, 300);
  ASSERT_TRUE(a->Commit(300).ok());
  CheckRecords(ReadAll(*b), 201, 300);
  ASSERT_TRUE(b->Commit(300).ok());
  EXPECT_GT(SegmentFiles(d.path()).size(), 3u);  // "c" has not read anything
  EXPECT_EQ(s->RemoveConsumer("c").code(), StatusCode::kOk);
  EXPECT_LE(SegmentFiles(d.path()).size(), 2u);
  EXPECT_EQ(s->RemoveConsumer("c").code(), StatusCode::kNotFound);
  EXPECT_EQ(s->RemoveConsumer("a").code(), StatusCode::kAlreadyExists);  // reader open
}

TEST(Spool, ConsumersAreIndependent) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 2048;
  {
    auto s = MustOpen(o);
    auto a = MustReader(*s, "a");
    auto b = MustReader(*s, "b");
    EXPECT_EQ(s->OpenReader("a").status().code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(s->OpenReader("bad/name").status().code(), StatusCode::kInvalidArgument);
    AppendN(*s, 100);
    ASSERT_TRUE(s->Sync().ok());
    auto ga = a->Read(30, 1 << 20, 0ms);
    ASSERT_TRUE(ga.ok());
    CheckRecords(*ga, 1, 30);
    ASSERT_TRUE(a->Commit(30).ok());
    auto gb = b->Read(70, 1 << 20, 0ms);
    ASSERT_TRUE(gb.ok());
    CheckRecords(*gb, 1, 70);
    ASSERT_TRUE(b->Commit(70).ok());
    // a's position does not move b's.
    auto ga2 = a->Read(5, 1 << 20, 0ms);
    ASSERT_TRUE(ga2.ok());
    CheckRecords(*ga2, 31, 35);  // read but not committed
  }
  {
    auto s = MustOpen(o);
    auto cons = s->Consumers();
    EXPECT_EQ(cons, (std::vector<std::string>{"a", "b"}));
    auto a = MustReader(*s, "a");
    auto b = MustReader(*s, "b");
    EXPECT_EQ(a->committed(), 30u);
    EXPECT_EQ(b->committed(), 70u);
    CheckRecords(ReadAll(*a), 31, 100);
    CheckRecords(ReadAll(*b), 71, 100);
    // Max bytes per read is respected (but at least one record is returned).
    ASSERT_TRUE(s->Append(std::string(5000, 'z')).ok());
    ASSERT_TRUE(s->Append("small").ok());
    ASSERT_TRUE(s->Sync().ok());
    auto one = a->Read(10, 100, 0ms);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].payload.size(), 5000u);
    auto two = a->Read(10, 100, 0ms);
    ASSERT_TRUE(two.ok());
    ASSERT_EQ(two->size(), 1u);
    EXPECT_EQ((*two)[0].payload, "small");
  }
}

TEST(Spool, ReaderWaitsForDurableRecords) {
  TempDir d;
  auto o = Opts(d.path());
  o.flush_interval = 30ms;
  auto s = MustOpen(o);
  auto r = MustReader(*s, "c");
  auto t0 = std::chrono::steady_clock::now();
  auto none = r->Read(10, 1 << 20, 50ms);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);

  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(s->Append("late").ok());
  });
  t0 = std::chrono::steady_clock::now();
  auto got = r->Read(10, 1 << 20, 5s);
  t.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].payload, "late");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(Spool, ScanWhileWriterIsActive) {
  TempDir d;
  auto o = Opts(d.path());
  o.segment_bytes = 4096;
  EXPECT_EQ(Spool::Scan(d.sub("missing"), 1, [](const SpoolRecord&) { return true; }).code(),
            StatusCode::kNotFound);
  auto s = MustOpen(o);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint64_t i = 1; i <= 3000; i++) {
      auto a = s->Append(Payload(i));
      ASSERT_TRUE(a.ok());
      if (i % 100 == 0) {
        ASSERT_TRUE(s->Sync().ok());
      }
    }
    done = true;
  });
  int scans = 0;
  uint64_t prev_count = 0;
  while (!done.load() || scans < 3) {
    uint64_t expect = 1;
    Status st = Spool::Scan(d.path(), 1, [&](const SpoolRecord& r) {
      EXPECT_EQ(r.seq, expect);
      EXPECT_EQ(r.payload, Payload(r.seq));
      expect = r.seq + 1;
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_GE(expect - 1, prev_count);
    prev_count = expect - 1;
    scans++;
    if (::testing::Test::HasFailure()) break;
  }
  writer.join();
  ASSERT_TRUE(s->Sync().ok());
  // From the middle, stopping early.
  std::vector<uint64_t> seen;
  ASSERT_TRUE(Spool::Scan(d.path(), 1234, [&](const SpoolRecord& r) {
                seen.push_back(r.seq);
                return seen.size() < 10;
              }).ok());
  ASSERT_EQ(seen.size(), 10u);
  EXPECT_EQ(seen.front(), 1234u);
  EXPECT_EQ(seen.back(), 1243u);
}

TEST(Spool, DirectoryIsLockedWhileOpen) {
  TempDir d;
  auto o = Opts(d.path());
  auto s = MustOpen(o);
  auto second = Spool::Open(o);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  s.reset();
  EXPECT_TRUE(Spool::Open(o).ok());
}

TEST(Spool, LimitsAndEdgeCases) {
  TempDir d;
  auto o = Opts(d.path());
  o.max_bytes = 64 << 10;
  o.segment_bytes = 1024;  // clamped to max_bytes/4 anyway
  auto s = MustOpen(o);
  EXPECT_EQ(s->Append(std::string(40 << 10, 'x')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AppendBatch({}).status().code(), StatusCode::kInvalidArgument);
  auto e = s->Append("");
  ASSERT_TRUE(e.ok());
  std::string big(10 << 10, 'b');  // larger than a segment: gets one of its own
  auto bseq = s->Append(big);
  ASSERT_TRUE(bseq.ok());
  auto last = s->AppendBatch({"one", "two", "three"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 5u);
  ASSERT_TRUE(s->Sync().ok());
  auto r = MustReader(*s, "c");
  auto got = ReadAll(*r);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].payload, "");
  EXPECT_EQ(got[1].payload, big);
  EXPECT_EQ(got[4].payload, "three");
  EXPECT_EQ(Spool::Open(SpoolOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(Spool, ReaderOutlivingTheSpoolGetsUnavailable) {
  TempDir d;
  auto o = Opts(d.path());
  auto s = MustOpen(o);
  auto r = MustReader(*s, "c");
  AppendN(*s, 3);
  ASSERT_TRUE(s->Sync().ok());
  auto got = r->Read(10, 1 << 20, 0ms);
  ASSERT_TRUE(got.ok());
  s.reset();
  EXPECT_EQ(r->Read(10, 1 << 20, 0ms).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r->Commit(3).code(), StatusCode::kUnavailable);
  // The directory lock was released even though the reader is alive.
  auto s2 = MustOpen(o);
  ASSERT_TRUE(s2);
  auto r2 = MustReader(*s2, "c");
  CheckRecords(ReadAll(*r2), 1, 3);
}

}  // namespace
}  // namespace hakone
