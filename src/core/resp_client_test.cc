#include "core/resp_client.h"

#include "testing/test_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <filesystem>
#include <functional>
#include <thread>

namespace hakone {
namespace {

using namespace std::chrono_literals;

using testing::FreePort;
using testing::RedisServer;

// A fake server on a loopback port: for each connection, `script` gets the socket.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int fd)> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++connections_;
        script_(c);
        close(c);
      }
    });
  }
  ~FakeServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  std::function<void(int)> script_;
  int fd_;
  uint16_t port_;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Reads until `n` complete commands ("*...") have arrived or the peer closes; returns the bytes.
std::string ReadCommands(int fd, int n) {
  std::string in;
  char buf[4096];
  while (true) {
    size_t pos = 0;
    int count = 0;
    RespValue v;
    while (count < n) {
      auto r = ParseRespReply(std::string_view(in).substr(pos), &v);  // commands are arrays: same grammar
      if (!r.ok() || *r == 0) break;
      pos += *r;
      ++count;
    }
    if (count >= n) return in;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return in;
    in.append(buf, static_cast<size_t>(r));
  }
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t w = write(fd, s.data(), s.size());
    if (w <= 0) return;
    s.remove_prefix(static_cast<size_t>(w));
  }
}

Result<RespValue> Call(asio::io_context& io, RespClient& c, std::vector<std::string> args, std::chrono::milliseconds t = 2s) {
  std::optional<Result<RespValue>> out;
  auto fn = [&]() -> asio::awaitable<void> { out.emplace(co_await c.Command(std::move(args), t)); };
  asio::co_spawn(io, fn(), asio::detached);
  io.restart();
  while (!out && io.run_one_for(5s)) {
  }
  if (!out) return Status::Internal("test: no result");
  return std::move(*out);
}

// ---------------------------------------------------------------------------------------------
// The parser.

TEST(RespParser, ParsesEveryType) {
  RespValue v;
  EXPECT_EQ(*ParseRespReply("+OK\r\n", &v), 5u);
  EXPECT_EQ(v.type, RespValue::kStatus);
  EXPECT_EQ(v.str, "OK");
  EXPECT_EQ(*ParseRespReply("-ERR bad\r\nextra", &v), 10u);
  EXPECT_EQ(v.type, RespValue::kError);
  EXPECT_EQ(v.str, "ERR bad");
  EXPECT_EQ(*ParseRespReply(":-42\r\n", &v), 6u);
  EXPECT_EQ(v.integer, -42);
  EXPECT_EQ(*ParseRespReply("$5\r\nhe\r\no\r\n", &v), 11u);
  EXPECT_EQ(v.type, RespValue::kString);
  EXPECT_EQ(v.str, "he\r\no");
  EXPECT_EQ(*ParseRespReply("$0\r\n\r\n", &v), 6u);
  EXPECT_EQ(v.str, "");
  EXPECT_EQ(*ParseRespReply("$-1\r\n", &v), 5u);
  EXPECT_TRUE(v.is_nil());
  EXPECT_EQ(*ParseRespReply("*-1\r\n", &v), 5u);
  EXPECT_TRUE(v.is_nil());
  std::string arr = "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n";
  EXPECT_EQ(*ParseRespReply(arr, &v), arr.size());
  ASSERT_EQ(v.type, RespValue::kArray);
  EXPECT_EQ(v.DebugString(), "[\"a\", [(integer) 1, (nil)], x]");
  // Every strict prefix is "need more", never an error.
  for (size_t i = 0; i < arr.size(); ++i) {
    auto r = ParseRespReply(arr.substr(0, i), &v);
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_EQ(*r, 0u) << i;
  }
}

TEST(RespParser, RejectsMalformedInput) {
  RespValue v;
  RespLimits small;
  small.max_bulk = 10;
  small.max_array = 3;
  small.max_depth = 2;
  small.max_line = 24;
  struct Case {
    std::string in;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"?what\r\n", "unknown reply type byte 0x3f"},
           {"+OK\n", "line feed without carriage return"},
           {"\n", "unknown reply type byte 0x0a"},
           {"+O\rK\r\n", "carriage return inside"},
           {":12a\r\n", "bad integer"},
           {":\r\n", "bad integer"},
           {":99999999999999999999\r\n", "bad integer"},
           {"$-2\r\n", "bad bulk length"},
           {"$abc\r\n", "bad bulk length"},
           {"$11\r\n", "over the limit"},
           {"$2\r\nabcd\r\n", "not followed by CRLF"},
           {"*4\r\n", "over the limit"},
           {"*-5\r\n", "bad array length"},
           {"*1\r\n*1\r\n*1\r\n:1\r\n", "nested deeper"},
           {"+" + std::string(40, 'a'), "line longer"},
           {"*2\r\n:1\r\n!x\r\n", "unknown reply type"},
       }) {
    auto r = ParseRespReply(c.in, &v, small);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    EXPECT_NE(r.status().message().find(c.why), std::string::npos) << c.in << " -> " << r.status().message();
  }
  // Default limits: a huge announced bulk length is refused before any allocation.
  auto r = ParseRespReply("$999999999999\r\n", &v);
  ASSERT_FALSE(r.ok());
  r = ParseRespReply("*99999999999\r\n", &v);
  ASSERT_FALSE(r.ok());
}

