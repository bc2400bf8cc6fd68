// The `file` source: tails files matched by globs.
//
// Identity: a file is (device, inode) plus a fingerprint, the CRC-32C of its first
// `fingerprint_bytes` bytes (fewer while the file is shorter). A path whose inode is reused by a
// new file is recognised by a changed fingerprint; a copy made by copytruncate (new inode, same
// first bytes) resumes at the copied file's checkpoint, so the lines written between the last
// read and the truncation are read from the copy when it matches the globs.
// Rotation: a renamed file stays open and is read to its end; it is closed `rotate_wait` after it
// stopped growing. copytruncate/truncation: a file shorter than the read position is read again
// from the start. Files that appear later are found by re-globbing every `poll_interval`.
// Checkpoints (<data_dir>/checkpoints/<source>.json) are written only after the records up to
// them are durable in the spool (Router::Sync()); a restart resumes there.
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "core/crc32c.h"
#include "core/log.h"
#include "core/units.h"
#include "pipeline/component.h"
#include "pipeline/metrics.h"
#include "pipeline/parse.h"

namespace hakone::pipeline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct FileSourceConfig : SourceConfig {
  std::vector<std::string> paths;    // globs of files to tail ("/var/log/app/*.log"); required
  std::vector<std::string> exclude;  // globs (fnmatch on the path) of files to skip
  std::string read_from = "beginning";  // beginning | end: where to start files found at start-up without a checkpoint
  std::string multiline_start;       // regex: a line matching it starts a new record (others join the current one)
  std::string multiline_continuation;  // regex: a line matching it joins the previous record
  std::chrono::nanoseconds multiline_timeout = 1s;  // emit a pending multiline record after this much quiet
  int64_t multiline_max_lines = 500;  // cap on lines per multiline record
  std::chrono::nanoseconds poll_interval = 250ms;  // how often files are checked for growth and globs re-scanned
  std::chrono::nanoseconds checkpoint_interval = 500ms;  // how often positions are synced and checkpointed
  std::chrono::nanoseconds rotate_wait = 5s;  // keep reading a renamed/deleted file until it is quiet this long
  uint64_t max_line_bytes = 1 << 20;  // longer lines are split at this size
  int64_t fingerprint_bytes = 256;    // bytes of the file start hashed into its identity

  Status Validate() const override {
    if (paths.empty()) return Status::InvalidArgument("paths is required (globs of files to tail)");
    if (read_from != "beginning" && read_from != "end") return Status::InvalidArgument("read_from must be beginning or end");
    if (!multiline_start.empty() && !multiline_continuation.empty())
      return Status::InvalidArgument("multiline: give start or continuation, not both");
    for (auto* p : {&multiline_start, &multiline_continuation})
      if (!p->empty()) {
        auto r = Regex::Compile(*p);
        if (!r.ok()) return Status::InvalidArgument("multiline: " + r.status().message());
      }
    if (fingerprint_bytes < 16 || fingerprint_bytes > 65536) return Status::InvalidArgument("fingerprint_bytes must be 16..65536");
    if (max_line_bytes < 256) return Status::InvalidArgument("max_line_bytes must be >= 256");
    if (poll_interval.count() <= 0) return Status::InvalidArgument("poll_interval must be > 0");
    return Status::Ok();
  }
  Result<std::unique_ptr<Source>> Build(const BuildContext& ctx) const override;
  std::string Describe() const override {
    std::string d = "paths=[";
    for (size_t i = 0; i < paths.size(); i++) d += (i ? "," : "") + paths[i];
    d += "]";
    if (!multiline_start.empty()) d += " multiline.start=" + multiline_start;
    if (!multiline_continuation.empty()) d += " multiline.continuation=" + multiline_continuation;
    return d;
  }
};

struct Checkpoint {
  uint64_t dev = 0, ino = 0;
  uint32_t fp_len = 0, fp_crc = 0;
  uint64_t offset = 0;
  std::string path;
  int64_t seen = 0;  // unix seconds
  bool ghost = false;  // the file it described was truncated/replaced: a copy may claim it
};

struct Tracked {
  std::string path;
  int fd = -1;
  uint64_t dev = 0, ino = 0;
  uint32_t fp_len = 0, fp_crc = 0;
  uint64_t read_pos = 0;     // bytes read from the file
  uint64_t line_start = 0;   // offset where `partial` starts
  std::string partial;       // bytes of an unterminated line
  uint64_t safe_offset = 0;  // every byte before this is emitted
  std::optional<MultilineAssembler> ml;
  uint64_t ml_start = 0;     // offset of the pending multiline record's first line
  Clock::time_point last_line{};
  Clock::time_point last_growth{};
  bool gone = false;  // renamed away or deleted
};

