#include "pipeline/agent.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include "core/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/runtime.h"
#include "core/spool.h"
#include "core/units.h"
#include "pipeline/alerts.h"
#include "pipeline/component.h"
#include "pipeline/metrics.h"

namespace hakone::pipeline {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// --- configuration ---------------------------------------------------------------------------

namespace {

struct EnvConfig {
  std::string name;
  uint64_t quota = 1ull << 30;          // spool bound: bytes not yet delivered by every sink of the env
  std::chrono::nanoseconds retention{0};  // records older than this (ingest time) are dropped undelivered; 0 = keep
  std::string on_full = "block";        // block (sources wait) | drop_oldest (oldest spooled records are dropped)
  std::chrono::nanoseconds flush_interval = 200ms;  // spool group-commit bound
  bool fsync = true;                    // false only for benchmarks
};

struct SourceSpec {
  std::string name, type;
  std::string env = "default";  // env of its records
  std::string env_field;        // a JSON line's top-level field naming the env (unknown values: `env`)
  std::unique_ptr<SourceConfig> cfg;
};

struct TransformSpec {
  std::string name, type;
  std::vector<std::string> inputs;  // sources or transforms
  std::unique_ptr<TransformConfig> cfg;
};

struct SinkSpec {
  std::string name, type;
  std::vector<std::string> inputs;            // sources or transforms
  std::vector<std::string> envs;              // envs served; empty = every env
  size_t batch_size = 1000;                   // events per delivery
  std::chrono::nanoseconds batch_timeout = 200ms;  // wait at most this long to fill a batch
  uint64_t max_buffer_events = 0;             // backlog bound (events in the spool not yet delivered); 0 = env quota only
  std::string on_full = "block";              // block (hold the spool) | drop_oldest (skip the oldest backlog)
  std::chrono::nanoseconds retry_initial = 100ms;  // first retry delay, doubled per failure ...
  std::chrono::nanoseconds retry_max = 30s;        // ... up to this
  std::chrono::nanoseconds ack_interval = 200ms;   // commit the spool position at most this often (0 = every batch)
  // elasticsearch/store: where items refused for good go: an archive sink's name, or "file"
  // (dead_letter_dir). Default: the archive sink when exactly one is configured, else "file".
  std::string dead_letter;
  std::unique_ptr<SinkConfig> cfg;
};

}  // namespace

// --- runtime pieces ---------------------------------------------------------------------------

struct EnvState {
  EnvConfig cfg;
  size_t index = 0;  // position among the agent's envs (RouterImpl's per-env buffers)
  std::unique_ptr<Spool> spool;
  ComponentMetrics* m = nullptr;
};

class RouterImpl : public Router {
 public:
  std::map<std::string, EnvState*> envs;
  std::atomic<bool> stop{false};
  std::map<std::string, std::string> source_env;  // source → default env
  std::map<std::string, std::string> source_env_field;

  Status Emit(Event* events, size_t n) override {
    if (n == 0) return Status::Ok();
    // Encode into one reused buffer per env (records keep their order within each env), then
    // append each env's records in one AppendBatch: no allocation per record.
    struct PerEnv {
      std::string buf;
      std::vector<size_t> ends;
      std::vector<std::string_view> views;
    };
    thread_local std::vector<PerEnv> per;
    if (per.size() < envs.size()) per.resize(envs.size());
    for (auto& pe : per) {
      pe.buf.clear();
      pe.ends.clear();
    }
    for (size_t i = 0; i < n; i++) {
      Event& e = events[i];
      ResolveEnv(e);
      auto it = envs.find(e.env);
      if (it == envs.end()) continue;  // cannot happen: ResolveEnv picks a known env
      auto& pe = per[it->second->index];
      EncodeEvent(e, &pe.buf);
      pe.ends.push_back(pe.buf.size());
    }
    for (auto& [name, env] : envs) {
      auto& pe = per[env->index];
      if (pe.ends.empty()) continue;
      pe.views.clear();
      size_t begin = 0;
      for (size_t end : pe.ends) {
        pe.views.emplace_back(pe.buf.data() + begin, end - begin);
        begin = end;
      }
      while (true) {
        auto r = env->spool->AppendBatch(pe.views);
        if (r.ok()) break;
        if (r.status().code() == StatusCode::kResourceExhausted && !stop) {
          env->m->full_waits->Inc();
          continue;  // block: the source waits for the sinks (back-pressure), never drops
        }
        return r.status();
      }
      env->m->in->Inc(pe.ends.size());
    }
    // A large batch's buffer is not kept (bounded memory per source thread).
    for (auto& pe : per)
      if (pe.buf.capacity() > (16u << 20)) pe.buf = std::string();
    return Status::Ok();
  }

