// The archive sink against a real S3-compatible server on loopback (npm `s3rver`, installed by
// `npm ci` from tests/integration/agent/package-lock.json). The server starts only after the
// agent has failed to upload: the failed upload is retried and then succeeds, and every line
// arrives exactly once in the time-partitioned objects.
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "process_util.h"

namespace hakone::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string Slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Unzstd(const std::string& in) {
  std::string out;
  ZSTD_DStream* d = ZSTD_createDStream();
  ZSTD_initDStream(d);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  char buf[1 << 16];
  while (ib.pos < ib.size) {
    ZSTD_outBuffer ob{buf, sizeof buf, 0};
    size_t r = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(r)) break;
    out.append(buf, ob.pos);
  }
  ZSTD_freeDStream(d);
  return out;
}

TEST(AgentS3, FailedUploadIsRetriedThenArchived) {
  std::string pkg = std::string(HAKONE_SOURCE_DIR) + "/tests/integration/agent";
  std::string s3rver = pkg + "/node_modules/.bin/s3rver";
  if (!fs::exists(s3rver)) {
    std::string out;
    int rc = RunCommand({"npm", "ci", "--prefix", pkg, "--no-audit", "--no-fund"}, &out, true, std::chrono::seconds(300));
    if (rc != 0) GTEST_SKIP() << "npm ci failed (no npm registry?): " << out.substr(0, 500);
  }
  std::string dir = MakeTempDir("hakone-agent-s3");
  fs::create_directories(dir + "/logs");
  fs::create_directories(dir + "/s3");
  int s3_port = FreePort();
  int admin = FreePort();
  std::ofstream(dir + "/agent.toml")
      << "data_dir = \"" << dir << "/data\"\ninstance = \"it\"\n[agent]\nlisten = \"127.0.0.1:" << admin << "\"\n"
      << "[agent.sources.app]\ntype = \"file\"\npaths = [\"" << dir << "/logs/*.log\"]\nenv = \"prod\"\npoll_interval = \"50ms\"\n"
      << "[agent.sinks.s3]\ntype = \"archive\"\ninputs = [\"app\"]\nmax_age = \"300ms\"\nretry_initial = \"100ms\"\nretry_max = \"300ms\"\n"
      << "s3 = { bucket = \"logs\", region = \"us-east-1\", endpoint = \"http://127.0.0.1:" << s3_port
      << "\", access_key_id = \"S3RVER\", secret_access_key = \"S3RVER\", prefix = \"archive/\" }\n";
  {
    std::ofstream f(dir + "/logs/app.log");
    for (int i = 0; i < 2000; i++) f << "S3LINE " << i << " payload\n";
  }
  Process agent({HAKONE_BINARY, "agent", "--config", dir + "/agent.toml"}, dir + "/agent.log");
  ASSERT_TRUE(WaitForPort(admin));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (agent.Log().find("S3 PUT") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(agent.Log().find("S3 PUT"), std::string::npos) << agent.Log();  // the upload failed ...
  Process server({s3rver, "-d", dir + "/s3", "-a", "127.0.0.1", "-p", std::to_string(s3_port), "--configure-bucket", "logs"},
                 dir + "/s3rver.log");
  ASSERT_TRUE(WaitForPort(s3_port, 20s)) << server.Log();
  // ... and is retried until it succeeds.
  std::map<std::string, int> lines;
  std::vector<std::string> keys;
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    lines.clear();
    keys.clear();
    for (auto& e : fs::recursive_directory_iterator(dir + "/s3")) {
      std::string p = e.path().string();
      const std::string suffix = ".raw.zst._S3rver_object";
      if (p.size() < suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
      keys.push_back(fs::relative(p, dir + "/s3").string());
      std::stringstream ss(Unzstd(Slurp(p)));
      for (std::string l; std::getline(ss, l);) lines[l]++;
    }
    if (lines.size() == 2000) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(lines.size(), 2000u) << agent.Log();
  for (auto& [l, n] : lines) EXPECT_EQ(n, 1) << l;
  ASSERT_FALSE(keys.empty());
  EXPECT_EQ(keys[0].rfind("logs/archive/prod/app/dt=", 0), 0u) << keys[0];
  EXPECT_NE(keys[0].find("/hour="), std::string::npos) << keys[0];
  EXPECT_NE(keys[0].find("/it-00000000000000000001.raw.zst"), std::string::npos) << keys[0];
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0);
  RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
