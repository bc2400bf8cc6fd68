// The crawler's in-process store output against a real EventStore published in store/local.h.
#include <gtest/gtest.h>

#include <filesystem>

#include "crawl/outputs.h"
#include "store/event_store.h"
#include "store/local.h"

namespace hakone::crawl {
namespace {

TEST(StoreOutput, WritesPagesAndPostingsToTheProcessStore) {
  store::SetProcessStore(nullptr);
  auto none = NewStoreOutput("crawl.pages", "crawl.jobs", 2, true);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("needs the in-process store"), std::string::npos) << none.status().ToString();

  std::string dir = "/tmp/hakone-crawl-store-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  store::EventStoreOptions so;
  so.dir = dir + "/store";
  auto es = store::EventStore::Open(so);
  ASSERT_TRUE(es.ok()) << es.status().ToString();
  store::SetProcessStore(es->get());
  auto out = NewStoreOutput("crawl.pages", "crawl.jobs", 2, true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();

  JobPosting jp;
  jp.title = "Backend Engineer";
  jp.description = "Build the crawler";
  jp.date_posted = "2026-11-01";
  jp.org_name = "Acme Corp";
  for (int i = 0; i < 3; i++) {
    PostingDoc d;
    d.job_id = "job-" + std::to_string(i);
    d.company_id = CompanyId("Acme Corp");
    d.url = "http://site.test/jobs/" + std::to_string(i);
    d.crawled_at = "2026-11-27T00:00:00Z";
    d.posting = &jp;
    ASSERT_TRUE((*out)->Posting(d).ok());
  }
  PageDoc p;
  p.url = "http://site.test/";
  p.final_url = p.url;
  p.status = 200;
  p.fetched_at = "2026-11-27T00:00:00Z";
  ASSERT_TRUE((*out)->Page(p).ok());
  ASSERT_TRUE((*out)->Flush().ok());
  // A re-crawl writes the same ids again: updated, not duplicated.
  PostingDoc again;
  again.job_id = "job-0";
  again.company_id = CompanyId("Acme Corp");
  again.url = "http://site.test/jobs/0";
  again.crawled_at = "2026-11-28T00:00:00Z";
  again.posting = &jp;
  ASSERT_TRUE((*out)->Posting(again).ok());
  Status fl = (*out)->Flush();
  ASSERT_TRUE(fl.ok()) << fl.ToString();

  ASSERT_TRUE((*es)->Refresh().ok());
  auto jobs = (*es)->Count({"crawl.jobs"}, nullptr);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  EXPECT_EQ(*jobs, 3u);
  auto pages = (*es)->Count({"crawl.pages"}, nullptr);
  ASSERT_TRUE(pages.ok());
  EXPECT_EQ(*pages, 1u);
  auto doc = (*es)->Get("crawl.jobs", "job-1");
  ASSERT_TRUE(doc.ok());
  ASSERT_TRUE(doc->has_value());
  EXPECT_NE((*doc)->find("Backend Engineer"), std::string::npos) << **doc;

  // The store goes away (shutdown): the next flush is an error, not a silent loss.
  store::SetProcessStore(nullptr);
  ASSERT_TRUE((*out)->Posting(again).ok());
  EXPECT_FALSE((*out)->Flush().ok());
  (*es)->Close();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hakone::crawl
