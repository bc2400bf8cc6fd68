#include "gateway/event.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/cidr.h"
#include "core/log.h"

namespace hakone::gateway {
namespace {

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "hakone";
  return buf;
}

Status KeyError(const ConfigSection& s, std::string_view key, std::string_view msg) {
  return Status::InvalidArgument("config: [" + s.path() + "] " + std::string(key) + ": " + std::string(msg));
}

// ---- JSON output ------------------------------------------------------------------------------

struct EscapeTable {
  bool esc[256];
  constexpr EscapeTable() : esc() {
    for (int c = 0; c < 256; ++c) esc[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x7f;
  }
};
constexpr EscapeTable kEscape;

// Appends `s` JSON-escaped (no quotes). Control characters become escapes, invalid UTF-8 U+FFFD.
void AppendEscaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t run = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (!kEscape.esc[c]) {
      ++i;
      continue;
    }
    out.append(s.data() + run, i - run);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
          char e[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          out.append(e, 6);
        }
      }
      run = ++i;
      continue;
    }
    size_t len = (c >= 0xF0 && c <= 0xF4) ? 4 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xC2 && c <= 0xDF) ? 2 : 0;
    bool valid = len > 0 && i + len <= n;
    for (size_t k = 1; valid && k < len; ++k) valid = (p[i + k] & 0xC0) == 0x80;
    if (valid && len == 3) {
      unsigned cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6);
      valid = cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF);
    } else if (valid && len == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12);
      valid = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (valid) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
    run = i;
  }
  out.append(s.data() + run, n - run);
}

inline void AppendString(std::string& out, std::string_view s) {
  out += '"';
  AppendEscaped(out, s);
  out += '"';
}

inline void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

inline void AppendMs(std::string& out, double v) {
  if (!std::isfinite(v) || v < 0) v = 0;
  if (v > 1e12) v = 1e12;
  char buf[48];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  out.append(buf, r.ptr);
}

inline char* Digits(char* p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

// "2024-05-01T12:00:00.123456Z" (years 0000-9999).
void AppendTime(std::string& out, std::chrono::system_clock::time_point tp) {
  int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  int64_t frac = us - secs * 1000000;
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  char buf[32];
  char* p = Digits(buf, y, 4);
  *p++ = '-';
  p = Digits(p, m, 2);
  *p++ = '-';
  p = Digits(p, d, 2);
  *p++ = 'T';
  p = Digits(p, sod / 3600, 2);
  *p++ = ':';
  p = Digits(p, sod / 60 % 60, 2);
  *p++ = ':';
  p = Digits(p, sod % 60, 2);
  *p++ = '.';
  p = Digits(p, frac, 6);
  *p++ = 'Z';
  out.append(buf, p);
}

// ---- routes -------------------------------------------------------------------------------------

struct RoutePattern {
  std::string text;
  std::vector<std::string> segs;  // "" = a placeholder
  std::vector<bool> any;
  bool rest = false;              // ends with "*"
};

RoutePattern CompileRoute(std::string_view p) {
  RoutePattern r;
  r.text.assign(p);
  std::string_view s = p.substr(1);
  for (;;) {
    size_t slash = s.find('/');
    std::string_view seg = s.substr(0, slash);
    if (slash == std::string_view::npos && seg == "*") {
      r.rest = true;
      break;
    }
    bool ph = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
    r.segs.emplace_back(ph ? std::string_view() : seg);
    r.any.push_back(ph);
    if (slash == std::string_view::npos) break;
    s = s.substr(slash + 1);
  }
  return r;
}

bool RouteMatches(const RoutePattern& r, std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  std::string_view s = path.substr(1);
  for (size_t i = 0; i < r.segs.size(); ++i) {
    if (s.data() == nullptr) return false;  // path ran out of segments
    size_t slash = s.find('/');
    std::string_view seg = s.substr(0, slash);
    if (r.any[i] ? seg.empty() : seg != r.segs[i]) return false;
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash + 1);
    if (slash == std::string_view::npos) s = std::string_view(nullptr, 0);
  }
  if (r.rest) return true;
  return s.data() == nullptr;
}

