// The one configuration file (TOML), read section by section.
//
// Each component reads its own section through a ConfigSection; every key read is marked as
// used, and Config::Finish() reports every key that nothing read ("unknown key"), with its line.
// Type errors name the section, the key and the line. Environment variables
// HAKONE_<SECTION>_<KEY> (dots become underscores, upper case) override scalar values, so that
// Kubernetes can set them; command-line flags are applied by the caller on top.
//
// Thread safety: a Config and its sections are used from one thread during start-up.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone {

namespace config_internal {
struct State;
}

class ConfigSection {
 public:
  ConfigSection() = default;

  // "gateway.identity"; "" for the root.
  const std::string& path() const { return path_; }
  bool present() const { return node_ != nullptr; }
  bool Has(std::string_view key) const;
  // Keys of this table, in file order (for tables of named components such as agent.sources).
  std::vector<std::string> Keys() const;

  std::optional<std::string> OptString(std::string_view key) const;
  std::string String(std::string_view key, std::string_view def) const;
  int64_t Int(std::string_view key, int64_t def) const;
  double Double(std::string_view key, double def) const;
  bool Bool(std::string_view key, bool def) const;
  // Duration strings ("200ms", "5m"); an integer is read as seconds.
  std::chrono::nanoseconds Duration(std::string_view key, std::chrono::nanoseconds def) const;
  // Size strings ("64KiB"); an integer is read as bytes.
  uint64_t Size(std::string_view key, uint64_t def) const;
  std::vector<std::string> StringList(std::string_view key, std::vector<std::string> def = {}) const;
  // A sub-table; an absent one gives a section with present() == false that yields defaults.
  ConfigSection Section(std::string_view key) const;
  // An array of tables ([[gateway.sinks]]).
  std::vector<ConfigSection> SectionArray(std::string_view key) const;
  // Marks a key as used without reading it.
  void Ignore(std::string_view key) const;
  // Records an error about `key` ("config: [gateway] durability: must be batch or strict (line 7)").
  void Fail(std::string_view key, std::string_view message) const;

 private:
  friend class Config;
  ConfigSection(std::shared_ptr<config_internal::State> st, const void* node, std::string path)
      : st_(std::move(st)), node_(node), path_(std::move(path)) {}
  const void* Lookup(std::string_view key) const;
  std::optional<std::string> EnvOverride(std::string_view key) const;

  std::shared_ptr<config_internal::State> st_;
  const void* node_ = nullptr;
  std::string path_;
};

class Config {
 public:
  // An empty configuration (every section absent, all defaults).
  Config();
  static Result<Config> LoadFile(const std::string& path);
  static Result<Config> LoadString(std::string_view text, std::string source_name = "<string>");

  ConfigSection Root() const;
  ConfigSection Section(std::string_view key) const { return Root().Section(key); }
  bool HasSection(std::string_view key) const { return Root().Has(key); }
  // Returns the first error recorded while reading, or an error listing the unknown keys.
  Status Finish() const;

 private:
  std::shared_ptr<config_internal::State> st_;
};

}  // namespace hakone
