#include "crawl/url_filter.h"

#include <gtest/gtest.h>

namespace hakone::crawl {
namespace {

std::string C(std::string_view base, std::string_view ref) {
  auto r = CanonicalUrl(base, ref);
  return r.ok() ? *r : "ERR";
}

TEST(UrlFilterTest, Canonicalisation) {
  EXPECT_EQ(C("", "HTTP://Example.COM:80/a/./b/../c?#frag"), "http://example.com/a/c");
  EXPECT_EQ(C("", "https://example.com:443"), "https://example.com/");
  EXPECT_EQ(C("", "http://example.com:8080/%7euser/%2f?q=%41"), "http://example.com:8080/~user/%2F?q=A");
  EXPECT_EQ(C("http://example.com/jobs/list.html", "../about us.html#top"), "http://example.com/about%20us.html");
  EXPECT_EQ(C("http://example.com/jobs/", "?page=2"), "http://example.com/jobs/?page=2");
  EXPECT_EQ(C("http://example.com/jobs/", "//other.example/x"), "http://other.example/x");
  EXPECT_EQ(C("http://example.com/", "  /trimmed  "), "http://example.com/trimmed");
  EXPECT_EQ(C("http://example.com/", "/caf\xC3\xA9"), "http://example.com/caf%C3%A9");
}

TEST(UrlFilterTest, RejectsMalformedAndNonHttp) {
  EXPECT_EQ(C("http://example.com/", "mailto:a@b.example"), "ERR");
  EXPECT_EQ(C("http://example.com/", "javascript:void(0)"), "ERR");
  EXPECT_EQ(C("", "relative/only"), "ERR");
  EXPECT_EQ(C("", "http://user:pw@example.com/"), "ERR");
  EXPECT_EQ(C("", "http:///nohost"), "ERR");
  EXPECT_EQ(C("", "http://exa mple.com/\x01"), "ERR");
  EXPECT_EQ(C("", ""), "ERR");
  EXPECT_EQ(C("", "http://[::1/"), "ERR");
}

TEST(UrlFilterTest, SplitSameSiteHash) {
  auto p = SplitUrl("http://example.com:8080/a?b=1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->host, "example.com");
  EXPECT_EQ(p->authority, "example.com:8080");
  EXPECT_EQ(p->path_query, "/a?b=1");
  EXPECT_TRUE(SameSite("www.acme.example", "acme.example"));
  EXPECT_TRUE(SameSite("jobs.acme.example", "acme.example"));
  EXPECT_FALSE(SameSite("notacme.example", "acme.example"));
  EXPECT_EQ(Fnv1a64(""), 14695981039346656037ull);
  EXPECT_NE(Fnv1a64("a.example") % 7, Fnv1a64("b.example") % 7 + 100);
}

TEST(UrlFilterTest, Filters) {
  FilterConfig cfg;
  cfg.allow = {"/jobs/", "/careers"};
  cfg.deny = {"\\.pdf$"};
  cfg.max_depth = 2;
  auto f = UrlFilter::Create(cfg, {"acme.example"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Check("http://acme.example/jobs/1", "acme.example", 1), "");
  EXPECT_EQ(f->Check("http://acme.example/jobs/1.pdf", "acme.example", 1), "deny");
  EXPECT_EQ(f->Check("http://acme.example/blog", "acme.example", 1), "not_allowed");
  EXPECT_EQ(f->Check("http://evil.example/jobs/1", "evil.example", 1), "off_site");
  EXPECT_EQ(f->Check("http://acme.example/jobs/1", "acme.example", 3), "depth");
  cfg.allow = {"(unclosed"};
  EXPECT_EQ(UrlFilter::Create(cfg, {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hakone::crawl
