// Structured logging: one JSON object per line on stderr with `severity`, `message`, `time`
// (RFC 3339, UTC) and any extra fields, the shape Cloud Logging and Loki read without parsing
// rules. `format = "text"` prints "time SEVERITY message k=v" for people at a terminal.
//
// Thread safe. Messages and field values are JSON-escaped, so CR/LF never reach a line raw.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace hakone::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A field value is kept as its JSON text (see Field's constructors).
struct Field {
  Field(std::string_view k, std::string_view v);
  Field(std::string_view k, const char* v) : Field(k, std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : Field(k, std::string_view(v)) {}
  Field(std::string_view k, long long v);
  Field(std::string_view k, int v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, long v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, unsigned long v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, unsigned long long v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, unsigned v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, bool v);
  std::string key;
  std::string json;
};

// Parses "debug" | "info" | "warn" | "error"; returns false on anything else.
bool ParseLevel(std::string_view s, Level* out);
void SetLevel(Level level);
Level GetLevel();
// true: JSON lines (default); false: text.
void SetJson(bool json);
// Extra fields added to every line (e.g. the component, the instance name).
void SetStaticField(std::string_view key, std::string_view value);

void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (GetLevel() <= Level::kDebug) Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

// Appends `s` to `out` as the inside of a JSON string (quotes not included); invalid UTF-8 bytes
// become U+FFFD so that every line stays valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view s);

}  // namespace hakone::log
