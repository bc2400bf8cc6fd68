// libFuzzer target for the spool's segment decoder (the code that replays whatever is on disk).
// Build with clang -fsanitize=fuzzer,address,undefined (HAKONE_FUZZ=ON).
//
// Half the inputs get a valid segment header in front, so that the fuzzer spends its time in
// record framing rather than rediscovering the magic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/spool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string img;
  uint64_t expected_first = 0;
  if (!in.empty() && (static_cast<unsigned char>(in[0]) & 1) != 0) {
    expected_first = 1 + static_cast<unsigned char>(in[0] >> 1);
    hakone::EncodeSegmentHeader(expected_first, &img);
    in.remove_prefix(1);
  }
  img.append(in);

  hakone::SegmentDecodeResult res;
  uint64_t records = 0, prev = 0;
  size_t payload_bytes = 0;
  hakone::Status st = hakone::DecodeSegment(
      img, expected_first,
      [&](const hakone::SpoolRecordView& r) {
        if (records > 0 && r.seq != prev + 1) __builtin_trap();  // seqs are dense
        if (r.payload.data() < img.data() || r.payload.data() + r.payload.size() > img.data() + img.size()) {
          __builtin_trap();  // views stay inside the input
        }
        prev = r.seq;
        records++;
        payload_bytes += r.payload.size();
        return true;
      },
      &res);
  if (res.records != records) __builtin_trap();
  if (res.valid_bytes > img.size() || res.bad_offset > img.size()) __builtin_trap();
  if (st.ok() == (res.end == hakone::SegmentDecodeResult::End::kCorrupt)) __builtin_trap();
  if (res.end == hakone::SegmentDecodeResult::End::kClean && res.valid_bytes != img.size()) __builtin_trap();
  (void)payload_bytes;
  return 0;
}
