// The gateway's audit sinks: ship the events of the durable audit spool to PostgreSQL or to an
// HTTP endpoint speaking the Elasticsearch `_bulk` format, at least once, with idempotent ids.
//
// Each sink is a spool consumer ("sink-<name>") with its own thread: it reads a batch, ships it,
// and commits its consumer position only once the destination acknowledged every record of the
// batch (or rejected it permanently). A sink that is down never blocks proxying: records simply
// wait in the spool, whose size bound and on_full policy (block | drop_oldest) apply as for any
// consumer. After a crash, records read but not committed are shipped again; the destinations
// deduplicate them:
//   - PostgreSQL: primary key (time, instance, seq) and INSERT ... ON CONFLICT DO NOTHING;
//   - _bulk: the document id is "<instance>-<seq>" with the `index` action (an overwrite).
//
// Metrics (label `sink` = the sink's name): hakone_sink_shipped_total, hakone_sink_errors_total
// (failed attempts), hakone_sink_rejected_total (records the destination refused for good, or
// that are not valid events), hakone_sink_lag_records (gauge: spool last_seq - committed) and
// hakone_sink_up (1 while the latest attempt to reach the destination succeeded).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/runtime.h"
#include "core/spool.h"
#include "core/status.h"

namespace hakone::gateway {

struct SinkConfig {
  std::string name;                     // unique; default: type + "-" + 1-based position ("postgres-1")
  std::string type;                     // "postgres" | "elasticsearch" | "http" (http = _bulk too)
  std::string url;                      // postgresql://... | http://host:port (the _bulk endpoint is url + "/_bulk")
  std::string table = "audit_events";   // postgres: [A-Za-z_][A-Za-z0-9_]*, at most 54 characters
  std::string index = "audit";          // _bulk: the target index
  size_t batch = 500;                   // records per batch (at most)
  std::chrono::milliseconds batch_time{1000};  // how long a partial batch waits for more records
  std::chrono::milliseconds backoff_min{200}, backoff_max{30000};  // retry delays (exponential, jittered)
  std::chrono::milliseconds timeout{30000};    // one attempt: HTTP request / PostgreSQL connect and statement
  std::vector<std::pair<std::string, std::string>> headers;  // extra HTTP headers (e.g. Authorization from token_file)
};

// Reads every [[gateway.sinks]] table of the [gateway] section. Keys: name, type, url (or
// url_file: the URL read from a file, for secrets), table, index, batch, batch_time, backoff_min,
// backoff_max, timeout, token_file (its trimmed content becomes "Authorization: Bearer ...").
// on_full is accepted and ignored: the spool's policy is [gateway] on_full.
// Errors name the key and the index
// ("config: [gateway.sinks[0]] type: must be postgres, elasticsearch or http"); they are also
// recorded in the Config (Config::Finish reports them with line numbers).
Result<std::vector<SinkConfig>> ParseSinkConfigs(const ConfigSection& gateway_section);

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;
  // Finishes the current batch attempt (bounded by SinkConfig::timeout), then returns; records
  // not yet acknowledged stay in the spool. Idempotent and thread safe (concurrent callers all
  // return once the sink's thread has ended). Afterwards the spool consumer is closed, so a new
  // sink of the same name may start. Also called by the destructor.
  virtual void Stop() = 0;
};

// Starts a sink: opens the spool consumer "sink-<name>" (registered durably on first use; it then
// holds back spool deletion until it commits) and a background thread that reads batches, ships
// them, commits the consumer position only after the destination acknowledged them, and retries
// failures forever with exponential backoff and jitter (one log line per failure streak, one on
// recovery). The destination need not be reachable at start. Errors: InvalidArgument for a bad
// config (type, URL, table or index name), the spool's error from OpenReader (e.g. AlreadyExists
// when a sink of that name already runs). REQUIRES: `spool` outlives the sink or the sink is
// stopped first. `io` is not used by the current sinks (each runs its own blocking thread).
Result<std::unique_ptr<Sink>> StartSink(asio::io_context& io, const SinkConfig& cfg, Spool* spool);

}  // namespace hakone::gateway
