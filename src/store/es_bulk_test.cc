#include "store/es_bulk.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace hakone::store::es {
namespace {

std::vector<BulkAction> ParseAll(const std::string& body, const std::string& index = "", size_t split = 0, Status* st = nullptr) {
  BulkParser p(index);
  std::vector<BulkAction> out;
  Status s;
  if (split == 0) {
    s = p.Feed(body, &out);
  } else {
    for (size_t i = 0; i < body.size() && s.ok(); i += split) s = p.Feed(std::string_view(body).substr(i, split), &out);
  }
  if (s.ok()) s = p.Finish(&out);
  if (st) *st = s;
  else EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

TEST(BulkParser, Basic) {
  std::string body =
      "{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"msg\":\"a\"}\n"
      "{\"create\":{\"_index\":\"logs\"}}\n{\"msg\":\"b\"}\n"
      "\n"
      "{\"delete\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n"
      "{\"index\":{}}\r\n{\"msg\":\"c\"}";  // no final newline, CRLF
  auto a = ParseAll(body, "dflt");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].op, "index");
  EXPECT_EQ(a[0].item.stream, "logs");
  EXPECT_EQ(*a[0].item.id, "1");
  EXPECT_EQ(a[0].item.source_json, "{\"msg\":\"a\"}");
  EXPECT_EQ(a[1].item.op, WriteItem::Op::kCreate);
  EXPECT_FALSE(a[1].item.id.has_value());
  EXPECT_EQ(a[2].item.op, WriteItem::Op::kDelete);
  EXPECT_EQ(a[3].item.stream, "dflt");
  EXPECT_EQ(a[3].item.source_json, "{\"msg\":\"c\"}");
}

TEST(BulkParser, AnySplitGivesTheSameResult) {
  std::string body;
  for (int i = 0; i < 50; i++) {
    body += "{\"index\":{\"_index\":\"s\",\"_id\":\"" + std::to_string(i) + "\"}}\n{\"n\":" + std::to_string(i) + ",\"t\":\"東京\"}\n";
  }
  auto whole = ParseAll(body);
  for (size_t split : {1, 2, 3, 7, 64, 1000}) {
    auto parts = ParseAll(body, "", split);
    ASSERT_EQ(parts.size(), whole.size()) << split;
    for (size_t i = 0; i < parts.size(); i++) {
      EXPECT_EQ(parts[i].item.source_json, whole[i].item.source_json);
      EXPECT_EQ(*parts[i].item.id, *whole[i].item.id);
    }
  }
}

TEST(BulkParser, PerItemErrors) {
  std::string body =
      "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n"                    // no index
      "{\"update\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{\"doc\":{}}\n"  // unsupported action
      "{\"index\":{\"_index\":\"x\"}}\n[1,2]\n"                      // not an object
      "{\"delete\":{\"_index\":\"x\"}}\n"                             // delete without id
      "{\"index\":{\"_index\":\"x\",\"pipeline\":\"p\"}}\n{\"a\":1}\n"
      "{\"index\":{\"_index\":\"x\"}}\n{\"ok\":true}\n";
  auto a = ParseAll(body);
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0].error_type, "action_request_validation_exception");
  EXPECT_EQ(a[1].error_type, "illegal_argument_exception");
  EXPECT_NE(a[1].error_reason.find("update"), std::string::npos);
  EXPECT_EQ(a[2].error_type, "mapper_parsing_exception");
  EXPECT_EQ(a[3].error_type, "action_request_validation_exception");
  EXPECT_NE(a[4].error_reason.find("pipeline"), std::string::npos);
  EXPECT_TRUE(a[5].error_type.empty());
}

