#include <mutex>

#include "core/sqlite.h"
#include "sessions/durable.h"

namespace hakone::sessions {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kv(db INTEGER NOT NULL, key BLOB NOT NULL, type INTEGER NOT NULL, "
    "value BLOB NOT NULL, expire_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(db, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_expire ON kv(expire_at) WHERE expire_at > 0;";

class SqliteTier : public DurableTier {
 public:
  std::string name() const override { return "sqlite"; }

  Status Init(const std::string& path) {
    path_ = path;
    HAKONE_ASSIGN_OR_RETURN(w_, SqliteDb::Open(path, true));
    // synchronous=FULL: every COMMIT fsyncs the WAL, so a committed batch survives power loss.
    // A 64 MiB page cache and memory-mapped reads keep the upserts' B-tree descents out of pread.
    HAKONE_RETURN_IF_ERROR(w_.Exec("PRAGMA synchronous=FULL; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA wal_autocheckpoint=10000"));
    HAKONE_RETURN_IF_ERROR(w_.Exec(kSchema));
    HAKONE_ASSIGN_OR_RETURN(r_, SqliteDb::Open(path, true));
    HAKONE_RETURN_IF_ERROR(r_.Exec("PRAGMA cache_size=-16384; PRAGMA mmap_size=268435456"));
    HAKONE_ASSIGN_OR_RETURN(put_, w_.Prepare(
        "INSERT INTO kv(db, key, type, value, expire_at) VALUES(?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(db, key) DO UPDATE SET type = excluded.type, value = excluded.value, expire_at = excluded.expire_at"));
    HAKONE_ASSIGN_OR_RETURN(del_, w_.Prepare("DELETE FROM kv WHERE db = ?1 AND key = ?2"));
    HAKONE_ASSIGN_OR_RETURN(flushdb_, w_.Prepare("DELETE FROM kv WHERE db = ?1"));
    HAKONE_ASSIGN_OR_RETURN(flushall_, w_.Prepare("DELETE FROM kv"));
    HAKONE_ASSIGN_OR_RETURN(get_, r_.Prepare("SELECT type, value, expire_at FROM kv WHERE db = ?1 AND key = ?2"));
    HAKONE_ASSIGN_OR_RETURN(keys_, r_.Prepare(
        "SELECT key, type FROM kv WHERE db = ?1 AND (expire_at = 0 OR expire_at > ?2) AND key > ?3 ORDER BY key LIMIT ?4"));
    HAKONE_ASSIGN_OR_RETURN(count_, r_.Prepare("SELECT count(*) FROM kv WHERE db = ?1 AND (expire_at = 0 OR expire_at > ?2)"));
    return Status::Ok();
  }

  Status Apply(const std::vector<DurableOp>& ops) override {
    std::lock_guard lk(wmu_);
    HAKONE_RETURN_IF_ERROR(w_.Exec("BEGIN IMMEDIATE"));
    Status st = ApplyLocked(ops);
    if (st.ok()) st = w_.Exec("COMMIT");
    if (!st.ok()) {
      (void)w_.Exec("ROLLBACK");
      return st.WithContext("sqlite " + path_);
    }
    return Status::Ok();
  }

  Result<std::optional<Record>> Get(int db, std::string_view key, int64_t now_ms) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(get_.Reset());
    HAKONE_RETURN_IF_ERROR(get_.Bind(1, db));
    HAKONE_RETURN_IF_ERROR(get_.BindBlob(2, key));
    auto row = get_.Step();
    if (!row.ok()) return row.status();
    std::optional<Record> out;
    if (*row) {
      int64_t exp = get_.Int(2);
      if (exp == 0 || exp > now_ms) {
        Record r;
        r.type = static_cast<ValueType>(get_.Int(0));
        r.payload.assign(get_.Blob(1));
        r.expire_ms = exp;
        out = std::move(r);
      }
    }
    (void)get_.Reset();
    return out;
  }

  Result<std::vector<std::pair<std::string, ValueType>>> Keys(int db, int64_t now_ms, std::string_view after,
                                                               size_t limit) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(keys_.Reset());
    HAKONE_RETURN_IF_ERROR(keys_.Bind(1, db));
    HAKONE_RETURN_IF_ERROR(keys_.Bind(2, now_ms));
    HAKONE_RETURN_IF_ERROR(keys_.BindBlob(3, after));
    HAKONE_RETURN_IF_ERROR(keys_.Bind(4, limit == 0 ? int64_t{-1} : static_cast<int64_t>(limit)));
    std::vector<std::pair<std::string, ValueType>> out;
    for (;;) {
      auto row = keys_.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.emplace_back(std::string(keys_.Blob(0)), static_cast<ValueType>(keys_.Int(1)));
    }
    (void)keys_.Reset();
    return out;
  }

