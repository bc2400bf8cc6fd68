#include "graph/value.h"

#include <cmath>
#include <cstdio>
#include <functional>

#include "graph/graph.h"

namespace hakone::graph {

std::string_view KindName(Value::Kind k) {
  switch (k) {
    case Value::kNull: return "NULL";
    case Value::kBool: return "BOOLEAN";
    case Value::kInt: return "INTEGER";
    case Value::kFloat: return "FLOAT";
    case Value::kString: return "STRING";
    case Value::kList: return "LIST";
    case Value::kMap: return "MAP";
    case Value::kNode: return "NODE";
    case Value::kRel: return "RELATIONSHIP";
    case Value::kPath: return "PATH";
  }
  return "?";
}

Value CypherEquals(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return Value();
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::kInt && b.kind() == Value::kInt) return Value(a.i() == b.i());
    return Value(a.num() == b.num());
  }
  if (a.kind() != b.kind()) return Value(false);
  switch (a.kind()) {
    case Value::kBool: return Value(a.b() == b.b());
    case Value::kString: return Value(a.s() == b.s());
    case Value::kNode: return Value(a.node() == b.node());
    case Value::kRel: return Value(a.rel() == b.rel());
    case Value::kPath: return Value(a.path().nodes == b.path().nodes && a.path().rels == b.path().rels);
    case Value::kList: {
      const List& x = a.list();
      const List& y = b.list();
      if (x.size() != y.size()) return Value(false);
      bool saw_null = false;
      for (size_t i = 0; i < x.size(); ++i) {
        Value e = CypherEquals(x[i], y[i]);
        if (e.is_null()) saw_null = true;
        else if (!e.b()) return Value(false);
      }
      return saw_null ? Value() : Value(true);
    }
    case Value::kMap: {
      const Map& x = a.map();
      const Map& y = b.map();
      if (x.size() != y.size()) return Value(false);
      bool saw_null = false;
      for (auto it = x.begin(), jt = y.begin(); it != x.end(); ++it, ++jt) {
        if (it->first != jt->first) return Value(false);
        Value e = CypherEquals(it->second, jt->second);
        if (e.is_null()) saw_null = true;
        else if (!e.b()) return Value(false);
      }
      return saw_null ? Value() : Value(true);
    }
    default: return Value(false);
  }
}

bool CypherCompare(const Value& a, const Value& b, int* out) {
  if (a.is_null() || b.is_null()) return false;
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::kInt && b.kind() == Value::kInt) {
      *out = a.i() < b.i() ? -1 : a.i() > b.i() ? 1 : 0;
      return true;
    }
    double x = a.num(), y = b.num();
    if (std::isnan(x) || std::isnan(y)) return false;
    *out = x < y ? -1 : x > y ? 1 : 0;
    return true;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::kBool: *out = static_cast<int>(a.b()) - static_cast<int>(b.b()); return true;
    case Value::kString: {
      int c = a.s().compare(b.s());
      *out = c < 0 ? -1 : c > 0 ? 1 : 0;
      return true;
    }
    case Value::kList: {
      const List& x = a.list();
      const List& y = b.list();
      for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
        int c;
        if (!CypherCompare(x[i], y[i], &c)) return false;
        if (c != 0) {
          *out = c;
          return true;
        }
      }
      *out = x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
      return true;
    }
    default: return false;
  }
}

namespace {
// Global sort order of types (openCypher ORDER BY): map, node, rel, list, path, string,
// boolean, number, null (ascending puts null last).
int TypeRank(const Value& v) {
  switch (v.kind()) {
    case Value::kMap: return 0;
    case Value::kNode: return 1;
    case Value::kRel: return 2;
    case Value::kList: return 3;
    case Value::kPath: return 4;
    case Value::kString: return 5;
    case Value::kBool: return 6;
    case Value::kInt:
    case Value::kFloat: return 7;
    case Value::kNull: return 8;
  }
  return 9;
}
}  // namespace

