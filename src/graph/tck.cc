#include "graph/tck.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "graph/cypher.h"

namespace hakone::graph {
namespace {

namespace fs = std::filesystem;

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// ---- canonical rendering of our values ----

std::string Canon(const Value& v, const Graph* g, bool sort_lists);

std::string CanonMap(const Map& m, const Graph* g, bool sort_lists) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, x] : m) {
    if (!first) out += ", ";
    first = false;
    out += k + ": " + Canon(x, g, sort_lists);
  }
  return out + "}";
}

std::string CanonNode(uint32_t n, const Graph* g, bool sort_lists) {
  std::vector<std::string> labels;
  auto [b, e] = g->Labels(n);
  for (auto it = b; it != e; ++it) labels.push_back(g->label_names()[*it]);
  std::sort(labels.begin(), labels.end());
  std::string out = "(";
  for (const auto& l : labels) out += ":" + l;
  Map props = g->NodeProps(n);
  if (!props.empty()) out += (labels.empty() ? "" : " ") + CanonMap(props, g, sort_lists);
  return out + ")";
}

std::string CanonRel(uint32_t r, const Graph* g, bool sort_lists) {
  std::string out = "[:" + g->type_names()[g->RelType(r)];
  Map props = g->RelProps(r);
  if (!props.empty()) out += " " + CanonMap(props, g, sort_lists);
  return out + "]";
}

std::string Canon(const Value& v, const Graph* g, bool sort_lists) {
  switch (v.kind()) {
    case Value::kNode: return CanonNode(v.node(), g, sort_lists);
    case Value::kRel: return CanonRel(v.rel(), g, sort_lists);
    case Value::kPath: {
      const Path& p = v.path();
      std::string out = "<" + CanonNode(p.nodes[0], g, sort_lists);
      for (size_t i = 0; i < p.rels.size(); ++i) {
        bool fwd = g->RelSrc(p.rels[i]) == p.nodes[i];
        out += (fwd ? "-" : "<-") + CanonRel(p.rels[i], g, sort_lists) + (fwd ? "->" : "-");
        out += CanonNode(p.nodes[i + 1], g, sort_lists);
      }
      return out + ">";
    }
    case Value::kList: {
      std::vector<std::string> items;
      for (const auto& e : v.list()) items.push_back(Canon(e, g, sort_lists));
      if (sort_lists) std::sort(items.begin(), items.end());
      std::string out = "[";
      for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
      return out + "]";
    }
    case Value::kMap: return CanonMap(v.map(), g, sort_lists);
    case Value::kString: return Quote(v.s());
    default: return ToCypherString(v, nullptr);
  }
}

// ---- canonical rendering of the TCK's expected values ----

class ExpectedParser {
 public:
  ExpectedParser(const std::string& s, bool sort_lists) : s_(s), sort_(sort_lists) {}
  bool Parse(std::string* out) {
    try {
      *out = Value_();
      Ws();
      return i_ == s_.size();
    } catch (const std::exception&) {
      return false;
    }
  }

