// libFuzzer target for the gateway's HTTP/1.1 head parsers and chunked-body scanner.
//
// The whole input is the message (so raw HTTP seeds in fuzz/corpus/http_parser work as is); a
// hash of it picks small limits or the defaults and two split points. Every parser is run on the
// whole input and again incrementally (fed in pieces, with the buffer reallocated between calls);
// both runs must agree, and every view must lie inside the buffer.
//
//   clang++-14 -std=c++20 -fsanitize=fuzzer,address -Isrc fuzz/http_parser_fuzz.cc \
//     src/gateway/http_parser.cc src/core/status.cc -o /tmp/hpf && /tmp/hpf -max_total_time=30
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http_parser.h"

using hakone::gateway::BodyFraming;
using hakone::gateway::ChunkScanner;
using hakone::gateway::HeadParserBase;
using hakone::gateway::HttpLimits;
using hakone::gateway::ParseStatus;
using hakone::gateway::RequestParser;
using hakone::gateway::ResponseParser;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(std::string_view v, std::string_view buf) {
  if (v.empty()) return true;
  return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size();
}

void CheckHead(const HeadParserBase& p, ParseStatus st, std::string_view buf) {
  if (st == ParseStatus::kDone) {
    Check(p.head_length() <= buf.size());
    Check(p.head_begin() < p.head_length());
    Check(p.head_length() >= 4 && buf.substr(p.head_length() - 4, 4) == "\r\n\r\n");
    for (auto& h : p.headers()) {
      Check(Inside(h.name, buf) && Inside(h.value, buf) && Inside(h.line, buf));
      Check(!h.name.empty());
      Check(h.line.size() >= 2 && h.line.substr(h.line.size() - 2) == "\r\n");
      for (char c : h.value) Check(c != '\r' && c != '\n' && c != '\0');
    }
    if (p.framing() == BodyFraming::kContentLength) Check(p.content_length() < 1000000000000000000ull);
  } else if (st == ParseStatus::kError) {
    int s = p.error_status();
    Check(s == 400 || s == 414 || s == 431 || s == 501 || s == 505 || s == 502);
    Check(p.error_reason() != nullptr && p.error_reason()[0] != '\0');
  }
}

// Feeds `data` to a fresh parser in pieces ending at `cuts`, copying into a new buffer each time.
template <typename P, typename Reset>
ParseStatus Incremental(P& p, Reset reset, std::string_view data, const std::vector<size_t>& cuts, std::string* storage) {
  reset(p);
  ParseStatus st = ParseStatus::kNeedMore;
  for (size_t cut : cuts) {
    std::string next(data.substr(0, cut));  // moved storage every call
    storage->swap(next);
    st = p.Parse(*storage);
    if (st != ParseStatus::kNeedMore) return st;
  }
  return st;
}

void FuzzRequest(std::string_view data, HttpLimits lim, const std::vector<size_t>& cuts) {
  RequestParser whole(lim);
  ParseStatus a = whole.Parse(data);
  CheckHead(whole, a, data);
  if (a == ParseStatus::kDone) {
    Check(!whole.method().empty() && !whole.target().empty());
    Check(Inside(whole.method(), data) && Inside(whole.target(), data) && Inside(whole.host(), data));
    Check(whole.version_minor() == 0 || whole.version_minor() == 1);
    Check(whole.framing() != BodyFraming::kUntilClose && whole.framing() != BodyFraming::kNoBody);
  }
  RequestParser inc(lim);
  std::string storage;
  ParseStatus b = Incremental(inc, [](RequestParser& p) { p.Reset(); }, data, cuts, &storage);
  Check(a == b);
  if (a == ParseStatus::kDone) {
    Check(whole.head_length() == inc.head_length());
    Check(whole.framing() == inc.framing());
    Check(whole.content_length() == inc.content_length());
    Check(whole.headers().size() == inc.headers().size());
    Check(whole.keep_alive() == inc.keep_alive());
    Check(inc.method() == whole.method() && inc.target() == whole.target());
    CheckHead(inc, b, storage);
  } else if (a == ParseStatus::kError) {
    Check(whole.error_status() == inc.error_status());
  }
}

