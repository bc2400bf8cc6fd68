#include "core/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/metrics.h"

namespace hakone {
namespace {

// A blocking loopback client that speaks raw bytes, so tests control exactly what is sent.
class RawConn {
 public:
  struct Resp {
    int status = 0;
    std::string head;  // status line + headers
    std::string body;
    std::string Header(const std::string& name) const {
      std::string lower_head = Lower(head), key = "\r\n" + Lower(name) + ":";
      auto p = lower_head.find(key);
      if (p == std::string::npos) return "";
      auto start = p + key.size();
      auto end = head.find("\r\n", start);
      std::string v = head.substr(start, end - start);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      return v;
    }
  };

  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~RawConn() { ::close(fd_); }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  bool Send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framing, which is what HttpServer sends).
  std::optional<Resp> Read(bool head_request = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Resp r;
    r.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    r.status = std::atoi(r.head.substr(9, 3).c_str());
    std::string cl = r.Header("content-length");
    size_t len = head_request || cl.empty() ? 0 : std::stoul(cl);
    while (buf_.size() < len) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  // True when the server closed the connection (EOF or reset) with nothing more to read.
  bool PeerClosed() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  const std::string& pending() const { return buf_; }

 private:
  static std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool Fill() {
    char tmp[8192];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServer::Options o = Options()) {
    server_ = std::make_unique<HttpServer>(io_, o);
    server_->Route("GET", "/hello", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, "hello world");
    });
    server_->Route("GET", "/api/audit/*", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, "audit:" + r.path);
    });
    server_->Route("GET", "/api/*", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, "api:" + r.path);
    });
    server_->Route("GET", "/api/exact", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, "exact");
    });
    server_->Route("*", "/echo", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      std::string b = r.method + "|" + r.path + "|" + r.query + "|" + std::string(r.Header("x-test")) + "|" +
                      r.Param("b").value_or("-") + "|" + std::to_string(r.Params().size()) + "|" + r.body;
      co_return HttpResponse::Text(200, b);
    });
    server_->Route("GET", "/peer", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, std::to_string(r.remote.port()));
    });
    server_->Route("GET", "/throw", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      throw std::runtime_error("boom");
      co_return HttpResponse::Text(200, "unreachable");
    });
    server_->Route("GET", "/slow", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      co_await Sleep(std::chrono::milliseconds(300));
      co_return HttpResponse::Text(200, "slow done");
    });
    server_->Route("DELETE", "/nocontent", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
      HttpResponse r = HttpResponse::Text(204, "ignored");
      r.headers.emplace_back("X-Deleted", "1");
      r.headers.emplace_back("X-Evil", "a\r\nInjected: yes");
      co_return r;
    });
    // Streaming: reads the body piece by piece, optionally pausing once after the first piece
    // (the `pause_ms` query parameter), and answers with the byte count, a checksum and the largest
    // piece; a read error is recorded in stream_errors_ and answered as 499.
    auto stream_handler = [this](HttpRequest& r, HttpServer::BodyStream& body) -> asio::awaitable<HttpResponse> {
      int pause = std::atoi(r.Param("pause_ms").value_or("0").c_str());
      uint64_t n = 0, sum = 0;
      size_t largest = 0, pieces = 0;
      for (;;) {
        auto piece = co_await body.Read();
        if (!piece.ok()) {
          std::lock_guard lk(stream_mu_);
          stream_errors_.push_back(piece.status());
          co_return HttpResponse::Text(499, piece.status().ToString());
        }
        if (piece->empty()) break;
        for (unsigned char ch : *piece) sum = sum * 31 + ch;
        n += piece->size();
        largest = std::max(largest, piece->size());
        pieces++;
        if (pause > 0 && pieces == 1) co_await Sleep(std::chrono::milliseconds(pause));
      }
      EXPECT_EQ(body.bytes_read(), n);
      co_return HttpResponse::Text(200, "bytes=" + std::to_string(n) + " sum=" + std::to_string(sum) + " largest=" +
                                            std::to_string(largest) + " body=" + std::to_string(r.body.size()) + " path=" + r.path);
    };
    server_->StreamRoute("POST", "/stream", stream_handler, 0);
    server_->StreamRoute("PUT", "/*/limited", stream_handler, 1000);
    server_->StreamRoute("POST", "/reject", [](HttpRequest&, HttpServer::BodyStream&) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Error(401, "no credentials");  // without reading the body
    }, 0);
    server_->Route("GET", "/big", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      struct Pattern : HttpBodySource {
        uint64_t total, pos = 0;
        explicit Pattern(uint64_t t) : total(t) {}
        uint64_t size() const override { return total; }
        Result<size_t> Read(char* buf, size_t cap) override {
          size_t n = static_cast<size_t>(std::min<uint64_t>(cap, total - pos));
          for (size_t i = 0; i < n; i++) buf[i] = static_cast<char>('a' + (pos + i) % 26);
          pos += n;
          return n;
        }
      };
      HttpResponse res = HttpResponse::Text(200, "ignored");
      res.body_source = std::make_shared<Pattern>(std::stoull(r.Param("n").value_or("0")));
      co_return res;
    });
    auto ep = ParseEndpoint("127.0.0.1:0");
    ASSERT_TRUE(ep.ok());
    ASSERT_TRUE(server_->Listen(*ep).ok());
    port_ = server_->local_endpoint().port();
    ASSERT_NE(port_, 0);
    guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] {
      io_.run();
      done_.set_value();
    });
  }

  void TearDown() override {
    if (!thread_.joinable()) return;
    server_->Stop();
    guard_.reset();
    // Stop() closes idle connections, so the io_context runs out of work by itself.
    if (done_.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "io_context did not drain after Stop()";
      io_.stop();
    }
    thread_.join();
  }

  using Options = HttpServer::Options;
  asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::promise<void> done_;
  int port_ = 0;
  std::mutex stream_mu_;
  std::vector<Status> stream_errors_;
};

