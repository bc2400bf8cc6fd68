// Tests of the event block format (event_block.h): round trip of the version 3 layout (doc
// frames with a dictionary, front-coded tokens, frame table), per-frame checksums, malformed and
// damaged input, format versions.
#include "store/event_block.h"

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/crc32c.h"

namespace hakone::store::internal {
namespace {

struct Built {
  std::vector<std::string> ids, sources;
  std::vector<std::vector<std::string>> tokens;  // per doc
  std::string block;
  EvHeader h;
};

// n docs: seqs from 1000 with gaps, times going back and forth, some explicit ids, some large
// sources (bigger than a frame), tokens sharing prefixes.
Built Build(size_t n, uint32_t seed = 1) {
  Built b;
  std::mt19937 rng(seed);
  std::vector<EvDocIn> in;
  TokenPostings post;
  uint64_t seq = 1000;
  for (size_t i = 0; i < n; ++i) {
    b.ids.push_back(i % 3 == 0 ? "id-" + std::to_string(i) : "");
    std::string msg = "request " + std::to_string(rng() % 100000) + " served by host-" + std::to_string(i % 7);
    if (i % 97 == 5) msg += " " + std::string(40000 + rng() % 1000, 'x');
    b.sources.push_back(R"({"n":)" + std::to_string(i) + R"(,"message":")" + msg + "\"}");
    b.tokens.push_back({"request", "host-" + std::to_string(i % 7), "req" + std::to_string(i % 50), "n" + std::to_string(i)});
  }
  for (size_t i = 0; i < n; ++i) {
    EvDocIn e;
    seq += 1 + (i % 5 == 0 ? 3 : 0);
    e.seq = seq;
    e.time_us = 1714521600000000LL + static_cast<int64_t>(i) * 1000 - (i % 4 == 0 ? 500000 : 0);
    e.id = b.ids[i];
    e.source = b.sources[i];
    e.labels = {{"host", "host-" + std::to_string(i % 7)}};
    if (i % 2) e.labels.push_back({"level", i % 4 == 1 ? "info" : "warn"});
    for (const auto& t : b.tokens[i]) post.Add(t, static_cast<uint32_t>(i));
    post.Add("request", static_cast<uint32_t>(i));  // a repeat in the same doc is kept once
    in.push_back(std::move(e));
  }
  EXPECT_TRUE(EncodeEvBlock(in, post, 3, &b.block, &b.h).ok());
  return b;
}

void Put32At(std::string* s, size_t at, uint32_t v) { std::memcpy(s->data() + at, &v, 4); }
void FixHeaderCrc(std::string* s) { Put32At(s, 76, crc32c::Value(s->data(), 76)); }

TEST(EventBlock, RoundTripFramesTokensColumns) {
  Built b = Build(1000);
  EvHeader h;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h).ok());
  EXPECT_EQ(h.version, kEvVersion);
  EXPECT_EQ(h.count, 1000u);
  EXPECT_EQ(h.total_len(), b.block.size());
  EvBlockData d;
  std::vector<EvFrame> frames;
  ASSERT_TRUE(DecodeEvBlock(b.block, h, &d, &frames).ok());
  ASSERT_EQ(d.seqs.size(), 1000u);
  EXPECT_EQ(d.seqs.front(), h.first_seq);
  EXPECT_EQ(d.seqs.back(), h.last_seq);
  for (size_t i = 1; i < d.seqs.size(); ++i) EXPECT_GT(d.seqs[i], d.seqs[i - 1]);
  // Several frames, none above the limits (unless a single doc is bigger), covering every doc.
  ASSERT_GT(d.frames.size(), 1000u / kEvFrameMaxDocs);
  EXPECT_FALSE(d.frame_dict.empty());
  uint32_t next = 0;
  for (const auto& f : d.frames) {
    EXPECT_EQ(f.first_doc, next);
    EXPECT_LE(f.ndocs, kEvFrameMaxDocs);
    if (f.ndocs > 1) EXPECT_LT(f.raw_len, kEvFrameMaxBytes + 50000);
    next += f.ndocs;
  }
  EXPECT_EQ(next, 1000u);
  for (size_t i = 0; i < 1000; ++i) {
    size_t f = d.FrameOf(i);
    ASSERT_LT(f, frames.size());
    ASSERT_GE(i, d.frames[f].first_doc);
    ASSERT_LT(i, d.frames[f].first_doc + d.frames[f].ndocs);
    std::string_view id, src;
    frames[f].Doc(i, &id, &src);
    EXPECT_EQ(id, b.ids[i]);
    EXPECT_EQ(src, b.sources[i]);
  }
  // Tokens: sorted, complete, postings exact.
  std::map<std::string, std::set<uint32_t>> want;
  for (size_t i = 0; i < 1000; ++i)
    for (const auto& t : b.tokens[i]) want[t].insert(static_cast<uint32_t>(i));
  ASSERT_EQ(d.token_offsets.size(), want.size());
  size_t k = 0;
  for (const auto& [tok, docs] : want) {
    EXPECT_EQ(d.Token(k), tok);
    auto p = d.Postings(tok);
    EXPECT_EQ(std::vector<uint32_t>(docs.begin(), docs.end()), p) << tok;
    ++k;
  }
  EXPECT_TRUE(d.Postings("nope").empty());
  EXPECT_TRUE(d.Postings("n10000").empty());
  // The token dictionary lines match the tokens.
  EXPECT_EQ(d.dict.substr(0, d.Token(0).size()), d.Token(0));
  // Label columns: host on every doc, level on odd ones.
  ASSERT_EQ(d.label_cols.size(), 2u);
  for (const auto& c : d.label_cols) {
    for (size_t i = 0; i < 1000; ++i) {
      if (c.field == "host") {
        ASSERT_NE(c.codes[i], 0);
        EXPECT_EQ(c.values[c.codes[i] - 1], "host-" + std::to_string(i % 7));
      } else {
        EXPECT_EQ(c.field, "level");
        EXPECT_EQ(c.codes[i] != 0, i % 2 == 1);
      }
    }
  }
}

