// Graph mapping (TOML) and the builder that turns relational rows into a snapshot.
//
// A mapping file lists [[nodes]] and [[relationships]] (and optionally [[audit]] relationships
// read from the gateway's operation log). Each entry reads rows from a source:
//   source = "sqlite:PATH" | "postgresql://..." | "csv:PATH"   (relative paths: from the mapping file)
//   query = "SELECT ..."  or  table = "people"                  (csv sources need neither)
// Nodes: label, id (the id column; stored as property `id`), properties (default: every other
// column). Relationships: type, from = {label, column}, to = {label, column}, properties
// (default: every column other than from/to). A top-level `source` is the default for entries.
// See docs/graph.md for the full format and examples/graph-mapping.toml.
//
// Errors while loading name the file, the line and the key; errors while building name the
// entry (label/type, line), the source, the column, and for rejected rows the row number.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace hakone::graph {

struct EndpointSpec {
  std::string label;
  std::string column;
};

struct NodeSpec {
  std::string label, source, query, table, id = "id";
  std::vector<std::string> properties;  // empty: all but id
  int line = 0;
};

struct RelSpec {
  std::string type, source, query, table;
  EndpointSpec from, to;
  std::vector<std::string> properties;  // empty: all but from/to columns
  int line = 0;
};

// Relationships from the operation log: for each audit event whose path matches `route`
// (e.g. "/candidates/{id}") and method matches, (from.label {id: event.user})-[type {at, method}]->
// (to.label {id: {id}}). Users missing from the graph become nodes of from.label when
// create_missing is set.
struct AuditSpec {
  std::string type = "VIEWED";
  std::string data_dir;  // the gateway's data directory (its audit store is read read-only)
  std::string route;     // path pattern with one {id}
  std::string method;    // "" = any
  std::string from_label = "User";
  std::string to_label;
  bool create_missing = true;
  int64_t since_hours = 0;  // 0 = everything
  int line = 0;
};

struct Mapping {
  std::string path;  // the file it came from
  std::vector<NodeSpec> nodes;
  std::vector<RelSpec> rels;
  std::vector<AuditSpec> audit;
};

// Parses a mapping. `base_dir` resolves relative sqlite:/csv: paths. Errors: InvalidArgument
// "mapping FILE line N: [[nodes]] #2: ..." naming the key.
Result<Mapping> ParseMapping(std::string_view text, const std::string& name, const std::string& base_dir);
Result<Mapping> LoadMapping(const std::string& path);

struct RejectInfo {
  std::string entry;   // "[[relationships]] WORKED_AT (line 12)"
  std::string reason;  // "dangling to id (no Company with id 99)"
  uint64_t count = 0;
  std::vector<std::string> examples;  // a few "row 17: company_id=99"
};

struct BuildReport {
  std::map<std::string, uint64_t> nodes_per_label;
  std::map<std::string, uint64_t> rels_per_type;
  std::vector<RejectInfo> rejects;
  uint64_t rows_read = 0;
  uint64_t rejected = 0;
  double seconds = 0;        // reading + freezing
  double write_seconds = 0;  // writing the snapshot
  std::string version;       // the published version (when written)
  std::string ToText() const;
  std::string ToJson() const;
};

struct BuildOptions {
  bool progress = false;  // a progress bar on stderr
};

// Reads every source of `m` and freezes the graph. Rejected rows are counted in *report.
// Errors (source cannot be opened, bad SQL, missing column): InvalidArgument/IOError/Unavailable
// naming the entry and line.
Result<std::shared_ptr<const Graph>> BuildGraph(const Mapping& m, const BuildOptions& opts, BuildReport* report);

}  // namespace hakone::graph