int OrderCompare(const Value& a, const Value& b) {
  int ra = TypeRank(a), rb = TypeRank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.kind()) {
    case Value::kNull: return 0;
    case Value::kInt:
    case Value::kFloat: {
      if (a.kind() == Value::kInt && b.kind() == Value::kInt) return a.i() < b.i() ? -1 : a.i() > b.i() ? 1 : 0;
      double x = a.num(), y = b.num();
      bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny) return nx == ny ? 0 : nx ? 1 : -1;  // NaN sorts after numbers
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case Value::kBool: return static_cast<int>(a.b()) - static_cast<int>(b.b());
    case Value::kString: {
      int c = a.s().compare(b.s());
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case Value::kNode: return a.node() < b.node() ? -1 : a.node() > b.node() ? 1 : 0;
    case Value::kRel: return a.rel() < b.rel() ? -1 : a.rel() > b.rel() ? 1 : 0;
    case Value::kList: {
      const List& x = a.list();
      const List& y = b.list();
      for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
        int c = OrderCompare(x[i], y[i]);
        if (c) return c;
      }
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    case Value::kMap: {
      const Map& x = a.map();
      const Map& y = b.map();
      auto it = x.begin();
      auto jt = y.begin();
      for (; it != x.end() && jt != y.end(); ++it, ++jt) {
        int c = it->first.compare(jt->first);
        if (c) return c < 0 ? -1 : 1;
        c = OrderCompare(it->second, jt->second);
        if (c) return c;
      }
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    case Value::kPath: {
      const Path& x = a.path();
      const Path& y = b.path();
      if (x.nodes != y.nodes) return x.nodes < y.nodes ? -1 : 1;
      if (x.rels != y.rels) return x.rels < y.rels ? -1 : 1;
      return 0;
    }
  }
  return 0;
}

bool GroupEquals(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::kInt && b.kind() == Value::kInt) return a.i() == b.i();
    return a.num() == b.num();
  }
  if (a.kind() != b.kind()) return false;
  if (a.kind() == Value::kList) {
    if (a.list().size() != b.list().size()) return false;
    for (size_t i = 0; i < a.list().size(); ++i)
      if (!GroupEquals(a.list()[i], b.list()[i])) return false;
    return true;
  }
  if (a.kind() == Value::kMap) {
    if (a.map().size() != b.map().size()) return false;
    for (auto it = a.map().begin(), jt = b.map().begin(); it != a.map().end(); ++it, ++jt)
      if (it->first != jt->first || !GroupEquals(it->second, jt->second)) return false;
    return true;
  }
  return OrderCompare(a, b) == 0;
}

size_t GroupHash(const Value& v) {
  switch (v.kind()) {
    case Value::kNull: return 0x9e3779b9;
    case Value::kBool: return v.b() ? 3 : 5;
    case Value::kInt: return std::hash<double>()(static_cast<double>(v.i()));
    case Value::kFloat: return std::hash<double>()(v.f());
    case Value::kString: return std::hash<std::string>()(v.s());
    case Value::kNode: return std::hash<uint32_t>()(v.node()) * 31 + 1;
    case Value::kRel: return std::hash<uint32_t>()(v.rel()) * 31 + 2;
    case Value::kList: {
      size_t h = 7;
      for (const auto& e : v.list()) h = h * 1000003 ^ GroupHash(e);
      return h;
    }
    case Value::kMap: {
      size_t h = 11;
      for (const auto& [k, e] : v.map()) h = h * 1000003 ^ std::hash<std::string>()(k) ^ GroupHash(e);
      return h;
    }
    case Value::kPath: {
      size_t h = 13;
      for (auto n : v.path().nodes) h = h * 31 + n;
      return h;
    }
  }
  return 0;
}

namespace {

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  if (d == std::floor(d) && std::fabs(d) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.1f", d);
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

void MapString(std::string* out, const Map& m, const Graph* g) {
  *out += '{';
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) *out += ", ";
    first = false;
    *out += k;
    *out += ": ";
    *out += ToCypherString(v, g);
  }
  *out += '}';
}

std::string NodeString(uint32_t n, const Graph* g) {
  std::string out = "(";
  if (g && n < g->node_count()) {
    auto [b, e] = g->Labels(n);
    for (auto it = b; it != e; ++it) out += ":" + g->label_names()[*it];
    Map props = g->NodeProps(n);
    if (!props.empty()) {
      if (b != e) out += ' ';
      MapString(&out, props, g);
    }
  }
  return out + ")";
}

std::string RelString(uint32_t r, const Graph* g) {
  std::string out = "[";
  if (g && r < g->rel_count()) {
    out += ":" + g->type_names()[g->RelType(r)];
    Map props = g->RelProps(r);
    if (!props.empty()) {
      out += ' ';
      MapString(&out, props, g);
    }
  }
  return out + "]";
}

}  // namespace

