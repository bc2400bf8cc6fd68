// The demo's stand-in for Slack: an incoming-webhook receiver for the agent's `slack` sink that
// keeps the alerts it receives (the firing history) and serves them, with the rules' current
// state, as GET /alerts — the shape the console's Alerts page reads through /api/agent/alerts.
//
//   POST /slack/{anything}   a Slack message as the slack sink posts it ({"text","blocks"} with
//                            env, rule, count and state fields): appended to the history
//   GET  /alerts             {"rules":[{"env","name","query","threshold","window","state",
//                            "last_fired"}], "history":[{"time","env","rule","state","count",
//                            "text"}]} (history newest first, at most 200)
//   GET  /healthz
// The history is appended to `history_path` (JSON lines) and read back at start, so it survives
// restarts. A rule with a threshold is "firing" from its firing message until its resolved one;
// a rule without one (each match alerts) is "firing" for its window after a message.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/component.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone::demo {

struct AlertRule {
  std::string env, name, query;
  int64_t threshold = 0;
  std::chrono::seconds window{300};
};

struct AlertBoardOptions {
  std::string listen = "127.0.0.1:9011";
  std::string history_path;  // "" = in memory only
  std::vector<AlertRule> rules;
};

// The fields of one Slack message as the agent's slack sink builds it: env, rule, count, state
// (from the "*env*\nprod" section fields) and the text. InvalidArgument for a body that is not
// such a message (not JSON, no blocks, no env or rule field).
struct SlackAlert {
  std::string env, rule, state, text;
  int64_t count = 0;
};
Result<SlackAlert> ParseSlackAlert(std::string_view body);

Result<std::unique_ptr<Component>> MakeAlertBoard(Runtime& rt, AlertBoardOptions options);

}  // namespace hakone::demo
