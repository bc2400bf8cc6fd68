#include "crawl/extract.h"

#include <gtest/gtest.h>

namespace hakone::crawl {
namespace {

TEST(ExtractTest, JsonLdJobPosting) {
  std::string html = R"(<!doctype html><html><head><title> Careers at Acme </title>
<meta name="description" content="Join us">
<script type="application/ld+json">
{"@context":"https://schema.org","@graph":[{"@type":"Organization","name":"Acme"},
 {"@type":["JobPosting"],"title":"Backend Engineer","description":"<p>Build things</p>",
  "datePosted":"2026-01-02","validThrough":"2026-03-01T00:00",
  "hiringOrganization":{"@type":"Organization","name":"Acme Corp","sameAs":"https://acme.example"},
  "jobLocation":[{"@type":"Place","address":{"addressLocality":"Tokyo","addressCountry":{"name":"JP"}}},
                 {"@type":"Place","address":"Osaka"}],
  "employmentType":["FULL_TIME","CONTRACTOR"],
  "baseSalary":{"@type":"MonetaryAmount","currency":"JPY","value":{"@type":"QuantitativeValue","minValue":6000000,"maxValue":"9,000,000","unitText":"YEAR"}},
  "identifier":{"@type":"PropertyValue","name":"Acme","value":"BE-42"},}]}
</script></head><body><h1>Jobs</h1><p>We are   hiring.</p><a href="/jobs/1">One</a>
<a href="/x" rel="nofollow">no</a><script>var x = "<a href='/js'>";</script></body></html>)";
  PageExtract e = ExtractHtml(html);
  EXPECT_EQ(e.title, "Careers at Acme");
  EXPECT_EQ(e.meta_description, "Join us");
  EXPECT_EQ(e.text, "Jobs We are hiring. One no");
  ASSERT_EQ(e.links.size(), 1u);
  EXPECT_EQ(e.links[0], "/jobs/1");
  ASSERT_EQ(e.postings.size(), 1u) << (e.errors.empty() ? "" : e.errors[0]);
  const JobPosting& p = e.postings[0];
  EXPECT_EQ(p.source, "json-ld");
  EXPECT_EQ(p.title, "Backend Engineer");
  EXPECT_EQ(p.org_name, "Acme Corp");
  EXPECT_EQ(p.org_url, "https://acme.example");
  EXPECT_EQ(p.location, "Tokyo, JP; Osaka");
  EXPECT_EQ(p.employment_type, "FULL_TIME, CONTRACTOR");
  EXPECT_EQ(p.salary_currency, "JPY");
  EXPECT_EQ(p.salary_unit, "YEAR");
  EXPECT_DOUBLE_EQ(*p.salary_min, 6000000);
  EXPECT_DOUBLE_EQ(*p.salary_max, 9000000);
  EXPECT_EQ(p.identifier, "BE-42");
  EXPECT_TRUE(p.missing.empty());
}

TEST(ExtractTest, MicrodataJobPostingWithMissingProperties) {
  std::string html = R"(<div itemscope itemtype="https://schema.org/JobPosting">
  <h2 itemprop="title">Data Analyst</h2>
  <time itemprop="datePosted" datetime="2026-02-03">Feb 3</time>
  <div itemprop="hiringOrganization" itemscope itemtype="https://schema.org/Organization">
    <span itemprop="name">Beta KK</span><span itemprop="title">not the job title</span></div>
  <span itemprop="employmentType">PART_TIME</span>
  <div itemprop="baseSalary" itemscope itemtype="https://schema.org/MonetaryAmount">
    <meta itemprop="currency" content="EUR"><span itemprop="value">45000</span></div>
</div>)";
  PageExtract e = ExtractHtml(html);
  ASSERT_EQ(e.postings.size(), 1u);
  const JobPosting& p = e.postings[0];
  EXPECT_EQ(p.source, "microdata");
  EXPECT_EQ(p.title, "Data Analyst");
  EXPECT_EQ(p.date_posted, "2026-02-03");
  EXPECT_EQ(p.org_name, "Beta KK");
  EXPECT_EQ(p.employment_type, "PART_TIME");
  EXPECT_EQ(p.salary_currency, "EUR");
  EXPECT_DOUBLE_EQ(*p.salary_min, 45000);
  EXPECT_EQ(p.missing, (std::vector<std::string>{"description", "jobLocation"}));
}

TEST(ExtractTest, BrokenHtmlAndBadJson) {
  PageExtract e = ExtractHtml(
      "<html><title>Broken</title><body><a href='/a'>x<a href=/b>y<div><p>unclosed"
      "<script type='application/ld+json'>{\"@type\": \"JobPosting\", </script>"
      "<script type='application/ld+json'><!-- {\"@type\":\"JobPosting\",\"title\":\"T\"} --></script>");
  EXPECT_EQ(e.links, (std::vector<std::string>{"/a", "/b"}));
  ASSERT_EQ(e.errors.size(), 1u);
  ASSERT_EQ(e.postings.size(), 1u);
  EXPECT_EQ(e.postings[0].title, "T");
  EXPECT_EQ(e.postings[0].missing.size(), 4u);
  // Deep nesting, nulls, binary junk: no crash.
  std::string deep(5000, '[');
  std::vector<JobPosting> out;
  EXPECT_NE(ExtractJsonLd(deep, &out), "");
  EXPECT_NE(ExtractJsonLd("", &out), "");
  EXPECT_EQ(ExtractJsonLd("{\"@type\":\"JobPosting\",\"title\":null,\"jobLocationType\":\"TELECOMMUTE\"}", &out), "");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].location, "remote");
  PageExtract junk = ExtractHtml(std::string("\0\xff<<<>>>&&&#;", 14));
  EXPECT_TRUE(junk.postings.empty());
  std::string nested;
  for (int i = 0; i < 3000; ++i) nested += "<div>";
  PageExtract n = ExtractHtml(nested + "<a href=/deep>d</a>");
  (void)n;
  PageExtract meta = ExtractHtml("<meta name=robots content='noindex, nofollow'><meta name=description content=' d '>");
  EXPECT_TRUE(meta.noindex);
  EXPECT_TRUE(meta.nofollow);
  EXPECT_EQ(meta.meta_description, "d");
}

}  // namespace
}  // namespace hakone::crawl
