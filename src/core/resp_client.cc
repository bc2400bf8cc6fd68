#include "core/resp_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <deque>
#include <optional>

namespace hakone {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxPending = 4096;

enum class Parse { kOk, kMore, kBad };

struct Parser {
  std::string_view b;
  const RespLimits& lim;
  std::string err;

  Parse Bad(size_t pos, std::string what) {
    err = "malformed RESP reply at offset " + std::to_string(pos) + ": " + std::move(what);
    return Parse::kBad;
  }

  // Reads the line at `pos` (without CRLF) and moves `pos` past it.
  Parse Line(size_t& pos, std::string_view* line) {
    size_t nl = b.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (b.size() - pos > lim.max_line) return Bad(pos, "line longer than " + std::to_string(lim.max_line) + " bytes");
      return Parse::kMore;
    }
    if (nl - pos > lim.max_line + 1) return Bad(pos, "line longer than " + std::to_string(lim.max_line) + " bytes");
    if (nl == pos || b[nl - 1] != '\r') return Bad(nl, "line feed without carriage return");
    *line = b.substr(pos, nl - 1 - pos);
    if (line->find('\r') != std::string_view::npos) return Bad(pos, "carriage return inside a line");
    pos = nl + 1;
    return Parse::kOk;
  }

  static bool Int(std::string_view s, int64_t* v) {
    if (s.empty() || s.size() > 20) return false;
    if (s[0] == '+') return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && p == s.data() + s.size();
  }

  Parse Value(size_t& pos, RespValue* out, int depth) {
    if (pos >= b.size()) return Parse::kMore;
    size_t start = pos;
    char t = b[pos++];
    if (t != '+' && t != '-' && t != ':' && t != '$' && t != '*') {
      static const char* kHexd = "0123456789abcdef";
      std::string byte = "0x";
      byte += kHexd[static_cast<unsigned char>(t) >> 4];
      byte += kHexd[static_cast<unsigned char>(t) & 15];
      return Bad(start, "unknown reply type byte " + byte);
    }
    std::string_view line;
    Parse p = Line(pos, &line);
    if (p != Parse::kOk) return p;
    switch (t) {
      case '+':
        out->type = RespValue::kStatus;
        out->str.assign(line);
        return Parse::kOk;
      case '-':
        out->type = RespValue::kError;
        out->str.assign(line);
        return Parse::kOk;
      case ':':
        out->type = RespValue::kInteger;
        if (!Int(line, &out->integer)) return Bad(start, "bad integer");
        return Parse::kOk;
      case '$': {
        int64_t len;
        if (!Int(line, &len) || len < -1) return Bad(start, "bad bulk length");
        if (len == -1) {
          out->type = RespValue::kNil;
          return Parse::kOk;
        }
        if (static_cast<uint64_t>(len) > lim.max_bulk) {
          return Bad(start, "bulk string of " + std::to_string(len) + " bytes is over the limit of " +
                                std::to_string(lim.max_bulk));
        }
        size_t n = static_cast<size_t>(len);
        if (b.size() - pos < n + 2) return Parse::kMore;
        if (b[pos + n] != '\r' || b[pos + n + 1] != '\n') return Bad(pos + n, "bulk string not followed by CRLF");
        out->type = RespValue::kString;
        out->str.assign(b.substr(pos, n));
        pos += n + 2;
        return Parse::kOk;
      }
      case '*': {
        int64_t len;
        if (!Int(line, &len) || len < -1) return Bad(start, "bad array length");
        if (len == -1) {
          out->type = RespValue::kNil;
          return Parse::kOk;
        }
        if (static_cast<uint64_t>(len) > lim.max_array) {
          return Bad(start, "array of " + std::to_string(len) + " elements is over the limit of " +
                                std::to_string(lim.max_array));
        }
        if (depth >= lim.max_depth) return Bad(start, "arrays nested deeper than " + std::to_string(lim.max_depth));
        out->type = RespValue::kArray;
        out->array.clear();
        out->array.reserve(std::min<size_t>(static_cast<size_t>(len), 1024));
        for (int64_t i = 0; i < len; ++i) {
          out->array.emplace_back();
          Parse q = Value(pos, &out->array.back(), depth + 1);
          if (q != Parse::kOk) return q;
        }
        return Parse::kOk;
      }
    }
    return Bad(start, "unreachable");
  }
};

}  // namespace

std::string RespValue::DebugString() const {
  switch (type) {
    case kString: return "\"" + str + "\"";
    case kStatus: return str;
    case kError: return "(error) " + str;
    case kInteger: return "(integer) " + std::to_string(integer);
    case kNil: return "(nil)";
    case kArray: {
      std::string s = "[";
      for (size_t i = 0; i < array.size(); ++i) {
        if (i) s += ", ";
        s += array[i].DebugString();
      }
      return s + "]";
    }
  }
  return "?";
}

