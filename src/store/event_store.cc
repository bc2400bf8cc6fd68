// The event store engine: streams, write-ahead log with group commit, in-memory head, event
// blocks in time-partitioned segment files, pruning search, retention, compaction.
// Files on disk and guarantees: docs/store.md.
#include "store/event_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <boost/json.hpp>

#include "core/crc32c.h"
#include "core/log.h"
#include "store/analyzer.h"
#include "store/block.h"  // WriteAll, ReadAt
#include "store/event_block.h"
#include "store/store_internal.h"

namespace hakone::store {
namespace {

using namespace internal;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Small helpers


Status ReadFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat st {};
  ::fstat(fd, &st);
  Status s = ReadAt(fd, 0, static_cast<size_t>(st.st_size), out);
  ::close(fd);
  return s;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open dir " + dir, errno);
  int r = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (r != 0) return Status::FromErrno("fsync dir " + dir, e);
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + tmp, errno);
  Status s = WriteAll(fd, data);
  if (s.ok() && ::fdatasync(fd) != 0) s = Status::FromErrno("fdatasync " + tmp, errno);
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + tmp, errno);
  return SyncDir(fs::path(path).parent_path().string());
}

std::string RandomHex(size_t n) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back("0123456789abcdef"[rng() % 16]);
  return s;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Auto ids: 20 URL-safe chars encoding (seq, 7 bytes of the stream's salt), so that an auto id
// maps back to its seq without an id table.
std::string AutoId(uint64_t seq, const std::string& salt) {
  unsigned char b[15];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(seq >> (8 * (7 - i)));
  for (int i = 0; i < 7; ++i) b[8 + i] = static_cast<unsigned char>(salt[i]);
  std::string out(20, '\0');
  for (int i = 0, o = 0; i < 15; i += 3) {
    uint32_t v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    for (int k = 3; k >= 0; --k) out[o++] = kB64[(v >> (6 * k)) & 63];
  }
  return out;
}

std::optional<uint64_t> DecodeAutoId(std::string_view id, const std::string& salt) {
  if (id.size() != 20) return std::nullopt;
  unsigned char b[15];
  for (int i = 0; i < 5; ++i) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char* p = std::strchr(kB64, id[i * 4 + k]);
      if (!p || !*p) return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(p - kB64);
    }
    b[i * 3] = static_cast<unsigned char>(v >> 16);
    b[i * 3 + 1] = static_cast<unsigned char>(v >> 8);
    b[i * 3 + 2] = static_cast<unsigned char>(v);
  }
  for (int i = 0; i < 7; ++i)
    if (b[8 + i] != static_cast<unsigned char>(salt[i])) return std::nullopt;
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | b[i];
  return seq;
}

Status ValidateStreamName(const std::string& n) {
  if (n.empty()) return Status::InvalidArgument("invalid index name [" + n + "]: must not be empty");
  if (n == "." || n == "..") return Status::InvalidArgument("invalid index name [" + n + "]: must not be '.' or '..'");
  if (n.size() > 255) return Status::InvalidArgument("invalid index name [" + n + "]: longer than 255 bytes");
  if (n[0] == '-' || n[0] == '_' || n[0] == '+') return Status::InvalidArgument("invalid index name [" + n + "]: must not start with '_', '-', or '+'");
  for (char c : n) {
    if (c >= 'A' && c <= 'Z') return Status::InvalidArgument("invalid index name [" + n + "]: must be lowercase");
    if (std::strchr("\\/*?\"<>|,# :", c) || static_cast<unsigned char>(c) < 0x20)
      return Status::InvalidArgument(std::string("invalid index name [") + n + "]: must not contain '" + c + "'");
  }
  return Status::Ok();
}

std::string DayName(int64_t time_us, int64_t span_s) {
  int64_t ms = time_us / 1000;
  std::string d = FormatDateMs(ms);
  std::string day = d.substr(0, 4) + d.substr(5, 2) + d.substr(8, 2);
  if (span_s < 86400) day += d.substr(11, 2) + d.substr(14, 2);
  return day;
}

// ---------------------------------------------------------------------------------------------
// Mapping / settings JSON

boost::json::object MappingToJson(const Mapping& m) {
  boost::json::object o;
  for (const auto& [k, f] : m.fields) {
    boost::json::object e;
    e["type"] = std::string(FieldTypeName(f.type));
    if (f.keyword_subfield) e["keyword_subfield"] = true;
    o[k] = e;
  }
  return o;
}

