// The crawl loop: scheduler (per-host politeness), workers, state, outputs, summary.
#include <openssl/evp.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "core/sqlite.h"
#include "crawl/crawl.h"
#include "crawl/extract.h"
#include "crawl/outputs.h"
#include "crawl/redis_frontier.h"
#include "crawl/robots.h"
#include "crawl/sitemap.h"

namespace hakone::crawl {
namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Rfc3339Now() {
  time_t t = time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Retry-After: delta-seconds or an HTTP-date.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  long secs = std::strtol(v.c_str(), &end, 10);
  if (end != v.c_str() && *end == '\0' && secs >= 0) return std::chrono::milliseconds(secs * 1000);
  struct tm tm {};
  if (strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    int64_t when = timegm(&tm);
    int64_t d = when - NowUnix();
    return std::chrono::milliseconds(std::max<int64_t>(0, d) * 1000);
  }
  return std::nullopt;
}

enum class Kind : int { kPage = 0, kSitemap = 1 };

struct Item {
  std::string url;
  int depth = 0;
  Kind kind = Kind::kPage;
  int attempts = 0;
  std::vector<std::string> chain;  // redirect hops so far (loop detection)
  std::string token;               // shared frontier: the leased entry (removed from in-flight when done)
};

struct Host {
  std::string origin;  // "http://host:port"
  std::string host;    // for sharding and same-site checks
  std::deque<Item> queue;
  int active = 0;
  Clock::time_point next_ok{};
  double delay_s = 0;       // adaptive delay
  double min_delay_s = 0;   // max(config delay, Crawl-delay)
  enum { kUnknown, kFetching, kReady } robots_state = kUnknown;
  Robots robots;
  bool robots_error = false;
  Clock::time_point robots_expires{};
};

struct History {
  std::string etag, last_modified, content_hash, links;  // links: '\n'-joined canonical URLs
};

// A set of 64-bit hashes in one open-addressing table (~16 bytes per entry at the load kept
// here, instead of a heap string and a node each): the URLs seen in this run (two URLs whose
// hashes collide, p ~ n^2 / 2^65 = ~3e-8 for a million URLs, would be taken as one) and the
// content hashes of the bodies fetched (dedupe).
class SeenSet {
 public:
  static uint64_t Key(std::string_view url) {
    uint64_t k = std::hash<std::string_view>{}(url);
    return k == 0 ? 1 : k;  // 0 marks an empty slot
  }
  // True when `key` was not in the set yet.
  bool Insert(uint64_t key) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    size_t i = Slot(key);
    if (slots_[i] == key) return false;
    slots_[i] = key;
    ++size_;
    return true;
  }
  bool Contains(uint64_t key) const { return !slots_.empty() && slots_[Slot(key)] == key; }
  size_t size() const { return size_; }

 private:
  size_t Slot(uint64_t key) const {
    size_t mask = slots_.size() - 1;
    size_t i = static_cast<size_t>(key * 0x9E3779B97F4A7C15ull) & mask;
    while (slots_[i] != 0 && slots_[i] != key) i = (i + 1) & mask;
    return i;
  }
  void Grow() {
    std::vector<uint64_t> old(std::max<size_t>(1024, slots_.size() * 2), 0);
    old.swap(slots_);
    for (uint64_t k : old) {
      if (k != 0) slots_[Slot(k)] = k;
    }
  }
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
};

// In-memory frontier window: at most this many items wait in the host queues; the rest of the
// frontier waits in the state db (state 0 rows) and is read back in insertion order.
constexpr size_t kMaxQueued = 1024;
constexpr int64_t kRefillBatch = 512;

log::Field LabelsField(const std::map<std::string, std::string>& labels) {
  log::Field f("logging.googleapis.com/labels", "");
  json::object o;
  for (const auto& [k, v] : labels) o[k] = v;
  f.json = json::serialize(o);
  return f;
}

class Crawler {
 public:
  Crawler(const CrawlConfig& cfg, const std::atomic<bool>* stop) : cfg_(cfg), stop_(stop), pool_(cfg.fetch) {
    labels_ = cfg.labels;
    labels_.emplace("component", "crawl");
    labels_.emplace("shard", std::to_string(cfg.worker_index));
  }

  CrawlSummary Run();

 private:
  log::Field L() const { return LabelsField(labels_); }
  Status OpenState();
  // The fetch history row of `url` (validators, content hash, links), if any. REQUIRES mu_.
  std::optional<History> HistoryLocked(const std::string& url);
  // Moves spilled frontier rows (state db) into the host queues. REQUIRES mu_.
  void RefillLocked();
  void PushLocked(Host* h, Item item, bool front);  // REQUIRES mu_
  Status Checkpoint();  // commits the open state transaction
  bool StateExec(SqliteStmt& st, std::initializer_list<std::string_view> params, int64_t i1 = INT64_MIN,
                 int64_t i2 = INT64_MIN);  // false (logged) when the write failed
  // The configured sitemaps and seeds (canonical; invalid ones are skipped), depth 0. REQUIRES mu_.
  void EnqueueSeedsLocked() {
    for (const auto& s : cfg_.sitemaps) {
      auto c = CanonicalUrl(s);
      if (c.ok()) EnqueueLocked(*c, 0, Kind::kSitemap);
    }
    for (const auto& s : cfg_.seeds) {
      auto c = CanonicalUrl(s);
      if (c.ok()) EnqueueLocked(*c, 0, Kind::kPage);
    }
  }
  // Enqueues a canonical URL if new, in this shard and allowed by the filters. REQUIRES mu_.
  void EnqueueLocked(const std::string& url, int depth, Kind kind, bool front = false,
                     std::vector<std::string> chain = {});
  void Worker();
  void FetchRobots(Host* h, Fetcher& f);
  // *kept: the item went back to the host queue (retry, or stopping) instead of being finished.
  void FetchItem(Host* h, Item item, Fetcher& f, bool* kept);
  Host* HostLocked(const std::string& origin, const std::string& host);
  // Shared frontier (REQUIRES mu_): leases entries into the host queues; *all_empty when no
  // process has anything queued or in flight. Returns whether anything was leased.
  bool ClaimLocked(bool* all_empty);
  void FinishLocked(const std::string& token);
  void FrontierFailed(const Status& s);
  void Done(const Item& item, int state);  // frontier row: 1 done, 2 failed. REQUIRES mu_.
  void CountError(const std::string& kind, const Item& item, const std::string& detail);  // REQUIRES mu_
  void Emit(const PageDoc& page, const std::vector<PostingDoc>& postings);
  bool RetryLocked(Host* h, Item item, std::chrono::milliseconds wait);

