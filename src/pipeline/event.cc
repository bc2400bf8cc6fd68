#include "pipeline/event.h"

#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <climits>
#include <ctime>

#include "core/log.h"

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

}  // namespace

void AppendJsonEscapedFast(std::string* out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && PlainJsonByte(p[i])) i++;
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
  std::string out(prefix);
  char tail[8] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                  static_cast<char>('0' + ms % 10), 'Z', 0};
  out.append(tail, 5);
  return out;
}

void EncodeEvent(const Event& e, std::string* out) {
  out->push_back(1);
  Put<int64_t>(out, e.ts_ns);
  Put<int64_t>(out, e.ingest_ns);
  size_t sl = std::min<size_t>(e.source.size(), 255);
  out->push_back(static_cast<char>(sl));
  out->append(e.source.data(), sl);
  size_t ol = std::min<size_t>(e.origin.size(), 65535);
  Put<uint16_t>(out, static_cast<uint16_t>(ol));
  out->append(e.origin.data(), ol);
  if (e.fields.empty() && !e.fields_json.empty()) {
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

Status DecodeEvent(std::string_view in, Event* e) {
  uint8_t ver;
  if (!Get(in, &ver)) return Status::Corruption("event: empty payload");
  if (ver != 1) return Status::Corruption("event: unknown version " + std::to_string(ver));
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
  if (!Get(in, &fl) || in.size() < fl) return Status::Corruption("event: truncated fields");
  e->fields.clear();
  if (fl > 0) {
    // One parser per thread: its internal stack is reused from record to record.
    thread_local boost::json::parser parser;
    parser.reset();
    boost::system::error_code ec;
    parser.write(in.data(), fl, ec);
    if (ec) return Status::Corruption("event: bad fields JSON");
    boost::json::value v = parser.release();
    if (!v.is_object()) return Status::Corruption("event: bad fields JSON");
    e->fields = std::move(v.as_object());
  }
  in.remove_prefix(fl);
  e->message.assign(in.data(), in.size());
  return Status::Ok();
}

void FormatEventJson(const Event& e, std::string* out) {
  out->push_back('{');
  bool first = true;
  auto has = [&](std::string_view k) { return !e.fields.empty() && e.fields.contains(k); };
  if (!has("@timestamp")) {
    AppendKey(out, "@timestamp", &first);
    out->push_back('"');
    out->append(FormatTimestamp(e.ts_ns));
    out->push_back('"');
  }
  if (!has("env")) AppendStr(out, "env", e.env, &first);
  if (!has("source")) AppendStr(out, "source", e.source, &first);
  if (!e.origin.empty() && !has("origin")) AppendStr(out, "origin", e.origin, &first);
  if (!has("message")) AppendStr(out, "message", e.message, &first);
  for (const auto& kv : e.fields) {
    AppendKey(out, kv.key(), &first);
    out->append(boost::json::serialize(kv.value()));
  }
  out->push_back('}');
}

}  // namespace hakone::pipeline
