#include "gateway/http_parser.h"

#include <algorithm>
#include <cstring>

namespace hakone::gateway {

namespace {

// Character classes (RFC 9110 §5.6.2 tchar; field-vchar; reg-name for Host).
struct Tables {
  bool token[256] = {};
  bool value[256] = {};  // HTAB, SP, VCHAR, obs-text
  bool host[256] = {};
  signed char hex[256];
  Tables() {
    for (int c = 0; c < 256; ++c) {
      hex[c] = -1;
      bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      token[c] = alnum || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
      value[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
      host[c] = alnum || (c != 0 && std::strchr("-._~%!$&'()*+,;=:[]", c) != nullptr);
    }
    for (int c = '0'; c <= '9'; ++c) hex[c] = static_cast<signed char>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) hex[c] = static_cast<signed char>(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; ++c) hex[c] = static_cast<signed char>(c - 'A' + 10);
  }
};
const Tables kT;

inline unsigned char U(char c) { return static_cast<unsigned char>(c); }
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsWs(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsWs(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWs(s.back())) s.remove_suffix(1);
  return s;
}

// True if any byte of `w` is a control character (< 0x20) or DEL; bytes >= 0x80 (obs-text) are
// not flagged. May flag a clean word only in the presence of a real hit (no false negatives).
inline bool HasCtlOrDel(uint64_t w) {
  constexpr uint64_t k01 = 0x0101010101010101ull, k80 = 0x8080808080808080ull;
  uint64_t lt = (w - 0x20 * k01) & ~w & k80;
  uint64_t x = w ^ (0x7f * k01);
  uint64_t del = (x - k01) & ~x & k80;
  return (lt | del) != 0;
}

// Index of the first byte of p[0, n) that may not appear in a field value, or n.
size_t FirstBadValueByte(const char* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (HasCtlOrDel(w)) {
      for (size_t k = i; k < i + 8; ++k) {
        if (!kT.value[U(p[k])]) return k;
      }
    }
  }
  for (; i < n; ++i) {
    if (!kT.value[U(p[i])]) return i;
  }
  return n;
}

// a == b where b is lowercase letters, digits and '-' and a holds token characters only.
inline bool NameIs(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != b[i]) return false;
  }
  return true;
}