inline bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool IsIdSegment(std::string_view s) {
  if (s.empty()) return false;
  bool digits = true, hex = true, token = true;
  int n_digit = 0, n_alpha = 0, n_sep = 0;
  for (char c : s) {
    if (c == '@') return true;
    bool d = IsDigit(c), a = IsAlpha(c);
    digits &= d;
    hex &= IsHex(c);
    n_digit += d;
    n_alpha += a;
    if (c == '-' || c == '_') {
      ++n_sep;
    } else if (!d && !a) {
      token = false;
    }
  }
  if (digits) return true;
  if (s.size() == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-') {
    bool uuid = true;
    for (size_t i = 0; i < 36 && uuid; ++i) uuid = (i == 8 || i == 13 || i == 18 || i == 23) || IsHex(s[i]);
    if (uuid) return true;
  }
  if (hex && s.size() >= 16 && n_digit > 0) return true;
  if (token && s.size() >= 20 && n_digit > 0 && n_alpha > 0 && n_sep <= 2) return true;
  if (s.find("%40") != std::string_view::npos) return true;  // an e-mail address
  return false;
}

// ---- bodies ---------------------------------------------------------------------------------

enum class BodyKind { kJson, kForm, kText };

// Lowercase media type without parameters.
std::string MediaType(std::string_view ct) {
  ct = Trim(ct.substr(0, ct.find(';')));
  std::string m(ct);
  for (auto& c : m) c = Lower(c);
  return m;
}

bool EndsWith(std::string_view s, std::string_view suf) { return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf; }

BodyKind KindOf(std::string_view media) {
  if (media == "application/json" || EndsWith(media, "+json")) return BodyKind::kJson;
  if (media == "application/x-www-form-urlencoded") return BodyKind::kForm;
  return BodyKind::kText;
}

}  // namespace

// ---- free functions -------------------------------------------------------------------------

std::string_view TargetPath(std::string_view t) {
  if (t.empty() || t[0] != '/') {
    size_t scheme = t.find("://");
    if (scheme == std::string_view::npos) return t.substr(0, t.find_first_of("?#"));  // "*", authority-form
    size_t slash = t.find('/', scheme + 3);
    if (slash == std::string_view::npos) return "/";
    t = t.substr(slash);
  }
  return t.substr(0, t.find_first_of("?#"));
}

