// `hakone crawl`: a polite, resumable batch crawler that extracts schema.org JobPostings.
//
// One run: seeds and sitemaps → frontier (SQLite, or Redis when shared by several crawlers) →
// N worker threads fetch with per-host politeness (robots.txt, delay, adaptive throttle,
// Retry-After, backoff) → extraction → outputs
// (Elasticsearch `_bulk` sink for the `crawl.pages` / `crawl.jobs` streams, and the
// `crawl_jobs` / `crawl_companies` tables in SQLite or PostgreSQL) → summary, metrics push.
// See docs/crawl.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "crawl/fetcher.h"
#include "crawl/url_filter.h"

namespace hakone::crawl {

struct CrawlConfig {
  std::vector<std::string> seeds;     // start pages (depth 0)
  std::vector<std::string> sitemaps;  // sitemap or sitemap index URLs (their URLs are depth 0)
  bool robots_sitemaps = false;       // also follow Sitemap: lines of the seeds' robots.txt
  FilterConfig filter;                // allow/deny regexes, same_site, max_depth
  int64_t max_pages = 100000;         // fetches per run (robots.txt and sitemaps not counted)
  std::chrono::milliseconds max_duration{std::chrono::hours(1)};  // then stop; next run resumes

  int concurrency = 16;               // worker threads (requests in flight, all hosts)
  int per_host_concurrency = 8;       // requests in flight per host
  std::chrono::milliseconds delay{0};                      // minimum delay between requests to a host
  std::chrono::milliseconds max_delay{60000};              // cap for throttle, Crawl-delay, Retry-After
  bool adaptive_throttle = true;      // AutoThrottle: delay follows latency / target_concurrency
  double target_concurrency = 1.0;

  bool obey_robots = true;
  std::chrono::milliseconds robots_ttl{std::chrono::hours(24)};       // cached robots.txt lifetime
  std::chrono::milliseconds robots_error_hold{std::chrono::hours(1)};  // 5xx/unreachable → disallow all this long

  FetchOptions fetch;                 // user agent, timeouts, max body, TLS verification
  int max_redirects = 5;
  int retries = 3;                    // extra attempts after 429/5xx/timeouts/connection errors
  std::chrono::milliseconds retry_backoff{1000};  // doubled per attempt (unless Retry-After says more)

  std::string state_path = "crawl-state.db";  // SQLite: frontier, fetch history, robots cache
  int shard_index = 0, shard_count = 1;       // this worker crawls hosts with hash % count == index
  // This process among the Job's pods (JOB_COMPLETION_INDEX, else shard_index): the Pushgateway
  // grouping key and the `shard` log label, so pods sharing a Redis frontier don't overwrite each
  // other's pushed metrics.
  int worker_index = 0;
  // Shared frontier: "redis://..." makes the queue and seen-set live in Redis so several
  // processes crawl one site between them (each URL fetched once); "" keeps it in state_path.
  // Fetch history and the robots.txt cache stay in state_path. Incompatible with shard_count > 1.
  std::string frontier;
  std::string frontier_key = "hakone:crawl";                  // key prefix in Redis
  std::chrono::milliseconds frontier_lease{std::chrono::minutes(10)};  // in-flight lease; expired → requeued
  size_t text_limit = 4096;                   // bytes of page text kept in page documents

  // outputs
  std::string es_url;                   // Elasticsearch-compatible base URL ("" = off)
  std::string es_token;                 // Bearer token for es_url (read from es_token_file)
  std::string pages_index = "crawl.pages", jobs_index = "crawl.jobs";
  int bulk_max_docs = 500;
  bool emit_pages = true;               // send page documents (postings are always sent)
  bool store = false;                   // write pages/postings to the in-process event store (under
                                        // `hakone serve` / the demo), durably, no HTTP
  std::string table;                    // "sqlite:PATH" or "postgresql://..." ("" = off)

  std::string pushgateway;              // "http://host:9091" ("" = off)
  std::string push_job = "hakone_crawl";
  std::map<std::string, std::string> labels;  // logging.googleapis.com/labels and push grouping
  std::chrono::milliseconds interval{0};      // without --once: repeat the run this often (0: one run)
};

// Reads [crawl] and [crawl.output]; JOB_COMPLETION_INDEX (Kubernetes Indexed Job) overrides
// shard_index. Errors name the key ("config: [crawl] concurrency: must be >= 1").
Result<CrawlConfig> LoadCrawlConfig(const Config& cfg);

// OK for a redis://[[user]:password@]host[:port][/db] URL; InvalidArgument saying what is wrong.
Status CheckFrontierUrl(const std::string& url);

struct CrawlSummary {
  int64_t pages = 0;             // pages fetched with a 2xx answer (new or changed)
  int64_t unchanged = 0;         // 304, or the same content hash as last time
  int64_t duplicates = 0;        // same content as another URL in this run
  int64_t postings = 0;          // JobPostings extracted
  int64_t postings_invalid = 0;  // ... with missing required properties
  int64_t robots_denied = 0, filtered = 0, redirects = 0, not_found = 0, retries = 0;
  int64_t bytes = 0;             // bytes received
  std::map<std::string, int64_t> errors;  // kind → count (after retries)
  double duration_s = 0;
  bool interrupted = false;      // SIGTERM / stop flag: frontier checkpointed, next run resumes
  bool limit_reached = false;    // max_duration (resumes) or max_pages
  bool resumed = false;          // this run continued an unfinished one
  std::string fatal;             // set when the run failed as a whole (state, outputs)
  int64_t ErrorCount() const;
  // 0 ok (also after a clean SIGTERM stop), 2 partial (some fetches failed), 1 failed.
  int ExitCode() const;
  std::string ToJson() const;
};

// Runs one crawl. `stop` (may be null) is polled: when it turns true the run stops fetching,
// lets requests in flight finish, flushes outputs, checkpoints the frontier and returns.
CrawlSummary RunCrawl(const CrawlConfig& cfg, const std::atomic<bool>* stop);

}  // namespace hakone::crawl