  const CrawlConfig& cfg_;
  const std::atomic<bool>* stop_;
  FetcherPool pool_;
  std::map<std::string, std::string> labels_;
  std::optional<UrlFilter> filter_;
  std::unique_ptr<RedisFrontier> redis_;  // shared frontier ("" frontier: null)
  Clock::time_point next_claim_{};

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  std::vector<Host*> host_order_;
  size_t rr_ = 0;
  SeenSet seen_;                              // canonical URLs queued in this run
  SeenSet run_hashes_;                        // first 64 bits of the SHA-256 of each body
  size_t mem_queued_ = 0;                     // items in the host queues
  // Frontier spill (embedded frontier only): while spill_, new items stay in the state db only;
  // RefillLocked reads rows after spill_cursor_ (rowid) back. spill_skip_: rows queued in
  // memory anyway while spilling (redirect hops, which carry their chain).
  bool spill_ = false;
  int64_t spill_cursor_ = 0;
  std::unordered_set<int64_t> spill_skip_;
  int total_active_ = 0;
  int64_t fetches_started_ = 0;
  bool stopping_ = false, finished_ = false;
  Clock::time_point deadline_;
  CrawlSummary sum_;

  // state (guarded by mu_)
  SqliteDb db_;
  SqliteStmt ins_frontier_, upd_frontier_, put_history_, put_robots_, get_history_, refill_;
  int64_t run_id_ = 0;
  int pending_ops_ = 0;
  Clock::time_point last_commit_ = Clock::now();

  // outputs (guarded by out_mu_)
  std::mutex out_mu_;
  std::vector<std::unique_ptr<Output>> outputs_;
  Status output_error_;
};

std::optional<History> Crawler::HistoryLocked(const std::string& url) {
  (void)get_history_.Reset();
  get_history_.ClearBindings();
  (void)get_history_.Bind(1, url);
  auto row = get_history_.Step();
  if (!row.ok()) {
    log::Error("crawl: state read failed", {L(), {"error", row.status().ToString()}});
    return std::nullopt;
  }
  if (!*row) return std::nullopt;
  History h{std::string(get_history_.Text(0)), std::string(get_history_.Text(1)),
            std::string(get_history_.Text(2)), std::string(get_history_.Text(3))};
  (void)get_history_.Reset();
  return h;
}

void Crawler::PushLocked(Host* h, Item item, bool front) {
  if (front) {
    h->queue.push_front(std::move(item));
  } else {
    h->queue.push_back(std::move(item));
  }
  ++mem_queued_;
}

void Crawler::RefillLocked() {
  struct Row {
    int64_t rowid;
    std::string url;
    int depth;
    int kind;
  };
  std::vector<Row> rows;
  (void)refill_.Reset();
  refill_.ClearBindings();
  (void)refill_.Bind(1, spill_cursor_);
  (void)refill_.Bind(2, kRefillBatch);
  while (true) {
    auto row = refill_.Step();
    if (!row.ok()) {
      // The rows stay pending in the state db: the next run resumes them.
      if (sum_.fatal.empty()) sum_.fatal = "state: reading the frontier: " + row.status().ToString();
      log::Error("crawl: reading the frontier failed; stopping", {L(), {"error", row.status().ToString()}});
      stopping_ = true;
      spill_ = false;
      cv_.notify_all();
      return;
    }
    if (!*row) break;
    rows.push_back(Row{refill_.Int(0), std::string(refill_.Text(1)), static_cast<int>(refill_.Int(2)),
                       static_cast<int>(refill_.Int(3))});
  }
  (void)refill_.Reset();
  for (auto& r : rows) {
    spill_cursor_ = r.rowid;
    if (spill_skip_.erase(r.rowid)) continue;
    auto parts = SplitUrl(r.url);
    Item it{r.url, r.depth, static_cast<Kind>(r.kind), 0, {}, {}};
    if (!parts.ok()) {
      Done(it, 2);
      continue;
    }
    if (it.kind == Kind::kPage && !filter_->Check(r.url, parts->host, r.depth).empty()) {
      ++sum_.filtered;  // a resumed run whose filters changed
      Done(it, 2);
      continue;
    }
    PushLocked(HostLocked(parts->scheme + "://" + parts->authority, parts->host), std::move(it), false);
  }
  if (static_cast<int64_t>(rows.size()) < kRefillBatch) {
    spill_ = false;  // caught up: new items go to memory again
    spill_skip_.clear();
  }
  if (!rows.empty()) cv_.notify_all();
}