std::string_view TargetQuery(std::string_view t) {
  size_t q = t.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = t.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

bool GlobMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Status ValidateRoutePattern(std::string_view p) {
  if (p.empty() || p[0] != '/') return Status::InvalidArgument("'" + std::string(p) + "': must start with '/'");
  size_t star = p.find('*');
  if (star != std::string_view::npos && (star != p.size() - 1 || p[star - 1] != '/')) {
    return Status::InvalidArgument("'" + std::string(p) + "': '*' may only be the last segment");
  }
  std::string_view s = p.substr(1);
  for (;;) {
    size_t slash = s.find('/');
    std::string_view seg = s.substr(0, slash);
    size_t open = seg.find('{'), close = seg.find('}');
    if (open != std::string_view::npos || close != std::string_view::npos) {
      if (open != 0 || close != seg.size() - 1 || seg.size() < 3 || seg.find('{', 1) != std::string_view::npos) {
        return Status::InvalidArgument("'" + std::string(p) + "': a placeholder must be a whole segment such as {id}");
      }
    }
    if (slash == std::string_view::npos) break;
    s = s.substr(slash + 1);
  }
  return Status::Ok();
}

Result<EventOptions> EventOptions::FromConfig(const ConfigSection& root, std::string_view instance) {
  EventOptions o;
  o.instance = !instance.empty() ? std::string(instance) : root.String("instance", HostName());
  ConfigSection g = root.Section("gateway");
  o.capture_body = g.Size("capture_body", o.capture_body);
  o.capture_content_types = g.StringList("capture_content_types", o.capture_content_types);
  o.record_headers = g.StringList("record_headers", o.record_headers);
  o.trusted_proxies = g.StringList("trusted_proxies", o.trusted_proxies);
  o.exclude_paths = g.StringList("exclude_paths", o.exclude_paths);
  o.routes = g.StringList("routes", o.routes);
  o.geoip_db = g.String("geoip_db", "");
  ConfigSection r = g.Section("redact");
  o.redact.headers = r.StringList("headers", o.redact.headers);
  o.redact.fields = r.StringList("fields", o.redact.fields);

  if (o.instance.empty()) return Status::InvalidArgument("config: instance: must not be empty");
  auto cidrs = CidrSet::Parse(o.trusted_proxies);
  if (!cidrs.ok()) return KeyError(g, "trusted_proxies", cidrs.status().message());
  for (auto& p : o.exclude_paths) {
    if (p.empty()) return KeyError(g, "exclude_paths", "an empty pattern");
  }
  for (auto& p : o.routes) {
    Status st = ValidateRoutePattern(p);
    if (!st.ok()) return KeyError(g, "routes", st.message());
  }
  for (auto& t : o.capture_content_types) {
    if (t.empty()) return KeyError(g, "capture_content_types", "an empty media type");
  }
  if (!o.geoip_db.empty()) {
    MMDB_s db;
    int rc = MMDB_open(o.geoip_db.c_str(), MMDB_MODE_MMAP, &db);
    if (rc != MMDB_SUCCESS) {
      std::string why = MMDB_strerror(rc);
      if (rc == MMDB_IO_ERROR) why += std::string(": ") + std::strerror(errno);
      return KeyError(g, "geoip_db", "'" + o.geoip_db + "': " + why);
    }
    MMDB_close(&db);
  }
  std::string dropped;
  for (const auto& def : RedactOptions().fields) {
    bool kept = false;
    for (auto& f : o.redact.fields) kept |= IEquals(f, def);
    if (!kept) dropped += (dropped.empty() ? "" : ", ") + def;
  }
  if (!dropped.empty()) {
    log::Warn("config: [gateway.redact] fields leaves out default secret names; their values will be recorded",
              {{"not_redacted", dropped}});
  }
  return o;
}

// ---- EventBuilder -----------------------------------------------------------------------------

struct EventBuilder::Impl {
  struct HeaderSpec {
    std::string name;
    bool secret;
    bool cookie;
  };

  Impl(EventOptions opts, Redactor r) : o(std::move(opts)), redactor(std::move(r)) {}
  ~Impl() {
    if (geo) MMDB_close(&mmdb);
  }

  EventOptions o;
  Redactor redactor;
  CidrSet trusted;
  std::vector<RoutePattern> routes;
  std::vector<std::string> capture_types;  // lowercase
  std::vector<HeaderSpec> headers;
  MMDB_s mmdb{};
  bool geo = false;

  bool Capturable(std::string_view media) const {
    if (media.empty()) return false;
    for (auto& t : capture_types) {
      if (t[0] == '+') {
        if (EndsWith(media, t)) return true;
      } else if (t.size() >= 2 && EndsWith(t, "/*")) {
        if (media.size() > t.size() - 1 && media.compare(0, t.size() - 1, t, 0, t.size() - 1) == 0) return true;
      } else if (media == t) {
        return true;
      }
    }
    return false;
  }

  // The client address; *parsed false when the peer address itself is not an IP.
  std::string Client(const RequestRecord& rec, IpAddress* addr, bool* parsed) const {
    *parsed = ParseIpAddress(rec.peer_ip, addr, false);
    if (!*parsed) return rec.peer_ip;
    if (trusted.empty() || !trusted.Contains(*addr)) return addr->ToString();
    // X-Forwarded-For entries from the right: the last header first, each from its end.
    for (size_t h = rec.headers.size(); h-- > 0;) {
      if (!IEquals(rec.headers[h].first, "x-forwarded-for")) continue;
      std::string_view list = rec.headers[h].second;
      size_t end = list.size();
      while (true) {
        size_t comma = end == 0 ? std::string_view::npos : list.rfind(',', end - 1);
        size_t begin = comma == std::string_view::npos ? 0 : comma + 1;
        IpAddress a;
        if (!ParseIpAddress(list.substr(begin, end - begin), &a, true)) return addr->ToString();
        *addr = a;
        if (!trusted.Contains(a)) return addr->ToString();
        if (comma == std::string_view::npos) break;
        end = comma;
      }
    }
    return addr->ToString();
  }

  bool Geo(const IpAddress& ip, std::string_view* country, std::string_view* city) const {
    if (!geo) return false;
    sockaddr_storage ss{};
    if (ip.is_v4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      std::memcpy(&sin->sin_addr, ip.bytes.data() + 12, 4);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
    }
    int err = 0;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&mmdb, reinterpret_cast<sockaddr*>(&ss), &err);
    if (err != MMDB_SUCCESS || !r.found_entry) return false;
    MMDB_entry_data_s d;
    if (MMDB_get_value(&r.entry, &d, "country", "iso_code", nullptr) == MMDB_SUCCESS && d.has_data &&
        d.type == MMDB_DATA_TYPE_UTF8_STRING) {
      *country = std::string_view(d.utf8_string, d.data_size);
    }
    if (MMDB_get_value(&r.entry, &d, "city", "names", "en", nullptr) == MMDB_SUCCESS && d.has_data &&
        d.type == MMDB_DATA_TYPE_UTF8_STRING) {
      *city = std::string_view(d.utf8_string, d.data_size);
    }
    return !country->empty() || !city->empty();
  }
};

