// Relationships built from the operation log ([[audit]] mapping entries): events written through
// the real spool and audit store (some cut into blocks, some still only in the spool), read back
// by `BuildGraph` with route, method, create_missing and since_hours applied, and every
// rejected event counted with its reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/spool.h"
#include "core/sqlite.h"
#include "graph/build.h"
#include "graph/cypher.h"
#include "store/audit_store.h"

namespace hakone::graph {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kT0 = 1714521600LL * 1000000;  // 2024-05-01T00:00:00Z

class AuditBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hakone-graph-audit-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    data_ = dir_ + "/data";
    SpoolOptions so;
    so.dir = store::AuditSpoolDir(data_);
    so.name = "audit";
    so.fsync = false;
    so.flush_interval = 10ms;
    auto s = Spool::Open(so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }
  void TearDown() override {
    spool_.reset();
    fs::remove_all(dir_);
  }
  // The gateway's event shape (see gateway/event.cc): time, user, method, path, route, status.
  uint64_t Event(int64_t time_us, const std::string& user, const std::string& method, const std::string& path) {
    std::string line = "{\"time\":\"" + store::FormatRfc3339Micros(time_us) +
                       "\",\"instance\":\"t\",\"user\":\"" + user + "\",\"client_ip\":\"10.0.0.1\",\"method\":\"" +
                       method + "\",\"path\":\"" + path + "\",\"route\":\"" + path + "\",\"status\":200,\"total_ms\":1.5}";
    auto r = spool_->Append(line);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : 0;
  }
  void WriteFile(const std::string& p, const std::string& s) {
    std::ofstream out(p);
    out << s;
  }

  std::string dir_, data_;
  std::unique_ptr<Spool> spool_;
};

std::vector<std::string> Rows(const std::shared_ptr<const Graph>& g, const std::string& q) {
  auto r = RunCypher(g, q);
  EXPECT_TRUE(r.ok()) << q << "\n" << r.status().ToString();
  std::vector<std::string> out;
  if (!r.ok()) return out;
  for (const auto& row : r->rows) {
    std::string s;
    for (size_t i = 0; i < row.size(); ++i) s += (i ? " | " : "") + ToCypherString(row[i], r->graph.get());
    out.push_back(s);
  }
  return out;
}

