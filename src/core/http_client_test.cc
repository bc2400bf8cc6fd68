#include "core/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <set>
#include <optional>
#include <thread>

#include "core/http_server.h"

namespace hakone {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Resp = Result<HttpClient::Response>;

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<void> StoreInto(asio::awaitable<Resp> a, std::optional<Resp>* out) { out->emplace(co_await std::move(a)); }

// Runs one client coroutine to completion on `io` (the test thread).
Resp RunSync(asio::io_context& io, asio::awaitable<Resp> a) {
  std::optional<Resp> out;
  asio::co_spawn(io, StoreInto(std::move(a), &out), asio::detached);
  io.restart();
  io.run();
  if (!out) return Status::Internal("did not complete");
  return std::move(*out);
}

// An HttpServer on 127.0.0.1:0 running on its own thread.
class ClientTest : public ::testing::Test {
 protected:
  void Start(HttpServer::Options o = {}) {
    server_ = std::make_unique<HttpServer>(server_io_, o);
    server_->Route("*", "/echo", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      HttpResponse res = HttpResponse::Text(200, r.method + " " + r.target + " " + r.body);
      res.headers.emplace_back("X-Auth", std::string(r.Header("authorization")));
      res.headers.emplace_back("X-Host", std::string(r.Header("host")));
      res.headers.emplace_back("X-Custom", std::string(r.Header("x-custom")));
      co_return res;
    });
    server_->Route("GET", "/peer", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, std::to_string(r.remote.port()));
    });
    server_->Route("GET", "/slow", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_await Sleep(std::chrono::milliseconds(std::stoi(r.Param("ms").value_or("1000"))));
      co_return HttpResponse::Text(200, std::to_string(r.remote.port()));
    });
    server_->Route("GET", "/big", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Text(200, std::string(100000, 'b'));
    });
    ASSERT_TRUE(server_->Listen(*ParseEndpoint("127.0.0.1:0")).ok());
    port_ = server_->local_endpoint().port();
    base_ = "http://127.0.0.1:" + std::to_string(port_);
    guard_.emplace(server_io_.get_executor());
    thread_ = std::thread([this] { server_io_.run(); });
  }
  void TearDown() override {
    if (!thread_.joinable()) return;
    server_->Stop();
    guard_.reset();
    server_io_.stop();  // client connections may still be pooled open
    thread_.join();
  }

  asio::io_context server_io_;
  std::unique_ptr<HttpServer> server_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  int port_ = 0;
  std::string base_;
  asio::io_context io_;  // the client's
};

