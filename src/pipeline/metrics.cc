#include "pipeline/metrics.h"

#include <map>
#include <mutex>

#include "core/spool.h"

namespace hakone::pipeline {
namespace {

std::mutex mu;
std::map<std::pair<std::string, std::string>, ComponentMetrics> all;
struct Buf {
  Spool* spool;
  uint64_t quota;
};
std::map<std::string, Buf> bufs;

ComponentMetrics* Get(const std::string& component, const std::string& env) {
  std::lock_guard lk(mu);
  auto key = std::make_pair(component, env);
  auto it = all.find(key);
  if (it != all.end()) return &it->second;
  auto& r = metrics::Registry::Global();
  std::vector<std::string> lv = {component, env};
  ComponentMetrics m;
  m.in = r.AddCounter("hakone_agent_events_in_total", "Events that reached an agent component", {"component", "env"})->WithLabels(lv);
  m.out = r.AddCounter("hakone_agent_events_out_total", "Events an agent component delivered or passed on", {"component", "env"})->WithLabels(lv);
  m.errors = r.AddCounter("hakone_agent_errors_total", "Failed deliveries and decode errors", {"component", "env"})->WithLabels(lv);
  m.dropped = r.AddCounter("hakone_agent_dropped_total", "Events dropped (buffer full with drop_oldest, retention)", {"component", "env"})->WithLabels(lv);
  m.filtered = r.AddCounter("hakone_agent_filtered_total", "Events removed by filter/sample transforms", {"component", "env"})->WithLabels(lv);
  m.full_waits = r.AddCounter("hakone_agent_buffer_full_waits_total", "Appends that waited for room in a full env spool", {"component", "env"})->WithLabels(lv);
  m.backlog = r.AddGauge("hakone_agent_backlog_events", "Spooled events a sink has not delivered yet", {"component", "env"})->WithLabels(lv);
  return &all.emplace(key, m).first->second;
}

}  // namespace

ComponentMetrics* SinkMetrics(const std::string& c, const std::string& env) { return Get(c, env); }
ComponentMetrics* SourceMetrics(const std::string& c, const std::string& env) { return Get(c, env); }
ComponentMetrics* EnvMetrics(const std::string& env) { return Get("spool", env); }

void RegisterBufferGauge(const std::string& env, Spool* spool, uint64_t quota) {
  std::lock_guard lk(mu);
  bufs[env] = Buf{spool, quota};
}
void UnregisterBufferGauge(const std::string& env) {
  std::lock_guard lk(mu);
  bufs.erase(env);
}
void UpdateBufferGauges() {
  std::lock_guard lk(mu);
  auto& r = metrics::Registry::Global();
  auto* bytes = r.AddGauge("hakone_agent_buffer_bytes", "Bytes held by an env's spool", {"env"});
  auto* fill = r.AddGauge("hakone_agent_buffer_fill_ratio", "An env spool's bytes over its quota", {"env"});
  for (auto& [env, b] : bufs) {
    double v = static_cast<double>(b.spool->bytes());
    bytes->WithLabels({env})->Set(v);
    fill->WithLabels({env})->Set(b.quota ? v / static_cast<double>(b.quota) : 0);
  }
}

}  // namespace hakone::pipeline