TEST(EventBlock, IndexAloneThenSingleFrames) {
  // What a query does: decode the index from the first index_end() bytes, then one frame.
  Built b = Build(700, 7);
  EvHeader h;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h).ok());
  EvBlockData d;
  ASSERT_TRUE(DecodeEvIndex(std::string_view(b.block).substr(0, h.index_end()), h, &d).ok());
  std::string_view docs = std::string_view(b.block).substr(h.index_end());
  size_t f = d.FrameOf(433);
  EvFrame fr;
  ASSERT_TRUE(DecodeEvFrame(d.frames[f], d.frame_dict, docs.substr(d.frames[f].comp_off, d.frames[f].comp_len), &fr).ok());
  std::string_view id, src;
  fr.Doc(433, &id, &src);
  EXPECT_EQ(src, b.sources[433]);
  // A frame without the dictionary it was compressed with does not decode to the docs.
  EvFrame bad;
  EXPECT_FALSE(DecodeEvFrame(d.frames[f], "", docs.substr(d.frames[f].comp_off, d.frames[f].comp_len), &bad).ok());
  // Too few bytes for the index.
  EvBlockData d2;
  EXPECT_EQ(DecodeEvIndex(std::string_view(b.block).substr(0, h.index_end() - 1), h, &d2).code(), StatusCode::kCorruption);
}

TEST(EventBlock, DamagedFrameIsDetectedAndOthersStillDecode) {
  Built b = Build(600, 3);
  EvHeader h;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h).ok());
  EvBlockData d;
  Status ist = DecodeEvIndex(b.block, h, &d);
  ASSERT_TRUE(ist.ok()) << ist.ToString();
  ASSERT_GE(d.frames.size(), 3u);
  const EvFrameRef& victim = d.frames[1];
  std::string damaged = b.block;
  damaged[h.index_end() + victim.comp_off + victim.comp_len / 2] ^= 0x40;
  std::string_view docs = std::string_view(damaged).substr(h.index_end());
  for (size_t f = 0; f < d.frames.size(); ++f) {
    EvFrame fr;
    Status st = DecodeEvFrame(d.frames[f], d.frame_dict, docs.substr(d.frames[f].comp_off, d.frames[f].comp_len), &fr);
    if (f == 1) {
      EXPECT_EQ(st.code(), StatusCode::kCorruption);
      EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
    } else {
      EXPECT_TRUE(st.ok()) << f << ": " << st.ToString();
    }
  }
  // The whole-block path reports it too.
  EvBlockData whole;
  std::vector<EvFrame> frames;
  EXPECT_EQ(DecodeEvBlock(damaged, h, &whole, &frames).code(), StatusCode::kCorruption);
}

TEST(EventBlock, EveryFlippedByteIsAnErrorNeverACrash) {
  Built b = Build(300, 5);
  EvHeader h0;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h0).ok());
  size_t errors = 0;
  for (size_t at = 0; at < b.block.size(); at += 1 + at / 64) {
    std::string m = b.block;
    m[at] ^= 0x21;
    EvHeader h;
    Status st = DecodeEvHeader(m, &h);
    if (st.ok() && h.total_len() == m.size()) {
      EvBlockData d;
      std::vector<EvFrame> frames;
      st = DecodeEvBlock(m, h, &d, &frames);
    } else if (st.ok()) {
      st = Status::Corruption("length changed");
    }
    EXPECT_FALSE(st.ok()) << "flipping byte " << at << " went unnoticed";
    errors += !st.ok();
  }
  EXPECT_GT(errors, 100u);
}