Status Crawler::OpenState() {
  HAKONE_ASSIGN_OR_RETURN(db_, SqliteDb::Open(cfg_.state_path));
  // A small page cache: the state db is written append-mostly and read by key (history) or in
  // rowid order (frontier refill), so a large cache buys little and costs resident memory.
  HAKONE_RETURN_IF_ERROR(db_.Exec("PRAGMA cache_size=-512"));
  HAKONE_RETURN_IF_ERROR(db_.Exec(
      "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER,"
      " status TEXT);"
      "CREATE TABLE IF NOT EXISTS frontier(url TEXT PRIMARY KEY, depth INTEGER NOT NULL, kind INTEGER NOT NULL,"
      " state INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS history(url TEXT PRIMARY KEY, status INTEGER, etag TEXT, last_modified TEXT,"
      " content_hash TEXT, links TEXT, fetched_at INTEGER);"
      "CREATE TABLE IF NOT EXISTS robots(origin TEXT PRIMARY KEY, status INTEGER, body TEXT, expires_at INTEGER);"));
  HAKONE_ASSIGN_OR_RETURN(ins_frontier_, db_.Prepare("INSERT OR IGNORE INTO frontier(url,depth,kind,state) VALUES(?1,?2,?3,0)"));
  HAKONE_ASSIGN_OR_RETURN(upd_frontier_, db_.Prepare("UPDATE frontier SET state=?2 WHERE url=?1"));
  HAKONE_ASSIGN_OR_RETURN(put_history_, db_.Prepare(
      "INSERT OR REPLACE INTO history(url,status,etag,last_modified,content_hash,links,fetched_at)"
      " VALUES(?1,?6,?2,?3,?4,?5,?7)"));
  HAKONE_ASSIGN_OR_RETURN(put_robots_, db_.Prepare(
      "INSERT OR REPLACE INTO robots(origin,status,body,expires_at) VALUES(?1,?3,?2,?4)"));
  HAKONE_ASSIGN_OR_RETURN(get_history_, db_.Prepare(
      "SELECT etag, last_modified, content_hash, links FROM history WHERE url=?1"));
  HAKONE_ASSIGN_OR_RETURN(refill_, db_.Prepare(
      "SELECT rowid, url, depth, kind FROM frontier WHERE rowid>?1 AND state=0 ORDER BY rowid LIMIT ?2"));

  if (redis_) {
    // The frontier lives in Redis (joined in Run()); here only history and robots are local.
    HAKONE_RETURN_IF_ERROR(db_.Exec("BEGIN"));
    EnqueueSeedsLocked();
    return Checkpoint();
  }
  // An unfinished last run is resumed; otherwise a new run starts from the seeds.
  bool resume = false;
  {
    HAKONE_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT id, finished_at IS NULL FROM runs ORDER BY id DESC LIMIT 1"));
    HAKONE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row && st.Int(1) == 1) {
      resume = true;
      run_id_ = st.Int(0);
    }
  }
  HAKONE_RETURN_IF_ERROR(db_.Exec("BEGIN"));
  if (resume) {
    sum_.resumed = true;
    // Every known URL is seen; the pending ones are read back in order by RefillLocked.
    HAKONE_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT url, state FROM frontier"));
    int64_t pending = 0;
    while (true) {
      HAKONE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      seen_.Insert(SeenSet::Key(st.Text(0)));
      if (st.Int(1) == 0) ++pending;
    }
    spill_ = true;
    spill_cursor_ = 0;
    RefillLocked();
    log::Info("crawl: resuming an unfinished run", {L(), {"run_id", static_cast<long long>(run_id_)},
                                                     {"pending", static_cast<long long>(pending)}});
  } else {
    HAKONE_RETURN_IF_ERROR(db_.Exec("DELETE FROM frontier"));
    HAKONE_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO runs(started_at) VALUES(?1)"));
    HAKONE_RETURN_IF_ERROR(st.Bind(1, NowUnix()));
    HAKONE_ASSIGN_OR_RETURN(bool r, st.Step());
    (void)r;
    run_id_ = db_.LastInsertRowid();
    EnqueueSeedsLocked();
  }
  return Checkpoint();
}

Status Crawler::Checkpoint() {
  pending_ops_ = 0;
  last_commit_ = Clock::now();
  HAKONE_RETURN_IF_ERROR(db_.Exec("COMMIT"));
  return db_.Exec("BEGIN");
}

bool Crawler::StateExec(SqliteStmt& st, std::initializer_list<std::string_view> params, int64_t i1, int64_t i2) {
  (void)st.Reset();
  st.ClearBindings();
  int i = 1;
  for (auto p : params) (void)st.Bind(i++, p);
  if (i1 != INT64_MIN) (void)st.Bind(i++, i1);
  if (i2 != INT64_MIN) (void)st.Bind(i++, i2);
  auto r = st.Step();
  if (!r.ok()) log::Error("crawl: state write failed", {L(), {"error", r.status().ToString()}});
  if (++pending_ops_ >= 1000 || Clock::now() - last_commit_ > std::chrono::seconds(2)) {
    if (Status s = Checkpoint(); !s.ok()) log::Error("crawl: state commit failed", {L(), {"error", s.ToString()}});
  }
  return r.ok();
}

void Crawler::EnqueueLocked(const std::string& url, int depth, Kind kind, bool front, std::vector<std::string> chain) {
  uint64_t key = SeenSet::Key(url);
  if (seen_.Contains(key)) return;
  auto parts = SplitUrl(url);
  if (!parts.ok()) return;
  if (kind == Kind::kPage) {
    std::string why = filter_->Check(url, parts->host, depth);
    if (!why.empty()) {
      ++sum_.filtered;
      return;
    }
  }
  if (cfg_.shard_count > 1 &&
      static_cast<int>(Fnv1a64(parts->host) % static_cast<uint64_t>(cfg_.shard_count)) != cfg_.shard_index) {
    return;  // another pod's host
  }
  seen_.Insert(key);
  if (redis_) {
    // Shared frontier: queued in Redis when new to the shared seen-set; a worker leases it.
    auto added = redis_->Add(url, EncodeFrontierEntry(url, depth, static_cast<int>(kind), chain), front);
    if (!added.ok()) {
      FrontierFailed(added.status());
    } else if (*added) {
      next_claim_ = Clock::time_point{};
      cv_.notify_one();
    }
    return;
  }
  bool stored = StateExec(ins_frontier_, {url}, depth, static_cast<int64_t>(kind));
  bool plain = !front && chain.empty();
  if (stored && db_.Changes() > 0 && (spill_ || (plain && mem_queued_ >= kMaxQueued))) {
    int64_t rowid = db_.LastInsertRowid();
    if (!spill_) {
      spill_ = true;  // the window is full: from here on the frontier waits in the state db
      spill_cursor_ = rowid - 1;
    }
    if (plain) return;
    spill_skip_.insert(rowid);  // a redirect hop: queued in memory with its chain, not refilled
  }
  Host* h = HostLocked(parts->scheme + "://" + parts->authority, parts->host);
  PushLocked(h, Item{url, depth, kind, 0, std::move(chain), {}}, front);
  cv_.notify_one();
}

