// The `archive` sink: the raw records and/or a formatted JSON copy, compressed (zstd or gzip),
// in time-partitioned objects
//   {env}/{stream}/dt=YYYY-MM-DD/hour=HH/{instance}-{seq}.ndjson.zst   (formatted)
//   {env}/{stream}/dt=YYYY-MM-DD/hour=HH/{instance}-{seq}.raw.zst      (raw lines)
// where stream is the source's name and seq the spool sequence number of the object's first
// record (so an object re-written after a crash gets the same name). Objects are written to a
// staging file and published (renamed into `dir`, or PUT to S3 with AWS Signature V4) when they
// are closed: by size (`max_size` uncompressed bytes) or age (`max_age`). The spool position
// advances only after every open object was published, so nothing is acknowledged before it is
// durable in the archive. A failed upload is retried (the runner's backoff) until it succeeds.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/log.h"
#include "core/units.h"
#include "pipeline/component.h"

namespace hakone::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct S3Config {
  std::string bucket;             // required for S3
  std::string region = "us-east-1";  // signing region
  std::string endpoint;           // "http://127.0.0.1:4569" for S3-compatible servers; default AWS
  std::string access_key_id;      // default: $AWS_ACCESS_KEY_ID
  std::string secret_access_key;  // default: $AWS_SECRET_ACCESS_KEY
  std::string prefix;             // prepended to every key ("logs/")
};

struct ArchiveSinkConfig : SinkConfig {
  std::string dir;                 // local directory to publish into (or use s3)
  S3Config s3;                     // S3-compatible storage (when s3.bucket is set)
  std::string compression = "zstd";  // zstd | gzip
  int zstd_level = 1;              // zstd level (1..19); 1 is ~2x faster than 3 and as small on log lines
  uint64_t max_size = 64ull << 20;  // close an object past this many uncompressed bytes
  std::chrono::nanoseconds max_age = std::chrono::minutes(5);  // close an object this long after it was opened
  std::vector<std::string> copies = {"formatted", "raw"};  // which copies to write: formatted | raw

  bool use_s3() const { return !s3.bucket.empty(); }
  Status Validate() const override {
    if (s3.bucket == " ") return Status::InvalidArgument("s3.bucket is required");
    if (dir.empty() == s3.bucket.empty()) return Status::InvalidArgument("give exactly one of dir and s3 = { bucket = ... }");
    if (compression != "zstd" && compression != "gzip") return Status::InvalidArgument("compression must be zstd or gzip");
    if (zstd_level < 1 || zstd_level > 19) return Status::InvalidArgument("zstd_level must be 1..19");
    if (copies.empty()) return Status::InvalidArgument("copies must name formatted and/or raw");
    for (auto& c : copies)
      if (c != "formatted" && c != "raw") return Status::InvalidArgument("copies: unknown copy '" + c + "' (formatted | raw)");
    if (max_size < 1024) return Status::InvalidArgument("max_size must be >= 1KiB");
    if (max_age.count() <= 0) return Status::InvalidArgument("max_age must be > 0");
    return Status::Ok();
  }
  Result<std::unique_ptr<Sink>> Build(const SinkContext& ctx) const override;
  std::string Describe() const override {
    std::string d = use_s3() ? "s3://" + s3.bucket + "/" + s3.prefix : "dir=" + dir;
    d += " compression=" + compression + " max_size=" + FormatSize(max_size) + " max_age=" + FormatDuration(max_age) + " copies=";
    for (size_t i = 0; i < copies.size(); i++) d += (i ? "," : "") + copies[i];
    return d;
  }
};