TEST(EventBlock, MalformedIndexWithValidChecksumsIsRejected) {
  // Rewrite the header's section lengths / frame table consistency with valid checksums: the
  // decoder must check contents, not only checksums.
  Built b = Build(200, 9);
  EvHeader h;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h).ok());
  // docs_comp one byte larger than the frames say (and the block one byte longer).
  std::string m = b.block + "z";
  Put32At(&m, 60, h.docs_comp + 1);
  Put32At(&m, 72, crc32c::Value(m.data() + h.index_end(), h.docs_comp + 1));
  FixHeaderCrc(&m);
  EvHeader h2;
  ASSERT_TRUE(DecodeEvHeader(m, &h2).ok());
  EvBlockData d;
  Status st = DecodeEvIndex(m, h2, &d);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("frame table"), std::string::npos) << st.ToString();
  // Truncated inputs.
  for (size_t n : {size_t{0}, size_t{10}, kEvHeaderBytes - 1}) {
    EvHeader hh;
    EXPECT_EQ(DecodeEvHeader(std::string_view(b.block).substr(0, n), &hh).code(), StatusCode::kCorruption);
  }
}

TEST(EventBlock, FormatVersions) {
  Built b = Build(10);
  EvHeader h;
  // A newer version with a valid checksum: a clear "upgrade" error, not corruption.
  std::string newer = b.block;
  newer[4] = static_cast<char>(kEvVersion + 1);
  FixHeaderCrc(&newer);
  Status st = DecodeEvHeader(newer, &h);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("newer than this build reads"), std::string::npos) << st.ToString();
  // Versions before the oldest supported one are not blocks this store wrote.
  std::string older = b.block;
  older[4] = 1;
  FixHeaderCrc(&older);
  EXPECT_EQ(DecodeEvHeader(older, &h).code(), StatusCode::kCorruption);
  // Without a valid checksum a version byte means nothing: corruption.
  std::string torn = b.block;
  torn[4] = 9;
  EXPECT_EQ(DecodeEvHeader(torn, &h).code(), StatusCode::kCorruption);
}

TEST(EventBlock, OneSmallBlockHasOneFrameAndNoDictionary) {
  Built b = Build(3);
  EvHeader h;
  ASSERT_TRUE(DecodeEvHeader(b.block, &h).ok());
  EvBlockData d;
  std::vector<EvFrame> frames;
  ASSERT_TRUE(DecodeEvBlock(b.block, h, &d, &frames).ok());
  EXPECT_EQ(d.frames.size(), 1u);
  EXPECT_TRUE(d.frame_dict.empty());
  std::string_view id, src;
  frames[0].Doc(2, &id, &src);
  EXPECT_EQ(src, b.sources[2]);
}

TEST(EventBlock, TokenPostingsKeepsOrderAndDedups) {
  TokenPostings p;
  // Enough distinct tokens to grow the table several times.
  for (uint32_t d = 0; d < 50; ++d)
    for (int t = 0; t < 200; ++t) {
      p.Add("tok" + std::to_string(t), d);
      if (t % 2 == 0) p.Add("tok" + std::to_string(t), d);
    }
  ASSERT_EQ(p.size(), 200u);
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p.ndocs(i), 50u);
    std::vector<uint32_t> docs;
    p.ForEachDoc(i, [&](uint32_t d) { docs.push_back(d); });
    ASSERT_EQ(docs.size(), 50u);
    for (uint32_t d = 0; d < 50; ++d) EXPECT_EQ(docs[d], d);
  }
  p.clear();
  EXPECT_EQ(p.size(), 0u);
  p.Add("", 3);  // the empty token is a token like any other
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p.token(0), "");
}

TEST(EventBlock, PostingBeyondTheBlockIsRejected) {
  // Readers index per-doc arrays by posting ordinals: an ordinal past the block's docs (valid
  // checksums, bad content) must be refused at decode.
  std::vector<EvDocIn> in(2);
  in[0].seq = 1;
  in[0].source = "{}";
  in[1].seq = 2;
  in[1].source = "{}";
  TokenPostings post;
  post.Add("a", 0);
  post.Add("b", 5);
  std::string block;
  EvHeader h;
  ASSERT_TRUE(EncodeEvBlock(in, post, 3, &block, &h).ok());
  EvBlockData d;
  Status st = DecodeEvIndex(block, h, &d);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("bad posting"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace hakone::store::internal