// The expected "sum=" of the streaming handler for a body.
uint64_t Checksum(std::string_view b) {
  uint64_t sum = 0;
  for (unsigned char ch : b) sum = sum * 31 + ch;
  return sum;
}

std::string Body(size_t n) {
  std::string b(n, 'x');
  for (size_t i = 0; i < n; i++) b[i] = static_cast<char>('A' + (i * 7 + i / 1000) % 50);
  return b;
}

TEST_F(HttpServerTest, RoutesExactPrefixAnd404And405) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.connected());
  auto get = [&](std::string_view target) {
    EXPECT_TRUE(c.Send(Get(target)));
    auto r = c.Read();
    EXPECT_TRUE(r.has_value()) << target;
    return r.value_or(RawConn::Resp{});
  };
  auto r = get("/hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.Header("server"), "hakone");

  EXPECT_EQ(get("/api/audit/a%20b/c").body, "audit:/api/audit/a b/c");
  EXPECT_EQ(get("/api/audit").body, "audit:/api/audit");
  EXPECT_EQ(get("/api/auditx").body, "api:/api/auditx");  // the shorter prefix
  EXPECT_EQ(get("/api/exact").body, "exact");              // exact beats prefix
  EXPECT_EQ(get("/api").body, "api:/api");

  r = get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"error":{"type":"not_found","reason":"no handler for /nope"},"status":404})");

  ASSERT_TRUE(c.Send("POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  r = c.Read().value_or(RawConn::Resp{});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("allow"), "GET");

  // Any method on a "*" route; query parameters and case-insensitive headers.
  ASSERT_TRUE(c.Send("PUT /echo?a=1&b=x%20y&b=2&c HTTP/1.1\r\nHost: x\r\nX-TEST: v1\r\nContent-Length: 4\r\n\r\nbody"));
  r = c.Read().value_or(RawConn::Resp{});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "PUT|/echo|a=1&b=x%20y&b=2&c|v1|x y|4|body");

  // A fallback is not set: an absolute-form target still routes by its path.
  ASSERT_TRUE(c.Send(Get("http://example.com/hello")));
  EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).body, "hello world");
}

