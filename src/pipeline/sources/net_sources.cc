// Sources other than files: `syslog` (UDP and TCP; RFC 5424 / 3164; octet-counted and newline
// framing), `http` (JSON lines, JSON arrays, plain lines and the Elasticsearch _bulk format),
// `stdin`, and `exec` (a command's output lines, run every `interval`).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "core/http_server.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/units.h"
#include "pipeline/component.h"
#include "pipeline/metrics.h"
#include "pipeline/parse.h"

namespace hakone::pipeline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Event MakeEvent(const SourceContext& ctx, std::string origin, std::string msg) {
  Event e;
  e.ts_ns = e.ingest_ns = NowNs();
  e.source = ctx.name;
  e.env = ctx.env;
  e.origin = std::move(origin);
  e.message = std::move(msg);
  return e;
}

std::string PeerString(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
  return buf;
}

// --- syslog ----------------------------------------------------------------------------------

struct SyslogSourceConfig : SourceConfig {
  std::string address = "127.0.0.1:5514";  // host:port to listen on (port 0 picks a free port)
  std::string mode = "tcp";                // tcp | udp
  uint64_t max_frame = 64 << 10;           // longest message; a longer TCP frame closes the connection
  bool parse = true;                       // parse each message into fields (appname, level, ...) at the source
  int64_t max_connections = 1024;          // TCP connections accepted at once

  Status Validate() const override {
    if (mode != "tcp" && mode != "udp") return Status::InvalidArgument("mode must be tcp or udp");
    auto ep = ParseEndpoint(address);
    if (!ep.ok()) return ep.status();
    if (max_frame < 256) return Status::InvalidArgument("max_frame must be >= 256");
    return Status::Ok();
  }
  Result<std::unique_ptr<Source>> Build(const BuildContext&) const override;
  std::string Describe() const override { return mode + "://" + address; }
};

class SyslogSource : public Source {
 public:
  explicit SyslogSource(SyslogSourceConfig c) : c_(std::move(c)) {}
  ~SyslogSource() override { Stop(); }

