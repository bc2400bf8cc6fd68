#include "core/http_server.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "core/log.h"
#include "core/metrics.h"
#include "core/url.h"

namespace hakone {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// http_types.h

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  for (auto& [k, v] : ParseQuery(query)) {
    if (k == name) return std::move(v);
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> HttpRequest::Params() const { return ParseQuery(query); }

std::string_view HttpErrorType(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "too_many_requests";
    case 431: return "request_header_fields_too_large";
    case 500: return "internal_error";
    case 501: return "not_implemented";
    case 502: return "bad_gateway";
    case 503: return "unavailable";
    case 504: return "gateway_timeout";
    default: return status >= 500 ? "internal_error" : "bad_request";
  }
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  std::string b = R"({"error":{"type":")";
  b += HttpErrorType(status);
  b += R"(","reason":")";
  log::AppendJsonEscaped(b, message);
  b += R"("},"status":)";
  b += std::to_string(status);
  b += "}";
  return Json(status, std::move(b));
}

// ---------------------------------------------------------------------------------------------
// HttpServer

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 16 << 10;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 4 << 20;

struct RouteEntry {
  std::string method;
  std::string pattern;  // exact path, or the prefix without the trailing "/*"
  bool prefix = false;
  bool wild = false;    // not a prefix, has "*" segments
  HttpServer::Handler handler;
  HttpServer::StreamHandler stream;  // set for streaming routes (handler is then empty)
  uint64_t stream_max_body = 0;      // 0: no limit
};

// Segment-wise match of a pattern with "*" segments (each matches one non-empty segment).
bool WildMatch(std::string_view pat, std::string_view path) {
  size_t i = 0, j = 0;
  for (;;) {
    if (i == pat.size() || j == path.size()) return i == pat.size() && j == path.size();
    if (pat[i] != '/' || path[j] != '/') return false;
    i++;
    j++;
    size_t pe = std::min(pat.find('/', i), pat.size());
    size_t qe = std::min(path.find('/', j), path.size());
    std::string_view ps = pat.substr(i, pe - i), qs = path.substr(j, qe - j);
    if (ps == "*" ? qs.empty() : ps != qs) return false;
    i = pe;
    j = qe;
  }
}

// One accepted connection. Every field is touched only on the connection's strand
// (stream.get_executor()).
struct Conn {
  explicit Conn(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool idle = false;      // waiting for the first byte of a request
  bool stopping = false;  // Stop() was called: close after the current response
};

// The body of a request on a streaming route: each Read() parses what is buffered or reads
// from the socket once more, into a 64 KiB buffer (Beast's buffer_body).
class StreamBody final : public HttpServer::BodyStream {
 public:
  StreamBody(beast::tcp_stream& stream, beast::flat_buffer& buf, http::request_parser<http::buffer_body>& parser,
             std::chrono::seconds idle_timeout, uint64_t limit)
      : stream_(stream), buf_(buf), p_(parser), idle_(idle_timeout), limit_(limit), chunk_(64 << 10) {}

  asio::awaitable<Result<std::string_view>> Read() override {
    for (;;) {
      if (!error_.ok()) co_return error_;
      if (p_.is_done()) co_return std::string_view();
      p_.get().body().data = chunk_.data();
      p_.get().body().size = chunk_.size();
      stream_.expires_after(idle_);
      auto [ec, n] = co_await http::async_read_some(stream_, buf_, p_, kTuple);
      size_t got = chunk_.size() - p_.get().body().size;
      if (ec && ec != http::error::need_buffer) SetError(ec);
      if (got > 0) {  // deliver what arrived; an error comes with the next call
        bytes_ += got;
        co_return std::string_view(chunk_.data(), got);
      }
    }
  }
  uint64_t bytes_read() const override { return bytes_; }
  bool done() const { return error_.ok() && p_.is_done(); }
  bool over_limit() const { return over_limit_; }
  bool malformed() const { return error_.code() == StatusCode::kInvalidArgument; }

