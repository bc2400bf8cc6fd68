#include "pipeline/parse.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "pipeline/event.h"

namespace hakone::pipeline {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

bool IContains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  char f = Lower(needle[0]);
  for (size_t i = 0; i + needle.size() <= hay.size(); i++) {
    if (Lower(hay[i]) != f) continue;
    size_t j = 1;
    while (j < needle.size() && Lower(hay[i + j]) == Lower(needle[j])) j++;
    if (j == needle.size()) return true;
  }
  return false;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int MonthIndex(std::string_view s) {
  for (int i = 0; i < 12; i++)
    if (IEquals(s, kMonths[i])) return i + 1;
  return 0;
}

bool ValidDate(int y, int mo, int d, int h, int mi, int se) {
  return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && se >= 0 &&
         se <= 60;
}

int64_t ToNs(int y, int mo, int d, int h, int mi, int se, int64_t frac_ns, int offset_s) {
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  return secs * 1000000000 + frac_ns;
}

int YearOf(int64_t ns) {
  // Cached per thread for the current day: syslog sources ask for every line.
  thread_local int64_t cached_day = INT64_MIN;
  thread_local int cached_year = 0;
  int64_t day = ns / 1000000000 / 86400;
  if (day == cached_day) return cached_year;
  time_t t = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  cached_day = day;
  cached_year = tm.tm_year + 1900;
  return cached_year;
}

Result<int64_t> ParseRfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &se))
    return Status::InvalidArgument("time: not RFC 3339: '" + std::string(s.substr(0, 40)) + "'");
  if (!ValidDate(y, mo, d, h, mi, se)) return Status::InvalidArgument("time: date out of range");
  size_t p = 19;
  int64_t frac = 0;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    p++;
    int64_t scale = 100000000;
    size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (scale > 0) frac += (s[p] - '0') * scale;
      scale /= 10;
      p++;
    }
    if (p == start) return Status::InvalidArgument("time: empty fraction");
  }
  int off = 0;
  if (p < s.size()) {
    if (s[p] == 'Z' || s[p] == 'z') {
      p++;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      int sign = s[p] == '-' ? -1 : 1;
      if (!Digits(s, p + 1, 2, &oh)) return Status::InvalidArgument("time: bad offset");
      size_t q = p + 3;
      if (q < s.size() && s[q] == ':') q++;
      if (!Digits(s, q, 2, &om)) return Status::InvalidArgument("time: bad offset");
      off = sign * (oh * 3600 + om * 60);
      p = q + 2;
    }
  }
  if (p != s.size()) return Status::InvalidArgument("time: trailing characters");
  return ToNs(y, mo, d, h, mi, se, frac, off);
}

