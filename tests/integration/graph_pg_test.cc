// hakone graph against a real PostgreSQL: build from PostgreSQL tables (with rejected rows),
// serve the HTTP API, pick up a rebuilt version while serving, refuse a corrupt snapshot, export
// to Neo4j CSVs. Runs the hakone binary as a subprocess.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/pg.h"
#include "pg_util.h"
#include "process_util.h"

namespace hakone {
namespace {

using testing::HttpCall;
using testing::Process;
using testing::RunCommand;

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GraphPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = TestPostgres::Start();
    if (!pg.ok() && pg.status().code() == StatusCode::kNotFound) GTEST_SKIP() << pg.status().ToString();
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = std::move(*pg);
    dir_ = testing::MakeTempDir("hakone-graph-it");
  }
  void TearDown() override {
    if (!dir_.empty()) testing::RemoveTree(dir_);
  }
  std::unique_ptr<TestPostgres> pg_;
  std::string dir_;
};

TEST_F(GraphPgTest, BuildServeHotSwapCorruptExport) {
  auto conn = PgConn::Connect(pg_->url());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->Exec(
                      "CREATE TABLE people (id bigint PRIMARY KEY, name text, years int);"
                      "CREATE TABLE companies (id text PRIMARY KEY, name text);"
                      "CREATE TABLE work_history (person_id bigint, company_id text, since int);"
                      "INSERT INTO people VALUES (1, 'Alice', 10), (2, '山田 太郎', 20), (3, 'Bob', NULL);"
                      "INSERT INTO companies VALUES ('acme', 'Acme'), ('globex', 'Globex');"
                      "INSERT INTO work_history VALUES (1, 'acme', 2015), (2, 'acme', 2010), (3, 'globex', 2020),"
                      " (4, 'acme', 2000), (1, 'nowhere', 2001);")
                  .ok());
  std::string mapping = dir_ + "/graph.toml";
  {
    std::ofstream m(mapping);
    m << "source = \"" << pg_->url() << "\"\n"
      << "[[nodes]]\nlabel = \"Person\"\ntable = \"people\"\n"
      << "[[nodes]]\nlabel = \"Company\"\nquery = \"SELECT id, name FROM companies\"\n"
      << "[[relationships]]\ntype = \"WORKED_AT\"\ntable = \"work_history\"\n"
      << "from = { label = \"Person\", column = \"person_id\" }\nto = { label = \"Company\", column = \"company_id\" }\n";
  }
  std::string gdir = dir_ + "/g";
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "graph", "build", "--mapping", mapping, "--out", gdir, "--json"}, &out, true);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(R"("nodes":{"Company":2,"Person":3})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("relationships":{"WORKED_AT":3})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("rejected":2)"), std::string::npos) << out;
  EXPECT_NE(out.find("dangling from id (no Person with that id)"), std::string::npos) << out;
  EXPECT_NE(out.find("dangling to id (no Company with that id)"), std::string::npos) << out;
  // The password-free URL is fine to print; the build names the entry and line.
  EXPECT_NE(out.find("WORKED_AT (line 8)"), std::string::npos) << out;

  rc = RunCommand({HAKONE_BINARY, "graph", "query", "--graph", gdir,
                   "MATCH (p:Person)-[w:WORKED_AT]->(c:Company {name: $c}) RETURN p.name, w.since ORDER BY w.since",
                   "--param", "c=\"Acme\"", "--json"},
                  &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(R"("rows":[["山田 太郎",2010],["Alice",2015]])"), std::string::npos) << out;

  // Serve, query over HTTP.
  int port = testing::FreePort();
  Process server({HAKONE_BINARY, "graph", "serve", "--graph", gdir, "--listen", "127.0.0.1:" + std::to_string(port)},
                 dir_ + "/serve.log");
  ASSERT_TRUE(testing::WaitForPort(port)) << server.Log();
  std::string body;
  int status = HttpCall(port, "POST", "/api/graph/cypher", {{"Content-Type", "application/json"}},
                        R"({"query":"MATCH (c:Company)<-[:WORKED_AT]-(p) RETURN c.name AS company, count(p) AS n ORDER BY n DESC","parameters":{}})",
                        &body);
  EXPECT_EQ(status, 200) << body;
  EXPECT_NE(body.find(R"("columns":["company","n"])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"(["Acme",2],["Globex",1])"), std::string::npos) << body;
  status = HttpCall(port, "POST", "/api/graph/cypher", {}, R"({"query":"MATCH (n RETURN n"})", &body);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.find("syntax error at 1:10"), std::string::npos) << body;
  status = HttpCall(port, "POST", "/api/graph/cypher", {}, R"J({"query":"CREATE (n:X)"})J", &body);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.find("CREATE is not allowed"), std::string::npos) << body;
  status = HttpCall(port, "GET", "/api/graph/search?q=%E5%B1%B1&label=Person", {}, "", &body);  // 山
  EXPECT_EQ(status, 200) << body;
  EXPECT_NE(body.find("山田 太郎"), std::string::npos) << body;
  status = HttpCall(port, "GET", "/api/graph/neighbours?id=Company:acme", {}, "", &body);
  EXPECT_EQ(status, 200) << body;
  EXPECT_NE(body.find(R"("edges":[{"key":"r)"), std::string::npos) << body;
  EXPECT_NE(body.find("WORKED_AT"), std::string::npos) << body;
  status = HttpCall(port, "GET", "/api/graph/algo/pagerank?top=1&label=Company", {}, "", &body);
  EXPECT_EQ(status, 200) << body;
  EXPECT_NE(body.find("Acme"), std::string::npos) << body;
  status = HttpCall(port, "GET", "/api/graph/recommend/similar?person=Person:1", {}, "", &body);
  EXPECT_EQ(status, 200) << body;
  EXPECT_NE(body.find("山田 太郎"), std::string::npos) << body;  // both worked at Acme
  EXPECT_NE(body.find(R"("columns":["node","score","paths"])"), std::string::npos) << body;

  // More data, rebuild: the running server switches to the new version.
  ASSERT_TRUE(conn->Exec("INSERT INTO people VALUES (4, 'Dan', 1); INSERT INTO companies VALUES ('initech', 'Initech');").ok());
  rc = RunCommand({HAKONE_BINARY, "graph", "build", "--mapping", mapping, "--out", gdir}, &out, true);
  ASSERT_EQ(rc, 0) << out;
  bool swapped = false;
  for (int i = 0; i < 100 && !swapped; ++i) {
    HttpCall(port, "GET", "/api/graph/stats", {}, "", &body);
    swapped = body.find(R"("nodes":7)") != std::string::npos;
    if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(swapped) << body;
  EXPECT_NE(body.find(R"("WORKED_AT":4)"), std::string::npos) << body;  // Dan's row is no longer dangling

  // Export to Neo4j import CSVs.
  rc = RunCommand({HAKONE_BINARY, "graph", "export", "--graph", gdir, "--format", "neo4j-admin", "--out", dir_ + "/neo"}, &out, true);
  ASSERT_EQ(rc, 0) << out;
  std::string nc = ReadAll(dir_ + "/neo/nodes_Company.csv");
  EXPECT_EQ(nc.substr(0, nc.find('\n')), "id:ID(Company),:LABEL,name:string");
  std::string wh = ReadAll(dir_ + "/neo/rels_WORKED_AT_Person_Company.csv");
  EXPECT_EQ(wh.substr(0, wh.find('\n')), ":START_ID(Person),:END_ID(Company),:TYPE,since:long");
  EXPECT_NE(wh.find("\n2,acme,WORKED_AT,2010\n"), std::string::npos) << wh;
  EXPECT_NE(out.find("neo4j-admin database import full"), std::string::npos) << out;

  // Corrupt the current version: verify reports it, queries refuse it with a clear error, and
  // the running server keeps serving the version it has.
  std::string cur = ReadAll(gdir + "/CURRENT");
  cur.pop_back();
  std::string file = gdir + "/" + cur + "/graph.bin";
  std::string data = ReadAll(file);
  data[data.size() / 3] ^= 0x01;
  {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << data;
  }
  rc = RunCommand({HAKONE_BINARY, "graph", "verify", "--graph", gdir}, &out, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("CORRUPT  " + cur + " (current)"), std::string::npos) << out;
  EXPECT_NE(out.find("checksum mismatch"), std::string::npos) << out;
  rc = RunCommand({HAKONE_BINARY, "graph", "query", "--graph", gdir, "RETURN 1"}, &out, true);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("is corrupt: checksum mismatch"), std::string::npos) << out;
  status = HttpCall(port, "GET", "/api/graph/stats", {}, "", &body);
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find(R"("nodes":7)"), std::string::npos) << body;
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0) << server.Log();
}

