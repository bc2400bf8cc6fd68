#include "core/pg.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "core/log.h"

namespace hakone {
namespace {

constexpr size_t kMaxSqlInMessage = 300;

void NoticeToLog(void*, const char* message) {
  std::string_view m(message);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.remove_suffix(1);
  log::Debug("postgres notice", {{"notice", m}});
}

std::string Trimmed(const char* s) {
  std::string_view v = s ? s : "";
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  return std::string(v);
}

Status FromSqlState(std::string_view state, std::string message) {
  if (state == "23505") return Status::AlreadyExists(std::move(message));
  if (state == "42501" || state.starts_with("28")) return Status::PermissionDenied(std::move(message));
  if (state == "3D000") return Status::NotFound(std::move(message));
  if (state.starts_with("22") || state.starts_with("23") || state.starts_with("42") || state.starts_with("0A") ||
      state.starts_with("25") || state.starts_with("3F")) {
    return Status::InvalidArgument(std::move(message));
  }
  if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("40") || state == "55P03") {
    return Status::Unavailable(std::move(message));
  }
  if (state.starts_with("53")) return Status::ResourceExhausted(std::move(message));
  if (state == "57014") return Status::Cancelled(std::move(message));
  return Status::Internal(std::move(message));
}

}  // namespace

std::string RedactPgUrl(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) {
    // key=value form: hide password=...
    std::string out(url);
    auto p = out.find("password=");
    if (p != std::string::npos) {
      auto end = out.find(' ', p);
      out.replace(p + 9, (end == std::string::npos ? out.size() : end) - (p + 9), "***");
    }
    return out;
  }
  size_t auth = scheme + 3;
  size_t auth_end = url.find_first_of("/?", auth);
  std::string_view authority = url.substr(auth, auth_end == std::string_view::npos ? std::string_view::npos : auth_end - auth);
  auto at = authority.rfind('@');
  std::string out(url);
  if (at != std::string_view::npos) {
    auto colon = authority.substr(0, at).find(':');
    if (colon != std::string_view::npos) out.replace(auth + colon + 1, at - colon - 1, "***");
  }
  auto q = out.find("password=");
  if (q != std::string::npos) {
    auto end = out.find('&', q);
    out.replace(q + 9, (end == std::string::npos ? out.size() : end) - (q + 9), "***");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PgResult

PgResult::~PgResult() {
  if (res_) PQclear(res_);
}

PgResult::PgResult(PgResult&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (res_) PQclear(res_);
    res_ = std::exchange(other.res_, nullptr);
  }
  return *this;
}

int PgResult::rows() const { return res_ ? PQntuples(res_) : 0; }

int PgResult::cols() const { return res_ ? PQnfields(res_) : 0; }

std::optional<std::string_view> PgResult::Get(int row, int col) const {
  if (!res_ || row < 0 || col < 0 || row >= rows() || col >= cols()) return std::nullopt;
  if (PQgetisnull(res_, row, col)) return std::nullopt;
  return std::string_view(PQgetvalue(res_, row, col), static_cast<size_t>(PQgetlength(res_, row, col)));
}

std::string_view PgResult::ColumnName(int col) const {
  if (!res_ || col < 0 || col >= cols()) return {};
  const char* n = PQfname(res_, col);
  return n ? std::string_view(n) : std::string_view();
}

int PgResult::ColumnIndex(std::string_view name) const {
  for (int i = 0; i < cols(); ++i) {
    if (ColumnName(i) == name) return i;
  }
  return -1;
}

int64_t PgResult::affected_rows() const {
  if (!res_) return 0;
  const char* n = PQcmdTuples(res_);
  if (!n || !*n) return 0;
  return std::strtoll(n, nullptr, 10);
}

// ---------------------------------------------------------------------------------------------
// PgConn