TEST_F(ClientTest, RequestsAndResponses) {
  Start();
  HttpClient client(io_);
  auto r = RunSync(io_, client.Request("POST", base_ + "/echo?x=1", {{"X-Custom", "yes"}}, "payload"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /echo?x=1 payload");
  EXPECT_EQ(r->Header("x-custom"), "yes");
  EXPECT_EQ(r->Header("X-HOST"), "127.0.0.1:" + std::to_string(port_));
  EXPECT_EQ(r->Header("content-type"), "text/plain; charset=utf-8");

  // Any status is a response, not an error.
  r = RunSync(io_, client.Request("GET", base_ + "/missing", {}, ""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("not_found"), std::string::npos);

  // HEAD: headers only, and the connection stays usable.
  r = RunSync(io_, client.Request("HEAD", base_ + "/big", {}, ""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "100000");
  EXPECT_EQ(r->body, "");
  r = RunSync(io_, client.Request("GET", base_ + "/big", {}, ""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body.size(), 100000u);

  // userinfo becomes Basic auth and never shows in errors.
  r = RunSync(io_, client.Request("GET", "http://user:pa%20ss@127.0.0.1:" + std::to_string(port_) + "/echo", {}, ""));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Header("x-auth"), "Basic dXNlcjpwYSBzcw==");  // "user:pa ss"

  // The blocking helper.
  auto f = HttpFetch("PUT", base_ + "/echo", {}, "fetched", std::chrono::seconds(5));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->body, "PUT /echo fetched");
}

TEST_F(ClientTest, PoolReusesConnections) {
  Start();
  HttpClient::Options o;
  o.max_idle_per_host = 2;
  HttpClient client(io_, o);
  std::string first;
  for (int i = 0; i < 4; ++i) {
    auto r = RunSync(io_, client.Request("GET", base_ + "/peer", {}, ""));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (i == 0) first = r->body;
    EXPECT_EQ(r->body, first) << "request " << i << " used a new connection";
    EXPECT_EQ(client.IdleConnections(), 1u);
  }
  // Five at once need five connections; only max_idle_per_host stay pooled.
  std::vector<std::optional<Resp>> outs(5);
  for (auto& out : outs) {
    asio::co_spawn(io_, StoreInto(client.Request("GET", base_ + "/slow?ms=100", {}, ""), &out), asio::detached);
  }
  io_.restart();
  io_.run();
  std::set<std::string> ports;
  for (auto& out : outs) {
    ASSERT_TRUE(out && out->ok());
    ports.insert((*out)->body);
  }
  EXPECT_EQ(ports.size(), 5u);
  EXPECT_EQ(client.IdleConnections(), 2u);
}

TEST_F(ClientTest, StalePooledConnectionIsReplaced) {
  HttpServer::Options so;
  so.idle_timeout = std::chrono::seconds(1);
  Start(so);
  HttpClient client(io_);
  auto r = RunSync(io_, client.Request("GET", base_ + "/peer", {}, ""));
  ASSERT_TRUE(r.ok());
  std::string first = r->body;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the server drops the idle connection
  // Not idempotent, so it could not be retried: the stale connection must be noticed before sending.
  r = RunSync(io_, client.Request("POST", base_ + "/echo", {}, "after idle"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "POST /echo after idle");
}

// A server that answers the first request on each connection and closes the connection without
// answering the second: a keep-alive connection the server dropped while the request was in flight.
class DropSecondServer {
 public:
  DropSecondServer() {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd_, 16);
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~DropSecondServer() {
    ::shutdown(lfd_, SHUT_RDWR);
    int c = current_.exchange(-1);
    if (c >= 0) ::shutdown(c, SHUT_RDWR);
    thread_.join();
    ::close(lfd_);
  }
  int port = 0;
  std::atomic<int> connections{0};

 private:
  bool ReadRequest(int fd) {
    std::string buf;
    char tmp[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }
  void Loop() {
    for (;;) {
      int c = ::accept(lfd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections;
      current_ = c;
      if (ReadRequest(c)) {
        std::string_view resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        ReadRequest(c);  // the second request: dropped
      }
      current_ = -1;
      ::close(c);
    }
  }
  int lfd_ = -1;
  std::atomic<int> current_{-1};
  std::thread thread_;
};

TEST(HttpClientRetry, IdempotentRetriedOnceOthersNot) {
  DropSecondServer server;
  asio::io_context io;
  HttpClient client(io);
  std::string url = "http://127.0.0.1:" + std::to_string(server.port) + "/";
  auto r = RunSync(io, client.Request("GET", url, {}, ""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server.connections.load(), 1);
  // Reuses connection 1, which the server drops: retried on a second connection.
  r = RunSync(io, client.Request("GET", url, {}, ""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(server.connections.load(), 2);
  // A POST on the reused connection 2 is dropped too, and must not be sent twice.
  r = RunSync(io, client.Request("POST", url, {}, "once"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("closed before the response"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(server.connections.load(), 2);
}

TEST_F(ClientTest, TimeoutIsTimeout) {
  Start();
  HttpClient client(io_);
  auto t0 = std::chrono::steady_clock::now();
  auto r = RunSync(io_, client.Request("GET", base_ + "/slow?ms=2000", {}, "", std::chrono::milliseconds(200)));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_NE(r.status().message().find("GET http://127.0.0.1:"), std::string::npos) << r.status().ToString();
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
  EXPECT_GE(elapsed, std::chrono::milliseconds(190));
  EXPECT_EQ(client.IdleConnections(), 0u);  // a timed-out connection is not reused
  // The client works afterwards.
  r = RunSync(io_, client.Request("GET", base_ + "/peer", {}, ""));
  EXPECT_TRUE(r.ok()) << r.status().ToString();

  // A response body over the limit.
  HttpClient::Options small;
  small.max_response_body = 1000;
  HttpClient limited(io_, small);
  r = RunSync(io_, limited.Request("GET", base_ + "/big", {}, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
}

// Server and client each on two threads, many requests at once: exercises the strands and the
// pool's locking (run under TSan/ASan in CI).
TEST(HttpClientConcurrency, ManyRequestsOnMultiThreadedContexts) {
  asio::io_context server_io(2);
  HttpServer server(server_io, HttpServer::Options());
  server.Route("POST", "/echo", [](HttpRequest& r) -> asio::awaitable<HttpResponse> {
    co_await Sleep(std::chrono::milliseconds(r.body.size() % 5));
    co_return HttpResponse::Text(200, std::move(r.body));
  });
  ASSERT_TRUE(server.Listen(*ParseEndpoint("127.0.0.1:0")).ok());
  std::string url = "http://127.0.0.1:" + std::to_string(server.local_endpoint().port()) + "/echo";
  std::vector<std::thread> server_threads;
  for (int i = 0; i < 2; ++i) server_threads.emplace_back([&] { server_io.run(); });

  asio::io_context io(2);
  HttpClient::Options o;
  o.max_idle_per_host = 4;
  HttpClient client(io, o);
  constexpr int kRequests = 200;
  std::vector<std::optional<Resp>> outs(kRequests);
  std::atomic<int> next{0};
  // Eight workers, each sending requests one after another (so connections get reused).
  auto worker = [&]() -> asio::awaitable<void> {
    for (int i; (i = next.fetch_add(1)) < kRequests;) {
      outs[i].emplace(co_await client.Request("POST", url, {}, "body-" + std::to_string(i)));
    }
  };
  for (int w = 0; w < 8; ++w) asio::co_spawn(asio::make_strand(io), worker, asio::detached);
  std::thread t2([&] { io.run(); });
  io.run();
  t2.join();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(outs[i] && outs[i]->ok()) << i << ": " << (outs[i] ? outs[i]->status().ToString() : "missing");
    EXPECT_EQ((*outs[i])->body, "body-" + std::to_string(i));
  }
  EXPECT_LE(client.IdleConnections(), 4u);
  server.Stop();
  server_io.stop();
  for (auto& t : server_threads) t.join();
}

TEST(HttpClientErrors, RefusedIsUnavailable) {
  // Find a port nobody listens on: bind, note it, close.
  int port;
  {
    asio::io_context io;
    auto acc = Listen(io, *ParseEndpoint("127.0.0.1:0"));
    ASSERT_TRUE(acc.ok());
    port = acc->local_endpoint().port();
  }
  asio::io_context io;
  HttpClient client(io);
  auto r = RunSync(io, client.Request("GET", "http://127.0.0.1:" + std::to_string(port) + "/x", {}, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("refused"), std::string::npos) << r.status().ToString();

  auto f = HttpFetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/x");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnavailable);
}

TEST(HttpClientErrors, BadInputIsInvalidArgument) {
  asio::io_context io;
  HttpClient client(io);
  auto r = RunSync(io, client.Request("GET", "https://127.0.0.1:1/x", {}, ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("https is not supported"), std::string::npos) << r.status().ToString();
  for (std::string bad : {"ftp://h/x", "http://", "http://h:99999/", "http://h/a b", "127.0.0.1:80/x"}) {
    r = RunSync(io, client.Request("GET", bad, {}, ""));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  r = RunSync(io, client.Request("GET", "http://127.0.0.1:1/", {{"X-Bad", "a\r\nInjected: 1"}}, ""));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = RunSync(io, client.Request("GE T", "http://127.0.0.1:1/", {}, ""));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hakone
