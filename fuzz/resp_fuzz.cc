// libFuzzer target for hakone sessions' RESP request parser (multibulk and inline).
//
// The whole input is the byte stream a client sends (raw RESP seeds in fuzz/corpus/resp work as
// is). It is parsed request by request twice: from the whole buffer, and incrementally (fed in
// pieces at two split points, like reads from a socket). Both runs must agree, every argument
// must lie inside the buffer, and errors must stop both runs at the same request.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sessions/resp.h"

using hakone::sessions::ParseStatus;
using hakone::sessions::RespRequestParser;
using hakone::sessions::RespServerLimits;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Run {
  std::vector<std::vector<std::string>> requests;
  std::string error;
};

Run ParseAll(std::string_view data, const RespServerLimits& lim, size_t split1, size_t split2) {
  Run r;
  RespRequestParser p;
  std::string buf;
  size_t fed = 0;
  std::vector<size_t> cuts = {split1, split2, data.size()};
  std::vector<std::string_view> args;
  for (size_t cut : cuts) {
    if (cut < fed) continue;
    buf.append(data.substr(fed, cut - fed));
    fed = cut;
    size_t pos = 0;
    for (;;) {
      size_t used = 0;
      ParseStatus st = p.Parse(std::string_view(buf).substr(pos), lim, &args, &used);
      if (st == ParseStatus::kIncomplete) break;
      if (st == ParseStatus::kError) {
        Check(!p.error().empty());
        r.error = p.error();
        return r;
      }
      Check(used > 0 && pos + used <= buf.size());
      if (st == ParseStatus::kOk) {
        Check(!args.empty());
        std::vector<std::string> req;
        for (auto a : args) req.emplace_back(a);
        r.requests.push_back(std::move(req));
      }
      pos += used;
    }
    buf.erase(0, pos);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
  RespServerLimits lim;
  if (h & 1) {
    lim.max_bulk = 64;
    lim.max_multibulk = 8;
    lim.max_inline = 128;
  }
  lim.authenticated = (h & 2) == 0;
  size_t s1 = size ? (h >> 8) % (size + 1) : 0;
  size_t s2 = size ? (h >> 20) % (size + 1) : 0;
  if (s2 < s1) std::swap(s1, s2);
  Run whole = ParseAll(in, lim, size, size);
  Run pieces = ParseAll(in, lim, s1, s2);
  // Requests and errors depend only on the bytes, not on how they were split into reads.
  Check(whole.requests == pieces.requests);
  Check(whole.error == pieces.error);
  std::vector<std::string> split;
  (void)hakone::sessions::SplitInlineArgs(in.substr(0, 4096), &split);
  return 0;
}
