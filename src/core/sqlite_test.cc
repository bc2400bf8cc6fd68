#include "core/sqlite.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace hakone {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hakone-sqlite-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SqliteTest, CreateInsertSelect) {
  auto db = SqliteDb::Open(dir_ + "/a.db");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);").ok());

  auto ins = db->Prepare("INSERT INTO t (name, score, data) VALUES (?, ?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  std::string blob("a\0b", 3);
  ASSERT_TRUE(ins->Bind(1, "alice").ok());
  ASSERT_TRUE(ins->Bind(2, 1.5).ok());
  ASSERT_TRUE(ins->BindBlob(3, blob).ok());
  auto r = ins->Step();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  EXPECT_EQ(db->LastInsertRowid(), 1);
  EXPECT_EQ(db->Changes(), 1);

  ASSERT_TRUE(ins->Reset().ok());
  ASSERT_TRUE(ins->Bind(1, std::string("bob")).ok());
  ASSERT_TRUE(ins->Bind(2, nullptr).ok());
  ASSERT_TRUE(ins->Bind(3, nullptr).ok());
  ASSERT_TRUE(ins->Step().ok());
  EXPECT_EQ(db->LastInsertRowid(), 2);

  auto sel = db->Prepare("SELECT id, name, score, data FROM t WHERE id >= ? ORDER BY id");
  ASSERT_TRUE(sel.ok());
  ASSERT_TRUE(sel->Bind(1, 1).ok());
  EXPECT_EQ(sel->ColumnCount(), 4);
  auto row = sel->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(sel->Int(0), 1);
  EXPECT_EQ(sel->Text(1), "alice");
  EXPECT_DOUBLE_EQ(sel->Double(2), 1.5);
  EXPECT_EQ(sel->Blob(3), blob);
  EXPECT_FALSE(sel->IsNull(2));
  row = sel->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(sel->Text(1), "bob");
  EXPECT_TRUE(sel->IsNull(2));
  EXPECT_TRUE(sel->IsNull(3));
  row = sel->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);

  // Re-run with a different binding.
  ASSERT_TRUE(sel->Reset().ok());
  ASSERT_TRUE(sel->Bind(1, int64_t{2}).ok());
  row = sel->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(sel->Int(0), 2);
}

TEST_F(SqliteTest, BadSqlNamesTheProblemAndTheStatement) {
  auto db = SqliteDb::Open(":memory:", false);
  ASSERT_TRUE(db.ok());
  auto st = db->Prepare("SELEC 1 FROM nowhere");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.status().message().find("syntax error"), std::string::npos) << st.status().ToString();
  EXPECT_NE(st.status().message().find("SELEC 1 FROM nowhere"), std::string::npos) << st.status().ToString();

  Status s = db->Exec("CREATE TABLE a (x); SELECT * FROM missing_table;");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no such table: missing_table"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("SELECT * FROM missing_table"), std::string::npos) << s.ToString();
  // The first statement of the batch ran.
  EXPECT_TRUE(db->Exec("INSERT INTO a VALUES (1)").ok());
}

TEST_F(SqliteTest, ConstraintViolationIsAlreadyExists) {
  auto db = SqliteDb::Open(dir_ + "/c.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE u (k TEXT PRIMARY KEY, v TEXT NOT NULL)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO u VALUES ('a', 'x')").ok());
  auto st = db->Prepare("INSERT INTO u VALUES (?, ?)");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(st->Bind(1, "a").ok());
  ASSERT_TRUE(st->Bind(2, "y").ok());
  auto r = st->Step();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists) << r.status().ToString();
  EXPECT_NE(r.status().message().find("UNIQUE constraint failed"), std::string::npos) << r.status().ToString();
  // The statement is usable again after the error.
  ASSERT_TRUE(st->Bind(1, "b").ok());
  r = st->Step();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // NOT NULL is a different kind of constraint.
  ASSERT_TRUE(st->Reset().ok());
  ASSERT_TRUE(st->Bind(1, "c").ok());
  ASSERT_TRUE(st->Bind(2, nullptr).ok());
  r = st->Step();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  // Bad parameter index.
  EXPECT_FALSE(st->Bind(9, 1).ok());
}

TEST_F(SqliteTest, WalPersistsAcrossReopenAndMoves) {
  std::string path = dir_ + "/w.db";
  {
    auto db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    auto mode = db->Prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.ok());
    ASSERT_TRUE(*mode->Step());
    EXPECT_EQ(mode->Text(0), "wal");
    mode = SqliteStmt();  // finalize before the move below
    SqliteDb moved = std::move(*db);
    EXPECT_FALSE(db->is_open());
    ASSERT_TRUE(moved.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (42);").ok());
    EXPECT_FALSE(db->Exec("SELECT 1").ok());  // moved-from handle reports, does not crash
  }
  auto db = SqliteDb::Open(path);
  ASSERT_TRUE(db.ok());
  auto st = db->Prepare("SELECT x FROM t");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Int(0), 42);
}

TEST_F(SqliteTest, OpenErrors) {
  auto missing = SqliteDb::Open(dir_ + "/no/such/dir/x.db");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIOError) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("x.db"), std::string::npos);

  std::string junk = dir_ + "/junk.db";
  std::ofstream(junk) << std::string(4096, 'z');
  auto bad = SqliteDb::Open(junk);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption) << bad.status().ToString();
}

}  // namespace
}  // namespace hakone