std::string ToCypherString(const Value& v, const Graph* g) {
  switch (v.kind()) {
    case Value::kNull: return "null";
    case Value::kBool: return v.b() ? "true" : "false";
    case Value::kInt: return std::to_string(v.i());
    case Value::kFloat: return FormatFloat(v.f());
    case Value::kString: {
      std::string out = "'";
      for (char c : v.s()) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      return out + "'";
    }
    case Value::kList: {
      std::string out = "[";
      bool first = true;
      for (const auto& e : v.list()) {
        if (!first) out += ", ";
        first = false;
        out += ToCypherString(e, g);
      }
      return out + "]";
    }
    case Value::kMap: {
      std::string out;
      MapString(&out, v.map(), g);
      return out;
    }
    case Value::kNode: return NodeString(v.node(), g);
    case Value::kRel: return RelString(v.rel(), g);
    case Value::kPath: {
      const Path& p = v.path();
      std::string out = "<" + NodeString(p.nodes[0], g);
      for (size_t i = 0; i < p.rels.size(); ++i) {
        bool forward = g && g->RelSrc(p.rels[i]) == p.nodes[i];
        out += forward ? "-" : "<-";
        out += RelString(p.rels[i], g);
        out += forward ? "->" : "-";
        out += NodeString(p.nodes[i + 1], g);
      }
      return out + ">";
    }
  }
  return "?";
}

void AppendJsonString(std::string* out, std::string_view s) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

namespace {
void AppendJsonMap(std::string* out, const Map& m, const Graph* g) {
  *out += '{';
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) *out += ',';
    first = false;
    AppendJsonString(out, k);
    *out += ':';
    AppendJson(out, v, g);
  }
  *out += '}';
}
}  // namespace

void AppendJson(std::string* out, const Value& v, const Graph* g) {
  switch (v.kind()) {
    case Value::kNull: *out += "null"; return;
    case Value::kBool: *out += v.b() ? "true" : "false"; return;
    case Value::kInt: *out += std::to_string(v.i()); return;
    case Value::kFloat: {
      if (!std::isfinite(v.f())) {
        *out += "null";
        return;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.f());
      *out += buf;
      return;
    }
    case Value::kString: AppendJsonString(out, v.s()); return;
    case Value::kList: {
      *out += '[';
      bool first = true;
      for (const auto& e : v.list()) {
        if (!first) *out += ',';
        first = false;
        AppendJson(out, e, g);
      }
      *out += ']';
      return;
    }
    case Value::kMap: AppendJsonMap(out, v.map(), g); return;
    case Value::kNode: {
      uint32_t n = v.node();
      *out += "{\"id\":" + std::to_string(n) + ",\"labels\":[";
      if (g) {
        auto [b, e] = g->Labels(n);
        for (auto it = b; it != e; ++it) {
          if (it != b) *out += ',';
          AppendJsonString(out, g->label_names()[*it]);
        }
      }
      *out += "],\"properties\":";
      AppendJsonMap(out, g ? g->NodeProps(n) : Map{}, g);
      *out += '}';
      return;
    }
    case Value::kRel: {
      uint32_t r = v.rel();
      *out += "{\"id\":" + std::to_string(r) + ",\"type\":";
      AppendJsonString(out, g ? g->type_names()[g->RelType(r)] : "");
      *out += ",\"start\":" + std::to_string(g ? g->RelSrc(r) : 0) + ",\"end\":" + std::to_string(g ? g->RelDst(r) : 0);
      *out += ",\"properties\":";
      AppendJsonMap(out, g ? g->RelProps(r) : Map{}, g);
      *out += '}';
      return;
    }
    case Value::kPath: {
      const Path& p = v.path();
      *out += "{\"nodes\":[";
      for (size_t i = 0; i < p.nodes.size(); ++i) {
        if (i) *out += ',';
        AppendJson(out, Value(NodeRef{p.nodes[i]}), g);
      }
      *out += "],\"relationships\":[";
      for (size_t i = 0; i < p.rels.size(); ++i) {
        if (i) *out += ',';
        AppendJson(out, Value(RelRef{p.rels[i]}), g);
      }
      *out += "]}";
      return;
    }
  }
}

}  // namespace hakone::graph
