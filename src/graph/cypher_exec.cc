// Cypher planner and executor: clause by clause over a table of rows (see cypher.h).
//
// MATCH: each path pattern is planned from its cheapest anchor (a bound variable, an index seek
// on label + property equality, a label scan, or all nodes) and expanded along the CSR both
// ways; relationships are unique within one MATCH (openCypher's relationship isomorphism).
// Projections group on the non-aggregate items; ORDER BY sees the projected names first, then
// the variables in scope before the projection.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <regex>
#include <unordered_map>
#include <unordered_set>

#include "graph/cypher.h"
#include "graph/cypher_ast.h"

namespace hakone::graph {
namespace cypher {
namespace {

using Row = std::vector<Value>;

[[noreturn]] void TypeError(const Pos& p, const std::string& msg) {
  throw Error(Error::kType, "type error at " + p.str() + ": " + msg);
}
[[noreturn]] void SemanticError(const Pos& p, const std::string& msg) {
  throw Error(Error::kSemantic, "error at " + p.str() + ": " + msg);
}

bool IsHidden(const std::string& name) { return !name.empty() && name[0] == ' '; }

struct Schema {
  std::vector<std::string> names;
  int Find(const std::string& n) const {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n) return static_cast<int>(i);
    return -1;
  }
  int Add(const std::string& n) {
    names.push_back(n);
    return static_cast<int>(names.size()) - 1;
  }
};

struct RowHash {
  size_t operator()(const Row& r) const {
    size_t h = 1469598103934665603ull;
    for (const auto& v : r) h = (h ^ GroupHash(v)) * 1099511628211ull;
    return h;
  }
};
struct RowEq {
  bool operator()(const Row& a, const Row& b) const {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!GroupEquals(a[i], b[i])) return false;
    return true;
  }
};

bool ContainsAgg(const Expr* e) {
  if (!e) return false;
  if (e->is_agg) return true;
  for (const auto& a : e->args)
    if (ContainsAgg(a.get())) return true;
  return false;
}
void CollectAggs(const Expr* e, std::vector<const Expr*>* out) {
  if (!e) return;
  if (e->is_agg) {
    out->push_back(e);
    for (const auto& a : e->args)
      if (ContainsAgg(a.get())) TypeError(a->pos, "aggregate functions cannot be nested");
    return;
  }
  for (const auto& a : e->args) CollectAggs(a.get(), out);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int64_t CheckedAdd(int64_t a, int64_t b, const Pos& p) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) TypeError(p, "integer overflow");
  return r;
}
int64_t CheckedSub(int64_t a, int64_t b, const Pos& p) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) TypeError(p, "integer overflow");
  return r;
}
int64_t CheckedMul(int64_t a, int64_t b, const Pos& p) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) TypeError(p, "integer overflow");
  return r;
}

// UTF-8 aware helpers (Japanese names): code points, not bytes.
std::vector<std::string> Utf8Chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

class Executor {
 public:
  Executor(std::shared_ptr<const Graph> g, const Map& params, const QueryOptions& o)
      : g_(std::move(g)), params_(params), opts_(o), start_(std::chrono::steady_clock::now()) {}

  QueryResult Run(const Query& q) {
    QueryResult res;
    Schema schema;
    std::vector<Row> rows(1);
    std::string plan;
    for (const auto& c : q.clauses) {
      switch (c.kind) {
        case Clause::kMatch:
        case Clause::kOptionalMatch: Match(c, &schema, &rows, q.explain ? &plan : nullptr); break;
        case Clause::kUnwind: Unwind(c, &schema, &rows, q.explain ? &plan : nullptr); break;
        case Clause::kWith:
        case Clause::kReturn: Project(c, &schema, &rows, q.explain ? &plan : nullptr); break;
        case Clause::kCreate:
          if (!opts_.allow_create && !q.explain)
            throw Error(Error::kSemantic, "error at " + c.pos.str() +
                                              ": CREATE is not allowed here: snapshots are read-only (they are "
                                              "rebuilt from their sources by hakone graph build)");
          Create(c, &schema, &rows, q.explain ? &plan : nullptr);
          break;
      }
      if (q.explain) rows.assign(1, Row(schema.names.size()));
    }
    res.graph = g_;
    res.stats = stats_;
    if (q.explain) {
      res.plan = plan;
      return res;
    }
    if (q.clauses.back().kind == Clause::kReturn) {
      res.columns = schema.names;
      res.rows = std::move(rows);
    }
    return res;
  }

 private:
  // ------------------------------------------------------------ limits
  void Tick() {
    if ((++ticks_ & 4095) != 0 || opts_.timeout.count() == 0) return;
    if (std::chrono::steady_clock::now() - start_ > opts_.timeout)
      throw Error(Error::kTimeout, "query exceeded its time limit of " + std::to_string(opts_.timeout.count()) + " ms");
  }
  void CheckRows(size_t n) {
    if (n > opts_.max_rows)
      throw Error(Error::kResource, "query produced more than " + std::to_string(opts_.max_rows) +
                                        " intermediate rows (add a LIMIT or narrow the MATCH)");
  }

  // ------------------------------------------------------------ expressions
  struct Ctx {
    const Schema* schema;
    const Row* row;
    const std::unordered_map<const Expr*, Value>* aggs = nullptr;
    std::vector<std::pair<std::string, Value>> locals;
  };

  Value Lookup(const Expr& e, Ctx& c) {
    for (auto it = c.locals.rbegin(); it != c.locals.rend(); ++it)
      if (it->first == e.name) return it->second;
    int i = c.schema->Find(e.name);
    if (i < 0 || IsHidden(e.name)) SemanticError(e.pos, "variable `" + e.name + "` is not defined");
    return (*c.row)[i];
  }

  bool Truth(const Value& v, const Pos& p) {
    if (v.is_null()) return false;
    if (v.kind() != Value::kBool) TypeError(p, std::string("expected a boolean, got ") + std::string(KindName(v.kind())));
    return v.b();
  }

  // Nodes/relationships created by the CREATE clause being run are not in g_ yet.
  void CheckEntity(const Value& v, const Pos& p) {
    if ((v.kind() == Value::kNode && v.node() >= g_->node_count()) ||
        (v.kind() == Value::kRel && v.rel() >= g_->rel_count()))
      SemanticError(p, "an entity created in the same CREATE clause cannot be read there");
  }

  Value Prop(const Value& base, const std::string& key, const Pos& p) {
    CheckEntity(base, p);
    switch (base.kind()) {
      case Value::kNull: return Value();
      case Value::kNode: return g_->NodeProp(base.node(), key);
      case Value::kRel: return g_->RelProp(base.rel(), key);
      case Value::kMap: {
        auto it = base.map().find(key);
        return it == base.map().end() ? Value() : it->second;
      }
      default: TypeError(p, "cannot read property '" + key + "' of a " + std::string(KindName(base.kind())));
    }
  }