Host* Crawler::HostLocked(const std::string& origin, const std::string& host) {
  auto& h = hosts_[origin];
  if (!h) {
    h = std::make_unique<Host>();
    h->origin = origin;
    h->host = host;
    h->min_delay_s = std::chrono::duration<double>(cfg_.delay).count();
    h->delay_s = h->min_delay_s;
    host_order_.push_back(h.get());
    // robots.txt cached by an earlier run and not expired yet
    if (auto st = db_.Prepare("SELECT status, body, expires_at FROM robots WHERE origin=?1"); st.ok()) {
      (void)st->Bind(1, origin);
      auto row = st->Step();
      int64_t left = row.ok() && *row ? st->Int(2) - NowUnix() : 0;
      if (left > 0) {
        int status = static_cast<int>(st->Int(0));
        h->robots = status >= 500 ? Robots::DisallowAll()
                    : status >= 400 ? Robots()
                                    : Robots::Parse(st->Text(1), cfg_.fetch.user_agent);
        h->robots_error = status >= 500;
        h->robots_state = Host::kReady;
        h->robots_expires = Clock::now() + std::chrono::seconds(left);
        if (auto d = h->robots.CrawlDelay()) {
          h->min_delay_s = std::max(h->min_delay_s, std::min(*d, std::chrono::duration<double>(cfg_.max_delay).count()));
          h->delay_s = std::max(h->delay_s, h->min_delay_s);
        }
      }
    }
  }
  return h.get();
}

bool Crawler::ClaimLocked(bool* all_empty) {
  *all_empty = false;
  auto c = redis_->Claim(std::max(1, cfg_.concurrency));
  if (!c.ok()) {
    FrontierFailed(c.status());
    return false;
  }
  if (c->recovered > 0) {
    log::Info("crawl: requeued in-flight URLs whose lease expired",
              {L(), {"count", static_cast<long long>(c->recovered)}});
  }
  int got = 0;
  for (auto& e : c->entries) {
    Item it;
    int kind = 0;
    Status s = DecodeFrontierEntry(e, &it.url, &it.depth, &kind, &it.chain);
    auto parts = s.ok() ? SplitUrl(it.url) : Result<UrlParts>(s);
    if (!parts.ok()) {
      log::Warn("crawl: dropping a malformed frontier entry", {L(), {"error", parts.status().ToString()}});
      FinishLocked(e);
      continue;
    }
    it.kind = static_cast<Kind>(kind);
    it.token = std::move(e);
    seen_.Insert(SeenSet::Key(it.url));
    PushLocked(HostLocked(parts->scheme + "://" + parts->authority, parts->host), std::move(it), false);
    ++got;
  }
  *all_empty = c->entries.empty() && c->queued == 0 && c->in_flight == 0;
  next_claim_ = got == 0 ? Clock::now() + std::chrono::milliseconds(100) : Clock::time_point{};
  return got > 0;
}

void Crawler::FinishLocked(const std::string& token) {
  if (Status s = redis_->Finish(token); !s.ok()) FrontierFailed(s);
}

void Crawler::FrontierFailed(const Status& s) {
  if (sum_.fatal.empty()) {
    sum_.fatal = s.ToString();
    log::Error("crawl: shared frontier failed; stopping", {L(), {"error", s.ToString()}});
  }
  stopping_ = true;
  cv_.notify_all();
}

void Crawler::Done(const Item& item, int state) {
  if (!redis_) StateExec(upd_frontier_, {item.url}, state);  // shared: the worker finishes the lease
}

void Crawler::CountError(const std::string& kind, const Item& item, const std::string& detail) {
  sum_.errors[kind]++;
  log::Warn("crawl: fetch failed", {L(), {"url", item.url}, {"kind", kind}, {"detail", detail},
                                    {"attempts", item.attempts + 1}});
}

bool Crawler::RetryLocked(Host* h, Item item, std::chrono::milliseconds wait) {
  if (item.attempts >= cfg_.retries) return false;
  ++item.attempts;
  ++sum_.retries;
  wait = std::min(wait, cfg_.max_delay);
  h->next_ok = std::max(h->next_ok, Clock::now() + wait);
  PushLocked(h, std::move(item), true);
  return true;
}

void Crawler::Emit(const PageDoc& page, const std::vector<PostingDoc>& postings) {
  std::lock_guard lk(out_mu_);
  for (auto& o : outputs_) {
    Status s = o->Page(page);
    for (const auto& p : postings) {
      if (s.ok()) s = o->Posting(p);
    }
    if (!s.ok() && output_error_.ok()) output_error_ = s;
  }
}

