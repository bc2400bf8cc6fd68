// `hakone crawl` against a generated careers site served by a real nginx on loopback
// (tests/integration/crawl/make_site.py), with a _bulk receiver and a real Prometheus
// Pushgateway: robots rules, sitemaps (gzip index), JSON-LD + microdata postings, broken HTML,
// redirects and a loop, 429s with Retry-After, a 503, a slow page, duplicates; re-crawl with
// conditional GET; SIGTERM → exit 0, checkpoint, resume.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "process_util.h"

namespace hakone::testing {
namespace {

namespace json = boost::json;
const std::string kFixtures = std::string(HAKONE_SOURCE_DIR) + "/tests/integration/crawl";

std::string ReadFile(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int CountMatches(const std::string& text, const std::string& re) {
  std::regex r(re);
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), r), std::sregex_iterator()));
}

class Site {
 public:
  explicit Site(int pages, bool bench = false) : dir_(MakeTempDir("hakone-crawl")), port_(FreePort()), port2_(FreePort()) {
    std::vector<std::string> argv = {"/usr/bin/python3", kFixtures + "/make_site.py", dir_, std::to_string(port_),
                                     "--pages", std::to_string(pages)};
    if (bench) argv.push_back("--bench");
    else {
      argv.push_back("--robots-500-port");
      argv.push_back(std::to_string(port2_));
    }
    std::string out;
    EXPECT_EQ(RunCommand(argv, &out, true), 0) << out;
    nginx_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/nginx", "-p", dir_, "-c", dir_ + "/nginx.conf"}, dir_ + "/nginx.out");
    EXPECT_TRUE(WaitForPort(port_)) << ReadFile(dir_ + "/nginx.out") << ReadFile(dir_ + "/error.log");
  }
  ~Site() {
    nginx_.reset();
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "kept %s for inspection\n", dir_.c_str());
    } else {
      RemoveTree(dir_);
    }
  }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string url2(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port2_) + path; }
  const std::string& dir() const { return dir_; }
  int port2() const { return port2_; }
  std::string AccessLog() const { return ReadFile(dir_ + "/access.log"); }
  json::value Expected() const { return json::parse(ReadFile(dir_ + "/expected.json")); }

  std::string WriteConfig(const std::string& extra, const std::string& output) const {
    std::string p = dir_ + "/crawl.toml";
    std::ofstream f(p);
    f << "[crawl]\n" << extra << "state_path = \"" << dir_ << "/state.db\"\n"
      << "user_agent = \"hakone-crawler/1.0 (+it)\"\n[crawl.output]\n" << output;
    return p;
  }

  struct Run {
    int rc;
    json::object summary;
    std::string log;
  };
  Run Crawl(const std::string& config, std::chrono::seconds timeout = std::chrono::seconds(120)) const {
    Process p({HAKONE_BINARY, "crawl", "--config", config, "--once"}, dir_ + "/crawl.out");
    int rc = p.Wait(timeout);
    return Parse(rc, p.Log());
  }
  static Run Parse(int rc, const std::string& log) {
    Run r{rc, {}, log};
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("{\"pages\":", 0) == 0) r.summary = json::parse(line).as_object();
    }
    return r;
  }

 private:
  std::string dir_;
  int port_, port2_;
  std::unique_ptr<Process> nginx_;
};

int64_t I(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->as_int64() : -1;
}