EventBuilder::EventBuilder(EventOptions options, Redactor redactor)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(redactor))) {
  Impl& m = *impl_;
  auto cidrs = CidrSet::Parse(m.o.trusted_proxies);
  if (cidrs.ok()) {
    m.trusted = std::move(*cidrs);
  } else {
    log::Error("gateway: trusted_proxies ignored", {{"error", cidrs.status().ToString()}});
  }
  for (auto& p : m.o.routes) {
    Status st = ValidateRoutePattern(p);
    if (!st.ok()) {
      log::Error("gateway: route pattern ignored", {{"error", st.ToString()}});
      continue;
    }
    m.routes.push_back(CompileRoute(p));
  }
  for (auto& t : m.o.capture_content_types) {
    if (!t.empty()) m.capture_types.push_back(MediaType(t));
  }
  for (auto& h : m.o.record_headers) m.headers.push_back({h, m.redactor.IsSecretHeader(h), IEquals(h, "cookie")});
  for (auto& h : m.o.redact.headers) {
    bool listed = false;
    for (auto& x : m.headers) listed |= IEquals(x.name, h);
    if (!listed) m.headers.push_back({h, true, IEquals(h, "cookie")});
  }
  if (!m.o.geoip_db.empty()) {
    int rc = MMDB_open(m.o.geoip_db.c_str(), MMDB_MODE_MMAP, &m.mmdb);
    if (rc == MMDB_SUCCESS) {
      m.geo = true;
    } else {
      log::Error("gateway: GeoIP database not opened; events carry no geo",
                 {{"path", m.o.geoip_db}, {"error", MMDB_strerror(rc)}});
    }
  }
}

EventBuilder::~EventBuilder() = default;
EventBuilder::EventBuilder(EventBuilder&&) noexcept = default;
EventBuilder& EventBuilder::operator=(EventBuilder&&) noexcept = default;

const EventOptions& EventBuilder::options() const { return impl_->o; }

RecordPolicy EventBuilder::Policy(const RequestRecord& rec) const {
  RecordPolicy p;
  std::string_view path = TargetPath(rec.target);
  for (auto& g : impl_->o.exclude_paths) {
    if (GlobMatch(g, path)) {
      p.record = false;
      return p;
    }
  }
  if (impl_->o.capture_body > 0) {
    std::string_view ct = rec.content_type.empty() ? rec.Header("Content-Type") : std::string_view(rec.content_type);
    if (impl_->Capturable(MediaType(ct))) p.capture_limit = impl_->o.capture_body;
  }
  return p;
}

std::string EventBuilder::ClientIp(const RequestRecord& rec) const {
  IpAddress a;
  bool parsed;
  return impl_->Client(rec, &a, &parsed);
}

std::string EventBuilder::Route(std::string_view path) const {
  for (auto& r : impl_->routes) {
    if (RouteMatches(r, path)) return r.text;
  }
  if (path.empty() || path[0] != '/') return std::string(path);
  std::string out;
  out.reserve(path.size());
  size_t i = 1;
  out += '/';
  while (true) {
    size_t slash = path.find('/', i);
    std::string_view seg = path.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    if (IsIdSegment(seg)) {
      out += "{id}";
    } else {
      out.append(seg);
    }
    if (slash == std::string_view::npos) break;
    out += '/';
    i = slash + 1;
  }
  return out;
}

