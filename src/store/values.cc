// Values, dates, JSON flattening and type inference for the event store.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <charconv>
#include <ctime>

#include <boost/json.hpp>

#include "store/store_internal.h"
#include "store/tz.h"

namespace hakone::store {

std::string_view FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kKeyword: return "keyword";
    case FieldType::kText: return "text";
    case FieldType::kLong: return "long";
    case FieldType::kDouble: return "double";
    case FieldType::kDate: return "date";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kObject: return "object";
  }
  return "keyword";
}

std::optional<FieldType> ParseFieldType(std::string_view n) {
  if (n == "keyword" || n == "constant_keyword" || n == "wildcard") return FieldType::kKeyword;
  if (n == "text" || n == "match_only_text") return FieldType::kText;
  if (n == "long" || n == "integer" || n == "short" || n == "byte" || n == "unsigned_long") return FieldType::kLong;
  if (n == "double" || n == "float" || n == "half_float" || n == "scaled_float") return FieldType::kDouble;
  if (n == "date" || n == "date_nanos") return FieldType::kDate;
  if (n == "boolean") return FieldType::kBoolean;
  if (n == "object") return FieldType::kObject;
  return std::nullopt;
}

namespace internal {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

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
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<int64_t> ParseDateMs(std::string_view s) {
  int y, mo, d;
  if (s.size() < 10 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' || !Digits(s, 8, 2, &d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  int64_t days = DaysFromCivil(y, mo, d);
  int64_t ms = days * 86400000;
  if (s.size() == 10) return ms;
  if (s[10] != 'T' && s[10] != ' ' && s[10] != 't') return std::nullopt;
  int h, mi, se = 0;
  if (!Digits(s, 11, 2, &h) || s.size() < 16 || s[13] != ':' || !Digits(s, 14, 2, &mi)) return std::nullopt;
  size_t p = 16;
  if (p < s.size() && s[p] == ':') {
    if (!Digits(s, 17, 2, &se)) return std::nullopt;
    p = 19;
  }
  if (h > 23 || mi > 59 || se > 60) return std::nullopt;
  ms += (h * 3600 + mi * 60 + se) * 1000LL;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    int frac = 0, nd = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (nd < 3) { frac = frac * 10 + (s[p] - '0'); }
      ++nd; ++p;
    }
    if (nd == 0) return std::nullopt;
    for (int k = nd; k < 3; ++k) frac *= 10;
    ms += frac;
  }
  if (p == s.size()) return ms;  // no zone: UTC
  if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == s.size()) return ms;
  if (s[p] == '+' || s[p] == '-') {
    int zh, zm = 0;
    if (!Digits(s, p + 1, 2, &zh)) return std::nullopt;
    size_t q = p + 3;
    if (q < s.size() && s[q] == ':') ++q;
    if (q < s.size()) {
      if (!Digits(s, q, 2, &zm)) return std::nullopt;
      q += 2;
    }
    if (q != s.size()) return std::nullopt;
    int64_t off = (zh * 60 + zm) * 60000LL;
    return s[p] == '+' ? ms - off : ms + off;
  }
  return std::nullopt;
}

