#include "gateway/gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "core/http_server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/redact.h"
#include "core/spool.h"
#include "gateway/admin.h"
#include "gateway/audit_chain.h"
#include "gateway/event.h"
#include "gateway/identity.h"
#include "gateway/proxy.h"
#include "gateway/sinks.h"
#include "store/audit_store.h"

namespace hakone::gateway {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "hakone";
  return buf;
}

struct GatewaySettings {
  std::string data_dir;
  std::string instance;
  ProxyOptions proxy;
  std::string admin;
  bool strict = false;
  std::chrono::milliseconds flush_interval{200};
  uint64_t spool_max = 1ull << 30;
  SpoolOptions::OnFull on_full = SpoolOptions::OnFull::kBlock;
  uint64_t checkpoint_every = 1000;
  std::chrono::seconds checkpoint_interval{10};
  AdminAuth auth;
};

// Turns finished requests into sealed, spooled events.
class GatewayRecorder : public Recorder {
 public:
  GatewayRecorder(asio::io_context& io, bool strict, EventBuilder builder, std::unique_ptr<IdentityResolver> identity,
                  AuditChain* chain, Spool* spool)
      : io_(io), strict_(strict), builder_(std::move(builder)), identity_(std::move(identity)), chain_(chain), spool_(spool) {
    auto& reg = metrics::Registry::Global();
    events_ = reg.AddCounter("hakone_gateway_events_total", "Audit events appended to the spool")->Get();
    event_errors_ = reg.AddCounter("hakone_gateway_event_errors_total", "Audit events that could not be appended")->Get();
    excluded_ = reg.AddCounter("hakone_gateway_excluded_total", "Requests not recorded (excluded paths)")->Get();
  }

  RecordPolicy Policy(const RequestRecord& rec) override {
    RecordPolicy p = builder_.Policy(rec);
    if (!p.record) excluded_->Inc();
    return p;
  }

  bool strict() const override { return strict_; }

  void Record(RequestRecord&& rec, std::function<void(Status)> durable) override {
    if (auto user = identity_->ResolveSync(rec)) {
      Append(rec, *user, std::move(durable));
      return;
    }
    // A session lookup: resolve asynchronously, then append. The proxy is not blocked (batch) or
    // waits for `durable` (strict) as usual.
    auto holder = std::make_shared<RequestRecord>(std::move(rec));
    asio::co_spawn(
        io_,
        [this, holder, durable = std::move(durable)]() mutable -> asio::awaitable<void> {
          std::string user = co_await identity_->Resolve(*holder);
          Append(*holder, user, std::move(durable));
        },
        asio::detached);
  }

 private:
  void Append(const RequestRecord& rec, std::string_view user, std::function<void(Status)> durable) {
    std::string body = builder_.Build(rec, user);
    Result<uint64_t> seq = Status::Internal("unset");
    {
      std::lock_guard lk(mu_);
      uint64_t next = spool_->last_seq() + 1;
      std::string line = chain_->Seal(body, next);
      seq = spool_->Append(line);
      if (seq.ok() && *seq != next) {
        log::Error("audit spool sequence out of step with the hash chain", {{"expected", next}, {"got", *seq}});
      }
    }
    if (!seq.ok()) {
      event_errors_->Inc();
      log::Error("audit event not recorded", {{"error", seq.status().ToString()}, {"request_id", rec.request_id}});
      if (durable) durable(seq.status());
      return;
    }
    events_->Inc();
    if (durable) spool_->WhenDurable(*seq, std::move(durable));
  }

  asio::io_context& io_;
  bool strict_;
  EventBuilder builder_;
  std::unique_ptr<IdentityResolver> identity_;
  AuditChain* chain_;
  Spool* spool_;
  std::mutex mu_;
  metrics::Counter* events_;
  metrics::Counter* event_errors_;
  metrics::Counter* excluded_;
};

class Gateway : public Component {
 public:
  Gateway(Runtime& rt, GatewaySettings s, EventOptions eo, IdentityOptions io, std::vector<SinkConfig> sinks)
      : rt_(rt), s_(std::move(s)), event_options_(std::move(eo)), identity_options_(std::move(io)), sink_configs_(std::move(sinks)) {}

  std::string name() const override { return "gateway"; }