TEST_F(AuditBuildTest, EventsBecomeRelationships) {
  {
    auto db = SqliteDb::Open(dir_ + "/ats.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE candidates (id INTEGER, name TEXT);"
                         "INSERT INTO candidates VALUES (1, 'Aiko'), (2, 'Ben'), (3, 'Chie');"
                         "CREATE TABLE recruiters (id TEXT, name TEXT);"
                         "INSERT INTO recruiters VALUES ('rita', 'Rita');")
                    .ok());
  }
  int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Event(kT0 + 1, "alice", "GET", "/candidates/1");
  Event(kT0 + 2, "alice", "GET", "/candidates/2");
  Event(kT0 + 3, "bob", "GET", "/candidates/1");
  Event(kT0 + 4, "rita", "POST", "/candidates/2");
  Event(kT0 + 5, "mallory", "POST", "/candidates/1");  // EDITED: not a Recruiter, create_missing = false
  Event(kT0 + 6, "bob", "GET", "/candidates/99");      // VIEWED: no such candidate
  Event(kT0 + 7, "", "GET", "/candidates/3");          // VIEWED: no user
  Event(kT0 + 8, "alice", "GET", "/companies/5");      // matches no route
  uint64_t last = Event(now_us - 60'000'000, "dave", "GET", "/candidates/3");  // a minute ago
  {
    // The writer cuts what the spool holds into blocks, then stops.
    auto st = store::AuditStore::Open(store::AuditStoreDir(data_), spool_.get(), {});
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    ASSERT_TRUE((*st)->WaitStored(last, 10s).ok());
    (*st)->Stop();
  }
  // Still only in the spool (not in a block) when the graph is built: read as well.
  Event(kT0 + 9, "carol", "GET", "/candidates/3");
  ASSERT_TRUE(spool_->Sync().ok());

  WriteFile(dir_ + "/graph.toml",
            "source = \"sqlite:ats.db\"\n"
            "[[nodes]]\nlabel = \"Candidate\"\ntable = \"candidates\"\n"
            "[[nodes]]\nlabel = \"Recruiter\"\ntable = \"recruiters\"\n"
            "[[audit]]\ntype = \"VIEWED\"\ndata_dir = \"data\"\nroute = \"/candidates/{id}\"\nmethod = \"GET\"\n"
            "to_label = \"Candidate\"\n"
            "[[audit]]\ntype = \"EDITED\"\ndata_dir = \"data\"\nroute = \"/candidates/{id}\"\nmethod = \"POST\"\n"
            "from_label = \"Recruiter\"\nto_label = \"Candidate\"\ncreate_missing = false\n"
            "[[audit]]\ntype = \"RECENT\"\ndata_dir = \"data\"\nroute = \"/candidates/{id}\"\nto_label = \"Candidate\"\n"
            "since_hours = 24\n");
  auto m = LoadMapping(dir_ + "/graph.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  BuildReport rep;
  auto g = BuildGraph(*m, {}, &rep);
  ASSERT_TRUE(g.ok()) << g.status().ToString();

  EXPECT_EQ(rep.rels_per_type["VIEWED"], 5u);  // alice x2, bob, dave, carol
  EXPECT_EQ(rep.rels_per_type["EDITED"], 1u);  // rita
  EXPECT_EQ(rep.rels_per_type["RECENT"], 1u);  // dave's, within 24 hours
  EXPECT_EQ(rep.nodes_per_label["User"], 4u);  // alice, bob, dave, carol: created from the events
  EXPECT_EQ(rep.rejected, 3u);
  std::string text = rep.ToText();
  EXPECT_NE(text.find("dangling to id (no Candidate with that id)"), std::string::npos) << text;
  EXPECT_NE(text.find("/candidates/99"), std::string::npos) << text;
  EXPECT_NE(text.find("event has no user"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown user (no Recruiter with that id)"), std::string::npos) << text;
  EXPECT_NE(text.find("mallory"), std::string::npos) << text;

  // Properties: the event's time (`at`) and method; users keyed by their name as id.
  EXPECT_EQ(Rows(*g, "MATCH (u:User)-[v:VIEWED]->(c:Candidate) RETURN u.id, c.name, v.at, v.method ORDER BY v.at"),
            (std::vector<std::string>{
                "'alice' | 'Aiko' | '" + store::FormatRfc3339Micros(kT0 + 1) + "' | 'GET'",
                "'alice' | 'Ben' | '" + store::FormatRfc3339Micros(kT0 + 2) + "' | 'GET'",
                "'bob' | 'Aiko' | '" + store::FormatRfc3339Micros(kT0 + 3) + "' | 'GET'",
                "'carol' | 'Chie' | '" + store::FormatRfc3339Micros(kT0 + 9) + "' | 'GET'",
                "'dave' | 'Chie' | '" + store::FormatRfc3339Micros(now_us - 60'000'000) + "' | 'GET'",
            }));
  EXPECT_EQ(Rows(*g, "MATCH (r:Recruiter)-[e:EDITED]->(c) RETURN r.name, c.name, e.method"),
            std::vector<std::string>{"'Rita' | 'Ben' | 'POST'"});
  EXPECT_EQ(Rows(*g, "MATCH (u)-[:RECENT]->(c) RETURN u.id, c.name"), std::vector<std::string>{"'dave' | 'Chie'"});
  // A user seen by several entries is one node.
  EXPECT_EQ(Rows(*g, "MATCH (u:User {id: 'dave'}) RETURN count(*)"), std::vector<std::string>{"1"});
}

TEST_F(AuditBuildTest, MissingLogAndBadEntriesAreErrors) {
  {
    auto db = SqliteDb::Open(dir_ + "/ats.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE candidates (id INTEGER, name TEXT);").ok());
  }
  std::string nodes = "source = \"sqlite:ats.db\"\n[[nodes]]\nlabel = \"Candidate\"\ntable = \"candidates\"\n";
  // A data directory without an operation log: the error names the entry and the directory.
  WriteFile(dir_ + "/g1.toml", nodes + "[[audit]]\ndata_dir = \"nowhere\"\nroute = \"/c/{id}\"\nto_label = \"Candidate\"\n");
  auto m1 = LoadMapping(dir_ + "/g1.toml");
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  BuildReport rep;
  auto g1 = BuildGraph(*m1, {}, &rep);
  ASSERT_FALSE(g1.ok());
  EXPECT_NE(g1.status().message().find("[[audit]] VIEWED (line 5)"), std::string::npos) << g1.status().message();
  EXPECT_NE(g1.status().message().find("nowhere"), std::string::npos) << g1.status().message();
  // Malformed entries are mapping errors with the line.
  struct Case {
    std::string body, want;
  } cases[] = {
      {"data_dir = \"data\"\nroute = \"/c/x\"\nto_label = \"Candidate\"\n", "must contain {id}"},
      {"data_dir = \"data\"\nroute = \"/c/{id}\"\nto_label = \"Nope\"\n", "label 'Nope' has no [[nodes]] entry"},
      {"route = \"/c/{id}\"\nto_label = \"Candidate\"\n", "data_dir"},
      {"data_dir = \"data\"\nroute = \"/c/{id}\"\nto_label = \"Candidate\"\ncreate_missing = 1\n", "true or false"},
      {"data_dir = \"data\"\nroute = \"/c/{id}\"\nto_label = \"Candidate\"\nsince_hours = \"x\"\n", "must be an integer"},
      {"data_dir = \"data\"\nroute = \"/c/{id}\"\nto_label = \"Candidate\"\nfrom = 1\n", "from"},
  };
  for (const auto& c : cases) {
    WriteFile(dir_ + "/g2.toml", nodes + "[[audit]]\n" + c.body);
    auto m = LoadMapping(dir_ + "/g2.toml");
    ASSERT_FALSE(m.ok()) << c.body;
    EXPECT_NE(m.status().message().find(c.want), std::string::npos) << c.body << " -> " << m.status().message();
  }
}

}  // namespace
}  // namespace hakone::graph
