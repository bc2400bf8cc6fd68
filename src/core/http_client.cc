#include "core/http_client.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <mutex>
#include <unordered_map>

#include "core/url.h"

#ifndef HAKONE_VERSION
#define HAKONE_VERSION "dev"
#endif

namespace hakone {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kMaxResponseHeader = 256 << 10;

struct ClientConn {
  explicit ClientConn(asio::any_io_executor ex) : stream(std::move(ex)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  std::chrono::steady_clock::time_point idle_since;
};

// The result of one attempt on one connection.
struct Outcome {
  Result<HttpClient::Response> result = Status::Internal("http client: request not run");
  bool retry = false;     // failed on a reused connection before any response byte: safe to retry
  bool reusable = false;  // the connection can go back to the pool
};

bool Idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

bool ValidToken(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (unsigned char c : s) {
    bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!tchar) return false;
  }
  return true;
}

bool ValidValue(std::string_view s) {
  if (s.size() > 60000) return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string Base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A pooled connection whose peer already closed it (or sent something unasked) is readable;
// a healthy idle one is not.
bool StaleSocket(tcp::socket& s) {
  if (!s.is_open()) return true;
  char b;
  ssize_t r = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

long long Millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

std::string_view HttpClient::Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

struct HttpClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_ctx, Options o) : io(io_ctx), opts(o) {}

  asio::io_context& io;
  Options opts;
  mutable std::mutex mu;
  std::unordered_map<std::string, std::vector<std::unique_ptr<ClientConn>>> idle;

  // Destroys a connection on its own strand, so that a timer callback of the stream cannot race
  // with the destruction.
  static void Discard(std::unique_ptr<ClientConn> c) {
    if (!c) return;
    auto ex = c->stream.get_executor();
    asio::post(ex, [c = std::move(c)]() mutable { c.reset(); });
  }

  std::unique_ptr<ClientConn> Take(const std::string& key) {
    std::vector<std::unique_ptr<ClientConn>> dead;
    std::unique_ptr<ClientConn> out;
    {
      std::lock_guard lk(mu);
      auto it = idle.find(key);
      if (it == idle.end()) return nullptr;
      auto now = std::chrono::steady_clock::now();
      auto& v = it->second;
      while (!v.empty()) {
        auto c = std::move(v.back());
        v.pop_back();
        if (now - c->idle_since > opts.idle_timeout || StaleSocket(c->stream.socket())) {
          dead.push_back(std::move(c));
          continue;
        }
        out = std::move(c);
        break;
      }
    }
    for (auto& d : dead) Discard(std::move(d));
    return out;
  }

  void Put(const std::string& key, std::unique_ptr<ClientConn> c) {
    c->idle_since = std::chrono::steady_clock::now();
    {
      std::lock_guard lk(mu);
      auto& v = idle[key];
      if (v.size() < opts.max_idle_per_host) {
        v.push_back(std::move(c));
        return;
      }
    }
    Discard(std::move(c));
  }

  // One attempt on one connection. Runs on the connection's strand.
  asio::awaitable<Outcome> Exchange(ClientConn* c, bool reused, const ParsedUrl& u,
                                    const http::request<http::string_body>& req, const std::string& what,
                                    std::chrono::steady_clock::time_point start,
                                    std::chrono::steady_clock::time_point deadline) {
    Outcome out;
    auto& s = c->stream;
    auto timed_out = [&] {
      return Status::Timeout(what + ": timed out after " + std::to_string(Millis(std::chrono::steady_clock::now() - start)) + "ms");
    };
    if (!reused) {
      auto connect_deadline = std::min(deadline, std::chrono::steady_clock::now() + opts.connect_timeout);
      boost::system::error_code ec;
      std::vector<tcp::endpoint> eps;
      auto addr = asio::ip::make_address(u.host, ec);
      if (!ec) {
        eps.emplace_back(addr, u.port);
      } else {
        tcp::resolver resolver(s.get_executor());
        auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port), kTuple);
        if (rec || results.empty()) {
          out.result = Status::Unavailable(what + ": cannot resolve " + u.host + ": " + rec.message());
          co_return out;
        }
        for (const auto& e : results) eps.push_back(e.endpoint());
      }
      s.expires_at(connect_deadline);
      auto [cec, ep] = co_await s.async_connect(eps, kTuple);
      if (cec) {
        if (cec == beast::error::timeout) {
          out.result = Status::Timeout(what + ": connect to " + u.HostPort() + " timed out after " +
                                       std::to_string(Millis(std::chrono::steady_clock::now() - start)) + "ms");
        } else {
          out.result = Status::Unavailable(what + ": connect to " + u.HostPort() + ": " + cec.message());
        }
        co_return out;
      }
      s.socket().set_option(tcp::no_delay(true), ec);
    }
    s.expires_at(deadline);
    auto [wec, wn] = co_await http::async_write(s, req, kTuple);
    if (wec) {
      out.result = wec == beast::error::timeout ? timed_out() : Status::Unavailable(what + ": send: " + wec.message());
      out.retry = reused && wec != beast::error::timeout && Idempotent(req.method_string());
      co_return out;
    }
    bool head = req.method() == http::verb::head;
    for (bool first = true;; first = false) {
      http::response_parser<http::string_body> p;
      p.body_limit(opts.max_response_body);
      p.header_limit(kMaxResponseHeader);
      if (head) p.skip(true);
      auto [rec, rn] = co_await http::async_read(s, c->buf, p, kTuple);
      if (rec) {
        bool nothing = first && !p.got_some();
        if (rec == beast::error::timeout) {
          out.result = timed_out();
        } else if (rec == http::error::body_limit) {
          out.result = Status::ResourceExhausted(what + ": response body larger than " +
                                                 std::to_string(opts.max_response_body) + " bytes");
        } else if (rec == http::error::header_limit) {
          out.result = Status::ResourceExhausted(what + ": response header too large");
        } else if (rec == http::error::end_of_stream || rec == http::error::partial_message ||
                   rec == asio::error::eof || rec == asio::error::connection_reset) {
          out.result = Status::Unavailable(what + (nothing ? ": connection closed before the response"
                                                           : ": connection closed in the middle of the response"));
          out.retry = reused && nothing && Idempotent(req.method_string());
        } else if (rec.category() == http::make_error_code(http::error::bad_method).category()) {
          out.result = Status::IOError(what + ": malformed response: " + rec.message());
        } else {
          out.result = Status::Unavailable(what + ": receive: " + rec.message());
          out.retry = reused && nothing && Idempotent(req.method_string());
        }
        co_return out;
      }
      auto& msg = p.get();
      int status = static_cast<int>(msg.result_int());
      if (status >= 100 && status < 200 && status != 101) continue;  // interim response
      HttpClient::Response r;
      r.status = status;
      for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      out.reusable = msg.keep_alive() && status != 101 && c->buf.size() == 0;
      r.body = std::move(msg.body());
      out.result = std::move(r);
      s.expires_never();
      co_return out;
    }
  }
};

