#include "core/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "core/crc32c.h"
#include "core/log.h"
#include "core/metrics.h"

namespace hakone {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kSegMagic[8] = {'H', 'K', 'S', 'P', 'O', 'O', 'L', 0x01};
constexpr char kPosMagic[8] = {'H', 'K', 'S', 'P', 'P', 'O', 'S', '1'};
constexpr size_t kPosBytes = 20;
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();
constexpr size_t kReadChunk = 256 << 10;
constexpr size_t kChunkReserve = 64 << 10;
constexpr size_t kMaxSpareCapacity = 8 << 20;
constexpr size_t kMaxSpares = 4;

void PutU32(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
void PutU64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// crc = CRC-32C(payload || le64(seq) || le32(len)): the payload part can be computed before the
// seq is known, outside the append lock.
uint32_t RecordCrc(uint32_t payload_crc, uint64_t seq, uint32_t len) {
  char tail[12];
  PutU64(tail, seq);
  PutU32(tail + 8, len);
  return crc32c::Extend(payload_crc, tail, sizeof tail);
}

void EncodeRecordHeader(uint32_t payload_crc, uint64_t seq, uint32_t len, char* out) {
  PutU32(out, len);
  PutU32(out + 4, RecordCrc(payload_crc, seq, len));
  PutU64(out + 8, seq);
}

std::string SegmentName(uint64_t first_seq) {
  char b[40];
  std::snprintf(b, sizeof b, "seg-%020llu.log", static_cast<unsigned long long>(first_seq));
  return b;
}

bool ParseSegmentName(std::string_view name, uint64_t* first_seq) {
  if (name.size() != 28 || name.substr(0, 4) != "seg-" || name.substr(24) != ".log") return false;
  uint64_t v = 0;
  for (char c : name.substr(4, 20)) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  *first_seq = v;
  return true;
}

bool ValidConsumerName(std::string_view n) {
  if (n.empty() || n.size() > 64 || n == "." || n == "..") return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (p.empty() || p.back() != '/') p += '/';
  p += name;
  return p;
}

Status WriteAll(int fd, const char* p, size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + what, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Reads the whole file (it may grow while being read: reads until EOF). ENOENT -> NotFound.
Status ReadWholeFile(const std::string& path, std::string* out) {
  out->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::FromErrno("open " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out->reserve(static_cast<size_t>(st.st_size));
  char buf[64 << 10];
  while (true) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::FromErrno("read " + path, e);
    }
    if (r == 0) break;
    out->append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return Status::Ok();
}

Status PreadFull(int fd, char* p, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + what, errno);
    }
    if (r == 0) return Status::IOError("read " + what + ": file shorter than expected");
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

// Lists the segment files of dir, sorted by first seq. NotFound when dir does not exist.
Status ListSegments(const std::string& dir, std::vector<uint64_t>* segs, std::vector<std::string>* others) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return Status::NotFound("spool dir " + dir + ": no such directory");
    return Status::FromErrno("opendir " + dir, errno);
  }
  while (dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    uint64_t first;
    if (ParseSegmentName(n, &first)) {
      segs->push_back(first);
    } else if (others != nullptr && n != "." && n != "..") {
      others->emplace_back(n);
    }
  }
  ::closedir(d);
  std::sort(segs->begin(), segs->end());
  return Status::Ok();
}

struct SpoolMetrics {
  metrics::Counter* appended;
  metrics::Gauge* bytes;
  metrics::Counter* dropped;
  metrics::Histogram* fsync_seconds;
  metrics::Counter* full_waits;
  metrics::Counter* corrupt;

  static SpoolMetrics For(const std::string& name) {
    auto& r = metrics::Registry::Global();
    SpoolMetrics m{};
    m.appended = r.AddCounter("hakone_spool_appended_total", "Records appended to the spool.", {"spool"})
                     ->WithLabels({name});
    m.bytes = r.AddGauge("hakone_spool_bytes", "Bytes retained by the spool (on disk and not yet written).",
                         {"spool"})
                  ->WithLabels({name});
    m.dropped = r.AddCounter("hakone_spool_dropped_total",
                             "Records deleted unconsumed because the spool was full (on_full = drop_oldest).",
                             {"spool"})
                    ->WithLabels({name});
    m.fsync_seconds = r.AddHistogram("hakone_spool_fsync_seconds", "Time of one spool fdatasync.", {"spool"})
                          ->WithLabels({name});
    m.full_waits = r.AddCounter("hakone_spool_full_waits_total",
                                "Appends that found the spool full and had to wait.", {"spool"})
                       ->WithLabels({name});
    m.corrupt = r.AddCounter("hakone_spool_corrupt_records_total",
                             "Corrupt records (bad checksum or framing) found in the spool.", {"spool"})
                    ->WithLabels({name});
    return m;
  }
};

// Finds the next valid record after a bad one at `bad` (resynchronisation probe). A candidate must
// carry a plausible seq (above `last_seq`, and at most one per 16 bytes skipped) and a good crc,
// so random or zeroed bytes are rejected cheaply. Returns its offset or 0.
size_t FindValidRecordAfter(std::string_view b, size_t bad, uint64_t last_seq) {
  for (size_t p = bad + 1; p + kSpoolRecordHeaderBytes <= b.size(); p++) {
    uint64_t seq = GetU64(b.data() + p + 8);
    uint64_t max_plausible = last_seq + 1 + (p - bad) / kSpoolRecordHeaderBytes;
    if (seq <= last_seq || seq > max_plausible) continue;
    uint32_t len = GetU32(b.data() + p);
    if (len > kSpoolMaxPayloadBytes || len > b.size() - p - kSpoolRecordHeaderBytes) continue;
    uint32_t crc = GetU32(b.data() + p + 4);
    uint32_t want = RecordCrc(crc32c::Value(b.data() + p + kSpoolRecordHeaderBytes, len), seq, len);
    if (crc == want) return p;
  }
  return 0;
}

}  // namespace

void EncodeSegmentHeader(uint64_t first_seq, std::string* out) {
  char h[kSpoolSegmentHeaderBytes];
  std::memcpy(h, kSegMagic, 8);
  PutU64(h + 8, first_seq);
  out->append(h, sizeof h);
}

void EncodeSpoolRecord(uint64_t seq, std::string_view payload, std::string* out) {
  char h[kSpoolRecordHeaderBytes];
  EncodeRecordHeader(crc32c::Value(payload), seq, static_cast<uint32_t>(payload.size()), h);
  out->append(h, sizeof h);
  out->append(payload);
}

