// The agent's Prometheus series, per component and env:
//   hakone_agent_events_in_total{component,env}       events that reached the component
//   hakone_agent_events_out_total{component,env}      events it delivered / passed on
//   hakone_agent_errors_total{component,env}          failed deliveries, parse/decode errors
//   hakone_agent_dropped_total{component,env}         dropped: buffer full (drop_oldest), retention
//   hakone_agent_filtered_total{component,env}        removed by filter/sample transforms
//   hakone_agent_backlog_events{component,env}        spooled events a sink has not delivered yet
//   hakone_agent_buffer_bytes{env} / hakone_agent_buffer_fill_ratio{env}   the env spool vs its quota
//   hakone_agent_buffer_full_waits_total{env}         source appends that waited for room
#pragma once

#include <string>

#include "core/metrics.h"

namespace hakone {
class Spool;
}

namespace hakone::pipeline {

struct ComponentMetrics {
  metrics::Counter* in;
  metrics::Counter* out;
  metrics::Counter* errors;
  metrics::Counter* dropped;
  metrics::Counter* filtered;
  metrics::Counter* full_waits;
  metrics::Gauge* backlog;
};

// Series for a component in an env (stable pointers; created once per pair).
ComponentMetrics* SinkMetrics(const std::string& component, const std::string& env);
ComponentMetrics* SourceMetrics(const std::string& component, const std::string& env);
ComponentMetrics* EnvMetrics(const std::string& env);

void RegisterBufferGauge(const std::string& env, Spool* spool, uint64_t quota);
void UnregisterBufferGauge(const std::string& env);
// Sets the buffer gauges from the registered spools (called before rendering /metrics).
void UpdateBufferGauges();

}  // namespace hakone::pipeline
