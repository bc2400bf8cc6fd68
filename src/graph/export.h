// Export to Neo4j's bulk importer (neo4j-admin database import full).
//
// Writes one node file per label (nodes_<Label>.csv: `id:ID(<Label>)`, `:LABEL`, typed property
// columns such as `since:long`, `score:double`, `skills:string[]`) and one relationship file per
// (type, start label, end label) (rels_<TYPE>_<From>_<To>.csv: `:START_ID(<From>)`,
// `:END_ID(<To>)`, `:TYPE`, typed properties), plus import.sh with the neo4j-admin command line.
// The ID is the node's `id` property (the mapping's id column) or, without one, "n<node id>".
// Arrays use ';' (neo4j-admin's default --array-delimiter).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace hakone::graph {

struct ExportSummary {
  std::vector<std::string> files;
  std::string command;  // the neo4j-admin command line
  uint64_t nodes = 0, rels = 0;
};

// Writes into `dir` (created). Errors: IOError.
Result<ExportSummary> ExportNeo4jAdmin(const Graph& g, const std::string& dir, const std::string& database = "neo4j");

}  // namespace hakone::graph
