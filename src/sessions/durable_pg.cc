#include <mutex>

#include "core/pg.h"
#include "sessions/durable.h"

namespace hakone::sessions {
namespace {

std::string Hex(std::string_view b) {
  static const char* kHex = "0123456789abcdef";
  std::string s = "\\x";
  s.reserve(2 + b.size() * 2);
  for (unsigned char c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

int Nib(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

std::string Unhex(std::string_view s) {
  if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x') s.remove_prefix(2);
  std::string out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<char>(Nib(s[i]) * 16 + Nib(s[i + 1])));
  return out;
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS hakone_sessions(db integer NOT NULL, key bytea NOT NULL, type smallint NOT NULL, "
    "value bytea NOT NULL, expire_at bigint NOT NULL DEFAULT 0, PRIMARY KEY(db, key));"
    "CREATE INDEX IF NOT EXISTS hakone_sessions_expire ON hakone_sessions(expire_at) WHERE expire_at > 0";

// One connection for the writer thread, one for reads; each reconnects after a failure.
class PgTier : public DurableTier {
 public:
  std::string name() const override { return "postgres"; }

  Status Init(const std::string& url) {
    url_ = url;
    HAKONE_ASSIGN_OR_RETURN(w_, PgConn::Connect(url));
    HAKONE_RETURN_IF_ERROR(w_.Exec(kSchema));
    HAKONE_ASSIGN_OR_RETURN(r_, PgConn::Connect(url));
    return Status::Ok();
  }

  Status Apply(const std::vector<DurableOp>& ops) override {
    std::lock_guard lk(wmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(w_));
    Status st = w_.Exec("BEGIN");
    for (size_t i = 0; st.ok() && i < ops.size(); i++) {
      const auto& op = ops[i];
      switch (op.kind) {
        case DurableOp::kPut: {
          auto r = w_.Query(
              "INSERT INTO hakone_sessions(db, key, type, value, expire_at) VALUES($1, $2::bytea, $3, $4::bytea, $5) "
              "ON CONFLICT(db, key) DO UPDATE SET type = excluded.type, value = excluded.value, expire_at = excluded.expire_at",
              {std::to_string(op.db), Hex(op.key), std::to_string(static_cast<int>(op.type)), Hex(op.payload),
               std::to_string(op.expire_ms)});
          st = r.status();
          break;
        }
        case DurableOp::kDelete:
          st = w_.Query("DELETE FROM hakone_sessions WHERE db = $1 AND key = $2::bytea", {std::to_string(op.db), Hex(op.key)})
                   .status();
          break;
        case DurableOp::kFlushDb:
          st = w_.Query("DELETE FROM hakone_sessions WHERE db = $1", {std::to_string(op.db)}).status();
          break;
        case DurableOp::kFlushAll:
          st = w_.Exec("DELETE FROM hakone_sessions");
          break;
      }
    }
    if (st.ok()) st = w_.Exec("COMMIT");
    if (!st.ok()) {
      if (w_.Ok()) (void)w_.Exec("ROLLBACK");
      return st.WithContext("postgres");
    }
    return Status::Ok();
  }

  Result<std::optional<Record>> Get(int db, std::string_view key, int64_t now_ms) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(r_));
    auto res = r_.Query("SELECT type, value, expire_at FROM hakone_sessions WHERE db = $1 AND key = $2::bytea "
                        "AND (expire_at = 0 OR expire_at > $3)",
                        {std::to_string(db), Hex(key), std::to_string(now_ms)});
    if (!res.ok()) return res.status().WithContext("postgres");
    std::optional<Record> out;
    if (res->rows() > 0) {
      Record r;
      r.type = static_cast<ValueType>(std::stoi(std::string(res->Get(0, 0).value_or("0"))));
      r.payload = Unhex(res->Get(0, 1).value_or(""));
      r.expire_ms = std::stoll(std::string(res->Get(0, 2).value_or("0")));
      out = std::move(r);
    }
    return out;
  }

  Result<std::vector<std::pair<std::string, ValueType>>> Keys(int db, int64_t now_ms, std::string_view after,
                                                               size_t limit) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(r_));
    std::string sql =
        "SELECT key, type FROM hakone_sessions WHERE db = $1 AND (expire_at = 0 OR expire_at > $2) AND key > $3::bytea "
        "ORDER BY key";
    if (limit > 0) sql += " LIMIT " + std::to_string(limit);
    auto res = r_.Query(sql, {std::to_string(db), std::to_string(now_ms), Hex(after)});
    if (!res.ok()) return res.status().WithContext("postgres");
    std::vector<std::pair<std::string, ValueType>> out;
    for (int i = 0; i < res->rows(); i++) {
      out.emplace_back(Unhex(res->Get(i, 0).value_or("")),
                       static_cast<ValueType>(std::stoi(std::string(res->Get(i, 1).value_or("0")))));
    }
    return out;
  }

  Result<int64_t> Count(int db, int64_t now_ms) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(r_));
    auto res = r_.Query("SELECT count(*) FROM hakone_sessions WHERE db = $1 AND (expire_at = 0 OR expire_at > $2)",
                        {std::to_string(db), std::to_string(now_ms)});
    if (!res.ok()) return res.status().WithContext("postgres");
    return std::stoll(std::string(res->Get(0, 0).value_or("0")));
  }

  Result<int64_t> Sweep(int64_t now_ms, int limit) override {
    std::lock_guard lk(wmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(w_));
    auto res = w_.Query(
        "DELETE FROM hakone_sessions WHERE (db, key) IN (SELECT db, key FROM hakone_sessions WHERE expire_at > 0 AND "
        "expire_at <= $1 LIMIT $2)",
        {std::to_string(now_ms), std::to_string(limit)});
    if (!res.ok()) return res.status().WithContext("postgres");
    return res->affected_rows();
  }

  Status Ping() override {
    std::lock_guard lk(wmu_);
    HAKONE_RETURN_IF_ERROR(Ensure(w_));
    return w_.Exec("SELECT 1");
  }

 private:
  Status Ensure(PgConn& c) {
    if (c.Ok()) return Status::Ok();
    return c.Reset();
  }
  std::string url_;
  std::mutex wmu_, rmu_;
  PgConn w_, r_;
};

}  // namespace

Result<std::unique_ptr<DurableTier>> OpenPostgresTier(const std::string& url) {
  auto t = std::make_unique<PgTier>();
  if (Status st = t->Init(url); !st.ok()) return st.WithContext("sessions: durable tier postgres " + RedactPgUrl(url));
  return std::unique_ptr<DurableTier>(std::move(t));
}

}  // namespace hakone::sessions