  Status Start(const SourceContext& ctx) override {
    ctx_ = ctx;
    m_ = SourceMetrics(ctx.name, ctx.env);
    auto ep = ParseEndpoint(c_.address);
    if (!ep.ok()) return ep.status();
    bool udp = c_.mode == "udp";
    sockaddr_storage ss{};
    socklen_t len;
    if (ep->address().is_v4()) {
      auto& a = reinterpret_cast<sockaddr_in&>(ss);
      a.sin_family = AF_INET;
      a.sin_port = htons(ep->port());
      auto b = ep->address().to_v4().to_bytes();
      std::memcpy(&a.sin_addr, b.data(), 4);
      len = sizeof(sockaddr_in);
    } else {
      auto& a = reinterpret_cast<sockaddr_in6&>(ss);
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(ep->port());
      auto b = ep->address().to_v6().to_bytes();
      std::memcpy(&a.sin6_addr, b.data(), 16);
      len = sizeof(sockaddr_in6);
    }
    fd_ = ::socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return Status::FromErrno("syslog: socket", errno);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (udp) {
      int rcv = 8 << 20;
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) return Status::FromErrno("syslog: bind " + c_.address, errno);
    if (!udp && ::listen(fd_, 128) != 0) return Status::FromErrno("syslog: listen", errno);
    sockaddr_storage bound{};
    socklen_t bl = sizeof bound;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &bl);
    int port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(bound).sin_port
                                                : reinterpret_cast<sockaddr_in6&>(bound).sin6_port);
    std::string host = PeerString(bound);
    bound_ = (bound.ss_family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    th_ = std::thread([this, udp] { udp ? LoopUdp() : LoopTcp(); });
    log::Info("agent: syslog listening", {{"source", ctx_.name}, {"mode", c_.mode}, {"address", bound_}});
    return Status::Ok();
  }

  void Stop() override {
    if (stop_.exchange(true)) return;
    if (th_.joinable()) th_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string bound_address() const override { return bound_; }

 private:
  // Appends a record to the batch, reusing a previous batch's Event and the parsed message's
  // buffers (no allocation per line once warm).
  void Add(std::string_view msg, const std::string& peer) {
    if (batch_n_ == batch_.size()) batch_.emplace_back();
    Event& e = batch_[batch_n_++];
    e.ts_ns = e.ingest_ns = NowNs();
    e.source.assign(ctx_.name);
    e.env.assign(ctx_.env);
    e.origin.assign(peer);
    e.message.assign(msg);
    if (!e.fields.empty()) e.fields.clear();
    e.fields_json.clear();
    e.fields_from_syslog = false;
    if (c_.parse) {
      Status st = ParseSyslog(msg, e.ingest_ns, &parsed_);
      if (st.ok()) {
        // The fields are not spooled: the sink side re-parses the message when it needs them
        // (Event::fields_from_syslog), which halves the bytes spooled per line.
        e.fields_from_syslog = true;
        if (parsed_.ts_ns) e.ts_ns = parsed_.ts_ns;
      } else {
        e.fields["_parse_error"] = st.message();
        m_->errors->Inc();
      }
    }
  }
  void Flush() {
    if (batch_n_ == 0) return;
    size_t n = batch_n_;
    if (ctx_.router->Emit(batch_.data(), n).ok()) m_->out->Inc(n);
    batch_n_ = 0;
    for (auto& e : batch_)
      if (e.message.capacity() > (64u << 10)) e.message = std::string();  // keep only small buffers
  }

  void LoopUdp() {
    std::string buf(c_.max_frame + 1, '\0');
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r <= 0) {
        Flush();
        continue;
      }
      for (int i = 0; i < 1024; i++) {
        sockaddr_storage from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) break;
        std::string_view msg(buf.data(), static_cast<size_t>(n));
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.remove_suffix(1);
        if (!msg.empty()) Add(msg, PeerString(from));
      }
      Flush();
    }
    Flush();
  }

  struct Conn {
    int fd;
    std::string peer;
    SyslogFramer framer;
  };

  void LoopTcp() {
    std::map<int, std::unique_ptr<Conn>> conns;
    char buf[64 << 10];
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({fd_, POLLIN, 0});
      for (auto& [fd, c] : conns) fds.push_back({fd, POLLIN, 0});
      int r = ::poll(fds.data(), fds.size(), 100);
      if (r <= 0) {
        Flush();
        continue;
      }
      if (fds[0].revents & POLLIN) {
        while (static_cast<int64_t>(conns.size()) < c_.max_connections) {
          sockaddr_storage from{};
          socklen_t fl = sizeof from;
          int cfd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&from), &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          conns[cfd] = std::make_unique<Conn>(Conn{cfd, PeerString(from), SyslogFramer(c_.max_frame)});
        }
      }
      for (size_t i = 1; i < fds.size(); i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        auto it = conns.find(fds[i].fd);
        Conn& c = *it->second;
        bool close = false;
        for (int k = 0; k < 16; k++) {
          ssize_t n = ::read(c.fd, buf, sizeof buf);
          if (n == 0) {
            close = true;
            break;
          }
          if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) close = true;
            break;
          }
          Status st = c.framer.Feed(std::string_view(buf, static_cast<size_t>(n)), [&](std::string_view m) { Add(m, c.peer); });
          if (!st.ok()) {
            log::Warn("agent: syslog framing error, closing connection", {{"peer", c.peer}, {"error", st.message()}});
            m_->errors->Inc();
            close = true;
            break;
          }
          if (batch_n_ >= 2000) Flush();
        }
        if (close) {
          c.framer.Finish([&](std::string_view m) { Add(m, c.peer); });
          ::close(c.fd);
          conns.erase(it);
        }
      }
      Flush();
    }
    for (auto& entry : conns) {
      auto& c = entry.second;  // not a structured binding: the lambda captures it (clang 14)
      c->framer.Finish([&](std::string_view m) { Add(m, c->peer); });
      ::close(entry.first);
    }
    Flush();
  }

  SyslogSourceConfig c_;
  SourceContext ctx_;
  ComponentMetrics* m_ = nullptr;
  int fd_ = -1;
  std::string bound_;
  std::vector<Event> batch_;  // [0, batch_n_) is the batch; the rest are spare Events
  size_t batch_n_ = 0;
  SyslogMessage parsed_;      // reused by Add()
  std::atomic<bool> stop_{false};
  std::thread th_;
};