  Status Start() override {
    std::error_code ec;
    std::filesystem::create_directories(s_.data_dir, ec);
    if (ec) return Status::IOError("gateway: cannot create data dir " + s_.data_dir + ": " + ec.message());
    SpoolOptions so;
    so.dir = s_.data_dir + "/spool/audit";
    so.name = "audit";
    so.max_bytes = s_.spool_max;
    so.on_full = s_.on_full;
    so.flush_interval = s_.flush_interval;
    auto spool = Spool::Open(so);
    if (!spool.ok()) return spool.status().WithContext("gateway: spool");
    spool_ = std::move(*spool);
    auto chain = AuditChain::Open(s_.data_dir, s_.instance, s_.checkpoint_every, s_.checkpoint_interval);
    if (!chain.ok()) return chain.status().WithContext("gateway: audit chain");
    chain_ = std::move(*chain);
    Spool* sp = spool_.get();
    chain_->SetDurableSeq([sp] { return sp->durable_seq(); });
    auto store = store::AuditStore::Open(s_.data_dir + "/audit", spool_.get());
    if (!store.ok()) return store.status().WithContext("gateway: audit store");
    store_ = std::move(*store);
    auto salt = LoadOrCreateSalt(s_.data_dir);
    if (!salt.ok()) return salt.status().WithContext("gateway: redaction salt");
    event_options_.redact.salt = *salt;
    Redactor redactor(event_options_.redact);
    EventBuilder builder(event_options_, redactor);
    auto identity = std::make_unique<IdentityResolver>(rt_.io(), identity_options_);
    recorder_ = std::make_unique<GatewayRecorder>(rt_.io(), s_.strict, std::move(builder), std::move(identity), chain_.get(),
                                                  spool_.get());
    for (auto& sc : sink_configs_) {
      auto sink = StartSink(rt_.io(), sc, spool_.get());
      if (!sink.ok()) return sink.status().WithContext("gateway: sink " + sc.name);
      sinks_.push_back(std::move(*sink));
    }
    // Checkpoints sign with an fdatasync: keep them off the I/O thread.
    checkpointer_ = std::thread([this] {
      std::unique_lock lk(cp_mu_);
      while (!cp_stop_) {
        cp_cv_.wait_for(lk, std::chrono::milliseconds(250));
        if (cp_stop_) break;
        lk.unlock();
        chain_->MaybeCheckpoint();
        lk.lock();
      }
    });
    proxy_ = std::make_unique<Proxy>(rt_.io(), s_.proxy, recorder_.get());
    HAKONE_RETURN_IF_ERROR(proxy_->Start().WithContext("gateway"));
    if (!s_.admin.empty()) {
      admin_ = std::make_unique<AdminApi>(rt_.io(), store_.get(), s_.data_dir, s_.auth);
      HAKONE_RETURN_IF_ERROR(admin_->Start(s_.admin).WithContext("gateway: admin"));
    }
    log::Info("gateway started",
              {{"listen", FormatEndpoint(proxy_->local_endpoint())},
               {"upstreams", static_cast<long long>(s_.proxy.upstreams.size())},
               {"durability", s_.strict ? "strict" : "batch"},
               {"data_dir", s_.data_dir},
               {"admin", s_.admin}});
    return Status::Ok();
  }

  void Stop() override {
    if (proxy_) proxy_->Stop();
    if (admin_) admin_->Stop();
    // Flush on a separate thread so the io thread keeps finishing in-flight requests.
    // The work guard keeps Runtime::Run() going until the audit log is flushed.
    std::thread([this, guard = asio::make_work_guard(rt_.io())]() mutable {
      while (proxy_ && proxy_->active_connections() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (spool_) {
        if (Status st = spool_->Sync(); !st.ok()) log::Error("audit spool sync at shutdown failed", {{"error", st.ToString()}});
      }
      StopBackground();
      if (chain_) {
        if (Status st = chain_->Checkpoint(); !st.ok()) log::Error("final audit checkpoint failed", {{"error", st.ToString()}});
      }
      for (auto& s : sinks_) s->Stop();
      if (store_) store_->Stop();
      log::Info("gateway stopped: audit log flushed");
      stopped_ = true;
      guard.reset();
    }).detach();
  }

  ~Gateway() override {
    StopBackground();
    for (auto& s : sinks_) s->Stop();
    if (store_) store_->Stop();
  }

  bool stopped() const { return stopped_; }

 private:
  Runtime& rt_;
  GatewaySettings s_;
  EventOptions event_options_;
  IdentityOptions identity_options_;
  std::vector<SinkConfig> sink_configs_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<AuditChain> chain_;
  std::unique_ptr<store::AuditStore> store_;
  std::unique_ptr<GatewayRecorder> recorder_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::unique_ptr<Proxy> proxy_;
  std::unique_ptr<AdminApi> admin_;
  std::thread checkpointer_;
  std::mutex cp_mu_;
  std::condition_variable cp_cv_;
  bool cp_stop_ = false;
  std::atomic<bool> stopped_{false};

  void StopBackground() {
    {
      std::lock_guard lk(cp_mu_);
      cp_stop_ = true;
    }
    cp_cv_.notify_all();
    if (checkpointer_.joinable() && checkpointer_.get_id() != std::this_thread::get_id()) checkpointer_.join();
  }
};

}  // namespace

