// The agent's component model: sources → transforms → (per-env spool) → sinks.
//
// Every source, transform and sink type is a config struct read from its TOML table (defaults
// and a comment on every field), with Validate() separate from Build(), registered explicitly in
// RegisterBuiltins() (registry.cc), the one place that lists every type. Keys common to all
// components of a kind (type, inputs, env, batching, retry, buffer) are read by the agent itself
// (agent.cc); a type's config reads only its own keys, so unknown keys are reported by name.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "pipeline/event.h"

namespace hakone::store {
class EventStore;
}

namespace hakone::pipeline {

// Hands records from sources to the spools of their environments.
class Router {
 public:
  virtual ~Router() = default;
  // Appends events to the spool of each event's env (an unknown env: the source's default env).
  // Not durable yet: call Sync(). Blocks while an env's spool is full and its on_full is block
  // (then ResourceExhausted after the spool's block timeout); Unavailable once stopping.
  // events[0, n) may be modified (env resolved); the caller keeps them (and may reuse them).
  virtual Status Emit(Event* events, size_t n) = 0;
  Status Emit(std::vector<Event>& events) { return Emit(events.data(), events.size()); }
  // Blocks until everything emitted so far (by any caller) is durable in its spool.
  virtual Status Sync() = 0;
  virtual bool stopping() const = 0;
};

struct SourceContext {
  std::string name;      // the component's name ("app")
  std::string env;       // default env of its records
  std::string env_field; // when set: a JSON line's top-level field that names the env
  std::string data_dir;  // <data_dir>/agent: checkpoints live under here
  Router* router = nullptr;
};

class Source {
 public:
  virtual ~Source() = default;
  // Starts reading (its own threads or listeners). Errors name what failed.
  virtual Status Start(const SourceContext& ctx) = 0;
  // Stops reading; emits and syncs what was read, commits checkpoints; returns when done.
  virtual void Stop() = 0;
  // The address a listening source bound ("" for others); for tests with port 0.
  virtual std::string bound_address() const { return ""; }
};

class Transform {
 public:
  virtual ~Transform() = default;
  // Transforms e in place; returns false to drop it. Parse failures keep the event and set
  // `_parse_error`. Thread safe (one transform instance serves every sink runner).
  virtual bool Apply(Event& e) const = 0;
};

class Sink;
class AlertBoard;

struct SinkContext {
  std::string name;      // component name
  std::string env;       // the environment this instance serves
  std::string instance;  // this process's name (archive keys)
  std::string data_dir;  // <data_dir>/agent
  // The in-process store; null: the process store published in store/local.h (looked up at
  // each write), so that a sink built before the store opened still finds it.
  store::EventStore* store = nullptr;
  // Builds the sink that takes this sink's dead letters (items refused for good): an archive
  // sink instance of its own (`dead_letter = "<archive sink>"`). Null: dead letters go to the
  // local file under dead_letter_dir. Only elasticsearch and store sinks dead-letter.
  std::function<Result<std::unique_ptr<Sink>>()> dead_letter;
  // The agent's alert state (GET /alerts): slack sinks register their rules and report the
  // alerts they send. Null outside an agent (then nothing is reported).
  AlertBoard* alerts = nullptr;
};

// One sink instance per (sink, env). Called from one runner thread only.
class Sink {
 public:
  virtual ~Sink() = default;
  // Delivers a batch. OK: every event is delivered or buffered by the sink (see Pending()).
  // An error makes the runner retry the same batch with backoff; sinks that deliver item by item
  // drop from `batch` what they delivered before failing.
  virtual Status Write(std::vector<Event>& batch) = 0;
  // Called after every batch and at least every 100 ms: closes files by age, sends alerts...
  // force = true at shutdown: deliver everything buffered.
  virtual Status Flush(bool force) { return Status::Ok(); }
  // True while some written events are not yet delivered durably (the spool keeps them).
  virtual bool Pending() const { return false; }
  // False when Write() never looks at Event::fields (a raw archive, a blackhole): the runner then
  // leaves the spooled fields JSON unparsed (Event::fields_json). Constant for the sink's life.
  virtual bool NeedsFields() const { return true; }
};

// --- Configs -------------------------------------------------------------------------------

struct BuildContext {
  std::string data_dir;  // <data_dir>/agent
  std::string instance;
};

class SourceConfig {
 public:
  virtual ~SourceConfig() = default;
  virtual Status Validate() const = 0;
  virtual Result<std::unique_ptr<Source>> Build(const BuildContext& ctx) const = 0;
  // One line for --validate ("paths=[/var/log/*.log] multiline=start").
  virtual std::string Describe() const { return ""; }
};
class TransformConfig {
 public:
  virtual ~TransformConfig() = default;
  virtual Status Validate() const = 0;
  virtual Result<std::unique_ptr<Transform>> Build(const BuildContext& ctx) const = 0;
  virtual std::string Describe() const { return ""; }
};
class SinkConfig {
 public:
  virtual ~SinkConfig() = default;
  virtual Status Validate() const = 0;
  virtual Result<std::unique_ptr<Sink>> Build(const SinkContext& ctx) const = 0;
  virtual std::string Describe() const { return ""; }
};

// Readers: take the component's table (agent.sources.NAME), read the type's own keys.
struct Registry {
  std::map<std::string, std::function<std::unique_ptr<SourceConfig>(const ConfigSection&)>> sources;
  std::map<std::string, std::function<std::unique_ptr<TransformConfig>(const ConfigSection&)>> transforms;
  std::map<std::string, std::function<std::unique_ptr<SinkConfig>(const ConfigSection&)>> sinks;
};

// Registers every built-in type. The one place that lists them.
void RegisterBuiltins(Registry* r);

// Per-type readers (defined beside each type, called only from RegisterBuiltins).
std::unique_ptr<SourceConfig> ReadFileSource(const ConfigSection& s);
std::unique_ptr<SourceConfig> ReadSyslogSource(const ConfigSection& s);
std::unique_ptr<SourceConfig> ReadHttpSource(const ConfigSection& s);
std::unique_ptr<SourceConfig> ReadStdinSource(const ConfigSection& s);
std::unique_ptr<SourceConfig> ReadExecSource(const ConfigSection& s);
// Transforms: one reader for every type (transforms/transforms.cc), keyed by type.
std::unique_ptr<TransformConfig> ReadTransform(const std::string& type, const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadStdoutSink(const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadArchiveSink(const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadStoreSink(const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadElasticsearchSink(const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadSlackSink(const ConfigSection& s);
std::unique_ptr<SinkConfig> ReadBlackholeSink(const ConfigSection& s);

}  // namespace hakone::pipeline
