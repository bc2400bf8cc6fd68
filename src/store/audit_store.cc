#include "store/audit_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/cidr.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/spool.h"
#include "store/block.h"

namespace hakone::store {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Paths

std::string AuditStoreDir(const std::string& data_dir) { return (fs::path(data_dir) / "audit").string(); }
std::string AuditSpoolDir(const std::string& data_dir) { return (fs::path(data_dir) / "spool" / "audit").string(); }

// ---------------------------------------------------------------------------------------------
// JSON helpers

namespace {

inline bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// s[pos] == '"'; returns the index just past the closing quote, or npos.
size_t SkipString(std::string_view s, size_t pos) {
  ++pos;
  while (pos < s.size()) {
    char c = s[pos];
    if (c == '\\') {
      pos += 2;
      continue;
    }
    if (c == '"') return pos + 1;
    ++pos;
  }
  return std::string_view::npos;
}

// Returns the index just past the value starting at pos, or npos.
size_t SkipValue(std::string_view s, size_t pos) {
  if (pos >= s.size()) return std::string_view::npos;
  char c = s[pos];
  if (c == '"') return SkipString(s, pos);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (pos < s.size()) {
      char d = s[pos];
      if (d == '"') {
        pos = SkipString(s, pos);
        if (pos == std::string_view::npos) return pos;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return pos + 1;
      }
      ++pos;
    }
    return std::string_view::npos;
  }
  size_t start = pos;
  while (pos < s.size() && s[pos] != ',' && s[pos] != '}' && s[pos] != ']' && !IsWs(s[pos])) ++pos;
  return pos == start ? std::string_view::npos : pos;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool Hex4(std::string_view s, size_t pos, uint32_t* out) {
  if (pos + 4 > s.size()) return false;
  uint32_t v = 0;
  for (size_t i = pos; i < pos + 4; ++i) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
    else return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool ForEachTopLevelMember(std::string_view s, const std::function<bool(std::string_view, std::string_view)>& fn) {
  size_t pos = 0;
  while (pos < s.size() && IsWs(s[pos])) ++pos;
  if (pos >= s.size() || s[pos] != '{') return false;
  ++pos;
  while (pos < s.size() && IsWs(s[pos])) ++pos;
  if (pos < s.size() && s[pos] == '}') return true;
  while (pos < s.size()) {
    if (s[pos] != '"') return false;
    size_t kend = SkipString(s, pos);
    if (kend == std::string_view::npos) return false;
    std::string_view key = s.substr(pos + 1, kend - pos - 2);
    pos = kend;
    while (pos < s.size() && IsWs(s[pos])) ++pos;
    if (pos >= s.size() || s[pos] != ':') return false;
    ++pos;
    while (pos < s.size() && IsWs(s[pos])) ++pos;
    size_t vend = SkipValue(s, pos);
    if (vend == std::string_view::npos) return false;
    if (!fn(key, s.substr(pos, vend - pos))) return true;
    pos = vend;
    while (pos < s.size() && IsWs(s[pos])) ++pos;
    if (pos >= s.size()) return false;
    if (s[pos] == '}') return true;
    if (s[pos] != ',') return false;
    ++pos;
    while (pos < s.size() && IsWs(s[pos])) ++pos;
  }
  return false;
}

std::optional<std::string> JsonStringValue(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::nullopt;
  std::string_view in = raw.substr(1, raw.size() - 2);
  if (in.find('\\') == std::string_view::npos) return std::string(in);
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= in.size()) return std::nullopt;
    switch (in[i]) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        uint32_t cp;
        if (!Hex4(in, i + 1, &cp)) return std::nullopt;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (i + 2 < in.size() && in[i + 1] == '\\' && in[i + 2] == 'u' && Hex4(in, i + 3, &lo) && lo >= 0xDC00 &&
              lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        AppendUtf8(&out, cp);
        break;
      }
      default: return std::nullopt;
    }
  }
  return out;
}

std::optional<int64_t> JsonIntValue(std::string_view raw) {
  if (raw.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (raw[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i >= raw.size() || raw[i] < '0' || raw[i] > '9') return std::nullopt;
  int64_t v = 0;
  for (; i < raw.size() && raw[i] >= '0' && raw[i] <= '9'; ++i) {
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (raw[i] - '0');
  }
  if (i < raw.size()) {
    if (raw[i] != '.') return std::nullopt;  // exponents and anything else
    for (++i; i < raw.size(); ++i) {
      if (raw[i] < '0' || raw[i] > '9') return std::nullopt;
    }
  }
  return neg ? -v : v;
}

// ---------------------------------------------------------------------------------------------
// Time

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// "YYYYMMDD" of a time in µs, UTC.
std::string UtcDay(int64_t us) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(FloorDiv(us, 86400LL * 1000000), &y, &m, &d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u", static_cast<long long>(y), m, d);
  return buf;
}

}  // namespace

Result<int64_t> ParseRfc3339Micros(std::string_view s) {
  auto bad = [&] { return Status::InvalidArgument("'" + std::string(s) + "' is not an RFC 3339 time (2024-05-01T12:00:00Z)"); };
  int Y, M, D, h, mi, sec;
  if (!Digits(s, 0, 4, &Y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &M) || s[7] != '-' ||
      !Digits(s, 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return bad();
  }
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60) return bad();
  size_t pos = 19;
  int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  int64_t days = DaysFromCivil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1000000 + frac_us;
}

std::string FormatRfc3339Micros(int64_t us) {
  int64_t secs = FloorDiv(us, 1000000);
  int64_t frac = us - secs * 1000000;
  int64_t days = FloorDiv(secs, 86400);
  int64_t rem = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>((rem / 60) % 60),
                static_cast<long long>(rem % 60), static_cast<long long>(frac));
  return buf;
}