// A compressing writer into a staging file.
class Part {
 public:
  Part(std::string key, std::string staging, bool zstd, int level) : key_(std::move(key)), staging_(std::move(staging)), zstd_(zstd) {
    opened_ = Clock::now();
    if (zstd_) {
      z_ = ZSTD_createCStream();
      ZSTD_CCtx_setParameter(z_, ZSTD_c_compressionLevel, level);
    } else {
      std::memset(&gz_, 0, sizeof gz_);
      deflateInit2(&gz_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    }
  }
  ~Part() {
    if (z_) ZSTD_freeCStream(z_);
    if (!zstd_) deflateEnd(&gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open() {
    fs::create_directories(fs::path(staging_).parent_path());
    fd_ = ::open(staging_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::FromErrno("archive: open " + staging_, errno);
    return Status::Ok();
  }
  Status Append(std::string_view data) {
    raw_bytes_ += data.size();
    return Compress(data, false);
  }
  // Ends the stream and fsyncs the staging file.
  Status Finish() {
    HAKONE_RETURN_IF_ERROR(Compress({}, true));
    if (::fdatasync(fd_) != 0) return Status::FromErrno("archive: fsync " + staging_, errno);
    ::close(fd_);
    fd_ = -1;
    return Status::Ok();
  }
  const std::string& key() const { return key_; }
  const std::string& staging() const { return staging_; }
  uint64_t raw_bytes() const { return raw_bytes_; }
  Clock::time_point opened() const { return opened_; }
  // Lines gathered for the next Append (kept between batches: its capacity is reused).
  std::string buf;

 private:
  Status WriteOut(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("archive: write " + staging_, errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  Status Compress(std::string_view data, bool end) {
    char out[64 << 10];
    if (zstd_) {
      ZSTD_inBuffer in{data.data(), data.size(), 0};
      while (true) {
        ZSTD_outBuffer ob{out, sizeof out, 0};
        size_t r = ZSTD_compressStream2(z_, &ob, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(r)) return Status::Internal(std::string("archive: zstd: ") + ZSTD_getErrorName(r));
        HAKONE_RETURN_IF_ERROR(WriteOut(out, ob.pos));
        if (end ? r == 0 : in.pos == in.size) break;
      }
      return Status::Ok();
    }
    gz_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    gz_.avail_in = static_cast<uInt>(data.size());
    while (true) {
      gz_.next_out = reinterpret_cast<Bytef*>(out);
      gz_.avail_out = sizeof out;
      int r = deflate(&gz_, end ? Z_FINISH : Z_NO_FLUSH);
      if (r == Z_STREAM_ERROR) return Status::Internal("archive: gzip stream error");
      HAKONE_RETURN_IF_ERROR(WriteOut(out, sizeof out - gz_.avail_out));
      if (end ? r == Z_STREAM_END : (gz_.avail_in == 0 && gz_.avail_out != 0)) break;
    }
    return Status::Ok();
  }

  std::string key_, staging_;
  bool zstd_;
  ZSTD_CStream* z_ = nullptr;
  z_stream gz_;
  int fd_ = -1;
  uint64_t raw_bytes_ = 0;
  Clock::time_point opened_;
};

size_t CurlRead(char* buf, size_t size, size_t n, void* ud) { return std::fread(buf, size, n, static_cast<FILE*>(ud)); }
size_t CurlWrite(char* p, size_t size, size_t n, void* ud) {
  auto* s = static_cast<std::string*>(ud);
  if (s->size() < 4096) s->append(p, std::min<size_t>(size * n, 4096));
  return size * n;
}

std::string UriEncodeKey(const std::string& k) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : k) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') out.push_back(static_cast<char>(c));
    else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// PUTs a file to S3 (path-style URL) signed with AWS Signature V4 by libcurl.
Status S3Put(const S3Config& c, const std::string& key, const std::string& file, const std::string& content_type) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string endpoint = c.endpoint.empty() ? "https://s3." + c.region + ".amazonaws.com" : c.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string url = endpoint + "/" + c.bucket + "/" + UriEncodeKey(c.prefix + key);
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return Status::FromErrno("archive: open " + file, errno);
  struct stat st;
  ::fstat(fileno(f), &st);
  CURL* h = curl_easy_init();
  std::string resp;
  std::string sigv4 = "aws:amz:" + c.region + ":s3";
  std::string userpwd = c.access_key_id + ":" + c.secret_access_key;
  struct curl_slist* hdrs = nullptr;
  hdrs = curl_slist_append(hdrs, ("Content-Type: " + content_type).c_str());
  hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, CurlRead);
  curl_easy_setopt(h, CURLOPT_READDATA, f);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(st.st_size));
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(h, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CurlWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  std::fclose(f);
  if (rc != CURLE_OK) return Status::Unavailable("archive: S3 PUT " + url + ": " + curl_easy_strerror(rc));
  if (code < 200 || code >= 300)
    return Status::Unavailable("archive: S3 PUT " + url + ": HTTP " + std::to_string(code) + ": " + resp.substr(0, 300));
  return Status::Ok();
}

class ArchiveSink : public Sink {
 public:
  ArchiveSink(ArchiveSinkConfig c, SinkContext ctx) : c_(std::move(c)), ctx_(std::move(ctx)) {
    staging_dir_ = ctx_.data_dir + "/archive-staging/" + ctx_.name + "/" + ctx_.env;
    // Leftovers of a crash were never acknowledged: the spool delivers their records again.
    std::error_code ec;
    fs::remove_all(staging_dir_, ec);
    for (auto& cp : c_.copies) {
      if (cp == "formatted") formatted_ = true;
      if (cp == "raw") raw_ = true;
    }
  }
  ~ArchiveSink() override = default;

  Status Write(std::vector<Event>& batch) override {
    // Lines are gathered per object (in its reused buffer) and compressed once per batch;
    // consecutive events of one source and hour (the common case) skip the partition lookup.
    std::vector<Part*> touched;
    int64_t last_hour = INT64_MIN;
    const std::string* last_source = nullptr;
    std::string* fbuf = nullptr;
    std::string* rbuf = nullptr;
    for (auto& e : batch) {
      int64_t hour = e.ts_ns / 1000000000 / 3600;
      if (hour != last_hour || !last_source || *last_source != e.source) {
        time_t t = static_cast<time_t>(e.ts_ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char part[64];
        std::snprintf(part, sizeof part, "dt=%04d-%02d-%02d/hour=%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
        for (int k = 0; k < 2; k++) {
          if (k == 0 ? !formatted_ : !raw_) continue;
          Part* p = Get(e, part, k == 0 ? "ndjson" : "raw", e.seq);
          if (std::find(touched.begin(), touched.end(), p) == touched.end()) touched.push_back(p);
          (k == 0 ? fbuf : rbuf) = &p->buf;
        }
        last_hour = hour;
        last_source = &e.source;
      }
      if (formatted_) {
        FormatEventJson(e, fbuf);
        fbuf->push_back('\n');
      }
      if (raw_) {
        rbuf->append(e.message);
        rbuf->push_back('\n');
      }
    }
    Status st;
    for (Part* p : touched) {
      if (st.ok()) st = p->Append(p->buf);
      p->buf.clear();
    }
    return st;
  }

  Status Flush(bool force) override {
    // Publish objects closed earlier whose upload failed.
    HAKONE_RETURN_IF_ERROR(PublishClosed());
    if (open_.empty()) return Status::Ok();
    bool close = force;
    auto now = Clock::now();
    for (auto& [k, p] : open_)
      if (p->raw_bytes() >= c_.max_size || now - p->opened() >= c_.max_age) close = true;
    if (!close) return Status::Ok();
    // Close every open object together: the spool position then covers all of them.
    for (auto& [k, p] : open_) {
      HAKONE_RETURN_IF_ERROR(p->Finish());
      closed_.push_back(std::move(p));
    }
    open_.clear();
    return PublishClosed();
  }

  bool Pending() const override { return !open_.empty() || !closed_.empty(); }
  bool NeedsFields() const override { return formatted_; }

 private:
  Part* Get(const Event& e, const char* part, const char* kind, uint64_t seq) {
    std::string ext = std::string(".") + kind + (c_.compression == "zstd" ? ".zst" : ".gz");
    std::string prefix = ctx_.env + "/" + (e.source.empty() ? "unknown" : e.source) + "/" + part + "/";
    std::string id = prefix + kind;
    auto it = open_.find(id);
    if (it != open_.end()) return it->second.get();
    char seqs[32];
    std::snprintf(seqs, sizeof seqs, "%020llu", static_cast<unsigned long long>(seq));
    std::string key = prefix + ctx_.instance + "-" + seqs + ext;
    auto p = std::make_unique<Part>(key, staging_dir_ + "/" + key, c_.compression == "zstd", c_.zstd_level);
    Status st = p->Open();
    if (!st.ok()) log::Error("archive: cannot open staging file", {{"error", st.ToString()}});
    Part* raw = p.get();
    open_[id] = std::move(p);
    return raw;
  }

  Status PublishClosed() {
    while (!closed_.empty()) {
      auto& p = closed_.front();
      if (c_.use_s3()) {
        std::string ct = c_.compression == "zstd" ? "application/zstd" : "application/gzip";
        HAKONE_RETURN_IF_ERROR(S3Put(c_.s3, p->key(), p->staging(), ct));
        ::unlink(p->staging().c_str());
      } else {
        fs::path dst = fs::path(c_.dir) / p->key();
        std::error_code ec;
        fs::create_directories(dst.parent_path(), ec);
        if (ec) return Status::IOError("archive: cannot create " + dst.parent_path().string() + ": " + ec.message());
        fs::rename(p->staging(), dst, ec);
        if (ec) {
          // Another filesystem: copy, fsync, then remove the staging file.
          fs::copy_file(p->staging(), dst, fs::copy_options::overwrite_existing, ec);
          if (ec) return Status::IOError("archive: cannot publish " + dst.string() + ": " + ec.message());
          int fd = ::open(dst.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd >= 0) {
            ::fdatasync(fd);
            ::close(fd);
          }
          ::unlink(p->staging().c_str());
        }
        int dfd = ::open(dst.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
          ::fsync(dfd);
          ::close(dfd);
        }
      }
      log::Debug("archive: published", {{"key", p->key()}, {"bytes", p->raw_bytes()}});
      closed_.erase(closed_.begin());
    }
    return Status::Ok();
  }

  ArchiveSinkConfig c_;
  SinkContext ctx_;
  std::string staging_dir_;
  bool formatted_ = false, raw_ = false;
  std::map<std::string, std::unique_ptr<Part>> open_;
  std::vector<std::unique_ptr<Part>> closed_;
};

Result<std::unique_ptr<Sink>> ArchiveSinkConfig::Build(const SinkContext& ctx) const {
  ArchiveSinkConfig c = *this;
  if (c.use_s3()) {
    if (c.s3.access_key_id.empty())
      if (const char* v = std::getenv("AWS_ACCESS_KEY_ID")) c.s3.access_key_id = v;
    if (c.s3.secret_access_key.empty())
      if (const char* v = std::getenv("AWS_SECRET_ACCESS_KEY")) c.s3.secret_access_key = v;
    if (c.s3.access_key_id.empty() || c.s3.secret_access_key.empty())
      return Status::InvalidArgument("s3: credentials missing (access_key_id/secret_access_key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
  }
  return std::unique_ptr<Sink>(new ArchiveSink(std::move(c), ctx));
}

}  // namespace

std::unique_ptr<SinkConfig> ReadArchiveSink(const ConfigSection& s) {
  auto c = std::make_unique<ArchiveSinkConfig>();
  c->dir = s.String("dir", "");
  auto s3 = s.Section("s3");
  if (s3.present()) {
    c->s3.bucket = s3.String("bucket", "");
    c->s3.region = s3.String("region", c->s3.region);
    c->s3.endpoint = s3.String("endpoint", "");
    c->s3.access_key_id = s3.String("access_key_id", "");
    c->s3.secret_access_key = s3.String("secret_access_key", "");
    c->s3.prefix = s3.String("prefix", "");
    if (c->s3.bucket.empty()) c->s3.bucket = " ";  // present but no bucket: Validate names it
  }
  c->compression = s.String("compression", c->compression);
  c->zstd_level = static_cast<int>(s.Int("zstd_level", c->zstd_level));
  c->max_size = s.Size("max_size", c->max_size);
  c->max_age = s.Duration("max_age", c->max_age);
  c->copies = s.StringList("copies", c->copies);
  return c;
}

}  // namespace hakone::pipeline