Result<std::unique_ptr<Source>> SyslogSourceConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Source>(new SyslogSource(*this));
}

// --- http ------------------------------------------------------------------------------------

struct HttpSourceConfig : SourceConfig {
  std::string address = "127.0.0.1:8687";  // host:port to listen on (port 0 picks a free port)
  uint64_t max_body = 32 << 20;            // larger request bodies get 413
  Status Validate() const override {
    auto ep = ParseEndpoint(address);
    return ep.ok() ? Status::Ok() : ep.status();
  }
  Result<std::unique_ptr<Source>> Build(const BuildContext&) const override;
  std::string Describe() const override { return "http://" + address + " (POST / JSON lines|array|text, POST /_bulk)"; }
};

class HttpSource : public Source {
 public:
  explicit HttpSource(HttpSourceConfig c) : c_(std::move(c)) {}
  ~HttpSource() override { Stop(); }

  Status Start(const SourceContext& ctx) override {
    ctx_ = ctx;
    m_ = SourceMetrics(ctx.name, ctx.env);
    auto ep = ParseEndpoint(c_.address);
    if (!ep.ok()) return ep.status();
    HttpServer::Options o;
    o.max_body = c_.max_body;
    o.server_name = "hakone-agent-http";
    server_ = std::make_unique<HttpServer>(io_, o);
    server_->Route("POST", "/_bulk", [this](HttpRequest& r) { return Bulk(r, ""); });
    server_->Route("PUT", "/_bulk", [this](HttpRequest& r) { return Bulk(r, ""); });
    server_->Route("GET", "/", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, R"({"name":"hakone-agent","cluster_name":"hakone","version":{"number":"8.0.0","distribution":"hakone"},"tagline":"You Know, for Search"})");
    });
    server_->SetFallback([this](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      if (r.method != "POST" && r.method != "PUT") co_return HttpResponse::Error(405, "use POST");
      if (r.path.size() > 6 && r.path.compare(r.path.size() - 6, 6, "/_bulk") == 0) {
        std::string index = r.path.substr(1, r.path.size() - 7);
        co_return co_await Bulk(r, index);
      }
      co_return co_await Lines(r);
    });
    HAKONE_RETURN_IF_ERROR(server_->Listen(*ep));
    bound_ = FormatEndpoint(server_->local_endpoint());
    guard_ = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(io_.get_executor());
    th_ = std::thread([this] { io_.run(); });
    log::Info("agent: http source listening", {{"source", ctx_.name}, {"address", bound_}});
    return Status::Ok();
  }
  void Stop() override {
    if (!server_ || stopped_.exchange(true)) return;
    server_->Stop();
    guard_.reset();
    io_.stop();
    if (th_.joinable()) th_.join();
  }
  std::string bound_address() const override { return bound_; }

 private:
  // Emits and waits until durable: a 2xx means the records survive a crash.
  Status Deliver(std::vector<Event>& evs) {
    std::lock_guard lk(mu_);
    size_t n = evs.size();
    HAKONE_RETURN_IF_ERROR(ctx_.router->Emit(evs));
    HAKONE_RETURN_IF_ERROR(ctx_.router->Sync());
    m_->out->Inc(n);
    return Status::Ok();
  }
  static HttpResponse FailResponse(const Status& st) {
    int code = st.code() == StatusCode::kResourceExhausted || st.code() == StatusCode::kUnavailable ? 503 : 500;
    return HttpResponse::Error(code, st.message());
  }

  asio::awaitable<HttpResponse> Lines(HttpRequest& r) {
    std::vector<Event> evs;
    std::string origin = r.remote.address().to_string();
    std::string_view body = r.body;
    size_t i = 0;
    while (i < body.size() && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) i++;
    if (i < body.size() && body[i] == '[') {
      boost::system::error_code ec;
      auto v = boost::json::parse(body, ec);
      if (ec || !v.is_array()) co_return HttpResponse::Error(400, "body starts with '[' but is not a JSON array");
      for (auto& item : v.as_array())
        evs.push_back(MakeEvent(ctx_, origin, item.is_string() ? std::string(item.as_string()) : boost::json::serialize(item)));
    } else {
      size_t pos = 0;
      while (pos < body.size()) {
        size_t nl = body.find('\n', pos);
        if (nl == std::string_view::npos) nl = body.size();
        std::string_view line = body.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty()) evs.push_back(MakeEvent(ctx_, origin, std::string(line)));
        pos = nl + 1;
      }
    }
    size_t n = evs.size();
    if (Status st = Deliver(evs); !st.ok()) co_return FailResponse(st);
    co_return HttpResponse::Json(200, "{\"accepted\":" + std::to_string(n) + "}");
  }

  asio::awaitable<HttpResponse> Bulk(HttpRequest& r, std::string index) {
    std::vector<BulkDoc> docs;
    if (Status st = ParseBulk(r.body, &docs); !st.ok()) co_return HttpResponse::Error(400, st.message());
    std::vector<Event> evs;
    std::string origin = r.remote.address().to_string();
    for (auto& d : docs) {
      Event e = MakeEvent(ctx_, origin, d.source);
      std::string ix = d.index.empty() ? index : d.index;
      if (!ix.empty()) e.fields["_index"] = ix;
      evs.push_back(std::move(e));
    }
    auto t0 = Clock::now();
    if (Status st = Deliver(evs); !st.ok()) co_return FailResponse(st);
    std::string out = "{\"took\":" +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) +
                      ",\"errors\":false,\"items\":[";
    for (size_t i = 0; i < docs.size(); i++) {
      if (i) out += ",";
      std::string ix = docs[i].index.empty() ? index : docs[i].index;
      out += "{\"" + docs[i].action + "\":{\"_index\":";
      out += boost::json::serialize(boost::json::value(ix));
      out += ",\"_id\":" + boost::json::serialize(boost::json::value(docs[i].id)) + ",\"status\":201,\"result\":\"created\"}}";
    }
    out += "]}";
    co_return HttpResponse::Json(200, out);
  }

  HttpSourceConfig c_;
  SourceContext ctx_;
  ComponentMetrics* m_ = nullptr;
  boost::asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread th_;
  std::string bound_;
  std::mutex mu_;
  std::atomic<bool> stopped_{false};
};

