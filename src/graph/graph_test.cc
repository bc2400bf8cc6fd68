// Snapshot format, versions and corruption; mapping errors; builder rejects (SQLite, CSV);
// algorithms on hand-computed graphs; Neo4j export format; hot swap under concurrent queries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/sqlite.h"
#include "graph/algo.h"
#include "graph/api.h"
#include "graph/build.h"
#include "graph/cypher.h"
#include "graph/export.h"
#include "graph/graph.h"
#include "graph/sample.h"

namespace hakone::graph {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hakone-graph-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void WriteFile(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

std::shared_ptr<const Graph> SmallGraph() {
  GraphBuilder b;
  uint32_t a = b.AddNode({"Person"}, {{"id", Value(1)}, {"name", Value("Alice")}, {"tags", Value(List{Value("x")})}});
  uint32_t c = b.AddNode({"Company"}, {{"id", Value(10)}, {"name", Value("Acme")}, {"score", Value(1.5)}});
  uint32_t d = b.AddNode({"Person"}, {{"id", Value(2)}, {"name", Value("山田")}});
  b.AddRel(a, c, "WORKED_AT", {{"since", Value(2015)}});
  b.AddRel(d, c, "WORKED_AT", {});
  b.AddRel(a, d, "KNOWS", {{"ok", Value(true)}});
  return b.Freeze();
}

TEST(Snapshot, RoundTripAndVersions) {
  TempDir t;
  auto g = SmallGraph();
  SnapshotStore store(t.path() + "/g");
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    auto v = store.Publish(*g, 2);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    names.push_back(*v);
  }
  EXPECT_EQ(store.Versions().size(), 2u);  // keep = 2
  EXPECT_EQ(*store.Current(), names.back());
  auto l = store.LoadCurrent();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  const Graph& h = **l;
  EXPECT_EQ(h.node_count(), 3u);
  EXPECT_EQ(h.rel_count(), 3u);
  EXPECT_EQ(h.version(), names.back());
  EXPECT_EQ(ToCypherString(h.NodeProp(0, "tags"), &h), "['x']");
  EXPECT_EQ(ToCypherString(h.NodeProp(1, "score"), &h), "1.5");
  EXPECT_EQ(ToCypherString(h.RelProp(2, "ok"), &h), "true");
  EXPECT_EQ(h.FindNodes(h.LabelId("Person"), "name", Value("山田")), std::vector<uint32_t>{2});
  EXPECT_EQ(h.FindNodes(h.LabelId("Company"), "id", Value(10.0)), std::vector<uint32_t>{1});  // 10 == 10.0
  EXPECT_EQ(h.FindNodesByPrefix(kNone, "name", "A", 10), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(h.InDegree(1), 2u);
  EXPECT_EQ(h.OutDegree(0), 2u);
}

TEST(Snapshot, CorruptionIsDetected) {
  TempDir t;
  SnapshotStore store(t.path());
  auto v = store.Publish(*SmallGraph(), 3);
  ASSERT_TRUE(v.ok());
  std::string file = t.path() + "/" + *v + "/graph.bin";
  std::string data = ReadFile(file);
  // A flipped byte anywhere: checksum mismatch.
  std::string bad = data;
  bad[bad.size() / 2] ^= 0x40;
  WriteFile(file, bad);
  auto l = store.LoadCurrent();
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kCorruption);
  EXPECT_NE(l.status().message().find("checksum mismatch"), std::string::npos) << l.status().message();
  EXPECT_NE(l.status().message().find(file), std::string::npos);
  // Truncated.
  WriteFile(file, data.substr(0, data.size() - 100));
  EXPECT_EQ(store.LoadCurrent().status().code(), StatusCode::kCorruption);
  // Not a snapshot at all.
  WriteFile(file, "hello world, not a graph");
  EXPECT_NE(store.LoadCurrent().status().message().find("bad magic"), std::string::npos);
  // CURRENT naming garbage.
  WriteFile(file, data);
  WriteFile(t.path() + "/CURRENT", "../../etc\n");
  EXPECT_EQ(store.LoadCurrent().status().code(), StatusCode::kCorruption);
}

TEST(Mapping, ErrorsNameLineAndKey) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"[[nodes]]\nlabel = \"P\"\n", "line 1: [[nodes]] P: 'source' is required"},
      {"[[nodes]]\nlabel = \"P\"\nsource = \"mysql://x\"\ntable = \"t\"\n", "line 3: [[nodes]] P: source 'mysql://x' must be"},
      {"[[nodes]]\nlabel = \"P\"\nsource = \"sqlite:a.db\"\n", "'query' or 'table' is required"},
      {"[[nodes]]\nlabel = \"P\"\nsource = \"sqlite:a.db\"\ntable = \"t\"\nidd = \"x\"\n", "line 5: [[nodes]] P: unknown key 'idd'"},
      {"source = \"sqlite:a.db\"\n[[nodes]]\nlabel = \"P\"\ntable = \"t\"\n[[relationships]]\ntype = \"R\"\ntable = \"r\"\n"
       "from = { label = \"P\", column = \"a\" }\nto = { label = \"Q\", column = \"b\" }\n",
       "line 5: [[relationships]] R: label 'Q' has no [[nodes]] entry"},
      {"source = \"sqlite:a.db\"\n[[nodes]]\nlabel = \"P\"\ntable = \"t\"\n[[relationships]]\ntype = \"R\"\ntable = \"r\"\n"
       "from = { label = \"P\" }\nto = { label = \"P\", column = \"b\" }\n",
       "'column' is required"},
      {"[[nodes]\n", "line 1"},
      {"nodes = 3\n", "'nodes' must be an array of tables"},
      {"source = \"sqlite:a.db\"\n[[nodes]]\nlabel = \"P\"\ntable = \"t; DROP\"\n", "not a plain identifier"},
      {"", "no [[nodes]] entries"},
  };
  for (const auto& c : cases) {
    auto m = ParseMapping(c.text, "m.toml", "/base");
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_NE(m.status().message().find(c.want), std::string::npos) << c.text << "\n -> " << m.status().message();
  }
  auto ok = ParseMapping("source = \"sqlite:ats.db\"\n[[nodes]]\nlabel = \"P\"\ntable = \"people\"\n", "m.toml", "/base");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->nodes[0].source, "sqlite:/base/ats.db");
}

