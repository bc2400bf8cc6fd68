#include "crawl/sitemap.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

namespace hakone::crawl {
namespace {

std::string Gzip(const std::string& s) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(s.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = s.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(SitemapTest, UrlsetWithEntitiesAndCdata) {
  auto sm = ParseSitemap(
      "<?xml version=\"1.0\"?><!-- <loc>commented</loc> -->\n"
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
      "<url><loc> https://a.example/jobs?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>"
      "<url><loc><![CDATA[https://a.example/c&d]]></loc></url>"
      "<url><loc>https://a.example/caf&#233;</loc></url><url><loc></loc></url></urlset>");
  ASSERT_TRUE(sm.ok()) << sm.status().ToString();
  EXPECT_FALSE(sm->is_index);
  ASSERT_EQ(sm->locs.size(), 3u);
  EXPECT_EQ(sm->locs[0], "https://a.example/jobs?x=1&y=2");
  EXPECT_EQ(sm->locs[1], "https://a.example/c&d");
  EXPECT_EQ(sm->locs[2], "https://a.example/caf\xC3\xA9");
}

TEST(SitemapTest, IndexAndGzip) {
  std::string xml =
      "<sm:sitemapindex xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
      "<sm:sitemap><sm:loc>https://a.example/s1.xml.gz</sm:loc></sm:sitemap></sm:sitemapindex>";
  auto sm = ParseSitemap(Gzip(xml));
  ASSERT_TRUE(sm.ok()) << sm.status().ToString();
  EXPECT_TRUE(sm->is_index);
  ASSERT_EQ(sm->locs.size(), 1u);
  EXPECT_EQ(sm->locs[0], "https://a.example/s1.xml.gz");
}

TEST(SitemapTest, MalformedInput) {
  EXPECT_EQ(ParseSitemap("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSitemap("<html><body>not a sitemap</body></html>").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSitemap("<urlset><url><loc><![CDATA[x").status().code(), StatusCode::kInvalidArgument);
  auto truncated = ParseSitemap("<urlset><url><loc>https://a.example/x");
  ASSERT_TRUE(truncated.ok());
  EXPECT_EQ(truncated->locs.size(), 1u);
  std::string gz = Gzip("<urlset><url><loc>https://a.example/</loc></url></urlset>");
  EXPECT_EQ(ParseSitemap(gz.substr(0, gz.size() / 2)).status().code(), StatusCode::kCorruption);
  std::string bad = gz;
  bad[12] ^= 0x55;
  EXPECT_FALSE(ParseSitemap(bad).ok());
  // A gzip bomb is cut at max_bytes.
  EXPECT_EQ(ParseSitemap(Gzip(std::string(1 << 20, 'a')), 1000).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(DecodeXmlEntities("&bogus; &#xZZ; &#99999999; &amp"), "&bogus; &#xZZ; \xEF\xBF\xBD &amp");
}

}  // namespace
}  // namespace hakone::crawl
