#include <cstdlib>
#include <fstream>

#include "core/resp_client.h"
#include "crawl/crawl.h"

namespace hakone::crawl {
namespace {
std::chrono::milliseconds Ms(std::chrono::nanoseconds n) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(n);
}
}  // namespace

Status CheckFrontierUrl(const std::string& url) {
  if (!url.starts_with("redis://")) return Status::InvalidArgument("must be a redis:// URL (got '" + url + "')");
  auto p = ParseRedisUrl(url);
  return p.ok() ? Status::Ok() : p.status();
}

Result<CrawlConfig> LoadCrawlConfig(const Config& config) {
  CrawlConfig c;
  // One hakone.toml serves every component: other sections belong to them.
  for (const auto& k : config.Root().Keys()) {
    if (k != "crawl") config.Root().Ignore(k);
  }
  ConfigSection s = config.Section("crawl");
  if (!s.present()) return Status::InvalidArgument("config: [crawl] section is required for hakone crawl");
  c.seeds = s.StringList("seeds");
  c.sitemaps = s.StringList("sitemaps");
  c.robots_sitemaps = s.Bool("robots_sitemaps", c.robots_sitemaps);
  c.filter.allow = s.StringList("allow");
  c.filter.deny = s.StringList("deny");
  c.filter.same_site = s.Bool("same_site", c.filter.same_site);
  c.filter.max_depth = static_cast<int>(s.Int("max_depth", c.filter.max_depth));
  c.max_pages = s.Int("max_pages", c.max_pages);
  c.max_duration = Ms(s.Duration("max_duration", c.max_duration));
  c.concurrency = static_cast<int>(s.Int("concurrency", c.concurrency));
  c.per_host_concurrency = static_cast<int>(s.Int("per_host_concurrency", c.per_host_concurrency));
  c.delay = Ms(s.Duration("delay", c.delay));
  c.max_delay = Ms(s.Duration("max_delay", c.max_delay));
  c.adaptive_throttle = s.Bool("adaptive_throttle", c.adaptive_throttle);
  c.target_concurrency = s.Double("target_concurrency", c.target_concurrency);
  c.obey_robots = s.Bool("obey_robots", c.obey_robots);
  c.robots_ttl = Ms(s.Duration("robots_ttl", c.robots_ttl));
  c.robots_error_hold = Ms(s.Duration("robots_error_hold", c.robots_error_hold));
  c.fetch.user_agent = s.String("user_agent", "hakone-crawler/1.0 (+https://github.com/hakone)");
  c.fetch.timeout = Ms(s.Duration("timeout", c.fetch.timeout));
  c.fetch.connect_timeout = Ms(s.Duration("connect_timeout", c.fetch.connect_timeout));
  c.fetch.max_body = s.Size("max_body", c.fetch.max_body);
  c.fetch.verify_tls = s.Bool("verify_tls", c.fetch.verify_tls);
  c.max_redirects = static_cast<int>(s.Int("max_redirects", c.max_redirects));
  c.retries = static_cast<int>(s.Int("retries", c.retries));
  c.retry_backoff = Ms(s.Duration("retry_backoff", c.retry_backoff));
  c.state_path = s.String("state_path", c.state_path);
  c.shard_index = static_cast<int>(s.Int("shard_index", c.shard_index));
  c.shard_count = static_cast<int>(s.Int("shard_count", c.shard_count));
  c.frontier = s.String("frontier", "");
  c.frontier_key = s.String("frontier_key", c.frontier_key);
  c.frontier_lease = Ms(s.Duration("frontier_lease", c.frontier_lease));
  c.text_limit = s.Size("text_limit", c.text_limit);
  c.interval = Ms(s.Duration("interval", c.interval));
  c.pushgateway = s.String("pushgateway", "");
  c.push_job = s.String("push_job", c.push_job);
  for (const auto& kv : s.StringList("labels")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      s.Fail("labels", "entries must be key=value (got '" + kv + "')");
      continue;
    }
    c.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  ConfigSection o = s.Section("output");
  c.es_url = o.String("es_url", "");
  c.pages_index = o.String("pages_index", c.pages_index);
  c.jobs_index = o.String("jobs_index", c.jobs_index);
  c.bulk_max_docs = static_cast<int>(o.Int("bulk_max_docs", c.bulk_max_docs));
  c.emit_pages = o.Bool("emit_pages", c.emit_pages);
  c.table = o.String("table", "");
  c.store = o.Bool("store", false);
  if (std::string tf = o.String("es_token_file", ""); !tf.empty()) {
    std::ifstream in(tf);
    std::getline(in, c.es_token);
    while (!c.es_token.empty() && (c.es_token.back() == '\r' || c.es_token.back() == ' ')) c.es_token.pop_back();
    if (!in && c.es_token.empty()) o.Fail("es_token_file", "cannot read '" + tf + "'");
  }

  // With a shared (Redis) frontier every pod takes work from the one queue: no host sharding.
  c.worker_index = c.shard_index;
  if (const char* idx = std::getenv("JOB_COMPLETION_INDEX"); idx && *idx) {
    c.worker_index = std::atoi(idx);
    if (c.frontier.empty()) c.shard_index = c.worker_index;
  }
  if (const char* env = std::getenv("HAKONE_ENV"); env && *env && !c.labels.count("env")) c.labels["env"] = env;
  if (c.seeds.empty() && c.sitemaps.empty()) s.Fail("seeds", "at least one of seeds or sitemaps is required");
  if (c.concurrency < 1 || c.concurrency > 1024) s.Fail("concurrency", "must be 1..1024");
  if (c.per_host_concurrency < 1) s.Fail("per_host_concurrency", "must be >= 1");
  if (c.max_pages < 1) s.Fail("max_pages", "must be >= 1");
  if (c.filter.max_depth < 0) s.Fail("max_depth", "must be >= 0");
  if (c.retries < 0 || c.retries > 20) s.Fail("retries", "must be 0..20");
  if (c.max_redirects < 0 || c.max_redirects > 30) s.Fail("max_redirects", "must be 0..30");
  if (c.target_concurrency <= 0) s.Fail("target_concurrency", "must be > 0");
  if (c.shard_count < 1) s.Fail("shard_count", "must be >= 1");
  if (c.shard_index < 0 || c.shard_index >= c.shard_count) {
    s.Fail("shard_index", "must be in 0..shard_count-1 (JOB_COMPLETION_INDEX counts too)");
  }
  if (!c.frontier.empty()) {
    if (Status st = CheckFrontierUrl(c.frontier); !st.ok()) s.Fail("frontier", st.message());
    if (c.shard_count > 1) s.Fail("frontier", "a shared frontier replaces sharding: set shard_count = 1");
  }
  if (c.frontier_key.empty()) s.Fail("frontier_key", "must not be empty");
  if (c.frontier_lease < std::chrono::seconds(1)) s.Fail("frontier_lease", "must be >= 1s");
  if (c.bulk_max_docs < 1) o.Fail("bulk_max_docs", "must be >= 1");
  if (!c.table.empty() && !c.table.starts_with("sqlite:") && !c.table.starts_with("postgresql://") &&
      !c.table.starts_with("postgres://")) {
    o.Fail("table", "must be sqlite:PATH or postgresql://...");
  }
  HAKONE_RETURN_IF_ERROR(config.Finish());
  return c;
}

}  // namespace hakone::crawl