TEST_F(HttpServerTest, FallbackGetsUnmatchedRequests) {
  server_ = nullptr;
  asio::io_context io;
  HttpServer s(io, Options());
  s.Route("GET", "/a", [](HttpRequest&) -> asio::awaitable<HttpResponse> { co_return HttpResponse::Text(200, "a"); });
  s.SetFallback([](HttpRequest& r) -> asio::awaitable<HttpResponse> {
    co_return HttpResponse::Text(200, "fallback " + r.method + " " + r.path);
  });
  ASSERT_TRUE(s.Listen(*ParseEndpoint("127.0.0.1:0")).ok());
  int port = s.local_endpoint().port();
  std::thread t([&] { io.run(); });
  {
    RawConn c(port);
    ASSERT_TRUE(c.Send(Get("/zzz")));
    EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).body, "fallback GET /zzz");
    ASSERT_TRUE(c.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).body, "fallback POST /a");
  }
  s.Stop();
  t.join();
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  Start();
  RawConn c(port_);
  std::string peer;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/peer")));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("connection"), "");  // HTTP/1.1 default: keep-alive
    if (i == 0) peer = r->body;
    EXPECT_EQ(r->body, peer);  // the same client socket every time
  }
  // Three pipelined requests in one write, a slow one in the middle: answered in order.
  ASSERT_TRUE(c.Send(Get("/hello") + Get("/slow") + Get("/api/audit/3")));
  auto r1 = c.Read(), r2 = c.Read(), r3 = c.Read();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "hello world");
  EXPECT_EQ(r2->body, "slow done");
  EXPECT_EQ(r3->body, "audit:/api/audit/3");
  // Still open afterwards.
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).status, 200);

  // HTTP/1.0 without keep-alive: one response, then close.
  RawConn old(port_);
  ASSERT_TRUE(old.Send("GET /hello HTTP/1.0\r\n\r\n"));
  auto r = old.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->head.substr(0, 8), "HTTP/1.0");
  EXPECT_TRUE(old.PeerClosed());
  // "Connection: close" from an HTTP/1.1 client.
  RawConn closing(port_);
  ASSERT_TRUE(closing.Send(Get("/hello", "Connection: close\r\n")));
  r = closing.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(closing.PeerClosed());
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndClose) {
  Start();
  for (std::string bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET /hello HTTP/1.1\r\nBad Header\r\n\r\n"),
                          std::string("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
                          std::string("GET /hello HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                          std::string("GET hello HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    RawConn c(port_);
    ASSERT_TRUE(c.Send(bad));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(r->Header("connection"), "close") << bad;
    EXPECT_NE(r->body.find(R"("type":"bad_request")"), std::string::npos) << r->body;
    EXPECT_TRUE(c.PeerClosed()) << bad;
  }
  // The server is fine afterwards.
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).status, 200);
}

TEST_F(HttpServerTest, OversizedBodyGets413AndHugeHeaderGets431) {
  Options o;
  o.max_body = 1024;
  o.max_header_bytes = 8 << 10;
  Start(o);
  {
    // Declared length over the limit: refused before the body is sent.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("payload_too_large"), std::string::npos);
    EXPECT_TRUE(c.PeerClosed());
  }
  {
    // The client sends the whole oversized body anyway: it still reads the 413.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x')));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
  }
  {
    // Chunked: the limit is enforced while streaming.
    RawConn c(port_);
    std::string chunk(800, 'y');
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk + "\r\n320\r\n" +
                       chunk + "\r\n0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
  }
  {
    // Exactly at the limit is fine, chunked too.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + std::string(1024, 'z')));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), std::string("POST|/echo|||-|0|").size() + 1024);
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "POST|/echo|||-|0|abcde");
  }
  {
    RawConn c(port_);
    ASSERT_TRUE(c.Send(Get("/hello", "X-Big: " + std::string(20000, 'h') + "\r\n")));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 431);
    EXPECT_TRUE(c.PeerClosed());
  }
}

TEST_F(HttpServerTest, HeadAnswersWithHeadersOnly) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.Send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "11");
  // No body bytes follow: the next response starts right away on the same connection.
  ASSERT_TRUE(c.Send(Get("/hello")));
  auto next = c.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "hello world");
  EXPECT_EQ(c.pending(), "");

  // 204 carries neither a body nor a Content-Length; a header with CR/LF is dropped.
  ASSERT_TRUE(c.Send("DELETE /nocontent HTTP/1.1\r\nHost: x\r\n\r\n"));
  r = c.Read(true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->Header("content-length"), "");
  EXPECT_EQ(r->Header("x-deleted"), "1");
  EXPECT_EQ(r->Header("injected"), "");
  EXPECT_EQ(r->Header("x-evil"), "");
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).body, "hello world");
}

