// Cypher semantic analysis: the compile-time checks openCypher requires before a query runs
// (see Check in cypher_ast.h). The executor is dynamically typed and only notices a problem
// when a row reaches it; these checks reject the query whatever the graph holds.
//
// Each variable in scope has a static type: node, relationship, relationship list (from a
// variable-length pattern), path, list, other value, or unknown (a parameter, a property, a
// function result). Errors:
//   - a variable used as two different kinds of entity (VariableTypeConflict), e.g. a
//     relationship variable reused as a node, a WITH-projected number matched as a node;
//   - a path or relationship variable bound twice (VariableAlreadyBound, and
//     RelationshipUniquenessViolation inside one pattern), CREATE of an already bound node;
//   - an undefined variable, including a variable hidden by DISTINCT or aggregation in the
//     ORDER BY / WHERE that follows it (UndefinedVariable);
//   - an unknown function (UnknownFunction), an aggregate where none is allowed
//     (InvalidAggregation), rand() inside an aggregate (NonConstantExpression), a parameter used
//     as a pattern's property map in MATCH (InvalidParameterUse);
//   - a non-aggregated expression beside an aggregate that is not a grouping key
//     (AmbiguousAggregationExpression);
//   - a property read or size() of a path (InvalidArgumentType).
#include <algorithm>
#include <map>
#include <set>

#include "graph/cypher_ast.h"

namespace hakone::graph::cypher {
namespace {

enum class VT { kAny, kNode, kRel, kRelList, kPath, kList, kValue };

const char* VtName(VT t) {
  switch (t) {
    case VT::kNode: return "a node";
    case VT::kRel: return "a relationship";
    case VT::kRelList: return "a list of relationships";
    case VT::kPath: return "a path";
    case VT::kList: return "a list";
    case VT::kValue: return "a value";
    case VT::kAny: break;
  }
  return "a value";
}

[[noreturn]] void Fail(const Pos& p, const std::string& msg) {
  throw Error(Error::kSemantic, "error at " + p.str() + ": " + msg);
}

bool ExprEqual(const Expr* a, const Expr* b) {
  if (a == b) return true;
  if (!a || !b) return false;
  if (a->op != b->op || a->name != b->name || a->labels != b->labels || a->distinct != b->distinct ||
      a->args.size() != b->args.size())
    return false;
  if (a->op == Expr::kLit && (a->lit.kind() != b->lit.kind() || !GroupEquals(a->lit, b->lit))) return false;
  for (size_t i = 0; i < a->args.size(); ++i)
    if (!ExprEqual(a->args[i].get(), b->args[i].get())) return false;
  return true;
}

bool HasAgg(const Expr* e) {
  if (!e) return false;
  if (e->is_agg) return true;
  for (const auto& a : e->args)
    if (HasAgg(a.get())) return true;
  return false;
}

// A variable or a property chain on one (n, n.a, n.a.b): the only grouping keys that may appear
// beside an aggregate in the same projection item.
bool IsSimpleKey(const Expr* e) {
  while (e && e->op == Expr::kProp) e = e->args[0].get();
  return e && e->op == Expr::kVar;
}

using Scope = std::map<std::string, VT>;

class Checker {
 public:
  void Run(const Query& q) {
    for (const auto& c : q.clauses) {
      switch (c.kind) {
        case Clause::kMatch:
        case Clause::kOptionalMatch: Match(c); break;
        case Clause::kUnwind: Unwind(c); break;
        case Clause::kWith:
        case Clause::kReturn: Project(c); break;
        case Clause::kCreate: Create(c); break;
      }
    }
  }

 private:
  // ------------------------------------------------------------ expressions
  struct ExprCtx {
    const Scope* scope;
    bool allow_agg = false;
    const char* where = "here";  // for "aggregate functions are not allowed in WHERE"
    // After DISTINCT or aggregation: the projected expressions and the scope before the
    // projection; a sub-expression equal to a projected one may still read that scope.
    const std::vector<const Expr*>* projected = nullptr;
    const Scope* before = nullptr;
  };

  VT LookupVar(const std::string& n, const Scope& s) const {
    for (auto it = locals_.rbegin(); it != locals_.rend(); ++it)
      if (*it == n) return VT::kAny;
    auto it = s.find(n);
    return it == s.end() ? VT::kAny : it->second;
  }
  bool Defined(const std::string& n, const Scope& s) const {
    return std::find(locals_.begin(), locals_.end(), n) != locals_.end() || s.count(n);
  }

