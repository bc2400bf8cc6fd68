#include "sessions/resp.h"

#include <cstring>

#include "sessions/value.h"

namespace hakone::sessions {

namespace {

// Finds "\r\n" from `from`; npos when absent.
size_t FindCrlf(std::string_view buf, size_t from) {
  while (from < buf.size()) {
    const void* p = std::memchr(buf.data() + from, '\r', buf.size() - from);
    if (!p) return std::string_view::npos;
    size_t i = static_cast<const char*>(p) - buf.data();
    if (i + 1 >= buf.size()) return std::string_view::npos;
    if (buf[i + 1] == '\n') return i;
    from = i + 1;
  }
  return std::string_view::npos;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

bool SplitInlineArgs(std::string_view line, std::vector<std::string>* out) {
  out->clear();
  size_t i = 0, n = line.size();
  for (;;) {
    while (i < n && IsSpace(line[i])) i++;
    if (i >= n) return true;
    std::string cur;
    bool inq = false, insq = false, done = false;
    while (!done) {
      if (inq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && HexDigit(line[i + 2]) >= 0 && HexDigit(line[i + 3]) >= 0) {
          cur.push_back(static_cast<char>(HexDigit(line[i + 2]) * 16 + HexDigit(line[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < n) {
          i++;
          char e = line[i];
          switch (e) {
            case 'n': cur.push_back('\n'); break;
            case 'r': cur.push_back('\r'); break;
            case 't': cur.push_back('\t'); break;
            case 'b': cur.push_back('\b'); break;
            case 'a': cur.push_back('\a'); break;
            default: cur.push_back(e); break;
          }
        } else if (c == '"') {
          // The closing quote must be followed by a space or the end.
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
        } else {
          cur.push_back(c);
        }
      } else if (insq) {
        if (i >= n) return false;
        char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          i++;
          cur.push_back('\'');
        } else if (c == '\'') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
        } else {
          cur.push_back(c);
        }
      } else {
        if (i >= n) {
          done = true;
          break;
        }
        char c = line[i];
        if (IsSpace(c)) {
          done = true;
        } else if (c == '"') {
          inq = true;
        } else if (c == '\'') {
          insq = true;
        } else {
          cur.push_back(c);
        }
      }
      if (i < n) i++;
    }
    out->push_back(std::move(cur));
  }
}

ParseStatus RespRequestParser::ParseInline(std::string_view buf, const RespServerLimits& limits,
                                           std::vector<std::string_view>* args, size_t* consumed) {
  size_t nl = buf.find('\n');
  if (nl == std::string_view::npos) {
    if (buf.size() > limits.max_inline) {
      error_ = "Protocol error: too big inline request";
      return ParseStatus::kError;
    }
    return ParseStatus::kIncomplete;
  }
  if (nl > limits.max_inline) {  // the same answer however the bytes were split into reads
    error_ = "Protocol error: too big inline request";
    return ParseStatus::kError;
  }
  std::string_view line = buf.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  *consumed = nl + 1;
  if (!SplitInlineArgs(line, &scratch_)) {
    error_ = "Protocol error: unbalanced quotes in request";
    return ParseStatus::kError;
  }
  if (scratch_.empty()) return ParseStatus::kEmpty;
  args->clear();
  for (const auto& s : scratch_) args->emplace_back(s);
  return ParseStatus::kOk;
}

ParseStatus RespRequestParser::Parse(std::string_view buf, const RespServerLimits& limits,
                                     std::vector<std::string_view>* args, size_t* consumed) {
  wanted_ = 0;
  if (buf.empty()) return ParseStatus::kIncomplete;
  if (buf[0] != '*') return ParseInline(buf, limits, args, consumed);
  size_t eol = FindCrlf(buf, 1);
  if (eol == std::string_view::npos) {
    if (buf.size() > limits.max_inline) {
      error_ = "Protocol error: too big mbulk count string";
      return ParseStatus::kError;
    }
    return ParseStatus::kIncomplete;
  }
  if (eol > limits.max_inline) {
    error_ = "Protocol error: too big mbulk count string";
    return ParseStatus::kError;
  }
  int64_t count;
  std::string_view cs = buf.substr(1, eol - 1);
  if (!ParseInt64(cs, &count) || count > static_cast<int64_t>(limits.max_multibulk) ||
      (!limits.authenticated && count > 10)) {
    error_ = "Protocol error: invalid multibulk length";
    return ParseStatus::kError;
  }
  size_t pos = eol + 2;
  if (count <= 0) {
    *consumed = pos;
    return ParseStatus::kEmpty;
  }
  args->clear();
  for (int64_t i = 0; i < count; i++) {
    if (pos >= buf.size()) return ParseStatus::kIncomplete;
    if (buf[pos] != '$') {
      error_ = "Protocol error: expected '$', got '";
      error_.push_back(buf[pos]);
      error_.push_back('\'');
      return ParseStatus::kError;
    }
    size_t e = FindCrlf(buf, pos + 1);
    if (e == std::string_view::npos) {
      if (buf.size() - pos > limits.max_inline) {
        error_ = "Protocol error: too big bulk count string";
        return ParseStatus::kError;
      }
      return ParseStatus::kIncomplete;
    }
    if (e - pos > limits.max_inline) {
      error_ = "Protocol error: too big bulk count string";
      return ParseStatus::kError;
    }
    int64_t len;
    if (!ParseInt64(buf.substr(pos + 1, e - pos - 1), &len) || len < 0 ||
        static_cast<uint64_t>(len) > limits.max_bulk || (!limits.authenticated && len > 16384)) {
      error_ = "Protocol error: invalid bulk length";
      return ParseStatus::kError;
    }
    pos = e + 2;
    if (buf.size() < pos + static_cast<size_t>(len) + 2) {
      wanted_ = pos + static_cast<size_t>(len) + 2;
      return ParseStatus::kIncomplete;
    }
    args->emplace_back(buf.data() + pos, static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    if (buf[pos] != '\r' || buf[pos + 1] != '\n') {
      // Redis does not check the terminator; it takes the two bytes as CRLF. We are stricter.
      error_ = "Protocol error: expected '\\r\\n' after bulk argument";
      return ParseStatus::kError;
    }
    pos += 2;
  }
  *consumed = pos;
  return ParseStatus::kOk;
}

}  // namespace hakone::sessions
