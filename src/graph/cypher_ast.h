// Internal: the Cypher syntax tree, shared by the parser and the executor.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/value.h"

namespace hakone::graph::cypher {

// Thrown inside the Cypher module only; RunCypher turns it into a Status.
struct Error : std::runtime_error {
  enum Kind { kSyntax, kSemantic, kType, kResource, kTimeout };
  Error(Kind k, std::string msg) : std::runtime_error(std::move(msg)), kind(k) {}
  Kind kind;
};

struct Pos {
  int line = 1, col = 1;
  std::string str() const { return std::to_string(line) + ":" + std::to_string(col); }
};

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum Op {
    kLit, kParam, kVar, kProp, kIndex, kSlice, kList, kMap, kFunc, kCountStar,
    kNot, kNeg, kPlus, kAdd, kSub, kMul, kDiv, kMod, kPow,
    kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr, kXor,
    kIsNull, kIsNotNull, kIn, kStartsWith, kEndsWith, kContains, kRegex,
    kCase, kListComp, kQuantifier, kHasLabels, kReduce,
  };
  Op op = kLit;
  Pos pos;
  Value lit;
  std::string name;                 // variable/param/function/property name, quantifier kind
  std::vector<std::string> labels;  // kHasLabels
  std::vector<ExprPtr> args;        // operands; kCase: [subject|null, when1, then1, ..., else|null]
  bool distinct = false;            // aggregate DISTINCT
  bool is_agg = false;              // an aggregate function call
  std::string text;                 // source text (for column names)
};

struct NodePat {
  std::string var;  // "" = anonymous
  std::vector<std::string> labels;
  ExprPtr props;  // kMap or kParam or null
  Pos pos;
};

struct RelPat {
  std::string var;
  std::vector<std::string> types;
  ExprPtr props;
  int dir = 0;  // 1: ->, -1: <-, 0: either
  bool varlen = false;
  int64_t min = 1, max = 1;  // max -1 = unbounded
  Pos pos;
};

struct PathPat {
  std::string var;  // named path
  int shortest = 0;  // 1 shortestPath, 2 allShortestPaths
  std::vector<NodePat> nodes;
  std::vector<RelPat> rels;  // rels[i] joins nodes[i] and nodes[i+1]
  Pos pos;
};

struct SortItem {
  ExprPtr expr;
  bool desc = false;
};

struct ProjItem {
  ExprPtr expr;
  std::string alias;
  bool has_alias = false;
};

struct Clause {
  enum Kind { kMatch, kOptionalMatch, kWith, kReturn, kUnwind, kCreate };
  Kind kind = kMatch;
  Pos pos;
  std::vector<PathPat> patterns;
  ExprPtr where;
  bool distinct = false, star = false;
  std::vector<ProjItem> items;
  std::vector<SortItem> order;
  ExprPtr skip, limit;
  ExprPtr unwind;
  std::string alias;
};

struct Query {
  bool explain = false;
  std::vector<Clause> clauses;
};

// Throws Error.
Query Parse(std::string_view text);
bool IsAggregateName(const std::string& lower_name);

// Compile-time semantic checks (cypher_check.cc): variable kinds and scope, unknown functions,
// aggregation placement. Throws Error (kSemantic) naming line:column.
void Check(const Query& q);
// The functions the executor evaluates (lower case), aggregates included.
const std::vector<std::string>& KnownFunctions();
bool IsKnownFunction(const std::string& lower_name);

}  // namespace hakone::graph::cypher
