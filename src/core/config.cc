#include "core/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "core/units.h"

namespace hakone {
namespace config_internal {
struct State {
  toml::table root;
  std::string source;
  std::set<const toml::node*> used;
  std::vector<std::string> errors;
};
}  // namespace config_internal

namespace {
using config_internal::State;

std::string LineOf(const toml::node* n) {
  if (!n) return "";
  auto& src = n->source();
  if (src.begin.line == 0) return "";
  return " (line " + std::to_string(src.begin.line) + ")";
}

std::string Where(const std::string& path) { return path.empty() ? "config: " : "config: [" + path + "] "; }

std::string EnvName(const std::string& path, std::string_view key) {
  std::string name = "HAKONE_";
  for (char c : path) name += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!path.empty()) name += '_';
  for (char c : key) name += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}
}  // namespace

const void* ConfigSection::Lookup(std::string_view key) const {
  if (!node_) return nullptr;
  auto* t = static_cast<const toml::table*>(node_);
  const toml::node* n = t->get(key);
  if (n) st_->used.insert(n);
  return n;
}

std::optional<std::string> ConfigSection::EnvOverride(std::string_view key) const {
  if (!st_) return std::nullopt;
  const char* v = std::getenv(EnvName(path_, key).c_str());
  if (!v) return std::nullopt;
  (void)Lookup(key);  // the file's value, if any, is overridden, not unknown
  return std::string(v);
}

bool ConfigSection::Has(std::string_view key) const {
  if (EnvOverride(key)) return true;
  if (!node_) return false;
  return static_cast<const toml::table*>(node_)->contains(key);
}

std::vector<std::string> ConfigSection::Keys() const {
  std::vector<std::string> out;
  if (!node_) return out;
  std::vector<std::pair<uint32_t, std::string>> keyed;
  for (auto&& [k, v] : *static_cast<const toml::table*>(node_)) {
    keyed.emplace_back(v.source().begin.line, std::string(k.str()));
  }
  std::stable_sort(keyed.begin(), keyed.end());
  for (auto& [l, k] : keyed) out.push_back(k);
  return out;
}

void ConfigSection::Fail(std::string_view key, std::string_view message) const {
  if (!st_) return;
  const toml::node* n = node_ ? static_cast<const toml::table*>(node_)->get(key) : nullptr;
  st_->errors.push_back(Where(path_) + std::string(key) + ": " + std::string(message) + LineOf(n));
}

void ConfigSection::Ignore(std::string_view key) const { (void)Lookup(key); }

std::optional<std::string> ConfigSection::OptString(std::string_view key) const {
  if (auto e = EnvOverride(key)) return e;
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return std::nullopt;
  if (auto v = n->value<std::string>()) {
    if (n->is_string()) return *v;
  }
  Fail(key, "must be a string");
  return std::nullopt;
}

std::string ConfigSection::String(std::string_view key, std::string_view def) const {
  auto v = OptString(key);
  return v ? *v : std::string(def);
}

int64_t ConfigSection::Int(std::string_view key, int64_t def) const {
  if (auto e = EnvOverride(key)) {
    try {
      size_t pos = 0;
      int64_t v = std::stoll(*e, &pos);
      if (pos == e->size()) return v;
    } catch (...) {
    }
    st_->errors.push_back("config: environment " + EnvName(path_, key) + ": must be an integer");
    return def;
  }
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return def;
  if (n->is_integer()) return n->as_integer()->get();
  Fail(key, "must be an integer");
  return def;
}

double ConfigSection::Double(std::string_view key, double def) const {
  if (auto e = EnvOverride(key)) {
    try {
      return std::stod(*e);
    } catch (...) {
      st_->errors.push_back("config: environment " + EnvName(path_, key) + ": must be a number");
      return def;
    }
  }
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return def;
  if (n->is_floating_point()) return n->as_floating_point()->get();
  if (n->is_integer()) return static_cast<double>(n->as_integer()->get());
  Fail(key, "must be a number");
  return def;
}

bool ConfigSection::Bool(std::string_view key, bool def) const {
  if (auto e = EnvOverride(key)) {
    if (*e == "true" || *e == "1" || *e == "yes") return true;
    if (*e == "false" || *e == "0" || *e == "no") return false;
    st_->errors.push_back("config: environment " + EnvName(path_, key) + ": must be true or false");
    return def;
  }
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return def;
  if (n->is_boolean()) return n->as_boolean()->get();
  Fail(key, "must be true or false");
  return def;
}

