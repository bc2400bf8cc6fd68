// The keyspace engine behind both protocols: an in-process cache (sharded, TTL-aware,
// memory-bounded LRU) in front of a durable tier, a writer thread that group-commits the writes
// of every connection, and the bookkeeping that lets a connection wait until its writes are
// durable (strict) or not (async).
//
// Threading: command execution holds mu() (one lock per batch of pipelined commands). The writer
// thread only touches its queue and the durable tier. Connections wait for durability with
// WaitDurable(), which does not hold mu().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"
#include "sessions/durable.h"
#include "sessions/value.h"

namespace hakone::sessions {

constexpr int kNumDbs = 16;

int64_t NowMs();

struct CacheKey {
  int db;
  std::string key;
};
struct CacheKeyView {
  int db;
  std::string_view key;
};
struct CacheKeyHash {
  using is_transparent = void;
  size_t operator()(const CacheKey& k) const { return Hash(k.db, k.key); }
  size_t operator()(const CacheKeyView& k) const { return Hash(k.db, k.key); }
  static size_t Hash(int db, std::string_view key) { return std::hash<std::string_view>()(key) ^ (static_cast<size_t>(db) * 0x9E3779B97F4A7C15ull); }
};
struct CacheKeyEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return a.db == b.db && std::string_view(a.key) == std::string_view(b.key);
  }
};

// One cached key. A tombstone says "known absent": either a delete not yet durable (dirty_seq >
// committed) or a durable miss remembered so that the next look-up does not read the tier again.
struct Entry {
  Value v;
  int64_t expire_ms = 0;    // unix ms; 0 = none
  uint64_t dirty_seq = 0;   // the write batch that last changed it; evictable once committed
  bool tombstone = false;
  uint64_t version = 0;     // changes on every write (memcached cas unique)
  size_t mem = 0;
  // LRU links (per shard), and the key this entry is stored under.
  Entry* prev = nullptr;
  Entry* next = nullptr;
  const CacheKey* key = nullptr;
};

class MemoryCache {
 public:
  MemoryCache(uint64_t max_bytes, int shards);
  // The entry for (db, key), tombstones included; nullptr when not cached. Bumps it in the LRU.
  Entry* Find(int db, std::string_view key);
  // The entry for (db, key), inserted (as a tombstone) when missing.
  Entry* Insert(int db, std::string_view key);
  void Erase(int db, std::string_view key);
  // Re-computes the entry's memory after a change.
  void Account(Entry* e);
  // Evicts least recently used entries whose writes are durable (dirty_seq <= committed) until
  // under the memory bound. Returns the number evicted.
  size_t Evict(uint64_t committed);
  // Drops expired entries (and durable-known tombstones) found near the LRU tail.
  size_t SweepExpired(int64_t now_ms, uint64_t committed, size_t max_per_shard);
  void Clear(int db);  // db < 0: everything
  uint64_t bytes() const { return bytes_; }
  size_t size() const;
  uint64_t evictions() const { return evictions_; }

 private:
  struct Shard {
    std::unordered_map<CacheKey, Entry, CacheKeyHash, CacheKeyEq> map;
    Entry* head = nullptr;  // most recent
    Entry* tail = nullptr;
    uint64_t bytes = 0;
  };
  Shard& ShardFor(int db, std::string_view key) { return shards_[CacheKeyHash::Hash(db, key) % shards_.size()]; }
  void Unlink(Shard& s, Entry* e);
  void PushFront(Shard& s, Entry* e);
  void Remove(Shard& s, Entry* e);
  std::vector<Shard> shards_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
};

struct EngineOptions {
  bool strict = true;                                      // ack after durable
  std::chrono::milliseconds flush_interval{100};           // async: persisted within this
  uint64_t max_memory = 1ull << 30;                        // in-process cache bound
  int shards = 16;
  std::chrono::milliseconds sweep_interval{1000};          // durable tier expired-row sweep
};

class Engine {
 public:
  Engine(EngineOptions opts, std::unique_ptr<DurableTier> durable);
  ~Engine();
  Engine(const Engine&) = delete;

  // Starts the writer thread.
  void Start();
  // Flushes what is queued and stops the writer thread. Idempotent.
  void Stop();

  std::mutex& mu() { return mu_; }
  const EngineOptions& options() const { return opts_; }
  DurableTier& durable() { return *durable_; }
  MemoryCache& cache() { return cache_; }