 private:
  void Ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char Peek() {
    Ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  void Expect(char c) {
    if (Peek() != c) throw std::runtime_error("expected");
    ++i_;
  }
  std::string Name() {
    Ws();
    if (i_ < s_.size() && s_[i_] == '`') {
      size_t e = s_.find('`', i_ + 1);
      if (e == std::string::npos) throw std::runtime_error("name");
      std::string n = s_.substr(i_ + 1, e - i_ - 1);
      i_ = e + 1;
      return n;
    }
    size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                              static_cast<unsigned char>(s_[i_]) >= 0x80))
      ++i_;
    if (b == i_) throw std::runtime_error("name");
    return s_.substr(b, i_ - b);
  }
  std::string MapBody() {
    Expect('{');
    std::vector<std::pair<std::string, std::string>> kv;
    if (Peek() != '}') {
      for (;;) {
        std::string k = Name();
        Expect(':');
        kv.emplace_back(k, Value_());
        if (Peek() != ',') break;
        ++i_;
      }
    }
    Expect('}');
    std::sort(kv.begin(), kv.end());
    std::string out = "{";
    for (size_t j = 0; j < kv.size(); ++j) out += (j ? ", " : "") + kv[j].first + ": " + kv[j].second;
    return out + "}";
  }
  std::string Node() {
    Expect('(');
    std::vector<std::string> labels;
    while (Peek() == ':') {
      ++i_;
      labels.push_back(Name());
    }
    std::sort(labels.begin(), labels.end());
    std::string props;
    if (Peek() == '{') {
      props = MapBody();
      if (props == "{}") props.clear();
    }
    Expect(')');
    std::string out = "(";
    for (const auto& l : labels) out += ":" + l;
    if (!props.empty()) out += (labels.empty() ? "" : " ") + props;
    return out + ")";
  }
  std::string Rel() {
    Expect('[');
    Expect(':');
    std::string t = Name();
    std::string props;
    if (Peek() == '{') {
      props = MapBody();
      if (props == "{}") props.clear();
    }
    Expect(']');
    return "[:" + t + (props.empty() ? "" : " " + props) + "]";
  }
  std::string Value_() {
    char c = Peek();
    if (c == '(') return Node();
    if (c == '{') return MapBody();
    if (c == '<') {
      ++i_;
      std::string out = "<" + Node();
      while (Peek() != '>') {
        if (Peek() == '<') {
          ++i_;
          Expect('-');
          out += "<-" + Rel();
          Expect('-');
          out += "-";
        } else {
          Expect('-');
          out += "-" + Rel();
          Expect('-');
          Expect('>');
          out += "->";
        }
        out += Node();
      }
      ++i_;
      return out + ">";
    }
    if (c == '[') {
      size_t save = i_;
      ++i_;
      if (Peek() == ':') {
        i_ = save;
        return Rel();
      }
      std::vector<std::string> items;
      if (Peek() != ']') {
        for (;;) {
          items.push_back(Value_());
          if (Peek() != ',') break;
          ++i_;
        }
      }
      Expect(']');
      if (sort_) std::sort(items.begin(), items.end());
      std::string out = "[";
      for (size_t j = 0; j < items.size(); ++j) out += (j ? ", " : "") + items[j];
      return out + "]";
    }
    if (c == '\'' || c == '"') {
      char q = c;
      ++i_;
      std::string v;
      while (i_ < s_.size() && s_[i_] != q) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
          char e = s_[i_ + 1];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          i_ += 2;
          continue;
        }
        v += s_[i_++];
      }
      if (i_ >= s_.size()) throw std::runtime_error("string");
      ++i_;
      return Quote(v);
    }
    // Scalars: the rest up to a delimiter.
    size_t b = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != ']' && s_[i_] != '}' && s_[i_] != ')' && s_[i_] != '>')
      ++i_;
    std::string tok = Trim(s_.substr(b, i_ - b));
    if (tok == "null" || tok == "true" || tok == "false") return tok;
    if (tok == "NaN") return "NaN";
    if (tok == "Infinity" || tok == "-Infinity") return tok;
    char* end = nullptr;
    errno = 0;
    long long iv = std::strtoll(tok.c_str(), &end, 10);
    if (!tok.empty() && *end == 0 && errno == 0) return std::to_string(iv);
    double d = std::strtod(tok.c_str(), &end);
    if (!tok.empty() && *end == 0) return ToCypherString(Value(d), nullptr);
    throw std::runtime_error("scalar");
  }
  const std::string& s_;
  size_t i_ = 0;
  bool sort_;
};