Mapping MappingFromJson(const boost::json::object& o) {
  Mapping m;
  for (const auto& kv : o) {
    if (!kv.value().is_object()) continue;
    const auto& e = kv.value().get_object();
    FieldMapping f;
    if (auto* t = e.if_contains("type"); t && t->is_string()) f.type = ParseFieldType(t->get_string()).value_or(FieldType::kKeyword);
    if (auto* k = e.if_contains("keyword_subfield"); k && k->is_bool()) f.keyword_subfield = k->get_bool();
    m.fields[std::string(kv.key())] = f;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Write-ahead log (per stream): records [u32 len][u32 crc32c(payload)][payload].

class Wal {
 public:
  ~Wal() { if (fd_ >= 0) ::close(fd_); }
  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::FromErrno("open " + path, errno);
    struct stat st {};
    ::fstat(fd_, &st);
    written_ = synced_ = static_cast<uint64_t>(st.st_size);
    return Status::Ok();
  }
  // Appends records; returns the end offset to Sync() for. Caller serialises appends.
  Result<uint64_t> Append(std::string_view framed) {
    std::lock_guard<std::mutex> l(mu_);
    if (!error_.ok()) return error_;
    Status s = WriteAll(fd_, framed);
    if (!s.ok()) {
      // Cut the partial record so that the log stays valid and appendable once space frees; if
      // even that fails, the log is unusable until the next flush rotates it.
      if (::ftruncate(fd_, static_cast<off_t>(written_)) != 0) error_ = s;
      return s;
    }
    written_ += framed.size();
    return written_;
  }
  // Group commit: one fdatasync covers every append before it.
  Status Sync(uint64_t upto) {
    std::unique_lock<std::mutex> l(mu_);
    while (synced_ < upto) {
      if (!error_.ok()) return error_;
      if (syncing_) { cv_.wait(l); continue; }
      syncing_ = true;
      uint64_t target = written_;
      l.unlock();
      int r = ::fdatasync(fd_);
      int e = errno;
      l.lock();
      syncing_ = false;
      if (r != 0) error_ = Status::FromErrno("fdatasync " + path_, e);
      else synced_ = std::max(synced_, target);
      cv_.notify_all();
    }
    return error_;
  }
  const std::string& path() const { return path_; }
  // The sticky error that makes this log unusable (Ok when appendable).
  Status error() const {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

  static void Frame(std::string_view payload, std::string* out) {
    Put32(out, static_cast<uint32_t>(payload.size()));
    Put32(out, crc32c::Value(payload));
    out->append(payload);
  }
  // Decodes records from a file image; returns the valid length (a torn tail is beyond it).
  static uint64_t Decode(std::string_view data, const std::function<void(std::string_view)>& fn) {
    size_t p = 0;
    while (data.size() - p >= 8) {
      uint32_t len = Get32(data.data() + p), crc = Get32(data.data() + p + 4);
      if (len > data.size() - p - 8) break;
      std::string_view pl = data.substr(p + 8, len);
      if (crc32c::Value(pl) != crc) break;
      fn(pl);
      p += 8 + len;
    }
    return p;
  }

 private:
  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t written_ = 0, synced_ = 0;
  bool syncing_ = false;
  Status error_;
};

// ids.log checkpoint record ('C', gen, seq), appended by every completed flush after its blocks
// are fsync'd: every doc with a seq <= `seq` is in blocks, the ids.log records before it describe
// them, and the write-ahead logs of generation <= `gen` are no longer needed. On open, ids.log
// records after the last checkpoint, blocks holding seqs above it (an unfinished flush) and logs
// at or below its generation are discarded; the newer logs are replayed into the head.
std::string CheckpointRecord(uint64_t gen, uint64_t seq) {
  std::string p(1, 'C');
  Put64(&p, gen);
  Put64(&p, seq);
  std::string out;
  Wal::Frame(p, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream state

struct HeadDoc {
  uint64_t seq = 0;
  std::string id;
  int64_t time_us = 0;
  std::string source;
  std::shared_ptr<FlatDoc> flat;
  bool explicit_id = false;
  int64_t version = 1;
};
using Chunk = std::vector<std::shared_ptr<const HeadDoc>>;

struct SegmentFile {
  std::string path;
  std::string day;
  int fd = -1;
  uint64_t size = 0;
  ~SegmentFile() { if (fd >= 0) ::close(fd); }
};

std::atomic<uint64_t> g_block_uid{0};

struct BlockMeta {
  const uint64_t uid = g_block_uid.fetch_add(1) + 1;  // block cache key (unique for the process)
  std::shared_ptr<SegmentFile> seg;
  uint64_t offset = 0;
  EvHeader h;
  EvSummary summary;
  mutable std::atomic<bool> damaged{false};
  // Token counts per text field of the block's docs (BM25 avgdl): computed the first time a
  // query scoring by relevance reads the block, then kept (see CollectBm25).
  mutable std::mutex lengths_mu;
  mutable std::shared_ptr<const FieldLengths> lengths;
};
using BlockPtr = std::shared_ptr<const BlockMeta>;

// What a reader works on: immutable.
struct View {
  std::shared_ptr<const Mapping> mapping;
  std::vector<BlockPtr> blocks;  // append order
  std::vector<std::shared_ptr<const Chunk>> chunks;
  std::shared_ptr<const std::unordered_set<uint64_t>> dead;
};

struct IdEntry {
  uint64_t seq;
  int64_t version;
};

struct Stream {
  std::string name, dir, uuid, salt;
  int64_t created_ms = 0;
  StreamSettings settings;

  std::mutex wmu;  // the one writer
  Mapping mapping;   // under wmu
  bool meta_dirty = false;
  uint64_t next_seq = 1;
  std::unordered_map<std::string, IdEntry> ids;  // explicit ids
  std::unordered_set<uint64_t> dead;             // superseded / deleted seqs (authoritative)
  std::unordered_map<uint64_t, int64_t> auto_versions;  // auto-id docs updated in place
  std::vector<std::shared_ptr<const HeadDoc>> pending;  // not yet visible
  std::unordered_map<uint64_t, std::shared_ptr<const HeadDoc>> head_by_seq;  // everything in head
  uint64_t head_bytes = 0;
  std::string journal;  // ids.log records not yet written
  bool journal_broken = false;  // a failed ids.log append could not be cut back: no more flushes
  // Shared: a writer syncs the log it appended to even if a flush rotated it meanwhile.
  std::shared_ptr<Wal> wal;
  uint64_t wal_gen = 0;
  int64_t last_flush_ms = 0;
  std::vector<std::shared_ptr<SegmentFile>> segments;
  bool dead_dirty = false;
  uint64_t live_docs = 0, deleted_docs = 0, raw_bytes = 0;

  // ?refresh=wait_for: writes bump write_gen; a refresh that moves the head into the view sets
  // visible_gen = write_gen and wakes the waiters (all under wmu).
  uint64_t write_gen = 0, visible_gen = 0;
  std::condition_variable visible_cv;

  mutable std::mutex vmu;
  std::shared_ptr<const View> view;
  std::shared_ptr<const View> GetView() const {
    std::lock_guard<std::mutex> l(vmu);
    return view;
  }
  void SetView(std::shared_ptr<const View> v) {
    std::lock_guard<std::mutex> l(vmu);
    view = std::move(v);
  }
};

std::string MetaJson(const Stream& s) {
  boost::json::object o;
  o["uuid"] = s.uuid;
  o["salt"] = s.salt;
  o["created_ms"] = s.created_ms;
  boost::json::object st;
  st["time_field"] = s.settings.time_field;
  boost::json::array lf;
  for (const auto& f : s.settings.label_fields) lf.push_back(boost::json::value(f));
  st["label_fields"] = lf;
  st["retention_age_s"] = static_cast<int64_t>(s.settings.retention_age.count());
  st["retention_bytes"] = s.settings.retention_bytes;
  st["number_of_shards"] = s.settings.number_of_shards;
  st["number_of_replicas"] = s.settings.number_of_replicas;
  o["settings"] = st;
  o["mapping"] = MappingToJson(s.mapping);
  return boost::json::serialize(o);
}

// ---------------------------------------------------------------------------------------------
// Block cache

// Keyed by BlockMeta::uid, never by address: a BlockMeta freed by compaction or retention can
// be reallocated at the same address for another block, which must not see the old data.
// A block's index section (part 0, an EvBlockData) and each of its doc frames (part f + 1, an
// EvFrame) are separate entries, so that a query fetching a few docs keeps only their frames.
class BlockCache {
 public:
  explicit BlockCache(size_t cap) : cap_(cap) {}
  std::shared_ptr<const void> Get(uint64_t uid, uint32_t part) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = map_.find(Key{uid, part});
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->data;
  }
  void Put(uint64_t uid, uint32_t part, std::shared_ptr<const void> d, size_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    Key k{uid, part};
    if (map_.count(k)) return;
    size_ += bytes;
    lru_.push_front({k, std::move(d), bytes});
    map_[k] = lru_.begin();
    while (size_ > cap_ && lru_.size() > 1) {
      auto& back = lru_.back();
      size_ -= back.bytes;
      map_.erase(back.key);
      lru_.pop_back();
    }
  }
  // Drops the block's index and its first `nframes` frames.
  void Erase(uint64_t uid, uint32_t nframes) {
    std::lock_guard<std::mutex> l(mu_);
    for (uint32_t part = 0; part <= nframes; ++part) {
      auto it = map_.find(Key{uid, part});
      if (it == map_.end()) continue;
      size_ -= it->second->bytes;
      lru_.erase(it->second);
      map_.erase(it);
    }
  }

 private:
  struct Key {
    uint64_t uid;
    uint32_t part;
    bool operator==(const Key& o) const { return uid == o.uid && part == o.part; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.uid * 0x9E3779B97F4A7C15ull + k.part); }
  };
  struct Entry {
    Key key;
    std::shared_ptr<const void> data;
    size_t bytes;
  };
  std::mutex mu_;
  size_t cap_, size_ = 0;
  std::list<Entry> lru_;
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> map_;
};

// ---------------------------------------------------------------------------------------------
// Source filtering

bool GlobMatch(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == s[i] || pat[p] == '?')) { ++p; ++i; }
    else if (p < pat.size() && pat[p] == '*') { star = p++; mark = i; }
    else if (star != std::string_view::npos) { p = star + 1; i = ++mark; }
    else return false;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool PathSelected(const std::string& path, const SourceFilter& f, bool is_object) {
  for (const auto& e : f.excludes)
    if (GlobMatch(e, path)) return false;
  if (f.includes.empty()) return true;
  for (const auto& in : f.includes) {
    if (GlobMatch(in, path)) return true;
    if (in.size() > path.size() && in.compare(0, path.size(), path) == 0 && in[path.size()] == '.') return true;  // parent of an include
    if (is_object && GlobMatch(in, path + ".x")) return true;
    if (path.size() > in.size() && path.compare(0, in.size(), in) == 0 && path[in.size()] == '.') return true;  // child of an include
  }
  return false;
}

boost::json::object FilterObject(const boost::json::object& o, const std::string& prefix, const SourceFilter& f) {
  boost::json::object out;
  for (const auto& kv : o) {
    std::string path = prefix.empty() ? std::string(kv.key()) : prefix + "." + std::string(kv.key());
    bool is_obj = kv.value().is_object();
    if (!PathSelected(path, f, is_obj)) continue;
    if (is_obj) {
      // An include that names this object exactly keeps all of it (minus excludes).
      bool whole = false;
      for (const auto& in : f.includes) if (GlobMatch(in, path)) whole = true;
      SourceFilter sub = f;
      if (whole) sub.includes.clear();
      out[kv.key()] = FilterObject(kv.value().get_object(), path, sub);
    } else {
      out[kv.key()] = kv.value();
    }
  }
  return out;
}

std::string ApplySourceFilter(std::string_view src, const SourceFilter& f) {
  if (!f.enabled) return "";
  if (f.includes.empty() && f.excludes.empty()) return std::string(src);
  boost::system::error_code ec;
  auto v = boost::json::parse(src, ec);
  if (ec || !v.is_object()) return std::string(src);
  return boost::json::serialize(FilterObject(v.get_object(), "", f));
}

// ---------------------------------------------------------------------------------------------
// The store

class EventStoreImpl final : public EventStore {
 public:
  explicit EventStoreImpl(EventStoreOptions o) : opts_(std::move(o)), cache_(256u << 20) {}
  ~EventStoreImpl() override { Close(); }

  Status Init();

  Status CreateStream(const std::string& name, const StreamSettings& settings, const Mapping* mapping) override {
    Status v = ValidateStreamName(name);
    if (!v.ok()) return v;
    std::unique_lock<std::shared_mutex> l(smu_);
    if (streams_.count(name)) return Status::AlreadyExists("index [" + name + "] already exists");
    auto s = NewStream(name, settings, mapping);
    if (!s.ok()) return s.status();
    streams_[name] = *s;
    return Status::Ok();
  }

  Status DeleteStream(const std::string& name) override {
    std::shared_ptr<Stream> s;
    {
      std::unique_lock<std::shared_mutex> l(smu_);
      auto it = streams_.find(name);
      if (it == streams_.end()) return Status::NotFound("no such index [" + name + "]");
      s = it->second;
      streams_.erase(it);
    }
    std::lock_guard<std::mutex> wl(s->wmu);
    s->wal.reset();
    std::error_code ec;
    fs::remove_all(s->dir, ec);
    if (ec) return Status::IOError("delete index [" + name + "]: " + ec.message());
    return SyncDir(opts_.dir + "/streams");
  }

  bool HasStream(const std::string& name) const override {
    std::shared_lock<std::shared_mutex> l(smu_);
    return streams_.count(name) > 0;
  }

  StreamInfo Info(Stream& s) const {
    StreamInfo i;
    i.name = s.name;
    i.uuid = s.uuid;
    i.created_ms = s.created_ms;
    std::lock_guard<std::mutex> l(s.wmu);
    i.settings = s.settings;
    i.docs = s.live_docs;
    i.deleted_docs = s.deleted_docs;
    i.raw_bytes = s.raw_bytes;
    for (const auto& seg : s.segments) i.bytes_on_disk += seg->size;
    return i;
  }

  std::vector<StreamInfo> ListStreams() const override {
    std::vector<std::shared_ptr<Stream>> all;
    {
      std::shared_lock<std::shared_mutex> l(smu_);
      for (const auto& [n, s] : streams_) all.push_back(s);
    }
    std::vector<StreamInfo> out;
    for (auto& s : all) out.push_back(Info(*s));
    return out;
  }

  Result<StreamInfo> GetStream(const std::string& name) const override {
    auto s = Find(name);
    if (!s) return Status::NotFound("no such index [" + name + "]");
    return Info(*s);
  }

  Result<Mapping> GetMapping(const std::string& name) const override {
    auto s = Find(name);
    if (!s) return Status::NotFound("no such index [" + name + "]");
    std::lock_guard<std::mutex> l(s->wmu);
    return s->mapping;
  }

  Status PutMapping(const std::string& name, const Mapping& m) override {
    auto s = Find(name);
    if (!s) return Status::NotFound("no such index [" + name + "]");
    std::lock_guard<std::mutex> l(s->wmu);
    for (const auto& [f, fm] : m.fields) {
      auto it = s->mapping.fields.find(f);
      if (it != s->mapping.fields.end() && it->second.type != fm.type)
        return Status::InvalidArgument("mapper [" + f + "] cannot be changed from type [" + std::string(FieldTypeName(it->second.type)) +
                                       "] to [" + std::string(FieldTypeName(fm.type)) + "]");
    }
    for (const auto& [f, fm] : m.fields) {
      auto it = s->mapping.fields.find(f);
      if (it == s->mapping.fields.end()) s->mapping.fields[f] = fm;
      else it->second.keyword_subfield = it->second.keyword_subfield || fm.keyword_subfield;
    }
    Status st = WriteFileAtomic(s->dir + "/meta.json", MetaJson(*s));
    if (!st.ok()) return st;
    PublishView(*s, false);
    return Status::Ok();
  }

  Status Write(const std::vector<WriteItem>& items, std::vector<WriteResult>* results, bool refresh) override;
  Status Refresh(const std::vector<std::string>& streams) override;
  Status WaitForRefresh(const std::vector<std::string>& streams) override;
  Result<std::optional<std::string>> Get(const std::string& stream, const std::string& id, int64_t* version, uint64_t* seq_no) const override;
  Result<SearchResult> Search(const SearchRequest& req) const override;
  Result<uint64_t> Count(const std::vector<std::string>& streams, const QueryPtr& query) const override {
    SearchRequest r;
    r.streams = streams;
    r.query = query;
    r.size = 0;
    r.track_total_hits = -1;
    auto res = Search(r);
    if (!res.ok()) return res.status();
    return res->total;
  }

  EventStoreStats stats() const override {
    EventStoreStats s;
    s.ingested_docs = ingested_docs_.load();
    s.ingested_raw_bytes = ingested_raw_.load();
    s.blocks_scanned = blocks_scanned_.load();
    s.blocks_pruned = blocks_pruned_.load();
    s.damaged_blocks = damaged_.load();
    for (const auto& i : ListStreams()) {
      s.bytes_on_disk += i.bytes_on_disk;
      s.raw_bytes += i.raw_bytes;
    }
    return s;
  }

  void Close() override {
    {
      std::lock_guard<std::mutex> l(bg_mu_);
      if (closed_) return;
      closed_ = true;
    }
    bg_cv_.notify_all();
    if (bg_.joinable()) bg_.join();
    std::vector<std::shared_ptr<Stream>> all;
    {
      std::shared_lock<std::shared_mutex> l(smu_);
      for (const auto& [n, s] : streams_) all.push_back(s);
    }
    for (auto& s : all) {
      std::lock_guard<std::mutex> l(s->wmu);
      Status st = FlushLocked(*s);
      if (!st.ok()) log::Error("store: flush on close failed", {{"index", s->name}, {"error", st.ToString()}});
    }
    if (lock_fd_ >= 0) { ::close(lock_fd_); lock_fd_ = -1; }
  }

  Status Writable() const override {
    {
      std::lock_guard<std::mutex> l(bg_mu_);
      if (closed_) return Status::Unavailable("store: closed");
    }
    std::vector<std::shared_ptr<Stream>> all;
    {
      std::shared_lock<std::shared_mutex> l(smu_);
      for (const auto& [n, s] : streams_) all.push_back(s);
    }
    for (auto& s : all) {
      // Never wait behind a write or a flush (a probe has a short timeout): a stream busy now
      // is evidently being written, and a failure there shows up in write_error_.
      std::shared_ptr<Wal> wal;
      {
        std::unique_lock<std::mutex> l(s->wmu, std::try_to_lock);
        if (!l.owns_lock()) continue;
        wal = s->wal;
      }
      if (!wal) continue;
      Status e = wal->error();
      if (!e.ok()) return e.WithContext("index [" + s->name + "] write-ahead log");
    }
    std::lock_guard<std::mutex> l(werr_mu_);
    if (write_error_.ok()) return write_error_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_probe_ < std::chrono::seconds(1)) return write_error_;
    last_probe_ = now;
    if (TrialWrite().ok()) write_error_ = Status::Ok();
    return write_error_;
  }

 private:
  // 64 KiB written and fdatasync'd to <dir>/.write-probe, then removed.
  Status TrialWrite() const {
    std::string p = opts_.dir + "/.write-probe";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno("open " + p, errno);
    Status st = WriteAll(fd, std::string(64u << 10, '\0'));
    if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + p, errno);
    ::close(fd);
    ::unlink(p.c_str());
    return st;
  }
  void NoteWrite(const Status& st) {
    std::lock_guard<std::mutex> l(werr_mu_);
    write_error_ = st;
  }

  std::shared_ptr<Stream> Find(const std::string& name) const {
    std::shared_lock<std::shared_mutex> l(smu_);
    auto it = streams_.find(name);
    return it == streams_.end() ? nullptr : it->second;
  }

  Result<std::shared_ptr<Stream>> NewStream(const std::string& name, const StreamSettings& settings, const Mapping* mapping);
  Status LoadStream(const std::string& name, std::shared_ptr<Stream>* out);
  Status OpenSegment(Stream& s, const std::string& file);
  Status ApplyDoc(Stream& s, std::shared_ptr<HeadDoc> d, bool to_head, WriteResult* wr);
  Status ApplyDelete(Stream& s, const std::string& id, WriteResult* wr);
  std::optional<uint64_t> LookupSeq(Stream& s, const std::string& id, int64_t* version);
  void PublishView(Stream& s, bool move_pending);
  Status FlushLocked(Stream& s);
  void Background();
  void ApplyRetention(Stream& s);
  Status CompactLocked(Stream& s);
  // The block's index section (cached). Corruption (and the block marked damaged) if it does
  // not decode.
  Result<std::shared_ptr<const EvBlockData>> LoadBlock(const BlockMeta& b) const;
  // Frame f of the block's docs (cached); d is the block's LoadBlock result.
  Result<std::shared_ptr<const EvFrame>> LoadFrame(const BlockMeta& b, const EvBlockData& d, size_t f) const;
  // BM25 statistics for query q over stream s (docs/store.md, "Relevance"): N and df over the
  // head and every block in the query's time range (df from the blocks' token postings), avgdl
  // over the head and the blocks the query reads (`scanned`; at most 16 of them, evenly spread).
  void CollectBm25(const Stream& s, const View& view, const CompiledQuery& q, const std::vector<const BlockMeta*>& scanned,
                   Bm25Stats* out) const;
  void MarkDamaged(const BlockMeta& b, const Status& st) const;
  // Drops a block's cached index and frames (frames cached without their index age out).
  void EraseCached(const BlockMeta& b) const {
    auto c = cache_.Get(b.uid, 0);
    cache_.Erase(b.uid, c ? static_cast<uint32_t>(static_cast<const EvBlockData*>(c.get())->frames.size()) : 0);
  }
  Status CheckDoc(Stream& s, const FlatDoc& flat, int64_t* time_us);

  EventStoreOptions opts_;
  int lock_fd_ = -1;
  mutable std::shared_mutex smu_;
  std::map<std::string, std::shared_ptr<Stream>> streams_;
  mutable BlockCache cache_;
  std::thread bg_;
  mutable std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool closed_ = false;
  mutable std::mutex werr_mu_;
  mutable Status write_error_;  // the last write's WAL error (Ok after a success): Writable()
  mutable std::chrono::steady_clock::time_point last_probe_{};
  std::atomic<uint64_t> ingested_docs_{0}, ingested_raw_{0};
  mutable std::atomic<uint64_t> blocks_scanned_{0}, blocks_pruned_{0}, damaged_{0};
};