class FileSource : public Source {
 public:
  FileSource(FileSourceConfig c, std::shared_ptr<Regex> start, std::shared_ptr<Regex> cont)
      : c_(std::move(c)), start_(std::move(start)), cont_(std::move(cont)) {}
  ~FileSource() override { Stop(); }

  Status Start(const SourceContext& ctx) override {
    ctx_ = ctx;
    m_ = SourceMetrics(ctx.name, ctx.env);
    std::error_code ec;
    std::filesystem::create_directories(ctx.data_dir + "/checkpoints", ec);
    if (ec) return Status::IOError("cannot create " + ctx.data_dir + "/checkpoints: " + ec.message());
    ckpt_path_ = ctx.data_dir + "/checkpoints/" + ctx.name + ".json";
    HAKONE_RETURN_IF_ERROR(LoadCheckpoints());
    th_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  void Stop() override {
    if (stop_.exchange(true)) return;
    if (th_.joinable()) th_.join();
    for (auto& t : files_)
      if (t.fd >= 0) ::close(t.fd);
    files_.clear();
  }

 private:
  Status LoadCheckpoints() {
    std::ifstream in(ckpt_path_);
    if (!in) return Status::Ok();
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto v = boost::json::parse(ss.str(), ec);
    if (ec || !v.is_object() || !v.as_object().contains("files")) {
      log::Warn("agent: file source checkpoint unreadable, starting without it", {{"path", ckpt_path_}});
      return Status::Ok();
    }
    for (auto& f : v.as_object()["files"].as_array()) {
      if (!f.is_object()) continue;
      auto& o = f.as_object();
      Checkpoint c;
      try {
        c.dev = o.at("dev").to_number<uint64_t>();
        c.ino = o.at("ino").to_number<uint64_t>();
        c.fp_len = o.at("fp_len").to_number<uint32_t>();
        c.fp_crc = o.at("fp_crc").to_number<uint32_t>();
        c.offset = o.at("offset").to_number<uint64_t>();
        c.seen = o.at("seen").to_number<int64_t>();
        c.ghost = o.contains("ghost") && o.at("ghost").as_bool();
        if (auto* p = o.if_contains("path"); p && p->is_string()) c.path.assign(p->as_string());
      } catch (...) {
        continue;
      }
      ckpts_.push_back(c);
    }
    return Status::Ok();
  }

  // Writes positions (every byte before them is durable in the spool). Atomic: tmp + rename.
  void SaveCheckpoints() {
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    boost::json::array arr;
    auto add = [&](const Checkpoint& c) {
      arr.push_back(boost::json::object{{"dev", c.dev}, {"ino", c.ino}, {"fp_len", c.fp_len}, {"fp_crc", c.fp_crc},
                                        {"offset", c.offset}, {"path", c.path}, {"seen", c.seen}, {"ghost", c.ghost}});
    };
    for (auto& t : files_) {
      Checkpoint c{t.dev, t.ino, t.fp_len, t.fp_crc, t.safe_offset, t.path, now, false};
      add(c);
    }
    for (auto& c : ckpts_) {
      bool tracked = false;
      for (auto& t : files_)
        if (t.dev == c.dev && t.ino == c.ino && !c.ghost) tracked = true;
      if (!tracked && now - c.seen < 86400) add(c);
    }
    std::string body = boost::json::serialize(boost::json::object{{"version", 1}, {"files", std::move(arr)}});
    std::string tmp = ckpt_path_ + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      log::Error("agent: cannot write checkpoint", {{"path", tmp}, {"error", std::strerror(errno)}});
      return;
    }
    bool ok = ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()) && ::fdatasync(fd) == 0;
    ::close(fd);
    if (ok && ::rename(tmp.c_str(), ckpt_path_.c_str()) != 0) ok = false;
    if (!ok) log::Error("agent: cannot write checkpoint", {{"path", ckpt_path_}, {"error", std::strerror(errno)}});
  }

  bool Fingerprint(int fd, uint64_t size, uint32_t* len, uint32_t* crc) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(size, static_cast<uint64_t>(c_.fingerprint_bytes)));
    std::string buf(n, '\0');
    ssize_t r = n ? ::pread(fd, buf.data(), n, 0) : 0;
    if (r < 0) return false;
    *len = static_cast<uint32_t>(r);
    *crc = crc32c::Value(buf.data(), static_cast<size_t>(r));
    return true;
  }
  bool FingerprintMatches(int fd, uint32_t len, uint32_t crc) {
    std::string buf(len, '\0');
    ssize_t r = len ? ::pread(fd, buf.data(), len, 0) : 0;
    return r == static_cast<ssize_t>(len) && crc32c::Value(buf.data(), len) == crc;
  }

  bool Excluded(const std::string& p) const {
    for (auto& e : c_.exclude)
      if (::fnmatch(e.c_str(), p.c_str(), 0) == 0) return true;
    return false;
  }

  void Scan(bool first) {
    std::map<std::pair<uint64_t, uint64_t>, std::string> found;
    for (auto& pat : c_.paths) {
      glob_t g;
      std::memset(&g, 0, sizeof g);
      if (::glob(pat.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
          std::string p = g.gl_pathv[i];
          if (Excluded(p)) continue;
          struct stat st;
          if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
          found[{st.st_dev, st.st_ino}] = p;
        }
      }
      ::globfree(&g);
    }
    // Tracked files: still at a matched path? (renames within the globs just change the path)
    for (auto& t : files_) {
      auto it = found.find({t.dev, t.ino});
      if (it != found.end()) {
        if (t.path != it->second) t.path = it->second;
        t.gone = false;
        found.erase(it);
      } else if (!t.gone) {
        t.gone = true;  // renamed away or deleted: read to the end, then close after rotate_wait
        t.last_growth = Clock::now();
      }
    }
    for (auto& [id, path] : found) Open(path, first);
  }

  void Open(const std::string& path, bool first) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return;
    }
    Tracked t;
    t.path = path;
    t.fd = fd;
    t.dev = st.st_dev;
    t.ino = st.st_ino;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    Fingerprint(fd, size, &t.fp_len, &t.fp_crc);
    uint64_t start = (first && c_.read_from == "end") ? size : 0;
    const char* why = first && c_.read_from == "end" ? "end" : "new";
    for (auto it = ckpts_.begin(); it != ckpts_.end(); ++it) {
      bool same_inode = it->dev == t.dev && it->ino == t.ino && !it->ghost;
      bool copy = it->ghost && it->fp_len == static_cast<uint32_t>(c_.fingerprint_bytes);
      if (!same_inode && !copy) continue;
      if (it->fp_len > size || !FingerprintMatches(fd, it->fp_len, it->fp_crc)) continue;
      start = it->offset <= size ? it->offset : 0;
      why = same_inode ? "checkpoint" : "copy of a truncated file";
      ckpts_.erase(it);
      break;
    }
    t.read_pos = t.line_start = t.safe_offset = t.ml_start = start;
    if (start_ || cont_) {
      MultilineAssembler::Options o;
      o.start = start_;
      o.continuation = cont_;
      o.max_lines = static_cast<size_t>(c_.multiline_max_lines);
      o.max_bytes = c_.max_line_bytes;
      t.ml.emplace(o);
    }
    t.last_growth = Clock::now();
    log::Info("agent: tailing file", {{"source", ctx_.name}, {"path", path}, {"offset", start}, {"from", why}});
    files_.push_back(std::move(t));
  }

  void EmitLine(Tracked& t, std::string_view line, uint64_t line_begin, uint64_t line_end) {
    if (t.ml) {
      bool had = t.ml->pending();
      bool emitted = false;
      t.ml->Add(line, [&](std::string&& rec) {
        Push(t, std::move(rec));
        emitted = true;
      });
      // The pending record starts at ml_start: everything before it has been emitted.
      if (emitted || !had) t.ml_start = line_begin;
      t.safe_offset = t.ml_start;
      t.last_line = Clock::now();
      return;
    }
    Push(t, line);
    t.safe_offset = line_end;
  }

  // Appends a record to the batch, reusing a previous batch's Event (and its buffers).
  void Push(Tracked& t, std::string_view msg) {
    if (batch_n_ == batch_.size()) batch_.emplace_back();
    Event& e = batch_[batch_n_++];
    e.ts_ns = e.ingest_ns = now_ns_ ? now_ns_ : NowNs();
    e.source.assign(ctx_.name);
    e.env.assign(ctx_.env);
    e.origin.assign(t.path);
    e.message.assign(msg);
    if (!e.fields.empty()) e.fields.clear();
    e.fields_json.clear();
    batch_bytes_ += e.message.size();
  }

  Status FlushBatch() {
    if (batch_n_ == 0) return Status::Ok();
    size_t n = batch_n_;
    Status st = ctx_.router->Emit(batch_.data(), n);
    batch_n_ = 0;
    batch_bytes_ = 0;
    for (auto& e : batch_)
      if (e.message.capacity() > (64u << 10)) e.message = std::string();  // keep only small buffers
    if (st.ok()) {
      m_->out->Inc(n);
      dirty_ = true;
    }
    return st;
  }

  // Reads what the file has beyond read_pos. Returns false when the router refused (stopping).
  bool ReadFile(Tracked& t) {
    struct stat st;
    if (::fstat(t.fd, &st) != 0) return true;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (!t.gone) {
      // Truncation / copytruncate / inode reuse at the same path.
      bool replaced = t.fp_len > 0 && (size < t.fp_len || !FingerprintMatches(t.fd, t.fp_len, t.fp_crc));
      if (size < t.read_pos || replaced) {
        log::Info("agent: file truncated or replaced, reading from the start",
                  {{"source", ctx_.name}, {"path", t.path}, {"old_offset", t.read_pos}, {"size", size}});
        if (t.fp_len == static_cast<uint32_t>(c_.fingerprint_bytes)) {
          int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
          ckpts_.push_back(Checkpoint{t.dev, t.ino, t.fp_len, t.fp_crc, t.safe_offset, t.path, now, true});
        }
        if (t.ml) t.ml->Flush([&](std::string&& rec) { Push(t, std::move(rec)); });
        if (!t.partial.empty()) Push(t, std::move(t.partial));
        t.partial.clear();
        t.read_pos = t.line_start = t.safe_offset = t.ml_start = 0;
        Fingerprint(t.fd, size, &t.fp_len, &t.fp_crc);
      }
    }
    if (t.fp_len < static_cast<uint32_t>(c_.fingerprint_bytes) && size > t.fp_len) Fingerprint(t.fd, size, &t.fp_len, &t.fp_crc);
    char buf[256 << 10];
    while (t.read_pos < size && !stop_) {
      ssize_t r = ::pread(t.fd, buf, sizeof buf, static_cast<off_t>(t.read_pos));
      if (r <= 0) break;
      t.last_growth = Clock::now();
      now_ns_ = NowNs();  // one clock read per chunk: the lines of a chunk are read together
      std::string_view chunk(buf, static_cast<size_t>(r));
      t.read_pos += static_cast<uint64_t>(r);
      size_t pos = 0;
      while (pos < chunk.size()) {
        size_t nl = chunk.find('\n', pos);
        if (nl == std::string_view::npos) {
          t.partial.append(chunk.substr(pos));
          if (t.partial.size() >= c_.max_line_bytes) {
            uint64_t b = t.line_start, e = b + t.partial.size();
            std::string line = std::move(t.partial);
            t.partial.clear();
            EmitLine(t, line, b, e);
            t.line_start = e;
          }
          break;
        }
        std::string_view line = chunk.substr(pos, nl - pos);
        uint64_t begin = t.line_start;
        uint64_t end = t.read_pos - chunk.size() + nl + 1;
        if (!t.partial.empty()) {
          t.partial.append(line);
          std::string full = std::move(t.partial);
          t.partial.clear();
          if (!full.empty() && full.back() == '\r') full.pop_back();
          EmitLine(t, full, begin, end);
        } else {
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          EmitLine(t, line, begin, end);
        }
        t.line_start = end;
        pos = nl + 1;
        if (batch_n_ >= 2000 || batch_bytes_ >= (4u << 20)) {
          if (!FlushBatch().ok()) {
            now_ns_ = 0;
            return false;
          }
        }
      }
    }
    now_ns_ = 0;
    return true;
  }

  void Loop() {
    Scan(true);
    auto last_scan = Clock::now();
    auto last_ckpt = Clock::now();
    while (!stop_) {
      bool ok = true;
      for (auto& t : files_) {
        if (!ReadFile(t)) {
          ok = false;
          break;
        }
        if (t.ml && t.ml->pending() && Clock::now() - t.last_line >= c_.multiline_timeout) {
          t.ml->Flush([&](std::string&& rec) { Push(t, std::move(rec)); });
          t.safe_offset = t.line_start;
          t.ml_start = t.line_start;
        }
      }
      if (ok && !FlushBatch().ok()) ok = false;
      if (!ok) break;  // stopping
      auto now = Clock::now();
      // Close rotated-away files that have been quiet for rotate_wait (after a checkpoint).
      for (size_t i = 0; i < files_.size();) {
        auto& t = files_[i];
        if (t.gone && now - t.last_growth >= c_.rotate_wait && !(t.ml && t.ml->pending())) {
          Commit();
          log::Info("agent: closing rotated file", {{"source", ctx_.name}, {"path", t.path}, {"offset", t.read_pos}});
          int64_t s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
          ckpts_.push_back(Checkpoint{t.dev, t.ino, t.fp_len, t.fp_crc, t.safe_offset, t.path, s, false});
          ::close(t.fd);
          files_.erase(files_.begin() + static_cast<long>(i));
          dirty_ = true;
          continue;
        }
        i++;
      }
      if (now - last_ckpt >= c_.checkpoint_interval) {
        Commit();
        last_ckpt = now;
      }
      if (now - last_scan >= c_.poll_interval) {
        Scan(false);
        last_scan = now;
      }
      // Poll again soon while files are growing; otherwise sleep a poll interval.
      bool busy = false;
      for (auto& t : files_) {
        struct stat st;
        if (::fstat(t.fd, &st) == 0 && static_cast<uint64_t>(st.st_size) != t.read_pos) busy = true;
      }
      if (!busy) {
        auto until = Clock::now() + std::min<std::chrono::nanoseconds>(c_.poll_interval, 100ms);
        while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(10ms);
      }
    }
    // Shutdown: emit what is complete, sync, checkpoint. A pending multiline record is not
    // emitted: the checkpoint stays at its start, so it is read whole after the restart.
    (void)FlushBatch();
    Commit();
  }

  // Syncs the spool and writes the checkpoint (positions of emitted lines only).
  void Commit() {
    if (!dirty_) return;
    Status st = ctx_.router->Sync();
    if (!st.ok()) {
      log::Error("agent: spool sync failed; checkpoint not advanced", {{"source", ctx_.name}, {"error", st.ToString()}});
      return;
    }
    SaveCheckpoints();
    dirty_ = false;
  }

  FileSourceConfig c_;
  std::shared_ptr<Regex> start_, cont_;
  SourceContext ctx_;
  ComponentMetrics* m_ = nullptr;
  std::string ckpt_path_;
  std::vector<Checkpoint> ckpts_;
  std::vector<Tracked> files_;
  std::vector<Event> batch_;  // [0, batch_n_) is the batch; the rest are spare Events
  size_t batch_n_ = 0;
  size_t batch_bytes_ = 0;
  int64_t now_ns_ = 0;  // while reading a chunk: its read time (0: read the clock per record)
  bool dirty_ = false;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