void Crawler::FetchRobots(Host* h, Fetcher& f) {
  std::string url = h->origin + "/robots.txt";
  FetchResult r;
  for (int hop = 0; hop <= cfg_.max_redirects; ++hop) {
    r = f.Get(url);
    if (!r.error.empty() || r.status < 300 || r.status > 399) break;
    auto next = CanonicalUrl(url, r.Header("location"));
    if (!next.ok()) break;
    url = *next;
  }
  std::lock_guard lk(mu_);
  sum_.bytes += static_cast<int64_t>(r.wire_bytes);
  auto now = Clock::now();
  int64_t ttl_s;
  if (r.error.empty() && r.status >= 200 && r.status < 300) {
    h->robots = Robots::Parse(r.body, cfg_.fetch.user_agent);
    h->robots_error = false;
    ttl_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.robots_ttl).count();
  } else if (r.error.empty() && r.status >= 400 && r.status < 500) {
    h->robots = Robots();  // "unavailable": allow all (RFC 9309 §2.3.1.3)
    h->robots_error = false;
    ttl_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.robots_ttl).count();
  } else {
    h->robots = Robots::DisallowAll();  // "unreachable": disallow all for a while (§2.3.1.4)
    h->robots_error = true;
    ttl_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.robots_error_hold).count();
    log::Warn("crawl: robots.txt unreachable, host disallowed",
              {L(), {"origin", h->origin}, {"status", r.status}, {"error", r.error},
               {"hold_s", static_cast<long long>(ttl_s)}});
  }
  if (auto d = h->robots.CrawlDelay()) {
    h->min_delay_s = std::max(h->min_delay_s, std::min(*d, std::chrono::duration<double>(cfg_.max_delay).count()));
    h->delay_s = std::max(h->delay_s, h->min_delay_s);
  }
  int status = r.error.empty() ? r.status : 599;
  StateExec(put_robots_, {h->origin, r.error.empty() ? std::string_view(r.body) : std::string_view()}, status,
            NowUnix() + ttl_s);
  h->robots_state = Host::kReady;
  h->robots_expires = Clock::now() + std::chrono::seconds(ttl_s);
  if (cfg_.robots_sitemaps) {
    for (const auto& sm : h->robots.Sitemaps()) {
      auto c = CanonicalUrl(sm);
      if (c.ok()) EnqueueLocked(*c, 0, Kind::kSitemap);
    }
  }
  (void)now;
}

void Crawler::FetchItem(Host* h, Item item, Fetcher& f, bool* kept) {
  std::vector<std::string> hdrs;
  std::optional<History> last;
  {
    std::lock_guard lk(mu_);
    last = HistoryLocked(item.url);
  }
  const History* hist = last ? &*last : nullptr;
  if (hist && item.kind == Kind::kPage) {
    if (!hist->etag.empty()) hdrs.push_back("If-None-Match: " + hist->etag);
    if (!hist->last_modified.empty()) hdrs.push_back("If-Modified-Since: " + hist->last_modified);
  }
  FetchResult r = f.Get(item.url, hdrs);

  // Adaptive throttle (Scrapy's AutoThrottle): the delay moves towards latency / target
  // concurrency; error answers never lower it.
  auto adapt = [&](bool ok_answer) {
    if (!cfg_.adaptive_throttle) return;
    double lat = std::chrono::duration<double>(r.elapsed).count();
    double target = lat / std::max(0.1, cfg_.target_concurrency);
    double next = (h->delay_s + target) / 2;
    if (!ok_answer) next = std::max(h->delay_s, next);
    h->delay_s = std::clamp(next, h->min_delay_s, std::chrono::duration<double>(cfg_.max_delay).count());
  };

  std::unique_lock lk(mu_);
  sum_.bytes += static_cast<int64_t>(r.wire_bytes);
  auto backoff = [&](const Item& it) {
    return std::chrono::milliseconds(cfg_.retry_backoff.count() << std::min(it.attempts, 10));
  };
  if (!r.error.empty()) {
    adapt(false);
    bool retryable = r.error == "timeout" || r.error == "connect" || r.error == "protocol";
    if (retryable && stopping_) {  // stays pending in the frontier: the next run retries it
      if (redis_) {
        *kept = true;
        PushLocked(h, std::move(item), true);  // released to the shared queue at the end
      }
      return;
    }
    if (retryable && RetryLocked(h, item, backoff(item))) {
      *kept = true;
      return;
    }
    CountError(r.error, item, r.error_detail);
    Done(item, 2);
    return;
  }
  if (r.status == 429 || r.status >= 500) {
    adapt(false);
    auto wait = backoff(item);
    if (auto ra = ParseRetryAfter(r.Header("retry-after"))) wait = std::max(wait, *ra);
    if (r.status == 429 || r.status == 503) {
      // the whole host asked us to slow down
      h->next_ok = std::max(h->next_ok, Clock::now() + std::min(wait, cfg_.max_delay));
    }
    if (stopping_) {  // stays pending
      if (redis_) {
        *kept = true;
        PushLocked(h, std::move(item), true);
      }
      return;
    }
    if (RetryLocked(h, item, wait)) {
      *kept = true;
      return;
    }
    CountError(r.status == 429 ? "http_429" : "http_5xx", item, "HTTP " + std::to_string(r.status));
    Done(item, 2);
    return;
  }
  adapt(r.status >= 200 && r.status < 300);
  if (r.status >= 300 && r.status < 400 && r.status != 304) {
    ++sum_.redirects;
    Done(item, 1);
    auto next = CanonicalUrl(item.url, r.Header("location"));
    if (!next.ok()) {
      CountError("bad_redirect", item, next.status().message());
      return;
    }
    item.chain.push_back(item.url);
    if (std::find(item.chain.begin(), item.chain.end(), *next) != item.chain.end()) {
      CountError("redirect_loop", item, *next);
      return;
    }
    if (static_cast<int>(item.chain.size()) > cfg_.max_redirects) {
      CountError("too_many_redirects", item, *next);
      return;
    }
    EnqueueLocked(*next, item.depth, item.kind, /*front=*/true, item.chain);
    return;
  }
  if (r.status == 304 && hist) {
    ++sum_.unchanged;
    Done(item, 1);
    // unchanged: follow the links remembered from the last fetch
    std::string_view links = hist->links;
    size_t p = 0;
    while (p < links.size()) {
      size_t nl = links.find('\n', p);
      if (nl == std::string_view::npos) nl = links.size();
      EnqueueLocked(std::string(links.substr(p, nl - p)), item.depth + 1, Kind::kPage);
      p = nl + 1;
    }
    return;
  }
  if (r.status < 200 || r.status >= 300) {
    ++sum_.not_found;
    log::Info("crawl: page not available", {L(), {"url", item.url}, {"status", r.status}});
    Done(item, 2);
    return;
  }
  lk.unlock();

  // 2xx
  if (item.kind == Kind::kSitemap) {
    auto sm = ParseSitemap(r.body);
    lk.lock();
    Done(item, sm.ok() ? 1 : 2);
    if (!sm.ok()) {
      CountError("bad_sitemap", item, sm.status().message());
      return;
    }
    for (const auto& loc : sm->locs) {
      auto c = CanonicalUrl(item.url, loc);
      if (c.ok()) EnqueueLocked(*c, 0, sm->is_index ? Kind::kSitemap : Kind::kPage);
    }
    return;
  }

  std::string hash = Sha256Hex(r.body);
  std::string ctype = r.Header("content-type");
  bool html = ctype.empty() || ctype.find("html") != std::string::npos;
  bool same_as_last = hist && hist->content_hash == hash;
  bool dup;
  {
    std::lock_guard g(mu_);
    uint64_t h64 = std::strtoull(hash.substr(0, 16).c_str(), nullptr, 16);
    dup = !run_hashes_.Insert(h64 == 0 ? 1 : h64);
  }
  std::vector<std::string> links;
  PageExtract ex;
  std::vector<PostingDoc> postings;
  if (html && !dup) {
    ex = ExtractHtml(r.body, cfg_.text_limit);
    std::string base = item.url;
    if (!ex.base_href.empty()) {
      if (auto b = CanonicalUrl(item.url, ex.base_href); b.ok()) base = *b;
    }
    if (!ex.nofollow) {
      for (const auto& l : ex.links) {
        if (auto c = CanonicalUrl(base, l); c.ok()) links.push_back(std::move(*c));
      }
    }
    std::string now = Rfc3339Now();
    for (size_t i = 0; i < ex.postings.size(); ++i) {
      const JobPosting& p = ex.postings[i];
      PostingDoc d;
      d.company_id = CompanyId(p.org_name);
      std::string key = !p.identifier.empty() ? d.company_id + "\n" + p.identifier
                                              : item.url + "\n" + std::to_string(i) + "\n" + p.title;
      d.job_id = Hex64(Fnv1a64(key));
      d.url = item.url;
      d.content_hash = hash;
      d.crawled_at = now;
      d.posting = &ex.postings[i];
      postings.push_back(std::move(d));
    }
  }
  std::string joined;
  for (const auto& l : links) {
    if (!joined.empty()) joined += '\n';
    joined += l;
  }
  if (!dup && !same_as_last) {
    PageDoc page;
    page.url = item.url;
    page.final_url = item.url;
    page.status = r.status;
    page.depth = item.depth;
    page.content_type = ctype;
    page.content_hash = hash;
    page.bytes = static_cast<int64_t>(r.body.size());
    page.fetched_at = Rfc3339Now();
    page.extract = html ? &ex : nullptr;
    Emit(page, postings);
  }

  lk.lock();
  Done(item, 1);
  History nh{r.Header("etag"), r.Header("last-modified"), hash, joined};
  StateExec(put_history_, {item.url, nh.etag, nh.last_modified, nh.content_hash, nh.links}, r.status, NowUnix());
  if (dup) {
    ++sum_.duplicates;
    return;
  }
  if (same_as_last) {
    ++sum_.unchanged;
  } else {
    ++sum_.pages;
    sum_.postings += static_cast<int64_t>(postings.size());
    for (const auto& p : ex.postings) {
      if (p.missing.empty()) continue;
      ++sum_.postings_invalid;
      std::string miss;
      for (const auto& m : p.missing) miss += (miss.empty() ? "" : ",") + m;
      log::Warn("crawl: JobPosting misses required properties",
                {L(), {"url", item.url}, {"title", p.title}, {"missing", miss}});
    }
  }
  for (auto& l : links) EnqueueLocked(l, item.depth + 1, Kind::kPage);
}

