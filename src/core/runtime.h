// The Asio C++20 coroutine runtime: one io_context run by N threads, SIGTERM/SIGINT handling
// with a graceful drain, and helpers shared by every network component.
//
// Shutdown: on the first SIGTERM/SIGINT (or Shutdown()), every callback registered with
// OnShutdown() runs on the io_context (stop accepting, flush, close idle connections). Run()
// returns when all work has finished, or after `drain_timeout`, whichever is first. A second
// signal stops at once.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace hakone {

namespace asio = boost::asio;

class Runtime {
 public:
  explicit Runtime(int threads = 1, std::chrono::milliseconds drain_timeout = std::chrono::seconds(25));
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  asio::io_context& io() { return io_; }
  // Registers a callback run once when shutdown starts. Thread safe until Run().
  void OnShutdown(std::function<void()> fn);
  // Runs the io_context on `threads` threads (the caller's included) until shutdown completes.
  void Run();
  // Starts a graceful shutdown (same as SIGTERM). Thread safe, idempotent.
  void Shutdown();
  bool stopping() const { return stopping_; }

 private:
  asio::io_context io_;
  int threads_;
  std::chrono::milliseconds drain_timeout_;
  std::vector<std::function<void()>> on_shutdown_;
  std::atomic<bool> stopping_{false};
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "127.0.0.1:8080", "[::1]:8080", ":8080" (all addresses), "localhost:8080".
Result<asio::ip::tcp::endpoint> ParseEndpoint(const std::string& host_port);
// "127.0.0.1:8080" / "[::1]:8080".
std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep);
// Opens, binds (SO_REUSEADDR) and listens. Port 0 picks a free port.
Result<asio::ip::tcp::acceptor> Listen(asio::io_context& io, const asio::ip::tcp::endpoint& ep, int backlog = 1024);

}  // namespace hakone