std::vector<std::string> SplitRow(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  bool in_str = false;
  char q = 0;
  std::string t = Trim(line);
  for (size_t i = 1; i < t.size(); ++i) {
    char c = t[i];
    if (in_str) {
      cur += c;
      if (c == '\\' && i + 1 < t.size()) {
        cur += t[++i];
        continue;
      }
      if (c == q) in_str = false;
      continue;
    }
    if (c == '\'' || c == '"') {
      in_str = true;
      q = c;
      cur += c;
    } else if (c == '|') {
      cells.push_back(Trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return cells;
}

struct Step {
  std::string text;
  std::string doc;                               // """ block
  std::vector<std::vector<std::string>> table;  // | rows |
};
struct Scenario {
  std::string name;
  std::vector<Step> steps;
};

std::vector<Scenario> ParseFeature(const std::string& text) {
  std::vector<Scenario> out;
  std::istringstream in(text);
  std::string line;
  Scenario cur;
  bool have = false, outline = false;
  std::vector<std::vector<std::string>> examples;
  bool in_examples = false;
  bool in_background = false;
  std::vector<Step> background;  // a Background: block's steps run before every scenario
  auto flush = [&] {
    if (!have) return;
    if (in_background) {
      background = cur.steps;
      have = in_background = false;
      return;
    }
    if (outline && examples.size() > 1) {
      for (size_t r = 1; r < examples.size(); ++r) {
        Scenario s = cur;
        s.name += " [example " + std::to_string(r) + "]";
        for (auto& st : s.steps) {
          for (size_t c = 0; c < examples[0].size() && c < examples[r].size(); ++c) {
            std::string key = "<" + examples[0][c] + ">";
            for (std::string* f : {&st.text, &st.doc}) {
              for (size_t p; (p = f->find(key)) != std::string::npos;) f->replace(p, key.size(), examples[r][c]);
            }
            for (auto& row : st.table)
              for (auto& cell : row)
                for (size_t p; (p = cell.find(key)) != std::string::npos;) cell.replace(p, key.size(), examples[r][c]);
          }
        }
        out.push_back(std::move(s));
      }
    } else if (!outline) {
      out.push_back(cur);
    }
    have = false;
    examples.clear();
    in_examples = false;
  };
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("Scenario Outline:", 0) == 0 || t.rfind("Scenario:", 0) == 0) {
      flush();
      outline = t.rfind("Scenario Outline:", 0) == 0;
      cur = Scenario{Trim(t.substr(t.find(':') + 1)), background};
      have = true;
      continue;
    }
    if (t.rfind("Background:", 0) == 0) {
      flush();
      cur = Scenario{"", {}};
      have = in_background = true;
      outline = false;
      continue;
    }
    if (!have) continue;
    if (t.rfind("Examples:", 0) == 0) {
      in_examples = true;
      continue;
    }
    if (t[0] == '|') {
      if (in_examples) examples.push_back(SplitRow(t));
      else if (!cur.steps.empty()) cur.steps.back().table.push_back(SplitRow(t));
      continue;
    }
    if (t == "\"\"\"") {
      std::string doc;
      while (std::getline(in, line) && Trim(line) != "\"\"\"") doc += line + "\n";
      if (!cur.steps.empty()) cur.steps.back().doc = doc;
      continue;
    }
    for (const char* kw : {"Given ", "When ", "Then ", "And ", "But "})
      if (t.rfind(kw, 0) == 0) {
        cur.steps.push_back(Step{t.substr(std::string(kw).size()), "", {}});
        break;
      }
  }
  flush();
  return out;
}

struct Skips {
  std::vector<std::pair<std::string, std::string>> clauses;  // (CLAUSE, reason)
  std::map<std::string, std::string> scenarios;              // "Feature / name" -> reason
};

std::string SkipReason(const Scenario& s, const std::string& feature, const Skips& skips) {
  auto it = skips.scenarios.find(feature + " / " + s.name);
  if (it != skips.scenarios.end()) return it->second;
  for (const auto& st : s.steps) {
    if (st.doc.empty()) continue;
    std::string up = st.doc;
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const auto& [clause, reason] : skips.clauses) {
      std::regex re("\\b" + clause + "\\b");
      if (std::regex_search(up, re)) return reason;
    }
  }
  return "";
}