// ----- open / create

Status EventStoreImpl::Init() {
  if (opts_.dir.empty()) return Status::InvalidArgument("store: dir is required");
  if (opts_.block_max_events == 0 || opts_.block_max_bytes == 0) return Status::InvalidArgument("store: block limits must be > 0");
  if (opts_.block_max_bytes > (32u << 20)) return Status::InvalidArgument("store: block_max_bytes must be at most 32 MiB");
  std::error_code ec;
  fs::create_directories(opts_.dir + "/streams", ec);
  if (ec) return Status::IOError("store: create " + opts_.dir + ": " + ec.message());
  std::string lp = opts_.dir + "/LOCK";
  lock_fd_ = ::open(lp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::FromErrno("store: open " + lp, errno);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return Status::Unavailable("store: " + opts_.dir + " is in use by another process (LOCK held)");
  for (const auto& e : fs::directory_iterator(opts_.dir + "/streams", ec)) {
    if (!e.is_directory()) continue;
    std::string name = e.path().filename().string();
    if (!fs::exists(e.path() / "meta.json")) continue;
    std::shared_ptr<Stream> s;
    Status st = LoadStream(name, &s);
    if (!st.ok()) return st.WithContext("store: index [" + name + "]");
    streams_[name] = s;
  }
  if (ec) return Status::IOError("store: list " + opts_.dir + ": " + ec.message());
  bg_ = std::thread([this] { Background(); });
  return Status::Ok();
}

Result<std::shared_ptr<Stream>> EventStoreImpl::NewStream(const std::string& name, const StreamSettings& settings, const Mapping* mapping) {
  auto s = std::make_shared<Stream>();
  s->name = name;
  s->dir = opts_.dir + "/streams/" + name;
  s->uuid = RandomHex(22);
  s->salt = RandomHex(14);
  s->salt = s->salt.substr(0, 7);
  s->created_ms = NowMs();
  s->settings = settings;
  if (mapping) s->mapping = *mapping;
  std::error_code ec;
  fs::create_directories(s->dir, ec);
  if (ec) return Status::IOError("create " + s->dir + ": " + ec.message());
  Status st = WriteFileAtomic(s->dir + "/meta.json", MetaJson(*s));
  if (!st.ok()) return st;
  st = SyncDir(opts_.dir + "/streams");
  if (!st.ok()) return st;
  // ids.log starts with a checkpoint: nothing flushed yet (see FlushLocked).
  st = WriteFileAtomic(s->dir + "/ids.log", CheckpointRecord(0, 0));
  if (!st.ok()) return st;
  s->wal = std::make_shared<Wal>();
  s->wal_gen = 1;
  char buf[32];
  std::snprintf(buf, sizeof buf, "/wal-%010llu.log", 1ULL);
  st = s->wal->Open(s->dir + buf);
  if (!st.ok()) return st;
  s->last_flush_ms = NowMs();
  PublishView(*s, false);
  return s;
}

Status EventStoreImpl::OpenSegment(Stream& s, const std::string& file) {
  auto seg = std::make_shared<SegmentFile>();
  seg->path = s.dir + "/" + file;
  seg->day = file.substr(4, file.find('-', 4) - 4);
  seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
  if (seg->fd < 0) return Status::FromErrno("open " + seg->path, errno);
  struct stat st {};
  ::fstat(seg->fd, &st);
  uint64_t fsize = static_cast<uint64_t>(st.st_size);
  uint64_t off = 0, good_end = 0;
  std::string hb;
  std::vector<BlockPtr> blocks;
  while (off + kEvHeaderBytes <= fsize) {
    Status rs = ReadAt(seg->fd, off, kEvHeaderBytes, &hb);
    if (!rs.ok()) return rs;
    EvHeader h;
    Status hs = DecodeEvHeader(hb, &h);
    // A block from a newer format version: refuse the stream rather than treat the rest of the
    // file as damage (which would cut it off).
    if (hs.code() == StatusCode::kInvalidArgument) return Status::InvalidArgument(seg->path + " at offset " + std::to_string(off) + ": " + hs.message());
    if (hs.ok() && off + h.total_len() <= fsize) {
      std::string sum;
      rs = ReadAt(seg->fd, off + kEvHeaderBytes, h.summary_len, &sum);
      if (!rs.ok()) return rs;
      auto b = std::make_shared<BlockMeta>();
      b->offset = off;
      b->h = h;
      Status ss = crc32c::Value(sum) == h.summary_crc ? DecodeEvSummary(sum, &b->summary) : Status::Corruption("summary checksum mismatch");
      if (!ss.ok()) {
        log::Error("store: damaged block skipped", {{"file", seg->path}, {"offset", off}, {"error", ss.ToString()}});
        damaged_.fetch_add(1);
        b->damaged = true;
      }
      blocks.push_back(b);
      off += h.total_len();
      good_end = off;
      continue;
    }
    // Damaged header (or a torn tail): resynchronise on the next valid header.
    uint64_t scan = off + 1;
    bool found = false;
    std::string buf;
    while (scan + kEvHeaderBytes <= fsize && !found) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(1 << 20, fsize - scan));
      rs = ReadAt(seg->fd, scan, n, &buf);
      if (!rs.ok()) return rs;
      for (size_t i = 0; i + 4 <= buf.size(); ++i) {
        if (std::memcmp(buf.data() + i, "HKEV", 4) != 0) continue;
        std::string h2;
        rs = ReadAt(seg->fd, scan + i, kEvHeaderBytes, &h2);
        EvHeader hh;
        if (rs.ok() && DecodeEvHeader(h2, &hh).ok() && scan + i + hh.total_len() <= fsize) { scan += i; found = true; break; }
      }
      if (!found) scan += n > 4 ? n - 3 : n;
    }
    if (!found) break;  // torn tail
    log::Error("store: damaged region skipped", {{"file", seg->path}, {"offset", off}, {"resume", scan}});
    damaged_.fetch_add(1);
    off = scan;
  }
  if (good_end < fsize) {
    log::Warn("store: cutting torn segment tail", {{"file", seg->path}, {"offset", good_end}, {"size", fsize}});
    if (::ftruncate(seg->fd, static_cast<off_t>(good_end)) != 0) return Status::FromErrno("truncate " + seg->path, errno);
    fsize = good_end;
  }
  seg->size = fsize;
  for (auto& b : blocks) const_cast<BlockMeta&>(*b).seg = seg;
  s.segments.push_back(seg);
  auto v = std::make_shared<View>(*s.view);
  v->blocks.insert(v->blocks.end(), blocks.begin(), blocks.end());
  s.view = v;
  return Status::Ok();
}

Status EventStoreImpl::LoadStream(const std::string& name, std::shared_ptr<Stream>* out) {
  auto s = std::make_shared<Stream>();
  s->name = name;
  s->dir = opts_.dir + "/streams/" + name;
  std::string meta;
  Status st = ReadFile(s->dir + "/meta.json", &meta);
  if (!st.ok()) return st;
  boost::system::error_code ec;
  auto mv = boost::json::parse(meta, ec);
  if (ec || !mv.is_object()) return Status::Corruption("meta.json is not valid JSON");
  auto& mo = mv.get_object();
  try {
    s->uuid = std::string(mo.at("uuid").as_string());
    s->salt = std::string(mo.at("salt").as_string());
    s->created_ms = mo.at("created_ms").to_number<int64_t>();
    auto& so = mo.at("settings").as_object();
    s->settings.time_field = std::string(so.at("time_field").as_string());
    s->settings.label_fields.clear();
    for (auto& f : so.at("label_fields").as_array()) s->settings.label_fields.emplace_back(f.as_string());
    s->settings.retention_age = std::chrono::seconds(so.at("retention_age_s").to_number<int64_t>());
    s->settings.retention_bytes = so.at("retention_bytes").to_number<uint64_t>();
    s->settings.number_of_shards = so.at("number_of_shards").to_number<int>();
    s->settings.number_of_replicas = so.at("number_of_replicas").to_number<int>();
    s->mapping = MappingFromJson(mo.at("mapping").as_object());
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("meta.json: ") + e.what());
  }
  if (s->salt.size() != 7) return Status::Corruption("meta.json: bad salt");
  s->view = std::make_shared<View>();
  std::vector<std::string> segs, wals;
  for (const auto& e : fs::directory_iterator(s->dir)) {
    std::string f = e.path().filename().string();
    if (f.rfind("seg-", 0) == 0 && f.size() > 8 && f.substr(f.size() - 4) == ".hkv") segs.push_back(f);
    else if (f.rfind("wal-", 0) == 0 && f.substr(f.size() - 4) == ".log") wals.push_back(f);
    else if (f.size() > 4 && f.substr(f.size() - 4) == ".tmp") fs::remove(e.path());
  }
  std::sort(segs.begin(), segs.end(), [](const std::string& a, const std::string& b) {
    // seg-DAY-N.hkv: by day then numeric n
    auto da = a.substr(4, a.find('-', 4) - 4), db = b.substr(4, b.find('-', 4) - 4);
    if (da != db) return da < db;
    return std::stoll(a.substr(a.find('-', 4) + 1)) < std::stoll(b.substr(b.find('-', 4) + 1));
  });
  for (const auto& f : segs) {
    st = OpenSegment(*s, f);
    if (!st.ok()) return st;
  }
  // ids.log: explicit ids and dead seqs of flushed docs, and checkpoints. Only the records up to
  // the last checkpoint count: later ones belong to a flush that did not finish (its docs are
  // still in the write-ahead log). A store written before checkpoints existed has none: then
  // every valid record counts and the log is replayed above the highest block seq (legacy).
  bool have_ckpt = false;
  uint64_t ckpt_gen = 0, ckpt_seq = 0;
  std::string idlog;
  if (ReadFile(s->dir + "/ids.log", &idlog).ok()) {
    std::vector<std::string_view> recs;
    size_t upto = 0, end = 0;  // records [0, upto) count; `end`: their byte length
    uint64_t valid = Wal::Decode(idlog, [&](std::string_view p) {
      recs.push_back(p);
      if (!p.empty() && p[0] == 'C' && p.size() >= 17) {
        have_ckpt = true;
        ckpt_gen = Get64(p.data() + 1);
        ckpt_seq = Get64(p.data() + 9);
        upto = recs.size();
      }
    });
    if (!have_ckpt) upto = recs.size();
    for (size_t i = 0; i < upto; ++i) end += 8 + recs[i].size();
    for (size_t i = 0; i < upto; ++i) {
      std::string_view p = recs[i];
      if (p.empty()) continue;
      if (p[0] == 'I' && p.size() >= 17) {
        s->ids[std::string(p.substr(17))] = IdEntry{Get64(p.data() + 1), static_cast<int64_t>(Get64(p.data() + 9))};
      } else if (p[0] == 'R') {
        s->ids.erase(std::string(p.substr(1)));
      } else if (p[0] == 'D' && p.size() >= 9) {
        s->dead.insert(Get64(p.data() + 1));
      } else if (p[0] == 'V' && p.size() >= 17) {
        s->auto_versions[Get64(p.data() + 1)] = static_cast<int64_t>(Get64(p.data() + 9));
      }
    }
    if (end < idlog.size()) {
      log::Warn("store: cutting ids.log after its last checkpoint", {{"index", name}, {"offset", end}, {"valid", valid}, {"size", idlog.size()}});
      if (::truncate((s->dir + "/ids.log").c_str(), static_cast<off_t>(end)) != 0) return Status::FromErrno("truncate ids.log", errno);
    }
  }
  uint64_t max_block_seq = 0;
  {
    auto v = std::make_shared<View>(*s->view);
    std::sort(v->blocks.begin(), v->blocks.end(), [](const BlockPtr& a, const BlockPtr& b) { return a->h.first_seq < b->h.first_seq; });
    if (have_ckpt) {
      // Blocks above the checkpoint were written by a flush that did not finish: they are at the
      // tails of their segments (flushes append) and their docs are replayed from the log.
      std::map<SegmentFile*, uint64_t> cut;
      std::vector<BlockPtr> keep;
      for (const auto& b : v->blocks) {
        if (b->h.first_seq > ckpt_seq || b->h.last_seq > ckpt_seq) {
          auto [it, fresh] = cut.emplace(b->seg.get(), b->offset);
          if (!fresh) it->second = std::min(it->second, b->offset);
        } else {
          keep.push_back(b);
        }
      }
      for (auto& seg : s->segments) {
        auto c = cut.find(seg.get());
        if (c == cut.end()) continue;
        log::Warn("store: dropping blocks of an unfinished flush", {{"file", seg->path}, {"offset", c->second}, {"size", seg->size}});
        if (::ftruncate(seg->fd, static_cast<off_t>(c->second)) != 0) return Status::FromErrno("truncate " + seg->path, errno);
        seg->size = c->second;
        // Blocks of a complete flush behind the cut (cannot happen: flushes append) would go too.
        keep.erase(std::remove_if(keep.begin(), keep.end(), [&](const BlockPtr& b) { return b->seg == seg && b->offset >= c->second; }), keep.end());
      }
      v->blocks = std::move(keep);
    }
    for (const auto& b : v->blocks) {
      max_block_seq = std::max(max_block_seq, b->h.last_seq);
      s->live_docs += b->h.count;
      s->raw_bytes += b->h.docs_raw;
    }
    s->view = v;
  }
  s->next_seq = std::max(max_block_seq, ckpt_seq) + 1;
  // WAL replay (oldest generation first). With a checkpoint: logs at or below its generation are
  // fully in blocks (removed), every doc of a newer log goes to the head. Legacy: docs above the
  // highest block seq go to the head.
  std::sort(wals.begin(), wals.end());
  s->wal_gen = have_ckpt ? ckpt_gen + 1 : 1;
  uint64_t head_above = have_ckpt ? ckpt_seq : max_block_seq;
  for (const auto& w : wals) {
    uint64_t gen = std::stoull(w.substr(4, 10));
    if (have_ckpt && gen <= ckpt_gen) {
      log::Info("store: removing a write-ahead log already flushed", {{"file", w}});
      if (::unlink((s->dir + "/" + w).c_str()) != 0) return Status::FromErrno("unlink " + w, errno);
      continue;
    }
    std::string data;
    st = ReadFile(s->dir + "/" + w, &data);
    if (!st.ok()) return st;
    s->wal_gen = std::max<uint64_t>(s->wal_gen, gen);
    uint64_t valid = Wal::Decode(data, [&](std::string_view p) {
      if (p.empty()) return;
      if (p[0] == 'X' && p.size() >= 25) {  // doc
        auto d = std::make_shared<HeadDoc>();
        d->seq = Get64(p.data() + 1);
        d->time_us = static_cast<int64_t>(Get64(p.data() + 9));
        d->version = static_cast<int64_t>(Get64(p.data() + 17));
        size_t pos = 25;
        if (p.size() < pos + 4) return;
        uint32_t idlen = Get32(p.data() + pos);
        pos += 4;
        if (p.size() < pos + idlen + 1) return;
        d->explicit_id = p[pos] == 1;
        d->id = std::string(p.substr(pos + 1, idlen));
        d->source = std::string(p.substr(pos + 1 + idlen));
        d->flat = std::make_shared<FlatDoc>();
        FlattenJson(d->source, d->flat.get());
        int64_t t;
        Status cs = CheckDoc(*s, *d->flat, &t);  // re-infers the mapping
        (void)cs;
        s->next_seq = std::max(s->next_seq, d->seq + 1);
        WriteResult wr;
        Status as = ApplyDoc(*s, d, d->seq > head_above, &wr);
        (void)as;
      } else if (p[0] == 'Y') {
        WriteResult wr;
        Status as = ApplyDelete(*s, std::string(p.substr(1)), &wr);
        (void)as;
      }
    });
    if (valid < data.size()) {
      log::Warn("store: cutting torn write-ahead log tail", {{"file", w}, {"offset", valid}, {"size", data.size()}});
      if (::truncate((s->dir + "/" + w).c_str(), static_cast<off_t>(valid)) != 0) return Status::FromErrno("truncate " + w, errno);
    }
  }
  s->wal = std::make_shared<Wal>();
  char buf[32];
  std::snprintf(buf, sizeof buf, "/wal-%010llu.log", static_cast<unsigned long long>(s->wal_gen));
  st = s->wal->Open(s->dir + buf);
  if (!st.ok()) return st;
  s->last_flush_ms = NowMs();
  PublishView(*s, true);
  *out = s;
  return Status::Ok();
}

