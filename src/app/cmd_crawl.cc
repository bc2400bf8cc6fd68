// `hakone crawl --config FILE [--once]`: the scheduled crawler (src/crawl, docs/crawl.md).
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "app/commands.h"
#include "core/flags.h"
#include "core/log.h"
#include "crawl/crawl.h"

namespace hakone::app {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }
}  // namespace

int RunCrawl(int argc, char** argv) {
  // A batch process of its own: worker threads share two malloc arenas instead of one each
  // (glibc's default, 8 per core), which keeps the peak RSS low (bench/RESULTS.md, ## crawl).
  mallopt(M_ARENA_MAX, 2);
  std::string config_path, state_path, frontier;
  bool once = false, check = false;
  int64_t max_pages = 0;
  FlagSet f("hakone crawl",
            "A polite, resumable crawler that extracts schema.org JobPostings: robots.txt (RFC 9309),\n"
            "sitemaps, per-host politeness, conditional re-crawls; outputs to an Elasticsearch-compatible\n"
            "_bulk endpoint (crawl.pages / crawl.jobs) and to the crawl_jobs / crawl_companies tables.\n"
            "Exit codes: 0 ok (also after SIGTERM: checkpointed, the next run resumes), 2 partial (some\n"
            "fetches failed), 1 failed.");
  f.String("config", &config_path, "FILE", "hakone.toml with a [crawl] section (required)");
  f.Bool("once", &once, "run one crawl and exit, even when [crawl] interval is set");
  f.String("state", &state_path, "PATH", "SQLite state file (overrides [crawl] state_path)");
  f.String("frontier", &frontier, "URL",
           "Redis frontier shared by several crawlers, redis://[[user]:password@]host[:port][/db]");
  f.Int("max-pages", &max_pages, "N", "stop after N page fetches (overrides [crawl] max_pages)");
  f.Bool("check", &check, "only validate the configuration (with flags and HAKONE_CRAWL_* variables); exit 0 when valid");
  f.Epilog(
      "Examples:\n"
      "  hakone crawl --config crawl.toml --once\n"
      "  JOB_COMPLETION_INDEX=2 hakone crawl --config crawl.toml --once   # shard 2 of [crawl] shard_count\n"
      "  hakone crawl --config crawl.toml --once --frontier redis://redis:6379/0   # on every pod");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (config_path.empty()) {
    std::fprintf(stderr, "hakone crawl: --config FILE is required (see hakone crawl --help)\n");
    return 1;
  }
  auto cfg = Config::LoadFile(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "hakone crawl: %s\n", cfg.status().message().c_str());
    return 1;  // a scheduler must see "failed", not "partial" (2)
  }
  auto cc = crawl::LoadCrawlConfig(*cfg);
  if (!cc.ok()) {
    std::fprintf(stderr, "hakone crawl: %s\n", cc.status().message().c_str());
    return 1;
  }
  if (!state_path.empty()) cc->state_path = state_path;
  if (max_pages > 0) cc->max_pages = max_pages;
  if (!frontier.empty()) {
    if (Status st = crawl::CheckFrontierUrl(frontier); !st.ok()) {
      std::fprintf(stderr, "hakone crawl: --frontier: %s\n", st.message().c_str());
      return 1;
    }
    if (cc->shard_count > 1) {
      std::fprintf(stderr, "hakone crawl: --frontier: a shared frontier replaces sharding: set shard_count = 1\n");
      return 1;
    }
    cc->frontier = frontier;
  }
  if (check) {
    std::printf("crawl: config OK: %zu seeds, %zu sitemaps, frontier %s, shard %d/%d\n", cc->seeds.size(),
                cc->sitemaps.size(), cc->frontier.empty() ? "state db" : "redis", cc->shard_index, cc->shard_count);
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  while (true) {
    crawl::CrawlSummary s = crawl::RunCrawl(*cc, &g_stop);
    std::printf("%s\n", s.ToJson().c_str());
    std::fflush(stdout);
    if (once || cc->interval.count() == 0 || g_stop.load() || s.ExitCode() == 1) return s.ExitCode();
    auto until = std::chrono::steady_clock::now() + cc->interval;
    while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (g_stop.load()) return 0;
  }
}

}  // namespace hakone::app
