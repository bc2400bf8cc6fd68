// The gateway's data plane: a byte-exact HTTP/1.1 reverse proxy on Asio C++20 coroutines.
//
// Byte-exactness: the upstream receives the client's request line and header lines unchanged,
// except that X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host lines are taken out and
// re-added (with the peer appended / the values set) just before the final CRLF, together with
// X-Request-Id when the client sent none. Body bytes (including chunk framing) are forwarded
// unchanged, and the client receives the upstream's response bytes unchanged (1xx included).
//
// Per client connection one coroutine handles requests in order (pipelining works; requests
// are forwarded one at a time). Upstream connections are pooled per upstream (keep-alive, LIFO)
// and upstreams are chosen round robin with passive health checks. Request and response bodies
// are streamed through fixed per-connection buffers, never held whole. Upgrade (WebSocket)
// connections are spliced both ways after the 101 is relayed; their event is recorded when the
// 101 goes out (status 101, websocket=true; tunnelled bytes are not counted).
//
// Threads: if the io_context was created with concurrency hint 1 (`io_context(1)`, as Runtime
// does for one thread) connections run directly on it; otherwise each connection gets a strand,
// so the io_context may be run by any number of threads. The pool and health state are shared
// under a mutex / atomics.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/status.h"
#include "gateway/record.h"

namespace hakone::gateway {

namespace asio = boost::asio;

struct RecordPolicy {
  bool record = true;        // call Recorder::Record for this request
  size_t capture_limit = 0;  // request body bytes (payload, de-chunked) to copy into body_prefix
};

// Implemented by the gateway (event building, hash chain, spool). Called on the connection's
// executor (any io thread); implementations must be thread safe.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // Called once the request head is parsed (rec has start, method, target, headers, peer,
  // request_id, content_type). For malformed requests it is called with whatever could be
  // parsed (method and target may be empty).
  virtual RecordPolicy Policy(const RequestRecord& rec) = 0;
  // Called exactly once per recorded request when its outcome is known (status, bytes, timings,
  // error set). `durable` is non-null only in strict mode: the recorder calls it (from any
  // thread, at most once) once the event is durable; the proxy does not send the response's
  // final bytes before that, and closes the connection without them if the status is an error.
  virtual void Record(RequestRecord&& rec, std::function<void(Status)> durable) = 0;
  virtual bool strict() const = 0;
};

struct ProxyOptions {
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> upstreams;  // "http://127.0.0.1:9000" (http only for now)
  size_t max_header_bytes = 64 << 10;  // request and response heads (431 / 502 past this)
  // 413 past this (Content-Length known up front, or counted while streaming chunked: then the
  // connection is closed).
  uint64_t max_body = 100ull << 20;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds header_timeout{30000};  // client request head, upstream response head
  std::chrono::milliseconds idle_timeout{60000};    // between requests; no progress while streaming
  std::chrono::milliseconds total_timeout{300000};  // one request, head to last byte (not tunnels)
  size_t pool_per_upstream = 64;                    // idle keep-alive upstream connections kept
  // Passive health: skip an upstream for fail_timeout after max_fails consecutive failures
  // (when every upstream is marked down, they are tried anyway).
  std::chrono::milliseconds fail_timeout{10000};
  int max_fails = 3;
  std::string forwarded_proto = "http";  // X-Forwarded-Proto value
  // Added beyond the original sketch:
  size_t max_headers = 100;       // header fields per head (431 / 502 past this)
  size_t buffer_size = 16 << 10;  // per-connection I/O buffer, each direction (grows for big heads)
};

class Proxy {
 public:
  // `recorder` may be null (nothing recorded). It must outlive every connection: destroy it only
  // after Stop() and after the io_context has stopped running or drained.
  Proxy(asio::io_context& io, ProxyOptions opts, Recorder* recorder);
  // Stops accepting. Connections still running keep the shared state alive until they end.
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Validates the options, binds and starts accepting. Errors name the address or the bad
  // upstream ("proxy: upstream 'ftp://x': only http:// is supported"). Call once.
  Status Start();
  // The bound address (after Start), e.g. to learn the port when listening on port 0.
  asio::ip::tcp::endpoint local_endpoint() const;
  // Stops accepting; in-flight requests finish, idle keep-alive connections (client and pool)
  // are closed, and each client connection closes after its current response. Thread safe,
  // idempotent.
  void Stop();
  // Client connections currently open. Thread safe.
  size_t active_connections() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace hakone::gateway
