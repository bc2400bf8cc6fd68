// Benchmark driver for bench/store.sh: the event store against SQLite FTS5 on one generated
// corpus of mixed English/Japanese log lines with labels.
//
//   hakone_store_bench gen BYTES OUT.ndjson
//   hakone_store_bench hakone CORPUS DIR          ingest + queries, prints "key value" lines
//   hakone_store_bench fts5 CORPUS DB TOKENIZER   (trigram | unicode61)
//
// Every query is run the same way on each engine: the 10 newest matching events plus a count
// capped at 10,000 (Elasticsearch's default track_total_hits), timed as the median of REPS runs
// after one warm-up; an exact count is printed separately (untimed) so that the script can check
// that the engines agree.
#include <regex.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "store/event_store.h"

namespace {

using namespace hakone::store;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1714521600000;  // 2024-05-01T00:00:00Z
constexpr int64_t kStepMs = 100;
constexpr int kReps = 7;

double Secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
// CPU seconds (user + system, all threads) used by this process so far: on a shared machine the
// fair "one core" figure.
double CpuSecs() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

uint64_t DirBytes(const std::string& path) {
  uint64_t n = 0;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return std::filesystem::file_size(path, ec);
  for (auto& e : std::filesystem::recursive_directory_iterator(path, ec))
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}

int Gen(uint64_t bytes, const std::string& out) {
  std::mt19937_64 rng(42);
  auto pick = [&](uint64_t n) { return rng() % n; };
  const char* services[] = {"api", "web", "batch", "crawler", "auth"};
  const char* prefs[] = {"東京都", "大阪府", "京都府", "北海道", "福岡県", "神奈川県"};
  std::ofstream f(out, std::ios::binary);
  uint64_t written = 0, i = 0;
  std::string line;
  while (written < bytes) {
    int64_t ts = kT0 + static_cast<int64_t>(i) * kStepMs;
    uint64_t r = pick(100);
    const char* level = r < 80 ? "info" : r < 92 ? "warn" : "error";
    std::string msg;
    uint64_t uid = pick(100000), id = pick(10000000), ms = pick(5000);
    switch (pick(14)) {
      case 0: msg = "GET /api/jobs/" + std::to_string(id) + " 200 " + std::to_string(ms) + "ms user" + std::to_string(uid); break;
      case 1: msg = "database connection refused host=db" + std::to_string(pick(8)) + " retry " + std::to_string(pick(5)); break;
      case 2: msg = "user user" + std::to_string(uid) + " login failed from 10.0." + std::to_string(pick(256)) + "." + std::to_string(pick(256)); break;
      case 3: msg = "request timeout after " + std::to_string(ms) + "ms on /search?q=engineer"; break;
      case 4: msg = "cache miss key=job:" + std::to_string(id) + " took " + std::to_string(ms % 50) + "ms"; break;
      case 5: msg = "payment processed for order " + std::to_string(id) + " amount " + std::to_string(pick(100000)) + " JPY"; break;
      case 6: msg = "upstream returned 502 for POST /api/applications (attempt " + std::to_string(pick(4)) + ")"; break;
      case 7: msg = "worker " + std::to_string(pick(32)) + " finished batch " + std::to_string(id) + " in " + std::to_string(ms) + "ms"; break;
      case 8: msg = std::string(prefs[pick(6)]) + "の求人を" + std::to_string(pick(500)) + "件取り込みました"; break;
      case 9: msg = std::string(prefs[pick(6)]) + "のユーザー" + std::to_string(uid) + "がログインしました"; break;
      case 10: msg = std::string(prefs[pick(6)]) + "で検索エラーが発生しました: タイムアウト " + std::to_string(ms) + "ms"; break;
      case 11: msg = "応募データの同期に失敗しました（ID: " + std::to_string(id) + "）再試行します"; break;
      case 12: msg = "crawler fetched https://careers.example.com/jobs/" + std::to_string(id) + " status 200 bytes " + std::to_string(pick(200000)); break;
      default: msg = "求人票を更新しました user" + std::to_string(uid) + " session " + std::to_string(id); break;
    }
    if (pick(200000) == 0) msg += " zeppelin";
    line = "{\"@timestamp\":" + std::to_string(ts) + ",\"level\":\"" + level + "\",\"service\":\"" + services[pick(5)] +
           "\",\"host\":\"host-" + std::to_string(1 + pick(20)) + "\",\"env\":\"" + (pick(10) < 8 ? "prod" : "staging") +
           "\",\"message\":\"" + msg + "\"}\n";
    f << line;
    written += line.size();
    ++i;
  }
  std::printf("lines %llu\nbytes %llu\nend_ms %lld\n", static_cast<unsigned long long>(i), static_cast<unsigned long long>(written),
              static_cast<long long>(kT0 + static_cast<int64_t>(i - 1) * kStepMs));
  return 0;
}

std::vector<std::string> ReadLines(const std::string& path, uint64_t* bytes) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::string> out;
  std::string l;
  *bytes = 0;
  while (std::getline(f, l)) {
    *bytes += l.size() + 1;
    out.push_back(std::move(l));
  }
  return out;
}