// Runs one scenario; "" when it passed, else why not.
std::string RunScenario(const Scenario& sc) {
  std::shared_ptr<const Graph> g;
  Map params;
  QueryOptions o;
  o.allow_create = true;
  o.max_rows = 1'000'000;
  o.timeout = std::chrono::milliseconds(10000);
  Result<QueryResult> res = Status::Internal("no query executed");
  bool executed = false;
  for (const auto& st : sc.steps) {
    const std::string& t = st.text;
    if (t == "an empty graph" || t == "any graph") {
      g = nullptr;
    } else if (t.rfind("having executed", 0) == 0) {
      auto r = RunCypher(g, st.doc, params, o);
      if (!r.ok()) return "setup failed: " + r.status().message();
      g = r->graph;
    } else if (t.rfind("parameters are", 0) == 0) {
      for (const auto& row : st.table) {
        if (row.size() < 2) continue;
        auto r = RunCypher(nullptr, "RETURN " + row[1] + " AS v", {}, o);
        if (!r.ok()) return "cannot read parameter " + row[0] + ": " + r.status().message();
        params[row[0]] = r->rows[0][0];
      }
    } else if (t.rfind("executing query", 0) == 0 || t.rfind("executing control query", 0) == 0) {
      res = RunCypher(g, st.doc, params, o);
      executed = true;
      if (res.ok()) g = res->graph;
    } else if (t.rfind("the result should be empty", 0) == 0) {
      if (!res.ok()) return "query failed: " + res.status().message();
      if (!res->rows.empty()) return "expected no rows, got " + std::to_string(res->rows.size());
    } else if (t.rfind("the result should be", 0) == 0) {
      if (!res.ok()) return "query failed: " + res.status().message();
      bool ordered = t.find("in order") != std::string::npos;
      bool sort_lists = t.find("ignoring element order for lists") != std::string::npos;
      if (st.table.empty()) return "no expected table";
      if (st.table[0] != res->columns) {
        std::string have;
        for (const auto& c : res->columns) have += "|" + c;
        return "columns differ: got " + have;
      }
      std::vector<std::string> want, got;
      for (size_t r = 1; r < st.table.size(); ++r) {
        std::string row;
        for (const auto& cell : st.table[r]) {
          std::string c;
          ExpectedParser p(cell, sort_lists);
          if (!p.Parse(&c)) return "cannot read expected value " + cell;
          row += c + " | ";
        }
        want.push_back(row);
      }
      for (const auto& r : res->rows) {
        std::string row;
        for (const auto& v : r) row += Canon(v, res->graph.get(), sort_lists) + " | ";
        got.push_back(row);
      }
      if (!ordered) {
        std::sort(want.begin(), want.end());
        std::sort(got.begin(), got.end());
      }
      if (want != got) {
        std::string w, h;
        for (size_t i = 0; i < std::min<size_t>(want.size(), 3); ++i) w += "\n      want " + want[i];
        for (size_t i = 0; i < std::min<size_t>(got.size(), 3); ++i) w += "\n      got  " + got[i];
        return "rows differ (" + std::to_string(want.size()) + " expected, " + std::to_string(got.size()) + " got)" + w;
      }
    } else if (t.rfind("a ", 0) == 0 && t.find("should be raised") != std::string::npos) {
      if (!executed) return "no query";
      if (res.ok()) return "expected an error (" + t + "), the query succeeded";
    } else if (t == "no side effects") {
      if (!res.ok()) return "query failed: " + res.status().message();
      const auto& s = res->stats;
      if (s.nodes_created || s.relationships_created || s.properties_set || s.labels_added) return "unexpected side effects";
    } else if (t.rfind("the side effects should be", 0) == 0) {
      if (!res.ok()) return "query failed: " + res.status().message();
      std::map<std::string, uint64_t> want;
      for (const auto& row : st.table)
        if (row.size() >= 2) want[row[0]] = std::stoull(row[1]);
      const auto& s = res->stats;
      std::map<std::string, uint64_t> got{{"+nodes", s.nodes_created},
                                          {"+relationships", s.relationships_created},
                                          {"+properties", s.properties_set},
                                          {"+labels", 0}};
      // +labels counts distinct new labels in the TCK.
      for (auto& [k, v] : want) {
        if (k == "+labels") continue;
        if (!got.count(k)) return "side effect " + k + " is not supported";
        if (got[k] != v) return "side effect " + k + ": want " + std::to_string(v) + ", got " + std::to_string(got[k]);
      }
    } else {
      return "unsupported step: " + t;
    }
  }
  return "";
}

}  // namespace

Result<TckResult> RunTck(const std::string& dir, const std::string& skip_file) {
  Skips skips;
  if (!skip_file.empty()) {
    std::ifstream in(skip_file);
    if (!in) return Status::IOError("tck: cannot read skip file " + skip_file);
    std::string line;
    while (std::getline(in, line)) {
      std::string t = Trim(line);
      if (t.empty() || t[0] == '#') continue;
      size_t colon = t.find(": ");
      if (colon == std::string::npos) continue;
      std::string head = t.substr(0, colon), reason = Trim(t.substr(colon + 2));
      if (head.rfind("clause ", 0) == 0) skips.clauses.emplace_back(Trim(head.substr(7)), reason);
      else if (head.rfind("scenario ", 0) == 0) skips.scenarios[Trim(head.substr(9))] = reason;
    }
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("tck: " + dir + " is not a directory");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    if (it->path().extension() == ".feature") files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  TckResult res;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    TckResult::Feature fr;
    fr.file = fs::relative(f, dir, ec).string();
    std::string feature = fs::path(f).stem().string();
    for (const auto& sc : ParseFeature(ss.str())) {
      std::string reason = SkipReason(sc, feature, skips);
      if (!reason.empty()) {
        ++fr.skipped;
        res.skips.push_back(fr.file + ": " + sc.name + ": " + reason);
        continue;
      }
      std::string why = RunScenario(sc);
      if (why.empty()) ++fr.passed;
      else {
        ++fr.failed;
        res.failures.push_back(fr.file + ": " + sc.name + ": " + why);
      }
    }
    res.passed += fr.passed;
    res.failed += fr.failed;
    res.skipped += fr.skipped;
    res.features.push_back(fr);
  }
  return res;
}

}  // namespace hakone::graph