 private:
  void SetError(const boost::system::error_code& ec) {
    if (ec == http::error::body_limit) {
      over_limit_ = true;
      error_ = Status::ResourceExhausted("request body larger than " + std::to_string(limit_) + " bytes");
    } else if (ec == beast::error::timeout) {
      error_ = Status::Timeout("no request body bytes for " + std::to_string(idle_.count()) + " s (" + std::to_string(bytes_) +
                               " bytes read)");
    } else if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
               ec == asio::error::connection_reset || ec == asio::error::broken_pipe || ec == asio::error::operation_aborted) {
      error_ = Status::Cancelled("the client closed the connection before the end of the request body (" + std::to_string(bytes_) +
                                 " bytes read)");
    } else if (IsHttpCategory(ec)) {
      error_ = Status::InvalidArgument("malformed request body: " + ec.message());
    } else {
      error_ = Status::Cancelled("reading the request body: " + ec.message());
    }
  }
  static bool IsHttpCategory(const boost::system::error_code& ec) {
    return ec.category() == http::make_error_code(http::error::bad_method).category();
  }

  beast::tcp_stream& stream_;
  beast::flat_buffer& buf_;
  http::request_parser<http::buffer_body>& p_;
  std::chrono::seconds idle_;
  uint64_t limit_;
  std::vector<char> chunk_;
  uint64_t bytes_ = 0;
  bool over_limit_ = false;
  Status error_;
};

// Bounded label values: methods outside this set are counted as "OTHER".
std::string MethodLabel(std::string_view m) {
  static constexpr std::array<std::string_view, 9> kKnown = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                                             "PATCH", "OPTIONS", "CONNECT", "TRACE"};
  for (auto k : kKnown) {
    if (k == m) return std::string(k);
  }
  return "OTHER";
}

bool ValidHeaderName(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (unsigned char c : s) {
    bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!tchar) return false;
  }
  return true;
}