  Value Eval(const Expr& e, Ctx& c) {
    if (c.aggs && e.is_agg) {
      auto it = c.aggs->find(&e);
      if (it != c.aggs->end()) return it->second;
    }
    switch (e.op) {
      case Expr::kLit: return e.lit;
      case Expr::kParam: {
        auto it = params_.find(e.name);
        if (it == params_.end()) SemanticError(e.pos, "parameter $" + e.name + " was not given");
        return it->second;
      }
      case Expr::kVar: return Lookup(e, c);
      case Expr::kProp: return Prop(Eval(*e.args[0], c), e.name, e.pos);
      case Expr::kHasLabels: {
        Value n = Eval(*e.args[0], c);
        if (n.is_null()) return Value();
        if (n.kind() != Value::kNode) TypeError(e.pos, "label predicate on a " + std::string(KindName(n.kind())));
        CheckEntity(n, e.pos);
        for (const auto& l : e.labels) {
          uint32_t id = g_->LabelId(l);
          if (id == kNone || !g_->HasLabel(n.node(), id)) return Value(false);
        }
        return Value(true);
      }
      case Expr::kIndex: {
        Value b = Eval(*e.args[0], c);
        Value i = Eval(*e.args[1], c);
        if (b.is_null() || i.is_null()) return Value();
        if (b.kind() == Value::kList) {
          if (i.kind() != Value::kInt) TypeError(e.pos, "list index must be an INTEGER");
          int64_t n = static_cast<int64_t>(b.list().size());
          int64_t k = i.i() < 0 ? n + i.i() : i.i();
          if (k < 0 || k >= n) return Value();
          return b.list()[k];
        }
        if (b.kind() == Value::kMap || b.kind() == Value::kNode || b.kind() == Value::kRel) {
          if (i.kind() != Value::kString) TypeError(e.pos, "map key must be a STRING");
          return Prop(b, i.s(), e.pos);
        }
        TypeError(e.pos, "cannot index a " + std::string(KindName(b.kind())));
      }
      case Expr::kSlice: {
        Value b = Eval(*e.args[0], c);
        if (b.is_null()) return Value();
        if (b.kind() != Value::kList) TypeError(e.pos, "cannot slice a " + std::string(KindName(b.kind())));
        int64_t n = static_cast<int64_t>(b.list().size());
        int64_t lo = 0, hi = n;
        if (e.args[1]) {
          Value v = Eval(*e.args[1], c);
          if (v.is_null()) return Value();
          if (v.kind() != Value::kInt) TypeError(e.pos, "slice bounds must be INTEGERs");
          lo = v.i() < 0 ? n + v.i() : v.i();
        }
        if (e.args[2]) {
          Value v = Eval(*e.args[2], c);
          if (v.is_null()) return Value();
          if (v.kind() != Value::kInt) TypeError(e.pos, "slice bounds must be INTEGERs");
          hi = v.i() < 0 ? n + v.i() : v.i();
        }
        lo = std::clamp<int64_t>(lo, 0, n);
        hi = std::clamp<int64_t>(hi, 0, n);
        List out;
        for (int64_t k = lo; k < hi; ++k) out.push_back(b.list()[k]);
        return Value(std::move(out));
      }
      case Expr::kList: {
        List out;
        for (const auto& a : e.args) out.push_back(Eval(*a, c));
        return Value(std::move(out));
      }
      case Expr::kMap: {
        Map m;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) m[e.args[i]->lit.s()] = Eval(*e.args[i + 1], c);
        return Value(std::move(m));
      }
      case Expr::kCountStar: SemanticError(e.pos, "count(*) is only allowed in WITH or RETURN");
      case Expr::kFunc: return Call(e, c);
      case Expr::kNot: {
        Value v = Eval(*e.args[0], c);
        if (v.is_null()) return Value();
        if (v.kind() != Value::kBool) TypeError(e.pos, "NOT needs a boolean, got " + std::string(KindName(v.kind())));
        return Value(!v.b());
      }
      case Expr::kNeg: {
        Value v = Eval(*e.args[0], c);
        if (v.is_null()) return Value();
        if (v.kind() == Value::kInt) {
          if (v.i() == INT64_MIN) TypeError(e.pos, "integer overflow");
          return Value(-v.i());
        }
        if (v.kind() == Value::kFloat) return Value(-v.f());
        TypeError(e.pos, "cannot negate a " + std::string(KindName(v.kind())));
      }
      case Expr::kPlus: {
        Value v = Eval(*e.args[0], c);
        if (!v.is_null() && !v.is_number()) TypeError(e.pos, "unary + needs a number");
        return v;
      }
      case Expr::kAnd:
      case Expr::kOr:
      case Expr::kXor: {
        Value a = Eval(*e.args[0], c);
        auto check = [&](const Value& v) {
          if (!v.is_null() && v.kind() != Value::kBool)
            TypeError(e.pos, "boolean operator needs booleans, got " + std::string(KindName(v.kind())));
        };
        check(a);
        if (e.op == Expr::kAnd && !a.is_null() && !a.b()) {
          Value b = Eval(*e.args[1], c);
          check(b);
          return Value(false);
        }
        if (e.op == Expr::kOr && !a.is_null() && a.b()) {
          Value b = Eval(*e.args[1], c);
          check(b);
          return Value(true);
        }
        Value b = Eval(*e.args[1], c);
        check(b);
        if (e.op == Expr::kAnd) {
          if (!b.is_null() && !b.b()) return Value(false);
          if (a.is_null() || b.is_null()) return Value();
          return Value(true);
        }
        if (e.op == Expr::kOr) {
          if (!b.is_null() && b.b()) return Value(true);
          if (a.is_null() || b.is_null()) return Value();
          return Value(false);
        }
        if (a.is_null() || b.is_null()) return Value();
        return Value(a.b() != b.b());
      }
      case Expr::kEq: return CypherEquals(Eval(*e.args[0], c), Eval(*e.args[1], c));
      case Expr::kNe: {
        Value v = CypherEquals(Eval(*e.args[0], c), Eval(*e.args[1], c));
        return v.is_null() ? v : Value(!v.b());
      }
      case Expr::kLt:
      case Expr::kLe:
      case Expr::kGt:
      case Expr::kGe: {
        Value a = Eval(*e.args[0], c), b = Eval(*e.args[1], c);
        // NaN is a number that is neither below, equal to nor above anything: false, not null.
        if (a.is_number() && b.is_number() &&
            ((a.kind() == Value::kFloat && std::isnan(a.f())) || (b.kind() == Value::kFloat && std::isnan(b.f()))))
          return Value(false);
        int r;
        if (!CypherCompare(a, b, &r)) return Value();
        switch (e.op) {
          case Expr::kLt: return Value(r < 0);
          case Expr::kLe: return Value(r <= 0);
          case Expr::kGt: return Value(r > 0);
          default: return Value(r >= 0);
        }
      }
      case Expr::kIsNull: return Value(Eval(*e.args[0], c).is_null());
      case Expr::kIsNotNull: return Value(!Eval(*e.args[0], c).is_null());
      case Expr::kIn: {
        Value x = Eval(*e.args[0], c), l = Eval(*e.args[1], c);
        if (l.is_null()) return Value();
        if (l.kind() != Value::kList) TypeError(e.pos, "IN needs a list on the right, got " + std::string(KindName(l.kind())));
        bool saw_null = false;
        for (const auto& v : l.list()) {
          Value eq = CypherEquals(x, v);
          if (eq.is_null()) saw_null = true;
          else if (eq.b()) return Value(true);
        }
        return saw_null ? Value() : Value(false);
      }
      case Expr::kStartsWith:
      case Expr::kEndsWith:
      case Expr::kContains: {
        Value a = Eval(*e.args[0], c), b = Eval(*e.args[1], c);
        if (a.kind() != Value::kString || b.kind() != Value::kString) return Value();
        const std::string& s = a.s();
        const std::string& t = b.s();
        if (e.op == Expr::kStartsWith) return Value(s.compare(0, t.size(), t) == 0 && s.size() >= t.size());
        if (e.op == Expr::kEndsWith) return Value(s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0);
        return Value(s.find(t) != std::string::npos);
      }
      case Expr::kRegex: {
        Value a = Eval(*e.args[0], c), b = Eval(*e.args[1], c);
        if (a.kind() != Value::kString || b.kind() != Value::kString) return Value();
        try {
          return Value(std::regex_match(a.s(), std::regex(b.s(), std::regex::ECMAScript)));
        } catch (const std::regex_error&) {
          TypeError(e.pos, "invalid regular expression '" + b.s() + "'");
        }
      }
      case Expr::kAdd:
      case Expr::kSub:
      case Expr::kMul:
      case Expr::kDiv:
      case Expr::kMod:
      case Expr::kPow: return Arith(e, Eval(*e.args[0], c), Eval(*e.args[1], c));
      case Expr::kCase: {
        size_t n = e.args.size();
        if (e.args[0]) {
          Value subj = Eval(*e.args[0], c);
          for (size_t i = 1; i + 2 < n; i += 2) {
            Value eq = CypherEquals(subj, Eval(*e.args[i], c));
            if (!eq.is_null() && eq.b()) return Eval(*e.args[i + 1], c);
          }
        } else {
          for (size_t i = 1; i + 2 < n; i += 2) {
            Value w = Eval(*e.args[i], c);
            if (!w.is_null() && w.kind() == Value::kBool && w.b()) return Eval(*e.args[i + 1], c);
          }
        }
        return e.args[n - 1] ? Eval(*e.args[n - 1], c) : Value();
      }
      case Expr::kListComp: {
        Value l = Eval(*e.args[1], c);
        if (l.is_null()) return Value();
        if (l.kind() != Value::kList) TypeError(e.pos, "list comprehension needs a list");
        List out;
        c.locals.emplace_back(e.args[0]->lit.s(), Value());
        for (const auto& v : l.list()) {
          c.locals.back().second = v;
          if (e.args[2] && !Truth(Eval(*e.args[2], c), e.pos)) continue;
          out.push_back(e.args[3] ? Eval(*e.args[3], c) : v);
        }
        c.locals.pop_back();
        return Value(std::move(out));
      }
      case Expr::kQuantifier: {
        Value l = Eval(*e.args[1], c);
        if (l.is_null()) return Value();
        if (l.kind() != Value::kList) TypeError(e.pos, e.name + "(...) needs a list");
        size_t yes = 0, nulls = 0;
        c.locals.emplace_back(e.args[0]->lit.s(), Value());
        for (const auto& v : l.list()) {
          c.locals.back().second = v;
          Value p = Eval(*e.args[2], c);
          if (p.is_null()) ++nulls;
          else if (Truth(p, e.pos)) ++yes;
        }
        c.locals.pop_back();
        size_t n = l.list().size();
        if (e.name == "ANY") return yes > 0 ? Value(true) : nulls ? Value() : Value(false);
        if (e.name == "ALL") return yes == n ? Value(true) : (yes + nulls == n ? Value() : Value(false));
        if (e.name == "NONE") return yes > 0 ? Value(false) : nulls ? Value() : Value(true);
        if (yes > 1) return Value(false);  // SINGLE
        if (nulls) return Value();
        return Value(yes == 1);
      }
      case Expr::kReduce: {
        Value acc = Eval(*e.args[1], c);
        Value l = Eval(*e.args[3], c);
        if (l.is_null()) return Value();
        if (l.kind() != Value::kList) TypeError(e.pos, "reduce needs a list");
        c.locals.emplace_back(e.args[0]->lit.s(), acc);
        c.locals.emplace_back(e.args[2]->lit.s(), Value());
        for (const auto& v : l.list()) {
          c.locals.back().second = v;
          Value next = Eval(*e.args[4], c);
          c.locals[c.locals.size() - 2].second = next;
        }
        acc = c.locals[c.locals.size() - 2].second;
        c.locals.pop_back();
        c.locals.pop_back();
        return acc;
      }
    }
    return Value();
  }

  Value Arith(const Expr& e, const Value& a, const Value& b) {
    if (a.is_null() || b.is_null()) return Value();
    if (e.op == Expr::kAdd) {
      if (a.kind() == Value::kList || b.kind() == Value::kList) {
        List out;
        if (a.kind() == Value::kList) out = a.list();
        else out.push_back(a);
        if (b.kind() == Value::kList) out.insert(out.end(), b.list().begin(), b.list().end());
        else out.push_back(b);
        return Value(std::move(out));
      }
      if (a.kind() == Value::kString && b.kind() == Value::kString) return Value(a.s() + b.s());
      if (a.kind() == Value::kString && b.is_number()) return Value(a.s() + ToCypherString(b, nullptr));
      if (a.is_number() && b.kind() == Value::kString) return Value(ToCypherString(a, nullptr) + b.s());
    }
    if (!a.is_number() || !b.is_number())
      TypeError(e.pos, "cannot apply arithmetic to " + std::string(KindName(a.kind())) + " and " +
                           std::string(KindName(b.kind())));
    bool ints = a.kind() == Value::kInt && b.kind() == Value::kInt;
    switch (e.op) {
      case Expr::kAdd: return ints ? Value(CheckedAdd(a.i(), b.i(), e.pos)) : Value(a.num() + b.num());
      case Expr::kSub: return ints ? Value(CheckedSub(a.i(), b.i(), e.pos)) : Value(a.num() - b.num());
      case Expr::kMul: return ints ? Value(CheckedMul(a.i(), b.i(), e.pos)) : Value(a.num() * b.num());
      case Expr::kDiv:
        if (ints) {
          if (b.i() == 0) TypeError(e.pos, "division by zero");
          if (a.i() == INT64_MIN && b.i() == -1) TypeError(e.pos, "integer overflow");
          return Value(a.i() / b.i());
        }
        return Value(a.num() / b.num());
      case Expr::kMod:
        if (ints) {
          if (b.i() == 0) TypeError(e.pos, "division by zero");
          if (b.i() == -1) return Value(static_cast<int64_t>(0));
          return Value(a.i() % b.i());
        }
        return Value(std::fmod(a.num(), b.num()));
      default: return Value(std::pow(a.num(), b.num()));
    }
  }

  Value Call(const Expr& e, Ctx& c) {
    const std::string& f = e.name;
    if (e.is_agg) SemanticError(e.pos, f + "() is an aggregate: use it in WITH or RETURN");
    std::vector<Value> a;
    a.reserve(e.args.size());
    for (const auto& x : e.args) {
      a.push_back(Eval(*x, c));
      CheckEntity(a.back(), e.pos);
    }
    auto arity = [&](size_t lo, size_t hi) {
      if (a.size() < lo || a.size() > hi)
        SemanticError(e.pos, f + "() takes " + (lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi)) +
                                 " argument(s), got " + std::to_string(a.size()));
    };
    auto need = [&](size_t i, Value::Kind k) {
      if (a[i].kind() != k)
        TypeError(e.pos, f + "() argument " + std::to_string(i + 1) + " must be " + std::string(KindName(k)) + ", got " +
                             std::string(KindName(a[i].kind())));
    };
    auto need_num = [&](size_t i) {
      if (!a[i].is_number()) TypeError(e.pos, f + "() needs a number, got " + std::string(KindName(a[i].kind())));
    };
    if (f == "coalesce") {
      for (auto& v : a)
        if (!v.is_null()) return v;
      return Value();
    }
    if (f == "id") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      if (a[0].kind() == Value::kNode) return Value(static_cast<int64_t>(a[0].node()));
      if (a[0].kind() == Value::kRel) return Value(static_cast<int64_t>(a[0].rel()));
      TypeError(e.pos, "id() needs a node or relationship");
    }
    if (f == "labels") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kNode);
      List out;
      auto [b, en] = g_->Labels(a[0].node());
      for (auto it = b; it != en; ++it) out.push_back(Value(g_->label_names()[*it]));
      return Value(std::move(out));
    }
    if (f == "type") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kRel);
      return Value(g_->type_names()[g_->RelType(a[0].rel())]);
    }
    if (f == "keys" || f == "properties") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      Map m;
      if (a[0].kind() == Value::kNode) m = g_->NodeProps(a[0].node());
      else if (a[0].kind() == Value::kRel) m = g_->RelProps(a[0].rel());
      else if (a[0].kind() == Value::kMap) m = a[0].map();
      else TypeError(e.pos, f + "() needs a node, relationship or map");
      if (f == "properties") return Value(std::move(m));
      List out;
      for (const auto& [k, v] : m)
        if (!v.is_null() || a[0].kind() == Value::kMap) out.push_back(Value(k));
      return Value(std::move(out));
    }
    if (f == "startnode" || f == "endnode") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kRel);
      return Value(NodeRef{f == "startnode" ? g_->RelSrc(a[0].rel()) : g_->RelDst(a[0].rel())});
    }
    if (f == "nodes" || f == "relationships") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kPath);
      List out;
      if (f == "nodes")
        for (auto n : a[0].path().nodes) out.push_back(Value(NodeRef{n}));
      else
        for (auto r : a[0].path().rels) out.push_back(Value(RelRef{r}));
      return Value(std::move(out));
    }
    if (f == "length") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      if (a[0].kind() == Value::kPath) return Value(static_cast<int64_t>(a[0].path().rels.size()));
      if (a[0].kind() == Value::kString) return Value(static_cast<int64_t>(Utf8Chars(a[0].s()).size()));
      if (a[0].kind() == Value::kList) return Value(static_cast<int64_t>(a[0].list().size()));
      TypeError(e.pos, "length() needs a path");
    }
    if (f == "size") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      if (a[0].kind() == Value::kList) return Value(static_cast<int64_t>(a[0].list().size()));
      if (a[0].kind() == Value::kString) return Value(static_cast<int64_t>(Utf8Chars(a[0].s()).size()));
      TypeError(e.pos, "size() needs a list or string, got " + std::string(KindName(a[0].kind())));
    }
    if (f == "head" || f == "last" || f == "tail") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kList);
      const List& l = a[0].list();
      if (f == "tail") return Value(l.empty() ? List{} : List(l.begin() + 1, l.end()));
      if (l.empty()) return Value();
      return f == "head" ? l.front() : l.back();
    }
    if (f == "range") {
      arity(2, 3);
      for (auto& v : a) need(&v - a.data(), Value::kInt);
      int64_t step = a.size() == 3 ? a[2].i() : 1;
      if (step == 0) TypeError(e.pos, "range() step must not be 0");
      List out;
      for (int64_t x = a[0].i(); step > 0 ? x <= a[1].i() : x >= a[1].i(); x += step) {
        out.push_back(Value(x));
        if (out.size() > opts_.max_rows) CheckRows(out.size());
      }
      return Value(std::move(out));
    }
    if (f == "reverse") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      if (a[0].kind() == Value::kList) {
        List l = a[0].list();
        std::reverse(l.begin(), l.end());
        return Value(std::move(l));
      }
      need(0, Value::kString);
      auto ch = Utf8Chars(a[0].s());
      std::string out;
      for (auto it = ch.rbegin(); it != ch.rend(); ++it) out += *it;
      return Value(out);
    }
    if (f == "toupper" || f == "tolower" || f == "upper" || f == "lower") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kString);
      std::string s = a[0].s();
      bool up = f == "toupper" || f == "upper";
      for (auto& ch : s) ch = static_cast<char>(up ? std::toupper(static_cast<unsigned char>(ch)) : std::tolower(static_cast<unsigned char>(ch)));
      return Value(s);
    }
    if (f == "trim" || f == "ltrim" || f == "rtrim") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need(0, Value::kString);
      std::string s = a[0].s();
      size_t b = 0, en = s.size();
      if (f != "rtrim")
        while (b < en && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
      if (f != "ltrim")
        while (en > b && std::isspace(static_cast<unsigned char>(s[en - 1]))) --en;
      return Value(s.substr(b, en - b));
    }
    if (f == "replace") {
      arity(3, 3);
      for (auto& v : a)
        if (v.is_null()) return Value();
      for (size_t i = 0; i < 3; ++i) need(i, Value::kString);
      std::string s = a[0].s();
      const std::string& from = a[1].s();
      const std::string& to = a[2].s();
      if (from.empty()) return Value(s);
      std::string out;
      size_t p = 0;
      for (size_t q; (q = s.find(from, p)) != std::string::npos; p = q + from.size()) out += s.substr(p, q - p) + to;
      return Value(out + s.substr(p));
    }
    if (f == "substring" || f == "left" || f == "right") {
      arity(f == "substring" ? 2 : 2, f == "substring" ? 3 : 2);
      if (a[0].is_null()) return Value();
      need(0, Value::kString);
      for (size_t i = 1; i < a.size(); ++i) {
        if (a[i].is_null()) TypeError(e.pos, f + "() length/start must not be null");
        need(i, Value::kInt);
        if (a[i].i() < 0) TypeError(e.pos, f + "() start and length must not be negative");
      }
      auto ch = Utf8Chars(a[0].s());
      size_t n = ch.size();
      size_t start = 0, len = n;
      if (f == "substring") {
        start = std::min<size_t>(static_cast<size_t>(a[1].i()), n);
        if (a.size() == 3) len = static_cast<size_t>(a[2].i());
      } else if (f == "left") {
        len = static_cast<size_t>(a[1].i());
      } else {
        size_t k = std::min<size_t>(static_cast<size_t>(a[1].i()), n);
        start = n - k;
      }
      std::string out;
      for (size_t i = start; i < n && i - start < len; ++i) out += ch[i];
      return Value(out);
    }
    if (f == "split") {
      arity(2, 2);
      if (a[0].is_null() || a[1].is_null()) return Value();
      need(0, Value::kString);
      need(1, Value::kString);
      List out;
      const std::string& s = a[0].s();
      const std::string& d = a[1].s();
      if (d.empty()) {
        for (auto& ch : Utf8Chars(s)) out.push_back(Value(ch));
        return Value(std::move(out));
      }
      size_t p = 0;
      for (size_t q; (q = s.find(d, p)) != std::string::npos; p = q + d.size()) out.push_back(Value(s.substr(p, q - p)));
      out.push_back(Value(s.substr(p)));
      return Value(std::move(out));
    }
    if (f == "tostring") {
      arity(1, 1);
      const Value& v = a[0];
      switch (v.kind()) {
        case Value::kNull: return Value();
        case Value::kString: return v;
        case Value::kInt:
        case Value::kFloat:
        case Value::kBool: return Value(ToCypherString(v, nullptr));
        default: TypeError(e.pos, "toString() cannot convert a " + std::string(KindName(v.kind())));
      }
    }
    if (f == "tointeger" || f == "toint") {
      arity(1, 1);
      const Value& v = a[0];
      if (v.kind() == Value::kInt) return v;
      if (v.kind() == Value::kFloat) {
        if (!std::isfinite(v.f()) || std::fabs(v.f()) >= 9.2e18) return Value();
        return Value(static_cast<int64_t>(v.f()));
      }
      if (v.kind() == Value::kString) {
        const std::string& s = v.s();
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && *end == 0 && errno == 0) return Value(static_cast<int64_t>(x));
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
        return Value();
      }
      if (v.is_null()) return Value();
      if (v.kind() == Value::kBool) return Value(static_cast<int64_t>(v.b() ? 1 : 0));
      TypeError(e.pos, "toInteger() cannot convert a " + std::string(KindName(v.kind())));
    }
    if (f == "tofloat") {
      arity(1, 1);
      const Value& v = a[0];
      if (v.kind() == Value::kFloat) return v;
      if (v.kind() == Value::kInt) return Value(static_cast<double>(v.i()));
      if (v.kind() == Value::kString) {
        char* end = nullptr;
        double d = std::strtod(v.s().c_str(), &end);
        if (!v.s().empty() && *end == 0) return Value(d);
        return Value();
      }
      if (v.is_null()) return Value();
      TypeError(e.pos, "toFloat() cannot convert a " + std::string(KindName(v.kind())));
    }
    if (f == "toboolean") {
      arity(1, 1);
      const Value& v = a[0];
      if (v.kind() == Value::kBool || v.is_null()) return v;
      if (v.kind() == Value::kString) {
        std::string s = Lower(v.s());
        if (s == "true") return Value(true);
        if (s == "false") return Value(false);
        return Value();
      }
      if (v.kind() == Value::kInt) return Value(v.i() != 0);
      TypeError(e.pos, "toBoolean() cannot convert a " + std::string(KindName(v.kind())));
    }
    if (f == "abs" || f == "ceil" || f == "floor" || f == "round" || f == "sign" || f == "sqrt" || f == "exp" ||
        f == "log" || f == "log10" || f == "sin" || f == "cos" || f == "tan") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      need_num(0);
      const Value& v = a[0];
      if (f == "abs") {
        if (v.kind() == Value::kInt) {
          if (v.i() == INT64_MIN) TypeError(e.pos, "integer overflow");
          return Value(v.i() < 0 ? -v.i() : v.i());
        }
        return Value(std::fabs(v.f()));
      }
      if (f == "sign") {
        double x = v.num();
        return Value(static_cast<int64_t>(x > 0 ? 1 : x < 0 ? -1 : 0));
      }
      double x = v.num();
      if (f == "ceil") return Value(std::ceil(x));
      if (f == "floor") return Value(std::floor(x));
      if (f == "round") return Value(std::floor(x + 0.5));
      if (f == "sqrt") return Value(std::sqrt(x));
      if (f == "exp") return Value(std::exp(x));
      if (f == "log") return Value(std::log(x));
      if (f == "log10") return Value(std::log10(x));
      if (f == "sin") return Value(std::sin(x));
      if (f == "cos") return Value(std::cos(x));
      return Value(std::tan(x));
    }
    if (f == "pi") return Value(M_PI);
    if (f == "e") return Value(M_E);
    if (f == "rand") {
      thread_local std::mt19937_64 rng(std::random_device{}());
      return Value(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    }
    if (f == "exists") {
      arity(1, 1);
      return Value(!a[0].is_null());
    }
    if (f == "isempty") {
      arity(1, 1);
      if (a[0].is_null()) return Value();
      if (a[0].kind() == Value::kList) return Value(a[0].list().empty());
      if (a[0].kind() == Value::kString) return Value(a[0].s().empty());
      if (a[0].kind() == Value::kMap) return Value(a[0].map().empty());
      TypeError(e.pos, "isEmpty() needs a list, string or map");
    }
    SemanticError(e.pos, "unknown function " + f + "()");
  }

  // ------------------------------------------------------------ MATCH
  struct Step {
    enum Kind { kAnchor, kExpand, kShortest } kind;
    int node = -1;          // node pattern index bound by this step (anchor / target)
    int from = -1;          // expand: node pattern index to start from
    int rel = -1;           // rel pattern index
    bool leftward = false;  // traversing from nodes[rel+1] to nodes[rel]
    bool node_bound = false;
    bool rel_bound = false;
    // anchor
    std::string seek_key;   // index seek on label + key
    ExprPtr seek_value;
    uint32_t scan_label = kNone;
    bool scan_all = false;
    bool empty = false;     // a label that does not exist: no candidates
  };
  struct PatPlan {
    const PathPat* pat;
    std::vector<int> node_slot, rel_slot;
    int path_slot = -1;
    std::vector<Step> steps;
    std::vector<std::vector<uint32_t>> rel_types;  // resolved type ids per rel pattern (empty: any)
    std::vector<bool> rel_type_missing;            // a named type that does not exist
  };

  static bool HasIndexableProp(const NodePat& n, std::string* key, ExprPtr* value) {
    if (!n.props || n.props->op != Expr::kMap || n.labels.empty()) return false;
    for (size_t i = 0; i + 1 < n.props->args.size(); i += 2) {
      const Expr& v = *n.props->args[i + 1];
      if (v.op == Expr::kLit || v.op == Expr::kParam) {
        *key = n.props->args[i]->lit.s();
        *value = n.props->args[i + 1];
        return true;
      }
    }
    return false;
  }

  PatPlan PlanPattern(const PathPat& p, Schema* schema, std::unordered_set<std::string>* bound) {
    PatPlan pp;
    pp.pat = &p;
    auto slot_for = [&](const std::string& var) {
      if (var.empty()) return schema->Add(" anon" + std::to_string(anon_++));
      int i = schema->Find(var);
      return i >= 0 ? i : schema->Add(var);
    };
    for (const auto& n : p.nodes) pp.node_slot.push_back(slot_for(n.var));
    for (const auto& r : p.rels) {
      if (!r.var.empty() && bound->count(r.var) && r.varlen)
        SemanticError(r.pos, "a variable-length relationship cannot reuse the bound variable `" + r.var + "`");
      pp.rel_slot.push_back(slot_for(r.var));
      std::vector<uint32_t> ids;
      bool missing = false;
      for (const auto& t : r.types) {
        uint32_t id = g_->TypeId(t);
        if (id == kNone) continue;
        ids.push_back(id);
      }
      if (!r.types.empty() && ids.empty()) missing = true;
      pp.rel_types.push_back(ids);
      pp.rel_type_missing.push_back(missing);
    }
    if (!p.var.empty()) {
      if (bound->count(p.var)) SemanticError(p.pos, "variable `" + p.var + "` is already defined");
      pp.path_slot = slot_for(p.var);
    }
    auto is_bound = [&](int ni) { return !p.nodes[ni].var.empty() && bound->count(p.nodes[ni].var) > 0; };
    auto anchor_step = [&](int ni) {
      Step s;
      s.kind = Step::kAnchor;
      s.node = ni;
      s.node_bound = is_bound(ni);
      if (!s.node_bound) {
        const NodePat& n = p.nodes[ni];
        std::string key;
        ExprPtr val;
        if (HasIndexableProp(n, &key, &val) && g_->LabelId(n.labels[0]) != kNone) {
          s.seek_key = key;
          s.seek_value = val;
          s.scan_label = g_->LabelId(n.labels[0]);
        } else if (!n.labels.empty()) {
          // The smallest label.
          size_t best = SIZE_MAX;
          for (const auto& l : n.labels) {
            uint32_t id = g_->LabelId(l);
            if (id == kNone) {
              s.empty = true;
              break;
            }
            auto [b, e] = g_->NodesWithLabel(id);
            if (static_cast<size_t>(e - b) < best) {
              best = static_cast<size_t>(e - b);
              s.scan_label = id;
            }
          }
        } else {
          s.scan_all = true;
        }
        if (!n.var.empty()) bound->insert(n.var);
      }
      return s;
    };
    if (p.shortest) {
      pp.steps.push_back(anchor_step(0));
      pp.steps.push_back(anchor_step(1));
      Step s;
      s.kind = Step::kShortest;
      s.rel = 0;
      pp.steps.push_back(s);
      if (!p.rels[0].var.empty()) bound->insert(p.rels[0].var);
    } else {
      // Cheapest anchor.
      int best = 0;
      double best_cost = 1e300;
      for (size_t i = 0; i < p.nodes.size(); ++i) {
        const NodePat& n = p.nodes[i];
        double cost;
        std::string key;
        ExprPtr val;
        if (is_bound(static_cast<int>(i))) cost = 0;
        else if (HasIndexableProp(n, &key, &val)) cost = 1;
        else if (!n.labels.empty()) {
          uint32_t id = g_->LabelId(n.labels[0]);
          if (id == kNone) cost = 0.5;  // no candidates at all
          else {
            auto [b, e] = g_->NodesWithLabel(id);
            cost = 2 + static_cast<double>(e - b);
          }
        } else {
          cost = 3 + static_cast<double>(g_->node_count());
        }
        if (cost < best_cost) {
          best_cost = cost;
          best = static_cast<int>(i);
        }
      }
      pp.steps.push_back(anchor_step(best));
      for (size_t r = best; r < p.rels.size(); ++r) {
        Step s;
        s.kind = Step::kExpand;
        s.rel = static_cast<int>(r);
        s.from = static_cast<int>(r);
        s.node = static_cast<int>(r + 1);
        s.rel_bound = !p.rels[r].var.empty() && bound->count(p.rels[r].var);
        s.node_bound = is_bound(s.node);
        if (!p.rels[r].var.empty()) bound->insert(p.rels[r].var);
        if (!p.nodes[s.node].var.empty()) bound->insert(p.nodes[s.node].var);
        pp.steps.push_back(s);
      }
      for (int r = best - 1; r >= 0; --r) {
        Step s;
        s.kind = Step::kExpand;
        s.rel = r;
        s.from = r + 1;
        s.node = r;
        s.leftward = true;
        s.rel_bound = !p.rels[r].var.empty() && bound->count(p.rels[r].var);
        s.node_bound = is_bound(s.node);
        if (!p.rels[r].var.empty()) bound->insert(p.rels[r].var);
        if (!p.nodes[s.node].var.empty()) bound->insert(p.nodes[s.node].var);
        pp.steps.push_back(s);
      }
    }
    for (const auto& n : p.nodes)
      if (!n.var.empty()) bound->insert(n.var);
    for (const auto& r : p.rels)
      if (!r.var.empty()) bound->insert(r.var);
    if (!p.var.empty()) bound->insert(p.var);
    return pp;
  }

  std::string DescribePlan(const PatPlan& pp) {
    std::string out;
    const PathPat& p = *pp.pat;
    auto nname = [&](int i) {
      const NodePat& n = p.nodes[i];
      std::string s = "(" + n.var;
      for (const auto& l : n.labels) s += ":" + l;
      return s + ")";
    };
    for (const auto& s : pp.steps) {
      if (s.kind == Step::kAnchor) {
        if (s.node_bound) out += "    Argument " + nname(s.node) + "\n";
        else if (s.empty) out += "    Empty " + nname(s.node) + " (label not in the graph)\n";
        else if (!s.seek_key.empty()) out += "    NodeIndexSeek " + nname(s.node) + " {" + s.seek_key + "}\n";
        else if (s.scan_label != kNone) out += "    NodeByLabelScan " + nname(s.node) + "\n";
        else out += "    AllNodesScan " + nname(s.node) + "\n";
      } else if (s.kind == Step::kShortest) {
        out += "    ShortestPath " + nname(0) + "-[" + p.rels[0].var + "*]-" + nname(1) + " (BFS)\n";
      } else {
        const RelPat& r = p.rels[s.rel];
        std::string types;
        for (const auto& t : r.types) types += (types.empty() ? ":" : "|") + t;
        bool out_dir = (r.dir == 1) != s.leftward;
        std::string arrow = r.dir == 0 ? "-[" + r.var + types + "]-" : out_dir ? "-[" + r.var + types + "]->" : "<-[" + r.var + types + "]-";
        out += std::string("    ") + (r.varlen ? "VarLengthExpand" : "Expand") + (s.node_bound ? "(Into) " : "(All) ") +
               nname(s.from) + arrow + nname(s.node) + "\n";
      }
    }
    return out;
  }

  struct MatchState {
    Row row;
    std::vector<uint32_t> used;  // relationships matched so far in this MATCH
  };

  bool NodeOk(uint32_t n, const NodePat& np, Ctx& c) {
    for (const auto& l : np.labels) {
      uint32_t id = g_->LabelId(l);
      if (id == kNone || !g_->HasLabel(n, id)) return false;
    }
    if (np.props) return PropsOk(g_->NodeProps(n), np.props, c, true, n);
    return true;
  }
  bool PropsOk(const Map& have, const ExprPtr& props, Ctx& c, bool, uint32_t) {
    Value want = Eval(*props, c);
    if (want.is_null()) return true;
    if (want.kind() != Value::kMap) TypeError(props->pos, "a property map must be a MAP");
    for (const auto& [k, v] : want.map()) {
      auto it = have.find(k);
      if (it == have.end()) return false;
      Value eq = CypherEquals(it->second, v);
      if (eq.is_null() || !eq.b()) return false;
    }
    return true;
  }
  bool RelOk(uint32_t r, const PatPlan& pp, int ri, Ctx& c) {
    const auto& types = pp.rel_types[ri];
    if (pp.rel_type_missing[ri]) return false;
    if (!types.empty() && std::find(types.begin(), types.end(), g_->RelType(r)) == types.end()) return false;
    const RelPat& rp = pp.pat->rels[ri];
    if (rp.props) return PropsOk(g_->RelProps(r), rp.props, c, false, r);
    return true;
  }

  // Calls fn(rel, other_node) for each relationship of `u` matching direction/type/props.
  template <typename Fn>
  void ForEachRel(uint32_t u, const PatPlan& pp, int ri, bool leftward, MatchState& st, Ctx& c, Fn&& fn) {
    const RelPat& rp = pp.pat->rels[ri];
    int dir = leftward ? -rp.dir : rp.dir;
    if (dir >= 0) {
      auto [b, e] = g_->Out(u);
      for (auto it = b; it != e; ++it) {
        uint32_t r = *it;
        Tick();
        if (std::find(st.used.begin(), st.used.end(), r) != st.used.end()) continue;
        if (!RelOk(r, pp, ri, c)) continue;
        fn(r, g_->RelDst(r));
      }
    }
    if (dir <= 0) {
      auto [b, e] = g_->In(u);
      for (auto it = b; it != e; ++it) {
        uint32_t r = *it;
        Tick();
        if (dir == 0 && g_->RelSrc(r) == g_->RelDst(r)) continue;  // self loop already seen via Out
        if (std::find(st.used.begin(), st.used.end(), r) != st.used.end()) continue;
        if (!RelOk(r, pp, ri, c)) continue;
        fn(r, g_->RelSrc(r));
      }
    }
  }

  // Binds node pattern `ni` to n (or checks the bound value), then continues.
  void BindNode(const PatPlan& pp, size_t si, int ni, bool bound, uint32_t n, MatchState& st, Ctx& c,
                const std::function<void(MatchState&)>& done) {
    int slot = pp.node_slot[ni];
    if (bound) {
      const Value& v = st.row[slot];
      if (v.kind() != Value::kNode || v.node() != n) return;
      if (!NodeOk(n, pp.pat->nodes[ni], c)) return;
      RunSteps(pp, si + 1, st, c, done);
      return;
    }
    Value saved = st.row[slot];
    st.row[slot] = Value(NodeRef{n});
    if (NodeOk(n, pp.pat->nodes[ni], c)) RunSteps(pp, si + 1, st, c, done);
    st.row[slot] = saved;
  }

  void RunSteps(const PatPlan& pp, size_t si, MatchState& st, Ctx& c, const std::function<void(MatchState&)>& done) {
    if (si == pp.steps.size()) {
      if (pp.path_slot >= 0) st.row[pp.path_slot] = BuildPath(pp, st.row);
      done(st);
      return;
    }
    const Step& s = pp.steps[si];
    const PathPat& p = *pp.pat;
    if (s.kind == Step::kAnchor) {
      if (s.node_bound) {
        const Value& v = st.row[pp.node_slot[s.node]];
        if (v.kind() != Value::kNode) return;  // null from OPTIONAL MATCH: no match
        BindNode(pp, si, s.node, true, v.node(), st, c, done);
        return;
      }
      if (s.empty) return;
      if (!s.seek_key.empty()) {
        Value key = Eval(*s.seek_value, c);
        for (uint32_t n : g_->FindNodes(s.scan_label, s.seek_key, key)) BindNode(pp, si, s.node, false, n, st, c, done);
        return;
      }
      if (s.scan_label != kNone) {
        auto [b, e] = g_->NodesWithLabel(s.scan_label);
        for (auto it = b; it != e; ++it) {
          Tick();
          BindNode(pp, si, s.node, false, *it, st, c, done);
        }
        return;
      }
      for (uint32_t n = 0; n < g_->node_count(); ++n) {
        Tick();
        BindNode(pp, si, s.node, false, n, st, c, done);
      }
      return;
    }
    if (s.kind == Step::kShortest) {
      ShortestStep(pp, si, st, c, done);
      return;
    }
    const RelPat& rp = p.rels[s.rel];
    const Value& fromv = st.row[pp.node_slot[s.from]];
    if (fromv.kind() != Value::kNode) return;
    uint32_t u = fromv.node();
    int rslot = pp.rel_slot[s.rel];
    if (!rp.varlen) {
      ForEachRel(u, pp, s.rel, s.leftward, st, c, [&](uint32_t r, uint32_t v) {
        if (s.rel_bound) {
          const Value& rv = st.row[rslot];
          if (rv.kind() != Value::kRel || rv.rel() != r) return;
        }
        Value saved = st.row[rslot];
        st.row[rslot] = Value(RelRef{r});
        st.used.push_back(r);
        BindNode(pp, si, s.node, s.node_bound, v, st, c, done);
        st.used.pop_back();
        st.row[rslot] = saved;
      });
      return;
    }
    // Variable length: DFS over paths of min..max relationships.
    std::vector<uint32_t> rels;
    int64_t max = rp.max < 0 ? INT64_MAX : rp.max;
    std::function<void(uint32_t)> dfs = [&](uint32_t at) {
      if (static_cast<int64_t>(rels.size()) >= rp.min) {
        List l;
        if (s.leftward)
          for (auto it = rels.rbegin(); it != rels.rend(); ++it) l.push_back(Value(RelRef{*it}));
        else
          for (auto r : rels) l.push_back(Value(RelRef{r}));
        Value saved = st.row[rslot];
        st.row[rslot] = Value(std::move(l));
        BindNode(pp, si, s.node, s.node_bound, at, st, c, done);
        st.row[rslot] = saved;
      }
      if (static_cast<int64_t>(rels.size()) >= max) return;
      ForEachRel(at, pp, s.rel, s.leftward, st, c, [&](uint32_t r, uint32_t v) {
        rels.push_back(r);
        st.used.push_back(r);
        dfs(v);
        st.used.pop_back();
        rels.pop_back();
      });
    };
    dfs(u);
  }

  Value BuildPath(const PatPlan& pp, const Row& row) {
    Path path;
    const Value& first = row[pp.node_slot[0]];
    if (first.kind() != Value::kNode) return Value();
    path.nodes.push_back(first.node());
    for (size_t i = 0; i < pp.pat->rels.size(); ++i) {
      const Value& rv = row[pp.rel_slot[i]];
      auto add = [&](uint32_t r) {
        uint32_t cur = path.nodes.back();
        path.rels.push_back(r);
        path.nodes.push_back(g_->RelSrc(r) == cur ? g_->RelDst(r) : g_->RelSrc(r));
      };
      if (rv.kind() == Value::kRel) add(rv.rel());
      else if (rv.kind() == Value::kList)
        for (const auto& x : rv.list()) add(x.rel());
      else return Value();
    }
    return Value(std::move(path));
  }

  void ShortestStep(const PatPlan& pp, size_t si, MatchState& st, Ctx& c,
                    const std::function<void(MatchState&)>& done) {
    const RelPat& rp = pp.pat->rels[0];
    const Value& av = st.row[pp.node_slot[0]];
    const Value& bv = st.row[pp.node_slot[1]];
    if (av.kind() != Value::kNode || bv.kind() != Value::kNode) return;
    uint32_t a = av.node(), b = bv.node();
    int64_t max = rp.varlen ? (rp.max < 0 ? INT64_MAX : rp.max) : 1;
    int64_t min = rp.varlen ? rp.min : 1;
    int rslot = pp.rel_slot[0];
    auto emit = [&](const std::vector<uint32_t>& rels) {
      List l;
      for (auto r : rels) l.push_back(Value(RelRef{r}));
      Value saved = st.row[rslot];
      st.row[rslot] = rp.varlen ? Value(std::move(l)) : Value(RelRef{rels[0]});
      RunSteps(pp, si + 1, st, c, done);
      st.row[rslot] = saved;
    };
    if (a == b) {
      if (min == 0) emit({});
      return;
    }
    // BFS from a, recording parents (all parents at the shortest depth for allShortestPaths).
    std::unordered_map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> parents;  // node -> (prev, rel)
    std::unordered_map<uint32_t, int64_t> depth;
    std::vector<uint32_t> frontier{a};
    depth[a] = 0;
    bool found = false;
    for (int64_t d = 0; d < max && !frontier.empty() && !found; ++d) {
      std::vector<uint32_t> next;
      for (uint32_t u : frontier) {
        ForEachRel(u, pp, 0, false, st, c, [&](uint32_t r, uint32_t v) {
          auto it = depth.find(v);
          if (it == depth.end()) {
            depth[v] = d + 1;
            parents[v].push_back({u, r});
            next.push_back(v);
            if (v == b) found = true;
          } else if (it->second == d + 1 && pp.pat->shortest == 2) {
            parents[v].push_back({u, r});
          }
        });
      }
      frontier = std::move(next);
    }
    if (!found || depth[b] < min) return;
    std::vector<uint32_t> rels;
    std::function<void(uint32_t)> walk = [&](uint32_t v) {
      if (v == a) {
        std::vector<uint32_t> fwd(rels.rbegin(), rels.rend());
        emit(fwd);
        return;
      }
      for (auto [prev, r] : parents[v]) {
        rels.push_back(r);
        walk(prev);
        rels.pop_back();
        if (pp.pat->shortest == 1) return;
      }
    };
    walk(b);
  }

  void Match(const Clause& cl, Schema* schema, std::vector<Row>* rows, std::string* plan) {
    std::unordered_set<std::string> bound;
    for (const auto& n : schema->names) bound.insert(n);
    size_t in_width = schema->names.size();
    std::vector<PatPlan> plans;
    for (const auto& p : cl.patterns) plans.push_back(PlanPattern(p, schema, &bound));
    if (plan) {
      *plan += cl.kind == Clause::kOptionalMatch ? "OptionalMatch\n" : "Match\n";
      for (const auto& pp : plans) *plan += DescribePlan(pp);
      if (cl.where) *plan += "    Filter WHERE " + std::string("...") + "\n";
      return;
    }
    std::vector<Row> out;
    size_t width = schema->names.size();
    for (auto& in : *rows) {
      MatchState st;
      st.row = in;
      st.row.resize(width);
      Ctx c{schema, &st.row};
      size_t before = out.size();
      std::function<void(size_t, MatchState&)> next_pattern = [&](size_t pi, MatchState& s) {
        if (pi == plans.size()) {
          if (cl.where && !Truth(Eval(*cl.where, c), cl.where->pos)) return;
          out.push_back(s.row);
          CheckRows(out.size());
          return;
        }
        RunSteps(plans[pi], 0, s, c, [&](MatchState& s2) { next_pattern(pi + 1, s2); });
      };
      next_pattern(0, st);
      if (cl.kind == Clause::kOptionalMatch && out.size() == before) {
        Row r = in;
        r.resize(width);  // new variables are null
        (void)in_width;
        out.push_back(std::move(r));
      }
    }
    *rows = std::move(out);
  }

  // ------------------------------------------------------------ UNWIND
  void Unwind(const Clause& cl, Schema* schema, std::vector<Row>* rows, std::string* plan) {
    if (schema->Find(cl.alias) >= 0) SemanticError(cl.pos, "variable `" + cl.alias + "` is already defined");
    Schema in = *schema;
    schema->Add(cl.alias);
    if (plan) {
      *plan += "Unwind AS " + cl.alias + "\n";
      return;
    }
    std::vector<Row> out;
    for (auto& r : *rows) {
      Ctx c{&in, &r};
      Value v = Eval(*cl.unwind, c);
      if (v.is_null()) continue;
      if (v.kind() != Value::kList) {
        Row x = r;
        x.push_back(v);
        out.push_back(std::move(x));
        continue;
      }
      for (const auto& e : v.list()) {
        Row x = r;
        x.push_back(e);
        out.push_back(std::move(x));
        CheckRows(out.size());
      }
    }
    *rows = std::move(out);
  }

  // ------------------------------------------------------------ WITH / RETURN
  int64_t NonNegInt(const ExprPtr& e, const char* what) {
    Schema empty;
    Row r;
    Ctx c{&empty, &r};
    Value v = Eval(*e, c);
    if (v.kind() != Value::kInt || v.i() < 0)
      TypeError(e->pos, std::string(what) + " must be a non-negative integer, got " + ToCypherString(v, nullptr));
    return v.i();
  }

  struct AggState {
    std::vector<Value> vals;
    uint64_t count = 0;
    std::unordered_set<Row, RowHash, RowEq> seen;  // DISTINCT
    Value param;                                   // percentile
  };

  void AggAdd(const Expr* e, AggState& s, Ctx& c) {
    if (e->op == Expr::kCountStar) {
      ++s.count;
      return;
    }
    if (e->args.empty()) SemanticError(e->pos, e->name + "() needs an argument");
    Value v = Eval(*e->args[0], c);
    if ((e->name == "percentiledisc" || e->name == "percentilecont")) {
      if (e->args.size() != 2) SemanticError(e->pos, e->name + "() takes 2 arguments");
      s.param = Eval(*e->args[1], c);
    }
    if (v.is_null()) return;
    if (e->distinct) {
      if (!s.seen.insert(Row{v}).second) return;
    }
    ++s.count;
    if (e->name != "count") s.vals.push_back(std::move(v));
  }

  Value AggResult(const Expr* e, AggState& s) {
    if (e->op == Expr::kCountStar || e->name == "count") return Value(static_cast<int64_t>(s.count));
    const std::string& f = e->name;
    if (f == "collect") return Value(List(s.vals.begin(), s.vals.end()));
    if (f == "sum" || f == "avg") {
      bool all_int = true;
      int64_t isum = 0;
      double dsum = 0;
      for (const auto& v : s.vals) {
        if (!v.is_number()) TypeError(e->pos, f + "() needs numbers, got " + std::string(KindName(v.kind())));
        if (v.kind() == Value::kInt && all_int) {
          if (__builtin_add_overflow(isum, v.i(), &isum)) TypeError(e->pos, "integer overflow in sum()");
        } else {
          all_int = false;
        }
        dsum += v.num();
      }
      if (f == "sum") return all_int ? Value(isum) : Value(dsum);
      if (s.vals.empty()) return Value();
      return Value(dsum / static_cast<double>(s.vals.size()));
    }
    if (f == "min" || f == "max") {
      if (s.vals.empty()) return Value();
      const Value* best = &s.vals[0];
      for (const auto& v : s.vals) {
        int cmp = OrderCompare(v, *best);
        // Numbers order before strings etc. in OrderCompare; min/max follow that order.
        if ((f == "min" && cmp < 0) || (f == "max" && cmp > 0)) best = &v;
      }
      return *best;
    }
    if (f == "stdev" || f == "stdevp") {
      size_t n = s.vals.size();
      if (n < 2 && f == "stdev") return Value(0.0);
      if (n == 0) return Value(0.0);
      double mean = 0;
      for (const auto& v : s.vals) mean += v.num();
      mean /= static_cast<double>(n);
      double ss = 0;
      for (const auto& v : s.vals) ss += (v.num() - mean) * (v.num() - mean);
      return Value(std::sqrt(ss / static_cast<double>(f == "stdev" ? n - 1 : n)));
    }
    if (f == "percentiledisc" || f == "percentilecont") {
      if (s.vals.empty()) return Value();
      if (!s.param.is_number() || s.param.num() < 0 || s.param.num() > 1)
        TypeError(e->pos, f + "() percentile must be a number between 0.0 and 1.0");
      std::vector<double> xs;
      for (const auto& v : s.vals) xs.push_back(v.num());
      std::sort(xs.begin(), xs.end());
      double p = s.param.num();
      if (f == "percentiledisc") {
        size_t idx = p == 0 ? 0 : static_cast<size_t>(std::ceil(p * static_cast<double>(xs.size()))) - 1;
        for (const auto& v : s.vals)
          if (v.num() == xs[idx]) return v;
        return Value(xs[idx]);
      }
      double pos = p * static_cast<double>(xs.size() - 1);
      size_t lo = static_cast<size_t>(std::floor(pos));
      size_t hi = std::min(lo + 1, xs.size() - 1);
      return Value(xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo)));
    }
    SemanticError(e->pos, "unknown aggregate " + f + "()");
  }

  void Project(const Clause& cl, Schema* schema, std::vector<Row>* rows, std::string* plan) {
    std::vector<ProjItem> items;
    if (cl.star) {
      // `*` projects every variable in scope, in name order (as the TCK expects).
      std::vector<std::string> names;
      for (const auto& n : schema->names)
        if (!IsHidden(n)) names.push_back(n);
      std::sort(names.begin(), names.end());
      for (const auto& n : names) {
        ProjItem it;
        it.expr = std::make_shared<Expr>();
        it.expr->op = Expr::kVar;
        it.expr->name = n;
        it.alias = n;
        items.push_back(it);
      }
      // WITH * may carry no variables (the rows still count); RETURN * needs something to return.
      if (items.empty() && cl.items.empty() && cl.kind == Clause::kReturn)
        SemanticError(cl.pos, "RETURN * has no variables in scope");
    }
    for (const auto& it : cl.items) items.push_back(it);
    Schema out_schema;
    for (const auto& it : items) {
      if (out_schema.Find(it.alias) >= 0)
        SemanticError(it.expr->pos, "column name `" + it.alias + "` is used twice (add AS to rename)");
      if (cl.kind == Clause::kWith && !it.has_alias && it.expr->op != Expr::kVar && !cl.star)
        SemanticError(it.expr->pos, "expression in WITH must be aliased (use AS)");
      out_schema.Add(it.alias);
    }
    bool agg = false;
    for (const auto& it : items) agg = agg || ContainsAgg(it.expr.get());
    std::vector<const Expr*> aggs;
    for (const auto& it : items) CollectAggs(it.expr.get(), &aggs);
    for (const auto& o : cl.order) {
      if (ContainsAgg(o.expr.get()) && !agg)
        SemanticError(o.expr->pos, "aggregate in ORDER BY needs an aggregating projection");
      CollectAggs(o.expr.get(), &aggs);
    }
    if (plan) {
      std::string kw = cl.kind == Clause::kWith ? "With" : "Return";
      std::string cols;
      for (const auto& n : out_schema.names) cols += (cols.empty() ? "" : ", ") + n;
      *plan += (agg ? "EagerAggregation " : "Projection ") + std::string("[") + cols + "] (" + kw + ")\n";
      if (cl.distinct) *plan += "    Distinct\n";
      if (!cl.order.empty()) *plan += "    Sort\n";
      if (cl.skip) *plan += "    Skip\n";
      if (cl.limit) *plan += "    Limit\n";
      if (cl.where) *plan += "    Filter\n";
      *schema = out_schema;
      return;
    }
    // Extended rows: projected values, then the input row (ORDER BY may use both).
    Schema ext = out_schema;
    for (const auto& n : schema->names) ext.Add(n);
    std::vector<Row> out;  // extended
    if (!agg) {
      out.reserve(rows->size());
      for (auto& r : *rows) {
        Ctx c{schema, &r};
        Row x;
        x.reserve(ext.names.size());
        for (const auto& it : items) x.push_back(Eval(*it.expr, c));
        x.insert(x.end(), r.begin(), r.end());
        out.push_back(std::move(x));
      }
    } else {
      struct Group {
        Row key;
        Row rep;
        std::vector<AggState> st;
      };
      std::vector<Group> groups;
      std::unordered_map<Row, size_t, RowHash, RowEq> index;
      std::vector<size_t> key_items;
      for (size_t i = 0; i < items.size(); ++i)
        if (!ContainsAgg(items[i].expr.get())) key_items.push_back(i);
      for (auto& r : *rows) {
        Ctx c{schema, &r};
        Row key;
        for (size_t i : key_items) key.push_back(Eval(*items[i].expr, c));
        auto [it, inserted] = index.emplace(key, groups.size());
        if (inserted) groups.push_back(Group{key, r, std::vector<AggState>(aggs.size())});
        Group& g = groups[it->second];
        for (size_t k = 0; k < aggs.size(); ++k) AggAdd(aggs[k], g.st[k], c);
        Tick();
      }
      if (groups.empty() && key_items.empty())
        groups.push_back(Group{{}, Row(schema->names.size()), std::vector<AggState>(aggs.size())});
      for (auto& g : groups) {
        std::unordered_map<const Expr*, Value> av;
        for (size_t k = 0; k < aggs.size(); ++k) av[aggs[k]] = AggResult(aggs[k], g.st[k]);
        Ctx c{schema, &g.rep, &av};
        Row x;
        size_t ki = 0;
        for (size_t i = 0; i < items.size(); ++i) {
          if (ki < key_items.size() && key_items[ki] == i) x.push_back(g.key[ki++]);
          else x.push_back(Eval(*items[i].expr, c));
        }
        x.insert(x.end(), g.rep.begin(), g.rep.end());
        // Aggregates only referenced by ORDER BY are evaluated there through `av`; keep them.
        agg_results_.push_back(std::move(av));
        out.push_back(std::move(x));
      }
    }
    size_t w = out_schema.names.size();
    if (cl.distinct) {
      std::unordered_set<Row, RowHash, RowEq> seen;
      std::vector<Row> d;
      for (auto& x : out) {
        Row key(x.begin(), x.begin() + static_cast<long>(w));
        if (seen.insert(key).second) d.push_back(std::move(x));
      }
      out = std::move(d);
      if (agg) agg_results_.clear();
    }
    if (!cl.order.empty()) {
      // Keys evaluated once per row.
      std::vector<std::pair<Row, size_t>> keyed;
      keyed.reserve(out.size());
      for (size_t i = 0; i < out.size(); ++i) {
        const std::unordered_map<const Expr*, Value>* av =
            agg && i < agg_results_.size() ? &agg_results_[i] : nullptr;
        Ctx c{&ext, &out[i], av};
        Row k;
        for (const auto& o : cl.order) k.push_back(Eval(*o.expr, c));
        keyed.emplace_back(std::move(k), i);
      }
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        for (size_t j = 0; j < cl.order.size(); ++j) {
          int cmp = OrderCompare(a.first[j], b.first[j]);
          if (cmp) return cl.order[j].desc ? cmp > 0 : cmp < 0;
        }
        return false;
      });
      std::vector<Row> sorted;
      sorted.reserve(out.size());
      for (auto& k : keyed) sorted.push_back(std::move(out[k.second]));
      out = std::move(sorted);
    }
    agg_results_.clear();
    size_t skip = cl.skip ? static_cast<size_t>(NonNegInt(cl.skip, "SKIP")) : 0;
    size_t limit = cl.limit ? static_cast<size_t>(NonNegInt(cl.limit, "LIMIT")) : SIZE_MAX;
    std::vector<Row> final_rows;
    for (size_t i = skip; i < out.size() && final_rows.size() < limit; ++i) {
      // WITH ... WHERE sees the projected names and, like ORDER BY, the variables before the
      // projection (the semantic check allows only projected expressions after DISTINCT or
      // aggregation, whose values the group's representative row reproduces).
      if (cl.where) {
        Ctx c{&ext, &out[i]};
        if (!Truth(Eval(*cl.where, c), cl.where->pos)) continue;
      }
      out[i].resize(w);
      final_rows.push_back(std::move(out[i]));
    }
    *schema = out_schema;
    *rows = std::move(final_rows);
  }

  // ------------------------------------------------------------ CREATE
  void Create(const Clause& cl, Schema* schema, std::vector<Row>* rows, std::string* plan) {
    std::unordered_set<std::string> bound(schema->names.begin(), schema->names.end());
    struct Slots {
      std::vector<int> nodes, rels;
      int path = -1;
    };
    std::vector<Slots> slots;
    for (const auto& p : cl.patterns) {
      Slots s;
      for (const auto& n : p.nodes) {
        if (n.var.empty()) {
          s.nodes.push_back(schema->Add(" anon" + std::to_string(anon_++)));
          continue;
        }
        int i = schema->Find(n.var);
        if (i >= 0 && (!n.labels.empty() || n.props))
          SemanticError(n.pos, "variable `" + n.var + "` is already bound; CREATE cannot add labels or properties to it");
        s.nodes.push_back(i >= 0 ? i : schema->Add(n.var));
      }
      for (const auto& r : p.rels) {
        if (!r.var.empty() && schema->Find(r.var) >= 0)
          SemanticError(r.pos, "variable `" + r.var + "` is already defined");
        s.rels.push_back(r.var.empty() ? schema->Add(" anon" + std::to_string(anon_++)) : schema->Add(r.var));
      }
      if (!p.var.empty()) s.path = schema->Add(p.var);
      slots.push_back(s);
    }
    if (plan) {
      *plan += "Create\n";
      return;
    }
    GraphBuilder b(*g_);
    size_t width = schema->names.size();
    for (auto& r : *rows) {
      r.resize(width);
      Ctx c{schema, &r};
      for (size_t pi = 0; pi < cl.patterns.size(); ++pi) {
        const PathPat& p = cl.patterns[pi];
        const Slots& s = slots[pi];
        for (size_t ni = 0; ni < p.nodes.size(); ++ni) {
          const NodePat& n = p.nodes[ni];
          int slot = s.nodes[ni];
          bool was_bound = !n.var.empty() && (bound.count(n.var) || created_here_.count(n.var));
          if (was_bound) {
            if (r[slot].kind() != Value::kNode)
              SemanticError(n.pos, "cannot create a relationship to `" + n.var + "`: it is null");
            continue;
          }
          Map props;
          if (n.props) props = CreateProps(n.props, c);
          r[slot] = Value(NodeRef{b.AddNode(n.labels, props)});
          ++stats_.nodes_created;
          stats_.properties_set += props.size();
          stats_.labels_added += n.labels.size();
          if (!n.var.empty()) created_here_.insert(n.var);
        }
        for (size_t ri = 0; ri < p.rels.size(); ++ri) {
          const RelPat& rp = p.rels[ri];
          uint32_t a = r[s.nodes[ri]].node(), z = r[s.nodes[ri + 1]].node();
          if (rp.dir < 0) std::swap(a, z);
          Map props;
          if (rp.props) props = CreateProps(rp.props, c);
          r[s.rels[ri]] = Value(RelRef{b.AddRel(a, z, rp.types[0], props)});
          ++stats_.relationships_created;
          stats_.properties_set += props.size();
        }
      }
      created_here_.clear();
    }
    g_ = b.Freeze();
    // Named paths need the new graph to resolve endpoints.
    for (size_t pi = 0; pi < cl.patterns.size(); ++pi) {
      if (slots[pi].path < 0) continue;
      for (auto& r : *rows) {
        Path path;
        path.nodes.push_back(r[slots[pi].nodes[0]].node());
        for (size_t ri = 0; ri < slots[pi].rels.size(); ++ri) {
          path.rels.push_back(r[slots[pi].rels[ri]].rel());
          path.nodes.push_back(r[slots[pi].nodes[ri + 1]].node());
        }
        r[slots[pi].path] = Value(std::move(path));
      }
    }
  }

  Map CreateProps(const ExprPtr& e, Ctx& c) {
    Value v = Eval(*e, c);
    if (v.is_null()) return {};
    if (v.kind() != Value::kMap) TypeError(e->pos, "properties must be a map");
    Map out;
    for (const auto& [k, x] : v.map()) {
      if (x.is_null()) continue;
      if (x.kind() == Value::kMap || x.kind() == Value::kNode || x.kind() == Value::kRel || x.kind() == Value::kPath)
        TypeError(e->pos, "property '" + k + "' cannot store a " + std::string(KindName(x.kind())));
      if (x.kind() == Value::kList)
        for (const auto& y : x.list())
          if (y.kind() == Value::kMap || y.kind() == Value::kNode || y.kind() == Value::kRel || y.kind() == Value::kList)
            TypeError(e->pos, "property '" + k + "' must be a list of plain values");
      out[k] = x;
    }
    return out;
  }

  std::shared_ptr<const Graph> g_;
  const Map& params_;
  QueryOptions opts_;
  std::chrono::steady_clock::time_point start_;
  uint64_t ticks_ = 0;
  int anon_ = 0;
  QueryStats stats_;
  std::vector<std::unordered_map<const Expr*, Value>> agg_results_;
  std::unordered_set<std::string> created_here_;
};

}  // namespace
}  // namespace cypher