  Result<int64_t> Count(int db, int64_t now_ms) override {
    std::lock_guard lk(rmu_);
    HAKONE_RETURN_IF_ERROR(count_.Reset());
    HAKONE_RETURN_IF_ERROR(count_.Bind(1, db));
    HAKONE_RETURN_IF_ERROR(count_.Bind(2, now_ms));
    auto row = count_.Step();
    if (!row.ok()) return row.status();
    int64_t n = *row ? count_.Int(0) : 0;
    (void)count_.Reset();
    return n;
  }

  Result<int64_t> Sweep(int64_t now_ms, int limit) override {
    std::lock_guard lk(wmu_);
    auto st = w_.Prepare(
        "DELETE FROM kv WHERE (db, key) IN (SELECT db, key FROM kv WHERE expire_at > 0 AND expire_at <= ?1 LIMIT ?2)");
    if (!st.ok()) return st.status();
    HAKONE_RETURN_IF_ERROR(st->Bind(1, now_ms));
    HAKONE_RETURN_IF_ERROR(st->Bind(2, limit));
    auto r = st->Step();
    if (!r.ok()) return r.status();
    return w_.Changes();
  }

  Status Ping() override {
    std::lock_guard lk(wmu_);
    return w_.Exec("BEGIN IMMEDIATE; COMMIT");
  }

 private:
  Status ApplyLocked(const std::vector<DurableOp>& ops) {
    for (const auto& op : ops) {
      SqliteStmt* s = nullptr;
      switch (op.kind) {
        case DurableOp::kPut:
          s = &put_;
          HAKONE_RETURN_IF_ERROR(put_.Reset());
          HAKONE_RETURN_IF_ERROR(put_.Bind(1, op.db));
          HAKONE_RETURN_IF_ERROR(put_.BindBlob(2, op.key));
          HAKONE_RETURN_IF_ERROR(put_.Bind(3, static_cast<int>(op.type)));
          HAKONE_RETURN_IF_ERROR(put_.BindBlob(4, op.payload));
          HAKONE_RETURN_IF_ERROR(put_.Bind(5, op.expire_ms));
          break;
        case DurableOp::kDelete:
          s = &del_;
          HAKONE_RETURN_IF_ERROR(del_.Reset());
          HAKONE_RETURN_IF_ERROR(del_.Bind(1, op.db));
          HAKONE_RETURN_IF_ERROR(del_.BindBlob(2, op.key));
          break;
        case DurableOp::kFlushDb:
          s = &flushdb_;
          HAKONE_RETURN_IF_ERROR(flushdb_.Reset());
          HAKONE_RETURN_IF_ERROR(flushdb_.Bind(1, op.db));
          break;
        case DurableOp::kFlushAll:
          s = &flushall_;
          HAKONE_RETURN_IF_ERROR(flushall_.Reset());
          break;
      }
      auto r = s->Step();
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }

  std::string path_;
  std::mutex wmu_, rmu_;
  SqliteDb w_, r_;
  SqliteStmt put_, del_, flushdb_, flushall_, get_, keys_, count_;
};

}  // namespace

Result<std::unique_ptr<DurableTier>> OpenSqliteTier(const std::string& path) {
  auto t = std::make_unique<SqliteTier>();
  if (Status st = t->Init(path); !st.ok()) return st.WithContext("sessions: durable tier sqlite " + path);
  return std::unique_ptr<DurableTier>(std::move(t));
}

}  // namespace hakone::sessions
