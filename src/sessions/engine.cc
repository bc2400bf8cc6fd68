#include "sessions/engine.h"

#include <algorithm>

#include "core/log.h"

namespace hakone::sessions {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// MemoryCache

MemoryCache::MemoryCache(uint64_t max_bytes, int shards) : shards_(shards < 1 ? 1 : shards), max_bytes_(max_bytes) {}

void MemoryCache::Unlink(Shard& s, Entry* e) {
  if (e->prev) e->prev->next = e->next;
  else s.head = e->next;
  if (e->next) e->next->prev = e->prev;
  else s.tail = e->prev;
  e->prev = e->next = nullptr;
}

void MemoryCache::PushFront(Shard& s, Entry* e) {
  e->prev = nullptr;
  e->next = s.head;
  if (s.head) s.head->prev = e;
  s.head = e;
  if (!s.tail) s.tail = e;
}

Entry* MemoryCache::Find(int db, std::string_view key) {
  Shard& s = ShardFor(db, key);
  auto it = s.map.find(CacheKeyView{db, key});
  if (it == s.map.end()) return nullptr;
  Entry* e = &it->second;
  if (s.head != e) {
    Unlink(s, e);
    PushFront(s, e);
  }
  return e;
}

Entry* MemoryCache::Insert(int db, std::string_view key) {
  Shard& s = ShardFor(db, key);
  auto it = s.map.find(CacheKeyView{db, key});
  if (it != s.map.end()) {
    Entry* e = &it->second;
    if (s.head != e) {
      Unlink(s, e);
      PushFront(s, e);
    }
    return e;
  }
  auto [nit, ok] = s.map.emplace(CacheKey{db, std::string(key)}, Entry{});
  Entry* e = &nit->second;
  e->key = &nit->first;
  e->tombstone = true;
  PushFront(s, e);
  Account(e);
  return e;
}

void MemoryCache::Account(Entry* e) {
  size_t m = 128 + e->key->key.size() + (e->tombstone ? 0 : e->v.MemoryUsage());
  Shard& s = ShardFor(e->key->db, e->key->key);
  s.bytes += m;
  s.bytes -= e->mem;
  bytes_ += m;
  bytes_ -= e->mem;
  e->mem = m;
}

void MemoryCache::Remove(Shard& s, Entry* e) {
  Unlink(s, e);
  s.bytes -= e->mem;
  bytes_ -= e->mem;
  CacheKeyView kv{e->key->db, e->key->key};
  s.map.erase(s.map.find(kv));
}

void MemoryCache::Erase(int db, std::string_view key) {
  Shard& s = ShardFor(db, key);
  auto it = s.map.find(CacheKeyView{db, key});
  if (it != s.map.end()) Remove(s, &it->second);
}

size_t MemoryCache::Evict(uint64_t committed) {
  size_t n = 0;
  if (bytes_ <= max_bytes_) return 0;
  uint64_t per_shard = max_bytes_ / shards_.size();
  for (auto& s : shards_) {
    Entry* e = s.tail;
    while (e && s.bytes > per_shard) {
      Entry* prev = e->prev;
      if (e->dirty_seq <= committed) {
        Remove(s, e);
        n++;
      }
      e = prev;
    }
  }
  evictions_ += n;
  return n;
}

size_t MemoryCache::SweepExpired(int64_t now_ms, uint64_t committed, size_t max_per_shard) {
  size_t n = 0;
  for (auto& s : shards_) {
    Entry* e = s.tail;
    for (size_t i = 0; e && i < max_per_shard; i++) {
      Entry* prev = e->prev;
      if (e->dirty_seq <= committed && !e->tombstone && e->expire_ms != 0 && e->expire_ms <= now_ms) {
        Remove(s, e);
        n++;
      }
      e = prev;
    }
  }
  return n;
}

void MemoryCache::Clear(int db) {
  for (auto& s : shards_) {
    if (db < 0) {
      s.map.clear();
      s.head = s.tail = nullptr;
      bytes_ -= s.bytes;
      s.bytes = 0;
      continue;
    }
    for (auto it = s.map.begin(); it != s.map.end();) {
      if (it->first.db == db) {
        Entry* e = &it->second;
        Unlink(s, e);
        s.bytes -= e->mem;
        bytes_ -= e->mem;
        it = s.map.erase(it);
      } else {
        ++it;
      }
    }
  }
}

size_t MemoryCache::size() const {
  size_t n = 0;
  for (const auto& s : shards_) n += s.map.size();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Engine

Engine::Engine(EngineOptions opts, std::unique_ptr<DurableTier> durable)
    : opts_(opts), durable_(std::move(durable)), cache_(opts.max_memory, opts.shards) {
  auto& reg = metrics::Registry::Global();
  m_commits_ = reg.AddCounter("hakone_sessions_durable_commits_total", "Group commits to the durable tier")->Get();
  m_commit_errors_ =
      reg.AddCounter("hakone_sessions_durable_commit_errors_total", "Failed group commits to the durable tier")->Get();
  m_durable_up_ = reg.AddGauge("hakone_sessions_durable_up", "1 while the durable tier accepts writes")->Get();
  m_durable_up_->Set(1);
}

Engine::~Engine() { Stop(); }

void Engine::Start() {
  if (writer_.joinable()) return;
  writer_ = std::thread([this] { WriterMain(); });
}

void Engine::Stop() {
  {
    std::lock_guard lk(wmu_);
    stop_ = true;
  }
  wcv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::string Engine::durable_error() const {
  std::lock_guard lk(const_cast<std::mutex&>(wmu_));
  return durable_error_;
}

Entry* Engine::Lookup(int db, std::string_view key, int64_t now_ms) {
  Entry* e = cache_.Find(db, key);
  if (e) {
    if (e->tombstone) {
      stats_.hits.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    if (e->expire_ms != 0 && e->expire_ms <= now_ms) {
      // Expired: forget the value (the durable row expires by itself and is swept later).
      e->tombstone = true;
      e->v = Value();
      cache_.Account(e);
      stats_.expired.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    stats_.hits.fetch_add(1, std::memory_order_relaxed);
    return e;
  }
  stats_.misses.fetch_add(1, std::memory_order_relaxed);
  stats_.durable_reads.fetch_add(1, std::memory_order_relaxed);
  auto rec = durable_->Get(db, key, now_ms);
  if (!rec.ok()) {
    stats_.durable_read_errors.fetch_add(1, std::memory_order_relaxed);
    read_error_ = "ERR hakone: durable tier read failed: " + rec.status().message();
    for (char& c : read_error_) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    return nullptr;
  }
  e = cache_.Insert(db, key);  // a tombstone: known absent
  if (!rec->has_value()) return nullptr;
  auto v = ParseValue((*rec)->type, (*rec)->payload);
  if (!v.ok()) {
    read_error_ = "ERR hakone: " + v.status().message();
    cache_.Erase(db, key);
    return nullptr;
  }
  e->v = std::move(*v);
  e->expire_ms = (*rec)->expire_ms;  // the key's own remaining TTL, not a fixed one
  e->version = ++version_counter_;
  e->tombstone = false;
  cache_.Account(e);
  return e;
}

Entry* Engine::Upsert(int db, std::string_view key) {
  Entry* e = cache_.Insert(db, key);
  if (e->tombstone) {
    e->tombstone = false;
    e->v = Value();
    e->expire_ms = 0;
  }
  return e;
}

void Engine::Persist(int db, std::string_view key, Entry* e) {
  DurableOp op;
  op.kind = DurableOp::kPut;
  op.db = db;
  op.key.assign(key);
  op.type = StoredType(e->v);
  SerializeValue(e->v, &op.payload);
  op.expire_ms = e->expire_ms;
  batch_.push_back(std::move(op));
  e->dirty_seq = last_seq_.load(std::memory_order_relaxed) + 1;
  e->version = ++version_counter_;
  cache_.Account(e);
  if (!watchers_.empty()) TouchKey(db, key);
}

bool Engine::Remove(int db, std::string_view key, int64_t now_ms) {
  Entry* e = Lookup(db, key, now_ms);
  if (!e) return false;
  e->tombstone = true;
  e->v = Value();
  e->expire_ms = 0;
  e->dirty_seq = last_seq_.load(std::memory_order_relaxed) + 1;
  e->version = ++version_counter_;
  cache_.Account(e);
  DurableOp op;
  op.kind = DurableOp::kDelete;
  op.db = db;
  op.key.assign(key);
  batch_.push_back(std::move(op));
  if (!watchers_.empty()) TouchKey(db, key);
  return true;
}

void Engine::Install(int db, std::string_view key, Value v, int64_t expire_ms) {
  Entry* e = cache_.Insert(db, key);
  e->v = std::move(v);
  e->expire_ms = expire_ms;
  e->tombstone = false;
  e->version = ++version_counter_;
  cache_.Account(e);
}

uint64_t Engine::VersionOf(int db, std::string_view key) {
  Entry* e = cache_.Find(db, key);
  return e ? e->version : 0;
}

void Engine::FlushDb(int db) {
  cache_.Clear(db);
  DurableOp op;
  op.kind = db < 0 ? DurableOp::kFlushAll : DurableOp::kFlushDb;
  op.db = db < 0 ? 0 : db;
  batch_.push_back(std::move(op));
  for (auto& [k, flags] : watchers_) {
    if (db < 0 || k.db == db) {
      for (bool* f : flags) *f = true;
    }
  }
}

void Engine::Watch(int db, std::string_view key, bool* flag) {
  auto it = watchers_.find(CacheKeyView{db, key});
  if (it == watchers_.end()) it = watchers_.emplace(CacheKey{db, std::string(key)}, std::vector<bool*>{}).first;
  if (std::find(it->second.begin(), it->second.end(), flag) == it->second.end()) it->second.push_back(flag);
}

void Engine::Unwatch(const std::vector<CacheKey>& keys, bool* flag) {
  for (const auto& k : keys) {
    auto it = watchers_.find(k);
    if (it == watchers_.end()) continue;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), flag), v.end());
    if (v.empty()) watchers_.erase(it);
  }
}

void Engine::TouchKey(int db, std::string_view key) {
  auto it = watchers_.find(CacheKeyView{db, key});
  if (it == watchers_.end()) return;
  for (bool* f : it->second) *f = true;
}

uint64_t Engine::SubmitBatch() {
  if (batch_.empty()) return 0;
  uint64_t seq;
  {
    std::lock_guard lk(wmu_);
    seq = last_seq_.load(std::memory_order_relaxed) + 1;
    last_seq_.store(seq, std::memory_order_release);
    queue_.emplace_back(seq, std::move(batch_));
  }
  batch_.clear();
  if (opts_.strict) wcv_.notify_one();
  return seq;
}

bool Engine::SeqFailed(uint64_t seq, std::string* error) const {
  std::lock_guard lk(const_cast<std::mutex&>(wmu_));
  for (const auto& [lo, hi, err] : failed_) {
    if (seq >= lo && seq <= hi) {
      if (error) *error = err;
      return true;
    }
  }
  return false;
}

bool Engine::RegisterWaiter(uint64_t seq, std::function<void()> wake) {
  std::lock_guard lk(wmu_);
  if (done_seq_.load(std::memory_order_acquire) >= seq) return false;
  waiters_.emplace_back(seq, std::move(wake));
  if (!opts_.strict) {
    urgent_ = true;
    wcv_.notify_one();
  }
  return true;
}

void Engine::Urge() {
  {
    std::lock_guard lk(wmu_);
    urgent_ = true;
  }
  wcv_.notify_one();
}

void Engine::Upkeep(int64_t now_ms) {
  std::vector<CacheKey> inv;
  {
    std::lock_guard lk(wmu_);
    inv.swap(invalidate_);
  }
  for (const auto& k : inv) cache_.Erase(k.db, k.key);
  uint64_t done = done_seq();
  cache_.SweepExpired(now_ms, done, 64);
  cache_.Evict(done);
}

void Engine::WriterMain() {
  auto last_sweep = std::chrono::steady_clock::now();
  std::vector<std::pair<uint64_t, std::vector<DurableOp>>> work;
  std::vector<DurableOp> ops;
  // Group commit across connections (strict). While a commit waits for its fsync, the
  // connections whose writes it carries are blocked and the others queue theirs; committing the
  // moment anything is queued would split the clients into two cohorts that alternate, each
  // commit carrying about half of them. Instead, after a commit the writer expects the batches
  // it just acknowledged back (those clients usually send their next write within a round trip)
  // and waits for them, at most `gather` (half the last commit's duration, capped at 1 ms), so
  // one fsync covers nearly every waiting client. A lone client never waits: with nothing else
  // queued the expected count is reached by its own batch.
  size_t expect = 0;
  std::chrono::microseconds gather{0};
  for (;;) {
    {
      std::unique_lock lk(wmu_);
      if (opts_.strict) {
        wcv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stop_ || !queue_.empty(); });
        if (!stop_ && !queue_.empty() && queue_.size() < expect && gather.count() > 0) {
          wcv_.wait_for(lk, gather, [&] { return stop_ || queue_.size() >= expect; });
        }
      } else {
        wcv_.wait_for(lk, opts_.flush_interval, [&] { return stop_ || urgent_; });
        urgent_ = false;
      }
      work.swap(queue_);
      if (work.empty() && stop_) break;
    }
    if (!durable_ok_.load()) {
      // Down: probe before trying real batches again.
      Status st = durable_->Ping();
      if (st.ok()) {
        durable_ok_.store(true);
        m_durable_up_->Set(1);
        log::Info("sessions: durable tier is back, accepting writes", {{"tier", durable_->name()}});
      }
    }
    if (!work.empty()) {
      ops.clear();
      for (auto& [seq, v] : work) {
        for (auto& op : v) ops.push_back(std::move(op));
      }
      uint64_t lo = work.front().first, hi = work.back().first;
      auto t0 = std::chrono::steady_clock::now();
      Status st = durable_ok_.load() ? durable_->Apply(ops) : Status::Unavailable("durable tier unavailable");
      auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
      stats_.commit_us.fetch_add(took.count(), std::memory_order_relaxed);
      gather = std::min(took / 2, std::chrono::microseconds(1000));
      {
        std::lock_guard lk(wmu_);
        if (st.ok()) {
          stats_.commits.fetch_add(1, std::memory_order_relaxed);
          stats_.committed_ops.fetch_add(ops.size(), std::memory_order_relaxed);
          m_commits_->Inc();
        } else {
          stats_.commit_errors.fetch_add(1, std::memory_order_relaxed);
          m_commit_errors_->Inc();
          std::string err = st.message();
          for (char& c : err) {
            if (c == '\r' || c == '\n') c = ' ';
          }
          failed_.emplace_back(lo, hi, err);
          while (failed_.size() > 1024) failed_.pop_front();
          for (const auto& op : ops) invalidate_.push_back(CacheKey{op.db, op.key});
          if (durable_ok_.exchange(false)) {
            durable_error_ = err;
            m_durable_up_->Set(0);
            log::Error("sessions: durable tier write failed; refusing writes until it is back",
                       {{"tier", durable_->name()}, {"error", err}});
          }
        }
        done_seq_.store(hi, std::memory_order_release);
        std::vector<std::function<void()>> wake;
        auto it = std::partition(waiters_.begin(), waiters_.end(), [&](const auto& w) { return w.first > hi; });
        for (auto i = it; i != waiters_.end(); ++i) wake.push_back(std::move(i->second));
        waiters_.erase(it, waiters_.end());
        expect = queue_.size() + wake.size();
        for (auto& f : wake) f();
      }
      work.clear();
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_sweep >= opts_.sweep_interval && durable_ok_.load()) {
      last_sweep = now;
      auto n = durable_->Sweep(NowMs(), 1000);
      if (n.ok()) stats_.swept.fetch_add(*n, std::memory_order_relaxed);
    }
  }
}

}  // namespace hakone::sessions
