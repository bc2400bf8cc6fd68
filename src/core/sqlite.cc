#include "core/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace hakone {
namespace {

constexpr size_t kMaxSqlInMessage = 300;

std::string Quote(std::string_view sql) {
  std::string s = " [sql: ";
  if (sql.size() > kMaxSqlInMessage) {
    s.append(sql.substr(0, kMaxSqlInMessage));
    s += "...";
  } else {
    s.append(sql);
  }
  s += "]";
  return s;
}

// Maps an SQLite result code (extended codes on) to a Status with `message`.
Status MakeError(int rc, std::string message) {
  int primary = rc & 0xff;
  switch (primary) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Status::AlreadyExists(std::move(message));
      return Status::InvalidArgument(std::move(message));
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_READONLY:
      return Status::InvalidArgument(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(message));
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return Status::ResourceExhausted(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(message));
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(std::move(message));
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
      return Status::Cancelled(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return Status::IOError(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

Status DbError(sqlite3* db, int rc, std::string_view what, std::string_view sql) {
  std::string m = "sqlite: ";
  m += what;
  m += ": ";
  m += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (!sql.empty()) m += Quote(sql);
  return MakeError(rc, std::move(m));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SqliteDb

Result<SqliteDb> SqliteDb::Open(const std::string& path, bool wal) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string m = "sqlite: open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    sqlite3_close_v2(raw);
    return MakeError(rc == SQLITE_CANTOPEN ? SQLITE_IOERR : rc, std::move(m));
  }
  SqliteDb db(raw);
  db.path_ = path;
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  // Reading the schema makes a non-database file fail here rather than on first use.
  HAKONE_RETURN_IF_ERROR(db.Exec("SELECT count(*) FROM sqlite_master").WithContext("open " + path));
  if (wal) {
    HAKONE_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL").WithContext("open " + path));
  }
  return db;
}

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close_v2(db_);
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Status SqliteDb::Exec(std::string_view sql) {
  if (!db_) return Status::InvalidArgument("sqlite: database not open");
  // sqlite3_exec needs a NUL-terminated string; walk the statements ourselves so that errors
  // quote the statement that failed.
  const char* p = sql.data();
  const char* end = sql.data() + sql.size();
  while (p < end) {
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, p, static_cast<int>(end - p), &st, &tail);
    std::string_view one(p, static_cast<size_t>((tail ? tail : end) - p));
    if (rc != SQLITE_OK) return DbError(db_, rc, "prepare", one);
    p = tail ? tail : end;
    if (!st) continue;  // whitespace or a comment
    for (;;) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) continue;
      break;
    }
    if (rc != SQLITE_DONE) {
      Status s = DbError(db_, rc, "exec", one);
      sqlite3_finalize(st);
      return s;
    }
    sqlite3_finalize(st);
  }
  return Status::Ok();
}

Result<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  if (!db_) return Status::InvalidArgument("sqlite: database not open");
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
  if (rc != SQLITE_OK) return DbError(db_, rc, "prepare", sql);
  if (!st) return Status::InvalidArgument("sqlite: prepare: empty statement" + Quote(sql));
  return SqliteStmt(st, std::string(sql));
}

int64_t SqliteDb::LastInsertRowid() { return db_ ? sqlite3_last_insert_rowid(db_) : 0; }

int64_t SqliteDb::Changes() { return db_ ? sqlite3_changes64(db_) : 0; }

// ---------------------------------------------------------------------------------------------
// SqliteStmt

SqliteStmt::~SqliteStmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

SqliteStmt::SqliteStmt(SqliteStmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_)) {}

SqliteStmt& SqliteStmt::operator=(SqliteStmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

Status SqliteStmt::BindResult(int rc, int idx) {
  if (rc == SQLITE_OK) return Status::Ok();
  return DbError(sqlite3_db_handle(stmt_), rc, "bind parameter " + std::to_string(idx), sql_);
}

Status SqliteStmt::BindInt64(int idx, int64_t value) {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  return BindResult(sqlite3_bind_int64(stmt_, idx, value), idx);
}

Status SqliteStmt::Bind(int idx, double value) {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  return BindResult(sqlite3_bind_double(stmt_, idx, value), idx);
}

Status SqliteStmt::Bind(int idx, std::string_view text) {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  return BindResult(sqlite3_bind_text64(stmt_, idx, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8), idx);
}

Status SqliteStmt::Bind(int idx, std::nullptr_t) {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  return BindResult(sqlite3_bind_null(stmt_, idx), idx);
}

Status SqliteStmt::BindBlob(int idx, std::string_view bytes) {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  return BindResult(sqlite3_bind_blob64(stmt_, idx, bytes.data(), bytes.size(), SQLITE_TRANSIENT), idx);
}

Result<bool> SqliteStmt::Step() {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = DbError(sqlite3_db_handle(stmt_), rc, "step", sql_);
  sqlite3_reset(stmt_);  // ready to run again after the caller handled the error
  return s;
}

int64_t SqliteStmt::Int(int col) { return sqlite3_column_int64(stmt_, col); }

double SqliteStmt::Double(int col) { return sqlite3_column_double(stmt_, col); }

std::string_view SqliteStmt::Text(int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!p) return {};
  return std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view SqliteStmt::Blob(int col) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (!p) return {};
  return std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

bool SqliteStmt::IsNull(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int SqliteStmt::ColumnCount() { return stmt_ ? sqlite3_column_count(stmt_) : 0; }

Status SqliteStmt::Reset() {
  if (!stmt_) return Status::InvalidArgument("sqlite: statement not prepared");
  // sqlite3_reset repeats the error of the last Step(), which the caller has already seen.
  sqlite3_reset(stmt_);
  return Status::Ok();
}

void SqliteStmt::ClearBindings() {
  if (stmt_) sqlite3_clear_bindings(stmt_);
}

}  // namespace hakone
