// An openCypher subset over a Graph snapshot.
//
// Supported: MATCH / OPTIONAL MATCH with node and relationship patterns (labels, property maps,
// directions, variable-length `*min..max`, several comma-separated patterns, named paths,
// shortestPath), WHERE (comparison, AND/OR/XOR/NOT, IN, STARTS WITH / ENDS WITH / CONTAINS,
// IS [NOT] NULL, label predicates, string/list/math functions, CASE, list comprehensions and
// quantifiers), WITH, UNWIND, RETURN with DISTINCT, ORDER BY, SKIP, LIMIT, aggregation (count,
// collect, sum, avg, min, max, stDev), parameters ($name), CREATE (nodes and relationships, for
// small graphs in tests) and EXPLAIN. Anything else is rejected with an error that names the
// construct and its line:column. Before running, openCypher's compile-time checks reject
// semantically invalid queries (variable kind conflicts, rebinding, undefined variables, unknown
// functions, misplaced aggregates; see cypher_check.cc) whatever the graph holds.
//
// Thread safety: RunCypher may be called concurrently on the same Graph (it is immutable).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/value.h"

namespace hakone::graph {

struct QueryOptions {
  bool allow_create = false;          // CREATE makes a new graph (returned in QueryResult::graph)
  size_t max_rows = 5'000'000;        // intermediate rows before ResourceExhausted
  std::chrono::milliseconds timeout{30000};  // 0 = none
};

struct QueryStats {
  uint64_t nodes_created = 0, relationships_created = 0, properties_set = 0, labels_added = 0;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  std::string plan;                     // EXPLAIN: the plan text (rows empty)
  QueryStats stats;
  std::shared_ptr<const Graph> graph;   // the graph the rows refer to (a new one after CREATE)
  double millis = 0;

  // {"columns":[...],"rows":[[...],...],"stats":{...}} (plan included for EXPLAIN).
  std::string ToJson() const;
  // An aligned text table for the terminal.
  std::string ToTable() const;
};

// Parses without running: InvalidArgument "cypher: syntax error at 1:15: expected ..." or
// "cypher: unsupported ... at L:C". Used by the fuzz target and for validation.
Status CheckCypher(std::string_view query);

// Runs `query` with parameters against `g`. Errors: InvalidArgument (syntax, unsupported
// construct, unknown variable, type error) naming line:column, ResourceExhausted (max_rows),
// Timeout.
Result<QueryResult> RunCypher(std::shared_ptr<const Graph> g, std::string_view query, const Map& params = {},
                              const QueryOptions& opts = {});

}  // namespace hakone::graph
