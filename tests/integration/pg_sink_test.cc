// The PostgreSQL audit sink against a real PostgreSQL server (TestPostgres): events appended to
// a spool reach a month-partitioned table, the sink catches up after PostgreSQL was stopped and
// started again, and redelivery never duplicates rows.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "core/metrics.h"
#include "core/pg.h"
#include "core/spool.h"
#include "gateway/sinks.h"
#include "pg_util.h"

namespace hakone::gateway {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string Event(int seq, const std::string& time, const std::string& user) {
  json::object o;
  o["seq"] = seq;
  o["instance"] = "gw-1";
  o["time"] = time;
  o["user"] = user;
  o["method"] = seq % 2 ? "GET" : "POST";
  o["path"] = "/candidates/" + std::to_string(seq);
  o["route"] = "/candidates/{id}";
  o["status"] = 200 + seq % 3;
  o["client_ip"] = "203.0.113.7";
  o["hash"] = "hash-" + std::to_string(seq);
  return json::serialize(o);
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

double Gauge(const std::string& metric, const std::string& sink) {
  return metrics::Registry::Global().AddGauge(metric, "", {"sink"})->WithLabels({sink})->Value();
}
uint64_t Counter(const std::string& metric, const std::string& sink) {
  return metrics::Registry::Global().AddCounter(metric, "", {"sink"})->WithLabels({sink})->Value();
}

class PgSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = TestPostgres::Start();
    if (!pg.ok() && pg.status().code() == StatusCode::kNotFound) GTEST_SKIP() << pg.status().ToString();
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = std::move(*pg);
    char tmpl[] = "/tmp/hakone-pgsink-XXXXXX";
    dir_ = mkdtemp(tmpl);
    SpoolOptions o;
    o.dir = dir_ + "/spool";
    o.fsync = false;
    o.flush_interval = 10ms;
    auto s = Spool::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }
  void TearDown() override {
    spool_.reset();
    pg_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  SinkConfig Config(const std::string& name, const std::string& db = "postgres") {
    SinkConfig c;
    c.name = name;
    c.type = "postgres";
    c.url = pg_->url(db);
    c.batch = 40;
    c.batch_time = 50ms;
    c.backoff_min = 50ms;
    c.backoff_max = 500ms;
    c.timeout = 3s;
    return c;
  }

  std::unique_ptr<Sink> Start(const SinkConfig& c) {
    auto s = StartSink(io_, c, spool_.get());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // A scalar from a fresh connection; -1 when PostgreSQL cannot answer (e.g. it is down).
  int64_t Scalar(const std::string& sql, const std::string& db = "postgres") {
    auto c = PgConn::Connect(pg_->url(db), 2s);
    if (!c.ok()) return -1;
    auto r = c->Query(sql);
    if (!r.ok() || r->rows() < 1 || !r->Get(0, 0)) return -1;
    return std::stoll(std::string(*r->Get(0, 0)));
  }
  std::vector<std::string> Column(const std::string& sql, const std::string& db = "postgres") {
    std::vector<std::string> out;
    auto c = PgConn::Connect(pg_->url(db), 2s);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return out;
    auto r = c->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Get(i, 0).value_or("NULL"));
    return out;
  }

  asio::io_context io_;
  std::unique_ptr<TestPostgres> pg_;
  std::string dir_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(PgSinkTest, ShipsPartitionsCatchesUpAfterRestartAndNeverDuplicates) {
  const std::string name = "pg-main";
  // Register a second consumer now, so that the spool keeps every record for the replay below.
  ASSERT_TRUE(spool_->OpenReader("sink-pg-replay").ok());

  // N events over two months; seq 1 is 2024-06-01T08:30+09:00, i.e. 2024-05-31T23:30Z (May).
  const int kN = 100, kM = 60;
  for (int i = 1; i <= kN; ++i) {
    std::string time = i == 1 ? "2024-06-01T08:30:00.5+09:00"
                       : i <= kN / 2 ? "2024-05-" + std::string(i % 28 + 1 < 10 ? "0" : "") + std::to_string(i % 28 + 1) + "T10:00:00.123456Z"
                                     : "2024-06-" + std::string(i % 28 + 1 < 10 ? "0" : "") + std::to_string(i % 28 + 1) + "T10:00:00Z";
    ASSERT_TRUE(spool_->Append(Event(i, time, i % 5 ? "alice" : "bob")).ok());
  }
  ASSERT_TRUE(spool_->Sync().ok());

  auto sink = Start(Config(name));
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return Scalar("SELECT count(*) FROM audit_events") == kN; }, 30s))
      << Scalar("SELECT count(*) FROM audit_events");
  EXPECT_TRUE(WaitFor([&] { return Gauge("hakone_sink_lag_records", name) == 0; }, 10s));
  EXPECT_EQ(Gauge("hakone_sink_up", name), 1);

  // Month partitions, the indexes on time and (user, time), and the row contents.
  EXPECT_EQ(Column("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1"),
            (std::vector<std::string>{"audit_events_y2024m05", "audit_events_y2024m06"}));
  EXPECT_EQ(Column("SELECT pg_get_partkeydef('audit_events'::regclass)"), (std::vector<std::string>{"RANGE (\"time\")"}));
  auto idx = Column("SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_events' ORDER BY indexname");
  std::string all_idx;
  for (auto& d : idx) all_idx += d + "\n";
  EXPECT_NE(all_idx.find("(\"time\")"), std::string::npos) << all_idx;
  EXPECT_NE(all_idx.find("(\"user\", \"time\")"), std::string::npos) << all_idx;
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events_y2024m05"), kN / 2);
  EXPECT_EQ(Column("SELECT tableoid::regclass::text || ' ' || to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') "
                   "FROM audit_events WHERE seq = 1"),
            (std::vector<std::string>{"audit_events_y2024m05 2024-05-31 23:30:00.500"}));
  EXPECT_EQ(Column("SELECT instance || '|' || \"user\" || '|' || method || '|' || path || '|' || route || '|' || status "
                   "|| '|' || client_ip || '|' || (event->>'hash') FROM audit_events WHERE seq = 10"),
            (std::vector<std::string>{"gw-1|bob|POST|/candidates/10|/candidates/{id}|201|203.0.113.7|hash-10"}));
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events WHERE \"user\" = 'bob'"), kN / 5);

  // PostgreSQL goes away: appending never blocks, the sink retries, nothing is lost.
  ASSERT_TRUE(pg_->Stop().ok());
  uint64_t errors_before = Counter("hakone_sink_errors_total", name);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = kN + 1; i <= kN + kM; ++i) {
    ASSERT_TRUE(spool_->Append(Event(i, "2024-06-15T12:00:00Z", "carol")).ok());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ASSERT_TRUE(spool_->Sync().ok());
  ASSERT_TRUE(WaitFor([&] { return Counter("hakone_sink_errors_total", name) >= errors_before + 2; }, 30s));
  EXPECT_EQ(Gauge("hakone_sink_up", name), 0);
  EXPECT_GE(Gauge("hakone_sink_lag_records", name), kM);

  ASSERT_TRUE(pg_->StartAgain().ok());
  ASSERT_TRUE(WaitFor([&] { return Scalar("SELECT count(*) FROM audit_events") == kN + kM; }, 30s))
      << Scalar("SELECT count(*) FROM audit_events");
  EXPECT_TRUE(WaitFor([&] { return Gauge("hakone_sink_up", name) == 1; }, 10s));
  EXPECT_TRUE(WaitFor([&] { return Gauge("hakone_sink_lag_records", name) == 0; }, 10s));
  EXPECT_EQ(Scalar("SELECT count(DISTINCT (instance, seq)) FROM audit_events"), kN + kM);
  EXPECT_EQ(Counter("hakone_sink_shipped_total", name), static_cast<uint64_t>(kN + kM));
  sink->Stop();

  // Redelivery, as after a crash between the INSERT and the commit: a consumer positioned before
  // everything ships all records again; the table still holds each event once.
  auto replay = Start(Config("pg-replay"));
  ASSERT_TRUE(replay);
  ASSERT_TRUE(WaitFor([&] { return Counter("hakone_sink_shipped_total", "pg-replay") == static_cast<uint64_t>(kN + kM); }, 30s));
  replay->Stop();
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events"), kN + kM);

  // And the first sink, restarted, resumes after its committed position: nothing to redo.
  auto again = Start(Config(name));
  ASSERT_TRUE(again);
  ASSERT_TRUE(spool_->Append(Event(kN + kM + 1, "2024-07-01T00:00:00Z", "dave")).ok());
  ASSERT_TRUE(spool_->Sync().ok());
  ASSERT_TRUE(WaitFor([&] { return Scalar("SELECT count(*) FROM audit_events") == kN + kM + 1; }, 30s));
  again->Stop();
  EXPECT_EQ(Counter("hakone_sink_shipped_total", name), static_cast<uint64_t>(kN + kM + 1));
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events_y2024m07"), 1);
}

