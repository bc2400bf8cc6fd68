// TZif (RFC 8536) and POSIX TZ rule reader; see tz.h.
#include "store/tz.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

namespace hakone::store {
namespace {

Status Bad(const std::string& name, const std::string& why) {
  return Status::InvalidArgument("unknown or invalid time zone [" + name + "]: " + why);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t YearOfDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return yoe + era * 400 + (m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysInMonth(int64_t y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : d[m - 1];
}

// Local-time seconds at which `d` happens in year `y` (before adding d.time_s).
int64_t RuleDayStart(int64_t y, const TimeZone::PosixRule::Date& d) {
  int64_t days;
  if (d.kind == 'J') {
    days = DaysFromCivil(y, 1, 1) + d.day - 1 + (IsLeap(y) && d.day >= 60 ? 1 : 0);
  } else if (d.kind == 'D') {
    days = DaysFromCivil(y, 1, 1) + d.day;
  } else {
    int64_t first = DaysFromCivil(y, d.month, 1);
    int wd1 = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
    int day = 1 + (d.weekday - wd1 + 7) % 7 + (d.week - 1) * 7;
    while (day > DaysInMonth(y, d.month)) day -= 7;
    days = first + day - 1;
  }
  return days * 86400;
}

// ----- POSIX TZ strings

struct PosixParser {
  std::string_view s;
  size_t p = 0;
  bool Name() {
    if (p < s.size() && s[p] == '<') {
      size_t e = s.find('>', p);
      if (e == std::string_view::npos || e == p + 1) return false;
      p = e + 1;
      return true;
    }
    size_t b = p;
    while (p < s.size() && std::isalpha(static_cast<unsigned char>(s[p]))) ++p;
    return p - b >= 3;
  }
  // [+-]hh[:mm[:ss]], hours up to max_h.
  bool Time(int64_t* out, int max_h) {
    int sign = 1;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) sign = s[p++] == '-' ? -1 : 1;
    int64_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      if (i > 0) {
        if (p >= s.size() || s[p] != ':') break;
        ++p;
      }
      size_t b = p;
      int64_t v = 0;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p])) && p - b < 3) v = v * 10 + (s[p++] - '0');
      if (p == b) return false;
      parts[i] = v;
    }
    if (parts[0] > max_h || parts[1] > 59 || parts[2] > 59) return false;
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
  }
  bool Num(int* out, int lo, int hi) {
    size_t b = p;
    int v = 0;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p])) && p - b < 4) v = v * 10 + (s[p++] - '0');
    if (p == b || v < lo || v > hi) return false;
    *out = v;
    return true;
  }
  bool Date(TimeZone::PosixRule::Date* d) {
    if (p >= s.size()) return false;
    if (s[p] == 'M') {
      ++p;
      d->kind = 'M';
      if (!Num(&d->month, 1, 12) || p >= s.size() || s[p++] != '.') return false;
      if (!Num(&d->week, 1, 5) || p >= s.size() || s[p++] != '.') return false;
      if (!Num(&d->weekday, 0, 6)) return false;
    } else if (s[p] == 'J') {
      ++p;
      d->kind = 'J';
      if (!Num(&d->day, 1, 365)) return false;
    } else {
      d->kind = 'D';
      if (!Num(&d->day, 0, 365)) return false;
    }
    d->time_s = 7200;
    if (p < s.size() && s[p] == '/') {
      ++p;
      if (!Time(&d->time_s, 167)) return false;
    }
    return true;
  }
};

bool ParsePosix(std::string_view rule, TimeZone::PosixRule* r) {
  PosixParser ps{rule};
  int64_t off;
  if (!ps.Name() || !ps.Time(&off, 24)) return false;
  r->std_offset_s = -off;  // POSIX offsets are west-positive
  r->has_dst = false;
  if (ps.p == rule.size()) return true;
  if (!ps.Name()) return false;
  r->has_dst = true;
  r->dst_offset_s = r->std_offset_s + 3600;
  if (ps.p < rule.size() && rule[ps.p] != ',') {
    if (!ps.Time(&off, 24)) return false;
    r->dst_offset_s = -off;
  }
  if (ps.p == rule.size()) {  // no rule: the US default
    r->start = {'M', 3, 2, 0, 0, 7200};
    r->end = {'M', 11, 1, 0, 0, 7200};
    return true;
  }
  if (rule[ps.p++] != ',' || !ps.Date(&r->start)) return false;
  if (ps.p >= rule.size() || rule[ps.p++] != ',' || !ps.Date(&r->end)) return false;
  return ps.p == rule.size();
}

// ----- TZif