Result<std::unique_ptr<Source>> FileSourceConfig::Build(const BuildContext&) const {
  std::shared_ptr<Regex> s, c;
  if (!multiline_start.empty()) {
    auto r = Regex::Compile(multiline_start);
    if (!r.ok()) return r.status();
    s = *r;
  }
  if (!multiline_continuation.empty()) {
    auto r = Regex::Compile(multiline_continuation);
    if (!r.ok()) return r.status();
    c = *r;
  }
  return std::unique_ptr<Source>(new FileSource(*this, s, c));
}

}  // namespace

std::unique_ptr<SourceConfig> ReadFileSource(const ConfigSection& s) {
  auto c = std::make_unique<FileSourceConfig>();
  c->paths = s.StringList("paths");
  c->exclude = s.StringList("exclude");
  c->read_from = s.String("read_from", c->read_from);
  auto ml = s.Section("multiline");
  c->multiline_start = ml.String("start", "");
  c->multiline_continuation = ml.String("continuation", "");
  c->multiline_timeout = ml.Duration("timeout", c->multiline_timeout);
  c->multiline_max_lines = ml.Int("max_lines", c->multiline_max_lines);
  c->poll_interval = s.Duration("poll_interval", c->poll_interval);
  c->checkpoint_interval = s.Duration("checkpoint_interval", c->checkpoint_interval);
  c->rotate_wait = s.Duration("rotate_wait", c->rotate_wait);
  c->max_line_bytes = s.Size("max_line_bytes", c->max_line_bytes);
  c->fingerprint_bytes = s.Int("fingerprint_bytes", c->fingerprint_bytes);
  return c;
}

}  // namespace hakone::pipeline
