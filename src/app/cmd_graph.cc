// hakone graph: sample | build | query | serve | run | recommend | export | verify
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "app/commands.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/units.h"
#include "graph/algo.h"
#include "graph/api.h"
#include "graph/build.h"
#include "graph/cypher.h"
#include "graph/export.h"
#include "graph/sample.h"
#include "graph/tck.h"

namespace hakone::app {
namespace {

using namespace hakone::graph;

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "hakone graph %s: %s\n", what.c_str(), st.message().c_str());
  return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

void PrintGraphHelp() {
  std::printf(
      "hakone graph — the people–companies graph: build daily, query, recommend, export\n\n"
      "Usage: hakone graph <command> [flags]   (hakone graph <command> --help)\n\nCommands:\n"
      "  sample      write a synthetic ATS database (SQLite) and a mapping for it\n"
      "  build       read the mapping's sources into a new snapshot version (--every 24h to repeat)\n"
      "  query       run an openCypher query against the current snapshot (table or --json)\n"
      "  serve       serve the HTTP API (/api/graph/*) and pick up new versions as they appear\n"
      "  run         run an algorithm: pagerank, ppr, khop, shortest, similar, wcc, degree\n"
      "  recommend   candidates for a job/company, companies for a person, similar people\n"
      "  export      write Neo4j import CSVs (--format neo4j-admin) and the import command\n"
      "  verify      check every snapshot version's checksum and structure\n"
      "  tck         run openCypher TCK .feature files and count passed/failed/skipped scenarios\n\n"
      "Docs: docs/graph.md\n");
}

Result<std::shared_ptr<const Graph>> OpenGraph(const std::string& dir) {
  SnapshotStore store(dir);
  return store.LoadCurrent();
}

// ---------------------------------------------------------------- sample

// The mapping body for the sample ATS database (after the `source` line).
const char* kSampleMappingBody = R"(
[[nodes]]
label = "Person"
query = "SELECT id, name, email, city, title, years_experience, skills FROM people"
id = "id"

[[nodes]]
label = "Company"
table = "companies"
id = "id"

[[nodes]]
label = "Job"
query = "SELECT id, title, city, salary_min, salary_max, posted_at FROM jobs"
id = "id"

[[nodes]]
label = "Recruiter"
table = "recruiters"
id = "id"

[[relationships]]
type = "WORKED_AT"
query = "SELECT person_id, company_id, title, since, until FROM work_history"
from = { label = "Person", column = "person_id" }
to = { label = "Company", column = "company_id" }

[[relationships]]
type = "APPLIED_TO"
query = "SELECT person_id, job_id, stage, applied_at FROM applications"
from = { label = "Person", column = "person_id" }
to = { label = "Job", column = "job_id" }

[[relationships]]
type = "POSTED_BY"
query = "SELECT id, company_id FROM jobs"
from = { label = "Job", column = "id" }
to = { label = "Company", column = "company_id" }

[[relationships]]
type = "HANDLES"
query = "SELECT recruiter_id, id FROM jobs WHERE recruiter_id IS NOT NULL"
from = { label = "Recruiter", column = "recruiter_id" }
to = { label = "Job", column = "id" }
)";