int64_t EventTimeMicros(std::string_view line) {
  int64_t t = 0;
  ForEachTopLevelMember(line, [&](std::string_view k, std::string_view v) {
    if (k != "time") return true;
    if (!v.empty() && v[0] == '"') {
      if (auto s = JsonStringValue(v)) {
        auto r = ParseRfc3339Micros(*s);
        if (r.ok()) t = *r;
      }
    } else if (auto i = JsonIntValue(v)) {
      t = *i;
    }
    return false;
  });
  return t;
}

std::optional<uint64_t> EventSeq(std::string_view line) {
  std::optional<uint64_t> seq;
  ForEachTopLevelMember(line, [&](std::string_view k, std::string_view v) {
    if (k != "seq") return true;
    if (auto i = JsonIntValue(v); i && *i >= 0) seq = static_cast<uint64_t>(*i);
    return false;
  });
  return seq;
}

bool GlobMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = pi++;
      star_t = ti;
      continue;
    }
    if (pi < p.size()) {
      bool esc = p[pi] == '\\' && pi + 1 < p.size();
      char pc = esc ? p[pi + 1] : p[pi];
      if ((!esc && pc == '?') || pc == t[ti]) {
        pi += esc ? 2 : 1;
        ++ti;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p + 1;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// ---------------------------------------------------------------------------------------------
// Query matching

namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    if (c == std::string::npos) c = s.size();
    std::string part = s.substr(start, c - start);
    while (!part.empty() && IsWs(part.front())) part.erase(part.begin());
    while (!part.empty() && IsWs(part.back())) part.pop_back();
    if (!part.empty()) out.push_back(part);
    start = c + 1;
  }
  return out;
}