bool ValidHeaderValue(std::string_view s) {
  if (s.size() > 60000) return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

bool IsHttpCategory(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_ctx, Options o) : io(io_ctx), opts(std::move(o)) {
    auto& reg = metrics::Registry::Global();
    requests = reg.AddCounter("hakone_http_requests_total", "HTTP requests served, by server, method and status.",
                              {"server", "method", "status"});
    durations = reg.AddHistogram("hakone_http_request_duration_seconds",
                                 "Time from the end of the request headers to the response written.",
                                 {"server", "method"});
  }

  asio::io_context& io;
  Options opts;
  std::vector<RouteEntry> routes;
  Handler fallback;
  metrics::Family<metrics::Counter>* requests;
  metrics::Family<metrics::Histogram>* durations;

  mutable std::mutex mu;
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::unordered_set<std::shared_ptr<Conn>> conns;
  bool stopped = false;

  void Count(std::string_view method, int status, std::optional<std::chrono::steady_clock::time_point> start) {
    std::string m = MethodLabel(method);
    requests->WithLabels({opts.server_name, m, std::to_string(status)})->Inc();
    if (start) {
      std::chrono::duration<double> d = std::chrono::steady_clock::now() - *start;
      durations->WithLabels({opts.server_name, m})->Observe(d.count());
    }
  }

  static bool Matches(const RouteEntry& r, std::string_view path) {
    if (r.wild) return WildMatch(r.pattern, path);
    if (!r.prefix) return r.pattern == path;
    if (r.pattern == "/") return true;  // "/*"
    return path == r.pattern ||
           (path.size() > r.pattern.size() && path.starts_with(r.pattern) && path[r.pattern.size()] == '/');
  }

  // Finds the route for a request: nullptr with *status 404 or 405 (and *allow) when there is
  // none (the fallback, if any, then handles it).
  const RouteEntry* Find(std::string_view method, std::string_view path, int* status, std::string* allow) const {
    auto match = [&](std::string_view m) -> const RouteEntry* {
      const RouteEntry* best = nullptr;
      const RouteEntry* wild = nullptr;
      for (const auto& r : routes) {
        if ((r.method != "*" && r.method != m) || !Matches(r, path)) continue;
        if (r.wild) {
          if (!wild) wild = &r;
          continue;
        }
        if (!r.prefix) return &r;
        if (!best || r.pattern.size() > best->pattern.size()) best = &r;
      }
      return wild ? wild : best;
    };
    const RouteEntry* r = match(method);
    if (!r && method == "HEAD") r = match("GET");
    if (r || fallback) return r;
    *status = 404;
    for (const auto& e : routes) {  // does the path exist for another method?
      if (!Matches(e, path)) continue;
      *status = 405;
      if (allow->find(e.method) == std::string::npos) {
        if (!allow->empty()) *allow += ", ";
        *allow += e.method;
      }
    }
    return nullptr;
  }

  // Runs the route's handler (the fallback when route is null; 404/405 when there is none).
  // body: the request body of a streaming route.
  asio::awaitable<HttpResponse> Dispatch(HttpRequest& req, const RouteEntry* route, int status, const std::string& allow,
                                         HttpServer::BodyStream* body) {
    if (!route && !fallback) {
      HttpResponse r = HttpResponse::Error(status, status == 405 ? "method " + req.method + " not allowed for " + req.path
                                                                  : "no handler for " + req.path);
      if (status == 405) r.headers.emplace_back("Allow", allow);
      co_return r;
    }
    std::string method = req.method, path = req.path;  // the handler may move from req
    try {
      if (route && route->stream) co_return co_await route->stream(req, *body);
      co_return co_await (route ? route->handler : fallback)(req);
    } catch (const std::exception& e) {
      log::Error("http handler threw", {{"server", opts.server_name}, {"method", method}, {"path", path}, {"error", e.what()}});
    } catch (...) {
      log::Error("http handler threw", {{"server", opts.server_name}, {"method", method}, {"path", path}, {"error", "unknown exception"}});
    }
    co_return HttpResponse::Error(500, "internal error");
  }

  // Writes `res` and returns the write error (if any).
  asio::awaitable<boost::system::error_code> Write(Conn& c, HttpResponse res, unsigned version, bool head, bool keep_alive) {
    if (res.status < 200 || res.status > 999) {
      log::Error("http handler returned an invalid status", {{"server", opts.server_name}, {"status", res.status}});
      res = HttpResponse::Error(500, "internal error");
    }
    http::response<http::string_body> out;
    out.version(version);
    out.result(static_cast<unsigned>(res.status));
    out.set(http::field::server, opts.server_name);
    if (!res.content_type.empty() && ValidHeaderValue(res.content_type)) out.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) {
      if (EqualsIgnoreCase(k, "content-length") || EqualsIgnoreCase(k, "transfer-encoding")) continue;
      if (EqualsIgnoreCase(k, "connection")) {
        if (EqualsIgnoreCase(v, "close")) keep_alive = false;
        continue;
      }
      if (!ValidHeaderName(k) || !ValidHeaderValue(v)) {
        log::Warn("http handler set an invalid header; dropped", {{"server", opts.server_name}, {"header", k}});
        continue;
      }
      out.insert(k, v);
    }
    out.keep_alive(keep_alive);
    bool no_body = res.status == 204 || res.status == 304;
    if (res.body_source && !no_body) {
      co_return co_await WriteFromSource(c, std::move(out), *res.body_source, head);
    }
    if (!no_body) out.content_length(res.body.size());
    if (!head && !no_body) out.body() = std::move(res.body);
    c.stream.expires_after(opts.idle_timeout);
    auto [ec, n] = co_await http::async_write(c.stream, out, kTuple);
    co_return ec;
  }

  // Writes the headers of `out`, then the body read piecewise from `src`.
  asio::awaitable<boost::system::error_code> WriteFromSource(Conn& c, http::response<http::string_body> out, HttpBodySource& src,
                                                             bool head) {
    http::response<http::empty_body> hdr(std::move(out.base()));
    uint64_t total = src.size();
    hdr.content_length(total);
    http::response_serializer<http::empty_body> sr(hdr);
    c.stream.expires_after(opts.idle_timeout);
    auto [ec, n] = co_await http::async_write_header(c.stream, sr, kTuple);
    if (ec || head) co_return ec;
    std::vector<char> chunk(256 << 10);
    uint64_t sent = 0;
    while (sent < total) {
      auto got = src.Read(chunk.data(), static_cast<size_t>(std::min<uint64_t>(chunk.size(), total - sent)));
      if (!got.ok() || *got == 0) {
        log::Error("http response body source failed; closing mid-response",
                   {{"server", opts.server_name}, {"error", got.ok() ? std::string("short body") : got.status().ToString()}});
        co_return asio::error::make_error_code(asio::error::broken_pipe);
      }
      c.stream.expires_after(opts.idle_timeout);
      auto [wec, wn] = co_await asio::async_write(c.stream, asio::buffer(chunk.data(), *got), kTuple);
      if (wec) co_return wec;
      sent += *got;
    }
    co_return boost::system::error_code();
  }

  // Closes after an error response or with unread pipelined data: shut down our side, then read
  // and discard what the client is still sending (bounded), so that closing does not reset the
  // connection before the client has read the response.
  asio::awaitable<void> LingerClose(Conn& c) {
    boost::system::error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c.stream.expires_after(kLingerTime);
    std::vector<char> sink(kReadChunk);
    size_t total = 0;
    while (total < kLingerBytes) {
      auto [rec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      total += n;
    }
    c.stream.close();
  }

  asio::awaitable<void> ErrorAndClose(Conn& c, int status, std::string_view message, unsigned version) {
    Count("OTHER", status, std::nullopt);
    auto ec = co_await Write(c, HttpResponse::Error(status, message), version ? version : 11, false, false);
    if (!ec) co_await LingerClose(c);
  }

  asio::awaitable<void> Serve(std::shared_ptr<Conn> c) {
    auto self = shared_from_this();
    auto& stream = c->stream;
    boost::system::error_code ec;
    tcp::endpoint remote = stream.socket().remote_endpoint(ec);
    beast::flat_buffer buf;
    for (;;) {
      // Keep-alive wait for the first byte of the next request (Stop() cancels it).
      if (buf.size() == 0) {
        if (c->stopping) break;
        c->idle = true;
        stream.expires_after(opts.idle_timeout);
        auto [rec, n] = co_await stream.async_read_some(buf.prepare(kReadChunk), kTuple);
        c->idle = false;
        if (rec) break;
        buf.commit(n);
      }
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(opts.max_header_bytes, UINT32_MAX)));
      parser.body_limit(boost::none);  // checked below, once the route (and so the limit) is known
      stream.expires_after(opts.header_timeout);
      auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, kTuple);
      if (hec) {
        if (hec == http::error::header_limit) {
          co_await ErrorAndClose(*c, 431, "request header too large", 11);
        } else if (IsHttpCategory(hec) && hec != http::error::end_of_stream && hec != http::error::partial_message) {
          co_await ErrorAndClose(*c, 400, "malformed request: " + hec.message(), 11);
        }
        break;  // timeout, reset, or the client went away mid-header
      }
      auto start = std::chrono::steady_clock::now();
      unsigned version = parser.get().version();
      if (version != 10 && version != 11) {
        co_await ErrorAndClose(*c, 400, "unsupported HTTP version", 11);
        break;
      }
      bool keep_alive = parser.get().keep_alive();
      HttpRequest req;
      req.method = std::string(parser.get().method_string());
      req.target = std::string(parser.get().target());
      std::string_view target = req.target;
      if (target.starts_with("http://") || target.starts_with("https://")) {  // absolute form
        auto slash = target.find('/', target.find("://") + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      }
      auto q = target.find('?');
      std::string_view raw_path = target.substr(0, q);
      if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
      auto decoded = PercentDecode(raw_path);
      if (!decoded || decoded->find('\0') != std::string::npos || (raw_path.empty() || (raw_path[0] != '/' && raw_path != "*"))) {
        co_await ErrorAndClose(*c, 400, "malformed request target", version);
        break;
      }
      req.path = std::move(*decoded);
      {
        const auto& fields = parser.get();
        req.headers.reserve(std::distance(fields.begin(), fields.end()));
        for (const auto& f : fields) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      req.remote = remote;
      bool head = req.method == "HEAD";
      int miss_status = 404;
      std::string allow;
      const RouteEntry* route = Find(req.method, req.path, &miss_status, &allow);
      bool streaming = route && route->stream;
      std::optional<uint64_t> limit;
      if (!streaming) limit = opts.max_body;
      else if (route->stream_max_body > 0) limit = route->stream_max_body;
      if (auto cl = parser.content_length(); limit && cl && *cl > *limit) {
        co_await ErrorAndClose(*c, 413, "request body larger than " + std::to_string(*limit) + " bytes", version);
        break;
      }
      if (limit) parser.body_limit(*limit);
      if (!parser.is_done()) {
        auto expect = parser.get()[http::field::expect];
        if (version == 11 && EqualsIgnoreCase(expect, "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          stream.expires_after(opts.idle_timeout);
          auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
          if (wec) break;
        }
      }

      std::string method_label = req.method;  // the handler may move from req
      HttpResponse res;
      bool body_complete = true;  // false: unread body bytes remain, so the connection closes
      if (streaming) {
        http::request_parser<http::buffer_body> sparser(std::move(parser));
        if (limit) sparser.body_limit(*limit);
        StreamBody body(stream, buf, sparser, opts.idle_timeout, limit.value_or(0));
        res = co_await Dispatch(req, route, miss_status, allow, &body);
        stream.expires_never();
        if (body.over_limit()) {
          co_await ErrorAndClose(*c, 413, "request body larger than " + std::to_string(*limit) + " bytes", version);
          break;
        }
        if (body.malformed()) {
          co_await ErrorAndClose(*c, 400, "malformed request body", version);
          break;
        }
        body_complete = body.done();
      } else {
        bool failed = false;
        while (!parser.is_done()) {
          stream.expires_after(opts.idle_timeout);
          auto [bec, bn] = co_await http::async_read_some(stream, buf, parser, kTuple);
          if (!bec) continue;
          failed = true;
          if (bec == http::error::body_limit) {
            co_await ErrorAndClose(*c, 413, "request body larger than " + std::to_string(opts.max_body) + " bytes", version);
          } else if (IsHttpCategory(bec) && bec != http::error::end_of_stream && bec != http::error::partial_message) {
            co_await ErrorAndClose(*c, 400, "malformed request body: " + bec.message(), version);
          }
          break;
        }
        if (failed) break;
        stream.expires_never();
        req.body = std::move(parser.get().body());
        res = co_await Dispatch(req, route, miss_status, allow, nullptr);
      }
      int status = res.status >= 200 && res.status <= 999 ? res.status : 500;
      bool keep = keep_alive && !c->stopping && body_complete;
      for (const auto& [k, v] : res.headers) {
        if (EqualsIgnoreCase(k, "connection") && EqualsIgnoreCase(v, "close")) keep = false;
      }
      auto wec = co_await Write(*c, std::move(res), version, head, keep);
      Count(method_label, status, start);
      if (wec) break;
      if (!keep) {
        if (buf.size() > 0 || !body_complete) {
          co_await LingerClose(*c);
        }
        break;
      }
    }
    if (stream.socket().is_open()) {
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream.close();
    }
  }

  asio::awaitable<void> Accept(std::shared_ptr<tcp::acceptor> acc) {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acc->async_accept(asio::any_io_executor(asio::make_strand(io)), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
        log::Warn("http accept failed", {{"server", opts.server_name}, {"error", ec.message()}});
        asio::steady_timer t(acc->get_executor());
        t.expires_after(std::chrono::milliseconds(50));  // e.g. out of file descriptors: back off
        co_await t.async_wait(kTuple);
        continue;
      }
      boost::system::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);
      auto conn = std::make_shared<Conn>(std::move(sock));
      {
        std::lock_guard lk(mu);
        if (stopped) {
          conn->stream.close();
          continue;
        }
        conns.insert(conn);
      }
      asio::co_spawn(conn->stream.get_executor(), Serve(conn), [self, conn](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::Error("http connection failed", {{"server", self->opts.server_name}, {"error", ex.what()}});
          } catch (...) {
            log::Error("http connection failed", {{"server", self->opts.server_name}});
          }
        }
        std::lock_guard lk(self->mu);
        self->conns.erase(conn);
      });
    }
  }
};