void FuzzResponse(std::string_view data, HttpLimits lim, bool head, const std::vector<size_t>& cuts) {
  ResponseParser whole(lim);
  whole.Reset(head);
  ParseStatus a = whole.Parse(data);
  CheckHead(whole, a, data);
  if (a == ParseStatus::kDone) Check(whole.status() >= 100 && whole.status() <= 999);
  ResponseParser inc(lim);
  std::string storage;
  ParseStatus b = Incremental(inc, [head](ResponseParser& p) { p.Reset(head); }, data, cuts, &storage);
  Check(a == b);
  if (a == ParseStatus::kDone) {
    Check(whole.head_length() == inc.head_length());
    Check(whole.framing() == inc.framing());
    Check(whole.status() == inc.status());
  }
}

void FuzzChunks(std::string_view data, const std::vector<size_t>& cuts, ChunkScanner::Limits lim) {
  std::string p1, p2;
  auto sink1 = [&](const char* p, size_t n) {
    Check(p >= data.data() && p + n <= data.data() + data.size());
    p1.append(p, n);
  };
  ChunkScanner whole(lim);
  auto r = whole.Scan(data, sink1);
  Check(r.consumed <= data.size());
  Check(!(r.done && r.error));
  if (!r.done && !r.error) Check(r.consumed == data.size());
  Check(whole.payload_bytes() == p1.size());
  Check(whole.hold_position() <= whole.position());

  ChunkScanner inc(lim);
  auto sink2 = [&](const char* p, size_t n) { p2.append(p, n); };
  size_t prev = 0, consumed = 0;
  ChunkScanner::Result last;
  for (size_t cut : cuts) {
    std::string piece(data.substr(prev, cut - prev));
    last = inc.Scan(piece, sink2);
    consumed += last.consumed;
    prev = cut;
    if (last.done || last.error) break;
    Check(last.consumed == piece.size());
  }
  Check(last.done == r.done && last.error == r.error);
  Check(consumed == r.consumed);
  Check(p1 == p2);
  Check(inc.position() == whole.position());
  if (r.done) Check(whole.hold_position() < whole.position());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  uint32_t h = 2166136261u;  // FNV-1a
  for (size_t i = 0; i < size; ++i) h = (h ^ bytes[i]) * 16777619u;
  const uint8_t mode = static_cast<uint8_t>(h);
  const uint8_t s1 = static_cast<uint8_t>(h >> 8), s2 = static_cast<uint8_t>(h >> 16);

  // Split points: two cuts derived from the header bytes, then the end; plus byte-by-byte for
  // short inputs.
  std::vector<size_t> cuts;
  if (!data.empty()) {
    size_t c1 = s1 % (data.size() + 1), c2 = (s1 + s2 * 7u) % (data.size() + 1);
    if (c1 > c2) std::swap(c1, c2);
    cuts = {c1, c2, data.size()};
  } else {
    cuts = {0};
  }
  std::vector<size_t> bytewise;
  if (data.size() <= 512) {
    for (size_t i = 1; i <= data.size(); ++i) bytewise.push_back(i);
    if (bytewise.empty()) bytewise.push_back(0);
  }

  HttpLimits lim;
  ChunkScanner::Limits clim;
  if (mode & 1) {
    lim.max_head_bytes = 64 + (mode >> 2);
    lim.max_headers = 1 + ((mode >> 4) & 7);
    clim.max_line = 8 + (mode >> 3);
    clim.max_trailer_bytes = 16 + (mode >> 2);
  }
  FuzzRequest(data, lim, cuts);
  FuzzResponse(data, lim, (mode & 2) != 0, cuts);
  FuzzChunks(data, cuts, clim);
  if (!bytewise.empty()) {
    FuzzRequest(data, lim, bytewise);
    FuzzChunks(data, bytewise, clim);
  }
  return 0;
}