Result<std::unique_ptr<Source>> HttpSourceConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Source>(new HttpSource(*this));
}

// --- stdin / exec ----------------------------------------------------------------------------

// Reads lines from fd until EOF or stop; emits them in batches and syncs at the end.
void PumpLines(int fd, const SourceContext& ctx, const std::string& origin, ComponentMetrics* m,
               const std::atomic<bool>& stop) {
  std::string partial;
  std::vector<Event> batch;
  char buf[64 << 10];
  auto flush = [&] {
    if (batch.empty()) return;
    size_t n = batch.size();
    if (ctx.router->Emit(batch).ok()) m->out->Inc(n);
    batch.clear();
  };
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r == 0) {
      flush();
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t pos = 0, nl;
    while ((nl = partial.find('\n', pos)) != std::string::npos) {
      std::string line = partial.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) batch.push_back(MakeEvent(ctx, origin, std::move(line)));
      pos = nl + 1;
    }
    partial.erase(0, pos);
    if (batch.size() >= 1000) flush();
  }
  if (!partial.empty()) batch.push_back(MakeEvent(ctx, origin, std::move(partial)));
  flush();
  (void)ctx.router->Sync();
}

struct StdinSourceConfig : SourceConfig {
  Status Validate() const override { return Status::Ok(); }
  Result<std::unique_ptr<Source>> Build(const BuildContext&) const override;
  std::string Describe() const override { return "lines from standard input"; }
};
class StdinSource : public Source {
 public:
  Status Start(const SourceContext& ctx) override {
    ctx_ = ctx;
    th_ = std::thread([this] { PumpLines(0, ctx_, "stdin", SourceMetrics(ctx_.name, ctx_.env), stop_); });
    return Status::Ok();
  }
  void Stop() override {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }
  ~StdinSource() override { Stop(); }
  SourceContext ctx_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};
