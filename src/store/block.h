// Compressed event blocks and the segment files that hold them: the on-disk unit of the event
// store (first used by the audit stream, see audit_store.h).
//
// A segment file is a plain concatenation of blocks, appended in seq order and never rewritten
// (a torn block at the very end, left by a crash, is cut off by the writer when it reopens).
// There is no file header: every block starts with its own 64-byte header, so a reader can walk
// a file block by block, prune by header alone, and resynchronise after a damaged header.
//
// Block layout (all integers little-endian):
//
//   offset size field
//    0      4   magic "HKAB"
//    4      1   version (1)
//    5      1   codec (1 = zstd)
//    6      2   reserved (0)
//    8      8   first_seq      seq of the first event in the block
//   16      8   last_seq       seq of the last event (events are in append order, seqs ascending)
//   24      8   min_time_us    smallest event time in the block, µs since the Unix epoch (int64)
//   32      8   max_time_us    largest event time (int64)
//   40      4   count          number of events
//   44      4   raw_len        bytes of the uncompressed payload
//   48      4   comp_len       bytes of compressed payload following the header
//   52      4   data_crc       CRC-32C of the comp_len compressed bytes
//   56      4   reserved (0)
//   60      4   header_crc     CRC-32C of bytes [0, 60)
//   64   comp_len  zstd frame whose content is the payload
//
// Payload: the `count` event lines in order, each followed by one '\n' (lines never contain a
// raw newline: they are JSON texts). The lines are stored byte for byte as they were appended,
// so that hashes computed over them (the audit hash chain) stay verifiable.
//
// Thread safety: every function here is a pure function or works on its own file descriptor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone::store {

// Fixed-width little-endian integers of the store's file formats: one append per value, byte
// order independent of the host.
inline void Put32(std::string* o, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  o->append(b, 4);
}
inline void Put64(std::string* o, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  o->append(b, 8);
}
inline uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline constexpr size_t kBlockHeaderBytes = 64;
inline constexpr uint8_t kBlockVersion = 1;
inline constexpr uint8_t kBlockCodecZstd = 1;
// A block's payload is bounded so that a damaged comp_len/raw_len can never make a reader
// allocate gigabytes.
inline constexpr uint32_t kBlockMaxRawBytes = 256u << 20;

struct BlockHeader {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t min_time_us = 0;
  int64_t max_time_us = 0;
  uint32_t count = 0;
  uint32_t raw_len = 0;
  uint32_t comp_len = 0;
  uint32_t data_crc = 0;
};

// One event going into a block.
struct BlockEvent {
  uint64_t seq = 0;
  int64_t time_us = 0;
  std::string_view line;  // must not contain '\n'
};

// Encodes `events` (non-empty, seqs ascending) as one block (header + compressed payload) and
// appends it to *out. `level` is the zstd level. Errors: InvalidArgument (empty, a line with a
// newline, payload over kBlockMaxRawBytes), Internal (zstd failure).
Status EncodeBlock(const std::vector<BlockEvent>& events, int level, std::string* out, BlockHeader* header = nullptr);

// Encodes a header (computing header_crc) into exactly kBlockHeaderBytes bytes appended to *out.
void EncodeBlockHeader(const BlockHeader& h, std::string* out);

// Decodes and validates a header from the first kBlockHeaderBytes of `bytes`. Errors:
// Corruption naming what is wrong (short, magic, version, codec, header checksum, lengths).
Status DecodeBlockHeader(std::string_view bytes, BlockHeader* h);

// Checks data_crc over `comp` (the comp_len bytes after the header) and decompresses into *raw,
// checking raw_len and that the payload holds exactly `count` newline-terminated lines.
// Errors: Corruption.
Status DecodeBlockPayload(const BlockHeader& h, std::string_view comp, std::string* raw);

// Calls fn for each line of a decoded payload (without its '\n'), in order; stops when fn
// returns false.
void ForEachLine(std::string_view raw, const std::function<bool(std::string_view)>& fn);

// A block found in a segment file.
struct BlockRef {
  uint64_t offset = 0;  // of the header in the file
  BlockHeader header;
};

// What ScanSegment found after the last good block.
struct SegmentScanResult {
  uint64_t end_offset = 0;  // end of the last complete block whose header was valid
  // true when bytes after end_offset look like a block still being written (or torn by a
  // crash): an incomplete header or payload with nothing valid after it.
  bool incomplete_tail = false;
  uint64_t file_size = 0;
};

// A damaged region of a segment file.
struct SegmentDamage {
  uint64_t offset = 0;        // where the damage starts
  uint64_t resume_offset = 0;  // where the next good block starts (file size if none)
  bool header_ok = false;     // true: the header was valid but the payload checksum failed
  BlockHeader header;         // valid only if header_ok
  std::string reason;
};

// Walks the segment file open as `fd` from `offset`: calls on_block for each block whose header
// is valid (payload checksums are not checked here: that needs reading the payload; see
// ReadBlock), and on_damage for a bad header followed by valid blocks (it resynchronises on the
// next valid header). Never reads out of bounds whatever the bytes. Errors: IOError.
Status ScanSegment(int fd, uint64_t offset, const std::function<void(const BlockRef&)>& on_block,
                   const std::function<void(const SegmentDamage&)>& on_damage, SegmentScanResult* out);

// Reads and decodes the payload of `ref` from `fd`. Errors: IOError, Corruption (checksum,
// decompression, line count).
Status ReadBlock(int fd, const BlockRef& ref, std::string* raw);

// Convenience for tools and tests: every block of a segment file with its decoded lines.
// Blocks whose payload does not decode are returned with ok == false and no lines.
struct DecodedBlock {
  BlockRef ref;
  bool ok = false;
  std::string error;
  std::vector<std::string> lines;
};
Status ReadSegmentFile(const std::string& path, std::vector<DecodedBlock>* out);

// Writes all of `data` at the end of `fd` (O_APPEND), retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data);
// Reads n bytes at offset into *out (fewer only at end of file: out->size() says how many).
Status ReadAt(int fd, uint64_t offset, size_t n, std::string* out);

}  // namespace hakone::store