void Crawler::Worker() {
  auto fetcher = pool_.NewFetcher();
  std::unique_lock lk(mu_);
  while (true) {
    if (!stopping_) {
      if (stop_ && stop_->load()) {
        stopping_ = true;
        sum_.interrupted = true;
        log::Info("crawl: stop requested; finishing requests in flight", {L()});
      } else if (Clock::now() >= deadline_) {
        stopping_ = true;
        sum_.limit_reached = true;
        log::Info("crawl: max_duration reached; the next run resumes", {L()});
      }
    }
    // Shared frontier: lease more when the local queues run low. `claimed_now` / `all_empty`
    // stay valid for this iteration (mu_ is held until the wait below).
    if (spill_ && !stopping_ && mem_queued_ < kMaxQueued / 2) RefillLocked();
    bool claimed_now = false, all_empty = false;
    if (redis_ && !stopping_ && Clock::now() >= next_claim_) {
      size_t queued = 0;
      for (Host* h : host_order_) queued += h->queue.size();
      if (queued < static_cast<size_t>(cfg_.concurrency)) {
        ClaimLocked(&all_empty);
        claimed_now = true;
      }
    }
    Host* pick = nullptr;
    bool robots_task = false;
    Item item;
    auto now = Clock::now();
    auto wake = now + std::chrono::milliseconds(200);
    bool any_work = false;
    if (!stopping_) {
      for (size_t n = 0; n < host_order_.size() && !pick; ++n) {
        Host* h = host_order_[(rr_ + n) % host_order_.size()];
        if (h->queue.empty()) continue;
        any_work = true;
        if (h->active >= cfg_.per_host_concurrency || h->robots_state == Host::kFetching) continue;
        if (now < h->next_ok) {
          wake = std::min(wake, h->next_ok);
          continue;
        }
        if (h->robots_state == Host::kReady && now >= h->robots_expires) h->robots_state = Host::kUnknown;
        if (cfg_.obey_robots && h->robots_state == Host::kUnknown) {
          pick = h;
          robots_task = true;
          h->robots_state = Host::kFetching;
          break;
        }
        // skip what robots.txt disallows
        while (!h->queue.empty()) {
          Item& front = h->queue.front();
          auto parts = SplitUrl(front.url);
          if (cfg_.obey_robots && parts.ok() && !h->robots.Allowed(parts->path_query)) {
            ++sum_.robots_denied;
            Done(front, 2);
            if (redis_) FinishLocked(front.token);
            h->queue.pop_front();
            --mem_queued_;
            continue;
          }
          break;
        }
        if (h->queue.empty()) continue;
        if (h->queue.front().kind == Kind::kPage && fetches_started_ >= cfg_.max_pages) {
          if (!sum_.limit_reached) log::Info("crawl: max_pages reached", {L()});
          sum_.limit_reached = true;
          stopping_ = true;
          break;
        }
        pick = h;
        item = std::move(h->queue.front());
        h->queue.pop_front();
        --mem_queued_;
        if (item.kind == Kind::kPage) ++fetches_started_;
      }
      rr_ = host_order_.empty() ? 0 : (rr_ + 1) % host_order_.size();
    }
    if (pick) {
      pick->active++;
      total_active_++;
      pick->next_ok = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(pick->delay_s));
      lk.unlock();
      std::string token = item.token;
      bool kept = false;
      if (robots_task) {
        FetchRobots(pick, *fetcher);
      } else {
        FetchItem(pick, std::move(item), *fetcher, &kept);
      }
      lk.lock();
      // Shared frontier: the lease ends only now, after the page's links were queued, so no
      // other process sees an empty frontier while this page's links are still on their way.
      if (redis_ && !robots_task && !kept) FinishLocked(token);
      pick->active--;
      total_active_--;
      cv_.notify_all();
      continue;
    }
    if (total_active_ == 0 && (stopping_ || !any_work)) {
      if (spill_ && !stopping_) continue;  // more of the frontier waits in the state db
      // nothing in flight and nothing left (or stopping): the run is over
      bool empty = true;
      for (Host* h : host_order_) empty = empty && h->queue.empty();
      if (redis_ && !stopping_ && empty) {
        // Nothing here; the run is over only when no process has anything queued or in flight.
        if (!claimed_now && Clock::now() >= next_claim_) {
          if (ClaimLocked(&all_empty)) continue;
        }
        if (!all_empty && !stopping_) {
          cv_.wait_until(lk, std::min(wake, std::max(next_claim_, Clock::now() + std::chrono::milliseconds(20))));
          if (finished_) return;
          continue;
        }
        if (all_empty) {
          if (Status s = redis_->MarkDone(); !s.ok()) FrontierFailed(s);
        }
      }
      if (stopping_ || empty) {
        finished_ = true;
        cv_.notify_all();
        return;
      }
    }
    if (finished_) return;
    cv_.wait_until(lk, wake);
    if (finished_) return;
  }
}