// "Oct 11 22:14:15" (day may be space-padded); *len gets the consumed length.
Result<int64_t> ParseBsdTime(std::string_view s, int64_t now_ns, size_t* len) {
  if (s.size() < 15) return Status::InvalidArgument("time: short BSD timestamp");
  int mo = MonthIndex(s.substr(0, 3));
  if (mo == 0 || s[3] != ' ') return Status::InvalidArgument("time: bad month");
  int d;
  if (s[4] == ' ') {
    if (!Digits(s, 5, 1, &d)) return Status::InvalidArgument("time: bad day");
  } else if (!Digits(s, 4, 2, &d)) {
    return Status::InvalidArgument("time: bad day");
  }
  int h, mi, se;
  if (s[6] != ' ' || !Digits(s, 7, 2, &h) || s[9] != ':' || !Digits(s, 10, 2, &mi) || s[12] != ':' ||
      !Digits(s, 13, 2, &se))
    return Status::InvalidArgument("time: bad clock");
  int y = YearOf(now_ns);
  if (!ValidDate(y, mo, d, h, mi, se)) return Status::InvalidArgument("time: out of range");
  int64_t t = ToNs(y, mo, d, h, mi, se, 0, 0);
  // December lines read in January belong to last year.
  if (t > now_ns + int64_t{86400} * 1000000000 * 30) t = ToNs(y - 1, mo, d, h, mi, se, 0, 0);
  *len = 15;
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status ParseLogfmt(std::string_view s, boost::json::object* out) {
  size_t i = 0, n = s.size();
  while (i < n) {
    while (i < n && IsSpace(s[i])) i++;
    if (i >= n) break;
    size_t ks = i;
    while (i < n && !IsSpace(s[i]) && s[i] != '=' && s[i] != '"') i++;
    if (i < n && s[i] == '"') return Status::InvalidArgument("logfmt: quote in key at offset " + std::to_string(i));
    std::string_view key = s.substr(ks, i - ks);
    if (key.empty()) return Status::InvalidArgument("logfmt: '=' without a key at offset " + std::to_string(i));
    if (i >= n || s[i] != '=') {
      (*out)[key] = true;
      continue;
    }
    i++;  // '='
    if (i < n && s[i] == '"') {
      size_t qs = i;
      i++;
      std::string v;
      bool closed = false;
      while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
          char e = s[i + 1];
          v.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
          i += 2;
          continue;
        }
        if (c == '"') {
          closed = true;
          i++;
          break;
        }
        v.push_back(c);
        i++;
      }
      if (!closed) return Status::InvalidArgument("logfmt: unterminated quote at offset " + std::to_string(qs));
      (*out)[key] = v;
    } else {
      size_t vs = i;
      while (i < n && !IsSpace(s[i])) i++;
      (*out)[key] = s.substr(vs, i - vs);
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

Status ParseSyslog(std::string_view line, int64_t now_ns, SyslogMessage* m) {
  // Reset field by field: a reused SyslogMessage keeps its string buffers.
  m->facility = m->severity = -1;
  m->version = 0;
  m->ts_ns = 0;
  for (std::string* f : {&m->timestamp, &m->hostname, &m->appname, &m->procid, &m->msgid, &m->structured_data, &m->message})
    f->clear();
  std::string_view s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '\0')) s.remove_suffix(1);
  if (!s.empty() && s[0] == '<') {
    size_t close = s.find('>');
    if (close == std::string_view::npos || close < 2 || close > 4)
      return Status::InvalidArgument("syslog: bad PRI (expected <0..191>)");
    int pri = 0;
    for (size_t i = 1; i < close; i++) {
      if (s[i] < '0' || s[i] > '9') return Status::InvalidArgument("syslog: bad PRI digit");
      pri = pri * 10 + (s[i] - '0');
    }
    if (pri > 191) return Status::InvalidArgument("syslog: PRI over 191");
    m->facility = pri / 8;
    m->severity = pri % 8;
    s.remove_prefix(close + 1);
  }
  auto next = [&](std::string* out) -> bool {
    size_t sp = s.find(' ');
    if (sp == std::string_view::npos) return false;
    out->assign(s.substr(0, sp));
    s.remove_prefix(sp + 1);
    return true;
  };
  if (s.size() >= 2 && s[0] >= '1' && s[0] <= '9' && (s[1] == ' ' || (s.size() > 2 && s[1] >= '0' && s[1] <= '9' && s[2] == ' '))) {
    // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
    std::string ver;
    if (!next(&ver)) return Status::InvalidArgument("syslog: truncated header");
    m->version = std::atoi(ver.c_str());
    if (!next(&m->timestamp) || !next(&m->hostname) || !next(&m->appname) || !next(&m->procid) || !next(&m->msgid)) {
      // A header with nothing after MSGID (no SD) is still truncated.
      return Status::InvalidArgument("syslog: truncated RFC 5424 header");
    }
    if (m->timestamp != "-") {
      auto t = ParseRfc3339(m->timestamp);
      if (!t.ok()) return Status::InvalidArgument("syslog: bad RFC 5424 timestamp '" + m->timestamp.substr(0, 40) + "'");
      m->ts_ns = *t;
    }
    for (std::string* f : {&m->hostname, &m->appname, &m->procid, &m->msgid})
      if (*f == "-") f->clear();
    if (s.empty()) return Status::InvalidArgument("syslog: missing structured data");
    if (s[0] == '-') {
      s.remove_prefix(1);
    } else if (s[0] == '[') {
      size_t i = 0;
      while (i < s.size() && s[i] == '[') {
        i++;
        bool in_q = false;
        for (; i < s.size(); i++) {
          char c = s[i];
          if (in_q) {
            if (c == '\\') {
              i++;
              continue;
            }
            if (c == '"') in_q = false;
          } else if (c == '"') {
            in_q = true;
          } else if (c == ']') {
            break;
          }
        }
        if (i >= s.size()) return Status::InvalidArgument("syslog: unterminated structured data");
        i++;  // ']'
      }
      m->structured_data.assign(s.substr(0, i));
      s.remove_prefix(i);
    } else {
      return Status::InvalidArgument("syslog: bad structured data");
    }
    if (!s.empty()) {
      if (s[0] != ' ') return Status::InvalidArgument("syslog: expected space after structured data");
      s.remove_prefix(1);
    }
    if (s.size() >= 3 && static_cast<unsigned char>(s[0]) == 0xEF && static_cast<unsigned char>(s[1]) == 0xBB &&
        static_cast<unsigned char>(s[2]) == 0xBF)
      s.remove_prefix(3);  // BOM
    m->message.assign(s);
    return Status::Ok();
  }
  // RFC 3164: TIMESTAMP SP HOSTNAME SP TAG[PID]: MSG (timestamp and hostname optional)
  size_t tl = 0;
  auto t = ParseBsdTime(s, now_ns, &tl);
  if (t.ok()) {
    m->timestamp.assign(s.substr(0, tl));
    m->ts_ns = *t;
    s.remove_prefix(tl);
    if (!s.empty() && s[0] == ' ') s.remove_prefix(1);
    // The hostname is the next word unless it already is the tag ("sshd[12]:" / "su:").
    size_t sp = s.find(' ');
    std::string_view word = s.substr(0, sp);
    if (sp != std::string_view::npos && !word.empty() && word.back() != ':' && word.find('[') == std::string_view::npos) {
      m->hostname.assign(word);
      s.remove_prefix(sp + 1);
    }
  } else {
    auto t2 = ParseRfc3339(s.substr(0, s.find(' ')));
    if (t2.ok()) {  // some senders put an ISO timestamp in BSD format
      m->timestamp.assign(s.substr(0, s.find(' ')));
      m->ts_ns = *t2;
      s.remove_prefix(std::min(s.size(), m->timestamp.size() + 1));
      size_t sp = s.find(' ');
      if (sp != std::string_view::npos) {
        m->hostname.assign(s.substr(0, sp));
        s.remove_prefix(sp + 1);
      }
    }
  }
  // TAG: up to 48 alphanumerics (and -_./), optional [PID], then ':'
  size_t i = 0;
  while (i < s.size() && i < 48 && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == '_' ||
                                    s[i] == '.' || s[i] == '/'))
    i++;
  if (i > 0 && i < s.size() && (s[i] == ':' || s[i] == '[')) {
    m->appname.assign(s.substr(0, i));
    size_t j = i;
    if (s[j] == '[') {
      size_t close = s.find(']', j);
      if (close != std::string_view::npos) {
        m->procid.assign(s.substr(j + 1, close - j - 1));
        j = close + 1;
      }
    }
    if (j < s.size() && s[j] == ':') {
      j++;
      if (j < s.size() && s[j] == ' ') j++;
      s.remove_prefix(j);
    } else {
      m->appname.clear();
      m->procid.clear();
    }
  }
  m->message.assign(s);
  return Status::Ok();
}