TEST_F(HttpServerTest, HandlerExceptionBecomes500AndServerSurvives) {
  Options o;
  o.server_name = "exc-test";
  Start(o);
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Get("/throw")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":{"type":"internal_error","reason":"internal error"},"status":500})");
  // Same connection, still served.
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.Read().value_or(RawConn::Resp{}).status, 200);

  // Metrics are recorded just after the response is written: give the server a moment.
  auto* requests = metrics::Registry::Global().AddCounter("hakone_http_requests_total", "", {"server", "method", "status"});
  for (int i = 0; i < 100 && requests->WithLabels({"exc-test", "GET", "200"})->Value() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(requests->WithLabels({"exc-test", "GET", "500"})->Value(), 1u);
  EXPECT_EQ(requests->WithLabels({"exc-test", "GET", "200"})->Value(), 1u);
  auto* durations = metrics::Registry::Global().AddHistogram("hakone_http_request_duration_seconds", "", {"server", "method"});
  EXPECT_EQ(durations->WithLabels({"exc-test", "GET"})->Count(), 2u);
}

TEST_F(HttpServerTest, ExpectContinue) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  auto interim = c.Read(true);
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("abc"));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST|/echo|||-|0|abc");
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndFinishesInFlight) {
  Start();
  RawConn idle(port_);
  ASSERT_TRUE(idle.Send(Get("/hello")));
  ASSERT_TRUE(idle.Read().has_value());
  RawConn busy(port_);
  ASSERT_TRUE(busy.Send(Get("/slow")));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slow handler is running
  server_->Stop();
  EXPECT_TRUE(idle.PeerClosed());
  auto r = busy.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "slow done");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(busy.PeerClosed());
  RawConn late(port_);
  EXPECT_FALSE(late.connected());
}