std::string EventBuilder::Build(const RequestRecord& rec, std::string_view user) const {
  const Impl& m = *impl_;
  std::string_view path = TargetPath(rec.target);
  std::string_view query = TargetQuery(rec.target);
  std::string out;
  out.reserve(640 + rec.target.size() * 2 + rec.body_prefix.size() + rec.body_prefix.size() / 8);

  out += "{\"time\":\"";
  AppendTime(out, rec.start);
  out += "\",\"request_id\":";
  AppendString(out, rec.request_id);
  out += ",\"instance\":";
  AppendString(out, m.o.instance);
  out += ",\"user\":";
  AppendString(out, user);

  IpAddress addr;
  bool parsed;
  std::string client = m.Client(rec, &addr, &parsed);
  out += ",\"client_ip\":";
  AppendString(out, client);
  std::string_view country, city;
  if (parsed && m.Geo(addr, &country, &city)) {
    out += ",\"geo\":{";
    bool first = true;
    if (!country.empty()) {
      out += "\"country\":";
      AppendString(out, country);
      first = false;
    }
    if (!city.empty()) {
      out += first ? "\"city\":" : ",\"city\":";
      AppendString(out, city);
    }
    out += '}';
  }

  out += ",\"user_agent\":";
  AppendString(out, rec.Header("User-Agent"));
  out += ",\"method\":";
  AppendString(out, rec.method);
  std::string_view host = rec.Header("Host");
  if (host.empty()) {
    if (size_t scheme = rec.target.find("://"); scheme != std::string::npos && rec.target[0] != '/') {
      std::string_view auth = std::string_view(rec.target).substr(scheme + 3);
      host = auth.substr(0, auth.find_first_of("/?#"));
      if (size_t at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);  // no userinfo
    }
  }
  out += ",\"host\":";
  AppendString(out, host);
  out += ",\"path\":";
  AppendString(out, path);
  out += ",\"route\":";
  AppendString(out, Route(path));
  out += ",\"query\":";
  if (query.empty()) {
    out += "\"\"";
  } else {
    AppendString(out, m.redactor.RedactForm(query));
  }

  out += ",\"headers\":{";
  bool first = true;
  std::string joined;
  for (auto& spec : m.headers) {
    std::string_view value;
    bool many = false;
    for (auto& [k, v] : rec.headers) {
      if (k.size() != spec.name.size() || !IEquals(k, spec.name)) continue;
      if (value.data() == nullptr) {
        value = v;
        continue;
      }
      if (!many) joined.assign(value);
      many = true;
      joined += spec.cookie ? "; " : ", ";
      joined += v;
    }
    if (value.data() == nullptr) continue;
    if (many) value = joined;
    if (!first) out += ',';
    first = false;
    AppendString(out, spec.name);
    out += ':';
    if (spec.secret) {
      AppendString(out, m.redactor.HashValue(value));
    } else {
      AppendString(out, value);
    }
  }
  out += '}';

  if (!rec.body_prefix.empty()) {
    // One type per field, so that stores which fix a field's type on first sight (Elasticsearch,
    // hakone's store) accept every event: a JSON object body goes to request_body, every other
    // body to request_body_text as a string.
    std::string_view ct = rec.content_type.empty() ? rec.Header("Content-Type") : std::string_view(rec.content_type);
    switch (KindOf(MediaType(ct))) {
      case BodyKind::kJson: {
        bool text = true;
        std::string body = m.redactor.RedactJson(rec.body_prefix, &text, rec.body_truncated);
        if (!text && !body.empty() && body.front() == '{') {
          out += ",\"request_body\":";
          out += body;  // re-serialized by Boost.JSON: compact, escaped, valid
        } else {
          out += ",\"request_body_text\":";
          AppendString(out, body);
        }
        break;
      }
      case BodyKind::kForm:
        out += ",\"request_body_text\":";
        AppendString(out, m.redactor.RedactForm(rec.body_prefix));
        break;
      case BodyKind::kText:
        out += ",\"request_body_text\":";
        AppendString(out, m.redactor.RedactText(rec.body_prefix));
        break;
    }
  }
  out += rec.body_truncated ? ",\"request_body_truncated\":true" : ",\"request_body_truncated\":false";

  out += ",\"status\":";
  AppendUint(out, rec.status < 0 ? 0 : static_cast<uint64_t>(rec.status));
  out += ",\"bytes_in\":";
  AppendUint(out, rec.bytes_in);
  out += ",\"bytes_out\":";
  AppendUint(out, rec.bytes_out);
  out += ",\"upstream\":";
  AppendString(out, rec.upstream);
  out += ",\"upstream_ms\":";
  AppendMs(out, rec.upstream_ms);
  out += ",\"total_ms\":";
  AppendMs(out, rec.total_ms);
  if (!rec.error.empty()) {
    out += ",\"error\":";
    AppendString(out, rec.error);
  }
  if (rec.websocket) out += ",\"websocket\":true";
  out += '}';
  return out;
}

}  // namespace hakone::gateway
