// Fuzzes the event store's block reader (store/event_block.h): header, summary (labels + bloom
// filter), index (columns + postings) and docs sections. The first input byte selects a mode: odd
// values recompute every checksum first so that the fuzzer gets past them into the decoders.
// Arbitrary bytes must give an error, never a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "store/event_block.h"

namespace {
using namespace hakone::store::internal;

void Put32(std::string& s, size_t at, uint32_t v) { std::memcpy(s.data() + at, &v, 4); }

void FixChecksums(std::string& b) {
  if (b.size() < kEvHeaderBytes) return;
  uint32_t sl, ic, dc;
  std::memcpy(&sl, b.data() + 44, 4);
  std::memcpy(&ic, b.data() + 52, 4);
  std::memcpy(&dc, b.data() + 60, 4);
  uint64_t s0 = kEvHeaderBytes, i0 = s0 + sl, d0 = i0 + ic;
  if (i0 <= b.size()) Put32(b, 64, hakone::crc32c::Value(b.data() + s0, sl));
  if (d0 <= b.size()) Put32(b, 68, hakone::crc32c::Value(b.data() + i0, ic));
  if (d0 + dc <= b.size()) Put32(b, 72, hakone::crc32c::Value(b.data() + d0, dc));
  Put32(b, 76, hakone::crc32c::Value(b.data(), 76));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string b(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FixChecksums(b);
  EvHeader h;
  if (!DecodeEvHeader(b, &h).ok()) return 0;
  if (kEvHeaderBytes + uint64_t{h.summary_len} <= b.size()) {
    EvSummary s;
    if (DecodeEvSummary(std::string_view(b).substr(kEvHeaderBytes, h.summary_len), &s).ok()) {
      (void)s.MayHaveToken("error");
      (void)s.MayHaveLabel("level", {"info", "warn"});
    }
  }
  if (h.total_len() != b.size()) return 0;
  EvBlockData d;
  if (!DecodeEvBlock(b, h, &d).ok()) return 0;
  for (size_t i = 0; i < d.seqs.size(); ++i) {
    std::string_view id, src;
    d.Doc(i, &id, &src);
  }
  for (size_t i = 0; i < d.token_offsets.size() && i < 64; ++i) (void)d.PostingsAt(i);
  (void)d.Postings("error");
  return 0;
}