  void CheckExpr(const Expr* e, const ExprCtx& c, bool in_agg = false) {
    if (!e) return;
    if (c.projected) {
      for (const Expr* p : *c.projected)
        if (ExprEqual(e, p)) {
          ExprCtx inner = c;
          inner.scope = c.before;
          inner.projected = nullptr;
          CheckExpr(e, inner, in_agg);
          return;
        }
    }
    if (e->is_agg) {
      if (!c.allow_agg) Fail(e->pos, std::string("aggregate functions are not allowed in ") + c.where);
      if (in_agg) Fail(e->pos, "aggregate functions cannot be nested");
      // The aggregate's argument reads the rows before the projection.
      ExprCtx inner = c;
      if (c.before) inner.scope = c.before;
      inner.projected = nullptr;
      for (const auto& a : e->args) CheckExpr(a.get(), inner, true);
      return;
    }
    switch (e->op) {
      case Expr::kVar:
        if (!Defined(e->name, *c.scope)) Fail(e->pos, "variable `" + e->name + "` is not defined");
        return;
      case Expr::kProp:
        if (e->args[0]->op == Expr::kVar && LookupVar(e->args[0]->name, *c.scope) == VT::kPath &&
            Defined(e->args[0]->name, *c.scope))
          Fail(e->pos, "cannot read property '" + e->name + "' of `" + e->args[0]->name + "`: it is a path");
        break;
      case Expr::kFunc: {
        if (!IsKnownFunction(e->name)) Fail(e->pos, "unknown function " + e->name + "()");
        if (e->name == "rand" && in_agg)
          Fail(e->pos, "rand() is not a constant expression and cannot be used inside an aggregate");
        if (e->name == "size" && e->args.size() == 1 && e->args[0]->op == Expr::kVar &&
            Defined(e->args[0]->name, *c.scope) && LookupVar(e->args[0]->name, *c.scope) == VT::kPath)
          Fail(e->pos, "size() needs a list or a string, not a path (use length())");
        break;
      }
      case Expr::kListComp:
      case Expr::kQuantifier: {
        CheckExpr(e->args[1].get(), c, in_agg);
        locals_.push_back(e->args[0]->lit.s());
        for (size_t i = 2; i < e->args.size(); ++i) CheckExpr(e->args[i].get(), c, in_agg);
        locals_.pop_back();
        return;
      }
      case Expr::kReduce: {
        CheckExpr(e->args[1].get(), c, in_agg);
        CheckExpr(e->args[3].get(), c, in_agg);
        locals_.push_back(e->args[0]->lit.s());
        locals_.push_back(e->args[2]->lit.s());
        CheckExpr(e->args[4].get(), c, in_agg);
        locals_.pop_back();
        locals_.pop_back();
        return;
      }
      case Expr::kMap:
        for (size_t i = 1; i < e->args.size(); i += 2) CheckExpr(e->args[i].get(), c, in_agg);
        return;
      default: break;
    }
    for (const auto& a : e->args) CheckExpr(a.get(), c, in_agg);
  }

  VT InferType(const Expr* e, const Scope& s) const {
    switch (e->op) {
      case Expr::kVar: return LookupVar(e->name, s);
      case Expr::kLit:
        if (e->lit.is_null()) return VT::kAny;
        return e->lit.kind() == Value::kList ? VT::kList : VT::kValue;
      case Expr::kList:
      case Expr::kListComp: return VT::kList;
      case Expr::kMap:
      case Expr::kEq: case Expr::kNe: case Expr::kLt: case Expr::kLe: case Expr::kGt: case Expr::kGe:
      case Expr::kAnd: case Expr::kOr: case Expr::kXor: case Expr::kNot:
      case Expr::kIsNull: case Expr::kIsNotNull: case Expr::kStartsWith: case Expr::kEndsWith:
      case Expr::kContains: case Expr::kRegex: case Expr::kHasLabels: case Expr::kCountStar:
        return VT::kValue;
      case Expr::kFunc:
        if (e->name == "collect" || e->name == "nodes" || e->name == "relationships" || e->name == "range" ||
            e->name == "labels" || e->name == "keys" || e->name == "split")
          return VT::kList;
        if (e->name == "count" || e->name == "id" || e->name == "type" || e->name == "length" || e->name == "size")
          return VT::kValue;
        return VT::kAny;
      default: return VT::kAny;
    }
  }

