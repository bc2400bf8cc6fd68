// Tests of the crawler's configuration: Indexed Job indexes with and without a shared frontier,
// and malformed values refused with the key named.
#include <cstdlib>

#include <gtest/gtest.h>

#include "core/config.h"
#include "crawl/crawl.h"

namespace hakone::crawl {
namespace {

Result<CrawlConfig> Load(const std::string& toml) {
  auto c = Config::LoadString(toml);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return LoadCrawlConfig(*c);
}

class JobIndexEnv {
 public:
  explicit JobIndexEnv(const char* v) { ::setenv("JOB_COMPLETION_INDEX", v, 1); }
  ~JobIndexEnv() { ::unsetenv("JOB_COMPLETION_INDEX"); }
};

TEST(CrawlConfigTest, IndexedJobShardsByCompletionIndexWithoutFrontier) {
  JobIndexEnv env("2");
  auto c = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nshard_count = 4\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->shard_index, 2);
  EXPECT_EQ(c->worker_index, 2);
}

TEST(CrawlConfigTest, SharedFrontierKeepsOneShardButDistinctWorkerIndex) {
  JobIndexEnv env("3");
  auto c = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nfrontier = \"redis://127.0.0.1:6379\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->shard_index, 0);   // one queue: no host sharding
  EXPECT_EQ(c->worker_index, 3);  // but its own Pushgateway group and log label
}

TEST(CrawlConfigTest, WithoutJobIndexWorkerIsTheShard) {
  ::unsetenv("JOB_COMPLETION_INDEX");
  auto c = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nshard_count = 3\nshard_index = 1\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->worker_index, 1);
}

TEST(CrawlConfigTest, MalformedValuesNameTheKey) {
  ::unsetenv("JOB_COMPLETION_INDEX");
  auto c = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nshard_count = 2\nshard_index = 5\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("shard_index"), std::string::npos) << c.status().message();
  auto d = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nconcurrency = 0\n");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("concurrency"), std::string::npos) << d.status().message();
  auto e = Load("[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nfrontier = \"redis://h:1\"\nshard_count = 2\n");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("frontier"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace hakone::crawl
