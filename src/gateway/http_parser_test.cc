#include "gateway/http_parser.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>

namespace hakone::gateway {
namespace {

// Inputs stay alive for the whole test binary: parsers return views into them.
const std::string& Keep(const std::string& s) {
  static std::deque<std::string> kept;
  kept.push_back(s);
  return kept.back();
}

// Parses a whole request head; also checks that byte-by-byte feeding gives the same answer.
ParseStatus ParseReq(RequestParser& p, const std::string& input, HttpLimits lim = {}) {
  const std::string& s = Keep(input);
  RequestParser inc(lim);
  ParseStatus last = ParseStatus::kNeedMore;
  std::string grow;
  for (char c : s) {
    grow.push_back(c);
    last = inc.Parse(grow);  // note: the buffer moves as it grows
    if (last != ParseStatus::kNeedMore) break;
  }
  p.set_limits(lim);
  p.Reset();
  ParseStatus whole = p.Parse(s);
  EXPECT_EQ(whole, last) << s;
  if (whole == ParseStatus::kDone) {
    EXPECT_EQ(p.head_length(), inc.head_length());
  } else if (whole == ParseStatus::kError) {
    EXPECT_EQ(p.error_status(), inc.error_status());
  }
  return whole;
}

int ErrorOf(const std::string& s, HttpLimits lim = {}) {
  RequestParser p;
  ParseStatus st = ParseReq(p, s, lim);
  if (st != ParseStatus::kError) return st == ParseStatus::kDone ? 0 : -1;
  return p.error_status();
}

TEST(RequestParser, SimpleGet) {
  RequestParser p;
  std::string s = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\nNEXT";
  ASSERT_EQ(ParseReq(p, s), ParseStatus::kDone);
  EXPECT_EQ(p.head_length(), s.size() - 4);
  EXPECT_EQ(p.method(), "GET");
  EXPECT_EQ(p.target(), "/a/b?c=d");
  EXPECT_EQ(p.version_minor(), 1);
  EXPECT_EQ(p.host(), "example.com");
  ASSERT_EQ(p.headers().size(), 2u);
  EXPECT_EQ(p.headers()[1].name, "User-Agent");
  EXPECT_EQ(p.headers()[1].value, "t");
  EXPECT_EQ(p.headers()[1].line, "User-Agent: t\r\n");
  EXPECT_EQ(p.framing(), BodyFraming::kNone);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.upgrade());
  // Views point into the caller's buffer (zero copy).
  RequestParser q;
  ASSERT_EQ(q.Parse(s), ParseStatus::kDone);
  EXPECT_EQ(q.method().data(), s.data());
  EXPECT_EQ(q.headers()[0].line.data(), s.data() + 23);
}

TEST(RequestParser, NeedMoreThenDone) {
  RequestParser p;
  std::string s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n";
  EXPECT_EQ(p.Parse(s), ParseStatus::kNeedMore);
  s += "\r";
  EXPECT_EQ(p.Parse(s), ParseStatus::kNeedMore);
  s += "\nhello";
  ASSERT_EQ(p.Parse(s), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kContentLength);
  EXPECT_EQ(p.content_length(), 5u);
  EXPECT_EQ(s.substr(p.head_length()), "hello");
}

TEST(RequestParser, ValueWhitespaceTrimmedAndCaseInsensitiveNames) {
  RequestParser p;
  ASSERT_EQ(ParseReq(p, "GET / HTTP/1.1\r\nhOsT:   h:80  \r\nX-E:\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.host(), "h:80");
  ASSERT_NE(p.Find("x-e"), nullptr);
  EXPECT_EQ(p.Find("x-e")->value, "");
}

TEST(RequestParser, LeadingEmptyLinesSkipped) {
  RequestParser p;
  std::string s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(ParseReq(p, s), ParseStatus::kDone);
  EXPECT_EQ(p.head_begin(), 4u);
  EXPECT_EQ(p.head_length(), s.size());
}

TEST(RequestParser, Http10) {
  RequestParser p;
  ASSERT_EQ(ParseReq(p, "GET / HTTP/1.0\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.version_minor(), 0);
  EXPECT_FALSE(p.keep_alive());
  ASSERT_EQ(ParseReq(p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), ParseStatus::kDone);
  EXPECT_TRUE(p.keep_alive());
}

TEST(RequestParser, ConnectionCloseUpgradeExpect) {
  RequestParser p;
  ASSERT_EQ(ParseReq(p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n"), ParseStatus::kDone);
  EXPECT_FALSE(p.keep_alive());
  ASSERT_EQ(ParseReq(p, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), ParseStatus::kDone);
  EXPECT_TRUE(p.upgrade());
  ASSERT_EQ(ParseReq(p, "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"), ParseStatus::kDone);
  EXPECT_TRUE(p.expect_continue());
}

TEST(RequestParser, Chunked) {
  RequestParser p;
  ASSERT_EQ(ParseReq(p, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kChunked);
}

TEST(RequestParser, TargetForms) {
  EXPECT_EQ(ErrorOf("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
  EXPECT_EQ(ErrorOf("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
  EXPECT_EQ(ErrorOf("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), 0);
  EXPECT_EQ(ErrorOf("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);  // obs-text tolerated
}

TEST(RequestParser, MalformedRequestLine) {
  EXPECT_EQ(ErrorOf("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(ErrorOf("GET / HTTP/0.9\r\n\r\n"), 505);
}

TEST(RequestParser, LineEndings) {
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);          // bare LF
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);   // bare CR
  EXPECT_EQ(ErrorOf("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf(std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 36)), 400);  // NUL
}

TEST(RequestParser, MalformedHeaders) {
  RequestParser p;
  EXPECT_EQ(ParseReq(p, "GET / HTTP/1.1\r\nHost : h\r\n\r\n"), ParseStatus::kError);
  EXPECT_STREQ(p.error_reason(), "whitespace before colon");
  EXPECT_EQ(ParseReq(p, "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n"), ParseStatus::kError);
  EXPECT_STREQ(p.error_reason(), "obsolete line folding");
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nBad(Name): v\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n"), 0);  // obs-text ok in values
}

TEST(RequestParser, Host) {
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.0\r\n\r\n"), 0);
}

TEST(RequestParser, ContentLengthRules) {
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  RequestParser p;
  ASSERT_EQ(ParseReq(p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 000123456789012\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.content_length(), 123456789012u);
}

TEST(RequestParser, TransferEncodingRules) {
  // Smuggling: both framings.
  RequestParser p;
  EXPECT_EQ(ParseReq(p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), ParseStatus::kError);
  EXPECT_EQ(p.error_status(), 400);
  EXPECT_STREQ(p.error_reason(), "both Content-Length and Transfer-Encoding");
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400);
  EXPECT_EQ(ErrorOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(RequestParser, Limits) {
  HttpLimits lim;
  lim.max_head_bytes = 100;
  lim.max_headers = 3;
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(ErrorOf(big, lim), 431);
  EXPECT_EQ(ErrorOf("GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", lim), 414);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim), 431);
  EXPECT_EQ(ErrorOf("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", lim), 0);
  // Exactly at the limit is fine; one byte more is not.
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  std::string exact = head + std::string(100 - head.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 100u);
  EXPECT_EQ(ErrorOf(exact, lim), 0);
  std::string over = head + std::string(100 - head.size() - 3, 'b') + "\r\n\r\n";
  EXPECT_EQ(ErrorOf(over, lim), 431);
  // Incomplete but under the limit: need more.
  RequestParser p(lim);
  EXPECT_EQ(p.Parse("GET / HTTP/1.1\r\nHost: h\r\n"), ParseStatus::kNeedMore);
}

TEST(RequestParser, ResetAndRebase) {
  RequestParser p;
  std::string a = "GET /one HTTP/1.1\r\nHo";
  EXPECT_EQ(p.Parse(a), ParseStatus::kNeedMore);
  std::string b = a + "st: h\r\nX-Y: z\r\n\r\n";  // different storage, same prefix
  a.clear();
  a.shrink_to_fit();
  ASSERT_EQ(p.Parse(b), ParseStatus::kDone);
  EXPECT_EQ(p.target(), "/one");
  EXPECT_EQ(p.Find("x-y")->value, "z");
  p.Reset();
  ASSERT_EQ(p.Parse("DELETE /two HTTP/1.1\r\nHost: h\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.method(), "DELETE");
  EXPECT_EQ(p.headers().size(), 1u);
}

// ------------------------------------------------------------------------------------------

TEST(ResponseParser, Framing) {
  ResponseParser p;
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), ParseStatus::kDone);
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.reason(), "OK");
  EXPECT_EQ(p.framing(), BodyFraming::kContentLength);
  EXPECT_TRUE(p.keep_alive());

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kChunked);

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kUntilClose);
  EXPECT_FALSE(p.keep_alive());

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.0 200 OK\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kUntilClose);
  EXPECT_FALSE(p.keep_alive());

  p.Reset(true);  // HEAD
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.framing(), BodyFraming::kNoBody);

  for (int code : {204, 304}) {
    p.Reset();
    std::string s = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 7\r\n\r\n";
    ASSERT_EQ(p.Parse(s), ParseStatus::kDone);
    EXPECT_EQ(p.framing(), BodyFraming::kNoBody);
  }
  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 100 Continue\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.status(), 100);
  EXPECT_EQ(p.framing(), BodyFraming::kNoBody);

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), ParseStatus::kDone);
  EXPECT_TRUE(p.upgrade());

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), ParseStatus::kDone);  // no reason phrase
  EXPECT_EQ(p.reason(), "");

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"), ParseStatus::kDone);
  EXPECT_EQ(p.content_length(), 4u);

  p.Reset();
  ASSERT_EQ(p.Parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\n"), ParseStatus::kDone);
  EXPECT_FALSE(p.keep_alive());
}

TEST(ResponseParser, Malformed) {
  auto err = [](const std::string& s) {
    ResponseParser p;
    ParseStatus st = p.Parse(s);
    return st == ParseStatus::kError ? p.error_status() : 0;
  };
  EXPECT_EQ(err("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 20 OK\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 099 OK\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/2 200 OK\r\n\r\n"), 502);
  EXPECT_EQ(err("ICY 200 OK\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 200 OK\nX: y\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), 502);
  EXPECT_EQ(err("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"), 502);
}

// ------------------------------------------------------------------------------------------

// Scans `s` in pieces of `step` bytes (0: all at once); returns total consumed and payload.
std::string ScanAll(const std::string& s, size_t step, size_t* consumed, bool* done, bool* error,
                    ChunkScanner::Limits lim = {}) {
  ChunkScanner sc(lim);
  std::string payload;
  auto sink = [&](const char* p, size_t n) { payload.append(p, n); };
  size_t off = 0;
  *consumed = 0;
  *done = *error = false;
  while (off < s.size()) {
    size_t n = step == 0 ? s.size() - off : std::min(step, s.size() - off);
    auto r = sc.Scan(std::string_view(s.data() + off, n), sink);
    *consumed += r.consumed;
    off += n;
    if (r.done || r.error) {
      *done = r.done;
      *error = r.error;
      break;
    }
    EXPECT_EQ(r.consumed, n);
  }
  EXPECT_EQ(sc.payload_bytes(), payload.size());
  return payload;
}

TEST(ChunkScanner, Basic) {
  std::string body = "5\r\nhello\r\n6;ext=1;q=\"a b\"\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step : {0, 1, 2, 3, 7}) {
    size_t consumed;
    bool done, error;
    std::string payload = ScanAll(body + "NEXT", step, &consumed, &done, &error);
    EXPECT_TRUE(done) << step;
    EXPECT_FALSE(error);
    EXPECT_EQ(consumed, body.size());
    EXPECT_EQ(payload, "hello world");
  }
}

TEST(ChunkScanner, HexSizesAndLastChunk) {
  std::string data(0x1a, 'z');
  std::string body = "1A\r\n" + data + "\r\n000\r\n\r\n";
  size_t consumed;
  bool done, error;
  EXPECT_EQ(ScanAll(body, 0, &consumed, &done, &error), data);
  EXPECT_TRUE(done);
  EXPECT_EQ(consumed, body.size());
}

TEST(ChunkScanner, Malformed) {
  const char* bad[] = {
      "x\r\n",                      // not hex
      "\r\n",                       // empty size
      "5\nhello\r\n0\r\n\r\n",      // bare LF after size
      "5\r\nhelloX\r\n",            // data longer than size
      "5\r\nhello\n0\r\n\r\n",      // missing CR after data
      "5 \r\nhello\r\n0\r\n\r\n",   // trailing whitespace without extension
      "5;a\x01\r\nhello\r\n",       // control char in extension
      "11111111111111111\r\n",      // 17 hex digits
      "0\r\nBad Trailer: x\r\n\r\n",
      "0\r\n folded\r\n\r\n",
      "0\r\nNoColon\r\n\r\n",
      "0\r\n\rX",
      "-1\r\n",
  };
  for (const char* b : bad) {
    for (size_t step : {0, 1}) {
      size_t consumed;
      bool done, error;
      ScanAll(b, step, &consumed, &done, &error);
      EXPECT_TRUE(error) << b << " step " << step;
      EXPECT_FALSE(done);
    }
  }
  ChunkScanner sc;
  auto r = sc.Scan("zz", 2);
  EXPECT_TRUE(r.error);
  EXPECT_STREQ(sc.error(), "invalid chunk size");
}

TEST(ChunkScanner, Limits) {
  ChunkScanner::Limits lim;
  lim.max_line = 10;
  lim.max_trailer_bytes = 8;
  size_t consumed;
  bool done, error;
  ScanAll("5;aaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", 0, &consumed, &done, &error, lim);
  EXPECT_TRUE(error);
  ScanAll("0\r\nX: 1234567890\r\n\r\n", 0, &consumed, &done, &error, lim);
  EXPECT_TRUE(error);
  ScanAll("0\r\nX: 12\r\n\r\n", 0, &consumed, &done, &error, lim);
  EXPECT_TRUE(done);
}

TEST(ChunkScanner, HoldPosition) {
  ChunkScanner sc;
  std::string a = "5\r\nhel";
  sc.Scan(a.data(), a.size());
  EXPECT_EQ(sc.hold_position(), a.size());  // inside data: everything may go
  std::string b = "lo\r\n0";
  sc.Scan(b.data(), b.size());
  // "0" might start the last chunk: hold from its first byte.
  EXPECT_EQ(sc.hold_position(), a.size() + 4);
  std::string c = "\r\n\r\n";
  auto r = sc.Scan(c.data(), c.size());
  EXPECT_TRUE(r.done);
  EXPECT_EQ(sc.hold_position(), a.size() + 4);
  EXPECT_EQ(sc.position(), a.size() + b.size() + c.size());
  // After done nothing more is consumed.
  r = sc.Scan("5\r\n", 3);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_TRUE(r.done);
}

TEST(Helpers, Tokens) {
  EXPECT_TRUE(HasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(HasToken(" close ", "close"));
  EXPECT_FALSE(HasToken("closed", "close"));
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-length"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Lengt", "content-length"));
}

}  // namespace
}  // namespace hakone::gateway