template <typename Fn>
double MedianMs(Fn&& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < kReps; ++i) {
    auto a = Clock::now();
    fn();
    t.push_back(Secs(a, Clock::now()) * 1000);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The queries, parameterised by the corpus end time.
struct Window {
  int64_t end_ms;
  int64_t hour_ago() const { return end_ms - 3600000 + 1; }
};

int64_t EndMs(const std::vector<std::string>& lines) {
  auto v = boost::json::parse(lines.back());
  return v.at("@timestamp").as_int64();
}

int RunHakone(const std::string& corpus, const std::string& dir) {
  uint64_t raw = 0;
  auto lines = ReadLines(corpus, &raw);
  Window w{EndMs(lines)};
  EventStoreOptions o;
  o.dir = dir;
  o.refresh_interval = std::chrono::milliseconds(1000);
  if (const char* l = std::getenv("BENCH_ZSTD_LEVEL")) o.zstd_level = std::atoi(l);
  if (const char* l = std::getenv("BENCH_BLOCK_EVENTS")) o.block_max_events = std::stoul(l);
  auto a = Clock::now();
  double c0 = CpuSecs();
  {
    auto s = EventStore::Open(o);
    if (!s.ok()) { std::cerr << s.status().ToString() << "\n"; return 1; }
    std::vector<WriteItem> batch;
    std::vector<WriteResult> res;
    for (size_t i = 0; i < lines.size(); ++i) {
      WriteItem it;
      it.stream = "logs";
      it.source_json = std::move(lines[i]);
      batch.push_back(std::move(it));
      if (batch.size() == 10000 || i + 1 == lines.size()) {
        hakone::Status st = (*s)->Write(batch, &res, false);
        if (!st.ok()) { std::cerr << st.ToString() << "\n"; return 1; }
        for (auto& r : res) if (!r.status.ok()) { std::cerr << r.status.ToString() << "\n"; return 1; }
        batch.clear();
      }
    }
    (*s)->Close();
  }
  double ingest = Secs(a, Clock::now());
  double cpu = CpuSecs() - c0;
  lines.clear();
  lines.shrink_to_fit();
  std::printf("ingest_s %.3f\ningest_cpu_s %.3f\ningest_mb_s %.2f\ningest_mb_cpu_s %.2f\nraw_bytes %llu\ndisk_bytes %llu\n", ingest, cpu,
              raw / 1e6 / ingest, raw / 1e6 / cpu, static_cast<unsigned long long>(raw), static_cast<unsigned long long>(DirBytes(dir)));

  if (std::getenv("BENCH_INGEST_ONLY")) return 0;
  auto s = std::move(EventStore::Open(o).value());
  auto mk = [](Query q) { return std::make_shared<const Query>(std::move(q)); };
  auto match = [&](const std::string& text, Query::Kind k = Query::Kind::kMatch) {
    Query q;
    q.kind = k;
    q.field = "message";
    q.text = text;
    return mk(q);
  };
  auto last_hour = [&]() {
    Query r;
    r.kind = Query::Kind::kRange;
    r.field = "@timestamp";
    r.gte = Value(w.hour_ago());
    return mk(r);
  };
  struct NamedQuery { std::string name; QueryPtr q; std::vector<AggRequest> aggs; };
  std::vector<NamedQuery> qs;
  qs.push_back({"rare_term", match("zeppelin"), {}});
  {
    Query b;
    b.kind = Query::Kind::kBool;
    b.must = {match("failed")};
    b.filter = {last_hour()};
    qs.push_back({"common_term_time", mk(b), {}});
  }
  qs.push_back({"phrase", match("connection refused", Query::Kind::kPhrase), {}});
  qs.push_back({"japanese_substring", match("京都府", Query::Kind::kPhrase), {}});
  qs.push_back({"regex", match("user[0-9]+77", Query::Kind::kRegexp), {}});
  {
    AggRequest dh;
    dh.kind = AggRequest::Kind::kDateHistogram;
    dh.name = "per_minute";
    dh.field = "@timestamp";
    dh.fixed_interval_ms = 60000;
    AggRequest t;
    t.kind = AggRequest::Kind::kTerms;
    t.name = "services";
    t.field = "service.keyword";
    dh.subs = {t};
    qs.push_back({"agg_last_hour", last_hour(), {dh}});
  }
  for (auto& nq : qs) {
    SearchRequest r;
    r.streams = {"logs"};
    r.query = nq.q;
    r.aggs = nq.aggs;
    r.size = nq.aggs.empty() ? 10 : 0;
    r.sort = {{"@timestamp", true}};  // newest first, as log UIs ask (and as the FTS5 side does)
    uint64_t hits = 0;
    std::string aggs;
    double ms = MedianMs([&] {
      auto res = s->Search(r);
      if (!res.ok()) { std::cerr << nq.name << ": " << res.status().ToString() << "\n"; std::exit(1); }
      hits = res->hits.size();
      aggs = res->aggregations_json;
    });
    uint64_t exact = 0;
    if (nq.aggs.empty()) {
      exact = *s->Count({"logs"}, nq.q);
    } else {  // sum of the terms buckets = docs in the hour
      auto v = boost::json::parse(aggs);
      for (auto& b : v.at("per_minute").at("buckets").as_array())
        for (auto& t : b.at("services").at("buckets").as_array()) exact += t.at("doc_count").as_int64();
    }
    std::printf("q_%s_ms %.3f\nq_%s_count %llu\nq_%s_hits %llu\n", nq.name.c_str(), ms, nq.name.c_str(), static_cast<unsigned long long>(exact),
                nq.name.c_str(), static_cast<unsigned long long>(hits));
  }
  s->Close();
  return 0;
}

// ----- SQLite FTS5

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::cerr << what << ": " << sqlite3_errmsg(db) << "\n";
    std::exit(1);
  }
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::cerr << sql << ": " << (err ? err : "?") << "\n";
    std::exit(1);
  }
}

