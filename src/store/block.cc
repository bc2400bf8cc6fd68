#include "store/block.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "core/crc32c.h"

namespace hakone::store {
namespace {

constexpr char kMagic[4] = {'H', 'K', 'A', 'B'};


}  // namespace

void EncodeBlockHeader(const BlockHeader& h, std::string* out) {
  size_t start = out->size();
  out->append(kMagic, 4);
  out->push_back(static_cast<char>(kBlockVersion));
  out->push_back(static_cast<char>(kBlockCodecZstd));
  out->append(2, '\0');
  Put64(out, h.first_seq);
  Put64(out, h.last_seq);
  Put64(out, static_cast<uint64_t>(h.min_time_us));
  Put64(out, static_cast<uint64_t>(h.max_time_us));
  Put32(out, h.count);
  Put32(out, h.raw_len);
  Put32(out, h.comp_len);
  Put32(out, h.data_crc);
  Put32(out, 0);
  Put32(out, crc32c::Value(out->data() + start, 60));
}

Status DecodeBlockHeader(std::string_view b, BlockHeader* h) {
  if (b.size() < kBlockHeaderBytes) return Status::Corruption("block header: short (" + std::to_string(b.size()) + " bytes)");
  if (std::memcmp(b.data(), kMagic, 4) != 0) return Status::Corruption("block header: bad magic");
  uint32_t want = Get32(b.data() + 60);
  if (crc32c::Value(b.data(), 60) != want) return Status::Corruption("block header: checksum mismatch");
  if (static_cast<uint8_t>(b[4]) != kBlockVersion)
    return Status::Corruption("block header: unsupported version " + std::to_string(static_cast<uint8_t>(b[4])));
  if (static_cast<uint8_t>(b[5]) != kBlockCodecZstd)
    return Status::Corruption("block header: unknown codec " + std::to_string(static_cast<uint8_t>(b[5])));
  BlockHeader x;
  x.first_seq = Get64(b.data() + 8);
  x.last_seq = Get64(b.data() + 16);
  x.min_time_us = static_cast<int64_t>(Get64(b.data() + 24));
  x.max_time_us = static_cast<int64_t>(Get64(b.data() + 32));
  x.count = Get32(b.data() + 40);
  x.raw_len = Get32(b.data() + 44);
  x.comp_len = Get32(b.data() + 48);
  x.data_crc = Get32(b.data() + 52);
  if (x.count == 0 || x.last_seq < x.first_seq || x.raw_len > kBlockMaxRawBytes || x.raw_len < x.count ||
      x.comp_len > ZSTD_compressBound(x.raw_len) + 1024) {
    return Status::Corruption("block header: inconsistent fields");
  }
  *h = x;
  return Status::Ok();
}

Status EncodeBlock(const std::vector<BlockEvent>& events, int level, std::string* out, BlockHeader* header) {
  if (events.empty()) return Status::InvalidArgument("block: no events");
  std::string raw;
  size_t total = 0;
  for (const auto& e : events) total += e.line.size() + 1;
  if (total > kBlockMaxRawBytes) return Status::InvalidArgument("block: payload of " + std::to_string(total) + " bytes is too large");
  raw.reserve(total);
  BlockHeader h;
  h.first_seq = events.front().seq;
  h.last_seq = events.back().seq;
  h.min_time_us = events.front().time_us;
  h.max_time_us = events.front().time_us;
  for (const auto& e : events) {
    if (e.line.find('\n') != std::string_view::npos) return Status::InvalidArgument("block: an event line contains a newline");
    raw.append(e.line);
    raw.push_back('\n');
    if (e.time_us < h.min_time_us) h.min_time_us = e.time_us;
    if (e.time_us > h.max_time_us) h.max_time_us = e.time_us;
  }
  h.count = static_cast<uint32_t>(events.size());
  h.raw_len = static_cast<uint32_t>(raw.size());
  std::string comp(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(comp.data(), comp.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("block: zstd: ") + ZSTD_getErrorName(n));
  comp.resize(n);
  h.comp_len = static_cast<uint32_t>(n);
  h.data_crc = crc32c::Value(comp);
  EncodeBlockHeader(h, out);
  out->append(comp);
  if (header) *header = h;
  return Status::Ok();
}

Status DecodeBlockPayload(const BlockHeader& h, std::string_view comp, std::string* raw) {
  if (comp.size() != h.comp_len) return Status::Corruption("block payload: short read");
  if (crc32c::Value(comp) != h.data_crc) return Status::Corruption("block payload: checksum mismatch");
  raw->assign(h.raw_len, '\0');
  size_t n = ZSTD_decompress(raw->data(), raw->size(), comp.data(), comp.size());
  if (ZSTD_isError(n)) return Status::Corruption(std::string("block payload: zstd: ") + ZSTD_getErrorName(n));
  if (n != h.raw_len) return Status::Corruption("block payload: decompressed size differs from the header");
  if (raw->empty() || raw->back() != '\n') return Status::Corruption("block payload: last line not terminated");
  size_t lines = 0;
  for (char c : *raw) lines += (c == '\n');
  if (lines != h.count) return Status::Corruption("block payload: line count differs from the header");
  return Status::Ok();
}

void ForEachLine(std::string_view raw, const std::function<bool(std::string_view)>& fn) {
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    if (nl == std::string_view::npos) nl = raw.size();
    if (!fn(raw.substr(pos, nl - pos))) return;
    pos = nl + 1;
  }
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status ReadAt(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out->data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("pread", errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out->resize(got);
  return Status::Ok();
}

namespace {

// Finds the next offset > from (and < size) where a valid header whose payload fits in the file
// starts. Returns size when there is none.
Status FindNextHeader(int fd, uint64_t from, uint64_t size, uint64_t* found) {
  constexpr size_t kChunk = 1 << 20;
  uint64_t pos = from + 1;
  std::string buf;
  while (pos + kBlockHeaderBytes <= size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk + kBlockHeaderBytes, size - pos));
    HAKONE_RETURN_IF_ERROR(ReadAt(fd, pos, want, &buf));
    for (size_t i = 0; i + kBlockHeaderBytes <= buf.size(); ++i) {
      if (std::memcmp(buf.data() + i, kMagic, 4) != 0) continue;
      BlockHeader h;
      if (!DecodeBlockHeader(std::string_view(buf).substr(i, kBlockHeaderBytes), &h).ok()) continue;
      if (pos + i + kBlockHeaderBytes + h.comp_len > size) continue;
      *found = pos + i;
      return Status::Ok();
    }
    if (buf.size() <= kBlockHeaderBytes) break;
    pos += buf.size() - kBlockHeaderBytes + 1;
  }
  *found = size;
  return Status::Ok();
}

}  // namespace

Status ScanSegment(int fd, uint64_t offset, const std::function<void(const BlockRef&)>& on_block,
                   const std::function<void(const SegmentDamage&)>& on_damage, SegmentScanResult* out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat", errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  *out = SegmentScanResult{};
  out->file_size = size;
  out->end_offset = offset;
  uint64_t pos = offset;
  std::string hdr;
  while (pos < size) {
    if (size - pos < kBlockHeaderBytes) {
      out->incomplete_tail = true;
      break;
    }
    HAKONE_RETURN_IF_ERROR(ReadAt(fd, pos, kBlockHeaderBytes, &hdr));
    if (hdr.size() < kBlockHeaderBytes) {
      out->incomplete_tail = true;
      break;
    }
    BlockHeader h;
    Status hs = DecodeBlockHeader(hdr, &h);
    if (hs.ok()) {
      if (pos + kBlockHeaderBytes + h.comp_len > size) {
        out->incomplete_tail = true;
        break;
      }
      if (on_block) on_block(BlockRef{pos, h});
      pos += kBlockHeaderBytes + h.comp_len;
      out->end_offset = pos;
      continue;
    }
    uint64_t next = size;
    HAKONE_RETURN_IF_ERROR(FindNextHeader(fd, pos, size, &next));
    if (next >= size) {
      out->incomplete_tail = true;
      break;
    }
    if (on_damage) {
      SegmentDamage d;
      d.offset = pos;
      d.resume_offset = next;
      d.reason = hs.message();
      on_damage(d);
    }
    pos = next;
    out->end_offset = pos;
  }
  return Status::Ok();
}

Status ReadBlock(int fd, const BlockRef& ref, std::string* raw) {
  std::string comp;
  HAKONE_RETURN_IF_ERROR(ReadAt(fd, ref.offset + kBlockHeaderBytes, ref.header.comp_len, &comp));
  return DecodeBlockPayload(ref.header, comp, raw);
}

Status ReadSegmentFile(const std::string& path, std::vector<DecodedBlock>* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  std::vector<BlockRef> refs;
  SegmentScanResult res;
  Status st = ScanSegment(fd, 0, [&](const BlockRef& r) { refs.push_back(r); }, nullptr, &res);
  if (st.ok()) {
    for (const auto& r : refs) {
      DecodedBlock d;
      d.ref = r;
      std::string raw;
      Status rs = ReadBlock(fd, r, &raw);
      if (rs.ok()) {
        d.ok = true;
        ForEachLine(raw, [&](std::string_view l) {
          d.lines.emplace_back(l);
          return true;
        });
      } else {
        d.error = rs.message();
      }
      out->push_back(std::move(d));
    }
  }
  ::close(fd);
  return st;
}

}  // namespace hakone::store
