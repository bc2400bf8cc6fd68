// The official Elasticsearch clients against `hakone serve`: Debian's python3-elasticsearch
// (7.x) and npm's @elastic/elasticsearch (8.x, installed into tests/integration/es by `npm ci`,
// see the Makefile). Each client script asserts index creation, bulk, search with aggregations,
// _msearch, _count and errors, and exits non-zero on the first mismatch.
#include <gtest/gtest.h>

#include <filesystem>

#include "es_util.h"

namespace hakone::testing {
namespace {

const std::string kDir = std::string(HAKONE_SOURCE_DIR) + "/tests/integration/es";

TEST(EsClients, PythonOfficialClient) {
  std::string out;
  if (RunCommand({"/usr/bin/python3", "-c", "import elasticsearch"}, &out, true) != 0) {
    GTEST_FAIL() << "python3-elasticsearch is not installed (scripts/install-deps.sh installs it): " << out;
  }
  EsServer es;
  ASSERT_TRUE(es.Start()) << es.Log();
  int rc = RunCommand({"/usr/bin/python3", kDir + "/python_client.py", es.url()}, &out, true, std::chrono::seconds(120));
  EXPECT_EQ(rc, 0) << out << "\n--- server log ---\n" << es.Log();
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

TEST(EsClients, NodeOfficialClient) {
  if (!std::filesystem::exists(kDir + "/node_modules/@elastic/elasticsearch")) {
    GTEST_FAIL() << "run `npm ci` in tests/integration/es (make test does)";
  }
  EsServer es;
  ASSERT_TRUE(es.Start()) << es.Log();
  std::string out;
  int rc = RunCommand({"/usr/bin/node", kDir + "/node_client.mjs", es.url()}, &out, true, std::chrono::seconds(120));
  EXPECT_EQ(rc, 0) << out << "\n--- server log ---\n" << es.Log();
  EXPECT_NE(out.find("all checks passed"), std::string::npos) << out;
}

}  // namespace
}  // namespace hakone::testing
