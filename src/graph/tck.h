// An openCypher TCK runner: executes the Gherkin .feature files of the openCypher Technology
// Compatibility Kit against hakone's Cypher and counts passed / failed / skipped scenarios.
//
// Supported steps: "Given an empty graph" / "any graph", "having executed" (CREATE setup),
// "parameters are", "executing query" / "executing control query", "the result should be, in
// any order / in order / (ignoring element order for lists)", "the result should be empty",
// "a <Error> should be raised ..." (passes when the query fails), "no side effects",
// "the side effects should be" (+nodes, +relationships, +properties, +labels). Scenario Outlines
// are expanded with their Examples; a feature's Background steps run before each scenario.
//
// Skips come from a skip file (src/graph/tck_skips.txt): lines "clause NAME: reason" skip every
// scenario whose queries use that clause; lines "scenario FEATURE / NAME: reason" skip one.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace hakone::graph {

struct TckResult {
  int passed = 0, failed = 0, skipped = 0;
  struct Feature {
    std::string file;
    int passed = 0, failed = 0, skipped = 0;
  };
  std::vector<Feature> features;
  std::vector<std::string> failures;  // "file: scenario: why"
  std::vector<std::string> skips;     // "file: scenario: reason"
};

// Runs every .feature file under `dir` (recursively). `skip_file` may be "" (no skips).
Result<TckResult> RunTck(const std::string& dir, const std::string& skip_file);

}  // namespace hakone::graph