void RebaseView(std::string_view& v, const char* old_base, const char* new_base) {
  if (v.data() == nullptr) return;
  v = std::string_view(new_base + (v.data() - old_base), v.size());
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = Trim(value.substr(0, comma));
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// HeadParserBase

void HeadParserBase::ResetBase() {
  base_ = nullptr;
  pos_ = begin_ = head_len_ = 0;
  started_ = false;
  state_ = ParseStatus::kNeedMore;
  error_status_ = 0;
  error_reason_ = "";
  minor_ = 1;
  headers_.clear();
  framing_ = BodyFraming::kNone;
  content_length_ = 0;
  keep_alive_ = true;
  upgrade_ = false;
  cl_count_ = 0;
  cl_mismatch_ = cl_bad_ = false;
  te_count_ = host_count_ = 0;
  cl_value_ = {};
  conn_close_ = conn_keep_alive_ = conn_upgrade_ = false;
  has_upgrade_field_ = false;
  part1_ = part2_ = host_ = {};
  expect_continue_ = false;
}

const HttpHeader* HeadParserBase::Find(std::string_view name) const {
  for (auto& h : headers_) {
    if (EqualsIgnoreCase(h.name, name)) return &h;
  }
  return nullptr;
}

void HeadParserBase::Rebase(const char* base) {
  if (base_ != nullptr && base != nullptr) {
    for (auto& h : headers_) {
      RebaseView(h.name, base_, base);
      RebaseView(h.value, base_, base);
      RebaseView(h.line, base_, base);
    }
    RebaseView(part1_, base_, base);
    RebaseView(part2_, base_, base);
    RebaseView(host_, base_, base);
    RebaseView(cl_value_, base_, base);
  }
  base_ = base;
}

ParseStatus HeadParserBase::Run(std::string_view buf, bool is_request) {
  if (state_ != ParseStatus::kNeedMore) return state_;
  if (buf.data() != base_) Rebase(buf.data());
  const char* b = buf.data();
  const size_t len = buf.size();
  const size_t max = limits_.max_head_bytes;
  auto fail = [&](int status, const char* reason) {
    Fail(is_request ? status : 502, reason);
    state_ = ParseStatus::kError;
    return state_;
  };
  for (;;) {
    if (!started_ && is_request) {
      // Robustness (RFC 9112 §2.2): skip empty lines before the request line.
      while (pos_ + 1 < len && pos_ + 2 <= max && b[pos_] == '\r' && b[pos_ + 1] == '\n') pos_ += 2;
      begin_ = pos_;
    }
    const size_t window_end = std::min(len, max);
    const char* nl = pos_ < window_end ? static_cast<const char*>(std::memchr(b + pos_, '\n', window_end - pos_)) : nullptr;
    if (nl == nullptr) {
      if (len >= max) {
        if (!started_ && is_request) return fail(414, "request line too long");
        return fail(431, "header section too large");
      }
      return ParseStatus::kNeedMore;
    }
    const size_t nl_at = static_cast<size_t>(nl - b);
    if (nl_at == pos_ || b[nl_at - 1] != '\r') return fail(400, "line ends in bare LF");
    const size_t content = nl_at - 1 - pos_;
    if (!started_) {
      if (!StartLine(b + pos_, content)) return fail(error_status_, error_reason_);
      started_ = true;
    } else if (content == 0) {
      head_len_ = nl_at + 1;
      if (!Finish()) return fail(error_status_, error_reason_);
      state_ = ParseStatus::kDone;
      return state_;
    } else if (!HeaderLine(b + pos_, content, nl_at + 1 - pos_, is_request)) {
      return fail(error_status_, error_reason_);
    }
    pos_ = nl_at + 1;
  }
}

bool HeadParserBase::HeaderLine(const char* line, size_t n, size_t full_len, bool is_request) {
  if (IsWs(line[0])) return Fail(400, "obsolete line folding");
  size_t i = 0;
  while (i < n && kT.token[U(line[i])]) ++i;
  if (i == n) return Fail(400, "header field without colon");
  if (line[i] != ':') {
    if (IsWs(line[i])) return Fail(400, "whitespace before colon");
    if (line[i] == '\r') return Fail(400, "bare CR in header");
    return Fail(400, "invalid character in header name");
  }
  if (i == 0) return Fail(400, "empty header name");
  size_t j = i + 1;
  size_t k = n;
  if (size_t bad = j + FirstBadValueByte(line + j, n - j); bad < n) {
    return Fail(400, line[bad] == '\r' ? "bare CR in header" : "invalid character in header value");
  }
  while (j < k && IsWs(line[j])) ++j;
  while (k > j && IsWs(line[k - 1])) --k;
  if (headers_.size() >= limits_.max_headers) return Fail(431, "too many header fields");
  std::string_view name(line, i), value(line + j, k - j);
  headers_.push_back(HttpHeader{name, value, std::string_view(line, full_len)});

  // Fields that decide framing and connection handling.
  switch (i) {
    case 14:
      if (NameIs(name, "content-length")) {
        if (cl_count_ > 0 && value != cl_value_) cl_mismatch_ = true;
        if (cl_count_++ == 0) {
          cl_value_ = value;
          if (value.empty() || value.size() > 18) {
            cl_bad_ = true;
          } else {
            uint64_t v = 0;
            for (char c : value) {
              if (!IsDigit(c)) {
                cl_bad_ = true;
                break;
              }
              v = v * 10 + static_cast<uint64_t>(c - '0');
            }
            content_length_ = v;
          }
        }
      }
      break;
    case 17:
      if (NameIs(name, "transfer-encoding")) ++te_count_;
      break;
    case 4:
      if (is_request && NameIs(name, "host")) {
        if (host_count_++ == 0) host_ = value;
      }
      break;
    case 10:
      if (NameIs(name, "connection")) {
        std::string_view v = value;
        while (!v.empty()) {
          size_t comma = v.find(',');
          std::string_view item = Trim(v.substr(0, comma));
          if (EqualsIgnoreCase(item, "close")) conn_close_ = true;
          else if (EqualsIgnoreCase(item, "keep-alive")) conn_keep_alive_ = true;
          else if (EqualsIgnoreCase(item, "upgrade")) conn_upgrade_ = true;
          if (comma == std::string_view::npos) break;
          v.remove_prefix(comma + 1);
        }
      }
      break;
    case 7:
      if (NameIs(name, "upgrade")) has_upgrade_field_ = true;
      break;
    case 6:
      if (is_request && NameIs(name, "expect") && EqualsIgnoreCase(value, "100-continue")) expect_continue_ = true;
      break;
    default:
      break;
  }
  return true;
}

bool HeadParserBase::ScanTransferCodings(bool* chunked_last, int* chunked_count, bool* other_codings) const {
  *chunked_last = false;
  *chunked_count = 0;
  *other_codings = false;
  bool any = false;
  for (auto& h : headers_) {
    if (!NameIs(h.name, "transfer-encoding")) continue;
    std::string_view v = h.value;
    while (true) {
      size_t comma = v.find(',');
      std::string_view item = Trim(v.substr(0, comma));
      if (!item.empty()) {
        any = true;
        bool chunked = EqualsIgnoreCase(item, "chunked");
        if (chunked) ++*chunked_count;
        else *other_codings = true;
        *chunked_last = chunked;
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return any;
}

// ---------------------------------------------------------------------------------------------
// RequestParser

void RequestParser::Reset() {
  ResetBase();
  is_head_ = is_connect_ = false;
}

bool RequestParser::StartLine(const char* p, size_t n) {
  size_t i = 0;
  while (i < n && kT.token[U(p[i])]) ++i;
  if (i == 0 || i == n || p[i] != ' ') return Fail(400, "invalid method");
  part1_ = std::string_view(p, i);
  size_t start = i + 1, j = start;
  while (j < n && p[j] != ' ') {
    unsigned char c = U(p[j]);
    if (c < 0x21 || c == 0x7f) return Fail(400, c == '\r' ? "bare CR in request line" : "invalid character in request target");
    ++j;
  }
  if (j == start) return Fail(400, "empty request target");
  if (j == n) return Fail(400, "missing HTTP version");
  part2_ = std::string_view(p + start, j - start);
  const char* v = p + j + 1;
  size_t vn = n - j - 1;
  if (vn != 8 || std::memcmp(v, "HTTP/", 5) != 0 || !IsDigit(v[5]) || v[6] != '.' || !IsDigit(v[7])) {
    return Fail(400, "malformed HTTP version");
  }
  if (v[5] != '1' || v[7] > '1') return Fail(505, "HTTP version not supported");
  minor_ = v[7] - '0';
  is_head_ = part1_ == "HEAD";
  is_connect_ = part1_ == "CONNECT";
  std::string_view t = part2_;
  if (is_connect_) {
    // authority-form: host:port.
    if (t[0] == '/' || t.find('/') != std::string_view::npos || t.find(':') == std::string_view::npos) {
      return Fail(400, "CONNECT needs an authority-form target");
    }
  } else if (t[0] == '/') {
    // origin-form
  } else if (t == "*") {
    if (part1_ != "OPTIONS") return Fail(400, "asterisk-form target is only allowed with OPTIONS");
  } else {
    // absolute-form: scheme ":" ...
    size_t s = 0;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(t[0])) return Fail(400, "invalid request target");
    while (s < t.size() && (alpha(t[s]) || IsDigit(t[s]) || t[s] == '+' || t[s] == '-' || t[s] == '.')) ++s;
    if (s == t.size() || t[s] != ':') return Fail(400, "invalid request target");
  }
  return true;
}

bool RequestParser::Finish() {
  if (host_count_ > 1) return Fail(400, "multiple Host headers");
  if (host_count_ == 0 && minor_ == 1) return Fail(400, "missing Host header");
  for (char c : host_) {
    if (!kT.host[U(c)]) return Fail(400, "invalid Host header");
  }
  if (te_count_ > 0) {
    if (minor_ == 0) return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (cl_count_ > 0) return Fail(400, "both Content-Length and Transfer-Encoding");
    bool chunked_last;
    int chunked_count;
    bool others;
    if (!ScanTransferCodings(&chunked_last, &chunked_count, &others)) return Fail(400, "empty Transfer-Encoding");
    if (!chunked_last) return Fail(400, "Transfer-Encoding does not end with chunked");
    if (chunked_count > 1) return Fail(400, "chunked applied more than once");
    if (others) return Fail(501, "unsupported transfer coding");
    framing_ = BodyFraming::kChunked;
  } else if (cl_count_ > 0) {
    if (cl_count_ > 1) return Fail(400, cl_mismatch_ ? "conflicting Content-Length headers" : "duplicate Content-Length header");
    if (cl_bad_) return Fail(400, "invalid Content-Length");
    framing_ = BodyFraming::kContentLength;
  } else {
    framing_ = BodyFraming::kNone;
  }
  keep_alive_ = minor_ == 1 ? !conn_close_ : (conn_keep_alive_ && !conn_close_);
  upgrade_ = minor_ == 1 && conn_upgrade_ && has_upgrade_field_;
  return true;
}

// ---------------------------------------------------------------------------------------------
// ResponseParser

void ResponseParser::Reset(bool request_was_head) {
  ResetBase();
  request_was_head_ = request_was_head;
  status_ = 0;
}

bool ResponseParser::StartLine(const char* p, size_t n) {
  if (n < 12 || std::memcmp(p, "HTTP/", 5) != 0 || !IsDigit(p[5]) || p[6] != '.' || !IsDigit(p[7]) || p[8] != ' ') {
    return Fail(502, "malformed status line");
  }
  if (p[5] != '1') return Fail(502, "unsupported HTTP version in response");
  minor_ = p[7] == '0' ? 0 : 1;
  if (!IsDigit(p[9]) || !IsDigit(p[10]) || !IsDigit(p[11])) return Fail(502, "malformed status code");
  status_ = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (status_ < 100) return Fail(502, "malformed status code");
  if (n > 12) {
    if (p[12] != ' ') return Fail(502, "malformed status line");
    for (size_t i = 13; i < n; ++i) {
      if (!kT.value[U(p[i])]) return Fail(502, "invalid character in reason phrase");
    }
    part1_ = std::string_view(p + 13, n - 13);
  } else {
    part1_ = std::string_view(p + n, 0);
  }
  return true;
}

bool ResponseParser::Finish() {
  if (status_ < 200) {
    framing_ = BodyFraming::kNoBody;
    upgrade_ = status_ == 101;
    keep_alive_ = !conn_close_;
    return true;
  }
  if (request_was_head_ || status_ == 204 || status_ == 304) {
    framing_ = BodyFraming::kNoBody;
  } else if (te_count_ > 0) {
    if (cl_count_ > 0) return Fail(502, "both Content-Length and Transfer-Encoding in response");
    if (minor_ == 0) return Fail(502, "Transfer-Encoding in an HTTP/1.0 response");
    bool chunked_last;
    int chunked_count;
    bool others;
    if (!ScanTransferCodings(&chunked_last, &chunked_count, &others)) return Fail(502, "empty Transfer-Encoding in response");
    if (chunked_count > 1) return Fail(502, "chunked applied more than once in response");
    framing_ = chunked_last ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  } else if (cl_count_ > 0) {
    if (cl_bad_) return Fail(502, "invalid Content-Length in response");
    if (cl_mismatch_) return Fail(502, "conflicting Content-Length in response");
    framing_ = BodyFraming::kContentLength;
  } else {
    framing_ = BodyFraming::kUntilClose;
  }
  keep_alive_ = (minor_ == 1 ? !conn_close_ : (conn_keep_alive_ && !conn_close_)) && framing_ != BodyFraming::kUntilClose;
  return true;
}

// ---------------------------------------------------------------------------------------------
// ChunkScanner

void ChunkScanner::Reset() {
  state_ = kSize;
  error_ = "";
  size_ = remaining_ = 0;
  size_digits_ = 0;
  line_len_ = trailer_bytes_ = 0;
  size_ws_ = trailer_colon_ = false;
  payload_ = pos_ = line_start_ = 0;
  last_chunk_ = false;
}

uint64_t ChunkScanner::hold_position() const {
  switch (state_) {
    case kSize:
    case kSizeWs:
    case kExt:
    case kSizeLf:
    case kTrailerStart:
    case kTrailer:
    case kTrailerLf:
    case kFinalLf:
    case kDone:
      return line_start_;
    default:
      return pos_;
  }
}

bool ChunkScanner::ScanTrailerByte(unsigned char c) {
  if (++trailer_bytes_ > limits_.max_trailer_bytes) return Fail("trailer section too large");
  if (!trailer_colon_) {
    if (c == ':') {
      if (line_len_ == 0) return Fail("empty trailer field name");
      trailer_colon_ = true;
    } else if (!kT.token[c]) {
      return Fail(IsWs(static_cast<char>(c)) ? (line_len_ == 0 ? "obsolete line folding in trailer" : "whitespace before colon in trailer")
                                             : "invalid trailer field name");
    }
  } else if (!kT.value[c]) {
    return Fail("invalid character in trailer field");
  }
  ++line_len_;
  return true;
}

ChunkScanner::Result ChunkScanner::Scan(const char* p, size_t n, DataFn fn, void* ctx) {
  Result r;
  size_t i = 0;
  while (i < n && state_ != kDone && state_ != kError) {
    const unsigned char c = U(p[i]);
    switch (state_) {
      case kSize: {
        int h = kT.hex[c];
        if (h >= 0) {
          if (size_digits_ >= 16 || (size_ >> 59) != 0) {
            Fail("chunk size too large");
            break;
          }
          size_ = (size_ << 4) | static_cast<uint64_t>(h);
          ++size_digits_;
          ++line_len_;
          ++i;
        } else if (size_digits_ == 0) {
          Fail("invalid chunk size");
        } else {
          state_ = kSizeWs;
        }
        break;
      }
      case kSizeWs:
        if (c == ' ' || c == '\t') {
          size_ws_ = true;
        } else if (c == ';') {
          state_ = kExt;
        } else if (c == '\r' && !size_ws_) {
          state_ = kSizeLf;
        } else {
          Fail("invalid chunk size line");
          break;
        }
        ++i;
        if (++line_len_ > limits_.max_line) Fail("chunk size line too long");
        break;
      case kExt: {
        // chunk-ext: anything visible up to CR (extensions are forwarded, not interpreted).
        const size_t budget = limits_.max_line > line_len_ ? limits_.max_line - line_len_ : 0;
        const size_t stop = std::min(n, i + budget);
        size_t j = i;
        while (j < stop && p[j] != '\r' && kT.value[U(p[j])]) ++j;
        line_len_ += j - i;
        i = j;
        if (i < n) {
          if (p[i] == '\r') {
            state_ = kSizeLf;
            ++i;
            if (++line_len_ > limits_.max_line) Fail("chunk size line too long");
          } else if (!kT.value[U(p[i])]) {
            Fail("invalid character in chunk extension");
          } else {
            Fail("chunk size line too long");
          }
        }
        break;
      }
      case kSizeLf:
        if (c != '\n') {
          Fail("expected LF after chunk size");
          break;
        }
        ++i;
        if (size_ == 0) {
          last_chunk_ = true;
          state_ = kTrailerStart;
          line_len_ = 0;
        } else {
          remaining_ = size_;
          state_ = kData;
        }
        break;
      case kData: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        if (fn != nullptr && take > 0) fn(ctx, p + i, take);
        payload_ += take;
        remaining_ -= take;
        i += take;
        if (remaining_ == 0) state_ = kDataCr;
        break;
      }
      case kDataCr:
        if (c != '\r') {
          Fail("missing CRLF after chunk data");
          break;
        }
        ++i;
        state_ = kDataLf;
        break;
      case kDataLf:
        if (c != '\n') {
          Fail("missing CRLF after chunk data");
          break;
        }
        ++i;
        state_ = kSize;
        size_ = 0;
        size_digits_ = 0;
        line_len_ = 0;
        size_ws_ = false;
        line_start_ = pos_ + i;
        break;
      case kTrailerStart:
        if (c == '\r') {
          state_ = kFinalLf;
          ++i;
          break;
        }
        trailer_colon_ = false;
        line_len_ = 0;
        state_ = kTrailer;
        [[fallthrough]];
      case kTrailer:
        if (c == '\r') {
          if (!trailer_colon_) {
            Fail("trailer field without colon");
            break;
          }
          state_ = kTrailerLf;
          ++i;
          break;
        }
        if (!ScanTrailerByte(c)) break;
        ++i;
        break;
      case kTrailerLf:
        if (c != '\n') {
          Fail("expected LF after trailer field");
          break;
        }
        ++i;
        state_ = kTrailerStart;
        break;
      case kFinalLf:
        if (c != '\n') {
          Fail("expected LF at end of chunked body");
          break;
        }
        ++i;
        state_ = kDone;
        break;
      case kDone:
      case kError:
        break;
    }
  }
  pos_ += i;
  r.consumed = i;
  r.done = state_ == kDone;
  r.error = state_ == kError;
  return r;
}

}  // namespace hakone::gateway