  // ---- keyspace operations, REQUIRES mu() held ----
  // The live entry for (db, key) at now_ms, reading through to the durable tier on a cache miss
  // (and caching the value with its remaining TTL). nullptr when absent or expired, or when the
  // durable read failed (then read_error() is set).
  Entry* Lookup(int db, std::string_view key, int64_t now_ms);
  // Makes (db, key) live (an empty string value when it was absent) and returns it; the caller
  // fills it and calls Persist().
  Entry* Upsert(int db, std::string_view key);
  // Records the entry's current state as a durable write and touches WATCHers.
  void Persist(int db, std::string_view key, Entry* e);
  // Deletes (db, key) if live; returns whether it was. Records the durable delete.
  bool Remove(int db, std::string_view key, int64_t now_ms);
  // Puts a value fetched from an external cache tier into the in-process cache (not persisted).
  void Install(int db, std::string_view key, Value v, int64_t expire_ms);
  // The entry's change counter, or 0 when (db, key) is not cached / is a tombstone... see Entry.
  uint64_t VersionOf(int db, std::string_view key);
  void FlushDb(int db);  // db < 0: all
  // Non-empty after a durable read failed during this batch: the error text.
  const std::string& read_error() const { return read_error_; }
  void ClearReadError() { read_error_.clear(); }
  bool durable_writable() const { return durable_ok_.load(std::memory_order_relaxed); }
  std::string durable_error() const;

  // WATCH support: flags set to true when the key is written. REQUIRES mu().
  void Watch(int db, std::string_view key, bool* flag);
  void Unwatch(const std::vector<CacheKey>& keys, bool* flag);
  void TouchKey(int db, std::string_view key);

  // ---- durability ----
  // Hands the ops recorded since the last call to the writer; returns the sequence number to
  // wait for (0 when nothing was recorded). REQUIRES mu().
  uint64_t SubmitBatch();
  // The last sequence the writer handled (committed or failed).
  uint64_t done_seq() const { return done_seq_.load(std::memory_order_acquire); }
  // Whether batch `seq` failed to commit, and the error.
  bool SeqFailed(uint64_t seq, std::string* error) const;
  // Calls `wake` (from the writer thread) once done_seq() >= seq; returns false (without
  // registering) when that is already the case. Thread safe.
  bool RegisterWaiter(uint64_t seq, std::function<void()> wake);
  // The sequence of the last batch submitted.
  uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }
  // Asks the writer to commit now (async mode: someone is waiting).
  void Urge();
  // Periodic upkeep (cache expiry, eviction, invalidations). REQUIRES mu().
  void Upkeep(int64_t now_ms);

  // Stats.
  struct Stats {
    std::atomic<uint64_t> hits{0}, misses{0}, durable_reads{0}, durable_read_errors{0}, commits{0}, committed_ops{0},
        commit_errors{0}, expired{0}, swept{0};
    std::atomic<uint64_t> commit_us{0};  // wall time spent in durable commits (Apply), total
  };
  Stats& stats() { return stats_; }

 private:
  void WriterMain();
  EngineOptions opts_;
  std::unique_ptr<DurableTier> durable_;
  MemoryCache cache_;
  std::mutex mu_;
  std::string read_error_;
  uint64_t version_counter_ = 0;  // under mu_
  std::vector<DurableOp> batch_;          // under mu_
  std::unordered_map<CacheKey, std::vector<bool*>, CacheKeyHash, CacheKeyEq> watchers_;  // under mu_

  // writer
  std::mutex wmu_;
  std::condition_variable wcv_;
  std::vector<std::pair<uint64_t, std::vector<DurableOp>>> queue_;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
  std::deque<std::tuple<uint64_t, uint64_t, std::string>> failed_;  // [lo, hi], error
  std::vector<CacheKey> invalidate_;
  bool stop_ = false;
  bool urgent_ = false;
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> done_seq_{0};
  std::atomic<bool> durable_ok_{true};
  std::string durable_error_;  // under wmu_
  std::thread writer_;
  Stats stats_;
  metrics::Counter* m_commits_ = nullptr;
  metrics::Counter* m_commit_errors_ = nullptr;
  metrics::Gauge* m_durable_up_ = nullptr;
};

}  // namespace hakone::sessions
