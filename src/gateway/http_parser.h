// A small, strict, incremental HTTP/1.1 message-head parser (RFC 9112) and chunked-body scanner.
//
// Built for a byte-exact reverse proxy: nothing is copied or rewritten. The parsers return
// string_views into the caller's buffer and the exact length of the head, so the proxy can
// forward the original bytes; the chunk scanner walks chunk framing without decoding it in place,
// so raw chunk bytes can be forwarded unchanged while the proxy learns exactly where the body
// ends (and, optionally, sees the decoded payload for capture).
//
// Strictness (everything below is rejected with 400 unless noted):
//  - lines must end in CRLF (bare LF, bare CR and NUL are rejected); obs-fold is rejected;
//  - the request line is exactly `method SP request-target SP HTTP/d.d`; the method is a token;
//    the target is origin-form, absolute-form, authority-form (CONNECT only) or `*` (OPTIONS
//    only), without controls or spaces (bytes >= 0x80 are tolerated, as nginx does);
//  - versions other than HTTP/1.0 and HTTP/1.1 → 505;
//  - field names are tokens followed directly by ':' (whitespace before the colon is rejected);
//    field values hold only HTAB, SP, VCHAR and obs-text;
//  - HTTP/1.1 requests need exactly one Host; more than one Host is rejected in any version;
//  - Content-Length must be digits only; a second Content-Length (or a list) is rejected in
//    requests (identical duplicates are tolerated in responses);
//  - Content-Length together with Transfer-Encoding is rejected (request smuggling), in requests
//    and responses; Transfer-Encoding in an HTTP/1.0 request is rejected;
//  - in requests, Transfer-Encoding whose final coding is not `chunked` → 400, any coding other
//    than `chunked` → 501 (only plain `chunked` is supported);
//  - a head longer than `max_head_bytes` → 431 (414 when the request line alone is too long);
//    more than `max_headers` fields → 431.
//
// Thread compatible: one parser per connection; no allocation after the first few messages
// (the header vector keeps its capacity across Reset()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace hakone::gateway {

// How the body of a message is delimited.
enum class BodyFraming : uint8_t {
  kNone,           // request without a body
  kContentLength,  // exactly content_length() bytes (may be 0)
  kChunked,        // chunked transfer coding: walk it with ChunkScanner
  kUntilClose,     // response delimited by the connection closing
  kNoBody,         // response that cannot carry a body (HEAD, 1xx, 204, 304)
};

enum class ParseStatus : uint8_t { kNeedMore, kDone, kError };

struct HttpHeader {
  std::string_view name;   // as received (case preserved)
  std::string_view value;  // leading/trailing whitespace removed
  std::string_view line;   // the whole field line including its CRLF
};

struct HttpLimits {
  size_t max_head_bytes = 64 << 10;  // start line + fields + final CRLF
  size_t max_headers = 100;
};

// Case-insensitive ASCII comparison.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// True if the comma-separated list `value` holds `token` (case-insensitive), e.g. Connection.
bool HasToken(std::string_view value, std::string_view token);

// Shared machinery of the request and response parsers.
class HeadParserBase {
 public:
  // Length of the head (start line through the final CRLF), valid after kDone.
  size_t head_length() const { return head_len_; }
  // Offset of the start line: empty lines before a request line are skipped (RFC 9112 §2.2),
  // so the head is buf[head_begin(), head_length()).
  size_t head_begin() const { return begin_; }
  // After kError: the HTTP status to answer with (400, 414, 431, 501, 505; 502 for responses)
  // and a short static reason ("whitespace before colon").
  int error_status() const { return error_status_; }
  const char* error_reason() const { return error_reason_; }

  int version_minor() const { return minor_; }  // HTTP/1.<minor>
  // Fields in order. Valid after kDone (and for the fields parsed so far after kError) until
  // the buffer changes.
  const std::vector<HttpHeader>& headers() const { return headers_; }
  // First field with this name (case-insensitive), or nullptr.
  const HttpHeader* Find(std::string_view name) const;

  BodyFraming framing() const { return framing_; }
  uint64_t content_length() const { return content_length_; }
  // Whether the connection may be kept open after this message (Connection, version).
  bool keep_alive() const { return keep_alive_; }
  // Connection: upgrade plus an Upgrade field.
  bool upgrade() const { return upgrade_; }

 protected:
  explicit HeadParserBase(HttpLimits limits) : limits_(limits) {}
  void ResetBase();
  // Runs the line loop; the derived class parses the start line and decides the framing.
  ParseStatus Run(std::string_view buf, bool is_request);
  bool Fail(int status, const char* reason) {
    error_status_ = status;
    error_reason_ = reason;
    return false;
  }
  virtual bool StartLine(const char* p, size_t n) = 0;
  virtual bool Finish() = 0;
  bool HeaderLine(const char* line, size_t n, size_t full_len, bool is_request);
  void Rebase(const char* base);

