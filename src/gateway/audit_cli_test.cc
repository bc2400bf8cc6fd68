#include "gateway/audit_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/spool.h"
#include "gateway/audit_chain.h"

namespace hakone::gateway {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kT0 = 1714521600LL * 1000000;  // 2024-05-01T00:00:00Z

std::string TempDir() {
  char tmpl[] = "/tmp/hakone_audit_cli_test_XXXXXX";
  char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

class TzScope {
 public:
  explicit TzScope(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~TzScope() {
    if (old_) ::setenv("TZ", old_->c_str(), 1);
    else ::unsetenv("TZ");
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

int Cli(std::vector<std::string> args) {
  args.insert(args.begin(), "audit");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return RunAuditCli(static_cast<int>(argv.size()), argv.data());
}

TEST(ParseSinceTest, DurationsAndTimes) {
  int64_t now = kT0 + 7200LL * 1000000;
  EXPECT_EQ(*ParseSince("1h", now), kT0 + 3600LL * 1000000);
  EXPECT_EQ(*ParseSince("90m", now), kT0 + 1800LL * 1000000);
  EXPECT_EQ(*ParseSince("1h30m", now), kT0 + 1800LL * 1000000);
  EXPECT_EQ(*ParseSince("2d", now), now - 2 * 86400LL * 1000000);
  EXPECT_EQ(*ParseSince("now", now), now);
  EXPECT_EQ(*ParseSince("2024-05-01T00:00:00Z", now), kT0);
  EXPECT_EQ(*ParseSince("2024-05-01T09:00:00+09:00", now), kT0);
  EXPECT_EQ(*ParseSince("2024-05-01T00:00:00.25Z", now), kT0 + 250000);
  {
    TzScope tz("UTC0");
    EXPECT_EQ(*ParseSince("2024-05-01", now), kT0);
    EXPECT_EQ(*ParseSince("2024-05-01T01:30", now), kT0 + 5400LL * 1000000);
    EXPECT_EQ(*ParseSince("2024-05-01 00:00:01", now), kT0 + 1000000);
  }
  {
    TzScope tz("JST-9");  // local time = UTC+9
    EXPECT_EQ(*ParseSince("2024-05-01T09:00:00", now), kT0);
  }
  for (const char* bad : {"", "yesterday", "1x", "2024-05", "2024-05-01T", "2024-05-01T25:00", "2024-13-01", "-1h"}) {
    auto r = ParseSince(bad, now);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("duration"), std::string::npos);
    }
  }
}

TEST(QueryParamsTest, BuildsAndValidates) {
  auto q = AuditQueryFromParams({{"user", "alice"},
                                 {"since", "2024-05-01T00:00:00Z"},
                                 {"path", "/candidates/*"},
                                 {"method", "post"},
                                 {"status", "5xx"},
                                 {"ip", "10.0.0.0/8"},
                                 {"limit", "20"},
                                 {"order", "oldest_first"}},
                                kT0);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->user, "alice");
  EXPECT_EQ(q->since_us, kT0);
  EXPECT_EQ(q->limit, 20u);
  EXPECT_FALSE(q->newest_first);
  auto j = AuditQueryToJson(*q);
  EXPECT_EQ(boost::json::serialize(j),
            R"({"user":"alice","since":"2024-05-01T00:00:00.000000Z","path":"/candidates/*","method":"post",)"
            R"("status":"5xx","ip":"10.0.0.0/8","limit":20,"order":"oldest_first"})");
  struct Bad {
    const char* k;
    const char* v;
  } bads[] = {{"status", "6xx"}, {"since", "soon"}, {"limit", "-3"}, {"ip", "10.0.0.0/40"}, {"order", "up"}, {"color", "red"}};
  for (auto& b : bads) {
    auto r = AuditQueryFromParams({{b.k, b.v}}, kT0);
    ASSERT_FALSE(r.ok()) << b.k;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(b.k), std::string::npos) << r.status().message();
  }
}

TEST(TableTest, AlignsAndSanitises) {
  boost::json::object a, b;
  a["time"] = "2024-05-01T00:00:00.000000Z";
  a["user"] = "田中";
  a["client_ip"] = "10.0.0.1";
  a["method"] = "GET";
  a["path"] = "/x\x1b[31m";
  a["status"] = 200;
  a["total_ms"] = 1.25;
  b["time"] = "2024-05-01T00:00:01.000000Z";
  b["user"] = "alice";
  b["method"] = "POST";
  b["path"] = "/y";
  b["status"] = 503;
  std::string t = FormatEventTable({a, b});
  std::istringstream in(t);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(t.find('\x1b'), std::string::npos);
  EXPECT_NE(t.find("/x?[31m"), std::string::npos);
  // "田中" is 2 characters, 4 columns: the CLIENT_IP column starts at the same column on every line.
  size_t col = lines[0].find("CLIENT_IP");
  EXPECT_EQ(lines[2].substr(col, 3), "-  ");       // b has no client_ip
  EXPECT_EQ(lines[1].substr(col + 2, 8), "10.0.0.1");  // 2 extra bytes: 6 bytes of UTF-8 in 4 columns
  EXPECT_NE(lines[1].find("1.2"), std::string::npos);
}

class CliFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = TempDir();
    SpoolOptions so;
    so.dir = store::AuditSpoolDir(data_);
    so.fsync = false;
    auto spool = Spool::Open(so);
    ASSERT_TRUE(spool.ok());
    auto chain = AuditChain::Open(data_, "gw-cli");
    ASSERT_TRUE(chain.ok());
    const char* users[] = {"alice", "bob"};
    for (int i = 1; i <= 6; ++i) {
      std::string body = "{\"time\":\"" + store::FormatRfc3339Micros(kT0 + i * 1000000LL) + "\",\"user\":\"" + users[i % 2] +
                         "\",\"client_ip\":\"10.0.0." + std::to_string(i) + "\",\"method\":\"GET\",\"path\":\"/candidates/" +
                         std::to_string(i % 3) + "\",\"status\":200}";
      uint64_t seq = (*spool)->last_seq() + 1;
      ASSERT_TRUE((*spool)->Append((*chain)->Seal(body, seq)).ok());
    }
    ASSERT_TRUE((*spool)->Sync().ok());
    auto st = store::AuditStore::Open(store::AuditStoreDir(data_), nullptr);
    ASSERT_TRUE(st.ok());
    store_ = std::move(*st);
  }
  void TearDown() override { fs::remove_all(data_); }
  std::string data_;
  std::unique_ptr<store::AuditStore> store_;
};

TEST_F(CliFixture, SharedQueryFunctions) {
  store::AuditQuery q;
  q.user = "alice";
  auto s = SearchAudit(*store_, q);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);  // alice: 2, 4, 6 newest first
  EXPECT_EQ((*s)[0].as_object().at("seq").as_int64(), 6);
  auto t = TimelineAudit(*store_, q);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[0].as_object().at("seq").as_int64(), 2);
  store::AuditQuery nouser;
  EXPECT_FALSE(TimelineAudit(*store_, nouser).ok());

  store::AuditQuery w;
  w.path_glob = "/candidates/1";  // i = 1, 4
  auto rows = WhoAudit(*store_, w);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].user, "alice");  // i = 1 (bob), 4 (alice): ties sorted by name
  EXPECT_EQ((*rows)[0].count, 1u);
  w.path_glob = "/candidates/*";
  rows = WhoAudit(*store_, w);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].count, 3u);
  EXPECT_EQ((*rows)[1].count, 3u);
  EXPECT_EQ((*rows)[1].user, "bob");
  EXPECT_EQ((*rows)[1].first_time, "2024-05-01T00:00:01.000000Z");  // bob: 1, 3, 5
  EXPECT_EQ((*rows)[1].last_time, "2024-05-01T00:00:05.000000Z");
  auto json = WhoToJson(*rows);
  EXPECT_EQ(json.size(), 2u);
  EXPECT_FALSE(WhoAudit(*store_, store::AuditQuery{}).ok());
}

TEST_F(CliFixture, RecordsQueries) {
  ASSERT_TRUE(RecordAuditQuery(data_, "api-token:ops", "search", boost::json::object{{"user", "bob"}}).ok());
  std::ifstream f(AuditQueriesPath(data_));
  std::string line;
  std::getline(f, line);
  EXPECT_NE(line.find("\"actor\":\"api-token:ops\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"query\":{\"user\":\"bob\"}"), std::string::npos) << line;
  EXPECT_EQ(RecordAuditQuery(data_ + "/nope", "x", "search", {}).code(), StatusCode::kNotFound);
}

TEST_F(CliFixture, ExitCodes) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Cli({}), 2);
  EXPECT_EQ(Cli({"--help"}), 0);
  EXPECT_EQ(Cli({"nope"}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--status", "99"}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--since", "later"}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--until", "2024-01-01T00:00:00Z", "--since", "2024-02-01T00:00:00Z"}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--method", "G T"}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--user"}), 2);  // missing value
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "extra"}), 2);
  EXPECT_EQ(Cli({"timeline", "--data-dir", data_}), 2);
  EXPECT_EQ(Cli({"timeline", "a", "b", "--data-dir", data_}), 2);
  EXPECT_EQ(Cli({"who", "--data-dir", data_}), 2);
  EXPECT_EQ(Cli({"verify", "--data-dir", data_, "--public-key", ""}), 2);
  EXPECT_EQ(Cli({"search", "--data-dir", data_ + "/missing"}), 1);
  EXPECT_EQ(Cli({"export-key", "--data-dir", data_ + "/missing"}), 1);
  EXPECT_EQ(Cli({"search", "--data-dir", data_, "--user", "bob"}), 0);
  EXPECT_EQ(Cli({"timeline", "bob", "--data-dir", data_, "--json"}), 0);
  EXPECT_EQ(Cli({"who", "--path", "/candidates/*", "--data-dir", data_}), 0);
  EXPECT_EQ(Cli({"verify", "--data-dir", data_}), 0);
  EXPECT_EQ(Cli({"export-key", "--data-dir", data_}), 0);
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--status"), std::string::npos) << err;
  EXPECT_NE(out.find("audit log intact: 6 events, 0 checkpoints"), std::string::npos) << out;
  EXPECT_NE(out.find("BEGIN PUBLIC KEY"), std::string::npos) << out;
  // Only the three successful queries were recorded.
  std::ifstream f(AuditQueriesPath(data_));
  int n = 0;
  for (std::string l; std::getline(f, l);) ++n;
  EXPECT_EQ(n, 3);
}

}  // namespace
}  // namespace hakone::gateway