Status DecodeSegment(std::string_view b, uint64_t expected_first_seq,
                     const std::function<bool(const SpoolRecordView&)>& fn, SegmentDecodeResult* out) {
  using End = SegmentDecodeResult::End;
  *out = SegmentDecodeResult{};
  if (b.size() < kSpoolSegmentHeaderBytes) {
    out->end = End::kTornTail;
    out->reason = "incomplete segment header (" + std::to_string(b.size()) + " bytes)";
    return Status::Ok();
  }
  auto corrupt_header = [&](std::string reason) {
    out->end = End::kCorrupt;
    out->reason = std::move(reason);
    return Status::Corruption("spool segment: " + out->reason);
  };
  if (std::memcmp(b.data(), kSegMagic, 7) != 0) return corrupt_header("bad segment magic");
  if (b[7] != kSegMagic[7]) {
    return corrupt_header("unsupported segment format version " + std::to_string(static_cast<unsigned char>(b[7])));
  }
  uint64_t first = GetU64(b.data() + 8);
  if (first == 0 || first == kNoLimit) return corrupt_header("bad first seq 0 in segment header");
  if (expected_first_seq != 0 && first != expected_first_seq) {
    return corrupt_header("header says first seq " + std::to_string(first) + ", file name says " +
                          std::to_string(expected_first_seq));
  }
  out->header_ok = true;
  out->first_seq = first;
  out->last_seq = first - 1;
  out->valid_bytes = kSpoolSegmentHeaderBytes;

  size_t off = kSpoolSegmentHeaderBytes;
  uint64_t next = first;
  while (off < b.size()) {
    const char* bad = nullptr;
    size_t rest = b.size() - off;
    uint32_t len = 0;
    uint64_t seq = 0;
    if (rest < kSpoolRecordHeaderBytes) {
      bad = "incomplete record header";
    } else {
      len = GetU32(b.data() + off);
      uint32_t crc = GetU32(b.data() + off + 4);
      seq = GetU64(b.data() + off + 8);
      if (len > kSpoolMaxPayloadBytes) {
        bad = "record length too large";
      } else if (len > rest - kSpoolRecordHeaderBytes) {
        bad = "incomplete record";
      } else if (crc != RecordCrc(crc32c::Value(b.data() + off + kSpoolRecordHeaderBytes, len), seq, len)) {
        bad = "checksum mismatch";
      } else if (seq != next) {
        bad = "unexpected seq";
      }
    }
    if (bad != nullptr) {
      out->bad_offset = off;
      out->reason = std::string(bad) + " at offset " + std::to_string(off);
      if (seq != 0 && std::string_view(bad) == "unexpected seq") {
        out->reason += " (seq " + std::to_string(seq) + ", expected " + std::to_string(next) + ")";
      }
      size_t p = FindValidRecordAfter(b, off, next - 1);
      if (p == 0) {
        out->end = End::kTornTail;
        return Status::Ok();
      }
      // Real corruption: valid records follow. Walk them to learn the highest seq in use.
      out->end = End::kCorrupt;
      out->reason += "; valid records resume at offset " + std::to_string(p);
      uint64_t prev = next - 1;
      while (p + kSpoolRecordHeaderBytes <= b.size()) {
        uint32_t l = GetU32(b.data() + p);
        uint64_t s = GetU64(b.data() + p + 8);
        if (l > kSpoolMaxPayloadBytes || l > b.size() - p - kSpoolRecordHeaderBytes || s <= prev) break;
        if (GetU32(b.data() + p + 4) != RecordCrc(crc32c::Value(b.data() + p + kSpoolRecordHeaderBytes, l), s, l)) break;
        out->max_seq_after = s;
        prev = s;
        p += kSpoolRecordHeaderBytes + l;
      }
      return Status::Corruption("spool segment " + std::to_string(first) + ": " + out->reason);
    }
    size_t end = off + kSpoolRecordHeaderBytes + len;
    out->records++;
    out->last_seq = seq;
    out->valid_bytes = end;
    out->bad_offset = end;
    next = seq + 1;
    if (fn && !fn(SpoolRecordView{seq, b.substr(off + kSpoolRecordHeaderBytes, len)})) return Status::Ok();
    off = end;
  }
  out->bad_offset = off;
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// SpoolCore: the state shared by the Spool, its flusher thread and its readers.

struct SpoolCore {
  struct Seg {
    uint64_t first_seq;
    uint64_t bytes;          // logical size (written or pending)
    uint64_t durable_bytes;  // readers may read [header, min(durable_bytes, limit))
    uint64_t limit;          // kNoLimit, or where corruption starts (the rest is skipped)
  };
  struct Chunk {
    uint64_t seg_first = 0;
    bool new_segment = false;  // the flusher creates the file (data starts with its header)
    uint64_t last_seq = 0;     // last seq whose record is in data (seg_first - 1 if none)
    std::string data;
  };
  struct Waiter {
    uint64_t seq;
    std::function<void(Status)> cb;
  };
  struct Consumer {
    uint64_t committed = 0;
    bool reader_open = false;
  };

  SpoolOptions opts;
  uint64_t seg_bytes = 0;        // effective segment size
  uint64_t flush_threshold = 0;  // pending bytes that trigger a flush before flush_interval
  SpoolMetrics m{};
  int dir_fd = -1;
  int lock_fd = -1;

  mutable std::mutex mu;
  std::condition_variable flush_cv;    // wakes the flusher
  std::condition_variable durable_cv;  // Sync(), readers
  std::condition_variable space_cv;    // appenders waiting for room
  // --- guarded by mu ---
  std::deque<Seg> segs;
  uint64_t next_seq = 1;
  uint64_t durable_seq = 0;
  uint64_t urgent_seq = 0;  // flush now while durable_seq < urgent_seq
  uint64_t total_bytes = 0;
  uint64_t pending_bytes = 0;
  Clock::time_point first_pending{};
  std::vector<Chunk> pending;
  std::vector<std::string> spare;
  std::deque<Waiter> waiters;  // sorted by seq, FIFO among equal seqs
  std::map<std::string, Consumer> consumers;
  Status failed;
  bool stop = false;
  bool flusher_exited = false;
  bool closed = false;  // lock released; readers and commits get Unavailable
  // --- flusher thread only ---
  int active_fd = -1;
  std::thread flusher;
  // Serialises consumer position files against each other and against close.
  std::mutex meta_mu;

  ~SpoolCore() {
    if (active_fd >= 0) ::close(active_fd);
    if (lock_fd >= 0) ::close(lock_fd);
    if (dir_fd >= 0) ::close(dir_fd);
  }

  std::string SegPath(uint64_t first) const { return JoinPath(opts.dir, SegmentName(first)); }
  std::string PosPath(const std::string& consumer) const {
    return JoinPath(opts.dir, "consumer-" + consumer + ".pos");
  }

  Status FsyncDir() {
    if (!opts.fsync) return Status::Ok();
    if (::fsync(dir_fd) != 0) return Status::FromErrno("fsync " + opts.dir, errno);
    return Status::Ok();
  }
  Status DataSync(int fd, const std::string& what) {
    if (!opts.fsync) return Status::Ok();
    auto t0 = Clock::now();
    int rc;
    do {
      rc = ::fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    m.fsync_seconds->Observe(std::chrono::duration<double>(Clock::now() - t0).count());
    if (rc != 0) return Status::FromErrno("fdatasync " + what, errno);
    return Status::Ok();
  }

  // Seg index holding `seq` (last seg with first_seq <= seq), or -1. REQUIRES mu.
  int FindSegLocked(uint64_t seq) const {
    auto it = std::upper_bound(segs.begin(), segs.end(), seq,
                               [](uint64_t s, const Seg& g) { return s < g.first_seq; });
    if (it == segs.begin()) return -1;
    return static_cast<int>(it - segs.begin()) - 1;
  }

  uint64_t MinCommittedLocked() const {
    uint64_t mn = kNoLimit;
    for (auto& [n, c] : consumers) mn = std::min(mn, c.committed);
    return mn;
  }

  // Removes the sealed segments every consumer has committed past; returns their paths to unlink.
  std::vector<std::string> TakeDeletableLocked() {
    std::vector<std::string> paths;
    if (consumers.empty()) return paths;
    uint64_t mn = std::min(MinCommittedLocked(), durable_seq);
    while (segs.size() >= 2 && segs[1].first_seq - 1 <= mn) {
      paths.push_back(SegPath(segs.front().first_seq));
      total_bytes -= segs.front().bytes;
      segs.pop_front();
    }
    if (!paths.empty()) {
      m.bytes->Set(static_cast<double>(total_bytes));
      space_cv.notify_all();
    }
    return paths;
  }

  static void UnlinkAll(const std::vector<std::string>& paths) {
    for (auto& p : paths) {
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
        log::Warn("spool: cannot delete segment", {{"path", p}, {"error", std::strerror(errno)}});
      }
    }
  }

  // kDropOldest: deletes the oldest sealed, fully durable segment. REQUIRES mu.
  bool DropOldestLocked() {
    if (segs.size() < 2) return false;
    uint64_t first = segs.front().first_seq;
    uint64_t last = segs[1].first_seq - 1;
    if (last > durable_seq) return false;
    uint64_t consumed = consumers.empty() ? first - 1 : std::max(first - 1, MinCommittedLocked());
    uint64_t dropped = last > consumed ? last - consumed : 0;
    std::string path = SegPath(first);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      log::Warn("spool: cannot delete segment", {{"path", path}, {"error", std::strerror(errno)}});
    }
    total_bytes -= segs.front().bytes;
    segs.pop_front();
    m.dropped->Inc(dropped);
    m.bytes->Set(static_cast<double>(total_bytes));
    log::Warn("spool: full, dropped the oldest segment",
              {{"spool", opts.name}, {"first_seq", first}, {"last_seq", last}, {"dropped_records", dropped}});
    return true;
  }

  std::string TakeBufferLocked() {
    if (!spare.empty()) {
      std::string s = std::move(spare.back());
      spare.pop_back();
      return s;
    }
    std::string s;
    s.reserve(kChunkReserve);
    return s;
  }

  // Starts segment `first` for the records that follow. REQUIRES mu.
  void StartSegmentLocked(uint64_t first) {
    segs.push_back(Seg{first, kSpoolSegmentHeaderBytes, 0, kNoLimit});
    Chunk c;
    c.seg_first = first;
    c.new_segment = true;
    c.last_seq = first - 1;
    c.data = TakeBufferLocked();
    EncodeSegmentHeader(first, &c.data);
    pending.push_back(std::move(c));
    total_bytes += kSpoolSegmentHeaderBytes;
    pending_bytes += kSpoolSegmentHeaderBytes;
  }

  Chunk& ActiveChunkLocked() {
    uint64_t seg = segs.back().first_seq;
    if (pending.empty() || pending.back().seg_first != seg) {
      Chunk c;
      c.seg_first = seg;
      c.last_seq = next_seq - 1;
      c.data = TakeBufferLocked();
      pending.push_back(std::move(c));
    }
    return pending.back();
  }

  // Waits until `need` more bytes fit. REQUIRES mu (held by lk).
  Status WaitForRoomLocked(std::unique_lock<std::mutex>& lk, uint64_t need) {
    Clock::time_point deadline{};
    bool counted = false;
    while (true) {
      if (!failed.ok()) return failed;
      if (stop) return Status::Unavailable("spool " + opts.name + " is closed");
      bool space_ok = total_bytes + need <= opts.max_bytes;
      bool pending_ok = pending_bytes == 0 || pending_bytes + need <= opts.max_pending_bytes;
      if (space_ok && pending_ok) return Status::Ok();
      if (!space_ok && opts.on_full == SpoolOptions::OnFull::kDropOldest && DropOldestLocked()) continue;
      if (deadline == Clock::time_point{}) deadline = Clock::now() + opts.block_timeout;
      if (!space_ok && !counted) {
        m.full_waits->Inc();
        counted = true;
      }
      if (!pending_ok || opts.on_full == SpoolOptions::OnFull::kDropOldest) {
        // Room comes from the flusher: ask it to write now.
        urgent_seq = std::max(urgent_seq, next_seq - 1);
        flush_cv.notify_one();
      }
      if (Clock::now() >= deadline) {
        if (!space_ok) {
          return Status::ResourceExhausted("spool " + opts.name + " is full: " + std::to_string(total_bytes) +
                                           " bytes retained, max_bytes " + std::to_string(opts.max_bytes) +
                                           " (consumers have not committed)");
        }
        return Status::ResourceExhausted("spool " + opts.name + ": writes are not keeping up (" +
                                         std::to_string(pending_bytes) + " bytes waiting for the disk)");
      }
      space_cv.wait_until(lk, deadline);
    }
  }

  Result<uint64_t> AppendImpl(const std::string_view* payloads, size_t n) {
    if (n == 0) return Status::InvalidArgument("spool " + opts.name + ": empty batch");
    uint32_t one_crc;
    thread_local std::vector<uint32_t> batch_crcs;
    uint32_t* crcs = &one_crc;
    if (n > 1) {
      batch_crcs.resize(n);
      crcs = batch_crcs.data();
    }
    uint64_t need = 0;
    for (size_t i = 0; i < n; i++) {
      if (payloads[i].size() > kSpoolMaxPayloadBytes) {
        return Status::InvalidArgument("spool " + opts.name + ": record of " + std::to_string(payloads[i].size()) +
                                       " bytes exceeds the limit of " + std::to_string(kSpoolMaxPayloadBytes));
      }
      crcs[i] = crc32c::Value(payloads[i]);
      need += kSpoolRecordHeaderBytes + payloads[i].size();
    }
    // Worst case the batch also starts new segments; keep it within half the bound so that it
    // always fits once consumers have caught up.
    uint64_t need_with_headers = need + kSpoolSegmentHeaderBytes * (1 + need / seg_bytes + 1);
    if (need_with_headers > opts.max_bytes / 2) {
      return Status::InvalidArgument("spool " + opts.name + ": " + std::to_string(need) +
                                     " bytes in one append is more than half of max_bytes (" +
                                     std::to_string(opts.max_bytes) + ")");
    }
    std::unique_lock lk(mu);
    HAKONE_RETURN_IF_ERROR(WaitForRoomLocked(lk, need_with_headers));
    bool was_empty = pending.empty();
    uint64_t pending_before = pending_bytes;
    for (size_t i = 0; i < n; i++) {
      uint64_t rec = kSpoolRecordHeaderBytes + payloads[i].size();
      Seg* cur = &segs.back();
      if (cur->bytes > kSpoolSegmentHeaderBytes && cur->bytes + rec > seg_bytes) {
        StartSegmentLocked(next_seq);
        cur = &segs.back();
      }
      Chunk& c = ActiveChunkLocked();
      char h[kSpoolRecordHeaderBytes];
      EncodeRecordHeader(crcs[i], next_seq, static_cast<uint32_t>(payloads[i].size()), h);
      c.data.append(h, sizeof h);
      c.data.append(payloads[i]);
      c.last_seq = next_seq;
      cur->bytes += rec;
      total_bytes += rec;
      pending_bytes += rec;
      next_seq++;
      // Roll as soon as a segment is full, so that it can be deleted once consumed.
      if (cur->bytes >= seg_bytes) StartSegmentLocked(next_seq);
    }
    uint64_t last = next_seq - 1;
    m.appended->Inc(n);
    m.bytes->Set(static_cast<double>(total_bytes));
    bool wake = false;
    if (was_empty) {
      first_pending = Clock::now();
      wake = true;
    } else if (pending_bytes >= flush_threshold && pending_before < flush_threshold) {
      wake = true;  // once, when crossing: the flusher then takes everything pending
    }
    lk.unlock();
    if (wake) flush_cv.notify_one();
    return last;
  }

  // Writes a batch of chunks and makes them durable. Flusher thread only; no lock held.
  Status WriteBatch(std::vector<Chunk>& batch) {
    bool created = false;
    for (auto& c : batch) {
      std::string path = SegPath(c.seg_first);
      if (c.new_segment) {
        if (active_fd >= 0) {
          HAKONE_RETURN_IF_ERROR(DataSync(active_fd, "spool segment"));
          ::close(active_fd);
          active_fd = -1;
        }
        active_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (active_fd < 0) return Status::FromErrno("create " + path, errno);
        created = true;
      }
      if (active_fd < 0) return Status::Internal("spool: no active segment");
      HAKONE_RETURN_IF_ERROR(WriteAll(active_fd, c.data.data(), c.data.size(), path));
    }
    HAKONE_RETURN_IF_ERROR(DataSync(active_fd, "spool segment"));
    if (created) HAKONE_RETURN_IF_ERROR(FsyncDir());
    return Status::Ok();
  }

  void FlusherLoop() {
    std::vector<Chunk> batch;
    std::vector<std::pair<Waiter, Status>> ready;
    std::unique_lock lk(mu);
    while (true) {
      while (true) {
        if (stop) break;
        if (!waiters.empty() && (waiters.front().seq <= durable_seq || !failed.ok())) break;
        if (pending.empty()) {
          flush_cv.wait(lk);
          continue;
        }
        if (!failed.ok()) break;  // discard
        if (urgent_seq > durable_seq || pending_bytes >= flush_threshold) break;
        auto deadline = first_pending + opts.flush_interval;
        if (Clock::now() >= deadline) break;
        flush_cv.wait_until(lk, deadline);
      }
      batch.swap(pending);
      pending_bytes = 0;
      if (!batch.empty()) {
        uint64_t batch_last = batch.back().last_seq;
        if (failed.ok()) {
          lk.unlock();
          Status st = WriteBatch(batch);
          lk.lock();
          if (st.ok()) {
            for (auto& c : batch) {
              int i = FindSegLocked(c.seg_first);
              if (i >= 0 && segs[static_cast<size_t>(i)].first_seq == c.seg_first) {
                segs[static_cast<size_t>(i)].durable_bytes += c.data.size();
              }
            }
            durable_seq = batch_last;
          } else {
            failed = st;
            log::Error("spool: write failed; refusing further writes until reopened",
                       {{"spool", opts.name}, {"error", st.ToString()}});
          }
        }
        // Keep a few buffers for reuse, bounded in total by max_pending_bytes (their peak use):
        // memory held idle stays below what the pending data itself may take.
        size_t spare_bytes = 0;
        for (auto& sp : spare) spare_bytes += sp.capacity();
        for (auto& c : batch) {
          size_t cap = c.data.capacity();
          if (cap <= kMaxSpareCapacity && spare.size() < kMaxSpares && spare_bytes + cap <= opts.max_pending_bytes) {
            c.data.clear();
            spare.push_back(std::move(c.data));
            spare_bytes += cap;
          }
        }
        batch.clear();
      }
      while (!waiters.empty() && (waiters.front().seq <= durable_seq || !failed.ok())) {
        Status st = waiters.front().seq <= durable_seq ? Status::Ok() : failed;
        ready.emplace_back(std::move(waiters.front()), std::move(st));
        waiters.pop_front();
      }
      durable_cv.notify_all();
      space_cv.notify_all();
      if (!ready.empty()) {
        lk.unlock();
        for (auto& [w, st] : ready) w.cb(st);
        ready.clear();
        lk.lock();
      }
      if (stop && (pending.empty() || !failed.ok()) && waiters.empty()) break;
    }
    flusher_exited = true;
    durable_cv.notify_all();
  }

  Status Recover();
  Status WritePosition(const std::string& consumer, uint64_t seq);
};

