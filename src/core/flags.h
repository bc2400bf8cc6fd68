// Command-line flags for the subcommands: `--name value`, `--name=value`, boolean `--name`,
// positional arguments, and a generated --help that explains each flag.
//
// Usage:
//   FlagSet f("hakone gateway", "Proxies HTTP and records an audit event per request.");
//   std::string listen = "127.0.0.1:8080";
//   f.String("listen", &listen, "ADDR", "address to accept clients on");
//   if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;   // --help → 0, error → 2
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace hakone {

class FlagSet {
 public:
  FlagSet(std::string command, std::string summary);
  void String(const std::string& name, std::string* out, const std::string& metavar, const std::string& help);
  // Repeatable: every occurrence is appended; a comma-separated value is split.
  void StringList(const std::string& name, std::vector<std::string>* out, const std::string& metavar, const std::string& help);
  void Int(const std::string& name, int64_t* out, const std::string& metavar, const std::string& help);
  void Bool(const std::string& name, bool* out, const std::string& help);
  // Positional arguments are collected in order; `usage` describes them ("USER").
  void Positional(std::vector<std::string>* out, const std::string& usage);
  // Text appended to --help (examples).
  void Epilog(const std::string& text) { epilog_ = text; }

  // Parses argv[first..]. Returns an error naming the flag on unknown flags or bad values.
  Status Parse(int argc, char** argv, int first = 1);
  // Parse(); on --help prints help and returns 0, on error prints it with a hint and returns 2,
  // otherwise returns -1 (continue).
  int ParseOrExit(int argc, char** argv, int first = 1);
  std::string Help() const;
  // Whether the flag was given on the command line (to let flags override the config file).
  bool WasSet(const std::string& name) const;

 private:
  struct Flag {
    std::string name, metavar, help;
    bool is_bool = false;
    std::function<Status(const std::string&)> set;
    bool seen = false;
  };
  std::string command_, summary_, positional_usage_, epilog_;
  std::vector<Flag> flags_;
  std::vector<std::string>* positional_ = nullptr;
};

}  // namespace hakone