  // ------------------------------------------------------------ clauses
  // Binds `name` as `t` for a pattern; `here` holds what this clause bound so far.
  void BindPatternVar(const std::string& name, VT t, const Pos& pos, Scope* here, bool create) {
    auto in_here = here->find(name);
    auto in_scope = scope_.find(name);
    bool bound_here = in_here != here->end(), bound_before = in_scope != scope_.end();
    if (!bound_here && !bound_before) {
      (*here)[name] = t;
      return;
    }
    VT have = bound_here ? in_here->second : in_scope->second;
    if (t == VT::kPath)
      Fail(pos, "variable `" + name + "` is already bound (as " + VtName(have) + "); a path needs a new variable");
    if (have == VT::kPath)
      Fail(pos, "variable `" + name + "` is a path and cannot be used as " + VtName(t));
    if (t == VT::kRel || t == VT::kRelList) {
      if (create) Fail(pos, "variable `" + name + "` is already bound; CREATE needs a new relationship variable");
      if (bound_here) {
        if (have == VT::kRel || have == VT::kRelList)
          Fail(pos, "relationship variable `" + name + "` is used twice in one MATCH (relationships are unique "
                    "within a pattern)");
        Fail(pos, "variable `" + name + "` is " + VtName(have) + " and cannot be used as a relationship");
      }
      // Bound by an earlier clause: a relationship (or an unknown value) may be matched again.
      if (t == VT::kRel && (have == VT::kRel || have == VT::kAny)) return;
      if (t == VT::kRelList && (have == VT::kRelList || have == VT::kList || have == VT::kAny)) return;
      Fail(pos, "variable `" + name + "` is " + VtName(have) + " and cannot be used as " + VtName(t));
    }
    // t == kNode
    if (have != VT::kNode && have != VT::kAny)
      Fail(pos, "variable `" + name + "` is " + VtName(have) + " and cannot be used as a node");
  }

  Scope Merged(const Scope& here) const {
    Scope s = scope_;
    for (const auto& [k, v] : here) s[k] = v;
    return s;
  }

  void Patterns(const Clause& cl, bool create) {
    Scope here;
    for (const auto& p : cl.patterns) {
      if (!p.var.empty()) BindPatternVar(p.var, VT::kPath, p.pos, &here, create);
      for (size_t i = 0; i < p.nodes.size(); ++i) {
        const NodePat& n = p.nodes[i];
        if (!n.var.empty()) {
          bool before = scope_.count(n.var) > 0 || here.count(n.var) > 0;
          BindPatternVar(n.var, VT::kNode, n.pos, &here, create);
          if (create && before && scope_.count(n.var)) {
            if (!n.labels.empty() || n.props)
              Fail(n.pos, "variable `" + n.var + "` is already bound; CREATE cannot add labels or properties to it");
            if (p.nodes.size() == 1) Fail(n.pos, "variable `" + n.var + "` is already bound; CREATE needs a new node");
          }
        }
        if (n.props) {
          if (!create && n.props->op == Expr::kParam)
            Fail(n.props->pos, "a parameter cannot be used as a property map in MATCH (write {key: $param})");
          Scope s = Merged(here);
          CheckExpr(n.props.get(), ExprCtx{&s, false, "a pattern's properties"});
        }
        if (i < p.rels.size()) {
          const RelPat& r = p.rels[i];
          if (!r.var.empty()) BindPatternVar(r.var, r.varlen ? VT::kRelList : VT::kRel, r.pos, &here, create);
          if (r.props) {
            if (!create && r.props->op == Expr::kParam)
              Fail(r.props->pos, "a parameter cannot be used as a property map in MATCH (write {key: $param})");
            Scope s = Merged(here);
            CheckExpr(r.props.get(), ExprCtx{&s, false, "a pattern's properties"});
          }
        }
      }
    }
    scope_ = Merged(here);
  }

  void Match(const Clause& cl) {
    Patterns(cl, false);
    if (cl.where) CheckExpr(cl.where.get(), ExprCtx{&scope_, false, "WHERE"});
  }

  void Create(const Clause& cl) { Patterns(cl, true); }

  void Unwind(const Clause& cl) {
    CheckExpr(cl.unwind.get(), ExprCtx{&scope_, false, "UNWIND"});
    if (scope_.count(cl.alias)) Fail(cl.pos, "variable `" + cl.alias + "` is already bound; UNWIND needs a new variable");
    scope_[cl.alias] = VT::kAny;
  }