TEST(Build, SqliteAndCsvWithRejects) {
  TempDir t;
  std::string db = t.path() + "/ats.db";
  {
    auto d = SqliteDb::Open(db);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->Exec("CREATE TABLE people (id INTEGER, name TEXT, age INTEGER);"
                        "INSERT INTO people VALUES (1, 'Alice', 30), (2, '山田 太郎', 41), (2, 'Dup', 1), (NULL, 'NoId', 5);"
                        "CREATE TABLE work (pid INTEGER, cid TEXT, since INTEGER);"
                        "INSERT INTO work VALUES (1, 'c1', 2015), (2, 'c2', 2010), (3, 'c1', 2000), (1, 'c9', 2020);")
                    .ok());
  }
  WriteFile(t.path() + "/companies.csv", "id,name,founded\nc1,\"Acme, Inc.\",1990\nc2,\"Say \"\"hi\"\"\",\n");
  std::string mapping =
      "[[nodes]]\nlabel = \"Person\"\nsource = \"sqlite:ats.db\"\ntable = \"people\"\n"
      "[[nodes]]\nlabel = \"Company\"\nsource = \"csv:companies.csv\"\n"
      "[[relationships]]\ntype = \"WORKED_AT\"\nsource = \"sqlite:ats.db\"\nquery = \"SELECT pid, cid, since FROM work\"\n"
      "from = { label = \"Person\", column = \"pid\" }\nto = { label = \"Company\", column = \"cid\" }\n";
  WriteFile(t.path() + "/graph.toml", mapping);
  auto m = LoadMapping(t.path() + "/graph.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  BuildReport rep;
  auto g = BuildGraph(*m, {}, &rep);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->node_count(), 4u);
  EXPECT_EQ((*g)->rel_count(), 2u);
  EXPECT_EQ(rep.nodes_per_label["Person"], 4u);  // rows read
  EXPECT_EQ(rep.rels_per_type["WORKED_AT"], 2u);
  EXPECT_EQ(rep.rejected, 4u);
  std::string text = rep.ToText();
  EXPECT_NE(text.find("duplicate id"), std::string::npos) << text;
  EXPECT_NE(text.find("id column 'id' is null"), std::string::npos) << text;
  EXPECT_NE(text.find("dangling from id (no Person with that id)"), std::string::npos) << text;
  EXPECT_NE(text.find("row 3: pid=3"), std::string::npos) << text;
  EXPECT_NE(text.find("dangling to id (no Company with that id)"), std::string::npos) << text;
  EXPECT_NE(text.find("line 8"), std::string::npos) << text;  // the [[relationships]] entry's line
  auto r = RunCypher(*g, "MATCH (p:Person)-[w:WORKED_AT]->(c:Company) RETURN p.name, c.name, c.founded, w.since ORDER BY w.since");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(ToCypherString(r->rows[0][0], nullptr), "'山田 太郎'");
  EXPECT_EQ(ToCypherString(r->rows[0][1], nullptr), "'Say \"hi\"'");
  EXPECT_EQ(ToCypherString(r->rows[0][2], nullptr), "null");
  EXPECT_EQ(ToCypherString(r->rows[1][1], nullptr), "'Acme, Inc.'");
  EXPECT_EQ(ToCypherString(r->rows[1][2], nullptr), "1990");

  // A missing column names the entry, the column and the columns there are.
  WriteFile(t.path() + "/bad.toml", "[[nodes]]\nlabel = \"Person\"\nsource = \"sqlite:ats.db\"\ntable = \"people\"\nid = \"pk\"\n");
  auto bm = LoadMapping(t.path() + "/bad.toml");
  ASSERT_TRUE(bm.ok());
  BuildReport rep2;
  auto bg = BuildGraph(*bm, {}, &rep2);
  ASSERT_FALSE(bg.ok());
  EXPECT_NE(bg.status().message().find("[[nodes]] Person (line 1)"), std::string::npos) << bg.status().message();
  EXPECT_NE(bg.status().message().find("column 'pk' is not in the rows of"), std::string::npos) << bg.status().message();
  EXPECT_NE(bg.status().message().find("table people"), std::string::npos) << bg.status().message();
  EXPECT_NE(bg.status().message().find("(columns: id, name, age)"), std::string::npos) << bg.status().message();
  // Bad SQL.
  WriteFile(t.path() + "/bad2.toml", "[[nodes]]\nlabel = \"P\"\nsource = \"sqlite:ats.db\"\nquery = \"SELEC 1\"\n");
  BuildReport rep3;
  auto bg2 = BuildGraph(*LoadMapping(t.path() + "/bad2.toml"), {}, &rep3);
  ASSERT_FALSE(bg2.ok());
  EXPECT_NE(bg2.status().message().find("SELEC"), std::string::npos) << bg2.status().message();
}

