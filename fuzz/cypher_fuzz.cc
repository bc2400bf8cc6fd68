// libFuzzer target for the Cypher lexer, parser and executor (src/graph/cypher_*.cc).
//
// Every input is parsed (CheckCypher); inputs that parse are also run, with small row and time
// limits, against a small graph built once with CREATE. Errors are fine; crashes, hangs,
// sanitizer reports and non-InvalidArgument/ResourceExhausted/Timeout failures are not.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "graph/cypher.h"

using namespace hakone;
using namespace hakone::graph;

namespace {
std::shared_ptr<const Graph> Small() {
  QueryOptions o;
  o.allow_create = true;
  auto r = RunCypher(nullptr,
                     "CREATE (a:Person {name: 'Alice', age: 30})-[:KNOWS {since: 1}]->(b:Person {name: '山田', tags: ['x']}),"
                     " (b)-[:WORKED_AT]->(c:Company {name: 'Acme'}), (a)-[:WORKED_AT]->(c), (c)-[:SELF]->(c)",
                     {}, o);
  if (!r.ok()) std::abort();
  return r->graph;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::shared_ptr<const Graph> g = Small();
  std::string_view q(reinterpret_cast<const char*>(data), size);
  Status st = CheckCypher(q);
  if (!st.ok()) {
    if (st.code() != StatusCode::kInvalidArgument || st.message().empty()) std::abort();
    return 0;
  }
  QueryOptions o;
  o.allow_create = (size % 2) == 0;
  o.max_rows = 2000;
  o.timeout = std::chrono::milliseconds(200);
  Map params{{"p", Value(1)}, {"s", Value("Alice")}, {"l", Value(List{Value(1), Value("x")})}};
  auto r = RunCypher(g, q, params, o);
  if (!r.ok()) {
    auto c = r.status().code();
    if (c != StatusCode::kInvalidArgument && c != StatusCode::kResourceExhausted && c != StatusCode::kTimeout) std::abort();
    return 0;
  }
  (void)r->ToJson();
  (void)r->ToTable();
  return 0;
}