Status CheckCypher(std::string_view query) {
  try {
    cypher::Check(cypher::Parse(query));
    return Status::Ok();
  } catch (const cypher::Error& e) {
    return Status::InvalidArgument(std::string("cypher: ") + e.what());
  }
}

Result<QueryResult> RunCypher(std::shared_ptr<const Graph> g, std::string_view query, const Map& params,
                              const QueryOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  if (!g) g = GraphBuilder().Freeze();
  try {
    cypher::Query q = cypher::Parse(query);
    cypher::Check(q);
    cypher::Executor ex(std::move(g), params, opts);
    QueryResult r = ex.Run(q);
    r.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  } catch (const cypher::Error& e) {
    switch (e.kind) {
      case cypher::Error::kResource: return Status::ResourceExhausted(std::string("cypher: ") + e.what());
      case cypher::Error::kTimeout: return Status::Timeout(std::string("cypher: ") + e.what());
      default: return Status::InvalidArgument(std::string("cypher: ") + e.what());
    }
  }
}

std::string QueryResult::ToJson() const {
  std::string out = "{\"columns\":[";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(&out, columns[i]);
  }
  out += "],\"rows\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (size_t j = 0; j < rows[i].size(); ++j) {
      if (j) out += ',';
      AppendJson(&out, rows[i][j], graph.get());
    }
    out += ']';
  }
  out += "],\"stats\":{\"nodes_created\":" + std::to_string(stats.nodes_created) +
         ",\"relationships_created\":" + std::to_string(stats.relationships_created) +
         ",\"properties_set\":" + std::to_string(stats.properties_set) + "}";
  char buf[64];
  std::snprintf(buf, sizeof buf, ",\"took_ms\":%.3f", millis);
  out += buf;
  if (!plan.empty()) {
    out += ",\"plan\":";
    AppendJsonString(&out, plan);
  }
  return out + "}";
}