HttpClient::HttpClient(asio::io_context& io) : HttpClient(io, Options()) {}

HttpClient::HttpClient(asio::io_context& io, Options options) : impl_(std::make_shared<Impl>(io, options)) {}

HttpClient::~HttpClient() {
  std::lock_guard lk(impl_->mu);
  impl_->idle.clear();
}

size_t HttpClient::IdleConnections() const {
  std::lock_guard lk(impl_->mu);
  size_t n = 0;
  for (const auto& [k, v] : impl_->idle) n += v.size();
  return n;
}

asio::awaitable<Result<HttpClient::Response>> HttpClient::Request(
    std::string method, std::string url, std::vector<std::pair<std::string, std::string>> headers, std::string body,
    std::optional<std::chrono::milliseconds> timeout) {
  auto self = impl_;
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) co_return parsed.status();
  const ParsedUrl& u = *parsed;
  if (u.scheme == "https") {
    co_return Status::InvalidArgument("http client: https is not supported yet (" + u.Redacted() + ")");
  }
  if (!ValidToken(method)) co_return Status::InvalidArgument("http client: bad method '" + method + "'");
  std::string what = method + " " + u.Redacted();

  http::request<http::string_body> req;
  try {
    req.method_string(method);
    req.target(u.target);
    req.version(11);
    bool has_host = false, has_ua = false, has_auth = false;
    for (const auto& [k, v] : headers) {
      if (!ValidToken(k) || !ValidValue(v)) {
        co_return Status::InvalidArgument("http client: bad header '" + k + "' for " + what);
      }
      if (EqualsIgnoreCase(k, "content-length") || EqualsIgnoreCase(k, "transfer-encoding")) continue;
      has_host |= EqualsIgnoreCase(k, "host");
      has_ua |= EqualsIgnoreCase(k, "user-agent");
      has_auth |= EqualsIgnoreCase(k, "authorization");
      req.insert(k, v);
    }
    if (!has_host) req.set(http::field::host, u.HostHeader());
    if (!has_ua) req.set(http::field::user_agent, "hakone/" HAKONE_VERSION);
    if (!has_auth && !u.userinfo.empty()) req.set(http::field::authorization, "Basic " + Base64(u.userinfo));
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") req.content_length(body.size());
    req.body() = std::move(body);
  } catch (const std::exception& e) {
    co_return Status::InvalidArgument("http client: cannot build request " + what + ": " + e.what());
  }

  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout.value_or(self->opts.timeout);
  std::string key = u.HostPort();
  for (int attempt = 0;; ++attempt) {
    auto conn = self->Take(key);
    bool reused = conn != nullptr;
    if (!conn) conn = std::make_unique<ClientConn>(asio::make_strand(self->io));
    auto ex = conn->stream.get_executor();
    Outcome out = co_await asio::co_spawn(ex, self->Exchange(conn.get(), reused, u, req, what, start, deadline),
                                          asio::use_awaitable);
    if (out.result.ok()) {
      if (out.reusable) {
        self->Put(key, std::move(conn));
      } else {
        Impl::Discard(std::move(conn));
      }
      co_return std::move(out.result);
    }
    Impl::Discard(std::move(conn));
    if (out.retry && attempt == 0 && std::chrono::steady_clock::now() < deadline) continue;
    co_return std::move(out.result);
  }
}

namespace {
asio::awaitable<void> FetchInto(HttpClient& client, std::optional<Result<HttpClient::Response>>& out, std::string method,
                                std::string url, std::vector<std::pair<std::string, std::string>> headers,
                                std::string body) {
  out.emplace(co_await client.Request(std::move(method), std::move(url), std::move(headers), std::move(body)));
}
}  // namespace

Result<HttpClient::Response> HttpFetch(std::string method, std::string url,
                                       std::vector<std::pair<std::string, std::string>> headers, std::string body,
                                       std::chrono::milliseconds timeout) {
  asio::io_context io;
  HttpClient::Options o;
  o.timeout = timeout;
  o.connect_timeout = std::min(o.connect_timeout, timeout);
  std::optional<Result<HttpClient::Response>> out;
  {
    HttpClient client(io, o);
    asio::co_spawn(io, FetchInto(client, out, std::move(method), std::move(url), std::move(headers), std::move(body)),
                   asio::detached);
    io.run();
  }
  if (!out) return Status::Internal("http fetch: request did not complete");
  return std::move(*out);
}

}  // namespace hakone