Result<std::unique_ptr<EventStore>> OpenImpl(const EventStoreOptions& opts) {
  auto s = std::make_unique<EventStoreImpl>(opts);
  Status st = s->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<EventStore>(std::move(s));
}

// ----- writes

Status EventStoreImpl::CheckDoc(Stream& s, const FlatDoc& flat, int64_t* time_us) {
  // Mapping: check types, infer new fields (collected first so a conflict changes nothing).
  std::vector<std::pair<std::string, FieldMapping>> added;
  for (const auto& f : flat.fields) {
    auto it = s.mapping.fields.find(f.path);
    if (it == s.mapping.fields.end()) {
      if (std::holds_alternative<std::monostate>(f.value)) continue;
      bool dup = false;
      for (auto& a : added) if (a.first == f.path) dup = true;
      if (dup) continue;
      // A parent path mapped as a scalar?
      for (size_t dot = f.path.find('.'); dot != std::string::npos; dot = f.path.find('.', dot + 1)) {
        auto pt = s.mapping.fields.find(f.path.substr(0, dot));
        if (pt != s.mapping.fields.end() && pt->second.type != FieldType::kObject)
          return Status::InvalidArgument("mapper_parsing_exception: field [" + f.path.substr(0, dot) + "] of type [" +
                                         std::string(FieldTypeName(pt->second.type)) + "] cannot hold an object");
      }
      FieldMapping fm;
      fm.type = f.path == s.settings.time_field ? FieldType::kDate : InferType(f.value);
      if (fm.type == FieldType::kDate && !ValueFitsType(f.value, FieldType::kDate)) fm.type = InferType(f.value);
      if (fm.type == FieldType::kText) fm.keyword_subfield = true;
      added.push_back({f.path, fm});
      continue;
    }
    if (it->second.type == FieldType::kObject)
      return Status::InvalidArgument("mapper_parsing_exception: field [" + f.path + "] is an object and cannot hold a value");
    if (!ValueFitsType(f.value, it->second.type))
      return Status::InvalidArgument("mapper_parsing_exception: failed to parse field [" + f.path + "] of type [" +
                                     std::string(FieldTypeName(it->second.type)) + "]: value " + ValueToJson(f.value));
  }
  // Children of an existing scalar field?
  for (auto& [p, fm] : added) {
    for (const auto& [k, v] : s.mapping.fields)
      if (k.size() > p.size() && k.compare(0, p.size(), p) == 0 && k[p.size()] == '.' && v.type != FieldType::kObject)
        return Status::InvalidArgument("mapper_parsing_exception: field [" + p + "] is an object in the mapping and cannot hold a value");
  }
  *time_us = NowMs() * 1000;
  for (const auto& f : flat.fields) {
    if (f.path != s.settings.time_field) continue;
    if (auto* str = std::get_if<std::string>(&f.value)) {
      auto ms = ParseDateMs(*str);
      if (!ms) return Status::InvalidArgument("mapper_parsing_exception: failed to parse date field [" + f.path + "] with value '" + *str + "'");
      *time_us = *ms * 1000;
    } else if (auto d = ToDouble(f.value); d && !std::holds_alternative<bool>(f.value)) {
      *time_us = static_cast<int64_t>(*d) * 1000;
    }
    break;
  }
  if (!added.empty()) {
    for (auto& [p, fm] : added) s.mapping.fields[p] = fm;
    s.meta_dirty = true;
  }
  return Status::Ok();
}

std::optional<uint64_t> EventStoreImpl::LookupSeq(Stream& s, const std::string& id, int64_t* version) {
  auto it = s.ids.find(id);
  if (it != s.ids.end()) {
    if (s.dead.count(it->second.seq)) return std::nullopt;
    *version = it->second.version;
    return it->second.seq;
  }
  auto seq = DecodeAutoId(id, s.salt);
  if (seq && *seq < s.next_seq && !s.dead.count(*seq)) {
    auto v = s.auto_versions.find(*seq);
    *version = v == s.auto_versions.end() ? 1 : v->second;
    // The seq may have been dropped by retention: check a block or the head holds it.
    if (s.head_by_seq.count(*seq)) return seq;
    auto view = s.view;
    for (const auto& b : view->blocks)
      if (b->h.first_seq <= *seq && *seq <= b->h.last_seq) return seq;
  }
  return std::nullopt;
}

std::string JournalId(char tag, uint64_t a, int64_t b, std::string_view id) {
  std::string p(1, tag);
  Put64(&p, a);
  Put64(&p, static_cast<uint64_t>(b));
  p.append(id);
  std::string out;
  Wal::Frame(p, &out);
  return out;
}

// Applies a doc to the in-memory state (ids, dead set, head). Used by writes and WAL replay.
Status EventStoreImpl::ApplyDoc(Stream& s, std::shared_ptr<HeadDoc> d, bool to_head, WriteResult* wr) {
  int64_t old_version = 0;
  // A fresh auto id names no earlier doc: skip the lookup.
  auto old = d->explicit_id ? LookupSeq(s, d->id, &old_version) : std::nullopt;
  bool known = false;
  if (old && *old >= d->seq) {
    // Replay of a doc that ids.log already knows (as itself, or superseded by a later write):
    // a replayed record must never kill the doc that it is or that replaced it.
    if (*old > d->seq) {
      s.dead.insert(d->seq);
      s.dead_dirty = true;
    }
    old.reset();
    known = true;
  }
  if (old) {
    s.dead.insert(*old);
    s.dead_dirty = true;
    std::string jd(1, 'D');
    Put64(&jd, *old);
    Wal::Frame(jd, &s.journal);
    if (s.live_docs) --s.live_docs;
    ++s.deleted_docs;
    wr->outcome = WriteResult::Outcome::kUpdated;
  } else {
    wr->outcome = WriteResult::Outcome::kCreated;
  }
  if (known) {
    // ids and the journal already say it.
  } else if (d->explicit_id) {
    s.ids[d->id] = IdEntry{d->seq, d->version};
    s.journal += JournalId('I', d->seq, d->version, d->id);
  } else if (d->version > 1) {
    s.auto_versions[d->seq] = d->version;
    s.journal += JournalId('V', d->seq, d->version, "");
  }
  wr->id = d->id;
  wr->version = d->version;
  wr->seq_no = d->seq;
  ++s.live_docs;
  if (to_head) {
    s.raw_bytes += d->source.size();
    s.head_bytes += d->source.size() + d->id.size() + 64;
    s.head_by_seq[d->seq] = d;
    s.pending.push_back(std::move(d));
  }
  return Status::Ok();
}

Status EventStoreImpl::ApplyDelete(Stream& s, const std::string& id, WriteResult* wr) {
  int64_t v = 0;
  auto seq = LookupSeq(s, id, &v);
  wr->id = id;
  if (!seq) {
    wr->outcome = WriteResult::Outcome::kNotFound;
    wr->status = Status::NotFound("document [" + id + "] not found");
    return wr->status;
  }
  s.dead.insert(*seq);
  s.dead_dirty = true;
  std::string jd(1, 'D');
  Put64(&jd, *seq);
  Wal::Frame(jd, &s.journal);
  if (s.ids.erase(id)) {
    std::string jr(1, 'R');
    jr += id;
    Wal::Frame(jr, &s.journal);
  }
  if (s.live_docs) --s.live_docs;
  ++s.deleted_docs;
  wr->outcome = WriteResult::Outcome::kDeleted;
  wr->version = v + 1;
  return Status::Ok();
}

