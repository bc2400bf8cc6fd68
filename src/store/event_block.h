// Event blocks: the on-disk unit of the event store's streams (see docs/store.md).
//
// A segment file (seg-<YYYYMMDD>-<n>.hkv) is a concatenation of event blocks, append-only.
// Block layout (integers little-endian):
//
//   0  4  magic "HKEV"          40 4 count
//   4  1  version (3; 2 read)   44 4 summary_len   (uncompressed: label values + token bloom filter)
//   5  3  reserved              48 4 index_raw     52 4 index_comp  (zstd: columns + token postings)
//   8  8  first_seq             56 4 docs_raw      60 4 docs_comp   (docs: ids and sources)
//  16  8  last_seq              64 4 summary_crc   68 4 index_crc   72 4 docs_crc  (CRC-32C)
//  24  8  min_time_us           76 4 header_crc (CRC-32C of bytes [0, 76))
//  32  8  max_time_us
//  80 ... summary, index (compressed), docs
//
// summary: varint nlabels, per label: name, varint nvalues (0xFFFFFFFF = too many to list),
//          values; then u32 bloom_bits, u8 k, bloom bytes.
// index:   per doc varint seq delta from first_seq (v3: from the previous doc's seq), zigzag varint time delta from the previous
//          doc; then varint ntokens and per token (sorted, front-coded in version 3):
//          [v3: varint length of the prefix shared with the previous token] varint len, bytes
//          (v3: the suffix only), varint ndocs, varint doc-ordinal deltas; then varint ncolumns
//          and per label column: name, per doc varint code (0 = absent, i + 1 = the i-th value
//          of that label in the summary): lets time/label-only queries skip parsing sources.
//          Version 3 ends with the frame table: varint nframes, per frame varint ndocs,
//          varint raw_len, varint comp_len, u32 CRC-32C of the compressed frame; then varint
//          dict_len and the frames' zstd raw-content dictionary (whole docs sampled evenly from
//          the block, at most kEvDictBytes, led by a '\n'; empty when the block has one frame).
// docs:    version 3: `nframes` independent zstd frames one after the other, each holding
//          the docs of consecutive ordinals (up to kEvFrameMaxDocs docs / kEvFrameMaxBytes raw
//          bytes), so that fetching a few docs decompresses only their frames; docs_raw and
//          docs_comp are the sums, docs_crc the CRC-32C of the whole section. Version 2: one
//          zstd frame for all docs. Content per doc: varint id_len, id, varint source_len,
//          source. An empty id is an auto id: the store derives it from the seq and the
//          stream's salt (not stored).
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

inline constexpr uint8_t kEvVersion = 3;          // written
inline constexpr uint8_t kEvOldestVersion = 2;    // oldest still read
// A docs frame closes at whichever limit it reaches first.
inline constexpr uint32_t kEvFrameMaxDocs = 128;
inline constexpr uint32_t kEvFrameMaxBytes = 32u << 10;
// Size of the per-block sample of docs the frames are compressed against.
inline constexpr uint32_t kEvDictBytes = 16u << 10;

struct EvHeader {
  uint8_t version = kEvVersion;
  uint64_t first_seq = 0, last_seq = 0;
  int64_t min_time_us = 0, max_time_us = 0;
  uint32_t count = 0;
  uint32_t summary_len = 0, index_raw = 0, index_comp = 0, docs_raw = 0, docs_comp = 0;
  uint32_t summary_crc = 0, index_crc = 0, docs_crc = 0;
  uint64_t total_len() const { return kEvHeaderBytes + summary_len + index_comp + docs_comp; }
  // Bytes from the block start to the end of the index section (what DecodeEvIndex needs).
  uint64_t index_end() const { return kEvHeaderBytes + uint64_t{summary_len} + index_comp; }
};

struct EvDocIn {
  uint64_t seq = 0;
  int64_t time_us = 0;
  std::string_view id;
  std::string_view source;
  std::vector<std::pair<std::string, std::string>> labels;  // (label field, value)
};

// Heterogeneous hashing for string-keyed maps looked up by string_view (no allocation).
struct TokenHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
struct TokenEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// Token → doc ordinals (ascending, no duplicates) of one block being built. Allocation-free per
// token in the steady state: token bytes in one arena, an open-addressing table of token
// indices, and every token's doc list as a chain through one shared vector.
class TokenPostings {
 public:
  // REQUIRES: doc >= every doc added before (docs are added in ordinal order).
  void Add(std::string_view tok, uint32_t doc);
  size_t size() const { return toks_.size(); }
  std::string_view token(size_t i) const { return std::string_view(arena_).substr(toks_[i].off, toks_[i].len); }
  uint32_t ndocs(size_t i) const { return toks_[i].n; }
  // Calls fn(doc) for each doc of token i, ascending.
  template <typename Fn>
  void ForEachDoc(size_t i, Fn&& fn) const {
    for (uint32_t l = toks_[i].head; l != 0; l = links_[l - 1].next) fn(links_[l - 1].doc);
  }
  void clear();