std::string FormatDateMs(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  // civil from days
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

namespace {

// Rounds ms down (or up to the end of the unit when round_up) for date math "/unit".
int64_t RoundDate(int64_t ms, char unit, bool round_up) {
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  int64_t start = ms;
  int64_t next = ms;
  auto civil = [&](int64_t t, int64_t* y, int* mo, int* d) {
    std::string f = FormatDateMs(t);
    *y = std::stoll(f.substr(0, 4)); *mo = std::stoi(f.substr(5, 2)); *d = std::stoi(f.substr(8, 2));
  };
  switch (unit) {
    case 's': start = floor_div(ms, 1000) * 1000; next = start + 1000; break;
    case 'm': start = floor_div(ms, 60000) * 60000; next = start + 60000; break;
    case 'h': case 'H': start = floor_div(ms, 3600000) * 3600000; next = start + 3600000; break;
    case 'd': start = floor_div(ms, 86400000) * 86400000; next = start + 86400000; break;
    case 'w': {
      int64_t days = floor_div(ms, 86400000);
      int64_t dow = ((days % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday; Monday = 0
      start = (days - dow) * 86400000; next = start + 7 * 86400000LL; break;
    }
    case 'M': {
      int64_t y; int mo, d; civil(ms, &y, &mo, &d);
      start = DaysFromCivil(y, mo, 1) * 86400000;
      next = (mo == 12 ? DaysFromCivil(y + 1, 1, 1) : DaysFromCivil(y, mo + 1, 1)) * 86400000;
      break;
    }
    case 'y': {
      int64_t y; int mo, d; civil(ms, &y, &mo, &d);
      start = DaysFromCivil(y, 1, 1) * 86400000; next = DaysFromCivil(y + 1, 1, 1) * 86400000; break;
    }
    default: break;
  }
  return round_up ? next - 1 : start;
}

int64_t AddUnit(int64_t ms, int64_t n, char unit, bool* ok) {
  switch (unit) {
    case 's': return ms + n * 1000;
    case 'm': return ms + n * 60000;
    case 'h': case 'H': return ms + n * 3600000;
    case 'd': return ms + n * 86400000;
    case 'w': return ms + n * 7 * 86400000;
    case 'M': case 'y': {
      std::string f = FormatDateMs(ms);
      int64_t y = std::stoll(f.substr(0, 4));
      int mo = std::stoi(f.substr(5, 2)), d = std::stoi(f.substr(8, 2));
      int64_t tod = ms - DaysFromCivil(y, mo, d) * 86400000;
      int64_t months = (unit == 'y' ? 12 * n : n) + (y * 12 + mo - 1);
      int64_t ny = months >= 0 ? months / 12 : -((-months + 11) / 12);
      int nm = static_cast<int>(months - ny * 12) + 1;
      static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      int maxd = kDays[nm - 1] + (nm == 2 && ((ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0));
      return DaysFromCivil(ny, nm, std::min(d, maxd)) * 86400000 + tod;
    }
    default: *ok = false; return ms;
  }
}

}  // namespace

namespace {

// True when a date string carries its own offset ("...Z", "...+09:00", "...-0500"): the range's
// time_zone does not apply to it.
// Dates beyond ±1e16 ms (about year ±316,000) are refused: keeps date math free of overflow.
constexpr int64_t kMaxAbsDateMs = 10'000'000'000'000'000;

bool HasExplicitOffset(std::string_view date) {
  if (date.size() <= 10) return false;
  char last = date.back();
  if (last == 'Z' || last == 'z') return true;
  return date.find_first_of("+-", 11) != std::string_view::npos;
}

}  // namespace

Result<int64_t> ResolveDateBound(const Value& v, int64_t now_ms, bool round_up, const TimeZone* tz) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  auto* s = std::get_if<std::string>(&v);
  if (!s) return Status::InvalidArgument("range: a date bound must be a string or a number");
  // With a zone, `base` is local wall-clock time (ms since the epoch as if local were UTC): date
  // math rounds and adds days/months in local time, as Elasticsearch does; hours, minutes and
  // seconds are added on the UTC timeline. `minus_one`: an end-of-unit bound is "next start - 1
  // ms", kept as "next start" until converted so that a DST change at the boundary is right.
  const bool zoned = tz != nullptr && !tz->is_utc();
  auto to_local = [&](int64_t utc) { return zoned ? utc + tz->OffsetMs(utc) : utc; };
  auto to_utc = [&](int64_t local) { return zoned ? tz->LocalToUtcMs(local) : local; };
  bool minus_one = false;
  std::string_view str = *s;
  int64_t base;
  std::string_view math;
  if (str.substr(0, 3) == "now") {
    base = to_local(now_ms);
    math = str.substr(3);
  } else {
    auto sep = str.find("||");
    std::string_view date = sep == std::string_view::npos ? str : str.substr(0, sep);
    math = sep == std::string_view::npos ? std::string_view() : str.substr(sep + 2);
    bool all_digits = !date.empty() && date.find_first_not_of("-0123456789") == std::string_view::npos &&
                      date.find('-', 1) == std::string_view::npos;
    if (all_digits) {
      int64_t n = 0;
      auto r = std::from_chars(date.data(), date.data() + date.size(), n);
      if (r.ec != std::errc() || r.ptr != date.data() + date.size())
        return Status::InvalidArgument("range: cannot parse date '" + std::string(date) + "' as epoch millis");
      if (n > kMaxAbsDateMs || n < -kMaxAbsDateMs) return Status::InvalidArgument("range: date '" + std::string(date) + "' is out of range");
      base = to_local(n);  // epoch millis are an instant whatever the zone
    } else {
      auto p = ParseDateMs(date);
      if (!p) return Status::InvalidArgument("range: cannot parse date '" + std::string(date) + "'");
      base = HasExplicitOffset(date) ? to_local(*p) : *p;
      // A date given to day precision only with lte/gt covers the whole day (ES rounding).
      if (date.size() == 10 && math.empty() && round_up) {
        base += 86400000;
        minus_one = true;
      }
    }
  }
  size_t i = 0;
  while (i < math.size()) {
    if (minus_one) {
      base -= 1;
      minus_one = false;
    }
    char op = math[i++];
    if (op == '/') {
      if (i >= math.size()) return Status::InvalidArgument("range: date math '" + *s + "': missing unit after /");
      char unit = math[i++];
      if (std::string_view("smhHdwMy").find(unit) == std::string_view::npos)
        return Status::InvalidArgument("range: date math '" + *s + "': unknown unit '" + std::string(1, unit) + "'");
      if (round_up) {
        base = RoundDate(base, unit, true) + 1;
        minus_one = true;
      } else {
        base = RoundDate(base, unit, false);
      }
    } else if (op == '+' || op == '-') {
      int64_t n = 0;
      size_t st = i;
      while (i < math.size() && math[i] >= '0' && math[i] <= '9' && n < 100000000) n = n * 10 + (math[i++] - '0');
      if (i == st) n = 1;
      if (i >= math.size()) return Status::InvalidArgument("range: date math '" + *s + "': missing unit");
      bool ok = true;
      char unit = math[i++];
      if (zoned && (unit == 's' || unit == 'm' || unit == 'h' || unit == 'H')) {
        int64_t utc = AddUnit(to_utc(base), op == '+' ? n : -n, unit, &ok);
        base = to_local(utc);
      } else {
        base = AddUnit(base, op == '+' ? n : -n, unit, &ok);
      }
      if (!ok) return Status::InvalidArgument("range: date math '" + *s + "': unknown unit");
      if (base > kMaxAbsDateMs || base < -kMaxAbsDateMs) return Status::InvalidArgument("range: date math '" + *s + "' is out of range");
    } else {
      return Status::InvalidArgument("range: unsupported date math '" + *s + "'");
    }
  }
  return to_utc(base) - (minus_one ? 1 : 0);
}

namespace {

// Appends a field for `path` constructed in place (no temporary FlatField to move).
Value& AddField(const std::string& path, FlatDoc* out) {
  FlatField& f = out->fields.emplace_back();
  f.path = path;
  return f.value;
}

// The number of FlatFields FlattenValue will append for v (so the vector is allocated once).
size_t CountLeaves(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      size_t n = 0;
      for (const auto& kv : v.get_object()) n += CountLeaves(kv.value());
      return n;
    }
    case boost::json::kind::array: {
      size_t n = 0;
      for (const auto& e : v.get_array()) n += CountLeaves(e);
      return n;
    }
    default: return 1;
  }
}

void FlattenValue(const boost::json::value& v, std::string& path, FlatDoc* out) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      size_t n = path.size();
      for (const auto& kv : v.get_object()) {
        if (n) path.push_back('.');
        path.append(kv.key().data(), kv.key().size());
        FlattenValue(kv.value(), path, out);
        path.resize(n);
      }
      break;
    }
    case boost::json::kind::array:
      for (const auto& e : v.get_array()) FlattenValue(e, path, out);
      break;
    case boost::json::kind::string: {
      const boost::json::string& str = v.get_string();
      AddField(path, out).emplace<std::string>(str.data(), str.size());
      break;
    }
    case boost::json::kind::int64: AddField(path, out) = v.get_int64(); break;
    case boost::json::kind::uint64: {
      uint64_t u = v.get_uint64();
      if (u <= static_cast<uint64_t>(INT64_MAX)) AddField(path, out) = static_cast<int64_t>(u);
      else AddField(path, out) = static_cast<double>(u);
      break;
    }
    case boost::json::kind::double_: AddField(path, out) = v.get_double(); break;
    case boost::json::kind::bool_: AddField(path, out) = v.get_bool(); break;
    case boost::json::kind::null: AddField(path, out) = std::monostate{}; break;
  }
}

}  // namespace