TEST_F(PgSinkTest, ExistingPlainTableAndCustomName) {
  {
    auto c = PgConn::Connect(pg_->url(), 5s);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE(c->Exec("CREATE TABLE ops_log (time timestamptz NOT NULL, instance text NOT NULL, seq bigint NOT NULL,"
                        " \"user\" text, method text, path text, route text, status int, client_ip text,"
                        " event jsonb NOT NULL, PRIMARY KEY (time, instance, seq))")
                    .ok());
  }
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(spool_->Append(Event(i, "2024-05-01T00:00:00Z", "alice")).ok());
  // NUL characters cannot be stored in jsonb: they become U+FFFD, the event is kept.
  ASSERT_TRUE(spool_->Append("{\"seq\":6,\"instance\":\"gw-1\",\"time\":\"2024-05-01T00:00:00Z\",\"user\":\"a\\u0000b\"}").ok());
  ASSERT_TRUE(spool_->Sync().ok());
  SinkConfig c = Config("pg-plain");
  c.table = "ops_log";
  auto sink = Start(c);
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return Scalar("SELECT count(*) FROM ops_log") == 6; }, 30s));
  sink->Stop();
  EXPECT_EQ(Column("SELECT \"user\" || '|' || (event->>'user') FROM ops_log WHERE seq = 6"),
            (std::vector<std::string>{"a\xEF\xBF\xBD" "b|a\xEF\xBF\xBD" "b"}));
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = 'ops_log'::regclass"), 0);
}

