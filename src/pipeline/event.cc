#include "pipeline/event.h"

#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <climits>
#include <ctime>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/log.h"
#include "pipeline/parse.h"

namespace hakone::pipeline {
namespace {

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}
template <typename T>
bool Get(std::string_view& in, T* v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

void AppendKey(std::string* out, std::string_view k, bool* first) {
  if (!*first) out->push_back(',');
  *first = false;
  out->push_back('"');
  AppendJsonEscapedFast(out, k);
  out->append("\":");
}
void AppendStr(std::string* out, std::string_view k, std::string_view v, bool* first) {
  AppendKey(out, k, first);
  out->push_back('"');
  AppendJsonEscapedFast(out, v);
  out->push_back('"');
}

inline bool PlainJsonByte(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

// Length of the run of plain bytes at the start of p[0, n): 16 bytes per step with SSE2.
inline size_t PlainRun(const unsigned char* p, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i lo = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), quote = _mm_set1_epi8('"'),
                bs = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed compare: bytes < 0x20 and bytes >= 0x80 (negative) are both "less than 0x20".
    __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpeq_epi8(v, del)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bs)));
    int mask = _mm_movemask_epi8(bad);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && PlainJsonByte(p[i])) i++;
  return i;
}

}  // namespace

void AppendJsonEscapedFast(std::string* out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    size_t start = i;
    i += PlainRun(p + i, n - i);
    out->append(s.data() + start, i - start);
    if (i == n) break;
    // A run of bytes needing escapes or UTF-8 checks (multi-byte sequences are all >= 0x80,
    // so a run holds whole sequences): the reference escaper handles it.
    start = i;
    while (i < n && !PlainJsonByte(p[i])) i++;
    log::AppendJsonEscaped(*out, s.substr(start, i - start));
  }
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTimestamp(int64_t ts_ns) {
  std::string out;
  AppendTimestamp(&out, ts_ns);
  return out;
}

void AppendTimestamp(std::string* out, int64_t ts_ns) {
  int64_t secs = ts_ns / 1000000000;
  int64_t ms = (ts_ns % 1000000000) / 1000000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  // Consecutive events mostly share the second: cache its "YYYY-MM-DDTHH:MM:SS" prefix.
  thread_local int64_t cached_sec = INT64_MIN;
  thread_local char prefix[32];
  if (secs != cached_sec) {
    time_t t = static_cast<time_t>(secs);
    struct tm tm;
    gmtime_r(&t, &tm);
    std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_sec = secs;
  }
  out->append(prefix, 19);
  char tail[8] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10), 'Z', 0};
  out->append(tail, 5);
}

void EncodeEvent(const Event& e, std::string* out) {
  bool derived = e.fields_from_syslog && e.fields.empty() && e.fields_json.empty();
  out->push_back(derived ? 2 : 1);
  Put<int64_t>(out, e.ts_ns);
  Put<int64_t>(out, e.ingest_ns);
  size_t sl = std::min<size_t>(e.source.size(), 255);
  out->push_back(static_cast<char>(sl));
  out->append(e.source.data(), sl);
  size_t ol = std::min<size_t>(e.origin.size(), 65535);
  Put<uint16_t>(out, static_cast<uint16_t>(ol));
  out->append(e.origin.data(), ol);
  if (derived) {
    // No fields: the sink side re-parses the message.
  } else if (e.fields.empty() && !e.fields_json.empty()) {
    Put<uint32_t>(out, static_cast<uint32_t>(e.fields_json.size()));
    out->append(e.fields_json);
  } else if (e.fields.empty()) {
    Put<uint32_t>(out, 0);
  } else {
    std::string f = boost::json::serialize(e.fields);
    Put<uint32_t>(out, static_cast<uint32_t>(f.size()));
    out->append(f);
  }
  out->append(e.message);
}

Status DecodeEvent(std::string_view in, Event* e, bool parse_fields) {
  uint8_t ver;
  if (!Get(in, &ver)) return Status::Corruption("event: empty payload");
  if (ver != 1 && ver != 2) return Status::Corruption("event: unknown version " + std::to_string(ver));
  uint8_t sl;
  uint16_t ol;
  uint32_t fl;
  if (!Get(in, &e->ts_ns) || !Get(in, &e->ingest_ns) || !Get(in, &sl) || in.size() < sl)
    return Status::Corruption("event: truncated header");
  e->source.assign(in.data(), sl);
  in.remove_prefix(sl);
  if (!Get(in, &ol) || in.size() < ol) return Status::Corruption("event: truncated origin");
  e->origin.assign(in.data(), ol);
  in.remove_prefix(ol);
  if (!e->fields.empty()) e->fields.clear();
  if (ver == 2) {
    e->fields_json.clear();
    e->fields_from_syslog = true;
  } else {
    if (!Get(in, &fl) || in.size() < fl) return Status::Corruption("event: truncated fields");
    e->fields_json.assign(in.data(), fl);
    e->fields_from_syslog = false;
    in.remove_prefix(fl);
  }
  e->message.assign(in.data(), in.size());
  if (parse_fields) return MaterializeFields(e);
  return Status::Ok();
}