TEST_F(HttpServerTest, IdleTimeoutClosesConnection) {
  Options o;
  o.idle_timeout = std::chrono::seconds(1);
  o.header_timeout = std::chrono::seconds(1);
  Start(o);
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Get("/hello")));
  ASSERT_TRUE(c.Read().has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.PeerClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  // A client that stalls in the middle of its headers is dropped too.
  RawConn slow(port_);
  ASSERT_TRUE(slow.Send("GET /hello HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(slow.PeerClosed());
}

TEST_F(HttpServerTest, StreamRouteDeliversBodyInPiecesBeyondMaxBody) {
  Options o;
  o.max_body = 1024;  // buffered routes only
  Start(o);
  std::string body = Body(300000);
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  std::string want = "bytes=300000 sum=" + std::to_string(Checksum(body));
  EXPECT_EQ(r->body.substr(0, want.size()), want);
  EXPECT_NE(r->body.find(" body=0 "), std::string::npos);  // req.body stays empty
  size_t largest = std::stoul(r->body.substr(r->body.find("largest=") + 8));
  EXPECT_LE(largest, 64u << 10);
  EXPECT_GT(largest, 0u);
  // Keep-alive after a fully read streamed body; chunked framing is removed; pipelined next request.
  std::string chunked = "POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string whole;
  for (int i = 0; i < 50; i++) {
    std::string part = Body(1000 + i * 37);
    whole += part;
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx", part.size());
    chunked += std::string(hex) + "\r\n" + part + "\r\n";
  }
  chunked += "0\r\n\r\n";
  ASSERT_TRUE(c.Send(chunked + Get("/hello")));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body.substr(0, r->body.find(" largest")),
            "bytes=" + std::to_string(whole.size()) + " sum=" + std::to_string(Checksum(whole)));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hello world");
  // The buffered limit still holds for ordinary routes on the same server.
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"));
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  // An empty streamed body.
  RawConn e(port_);
  ASSERT_TRUE(e.Send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  r = e.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body.substr(0, 14), "bytes=0 sum=0 ");
}

TEST_F(HttpServerTest, StreamRouteLimitWildcardAndMalformedChunks) {
  Start();
  {
    // "/*/limited" matches one segment; the route's own limit (1000) applies.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("PUT /abc/limited HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + Body(1000)));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("path=/abc/limited"), std::string::npos);
    // Declared length over the limit: 413 before the handler runs.
    ASSERT_TRUE(c.Send("PUT /abc/limited HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"));
    r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.PeerClosed());
  }
  for (std::string path : {"/limited", "/a/b/limited", "//limited"}) {
    RawConn c(port_);
    ASSERT_TRUE(c.Send("PUT " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 404) << path;
  }
  {
    // Chunked growing past the limit: the handler's read fails and the client gets 413.
    RawConn c(port_);
    std::string part(600, 'p');
    ASSERT_TRUE(c.Send("PUT /x/limited HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + part + "\r\n258\r\n" +
                       part + "\r\n0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.PeerClosed());
  }
  {
    // Malformed chunk size in the middle of the body: 400, connection closed.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.PeerClosed());
  }
  std::lock_guard lk(stream_mu_);
  ASSERT_EQ(stream_errors_.size(), 2u);
  EXPECT_EQ(stream_errors_[0].code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(stream_errors_[1].code(), StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StreamRouteClientDisconnectAndEarlyAnswer) {
  Start();
  {
    // The client goes away after half its declared body: the handler's read fails with
    // Cancelled; the server stays healthy.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + Body(100000)));
  }
  {
    // Chunked, cut inside a chunk.
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + Body(100)));
  }
  for (int i = 0; i < 100; i++) {
    {
      std::lock_guard lk(stream_mu_);
      if (stream_errors_.size() == 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lk(stream_mu_);
    ASSERT_EQ(stream_errors_.size(), 2u);
    for (const auto& st : stream_errors_) {
      EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.ToString();
      EXPECT_NE(st.message().find("before the end of the request body"), std::string::npos) << st.ToString();
    }
  }
  RawConn h(port_);
  ASSERT_TRUE(h.Send(Get("/hello")));
  EXPECT_EQ(h.Read().value_or(RawConn::Resp{}).body, "hello world");
  {
    // A handler that answers without reading the body: the client reads the answer, then the
    // server closes (the unread body cannot be skipped safely).
    RawConn c(port_);
    ASSERT_TRUE(c.Send("POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + Body(100000)));
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c.PeerClosed());
  }
}

TEST_F(HttpServerTest, StreamRouteBackpressureHoldsTheClient) {
  Start();
  // The handler pauses 2 s after its first piece; a client trying to send 64 MiB meanwhile gets
  // stuck in send() once the kernel buffers are full, instead of the server buffering the body.
  // Then the handler drains the rest and sees every byte.
  constexpr size_t kTotal = 64u << 20;
  std::string block = Body(1 << 20);
  RawConn c(port_);
  ASSERT_TRUE(c.Send("POST /stream?pause_ms=2000 HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n"));
  std::atomic<size_t> sent{0};
  std::thread sender([&] {
    while (sent < kTotal) {
      if (!c.Send(block)) return;
      sent += block.size();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  size_t during_pause = sent.load();
  sender.join();
  EXPECT_LT(during_pause, 32u << 20) << "the server read the body faster than its handler consumed it";
  EXPECT_EQ(sent.load(), kTotal);
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  uint64_t sum = 0;
  for (size_t i = 0; i < kTotal / block.size(); i++) {
    for (unsigned char ch : block) sum = sum * 31 + ch;
  }
  EXPECT_EQ(r->body.substr(0, r->body.find(" largest")), "bytes=" + std::to_string(kTotal) + " sum=" + std::to_string(sum));
}

TEST_F(HttpServerTest, BodySourceResponse) {
  Start();
  RawConn c(port_);
  ASSERT_TRUE(c.Send(Get("/big?n=3000000") + Get("/big?n=0") + Get("/hello")));
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->body.size(), 3000000u);
  bool ok = true;
  for (size_t i = 0; i < r->body.size(); i++) ok = ok && r->body[i] == static_cast<char>('a' + i % 26);
  EXPECT_TRUE(ok);
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("content-length"), "0");
  r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hello world");
  RawConn h(port_);
  ASSERT_TRUE(h.Send("HEAD /big?n=5000 HTTP/1.1\r\nHost: x\r\n\r\n"));
  r = h.Read(true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("content-length"), "5000");
  ASSERT_TRUE(h.Send(Get("/hello")));
  EXPECT_EQ(h.Read().value_or(RawConn::Resp{}).body, "hello world");
}

TEST(HttpTypes, ErrorJsonEscapesAndParams) {
  auto e = HttpResponse::Error(400, "bad \"x\"\n");
  EXPECT_EQ(e.body, R"({"error":{"type":"bad_request","reason":"bad \"x\"\n"},"status":400})");
  EXPECT_EQ(e.content_type, "application/json");
  HttpRequest r;
  r.query = "q=a+b&empty=&flag&q=second&bad=%zz";
  r.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(r.Param("q"), "a b");
  EXPECT_EQ(r.Param("empty"), "");
  EXPECT_EQ(r.Param("flag"), "");
  EXPECT_EQ(r.Param("bad"), "%zz");
  EXPECT_FALSE(r.Param("missing").has_value());
  EXPECT_EQ(r.Params().size(), 5u);
  EXPECT_EQ(r.Header("content-TYPE"), "text/plain");
  EXPECT_EQ(r.Header("accept"), "");
}

}  // namespace
}  // namespace hakone