Result<size_t> ParseRespReply(std::string_view buf, RespValue* out, const RespLimits& limits) {
  Parser p{buf, limits, {}};
  size_t pos = 0;
  *out = RespValue();
  switch (p.Value(pos, out, 0)) {
    case Parse::kOk: return pos;
    case Parse::kMore: return size_t{0};
    case Parse::kBad: break;
  }
  return Status::Corruption(p.err);
}

std::string EncodeRespCommand(const std::vector<std::string>& args) {
  size_t total = 16;
  for (auto& a : args) total += a.size() + 16;
  std::string out;
  out.reserve(total);
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (auto& a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

Result<std::tuple<std::string, uint16_t, std::string, int>> ParseRedisUrl(std::string_view url) {
  auto bad = [&](std::string why) { return Status::InvalidArgument("redis url '" + std::string(url) + "': " + why); };
  auto r = boost::urls::parse_uri(url);
  if (!r) return bad("not a URL (" + r.error().message() + ")");
  const auto& u = *r;
  std::string scheme(u.scheme());
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "rediss") return bad("TLS (rediss://) is not supported");
  if (scheme != "redis") return bad("the scheme must be redis://");
  std::string host = u.host_address();
  if (host.empty()) return bad("no host");
  uint16_t port = 6379;
  if (u.has_port()) {
    int64_t p = 0;
    std::string_view ps = u.port();
    auto [ptr, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), p);
    if (ps.empty() || ec != std::errc() || ptr != ps.data() + ps.size() || p < 1 || p > 65535) return bad("bad port");
    port = static_cast<uint16_t>(p);
  }
  std::string password;
  if (u.has_userinfo()) {
    std::string user = u.user();
    if (!user.empty() && user != "default") return bad("ACL user names other than 'default' are not supported");
    if (u.has_password()) password = u.password();
  }
  int db = 0;
  std::string path = u.path();
  if (!path.empty() && path != "/") {
    std::string_view d = path;
    if (d.front() == '/') d.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(d.data(), d.data() + d.size(), db);
    if (d.empty() || ec != std::errc() || ptr != d.data() + d.size() || db < 0) return bad("the path must be a database number");
  }
  if (u.has_query()) return bad("query parameters are not supported");
  return std::make_tuple(std::move(host), port, std::move(password), db);
}

struct RespClient::Impl : std::enable_shared_from_this<Impl> {
  struct Waiter {
    explicit Waiter(const asio::strand<asio::io_context::executor_type>& s) : timer(s) {}
    asio::steady_timer timer;
    std::optional<Result<RespValue>> result;
  };
  enum State { kDisconnected, kConnecting, kConnected };

  Impl(asio::io_context& io, std::string h, uint16_t p, std::string pw, int d)
      : strand(asio::make_strand(io)), host(std::move(h)), port(p), password(std::move(pw)), db(d) {}

  asio::strand<asio::io_context::executor_type> strand;
  const std::string host;
  const uint16_t port;
  const std::string password;
  const int db;

  // Everything below is touched only on `strand`.
  State state = kDisconnected;
  uint64_t generation = 0;
  std::shared_ptr<tcp::socket> socket;
  std::string inbuf;
  std::string outbuf;
  bool writing = false;
  std::deque<std::shared_ptr<Waiter>> pending;  // in send order
  Clock::time_point retry_after{};
  std::chrono::milliseconds backoff{0};
  Status last_error;

