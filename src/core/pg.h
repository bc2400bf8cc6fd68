// Thin RAII over libpq: a blocking PostgreSQL connection and query results, with errors as
// Status values carrying PostgreSQL's message, detail, hint and SQLSTATE.
//
// Calls block the calling thread (network round trips): run them on a worker thread, not on an
// io_context thread that serves other connections. Neither class is thread safe. A PgResult is
// independent of its connection once returned (it may outlive it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct pg_conn;
struct pg_result;

namespace hakone {

class PgResult {
 public:
  PgResult() = default;
  ~PgResult();
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  int cols() const;
  // The value at (row, col) in text form; nullopt for SQL NULL or out of range. The view is
  // valid while this PgResult lives.
  std::optional<std::string_view> Get(int row, int col) const;
  // The column's name; "" out of range.
  std::string_view ColumnName(int col) const;
  // The index of the column with this name, or -1.
  int ColumnIndex(std::string_view name) const;
  // Rows affected by INSERT/UPDATE/DELETE/... (0 for other commands).
  int64_t affected_rows() const;

 private:
  friend class PgConn;
  explicit PgResult(pg_result* r) : res_(r) {}
  pg_result* res_ = nullptr;
};

class PgConn {
 public:
  // Connects to a libpq URL ("postgresql://user:pass@host:port/db?sslmode=disable") or a
  // "key=value" conninfo string, waiting at most `timeout` (libpq rounds below 2 s up to 2 s).
  // Errors: Unavailable (refused, unreachable, server starting or shutting down, timeout),
  // PermissionDenied (authentication), NotFound (no such database), InvalidArgument (bad URL).
  // Messages never contain the password.
  static Result<PgConn> Connect(const std::string& url, std::chrono::seconds timeout = std::chrono::seconds(5));

  PgConn() = default;
  ~PgConn();
  PgConn(PgConn&& other) noexcept;
  PgConn& operator=(PgConn&& other) noexcept;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one or more ';'-separated statements (no parameters), discarding any rows.
  Status Exec(std::string_view sql);
  // Runs one statement with text parameters $1..$n (nullopt = NULL) and returns its rows.
  // Errors (message: severity, primary message, detail, hint, SQLSTATE, and the SQL):
  // AlreadyExists (unique violation 23505), InvalidArgument (other 22xxx/23xxx data and
  // constraint errors, 42xxx syntax/undefined object), Unavailable (connection lost, 08xxx,
  // 57Pxx shutdown, 40xxx serialization failure/deadlock: retry), ResourceExhausted (53xxx),
  // PermissionDenied (42501), Internal (anything else).
  Result<PgResult> Query(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});
  // True while the connection is usable (false after the server went away; see Reset()).
  bool Ok() const;
  // Reconnects with the original parameters (blocking). Errors: Unavailable.
  Status Reset();
  // The underlying handle. Owned by this object.
  pg_conn* raw() { return conn_; }

 private:
  explicit PgConn(pg_conn* c) : conn_(c) {}
  Status ResultError(pg_result* res, std::string_view sql);
  pg_conn* conn_ = nullptr;
  std::string redacted_url_;
};

// `url` with any password replaced by "***", for logs and messages.
std::string RedactPgUrl(std::string_view url);

}  // namespace hakone