TEST(RespParser, SurvivesRandomBytes) {
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345; };
  const char alphabet[] = "+-:$*\r\n0123456789-ab";
  RespValue v;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    size_t n = rnd() % 40;
    for (size_t k = 0; k < n; ++k) s += alphabet[(rnd() >> 16) % (sizeof alphabet - 1)];
    auto r = ParseRespReply(s, &v);
    if (r.ok()) {
      EXPECT_LE(*r, s.size());
    }
  }
}

TEST(RespEncode, Command) {
  EXPECT_EQ(EncodeRespCommand({"SET", "k", "a\r\nb"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
}

TEST(RedisUrl, Parses) {
  auto u = ParseRedisUrl("redis://:p%40ss@127.0.0.1:6380/2");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(std::get<0>(*u), "127.0.0.1");
  EXPECT_EQ(std::get<1>(*u), 6380);
  EXPECT_EQ(std::get<2>(*u), "p@ss");
  EXPECT_EQ(std::get<3>(*u), 2);
  u = ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(std::get<0>(*u), "localhost");
  EXPECT_EQ(std::get<1>(*u), 6379);
  EXPECT_EQ(std::get<2>(*u), "");
  EXPECT_EQ(std::get<3>(*u), 0);
  u = ParseRedisUrl("redis://default:pw@[::1]:7000/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(std::get<0>(*u), "::1");
  EXPECT_EQ(std::get<1>(*u), 7000);
  EXPECT_EQ(std::get<2>(*u), "pw");
  for (const char* bad : {"http://x", "rediss://x", "redis://", "redis://x:0", "redis://x:70000", "redis://x/abc",
                          "redis://bob:pw@x", "redis://x/1?timeout=3", "not a url"}) {
    auto b = ParseRedisUrl(bad);
    EXPECT_FALSE(b.ok()) << bad;
    if (!b.ok()) {
      EXPECT_NE(b.status().message().find(bad), std::string::npos) << b.status().message();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Against a fake server (exact bytes on the wire).

TEST(RespClientFake, MalformedReplyIsCorruptionAndClientRecovers) {
  std::atomic<int> conn{0};
  FakeServer server([&](int fd) {
    int n = ++conn;
    ReadCommands(fd, 1);
    if (n == 1) {
      WriteAll(fd, "%garbage\r\n");
      char b[16];
      while (read(fd, b, sizeof b) > 0) {
      }
    } else {
      WriteAll(fd, "+PONG\r\n");
      ReadCommands(fd, 1);
    }
  });
  asio::io_context io;
  RespClient c(io, "127.0.0.1", server.port());
  auto r = Call(io, c, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("unknown reply type"), std::string::npos) << r.status().ToString();
  r = Call(io, c, {"PING"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->str, "PONG");
  EXPECT_EQ(server.connections(), 2);
  c.Close();
  io.restart();
  io.run_for(200ms);
}

TEST(RespClientFake, OversizedBulkAndTruncatedReplies) {
  std::atomic<int> conn{0};
  FakeServer server([&](int fd) {
    int n = ++conn;
    ReadCommands(fd, 1);
    if (n == 1) WriteAll(fd, "$99999999999\r\n");  // announces 93 GB
    if (n == 2) WriteAll(fd, "$10\r\nabc");         // then closes mid-reply
  });
  asio::io_context io;
  RespClient c(io, "127.0.0.1", server.port());
  auto r = Call(io, c, {"GET", "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("over the limit"), std::string::npos) << r.status().ToString();
  r = Call(io, c, {"GET", "k"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(RespClientFake, TimeoutThenFreshConnection) {
  std::atomic<int> conn{0};
  FakeServer server([&](int fd) {
    int n = ++conn;
    if (n == 1) {
      ReadCommands(fd, 1);  // never answers; the client gives up and closes
      char b[16];
      while (read(fd, b, sizeof b) > 0) {
      }
      return;
    }
    ReadCommands(fd, 1);
    WriteAll(fd, ":7\r\n");
    ReadCommands(fd, 1);
  });
  asio::io_context io;
  RespClient c(io, "127.0.0.1", server.port());
  auto t0 = std::chrono::steady_clock::now();
  auto r = Call(io, c, {"BLPOP", "q", "0"}, 100ms);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_LT(took, 2s);
  r = Call(io, c, {"INCR", "x"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->integer, 7);
}

TEST(RespClientFake, PipelinedRepliesMatchInOrder) {
  FakeServer server([&](int fd) {
    ReadCommands(fd, 3);
    // Three replies in one write, split oddly.
    WriteAll(fd, "$1\r\na\r\n$1\r");
    std::this_thread::sleep_for(20ms);
    WriteAll(fd, "\nb\r\n$1\r\nc\r\n");
    ReadCommands(fd, 1);
  });
  asio::io_context io;
  RespClient c(io, "127.0.0.1", server.port());
  std::vector<std::string> got(3, std::string());
  int done = 0;
  std::vector<std::function<asio::awaitable<void>()>> fns;
  for (int i = 0; i < 3; ++i) {
    fns.push_back([&, i]() -> asio::awaitable<void> {
      std::vector<std::string> args{"GET", std::to_string(i)};  // (GCC 12: no init-lists in co_await)
      auto r = co_await c.Command(std::move(args), 2s);
      got[i] = r.ok() ? r->str : r.status().ToString();
      ++done;
    });
  }
  for (auto& f : fns) asio::co_spawn(io, f(), asio::detached);
  while (done < 3 && io.run_one_for(5s)) {
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(RespClientFake, RefusedConnectionFailsFastWithBackoff) {
  uint16_t port = FreePort();  // nothing listens
  asio::io_context io;
  RespClient c(io, "127.0.0.1", port);
  auto r = Call(io, c, {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  auto r2 = Call(io, c, {"PING"});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("next try in"), std::string::npos) << r2.status().ToString();
}

// ---------------------------------------------------------------------------------------------
// Against a real redis-server.

TEST(RespClientRedis, CommandsPipeliningAndErrors) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start());
  asio::io_context io;
  RespClient c(io, "127.0.0.1", redis.port());
  auto r = Call(io, c, {"SET", "k", std::string("v\r\n\0x", 5)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type, RespValue::kStatus);
  r = Call(io, c, {"GET", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, std::string("v\r\n\0x", 5));
  r = Call(io, c, {"GET", "missing"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_nil());
  r = Call(io, c, {"HSET", "h", "f", "1"});
  ASSERT_TRUE(r.ok());
  r = Call(io, c, {"GET", "h"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());
  EXPECT_NE(r->str.find("WRONGTYPE"), std::string::npos);
  r = Call(io, c, {"NOSUCHCOMMAND"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());

  // 200 concurrent commands on one connection, from two threads.
  std::atomic<int> ok{0}, done{0};
  std::vector<std::function<asio::awaitable<void>()>> fns;
  for (int i = 0; i < 200; ++i) {
    fns.push_back([&, i]() -> asio::awaitable<void> {
      std::vector<std::string> a1{"INCRBY", "counter", std::to_string(i)};
      std::vector<std::string> a2{"ECHO", "e" + std::to_string(i)};
      auto s = co_await c.Command(std::move(a1), 5s);
      auto g = co_await c.Command(std::move(a2), 5s);
      if (s.ok() && s->type == RespValue::kInteger && g.ok() && g->str == "e" + std::to_string(i)) ++ok;
      ++done;
    });
  }
  for (auto& f : fns) asio::co_spawn(io, f(), asio::detached);
  io.restart();
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  for (int i = 0; i < 500 && done < 200; ++i) std::this_thread::sleep_for(10ms);
  guard.reset();
  c.Close();
  t.join();
  EXPECT_EQ(ok.load(), 200);
  auto total = RespCommandSync(redis.url(), {"GET", "counter"});
  ASSERT_TRUE(total.ok()) << total.status().ToString();
  EXPECT_EQ(total->str, std::to_string(199 * 200 / 2));
  redis.Cleanup();
}

TEST(RespClientRedis, AuthSelectAndReconnect) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--requirepass", "s3cret"}));
  std::string base = "redis://:s3cret@127.0.0.1:" + std::to_string(redis.port());
  ASSERT_TRUE(RespCommandSync(base + "/3", {"SET", "where", "db3"}).ok());
  auto r = RespCommandSync(base + "/3", {"GET", "where"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, "db3");
  r = RespCommandSync(base + "/0", {"GET", "where"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_nil());
  r = RespCommandSync("redis://:wrong@127.0.0.1:" + std::to_string(redis.port()), {"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();
  r = RespCommandSync(redis.url(), {"GET", "where"});  // no password
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());  // NOAUTH

  // Restart the server: the client reports the loss, then reconnects on its own.
  asio::io_context io;
  RespClient c(io, "127.0.0.1", redis.port(), "s3cret", 3);
  r = Call(io, c, {"GET", "where"});
  ASSERT_TRUE(r.ok());
  uint16_t port = redis.port();
  redis.Stop();
  r = Call(io, c, {"GET", "where"});
  EXPECT_FALSE(r.ok());
  ASSERT_TRUE(redis.Start({"--requirepass", "s3cret"}, port));
  bool back = false;
  for (int i = 0; i < 60 && !back; ++i) {
    r = Call(io, c, {"PING"});
    back = r.ok() && r->str == "PONG";
    if (!back) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(back) << r.status().ToString();
  redis.Cleanup();
}

}  // namespace
}  // namespace hakone
