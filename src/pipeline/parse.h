// Pure parsers of the agent (no I/O, fuzzed under fuzz/): logfmt, syslog (RFC 5424 / 3164),
// syslog stream framing, multiline grouping, the filter/alert query language, timestamps and
// the Elasticsearch _bulk body. Each rejects malformed input with a message saying what and
// where, and never crashes on arbitrary bytes.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hakone::pipeline {

// logfmt: `key=value key2="quoted \"value\"" flag`. Bare keys become true. Values that look like
// integers/floats stay strings (logfmt has no types). Errors: InvalidArgument with the offset
// (unterminated quote, empty key, `=` without key).
Status ParseLogfmt(std::string_view line, boost::json::object* out);

struct SyslogMessage {
  int facility = -1;  // -1 when the line had no <PRI>
  int severity = -1;
  int version = 0;    // 1 for RFC 5424, 0 for RFC 3164
  std::string timestamp;  // as written
  int64_t ts_ns = 0;      // parsed timestamp (0 when absent or unparsable)
  std::string hostname, appname, procid, msgid;
  std::string structured_data;  // RFC 5424 SD as written ("-" → "")
  std::string message;
};
// Parses one syslog message (RFC 5424 if "<PRI>1 ", else RFC 3164; a line without <PRI> is
// taken as BSD format without priority). `now_ns` gives the year for RFC 3164.
// Errors: InvalidArgument naming the part (bad PRI, bad version, truncated header).
Status ParseSyslog(std::string_view line, int64_t now_ns, SyslogMessage* out);
// Fields of a parsed syslog message ("facility", "severity", "level", "hostname", "appname", ...).
void SyslogToFields(const SyslogMessage& m, boost::json::object* out);
// The same fields written directly as a JSON object (the syslog source's fast path: no object
// is built, nothing is serialized). Appends to *out.
void SyslogToFieldsJson(const SyslogMessage& m, std::string* out);

// Splits a TCP syslog byte stream into messages: octet-counted ("<len> <msg>", RFC 6587) when a
// frame starts with a digit, otherwise newline-terminated. Feed() appends bytes and calls fn for
// each complete message. Errors (InvalidArgument) for a bad octet count or a frame over
// max_frame; the connection should then be closed.
class SyslogFramer {
 public:
  explicit SyslogFramer(size_t max_frame = 64 << 10) : max_frame_(max_frame) {}
  Status Feed(std::string_view bytes, const std::function<void(std::string_view)>& fn);
  // Hands over a final unterminated line (at end of stream).
  void Finish(const std::function<void(std::string_view)>& fn);

 private:
  size_t max_frame_;
  std::string buf_;
};

// A compiled PCRE2 regular expression (JIT when available). Thread safe for matching.
class Regex {
 public:
  // Errors: InvalidArgument with PCRE2's message and offset.
  static Result<std::shared_ptr<Regex>> Compile(std::string_view pattern);
  ~Regex();
  bool Matches(std::string_view s) const;
  // Matches and returns the named captures that participated; nullopt when no match.
  std::optional<std::vector<std::pair<std::string, std::string>>> Captures(std::string_view s) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;
  std::vector<std::pair<int, std::string>> names_;  // group number, name
};

// Groups lines into multiline records. With `start`: a line matching it begins a new record and
// the others are appended to the current one. With `continuation`: a line matching it is appended
// to the previous one. A record is emitted when the next one starts, when it reaches max_lines /
// max_bytes, or when Flush() is called after `timeout` without a new line.
class MultilineAssembler {
 public:
  struct Options {
    std::shared_ptr<Regex> start;         // exactly one of start / continuation
    std::shared_ptr<Regex> continuation;
    size_t max_lines = 500;
    size_t max_bytes = 1 << 20;
  };
  explicit MultilineAssembler(Options o) : o_(std::move(o)) {}
  // Adds one line (without its newline); fn receives each completed record.
  void Add(std::string_view line, const std::function<void(std::string&&)>& fn);
  // Emits the pending record, if any.
  void Flush(const std::function<void(std::string&&)>& fn);
  bool pending() const { return lines_ > 0; }

 private:
  Options o_;
  std::string cur_;
  size_t lines_ = 0;
};

struct Event;

// The query language of `filter` transforms and `slack` rules (a Lucene query_string subset):
//   word            the message contains it (case-insensitive)
//   "some phrase"   the message contains it (case-insensitive)
//   field:value     the field equals value (case-insensitive; value* is a prefix match)
//   field:*         the field exists
//   field:>N  field:>=N  field:<N  field:<=N   numeric comparisons
//   a AND b, a OR b, NOT a, -a, ( ... )   (juxtaposition means AND; AND binds tighter than OR)
// Fields: `message`, `env`, `source`, `origin` and any parsed field (dotted paths "http.status").
class Query {
 public:
  // Errors: InvalidArgument naming the position (unbalanced parenthesis, empty field, ...).
  static Result<std::shared_ptr<Query>> Parse(std::string_view text);
  virtual ~Query() = default;
  virtual bool Matches(const Event& e) const = 0;
};

// Parses a time string. format: "rfc3339" (also "2026-01-02 03:04:05[.fff]" and offsets), "unix"
// (seconds, fractional allowed), "unix_ms", "clf" (10/Oct/2000:13:55:36 -0700), "syslog"
// (Oct 11 22:14:15, year from now_ns), or a strptime format (%Y-%m-%d %H:%M:%S, UTC unless %z).
// Errors: InvalidArgument.
Result<int64_t> ParseTime(std::string_view text, std::string_view format, int64_t now_ns);

// One parsed line of an Elasticsearch _bulk body: an action (index/create) and its document.
struct BulkDoc {
  std::string action;  // "index" | "create"
  std::string index;   // _index, or "" (the URL's index applies)
  std::string id;      // _id or ""
  std::string source;  // the document JSON line
};
// Parses an NDJSON _bulk body; `delete` and `update` actions are reported as errors for their
// item. Errors: InvalidArgument with the line number (bad JSON, action without document).
Status ParseBulk(std::string_view body, std::vector<BulkDoc>* out);

// The nginx/apache "combined" access log format → fields (remote_addr, remote_user, time_local,
// method, path, protocol, status, body_bytes_sent, referer, user_agent). Errors: InvalidArgument.
Status ParseCombinedLog(std::string_view line, boost::json::object* out);

// Looks up a dotted path in fields ("http.status"); nullptr when absent.
const boost::json::value* LookupField(const boost::json::object& o, std::string_view path);

}  // namespace hakone::pipeline
