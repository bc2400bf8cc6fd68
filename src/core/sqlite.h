// Thin RAII over SQLite: a database handle and prepared statements, with errors as Status values
// that carry SQLite's message and the SQL that failed.
//
// Neither class is thread safe: use one SqliteDb per thread (or guard it). Statements must not
// outlive the SqliteDb they came from. Parameter and column indexes follow SQLite: parameters
// start at 1, columns at 0.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hakone {

class SqliteStmt;

class SqliteDb {
 public:
  // Opens (creating if missing) the database at `path` (":memory:" for a private in-memory one),
  // with extended error codes and a 5 s busy timeout. With `wal`, switches to journal_mode=WAL
  // (synchronous stays FULL: a committed transaction survives power loss). Errors: IOError when
  // the file cannot be opened, Corruption when it is not a database.
  static Result<SqliteDb> Open(const std::string& path, bool wal = true);

  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(SqliteDb&& other) noexcept;
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more ';'-separated statements that return no rows of interest
  // (DDL, BEGIN/COMMIT, PRAGMA ...).
  Status Exec(std::string_view sql);
  // Compiles one statement. Errors: InvalidArgument for bad SQL (the message names the problem
  // and quotes the SQL).
  Result<SqliteStmt> Prepare(std::string_view sql);
  // The rowid of the last successful INSERT on this connection.
  int64_t LastInsertRowid();
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes();
  // The underlying handle, for what this wrapper does not cover. Owned by this object.
  sqlite3* raw() { return db_; }
  bool is_open() const { return db_ != nullptr; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
  std::string path_;
};

class SqliteStmt {
 public:
  SqliteStmt() = default;
  ~SqliteStmt();
  SqliteStmt(SqliteStmt&& other) noexcept;
  SqliteStmt& operator=(SqliteStmt&& other) noexcept;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  // Binds parameter `idx` (1-based). Text and blobs are copied. Errors: InvalidArgument for an
  // index out of range.
  template <std::integral T>
  Status Bind(int idx, T value) {
    return BindInt64(idx, static_cast<int64_t>(value));
  }
  Status Bind(int idx, double value);
  Status Bind(int idx, std::string_view text);
  Status Bind(int idx, const char* text) { return Bind(idx, std::string_view(text)); }
  Status Bind(int idx, std::nullptr_t);
  Status BindInt64(int idx, int64_t value);
  Status BindBlob(int idx, std::string_view bytes);

  // Runs the statement one step: true when a row is ready (read it with the column getters),
  // false when done. Errors carry SQLite's message and the SQL: AlreadyExists for a UNIQUE or
  // PRIMARY KEY violation, InvalidArgument for other constraints, Unavailable for SQLITE_BUSY,
  // ResourceExhausted for a full disk, Corruption, IOError.
  Result<bool> Step();

  // Column getters for the current row (0-based). Views stay valid until the next Step(),
  // Reset() or destruction.
  int64_t Int(int col);
  double Double(int col);
  std::string_view Text(int col);
  std::string_view Blob(int col);
  bool IsNull(int col);
  int ColumnCount();

  // Rewinds the statement to run again; bindings are kept (ClearBindings() drops them).
  Status Reset();
  void ClearBindings();
  const std::string& sql() const { return sql_; }

 private:
  friend class SqliteDb;
  SqliteStmt(sqlite3_stmt* stmt, std::string sql) : stmt_(stmt), sql_(std::move(sql)) {}
  Status BindResult(int rc, int idx);
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

}  // namespace hakone