HttpServer::HttpServer(asio::io_context& io, Options options) : impl_(std::make_shared<Impl>(io, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string pattern, Handler handler) {
  RouteEntry e;
  e.method = std::move(method);
  if (pattern.ends_with("/*")) {
    e.prefix = true;
    pattern.resize(pattern.size() - 2);
    if (pattern.empty()) pattern = "/";  // "/*" matches everything
  }
  e.wild = !e.prefix && pattern.find("/*/") != std::string::npos;
  e.pattern = std::move(pattern);
  e.handler = std::move(handler);
  impl_->routes.push_back(std::move(e));
}

void HttpServer::StreamRoute(std::string method, std::string pattern, StreamHandler handler, uint64_t max_body) {
  Route(std::move(method), std::move(pattern), nullptr);
  impl_->routes.back().stream = std::move(handler);
  impl_->routes.back().stream_max_body = max_body;
}

void HttpServer::SetFallback(Handler handler) { impl_->fallback = std::move(handler); }

Status HttpServer::Listen(const asio::ip::tcp::endpoint& endpoint) {
  auto bound = hakone::Listen(impl_->io, endpoint);
  if (!bound.ok()) return bound.status();
  // Re-wrap the socket so that the accept loop and Stop() share one strand.
  boost::system::error_code ec;
  auto proto = bound->local_endpoint(ec).protocol();
  auto fd = bound->release(ec);
  if (ec) return Status::IOError("listen on " + FormatEndpoint(endpoint) + ": " + ec.message());
  auto acc = std::make_shared<tcp::acceptor>(asio::make_strand(impl_->io), proto, fd);
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopped) return Status::Cancelled("http server stopped");
    impl_->acceptors.push_back(acc);
  }
  asio::co_spawn(acc->get_executor(), impl_->Accept(acc), [](std::exception_ptr e) {
    if (e) log::Error("http accept loop failed");
  });
  return Status::Ok();
}

asio::ip::tcp::endpoint HttpServer::local_endpoint() const {
  std::lock_guard lk(impl_->mu);
  if (impl_->acceptors.empty()) return {};
  boost::system::error_code ec;
  return impl_->acceptors.front()->local_endpoint(ec);
}

void HttpServer::Stop() {
  std::vector<std::shared_ptr<tcp::acceptor>> accs;
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    accs = impl_->acceptors;
    conns.assign(impl_->conns.begin(), impl_->conns.end());
  }
  for (auto& a : accs) {
    asio::post(a->get_executor(), [a] {
      boost::system::error_code ec;
      a->close(ec);
    });
  }
  for (auto& c : conns) {
    asio::post(c->stream.get_executor(), [c] {
      c->stopping = true;
      if (c->idle) c->stream.cancel();
    });
  }
}

}  // namespace hakone
