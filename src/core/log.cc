#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <vector>

namespace hakone::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{true};
std::mutex g_mu;
std::vector<Field>& StaticFields() {
  static std::vector<Field> f;
  return f;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARNING";
    case Level::kError: return "ERROR";
  }
  return "DEFAULT";
}

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us % 1000000));
  return buf;
}
}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Validate a UTF-8 sequence; replace invalid bytes with U+FFFD.
    size_t len = (c >= 0xF0 && c <= 0xF4) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC2 && c <= 0xDF) ? 2 : 0;
    bool valid = len > 0 && i + len <= n && c < 0xF5;
    for (size_t k = 1; valid && k < len; ++k) valid = (p[i + k] & 0xC0) == 0x80;
    if (valid && len == 3) {
      unsigned cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6);
      valid = cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (valid && len == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12);
      valid = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (valid) {
      out.append(reinterpret_cast<const char*>(p + i), len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
}

Field::Field(std::string_view k, std::string_view v) : key(k) {
  json.reserve(v.size() + 2);
  json += '"';
  AppendJsonEscaped(json, v);
  json += '"';
}
Field::Field(std::string_view k, long long v) : key(k), json(std::to_string(v)) {}
Field::Field(std::string_view k, double v) : key(k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  json = buf;
}
Field::Field(std::string_view k, bool v) : key(k), json(v ? "true" : "false") {}

bool ParseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warn" || s == "warning") *out = Level::kWarn;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}
void SetLevel(Level level) { g_level = static_cast<int>(level); }
Level GetLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
void SetJson(bool json) { g_json = json; }
void SetStaticField(std::string_view key, std::string_view value) {
  std::lock_guard lk(g_mu);
  for (auto& f : StaticFields()) {
    if (f.key == key) {
      f = Field(key, value);
      return;
    }
  }
  StaticFields().emplace_back(key, value);
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128 + message.size());
  if (g_json) {
    line += "{\"severity\":\"";
    line += LevelName(level);
    line += "\",\"message\":\"";
    AppendJsonEscaped(line, message);
    line += "\",\"time\":\"";
    line += NowRfc3339();
    line += '"';
    std::lock_guard lk(g_mu);
    for (const auto* list : {&StaticFields()}) {
      for (auto& f : *list) {
        line += ",\"";
        AppendJsonEscaped(line, f.key);
        line += "\":";
        line += f.json;
      }
    }
    for (auto& f : fields) {
      line += ",\"";
      AppendJsonEscaped(line, f.key);
      line += "\":";
      line += f.json;
    }
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  } else {
    line += NowRfc3339();
    line += ' ';
    line += LevelName(level);
    line += ' ';
    AppendJsonEscaped(line, message);
    for (auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      line += f.json;
    }
    line += '\n';
    std::lock_guard lk(g_mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

}  // namespace hakone::log