TEST(Build, SampleDatabaseEndToEnd) {
  TempDir t;
  SampleOptions o;
  o.people = 2000;
  o.companies = 100;
  auto n = WriteSampleDb(t.path() + "/ats.db", o);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->people, 2000);
  EXPECT_GT(n->applications, 1000);
  std::string mapping = "source = \"sqlite:ats.db\"\n"
                        "[[nodes]]\nlabel = \"Person\"\ntable = \"people\"\n"
                        "[[nodes]]\nlabel = \"Company\"\ntable = \"companies\"\n"
                        "[[nodes]]\nlabel = \"Job\"\ntable = \"jobs\"\n"
                        "[[relationships]]\ntype = \"WORKED_AT\"\ntable = \"work_history\"\n"
                        "from = { label = \"Person\", column = \"person_id\" }\nto = { label = \"Company\", column = \"company_id\" }\n"
                        "[[relationships]]\ntype = \"APPLIED_TO\"\ntable = \"applications\"\n"
                        "from = { label = \"Person\", column = \"person_id\" }\nto = { label = \"Job\", column = \"job_id\" }\n"
                        "[[relationships]]\ntype = \"POSTED_BY\"\nquery = \"SELECT id, company_id FROM jobs\"\n"
                        "from = { label = \"Job\", column = \"id\" }\nto = { label = \"Company\", column = \"company_id\" }\n";
  auto m = ParseMapping(mapping, "m", t.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  BuildReport rep;
  auto g = BuildGraph(*m, {}, &rep);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(rep.rejected, 0u) << rep.ToText();
  EXPECT_EQ(rep.rels_per_type["WORKED_AT"], static_cast<uint64_t>(n->work_history));
  EXPECT_EQ(rep.rels_per_type["APPLIED_TO"], static_cast<uint64_t>(n->applications));
  // Skew: company 1 is the most popular employer.
  auto r = RunCypher(*g, "MATCH (p:Person)-[:WORKED_AT]->(c:Company) RETURN c.id, count(p) AS n ORDER BY n DESC LIMIT 1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ToCypherString(r->rows[0][0], nullptr), "1");
  // Japanese names exist.
  auto jp = RunCypher(*g, "MATCH (p:Person) WHERE p.name STARTS WITH '佐藤' RETURN count(p)");
  ASSERT_TRUE(jp.ok());
  EXPECT_GT(jp->rows[0][0].i(), 0);
  // Recommendations come with explanation paths that start at the source and end at the result.
  auto job = ResolveNode(**g, "Job:1");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  RecommendOptions ro;
  ro.target_label = (*g)->LabelId("Person");
  ro.top = 5;
  auto recs = Recommend(**g, *job, ro);
  ASSERT_FALSE(recs.empty());
  for (const auto& rec : recs) {
    EXPECT_TRUE((*g)->HasLabel(rec.node, ro.target_label));
    ASSERT_FALSE(rec.paths.empty());
    EXPECT_EQ(rec.paths[0].nodes.front(), *job);
    EXPECT_EQ(rec.paths[0].nodes.back(), rec.node);
    EXPECT_EQ(rec.paths[0].rels.size() + 1, rec.paths[0].nodes.size());
  }
}

// A graph small enough to compute PageRank by hand:
// 0 -> 1, 1 -> 2, 2 -> 0, 2 -> 1, 3 (dangling).
std::shared_ptr<const Graph> Cycle() {
  GraphBuilder b;
  for (int i = 0; i < 4; ++i) b.AddNode({"N"}, {{"id", Value(i)}});
  b.AddRel(0, 1, "E", {});
  b.AddRel(1, 2, "E", {});
  b.AddRel(2, 0, "E", {});
  b.AddRel(2, 1, "E", {});
  return b.Freeze();
}

TEST(Algo, PageRankMatchesClosedForm) {
  auto g = Cycle();
  PageRankOptions o;
  o.tolerance = 1e-14;
  o.max_iterations = 1000;
  o.threads = 1;
  auto pr = PageRank(*g, o);
  // Solve x = d*M x + ((1-d) + d*x3)/4 directly by dense iteration for reference.
  double d = 0.85;
  std::vector<double> x(4, 0.25);
  for (int it = 0; it < 2000; ++it) {
    double base = ((1 - d) + d * x[3]) / 4;
    std::vector<double> y(4, base);
    y[1] += d * x[0];
    y[2] += d * x[1];
    y[0] += d * x[2] / 2;
    y[1] += d * x[2] / 2;
    x = y;
  }
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(pr.scores[i], x[i], 1e-7) << i;  // contributions are floats
    sum += pr.scores[i];
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  // Personalised from node 3 (which has no out-edges): all mass stays on 3.
  o.sources = {3};
  auto ppr = PageRank(*g, o);
  EXPECT_NEAR(ppr.scores[3], 1.0, 1e-9);
  // Personalised from 0: 0 gets the teleport mass, then 1, 2 follow the cycle.
  o.sources = {0};
  ppr = PageRank(*g, o);
  EXPECT_GT(ppr.scores[0], 0.15);
  EXPECT_EQ(ppr.scores[3], 0.0);
  auto top = TopK(pr.scores, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, 1u);  // 1 has two in-links
}

// Reference PageRank by plain dense power iteration (double, dangling mass to the teleport vector).
std::vector<double> ReferencePageRank(const Graph& g, const std::vector<double>& tele, double d) {
  uint32_t n = g.node_count();
  std::vector<double> x = tele, y(n);
  for (int it = 0; it < 3000; ++it) {
    double dangling = 0;
    for (uint32_t v = 0; v < n; ++v)
      if (g.OutDegree(v) == 0) dangling += x[v];
    for (uint32_t v = 0; v < n; ++v) y[v] = ((1 - d) + d * dangling) * tele[v];
    for (uint32_t r = 0; r < g.rel_count(); ++r) y[g.RelDst(r)] += d * x[g.RelSrc(r)] / g.OutDegree(g.RelSrc(r));
    x.swap(y);
  }
  return x;
}

// A mostly acyclic graph (like the ATS sample: many nodes without in-links or without out-links)
// with cyclic parts, self-loops and isolated nodes: PageRank takes the per-component solver.
TEST(Algo, PageRankByComponentsMatchesPowerIteration) {
  GraphBuilder b;
  const uint32_t kSrc = 120, kMid = 40, kSink = 40, kIsolated = 5;
  const uint32_t n = kSrc + kMid + kSink + kIsolated;
  for (uint32_t i = 0; i < n; ++i) b.AddNode({"N"}, {{"id", Value(static_cast<int64_t>(i))}});
  uint64_t seed = 12345;
  auto rnd = [&seed](uint32_t k) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>((seed >> 33) % k);
  };
  for (uint32_t s = 0; s < kSrc; ++s)
    for (int j = 0; j < 3; ++j) b.AddRel(s, kSrc + rnd(kMid + kSink), "E", {});
  // The middle layer: two 2-cycles, a self-loop, a 10-node ring, random forward edges.
  b.AddRel(kSrc + 0, kSrc + 1, "E", {});
  b.AddRel(kSrc + 1, kSrc + 0, "E", {});
  b.AddRel(kSrc + 2, kSrc + 3, "E", {});
  b.AddRel(kSrc + 3, kSrc + 2, "E", {});
  b.AddRel(kSrc + 4, kSrc + 4, "E", {});
  for (uint32_t i = 10; i < 20; ++i) b.AddRel(kSrc + i, kSrc + (i == 19 ? 10 : i + 1), "E", {});
  for (uint32_t i = 0; i < kMid; ++i) {
    b.AddRel(kSrc + i, kSrc + kMid + rnd(kSink), "E", {});
    if (i + 1 < kMid) b.AddRel(kSrc + i, kSrc + i + 1 + rnd(kMid - i - 1), "E", {});
  }
  auto g = b.Freeze();
  const double d = 0.85;
  PageRankOptions o;
  o.tolerance = 1e-13;
  o.max_iterations = 1000;
  auto pr = PageRank(*g, o);
  auto ref = ReferencePageRank(*g, std::vector<double>(n, 1.0 / n), d);
  ASSERT_EQ(pr.scores.size(), n);
  double l1 = 0, sum = 0;
  for (uint32_t v = 0; v < n; ++v) l1 += std::fabs(pr.scores[v] - ref[v]), sum += pr.scores[v];
  EXPECT_LT(l1, 1e-10);
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_GT(pr.scores[kSrc + 4], pr.scores[0]);  // the self-loop keeps its rank
  // The same through the plain-CSR entry point.
  std::vector<uint32_t> deg(n);
  for (uint32_t v = 0; v < n; ++v) deg[v] = g->OutDegree(v);
  auto csr = PageRankCsr(n, g->in_off().data(), g->in_nbr().data(), deg.data(), o);
  for (uint32_t v = 0; v < n; ++v) EXPECT_NEAR(csr.scores[v], ref[v], 1e-11) << v;
  // Personalised from a node with no in-links, and from one on the ring: only what they reach scores.
  for (uint32_t src : {3u, kSrc + 12}) {
    o.sources = {src};
    auto ppr = PageRank(*g, o);
    std::vector<double> tele(n, 0.0);
    tele[src] = 1.0;
    auto pref = ReferencePageRank(*g, tele, d);
    double pl1 = 0;
    for (uint32_t v = 0; v < n; ++v) pl1 += std::fabs(ppr.scores[v] - pref[v]);
    EXPECT_LT(pl1, 1e-10) << src;
    EXPECT_EQ(ppr.scores[0], 0.0);  // node 0 has no in-links (and is neither source)
    EXPECT_GT(ppr.scores[src], 0.15);
  }
}