  std::string Addr() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }

  void Complete(const std::shared_ptr<Waiter>& w, Result<RespValue> r) {
    if (w->result) return;
    w->result.emplace(std::move(r));
    w->timer.cancel();
  }

  // Drops the connection; every command waiting gets `st`. `backoff_connect`: the failure was
  // about reaching the server, so new commands fail fast for a while.
  void Fail(const Status& st, bool backoff_connect) {
    ++generation;
    state = kDisconnected;
    if (socket) {
      boost::system::error_code ec;
      socket->close(ec);
      socket.reset();
    }
    inbuf.clear();
    outbuf.clear();
    writing = false;
    last_error = st;
    if (backoff_connect) {
      backoff = backoff.count() == 0 ? std::chrono::milliseconds(100) : std::min(backoff * 2, std::chrono::milliseconds(5000));
      retry_after = Clock::now() + backoff;
    }
    auto waiters = std::move(pending);
    pending.clear();
    for (auto& w : waiters) Complete(w, st);
  }

  void KickWriter() {
    if (writing || outbuf.empty() || state != kConnected) return;
    writing = true;
    asio::co_spawn(strand, WriteLoop(shared_from_this(), generation, socket), asio::detached);
  }

  static asio::awaitable<void> WriteLoop(std::shared_ptr<Impl> self, uint64_t gen, std::shared_ptr<tcp::socket> sock) {
    while (gen == self->generation && !self->outbuf.empty()) {
      std::string buf;
      buf.swap(self->outbuf);
      auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(buf), kUseTuple);
      if (ec) {
        if (gen == self->generation) self->Fail(Status::Unavailable("redis " + self->Addr() + ": write: " + ec.message()), false);
        co_return;
      }
    }
    if (gen == self->generation) self->writing = false;
  }

  // Parses every complete reply in inbuf and hands each to the oldest waiting command.
  // Returns false (after failing the connection) on a malformed reply.
  bool Dispatch(uint64_t gen) {
    size_t off = 0;
    while (gen == generation) {
      RespValue v;
      auto r = ParseRespReply(std::string_view(inbuf).substr(off), &v);
      if (!r.ok()) {
        Fail(Status::Corruption("redis " + Addr() + ": " + r.status().message()), false);
        return false;
      }
      if (*r == 0) break;
      off += *r;
      if (pending.empty()) {
        Fail(Status::Corruption("redis " + Addr() + ": a reply nobody asked for"), false);
        return false;
      }
      auto w = std::move(pending.front());
      pending.pop_front();
      Complete(w, std::move(v));
    }
    if (gen == generation) inbuf.erase(0, off);
    return gen == generation;
  }

  static asio::awaitable<void> ReadLoop(std::shared_ptr<Impl> self, uint64_t gen, std::shared_ptr<tcp::socket> sock) {
    char buf[16384];
    for (;;) {
      auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), kUseTuple);
      if (gen != self->generation) co_return;
      if (ec) {
        self->Fail(Status::Unavailable("redis " + self->Addr() + ": connection lost: " + ec.message()), false);
        co_return;
      }
      self->inbuf.append(buf, n);
      if (!self->Dispatch(gen)) co_return;
    }
  }

  // Reads one reply during the handshake (before ReadLoop runs).
  static asio::awaitable<Result<RespValue>> ReadOne(std::shared_ptr<Impl> self, std::shared_ptr<tcp::socket> sock) {
    char buf[4096];
    for (;;) {
      RespValue v;
      auto r = ParseRespReply(self->inbuf, &v);
      if (!r.ok()) co_return Status::Corruption("redis " + self->Addr() + ": " + r.status().message());
      if (*r > 0) {
        self->inbuf.erase(0, *r);
        co_return v;
      }
      auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), kUseTuple);
      if (ec) co_return Status::Unavailable("redis " + self->Addr() + ": handshake: " + ec.message());
      self->inbuf.append(buf, n);
    }
  }

  static asio::awaitable<void> Connect(std::shared_ptr<Impl> self, uint64_t gen, std::chrono::milliseconds timeout) {
    auto sock = std::make_shared<tcp::socket>(self->strand);
    self->socket = sock;
    auto resolver = std::make_shared<tcp::resolver>(self->strand);
    auto done = std::make_shared<bool>(false);
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(self->strand);
    timer.expires_after(timeout);
    timer.async_wait([sock, resolver, done, timed_out](boost::system::error_code ec) {
      if (ec || *done) return;
      *timed_out = true;
      resolver->cancel();
      boost::system::error_code ignored;
      sock->close(ignored);
    });
    auto fail = [&](Status st) {
      *done = true;
      timer.cancel();
      if (gen == self->generation) self->Fail(st, true);
    };
    auto [rec, results] = co_await resolver->async_resolve(self->host, std::to_string(self->port), kUseTuple);
    if (gen != self->generation) co_return;
    if (rec || *timed_out) {
      fail(Status::Unavailable("redis " + self->Addr() + ": resolve: " + (*timed_out ? "timed out" : rec.message())));
      co_return;
    }
    auto [cec, ep] = co_await asio::async_connect(*sock, results, kUseTuple);
    if (gen != self->generation) co_return;
    if (cec || *timed_out) {
      fail(Status::Unavailable("redis " + self->Addr() + ": connect: " +
                               (*timed_out ? "timed out after " + std::to_string(timeout.count()) + "ms" : cec.message())));
      co_return;
    }
    boost::system::error_code ig;
    sock->set_option(tcp::no_delay(true), ig);
    std::vector<std::vector<std::string>> hello;
    if (!self->password.empty()) hello.push_back({"AUTH", self->password});
    if (self->db != 0) hello.push_back({"SELECT", std::to_string(self->db)});
    if (!hello.empty()) {
      std::string out;
      for (auto& c : hello) out += EncodeRespCommand(c);
      auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(out), kUseTuple);
      if (gen != self->generation) co_return;
      if (wec || *timed_out) {
        fail(Status::Unavailable("redis " + self->Addr() + ": handshake: " + (*timed_out ? "timed out" : wec.message())));
        co_return;
      }
      for (auto& c : hello) {
        auto r = co_await ReadOne(self, sock);
        if (gen != self->generation) co_return;
        if (!r.ok()) {
          fail(*timed_out ? Status::Unavailable("redis " + self->Addr() + ": handshake: timed out") : r.status());
          co_return;
        }
        if (r->is_error()) {
          if (c[0] == "AUTH") {
            fail(Status::PermissionDenied("redis " + self->Addr() + ": AUTH refused: " + r->str));
          } else {
            fail(Status::InvalidArgument("redis " + self->Addr() + ": SELECT " + c[1] + " refused: " + r->str));
          }
          co_return;
        }
      }
    }
    *done = true;
    timer.cancel();
    self->state = kConnected;
    self->backoff = std::chrono::milliseconds(0);
    // Replies that arrived with the handshake's belong to pipelined commands.
    if (!self->inbuf.empty() && !self->Dispatch(gen)) co_return;
    asio::co_spawn(self->strand, ReadLoop(self, gen, sock), asio::detached);
    self->KickWriter();
  }

  static asio::awaitable<std::optional<Result<RespValue>>> Run(std::shared_ptr<Impl> self, std::vector<std::string> args,
                                                                std::chrono::milliseconds timeout) {
    if (args.empty()) co_return Status::InvalidArgument("redis: empty command");
    if (self->pending.size() >= kMaxPending) {
      co_return Status::ResourceExhausted("redis " + self->Addr() + ": over " + std::to_string(kMaxPending) +
                                          " commands waiting");
    }
    if (timeout.count() <= 0) timeout = std::chrono::milliseconds(1);
    if (self->state == kDisconnected) {
      auto now = Clock::now();
      if (now < self->retry_after) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(self->retry_after - now).count();
        co_return Status::Unavailable(self->last_error.message() + " (next try in " + std::to_string(left) + "ms)");
      }
      self->state = kConnecting;
      self->inbuf.clear();
      self->outbuf.clear();
      asio::co_spawn(self->strand, Connect(self, ++self->generation, timeout), asio::detached);
    }
    auto w = std::make_shared<Waiter>(self->strand);
    w->timer.expires_after(timeout);
    self->outbuf += EncodeRespCommand(args);
    self->pending.push_back(w);
    self->KickWriter();
    co_await w->timer.async_wait(kUseTuple);
    if (w->result) co_return std::move(*w->result);
    // No reply in time: its late reply would be taken for the next command's, so start afresh.
    Status st = Status::Timeout("redis " + self->Addr() + ": no reply to " + args[0] + " within " +
                                std::to_string(timeout.count()) + "ms");
    bool connecting = self->state == kConnecting;
    w->result.emplace(st);  // Fail() skips it
    self->Fail(connecting ? Status::Unavailable("redis " + self->Addr() + ": connect timed out") : st, connecting);
    co_return st;
  }
};