Status EventStoreImpl::Write(const std::vector<WriteItem>& items, std::vector<WriteResult>* results, bool refresh) {
  results->assign(items.size(), WriteResult{});
  // Group by stream, keeping order within a stream.
  std::map<std::string, std::vector<size_t>> by_stream;
  for (size_t i = 0; i < items.size(); ++i) by_stream[items[i].stream].push_back(i);
  struct ToSync {
    std::shared_ptr<Stream> s;
    std::shared_ptr<Wal> wal;  // the log appended to (a flush may rotate the stream's log before the sync)
    uint64_t end;
  };
  std::vector<ToSync> to_sync;
  Status batch_status;
  for (auto& [name, idx] : by_stream) {
    auto s = Find(name);
    if (!s) {
      if (!opts_.auto_create_streams) {
        for (size_t i : idx) (*results)[i].status = Status::NotFound("no such index [" + name + "]");
        continue;
      }
      Status v = ValidateStreamName(name);
      if (!v.ok()) {
        for (size_t i : idx) (*results)[i].status = v;
        continue;
      }
      std::unique_lock<std::shared_mutex> l(smu_);
      auto it = streams_.find(name);
      if (it != streams_.end()) {
        s = it->second;
      } else {
        auto ns = NewStream(name, StreamSettings{}, nullptr);
        if (!ns.ok()) {
          for (size_t i : idx) (*results)[i].status = ns.status();
          continue;
        }
        s = *ns;
        streams_[name] = s;
      }
    }
    std::unique_lock<std::mutex> wl(s->wmu);
    std::string framed;
    std::vector<std::pair<size_t, std::shared_ptr<HeadDoc>>> docs;
    for (size_t i : idx) {
      const WriteItem& it = items[i];
      WriteResult& wr = (*results)[i];
      if (it.op == WriteItem::Op::kDelete) {
        if (!it.id || it.id->empty()) { wr.status = Status::InvalidArgument("delete: an id is required"); continue; }
        Status ds = ApplyDelete(*s, *it.id, &wr);
        if (!ds.ok()) continue;
        std::string p(1, 'Y');
        p += *it.id;
        Wal::Frame(p, &framed);
        continue;
      }
      if (it.id && (it.id->empty() || it.id->size() > 512)) {
        wr.status = Status::InvalidArgument("id must be 1 to 512 bytes long");
        continue;
      }
      auto d = std::make_shared<HeadDoc>();
      d->flat = std::make_shared<FlatDoc>();
      std::string err;
      if (!FlattenJson(it.source_json, d->flat.get(), &err)) {
        wr.status = Status::InvalidArgument("mapper_parsing_exception: failed to parse: " + err);
        continue;
      }
      Status cs = CheckDoc(*s, *d->flat, &d->time_us);
      if (!cs.ok()) { wr.status = cs; continue; }
      int64_t ver = 0;
      if (it.id) {
        auto ex = LookupSeq(*s, *it.id, &ver);
        if (ex && it.op == WriteItem::Op::kCreate) {
          wr.id = *it.id;
          wr.status = Status::AlreadyExists("version_conflict_engine_exception: [" + *it.id + "]: version conflict, document already exists");
          continue;
        }
        if (!ex) ver = 0;
      }
      d->seq = s->next_seq++;
      d->version = ver + 1;
      if (it.id) {
        d->id = *it.id;
        // An id that happens to decode as this stream's auto id names that doc (update).
        d->explicit_id = true;
      } else {
        d->id = AutoId(d->seq, s->salt);
      }
      d->source = it.source_json;
      // JSON whitespace only; memchr first, as almost no document has a line break.
      if (std::memchr(d->source.data(), '\n', d->source.size()) || std::memchr(d->source.data(), '\r', d->source.size())) {
        for (auto& c : d->source) if (c == '\n' || c == '\r') c = ' ';
      }
      std::string p;
      p.reserve(1 + 3 * 8 + 4 + 1 + d->id.size() + d->source.size());
      p.push_back('X');
      Put64(&p, d->seq);
      Put64(&p, static_cast<uint64_t>(d->time_us));
      Put64(&p, static_cast<uint64_t>(d->version));
      Put32(&p, static_cast<uint32_t>(d->id.size()));
      p.push_back(d->explicit_id ? 1 : 0);
      p += d->id;
      p += d->source;
      Wal::Frame(p, &framed);
      ingested_raw_.fetch_add(it.source_json.size());
      ingested_docs_.fetch_add(1);
      Status as = ApplyDoc(*s, d, true, &wr);
      (void)as;
    }
    if (framed.empty()) continue;
    ++s->write_gen;
    auto end = s->wal->Append(framed);
    if (!end.ok()) {
      batch_status = end.status();
      for (size_t i : idx) if ((*results)[i].status.ok()) (*results)[i].status = end.status();
      continue;
    }
    to_sync.push_back({s, s->wal, *end});
    if (refresh) PublishView(*s, true);
    if (s->head_bytes >= opts_.block_max_bytes * 4 || s->head_by_seq.size() >= opts_.block_max_events * 4) {
      // Flush happens after the sync below (the WAL must hold the docs durably first).
    }
  }
  for (auto& t : to_sync) {
    Status ss = t.wal->Sync(t.end);
    if (!ss.ok()) batch_status = ss;
  }
  if (!batch_status.ok()) {
    NoteWrite(batch_status);
    return batch_status;
  }
  if (!to_sync.empty()) NoteWrite(Status::Ok());
  for (auto& t : to_sync) {
    Stream* s = t.s.get();
    std::lock_guard<std::mutex> wl(s->wmu);
    if (s->head_bytes >= opts_.block_max_bytes * 4 || s->head_by_seq.size() >= opts_.block_max_events * 4) {
      Status fs = FlushLocked(*s);
      if (!fs.ok()) log::Error("store: flush failed", {{"index", s->name}, {"error", fs.ToString()}});
    }
  }
  return Status::Ok();
}

void EventStoreImpl::PublishView(Stream& s, bool move_pending) {
  if (move_pending && s.visible_gen != s.write_gen) {
    s.visible_gen = s.write_gen;
    s.visible_cv.notify_all();
  }
  auto old = s.GetView();
  auto v = std::make_shared<View>(old ? *old : View{});
  v->mapping = std::make_shared<const Mapping>(s.mapping);
  if (move_pending && !s.pending.empty()) {
    v->chunks.push_back(std::make_shared<const Chunk>(std::move(s.pending)));
    s.pending.clear();
  }
  if (s.dead_dirty || !v->dead) {
    v->dead = std::make_shared<const std::unordered_set<uint64_t>>(s.dead);
    s.dead_dirty = false;
  }
  s.SetView(v);
}

Status EventStoreImpl::Refresh(const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<Stream>> list;
  {
    std::shared_lock<std::shared_mutex> l(smu_);
    if (names.empty()) {
      for (auto& [n, s] : streams_) list.push_back(s);
    } else {
      for (const auto& n : names) {
        auto it = streams_.find(n);
        if (it == streams_.end()) return Status::NotFound("no such index [" + n + "]");
        list.push_back(it->second);
      }
    }
  }
  for (auto& s : list) {
    std::lock_guard<std::mutex> l(s->wmu);
    PublishView(*s, true);
  }
  return Status::Ok();
}

Status EventStoreImpl::WaitForRefresh(const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<Stream>> list;
  for (const auto& n : names) {
    auto s = Find(n);
    if (!s) return Status::NotFound("no such index [" + n + "]");
    list.push_back(s);
  }
  // The background thread refreshes every refresh_interval; past twice that (it is stuck
  // behind a slow flush, or closing), refresh here rather than wait forever.
  auto limit = std::max<std::chrono::milliseconds>(opts_.refresh_interval * 2, std::chrono::milliseconds(100)) + std::chrono::seconds(1);
  for (auto& s : list) {
    std::unique_lock<std::mutex> l(s->wmu);
    uint64_t target = s->write_gen;
    if (!s->visible_cv.wait_for(l, limit, [&] { return s->visible_gen >= target; })) PublishView(*s, true);
  }
  return Status::Ok();
}

// ----- flush

// Flush: the head → blocks appended to segment files → fsync → meta.json → a new write-ahead log
// → ids.log records plus a checkpoint (fsync) → the old log removed. A kill -9 anywhere leaves a
// state that open repairs (see CheckpointRecord); a failure (disk full) undoes the appended blocks
// and keeps the head and the log, so a later flush can retry.
Status EventStoreImpl::FlushLocked(Stream& s) {
  if (s.journal_broken) return Status::IOError("index [" + s.name + "]: ids.log could not be repaired after a failed write; restart to recover");
  PublishView(s, true);
  auto view = s.GetView();
  if (view->chunks.empty()) {
    s.last_flush_ms = NowMs();
    return Status::Ok();
  }
  std::vector<std::shared_ptr<const HeadDoc>> all;
  for (const auto& c : view->chunks) all.insert(all.end(), c->begin(), c->end());
  // Partition by time span (segment_span), keeping seq order within each.
  std::map<std::string, std::vector<const HeadDoc*>> parts;
  int64_t span = std::max<int64_t>(60, opts_.segment_span.count());
  {
    int64_t last_bucket = INT64_MIN;
    std::vector<const HeadDoc*>* cur = nullptr;
    for (const auto& d : all) {
      int64_t sec = d->time_us >= 0 ? d->time_us / 1000000 : -((-d->time_us + 999999) / 1000000);
      int64_t bucket = sec >= 0 ? sec / span : -((-sec + span - 1) / span);
      if (bucket != last_bucket || !cur) {
        cur = &parts[DayName(bucket * span * 1000000, span)];
        last_bucket = bucket;
      }
      cur->push_back(d.get());
    }
  }
  struct FieldInfo {
    std::optional<FieldType> type;
    bool label = false;
  };
  std::unordered_map<std::string, FieldInfo> type_cache;
  std::vector<BlockPtr> new_blocks;
  std::set<std::shared_ptr<SegmentFile>> touched;
  std::vector<std::pair<std::shared_ptr<SegmentFile>, uint64_t>> before;  // sizes before this flush
  auto undo = [&](Status e) -> Status {
    for (auto& [seg, size] : before) {
      if (::ftruncate(seg->fd, static_cast<off_t>(size)) != 0)
        log::Error("store: could not cut back a failed flush (cut at next open)", {{"file", seg->path}, {"error", std::strerror(errno)}});
      seg->size = size;
    }
    return e;
  };
  for (auto& [day, docs] : parts) {
    size_t i = 0;
    while (i < docs.size()) {
      std::vector<EvDocIn> in;
      TokenPostings post;
      size_t bytes = 0;
      while (i < docs.size() && in.size() < opts_.block_max_events && bytes < opts_.block_max_bytes) {
        const HeadDoc* d = docs[i++];
        EvDocIn e;
        e.seq = d->seq;
        e.time_us = d->time_us;
        if (d->explicit_id) e.id = d->id;  // auto ids are not stored: AutoId(seq, salt) gives them back
        e.source = d->source;
        bytes += d->source.size() + d->id.size();
        const auto ord = static_cast<uint32_t>(in.size());
        for (const auto& f : d->flat->fields) {
          if (std::holds_alternative<std::monostate>(f.value)) continue;
          auto tc = type_cache.find(f.path);
          if (tc == type_cache.end()) {
            FieldInfo fi;
            fi.type = FieldTypeOf(s.mapping, f.path);
            for (const auto& lf : s.settings.label_fields) fi.label = fi.label || lf == f.path;
            tc = type_cache.emplace(f.path, fi).first;
          }
          const FieldInfo& fi = tc->second;
          const std::string* sv = std::get_if<std::string>(&f.value);
          std::string conv;
          if (!sv) { conv = ValueToString(f.value); sv = &conv; }
          if (fi.type == FieldType::kText) {
            ForEachToken(*sv, [&](std::string_view tok, uint32_t) {
              if (tok.size() <= 255) post.Add(tok, ord);
            });
          } else if (fi.type == FieldType::kKeyword) {
            if (sv->size() <= 256) post.Add(KeywordToken(f.path, *sv), ord);
          }
          if (fi.label) e.labels.push_back({f.path, *sv});
        }
        in.push_back(std::move(e));
      }
      std::string enc;
      EvHeader h;
      Status st = EncodeEvBlock(in, post, opts_.zstd_level, &enc, &h);
      if (!st.ok()) return undo(st);
      // The segment for this day: the newest one with room, or a new one.
      std::shared_ptr<SegmentFile> seg;
      int maxn = 0;
      for (auto& sg : s.segments) {
        if (sg->day != day) continue;
        std::string f = fs::path(sg->path).filename().string();
        int n = std::stoi(f.substr(f.find('-', 4) + 1));
        if (n >= maxn) { maxn = n; seg = sg; }
      }
      if (!seg || seg->size + enc.size() > opts_.segment_max_bytes) {
        seg = std::make_shared<SegmentFile>();
        seg->day = day;
        seg->path = s.dir + "/seg-" + day + "-" + std::to_string(maxn + 1) + ".hkv";
        seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (seg->fd < 0) return undo(Status::FromErrno("open " + seg->path, errno));
        s.segments.push_back(seg);
        Status ds = SyncDir(s.dir);
        if (!ds.ok()) return undo(ds);
      }
      if (!touched.count(seg)) before.push_back({seg, seg->size});
      ssize_t w = ::pwrite(seg->fd, enc.data(), enc.size(), static_cast<off_t>(seg->size));
      if (w != static_cast<ssize_t>(enc.size())) {
        touched.insert(seg);
        return undo(Status::FromErrno("write " + seg->path, w < 0 ? errno : ENOSPC));
      }
      auto b = std::make_shared<BlockMeta>();
      b->seg = seg;
      b->offset = seg->size;
      b->h = h;
      Status ss = DecodeEvSummary(std::string_view(enc).substr(kEvHeaderBytes, h.summary_len), &b->summary);
      if (!ss.ok()) return undo(ss);
      seg->size += enc.size();
      touched.insert(seg);
      new_blocks.push_back(b);
    }
  }
  for (auto& seg : touched)
    if (::fdatasync(seg->fd) != 0) return undo(Status::FromErrno("fdatasync " + seg->path, errno));
  // The mapping before the checkpoint: after it, the log that re-infers it on replay is gone.
  if (s.meta_dirty) {
    Status st = WriteFileAtomic(s.dir + "/meta.json", MetaJson(s));
    if (!st.ok()) return undo(st);
    s.meta_dirty = false;
  }
  // The next log, before the checkpoint that retires the current one.
  char buf[32];
  std::snprintf(buf, sizeof buf, "/wal-%010llu.log", static_cast<unsigned long long>(s.wal_gen + 1));
  std::string next_path = s.dir + buf;
  auto next = std::make_shared<Wal>();
  Status st = next->Open(next_path);
  if (st.ok()) st = SyncDir(s.dir);
  if (!st.ok()) {
    next.reset();
    ::unlink(next_path.c_str());
    return undo(st);
  }
  {
    std::string rec = s.journal + CheckpointRecord(s.wal_gen, s.next_seq - 1);
    std::string p = s.dir + "/ids.log";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) st = Status::FromErrno("open " + p, errno);
    struct stat sb {};
    if (st.ok() && ::fstat(fd, &sb) != 0) st = Status::FromErrno("stat " + p, errno);
    if (st.ok()) {
      st = WriteAll(fd, rec);
      if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + p, errno);
      if (!st.ok() && ::ftruncate(fd, sb.st_size) != 0) {
        // Records after a torn one would be unreadable: stop flushing; the logs keep everything.
        s.journal_broken = true;
        log::Error("store: could not cut back ids.log after a failed write", {{"index", s.name}, {"error", std::strerror(errno)}});
      }
    }
    if (fd >= 0) ::close(fd);
    if (!st.ok()) {
      next.reset();
      ::unlink(next_path.c_str());
      return undo(st);
    }
    s.journal.clear();
  }
  // Publish: chunks → blocks.
  auto v = std::make_shared<View>(*view);
  v->chunks.clear();
  v->blocks.insert(v->blocks.end(), new_blocks.begin(), new_blocks.end());
  s.SetView(v);
  s.head_by_seq.clear();
  s.head_bytes = 0;
  s.last_flush_ms = NowMs();
  std::string old_path = s.wal->path();
  s.wal = std::move(next);
  ++s.wal_gen;
  if (::unlink(old_path.c_str()) != 0)  // harmless: open removes logs at or below the checkpoint
    log::Warn("store: could not remove a flushed write-ahead log", {{"file", old_path}, {"error", std::strerror(errno)}});
  return Status::Ok();
}