Result<std::unique_ptr<Source>> StdinSourceConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Source>(new StdinSource());
}

struct ExecSourceConfig : SourceConfig {
  std::vector<std::string> command;  // argv of the command (no shell); required
  std::chrono::nanoseconds interval = std::chrono::minutes(1);  // run it this often (each run's lines become events)
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);  // kill a run that takes longer
  Status Validate() const override {
    if (command.empty()) return Status::InvalidArgument("command = [\"prog\", \"arg\", ...] is required");
    if (interval.count() <= 0) return Status::InvalidArgument("interval must be > 0");
    return Status::Ok();
  }
  Result<std::unique_ptr<Source>> Build(const BuildContext&) const override;
  std::string Describe() const override { return "command=" + command[0] + " every " + FormatDuration(interval); }
};
class ExecSource : public Source {
 public:
  explicit ExecSource(ExecSourceConfig c) : c_(std::move(c)) {}
  ~ExecSource() override { Stop(); }
  Status Start(const SourceContext& ctx) override {
    ctx_ = ctx;
    th_ = std::thread([this] {
      auto* m = SourceMetrics(ctx_.name, ctx_.env);
      while (!stop_) {
        auto next = Clock::now() + c_.interval;
        RunOnce(m);
        while (!stop_ && Clock::now() < next) std::this_thread::sleep_for(20ms);
      }
    });
    return Status::Ok();
  }
  void Stop() override {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }

 private:
  void RunOnce(ComponentMetrics* m) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pipefd[1], 1);
      std::vector<char*> argv;
      for (auto& a : c_.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      _exit(127);
    }
    ::close(pipefd[1]);
    if (pid < 0) {
      ::close(pipefd[0]);
      m->errors->Inc();
      return;
    }
    std::atomic<bool> timed_out{false};
    auto deadline = Clock::now() + c_.timeout;
    std::thread killer([&] {
      while (!timed_out && Clock::now() < deadline && !stop_) std::this_thread::sleep_for(20ms);
      if (!timed_out) ::kill(pid, SIGKILL);
    });
    PumpLines(pipefd[0], ctx_, c_.command[0], m, stop_);
    ::close(pipefd[0]);
    timed_out = true;  // (ends the killer's wait; the child has closed its stdout)
    killer.join();
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      m->errors->Inc();
      log::Warn("agent: exec source command failed", {{"source", ctx_.name}, {"status", status}});
    }
  }

  ExecSourceConfig c_;
  SourceContext ctx_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};
Result<std::unique_ptr<Source>> ExecSourceConfig::Build(const BuildContext&) const {
  return std::unique_ptr<Source>(new ExecSource(*this));
}

}  // namespace

std::unique_ptr<SourceConfig> ReadSyslogSource(const ConfigSection& s) {
  auto c = std::make_unique<SyslogSourceConfig>();
  c->address = s.String("address", c->address);
  c->mode = s.String("mode", c->mode);
  c->max_frame = s.Size("max_frame", c->max_frame);
  c->parse = s.Bool("parse", c->parse);
  c->max_connections = s.Int("max_connections", c->max_connections);
  return c;
}
std::unique_ptr<SourceConfig> ReadHttpSource(const ConfigSection& s) {
  auto c = std::make_unique<HttpSourceConfig>();
  c->address = s.String("address", c->address);
  c->max_body = s.Size("max_body", c->max_body);
  return c;
}
std::unique_ptr<SourceConfig> ReadStdinSource(const ConfigSection&) { return std::make_unique<StdinSourceConfig>(); }
std::unique_ptr<SourceConfig> ReadExecSource(const ConfigSection& s) {
  auto c = std::make_unique<ExecSourceConfig>();
  c->command = s.StringList("command");
  c->interval = s.Duration("interval", c->interval);
  c->timeout = s.Duration("timeout", c->timeout);
  return c;
}

}  // namespace hakone::pipeline