void SyslogToFields(const SyslogMessage& m, boost::json::object* out) {
  static const char* kSev[] = {"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"};
  if (m.facility >= 0) {
    (*out)["facility"] = m.facility;
    (*out)["severity"] = m.severity;
    (*out)["level"] = kSev[m.severity & 7];
  }
  if (!m.hostname.empty()) (*out)["hostname"] = m.hostname;
  if (!m.appname.empty()) (*out)["appname"] = m.appname;
  if (!m.procid.empty()) (*out)["procid"] = m.procid;
  if (!m.msgid.empty()) (*out)["msgid"] = m.msgid;
  if (!m.structured_data.empty()) (*out)["structured_data"] = m.structured_data;
  (*out)["message"] = m.message;
}

void SyslogToFieldsJson(const SyslogMessage& m, std::string* out) {
  static const char* kSev[] = {"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"};
  out->reserve(out->size() + m.message.size() + m.hostname.size() + m.appname.size() + m.structured_data.size() + 128);
  out->push_back('{');
  auto str = [out](std::string_view k, std::string_view v) {
    out->push_back('"');
    out->append(k);
    out->append("\":\"");
    AppendJsonEscapedFast(out, v);
    out->append("\",");
  };
  if (m.facility >= 0) {
    // facility 0..23, severity 0..7 (ParseSyslog bounds PRI to 191).
    out->append("\"facility\":");
    if (m.facility >= 10) out->push_back(static_cast<char>('0' + m.facility / 10 % 10));
    out->push_back(static_cast<char>('0' + m.facility % 10));
    out->append(",\"severity\":");
    out->push_back(static_cast<char>('0' + (m.severity & 7)));
    out->push_back(',');
    str("level", kSev[m.severity & 7]);
  }
  if (!m.hostname.empty()) str("hostname", m.hostname);
  if (!m.appname.empty()) str("appname", m.appname);
  if (!m.procid.empty()) str("procid", m.procid);
  if (!m.msgid.empty()) str("msgid", m.msgid);
  if (!m.structured_data.empty()) str("structured_data", m.structured_data);
  str("message", m.message);
  out->back() = '}';
}