TEST_F(PgSinkTest, EventsTheDatabaseCannotHoldAreSkippedOthersInserted) {
  // A LATIN1 database cannot store Japanese text: those events are rejected (found by bisection),
  // the rest of the batch goes in, and the sink moves on.
  {
    auto c = PgConn::Connect(pg_->url(), 5s);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE(c->Exec("CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").ok());
  }
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(spool_->Append(Event(i, "2024-05-02T00:00:00Z", i == 7 || i == 13 ? "山田" : "alice")).ok());
  }
  ASSERT_TRUE(spool_->Sync().ok());
  SinkConfig c = Config("pg-latin", "latin");
  c.batch_time = 300ms;
  auto sink = Start(c);
  ASSERT_TRUE(sink);
  ASSERT_TRUE(WaitFor([&] { return Counter("hakone_sink_rejected_total", "pg-latin") == 2; }, 30s));
  ASSERT_TRUE(WaitFor([&] { return Gauge("hakone_sink_lag_records", "pg-latin") == 0; }, 10s));
  sink->Stop();
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events", "latin"), 18);
  EXPECT_EQ(Scalar("SELECT count(*) FROM audit_events WHERE seq IN (7, 13)", "latin"), 0);
  EXPECT_EQ(Counter("hakone_sink_shipped_total", "pg-latin"), 18u);
}

}  // namespace
}  // namespace hakone::gateway