std::string Upper(std::string s) {
  for (auto& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
  return s;
}

// Parses "5xx" / "404" into an inclusive range.
bool ParseStatusFilter(const std::string& s, int* lo, int* hi) {
  if (s.size() != 3) return false;
  if (s[0] < '1' || s[0] > '5') return false;
  bool cls = (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X');
  if (cls) {
    *lo = (s[0] - '0') * 100;
    *hi = *lo + 99;
    return true;
  }
  if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') return false;
  *lo = *hi = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return true;
}

struct Matcher {
  const AuditQuery* q = nullptr;
  CidrSet cidr;
  int status_lo = 0, status_hi = 0;
  std::string method;
  std::string user_needle;  // "\"alice\"" when the user name needs no escaping

  bool Match(std::string_view line) const {
    if (!user_needle.empty() && line.find(user_needle) == std::string_view::npos) return false;
    std::string_view time, user, method_raw, path, route, status, ip;
    ForEachTopLevelMember(line, [&](std::string_view k, std::string_view v) {
      if (k == "time") time = v;
      else if (k == "user") user = v;
      else if (k == "method") method_raw = v;
      else if (k == "path") path = v;
      else if (k == "route") route = v;
      else if (k == "status") status = v;
      else if (k == "client_ip") ip = v;
      return true;
    });
    if (q->user) {
      auto u = JsonStringValue(user);
      if (!u || *u != *q->user) return false;
    }
    if (q->since_us || q->until_us) {
      int64_t t = 0;
      if (!time.empty() && time[0] == '"') {
        auto s = JsonStringValue(time);
        if (!s) return false;
        auto r = ParseRfc3339Micros(*s);
        if (!r.ok()) return false;
        t = *r;
      } else if (auto i = JsonIntValue(time)) {
        t = *i;
      } else {
        return false;
      }
      if (q->since_us && t < *q->since_us) return false;
      if (q->until_us && t >= *q->until_us) return false;
    }
    if (q->method) {
      auto m = JsonStringValue(method_raw);
      if (!m || Upper(*m) != method) return false;
    }
    if (q->status) {
      auto st = JsonIntValue(status);
      if (!st || *st < status_lo || *st > status_hi) return false;
    }
    if (q->path_glob) {
      auto p = JsonStringValue(path);
      auto r = JsonStringValue(route);
      if (!(p && GlobMatch(*q->path_glob, *p)) && !(r && GlobMatch(*q->path_glob, *r))) return false;
    }
    if (q->ip_cidr) {
      auto a = JsonStringValue(ip);
      if (!a || !cidr.Contains(*a)) return false;
    }
    return true;
  }

  bool TimeOverlaps(int64_t min_us, int64_t max_us) const {
    if (q->since_us && max_us < *q->since_us) return false;
    if (q->until_us && min_us >= *q->until_us) return false;
    return true;
  }
};

Result<Matcher> MakeMatcher(const AuditQuery& q) {
  HAKONE_RETURN_IF_ERROR(ValidateAuditQuery(q));
  Matcher m;
  m.q = &q;
  if (q.status) ParseStatusFilter(*q.status, &m.status_lo, &m.status_hi);
  if (q.method) m.method = Upper(*q.method);
  if (q.ip_cidr) {
    auto c = CidrSet::Parse(SplitComma(*q.ip_cidr));
    if (!c.ok()) return c.status();
    m.cidr = std::move(*c);
  }
  if (q.user) {
    bool plain = true;
    for (unsigned char c : *q.user) plain = plain && c >= 0x20 && c != '"' && c != '\\' && c != '/' && c < 0x7f;
    if (plain) m.user_needle = "\"" + *q.user + "\"";
  }
  return m;
}

}  // namespace

Status ValidateAuditQuery(const AuditQuery& q) {
  if (q.user && q.user->empty()) return Status::InvalidArgument("user: must not be empty");
  if (q.path_glob && q.path_glob->empty()) return Status::InvalidArgument("path: must not be empty");
  if (q.method) {
    if (q.method->empty() || q.method->size() > 32) return Status::InvalidArgument("method: must be an HTTP method such as GET");
    for (char c : *q.method) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_'))
        return Status::InvalidArgument("method: '" + *q.method + "' is not an HTTP method (GET, POST, ...)");
    }
  }
  if (q.status) {
    int lo, hi;
    if (!ParseStatusFilter(*q.status, &lo, &hi))
      return Status::InvalidArgument("status: '" + *q.status + "' must be a class (2xx, 4xx, 5xx) or a code (100-599)");
  }
  if (q.ip_cidr) {
    auto parts = SplitComma(*q.ip_cidr);
    if (parts.empty()) return Status::InvalidArgument("ip: must be an address or a CIDR (10.0.0.0/8)");
    auto c = CidrSet::Parse(parts);
    if (!c.ok()) return Status::InvalidArgument("ip: " + c.status().message());
  }
  if (q.since_us && q.until_us && *q.since_us >= *q.until_us)
    return Status::InvalidArgument("since: must be before until");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The store

namespace {

struct Metrics {
  metrics::Counter* blocks_written;
  metrics::Counter* events_written;
  metrics::Counter* bytes_written;
  metrics::Counter* damaged;
  metrics::Counter* write_errors;
  static Metrics& Get() {
    static Metrics m = [] {
      auto& r = metrics::Registry::Global();
      Metrics x;
      x.blocks_written = r.AddCounter("hakone_audit_store_blocks_written_total", "Audit blocks written")->Get();
      x.events_written = r.AddCounter("hakone_audit_store_events_written_total", "Audit events written to blocks")->Get();
      x.bytes_written = r.AddCounter("hakone_audit_store_bytes_written_total", "Compressed audit block bytes written")->Get();
      x.damaged = r.AddCounter("hakone_audit_store_damaged_blocks_total", "Damaged audit blocks found (and skipped)")->Get();
      x.write_errors = r.AddCounter("hakone_audit_store_write_errors_total", "Failed audit block writes (retried)")->Get();
      return x;
    }();
    return m;
  }
};

// An entry of a segment's index: a block with a valid header, or a damaged region.
struct Entry {
  BlockRef ref;
  bool damaged_region = false;  // true: a region with a bad header (seqs unknown)
  std::string reason;           // for damaged_region
};

struct Segment {
  std::string path;
  std::string name;
  uint64_t first_seq = 0;
  std::string day;
  uint64_t scanned = 0;  // everything before this offset is indexed
  uint64_t size = 0;
  int fd = -1;
  std::vector<Entry> entries;
};

bool ParseSegmentName(const std::string& name, uint64_t* first_seq, std::string* day) {
  // blocks-<20 digits>-<8 digits>.blk
  if (name.size() != 7 + 20 + 1 + 8 + 4 || name.compare(0, 7, "blocks-") != 0 || name[27] != '-' ||
      name.compare(36, 4, ".blk") != 0) {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 7; i < 27; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  for (size_t i = 28; i < 36; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  *first_seq = v;
  *day = name.substr(28, 8);
  return true;
}

std::string SegmentName(uint64_t first_seq, const std::string& day) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "blocks-%020llu-%s.blk", static_cast<unsigned long long>(first_seq), day.c_str());
  return buf;
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno("fsync " + dir, err);
  return Status::Ok();
}

struct Pending {
  uint64_t seq = 0;
  int64_t time_us = 0;
  std::string line;
};

// A block to read, or a problem to report, in storage order.
struct Item {
  int fd = -1;
  std::string file;
  Entry entry;
};

}  // namespace

struct AuditStore::Impl {
  std::string dir;
  std::string spool_dir;
  AuditStoreOptions opts;
  Spool* spool = nullptr;
  bool read_only = true;
  int lock_fd = -1;

  // The index of the segment files. Lock order: index_mu before head_mu.
  mutable std::mutex index_mu;
  std::vector<Segment> segs;
  std::set<std::pair<std::string, uint64_t>> logged_damage;
  uint64_t damaged = 0;

  // Writer state.
  std::unique_ptr<SpoolReader> reader;
  std::thread thread;
  mutable std::mutex head_mu;
  std::condition_variable head_cv;
  std::deque<Pending> head;  // read from the spool, not yet in a block
  size_t head_bytes = 0;
  std::chrono::steady_clock::time_point head_since;
  uint64_t stored_seq = 0;     // last seq in a block (written and fsync'd)
  uint64_t committed_seq = 0;  // spool position committed
  uint64_t received_seq = 0;   // last seq taken from the spool
  Status write_error;
  bool stop = false;
  bool stopped = false;
  bool flush_requested = false;
  int write_fd = -1;           // the segment being appended to (the last of segs)

  ~Impl() {
    for (auto& s : segs) {
      if (s.fd >= 0) ::close(s.fd);
    }
    if (write_fd >= 0) ::close(write_fd);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // ---- index ----

  void LogDamage(const std::string& file, uint64_t offset, const std::string& reason, uint64_t first, uint64_t last) {
    if (!logged_damage.insert({file, offset}).second) return;
    ++damaged;
    Metrics::Get().damaged->Inc();
    log::Error("audit store: damaged block skipped", {{"file", file},
                                                       {"offset", static_cast<unsigned long long>(offset)},
                                                       {"first_seq", static_cast<unsigned long long>(first)},
                                                       {"last_seq", static_cast<unsigned long long>(last)},
                                                       {"reason", reason}});
  }

  // Lists new segment files and indexes what was appended since the last call.
  // REQUIRES: index_mu held.
  Status Refresh() {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == ENOENT) return Status::Ok();
      return Status::FromErrno("opendir " + dir, errno);
    }
    std::vector<std::pair<uint64_t, std::string>> found;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      uint64_t fs;
      std::string day;
      if (ParseSegmentName(name, &fs, &day)) found.push_back({fs, name});
    }
    ::closedir(d);
    std::sort(found.begin(), found.end());
    for (auto& [fs, name] : found) {
      bool known = false;
      for (auto& s : segs) known = known || s.name == name;
      if (known) continue;
      Segment s;
      s.name = name;
      s.path = (fs::path(dir) / name).string();
      ParseSegmentName(name, &s.first_seq, &s.day);
      segs.push_back(std::move(s));
    }
    std::sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) { return a.first_seq < b.first_seq; });
    for (size_t i = 0; i < segs.size(); ++i) {
      Segment& s = segs[i];
      if (s.fd < 0) {
        s.fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (s.fd < 0) return Status::FromErrno("open " + s.path, errno);
      }
      struct stat st;
      if (::fstat(s.fd, &st) != 0) return Status::FromErrno("fstat " + s.path, errno);
      if (static_cast<uint64_t>(st.st_size) == s.scanned) continue;
      SegmentScanResult res;
      HAKONE_RETURN_IF_ERROR(ScanSegment(
          s.fd, s.scanned, [&](const BlockRef& r) { s.entries.push_back(Entry{r, false, {}}); },
          [&](const SegmentDamage& dmg) {
            Entry e;
            e.ref.offset = dmg.offset;
            e.damaged_region = true;
            e.reason = dmg.reason;
            s.entries.push_back(e);
          },
          &res));
      s.scanned = res.end_offset;
      s.size = res.file_size;
      // A newer segment exists, so this one is complete: a bad tail is damage, not a write in
      // progress.
      if (res.incomplete_tail && i + 1 < segs.size()) {
        Entry e;
        e.ref.offset = res.end_offset;
        e.damaged_region = true;
        e.reason = "incomplete or damaged block at the end of a finished segment";
        s.entries.push_back(e);
        s.scanned = res.file_size;
      }
    }
    return Status::Ok();
  }

  uint64_t LastBlockSeq() const {
    uint64_t last = 0;
    for (auto& s : segs) {
      for (auto& e : s.entries) {
        if (!e.damaged_region) last = std::max(last, e.ref.header.last_seq);
      }
    }
    return last;
  }

  // ---- reading ----

  // Collects the spool records with seq > after (read-only stores).
  Status ReadSpoolTail(uint64_t after, std::vector<Pending>* out, std::string* problem) {
    out->clear();
    std::error_code ec;
    if (spool_dir.empty() || !fs::exists(spool_dir, ec)) return Status::Ok();
    Status st = Spool::Scan(spool_dir, after + 1, [&](const SpoolRecord& r) {
      if (r.seq > after) out->push_back(Pending{r.seq, 0, r.payload});
      return true;
    });
    if (!st.ok()) {
      if (st.code() == StatusCode::kCorruption) {
        if (problem) *problem = st.message();
        return Status::Ok();
      }
      if (st.code() == StatusCode::kNotFound) return Status::Ok();
      return st;
    }
    return Status::Ok();
  }

  // A consistent view: the blocks (optionally time-pruned) then the tail after the last block.
  struct Snapshot {
    std::vector<Item> items;
    std::vector<Pending> tail;
    std::string tail_problem;
    uint64_t last_block_seq = 0;
  };

  Status TakeSnapshot(const Matcher* m, Snapshot* snap) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      snap->items.clear();
      snap->tail.clear();
      {
        std::lock_guard lk(index_mu);
        if (read_only) HAKONE_RETURN_IF_ERROR(Refresh());
        for (auto& s : segs) {
          for (auto& e : s.entries) {
            if (!e.damaged_region && m && !m->TimeOverlaps(e.ref.header.min_time_us, e.ref.header.max_time_us)) continue;
            snap->items.push_back(Item{s.fd, s.path, e});
          }
        }
        snap->last_block_seq = LastBlockSeq();
        if (!read_only) {
          std::lock_guard hk(head_mu);
          for (auto& p : head) {
            if (p.seq > snap->last_block_seq) snap->tail.push_back(p);
          }
          return Status::Ok();
        }
      }
      HAKONE_RETURN_IF_ERROR(ReadSpoolTail(snap->last_block_seq, &snap->tail, &snap->tail_problem));
      // The writer may have stored a block and the spool dropped its records between our two
      // reads: then the tail starts after a hole. Look again.
      bool hole = snap->tail.empty() || snap->tail.front().seq != snap->last_block_seq + 1;
      if (!hole) return Status::Ok();
      uint64_t again;
      {
        std::lock_guard lk(index_mu);
        HAKONE_RETURN_IF_ERROR(Refresh());
        again = LastBlockSeq();
      }
      if (again == snap->last_block_seq) return Status::Ok();
    }
    return Status::Ok();
  }

  // Decodes a block; logs and returns false when it is damaged.
  bool Decode(const Item& it, std::string* raw) {
    Status st = ReadBlock(it.fd, it.entry.ref, raw);
    if (st.ok()) return true;
    std::lock_guard lk(index_mu);
    LogDamage(it.file, it.entry.ref.offset, st.message(), it.entry.ref.header.first_seq, it.entry.ref.header.last_seq);
    return false;
  }

  void NoteDamagedRegion(const Item& it) {
    std::lock_guard lk(index_mu);
    LogDamage(it.file, it.entry.ref.offset, it.entry.reason, 0, 0);
  }

  // ---- writing ----

  Status OpenWriter() {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir + ": " + ec.message());
    std::string lock_path = (fs::path(dir) / "LOCK").string();
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return Status::FromErrno("open " + lock_path, errno);
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return Status::Unavailable("audit store " + dir + " is already open for writing by another process");
      return Status::FromErrno("flock " + lock_path, errno);
    }
    std::lock_guard lk(index_mu);
    HAKONE_RETURN_IF_ERROR(Refresh());
    if (!segs.empty()) {
      Segment& last = segs.back();
      struct stat st;
      if (::fstat(last.fd, &st) != 0) return Status::FromErrno("fstat " + last.path, errno);
      if (static_cast<uint64_t>(st.st_size) > last.scanned) {
        log::Warn("audit store: cutting a torn block off the newest segment",
                  {{"file", last.path},
                   {"offset", static_cast<unsigned long long>(last.scanned)},
                   {"bytes", static_cast<unsigned long long>(st.st_size - last.scanned)}});
        if (::truncate(last.path.c_str(), static_cast<off_t>(last.scanned)) != 0)
          return Status::FromErrno("truncate " + last.path, errno);
        last.size = last.scanned;
      }
    }
    stored_seq = LastBlockSeq();
    committed_seq = stored_seq;
    received_seq = stored_seq;
    return Status::Ok();
  }

  // Appends one encoded block for events [begin, end) of the head. REQUIRES: writer thread.
  Status WriteBlock(size_t begin, size_t end) {
    std::vector<BlockEvent> evs;
    evs.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) evs.push_back(BlockEvent{head[i].seq, head[i].time_us, head[i].line});
    std::string data;
    BlockHeader h;
    HAKONE_RETURN_IF_ERROR(EncodeBlock(evs, opts.zstd_level, &data, &h));
    std::string day = UtcDay(evs.front().time_us);
    Segment* cur = nullptr;
    {
      std::lock_guard lk(index_mu);
      if (!segs.empty()) cur = &segs.back();
    }
    bool new_file = !cur || cur->day != day || cur->size + data.size() > opts.segment_max_bytes;
    if (new_file && cur && cur->name == SegmentName(h.first_seq, day)) new_file = false;  // an empty leftover
    if (new_file) {
      if (write_fd >= 0) {
        ::close(write_fd);
        write_fd = -1;
      }
      Segment s;
      s.name = SegmentName(h.first_seq, day);
      s.path = (fs::path(dir) / s.name).string();
      s.first_seq = h.first_seq;
      s.day = day;
      int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) return Status::FromErrno("create " + s.path, errno);
      write_fd = fd;
      s.fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (s.fd < 0) return Status::FromErrno("open " + s.path, errno);
      HAKONE_RETURN_IF_ERROR(FsyncDir(dir));
      std::lock_guard lk(index_mu);
      segs.push_back(std::move(s));
      cur = &segs.back();
    } else if (write_fd < 0) {
      write_fd = ::open(cur->path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (write_fd < 0) return Status::FromErrno("open " + cur->path, errno);
    }
    uint64_t offset = cur->size;
    Status st = WriteAll(write_fd, data);
    if (st.ok() && ::fdatasync(write_fd) != 0) st = Status::FromErrno("fdatasync " + cur->path, errno);
    if (!st.ok()) {
      // Leave no partial block behind; the events stay in the head and are retried.
      if (::ftruncate(write_fd, static_cast<off_t>(offset)) != 0) {
        ::close(write_fd);
        write_fd = -1;
      }
      return st.WithContext("audit store: write " + cur->path);
    }
    Metrics::Get().blocks_written->Inc();
    Metrics::Get().events_written->Inc(evs.size());
    Metrics::Get().bytes_written->Inc(data.size());
    std::lock_guard lk(index_mu);
    cur->entries.push_back(Entry{BlockRef{offset, h}, false, {}});
    cur->size = offset + data.size();
    cur->scanned = cur->size;
    return Status::Ok();
  }

  // Writes the whole head as blocks (split by size and by UTC day), then commits the spool.
  Status FlushHead() {
    size_t n = head.size();  // only this thread changes head
    uint64_t last_written = 0;
    Status result;
    while (n > 0) {
      size_t end = 0;
      size_t bytes = 0;
      std::string day = UtcDay(head[0].time_us);
      while (end < n && end < opts.block_max_events &&
             (end == 0 || (bytes + head[end].line.size() + 1 <= opts.block_max_bytes && UtcDay(head[end].time_us) == day))) {
        bytes += head[end].line.size() + 1;
        ++end;
      }
      Status st = WriteBlock(0, end);
      if (!st.ok()) {
        result = st;
        break;
      }
      last_written = head[end - 1].seq;
      {
        std::lock_guard lk(index_mu);
        std::lock_guard hk(head_mu);
        for (size_t i = 0; i < end; ++i) {
          head_bytes -= head.front().line.size();
          head.pop_front();
        }
        stored_seq = last_written;
        head_since = std::chrono::steady_clock::now();
      }
      n -= end;
    }
    if (last_written > 0 && reader) {
      Status cs = reader->Commit(last_written);
      if (cs.ok()) {
        std::lock_guard hk(head_mu);
        committed_seq = last_written;
      } else if (result.ok()) {
        result = cs.WithContext("audit store: commit spool position");
      }
    }
    {
      std::lock_guard hk(head_mu);
      write_error = result;
    }
    head_cv.notify_all();
    return result;
  }

  void Run() {
    using clock = std::chrono::steady_clock;
    auto next_retry = clock::now();
    bool draining = false;
    bool read_failing = false;
    auto drain_deadline = clock::now();
    for (;;) {
      bool stopping, want_flush;
      {
        std::lock_guard hk(head_mu);
        stopping = stop;
        want_flush = flush_requested;
        flush_requested = false;
      }
      if (stopping && !draining) {
        draining = true;
        drain_deadline = clock::now() + std::chrono::seconds(2);
      }
      // Back-pressure: while blocks cannot be written, stop taking records from the spool.
      bool full = head_bytes > 4 * opts.block_max_bytes + (64u << 20);
      std::chrono::milliseconds wait{100};
      if (!head.empty()) {
        auto due = head_since + opts.flush_interval;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - clock::now());
        wait = std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
        if (next_retry > clock::now()) wait = std::chrono::milliseconds(100);  // a write failed: do not spin
      }
      if (draining) wait = std::chrono::milliseconds(0);
      bool got = false;
      if (!full && reader) {
        auto r = reader->Read(1024, 1u << 20, wait);
        if (!r.ok()) {
          if (draining) break;
          if (!read_failing) log::Warn("audit store: spool read failed (retrying)", {{"error", r.status().ToString()}});
          read_failing = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        } else {
          if (read_failing) log::Info("audit store: spool reads work again");
          read_failing = false;
          got = !r->empty();
          std::lock_guard hk(head_mu);
          for (auto& rec : *r) {
            received_seq = std::max(received_seq, rec.seq);
            uint64_t newest = head.empty() ? stored_seq : head.back().seq;
            if (rec.seq <= newest) continue;  // already stored (crash before the commit)
            if (head.empty()) head_since = clock::now();
            int64_t t = EventTimeMicros(rec.payload);
            head_bytes += rec.payload.size();
            head.push_back(Pending{rec.seq, t, std::move(rec.payload)});
          }
        }
      } else if (full) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      bool due = !head.empty() && (want_flush || head.size() >= opts.block_max_events ||
                                   head_bytes >= opts.block_max_bytes || clock::now() >= head_since + opts.flush_interval);
      if (due && clock::now() >= next_retry) {
        Status st = FlushHead();
        if (!st.ok()) {
          Metrics::Get().write_errors->Inc();
          log::Error("audit store: block write failed, retrying", {{"error", st.ToString()}});
          next_retry = clock::now() + std::chrono::seconds(1);
        }
      } else if (head.empty() && received_seq > committed_seq && reader) {
        // Everything received was already stored (re-read after a restart): just commit.
        if (reader->Commit(received_seq).ok()) {
          std::lock_guard hk(head_mu);
          committed_seq = received_seq;
        }
        head_cv.notify_all();
      } else if (want_flush) {
        head_cv.notify_all();
      }
      if (draining && (!got || clock::now() >= drain_deadline)) break;
    }
    if (!head.empty()) {
      Status st = FlushHead();
      if (!st.ok()) log::Error("audit store: final block write failed", {{"error", st.ToString()}});
    }
    if (write_fd >= 0) {
      ::close(write_fd);
      write_fd = -1;
    }
    std::lock_guard hk(head_mu);
    stopped = true;
    head_cv.notify_all();
  }
};

