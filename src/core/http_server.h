// An HTTP/1.1 server on Asio C++20 coroutines (Beast underneath, hidden in the .cc).
//
// Connections are served one request at a time (pipelined requests are answered in order),
// with keep-alive. Each connection runs on its own strand, so handlers of different connections
// may run concurrently when the io_context has several threads: handlers must be thread safe.
// Protocol errors are answered without reaching a handler: 400 malformed request, 413 body over
// Options::max_body, 431 header over Options::max_header_bytes, 404/405 when no route matches.
// A handler that throws gets a 500 (and a log line); it never takes the server down.
//
// Metrics: hakone_http_requests_total{server,method,status} and
// hakone_http_request_duration_seconds{server,method} (header read to response written).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/http_types.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone {

class HttpServer {
 public:
  struct Options {
    size_t max_body = 100 << 20;             // request bodies above this get 413
    size_t max_header_bytes = 64 << 10;      // request line + headers above this get 431
    std::chrono::seconds header_timeout{10};  // first byte of a request to end of its headers
    std::chrono::seconds idle_timeout{60};    // keep-alive wait; also bounds each body read/write stall
    std::string server_name = "hakone";       // Server header and the `server` metric label
  };
  // The request is the handler's to modify or move from. The returned response is sent as is
  // (HEAD: headers only).
  using Handler = std::function<asio::awaitable<HttpResponse>(HttpRequest&)>;

  HttpServer(asio::io_context& io, Options options);
  // Calls Stop(). In-flight requests keep the server's internals (and the handlers) alive until
  // they finish, so objects the handlers use must outlive them, or the io_context must stop first.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route. method: "GET", "POST", ... or "*" for any; a GET route also answers HEAD
  // unless a HEAD route matches. pattern: an exact path ("/metrics"), or a prefix ending in "/*"
  // ("/api/audit/*" matches "/api/audit" and everything under "/api/audit/"). Exact routes win
  // over prefixes, longer prefixes over shorter ones, then the first added. Paths are matched
  // after percent-decoding. REQUIRES: called before Listen(); not thread safe.
  void Route(std::string method, std::string pattern, Handler handler);
  // Handles every request no route matches (instead of 404/405). REQUIRES: before Listen().
  void SetFallback(Handler handler);
  // Binds (SO_REUSEADDR), listens and starts accepting on the io_context. Port 0 picks a free
  // port (see local_endpoint()). May be called more than once to listen on several addresses.
  // Returns IOError when the address cannot be bound.
  Status Listen(const asio::ip::tcp::endpoint& endpoint);
  // The address of the first listener (with the real port when bound to port 0); a default
  // endpoint before Listen().
  asio::ip::tcp::endpoint local_endpoint() const;
  // Stops accepting, closes idle keep-alive connections and lets in-flight requests finish (their
  // responses carry "Connection: close"). Thread safe, idempotent; returns at once.
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hakone