Result<PgConn> PgConn::Connect(const std::string& url, std::chrono::seconds timeout) {
  std::string redacted = RedactPgUrl(url);
  std::string timeout_s = std::to_string(std::max<long long>(1, timeout.count()));
  // Keywords before "dbname" are defaults the URL may override; those after it win.
  const char* keys[] = {"fallback_application_name", "client_encoding", "dbname", "connect_timeout", nullptr};
  const char* values[] = {"hakone", "UTF8", url.c_str(), timeout_s.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!c) return Status::ResourceExhausted("postgres: connect " + redacted + ": out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string err = Trimmed(PQerrorMessage(c));
    PQfinish(c);
    std::string m = "postgres: connect " + redacted + ": " + err;
    if (err.find("password authentication failed") != std::string::npos ||
        err.find("authentication failed") != std::string::npos || err.find("no pg_hba.conf entry") != std::string::npos) {
      return Status::PermissionDenied(std::move(m));
    }
    if (err.find("does not exist") != std::string::npos && err.find("database") != std::string::npos) {
      return Status::NotFound(std::move(m));
    }
    if (err.find("invalid") != std::string::npos && (err.find("URI") != std::string::npos || err.find("connection option") != std::string::npos)) {
      return Status::InvalidArgument(std::move(m));
    }
    return Status::Unavailable(std::move(m));
  }
  PQsetNoticeProcessor(c, NoticeToLog, nullptr);
  PgConn conn(c);
  conn.redacted_url_ = std::move(redacted);
  return conn;
}

PgConn::~PgConn() {
  if (conn_) PQfinish(conn_);
}

PgConn::PgConn(PgConn&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), redacted_url_(std::move(other.redacted_url_)) {}

PgConn& PgConn::operator=(PgConn&& other) noexcept {
  if (this != &other) {
    if (conn_) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    redacted_url_ = std::move(other.redacted_url_);
  }
  return *this;
}

bool PgConn::Ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

Status PgConn::Reset() {
  if (!conn_) return Status::InvalidArgument("postgres: not connected");
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status::Unavailable("postgres: reconnect " + redacted_url_ + ": " + Trimmed(PQerrorMessage(conn_)));
  }
  PQsetNoticeProcessor(conn_, NoticeToLog, nullptr);
  return Status::Ok();
}

Status PgConn::ResultError(pg_result* res, std::string_view sql) {
  std::string m = "postgres: ";
  std::string state;
  if (res) {
    const char* sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char* hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (code) state = code;
    if (primary) {
      if (sev) {
        m += sev;
        m += ": ";
      }
      m += primary;
    } else {
      std::string e = Trimmed(PQresultErrorMessage(res));
      m += e.empty() ? Trimmed(PQerrorMessage(conn_)) : e;
    }
    if (detail) {
      m += " (detail: ";
      m += detail;
      m += ")";
    }
    if (hint) {
      m += " (hint: ";
      m += hint;
      m += ")";
    }
    if (code) {
      m += " (SQLSTATE ";
      m += code;
      m += ")";
    }
  } else {
    m += Trimmed(PQerrorMessage(conn_));
  }
  if (!sql.empty()) {
    m += " [sql: ";
    m.append(sql.substr(0, kMaxSqlInMessage));
    if (sql.size() > kMaxSqlInMessage) m += "...";
    m += "]";
  }
  if (PQstatus(conn_) != CONNECTION_OK) return Status::Unavailable(std::move(m));
  if (state.empty()) return res ? Status::Internal(std::move(m)) : Status::Unavailable(std::move(m));
  return FromSqlState(state, std::move(m));
}

Status PgConn::Exec(std::string_view sql) {
  if (!conn_) return Status::InvalidArgument("postgres: not connected");
  std::string s(sql);  // PQexec needs NUL termination
  PGresult* res = PQexec(conn_, s.c_str());
  // PQexec returns the last statement's result; an error stops the batch and is that result.
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    PQclear(res);
    return Status::Ok();
  }
  Status err = ResultError(res, sql);
  if (res) PQclear(res);
  return err;
}

Result<PgResult> PgConn::Query(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
  if (!conn_) return Status::InvalidArgument("postgres: not connected");
  std::string s(sql);
  std::vector<const char*> values;
  std::vector<int> lengths;
  values.reserve(params.size());
  lengths.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p ? p->c_str() : nullptr);
    lengths.push_back(p ? static_cast<int>(p->size()) : 0);
  }
  PGresult* res = PQexecParams(conn_, s.c_str(), static_cast<int>(params.size()), nullptr,
                               values.empty() ? nullptr : values.data(), lengths.empty() ? nullptr : lengths.data(),
                               nullptr, /*resultFormat=*/0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return PgResult(res);
  Status err = ResultError(res, sql);
  if (res) PQclear(res);
  return err;
}

}  // namespace hakone
