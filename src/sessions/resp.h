// The server side of RESP2: a request parser (multibulk and inline commands, bounded) and the
// reply writers. Arguments are views into the caller's buffer (no copy) except for inline
// commands with quotes, whose unescaped arguments live in the parser's scratch storage.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hakone::sessions {

struct RespServerLimits {
  size_t max_bulk = 512u << 20;        // bytes in one bulk argument (Redis proto-max-bulk-len)
  size_t max_multibulk = 1u << 20;     // arguments in one request
  size_t max_inline = 64u << 10;       // bytes in an inline request or a length line
  bool authenticated = true;           // false: Redis's stricter pre-AUTH limits (10 args, 16 KiB bulk)
};

enum class ParseStatus { kOk, kIncomplete, kError, kEmpty };

class RespRequestParser {
 public:
  // Parses one request from the front of `buf`. kOk: *args holds the arguments and *consumed the
  // bytes taken. kEmpty: a request with no arguments (blank line, "*0") was skipped; *consumed
  // says how much. kIncomplete: need more bytes. kError: protocol error; error() holds Redis's
  // text ("Protocol error: invalid bulk length") and the connection must be closed.
  ParseStatus Parse(std::string_view buf, const RespServerLimits& limits, std::vector<std::string_view>* args,
                    size_t* consumed);
  const std::string& error() const { return error_; }
  // Bytes the request being parsed needs in total, when known (to grow the read buffer once).
  size_t wanted() const { return wanted_; }

 private:
  ParseStatus ParseInline(std::string_view buf, const RespServerLimits& limits, std::vector<std::string_view>* args,
                          size_t* consumed);
  std::string error_;
  std::vector<std::string> scratch_;
  size_t wanted_ = 0;
};

// Splits an inline command line like Redis's sdssplitargs ("a b", quotes, \x escapes). Returns
// false on unbalanced quotes.
bool SplitInlineArgs(std::string_view line, std::vector<std::string>* out);

// ---- reply writers (append to a buffer) ----
inline void AppendInt(std::string& o, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  o.append(buf, r.ptr);
}
inline void ReplyStatus(std::string& o, std::string_view s) {
  o.push_back('+');
  o.append(s);
  o.append("\r\n", 2);
}
inline void ReplyOk(std::string& o) { o.append("+OK\r\n", 5); }
// `e` without the leading '-' ("ERR syntax error").
inline void ReplyError(std::string& o, std::string_view e) {
  o.push_back('-');
  o.append(e);
  o.append("\r\n", 2);
}
inline void ReplyInt(std::string& o, int64_t v) {
  o.push_back(':');
  AppendInt(o, v);
  o.append("\r\n", 2);
}
inline void ReplyBulk(std::string& o, std::string_view s) {
  o.push_back('$');
  AppendInt(o, static_cast<int64_t>(s.size()));
  o.append("\r\n", 2);
  o.append(s);
  o.append("\r\n", 2);
}
inline void ReplyNil(std::string& o) { o.append("$-1\r\n", 5); }
inline void ReplyNilArray(std::string& o) { o.append("*-1\r\n", 5); }
inline void ReplyArray(std::string& o, size_t n) {
  o.push_back('*');
  AppendInt(o, static_cast<int64_t>(n));
  o.append("\r\n", 2);
}

}  // namespace hakone::sessions
