// Fuzzes the event store's block reader (store/event_block.h): header, summary (labels + bloom
// filter), index (columns + front-coded postings + frame table) and docs frames (format 3; 2 is
// still read). The first input byte selects a mode: odd
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
  // The index alone (what a query reads first), then each frame on its own (as LoadFrame does,
  // so that a frame table pointing anywhere is exercised), then the whole-block path.
  EvBlockData d;
  if (!DecodeEvIndex(std::string_view(b).substr(0, h.index_end()), h, &d).ok()) return 0;
  std::string_view docs = std::string_view(b).substr(h.index_end());
  for (size_t f = 0; f < d.frames.size(); ++f) {
    const EvFrameRef& ref = d.frames[f];
    if (ref.comp_off > docs.size() || ref.comp_len > docs.size() - ref.comp_off) continue;
    EvFrame fr;
    if (!DecodeEvFrame(ref, d.frame_dict, docs.substr(ref.comp_off, ref.comp_len), &fr).ok()) continue;
    for (uint32_t i = 0; i < ref.ndocs; ++i) {
      std::string_view id, src;
      fr.Doc(ref.first_doc + i, &id, &src);
    }
  }
  for (size_t i = 0; i < d.seqs.size(); ++i) (void)d.FrameOf(i);
  EvBlockData whole;
  std::vector<EvFrame> frames;
  (void)DecodeEvBlock(b, h, &whole, &frames);
  for (size_t i = 0; i < d.token_offsets.size() && i < 64; ++i) (void)d.PostingsAt(i);
  (void)d.Postings("error");
  for (size_t i = 0; i < d.token_offsets.size() && i < 64; ++i) (void)d.Token(i);
  return 0;
}
