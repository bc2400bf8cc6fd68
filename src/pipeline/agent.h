// hakone agent: the per-environment log pipeline (sources → transforms → spool per env → sinks).
//
// Delivery is at least once end to end:
//   * a source's position (file checkpoint, HTTP response, ...) advances only after its records
//     are durable in their environment's spool;
//   * each (sink, env) pair is a consumer of that env's spool and commits its position only
//     after the sink acknowledged delivery (an archive file closed and fsync'd, a 2xx _bulk with
//     no retriable item errors, a posted alert), so a record leaves the spool only when every
//     sink of its route has it. After a crash the records after the last commit are delivered
//     again: duplicates are limited to the last unacknowledged batch of each sink.
// Transforms run on the sink side, per path from a source to a sink, so the spool keeps the raw
// record and one source can feed a raw archive and a parsed index at once.
//
// Isolation: every env has its own spool (quota = its max size, on_full block | drop_oldest,
// retention) and its own sink runner threads; a flood that fills dev's quota blocks (or drops)
// only dev's sources.
#pragma once

#include <memory>
#include <string>

#include "core/component.h"
#include "core/config.h"
#include "core/status.h"

namespace hakone::store {
class EventStore;
}

namespace hakone::pipeline {

struct AgentDeps {
  store::EventStore* store = nullptr;  // in-process store for `store` sinks without `url`
};

class Agent : public Component {
 public:
  // Reads and validates the [agent] section (and the root data_dir / instance): every component
  // config, the graph (inputs exist, no cycles, every sink reachable from a source). Opens
  // nothing. Errors name the key ("config: [agent.sinks.raw] inputs: unknown component 'ap'").
  static Result<std::unique_ptr<Agent>> Make(const Config& cfg, AgentDeps deps = {});
  ~Agent() override;

  std::string name() const override { return "agent"; }
  // Opens the env spools, builds every component, starts sinks, then sources, then the admin
  // listener (/metrics, /healthz, /alerts: the slack sinks' rule states, see alerts.h).
  Status Start() override;
  // Stops sources (their read records synced, checkpoints committed), then sinks (flushing what
  // they hold), then closes the spools. Blocks until done. Idempotent.
  void Stop() override;

  // The component graph, one line per component ("source app (file) env=prod → ...").
  std::string Graph() const;
  // After Start(): the admin listener's address, and a listening source's bound address.
  std::string admin_address() const;
  std::string source_address(const std::string& source) const;

  struct Impl;

 private:
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hakone::pipeline