std::string Sql(const std::string& db, const std::string& q) {
  std::string out;
  RunCommand({"/usr/bin/sqlite3", db, q}, &out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(CrawlSiteTest, FullSiteWithTrapsBulkSinkTableAndPushgateway) {
  Site site(40);
  std::string dir = site.dir();
  int bulk_port = FreePort();
  Process bulk({"/usr/bin/python3", kFixtures + "/bulk_receiver.py", std::to_string(bulk_port), dir + "/bulk.ndjson"},
               dir + "/bulk.log");
  int pg_port = FreePort();
  Process pushgw({"/usr/bin/prometheus-pushgateway", "--web.listen-address=127.0.0.1:" + std::to_string(pg_port),
                  "--persistence.file=" + dir + "/pushgw.data"},
                 dir + "/pushgw.log");
  ASSERT_TRUE(WaitForPort(bulk_port));
  std::ofstream(dir + "/token") << "s3cret-token\n";
  ASSERT_TRUE(WaitForPort(pg_port));

  std::string cfg = site.WriteConfig(
      "seeds = [\"" + site.url() + "\", \"" + site.url2("/index.html") + "\"]\n"
      "sitemaps = [\"" + site.url("/sitemap-index.xml.gz") + "\"]\n"
      "concurrency = 4\nper_host_concurrency = 2\ntimeout = \"2s\"\nretries = 3\nretry_backoff = \"100ms\"\n"
      "adaptive_throttle = false\n"
      "max_delay = \"5s\"\nlabels = [\"env=it\"]\npushgateway = \"http://127.0.0.1:" + std::to_string(pg_port) + "\"\n",
      "es_url = \"http://127.0.0.1:" + std::to_string(bulk_port) + "\"\nbulk_max_docs = 7\n"
      "es_token_file = \"" + dir + "/token\"\n"
      "table = \"sqlite:" + dir + "/jobs.db\"\n");
  auto run = site.Crawl(cfg);
  // 503 after retries, the redirect loop and the slow page's timeout are errors: partial.
  EXPECT_EQ(run.rc, 2) << run.log;
  const auto& s = run.summary;
  ASSERT_FALSE(s.empty()) << run.log;
  EXPECT_EQ(I(s, "postings"), 40) << run.log;
  EXPECT_EQ(I(s, "postings_invalid"), 5);
  EXPECT_GE(I(s, "robots_denied"), 2);  // /private/secret.html and everything on the robots-500 host
  EXPECT_GE(I(s, "duplicates"), 1);     // dup-a / dup-b (and /careers/ vs /careers/index.html)
  EXPECT_GE(I(s, "redirects"), 4);
  EXPECT_EQ(I(s, "not_found"), 1);
  const auto& errors = s.at("errors").as_object();
  EXPECT_EQ(I(errors, "http_5xx"), 1);
  EXPECT_EQ(I(errors, "redirect_loop"), 1);
  EXPECT_EQ(I(errors, "timeout"), 1);

  // JSON logs readable by Cloud Logging.
  EXPECT_NE(run.log.find("\"severity\":\"WARNING\""), std::string::npos);
  EXPECT_NE(run.log.find("\"logging.googleapis.com/labels\":{\"component\":\"crawl\",\"env\":\"it\",\"shard\":\"0\"}"),
            std::string::npos);
  EXPECT_NE(run.log.find("\"missing\":\"datePosted,jobLocation\""), std::string::npos);

  // Robots: never fetched what is disallowed; the robots-500 host saw only its robots.txt.
  std::string access = site.AccessLog();
  EXPECT_EQ(access.find("GET /private/secret.html"), std::string::npos);
  EXPECT_NE(access.find("GET /private/ok.html"), std::string::npos);
  EXPECT_EQ(CountMatches(access, "(^|\n)" + std::to_string(site.port2()) + " [^\n]*GET /index.html"), 0)
      << "the robots-500 host's page was fetched";
  EXPECT_EQ(CountMatches(access, "(^|\n)" + std::to_string(site.port2()) + " [^\n]*GET /robots.txt HTTP/1.1\" 500"), 1);
  EXPECT_GE(CountMatches(access, "GET /throttled/t[0-9].html HTTP/1.1\" 429"), 1);
  EXPECT_EQ(CountMatches(access, "GET /throttled/t[0-9].html HTTP/1.1\" 200"), 4);
  EXPECT_EQ(CountMatches(access, "GET /careers/job-[0-9]+.html HTTP/1.1\" 200"), 40);  // each once

  // Tables the graph reads: every posting (sitemap-only orphans too), companies.
  std::string db = dir + "/jobs.db";
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM crawl_jobs"), "40");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM crawl_companies"), "5");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM crawl_jobs WHERE missing_properties <> ''"), "5");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM crawl_jobs j JOIN crawl_companies c USING(company_id)"), "40");
  json::value expected = site.Expected();
  ASSERT_FALSE(expected.at("orphans").as_array().empty());
  for (const auto& id : expected.at("orphans").as_array()) {
    EXPECT_EQ(Sql(db, "SELECT count(*) FROM crawl_jobs WHERE identifier='" + std::string(id.as_string()) + "'"), "1");
  }
  EXPECT_EQ(Sql(db, "SELECT salary_min, location, employment_type FROM crawl_jobs WHERE identifier='JOB-00002'"),
            "5000002.0|Berlin, DE|FULL_TIME");
  EXPECT_EQ(Sql(db, "SELECT title, source, location FROM crawl_jobs WHERE identifier='JOB-00003'"),
            "Analyst 3|microdata|Paris, FR");

  // _bulk sink: crawl.jobs and crawl.pages documents.
  std::string nd = ReadFile(dir + "/bulk.ndjson");
  std::set<std::string> job_ids;
  int pages = 0;
  std::istringstream in(nd);
  std::string action, doc;
  while (std::getline(in, action) && std::getline(in, doc)) {
    auto a = json::parse(action).at("index").as_object();
    auto d = json::parse(doc).as_object();
    if (a.at("_index") == "crawl.jobs") {
      job_ids.insert(std::string(d.at("identifier").as_string()));
      EXPECT_TRUE(d.contains("hiring_organization"));
    } else {
      EXPECT_EQ(a.at("_index"), "crawl.pages");
      ++pages;
    }
  }
  EXPECT_EQ(job_ids.size(), 40u);
  EXPECT_EQ(ReadFile(dir + "/bulk.ndjson.auth"), "Bearer s3cret-token");
  EXPECT_EQ(pages, I(s, "pages"));

  // Pushgateway: run metrics, but no last_success on a partial run.
  std::string metrics;
  ASSERT_EQ(HttpCall(pg_port, "GET", "/metrics", {}, "", &metrics), 200);
  EXPECT_NE(metrics.find("hakone_crawl_postings{instance=\"\",job=\"hakone_crawl\",shard=\"0\"} 40"), std::string::npos)
      << metrics.substr(0, 3000);
  EXPECT_NE(metrics.find("hakone_crawl_exit_code{instance=\"\",job=\"hakone_crawl\",shard=\"0\"} 2"), std::string::npos);
  EXPECT_EQ(metrics.find("hakone_crawl_last_success_timestamp_seconds{"), std::string::npos);

  // Re-crawl: conditional GETs, only the changed page is fetched and re-emitted.
  {
    std::ofstream f(dir + "/www/careers/job-6.html", std::ios::app);
    f << "<!-- changed -->";
  }
  auto before = access.size();
  auto rerun = site.Crawl(cfg);
  EXPECT_EQ(rerun.rc, 2) << rerun.log;
  EXPECT_EQ(I(rerun.summary, "postings"), 1) << rerun.log;
  EXPECT_GE(I(rerun.summary, "unchanged"), 40);
  std::string access2 = site.AccessLog().substr(before);
  EXPECT_EQ(CountMatches(access2, "GET /careers/job-[0-9]+.html HTTP/1.1\" 200"), 1) << access2;
  EXPECT_GE(CountMatches(access2, "GET /careers/job-[0-9]+.html HTTP/1.1\" 304"), 39);
  // The robots-500 verdict is cached for robots_error_hold: no new robots.txt request there.
  EXPECT_EQ(CountMatches(access2, "GET /robots.txt HTTP/1.1\" 500"), 0);
}