  void Project(const Clause& cl) {
    std::vector<const Expr*> exprs;
    std::vector<std::string> aliases;
    std::vector<std::shared_ptr<Expr>> star_exprs;
    if (cl.star) {
      for (const auto& [name, t] : scope_) {
        auto v = std::make_shared<Expr>();
        v->op = Expr::kVar;
        v->name = name;
        v->pos = cl.pos;
        star_exprs.push_back(v);
        exprs.push_back(v.get());
        aliases.push_back(name);
      }
    }
    for (const auto& it : cl.items) {
      exprs.push_back(it.expr.get());
      aliases.push_back(it.alias);
    }
    bool agg = false;
    for (const Expr* e : exprs) {
      CheckExpr(e, ExprCtx{&scope_, true, "here"});
      agg = agg || HasAgg(e);
    }
    if (agg) {
      std::vector<const Expr*> keys;
      for (const Expr* e : exprs)
        if (!HasAgg(e) && IsSimpleKey(e)) keys.push_back(e);
      for (const Expr* e : exprs)
        if (HasAgg(e)) CheckBesideAggregate(e, keys);
    }
    Scope out;
    for (size_t i = 0; i < exprs.size(); ++i) out[aliases[i]] = InferType(exprs[i], scope_);
    // ORDER BY and WITH ... WHERE see the projected names; without DISTINCT or aggregation
    // also every variable in scope before the projection.
    Scope visible;
    std::vector<const Expr*> projected;
    bool hides = cl.distinct || agg;
    if (!hides) visible = scope_;
    for (const auto& [k, v] : out) visible[k] = v;
    if (hides) projected = exprs;
    ExprCtx oc{&visible, agg, "ORDER BY"};
    if (hides) {
      oc.projected = &projected;
      oc.before = &scope_;
    }
    for (const auto& o : cl.order) CheckExpr(o.expr.get(), oc);
    if (cl.where) {
      ExprCtx wc = oc;
      wc.allow_agg = false;
      wc.where = "WHERE";
      CheckExpr(cl.where.get(), wc);
    }
    scope_ = std::move(out);
  }

  // In `RETURN a.x + count(*)`, `a.x` must itself be a grouping key (a projected variable or
  // property): otherwise it has no single value per group.
  void CheckBesideAggregate(const Expr* e, const std::vector<const Expr*>& keys) {
    if (!e || e->is_agg) return;
    if (IsSimpleKey(e))
      for (const Expr* k : keys)
        if (ExprEqual(e, k)) return;
    if (e->op == Expr::kVar) {
      if (std::find(locals_.begin(), locals_.end(), e->name) != locals_.end()) return;
      Fail(e->pos, "`" + e->name + "` is used beside an aggregate but is not a grouping key (project it on its "
                   "own in the same WITH/RETURN)");
    }
    if (e->op == Expr::kListComp || e->op == Expr::kQuantifier) {
      CheckBesideAggregate(e->args[1].get(), keys);
      locals_.push_back(e->args[0]->lit.s());
      for (size_t i = 2; i < e->args.size(); ++i) CheckBesideAggregate(e->args[i].get(), keys);
      locals_.pop_back();
      return;
    }
    if (e->op == Expr::kReduce) {
      CheckBesideAggregate(e->args[1].get(), keys);
      CheckBesideAggregate(e->args[3].get(), keys);
      locals_.push_back(e->args[0]->lit.s());
      locals_.push_back(e->args[2]->lit.s());
      CheckBesideAggregate(e->args[4].get(), keys);
      locals_.pop_back();
      locals_.pop_back();
      return;
    }
    if (e->op == Expr::kMap) {
      for (size_t i = 1; i < e->args.size(); i += 2) CheckBesideAggregate(e->args[i].get(), keys);
      return;
    }
    for (const auto& a : e->args) CheckBesideAggregate(a.get(), keys);
  }

  Scope scope_;
  std::vector<std::string> locals_;
};

}  // namespace

const std::vector<std::string>& KnownFunctions() {
  // Every function Executor::Call evaluates, and the aggregates (lower case).
  static const std::vector<std::string> names = {
      "abs", "avg", "ceil", "coalesce", "collect", "cos", "count", "e", "endnode", "exists", "exp", "floor",
      "head", "id", "isempty", "keys", "labels", "last", "left", "length", "log", "log10", "lower", "ltrim",
      "max", "min", "nodes", "percentilecont", "percentiledisc", "pi", "properties", "rand", "range",
      "relationships", "replace", "reverse", "right", "round", "rtrim", "sign", "sin", "size", "split", "sqrt",
      "startnode", "stdev", "stdevp", "substring", "sum", "tail", "tan", "toboolean", "tofloat", "toint",
      "tointeger", "tolower", "tostring", "toupper", "trim", "type", "upper"};
  return names;
}

bool IsKnownFunction(const std::string& lower_name) {
  const auto& n = KnownFunctions();
  return std::find(n.begin(), n.end(), lower_name) != n.end();
}

void Check(const Query& q) { Checker().Run(q); }

}  // namespace hakone::graph::cypher
