// An HTTP/1.1 server on Asio C++20 coroutines (Beast underneath, hidden in the .cc).
//
// Connections are served one request at a time (pipelined requests are answered in order),
// with keep-alive. Each connection runs on its own strand, so handlers of different connections
// may run concurrently when the io_context has several threads: handlers must be thread safe.
// Protocol errors are answered without reaching a handler: 400 malformed request, 413 body over
// Options::max_body, 431 header over Options::max_header_bytes, 404/405 when no route matches.
// Bodies are read whole before the handler runs, except on streaming routes (StreamRoute), whose
// handler pulls the body piece by piece as it arrives, so memory stays bounded whatever its size.
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

  // The body of a request on a streaming route, read from the socket only when the handler asks:
  // while the handler is busy, nothing more is read and TCP flow control holds the client back.
  class BodyStream {
   public:
    virtual ~BodyStream() = default;
    // The next piece of the body (at most 64 KiB, chunked framing removed); an empty view at the
    // end of the body. The view is valid until the next call. Errors, after which every call
    // returns the same error: Cancelled (the client closed the connection before the end of the
    // body), Timeout (no byte for Options::idle_timeout), ResourceExhausted (over the route's
    // max_body; the server answers 413 whatever the handler returns), InvalidArgument (malformed
    // chunked framing; the server answers 400 whatever the handler returns). REQUIRES: called
    // from the handler's coroutine (the connection's strand).
    virtual asio::awaitable<Result<std::string_view>> Read() = 0;
    // Body bytes delivered so far.
    virtual uint64_t bytes_read() const = 0;
  };
  // A streaming handler: req.body is empty, the body comes from `body`. A handler that returns
  // before the end of the body gets its response sent and the connection closed.
  using StreamHandler = std::function<asio::awaitable<HttpResponse>(HttpRequest&, BodyStream&)>;

  HttpServer(asio::io_context& io, Options options);
  // Calls Stop(). In-flight requests keep the server's internals (and the handlers) alive until
  // they finish, so objects the handlers use must outlive them, or the io_context must stop first.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route. method: "GET", "POST", ... or "*" for any; a GET route also answers HEAD
  // unless a HEAD route matches. pattern: an exact path ("/metrics"), or a prefix ending in "/*"
  // ("/api/audit/*" matches "/api/audit" and everything under "/api/audit/"); a "*" segment
  // elsewhere matches any one non-empty segment ("/*/_bulk" matches "/logs/_bulk"). Exact routes
  // win over ones with "*" segments, those over prefixes, longer prefixes over shorter ones, then
  // the first added. Paths are matched after percent-decoding.
  // REQUIRES: called before Listen(); not thread safe.
  void Route(std::string method, std::string pattern, Handler handler);
  // A streaming route (see BodyStream), matched like Route(). Its bodies are bounded by
  // max_body (0: no limit) instead of Options::max_body: a larger Content-Length gets 413 before
  // the handler runs; a chunked body that grows past it fails the handler's next Read().
  void StreamRoute(std::string method, std::string pattern, StreamHandler handler, uint64_t max_body);
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
