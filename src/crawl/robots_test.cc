#include "crawl/robots.h"

#include <gtest/gtest.h>

namespace hakone::crawl {
namespace {

constexpr const char* kUa = "hakone-crawler/1.0 (+https://example.com/bot)";

TEST(RobotsTest, LongestMatchWinsAllowWinsTie) {
  Robots r = Robots::Parse(
      "User-agent: *\n"
      "Disallow: /private/\n"
      "Allow: /private/public/\n"
      "Disallow: /page\n"
      "Allow: /page\n",
      kUa);
  EXPECT_FALSE(r.Allowed("/private/x.html"));
  EXPECT_TRUE(r.Allowed("/private/public/x.html"));
  EXPECT_TRUE(r.Allowed("/page"));  // equal length: allow wins
  EXPECT_TRUE(r.Allowed("/other"));
  EXPECT_TRUE(r.Allowed("/robots.txt"));
}

TEST(RobotsTest, WildcardsAndEndAnchor) {
  Robots r = Robots::Parse(
      "user-agent: *\n"
      "disallow: /*.pdf$\n"
      "disallow: /search*q=\n"
      "allow: /search?q=jobs$\n",
      kUa);
  EXPECT_FALSE(r.Allowed("/files/a.pdf"));
  EXPECT_TRUE(r.Allowed("/files/a.pdf?download=1"));
  EXPECT_FALSE(r.Allowed("/search?x=1&q=2"));
  EXPECT_TRUE(r.Allowed("/search?q=jobs"));
  EXPECT_FALSE(r.Allowed("/search?q=jobsx"));
  EXPECT_TRUE(RobotsPatternMatch("/a*b*c$", "/axxbyyc"));
  EXPECT_FALSE(RobotsPatternMatch("/a*b*c$", "/axxbyycd"));
  EXPECT_TRUE(RobotsPatternMatch("*", "/anything"));
}

TEST(RobotsTest, SpecificGroupBeatsStarAndGroupsMerge) {
  Robots r = Robots::Parse(
      "User-agent: *\nDisallow: /\n\n"
      "User-agent: other\nUser-agent: HAKONE-crawler\nDisallow: /a\nCrawl-delay: 2.5\n"
      "Sitemap: https://example.com/sitemap.xml\n"
      "User-agent: hakone-crawler\nDisallow: /b\n",
      kUa);
  EXPECT_TRUE(r.Allowed("/c"));
  EXPECT_FALSE(r.Allowed("/a"));
  EXPECT_FALSE(r.Allowed("/b"));
  ASSERT_TRUE(r.CrawlDelay());
  EXPECT_DOUBLE_EQ(*r.CrawlDelay(), 2.5);
  ASSERT_EQ(r.Sitemaps().size(), 1u);

  Robots other = Robots::Parse("User-agent: *\nDisallow: /\n", kUa);
  EXPECT_FALSE(other.Allowed("/x"));
  EXPECT_TRUE(Robots::Parse("User-agent: googlebot\nDisallow: /\n", kUa).Allowed("/x"));
}

TEST(RobotsTest, PercentEncodingNormalised) {
  Robots r = Robots::Parse("User-agent: *\nDisallow: /caf%c3%a9\nDisallow: /%7Euser\n", kUa);
  EXPECT_FALSE(r.Allowed("/caf%C3%A9/menu"));
  EXPECT_FALSE(r.Allowed("/~user/x"));
}

TEST(RobotsTest, MalformedInputIsTolerated) {
  Robots r = Robots::Parse(
      "\xEF\xBB\xBFgarbage line without colon\n"
      "Disallow: /before-any-group\n"
      ":::\n"
      "User-agent: *   # comment\r\n"
      "Disallow:\n"
      "Crawl-delay: soon\n"
      "Disallow: /x   # trailing\r\n"
      "\x01\x02\xff: \xfe\n",
      kUa);
  EXPECT_TRUE(r.Allowed("/before-any-group"));
  EXPECT_FALSE(r.Allowed("/x/y"));
  EXPECT_FALSE(r.CrawlDelay());
  EXPECT_TRUE(Robots::Parse("", kUa).Allowed("/"));
  EXPECT_TRUE(Robots::Parse(std::string(600 * 1024, '*'), kUa).Allowed("/"));
  EXPECT_FALSE(Robots::DisallowAll().Allowed("/"));
  EXPECT_TRUE(Robots::DisallowAll().Allowed("/robots.txt"));
  // Pathological patterns stay linear-ish (no exponential backtracking).
  std::string pat = "/";
  for (int i = 0; i < 200; ++i) pat += "*a";
  EXPECT_FALSE(RobotsPatternMatch(pat + "b$", "/" + std::string(3000, 'a')));
}

}  // namespace
}  // namespace hakone::crawl