// ----- background: refresh, flush, retention, compaction

void EventStoreImpl::Background() {
  int64_t last_maint = NowMs();
  std::unique_lock<std::mutex> l(bg_mu_);
  while (!closed_) {
    bg_cv_.wait_for(l, std::max(std::chrono::milliseconds(10), opts_.refresh_interval));
    if (closed_) break;
    l.unlock();
    std::vector<std::shared_ptr<Stream>> all;
    {
      std::shared_lock<std::shared_mutex> sl(smu_);
      for (auto& [n, s] : streams_) all.push_back(s);
    }
    bool maint = NowMs() - last_maint >= opts_.maintenance_interval.count();
    for (auto& s : all) {
      std::lock_guard<std::mutex> wl(s->wmu);
      PublishView(*s, true);
      if (!s->head_by_seq.empty() && (NowMs() - s->last_flush_ms >= opts_.head_flush_interval.count() || s->head_by_seq.size() >= opts_.block_max_events)) {
        Status st = FlushLocked(*s);
        if (!st.ok()) log::Error("store: flush failed", {{"index", s->name}, {"error", st.ToString()}});
      }
      if (maint) {
        ApplyRetention(*s);
        Status cs = CompactLocked(*s);
        if (!cs.ok()) log::Error("store: compaction failed", {{"index", s->name}, {"error", cs.ToString()}});
      }
    }
    if (maint) last_maint = NowMs();
    l.lock();
  }
}

void EventStoreImpl::ApplyRetention(Stream& s) {
  auto view = s.GetView();
  if (s.settings.retention_age.count() == 0 && s.settings.retention_bytes == 0) return;
  int64_t cutoff_us = (NowMs() - static_cast<int64_t>(s.settings.retention_age.count()) * 1000) * 1000;
  std::map<SegmentFile*, int64_t> seg_max;
  for (const auto& b : view->blocks) {
    auto& m = seg_max[b->seg.get()];
    m = std::max(m, b->h.max_time_us);
  }
  std::vector<std::shared_ptr<SegmentFile>> order = s.segments;
  std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a->path < b->path; });  // oldest day first
  uint64_t total = 0;
  for (auto& sg : order) total += sg->size;
  std::set<SegmentFile*> drop;
  for (auto& sg : order) {
    bool old = s.settings.retention_age.count() > 0 && seg_max.count(sg.get()) && seg_max[sg.get()] < cutoff_us;
    bool big = s.settings.retention_bytes > 0 && total > s.settings.retention_bytes;
    if (!old && !big) continue;
    // The size limit never drops the newest segment (the one being written to): a limit smaller
    // than one segment keeps the latest data rather than nothing.
    if (!old && sg == order.back()) continue;
    drop.insert(sg.get());
    total -= sg->size;
  }
  if (drop.empty()) return;
  auto v = std::make_shared<View>(*view);
  v->blocks.clear();
  for (const auto& b : view->blocks) {
    if (drop.count(b->seg.get())) {
      if (s.live_docs >= b->h.count) s.live_docs -= b->h.count;
      if (s.raw_bytes >= b->h.docs_raw) s.raw_bytes -= b->h.docs_raw;
      EraseCached(*b);
    } else {
      v->blocks.push_back(b);
    }
  }
  s.SetView(v);
  for (auto it = s.segments.begin(); it != s.segments.end();) {
    if (drop.count(it->get())) {
      log::Info("store: retention dropped segment", {{"index", s.name}, {"file", (*it)->path}});
      ::unlink((*it)->path.c_str());
      it = s.segments.erase(it);
    } else {
      ++it;
    }
  }
  Status st = SyncDir(s.dir);
  (void)st;
}

// Compaction: a segment with several small blocks (< 1/4 of block_max_events) is rewritten with
// those merged; readers holding the old file keep it open until they finish.
Status EventStoreImpl::CompactLocked(Stream& s) {
  auto view = s.GetView();
  std::map<SegmentFile*, std::vector<BlockPtr>> by_seg;
  for (const auto& b : view->blocks) by_seg[b->seg.get()].push_back(b);
  for (auto& [seg, blocks] : by_seg) {
    size_t small = 0;
    for (auto& b : blocks) small += (b->h.count < opts_.block_max_events / 4 && !b->damaged) ? 1 : 0;
    if (small < 4) continue;
    std::shared_ptr<SegmentFile> old = blocks[0]->seg;
    auto nseg = std::make_shared<SegmentFile>();
    nseg->day = old->day;
    nseg->path = old->path;
    std::string tmp = old->path + ".tmp";
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno("open " + tmp, errno);
    nseg->fd = fd;
    std::vector<BlockPtr> out;
    std::vector<EvDocIn> acc;
    TokenPostings acc_post;
    std::vector<std::shared_ptr<const EvBlockData>> keep;  // keep sources alive
    std::vector<std::shared_ptr<const EvFrame>> keep_frames;
    auto emit_acc = [&]() -> Status {
      if (acc.empty()) return Status::Ok();
      std::string enc;
      EvHeader h;
      Status st = EncodeEvBlock(acc, acc_post, opts_.zstd_level, &enc, &h);
      if (!st.ok()) return st;
      acc_post.clear();
      st = WriteAll(fd, enc);
      if (!st.ok()) return st;
      auto b = std::make_shared<BlockMeta>();
      b->seg = nseg;
      b->offset = nseg->size;
      b->h = h;
      st = DecodeEvSummary(std::string_view(enc).substr(kEvHeaderBytes, h.summary_len), &b->summary);
      if (!st.ok()) return st;
      nseg->size += enc.size();
      out.push_back(b);
      acc.clear();
      return Status::Ok();
    };
    Status st;
    for (auto& b : blocks) {
      bool is_small = b->h.count < opts_.block_max_events / 4 && !b->damaged;
      if (!is_small) {
        st = emit_acc();
        if (!st.ok()) break;
        std::string raw;
        st = ReadAt(old->fd, b->offset, b->h.total_len(), &raw);
        if (!st.ok()) break;
        st = WriteAll(fd, raw);
        if (!st.ok()) break;
        auto nb = std::make_shared<BlockMeta>();
        nb->seg = nseg;
        nb->offset = nseg->size;
        nb->h = b->h;
        nb->summary = b->summary;
        nb->damaged = b->damaged.load();
        nseg->size += raw.size();
        out.push_back(nb);
        continue;
      }
      auto data = LoadBlock(*b);
      if (!data.ok()) { st = data.status(); break; }
      keep.push_back(*data);
      const EvBlockData& d = **data;
      std::vector<std::shared_ptr<const EvFrame>> frames;
      for (size_t f = 0; f < d.frames.size() && st.ok(); ++f) {
        auto fr = LoadFrame(*b, d, f);
        if (!fr.ok()) st = fr.status();
        else frames.push_back(*fr);
      }
      if (!st.ok()) break;
      keep_frames.insert(keep_frames.end(), frames.begin(), frames.end());
      // Tokens per doc: invert the block's postings.
      std::vector<std::vector<std::string_view>> toks(d.seqs.size());
      for (size_t ti = 0; ti < d.token_offsets.size(); ++ti) {
        std::string_view tok = d.Token(ti);
        for (uint32_t o : d.PostingsAt(ti)) toks[o].push_back(tok);
      }
      for (size_t i = 0; i < d.seqs.size(); ++i) {
        EvDocIn e;
        e.seq = d.seqs[i];
        e.time_us = d.times[i];
        frames[d.FrameOf(i)]->Doc(i, &e.id, &e.source);
        for (const auto& t : toks[i]) acc_post.Add(t, static_cast<uint32_t>(acc.size()));
        for (const auto& [f, vals] : b->summary.labels)
          if (vals.size() == 1) e.labels.push_back({f, vals[0]});
        // Labels with several values in a block: recover from the source.
        bool multi = false;
        for (const auto& [f, vals] : b->summary.labels) multi = multi || vals.size() > 1;
        if (multi || !b->summary.any_labels.empty()) {
          e.labels.clear();
          FlatDoc fd;
          if (FlattenJson(e.source, &fd))
            for (const auto& f : fd.fields)
              for (const auto& lf : s.settings.label_fields)
                if (lf == f.path) e.labels.push_back({lf, ValueToString(f.value)});
        }
        acc.push_back(std::move(e));
        if (acc.size() >= opts_.block_max_events) {
          st = emit_acc();
          if (!st.ok()) break;
        }
      }
      if (!st.ok()) break;
    }
    if (st.ok()) st = emit_acc();
    if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + tmp, errno);
    if (st.ok() && ::rename(tmp.c_str(), old->path.c_str()) != 0) st = Status::FromErrno("rename " + tmp, errno);
    if (st.ok()) st = SyncDir(s.dir);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
    auto v = std::make_shared<View>(*s.GetView());
    std::vector<BlockPtr> nb;
    for (const auto& b : v->blocks)
      if (b->seg.get() != seg) nb.push_back(b);
    nb.insert(nb.end(), out.begin(), out.end());
    std::sort(nb.begin(), nb.end(), [](const BlockPtr& a, const BlockPtr& b) { return a->h.first_seq < b->h.first_seq; });
    v->blocks = nb;
    s.SetView(v);
    for (auto& sg : s.segments)
      if (sg.get() == seg) sg = nseg;
    for (const auto& b : blocks) EraseCached(*b);
    log::Info("store: compacted segment", {{"index", s.name}, {"file", nseg->path}, {"blocks_before", blocks.size()}, {"blocks_after", out.size()}});
  }
  return Status::Ok();
}

// ----- reads

void EventStoreImpl::MarkDamaged(const BlockMeta& b, const Status& st) const {
  if (!b.damaged.exchange(true)) {
    damaged_.fetch_add(1);
    log::Error("store: damaged block skipped", {{"file", b.seg->path}, {"offset", b.offset}, {"error", st.ToString()}});
  }
}

Result<std::shared_ptr<const EvBlockData>> EventStoreImpl::LoadBlock(const BlockMeta& b) const {
  if (auto c = cache_.Get(b.uid, 0)) return std::static_pointer_cast<const EvBlockData>(c);
  if (b.damaged) return Status::Corruption("block at offset " + std::to_string(b.offset) + " of " + b.seg->path + " is damaged");
  std::string raw;
  // Header, summary and index only: the docs are read frame by frame (LoadFrame).
  Status st = ReadAt(b.seg->fd, b.offset, b.h.index_end(), &raw);
  if (!st.ok()) return st;
  auto d = std::make_shared<EvBlockData>();
  st = DecodeEvIndex(raw, b.h, d.get());
  if (!st.ok()) {
    MarkDamaged(b, st);
    return st;
  }
  cache_.Put(b.uid, 0, d, d->size_bytes());
  return std::shared_ptr<const EvBlockData>(d);
}