bool FlattenJson(std::string_view json, FlatDoc* out, std::string* error) {
  out->fields.clear();
  out->ok = false;
  unsigned char buf[8192];
  boost::json::monotonic_resource mr(buf, sizeof buf);
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 64;
  boost::json::value v = boost::json::parse(json, ec, &mr, po);
  if (ec) {
    if (error) *error = "not valid JSON: " + ec.message();
    return false;
  }
  if (!v.is_object()) {
    if (error) *error = "the document is not a JSON object";
    return false;
  }
  out->fields.reserve(CountLeaves(v));
  std::string path;
  FlattenValue(v, path, out);
  out->ok = true;
  return true;
}

FieldType InferType(const Value& v) {
  if (std::holds_alternative<bool>(v)) return FieldType::kBoolean;
  if (std::holds_alternative<int64_t>(v)) return FieldType::kLong;
  if (std::holds_alternative<double>(v)) return FieldType::kDouble;
  if (auto* s = std::get_if<std::string>(&v)) {
    if (s->size() >= 10 && s->size() <= 40 && ParseDateMs(*s)) return FieldType::kDate;
    return FieldType::kText;
  }
  return FieldType::kKeyword;
}

bool ValueFitsType(const Value& v, FieldType t) {
  if (std::holds_alternative<std::monostate>(v)) return true;
  switch (t) {
    case FieldType::kKeyword: case FieldType::kText: return true;
    case FieldType::kLong: case FieldType::kDouble: return ToDouble(v).has_value() && !std::holds_alternative<bool>(v);
    case FieldType::kDate:
      if (std::holds_alternative<int64_t>(v) || std::holds_alternative<double>(v)) return true;
      if (auto* s = std::get_if<std::string>(&v)) return ParseDateMs(*s).has_value();
      return false;
    case FieldType::kBoolean:
      if (std::holds_alternative<bool>(v)) return true;
      if (auto* s = std::get_if<std::string>(&v)) return *s == "true" || *s == "false" || s->empty();
      return false;
    case FieldType::kObject: return false;
  }
  return false;
}

