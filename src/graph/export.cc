#include "graph/export.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>

namespace hakone::graph {
namespace {

std::string CsvField(const std::string& s) {
  bool quote = s.find_first_of(",\"\n\r;") != std::string::npos || s.empty();
  if (!quote) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Neo4j import type of a set of values: long, double, boolean, string, or <type>[].
std::string NeoType(const std::vector<Value::Kind>& kinds, bool list) {
  bool all_int = true, all_num = true, all_bool = true;
  for (auto k : kinds) {
    if (k == Value::kNull) continue;
    all_int = all_int && k == Value::kInt;
    all_num = all_num && (k == Value::kInt || k == Value::kFloat);
    all_bool = all_bool && k == Value::kBool;
  }
  std::string t = kinds.empty() ? "string" : all_int ? "long" : all_num ? "double" : all_bool ? "boolean" : "string";
  return list ? t + "[]" : t;
}

std::string Plain(const Value& v) {
  switch (v.kind()) {
    case Value::kNull: return "";
    case Value::kString: return v.s();
    case Value::kBool: return v.b() ? "true" : "false";
    case Value::kList: {
      std::string out;
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i) out += ';';
        out += Plain(v.list()[i]);
      }
      return out;
    }
    default: return ToCypherString(v, nullptr);
  }
}

struct Columns {
  std::vector<std::string> keys;
  std::vector<std::string> headers;
};

Columns ColumnsOf(const PropTable& t, const std::vector<std::string>& skip, const Graph& g,
                  const std::function<Value(uint32_t row, const std::string& key)>& get) {
  Columns c;
  for (const auto& col : t.cols) {
    if (std::find(skip.begin(), skip.end(), col.key) != skip.end()) continue;
    std::vector<Value::Kind> kinds;
    bool list = false;
    for (uint32_t r = 0; r < t.rows; ++r) {
      Value v = get(r, col.key);
      if (v.kind() == Value::kList) {
        list = true;
        for (const auto& e : v.list()) kinds.push_back(e.kind());
      } else {
        kinds.push_back(v.kind());
      }
    }
    c.keys.push_back(col.key);
    c.headers.push_back(col.key + ":" + NeoType(kinds, list));
  }
  return c;
}

std::string NodeId(const Graph& g, uint32_t n) {
  Value id = g.NodeProp(n, "id");
  if (id.is_null()) return "n" + std::to_string(n);
  return Plain(id);
}

}  // namespace

Result<ExportSummary> ExportNeo4jAdmin(const Graph& g, const std::string& dir, const std::string& database) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("export: create " + dir + ": " + ec.message());
  ExportSummary sum;
  std::string cmd = "neo4j-admin database import full --overwrite-destination --array-delimiter=';'";
  auto label_name = [&](uint32_t group) {
    return group < g.label_names().size() ? g.label_names()[group] : std::string("Node");
  };
  for (uint32_t group = 0; group < g.node_group_count(); ++group) {
    const PropTable& t = g.node_table(group);
    if (t.rows == 0) continue;
    std::vector<uint32_t> nodes;
    for (uint32_t n = 0; n < g.node_count(); ++n)
      if (g.node_group(n) == group) nodes.push_back(n);
    auto get = [&](uint32_t row, const std::string& key) { return g.NodeProp(nodes[row], key); };
    Columns cols = ColumnsOf(t, {"id"}, g, get);
    std::string label = label_name(group);
    std::string file = "nodes_" + label + ".csv";
    std::ofstream out(dir + "/" + file, std::ios::binary);
    if (!out) return Status::IOError("export: cannot write " + dir + "/" + file);
    out << "id:ID(" << label << "),:LABEL";
    for (const auto& h : cols.headers) out << "," << CsvField(h);
    out << "\n";
    for (uint32_t n : nodes) {
      std::string labels;
      auto [b, e] = g.Labels(n);
      for (auto it = b; it != e; ++it) labels += (labels.empty() ? "" : ";") + g.label_names()[*it];
      out << CsvField(NodeId(g, n)) << "," << CsvField(labels.empty() ? "Node" : labels);
      for (const auto& k : cols.keys) {
        Value v = g.NodeProp(n, k);
        out << "," << (v.is_null() ? "" : CsvField(Plain(v)));
      }
      out << "\n";
      ++sum.nodes;
    }
    if (!out.flush()) return Status::IOError("export: write " + file);
    sum.files.push_back(file);
    cmd += " \\\n  --nodes=" + file;
  }
  // Relationships grouped by (type, start group, end group).
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::vector<uint32_t>> groups;
  for (uint32_t r = 0; r < g.rel_count(); ++r)
    groups[{g.RelType(r), g.node_group(g.RelSrc(r)), g.node_group(g.RelDst(r))}].push_back(r);
  for (const auto& [key, rels] : groups) {
    auto [type, fg, tg] = key;
    const std::string& tname = g.type_names()[type];
    std::string from = label_name(fg), to = label_name(tg);
    const PropTable& t = g.rel_table(type);
    // Column types over this file's rows only.
    Columns cols;
    for (const auto& col : t.cols) {
      std::vector<Value::Kind> kinds;
      bool list = false;
      for (uint32_t r : rels) {
        Value v = g.RelProp(r, col.key);
        if (v.kind() == Value::kList) {
          list = true;
          for (const auto& e : v.list()) kinds.push_back(e.kind());
        } else {
          kinds.push_back(v.kind());
        }
      }
      cols.keys.push_back(col.key);
      cols.headers.push_back(col.key + ":" + NeoType(kinds, list));
    }
    std::string file = "rels_" + tname + "_" + from + "_" + to + ".csv";
    std::ofstream out(dir + "/" + file, std::ios::binary);
    if (!out) return Status::IOError("export: cannot write " + dir + "/" + file);
    out << ":START_ID(" << from << "),:END_ID(" << to << "),:TYPE";
    for (const auto& h : cols.headers) out << "," << CsvField(h);
    out << "\n";
    for (uint32_t r : rels) {
      out << CsvField(NodeId(g, g.RelSrc(r))) << "," << CsvField(NodeId(g, g.RelDst(r))) << "," << CsvField(tname);
      for (const auto& k : cols.keys) {
        Value v = g.RelProp(r, k);
        out << "," << (v.is_null() ? "" : CsvField(Plain(v)));
      }
      out << "\n";
      ++sum.rels;
    }
    if (!out.flush()) return Status::IOError("export: write " + file);
    sum.files.push_back(file);
    cmd += " \\\n  --relationships=" + file;
  }
  cmd += " \\\n  " + database;
  sum.command = cmd;
  std::ofstream sh(dir + "/import.sh");
  sh << "#!/bin/sh\n# Generated by hakone graph export. Run from this directory with Neo4j stopped.\nset -e\ncd \"$(dirname \"$0\")\"\n"
     << cmd << "\n";
  if (!sh.flush()) return Status::IOError("export: write import.sh");
  std::error_code ec2;
  fs::permissions(dir + "/import.sh", fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec2);
  sum.files.push_back("import.sh");
  return sum;
}

}  // namespace hakone::graph