CrawlSummary Crawler::Run() {
  auto start = Clock::now();
  deadline_ = start + cfg_.max_duration;
  std::vector<std::string> seed_hosts;
  for (const auto& s : cfg_.seeds) {
    if (auto c = CanonicalUrl(s); c.ok()) seed_hosts.push_back(SplitUrl(*c)->host);
  }
  for (const auto& s : cfg_.sitemaps) {
    if (auto c = CanonicalUrl(s); c.ok()) seed_hosts.push_back(SplitUrl(*c)->host);
  }
  auto f = UrlFilter::Create(cfg_.filter, seed_hosts);
  if (!f.ok()) {
    sum_.fatal = f.status().ToString();
    return sum_;
  }
  filter_ = std::move(*f);
  if (!cfg_.es_url.empty()) {
    outputs_.push_back(NewBulkOutput(cfg_.es_url, cfg_.pages_index, cfg_.jobs_index, cfg_.bulk_max_docs,
                                     cfg_.emit_pages, cfg_.es_token));
  }
  if (cfg_.store) {
    auto o = NewStoreOutput(cfg_.pages_index, cfg_.jobs_index, cfg_.bulk_max_docs, cfg_.emit_pages);
    if (!o.ok()) {
      sum_.fatal = o.status().ToString();
      return sum_;
    }
    outputs_.push_back(std::move(*o));
  }
  if (!cfg_.table.empty()) {
    auto t = NewTableOutput(cfg_.table);
    if (!t.ok()) {
      sum_.fatal = t.status().ToString();
      return sum_;
    }
    outputs_.push_back(std::move(*t));
  }
  if (!cfg_.frontier.empty()) {
    auto rf = RedisFrontier::Create(cfg_.frontier, cfg_.frontier_key, cfg_.frontier_lease);
    if (!rf.ok()) {
      sum_.fatal = "frontier " + cfg_.frontier + ": " + rf.status().ToString();
      return sum_;
    }
    redis_ = std::move(*rf);
    auto joined = redis_->Start();
    if (!joined.ok()) {
      sum_.fatal = joined.status().ToString();
      return sum_;
    }
    sum_.resumed = *joined;
  }
  {
    std::lock_guard lk(mu_);
    if (Status s = OpenState(); !s.ok()) {
      sum_.fatal = "state " + cfg_.state_path + ": " + s.ToString();
      return sum_;
    }
    if (!sum_.fatal.empty()) return sum_;  // the shared frontier failed while seeding
  }
  log::Info("crawl: run started", {L(), {"run_id", static_cast<long long>(run_id_)},
                                   {"resumed", sum_.resumed}, {"hosts", static_cast<long long>(hosts_.size())}});
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, cfg_.concurrency); ++i) workers.emplace_back([this] { Worker(); });
  for (auto& t : workers) t.join();

  {
    std::lock_guard g(out_mu_);
    for (auto& o : outputs_) {
      Status s = o->Flush();
      if (!s.ok() && output_error_.ok()) output_error_ = s;
    }
  }
  std::lock_guard lk(mu_);
  if (!output_error_.ok()) sum_.fatal = "output: " + output_error_.ToString();
  // A run that was interrupted or ran out of time stays open so the next one resumes it.
  bool resumable = sum_.interrupted || (sum_.limit_reached && fetches_started_ < cfg_.max_pages);
  if (redis_) {
    // Leased but not fetched (stop, limits): back to the shared queue for the others / next run.
    int64_t released = 0;
    for (Host* h : host_order_) {
      for (const Item& it : h->queue) {
        if (it.token.empty()) continue;
        if (Status s = redis_->Release(it.token); !s.ok()) {
          if (sum_.fatal.empty()) sum_.fatal = s.ToString();
          break;
        }
        ++released;
      }
      h->queue.clear();
    }
    mem_queued_ = 0;
    if (released) {
      log::Info("crawl: returned unfetched URLs to the shared frontier",
                {L(), {"count", static_cast<long long>(released)}});
    }
  }
  if (!resumable && !redis_) {
    auto st = db_.Prepare("UPDATE runs SET finished_at=?1, status=?2 WHERE id=?3");
    if (st.ok()) {
      (void)st->Bind(1, NowUnix());
      (void)st->Bind(2, sum_.fatal.empty() ? (sum_.ErrorCount() ? "partial" : "ok") : "failed");
      (void)st->Bind(3, run_id_);
      (void)st->Step();
    }
  }
  if (Status s = db_.Exec("COMMIT"); !s.ok() && sum_.fatal.empty()) sum_.fatal = "state commit: " + s.ToString();
  sum_.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  return sum_;
}

