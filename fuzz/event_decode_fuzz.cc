// Fuzzes the audit event decoders: sealed-line parsing and hashing, block headers and block
// payloads (zstd), and splitting payloads into lines. Arbitrary bytes must give an error, never
// a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "gateway/audit_chain.h"
#include "store/block.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  hakone::gateway::SealedLine sl;
  std::string why;
  if (hakone::gateway::ParseSealedLine(in, &sl, &why)) {
    (void)hakone::gateway::ComputeLineHash(in);
  }

  hakone::store::BlockHeader h;
  if (hakone::store::DecodeBlockHeader(in, &h).ok() && in.size() >= hakone::store::kBlockHeaderBytes) {
    std::string raw;
    if (hakone::store::DecodeBlockPayload(h, in.substr(hakone::store::kBlockHeaderBytes), &raw).ok()) {
      hakone::store::ForEachLine(raw, [](std::string_view line) {
        hakone::gateway::SealedLine s;
        std::string w;
        (void)hakone::gateway::ParseSealedLine(line, &s, &w);
        return true;
      });
    }
  }
  // Past the checksums: a header made valid for the fuzzed payload, so the zstd decoder and the
  // bounds on raw_len/count are exercised too.
  if (size >= 4) {
    hakone::store::BlockHeader vh;
    vh.first_seq = 1;
    vh.last_seq = 1 + data[0];
    vh.count = data[1] + 1u;
    vh.raw_len = (static_cast<uint32_t>(data[2]) << 8 | data[3]) * 16u;
    std::string_view comp = in.substr(4);
    vh.comp_len = static_cast<uint32_t>(comp.size());
    vh.data_crc = hakone::crc32c::Value(comp);
    std::string hdr;
    hakone::store::EncodeBlockHeader(vh, &hdr);
    hakone::store::BlockHeader back;
    if (hakone::store::DecodeBlockHeader(hdr, &back).ok()) {
      std::string raw;
      (void)hakone::store::DecodeBlockPayload(back, comp, &raw);
    }
  }
  hakone::store::ForEachLine(in, [](std::string_view) { return true; });
  return 0;
}