std::chrono::nanoseconds ConfigSection::Duration(std::string_view key, std::chrono::nanoseconds def) const {
  std::optional<std::string> text = EnvOverride(key);
  if (!text) {
    auto* n = static_cast<const toml::node*>(Lookup(key));
    if (!n) return def;
    if (n->is_integer()) return std::chrono::seconds(n->as_integer()->get());
    if (!n->is_string()) {
      Fail(key, "must be a duration string such as \"200ms\" or \"5m\"");
      return def;
    }
    text = n->as_string()->get();
  }
  auto d = ParseDuration(*text);
  if (!d.ok()) {
    Fail(key, d.status().message());
    return def;
  }
  return *d;
}

uint64_t ConfigSection::Size(std::string_view key, uint64_t def) const {
  std::optional<std::string> text = EnvOverride(key);
  if (!text) {
    auto* n = static_cast<const toml::node*>(Lookup(key));
    if (!n) return def;
    if (n->is_integer() && n->as_integer()->get() >= 0) return static_cast<uint64_t>(n->as_integer()->get());
    if (!n->is_string()) {
      Fail(key, "must be a size string such as \"64KiB\" or \"2GiB\"");
      return def;
    }
    text = n->as_string()->get();
  }
  auto s = ParseSize(*text);
  if (!s.ok()) {
    Fail(key, s.status().message());
    return def;
  }
  return *s;
}

std::vector<std::string> ConfigSection::StringList(std::string_view key, std::vector<std::string> def) const {
  if (auto e = EnvOverride(key)) {
    std::vector<std::string> out;
    std::stringstream ss(*e);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return def;
  if (n->is_string()) return {n->as_string()->get()};
  if (!n->is_array()) {
    Fail(key, "must be an array of strings");
    return def;
  }
  std::vector<std::string> out;
  for (auto& el : *n->as_array()) {
    if (!el.is_string()) {
      Fail(key, "must be an array of strings");
      return def;
    }
    out.push_back(el.as_string()->get());
  }
  return out;
}

ConfigSection ConfigSection::Section(std::string_view key) const {
  std::string p = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return ConfigSection(st_, nullptr, p);
  if (!n->is_table()) {
    Fail(key, "must be a table");
    return ConfigSection(st_, nullptr, p);
  }
  return ConfigSection(st_, n->as_table(), p);
}

std::vector<ConfigSection> ConfigSection::SectionArray(std::string_view key) const {
  std::string p = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  std::vector<ConfigSection> out;
  auto* n = static_cast<const toml::node*>(Lookup(key));
  if (!n) return out;
  if (n->is_table()) {  // a single inline table is accepted as a one-element list
    out.push_back(ConfigSection(st_, n->as_table(), p));
    return out;
  }
  if (!n->is_array()) {
    Fail(key, "must be an array of tables");
    return out;
  }
  int i = 0;
  for (auto& el : *n->as_array()) {
    if (!el.is_table()) {
      Fail(key, "must be an array of tables");
      return {};
    }
    out.push_back(ConfigSection(st_, el.as_table(), p + "[" + std::to_string(i++) + "]"));
  }
  return out;
}

Config::Config() : st_(std::make_shared<State>()) {}

Result<Config> Config::LoadString(std::string_view text, std::string source_name) {
  Config c;
  c.st_->source = source_name;
  try {
    c.st_->root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << "config: " << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
      << ": " << e.description();
    return Status::InvalidArgument(m.str());
  }
  return c;
}

Result<Config> Config::LoadFile(const std::string& path) {
  Config c;
  c.st_->source = path;
  try {
    c.st_->root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << "config: " << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
      << e.description();
    return Status::InvalidArgument(m.str());
  }
  return c;
}

ConfigSection Config::Root() const { return ConfigSection(st_, &st_->root, ""); }

Status Config::Finish() const {
  if (!st_->errors.empty()) {
    std::string m = st_->errors.front();
    for (size_t i = 1; i < st_->errors.size(); ++i) m += "; " + st_->errors[i];
    return Status::InvalidArgument(m);
  }
  std::vector<std::string> unknown;
  // Walk every table; a key whose node was never looked up is unknown. Sub-tables that were
  // entered count as used themselves; their own keys are checked recursively.
  std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& t, const std::string& path) {
    for (auto&& [k, v] : t) {
      std::string key(k.str());
      std::string full = path.empty() ? key : path + "." + key;
      if (!st_->used.count(&v)) {
        unknown.push_back("config: unknown key '" + full + "'" + LineOf(&v));
        continue;
      }
      if (v.is_table()) walk(*v.as_table(), full);
      if (v.is_array()) {
        int i = 0;
        for (auto& el : *v.as_array()) {
          if (el.is_table()) walk(*el.as_table(), full + "[" + std::to_string(i) + "]");
          ++i;
        }
      }
    }
  };
  walk(st_->root, "");
  if (unknown.empty()) return Status::Ok();
  std::string m = unknown.front();
  for (size_t i = 1; i < unknown.size(); ++i) m += "; " + unknown[i];
  return Status::InvalidArgument(m);
}

}  // namespace hakone
