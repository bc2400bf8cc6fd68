// The durable tier: where every acknowledged session write lives (SQLite, embedded; or
// PostgreSQL, shared by several hakone sessions instances). Values are stored per (db, key) as
// {type, serialised payload, absolute expiry in unix ms (0 = none)}.
//
// Thread safety: Apply() is called only from the writer thread; Get/Keys/Count/Sweep may be called
// from any thread (implementations guard their read connections).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sessions/value.h"

namespace hakone::sessions {

struct DurableOp {
  enum Kind : uint8_t { kPut, kDelete, kFlushDb, kFlushAll };
  Kind kind = kPut;
  int db = 0;
  std::string key;
  ValueType type = ValueType::kString;
  std::string payload;
  int64_t expire_ms = 0;
};

class DurableTier {
 public:
  virtual ~DurableTier() = default;
  virtual std::string name() const = 0;
  // Applies the ops in one transaction and makes it durable (fsync / COMMIT) before returning.
  // On error nothing of the batch is applied (rolled back).
  virtual Status Apply(const std::vector<DurableOp>& ops) = 0;
  // The record for (db, key) unless absent or expired at `now_ms`.
  virtual Result<std::optional<Record>> Get(int db, std::string_view key, int64_t now_ms) = 0;
  // Live keys of db matching `pattern` (glob; "" = all), with their types, ordered by key,
  // starting after `after` (exclusive; "" = from the start), at most `limit` (0 = all).
  virtual Result<std::vector<std::pair<std::string, ValueType>>> Keys(int db, int64_t now_ms, std::string_view after,
                                                                       size_t limit) = 0;
  virtual Result<int64_t> Count(int db, int64_t now_ms) = 0;
  // Deletes up to `limit` rows expired at `now_ms`; returns how many.
  virtual Result<int64_t> Sweep(int64_t now_ms, int limit) = 0;
  // Checks the tier is reachable (reconnecting when needed).
  virtual Status Ping() = 0;
};

// SQLite in WAL mode with synchronous=FULL: a committed batch survives a crash or power loss.
Result<std::unique_ptr<DurableTier>> OpenSqliteTier(const std::string& path);
// PostgreSQL (libpq): the table `hakone_sessions` is created when missing.
Result<std::unique_ptr<DurableTier>> OpenPostgresTier(const std::string& url);

}  // namespace hakone::sessions