uint32_t Be32(const unsigned char* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
int64_t Be64(const unsigned char* p) { return static_cast<int64_t>((uint64_t{Be32(p)} << 32) | Be32(p + 4)); }

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
  size_t DataBytes(size_t time_size) const {
    return size_t{timecnt} * time_size + timecnt + size_t{typecnt} * 6 + charcnt + size_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

bool ReadHeader(std::string_view d, size_t at, TzifHeader* h) {
  if (d.size() < at + 44 || d.compare(at, 4, "TZif") != 0) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(d.data() + at);
  h->version = static_cast<char>(p[4]);
  if (h->version != 0 && (h->version < '2' || h->version > '9')) return false;
  h->isutcnt = Be32(p + 20);
  h->isstdcnt = Be32(p + 24);
  h->leapcnt = Be32(p + 28);
  h->timecnt = Be32(p + 32);
  h->typecnt = Be32(p + 36);
  h->charcnt = Be32(p + 40);
  // RFC 8536 3.1: typecnt nonzero; isutcnt/isstdcnt zero or typecnt. Bound everything.
  if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->timecnt > 100000 || h->leapcnt > 100000 || h->charcnt > 100000) return false;
  if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) || (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) return false;
  return true;
}

}  // namespace

Result<std::shared_ptr<const TimeZone>> TimeZone::FromPosix(std::string_view rule, const std::string& name) {
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = name;
  if (!ParsePosix(rule, &tz->rule_)) return Bad(name, "malformed POSIX TZ rule '" + std::string(rule) + "'");
  tz->has_rule_ = true;
  tz->initial_offset_s_ = tz->rule_.std_offset_s;
  return std::shared_ptr<const TimeZone>(std::move(tz));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(std::string_view d, const std::string& name) {
  TzifHeader h;
  if (!ReadHeader(d, 0, &h)) return Bad(name, "not a TZif file");
  size_t at = 44;
  size_t time_size = 4;
  if (h.version >= '2') {
    // Skip the 32-bit block; use the 64-bit one.
    if (d.size() - at < h.DataBytes(4)) return Bad(name, "truncated TZif file");
    at += h.DataBytes(4);
    if (!ReadHeader(d, at, &h)) return Bad(name, "damaged TZif v2+ header");
    at += 44;
    time_size = 8;
  }
  if (d.size() - at < h.DataBytes(time_size)) return Bad(name, "truncated TZif file");
  const auto* p = reinterpret_cast<const unsigned char*>(d.data() + at);
  auto tz = std::make_shared<TimeZone>();
  tz->name_ = name;
  std::vector<int64_t> times(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    times[i] = time_size == 8 ? Be64(p + i * 8) : static_cast<int32_t>(Be32(p + i * 4));
    if (i > 0 && times[i] <= times[i - 1]) return Bad(name, "transition times out of order");
  }
  p += size_t{h.timecnt} * time_size;
  const unsigned char* idx = p;
  p += h.timecnt;
  std::vector<int64_t> type_off(h.typecnt);
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    int64_t off = static_cast<int32_t>(Be32(p + i * 6));
    if (off <= -25 * 3600 || off >= 26 * 3600) return Bad(name, "offset out of range");
    if (p[i * 6 + 5] >= h.charcnt) return Bad(name, "bad designation index");
    type_off[i] = off;
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    if (idx[i] >= h.typecnt) return Bad(name, "bad local time type index");
    tz->transitions_.push_back(times[i]);
    tz->offsets_.push_back(type_off[idx[i]]);
  }
  tz->initial_offset_s_ = type_off[0];
  at += h.DataBytes(time_size);
  if (h.version >= '2') {
    // Footer: "\n<POSIX TZ>\n" (may be empty: no rule).
    if (at >= d.size() || d[at] != '\n') return Bad(name, "missing TZif footer");
    size_t e = d.find('\n', at + 1);
    if (e == std::string_view::npos) return Bad(name, "unterminated TZif footer");
    std::string_view rule = d.substr(at + 1, e - at - 1);
    if (!rule.empty()) {
      if (!ParsePosix(rule, &tz->rule_)) return Bad(name, "malformed TZif footer rule '" + std::string(rule) + "'");
      tz->has_rule_ = true;
    }
  }
  if (!tz->has_rule_) {
    // Without a rule the last type stays in effect.
    tz->rule_.std_offset_s = tz->offsets_.empty() ? tz->initial_offset_s_ : tz->offsets_.back();
    tz->has_rule_ = true;
  }
  return std::shared_ptr<const TimeZone>(std::move(tz));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(const std::string& name, const std::string& zoneinfo_dir) {
  auto fixed = [&](int64_t off_s) {
    auto tz = std::make_shared<TimeZone>();
    tz->name_ = name;
    tz->rule_.std_offset_s = off_s;
    tz->initial_offset_s_ = off_s;
    tz->has_rule_ = true;
    return std::shared_ptr<const TimeZone>(std::move(tz));
  };
  if (name.empty() || name == "Z" || name == "UTC" || name == "GMT" || name == "Etc/UTC" || name == "Etc/GMT" || name == "UCT" ||
      name == "Universal" || name == "Zulu")
    return fixed(0);
  if (name[0] == '+' || name[0] == '-') {
    // +h, +hh, +hhmm, +hh:mm (up to 18:00 as java.time.ZoneOffset).
    std::string digits;
    bool colon_ok = name.size() == 6 && name[3] == ':';
    for (size_t i = 1; i < name.size(); ++i) {
      if (std::isdigit(static_cast<unsigned char>(name[i]))) digits.push_back(name[i]);
      else if (!(colon_ok && i == 3)) return Bad(name, "a fixed offset is +hh:mm, +hhmm or +hh");
    }
    int h = 0, m = 0;
    if (digits.size() == 1 || digits.size() == 2) h = std::stoi(digits);
    else if (digits.size() == 4) { h = std::stoi(digits.substr(0, 2)); m = std::stoi(digits.substr(2)); }
    else return Bad(name, "a fixed offset is +hh:mm, +hhmm or +hh");
    if (m > 59 || h * 60 + m > 18 * 60) return Bad(name, "offset out of range (at most 18:00)");
    int64_t off = (h * 60 + m) * 60;
    return fixed(name[0] == '-' ? -off : off);
  }
  // An IANA name: a relative path of [A-Za-z0-9_+-] components.
  if (name.size() > 64) return Bad(name, "too long");
  size_t start = 0;
  while (true) {
    size_t e = name.find('/', start);
    std::string_view comp(name.data() + start, (e == std::string::npos ? name.size() : e) - start);
    if (comp.empty() || comp == "." || comp == ".." || !std::isalpha(static_cast<unsigned char>(comp[0]))) return Bad(name, "not a time zone name");
    for (char c : comp)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') return Bad(name, "not a time zone name");
    if (e == std::string::npos) break;
    start = e + 1;
  }
  std::string path = zoneinfo_dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Bad(name, "no such zone in " + zoneinfo_dir + " (is the tzdata package installed?)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
    ::close(fd);
    return Bad(name, "not a zone file");
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  return FromTzif(data, name);
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Get(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TimeZone>> cache;
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
  }
  auto tz = Load(name, "/usr/share/zoneinfo");
  if (!tz.ok()) return tz.status();
  std::lock_guard<std::mutex> l(mu);
  if (cache.size() < 1000) cache[name] = *tz;
  return *tz;
}

int64_t TimeZone::RuleOffsetS(int64_t utc_s) const {
  if (!rule_.has_dst) return rule_.std_offset_s;
  int64_t y = YearOfDays(FloorDiv(utc_s + rule_.std_offset_s, 86400));
  // Transition instants in UTC: the start is given in standard local time, the end in DST.
  auto in_dst = [&](int64_t year) {
    int64_t start = RuleDayStart(year, rule_.start) + rule_.start.time_s - rule_.std_offset_s;
    int64_t end = RuleDayStart(year, rule_.end) + rule_.end.time_s - rule_.dst_offset_s;
    if (start < end) return utc_s >= start && utc_s < end;
    return utc_s < end || utc_s >= start;  // southern hemisphere: DST spans the new year
  };
  return in_dst(y) ? rule_.dst_offset_s : rule_.std_offset_s;
}

int64_t TimeZone::OffsetMs(int64_t utc_ms) const {
  int64_t s = FloorDiv(utc_ms, 1000);
  if (transitions_.empty() || s >= transitions_.back()) {
    if (!transitions_.empty() && !has_rule_) return offsets_.back() * 1000;
    return RuleOffsetS(s) * 1000;
  }
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  if (it == transitions_.begin()) return initial_offset_s_ * 1000;
  return offsets_[static_cast<size_t>(it - transitions_.begin() - 1)] * 1000;
}

int64_t TimeZone::LocalToUtcMs(int64_t local_ms) const {
  // Offsets in effect around this wall time (at most one change within a day either side).
  const int64_t day = 86400000;
  int64_t a = OffsetMs(local_ms - day), b = OffsetMs(local_ms + day);
  int64_t ua = local_ms - a, ub = local_ms - b;
  bool va = OffsetMs(ua) == a, vb = OffsetMs(ub) == b;
  if (va && vb) return std::min(ua, ub);  // overlap: the earlier instant
  if (va) return ua;
  if (vb) return ub;
  // In a gap: the first instant after it (binary search for the change of offset).
  int64_t lo = std::min(ua, ub), hi = std::max(ua, ub);
  int64_t off_lo = OffsetMs(lo);
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (OffsetMs(mid) == off_lo) lo = mid;
    else hi = mid;
  }
  return hi;
}

}  // namespace hakone::store