void RegexpFn(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* re = static_cast<regex_t*>(sqlite3_get_auxdata(ctx, 0));
  if (!re) {
    re = new regex_t;
    if (regcomp(re, reinterpret_cast<const char*>(sqlite3_value_text(argv[0])), REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
      delete re;
      sqlite3_result_error(ctx, "bad regexp", -1);
      return;
    }
    sqlite3_set_auxdata(ctx, 0, re, [](void* p) { regfree(static_cast<regex_t*>(p)); delete static_cast<regex_t*>(p); });
  }
  const char* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  sqlite3_result_int(ctx, text && regexec(re, text, 0, nullptr, 0) == 0);
}

int RunFts5(const std::string& corpus, const std::string& path, const std::string& tok) {
  uint64_t raw = 0;
  auto lines = ReadLines(corpus, &raw);
  Window w{EndMs(lines)};
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db), db, "open");
  Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  Exec(db, "CREATE TABLE logs(id INTEGER PRIMARY KEY, ts INTEGER, level TEXT, service TEXT, host TEXT, env TEXT, message TEXT);"
           "CREATE INDEX logs_ts ON logs(ts);"
           "CREATE VIRTUAL TABLE logs_fts USING fts5(message, content='logs', content_rowid='id', tokenize='" + tok + "');");
  sqlite3_stmt* ins = nullptr;
  sqlite3_stmt* fts = nullptr;
  Check(sqlite3_prepare_v2(db, "INSERT INTO logs(id, ts, level, service, host, env, message) VALUES(?,?,?,?,?,?,?)", -1, &ins, nullptr), db, "prep");
  Check(sqlite3_prepare_v2(db, "INSERT INTO logs_fts(rowid, message) VALUES(?,?)", -1, &fts, nullptr), db, "prep");
  auto a = Clock::now();
  double c0 = CpuSecs();
  Exec(db, "BEGIN");
  for (size_t i = 0; i < lines.size(); ++i) {
    auto v = boost::json::parse(lines[i]);
    auto& o = v.as_object();
    sqlite3_int64 id = static_cast<sqlite3_int64>(i + 1);
    std::string msg(o.at("message").as_string());
    sqlite3_bind_int64(ins, 1, id);
    sqlite3_bind_int64(ins, 2, o.at("@timestamp").as_int64());
    int k = 3;
    for (const char* f : {"level", "service", "host", "env"}) {
      auto& s = o.at(f).as_string();
      sqlite3_bind_text(ins, k++, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(ins, 7, msg.data(), static_cast<int>(msg.size()), SQLITE_TRANSIENT);
    Check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
    sqlite3_bind_int64(fts, 1, id);
    sqlite3_bind_text(fts, 2, msg.data(), static_cast<int>(msg.size()), SQLITE_TRANSIENT);
    Check(sqlite3_step(fts), db, "insert fts");
    sqlite3_reset(fts);
    if ((i + 1) % 10000 == 0) Exec(db, "COMMIT; BEGIN");
  }
  Exec(db, "COMMIT");
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  double ingest = Secs(a, Clock::now());
  double cpu = CpuSecs() - c0;
  sqlite3_finalize(ins);
  sqlite3_finalize(fts);
  lines.clear();
  lines.shrink_to_fit();
  std::printf("ingest_s %.3f\ningest_cpu_s %.3f\ningest_mb_s %.2f\ningest_mb_cpu_s %.2f\nraw_bytes %llu\ndisk_bytes %llu\n", ingest, cpu,
              raw / 1e6 / ingest, raw / 1e6 / cpu,
              static_cast<unsigned long long>(raw), static_cast<unsigned long long>(DirBytes(path) + DirBytes(path + "-wal")));
  sqlite3_create_function(db, "regexp", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, RegexpFn, nullptr, nullptr);

  auto scalar = [&](const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    Check(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), db, sql.c_str());
    uint64_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) n += static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return n;
  };
  auto rows = [&](const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    Check(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), db, sql.c_str());
    uint64_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
      ++n;
      (void)sqlite3_column_text(st, 1);
    }
    sqlite3_finalize(st);
    return n;
  };
  bool tri = tok == "trigram";
  auto fts_match = [&](const std::string& term) { return "logs_fts MATCH '" + (tri ? "\"" + term + "\"" : term) + "'"; };
  std::string hour = std::to_string(w.hour_ago());
  struct Q { std::string name, where; bool join_fts; };
  std::vector<Q> qs = {
      {"rare_term", fts_match("zeppelin"), true},
      {"common_term_time", fts_match("failed"), true},
      {"phrase", "logs_fts MATCH '\"connection refused\"'", true},
      {"japanese_substring", tri ? fts_match("京都府") : "", true},
      // unicode61 tokens: a word boundary on each side of the regexp.
      {"regex", "message REGEXP '(^|[^a-z0-9])user[0-9]+77([^a-z0-9]|$)'", false},
  };
  for (auto& q : qs) {
    if (q.where.empty()) { std::printf("q_%s_ms nan\nq_%s_count 0\n", q.name.c_str(), q.name.c_str()); continue; }
    std::string filter = q.join_fts ? "id IN (SELECT rowid FROM logs_fts WHERE " + q.where + ")" : q.where;
    if (q.name == "common_term_time") filter = "ts >= " + hour + " AND " + filter;
    std::string top = "SELECT id, message FROM logs WHERE " + filter + " ORDER BY ts DESC LIMIT 10";
    std::string cnt = "SELECT count(*) FROM (SELECT 1 FROM logs WHERE " + filter + " LIMIT 10000)";
    uint64_t hits = 0;
    double ms = MedianMs([&] {
      hits = rows(top);
      (void)scalar(cnt);
    });
    uint64_t exact = scalar("SELECT count(*) FROM logs WHERE " + filter);
    std::printf("q_%s_ms %.3f\nq_%s_count %llu\nq_%s_hits %llu\n", q.name.c_str(), ms, q.name.c_str(), static_cast<unsigned long long>(exact),
                q.name.c_str(), static_cast<unsigned long long>(hits));
  }
  uint64_t agg_total = 0;
  std::string agg = "SELECT ts / 60000, service, count(*) FROM logs WHERE ts >= " + hour + " GROUP BY 1, 2";
  double ms = MedianMs([&] {
    sqlite3_stmt* st = nullptr;
    Check(sqlite3_prepare_v2(db, agg.c_str(), -1, &st, nullptr), db, "agg");
    agg_total = 0;
    while (sqlite3_step(st) == SQLITE_ROW) agg_total += static_cast<uint64_t>(sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
  });
  std::printf("q_agg_last_hour_ms %.3f\nq_agg_last_hour_count %llu\n", ms, static_cast<unsigned long long>(agg_total));
  sqlite3_close(db);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "gen" && argc == 4) return Gen(std::stoull(argv[2]), argv[3]);
  if (cmd == "hakone" && argc == 4) return RunHakone(argv[2], argv[3]);
  if (cmd == "fts5" && argc == 5) return RunFts5(argv[2], argv[3], argv[4]);
  std::fprintf(stderr,
               "usage: hakone_store_bench gen BYTES OUT.ndjson\n"
               "       hakone_store_bench hakone CORPUS DIR\n"
               "       hakone_store_bench fts5 CORPUS DB.sqlite trigram|unicode61\n");
  return 2;
}