namespace {
size_t DisplayWidth(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    w += n >= 3 ? 2 : 1;  // CJK is double width
    i += n;
  }
  return w;
}
}  // namespace

std::string QueryResult::ToTable() const {
  if (!plan.empty()) return plan;
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(columns.size());
  for (size_t j = 0; j < columns.size(); ++j) width[j] = DisplayWidth(columns[j]);
  for (const auto& r : rows) {
    std::vector<std::string> line;
    for (size_t j = 0; j < r.size(); ++j) {
      std::string s = ToCypherString(r[j], graph.get());
      if (s.size() > 120) {
        size_t k = 117;
        while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;  // a UTF-8 boundary
        s = s.substr(0, k) + "...";
      }
      width[j] = std::max(width[j], DisplayWidth(s));
      line.push_back(std::move(s));
    }
    cells.push_back(std::move(line));
  }
  auto pad = [&](const std::string& s, size_t w) { return s + std::string(w - std::min(w, DisplayWidth(s)), ' '); };
  std::string sep = "+";
  for (size_t w : width) sep += std::string(w + 2, '-') + "+";
  std::string out = sep + "\n|";
  for (size_t j = 0; j < columns.size(); ++j) out += " " + pad(columns[j], width[j]) + " |";
  out += "\n" + sep + "\n";
  for (const auto& line : cells) {
    out += "|";
    for (size_t j = 0; j < line.size(); ++j) out += " " + pad(line[j], width[j]) + " |";
    out += "\n";
  }
  out += sep + "\n";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%zu row%s (%.1f ms)", rows.size(), rows.size() == 1 ? "" : "s", millis);
  out += buf;
  if (stats.nodes_created || stats.relationships_created)
    out += ", created " + std::to_string(stats.nodes_created) + " nodes and " +
           std::to_string(stats.relationships_created) + " relationships";
  return out + "\n";
}

}  // namespace hakone::graph
