#include "store/block.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hakone::store {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/hakone_block_test_XXXXXX";
  char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

std::vector<std::string> Lines(int n, int start = 1) {
  std::vector<std::string> out;
  for (int i = start; i < start + n; ++i) {
    out.push_back("{\"seq\":" + std::to_string(i) + ",\"user\":\"user" + std::to_string(i % 7) +
                  "\",\"path\":\"/candidates/" + std::to_string(i) + "\"}");
  }
  return out;
}

std::string Encode(const std::vector<std::string>& lines, uint64_t first_seq, int64_t t0, BlockHeader* h = nullptr) {
  std::vector<BlockEvent> evs;
  for (size_t i = 0; i < lines.size(); ++i) evs.push_back({first_seq + i, t0 + static_cast<int64_t>(i) * 1000, lines[i]});
  std::string out;
  EXPECT_TRUE(EncodeBlock(evs, 3, &out, h).ok());
  return out;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

TEST(BlockTest, RoundTripAndHeaderFields) {
  auto lines = Lines(50);
  BlockHeader h;
  std::string data = Encode(lines, 10, 1000000, &h);
  EXPECT_EQ(h.first_seq, 10u);
  EXPECT_EQ(h.last_seq, 59u);
  EXPECT_EQ(h.min_time_us, 1000000);
  EXPECT_EQ(h.max_time_us, 1000000 + 49 * 1000);
  EXPECT_EQ(h.count, 50u);
  EXPECT_EQ(data.size(), kBlockHeaderBytes + h.comp_len);
  EXPECT_LT(h.comp_len, h.raw_len);  // it compresses

  BlockHeader d;
  ASSERT_TRUE(DecodeBlockHeader(data, &d).ok());
  EXPECT_EQ(d.first_seq, h.first_seq);
  EXPECT_EQ(d.data_crc, h.data_crc);
  std::string raw;
  ASSERT_TRUE(DecodeBlockPayload(d, std::string_view(data).substr(kBlockHeaderBytes), &raw).ok());
  std::vector<std::string> got;
  ForEachLine(raw, [&](std::string_view l) {
    got.emplace_back(l);
    return true;
  });
  EXPECT_EQ(got, lines);
}

TEST(BlockTest, RejectsBadInput) {
  std::string out;
  EXPECT_FALSE(EncodeBlock({}, 3, &out).ok());
  std::vector<BlockEvent> evs = {{1, 0, "a\nb"}};
  EXPECT_FALSE(EncodeBlock(evs, 3, &out).ok());
}

TEST(BlockTest, DetectsHeaderAndPayloadDamage) {
  std::string data = Encode(Lines(5), 1, 0);
  BlockHeader h;
  std::string bad = data;
  bad[9] ^= 1;  // first_seq
  EXPECT_EQ(DecodeBlockHeader(bad, &h).code(), StatusCode::kCorruption);
  bad = data;
  bad[0] = 'X';
  EXPECT_EQ(DecodeBlockHeader(bad, &h).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeBlockHeader(std::string_view(data).substr(0, 10), &h).code(), StatusCode::kCorruption);

  ASSERT_TRUE(DecodeBlockHeader(data, &h).ok());
  bad = data;
  bad[kBlockHeaderBytes + 3] ^= 0x40;
  std::string raw;
  Status st = DecodeBlockPayload(h, std::string_view(bad).substr(kBlockHeaderBytes), &raw);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("checksum"), std::string::npos);
}

TEST(BlockTest, ScanSegmentResynchronisesAfterBadHeader) {
  std::string dir = TempDir();
  std::string path = dir + "/seg.blk";
  std::string b1 = Encode(Lines(5, 1), 1, 0);
  std::string b2 = Encode(Lines(5, 6), 6, 0);
  std::string b3 = Encode(Lines(5, 11), 11, 0);
  std::string file = b1 + b2 + b3;
  file[b1.size() + 20] ^= 0xff;  // damage b2's header
  WriteFile(path, file);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<BlockRef> blocks;
  std::vector<SegmentDamage> damage;
  SegmentScanResult res;
  ASSERT_TRUE(ScanSegment(
                  fd, 0, [&](const BlockRef& r) { blocks.push_back(r); }, [&](const SegmentDamage& d) { damage.push_back(d); },
                  &res)
                  .ok());
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].header.first_seq, 1u);
  EXPECT_EQ(blocks[1].header.first_seq, 11u);
  EXPECT_EQ(blocks[1].offset, b1.size() + b2.size());
  ASSERT_EQ(damage.size(), 1u);
  EXPECT_EQ(damage[0].offset, b1.size());
  EXPECT_FALSE(res.incomplete_tail);
  EXPECT_EQ(res.end_offset, file.size());
  ::close(fd);
  std::filesystem::remove_all(dir);
}

TEST(BlockTest, ScanSegmentStopsAtIncompleteTail) {
  std::string dir = TempDir();
  std::string path = dir + "/seg.blk";
  std::string b1 = Encode(Lines(5, 1), 1, 0);
  std::string b2 = Encode(Lines(5, 6), 6, 0);
  for (size_t cut : {size_t{10}, kBlockHeaderBytes + 2}) {
    WriteFile(path, b1 + b2.substr(0, cut));
    int fd = ::open(path.c_str(), O_RDONLY);
    std::vector<BlockRef> blocks;
    SegmentScanResult res;
    ASSERT_TRUE(ScanSegment(fd, 0, [&](const BlockRef& r) { blocks.push_back(r); }, nullptr, &res).ok());
    EXPECT_EQ(blocks.size(), 1u);
    EXPECT_TRUE(res.incomplete_tail);
    EXPECT_EQ(res.end_offset, b1.size());
    ::close(fd);
  }
  std::filesystem::remove_all(dir);
}

TEST(BlockTest, ScanSegmentNeverCrashesOnGarbage) {
  std::string dir = TempDir();
  std::string path = dir + "/seg.blk";
  std::srand(7);
  for (int round = 0; round < 50; ++round) {
    std::string file = Encode(Lines(3), 1, 0) + Encode(Lines(3, 4), 4, 0);
    for (int k = 0; k < 5; ++k) file[static_cast<size_t>(std::rand()) % file.size()] = static_cast<char>(std::rand());
    WriteFile(path, file);
    std::vector<DecodedBlock> blocks;
    ASSERT_TRUE(ReadSegmentFile(path, &blocks).ok());
    for (auto& b : blocks) {
      if (b.ok) {
        EXPECT_EQ(b.lines.size(), b.ref.header.count);
      }
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hakone::store