Result<std::shared_ptr<const EvFrame>> EventStoreImpl::LoadFrame(const BlockMeta& b, const EvBlockData& d, size_t f) const {
  const auto part = static_cast<uint32_t>(f + 1);
  if (auto c = cache_.Get(b.uid, part)) return std::static_pointer_cast<const EvFrame>(c);
  if (b.damaged) return Status::Corruption("block at offset " + std::to_string(b.offset) + " of " + b.seg->path + " is damaged");
  const EvFrameRef& ref = d.frames[f];
  std::string comp;
  Status st = ReadAt(b.seg->fd, b.offset + b.h.index_end() + ref.comp_off, ref.comp_len, &comp);
  if (!st.ok()) return st;
  auto fr = std::make_shared<EvFrame>();
  st = DecodeEvFrame(ref, d.frame_dict, comp, fr.get());
  if (!st.ok()) {
    MarkDamaged(b, st);
    return st;
  }
  cache_.Put(b.uid, part, fr, fr->size_bytes());
  return std::shared_ptr<const EvFrame>(fr);
}

Result<std::optional<std::string>> EventStoreImpl::Get(const std::string& stream, const std::string& id, int64_t* version, uint64_t* seq_no) const {
  auto s = Find(stream);
  if (!s) return Status::NotFound("no such index [" + stream + "]");
  std::unique_lock<std::mutex> wl(s->wmu);
  int64_t ver = 1;
  auto seq = const_cast<EventStoreImpl*>(this)->LookupSeq(*s, id, &ver);
  if (!seq) return std::optional<std::string>();
  if (version) *version = ver;
  if (seq_no) *seq_no = *seq;
  auto h = s->head_by_seq.find(*seq);
  if (h != s->head_by_seq.end()) return std::optional<std::string>(h->second->source);
  auto view = s->GetView();
  wl.unlock();
  for (const auto& b : view->blocks) {
    if (b->h.first_seq > *seq || b->h.last_seq < *seq) continue;
    auto d = LoadBlock(*b);
    if (!d.ok()) continue;
    for (size_t i = 0; i < (*d)->seqs.size(); ++i) {
      if ((*d)->seqs[i] != *seq) continue;
      auto fr = LoadFrame(*b, **d, (*d)->FrameOf(i));
      if (!fr.ok()) break;
      std::string_view did, src;
      (*fr)->Doc(i, &did, &src);
      return std::optional<std::string>(std::string(src));
    }
  }
  return std::optional<std::string>();
}

// Fields a query reads; false when it reads every field or ids.
bool QueryFields(const QueryPtr& q, std::set<std::string>* out) {
  if (!q) return true;
  switch (q->kind) {
    case Query::Kind::kMatchAll: case Query::Kind::kMatchNone: return true;
    case Query::Kind::kIds: return false;
    case Query::Kind::kBool:
      for (const auto* v : {&q->must, &q->filter, &q->should, &q->must_not})
        for (const auto& c : *v)
          if (!QueryFields(c, out)) return false;
      return true;
    default:
      if (q->field.empty() && q->fields.empty()) return false;
      if (q->field == "_id") return false;
      if (!q->field.empty()) out->insert(q->field);
      for (const auto& f : q->fields) out->insert(f);
      return true;
  }
}

bool AggFields(const std::vector<AggRequest>& aggs, std::set<std::string>* out) {
  for (const auto& a : aggs) {
    if (!a.field.empty()) out->insert(a.field);
    for (const auto& [n, q] : a.filters)
      if (!QueryFields(q, out)) return false;
    if (!AggFields(a.subs, out)) return false;
  }
  return true;
}

void EventStoreImpl::CollectBm25(const Stream& s, const View& view, const CompiledQuery& q, const std::vector<const BlockMeta*>& scanned,
                                 Bm25Stats* out) const {
  const Mapping& m = *view.mapping;
  const std::vector<std::string> tokens = q.scoring_tokens();
  const auto& dead = *view.dead;
  for (const auto& c : view.chunks)
    for (const auto& d : *c) {
      if (dead.count(d->seq) || d->time_us < q.min_time_us() || d->time_us > q.max_time_us()) continue;
      out->AddDoc(*d->flat, m, tokens);
    }
  for (const auto& b : view.blocks) {
    if (b->h.max_time_us < q.min_time_us() || b->h.min_time_us > q.max_time_us() || b->damaged) continue;
    out->docs += b->h.count;
    std::shared_ptr<const EvBlockData> d;
    for (const auto& t : tokens) {
      if (!b->summary.MayHaveToken(t)) continue;
      if (!d) {
        auto r = LoadBlock(*b);
        if (!r.ok()) break;
        d = *r;
      }
      out->df[t] += d->Postings(t).size();
    }
  }
  // avgdl from at most kBm25LengthBlocks of the blocks read, evenly spread over them (a sample of
  // up to 16 x block_max_events docs): bounds the one-time cost of analysing blocks.
  constexpr size_t kBm25LengthBlocks = 16;
  std::vector<const BlockMeta*> sample;
  for (size_t k = 0; k < std::min(scanned.size(), kBm25LengthBlocks); ++k)
    sample.push_back(scanned.size() <= kBm25LengthBlocks ? scanned[k] : scanned[k * scanned.size() / kBm25LengthBlocks]);
  for (const BlockMeta* b : sample) {
    std::shared_ptr<const FieldLengths> lens;
    {
      std::lock_guard<std::mutex> l(b->lengths_mu);
      lens = b->lengths;
    }
    if (!lens) {
      auto r = LoadBlock(*b);
      if (!r.ok()) continue;
      const EvBlockData& d = **r;
      auto fl = std::make_shared<FieldLengths>();
      FlatDoc flat;
      bool ok = true;
      for (size_t f = 0; f < d.frames.size() && ok; ++f) {
        auto fr = LoadFrame(*b, d, f);
        if (!fr.ok()) { ok = false; break; }
        const EvFrame& frame = **fr;
        for (size_t i = frame.first_doc; i < frame.first_doc + frame.offsets.size(); ++i) {
          std::string_view id, src;
          frame.Doc(i, &id, &src);
          if (FlattenJson(src, &flat)) fl->Add(flat, m);
        }
      }
      if (!ok) continue;  // a damaged frame: the query skips the block too
      lens = fl;
      std::lock_guard<std::mutex> l(b->lengths_mu);
      b->lengths = lens;
    }
    out->lengths.Merge(*lens);
  }
}

struct Candidate {
  std::vector<Value> sort;
  double score = 0;
  uint64_t seq = 0;
  std::string stream, id, source;
};

