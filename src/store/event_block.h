// Event blocks: the on-disk unit of the event store's streams (see docs/store.md).
//
// A segment file (seg-<YYYYMMDD>-<n>.hkv) is a concatenation of event blocks, append-only.
// Block layout (integers little-endian):
//
//   0  4  magic "HKEV"          40 4 count
//   4  1  version (2)           44 4 summary_len   (uncompressed: label values + token bloom filter)
//   5  3  reserved              48 4 index_raw     52 4 index_comp  (zstd: columns + token postings)
//   8  8  first_seq             56 4 docs_raw      60 4 docs_comp   (zstd: ids and sources)
//  16  8  last_seq              64 4 summary_crc   68 4 index_crc   72 4 docs_crc  (CRC-32C)
//  24  8  min_time_us           76 4 header_crc (CRC-32C of bytes [0, 76))
//  32  8  max_time_us
//  80 ... summary, index (compressed), docs (compressed)
//
// summary: varint nlabels, per label: name, varint nvalues (0xFFFFFFFF = too many to list),
//          values; then u32 bloom_bits, u8 k, bloom bytes.
// index:   per doc varint seq delta from first_seq, zigzag varint time delta from the previous
//          doc; then varint ntokens and per token (sorted):
//          varint len, bytes, varint ndocs, varint doc-ordinal deltas; then varint ncolumns
//          and per label column: name, per doc varint code (0 = absent, i + 1 = the i-th value
//          of that label in the summary): lets time/label-only queries skip parsing sources.
// docs:    per doc varint id_len, id, varint source_len, source. An empty id is an auto id: the
//          store derives it from the seq and the stream's salt (not stored).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace hakone::store::internal {

inline constexpr size_t kEvHeaderBytes = 80;
// Bound on any section so that a damaged header can never make a reader allocate more.
inline constexpr uint32_t kEvMaxSection = 64u << 20;

struct EvHeader {
  uint64_t first_seq = 0, last_seq = 0;
  int64_t min_time_us = 0, max_time_us = 0;
  uint32_t count = 0;
  uint32_t summary_len = 0, index_raw = 0, index_comp = 0, docs_raw = 0, docs_comp = 0;
  uint32_t summary_crc = 0, index_crc = 0, docs_crc = 0;
  uint64_t total_len() const { return kEvHeaderBytes + summary_len + index_comp + docs_comp; }
};

struct EvDocIn {
  uint64_t seq = 0;
  int64_t time_us = 0;
  std::string_view id;
  std::string_view source;
  std::vector<std::pair<std::string, std::string>> labels;  // (label field, value)
};

// Token → doc ordinals (ascending, no duplicates) of one block; heterogeneous lookup so that
// adding a token seen before allocates nothing.
struct TokenHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
struct TokenEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
class TokenPostings {
 public:
  void Add(std::string_view tok, uint32_t doc) {
    auto it = map_.find(tok);
    if (it == map_.end()) it = map_.emplace(std::string(tok), std::vector<uint32_t>()).first;
    if (it->second.empty() || it->second.back() != doc) it->second.push_back(doc);
  }
  const std::unordered_map<std::string, std::vector<uint32_t>, TokenHash, TokenEq>& map() const { return map_; }
  void clear() { map_.clear(); }

 private:
  std::unordered_map<std::string, std::vector<uint32_t>, TokenHash, TokenEq> map_;
};

// Encodes a block (docs non-empty, in seq order); postings refer to positions in docs.
Status EncodeEvBlock(const std::vector<EvDocIn>& docs, const TokenPostings& postings, int level, std::string* out, EvHeader* header);
Status DecodeEvHeader(std::string_view bytes, EvHeader* h);

// Skip data held in memory for every block.
struct EvSummary {
  std::vector<std::pair<std::string, std::vector<std::string>>> labels;  // values sorted; empty+any
  std::vector<std::string> any_labels;  // label fields with too many values to list
  std::vector<uint8_t> bloom;
  uint8_t k = 0;
  bool MayHaveToken(std::string_view t) const;
  // false when the block certainly has no doc whose `field` is one of `values`.
  bool MayHaveLabel(const std::string& field, const std::vector<std::string>& values) const;
};
Status DecodeEvSummary(std::string_view bytes, EvSummary* s);

// A decoded block (shared by the block cache).
struct EvBlockData {
  std::vector<uint64_t> seqs;
  std::vector<int64_t> times;
  std::vector<uint32_t> doc_offsets;
  std::string docs;
  std::string index;                  // decompressed index section
  std::vector<uint32_t> token_offsets;  // into index, sorted tokens
  // Doc ordinals whose tokens include t (sorted); empty if none.
  std::vector<uint32_t> Postings(std::string_view t) const;
  void Doc(size_t i, std::string_view* id, std::string_view* source) const;
  std::string_view Token(size_t i) const;  // i < token_offsets.size()
  std::vector<uint32_t> PostingsAt(size_t i) const;
  // The token dictionary as newline-terminated lines, and the end offset of each token in it
  // (built at decode: pattern queries scan it once per block).
  std::string dict;
  std::vector<uint64_t> dict_ends;
  // Label columns: the value of a label field per doc without parsing the source.
  struct LabelColumn {
    std::string field;
    std::vector<std::string> values;
    std::vector<uint16_t> codes;  // 0 = absent, else values[code - 1]
  };
  std::vector<LabelColumn> label_cols;
  size_t size_bytes() const { return docs.size() + index.size() + dict.size() + seqs.size() * 20 + dict_ends.size() * 8; }
};
// `bytes` is the whole block (header included). Corruption on any checksum/format problem.
Status DecodeEvBlock(std::string_view bytes, const EvHeader& h, EvBlockData* out);

// 64-bit hash used by the bloom filter.
uint64_t HashToken(std::string_view t);

}  // namespace hakone::store::internal
