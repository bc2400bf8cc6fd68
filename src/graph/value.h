// Values of the graph: node and relationship properties, and everything a Cypher expression can
// evaluate to (null, booleans, integers, floats, strings, lists, maps, nodes, relationships,
// paths). Nodes and relationships are ids into a Graph; rendering them needs that graph.
//
// Thread safety: Values are immutable after construction; copies share list/map storage.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hakone::graph {

class Graph;
struct Value;
using List = std::vector<Value>;
using Map = std::map<std::string, Value>;

struct NodeRef {
  uint32_t id;
};
struct RelRef {
  uint32_t id;
};
struct Path {
  std::vector<uint32_t> nodes;  // nodes.size() == rels.size() + 1
  std::vector<uint32_t> rels;
};

struct Value {
  enum Kind : uint8_t { kNull, kBool, kInt, kFloat, kString, kList, kMap, kNode, kRel, kPath };
  std::variant<std::monostate, bool, int64_t, double, std::string, std::shared_ptr<const List>,
               std::shared_ptr<const Map>, NodeRef, RelRef, std::shared_ptr<const Path>>
      v;

  Value() = default;
  Value(bool b) : v(b) {}  // NOLINT
  Value(int64_t i) : v(i) {}  // NOLINT
  Value(int i) : v(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double d) : v(d) {}  // NOLINT
  Value(std::string s) : v(std::move(s)) {}  // NOLINT
  Value(const char* s) : v(std::string(s)) {}  // NOLINT
  Value(List l) : v(std::make_shared<const List>(std::move(l))) {}  // NOLINT
  Value(Map m) : v(std::make_shared<const Map>(std::move(m))) {}  // NOLINT
  Value(NodeRef n) : v(n) {}  // NOLINT
  Value(RelRef r) : v(r) {}  // NOLINT
  Value(Path p) : v(std::make_shared<const Path>(std::move(p))) {}  // NOLINT

  Kind kind() const { return static_cast<Kind>(v.index()); }
  bool is_null() const { return v.index() == 0; }
  bool is_number() const { return kind() == kInt || kind() == kFloat; }
  bool b() const { return std::get<bool>(v); }
  int64_t i() const { return std::get<int64_t>(v); }
  double f() const { return std::get<double>(v); }
  double num() const { return kind() == kInt ? static_cast<double>(i()) : f(); }
  const std::string& s() const { return std::get<std::string>(v); }
  const List& list() const { return *std::get<std::shared_ptr<const List>>(v); }
  const Map& map() const { return *std::get<std::shared_ptr<const Map>>(v); }
  uint32_t node() const { return std::get<NodeRef>(v).id; }
  uint32_t rel() const { return std::get<RelRef>(v).id; }
  const Path& path() const { return *std::get<std::shared_ptr<const Path>>(v); }
};

// The Cypher type name of a value ("INTEGER", "STRING", "NODE", ...), for error messages.
std::string_view KindName(Value::Kind k);

// Cypher equality: null if either side is null (or a list/map containing null decides it),
// else true/false. 1 = 1.0 is true.
Value CypherEquals(const Value& a, const Value& b);
// Cypher ordering comparison for <, <=, >, >=: null when the values are not comparable
// (different types, nulls). Returns -1/0/1 in *out otherwise.
bool CypherCompare(const Value& a, const Value& b, int* out);
// A total order for ORDER BY and DISTINCT/grouping (nulls last ascending, types grouped).
int OrderCompare(const Value& a, const Value& b);
// Equality used by DISTINCT and grouping: null equals null, 1 equals 1.0.
bool GroupEquals(const Value& a, const Value& b);
size_t GroupHash(const Value& v);

// Renders a value the way the TCK writes results: 1, 1.5, 'text', [1, 2], {a: 1},
// (:Label {p: 1}), [:TYPE {p: 1}], <(:A)-[:T]->(:B)>. `g` may be null for plain values.
std::string ToCypherString(const Value& v, const Graph* g);
// Appends the JSON form: nodes become {"id":..,"labels":[..],"properties":{..}},
// relationships {"id","type","start","end","properties"}, paths {"nodes":[..],"relationships":[..]}.
void AppendJson(std::string* out, const Value& v, const Graph* g);
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace hakone::graph
