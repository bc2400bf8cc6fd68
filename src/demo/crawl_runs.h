// The demo's crawler: runs `hakone crawl` (crawl::RunCrawl) over the bundled job board every
// `interval`, keeps one record per finished run, and serves them as the status API the console's
// Crawler page reads through /api/crawl/*:
//
//   GET /api/crawl/runs       {"runs":[{"id","started","finished","state","pages","errors",
//                             "postings","unchanged","duration_s"}]}  newest first; a run in
//                             progress is listed with state "running"
//   GET /api/crawl/runs/{id}  the run plus "hosts":[{"host","pages","errors","status","robots"}]
//                             and "postings_sample":[{"title","company","url"}]
//   GET /healthz
//
// A run's record is built when it ends from the crawl's own records: the state database's
// `runs` row (id, start, end, status) and `history` rows (per host: pages, errors by status),
// the `crawl_jobs`/`crawl_companies` table (postings seen in the run) and the run's summary
// (counts). Records are appended to `runs_path` (JSON lines) and read back at start.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/component.h"
#include "core/runtime.h"
#include "core/status.h"
#include "crawl/crawl.h"

namespace hakone::demo {

struct CrawlServiceOptions {
  std::string listen = "127.0.0.1:9012";
  crawl::CrawlConfig crawl;          // state_path and table ("sqlite:PATH") must be set
  std::chrono::milliseconds interval{std::chrono::minutes(5)};  // between runs
  std::string runs_path;             // the run records (JSON lines)
};

// The record of the run that just ended, read from the crawl's state and table databases.
// Errors: IOError/InvalidArgument when a database cannot be read, NotFound without a run.
Result<std::string> CrawlRunRecord(const std::string& state_path, const std::string& table_sqlite_path,
                                   const crawl::CrawlSummary& summary);

// The crawler component: Start() opens the listener and starts the run loop (first run at once).
// finished_runs() counts runs ended since Start (for the demo's progress and tests).
class CrawlService : public Component {
 public:
  virtual int finished_runs() const = 0;
};
Result<std::unique_ptr<CrawlService>> MakeCrawlService(Runtime& rt, CrawlServiceOptions options);

}  // namespace hakone::demo
