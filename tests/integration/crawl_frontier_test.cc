// `hakone crawl` with a shared Redis frontier (real redis-server, real nginx serving the
// generated careers site on loopback): two crawlers crawl the site once between them; a crawler
// killed mid-run leaves its leased URLs to be recovered after the lease; bad frontier URLs and
// an unreachable Redis fail with exit 1 and a clear message.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <regex>
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

// job page path → number of 200 answers in the access log
std::map<std::string, int> JobFetches(const std::string& access) {
  std::map<std::string, int> n;
  std::regex r("GET (/careers/job-[0-9]+\\.html) HTTP/1.1\" 200");
  for (auto it = std::sregex_iterator(access.begin(), access.end(), r); it != std::sregex_iterator(); ++it) {
    n[(*it)[1].str()]++;
  }
  return n;
}

json::object Summary(const std::string& log) {
  json::object o;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("{\"pages\":", 0) == 0) o = json::parse(line).as_object();
  }
  return o;
}

int64_t I(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->as_int64() : -1;
}

class Env {
 public:
  explicit Env(int pages) : dir_(MakeTempDir("hakone-crawl-frontier")), port_(FreePort()), redis_port_(FreePort()) {
    std::string out;
    EXPECT_EQ(RunCommand({"/usr/bin/python3", kFixtures + "/make_site.py", dir_, std::to_string(port_), "--pages",
                          std::to_string(pages), "--bench"},
                         &out, true),
              0)
        << out;
    nginx_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/nginx", "-p", dir_, "-c", dir_ + "/nginx.conf"}, dir_ + "/nginx.out");
    redis_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(redis_port_), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", dir_},
        dir_ + "/redis.out");
    EXPECT_TRUE(WaitForPort(port_)) << ReadFile(dir_ + "/error.log");
    EXPECT_TRUE(WaitForPort(redis_port_)) << ReadFile(dir_ + "/redis.out");
  }
  ~Env() {
    nginx_.reset();
    redis_.reset();
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "kept %s for inspection\n", dir_.c_str());
    } else {
      RemoveTree(dir_);
    }
  }
  std::string redis_url() const { return "redis://127.0.0.1:" + std::to_string(redis_port_); }
  // One config per crawler: own state file and table, the shared frontier.
  std::string Config(const std::string& name, const std::string& extra) const {
    std::string p = dir_ + "/" + name + ".toml";
    std::ofstream f(p);
    f << "[crawl]\nseeds = [\"http://127.0.0.1:" << port_ << "/\"]\n"
      << "frontier = \"" << redis_url() << "/0\"\nfrontier_key = \"it:crawl\"\n"
      << "concurrency = 2\nper_host_concurrency = 2\nadaptive_throttle = false\n" << extra
      << "state_path = \"" << dir_ << "/" << name << "-state.db\"\n"
      << "[crawl.output]\ntable = \"sqlite:" << dir_ << "/" << name << "-jobs.db\"\n";
    return p;
  }
  std::unique_ptr<Process> Start(const std::string& config, const std::string& name,
                                 std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {HAKONE_BINARY, "crawl", "--config", config, "--once"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, dir_ + "/" + name + ".out");
  }
  std::string AccessLog() const { return ReadFile(dir_ + "/access.log"); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int port_, redis_port_;
  std::unique_ptr<Process> nginx_, redis_;
};

TEST(CrawlFrontierTest, TwoCrawlersShareOneFrontierEachPageOnce) {
  const int kPages = 150;
  Env env(kPages);
  std::string ca = env.Config("a", "delay = \"10ms\"\n");
  std::string cb = env.Config("b", "delay = \"10ms\"\n");
  auto a = env.Start(ca, "a");
  auto b = env.Start(cb, "b");
  int rca = a->Wait(std::chrono::seconds(120));
  int rcb = b->Wait(std::chrono::seconds(120));
  auto sa = Summary(a->Log()), sb = Summary(b->Log());
  EXPECT_EQ(rca, 0) << a->Log();
  EXPECT_EQ(rcb, 0) << b->Log();
  // Both took part, and together they found every posting exactly once.
  EXPECT_GT(I(sa, "postings"), 0) << a->Log();
  EXPECT_GT(I(sb, "postings"), 0) << b->Log();
  EXPECT_EQ(I(sa, "postings") + I(sb, "postings"), kPages);
  auto fetches = JobFetches(env.AccessLog());
  EXPECT_EQ(fetches.size(), static_cast<size_t>(kPages));
  for (const auto& [path, n] : fetches) EXPECT_EQ(n, 1) << path << " fetched " << n << " times";
  // Every page of the site (index, careers listing, jobs) at most once across both crawlers.
  std::string access = env.AccessLog();
  std::regex any("GET (/[^ ]*) HTTP/1.1\" 200");
  std::map<std::string, int> all;
  for (auto it = std::sregex_iterator(access.begin(), access.end(), any); it != std::sregex_iterator(); ++it) {
    all[(*it)[1].str()]++;
  }
  for (const auto& [path, n] : all) {
    if (path != "/robots.txt") EXPECT_EQ(n, 1) << path;
  }

  // The frontier is finished: the next run starts over (conditional GETs from each state file).
  auto again = env.Start(ca, "a2");
  EXPECT_EQ(again->Wait(std::chrono::seconds(120)), 0) << again->Log();
  auto s2 = Summary(again->Log());
  EXPECT_FALSE(s2.at("resumed").as_bool());
  // every page once more (same-content URLs such as /careers/ and /careers/index.html count as duplicates)
  EXPECT_EQ(I(s2, "pages") + I(s2, "unchanged") + I(s2, "duplicates"),
            static_cast<int64_t>(all.size() - all.count("/robots.txt")))
      << again->Log();
}