TEST(CrawlSiteTest, CleanRunExitsZeroAndPushesLastSuccess) {
  Site site(30, /*bench=*/true);
  int pg_port = FreePort();
  Process pushgw({"/usr/bin/prometheus-pushgateway", "--web.listen-address=127.0.0.1:" + std::to_string(pg_port),
                  "--persistence.file=" + site.dir() + "/pushgw.data"},
                 site.dir() + "/pushgw.log");
  ASSERT_TRUE(WaitForPort(pg_port));
  std::string cfg = site.WriteConfig("seeds = [\"" + site.url() + "\"]\nadaptive_throttle = false\n"
                                     "pushgateway = \"http://127.0.0.1:" + std::to_string(pg_port) + "\"\n",
                                     "table = \"sqlite:" + site.dir() + "/jobs.db\"\n");
  auto run = site.Crawl(cfg);
  EXPECT_EQ(run.rc, 0) << run.log;
  EXPECT_EQ(I(run.summary, "postings"), 30);
  std::string metrics;
  ASSERT_EQ(HttpCall(pg_port, "GET", "/metrics", {}, "", &metrics), 200);
  EXPECT_NE(metrics.find("hakone_crawl_last_success_timestamp_seconds{instance=\"\",job=\"hakone_crawl\",shard=\"0\"}"),
            std::string::npos);
}