RespClient::RespClient(asio::io_context& io, std::string host, uint16_t port, std::string password, int db)
    : impl_(std::make_shared<Impl>(io, std::move(host), port, std::move(password), db)) {}

RespClient::~RespClient() { Close(); }

void RespClient::Close() {
  asio::post(impl_->strand, [self = impl_] {
    if (self->state != Impl::kDisconnected || !self->pending.empty()) {
      self->Fail(Status::Cancelled("redis " + self->Addr() + ": client closed"), false);
    }
  });
}

std::string RespClient::address() const { return impl_->Addr(); }

asio::awaitable<Result<RespValue>> RespClient::Command(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  auto r = co_await asio::co_spawn(impl_->strand, Impl::Run(impl_, std::move(args), timeout), asio::use_awaitable);
  if (!r) co_return Status::Internal("redis: command ended without a result");
  co_return std::move(*r);
}

Result<RespValue> RespCommandSync(std::string_view url, std::vector<std::string> args, std::chrono::milliseconds timeout) {
  auto parsed = ParseRedisUrl(url);
  if (!parsed.ok()) return parsed.status();
  auto& [host, port, password, db] = *parsed;
  asio::io_context io;
  std::optional<Result<RespValue>> out;
  {
    RespClient client(io, host, port, password, db);
    // A named lambda: the coroutine refers to its captures until it finishes.
    auto run = [&]() -> asio::awaitable<void> {
      out.emplace(co_await client.Command(std::move(args), timeout));
      client.Close();
    };
    asio::co_spawn(io, run(), asio::detached);
    io.run_for(timeout + std::chrono::seconds(1));
  }
  if (!out) return Status::Timeout("redis: no result within " + std::to_string(timeout.count()) + "ms");
  return std::move(*out);
}

}  // namespace hakone