Result<std::unique_ptr<Component>> MakeGateway(Runtime& rt, const Config& cfg, const GatewayOverrides& ov) {
  auto root = cfg.Root();
  auto g = cfg.Section("gateway");
  GatewaySettings s;
  s.data_dir = !ov.data_dir.empty() ? ov.data_dir : root.String("data_dir", "./hakone-data");
  s.instance = !ov.instance.empty() ? ov.instance : root.String("instance", HostName());
  s.proxy.listen = !ov.listen.empty() ? ov.listen : g.String("listen", "127.0.0.1:8080");
  s.proxy.upstreams = !ov.upstreams.empty() ? ov.upstreams : g.StringList("upstreams", {});
  s.admin = !ov.admin.empty() ? ov.admin : g.String("admin", "127.0.0.1:8081");
  (void)g.Int("workers", 1);  // read by the caller that sizes the Runtime
  std::string durability = !ov.durability.empty() ? ov.durability : g.String("durability", "batch");
  if (durability != "batch" && durability != "strict") {
    return Status::InvalidArgument("config: [gateway] durability: must be \"batch\" or \"strict\", got \"" + durability + "\"");
  }
  s.strict = durability == "strict";
  s.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(g.Duration("flush_interval", std::chrono::milliseconds(200)));
  s.proxy.max_body = g.Size("max_body", 100ull << 20);
  s.proxy.max_header_bytes = g.Size("max_header", 64 << 10);
  auto ms = [&](const char* key, std::chrono::milliseconds def) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(g.Duration(key, def));
  };
  s.proxy.connect_timeout = ms("connect_timeout", s.proxy.connect_timeout);
  s.proxy.header_timeout = ms("header_timeout", s.proxy.header_timeout);
  s.proxy.idle_timeout = ms("idle_timeout", s.proxy.idle_timeout);
  s.proxy.total_timeout = ms("total_timeout", s.proxy.total_timeout);
  s.proxy.fail_timeout = ms("fail_timeout", s.proxy.fail_timeout);
  s.proxy.max_fails = static_cast<int>(g.Int("max_fails", s.proxy.max_fails));
  s.proxy.pool_per_upstream = static_cast<size_t>(g.Int("pool_per_upstream", static_cast<int64_t>(s.proxy.pool_per_upstream)));
  s.spool_max = g.Size("spool_max", 1ull << 30);
  std::string on_full = g.String("on_full", "block");
  if (on_full == "block") s.on_full = SpoolOptions::OnFull::kBlock;
  else if (on_full == "drop_oldest") s.on_full = SpoolOptions::OnFull::kDropOldest;
  else g.Fail("on_full", "must be \"block\" or \"drop_oldest\"");
  s.checkpoint_every = static_cast<uint64_t>(g.Int("checkpoint_every", 1000));
  s.checkpoint_interval = std::chrono::duration_cast<std::chrono::seconds>(g.Duration("checkpoint_interval", std::chrono::seconds(10)));
  auto auth = LoadAdminAuth(root.Section("auth"));
  if (!auth.ok()) return auth.status();
  s.auth = *auth;
  if (s.proxy.upstreams.empty()) {
    return Status::InvalidArgument("gateway: no upstream: pass --upstream http://HOST:PORT or set [gateway] upstreams");
  }
  auto eo = EventOptions::FromConfig(root, s.instance);
  if (!eo.ok()) return eo.status();
  auto io = IdentityOptions::FromConfig(g.Section("identity"));
  if (!io.ok()) return io.status();
  auto sinks = ParseSinkConfigs(g);
  if (!sinks.ok()) return sinks.status();
  return std::unique_ptr<Component>(new Gateway(rt, std::move(s), std::move(*eo), std::move(*io), std::move(*sinks)));
}

}  // namespace hakone::gateway