TEST(Algo, KHopShortestSimilarityComponents) {
  auto g = Cycle();
  KHopOptions ko;
  ko.k = 1;
  ko.direction = 1;
  auto one = KHop(*g, 2, ko);
  EXPECT_EQ(one.size(), 2u);  // 2 -> 0, 2 -> 1
  ko.k = 2;
  ko.direction = 0;
  EXPECT_EQ(KHop(*g, 0, ko).size(), 2u);  // 3 unreachable
  std::vector<uint32_t> stamp(4, 0);
  EXPECT_EQ(KHopCount(*g, 0, 2, &stamp, 1), 2u);
  auto p = ShortestPath(*g, 0, 2);
  EXPECT_EQ(p.nodes, (std::vector<uint32_t>{0, 2}));  // ignoring direction 2->0 is one hop
  EXPECT_TRUE(ShortestPath(*g, 0, 3).nodes.empty());
  auto s = NodeSimilarity(*g, 0, 1);  // N(0) = {1,2}, N(1) = {0,2}: common {2}
  EXPECT_EQ(s.common, 1);
  EXPECT_NEAR(s.jaccard, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.adamic_adar, 1.0 / std::log(3.0), 1e-12);  // deg(2) = 3
  auto wcc = WeaklyConnectedComponents(*g);
  EXPECT_EQ(wcc, (std::vector<uint32_t>{0, 0, 0, 3}));
  auto ex = ExplainPaths(*g, 0, 2, 3);
  ASSERT_FALSE(ex.empty());
  EXPECT_EQ(ex[0].nodes, (std::vector<uint32_t>{0, 2}));
  auto r = RunAlgorithm(g, "ppr", {{"source", "N:0"}, {"top", "2"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows.size(), 2u);
  EXPECT_FALSE(RunAlgorithm(g, "ppr", {{"source", "N:99"}}).ok());
  EXPECT_FALSE(RunAlgorithm(g, "nosuch", {}).ok());
  EXPECT_FALSE(RunAlgorithm(g, "pagerank", {{"damping", "2"}}).ok());
}

TEST(Export, Neo4jAdminFormat) {
  TempDir t;
  auto g = SmallGraph();
  auto s = ExportNeo4jAdmin(*g, t.path());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->nodes, 3u);
  EXPECT_EQ(s->rels, 3u);
  std::string people = ReadFile(t.path() + "/nodes_Person.csv");
  EXPECT_EQ(people, "id:ID(Person),:LABEL,name:string,tags:string[]\n1,Person,Alice,x\n2,Person,山田,\n");
  std::string companies = ReadFile(t.path() + "/nodes_Company.csv");
  EXPECT_EQ(companies, "id:ID(Company),:LABEL,name:string,score:double\n10,Company,Acme,1.5\n");
  std::string worked = ReadFile(t.path() + "/rels_WORKED_AT_Person_Company.csv");
  EXPECT_EQ(worked, ":START_ID(Person),:END_ID(Company),:TYPE,since:long\n1,10,WORKED_AT,2015\n2,10,WORKED_AT,\n");
  std::string knows = ReadFile(t.path() + "/rels_KNOWS_Person_Person.csv");
  EXPECT_EQ(knows, ":START_ID(Person),:END_ID(Person),:TYPE,ok:boolean\n1,2,KNOWS,true\n");
  std::string sh = ReadFile(t.path() + "/import.sh");
  EXPECT_NE(sh.find("neo4j-admin database import full"), std::string::npos);
  EXPECT_NE(sh.find("--nodes=nodes_Person.csv"), std::string::npos);
  EXPECT_NE(sh.find("--relationships=rels_KNOWS_Person_Person.csv"), std::string::npos);
}

TEST(HotSwap, ConcurrentQueriesSeeWholeSnapshots) {
  TempDir t;
  SnapshotStore store(t.path());
  auto make = [](int n) {
    GraphBuilder b;
    for (int i = 0; i < n; ++i) b.AddNode({"N"}, {{"v", Value(n)}});
    return b.Freeze();
  };
  ASSERT_TRUE(store.Publish(*make(10), 3).ok());
  GraphHolder holder(t.path());
  ASSERT_TRUE(*holder.ReloadIfChanged());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, queries{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        auto g = holder.Get();
        auto r = RunCypher(g, "MATCH (n:N) RETURN count(n), min(n.v), max(n.v)");
        if (!r.ok()) {
          ++bad;
          continue;
        }
        // count == v on every node: a query never mixes two versions.
        int64_t c = r->rows[0][0].i();
        if (r->rows[0][1].i() != c || r->rows[0][2].i() != c) ++bad;
        ++queries;
      }
    });
  }
  for (int n = 11; n <= 30; ++n) {
    ASSERT_TRUE(store.Publish(*make(n), 3).ok());
    auto swapped = holder.ReloadIfChanged();
    ASSERT_TRUE(swapped.ok()) << swapped.status().ToString();
    EXPECT_TRUE(*swapped);
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(queries.load(), 0);
  EXPECT_EQ(holder.Get()->node_count(), 30u);
  // A corrupt new version is refused and the old one kept.
  auto v = store.Publish(*make(40), 3);
  ASSERT_TRUE(v.ok());
  std::string file = t.path() + "/" + *v + "/graph.bin";
  std::string data = ReadFile(file);
  data[20] ^= 1;
  WriteFile(file, data);
  auto r = holder.ReloadIfChanged();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(holder.Get()->node_count(), 30u);
}

}  // namespace
}  // namespace hakone::graph