 private:
  struct Tok {
    uint64_t hash;
    uint32_t off, len;
    uint32_t head, tail, n;  // links_ index + 1
  };
  struct Link {
    uint32_t doc, next;  // next: links_ index + 1, 0 = end
  };
  void Grow();
  std::string arena_;
  std::vector<Tok> toks_;
  std::vector<uint32_t> slots_;  // token index + 1, 0 = empty; size a power of two
  std::vector<Link> links_;
};

// Encodes a block (docs non-empty, in seq order) in the current version; postings refer to
// positions in docs.
Status EncodeEvBlock(const std::vector<EvDocIn>& docs, const TokenPostings& postings, int level, std::string* out, EvHeader* header);
// Decodes and checks a header. Corruption for damage; InvalidArgument, naming the version, for a
// block with a valid checksum written by a newer format version than this build reads (the
// store refuses to open such a stream rather than treat it as damage and cut it off).
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

// Where one frame of a block's docs section lies.
struct EvFrameRef {
  uint32_t first_doc = 0, ndocs = 0;
  uint64_t comp_off = 0;  // from the start of the docs section
  uint32_t comp_len = 0, raw_len = 0, crc = 0;
};

// A decoded block's index section (shared by the block cache; the docs are in frames, cached
// separately, see EvFrame).
struct EvBlockData {
  uint8_t version = kEvVersion;
  std::vector<uint64_t> seqs;
  std::vector<int64_t> times;
  std::vector<EvFrameRef> frames;  // by first_doc, covering every doc
  std::string frame_dict;          // zstd dictionary of the frames (empty: none)
  std::string index;                  // decompressed index section
  std::vector<uint32_t> token_offsets;  // into index: the postings (ndocs varint) of each sorted token
  // Doc ordinals whose tokens include t (sorted); empty if none.
  std::vector<uint32_t> Postings(std::string_view t) const;
  std::string_view Token(size_t i) const;  // i < token_offsets.size()
  std::vector<uint32_t> PostingsAt(size_t i) const;
  // The frame holding doc ordinal i (< seqs.size()).
  size_t FrameOf(size_t i) const;
  // The token dictionary as newline-terminated lines, and the end offset of each token in it
  // (built at decode: pattern queries scan it once per block; Token() reads it).
  std::string dict;
  std::vector<uint64_t> dict_ends;
  // Label columns: the value of a label field per doc without parsing the source.
  struct LabelColumn {
    std::string field;
    std::vector<std::string> values;
    std::vector<uint16_t> codes;  // 0 = absent, else values[code - 1]
  };
  std::vector<LabelColumn> label_cols;
  size_t size_bytes() const {
    return index.size() + dict.size() + frame_dict.size() + seqs.size() * 20 + dict_ends.size() * 8 + token_offsets.size() * 4 + frames.size() * 32;
  }
};
// `bytes` holds the block from its header to the end of the index section (h.index_end() bytes;
// more is ignored). Checks the summary and index checksums, decompresses the index and builds
// the frame table. Corruption on any checksum/format problem.
Status DecodeEvIndex(std::string_view bytes, const EvHeader& h, EvBlockData* out);

// The docs of one frame.
struct EvFrame {
  uint32_t first_doc = 0;
  std::string raw;
  std::vector<uint32_t> offsets;  // per doc of the frame, into raw
  // REQUIRES: first_doc <= i < first_doc + offsets.size() (i is the block's doc ordinal).
  void Doc(size_t i, std::string_view* id, std::string_view* source) const;
  size_t size_bytes() const { return raw.size() + offsets.size() * 4 + 64; }
};
// `comp` is the frame's compressed bytes (f.comp_len of them). Checks its CRC, decompresses and
// checks that it holds exactly f.ndocs docs. Corruption otherwise.
// `dict` is the block's frame_dict.
Status DecodeEvFrame(const EvFrameRef& f, std::string_view dict, std::string_view comp, EvFrame* out);

// Whole-block convenience (compaction, tools, tests, fuzzing): `bytes` is the whole block;
// decodes the index and every frame (checking docs_crc too).
Status DecodeEvBlock(std::string_view bytes, const EvHeader& h, EvBlockData* out, std::vector<EvFrame>* frames);

// 64-bit hash used by the bloom filter.
uint64_t HashToken(std::string_view t);

}  // namespace hakone::store::internal