  HttpLimits limits_;
  const char* base_ = nullptr;
  size_t pos_ = 0;       // next unparsed line
  size_t begin_ = 0;
  size_t head_len_ = 0;
  bool started_ = false;  // start line parsed
  ParseStatus state_ = ParseStatus::kNeedMore;
  int error_status_ = 0;
  const char* error_reason_ = "";
  int minor_ = 1;
  std::vector<HttpHeader> headers_;
  BodyFraming framing_ = BodyFraming::kNone;
  uint64_t content_length_ = 0;
  bool keep_alive_ = true;
  bool upgrade_ = false;
  // Framing-relevant fields seen while parsing.
  int cl_count_ = 0;
  bool cl_mismatch_ = false;
  bool cl_bad_ = false;
  int te_count_ = 0;
  int host_count_ = 0;
  std::string_view cl_value_;
  bool conn_close_ = false, conn_keep_alive_ = false, conn_upgrade_ = false;
  bool has_upgrade_field_ = false;
  // Start-line parts (request: method, target; response: reason) and request-only fields.
  std::string_view part1_, part2_;
  std::string_view host_;
  bool expect_continue_ = false;
  // Checks the Transfer-Encoding fields: sets *chunked_last, *chunked_count, *other_codings.
  bool ScanTransferCodings(bool* chunked_last, int* chunked_count, bool* other_codings) const;
};

// Parses one request head. Usage: call Parse() with everything received so far (starting at the
// first byte of this request) until it returns kDone or kError; the buffer may be moved or grown
// between calls as long as its contents up to the previous size are unchanged. Call Reset()
// before the next request.
class RequestParser : public HeadParserBase {
 public:
  explicit RequestParser(HttpLimits limits = {}) : HeadParserBase(limits) {}
  void Reset();
  void set_limits(HttpLimits limits) { limits_ = limits; }
  // Work is proportional to the new bytes only.
  ParseStatus Parse(std::string_view buf) { return Run(buf, true); }

  std::string_view method() const { return part1_; }
  std::string_view target() const { return part2_; }
  std::string_view host() const { return host_; }  // "" when absent (HTTP/1.0)
  // Expect: 100-continue.
  bool expect_continue() const { return expect_continue_; }
  bool is_head() const { return is_head_; }
  bool is_connect() const { return is_connect_; }

 protected:
  bool StartLine(const char* p, size_t n) override;
  bool Finish() override;

 private:
  bool is_head_ = false, is_connect_ = false;
};

// Parses one response head. `request_was_head` makes the body kNoBody (RFC 9112 §6.3).
// 1xx heads parse as kDone with framing kNoBody; the caller reads the next head after them.
class ResponseParser : public HeadParserBase {
 public:
  explicit ResponseParser(HttpLimits limits = {}) : HeadParserBase(limits) {}
  void Reset(bool request_was_head = false);
  void set_limits(HttpLimits limits) { limits_ = limits; }
  ParseStatus Parse(std::string_view buf) { return Run(buf, false); }

  int status() const { return status_; }
  std::string_view reason() const { return part1_; }

 protected:
  bool StartLine(const char* p, size_t n) override;
  bool Finish() override;

 private:
  bool request_was_head_ = false;
  int status_ = 0;
};

// Walks a chunked body (RFC 9112 §7.1) incrementally: chunk sizes, extensions, data, the last
// chunk, trailer fields and the final CRLF. It never modifies or copies bytes; decoded payload
// spans are reported through a callback. Malformed framing is an error (the stream cannot be
// trusted past it).
class ChunkScanner {
 public:
  struct Limits {
    size_t max_line = 4096;           // chunk-size line, including extensions
    size_t max_trailer_bytes = 64 << 10;
  };
  struct Result {
    size_t consumed = 0;  // bytes of the input that belong to the body (≤ input size)
    bool done = false;    // the body ended at input[consumed - 1]
    bool error = false;   // see ChunkScanner::error()
  };
  using DataFn = void (*)(void* ctx, const char* p, size_t n);

  ChunkScanner() = default;
  explicit ChunkScanner(Limits limits) : limits_(limits) {}
  void Reset();
  void set_limits(Limits limits) { limits_ = limits; }

  // Consumes bytes of the body from `p`. Stops at the end of the body (later bytes belong to the
  // next message) or at the first framing error. `fn(ctx, data, len)` receives payload bytes.
  // After done or error, further calls consume nothing.
  Result Scan(const char* p, size_t n, DataFn fn = nullptr, void* ctx = nullptr);
  template <typename F>
  Result Scan(std::string_view in, F& f) {
    return Scan(in.data(), in.size(), [](void* c, const char* d, size_t len) { (*static_cast<F*>(c))(d, len); }, &f);
  }

  bool done() const { return state_ == kDone; }
  bool failed() const { return state_ == kError; }
  const char* error() const { return error_; }
  uint64_t payload_bytes() const { return payload_; }
  // Total bytes consumed since Reset().
  uint64_t position() const { return pos_; }
  // Absolute position (in the same count as position()) of the first byte that may belong to the
  // last chunk and trailers: bytes before it can be sent on without revealing the end of the
  // body. Equals position() while inside chunk data.
  uint64_t hold_position() const;

 private:
  enum State : uint8_t {
    kSize, kSizeWs, kExt, kSizeLf, kData, kDataCr, kDataLf,
    kTrailerStart, kTrailer, kTrailerLf, kFinalLf, kDone, kError
  };
  bool ScanTrailerByte(unsigned char c);
  bool Fail(const char* reason) {
    state_ = kError;
    error_ = reason;
    return false;
  }

  Limits limits_;
  State state_ = kSize;
  const char* error_ = "";
  uint64_t size_ = 0;        // current chunk size being parsed
  uint64_t remaining_ = 0;   // data bytes left in the current chunk
  int size_digits_ = 0;
  size_t line_len_ = 0;      // bytes of the current size line / trailer line
  size_t trailer_bytes_ = 0;
  bool size_ws_ = false;
  bool trailer_colon_ = false;
  uint64_t payload_ = 0;
  uint64_t pos_ = 0;
  uint64_t line_start_ = 0;  // absolute position of the current size line
  bool last_chunk_ = false;
};

}  // namespace hakone::gateway