std::optional<double> ToDouble(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
  if (auto* s = std::get_if<std::string>(&v)) {
    if (s->empty() || s->size() > 64) return std::nullopt;
    char* end = nullptr;
    std::string tmp(*s);
    double d = std::strtod(tmp.c_str(), &end);
    if (end != tmp.c_str() + tmp.size() || !std::isfinite(d)) return std::nullopt;
    return d;
  }
  return std::nullopt;
}

std::string ValueToString(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return "";
}

std::string ValueToJson(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "null";
  if (auto* s = std::get_if<std::string>(&v)) {
    return boost::json::serialize(boost::json::value(*s));
  }
  if (auto* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) return "null";
    if (*d == std::floor(*d) && std::fabs(*d) < 1e15) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.1f", *d);
      return buf;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  return ValueToString(v);
}

int CompareValues(const Value& a, const Value& b) {
  auto rank = [](const Value& v) {
    if (std::holds_alternative<std::monostate>(v)) return 0;
    if (std::holds_alternative<bool>(v)) return 1;
    if (std::holds_alternative<std::string>(v)) return 3;
    return 2;
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0: return 0;
    case 1: return static_cast<int>(std::get<bool>(a)) - static_cast<int>(std::get<bool>(b));
    case 2: {
      if (std::holds_alternative<int64_t>(a) && std::holds_alternative<int64_t>(b)) {
        int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
        return x < y ? -1 : x > y ? 1 : 0;
      }
      double x = *ToDouble(a), y = *ToDouble(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default: {
      int c = std::get<std::string>(a).compare(std::get<std::string>(b));
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
  }
}

std::string KeywordToken(std::string_view field, std::string_view value) {
  std::string t;
  t.reserve(field.size() + value.size() + 2);
  t.push_back('\x01');
  t.append(field);
  t.push_back('\0');
  t.append(value);
  return t;
}

std::optional<FieldType> FieldTypeOf(const Mapping& m, std::string_view field) {
  auto it = m.fields.find(std::string(field));
  if (it != m.fields.end()) return it->second.type;
  if (field.size() > 8 && field.substr(field.size() - 8) == ".keyword") {
    auto jt = m.fields.find(std::string(field.substr(0, field.size() - 8)));
    if (jt != m.fields.end() && jt->second.type == FieldType::kText && jt->second.keyword_subfield) return FieldType::kKeyword;
  }
  return std::nullopt;
}

void FieldValues(const FlatDoc& doc, const Mapping& m, std::string_view field, std::vector<const Value*>* out) {
  out->clear();
  for (const auto& f : doc.fields)
    if (f.path == field) out->push_back(&f.value);
  if (out->empty() && field.size() > 8 && field.substr(field.size() - 8) == ".keyword") {
    std::string_view base = field.substr(0, field.size() - 8);
    for (const auto& f : doc.fields)
      if (f.path == base) out->push_back(&f.value);
  }
}

}  // namespace internal
}  // namespace hakone::store