TEST(CrawlFrontierTest, KilledCrawlerLeasesAreRecovered) {
  const int kPages = 200;
  Env env(kPages);
  std::string cfg = env.Config("a", "delay = \"20ms\"\nfrontier_lease = \"1s\"\n");
  auto a = env.Start(cfg, "a");
  for (int i = 0; i < 300 && JobFetches(env.AccessLog()).size() < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  a->Signal(SIGKILL);
  a->Wait(std::chrono::seconds(10));
  size_t before = JobFetches(env.AccessLog()).size();
  EXPECT_GE(before, 40u);
  EXPECT_LT(before, static_cast<size_t>(kPages));

  auto b = env.Start(env.Config("b", ""), "b");
  int rc = b->Wait(std::chrono::seconds(120));
  EXPECT_EQ(rc, 0) << b->Log();
  auto sb = Summary(b->Log());
  EXPECT_TRUE(sb.at("resumed").as_bool()) << b->Log();
  EXPECT_NE(b->Log().find("lease expired"), std::string::npos) << b->Log();
  auto fetches = JobFetches(env.AccessLog());
  EXPECT_EQ(fetches.size(), static_cast<size_t>(kPages));
  // Only what the killed crawler had in flight (at most its concurrency) can be fetched twice.
  int twice = 0;
  for (const auto& [path, n] : fetches) {
    EXPECT_LE(n, 2) << path;
    twice += n - 1;
  }
  EXPECT_LE(twice, 2);
}

TEST(CrawlFrontierTest, SigtermReturnsLeasesAndTheOtherCrawlerFinishes) {
  const int kPages = 200;
  Env env(kPages);
  std::string cfg = env.Config("a", "delay = \"20ms\"\n");
  auto a = env.Start(cfg, "a");
  for (int i = 0; i < 300 && JobFetches(env.AccessLog()).size() < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  a->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(std::chrono::seconds(20)), 0) << a->Log();
  EXPECT_TRUE(Summary(a->Log()).at("interrupted").as_bool());
  // The lease is long (10 min default): b finishes only because a gave its URLs back.
  auto b = env.Start(env.Config("b", ""), "b");
  EXPECT_EQ(b->Wait(std::chrono::seconds(60)), 0) << b->Log();
  EXPECT_EQ(I(Summary(a->Log()), "postings") + I(Summary(b->Log()), "postings"), kPages) << b->Log();
  auto fetches = JobFetches(env.AccessLog());
  EXPECT_EQ(fetches.size(), static_cast<size_t>(kPages));
  for (const auto& [path, n] : fetches) EXPECT_EQ(n, 1) << path;
}

TEST(CrawlFrontierTest, BadOrUnreachableFrontierFailsWithExit1) {
  std::string dir = MakeTempDir("hakone-crawl-frontier-cfg");
  auto write = [&](const std::string& name, const std::string& frontier) {
    std::string p = dir + "/" + name + ".toml";
    std::ofstream(p) << "[crawl]\nseeds = [\"http://127.0.0.1:1/\"]\nfrontier = \"" << frontier << "\"\n"
                     << "state_path = \"" << dir << "/state.db\"\n";
    return p;
  };
  std::string out;
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "crawl", "--config", write("a", "http://127.0.0.1:6379"), "--once"}, &out, true), 1);
  EXPECT_NE(out.find("[crawl] frontier: must be a redis:// URL"), std::string::npos) << out;
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "crawl", "--config", write("b", "redis://127.0.0.1:port"), "--once"}, &out, true), 1);
  EXPECT_NE(out.find("frontier"), std::string::npos) << out;
  EXPECT_NE(out.find("port"), std::string::npos) << out;
  std::string ok = write("c", "");
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "crawl", "--config", ok, "--once", "--frontier", "redis:/x"}, &out, true), 1);
  EXPECT_NE(out.find("--frontier: must be a redis:// URL"), std::string::npos) << out;
  std::string unreachable = "redis://127.0.0.1:" + std::to_string(FreePort());
  EXPECT_EQ(RunCommand({HAKONE_BINARY, "crawl", "--config", ok, "--once", "--frontier", unreachable}, &out, true), 1);
  auto s = Summary(out);
  ASSERT_TRUE(s.contains("fatal")) << out;
  std::string fatal(s.at("fatal").as_string());
  EXPECT_NE(fatal.find("frontier " + unreachable), std::string::npos) << fatal;
  EXPECT_NE(fatal.find("Unavailable"), std::string::npos) << fatal;
  RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