TEST(CrawlSiteTest, SigtermCheckpointsAndNextRunResumes) {
  Site site(300, /*bench=*/true);
  std::string cfg = site.WriteConfig("seeds = [\"" + site.url() + "\"]\nconcurrency = 2\nper_host_concurrency = 2\n"
                                     "delay = \"20ms\"\nadaptive_throttle = false\n",
                                     "table = \"sqlite:" + site.dir() + "/jobs.db\"\n");
  Process p({HAKONE_BINARY, "crawl", "--config", cfg, "--once"}, site.dir() + "/crawl1.out");
  for (int i = 0; i < 200; ++i) {
    if (CountMatches(site.AccessLog(), "job-[0-9]+.html HTTP/1.1\" 200") >= 60) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto t0 = std::chrono::steady_clock::now();
  p.Signal(SIGTERM);
  int rc = p.Wait(std::chrono::seconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto first = Site::Parse(rc, p.Log());
  EXPECT_EQ(rc, 0) << first.log;
  EXPECT_TRUE(first.summary.at("interrupted").as_bool());
  int64_t got = I(first.summary, "postings");
  EXPECT_GT(got, 0);
  EXPECT_LT(got, 300);

  auto second = site.Crawl(cfg);
  EXPECT_EQ(second.rc, 0) << second.log;
  EXPECT_TRUE(second.summary.at("resumed").as_bool());
  EXPECT_EQ(got + I(second.summary, "postings"), 300);
  EXPECT_EQ(Sql(site.dir() + "/jobs.db", "SELECT count(*) FROM crawl_jobs"), "300");
  // nothing fetched twice across the two runs
  EXPECT_EQ(CountMatches(site.AccessLog(), "GET /careers/job-[0-9]+.html HTTP/1.1\" 200"), 300);
}

// A sitemap of 3,000 URLs queues more than the in-memory frontier window (1,024 items): the rest
// waits in the state db and is read back in order; a SIGTERM in the middle of that and a resumed
// run still fetch every page exactly once.
TEST(CrawlSiteTest, LargeFrontierSpillsToStateDbAndResumes) {
  Site site(3000, /*bench=*/true);
  std::string cfg = site.WriteConfig("sitemaps = [\"" + site.url("/sitemap-index.xml.gz") + "\"]\n"
                                     "concurrency = 4\nper_host_concurrency = 4\n"
                                     "delay = \"4ms\"\nadaptive_throttle = false\n",
                                     "table = \"sqlite:" + site.dir() + "/jobs.db\"\n");
  Process p({HAKONE_BINARY, "crawl", "--config", cfg, "--once"}, site.dir() + "/crawl1.out");
  for (int i = 0; i < 600; ++i) {
    if (CountMatches(site.AccessLog(), "job-[0-9]+.html HTTP/1.1\" 200") >= 1300) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  p.Signal(SIGTERM);
  int rc = p.Wait(std::chrono::seconds(20));
  auto first = Site::Parse(rc, p.Log());
  EXPECT_EQ(rc, 0) << first.log;
  int64_t got = I(first.summary, "postings");
  EXPECT_GE(got, 1300);
  EXPECT_LT(got, 3000) << "the run ended before the signal: make the site slower";
  // the unfetched part of the frontier is in the state db, pending
  EXPECT_GE(std::stoll(Sql(site.dir() + "/state.db", "SELECT count(*) FROM frontier WHERE state=0")), 3000 - got);

  auto second = site.Crawl(cfg);
  EXPECT_EQ(second.rc, 0) << second.log;
  EXPECT_TRUE(second.summary.at("resumed").as_bool());
  EXPECT_EQ(got + I(second.summary, "postings"), 3000);
  EXPECT_EQ(Sql(site.dir() + "/jobs.db", "SELECT count(*) FROM crawl_jobs"), "3000");
  EXPECT_EQ(Sql(site.dir() + "/state.db", "SELECT count(*) FROM frontier WHERE state=0"), "0");
  // every job page fetched exactly once across the two runs
  std::string log = site.AccessLog();
  std::regex re("GET /careers/job-([0-9]+)\\.html HTTP/1.1\" 200");
  std::map<std::string, int> per_page;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
    per_page[(*it)[1].str()]++;
  }
  EXPECT_EQ(per_page.size(), 3000u);
  int twice = 0;
  for (const auto& kv : per_page) twice += kv.second > 1;
  EXPECT_EQ(twice, 0);
}

TEST(CrawlSiteTest, BadConfigFailsWithExit1) {
  std::string dir = MakeTempDir("hakone-crawl-cfg");
  std::ofstream(dir + "/bad.toml") << "[crawl]\nseeds = []\nconcurrency = 0\nbogus = 1\n";
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "crawl", "--config", dir + "/bad.toml"}, &out, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("[crawl]"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "crawl", "--help"}, &out, true), 0);
  EXPECT_NE(out.find("--once"), std::string::npos);
  RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