Result<SearchResult> EventStoreImpl::Search(const SearchRequest& req) const {
  SearchResult res;
  std::vector<std::pair<std::shared_ptr<Stream>, std::shared_ptr<const View>>> targets;
  for (const auto& n : req.streams) {
    auto s = Find(n);
    if (!s) return Status::NotFound("no such index [" + n + "]");
    targets.push_back({s, s->GetView()});
  }
  int64_t now = NowMs();
  const size_t want = req.from + req.size;
  const int64_t track = req.track_total_hits;
  std::unique_ptr<AggCollector> aggs;
  std::vector<Candidate> top;  // kept sorted best-first, at most `want`
  uint64_t total = 0;
  bool stopped_early = false;
  std::optional<double> max_score;

  for (auto& target : targets) {
    // Named references, not a structured binding: lambdas below capture them (clang 14).
    auto& s = target.first;
    auto& view = target.second;
    EvalContext ctx;
    ctx.mapping = view->mapping.get();
    ctx.time_field = s->settings.time_field;
    ctx.now_ms = now;
    auto cq = CompiledQuery::Compile(req.query, ctx);
    if (!cq.ok()) return cq.status();
    const CompiledQuery& q = **cq;
    // Sort keys.
    std::vector<SortKey> sort = req.sort;
    bool by_score = false;
    if (sort.empty()) {
      if (q.scoring()) sort = {{"_score", true}};
      else sort = {{s->settings.time_field, true}};
    }
    for (const auto& k : sort) {
      if (k.field == "_score") by_score = true;
      if (k.field == "_score" || k.field == "_doc" || k.field == s->settings.time_field || k.field == "_id") continue;
      auto t = FieldTypeOf(*view->mapping, k.field);
      if (t == FieldType::kText)
        return Status::InvalidArgument("illegal_argument_exception: Text fields are not optimised for operations that require per-document field data like sorting, so fielddata is disabled by default. Please use a keyword field instead. Alternatively, use [" + k.field + ".keyword]");
    }
    if (!req.search_after.empty() && req.search_after.size() != sort.size())
      return Status::InvalidArgument("search_after has " + std::to_string(req.search_after.size()) + " value(s) but sort has " + std::to_string(sort.size()));
    if (!req.aggs.empty() && !aggs) {
      auto a = AggCollector::Create(req.aggs, ctx);
      if (!a.ok()) return a.status();
      aggs = std::move(*a);
    }
    auto sort_values = [&](const FlatDoc& doc, int64_t time_us, double score, uint64_t seq, std::string_view id) {
      std::vector<Value> out;
      std::vector<const Value*> vals;
      for (const auto& k : sort) {
        if (k.field == "_score") { out.push_back(score); continue; }
        if (k.field == "_doc") { out.push_back(static_cast<int64_t>(seq)); continue; }
        if (k.field == "_id") { out.push_back(std::string(id)); continue; }
        if (k.field == s->settings.time_field) { out.push_back(time_us / 1000); continue; }
        FieldValues(doc, *view->mapping, k.field, &vals);
        auto t = FieldTypeOf(*view->mapping, k.field);
        Value best;
        for (const Value* v : vals) {
          if (std::holds_alternative<std::monostate>(*v)) continue;
          Value cv = *v;
          if (t == FieldType::kDate)
            if (auto* str = std::get_if<std::string>(v))
              if (auto ms = ParseDateMs(*str)) cv = *ms;
          if (std::holds_alternative<std::monostate>(best) || (k.desc ? CompareValues(cv, best) > 0 : CompareValues(cv, best) < 0)) best = cv;
        }
        out.push_back(best);
      }
      return out;
    };
    // a before b?
    auto better = [&](const std::vector<Value>& a, const std::vector<Value>& b) {
      for (size_t i = 0; i < sort.size(); ++i) {
        bool ma = std::holds_alternative<std::monostate>(a[i]), mb = std::holds_alternative<std::monostate>(b[i]);
        if (ma != mb) return mb;  // missing last
        int c = CompareValues(a[i], b[i]);
        if (c != 0) return sort[i].desc ? c > 0 : c < 0;
      }
      return false;
    };
    auto after_cursor = [&](const std::vector<Value>& sv) {
      if (req.search_after.empty()) return true;
      std::vector<Value> cur = req.search_after;
      // Coerce numeric strings for comparisons with numbers.
      for (size_t i = 0; i < cur.size(); ++i)
        if (auto* str = std::get_if<std::string>(&cur[i]); str && !std::holds_alternative<std::string>(sv[i]))
          if (auto d = ToDouble(cur[i])) cur[i] = *d;
      return better(cur, sv);
    };
    auto offer = [&](const FlatDoc* flat, std::string_view id, std::string_view src, int64_t time_us, uint64_t seq, double score) {
      if (want == 0) return;
      auto sv = sort_values(*flat, time_us, score, seq, id);
      if (!after_cursor(sv)) return;
      if (top.size() >= want && !better(sv, top.back().sort)) return;
      Candidate c{std::move(sv), score, seq, s->name, std::string(id), std::string(src)};
      auto pos = std::upper_bound(top.begin(), top.end(), c, [&](const Candidate& a, const Candidate& b) { return better(a.sort, b.sort); });
      top.insert(pos, std::move(c));
      if (top.size() > want) top.pop_back();
    };
    auto counted = [&](const FlatDoc& flat, std::string_view id, std::string_view src, int64_t t, uint64_t seq, double score) {
      ++total;
      if (by_score) max_score = std::max(max_score.value_or(score), score);
      if (aggs) aggs->Collect(flat, id, t);
      offer(&flat, id, src, t, seq, score);
    };
    // Column mode: no hits to return and every field read is the time field or a string label,
    // so blocks with label columns are evaluated without parsing sources.
    std::vector<std::string> col_labels;  // label base names needed
    bool column_mode = want == 0;
    if (column_mode) {
      std::set<std::string> fields;
      column_mode = QueryFields(req.query, &fields) && AggFields(req.aggs, &fields);
      for (const auto& f : fields) {
        if (!column_mode) break;
        if (f == s->settings.time_field) continue;
        std::string base = f;
        if (base.size() > 8 && base.compare(base.size() - 8, 8, ".keyword") == 0) base.resize(base.size() - 8);
        bool is_label = std::find(s->settings.label_fields.begin(), s->settings.label_fields.end(), base) != s->settings.label_fields.end();
        auto t = FieldTypeOf(*view->mapping, base);
        if (!is_label || !(t == FieldType::kText || t == FieldType::kKeyword)) { column_mode = false; break; }
        if (std::find(col_labels.begin(), col_labels.end(), base) == col_labels.end()) col_labels.push_back(base);
      }
    }
    const auto& ids = q.required_ids();
    // The seqs the required ids name (explicit ids through the id table, auto ids decoded):
    // blocks holding none of them are skipped. The view is re-read under the writer lock so that
    // it and the id table agree; an id whose latest write is not visible yet disables this.
    std::vector<uint64_t> id_seqs;
    bool id_seqs_ok = false;
    std::unordered_set<std::string_view> id_set;
    std::shared_ptr<const View> compiled_view = view;  // ctx.mapping points into it
    if (ids) {
      id_set.insert(ids->begin(), ids->end());
      std::lock_guard<std::mutex> wl(s->wmu);
      view = s->GetView();
      uint64_t visible_below = s->pending.empty() ? UINT64_MAX : s->pending.front()->seq;
      id_seqs_ok = true;
      for (const auto& id : *ids) {
        auto it = s->ids.find(id);
        if (it != s->ids.end()) {
          if (it->second.seq >= visible_below) id_seqs_ok = false;
          id_seqs.push_back(it->second.seq);
        }
        if (auto sq = DecodeAutoId(id, s->salt)) id_seqs.push_back(*sq);
      }
      std::sort(id_seqs.begin(), id_seqs.end());
    }
    const auto& dead = *view->dead;
    const bool need_all = aggs != nullptr || track < 0;
    // Can the rest of a block be skipped? Sorting by time only, enough hits, enough counted.
    bool time_sorted = sort.size() >= 1 && sort[0].field == s->settings.time_field;
    const bool doc_sorted = sort.size() >= 1 && sort[0].field == "_doc";
    auto can_skip = [&](int64_t block_max_us, int64_t block_min_us) {
      if (need_all || !time_sorted) return false;
      if (track > 0 && total < static_cast<uint64_t>(track)) return false;
      if (top.size() < want) return want == 0;
      int64_t worst = std::get<int64_t>(top.back().sort[0]) * 1000;
      return sort[0].desc ? block_max_us < worst : block_min_us > worst + 999;
    };

    // BM25 collection statistics when the hits are ranked by _score. The blocks the main loop
    // reads are the ones its time, label and token pruning keeps.
    Bm25Stats bm25;
    if (by_score && q.scoring() && want > 0) {
      std::vector<const BlockMeta*> scanned;
      for (const auto& b : view->blocks) {
        if (b->h.max_time_us < q.min_time_us() || b->h.min_time_us > q.max_time_us() || b->damaged) continue;
        bool label_ok = true;
        for (const auto& lc : q.label_constraints())
          if (std::find(s->settings.label_fields.begin(), s->settings.label_fields.end(), lc.first) != s->settings.label_fields.end() &&
              !b->summary.MayHaveLabel(lc.first, lc.second)) label_ok = false;
        const BlockMeta* bp = b.get();
        if (label_ok && q.MayMatchTokens([bp](std::string_view t) { return (!t.empty() && t[0] == '\x02') || bp->summary.MayHaveToken(t); }))
          scanned.push_back(bp);
      }
      CollectBm25(*s, *view, q, scanned, &bm25);
      (*cq)->set_bm25(&bm25);
    }

    // 1) the head (newest)
    FlatDoc tmp;
    for (auto it = view->chunks.rbegin(); it != view->chunks.rend(); ++it) {
      for (auto dt = (*it)->rbegin(); dt != (*it)->rend(); ++dt) {
        const HeadDoc& d = **dt;
        if (dead.count(d.seq)) continue;
        if (d.time_us < q.min_time_us() || d.time_us > q.max_time_us()) continue;
        if (ids && !id_set.count(d.id)) continue;
        double score = 0;
        if (!q.Matches(*d.flat, d.id, d.time_us, &score)) continue;
        counted(*d.flat, d.id, d.source, d.time_us, d.seq, score);
      }
    }
    // 2) blocks, newest first by max time when sorting by time
    std::vector<const BlockMeta*> order;
    for (const auto& b : view->blocks) order.push_back(b.get());
    if (time_sorted && sort[0].desc) std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->h.max_time_us > b->h.max_time_us; });
    else if (time_sorted) std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->h.min_time_us < b->h.min_time_us; });
    else if (doc_sorted && sort[0].desc) std::reverse(order.begin(), order.end());
    // Paging (search_after) in time or _doc order: a block wholly before the cursor holds no hit
    // of this page, and once the top is full a block wholly after its last hit holds none either;
    // both are skipped (once the hits counted reach track_total_hits, which makes the total a
    // lower bound), so that each page starts where the previous one ended.
    std::optional<double> cursor;
    if (!req.search_after.empty() && (time_sorted || doc_sorted)) cursor = ToDouble(req.search_after[0]);
    auto page_skip = [&](const BlockMeta* b) {
      if (need_all || !(time_sorted || doc_sorted)) return false;
      if (track < 0 || (track > 0 && total < static_cast<uint64_t>(track))) return false;
      // The block's span in the sort's first key: ms for time, seq for _doc.
      double lo = time_sorted ? std::floor(b->h.min_time_us / 1000.0) : static_cast<double>(b->h.first_seq);
      double hi = time_sorted ? std::floor(b->h.max_time_us / 1000.0) : static_cast<double>(b->h.last_seq);
      bool desc = sort[0].desc;
      if (cursor && (desc ? lo > *cursor : hi < *cursor)) return true;
      if (doc_sorted && want > 0 && top.size() >= want) {
        double worst = static_cast<double>(std::get<int64_t>(top.back().sort[0]));
        return desc ? hi < worst : lo > worst;
      }
      return false;
    };
    std::unordered_map<std::string, std::vector<uint32_t>, TokenHash, TokenEq> post_cache;
    // The tokens the formula asks for when no token is present. If it is then false, every
    // matching doc has one of them (the evaluation is deterministic: a doc with none of them
    // takes the same path to false), so only the union of their postings is looked at.
    std::vector<std::string> probe_tokens;
    const bool probe_all = q.MayMatchTokens([&](std::string_view t) {
      probe_tokens.emplace_back(t);
      return false;
    });
    for (const BlockMeta* b : order) {
      if (b->h.max_time_us < q.min_time_us() || b->h.min_time_us > q.max_time_us()) { ++res.blocks_pruned; continue; }
      bool label_ok = true;
      for (const auto& [f, vals] : q.label_constraints())
        if (std::find(s->settings.label_fields.begin(), s->settings.label_fields.end(), f) != s->settings.label_fields.end() &&
            !b->summary.MayHaveLabel(f, vals)) label_ok = false;
      if (!label_ok || !q.MayMatchTokens([&](std::string_view t) { return (!t.empty() && t[0] == '\x02') || b->summary.MayHaveToken(t); })) {
        ++res.blocks_pruned;
        continue;
      }
      if (ids && id_seqs_ok) {
        auto sq = std::lower_bound(id_seqs.begin(), id_seqs.end(), b->h.first_seq);
        if (sq == id_seqs.end() || *sq > b->h.last_seq) { ++res.blocks_pruned; continue; }
      }
      if (can_skip(b->h.max_time_us, b->h.min_time_us) || page_skip(b)) { ++res.blocks_pruned; stopped_early = true; continue; }
      if (b->damaged) { ++res.blocks_damaged; continue; }
      auto data = LoadBlock(*b);
      if (!data.ok()) { ++res.blocks_damaged; continue; }
      ++res.blocks_scanned;
      const EvBlockData& d = **data;
      post_cache.clear();
      auto pattern_docs = [&](std::string_view t) {
        // Docs with a token matching the pattern: one scan of the block's token dictionary.
        size_t pi = std::stoul(std::string(t.substr(1)));
        std::vector<size_t> toks;
        q.token_patterns()[pi]->MatchLines(d.dict, [&](uint64_t end) {
          auto it = std::lower_bound(d.dict_ends.begin(), d.dict_ends.end(), end);
          if (it != d.dict_ends.end()) toks.push_back(static_cast<size_t>(it - d.dict_ends.begin()));
        });
        std::sort(toks.begin(), toks.end());
        toks.erase(std::unique(toks.begin(), toks.end()), toks.end());
        std::vector<uint32_t> docs;
        for (size_t ti : toks) {
          auto p = d.PostingsAt(ti);
          docs.insert(docs.end(), p.begin(), p.end());
        }
        std::sort(docs.begin(), docs.end());
        docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
        return docs;
      };
      auto lookup = [&](std::string_view t) -> const std::vector<uint32_t>& {
        auto it = post_cache.find(t);
        if (it == post_cache.end())
          it = post_cache.emplace(std::string(t), (!t.empty() && t[0] == '\x02') ? pattern_docs(t) : d.Postings(t)).first;
        return it->second;
      };
      auto doc_has = [&](uint32_t doc) {
        return [&, doc](std::string_view t) {
          const auto& v = lookup(t);
          return std::binary_search(v.begin(), v.end(), doc);
        };
      };
      std::vector<const EvBlockData::LabelColumn*> cols;
      if (column_mode) {
        for (const auto& l : col_labels) {
          const EvBlockData::LabelColumn* c = nullptr;
          for (const auto& lc : d.label_cols)
            if (lc.field == l) c = &lc;
          if (!c) break;
          cols.push_back(c);
        }
      }
      if (column_mode && cols.size() == col_labels.size()) {
        FlatDoc cd;
        cd.ok = true;
        for (size_t i = 0; i < d.seqs.size(); ++i) {
          uint64_t seq = d.seqs[i];
          int64_t t = d.times[i];
          if (t < q.min_time_us() || t > q.max_time_us()) continue;
          if (dead.count(seq)) continue;
          // Reuses cd's strings from the previous doc (no allocation per doc).
          size_t nf = 0;
          for (const auto* c : cols) {
            uint16_t code = c->codes[i];
            if (!code) continue;
            if (nf == cd.fields.size()) cd.fields.emplace_back();
            FlatField& ff = cd.fields[nf++];
            if (ff.path != c->field) ff.path = c->field;
            if (auto* sv = std::get_if<std::string>(&ff.value)) sv->assign(c->values[code - 1]);
            else ff.value = c->values[code - 1];
          }
          cd.fields.resize(nf);
          double score = 0;
          if (!q.Matches(cd, "", t, &score)) continue;
          counted(cd, "", "", t, seq, score);
        }
        continue;
      }
      std::vector<uint32_t> cand;
      if (!probe_all) {
        for (const auto& t : probe_tokens) {
          const auto& v = lookup(t);
          cand.insert(cand.end(), v.begin(), v.end());
        }
        std::sort(cand.begin(), cand.end());
        cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
      }
      // First the docs that pass the cheap filters, then every frame they need (a damaged frame
      // skips the whole block before any of its docs is counted), then the docs.
      std::vector<uint32_t> sel;
      const size_t ncand = probe_all ? d.seqs.size() : cand.size();
      for (size_t k = 0; k < ncand; ++k) {
        const uint32_t i = probe_all ? static_cast<uint32_t>(k) : cand[k];
        if (i >= d.seqs.size()) break;
        int64_t t = d.times[i];
        if (t < q.min_time_us() || t > q.max_time_us()) continue;
        if (dead.count(d.seqs[i])) continue;
        if (!q.MayMatchTokens(doc_has(i))) continue;
        sel.push_back(i);
      }
      std::vector<std::shared_ptr<const EvFrame>> frames(d.frames.size());
      bool frames_ok = true;
      for (uint32_t i : sel) {
        size_t f = d.FrameOf(i);
        if (frames[f]) continue;
        auto fr = LoadFrame(*b, d, f);
        if (!fr.ok()) { frames_ok = false; break; }
        frames[f] = std::move(*fr);
      }
      if (!frames_ok) {
        --res.blocks_scanned;
        ++res.blocks_damaged;
        continue;
      }
      for (uint32_t i : sel) {
        uint64_t seq = d.seqs[i];
        int64_t t = d.times[i];
        std::string_view id, src;
        frames[d.FrameOf(i)]->Doc(i, &id, &src);
        std::string auto_id;
        if (id.empty()) {
          auto_id = AutoId(seq, s->salt);
          id = auto_id;
        }
        if (ids && !id_set.count(id)) continue;
        if (q.has_raw_filter() && !q.MayMatchRaw(src)) continue;
        if (!FlattenJson(src, &tmp)) continue;
        double score = 0;
        if (!q.Matches(tmp, id, t, &score)) continue;
        counted(tmp, id, src, t, seq, score);
      }
    }
  }
  blocks_scanned_.fetch_add(res.blocks_scanned);
  blocks_pruned_.fetch_add(res.blocks_pruned);
  if (track == 0) {
    res.total = total;
    res.total_is_lower_bound = true;
  } else if (track > 0 && (total > static_cast<uint64_t>(track) || (stopped_early && total >= static_cast<uint64_t>(track)))) {
    res.total = static_cast<uint64_t>(track);
    res.total_is_lower_bound = true;
  } else {
    res.total = total;
  }
  res.max_score = want == 0 ? std::nullopt : max_score;  // no hits asked for: no scores (as ES)
  for (size_t i = req.from; i < top.size(); ++i) {
    SearchHit h;
    h.stream = top[i].stream;
    h.id = top[i].id;
    h.score = top[i].score;
    h.source_json = ApplySourceFilter(top[i].source, req.source);
    h.sort_values = top[i].sort;
    res.hits.push_back(std::move(h));
  }
  if (aggs) res.aggregations_json = aggs->Render();
  else if (!req.aggs.empty()) res.aggregations_json = "{}";
  return res;
}

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::Open(const EventStoreOptions& opts) { return OpenImpl(opts); }

}  // namespace hakone::store