// ---------------------------------------------------------------------------------------------

Status SyslogFramer::Feed(std::string_view bytes, const std::function<void(std::string_view)>& fn) {
  buf_.append(bytes);
  size_t pos = 0;
  Status st;
  while (pos < buf_.size()) {
    char c = buf_[pos];
    if (c == '\n' || c == '\r') {
      pos++;
      continue;
    }
    if (c >= '1' && c <= '9') {
      // Octet counting: digits then a space. Otherwise this is a newline-framed line.
      size_t i = pos;
      uint64_t len = 0;
      while (i < buf_.size() && buf_[i] >= '0' && buf_[i] <= '9' && i - pos < 10) {
        len = len * 10 + static_cast<uint64_t>(buf_[i] - '0');
        i++;
      }
      if (i == buf_.size()) break;  // need more bytes
      if (buf_[i] == ' ') {
        if (len > max_frame_) {
          st = Status::InvalidArgument("syslog: octet count " + std::to_string(len) + " over the frame limit");
          buf_.clear();
          return st;
        }
        if (buf_.size() - (i + 1) < len) break;  // incomplete frame
        fn(std::string_view(buf_).substr(i + 1, len));
        pos = i + 1 + len;
        continue;
      }
    }
    size_t nl = buf_.find('\n', pos);
    if (nl == std::string::npos) {
      if (buf_.size() - pos > max_frame_) {
        buf_.clear();
        return Status::InvalidArgument("syslog: line over the frame limit");
      }
      break;
    }
    std::string_view line(buf_.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) fn(line);
    pos = nl + 1;
  }
  buf_.erase(0, pos);
  return st;
}

void SyslogFramer::Finish(const std::function<void(std::string_view)>& fn) {
  std::string_view rest = buf_;
  while (!rest.empty() && (rest.back() == '\r' || rest.back() == '\n')) rest.remove_suffix(1);
  size_t i = 0;
  while (i < rest.size() && (rest[i] == '\r' || rest[i] == '\n')) i++;
  rest.remove_prefix(i);
  if (!rest.empty()) fn(rest);
  buf_.clear();
}

// ---------------------------------------------------------------------------------------------

Result<std::shared_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                                   &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return Status::InvalidArgument("regex '" + std::string(pattern) + "': " + reinterpret_cast<char*>(buf) +
                                   " at offset " + std::to_string(off));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when unavailable
  std::shared_ptr<Regex> r(new Regex());
  r->pattern_.assign(pattern);
  r->code_ = code;
  uint32_t count = 0, entry = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < count; i++) {
    const unsigned char* e = table + i * entry;
    int num = (e[0] << 8) | e[1];
    r->names_.emplace_back(num, std::string(reinterpret_cast<const char*>(e + 2)));
  }
  std::sort(r->names_.begin(), r->names_.end());  // the name table is sorted by name: use group order
  return r;
}

Regex::~Regex() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

namespace {
struct MatchData {
  pcre2_match_data* md = nullptr;
  ~MatchData() {
    if (md) pcre2_match_data_free(md);
  }
};
pcre2_match_data* ThreadMatchData() {
  thread_local MatchData d;
  if (!d.md) d.md = pcre2_match_data_create(64, nullptr);
  return d.md;
}
}  // namespace

bool Regex::Matches(std::string_view s) const {
  // Byte mode (no PCRE2_UTF): any bytes are a valid subject, and no per-match UTF check.
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0,
                       ThreadMatchData(), nullptr);
  return rc >= 0;
}

