// An HTTP/1.1 client with pooled keep-alive connections, on Asio C++20 coroutines (Beast
// underneath, hidden in the .cc). http:// only for now; https:// is rejected with InvalidArgument.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/runtime.h"
#include "core/status.h"

namespace hakone {

class HttpClient {
 public:
  struct Options {
    size_t max_idle_per_host = 8;                   // idle keep-alive connections kept per host:port
    std::chrono::milliseconds connect_timeout{2000};  // TCP connect (bounded by the request timeout too)
    std::chrono::milliseconds timeout{30000};        // whole request: connect, send, receive
    std::chrono::milliseconds idle_timeout{15000};   // pooled connections idle longer are not reused
    size_t max_response_body = 256 << 20;           // larger responses fail with ResourceExhausted
  };
  struct Response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
    std::string body;
    // The first header with this name (ASCII case-insensitive); "" if absent.
    std::string_view Header(std::string_view name) const;
  };

  // (Two constructors rather than `Options options = {}`: a nested struct with default member
  // initializers cannot be a default argument inside its own class.)
  explicit HttpClient(asio::io_context& io);
  HttpClient(asio::io_context& io, Options options);
  // Closes the idle connections. Requests still running keep the pool's internals alive.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request to `url` ("http://host:port/path?q"; "user:pass@" becomes Basic auth unless
  // an Authorization header is given) and reads the whole response. Host, User-Agent and
  // Content-Length are added unless given. Connections are reused per host:port. A request on a
  // reused connection that fails before any response byte arrives is retried once on a new
  // connection if the method is idempotent (GET HEAD PUT DELETE OPTIONS TRACE); pooled
  // connections the server already closed are detected and dropped before anything is sent.
  // Any HTTP status is a success here; errors: InvalidArgument (bad URL, https, bad header),
  // Timeout (connect_timeout or `timeout`, default Options::timeout), Unavailable (refused,
  // unresolvable, reset, closed before the response), IOError (malformed response),
  // ResourceExhausted (body over max_response_body). Thread safe.
  asio::awaitable<Result<Response>> Request(std::string method, std::string url,
                                            std::vector<std::pair<std::string, std::string>> headers,
                                            std::string body,
                                            std::optional<std::chrono::milliseconds> timeout = {});

  // Idle pooled connections right now (all hosts); for tests and metrics.
  size_t IdleConnections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Blocking convenience for CLIs and tests: runs one request on a private io_context. Do not call
// it from an io_context thread you need responsive (it blocks that thread).
Result<HttpClient::Response> HttpFetch(std::string method, std::string url,
                                       std::vector<std::pair<std::string, std::string>> headers = {},
                                       std::string body = {},
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace hakone
