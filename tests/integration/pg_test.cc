// TestPostgres and PgConn against a real PostgreSQL server started for the test.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/pg.h"
#include "pg_util.h"

namespace hakone {
namespace {

class PgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = TestPostgres::Start();
    if (!pg.ok()) {
      start_error_ = new Status(pg.status());
      return;
    }
    pg_ = std::move(*pg).release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ && start_error_->code() == StatusCode::kNotFound) GTEST_SKIP() << start_error_->ToString();
    ASSERT_NE(pg_, nullptr) << (start_error_ ? start_error_->ToString() : "no server");
  }
  static TestPostgres* pg_;
  static Status* start_error_;
};

TestPostgres* PgTest::pg_ = nullptr;
Status* PgTest::start_error_ = nullptr;

TEST_F(PgTest, QueryWithParams) {
  auto conn = PgConn::Connect(pg_->url());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_TRUE(conn->Ok());
  ASSERT_TRUE(conn->Exec("DROP TABLE IF EXISTS people; CREATE TABLE people (id serial PRIMARY KEY, name text UNIQUE, "
                         "company text)")
                  .ok());
  auto ins = conn->Query("INSERT INTO people (name, company) VALUES ($1, $2), ($3, $4)",
                         {"山田 太郎", "Acme", "O'Brien; DROP TABLE people", std::nullopt});
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  EXPECT_EQ(ins->affected_rows(), 2);

  auto r = conn->Query("SELECT id, name, company FROM people WHERE id >= $1 ORDER BY id", {"1"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows(), 2);
  ASSERT_EQ(r->cols(), 3);
  EXPECT_EQ(r->ColumnName(1), "name");
  EXPECT_EQ(r->ColumnIndex("company"), 2);
  EXPECT_EQ(r->ColumnIndex("nope"), -1);
  EXPECT_EQ(*r->Get(0, 1), "山田 太郎");
  EXPECT_EQ(*r->Get(0, 2), "Acme");
  EXPECT_EQ(*r->Get(1, 1), "O'Brien; DROP TABLE people");
  EXPECT_FALSE(r->Get(1, 2).has_value());  // NULL
  EXPECT_FALSE(r->Get(5, 0).has_value());  // out of range

  // A unique violation is AlreadyExists with PostgreSQL's detail.
  auto dup = conn->Query("INSERT INTO people (name) VALUES ($1)", {"山田 太郎"});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists) << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("duplicate key value violates unique constraint"), std::string::npos)
      << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("Key (name)=(山田 太郎) already exists"), std::string::npos)
      << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("23505"), std::string::npos);
  // The connection is still usable after an error.
  EXPECT_TRUE(conn->Query("SELECT 1").ok());
}

TEST_F(PgTest, BadSqlMessage) {
  auto conn = PgConn::Connect(pg_->url());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto r = conn->Query("SELEC 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("syntax error at or near \"SELEC\""), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("42601"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("[sql: SELEC 1]"), std::string::npos) << r.status().ToString();

  Status s = conn->Exec("SELECT * FROM no_such_table");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("relation \"no_such_table\" does not exist"), std::string::npos) << s.ToString();

  auto bad_param = conn->Query("SELECT $1::int", {"not a number"});
  ASSERT_FALSE(bad_param.ok());
  EXPECT_EQ(bad_param.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_param.status().message().find("invalid input syntax for type integer"), std::string::npos)
      << bad_param.status().ToString();
}

TEST_F(PgTest, ConnectErrors) {
  auto nodb = PgConn::Connect(pg_->url("no_such_db"));
  ASSERT_FALSE(nodb.ok());
  EXPECT_EQ(nodb.status().code(), StatusCode::kNotFound) << nodb.status().ToString();

  ASSERT_TRUE(pg_->CreateDatabase("hakone_it").ok());
  auto ok = PgConn::Connect(pg_->url("hakone_it"));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();

  // Passwords never appear in messages.
  std::string with_pw = "postgresql://postgres:s3cret@127.0.0.1:1/postgres?sslmode=disable";
  auto refused = PgConn::Connect(with_pw, std::chrono::seconds(2));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_EQ(refused.status().message().find("s3cret"), std::string::npos) << refused.status().ToString();
  EXPECT_EQ(RedactPgUrl(with_pw), "postgresql://postgres:***@127.0.0.1:1/postgres?sslmode=disable");
  EXPECT_EQ(RedactPgUrl("host=h password=x user=u"), "host=h password=*** user=u");
}

// Runs last in this file's order: stops and restarts the shared server.
TEST_F(PgTest, StopStartAgainKeepsPortAndData) {
  int port = pg_->port();
  {
    auto conn = PgConn::Connect(pg_->url());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE(conn->Exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before stop')").ok());
  }
  auto conn = PgConn::Connect(pg_->url());
  ASSERT_TRUE(conn.ok());

  ASSERT_TRUE(pg_->Stop().ok());
  EXPECT_FALSE(pg_->running());
  // The open connection notices the server is gone.
  auto r = conn->Query("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_FALSE(conn->Ok());
  // Nothing listens any more.
  auto down = PgConn::Connect(pg_->url(), std::chrono::seconds(2));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
  Status reset = conn->Reset();
  EXPECT_FALSE(reset.ok());
  EXPECT_EQ(reset.code(), StatusCode::kUnavailable);

  ASSERT_TRUE(pg_->StartAgain().ok());
  EXPECT_EQ(pg_->port(), port);
  ASSERT_TRUE(conn->Reset().ok());
  EXPECT_TRUE(conn->Ok());
  auto rows = conn->Query("SELECT v FROM kept");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows(), 1);
  EXPECT_EQ(*rows->Get(0, 0), "before stop");

  // Stop is idempotent; the destructor handles a stopped server.
  ASSERT_TRUE(pg_->Stop().ok());
  ASSERT_TRUE(pg_->Stop().ok());
  ASSERT_TRUE(pg_->StartAgain().ok());
}

TEST(TestPostgresLifecycle, DestructorRemovesDirectory) {
  auto pg = TestPostgres::Start();
  if (!pg.ok() && pg.status().code() == StatusCode::kNotFound) GTEST_SKIP() << pg.status().ToString();
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  std::string dir = (*pg)->dir();
  EXPECT_TRUE(std::filesystem::exists(dir + "/data/PG_VERSION"));
  pg->reset();
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace hakone
