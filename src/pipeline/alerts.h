// The agent's alert state: every `slack` sink instance (one per env) registers its rules here
// and reports each alert it sends; the agent's admin listener serves it as GET /alerts, in the
// shape the console's Alerts page reads (/api/agent/alerts):
//   {"rules":[{"env","name","query","threshold","window","absence","state","count","since",
//              "last_fired","samples":[...]}],
//    "history":[{"time","env","rule","state","count","text"}]}      (history newest first)
// state: "ok" (never fired since the agent started), "firing", or "resolved". A threshold or
// absence rule is firing from its firing alert until its resolved one; a match rule (each match
// alerts) is firing for `window` after its last alert, then resolved. count and samples are
// those of the last alert; since is when the rule entered its state. In memory only: the state
// starts over when the agent restarts. Thread safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hakone::pipeline {

class AlertBoard {
 public:
  struct RuleInfo {
    std::string env, name, query;
    int64_t threshold = 0;               // > 0: a threshold rule
    std::chrono::nanoseconds window{0};  // threshold window (and how long a match rule shows firing)
    std::chrono::nanoseconds absence{0};  // > 0: an absence rule
  };
  // Adds a rule of an env (again: replaces its definition, keeps its state).
  void Register(const RuleInfo& rule);
  // Records an alert sent for (env, rule): state "firing" or "resolved", the matches counted,
  // the sample lines shown and the alert's text. now_ns: wall-clock time (tests pass their own).
  void Report(const std::string& env, const std::string& rule, const std::string& state, int64_t count,
              const std::vector<std::string>& samples, const std::string& text, int64_t now_ns);
  // The JSON document above, evaluated at now_ns. Rules sorted by env, then name.
  std::string Json(int64_t now_ns) const;

  static constexpr size_t kMaxHistory = 200;

 private:
  struct State {
    RuleInfo rule;
    std::string state = "ok";
    int64_t count = 0;
    int64_t since_ns = 0;       // when it entered `state` (0: never fired)
    int64_t last_fired_ns = 0;  // 0: never
    std::vector<std::string> samples;
  };
  struct Entry {
    int64_t time_ns;
    std::string env, rule, state, text;
    int64_t count;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, State> rules_;  // (env, name)
  std::deque<Entry> history_;                                   // newest first
};

}  // namespace hakone::pipeline