Status MaterializeFields(Event* e) {
  if (e->fields_from_syslog) {
    e->fields_from_syslog = false;
    if (!e->fields.empty() || !e->fields_json.empty()) {
      // Fields set otherwise take precedence (the flag is only meaningful while both are empty).
    } else {
      thread_local SyslogMessage m;
      if (Status st = ParseSyslog(e->message, e->ingest_ns, &m); !st.ok())
        return Status::Corruption("event: spooled syslog record does not parse: " + st.message());
      SyslogToFieldsJson(m, &e->fields_json);
    }
  }
  if (e->fields_json.empty()) return Status::Ok();
  if (!e->fields.empty()) {
    e->fields_json.clear();
    return Status::Ok();
  }
  // One parser per thread: its internal stack is reused from record to record.
  thread_local boost::json::parser parser;
  parser.reset();
  boost::system::error_code ec;
  parser.write(e->fields_json.data(), e->fields_json.size(), ec);
  if (ec) return Status::Corruption("event: bad fields JSON");
  boost::json::value v = parser.release();
  if (!v.is_object()) return Status::Corruption("event: bad fields JSON");
  e->fields = std::move(v.as_object());
  e->fields_json.clear();
  return Status::Ok();
}

namespace {

// Appends a field value as JSON: strings, integers, booleans and null directly (strings with
// the agent's escaper), anything else through boost::json::serialize.
void AppendJsonValue(std::string* out, const boost::json::value& v) {
  char num[32];
  switch (v.kind()) {
    case boost::json::kind::string:
      out->push_back('"');
      AppendJsonEscapedFast(out, std::string_view(v.get_string().data(), v.get_string().size()));
      out->push_back('"');
      return;
    case boost::json::kind::int64: {
      int n = std::snprintf(num, sizeof num, "%lld", static_cast<long long>(v.get_int64()));
      out->append(num, static_cast<size_t>(n));
      return;
    }
    case boost::json::kind::uint64: {
      int n = std::snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(v.get_uint64()));
      out->append(num, static_cast<size_t>(n));
      return;
    }
    case boost::json::kind::bool_:
      out->append(v.get_bool() ? "true" : "false");
      return;
    case boost::json::kind::null:
      out->append("null");
      return;
    default:
      out->append(boost::json::serialize(v));
  }
}

}  // namespace

void FormatEventJson(const Event& e, std::string* out) {
  if (e.fields.empty() && HasUnparsedFields(e)) {
    // Fields not materialized yet (a sink called without MaterializeFields): format a copy.
    Event copy = e;
    if (MaterializeFields(&copy).ok()) {
      FormatEventJson(copy, out);
      return;
    }
  }
  // Built-in keys a field replaces: one pass over the fields instead of a lookup per key.
  enum : unsigned { kTs = 1, kEnv = 2, kSource = 4, kOrigin = 8, kMessage = 16 };
  unsigned replaced = 0;
  for (const auto& kv : e.fields) {
    std::string_view k(kv.key().data(), kv.key().size());
    if (k == "@timestamp") replaced |= kTs;
    else if (k == "env") replaced |= kEnv;
    else if (k == "source") replaced |= kSource;
    else if (k == "origin") replaced |= kOrigin;
    else if (k == "message") replaced |= kMessage;
  }
  out->push_back('{');
  bool first = true;
  if (!(replaced & kTs)) {
    AppendKey(out, "@timestamp", &first);
    out->push_back('"');
    AppendTimestamp(out, e.ts_ns);
    out->push_back('"');
  }
  if (!(replaced & kEnv)) AppendStr(out, "env", e.env, &first);
  if (!(replaced & kSource)) AppendStr(out, "source", e.source, &first);
  if (!e.origin.empty() && !(replaced & kOrigin)) AppendStr(out, "origin", e.origin, &first);
  if (!(replaced & kMessage)) AppendStr(out, "message", e.message, &first);
  for (const auto& kv : e.fields) {
    AppendKey(out, std::string_view(kv.key().data(), kv.key().size()), &first);
    AppendJsonValue(out, kv.value());
  }
  out->push_back('}');
}

}  // namespace hakone::pipeline