std::optional<std::vector<std::pair<std::string, std::string>>> Regex::Captures(std::string_view s) const {
  pcre2_match_data* md = ThreadMatchData();
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md,
                       nullptr);
  if (rc < 0) return std::nullopt;
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  uint32_t pairs = pcre2_get_ovector_count(md);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(names_.size());
  for (const auto& [num, name] : names_) {
    if (num >= rc || static_cast<uint32_t>(num) >= pairs) continue;
    PCRE2_SIZE a = ov[2 * num], b = ov[2 * num + 1];
    if (a == PCRE2_UNSET || b < a) continue;
    out.emplace_back(name, std::string(s.substr(a, b - a)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

void MultilineAssembler::Add(std::string_view line, const std::function<void(std::string&&)>& fn) {
  bool joins;
  if (o_.start) {
    joins = lines_ > 0 && !o_.start->Matches(line);
  } else {
    joins = lines_ > 0 && o_.continuation && o_.continuation->Matches(line);
  }
  if (joins && lines_ < o_.max_lines && cur_.size() + line.size() + 1 <= o_.max_bytes) {
    cur_.push_back('\n');
    cur_.append(line);
    lines_++;
    return;
  }
  if (lines_ > 0) fn(std::move(cur_));
  cur_.assign(line);
  lines_ = 1;
}

void MultilineAssembler::Flush(const std::function<void(std::string&&)>& fn) {
  if (lines_ == 0) return;
  fn(std::move(cur_));
  cur_.clear();
  lines_ = 0;
}

// ---------------------------------------------------------------------------------------------

const boost::json::value* LookupField(const boost::json::object& o, std::string_view path) {
  if (auto it = o.find(path); it != o.end()) return &it->value();
  const boost::json::object* cur = &o;
  while (true) {
    size_t dot = path.find('.');
    std::string_view head = path.substr(0, dot);
    auto it = cur->find(head);
    if (it == cur->end()) return nullptr;
    if (dot == std::string_view::npos) return &it->value();
    if (!it->value().is_object()) return nullptr;
    cur = &it->value().as_object();
    path.remove_prefix(dot + 1);
  }
}

namespace {

// The string form of a field for comparisons; false when absent.
bool FieldText(const Event& e, std::string_view field, std::string* out) {
  if (!e.fields.empty()) {
    if (const auto* v = LookupField(e.fields, field)) {
      if (v->is_string()) out->assign(v->as_string());
      else if (v->is_int64()) *out = std::to_string(v->as_int64());
      else if (v->is_uint64()) *out = std::to_string(v->as_uint64());
      else if (v->is_double()) *out = std::to_string(v->as_double());
      else if (v->is_bool()) *out = v->as_bool() ? "true" : "false";
      else if (v->is_null()) return false;
      else out->assign(boost::json::serialize(*v));
      return true;
    }
  }
  if (field == "message") *out = e.message;
  else if (field == "env") *out = e.env;
  else if (field == "source") *out = e.source;
  else if (field == "origin") *out = e.origin;
  else return false;
  return true;
}

class TextQuery : public Query {
 public:
  explicit TextQuery(std::string t) : t_(std::move(t)) {}
  bool Matches(const Event& e) const override {
    if (IContains(e.message, t_)) return true;
    if (const auto* v = e.fields.empty() ? nullptr : e.fields.if_contains("message"); v && v->is_string())
      return IContains(v->as_string(), t_);
    return false;
  }
  std::string t_;
};

class FieldQuery : public Query {
 public:
  enum Op { kEq, kPrefix, kExists, kGt, kGe, kLt, kLe };
  FieldQuery(std::string f, Op op, std::string v) : f_(std::move(f)), op_(op), v_(std::move(v)) {
    if (op_ >= kGt) num_ = std::strtod(v_.c_str(), nullptr);
  }
  bool Matches(const Event& e) const override {
    std::string s;
    if (!FieldText(e, f_, &s)) return false;
    switch (op_) {
      case kExists: return true;
      case kEq: return IEquals(s, v_);
      case kPrefix: return s.size() >= v_.size() && IEquals(std::string_view(s).substr(0, v_.size()), v_);
      default: break;
    }
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end == s.c_str()) return false;
    switch (op_) {
      case kGt: return d > num_;
      case kGe: return d >= num_;
      case kLt: return d < num_;
      case kLe: return d <= num_;
      default: return false;
    }
  }
  std::string f_;
  Op op_;
  std::string v_;
  double num_ = 0;
};

class BoolQuery : public Query {
 public:
  enum Kind { kAnd, kOr, kNot } kind;
  std::vector<std::shared_ptr<Query>> kids;
  explicit BoolQuery(Kind k) : kind(k) {}
  bool Matches(const Event& e) const override {
    switch (kind) {
      case kAnd:
        for (auto& k : kids)
          if (!k->Matches(e)) return false;
        return true;
      case kOr:
        for (auto& k : kids)
          if (k->Matches(e)) return true;
        return false;
      case kNot: return !kids[0]->Matches(e);
    }
    return false;
  }
};

class MatchAll : public Query {
 public:
  bool Matches(const Event&) const override { return true; }
};

class QueryParser {
 public:
  explicit QueryParser(std::string_view s) : s_(s) {}
  Result<std::shared_ptr<Query>> Run() {
    SkipWs();
    if (i_ >= s_.size()) return std::shared_ptr<Query>(new MatchAll());
    auto q = ParseOr(0);
    if (!q.ok()) return q;
    SkipWs();
    if (i_ < s_.size()) return Err("unexpected '" + std::string(1, s_[i_]) + "'");
    return q;
  }

 private:
  Status Err(const std::string& m) const {
    return Status::InvalidArgument("query: " + m + " at offset " + std::to_string(i_));
  }
  void SkipWs() {
    while (i_ < s_.size() && IsSpace(s_[i_])) i_++;
  }
  bool Keyword(std::string_view kw) {
    SkipWs();
    if (s_.substr(i_, kw.size()) == kw && (i_ + kw.size() == s_.size() || IsSpace(s_[i_ + kw.size()]) ||
                                            s_[i_ + kw.size()] == '(')) {
      i_ += kw.size();
      return true;
    }
    return false;
  }
  Result<std::shared_ptr<Query>> ParseOr(int depth) {
    auto b = std::make_shared<BoolQuery>(BoolQuery::kOr);
    while (true) {
      auto q = ParseAnd(depth);
      if (!q.ok()) return q;
      b->kids.push_back(*q);
      if (!Keyword("OR")) break;
    }
    if (b->kids.size() == 1) return b->kids[0];
    return std::shared_ptr<Query>(b);
  }
  Result<std::shared_ptr<Query>> ParseAnd(int depth) {
    auto b = std::make_shared<BoolQuery>(BoolQuery::kAnd);
    while (true) {
      SkipWs();
      if (i_ >= s_.size() || s_[i_] == ')') break;
      size_t save = i_;
      if (Keyword("OR")) {
        i_ = save;
        break;
      }
      Keyword("AND");
      auto q = ParseUnary(depth);
      if (!q.ok()) return q;
      b->kids.push_back(*q);
    }
    if (b->kids.empty()) return Err("expected a term");
    if (b->kids.size() == 1) return b->kids[0];
    return std::shared_ptr<Query>(b);
  }
  Result<std::shared_ptr<Query>> ParseUnary(int depth) {
    if (depth > 32) return Err("nested too deeply");
    SkipWs();
    if (i_ >= s_.size()) return Err("expected a term");
    bool neg = false;
    if (s_[i_] == '-') {
      neg = true;
      i_++;
    } else if (Keyword("NOT")) {
      neg = true;
    }
    auto q = ParsePrimary(depth);
    if (!q.ok() || !neg) return q;
    auto n = std::make_shared<BoolQuery>(BoolQuery::kNot);
    n->kids.push_back(*q);
    return std::shared_ptr<Query>(n);
  }
  Result<std::string> Quoted() {
    size_t start = i_;
    i_++;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) i_++;
      out.push_back(s_[i_++]);
    }
    if (i_ >= s_.size()) {
      i_ = start;
      return Err("unterminated quote");
    }
    i_++;
    return out;
  }
  Result<std::shared_ptr<Query>> ParsePrimary(int depth) {
    SkipWs();
    if (i_ >= s_.size()) return Err("expected a term");
    if (s_[i_] == '(') {
      i_++;
      auto q = ParseOr(depth + 1);
      if (!q.ok()) return q;
      SkipWs();
      if (i_ >= s_.size() || s_[i_] != ')') return Err("missing ')'");
      i_++;
      return q;
    }
    if (s_[i_] == ')') return Err("unbalanced ')'");
    if (s_[i_] == '"') {
      auto t = Quoted();
      if (!t.ok()) return t.status();
      return std::shared_ptr<Query>(new TextQuery(*t));
    }
    size_t st = i_;
    while (i_ < s_.size() && !IsSpace(s_[i_]) && s_[i_] != ':' && s_[i_] != '(' && s_[i_] != ')' && s_[i_] != '"') i_++;
    std::string word(s_.substr(st, i_ - st));
    if (i_ < s_.size() && s_[i_] == ':') {
      if (word.empty()) return Err("empty field name");
      i_++;
      FieldQuery::Op op = FieldQuery::kEq;
      if (s_.substr(i_, 2) == ">=") op = FieldQuery::kGe, i_ += 2;
      else if (s_.substr(i_, 2) == "<=") op = FieldQuery::kLe, i_ += 2;
      else if (s_.substr(i_, 1) == ">") op = FieldQuery::kGt, i_ += 1;
      else if (s_.substr(i_, 1) == "<") op = FieldQuery::kLt, i_ += 1;
      std::string v;
      if (i_ < s_.size() && s_[i_] == '"') {
        auto t = Quoted();
        if (!t.ok()) return t.status();
        v = *t;
      } else {
        size_t vs = i_;
        while (i_ < s_.size() && !IsSpace(s_[i_]) && s_[i_] != ')' && s_[i_] != '(') i_++;
        v.assign(s_.substr(vs, i_ - vs));
        if (v.empty()) return Err("empty value for field '" + word + "'");
        if (op == FieldQuery::kEq && v == "*") op = FieldQuery::kExists;
        else if (op == FieldQuery::kEq && v.back() == '*') op = FieldQuery::kPrefix, v.pop_back();
      }
      if (op >= FieldQuery::kGt) {
        char* end = nullptr;
        std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0') return Err("not a number: '" + v + "'");
      }
      return std::shared_ptr<Query>(new FieldQuery(word, op, v));
    }
    if (word.empty()) return Err("expected a term");
    return std::shared_ptr<Query>(new TextQuery(word));
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

Result<std::shared_ptr<Query>> Query::Parse(std::string_view text) { return QueryParser(text).Run(); }

// ---------------------------------------------------------------------------------------------

Result<int64_t> ParseTime(std::string_view text, std::string_view format, int64_t now_ns) {
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  if (text.empty()) return Status::InvalidArgument("time: empty");
  if (format == "rfc3339" || format == "iso8601") return ParseRfc3339(text);
  if (format == "unix" || format == "unix_ms") {
    std::string t(text);
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (end == t.c_str() || *end != '\0') return Status::InvalidArgument("time: not a number: '" + t.substr(0, 40) + "'");
    double ns = format == "unix" ? v * 1e9 : v * 1e6;
    if (!(ns > -9.2e18 && ns < 9.2e18)) return Status::InvalidArgument("time: out of range");
    return static_cast<int64_t>(ns);
  }
  if (format == "syslog") {
    size_t len = 0;
    return ParseBsdTime(text, now_ns, &len);
  }
  if (format == "clf") {
    // 10/Oct/2000:13:55:36 -0700
    int d, y, h, mi, se, oh, om;
    if (text.size() != 26 || !Digits(text, 0, 2, &d) || text[2] != '/' || text[6] != '/' || !Digits(text, 7, 4, &y) ||
        text[11] != ':' || !Digits(text, 12, 2, &h) || text[14] != ':' || !Digits(text, 15, 2, &mi) ||
        text[17] != ':' || !Digits(text, 18, 2, &se) || text[20] != ' ' || (text[21] != '+' && text[21] != '-') ||
        !Digits(text, 22, 2, &oh) || !Digits(text, 24, 2, &om))
      return Status::InvalidArgument("time: not CLF (10/Oct/2000:13:55:36 -0700)");
    int mo = MonthIndex(text.substr(3, 3));
    if (mo == 0 || !ValidDate(y, mo, d, h, mi, se)) return Status::InvalidArgument("time: bad CLF date");
    int off = (text[21] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return ToNs(y, mo, d, h, mi, se, 0, off);
  }
  // strptime format
  std::string t(text), f(format);
  struct tm tm;
  std::memset(&tm, 0, sizeof tm);
  const char* end = strptime(t.c_str(), f.c_str(), &tm);
  if (!end || *end != '\0') return Status::InvalidArgument("time: '" + t.substr(0, 40) + "' does not match '" + f + "'");
  if (!ValidDate(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec))
    return Status::InvalidArgument("time: out of range");
  return ToNs(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, 0,
              static_cast<int>(tm.tm_gmtoff));
}

// ---------------------------------------------------------------------------------------------

Status ParseBulk(std::string_view body, std::vector<BulkDoc>* out) {
  size_t line_no = 0;
  size_t pos = 0;
  auto next_line = [&](std::string_view* line) -> bool {
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string_view::npos) nl = body.size();
      *line = body.substr(pos, nl - pos);
      pos = nl + 1;
      line_no++;
      while (!line->empty() && IsSpace(line->back())) line->remove_suffix(1);
      if (!line->empty()) return true;
    }
    return false;
  };
  std::string_view line;
  while (next_line(&line)) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object() || v.as_object().size() != 1)
      return Status::InvalidArgument("bulk: line " + std::to_string(line_no) + ": expected an action object");
    auto& kv = *v.as_object().begin();
    std::string action(kv.key());
    if (!kv.value().is_object())
      return Status::InvalidArgument("bulk: line " + std::to_string(line_no) + ": action metadata must be an object");
    const auto& meta = kv.value().as_object();
    BulkDoc d;
    d.action = action;
    if (auto* ix = meta.if_contains("_index"); ix && ix->is_string()) d.index.assign(ix->as_string());
    if (auto* id = meta.if_contains("_id"); id && id->is_string()) d.id.assign(id->as_string());
    if (action == "delete") {
      return Status::InvalidArgument("bulk: line " + std::to_string(line_no) + ": delete is not supported by the agent");
    }
    if (action != "index" && action != "create" && action != "update")
      return Status::InvalidArgument("bulk: line " + std::to_string(line_no) + ": unknown action '" + action + "'");
    std::string_view doc;
    size_t action_line = line_no;
    if (!next_line(&doc))
      return Status::InvalidArgument("bulk: line " + std::to_string(action_line) + ": action without a document");
    auto dv = boost::json::parse(doc, ec);
    if (ec || !dv.is_object())
      return Status::InvalidArgument("bulk: line " + std::to_string(line_no) + ": document is not a JSON object");
    if (action == "update")
      return Status::InvalidArgument("bulk: line " + std::to_string(action_line) + ": update is not supported by the agent");
    d.source.assign(doc);
    out->push_back(std::move(d));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

Status ParseCombinedLog(std::string_view s, boost::json::object* out) {
  // $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$referer" "$ua"
  size_t i = 0;
  auto word = [&](std::string_view* w) -> bool {
    size_t sp = s.find(' ', i);
    if (sp == std::string_view::npos) return false;
    *w = s.substr(i, sp - i);
    i = sp + 1;
    return true;
  };
  auto quoted = [&](std::string* w) -> bool {
    if (i >= s.size() || s[i] != '"') return false;
    i++;
    w->clear();
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) {
        i++;
      }
      w->push_back(s[i]);
      i++;
    }
    if (i >= s.size()) return false;
    i++;
    if (i < s.size() && s[i] == ' ') i++;
    return true;
  };
  std::string_view addr, ident, user;
  if (!word(&addr) || !word(&ident) || !word(&user)) return Status::InvalidArgument("combined log: missing client fields");
  if (i >= s.size() || s[i] != '[') return Status::InvalidArgument("combined log: missing [time]");
  size_t close = s.find(']', i);
  if (close == std::string_view::npos) return Status::InvalidArgument("combined log: unterminated [time]");
  std::string_view time = s.substr(i + 1, close - i - 1);
  i = close + 1;
  if (i < s.size() && s[i] == ' ') i++;
  std::string request;
  if (!quoted(&request)) return Status::InvalidArgument("combined log: missing \"request\"");
  std::string_view status, bytes;
  if (!word(&status)) return Status::InvalidArgument("combined log: missing status");
  size_t sp = s.find(' ', i);
  bytes = s.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
  i = sp == std::string_view::npos ? s.size() : sp + 1;
  if (status.size() != 3 || !std::isdigit(static_cast<unsigned char>(status[0])))
    return Status::InvalidArgument("combined log: bad status '" + std::string(status.substr(0, 10)) + "'");
  (*out)["remote_addr"] = addr;
  if (user != "-") (*out)["remote_user"] = user;
  (*out)["time_local"] = time;
  size_t s1 = request.find(' ');
  size_t s2 = s1 == std::string::npos ? std::string::npos : request.find(' ', s1 + 1);
  if (s1 != std::string::npos) {
    (*out)["method"] = request.substr(0, s1);
    (*out)["path"] = request.substr(s1 + 1, s2 == std::string::npos ? std::string::npos : s2 - s1 - 1);
    if (s2 != std::string::npos) (*out)["protocol"] = request.substr(s2 + 1);
  } else {
    (*out)["request"] = request;
  }
  (*out)["status"] = std::atoi(std::string(status).c_str());
  if (bytes != "-") (*out)["body_bytes_sent"] = std::atoll(std::string(bytes).c_str());
  std::string ref, ua;
  if (quoted(&ref)) {
    if (ref != "-") (*out)["referer"] = ref;
    if (quoted(&ua) && ua != "-") (*out)["user_agent"] = ua;
  }
  return Status::Ok();
}

}  // namespace hakone::pipeline