Status SpoolCore::WritePosition(const std::string& consumer, uint64_t seq) {
  char b[kPosBytes];
  std::memcpy(b, kPosMagic, 8);
  PutU64(b + 8, seq);
  PutU32(b + 16, crc32c::Value(b, 16));
  std::string final_path = PosPath(consumer);
  std::string tmp = final_path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  Status st = WriteAll(fd, b, sizeof b, tmp);
  if (st.ok() && opts.fsync && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + tmp, errno);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) st = Status::FromErrno("rename " + tmp, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir();
}

Status SpoolCore::Recover() {
  std::vector<uint64_t> firsts;
  std::vector<std::string> others;
  HAKONE_RETURN_IF_ERROR(ListSegments(opts.dir, &firsts, &others));

  // Consumers and leftovers of interrupted position writes.
  for (auto& n : others) {
    std::string_view v(n);
    if (v.size() > 4 && v.substr(v.size() - 4) == ".tmp") {
      ::unlink(JoinPath(opts.dir, n).c_str());
      continue;
    }
    if (v.substr(0, 9) != "consumer-" || v.size() < 14 || v.substr(v.size() - 4) != ".pos") continue;
    std::string name(v.substr(9, v.size() - 13));
    if (!ValidConsumerName(name)) continue;
    std::string data;
    Status st = ReadWholeFile(JoinPath(opts.dir, n), &data);
    if (!st.ok()) return st;
    uint64_t committed = 0;
    if (data.size() == kPosBytes && std::memcmp(data.data(), kPosMagic, 8) == 0 &&
        GetU32(data.data() + 16) == crc32c::Value(data.data(), 16)) {
      committed = GetU64(data.data() + 8);
    } else {
      // Replaying from the start is safe (at-least-once); losing records is not.
      m.corrupt->Inc();
      log::Error("spool: corrupt consumer position; the consumer restarts from the oldest record",
                 {{"spool", opts.name}, {"consumer", name}, {"bytes", data.size()}});
    }
    consumers[name] = Consumer{committed, false};
  }

  uint64_t last_valid = 0;  // highest seq of a valid record
  uint64_t max_seen = 0;    // highest seq seen anywhere (incl. past corruption)
  bool seal_last = false;   // the last segment must not be appended to
  uint64_t last_next = 0;   // seq the last segment's next record would carry
  std::string buf;
  uint64_t prev_last = 0;
  bool prev_corrupt = false;
  for (size_t i = 0; i < firsts.size(); i++) {
    uint64_t first = firsts[i];
    bool is_last = i + 1 == firsts.size();
    std::string path = SegPath(first);
    HAKONE_RETURN_IF_ERROR(ReadWholeFile(path, &buf));
    SegmentDecodeResult r;
    Status dst = DecodeSegment(buf, first, nullptr, &r);
    Seg s{first, buf.size(), buf.size(), kNoLimit};
    using End = SegmentDecodeResult::End;
    if (r.end == End::kTornTail && is_last) {
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno("open " + path, errno);
      Status st;
      if (!r.header_ok) {
        std::string h;
        EncodeSegmentHeader(first, &h);
        if (::ftruncate(fd, 0) != 0) st = Status::FromErrno("truncate " + path, errno);
        if (st.ok() && ::pwrite(fd, h.data(), h.size(), 0) != static_cast<ssize_t>(h.size())) {
          st = Status::FromErrno("write " + path, errno);
        }
        s.bytes = s.durable_bytes = h.size();
        r.last_seq = first - 1;
      } else {
        if (::ftruncate(fd, static_cast<off_t>(r.valid_bytes)) != 0) st = Status::FromErrno("truncate " + path, errno);
        s.bytes = s.durable_bytes = r.valid_bytes;
      }
      if (st.ok() && opts.fsync && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + path, errno);
      ::close(fd);
      HAKONE_RETURN_IF_ERROR(st);
      if (!r.header_ok) {
        log::Warn("spool: rewrote the incomplete header of the last segment (created just before a crash)",
                  {{"spool", opts.name}, {"segment", path}, {"bytes_found", buf.size()}});
      } else {
        log::Warn("spool: truncated a torn write at the end of the last segment",
                  {{"spool", opts.name},
                   {"segment", path},
                   {"offset", s.bytes},
                   {"bytes_cut", buf.size() - s.bytes},
                   {"reason", r.reason}});
      }
    } else if (r.end != End::kClean) {
      m.corrupt->Inc();
      s.limit = r.header_ok ? r.valid_bytes : 0;
      if (is_last) seal_last = true;
      max_seen = std::max(max_seen, r.max_seq_after);
      log::Error("spool: corrupt segment, skipping the rest of it",
                 {{"spool", opts.name},
                  {"segment", path},
                  {"reason", dst.ok() ? r.reason : dst.message()},
                  {"valid_records", r.records},
                  {"last_valid_seq", r.last_seq}});
    }
    if (r.header_ok && r.records > 0) {
      last_valid = std::max(last_valid, r.last_seq);
      if (prev_last != 0 && first != prev_last + 1 && !prev_corrupt) {
        log::Warn("spool: gap or overlap between segments",
                  {{"spool", opts.name}, {"segment", path}, {"previous_last_seq", prev_last}});
      }
      prev_last = r.last_seq;
    }
    prev_corrupt = r.end != End::kClean;
    if (is_last) last_next = (r.header_ok ? r.last_seq : first - 1) + 1;
    segs.push_back(s);
  }

  uint64_t committed_max = 0;
  for (auto& [n, c] : consumers) committed_max = std::max(committed_max, c.committed);
  next_seq = std::max({last_valid + 1, max_seen + 1, committed_max + 1, uint64_t{1}});
  if (!segs.empty()) next_seq = std::max(next_seq, segs.back().first_seq);

  bool reuse_last = !segs.empty() && !seal_last && last_next == next_seq;
  if (!segs.empty() && !reuse_last && segs.back().first_seq == next_seq) {
    // A corrupt last segment holding nothing usable under the name the new one needs: keep it
    // aside for inspection.
    std::string from = SegPath(next_seq);
    std::string to = from + ".corrupt-" + std::to_string(::time(nullptr));
    if (::rename(from.c_str(), to.c_str()) != 0) return Status::FromErrno("rename " + from, errno);
    log::Error("spool: moved an unusable segment aside", {{"spool", opts.name}, {"path", to}});
    segs.pop_back();
  }
  if (reuse_last) {
    std::string path = SegPath(segs.back().first_seq);
    active_fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (active_fd < 0) return Status::FromErrno("open " + path, errno);
  } else {
    std::string path = SegPath(next_seq);
    active_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (active_fd < 0) return Status::FromErrno("create " + path, errno);
    std::string h;
    EncodeSegmentHeader(next_seq, &h);
    HAKONE_RETURN_IF_ERROR(WriteAll(active_fd, h.data(), h.size(), path));
    segs.push_back(Seg{next_seq, h.size(), h.size(), kNoLimit});
  }
  // What the previous process wrote may still be only in the page cache: make it durable before
  // calling it durable.
  HAKONE_RETURN_IF_ERROR(DataSync(active_fd, "spool segment"));
  HAKONE_RETURN_IF_ERROR(FsyncDir());
  durable_seq = next_seq - 1;
  total_bytes = 0;
  for (auto& s : segs) total_bytes += s.bytes;
  std::vector<std::string> del;
  {
    std::lock_guard lk(mu);
    del = TakeDeletableLocked();
  }
  UnlinkAll(del);
  m.bytes->Set(static_cast<double>(total_bytes));
  log::Info("spool: opened", {{"spool", opts.name},
                              {"dir", opts.dir},
                              {"segments", segs.size()},
                              {"last_seq", next_seq - 1},
                              {"bytes", total_bytes},
                              {"consumers", consumers.size()}});
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// Spool

Spool::Spool(std::shared_ptr<SpoolCore> core) : core_(std::move(core)) {}

Result<std::unique_ptr<Spool>> Spool::Open(SpoolOptions opts) {
  if (opts.dir.empty()) return Status::InvalidArgument("spool: dir is required");
  if (opts.name.empty()) return Status::InvalidArgument("spool: name is required");
  if (opts.max_bytes < 1024) return Status::InvalidArgument("spool " + opts.name + ": max_bytes must be >= 1024");
  if (opts.segment_bytes < 256) {
    return Status::InvalidArgument("spool " + opts.name + ": segment_bytes must be >= 256");
  }
  if (opts.flush_interval.count() < 0 || opts.block_timeout.count() < 0) {
    return Status::InvalidArgument("spool " + opts.name + ": negative flush_interval or block_timeout");
  }
  if (opts.max_pending_bytes < 4096) {
    return Status::InvalidArgument("spool " + opts.name + ": max_pending_bytes must be >= 4096");
  }
  auto core = std::make_shared<SpoolCore>();
  core->opts = std::move(opts);
  SpoolOptions& o = core->opts;
  core->seg_bytes = std::max<uint64_t>(256, std::min(o.segment_bytes, o.max_bytes / 4));
  core->flush_threshold = std::min<uint64_t>(o.max_pending_bytes / 4, 4u << 20);
  core->m = SpoolMetrics::For(o.name);

  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Status::IOError("spool " + o.name + ": create " + o.dir + ": " + ec.message());
  core->dir_fd = ::open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (core->dir_fd < 0) return Status::FromErrno("open " + o.dir, errno);
  std::string lock_path = JoinPath(o.dir, "LOCK");
  core->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (core->lock_fd < 0) return Status::FromErrno("open " + lock_path, errno);
  if (::flock(core->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Unavailable("spool " + o.name + ": " + o.dir + " is in use by another spool (LOCK is held)");
    }
    return Status::FromErrno("lock " + lock_path, errno);
  }
  HAKONE_RETURN_IF_ERROR(core->Recover().WithContext("spool " + o.name));
  SpoolCore* raw = core.get();
  core->flusher = std::thread([raw] { raw->FlusherLoop(); });
  return std::unique_ptr<Spool>(new Spool(std::move(core)));
}

Spool::~Spool() {
  SpoolCore& c = *core_;
  {
    std::lock_guard lk(c.mu);
    c.stop = true;
  }
  c.flush_cv.notify_all();
  c.space_cv.notify_all();
  c.durable_cv.notify_all();
  if (c.flusher.joinable()) c.flusher.join();
  std::lock_guard meta(c.meta_mu);
  std::lock_guard lk(c.mu);
  c.closed = true;
  if (c.active_fd >= 0) {
    ::close(c.active_fd);
    c.active_fd = -1;
  }
  if (c.lock_fd >= 0) {
    ::close(c.lock_fd);  // releases the flock
    c.lock_fd = -1;
  }
  c.durable_cv.notify_all();
}

Result<uint64_t> Spool::Append(std::string_view payload) { return core_->AppendImpl(&payload, 1); }

Result<uint64_t> Spool::AppendBatch(const std::vector<std::string_view>& payloads) {
  return core_->AppendImpl(payloads.data(), payloads.size());
}

void Spool::WhenDurable(uint64_t seq, std::function<void(Status)> cb) {
  SpoolCore& c = *core_;
  std::unique_lock lk(c.mu);
  if (seq >= c.next_seq) {
    lk.unlock();
    cb(Status::InvalidArgument("spool " + c.opts.name + ": WhenDurable(" + std::to_string(seq) +
                               ") is past the last appended seq"));
    return;
  }
  if (c.flusher_exited) {
    Status st = seq <= c.durable_seq ? Status::Ok()
                : !c.failed.ok()     ? c.failed
                                     : Status::Unavailable("spool " + c.opts.name + " is closed");
    lk.unlock();
    cb(st);
    return;
  }
  auto it = std::upper_bound(c.waiters.begin(), c.waiters.end(), seq,
                             [](uint64_t s, const SpoolCore::Waiter& w) { return s < w.seq; });
  c.waiters.insert(it, SpoolCore::Waiter{seq, std::move(cb)});
  c.urgent_seq = std::max(c.urgent_seq, seq);
  lk.unlock();
  c.flush_cv.notify_one();
}

Status Spool::Sync() {
  SpoolCore& c = *core_;
  std::unique_lock lk(c.mu);
  uint64_t target = c.next_seq - 1;
  if (c.durable_seq >= target) return Status::Ok();
  if (!c.failed.ok()) return c.failed;
  c.urgent_seq = std::max(c.urgent_seq, target);
  c.flush_cv.notify_one();
  c.durable_cv.wait(lk, [&] { return c.durable_seq >= target || !c.failed.ok() || c.flusher_exited; });
  if (c.durable_seq >= target) return Status::Ok();
  if (!c.failed.ok()) return c.failed;
  return Status::Unavailable("spool " + c.opts.name + " is closed");
}

uint64_t Spool::last_seq() const {
  std::lock_guard lk(core_->mu);
  return core_->next_seq - 1;
}

uint64_t Spool::durable_seq() const {
  std::lock_guard lk(core_->mu);
  return core_->durable_seq;
}

uint64_t Spool::bytes() const {
  std::lock_guard lk(core_->mu);
  return core_->total_bytes;
}

std::vector<std::string> Spool::Consumers() const {
  std::lock_guard lk(core_->mu);
  std::vector<std::string> out;
  for (auto& [n, c] : core_->consumers) out.push_back(n);
  return out;
}

Status Spool::RemoveConsumer(const std::string& consumer) {
  SpoolCore& c = *core_;
  std::lock_guard meta(c.meta_mu);
  {
    std::lock_guard lk(c.mu);
    auto it = c.consumers.find(consumer);
    if (it == c.consumers.end()) return Status::NotFound("spool " + c.opts.name + ": no consumer '" + consumer + "'");
    if (it->second.reader_open) {
      return Status::AlreadyExists("spool " + c.opts.name + ": consumer '" + consumer + "' has an open reader");
    }
  }
  std::string path = c.PosPath(consumer);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno("delete " + path, errno);
  HAKONE_RETURN_IF_ERROR(c.FsyncDir());
  std::vector<std::string> del;
  {
    std::lock_guard lk(c.mu);
    c.consumers.erase(consumer);
    del = c.TakeDeletableLocked();
  }
  SpoolCore::UnlinkAll(del);
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// SpoolReader

struct SpoolReader::Impl {
  std::shared_ptr<SpoolCore> core;
  std::string name;
  uint64_t committed = 0;
  uint64_t pos = 0;  // last seq returned
  // Current segment.
  int fd = -1;
  uint64_t seg_first = 0;
  uint64_t offset = 0;  // next record's offset in the segment
  std::string buf;      // file bytes [buf_off, buf_off + buf.size())
  uint64_t buf_off = 0;

  ~Impl() {
    CloseSegment();
    std::lock_guard lk(core->mu);
    auto it = core->consumers.find(name);
    if (it != core->consumers.end()) it->second.reader_open = false;
  }

  void CloseSegment() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    seg_first = 0;
    buf.clear();
    buf_off = 0;
  }

  // Makes buf cover [off, off + n) (n <= limit - off).
  Status Fill(uint64_t off, size_t n, uint64_t limit) {
    if (off >= buf_off && off + n <= buf_off + buf.size()) return Status::Ok();
    size_t want = static_cast<size_t>(std::min<uint64_t>(std::max<size_t>(n, kReadChunk), limit - off));
    buf.resize(want);
    buf_off = off;
    Status st = PreadFull(fd, buf.data(), want, off, core->SegPath(seg_first));
    if (!st.ok()) buf.clear();
    return st;
  }
};

SpoolReader::SpoolReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SpoolReader::~SpoolReader() = default;
uint64_t SpoolReader::committed() const { return impl_->committed; }
uint64_t SpoolReader::position() const { return impl_->pos; }
const std::string& SpoolReader::consumer() const { return impl_->name; }

Result<std::unique_ptr<SpoolReader>> Spool::OpenReader(const std::string& consumer) {
  SpoolCore& c = *core_;
  if (!ValidConsumerName(consumer)) {
    return Status::InvalidArgument("spool " + c.opts.name + ": bad consumer name '" + consumer +
                                   "' (want [A-Za-z0-9._-]{1,64})");
  }
  std::lock_guard meta(c.meta_mu);
  uint64_t committed;
  bool is_new = false;
  {
    std::lock_guard lk(c.mu);
    if (c.stop || c.closed) return Status::Unavailable("spool " + c.opts.name + " is closed");
    auto it = c.consumers.find(consumer);
    if (it != c.consumers.end()) {
      if (it->second.reader_open) {
        return Status::AlreadyExists("spool " + c.opts.name + ": consumer '" + consumer + "' already has a reader");
      }
      it->second.reader_open = true;
      committed = it->second.committed;
    } else {
      committed = (c.segs.empty() ? c.next_seq : c.segs.front().first_seq) - 1;
      c.consumers[consumer] = SpoolCore::Consumer{committed, true};
      is_new = true;
    }
  }
  if (is_new) {
    Status st = c.WritePosition(consumer, committed);
    if (!st.ok()) {
      std::lock_guard lk(c.mu);
      c.consumers.erase(consumer);
      return st;
    }
  }
  auto impl = std::make_unique<SpoolReader::Impl>();
  impl->core = core_;
  impl->name = consumer;
  impl->committed = committed;
  impl->pos = committed;
  return std::unique_ptr<SpoolReader>(new SpoolReader(std::move(impl)));
}

Result<std::vector<SpoolRecord>> SpoolReader::Read(size_t max_records, size_t max_bytes,
                                                   std::chrono::milliseconds wait) {
  std::vector<SpoolRecord> out;
  auto n = ReadEach(max_records, max_bytes, wait, [&out](uint64_t seq, std::string_view payload) {
    SpoolRecord rec;
    rec.seq = seq;
    rec.payload.assign(payload);
    out.push_back(std::move(rec));
  });
  if (!n.ok()) return n.status();
  return out;
}

Result<size_t> SpoolReader::ReadEach(size_t max_records, size_t max_bytes, std::chrono::milliseconds wait,
                                     const std::function<void(uint64_t, std::string_view)>& fn) {
  Impl& r = *impl_;
  SpoolCore& c = *r.core;
  size_t count = 0;
  uint64_t durable;
  {
    std::unique_lock lk(c.mu);
    auto deadline = Clock::now() + wait;
    while (!c.stop && c.durable_seq <= r.pos) {
      if (c.durable_cv.wait_until(lk, deadline) == std::cv_status::timeout) break;
    }
    if (c.stop || c.closed) return Status::Unavailable("spool " + c.opts.name + " is closed");
    durable = c.durable_seq;
  }
  if (max_records == 0 || durable <= r.pos) return count;
  size_t bytes = 0;
  uint64_t missing_seg = 0;
  // The current segment's bounds, refreshed under the lock only when the segment changes or its
  // cached readable limit is reached (limits only grow, so a cached one is safe to read up to).
  bool have_seg = false;
  uint64_t seg_first = 0, limit = 0, next_first = 0;
  while (count < max_records && (count == 0 || bytes < max_bytes) && r.pos < durable) {
    uint64_t want = r.pos + 1;
    if (!have_seg || r.fd < 0 || r.seg_first != seg_first || r.offset + kSpoolRecordHeaderBytes > limit) {
      std::lock_guard lk(c.mu);
      if (c.segs.empty()) break;
      if (want < c.segs.front().first_seq) {
        // Dropped (kDropOldest) or deleted under us: resume at the oldest retained record.
        log::Warn("spool: reader skipped records that were dropped",
                  {{"spool", c.opts.name}, {"consumer", r.name}, {"from", want},
                   {"to", c.segs.front().first_seq - 1}});
        r.pos = c.segs.front().first_seq - 1;
        r.CloseSegment();
        continue;
      }
      int i = c.FindSegLocked(want);
      const auto& s = c.segs[static_cast<size_t>(i)];
      seg_first = s.first_seq;
      limit = std::min(s.durable_bytes, s.limit);
      next_first = static_cast<size_t>(i) + 1 < c.segs.size() ? c.segs[static_cast<size_t>(i) + 1].first_seq : 0;
      have_seg = true;
    }
    if (r.fd < 0 || r.seg_first != seg_first) {
      r.CloseSegment();
      std::string path = c.SegPath(seg_first);
      r.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (r.fd < 0) {
        if (errno == ENOENT && missing_seg != seg_first) {
          missing_seg = seg_first;  // deleted concurrently: look again
          continue;
        }
        return Status::FromErrno("open " + path, errno);
      }
      r.seg_first = seg_first;
      r.offset = kSpoolSegmentHeaderBytes;
    }
    if (r.offset + kSpoolRecordHeaderBytes > limit) {
      // End of what can be read in this segment.
      if (next_first != 0 && next_first - 1 <= durable && r.pos < next_first - 1) {
        r.pos = next_first - 1;  // records lost to corruption
        r.CloseSegment();
        continue;
      }
      if (next_first != 0 && r.pos >= next_first - 1) {
        r.CloseSegment();
        continue;
      }
      break;
    }
    HAKONE_RETURN_IF_ERROR(r.Fill(r.offset, kSpoolRecordHeaderBytes, limit));
    const char* h = r.buf.data() + (r.offset - r.buf_off);
    uint32_t len = GetU32(h);
    uint32_t crc = GetU32(h + 4);
    uint64_t seq = GetU64(h + 8);
    bool bad = len > kSpoolMaxPayloadBytes || len > limit - r.offset - kSpoolRecordHeaderBytes;
    const char* payload = nullptr;
    if (!bad) {
      HAKONE_RETURN_IF_ERROR(r.Fill(r.offset, kSpoolRecordHeaderBytes + len, limit));
      payload = r.buf.data() + (r.offset - r.buf_off) + kSpoolRecordHeaderBytes;
      bad = crc != RecordCrc(crc32c::Value(payload, len), seq, len);
    }
    if (bad) {
      // The file went bad after Open validated it (something else wrote to it, or the disk).
      c.m.corrupt->Inc();
      if (next_first == 0) {
        // The active segment: new records keep going after the bad one, so do not fence it
        // off; fail loudly until the spool is reopened (which skips the damage).
        log::Error("spool: corrupt record in the active segment; reopen the spool",
                   {{"spool", c.opts.name}, {"segment", c.SegPath(seg_first)}, {"offset", r.offset}});
        return Status::Corruption("spool " + c.opts.name + ": corrupt record in the active segment at offset " +
                                  std::to_string(r.offset));
      }
      log::Error("spool: corrupt record while reading, skipping the rest of the segment",
                 {{"spool", c.opts.name}, {"segment", c.SegPath(seg_first)}, {"offset", r.offset}});
      std::lock_guard lk(c.mu);
      have_seg = false;
      int i = c.FindSegLocked(seg_first);
      if (i >= 0 && c.segs[static_cast<size_t>(i)].first_seq == seg_first) {
        auto& s = c.segs[static_cast<size_t>(i)];
        s.limit = std::min(s.limit, r.offset);
      } else {
        r.CloseSegment();  // dropped meanwhile: the next pass repositions
      }
      continue;
    }
    uint64_t rec_end = r.offset + kSpoolRecordHeaderBytes + len;
    if (seq > durable) break;
    r.offset = rec_end;
    if (seq < want) continue;  // positioning inside the segment
    r.pos = seq;
    count++;
    bytes += len;
    fn(seq, std::string_view(payload, len));
  }
  return count;
}

Status SpoolReader::Commit(uint64_t seq) {
  Impl& r = *impl_;
  SpoolCore& c = *r.core;
  if (seq <= r.committed) return Status::Ok();
  if (seq > r.pos) {
    return Status::InvalidArgument("spool " + c.opts.name + ": consumer '" + r.name + "' commits " +
                                   std::to_string(seq) + " but has only read up to " + std::to_string(r.pos));
  }
  {
    std::lock_guard meta(c.meta_mu);
    {
      std::lock_guard lk(c.mu);
      if (c.closed || c.stop) return Status::Unavailable("spool " + c.opts.name + " is closed");
    }
    HAKONE_RETURN_IF_ERROR(c.WritePosition(r.name, seq));
  }
  r.committed = seq;
  std::vector<std::string> del;
  {
    std::lock_guard lk(c.mu);
    auto it = c.consumers.find(r.name);
    if (it != c.consumers.end()) it->second.committed = seq;
    del = c.TakeDeletableLocked();
  }
  SpoolCore::UnlinkAll(del);
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// Scan

Status Spool::Scan(const std::string& dir, uint64_t from, const std::function<bool(const SpoolRecord&)>& fn) {
  std::vector<uint64_t> firsts;
  HAKONE_RETURN_IF_ERROR(ListSegments(dir, &firsts, nullptr));
  size_t start = 0;
  for (size_t i = 0; i < firsts.size(); i++) {
    if (firsts[i] <= from) start = i;
  }
  Status first_problem;
  std::string buf;
  SpoolRecord rec;
  bool stopped = false;
  for (size_t i = start; i < firsts.size() && !stopped; i++) {
    std::string path = JoinPath(dir, SegmentName(firsts[i]));
    Status st = ReadWholeFile(path, &buf);
    if (st.code() == StatusCode::kNotFound) continue;  // consumed and deleted meanwhile
    HAKONE_RETURN_IF_ERROR(st);
    SegmentDecodeResult r;
    Status dst = DecodeSegment(
        buf, firsts[i],
        [&](const SpoolRecordView& v) {
          if (v.seq < from) return true;
          rec.seq = v.seq;
          rec.payload.assign(v.payload.data(), v.payload.size());
          if (!fn(rec)) {
            stopped = true;
            return false;
          }
          return true;
        },
        &r);
    if (stopped) break;
    bool is_last = i + 1 == firsts.size();
    bool problem = r.end == SegmentDecodeResult::End::kCorrupt ||
                   (r.end == SegmentDecodeResult::End::kTornTail && !is_last);
    if (problem && first_problem.ok()) {
      first_problem = Status::Corruption("spool " + dir + ": segment " + SegmentName(firsts[i]) + ": " + r.reason);
    }
  }
  return first_problem;
}

}  // namespace hakone