AuditStore::AuditStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditStore::~AuditStore() { Stop(); }

Result<std::unique_ptr<AuditStore>> AuditStore::Open(const std::string& dir, Spool* spool, AuditStoreOptions opts) {
  if (dir.empty()) return Status::InvalidArgument("audit store: dir is empty");
  if (opts.flush_interval.count() <= 0) return Status::InvalidArgument("audit store: flush_interval must be positive");
  if (opts.block_max_events == 0 || opts.block_max_bytes == 0)
    return Status::InvalidArgument("audit store: block_max_events and block_max_bytes must be positive");
  if (opts.block_max_bytes > kBlockMaxRawBytes / 2) opts.block_max_bytes = kBlockMaxRawBytes / 2;
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->opts = opts;
  impl->spool = spool;
  impl->read_only = spool == nullptr;
  impl->spool_dir = opts.spool_dir;
  if (impl->spool_dir.empty()) {
    fs::path p = fs::path(dir);
    if (!p.has_filename()) p = p.parent_path();
    impl->spool_dir = (p.parent_path() / "spool" / "audit").string();
  }
  if (impl->read_only) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return Status::NotFound("audit store: no audit log at " + dir);
    std::lock_guard lk(impl->index_mu);
    HAKONE_RETURN_IF_ERROR(impl->Refresh());
  } else {
    HAKONE_RETURN_IF_ERROR(impl->OpenWriter());
    auto r = spool->OpenReader(opts.consumer);
    if (!r.ok()) return r.status().WithContext("audit store: open spool reader");
    impl->reader = std::move(*r);
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] { raw->Run(); });
  }
  return std::unique_ptr<AuditStore>(new AuditStore(std::move(impl)));
}

