#include "pipeline/alerts.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/units.h"
#include "pipeline/event.h"

namespace hakone::pipeline {

void AlertBoard::Register(const RuleInfo& rule) {
  std::lock_guard lk(mu_);
  rules_[{rule.env, rule.name}].rule = rule;
}

void AlertBoard::Report(const std::string& env, const std::string& rule, const std::string& state, int64_t count,
                        const std::vector<std::string>& samples, const std::string& text, int64_t now_ns) {
  std::lock_guard lk(mu_);
  State& s = rules_[{env, rule}];
  if (s.rule.name.empty()) {
    s.rule.env = env;
    s.rule.name = rule;
  }
  bool match_rule = s.rule.threshold <= 0 && s.rule.absence.count() <= 0;
  bool lapsed = match_rule && s.state == "firing" && now_ns - s.last_fired_ns >= s.rule.window.count();
  if (s.state != state || lapsed) s.since_ns = now_ns;
  s.state = state;
  s.count = count;
  if (state == "firing") {
    s.last_fired_ns = now_ns;
    s.samples = samples;
  }
  history_.push_front(Entry{now_ns, env, rule, state, text, count});
  while (history_.size() > kMaxHistory) history_.pop_back();
}

std::string AlertBoard::Json(int64_t now_ns) const {
  std::lock_guard lk(mu_);
  boost::json::array rules;
  for (const auto& [key, s] : rules_) {
    std::string state = s.state;
    int64_t since = s.since_ns;
    bool match_rule = s.rule.threshold <= 0 && s.rule.absence.count() <= 0;
    if (match_rule && state == "firing" && now_ns - s.last_fired_ns >= s.rule.window.count()) {
      state = "resolved";  // a match rule shows firing for its window after its last alert
      since = s.last_fired_ns + s.rule.window.count();
    }
    boost::json::object o{{"env", s.rule.env},
                          {"name", s.rule.name},
                          {"query", s.rule.query},
                          {"threshold", s.rule.threshold},
                          {"window", FormatDuration(s.rule.window)},
                          {"state", state},
                          {"count", s.count}};
    if (s.rule.absence.count() > 0) o["absence"] = FormatDuration(s.rule.absence);
    if (since > 0) o["since"] = FormatTimestamp(since);
    if (s.last_fired_ns > 0) o["last_fired"] = FormatTimestamp(s.last_fired_ns);
    boost::json::array samples;
    for (const auto& l : s.samples) samples.emplace_back(l);
    o["samples"] = std::move(samples);
    rules.push_back(std::move(o));
  }
  boost::json::array hist;
  for (const auto& e : history_)
    hist.push_back(boost::json::object{{"time", FormatTimestamp(e.time_ns)}, {"env", e.env}, {"rule", e.rule},
                                       {"state", e.state}, {"count", e.count}, {"text", e.text}});
  return boost::json::serialize(boost::json::object{{"rules", std::move(rules)}, {"history", std::move(hist)}});
}

}  // namespace hakone::pipeline
