#include "core/runtime.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "core/log.h"

namespace hakone {

struct Runtime::Impl {
  explicit Impl(asio::io_context& io) : signals(io, SIGINT, SIGTERM), guard(io.get_executor()) {}
  asio::signal_set signals;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread watchdog;
};

Runtime::Runtime(int threads, std::chrono::milliseconds drain_timeout)
    : io_(threads), threads_(threads < 1 ? 1 : threads), drain_timeout_(drain_timeout), impl_(std::make_unique<Impl>(io_)) {
  std::signal(SIGPIPE, SIG_IGN);
}

Runtime::~Runtime() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->finished = true;
  }
  impl_->cv.notify_all();
  if (impl_->watchdog.joinable()) impl_->watchdog.join();
}

void Runtime::OnShutdown(std::function<void()> fn) {
  std::lock_guard lk(impl_->mu);
  on_shutdown_.push_back(std::move(fn));
}

void Runtime::Shutdown() {
  asio::post(io_, [this] {
    if (stopping_.exchange(true)) return;
    log::Info("shutting down: draining", {{"drain_timeout_ms", static_cast<long long>(drain_timeout_.count())}});
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lk(impl_->mu);
      fns = on_shutdown_;
    }
    for (auto& f : fns) f();
    impl_->guard.reset();
    boost::system::error_code ec;
    impl_->signals.cancel(ec);
    // The io_context returns from run() once every connection and flush has finished; the
    // watchdog bounds that wait.
    impl_->watchdog = std::thread([this] {
      std::unique_lock lk(impl_->mu);
      if (!impl_->cv.wait_for(lk, drain_timeout_, [this] { return impl_->finished; })) {
        log::Warn("drain timeout reached; stopping with work still pending");
        io_.stop();
      }
    });
  });
}

void Runtime::Run() {
  impl_->signals.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    log::Info("signal received", {{"signal", sig}});
    Shutdown();
  });
  std::vector<std::thread> extra;
  for (int i = 1; i < threads_; ++i) extra.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : extra) t.join();
  {
    std::lock_guard lk(impl_->mu);
    impl_->finished = true;
  }
  impl_->cv.notify_all();
  if (impl_->watchdog.joinable()) impl_->watchdog.join();
}

Result<asio::ip::tcp::endpoint> ParseEndpoint(const std::string& host_port) {
  std::string host, port;
  if (!host_port.empty() && host_port[0] == '[') {
    auto close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() || host_port[close + 1] != ':') {
      return Status::InvalidArgument("bad address '" + host_port + "' (expected [v6addr]:port)");
    }
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("bad address '" + host_port + "' (expected host:port)");
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  int p = -1;
  try {
    size_t pos = 0;
    p = std::stoi(port, &pos);
    if (pos != port.size()) p = -1;
  } catch (...) {
  }
  if (p < 0 || p > 65535) return Status::InvalidArgument("bad port in '" + host_port + "'");
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    asio::io_context io;
    asio::ip::tcp::resolver r(io);
    auto res = r.resolve(host, port, ec);
    if (ec || res.empty()) return Status::InvalidArgument("cannot resolve '" + host + "': " + ec.message());
    return res.begin()->endpoint();
  }
  return asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(p));
}

std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

Result<asio::ip::tcp::acceptor> Listen(asio::io_context& io, const asio::ip::tcp::endpoint& ep, int backlog) {
  asio::ip::tcp::acceptor a(io);
  boost::system::error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(backlog, ec);
  if (ec) return Status::IOError("listen on " + FormatEndpoint(ep) + ": " + ec.message());
  return a;
}

}  // namespace hakone