TEST_F(GraphPgTest, MissingColumnAndBadSqlNameTheEntry) {
  auto conn = PgConn::Connect(pg_->url());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn->Exec("CREATE TABLE people (pk bigint, name text); INSERT INTO people VALUES (1, 'A');").ok());
  std::string mapping = dir_ + "/bad.toml";
  {
    std::ofstream m(mapping);
    m << "[[nodes]]\nlabel = \"Person\"\nsource = \"" << pg_->url() << "\"\ntable = \"people\"\n";
  }
  std::string out;
  int rc = RunCommand({HAKONE_BINARY, "graph", "build", "--mapping", mapping, "--out", dir_ + "/g"}, &out, true);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("[[nodes]] Person (line 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("column 'id' is not in the rows of"), std::string::npos) << out;
  EXPECT_NE(out.find("(columns: pk, name)"), std::string::npos) << out;
  {
    std::ofstream m(mapping);
    m << "[[nodes]]\nlabel = \"Person\"\nsource = \"" << pg_->url() << "\"\nquery = \"SELECT nope FROM people\"\n";
  }
  rc = RunCommand({HAKONE_BINARY, "graph", "build", "--mapping", mapping, "--out", dir_ + "/g"}, &out, true);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("column \"nope\" does not exist"), std::string::npos) << out;
}

}  // namespace
}  // namespace hakone