  Status Sync() override {
    for (auto& [n, e] : envs) HAKONE_RETURN_IF_ERROR(e->spool->Sync());
    return Status::Ok();
  }
  bool stopping() const override { return stop; }

 private:
  void ResolveEnv(Event& e) {
    auto fit = source_env_field.find(e.source);
    if (fit != source_env_field.end() && !fit->second.empty()) {
      std::string_view m = e.message;
      if (!m.empty() && m.front() == '{') {
        boost::system::error_code ec;
        auto v = boost::json::parse(m, ec);
        if (!ec && v.is_object())
          if (auto* f = v.as_object().if_contains(fit->second); f && f->is_string() && envs.count(std::string(f->as_string()))) {
            e.env.assign(f->as_string());
            return;
          }
      }
    }
    if (e.env.empty() || !envs.count(e.env)) {
      auto it = source_env.find(e.source);
      e.env = it != source_env.end() ? it->second : envs.begin()->first;
    }
  }
};

// One (sink, env): a spool consumer delivering through a Sink.
class SinkRunner {
 public:
  SinkRunner(const SinkSpec* spec, EnvState* env, std::unique_ptr<Sink> sink,
             std::map<std::string, std::vector<std::vector<const Transform*>>> paths)
      : spec_(spec), env_(env), sink_(std::move(sink)), paths_(std::move(paths)) {
    m_ = SinkMetrics(spec->name, env->cfg.name);
    needs_fields_ = sink_->NeedsFields();
  }

  Status Open() {
    auto r = env_->spool->OpenReader("sink." + spec_->name);
    if (!r.ok()) return r.status();
    reader_ = std::move(*r);
    return Status::Ok();
  }
  void Start() { th_ = std::thread([this] { Loop(); }); }
  void Stop() {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }

 private:
  void Loop() {
    std::vector<Event> batch;
    uint64_t written_seq = reader_->committed();
    auto last_commit = std::chrono::steady_clock::now();
    auto last_drop_log = std::chrono::steady_clock::now() - 1h;
    uint64_t drops_since_log = 0;
    auto commit = [&](bool force) {
      // Delivered records are acknowledged at most ack_interval after delivery (a commit costs
      // two fsyncs): a crash re-delivers only what was delivered since the last commit.
      if (sink_->Pending() || written_seq <= reader_->committed()) return;
      if (!force && std::chrono::steady_clock::now() - last_commit < spec_->ack_interval) return;
      if (Status st = reader_->Commit(written_seq); !st.ok()) log::Error("agent: commit failed", {{"sink", spec_->name}, {"error", st.ToString()}});
      last_commit = std::chrono::steady_clock::now();
    };
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(spec_->batch_timeout);
    if (wait_ms > 100ms) wait_ms = 100ms;
    while (!stop_) {
      // Bounded backlog: drop_oldest skips what is beyond max_buffer_events.
      if (spec_->max_buffer_events > 0) {
        uint64_t backlog = env_->spool->last_seq() - reader_->position();
        m_->backlog->Set(static_cast<double>(backlog));
        if (backlog > spec_->max_buffer_events && spec_->on_full == "drop_oldest" && !sink_->Pending()) {
          uint64_t excess = backlog - spec_->max_buffer_events;
          auto r = reader_->Read(std::min<uint64_t>(excess, 10000), 64 << 20, 0ms);
          if (r.ok() && !r->empty()) {
            m_->dropped->Inc(r->size());
            drops_since_log += r->size();
            written_seq = r->back().seq;
            commit(false);
            auto now = std::chrono::steady_clock::now();
            if (now - last_drop_log > 10s) {
              log::Warn("agent: sink buffer full, dropped oldest events",
                        {{"sink", spec_->name}, {"env", env_->cfg.name}, {"dropped", drops_since_log}});
              drops_since_log = 0;
              last_drop_log = now;
            }
            continue;
          }
        }
      } else {
        m_->backlog->Set(static_cast<double>(env_->spool->last_seq() - reader_->position()));
      }
      // Fill a batch (up to batch_timeout).
      batch.clear();
      auto deadline = std::chrono::steady_clock::now() + spec_->batch_timeout;
      uint64_t batch_last_seq = 0;
      while (batch.size() < spec_->batch_size && !stop_) {
        auto r = reader_->ReadEach(spec_->batch_size - batch.size(), 8 << 20, wait_ms,
                                   [&](uint64_t seq, std::string_view payload) { Accept(seq, payload, &batch, &batch_last_seq); });
        if (!r.ok()) {
          if (r.status().code() == StatusCode::kUnavailable) return;
          log::Error("agent: spool read failed", {{"sink", spec_->name}, {"error", r.status().ToString()}});
          std::this_thread::sleep_for(100ms);
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        if (*r == 0 && batch.empty() && batch_last_seq == 0) break;  // idle: tick the sink
      }
      // Deliver with retry and backoff.
      auto delay = spec_->retry_initial;
      size_t n = batch.size();
      while (!batch.empty()) {
        Status st = sink_->Write(batch);
        if (st.ok()) {
          Recycle(batch);
          break;
        }
        m_->errors->Inc();
        log::Warn("agent: sink delivery failed, retrying",
                  {{"sink", spec_->name}, {"env", env_->cfg.name}, {"error", st.ToString()},
                   {"retry_in", FormatDuration(delay)}});
        auto until = std::chrono::steady_clock::now() + delay;
        while (std::chrono::steady_clock::now() < until && !stop_) std::this_thread::sleep_for(10ms);
        if (stop_) return;  // not acknowledged: the spool delivers it again after a restart
        delay = std::min(delay * 2, spec_->retry_max);
        // Retention by age also applies to a sink that keeps failing: its expired records are
        // dropped (counted) so that the spool can delete their segments.
        if (size_t expired = DropExpired(batch); expired > 0) {
          m_->dropped->Inc(expired);
          n -= std::min(n, expired);
          log::Warn("agent: records older than the env's retention dropped undelivered",
                    {{"sink", spec_->name}, {"env", env_->cfg.name}, {"dropped", expired}});
        }
      }
      m_->out->Inc(n);
      if (batch_last_seq > 0) written_seq = batch_last_seq;
      if (Status st = sink_->Flush(false); !st.ok()) {
        m_->errors->Inc();
        log::Warn("agent: sink flush failed", {{"sink", spec_->name}, {"error", st.ToString()}});
      }
      commit(false);
    }
    // Shutdown: deliver what the sink buffers, then acknowledge it.
    for (int attempt = 0; attempt < 3; attempt++) {
      Status st = sink_->Flush(true);
      if (st.ok()) break;
      log::Warn("agent: final sink flush failed", {{"sink", spec_->name}, {"error", st.ToString()}});
    }
    commit(true);
  }

  // Decodes one spooled record, applies the transforms of its path(s) and appends the result(s)
  // to batch. Events are taken from spare_ so that their string buffers are reused.
  void Accept(uint64_t seq, std::string_view payload, std::vector<Event>* batch, uint64_t* batch_last_seq) {
    *batch_last_seq = seq;
    Event e = TakeSpare();
    if (Status st = DecodeEvent(payload, &e, /*parse_fields=*/false); !st.ok()) {
      m_->errors->Inc();
      return;
    }
    e.seq = seq;
    if (e.env != env_->cfg.name) e.env = env_->cfg.name;
    if (env_->cfg.retention.count() > 0 && NowNs() - e.ingest_ns > env_->cfg.retention.count()) {
      m_->dropped->Inc();
      return;
    }
    if (last_path_ == nullptr || last_source_ != e.source) {
      auto pit = paths_.find(e.source);
      if (pit == paths_.end()) return;  // not routed to this sink
      last_source_ = e.source;
      last_path_ = &pit->second;
      last_path_has_transforms_ = false;
      for (auto& chain : pit->second)
        if (!chain.empty()) last_path_has_transforms_ = true;
    }
    const auto& chains = *last_path_;
    if ((needs_fields_ || last_path_has_transforms_) && HasUnparsedFields(e)) {
      if (Status st = MaterializeFields(&e); !st.ok()) {
        m_->errors->Inc();
        return;
      }
    }
    m_->in->Inc();
    auto run = [&](const std::vector<const Transform*>& chain, Event& ev) {
      for (const Transform* t : chain) {
        if (!t->Apply(ev)) {
          m_->filtered->Inc();
          return;
        }
      }
      batch->push_back(std::move(ev));
    };
    for (size_t p = 0; p + 1 < chains.size(); p++) {
      Event copy = e;
      run(chains[p], copy);
    }
    if (!chains.empty()) run(chains.back(), e);
  }

  Event TakeSpare() {
    if (spare_.empty()) return Event();
    Event e = std::move(spare_.back());
    spare_.pop_back();
    return e;
  }
  // Keeps the delivered events' buffers for the next batch (bounded: small messages only).
  void Recycle(std::vector<Event>& batch) {
    for (auto& e : batch) {
      if (spare_.size() >= spec_->batch_size) break;
      // Events that carried parsed fields are freed instead: keeping their strings while the
      // fields' many small blocks are freed fragments the heap (malloc then walks its bins).
      if (!e.fields.empty() || e.message.capacity() > (64u << 10)) continue;
      spare_.push_back(std::move(e));
    }
    batch.clear();
  }

  // Removes the events older than the env's retention (by ingest time) from batch.
  size_t DropExpired(std::vector<Event>& batch) const {
    if (env_->cfg.retention.count() <= 0) return 0;
    int64_t cutoff = NowNs() - env_->cfg.retention.count();
    size_t before = batch.size();
    batch.erase(std::remove_if(batch.begin(), batch.end(), [cutoff](const Event& e) { return e.ingest_ns < cutoff; }), batch.end());
    return before - batch.size();
  }

  const SinkSpec* spec_;
  EnvState* env_;
  std::unique_ptr<Sink> sink_;
  std::map<std::string, std::vector<std::vector<const Transform*>>> paths_;
  std::unique_ptr<SpoolReader> reader_;
  bool needs_fields_ = true;  // the sink reads Event::fields (else they stay unparsed)
  std::vector<Event> spare_;  // delivered events whose buffers are reused
  std::string last_source_;   // paths_ lookup cache: consecutive records mostly share a source
  const std::vector<std::vector<const Transform*>>* last_path_ = nullptr;
  bool last_path_has_transforms_ = false;
  ComponentMetrics* m_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

// --- the agent -------------------------------------------------------------------------------

struct Agent::Impl {
  AgentDeps deps;
  std::string data_dir;  // <root data_dir>/agent
  std::string instance;
  std::string listen;
  std::map<std::string, EnvConfig> envs_cfg;
  std::vector<SourceSpec> sources;
  std::vector<TransformSpec> transforms;
  std::vector<SinkSpec> sinks;
  // sink name → source name → transform chains (names)
  std::map<std::string, std::map<std::string, std::vector<std::vector<std::string>>>> paths;

  // running
  bool started = false;
  std::map<std::string, std::unique_ptr<EnvState>> envs;
  RouterImpl router;
  AlertBoard alerts;  // slack sinks' rule states, served as GET /alerts
  std::map<std::string, std::unique_ptr<Transform>> built_transforms;
  std::vector<std::unique_ptr<SinkRunner>> runners;
  std::vector<std::pair<std::string, std::unique_ptr<Source>>> running_sources;
  boost::asio::io_context io;
  std::unique_ptr<HttpServer> admin;
  std::thread io_thread;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::atomic<bool> stopped{false};
  std::mutex stop_mu;

  bool IsSource(const std::string& n) const {
    return std::any_of(sources.begin(), sources.end(), [&](auto& s) { return s.name == n; });
  }
  const TransformSpec* FindTransform(const std::string& n) const {
    for (auto& t : transforms)
      if (t.name == n) return &t;
    return nullptr;
  }
  // Every chain of transforms from a source to `input`, keyed by source.
  Status Paths(const std::string& input, int depth, std::map<std::string, std::vector<std::vector<std::string>>>* out) const {
    if (depth > 64) return Status::InvalidArgument("cycle through '" + input + "'");
    if (IsSource(input)) {
      (*out)[input].push_back({});
      return Status::Ok();
    }
    const TransformSpec* t = FindTransform(input);
    if (!t) return Status::InvalidArgument("unknown component '" + input + "'");
    for (auto& in : t->inputs) {
      std::map<std::string, std::vector<std::vector<std::string>>> sub;
      HAKONE_RETURN_IF_ERROR(Paths(in, depth + 1, &sub));
      for (auto& [src, chains] : sub)
        for (auto& c : chains) {
          c.push_back(t->name);
          (*out)[src].push_back(std::move(c));
        }
    }
    return Status::Ok();
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() { Stop(); }

Result<std::unique_ptr<Agent>> Agent::Make(const Config& cfg, AgentDeps deps) {
  auto impl = std::make_unique<Impl>();
  impl->deps = deps;
  Registry reg;
  RegisterBuiltins(&reg);
  auto root = cfg.Root();
  auto a = cfg.Section("agent");
  std::string data_dir = root.String("data_dir", "./hakone-data");
  impl->data_dir = a.String("data_dir", data_dir + "/agent");
  char host[256] = "agent";
  gethostname(host, sizeof host - 1);
  impl->instance = root.String("instance", host);
  impl->listen = a.String("listen", "127.0.0.1:8686");
  std::vector<std::string> errors;
  auto fail = [&](const ConfigSection& s, const std::string& key, const Status& st) {
    s.Fail(key, st.message());
    errors.push_back("[" + s.path() + "] " + st.message());
  };

  auto ens = a.Section("envs");
  for (const auto& name : ens.Keys()) {
    auto s = ens.Section(name);
    EnvConfig e;
    e.name = name;
    e.quota = s.Size("quota", e.quota);
    e.retention = s.Duration("retention", e.retention);
    e.on_full = s.String("on_full", e.on_full);
    e.flush_interval = s.Duration("flush_interval", e.flush_interval);
    e.fsync = s.Bool("fsync", true);
    if (e.on_full != "block" && e.on_full != "drop_oldest") fail(s, "on_full", Status::InvalidArgument("must be block or drop_oldest"));
    if (e.quota < (1 << 20)) fail(s, "quota", Status::InvalidArgument("must be at least 1MiB"));
    impl->envs_cfg[name] = e;
  }

  auto srcs = a.Section("sources");
  for (const auto& name : srcs.Keys()) {
    auto s = srcs.Section(name);
    SourceSpec sp;
    sp.name = name;
    sp.type = s.String("type", "");
    sp.env = s.String("env", "default");
    sp.env_field = s.String("env_field", "");
    auto it = reg.sources.find(sp.type);
    if (it == reg.sources.end()) {
      fail(s, "type", Status::InvalidArgument("unknown source type '" + sp.type + "' (file | syslog | http | stdin | exec)"));
      continue;
    }
    sp.cfg = it->second(s);
    if (Status st = sp.cfg->Validate(); !st.ok()) fail(s, "type", st);
    if (!impl->envs_cfg.count(sp.env)) {
      EnvConfig e;
      e.name = sp.env;
      impl->envs_cfg[sp.env] = e;
    }
    impl->sources.push_back(std::move(sp));
  }
  auto trs = a.Section("transforms");
  for (const auto& name : trs.Keys()) {
    auto s = trs.Section(name);
    TransformSpec tp;
    tp.name = name;
    tp.type = s.String("type", "");
    tp.inputs = s.StringList("inputs");
    auto rit = reg.transforms.find(tp.type);
    if (rit != reg.transforms.end()) tp.cfg = rit->second(s);
    if (!tp.cfg) {
      fail(s, "type", Status::InvalidArgument("unknown transform type '" + tp.type +
                                               "' (json | logfmt | regex | nginx | apache | syslog | set | rename | "
                                               "remove | redact | filter | sample | timestamp)"));
      continue;
    }
    if (tp.inputs.empty()) fail(s, "inputs", Status::InvalidArgument("inputs is required"));
    if (Status st = tp.cfg->Validate(); !st.ok()) fail(s, "type", st);
    impl->transforms.push_back(std::move(tp));
  }
  auto sks = a.Section("sinks");
  for (const auto& name : sks.Keys()) {
    auto s = sks.Section(name);
    SinkSpec kp;
    kp.name = name;
    kp.type = s.String("type", "");
    kp.inputs = s.StringList("inputs");
    kp.envs = s.StringList("envs");
    kp.batch_size = static_cast<size_t>(s.Int("batch_size", 1000));
    kp.batch_timeout = s.Duration("batch_timeout", kp.batch_timeout);
    kp.max_buffer_events = static_cast<uint64_t>(s.Int("max_buffer_events", 0));
    kp.on_full = s.String("on_full", "block");
    kp.retry_initial = s.Duration("retry_initial", kp.retry_initial);
    kp.retry_max = s.Duration("retry_max", kp.retry_max);
    kp.ack_interval = s.Duration("ack_interval", kp.ack_interval);
    kp.dead_letter = s.String("dead_letter", "");
    auto it = reg.sinks.find(kp.type);
    if (it == reg.sinks.end()) {
      fail(s, "type", Status::InvalidArgument("unknown sink type '" + kp.type +
                                               "' (store | archive | slack | elasticsearch | stdout | blackhole)"));
      continue;
    }
    if (kp.inputs.empty()) fail(s, "inputs", Status::InvalidArgument("inputs is required"));
    if (kp.batch_size < 1) fail(s, "batch_size", Status::InvalidArgument("must be >= 1"));
    if (kp.on_full != "block" && kp.on_full != "drop_oldest") fail(s, "on_full", Status::InvalidArgument("must be block or drop_oldest"));
    if (kp.retry_initial.count() <= 0 || kp.retry_max < kp.retry_initial)
      fail(s, "retry_max", Status::InvalidArgument("retry_initial must be > 0 and <= retry_max"));
    kp.cfg = it->second(s);
    if (Status st = kp.cfg->Validate(); !st.ok()) fail(s, "type", st);
    impl->sinks.push_back(std::move(kp));
  }
  // Dead letters of elasticsearch/store sinks go to an archive sink.
  std::vector<std::string> archives;
  for (auto& k : impl->sinks)
    if (k.type == "archive") archives.push_back(k.name);
  for (auto& k : impl->sinks) {
    bool bulk = k.type == "elasticsearch" || k.type == "store";
    if (!bulk) {
      if (!k.dead_letter.empty())
        fail(sks.Section(k.name), "dead_letter", Status::InvalidArgument("only elasticsearch and store sinks have dead letters"));
      continue;
    }
    if (k.dead_letter.empty()) {
      k.dead_letter = archives.size() == 1 ? archives[0] : "file";
    } else if (k.dead_letter != "file" && std::find(archives.begin(), archives.end(), k.dead_letter) == archives.end()) {
      fail(sks.Section(k.name), "dead_letter",
           Status::InvalidArgument("'" + k.dead_letter + "' is not an archive sink (name one, or \"file\")"));
    }
  }
  if (a.present() && impl->sources.empty() && errors.empty())
    fail(a, "sources", Status::InvalidArgument("at least one source is required"));
  // Names are unique across kinds (inputs refer to them).
  std::set<std::string> names;
  for (auto& s : impl->sources) names.insert(s.name);
  for (auto& t : impl->transforms)
    if (!names.insert(t.name).second) fail(trs, t.name, Status::InvalidArgument("name '" + t.name + "' is already a source"));
  for (auto& k : impl->sinks) {
    std::map<std::string, std::vector<std::vector<std::string>>> p;
    for (auto& in : k.inputs) {
      if (Status st = impl->Paths(in, 0, &p); !st.ok()) fail(sks.Section(k.name), "inputs", st);
    }
    for (auto& e : k.envs)
      if (!impl->envs_cfg.count(e)) fail(sks.Section(k.name), "envs", Status::InvalidArgument("unknown env '" + e + "'"));
    impl->paths[k.name] = std::move(p);
  }
  for (auto& t : impl->transforms) {
    std::map<std::string, std::vector<std::vector<std::string>>> p;
    for (auto& in : t.inputs)
      if (Status st = impl->Paths(in, 0, &p); !st.ok()) fail(trs.Section(t.name), "inputs", st);
  }
  if (!errors.empty()) return Status::InvalidArgument("config: " + errors.front());
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

std::string Agent::Graph() const {
  auto& I = *impl_;
  std::string out;
  out += "agent data_dir=" + I.data_dir + " instance=" + I.instance + " listen=" + (I.listen.empty() ? "-" : I.listen) + "\n";
  for (auto& [n, e] : I.envs_cfg)
    out += "env " + n + " quota=" + FormatSize(e.quota) + " on_full=" + e.on_full +
           " retention=" + (e.retention.count() ? FormatDuration(e.retention) : "forever") + "\n";
  for (auto& s : I.sources)
    out += "source " + s.name + " (" + s.type + ") env=" + s.env + (s.env_field.empty() ? "" : " env_field=" + s.env_field) +
           " " + s.cfg->Describe() + "\n";
  for (auto& t : I.transforms) {
    out += "transform " + t.name + " (" + t.type + ") " + t.cfg->Describe() + " <- ";
    for (size_t i = 0; i < t.inputs.size(); i++) out += (i ? ", " : "") + t.inputs[i];
    out += "\n";
  }
  for (auto& k : I.sinks) {
    out += "sink " + k.name + " (" + k.type + ") " + k.cfg->Describe() + (k.dead_letter.empty() ? "" : " dead_letter=" + k.dead_letter) + " envs=";
    if (k.envs.empty()) out += "*";
    for (size_t i = 0; i < k.envs.size(); i++) out += (i ? "," : "") + k.envs[i];
    out += "\n";
    for (auto& [src, chains] : I.paths.at(k.name))
      for (auto& c : chains) {
        out += "  path " + src;
        for (auto& t : c) out += " -> " + t;
        out += " -> " + k.name + "\n";
      }
  }
  return out;
}

Status Agent::Start() {
  auto& I = *impl_;
  if (I.started) return Status::Ok();
  I.started = true;
  std::error_code ec;
  fs::create_directories(I.data_dir, ec);
  if (ec) return Status::IOError("agent: cannot create " + I.data_dir + ": " + ec.message());
  for (auto& [name, ec2] : I.envs_cfg) {
    auto st = std::make_unique<EnvState>();
    st->cfg = ec2;
    SpoolOptions o;
    o.dir = I.data_dir + "/spool/" + name;
    o.name = "agent." + name;
    o.max_bytes = ec2.quota;
    o.segment_bytes = std::min<uint64_t>(64ull << 20, ec2.quota / 4);
    o.on_full = ec2.on_full == "drop_oldest" ? SpoolOptions::OnFull::kDropOldest : SpoolOptions::OnFull::kBlock;
    o.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(ec2.flush_interval);
    o.fsync = ec2.fsync;
    o.block_timeout = 200ms;
    // Appended bytes waiting for the flusher: the group commit takes all of them at once, so
    // 4 MiB keeps the spool far above the pipeline's rate and its buffers (pending + being
    // written + spares, each at most this) within the agent's memory budget.
    o.max_pending_bytes = std::min<uint64_t>(4ull << 20, ec2.quota / 4);
    auto sp = Spool::Open(o);
    if (!sp.ok()) return sp.status().WithContext("agent: env " + name);
    st->spool = std::move(*sp);
    st->m = EnvMetrics(name);
    st->index = I.router.envs.size();
    I.router.envs[name] = st.get();
    I.envs[name] = std::move(st);
  }
  for (auto& s : I.sources) {
    I.router.source_env[s.name] = s.env;
    I.router.source_env_field[s.name] = s.env_field;
  }
  BuildContext bctx{I.data_dir, I.instance};
  for (auto& t : I.transforms) {
    auto b = t.cfg->Build(bctx);
    if (!b.ok()) return b.status().WithContext("agent: transform " + t.name);
    I.built_transforms[t.name] = std::move(*b);
  }
  // Consumers of sinks that no longer exist would hold the spool forever: unregister them.
  for (auto& [name, env] : I.envs) {
    for (const auto& c : env->spool->Consumers()) {
      if (c.rfind("sink.", 0) != 0) continue;
      std::string sname = c.substr(5);
      bool used = false;
      for (auto& k : I.sinks)
        if (k.name == sname && (k.envs.empty() || std::count(k.envs.begin(), k.envs.end(), name))) used = true;
      if (!used) {
        log::Info("agent: removing the spool position of a sink no longer configured", {{"env", name}, {"sink", sname}});
        (void)env->spool->RemoveConsumer(c);
      }
    }
  }
  for (auto& k : I.sinks) {
    for (auto& [name, env] : I.envs) {
      if (!k.envs.empty() && !std::count(k.envs.begin(), k.envs.end(), name)) continue;
      SinkContext sctx{k.name, name, I.instance, I.data_dir, I.deps.store, nullptr, &I.alerts};
      if (!k.dead_letter.empty() && k.dead_letter != "file") {
        const SinkSpec* arch = nullptr;
        for (auto& o : I.sinks)
          if (o.name == k.dead_letter) arch = &o;
        // Its own archive instance: staging under <sink>.dead-letter, objects under
        // {env}/dead-letter/<sink>/dt=.../hour=.../ of the archive's dir or bucket.
        SinkContext dctx{k.name + ".dead-letter", name, I.instance, I.data_dir, nullptr, nullptr, nullptr};
        sctx.dead_letter = [arch, dctx]() { return arch->cfg->Build(dctx); };
      }
      auto b = k.cfg->Build(sctx);
      if (!b.ok()) return b.status().WithContext("agent: sink " + k.name);
      std::map<std::string, std::vector<std::vector<const Transform*>>> paths;
      for (auto& [src, chains] : I.paths[k.name])
        for (auto& c : chains) {
          std::vector<const Transform*> tc;
          for (auto& t : c) tc.push_back(I.built_transforms.at(t).get());
          paths[src].push_back(std::move(tc));
        }
      auto r = std::make_unique<SinkRunner>(&k, env.get(), std::move(*b), std::move(paths));
      HAKONE_RETURN_IF_ERROR(r->Open());
      I.runners.push_back(std::move(r));
    }
  }
  for (auto& r : I.runners) r->Start();
  for (auto& s : I.sources) {
    auto b = s.cfg->Build(bctx);
    if (!b.ok()) return b.status().WithContext("agent: source " + s.name);
    SourceContext sctx{s.name, s.env, s.env_field, I.data_dir, &I.router};
    if (Status st = (*b)->Start(sctx); !st.ok()) return st.WithContext("agent: source " + s.name);
    I.running_sources.emplace_back(s.name, std::move(*b));
  }
  I.guard = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(I.io.get_executor());
  if (!I.listen.empty()) {
    auto ep = ParseEndpoint(I.listen);
    if (!ep.ok()) return ep.status().WithContext("agent: listen");
    HttpServer::Options o;
    o.server_name = "hakone-agent";
    I.admin = std::make_unique<HttpServer>(I.io, o);
    Impl* ip = &I;
    I.admin->Route("GET", "/metrics", [ip](HttpRequest&) -> asio::awaitable<HttpResponse> {
      UpdateBufferGauges();
      HttpResponse r = HttpResponse::Text(200, metrics::Registry::Global().Render());
      r.content_type = "text/plain; version=0.0.4";
      co_return r;
    });
    I.admin->Route("GET", "/alerts", [ip](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, ip->alerts.Json(NowNs()));
    });
    I.admin->Route("GET", "/healthz", [ip](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, "{\"status\":\"ok\"}");
    });
    HAKONE_RETURN_IF_ERROR(I.admin->Listen(*ep));
  }
  for (auto& [name, env] : I.envs) RegisterBufferGauge(name, env->spool.get(), env->cfg.quota);
  I.io_thread = std::thread([ip = &I] { ip->io.run(); });
  log::Info("agent started", {{"sources", static_cast<long long>(I.sources.size())},
                              {"sinks", static_cast<long long>(I.runners.size())},
                              {"admin", admin_address()}});
  return Status::Ok();
}

void Agent::Stop() {
  auto& I = *impl_;
  std::lock_guard lk(I.stop_mu);
  if (!I.started || I.stopped.exchange(true)) return;
  I.router.stop = true;
  for (auto& [n, s] : I.running_sources) s->Stop();
  // Sources synced what they emitted; make sure everything appended is durable before sinks stop.
  (void)I.router.Sync();
  for (auto& r : I.runners) r->Stop();
  if (I.admin) I.admin->Stop();
  I.guard.reset();
  I.io.stop();
  if (I.io_thread.joinable()) I.io_thread.join();
  for (auto& [name, env] : I.envs) UnregisterBufferGauge(name);
  I.runners.clear();
  I.running_sources.clear();
  I.router.envs.clear();
  I.envs.clear();
  log::Info("agent stopped");
}

std::string Agent::admin_address() const {
  if (!impl_->admin) return "";
  return FormatEndpoint(impl_->admin->local_endpoint());
}

std::string Agent::source_address(const std::string& source) const {
  for (auto& [n, s] : impl_->running_sources)
    if (n == source) return s->bound_address();
  return "";
}

}  // namespace hakone::pipeline
