// The graph's serving side: the current snapshot with atomic hot swap, the HTTP API
// (/api/graph/*) and the [graph] component of `hakone serve` / `hakone graph serve`.
//
// HTTP API (JSON):
//   POST /api/graph/cypher            {"query": "...", "parameters": {...}} -> {"columns","rows","stats"}
//   GET  /api/graph/stats             counts per label/type, version, memory
//   GET  /api/graph/search?q=PREFIX[&label=L][&key=name][&limit=20]      node search by prefix
//   GET  /api/graph/neighbours?id=REF[&per_type=100]                      sigma.js/graphology JSON
//   POST /api/graph/subgraph          {"ids": [REF, ...]}                  nodes + edges among them
//   GET  /api/graph/algo/NAME?...     pagerank, ppr, khop, shortest, similar, wcc, degree
//   GET  /api/graph/recommend/candidates?job=REF|company=REF, /companies?person=REF, /similar?person=REF
// REF is "Label:id" or a node id. Queries always see one whole snapshot: a request takes a
// shared_ptr to the current graph, and a reload swaps the pointer under a mutex, so a new version
// never drops or mixes in-flight queries.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <condition_variable>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"
#include "graph/cypher.h"
#include "graph/graph.h"

namespace hakone {
class HttpServer;
}

namespace hakone::graph {

// Runs a named algorithm with string arguments (from the CLI or a query string) and returns a
// table (columns + rows of Values: nodes, scores, paths). Names: pagerank, ppr, khop, shortest,
// similar, wcc, degree, recommend-candidates, recommend-companies, recommend-similar.
// Errors: InvalidArgument naming the argument, NotFound for unknown nodes/algorithms.
Result<QueryResult> RunAlgorithm(const std::shared_ptr<const Graph>& g, const std::string& name,
                                 const std::map<std::string, std::string>& args);

// Parses JSON parameters ({"name": value, ...}) into Cypher values.
Result<Map> ParseJsonParams(std::string_view json);

class GraphHolder {
 public:
  explicit GraphHolder(std::string dir) : store_(std::move(dir)) {}
  std::shared_ptr<const Graph> Get() const {
    std::lock_guard<std::mutex> lk(mu_);
    return g_;
  }
  void Set(std::shared_ptr<const Graph> g) {
    std::lock_guard<std::mutex> lk(mu_);
    g_ = std::move(g);
  }
  // Loads CURRENT when it names a different version than the one held. Returns true if swapped.
  // A corrupt new version is logged and the old one kept (Corruption returned).
  Result<bool> ReloadIfChanged();
  SnapshotStore& store() { return store_; }

 private:
  SnapshotStore store_;
  mutable std::mutex mu_;
  std::shared_ptr<const Graph> g_;
};

struct GraphServeOptions {
  std::string listen = "127.0.0.1:7475";
  std::string dir;                 // snapshot directory (the build's --out)
  std::string mapping;             // with `every`: rebuild in process
  std::chrono::seconds every{0};   // 0: no in-process rebuild
  int keep = 7;
  std::chrono::milliseconds reload_interval{2000};
  QueryOptions query;
  std::vector<std::string> tokens;  // bearer tokens; empty: loopback only
};

// Reads [graph] (listen, out, mapping, every, keep, reload_interval, query_timeout, max_rows).
Result<GraphServeOptions> GraphServeOptionsFromConfig(const Config& cfg);

// Adds the /api/graph/* routes to `server`. `holder` must outlive the server.
void AddGraphRoutes(HttpServer& server, GraphHolder* holder, const GraphServeOptions& opts);

// The [graph] component: HTTP API on opts.listen, reload watcher, optional periodic rebuild.
Result<std::unique_ptr<Component>> MakeGraphComponent(Runtime& rt, const GraphServeOptions& opts);

}  // namespace hakone::graph