void PushMetrics(const CrawlConfig& cfg, const CrawlSummary& s, const std::map<std::string, std::string>& labels) {
  std::string body;
  auto gauge = [&](const std::string& name, const std::string& help, const std::string& lbl, double v) {
    if (body.find("# TYPE " + name + " ") == std::string::npos) {
      body += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    body += name + lbl + " " + buf + "\n";
  };
  gauge("hakone_crawl_pages", "Pages fetched (new or changed) in the last run.", "", static_cast<double>(s.pages));
  gauge("hakone_crawl_pages_unchanged", "Pages unchanged since the previous run.", "", static_cast<double>(s.unchanged));
  gauge("hakone_crawl_postings", "JobPostings extracted in the last run.", "", static_cast<double>(s.postings));
  gauge("hakone_crawl_postings_invalid", "JobPostings missing required properties.", "",
        static_cast<double>(s.postings_invalid));
  gauge("hakone_crawl_bytes", "Bytes received in the last run.", "", static_cast<double>(s.bytes));
  gauge("hakone_crawl_errors", "Failed fetches by kind in the last run.", "{kind=\"all\"}",
        static_cast<double>(s.ErrorCount()));
  for (const auto& [k, v] : s.errors) gauge("hakone_crawl_errors", "", "{kind=\"" + k + "\"}", static_cast<double>(v));
  gauge("hakone_crawl_duration_seconds", "Duration of the last run.", "", s.duration_s);
  gauge("hakone_crawl_exit_code", "Exit code of the last run (0 ok, 2 partial, 1 failed).", "", s.ExitCode());
  double now = static_cast<double>(NowUnix());
  gauge("hakone_crawl_last_run_timestamp_seconds", "When the last run ended.", "", now);
  if (s.ExitCode() == 0 && !s.interrupted) {
    gauge("hakone_crawl_last_success_timestamp_seconds", "When the last successful run ended.", "", now);
  }
  std::string url = cfg.pushgateway;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/metrics/job/" + cfg.push_job + "/shard/" + std::to_string(cfg.worker_index);
  std::string resp, err;
  // POST replaces only the metrics pushed now, so last_success survives a failed run.
  int st = HttpSend("POST", url, "text/plain; version=0.0.4", body, &resp, &err, std::chrono::seconds(10));
  if (st < 200 || st > 299) {
    log::Warn("crawl: Pushgateway push failed",
              {LabelsField(labels), {"url", url}, {"status", st}, {"error", err.empty() ? resp : err}});
  } else {
    log::Info("crawl: metrics pushed", {LabelsField(labels), {"url", url}});
  }
}

}  // namespace

int64_t CrawlSummary::ErrorCount() const {
  int64_t n = 0;
  for (const auto& [k, v] : errors) n += v;
  return n;
}

int CrawlSummary::ExitCode() const {
  if (!fatal.empty()) return 1;
  if (ErrorCount() == 0) return 0;
  return pages + unchanged > 0 ? 2 : 1;
}

std::string CrawlSummary::ToJson() const {
  json::object o;
  o["pages"] = pages;
  o["unchanged"] = unchanged;
  o["duplicates"] = duplicates;
  o["postings"] = postings;
  o["postings_invalid"] = postings_invalid;
  o["robots_denied"] = robots_denied;
  o["filtered"] = filtered;
  o["redirects"] = redirects;
  o["not_found"] = not_found;
  o["retries"] = retries;
  o["bytes"] = bytes;
  json::object e;
  for (const auto& [k, v] : errors) e[k] = v;
  o["errors"] = std::move(e);
  o["error_count"] = ErrorCount();
  o["duration_s"] = duration_s;
  o["interrupted"] = interrupted;
  o["limit_reached"] = limit_reached;
  o["resumed"] = resumed;
  if (!fatal.empty()) o["fatal"] = fatal;
  o["exit_code"] = ExitCode();
  return json::serialize(o);
}

CrawlSummary RunCrawl(const CrawlConfig& cfg, const std::atomic<bool>* stop) {
  Crawler c(cfg, stop);
  CrawlSummary s = c.Run();
  std::map<std::string, std::string> labels = cfg.labels;
  labels.emplace("component", "crawl");
  labels.emplace("shard", std::to_string(cfg.worker_index));
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  log::Write(s.ExitCode() == 1 ? log::Level::kError : (s.ExitCode() == 2 ? log::Level::kWarn : log::Level::kInfo),
             "crawl: run finished",
             {LabelsField(labels), {"pages", static_cast<long long>(s.pages)},
              {"unchanged", static_cast<long long>(s.unchanged)}, {"postings", static_cast<long long>(s.postings)},
              {"errors", static_cast<long long>(s.ErrorCount())}, {"bytes", static_cast<long long>(s.bytes)},
              {"duration_s", s.duration_s}, {"interrupted", s.interrupted}, {"exit_code", s.ExitCode()},
              {"max_rss_kb", static_cast<long long>(ru.ru_maxrss)}, {"fatal", s.fatal}});
  if (!cfg.pushgateway.empty()) PushMetrics(cfg, s, labels);
  return s;
}

}  // namespace hakone::crawl