TEST(BulkParser, FatalMalformed) {
  for (const char* bad : {"not json\n{}\n", "{\"index\":{}\n", "[1]\n", "{\"index\":{},\"create\":{}}\n{}\n", "{\"upsert\":{}}\n{}\n",
                          "{\"index\":5}\n{}\n", "{\"index\":{\"_index\":5}}\n{}\n", "{\"index\":{\"_id\":{}}}\n{}\n",
                          "{\"index\":{\"bogus\":1}}\n{}\n", "{\"index\":{\"_index\":\"a\"}}\n", "{\"index\":{\"_id\":\"\"}}\n{}\n"}) {
    Status st;
    ParseAll(bad, "i", 0, &st);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(BulkParser, LineTooLong) {
  BulkParser p("i", 100);
  std::vector<BulkAction> out;
  EXPECT_FALSE(p.Feed(std::string(200, 'x'), &out).ok());
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = in.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Inflater, GzipInPieces) {
  std::string plain;
  for (int i = 0; i < 5000; i++) plain += "{\"index\":{}}\n{\"n\":" + std::to_string(i) + "}\n";
  std::string gz = Gzip(plain);
  for (size_t split : std::vector<size_t>{1, 13, 4096, gz.size()}) {
    Inflater inf;
    std::string out;
    for (size_t i = 0; i < gz.size(); i += split) ASSERT_TRUE(inf.Feed(std::string_view(gz).substr(i, split), &out).ok());
    EXPECT_TRUE(inf.Finish().ok());
    EXPECT_EQ(out, plain);
  }
  // Truncated, corrupt, too large.
  {
    Inflater inf;
    std::string out;
    EXPECT_TRUE(inf.Feed(std::string_view(gz).substr(0, gz.size() / 2), &out).ok());
    EXPECT_FALSE(inf.Finish().ok());
  }
  {
    Inflater inf;
    std::string out;
    std::string bad = gz;
    for (size_t i = 20; i < bad.size(); i += 7) bad[i] ^= 0x5a;
    Status st = inf.Feed(bad, &out);
    EXPECT_FALSE(st.ok() && inf.Finish().ok());
  }
  {
    Inflater inf(1000);
    std::string out;
    EXPECT_EQ(inf.Feed(gz, &out).code(), StatusCode::kResourceExhausted);
  }
  {
    Inflater inf;
    std::string out;
    EXPECT_FALSE(inf.Feed("this is not gzip at all", &out).ok());
  }
}

TEST(Inflater, HighlyCompressibleInputComesOutWholeInBoundedPieces) {
  // 8 MiB of one repeated line compresses ~1000:1, so the last input piece holds far more
  // output than one inflate() call returns: none of it may be lost or left pending.
  std::string line = "{\"index\":{}}\n{\"msg\":\"the same line again and again\"}\n";
  std::string plain;
  while (plain.size() < (8u << 20)) plain += line;
  std::string gz = Gzip(plain);
  ASSERT_LT(gz.size(), plain.size() / 100);
  for (size_t split : std::vector<size_t>{gz.size(), 1000, 7}) {
    Inflater inf;
    std::string out;
    size_t largest = 0;
    auto sink = [&](std::string_view piece) {
      largest = std::max(largest, piece.size());
      out.append(piece);
      return Status::Ok();
    };
    for (size_t i = 0; i < gz.size(); i += split) ASSERT_TRUE(inf.Feed(std::string_view(gz).substr(i, split), sink).ok());
    EXPECT_TRUE(inf.Finish().ok()) << split;
    EXPECT_EQ(out.size(), plain.size()) << split;
    EXPECT_TRUE(out == plain) << split;
    EXPECT_LE(largest, 64u << 10);
  }
  // A sink error stops the feed and is returned.
  Inflater inf;
  int calls = 0;
  Status st = inf.Feed(gz, [&](std::string_view) {
    calls++;
    return Status::InvalidArgument("stop here");
  });
  EXPECT_EQ(st.message(), "stop here");
  EXPECT_EQ(calls, 1);
  // Two concatenated gzip members (RFC 1952) are one body.
  Inflater two;
  std::string out;
  ASSERT_TRUE(two.Feed(Gzip("{\"index\":{}}\n") + Gzip("{\"a\":1}\n"), &out).ok());
  EXPECT_TRUE(two.Finish().ok());
  EXPECT_EQ(out, "{\"index\":{}}\n{\"a\":1}\n");
}

}  // namespace
}  // namespace hakone::store::es