void AuditStore::Stop() {
  if (!impl_ || impl_->read_only) return;
  {
    std::lock_guard hk(impl_->head_mu);
    impl_->stop = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->reader.reset();
}

Status AuditStore::Flush() {
  if (impl_->read_only) return Status::InvalidArgument("audit store: read-only");
  uint64_t target;
  {
    std::lock_guard hk(impl_->head_mu);
    if (impl_->head.empty()) return impl_->write_error;
    target = impl_->head.back().seq;
    impl_->flush_requested = true;
  }
  return WaitStored(target, std::chrono::seconds(30));
}

Status AuditStore::WaitStored(uint64_t seq, std::chrono::milliseconds timeout) {
  if (impl_->read_only) return Status::InvalidArgument("audit store: read-only");
  std::unique_lock hk(impl_->head_mu);
  bool done = impl_->head_cv.wait_for(hk, timeout, [&] {
    return (impl_->stored_seq >= seq && impl_->committed_seq >= seq) || impl_->stopped;
  });
  if (impl_->stored_seq >= seq && impl_->committed_seq >= seq) return Status::Ok();
  if (!impl_->write_error.ok()) return impl_->write_error;
  if (impl_->stopped) return Status::Unavailable("audit store: stopped before seq " + std::to_string(seq) + " was stored");
  (void)done;
  return Status::Timeout("audit store: seq " + std::to_string(seq) + " not stored within " +
                         std::to_string(timeout.count()) + " ms (stored up to " + std::to_string(impl_->stored_seq) + ")");
}

Status AuditStore::Query(const AuditQuery& q, const std::function<bool(std::string_view)>& fn) const {
  HAKONE_ASSIGN_OR_RETURN(Matcher m, MakeMatcher(q));
  m.q = &q;
  Impl::Snapshot snap;
  HAKONE_RETURN_IF_ERROR(impl_->TakeSnapshot(&m, &snap));
  if (!snap.tail_problem.empty()) log::Warn("audit store: damaged spool records skipped", {{"error", snap.tail_problem}});
  size_t found = 0;
  bool stop = false;
  auto emit = [&](std::string_view line) {
    if (!m.Match(line)) return true;
    ++found;
    if (!fn(line)) stop = true;
    if (q.limit && found >= q.limit) stop = true;
    return !stop;
  };
  std::string raw;
  if (q.newest_first) {
    for (auto it = snap.tail.rbegin(); it != snap.tail.rend() && !stop; ++it) emit(it->line);
    std::vector<std::string_view> lines;
    for (auto it = snap.items.rbegin(); it != snap.items.rend() && !stop; ++it) {
      if (it->entry.damaged_region) {
        impl_->NoteDamagedRegion(*it);
        continue;
      }
      if (!impl_->Decode(*it, &raw)) continue;
      lines.clear();
      ForEachLine(raw, [&](std::string_view l) {
        lines.push_back(l);
        return true;
      });
      for (auto l = lines.rbegin(); l != lines.rend() && !stop; ++l) emit(*l);
    }
  } else {
    for (auto& it : snap.items) {
      if (stop) break;
      if (it.entry.damaged_region) {
        impl_->NoteDamagedRegion(it);
        continue;
      }
      if (!impl_->Decode(it, &raw)) continue;
      ForEachLine(raw, emit);
    }
    for (auto& p : snap.tail) {
      if (stop) break;
      emit(p.line);
    }
  }
  return Status::Ok();
}

Status AuditStore::ScanAll(const std::function<bool(std::string_view)>& on_event,
                           const std::function<void(const BlockProblem&)>& on_problem) const {
  Impl::Snapshot snap;
  HAKONE_RETURN_IF_ERROR(impl_->TakeSnapshot(nullptr, &snap));
  std::string raw;
  for (auto& it : snap.items) {
    BlockProblem p;
    p.file = it.file;
    p.offset = it.entry.ref.offset;
    if (it.entry.damaged_region) {
      impl_->NoteDamagedRegion(it);
      p.reason = it.entry.reason;
      if (on_problem) on_problem(p);
      continue;
    }
    Status st = ReadBlock(it.fd, it.entry.ref, &raw);
    if (!st.ok()) {
      impl_->Decode(it, &raw);  // logs it once
      p.seqs_known = true;
      p.first_seq = it.entry.ref.header.first_seq;
      p.last_seq = it.entry.ref.header.last_seq;
      p.reason = st.message();
      if (on_problem) on_problem(p);
      continue;
    }
    bool go = true;
    ForEachLine(raw, [&](std::string_view l) { return go = on_event(l); });
    if (!go) return Status::Ok();
  }
  if (!snap.tail_problem.empty() && on_problem) {
    BlockProblem p;
    p.file = impl_->spool_dir;
    p.reason = "spool: " + snap.tail_problem;
    on_problem(p);
  }
  for (auto& p : snap.tail) {
    if (!on_event(p.line)) break;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> AuditStore::LastEvent() const {
  Impl::Snapshot snap;
  HAKONE_RETURN_IF_ERROR(impl_->TakeSnapshot(nullptr, &snap));
  if (!snap.tail.empty()) return std::optional<std::string>(snap.tail.back().line);
  std::string raw;
  for (auto it = snap.items.rbegin(); it != snap.items.rend(); ++it) {
    if (it->entry.damaged_region) continue;
    if (!impl_->Decode(*it, &raw)) continue;
    std::string_view last;
    ForEachLine(raw, [&](std::string_view l) {
      last = l;
      return true;
    });
    if (!last.empty()) return std::optional<std::string>(std::string(last));
  }
  return std::optional<std::string>();
}

AuditStoreStats AuditStore::stats() const {
  AuditStoreStats s;
  std::lock_guard lk(impl_->index_mu);
  s.segments = impl_->segs.size();
  for (auto& seg : impl_->segs) {
    s.bytes_on_disk += seg.size;
    for (auto& e : seg.entries) {
      if (e.damaged_region) continue;
      ++s.blocks;
      s.events_in_blocks += e.ref.header.count;
      s.raw_bytes += e.ref.header.raw_len;
    }
  }
  s.last_block_seq = impl_->LastBlockSeq();
  s.damaged_blocks = impl_->damaged;
  std::lock_guard hk(impl_->head_mu);
  s.pending_events = impl_->head.size();
  return s;
}

bool AuditStore::read_only() const { return impl_->read_only; }
const std::string& AuditStore::dir() const { return impl_->dir; }

}  // namespace hakone::store