int RunSample(int argc, char** argv) {
  SampleOptions o;
  std::string out, mapping_out;
  int64_t seed = 42, recruiters = 0, jobs = 4;
  FlagSet f("hakone graph sample",
            "Writes a synthetic applicant-tracking database (SQLite): people with Japanese and English names,\n"
            "companies, jobs, applications with stages, work history and recruiters, with Zipf-skewed popularity.");
  f.Int("people", &o.people, "N", "people (default 10000)");
  f.Int("companies", &o.companies, "M", "companies (default 500)");
  f.Int("recruiters", &recruiters, "N", "recruiters (default companies/10 + 5)");
  f.Int("jobs-per-company", &jobs, "N", "average jobs per company (default 4)");
  f.Int("seed", &seed, "N", "random seed (default 42): the same seed writes the same data");
  f.String("out", &out, "DB", "the SQLite file to write (replaced) (required)");
  f.String("mapping-out", &mapping_out, "FILE", "also write a graph mapping for this database");
  f.Epilog("Example:\n  hakone graph sample --people 100000 --companies 5000 --out ats.db --mapping-out graph.toml\n"
           "  hakone graph build --mapping graph.toml --out ./hakone-data/graph");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (out.empty()) {
    std::fprintf(stderr, "hakone graph sample: --out DB is required\n");
    return 2;
  }
  o.seed = static_cast<uint64_t>(seed);
  o.recruiters = recruiters;
  o.jobs_per_company = jobs;
  auto t0 = std::chrono::steady_clock::now();
  auto n = WriteSampleDb(out, o);
  if (!n.ok()) return Fail("sample", n.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s in %.2fs: %lld people, %lld companies, %lld recruiters, %lld jobs, %lld applications, %lld work history rows\n",
              out.c_str(), secs, static_cast<long long>(n->people), static_cast<long long>(n->companies),
              static_cast<long long>(n->recruiters), static_cast<long long>(n->jobs),
              static_cast<long long>(n->applications), static_cast<long long>(n->work_history));
  if (!mapping_out.empty()) {
    // The database path relative to the mapping file's directory when possible.
    std::string db = out;
    if (db[0] != '/') {
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd)) db = std::string(cwd) + "/" + db;
    }
    std::ofstream m(mapping_out);
    m << "# Graph mapping for the sample ATS database written by `hakone graph sample`. See docs/graph.md.\n"
      << GraphSampleMapping(db);
    if (!m.flush()) return Fail("sample", Status::IOError("cannot write " + mapping_out));
    std::printf("wrote mapping %s\n", mapping_out.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------- build

volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

int BuildOnce(const std::string& mapping, const std::string& out, int keep, bool progress, bool json) {
  auto m = LoadMapping(mapping);
  if (!m.ok()) return Fail("build", m.status());
  BuildReport rep;
  BuildOptions bo;
  bo.progress = progress;
  auto g = BuildGraph(*m, bo, &rep);
  if (!g.ok()) return Fail("build", g.status());
  auto t0 = std::chrono::steady_clock::now();
  SnapshotStore store(out);
  auto v = store.Publish(**g, keep);
  if (!v.ok()) return Fail("build", v.status());
  rep.write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.version = *v;
  if (json) std::printf("%s\n", rep.ToJson().c_str());
  else std::printf("%s", rep.ToText().c_str());
  std::fflush(stdout);
  return 0;
}

int RunBuild(int argc, char** argv) {
  std::string mapping, out, every, config;
  int64_t keep = 7;
  bool json = false, no_progress = false, check = false;
  FlagSet f("hakone graph build",
            "Reads every source of the mapping (SQLite, PostgreSQL, CSV, the operation log) into an immutable\n"
            "snapshot and publishes it atomically as a new version under --out (keeping the last --keep).\n"
            "Prints counts per label and type, and the rows it rejected with the reason.");
  f.String("mapping", &mapping, "FILE", "the graph mapping (TOML; see docs/graph.md)");
  f.String("out", &out, "DIR", "the snapshot directory (default: [graph] out, or ./hakone-data/graph)");
  f.Int("keep", &keep, "N", "versions to keep (default 7)");
  f.String("every", &every, "DURATION", "rebuild forever at this interval (\"24h\"); a failed build is retried next time");
  f.String("config", &config, "FILE", "hakone.toml: defaults from its [graph] section");
  f.Bool("json", &json, "print the build report as JSON");
  f.Bool("no-progress", &no_progress, "no progress bar on stderr");
  f.Bool("check", &check, "only validate: the config's [graph] keys and the mapping file (no source is read); exit 0 when valid");
  f.Epilog("Examples:\n  hakone graph build --mapping graph.toml --out ./hakone-data/graph\n"
           "  hakone graph build --config /etc/hakone/graph.toml --check\n"
           "  hakone graph build --mapping graph.toml --out ./hakone-data/graph --every 24h");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (!config.empty()) {
    auto cfg = Config::LoadFile(config);
    if (!cfg.ok()) return Fail("build", cfg.status());
    auto s = cfg->Section("graph");
    if (mapping.empty()) mapping = s.String("mapping", "");
    if (out.empty()) out = s.String("out", "");
    if (!f.WasSet("keep")) keep = s.Int("keep", keep);
    if (every.empty() && s.Has("every")) every = s.String("every", "");
    if (check) {
      // The file must hold nothing `graph build` would not read: other sections (other
      // components' config in a shared hakone.toml) are skipped, unknown [graph] keys are not.
      for (const auto& k : cfg->Root().Keys()) {
        if (k != "graph") cfg->Root().Ignore(k);
      }
      for (const char* k : {"listen", "max_rows", "query_timeout", "reload_interval", "tokens"}) s.Ignore(k);  // graph serve's
      if (Status st = cfg->Finish(); !st.ok()) return Fail("build", st);
    }
  }
  if (mapping.empty()) {
    std::fprintf(stderr, "hakone graph build: --mapping FILE is required\n");
    return 2;
  }
  if (out.empty()) out = "./hakone-data/graph";
  if (check) {
    auto m = LoadMapping(mapping);
    if (!m.ok()) return Fail("build", m.status());
    std::printf("graph build: config OK: mapping %s (%zu node, %zu relationship, %zu audit entries), out %s\n",
                mapping.c_str(), m->nodes.size(), m->rels.size(), m->audit.size(), out.c_str());
    return 0;
  }
  bool progress = !no_progress && isatty(2);
  if (every.empty()) return BuildOnce(mapping, out, static_cast<int>(keep), progress, json);
  auto d = ParseDuration(every);
  if (!d.ok() || d->count() <= 0) {
    std::fprintf(stderr, "hakone graph build: --every: bad duration '%s' (e.g. 24h, 30m)\n", every.c_str());
    return 2;
  }
  // SIGTERM/SIGINT stop the loop between builds (a build in progress finishes first).
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
  while (!g_stop) {
    int rc = BuildOnce(mapping, out, static_cast<int>(keep), progress, json);
    if (rc != 0) log::Warn("graph build failed; retrying at the next interval");
    auto until = std::chrono::steady_clock::now() + *d;
    while (!g_stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

// ---------------------------------------------------------------- query

Result<Map> ParseParams(const std::vector<std::string>& kvs, const std::string& json) {
  Map params;
  if (!json.empty()) {
    HAKONE_ASSIGN_OR_RETURN(params, ParseJsonParams(json));
  }
  for (const auto& kv : kvs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--param must be NAME=VALUE, got '" + kv + "'");
    std::string name = kv.substr(0, eq), val = kv.substr(eq + 1);
    // A JSON value when it parses as one (42, 1.5, true, [1,2], "x"), else the raw string.
    auto p = ParseJsonParams("{\"v\":" + val + "}");
    params[name] = p.ok() ? (*p)["v"] : Value(val);
  }
  return params;
}

int RunQuery(int argc, char** argv) {
  std::string dir = "./hakone-data/graph", params_json;
  std::vector<std::string> kvs, pos;
  bool json = false;
  int64_t timeout_ms = 60000;
  FlagSet f("hakone graph query", "Runs an openCypher query against the current snapshot and prints a table (or JSON).");
  f.String("graph", &dir, "DIR", "the snapshot directory (default ./hakone-data/graph)");
  f.StringList("param", &kvs, "NAME=VALUE", "a query parameter ($NAME); VALUE is JSON or a plain string; repeatable");
  f.String("params", &params_json, "JSON", "parameters as a JSON object");
  f.Int("timeout-ms", &timeout_ms, "MS", "give up after this long (default 60000)");
  f.Bool("json", &json, "print {\"columns\":[...],\"rows\":[...]} instead of a table");
  f.Positional(&pos, "'CYPHER'");
  f.Epilog("Examples:\n"
           "  hakone graph query \"MATCH (p:Person)-[:WORKED_AT]->(c:Company {name: \\$name}) RETURN p.name LIMIT 5\" --param name=Acme\n"
           "  hakone graph query 'MATCH (c:Company)<-[:WORKED_AT]-(p) RETURN c.name, count(p) AS n ORDER BY n DESC LIMIT 10'\n"
           "  hakone graph query 'EXPLAIN MATCH (p:Person {id: 1})-[:APPLIED_TO*1..2]-(x) RETURN count(x)'");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (pos.size() != 1) {
    std::fprintf(stderr, "hakone graph query: give exactly one query (quote it)\n");
    return 2;
  }
  auto params = ParseParams(kvs, params_json);
  if (!params.ok()) return Fail("query", params.status());
  auto g = OpenGraph(dir);
  if (!g.ok()) return Fail("query", g.status());
  QueryOptions qo;
  qo.timeout = std::chrono::milliseconds(timeout_ms);
  auto r = RunCypher(*g, pos[0], *params, qo);
  if (!r.ok()) return Fail("query", r.status());
  std::fputs(json ? (r->ToJson() + "\n").c_str() : r->ToTable().c_str(), stdout);
  return 0;
}

// ---------------------------------------------------------------- serve

int RunGraphServe(int argc, char** argv) {
  std::string config, dir, listen, mapping, every;
  FlagSet f("hakone graph serve",
            "Serves the graph HTTP API (POST /api/graph/cypher, /api/graph/search, /neighbours, /algo/*, /recommend/*)\n"
            "over the current snapshot, and switches to each new version as soon as a build publishes it.");
  f.String("config", &config, "FILE", "hakone.toml; its [graph] section (flags override it)");
  f.String("graph", &dir, "DIR", "the snapshot directory (default [graph] out or ./hakone-data/graph)");
  f.String("listen", &listen, "ADDR", "address to serve on (default 127.0.0.1:7475)");
  f.String("mapping", &mapping, "FILE", "with --every: rebuild in this process from this mapping");
  f.String("every", &every, "DURATION", "rebuild interval (\"24h\")");
  f.Epilog("Example:\n  hakone graph serve --graph ./hakone-data/graph --listen 127.0.0.1:7475\n"
           "  curl -s localhost:7475/api/graph/cypher -d '{\"query\":\"MATCH (n) RETURN count(n)\"}'");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  Config cfg;
  if (!config.empty()) {
    auto c = Config::LoadFile(config);
    if (!c.ok()) return Fail("serve", c.status());
    cfg = *c;
  }
  auto o = GraphServeOptionsFromConfig(cfg);
  if (!o.ok()) return Fail("serve", o.status());
  if (!dir.empty()) o->dir = dir;
  if (!listen.empty()) o->listen = listen;
  if (!mapping.empty()) o->mapping = mapping;
  if (!every.empty()) {
    auto d = ParseDuration(every);
    if (!d.ok()) return Fail("serve", d.status());
    o->every = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (o->every.count() > 0 && o->mapping.empty()) {
    std::fprintf(stderr, "hakone graph serve: --every needs --mapping\n");
    return 2;
  }
  // Only [graph], [auth], [log] and the root keys are read here; other sections are ignored.
  Runtime rt(2);
  auto comp = MakeGraphComponent(rt, *o);
  if (!comp.ok()) return Fail("serve", comp.status());
  if (Status st = (*comp)->Start(); !st.ok()) return Fail("serve", st);
  Component* raw = comp->get();
  rt.OnShutdown([raw] { raw->Stop(); });
  rt.Run();
  return 0;
}

// ---------------------------------------------------------------- run / recommend

int RunAlgo(const std::string& cmd, const std::string& algo_fixed, int argc, char** argv) {
  std::string dir = "./hakone-data/graph";
  std::map<std::string, std::string> args;
  std::vector<std::string> pos;
  std::string source, id, from, to, job, company, person, metric, label, direction, damping, filter_key, filter_value;
  int64_t top = 10, k = 2, limit = 1000, max = 10;
  bool json = false;
  std::string title = algo_fixed.empty() ? "hakone graph run" : "hakone graph recommend " + cmd;
  FlagSet f(title, algo_fixed.empty()
                       ? "Runs a graph algorithm: pagerank, ppr (personalised), khop, shortest, similar, wcc, degree."
                       : "Recommends with personalised PageRank; each result lists the paths that contributed most.");
  f.String("graph", &dir, "DIR", "the snapshot directory (default ./hakone-data/graph)");
  f.String("source", &source, "REF", "ppr: source node(s), Label:id or node id, comma-separated");
  f.String("id", &id, "REF", "khop/similar: the node");
  f.String("from", &from, "REF", "shortest: start node");
  f.String("to", &to, "REF", "shortest: end node");
  f.String("job", &job, "REF", "recommend candidates: the job (Job:id)");
  f.String("company", &company, "REF", "recommend candidates: the company (Company:id)");
  f.String("person", &person, "REF", "recommend companies/similar: the person (Person:id)");
  f.String("metric", &metric, "NAME", "similar: adamic_adar (default), jaccard or common");
  f.String("label", &label, "LABEL", "only nodes with this label in the results");
  f.String("direction", &direction, "DIR", "khop/degree: out, in or both (default)");
  f.String("damping", &damping, "D", "pagerank/ppr damping factor (default 0.85)");
  f.String("filter-key", &filter_key, "KEY", "recommend: only results whose property KEY ...");
  f.String("filter-value", &filter_value, "VALUE", "... equals VALUE");
  f.Int("top", &top, "N", "results to show (default 10)");
  f.Int("k", &k, "K", "khop: hops (default 2)");
  f.Int("limit", &limit, "N", "khop: at most N nodes (default 1000)");
  f.Int("max", &max, "N", "shortest: at most N hops (default 10)");
  f.Bool("json", &json, "print JSON");
  if (algo_fixed.empty()) {
    f.Positional(&pos, "ALGORITHM");
    f.Epilog("Examples:\n  hakone graph run pagerank --graph DIR --top 20 --label Company\n"
             "  hakone graph run ppr --graph DIR --source Person:42 --label Company\n"
             "  hakone graph run khop --graph DIR --id Person:42 --k 2\n"
             "  hakone graph run shortest --graph DIR --from Person:1 --to Person:2");
  }
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  std::string algo = algo_fixed;
  if (algo.empty()) {
    if (pos.size() != 1) {
      std::fprintf(stderr, "%s: give one algorithm (pagerank, ppr, khop, shortest, similar, wcc, degree)\n", title.c_str());
      return 2;
    }
    algo = pos[0];
  }
  auto put = [&](const char* k2, const std::string& v) {
    if (!v.empty()) args[k2] = v;
  };
  put("source", source), put("id", id), put("from", from), put("to", to), put("job", job), put("company", company);
  put("person", person), put("metric", metric), put("label", label), put("direction", direction);
  put("damping", damping), put("filter_key", filter_key), put("filter_value", filter_value);
  args["top"] = std::to_string(top);
  args["k"] = std::to_string(k);
  args["limit"] = std::to_string(limit);
  args["max"] = std::to_string(max);
  auto g = OpenGraph(dir);
  if (!g.ok()) return Fail(cmd, g.status());
  auto r = RunAlgorithm(*g, algo, args);
  if (!r.ok()) return Fail(cmd, r.status());
  std::fputs(json ? (r->ToJson() + "\n").c_str() : r->ToTable().c_str(), stdout);
  return 0;
}

int RunRecommend(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::printf(
        "Usage: hakone graph recommend <candidates|companies|similar> [flags]\n\n"
        "  candidates --job Job:ID | --company Company:ID   people to approach for a job or company\n"
        "  companies  --person Person:ID                      companies a person may fit\n"
        "  similar    --person Person:ID                      people with similar histories (Adamic–Adar)\n\n"
        "Each result lists the paths that contributed most. --help on each for flags.\n");
    return argc < 2 ? 2 : 0;
  }
  std::string what = argv[1];
  if (what != "candidates" && what != "companies" && what != "similar") {
    std::fprintf(stderr, "hakone graph recommend: unknown kind '%s' (candidates, companies, similar)\n", what.c_str());
    return 2;
  }
  return RunAlgo(what, "recommend-" + what, argc - 1, argv + 1);
}

// ---------------------------------------------------------------- export / verify

int RunExport(int argc, char** argv) {
  std::string dir = "./hakone-data/graph", format = "neo4j-admin", out, database = "neo4j";
  FlagSet f("hakone graph export",
            "Writes the current snapshot as Neo4j import CSVs (one file per label and per relationship type and\n"
            "endpoint labels, with id:ID/:LABEL/:START_ID/:END_ID/:TYPE and typed property headers) and import.sh.");
  f.String("graph", &dir, "DIR", "the snapshot directory (default ./hakone-data/graph)");
  f.String("format", &format, "FORMAT", "neo4j-admin (the only format)");
  f.String("out", &out, "DIR", "output directory (required)");
  f.String("database", &database, "NAME", "the database name in the import command (default neo4j)");
  f.Epilog("Example:\n  hakone graph export --graph ./hakone-data/graph --format neo4j-admin --out ./neo4j-import\n"
           "  (then copy the directory to the Neo4j host and run ./import.sh with Neo4j stopped)");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (format != "neo4j-admin") {
    std::fprintf(stderr, "hakone graph export: --format must be neo4j-admin\n");
    return 2;
  }
  if (out.empty()) {
    std::fprintf(stderr, "hakone graph export: --out DIR is required\n");
    return 2;
  }
  auto g = OpenGraph(dir);
  if (!g.ok()) return Fail("export", g.status());
  auto s = ExportNeo4jAdmin(**g, out, database);
  if (!s.ok()) return Fail("export", s.status());
  std::printf("exported %llu nodes and %llu relationships to %s (%zu files)\n\n%s\n",
              static_cast<unsigned long long>(s->nodes), static_cast<unsigned long long>(s->rels), out.c_str(),
              s->files.size(), s->command.c_str());
  return 0;
}

int RunVerify(int argc, char** argv) {
  std::string dir = "./hakone-data/graph";
  FlagSet f("hakone graph verify", "Checks the checksum and structure of every snapshot version.");
  f.String("graph", &dir, "DIR", "the snapshot directory (default ./hakone-data/graph)");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  SnapshotStore store(dir);
  auto versions = store.Versions();
  if (versions.empty()) {
    std::fprintf(stderr, "hakone graph verify: no snapshot versions in %s\n", dir.c_str());
    return 1;
  }
  auto cur = store.Current();
  int bad = 0;
  for (const auto& v : versions) {
    auto g = store.Load(v);
    bool is_cur = cur.ok() && *cur == v;
    if (g.ok())
      std::printf("ok       %s%s  %u nodes, %u relationships\n", v.c_str(), is_cur ? " (current)" : "",
                  (*g)->node_count(), (*g)->rel_count());
    else {
      ++bad;
      std::printf("CORRUPT  %s%s  %s\n", v.c_str(), is_cur ? " (current)" : "", g.status().message().c_str());
    }
  }
  return bad ? 1 : 0;
}

int RunTckCmd(int argc, char** argv) {
  std::string skips;
  std::vector<std::string> pos;
  bool verbose = false;
  int64_t min_pass = 0;
  FlagSet f("hakone graph tck",
            "Runs every openCypher TCK .feature file under DIR against hakone's Cypher and reports passed,\n"
            "failed and skipped scenarios per feature; ends with the line \"N passed, N failed, N skipped\".");
  f.String("skips", &skips, "FILE", "skip list (clause/scenario: reason), e.g. src/graph/tck_skips.txt");
  f.Bool("verbose", &verbose, "print each failure and skip with its reason");
  f.Int("min-pass", &min_pass, "PERCENT", "exit 1 when fewer than PERCENT of all scenarios pass");
  f.Positional(&pos, "DIR");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (pos.size() != 1) {
    std::fprintf(stderr, "hakone graph tck: give one directory\n");
    return 2;
  }
  auto r = RunTck(pos[0], skips);
  if (!r.ok()) return Fail("tck", r.status());
  for (const auto& fe : r->features)
    std::printf("%-50s %3d passed %3d failed %3d skipped\n", fe.file.c_str(), fe.passed, fe.failed, fe.skipped);
  if (verbose) {
    for (const auto& s : r->skips) std::printf("SKIP %s\n", s.c_str());
    for (const auto& s : r->failures) std::printf("FAIL %s\n", s.c_str());
  }
  std::printf("%d passed, %d failed, %d skipped\n", r->passed, r->failed, r->skipped);
  int total = r->passed + r->failed + r->skipped;
  if (min_pass > 0 && total > 0 && r->passed * 100 < min_pass * total) return 1;
  return 0;
}

}  // namespace

std::string TomlEscape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o.push_back('\\');
    o.push_back(c);
  }
  return o;
}

std::string GraphSampleMapping(std::string_view db_path) {
  return "source = \"sqlite:" + TomlEscape(db_path) + "\"\n" + kSampleMappingBody;
}

int RunGraph(int argc, char** argv) {
  if (argc < 2) {
    PrintGraphHelp();
    return 2;
  }
  std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    PrintGraphHelp();
    return 0;
  }
  if (sub == "sample") return RunSample(argc - 1, argv + 1);
  if (sub == "build") return RunBuild(argc - 1, argv + 1);
  if (sub == "query") return RunQuery(argc - 1, argv + 1);
  if (sub == "serve") return RunGraphServe(argc - 1, argv + 1);
  if (sub == "run") return RunAlgo("run", "", argc - 1, argv + 1);
  if (sub == "recommend") return RunRecommend(argc - 1, argv + 1);
  if (sub == "export") return RunExport(argc - 1, argv + 1);
  if (sub == "verify") return RunVerify(argc - 1, argv + 1);
  if (sub == "tck") return RunTckCmd(argc - 1, argv + 1);
  std::fprintf(stderr, "hakone graph: unknown command '%s'\nRun 'hakone graph --help' for the list.\n", sub.c_str());
  return 2;
}

}  // namespace hakone::app

namespace hakone::app {

Status AddGraphComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps) {
  if (!cfg.HasSection("graph")) return Status::Ok();
  HAKONE_ASSIGN_OR_RETURN(auto opts, graph::GraphServeOptionsFromConfig(cfg));
  HAKONE_ASSIGN_OR_RETURN(auto comp, graph::MakeGraphComponent(rt, opts));
  comps->push_back(std::move(comp));
  return Status::Ok();
}

}  // namespace hakone::app
