// In-process tests of the reverse proxy against a raw scripted upstream (blocking sockets, one
// thread per connection) that records the exact bytes it receives.
#include "gateway/proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "core/metrics.h"

namespace hakone::gateway {
namespace {

using namespace std::chrono_literals;

const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// ------------------------------------------------------------------------------------------
// Minimal, independent HTTP framing helpers for the test side.

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Value of the first header `name` in `head` (case-insensitive), or nullopt.
std::optional<std::string> HeaderOf(const std::string& head, const std::string& name) {
  std::string lh = Lower(head);
  std::string key = "\r\n" + Lower(name) + ":";
  size_t p = lh.find(key);
  if (p == std::string::npos) return std::nullopt;
  size_t v = p + key.size();
  size_t e = head.find("\r\n", v);
  std::string val = head.substr(v, e - v);
  while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.erase(0, 1);
  while (!val.empty() && (val.back() == ' ' || val.back() == '\t')) val.pop_back();
  return val;
}

// Given buf holding a chunked body from `pos`, returns the end of the body or npos if incomplete.
size_t ChunkedEnd(const std::string& buf, size_t pos) {
  for (;;) {
    size_t le = buf.find("\r\n", pos);
    if (le == std::string::npos) return std::string::npos;
    size_t size = std::strtoull(buf.substr(pos, le - pos).c_str(), nullptr, 16);
    pos = le + 2;
    if (size == 0) {
      for (;;) {  // trailers until an empty line
        size_t te = buf.find("\r\n", pos);
        if (te == std::string::npos) return std::string::npos;
        if (te == pos) return pos + 2;
        pos = te + 2;
      }
    }
    if (buf.size() < pos + size + 2) return std::string::npos;
    pos += size + 2;
  }
}

// Decodes a complete chunked body.
std::string Dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t le = body.find("\r\n", pos);
    size_t size = std::strtoull(body.substr(pos, le - pos).c_str(), nullptr, 16);
    pos = le + 2;
    if (size == 0) return out;
    out += body.substr(pos, size);
    pos += size + 2;
  }
}

bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void SetTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = t.count() / 1000;
  tv.tv_usec = (t.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Reads more bytes into buf; false on EOF, error or timeout.
bool RecvMore(int fd, std::string& buf) {
  char tmp[65536];
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// ------------------------------------------------------------------------------------------
// A scripted raw upstream.

class TestUpstream;

struct UpConn {
  int fd = -1;
  TestUpstream* server = nullptr;
  std::string buf;
  int served = 0;  // requests read on this connection

  // Reads one request (head and body, CL or chunked) and records its raw bytes.
  bool ReadRequest(std::string* raw);
  // Reads up to and including the blank line.
  bool ReadHead(std::string* head) {
    for (;;) {
      size_t e = buf.find("\r\n\r\n");
      if (e != std::string::npos) {
        *head = buf.substr(0, e + 4);
        buf.erase(0, e + 4);
        return true;
      }
      if (!RecvMore(fd, buf)) return false;
    }
  }
  bool ReadN(size_t n, std::string* out) {
    while (buf.size() < n) {
      if (!RecvMore(fd, buf)) return false;
    }
    *out = buf.substr(0, n);
    buf.erase(0, n);
    return true;
  }
  bool Send(std::string_view s) { return SendAll(fd, s); }
};

class TestUpstream {
 public:
  using Handler = std::function<void(UpConn&)>;

  explicit TestUpstream(Handler h) : handler_(std::move(h)) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(lfd_, 128), 0);
    socklen_t len = sizeof a;
    getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TestUpstream() {
    stop_ = true;
    ::shutdown(lfd_, SHUT_RDWR);
    accept_thread_.join();
    ::close(lfd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  void AddRequest(std::string r) {
    std::lock_guard lk(mu_);
    requests_.push_back(std::move(r));
    cv_.notify_all();
  }
  bool WaitRequests(size_t n, std::chrono::milliseconds t = 5s) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, t, [&] { return requests_.size() >= n; });
  }

  // A handler answering every request with `respond(raw_request)`; closes after a response
  // carrying "Connection: close".
  static Handler Responder(std::function<std::string(const std::string&)> respond) {
    return [respond](UpConn& c) {
      std::string req;
      while (c.ReadRequest(&req)) {
        std::string resp = respond(req);
        if (!c.Send(resp)) return;
        if (Lower(resp.substr(0, resp.find("\r\n\r\n"))).find("connection: close") != std::string::npos) return;
      }
    };
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      int fd = ::accept(lfd_, nullptr, nullptr);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      accepted_++;
      SetTimeout(fd, 10s);
      std::lock_guard lk(mu_);
      open_fds_.push_back(fd);
      threads_.emplace_back([this, fd] {
        UpConn c;
        c.fd = fd;
        c.server = this;
        handler_(c);
        std::lock_guard lk2(mu_);
        open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
        ::close(fd);
      });
    }
  }

  Handler handler_;
  int lfd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::vector<std::string> requests_;
};

bool UpConn::ReadRequest(std::string* raw) {
  std::string head;
  if (!ReadHead(&head)) return false;
  std::string body;
  if (auto cl = HeaderOf(head, "content-length")) {
    if (!ReadN(std::stoull(*cl), &body)) return false;
  } else if (auto te = HeaderOf(head, "transfer-encoding"); te && Lower(*te) == "chunked") {
    for (;;) {
      size_t e = ChunkedEnd(buf, 0);
      if (e != std::string::npos) {
        body = buf.substr(0, e);
        buf.erase(0, e);
        break;
      }
      if (!RecvMore(fd, buf)) return false;
    }
  }
  *raw = head + body;
  ++served;
  server->AddRequest(*raw);
  return true;
}

std::string Ok(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" +
         std::string(body);
}

// ------------------------------------------------------------------------------------------
// A raw client.

class Client {
 public:
  explicit Client(uint16_t port, std::chrono::milliseconds timeout = 5s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SetTimeout(fd_, timeout);
  }
  ~Client() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool Send(std::string_view s) { return SendAll(fd_, s); }
  void SetRecvTimeout(std::chrono::milliseconds t) { SetTimeout(fd_, t); }

  // Reads exactly one response (an interim 1xx counts as one). Empty on EOF/timeout before it is
  // complete (what was read stays in partial()).
  std::string ReadResponse(bool head_request = false) {
    for (;;) {
      size_t he = buf_.find("\r\n\r\n");
      if (he != std::string::npos) {
        std::string head = buf_.substr(0, he + 4);
        int status = std::atoi(head.c_str() + 9);
        size_t end = std::string::npos;
        if (status < 200 || status == 204 || status == 304 || head_request) {
          end = he + 4;
        } else if (auto cl = HeaderOf(head, "content-length")) {
          size_t n = std::stoull(*cl);
          if (buf_.size() >= he + 4 + n) end = he + 4 + n;
        } else if (auto te = HeaderOf(head, "transfer-encoding"); te && Lower(*te).find("chunked") != std::string::npos) {
          end = ChunkedEnd(buf_, he + 4);
        } else {
          // until close
          while (RecvMore(fd_, buf_)) {
          }
          std::string r = buf_;
          buf_.clear();
          return r;
        }
        if (end != std::string::npos) {
          std::string r = buf_.substr(0, end);
          buf_.erase(0, end);
          return r;
        }
      }
      if (!RecvMore(fd_, buf_)) return "";
    }
  }
  // Reads until EOF (or timeout); returns everything not yet consumed.
  std::string ReadToEnd() {
    while (RecvMore(fd_, buf_)) {
    }
    std::string r = buf_;
    buf_.clear();
    return r;
  }
  // True if the peer closed (EOF) within the timeout.
  bool WaitClosed(std::chrono::milliseconds t = 3s) {
    pollfd p{fd_, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::poll(&p, 1, 50) > 0) {
        char c[4096];
        ssize_t n = ::recv(fd_, c, sizeof c, MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0 && errno != EAGAIN) return true;
        if (n > 0) buf_.append(c, static_cast<size_t>(n));
      }
    }
    return false;
  }
  const std::string& partial() const { return buf_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

// ------------------------------------------------------------------------------------------
// Recorder double.

class TestRecorder : public Recorder {
 public:
  enum class Durable { kImmediate, kManual, kFail };
  RecordPolicy policy;
  bool strict_mode = false;
  Durable durable = Durable::kImmediate;
  std::atomic<int> policy_calls{0};

  RecordPolicy Policy(const RequestRecord& rec) override {
    policy_calls++;
    return policy;
  }
  void Record(RequestRecord&& rec, std::function<void(Status)> d) override {
    EXPECT_EQ(d != nullptr, strict_mode);
    {
      std::lock_guard lk(mu_);
      records_.push_back(std::move(rec));
      if (d && durable == Durable::kManual) pending_.push_back(std::move(d));
    }
    cv_.notify_all();
    if (d && durable == Durable::kImmediate) d(Status::Ok());
    if (d && durable == Durable::kFail) d(Status::IOError("disk on fire"));
  }
  bool strict() const override { return strict_mode; }

  // Waits for the n-th record (0-based).
  std::optional<RequestRecord> Get(size_t i, std::chrono::milliseconds t = 5s) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, t, [&] { return records_.size() > i; })) return std::nullopt;
    return records_[i];
  }
  size_t count() {
    std::lock_guard lk(mu_);
    return records_.size();
  }
  // Completes the i-th pending durable callback.
  bool Complete(size_t i, Status st = Status::Ok()) {
    std::function<void(Status)> d;
    {
      std::unique_lock lk(mu_);
      if (!cv_.wait_for(lk, 5s, [&] { return pending_.size() > i; })) return false;
      d = pending_[i];
    }
    d(st);
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RequestRecord> records_;
  std::vector<std::function<void(Status)>> pending_;
};

// ------------------------------------------------------------------------------------------
// Proxy harness: the proxy on its own io thread(s).

class Harness {
 public:
  Harness(ProxyOptions opts, Recorder* rec, int threads = 1) : io_(threads), guard_(io_.get_executor()) {
    opts.listen = "127.0.0.1:0";
    proxy_ = std::make_unique<Proxy>(io_, std::move(opts), rec);
    Status st = proxy_->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Harness() {
    proxy_->Stop();
    for (int i = 0; i < 200 && proxy_->active_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    proxy_.reset();
  }
  uint16_t port() const { return proxy_->local_endpoint().port(); }
  Proxy& proxy() { return *proxy_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::unique_ptr<Proxy> proxy_;
  std::vector<std::thread> threads_;
};

ProxyOptions Opts(std::vector<std::string> ups) {
  ProxyOptions o;
  o.upstreams = std::move(ups);
  return o;
}

// What the upstream must receive for a client head `head` (ending in CRLF CRLF) and body.
std::string Forwarded(const std::string& head, const std::string& body, const std::string& host,
                      const std::string& request_id = "", const std::string& xff = "127.0.0.1") {
  std::string s = head.substr(0, head.size() - 2);
  s += "X-Forwarded-For: " + xff + "\r\nX-Forwarded-Proto: http\r\n";
  if (!host.empty()) s += "X-Forwarded-Host: " + host + "\r\n";
  if (!request_id.empty()) s += "X-Request-Id: " + request_id + "\r\n";
  return s + "\r\n" + body;
}

bool IsHex32(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

uint16_t DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// ------------------------------------------------------------------------------------------

TEST(Proxy, ByteExactGet) {
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Odd:   spaced  \r\nset-cookie: a=b\r\n\r\nhello";
  TestUpstream up(TestUpstream::Responder([&](const std::string&) { return resp; }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  const std::string head =
      "GET /a/b?c=d%20e HTTP/1.1\r\nHost: example.com\r\nuser-agent:  curl/8  \r\nX-Request-Id: abc-123\r\nAccept: */*\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  EXPECT_EQ(c.ReadResponse(), resp);
  ASSERT_TRUE(up.WaitRequests(1));
  EXPECT_EQ(up.requests()[0], Forwarded(head, "", "example.com"));

  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->target, "/a/b?c=d%20e");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->request_id, "abc-123");
  EXPECT_EQ(r->peer_ip, "127.0.0.1");
  EXPECT_EQ(r->Header("User-Agent"), "curl/8");
  EXPECT_EQ(r->bytes_out, 5u);
  EXPECT_EQ(r->upstream, "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_TRUE(r->error.empty());
  EXPECT_GT(r->total_ms, 0);
  EXPECT_GE(r->total_ms, r->upstream_ms);
}

TEST(Proxy, ByteExactMethodsWithBodies) {
  TestUpstream up(TestUpstream::Responder([](const std::string& req) {
    return "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
  }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  struct Case {
    std::string method, body;
  };
  std::vector<Case> cases = {{"POST", "{\"name\":\"x\",\"password\":\"p\"}"}, {"PUT", std::string(3000, 'u')}, {"DELETE", ""}, {"PATCH", "a=1&b=2"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& cs = cases[i];
    std::string head = cs.method + " /items/" + std::to_string(i) + " HTTP/1.1\r\nHost: api.local:8080\r\nContent-Type: application/json\r\n";
    if (!cs.body.empty() || cs.method != "DELETE") head += "Content-Length: " + std::to_string(cs.body.size()) + "\r\n";
    head += "\r\n";
    ASSERT_TRUE(c.Send(head + cs.body));
    EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
    ASSERT_TRUE(up.WaitRequests(i + 1));
    std::string got = up.requests()[i];
    // The proxy generated an X-Request-Id: take it from what the upstream saw.
    auto id = HeaderOf(got.substr(0, got.find("\r\n\r\n") + 2), "x-request-id");
    ASSERT_TRUE(id);
    EXPECT_TRUE(IsHex32(*id)) << *id;
    EXPECT_EQ(got, Forwarded(head, cs.body, "api.local:8080", *id));
    auto r = rec.Get(i);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->request_id, *id);
    EXPECT_EQ(r->method, cs.method);
    EXPECT_EQ(r->bytes_in, cs.body.size());
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->content_type, "application/json");
  }
  EXPECT_EQ(up.accepted(), 1);  // one pooled upstream connection for all four
}

TEST(Proxy, ForwardedHeadersReplacedAndAppended) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
  Harness h(Opts({up.url()}), nullptr);
  Client c(h.port());
  std::string head =
      "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nx-forwarded-for: 10.0.0.2\r\n"
      "X-Forwarded-Host: evil\r\nX-Request-Id: rid\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  EXPECT_EQ(c.ReadResponse(), Ok("x"));
  ASSERT_TRUE(up.WaitRequests(1));
  std::string expect_head = "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: rid\r\n\r\n";
  EXPECT_EQ(up.requests()[0], Forwarded(expect_head, "", "h", "", "10.0.0.1, 10.0.0.2, 127.0.0.1"));
}

TEST(Proxy, ChunkedRequestAndResponse) {
  const std::string resp_body = "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n";
  const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + resp_body;
  TestUpstream up(TestUpstream::Responder([&](const std::string&) { return resp; }));
  TestRecorder rec;
  rec.policy.capture_limit = 1000;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  const std::string head = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body = "3\r\nabc\r\n10;name=\"v\"\r\n0123456789abcdef\r\n0\r\nDigest: x\r\n\r\n";
  // Send in awkward pieces so that framing straddles reads.
  ASSERT_TRUE(c.Send(head + body.substr(0, 5)));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(c.Send(body.substr(5, 20)));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(c.Send(body.substr(25)));
  EXPECT_EQ(c.ReadResponse(), resp);
  ASSERT_TRUE(up.WaitRequests(1));
  std::string got = up.requests()[0];
  auto id = HeaderOf(got.substr(0, got.find("\r\n\r\n") + 2), "x-request-id");
  ASSERT_TRUE(id);
  EXPECT_EQ(got, Forwarded(head, body, "h", *id));
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body_prefix, "abc0123456789abcdef");  // decoded payload, not framing
  EXPECT_FALSE(r->body_truncated);
  EXPECT_EQ(r->bytes_in, 19u);
  EXPECT_EQ(r->bytes_out, Dechunk(resp_body).size());

  // Keep-alive continues after a chunked exchange.
  ASSERT_TRUE(c.Send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), resp);
}

TEST(Proxy, BodyCapturePrefixAndTruncation) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("ok"); }));
  TestRecorder rec;
  rec.policy.capture_limit = 10;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  std::string body = "0123456789ABCDEFGHIJKLMNOPQRST";
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n" + body));
  EXPECT_EQ(c.ReadResponse(), Ok("ok"));
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body_prefix, "0123456789");
  EXPECT_TRUE(r->body_truncated);
  EXPECT_EQ(r->bytes_in, 30u);
  // Exactly the limit: not truncated.
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n" + body.substr(0, 10)));
  EXPECT_EQ(c.ReadResponse(), Ok("ok"));
  r = rec.Get(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body_prefix, "0123456789");
  EXPECT_FALSE(r->body_truncated);
  // Policy record=false: nothing recorded.
  rec.policy.record = false;
  ASSERT_TRUE(c.Send("GET /static/app.js HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("ok"));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.count(), 2u);
}

TEST(Proxy, LargeUploadIsStreamed) {
  const size_t kSize = 10 << 20;
  std::atomic<size_t> upstream_body_seen{0};
  std::string got_body;
  TestUpstream up([&](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    size_t n = std::stoull(*HeaderOf(head, "content-length"));
    std::string body;
    body.reserve(n);
    body += c.buf;
    c.buf.clear();
    upstream_body_seen = body.size();
    while (body.size() < n) {
      if (!RecvMore(c.fd, body)) return;
      upstream_body_seen = body.size();
    }
    got_body = std::move(body);
    c.Send(Ok(std::to_string(got_body.size())));
  });
  TestRecorder rec;
  rec.policy.capture_limit = 64;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port(), 10s);
  std::string body(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) body[i] = static_cast<char>('a' + (i * 7919) % 26);
  ASSERT_TRUE(c.Send("PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n"));
  // First half, then wait until the upstream has seen most of it: a proxy that buffered the
  // whole body before forwarding would never get there.
  ASSERT_TRUE(c.Send(std::string_view(body).substr(0, kSize / 2)));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (upstream_body_seen < kSize / 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_GE(upstream_body_seen.load(), kSize / 4);
  ASSERT_TRUE(c.Send(std::string_view(body).substr(kSize / 2)));
  EXPECT_EQ(c.ReadResponse(), Ok(std::to_string(kSize)));
  EXPECT_TRUE(got_body == body);
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes_in, kSize);
  EXPECT_EQ(r->body_prefix, body.substr(0, 64));
  EXPECT_TRUE(r->body_truncated);
}

TEST(Proxy, LargeChunkedUploadAndDownload) {
  // 4 MB up in 64 KB chunks; 4 MB down chunked; both byte-exact.
  std::string body;
  std::string payload;
  for (int i = 0; i < 64; ++i) {
    std::string chunk(65536, static_cast<char>('A' + i % 26));
    payload += chunk;
    char sz[32];
    std::snprintf(sz, sizeof sz, "%x\r\n", static_cast<unsigned>(chunk.size()));
    body += sz + chunk + "\r\n";
  }
  body += "0\r\n\r\n";
  std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
  TestUpstream up(TestUpstream::Responder([&](const std::string&) { return resp; }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port(), 10s);
  std::string head = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::thread sender([&] { c.Send(head + body); });
  std::string got = c.ReadResponse();
  sender.join();
  EXPECT_TRUE(got == resp) << got.size() << " vs " << resp.size();
  ASSERT_TRUE(up.WaitRequests(1));
  std::string ureq = up.requests()[0];
  EXPECT_TRUE(ureq.size() > body.size() && ureq.substr(ureq.size() - body.size()) == body);
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes_in, payload.size());
  EXPECT_EQ(r->bytes_out, payload.size());
}

TEST(Proxy, ExpectContinue) {
  TestUpstream up([](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    c.Send("HTTP/1.1 100 Continue\r\n\r\n");
    std::string body;
    if (!c.ReadN(std::stoull(*HeaderOf(head, "content-length")), &body)) return;
    c.server->AddRequest(head + body);
    c.Send(Ok("got " + body));
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  const std::string head = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  // The client waits for the 100 Continue relayed from the upstream before sending the body.
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("hello"));
  EXPECT_EQ(c.ReadResponse(), Ok("got hello"));
  ASSERT_TRUE(up.WaitRequests(1));
  std::string got = up.requests()[0];
  auto id = HeaderOf(got.substr(0, got.find("\r\n\r\n") + 2), "x-request-id");
  ASSERT_TRUE(id);
  EXPECT_EQ(got, Forwarded(head, "hello", "h", *id));
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->bytes_in, 5u);
}

TEST(Proxy, KeepAliveAndPipelining) {
  TestUpstream up(TestUpstream::Responder([](const std::string& req) {
    size_t sp = req.find(' ');
    std::string target = req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
    return Ok("you asked for " + target);
  }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  {
    Client c(h.port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.Send("GET /k" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n"));
      EXPECT_EQ(c.ReadResponse(), Ok("you asked for /k" + std::to_string(i)));
    }
    // Pipelined: three requests in one write (one with a body).
    std::string batch = "GET /p0 HTTP/1.1\r\nHost: h\r\n\r\nPOST /p1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                        "GET /p2 HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_TRUE(c.Send(batch));
    EXPECT_EQ(c.ReadResponse(), Ok("you asked for /p0"));
    EXPECT_EQ(c.ReadResponse(), Ok("you asked for /p1"));
    EXPECT_EQ(c.ReadResponse(), Ok("you asked for /p2"));
  }
  EXPECT_EQ(up.accepted(), 1);
  ASSERT_TRUE(up.WaitRequests(6));
  EXPECT_EQ(up.requests()[4].substr(0, 9), "POST /p1 ");
  EXPECT_NE(up.requests()[4].find("\r\n\r\nabc"), std::string::npos);
  // A second client reuses the pooled upstream connection too.
  Client c2(h.port());
  ASSERT_TRUE(c2.Send("GET /again HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c2.ReadResponse(), Ok("you asked for /again"));
  EXPECT_EQ(up.accepted(), 1);
}

TEST(Proxy, ConnectionCloseHonoured) {
  TestUpstream up(TestUpstream::Responder([](const std::string& req) {
    if (req.find("/bye") != std::string::npos) return Ok("bye", "Connection: close\r\n");
    return Ok("hi");
  }));
  Harness h(Opts({up.url()}), nullptr);
  {
    // Client asks to close: forwarded as is, response relayed, then the proxy closes.
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), Ok("hi"));
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // Upstream says close: relayed unchanged, the client connection is closed after it.
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET /bye HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), Ok("bye", "Connection: close\r\n"));
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // HTTP/1.0 without keep-alive.
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), Ok("hi"));
    EXPECT_TRUE(c.WaitClosed());
  }
}

TEST(Proxy, NoBodyResponsesAndUntilClose) {
  TestUpstream up([](UpConn& c) {
    std::string req;
    while (c.ReadRequest(&req)) {
      if (req.rfind("HEAD", 0) == 0) {
        c.Send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
      } else if (req.find("/204") != std::string::npos) {
        c.Send("HTTP/1.1 204 No Content\r\n\r\n");
      } else if (req.find("/304") != std::string::npos) {
        c.Send("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
      } else if (req.find("/old") != std::string::npos) {
        c.Send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
        return;  // close delimits the body
      } else {
        c.Send(Ok("plain"));
      }
    }
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(true), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  ASSERT_TRUE(c.Send("GET /204 HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_TRUE(c.Send("GET /304 HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("plain"));
  ASSERT_TRUE(c.Send("GET /old HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadToEnd(), "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  auto r = rec.Get(4);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes_out, 13u);
  EXPECT_EQ(rec.Get(0)->bytes_out, 0u);
}

TEST(Proxy, WebSocketUpgrade) {
  TestUpstream up([](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    c.server->AddRequest(head);
    // 101 and a first frame in the same write.
    c.Send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello-from-upstream");
    // Echo until the client closes.
    for (;;) {
      std::string data;
      if (!c.buf.empty()) {
        data.swap(c.buf);
      } else if (!RecvMore(c.fd, data)) {
        return;
      }
      if (!c.Send("echo:" + data)) return;
    }
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  std::string head = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_TRUE(c.Send(head));
  std::string r101 = c.ReadResponse();
  EXPECT_EQ(r101, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  std::string got = c.partial();
  while (got.size() < 19) {
    std::string more;
    ASSERT_TRUE(RecvMore(c.fd(), more));
    got += more;
  }
  EXPECT_EQ(got, "hello-from-upstream");
  ASSERT_TRUE(c.Send("ping\x01\x02"));
  std::string echo;
  while (echo.size() < 11) ASSERT_TRUE(RecvMore(c.fd(), echo));
  EXPECT_EQ(echo, "echo:ping\x01\x02");
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->websocket);
  EXPECT_EQ(r->status, 101);
  c.Close();
  for (int i = 0; i < 200 && h.proxy().active_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h.proxy().active_connections(), 0u);
}

TEST(Proxy, UpstreamDownGives502) {
  TestRecorder rec;
  ProxyOptions o = Opts({"http://127.0.0.1:" + std::to_string(DeadPort())});
  Harness h(o, &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(r.substr(0, 25), "HTTP/1.1 502 Bad Gateway\r");
  EXPECT_NE(r.find("upstream refused"), std::string::npos);
  auto rr = rec.Get(0);
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->status, 502);
  EXPECT_EQ(rr->error, "upstream refused");
  // The body was complete: the connection stays usable.
  ASSERT_TRUE(c.Send("GET /y HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().substr(0, 12), "HTTP/1.1 502");
}

TEST(Proxy, SlowUpstreamGives504) {
  TestUpstream up([](UpConn& c) {
    std::string req;
    if (!c.ReadRequest(&req)) return;
    std::this_thread::sleep_for(1500ms);
    c.Send(Ok("late"));
  });
  TestRecorder rec;
  ProxyOptions o = Opts({up.url()});
  o.header_timeout = 300ms;
  Harness h(o, &rec);
  Client c(h.port());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string r = c.ReadResponse();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.substr(0, 28), "HTTP/1.1 504 Gateway Timeout");
  EXPECT_LT(took, 1400ms);
  EXPECT_GE(took, 250ms);
  auto rr = rec.Get(0);
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->status, 504);
  EXPECT_EQ(rr->error, "upstream timeout");
}

TEST(Proxy, ConnectTimeoutGives502) {
  // A listener with a full backlog that never accepts: connects hang (SYNs dropped).
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fillers;  // non-blocking connects that fill the accept queue
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
  TestRecorder rec;
  ProxyOptions o = Opts({"http://127.0.0.1:" + std::to_string(ntohs(a.sin_port))});
  o.connect_timeout = 300ms;
  Harness h(o, &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 502");
  auto rr = rec.Get(0);
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->error, "upstream connect timeout");
  for (int fd : fillers) ::close(fd);
  ::close(lfd);
}

TEST(Proxy, RoundRobinAndPassiveHealth) {
  TestUpstream a(TestUpstream::Responder([](const std::string&) { return Ok("A"); }));
  TestUpstream b(TestUpstream::Responder([](const std::string&) { return Ok("B"); }));
  {
    Harness h(Opts({a.url(), b.url()}), nullptr);
    std::string seen;
    for (int i = 0; i < 6; ++i) {
      Client c(h.port());
      ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
      std::string r = c.ReadResponse();
      seen += r.back();
    }
    EXPECT_TRUE(seen == "ABABAB" || seen == "BABABA") << seen;
  }
  // One dead upstream: every request still succeeds (connect failures move on to the next), and
  // after max_fails the dead one is skipped without being tried.
  uint16_t dead = DeadPort();
  ProxyOptions o = Opts({"http://127.0.0.1:" + std::to_string(dead), a.url()});
  o.max_fails = 2;
  o.fail_timeout = 30s;
  Harness h(o, nullptr);
  for (int i = 0; i < 10; ++i) {
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), Ok("A"));
  }
  auto* fam = metrics::Registry::Global().AddCounter("hakone_gateway_upstream_errors_total", "", {"upstream", "kind"});
  EXPECT_EQ(fam->WithLabels({"127.0.0.1:" + std::to_string(dead), "refused"})->Value(), 2u);
}

TEST(Proxy, StalePooledConnectionIsRetried) {
  // The upstream drops a keep-alive connection when the second request arrives on it, without
  // answering: the proxy retries on a fresh connection.
  TestUpstream up([](UpConn& c) {
    std::string req;
    while (c.ReadRequest(&req)) {
      if (c.served == 2) return;
      c.Send(Ok("fresh"));
    }
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("fresh"));
  ASSERT_TRUE(c.Send("POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"));
  EXPECT_EQ(c.ReadResponse(), Ok("fresh"));
  EXPECT_EQ(up.accepted(), 2);
  ASSERT_TRUE(up.WaitRequests(3));
  EXPECT_EQ(up.requests()[1], up.requests()[2]);  // the same bytes resent
  EXPECT_TRUE(rec.Get(1)->error.empty());
}

TEST(Proxy, MalformedRequests) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  struct Case {
    std::string req;
    int status;
    std::string error_part;
  };
  std::vector<Case> cases = {
      {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "empty request target"},
      {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "whitespace before colon"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, "obsolete line folding"},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "conflicting Content-Length"},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n", 400, "bad chunked body"},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer coding"},
      {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "version"},
      {"GET / HTTP/1.1\r\n\r\n", 400, "missing Host"},
      {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bare LF"},
      {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, "CONNECT"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& cs = cases[i];
    Client c(h.port());
    ASSERT_TRUE(c.Send(cs.req));
    std::string r = c.ReadResponse();
    EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 " + std::to_string(cs.status)) << cs.req;
    EXPECT_NE(r.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(c.WaitClosed()) << cs.req;
    auto rr = rec.Get(i);
    ASSERT_TRUE(rr) << cs.req;
    EXPECT_EQ(rr->status, cs.status);
    EXPECT_NE(rr->error.find(cs.error_part), std::string::npos) << rr->error;
  }
  EXPECT_EQ(up.accepted(), 0);  // nothing malformed reached the upstream
}

TEST(Proxy, HeaderTooLarge431) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
  TestRecorder rec;
  ProxyOptions o = Opts({up.url()});
  o.max_header_bytes = 2048;
  Harness h(o, &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(4000, 'c') + "\r\n\r\n"));
  std::string r = c.ReadResponse();
  EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 431");
  EXPECT_EQ(rec.Get(0)->status, 431);
  // Just under the limit works.
  Client c2(h.port());
  ASSERT_TRUE(c2.Send("GET / HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(1900, 'c') + "\r\n\r\n"));
  EXPECT_EQ(c2.ReadResponse(), Ok("x"));
}

TEST(Proxy, BodyTooLarge413) {
  TestUpstream up([](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    c.server->AddRequest(head);
    std::string sink;
    while (RecvMore(c.fd, sink)) {  // read what comes, never answer
    }
  });
  TestRecorder rec;
  ProxyOptions o = Opts({up.url()});
  o.max_body = 1000;
  Harness h(o, &rec);
  {
    Client c(h.port());
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse().substr(0, 12), "HTTP/1.1 413");
    EXPECT_TRUE(c.WaitClosed());
    EXPECT_EQ(rec.Get(0)->status, 413);
  }
  EXPECT_EQ(up.accepted(), 0);
  {
    // Chunked: the limit is found while streaming; the upstream connection is dropped and the
    // client gets 413 and a close.
    Client c(h.port());
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + std::string(100, 'x') + "\r\n"));
    ASSERT_TRUE(up.WaitRequests(1));
    std::string chunk = "3e8\r\n" + std::string(1000, 'y') + "\r\n";
    c.Send(chunk);
    EXPECT_EQ(c.ReadResponse().substr(0, 12), "HTTP/1.1 413");
    EXPECT_TRUE(c.WaitClosed());
    auto r = rec.Get(1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
  }
}

TEST(Proxy, StrictModeHoldsFinalBytesUntilDurable) {
  TestUpstream up([](UpConn& c) {
    std::string req;
    while (c.ReadRequest(&req)) {
      if (req.find("/chunked") != std::string::npos) {
        c.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        std::this_thread::sleep_for(50ms);
        c.Send("0\r\n\r\n");
      } else {
        c.Send(Ok("strict"));
      }
    }
  });
  TestRecorder rec;
  rec.strict_mode = true;
  rec.durable = TestRecorder::Durable::kManual;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(rec.Get(0));  // recorded before the response is released
  c.SetRecvTimeout(300ms);
  EXPECT_EQ(c.ReadResponse(), "");  // nothing complete yet
  EXPECT_LT(c.partial().size(), Ok("strict").size());
  ASSERT_TRUE(rec.Complete(0));
  c.SetRecvTimeout(5s);
  EXPECT_EQ(c.ReadResponse(), Ok("strict"));

  // Chunked: the head and first chunk flow, the last chunk waits for durability.
  ASSERT_TRUE(c.Send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(rec.Get(1));
  c.SetRecvTimeout(300ms);
  EXPECT_EQ(c.ReadResponse(), "");
  EXPECT_EQ(c.partial(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  ASSERT_TRUE(rec.Complete(1));
  c.SetRecvTimeout(5s);
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

  // A durability failure: the connection closes without the final bytes.
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(rec.Get(2));
  ASSERT_TRUE(rec.Complete(2, Status::IOError("spool full")));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_LT(c.partial().size(), Ok("strict").size());
}

TEST(Proxy, StrictModeErrorResponsesToo) {
  TestRecorder rec;
  rec.strict_mode = true;
  rec.durable = TestRecorder::Durable::kManual;
  Harness h(Opts({"http://127.0.0.1:" + std::to_string(DeadPort())}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(rec.Get(0));
  c.SetRecvTimeout(200ms);
  EXPECT_EQ(c.ReadResponse(), "");
  EXPECT_TRUE(c.partial().empty());
  ASSERT_TRUE(rec.Complete(0));
  c.SetRecvTimeout(5s);
  EXPECT_EQ(c.ReadResponse().substr(0, 12), "HTTP/1.1 502");
}

TEST(Proxy, ClientDisconnectMidBody) {
  std::atomic<bool> upstream_saw_eof{false};
  TestUpstream up([&](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    std::string sink;
    while (RecvMore(c.fd, sink)) {
    }
    upstream_saw_eof = true;
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  {
    Client c(h.port());
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + std::string(100000, 'z')));
    std::this_thread::sleep_for(100ms);
  }
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, "client closed");
  for (int i = 0; i < 300 && !upstream_saw_eof; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(upstream_saw_eof);  // the upstream connection was discarded
  for (int i = 0; i < 300 && h.proxy().active_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h.proxy().active_connections(), 0u);
}

TEST(Proxy, ClientDisconnectMidResponse) {
  const size_t kBig = 16 << 20;
  TestUpstream up([&](UpConn& c) {
    std::string req;
    while (c.ReadRequest(&req)) {
      if (req.find("/big") != std::string::npos) {
        std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n";
        if (!c.Send(head)) return;
        std::string block(1 << 16, 'b');
        for (size_t sent = 0; sent < kBig; sent += block.size()) {
          if (!c.Send(block)) return;
        }
      } else {
        c.Send(Ok("small"));
      }
    }
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  {
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
    std::string got;
    while (got.size() < 200000) ASSERT_TRUE(RecvMore(c.fd(), got));
  }
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, "client closed");
  EXPECT_EQ(r->status, 200);
  Client c2(h.port());
  ASSERT_TRUE(c2.Send("GET /small HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c2.ReadResponse(), Ok("small"));
}

TEST(Proxy, UpstreamClosesMidResponse) {
  TestUpstream up([](UpConn& c) {
    std::string req;
    if (!c.ReadRequest(&req)) return;
    c.Send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part");
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(c.partial(), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part");
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, "upstream closed");
}

TEST(Proxy, BadUpstreamResponse) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"); }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().substr(0, 12), "HTTP/1.1 502");
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_NE(r->error.find("bad upstream response"), std::string::npos);
}

TEST(Proxy, EarlyResponseDuringUpload) {
  // The upstream answers before reading the body (e.g. it rejects the upload): the response is
  // relayed unchanged, the rest of the body is not waited for, and the connection is closed.
  TestUpstream up([](UpConn& c) {
    std::string head;
    if (!c.ReadHead(&head)) return;
    c.Send("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope");
    std::string sink;
    while (RecvMore(c.fd, sink)) {
    }
  });
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec);
  Client c(h.port());
  ASSERT_TRUE(c.Send("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + std::string(20000, 'x')));
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope");
  EXPECT_TRUE(c.WaitClosed());
  auto r = rec.Get(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->bytes_out, 4u);
}

TEST(Proxy, InterimResponsesRelayed) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) {
    return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + Ok("final");
  }));
  Harness h(Opts({up.url()}), nullptr);
  Client c(h.port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
  EXPECT_EQ(c.ReadResponse(), Ok("final"));
  // HTTP/1.0 clients do not get interim responses.
  Client c10(h.port());
  ASSERT_TRUE(c10.Send("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(c10.ReadResponse(), Ok("final"));
}

TEST(Proxy, IdleAndHeaderTimeouts) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
  ProxyOptions o = Opts({up.url()});
  o.idle_timeout = 300ms;
  o.header_timeout = 300ms;
  Harness h(o, nullptr);
  {
    // Idle keep-alive connection: closed after idle_timeout.
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(c.ReadResponse(), Ok("x"));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.WaitClosed(3s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  }
  {
    // A head that never completes (slowloris): closed after header_timeout.
    Client c(h.port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\nX-Slow: "));
    EXPECT_TRUE(c.WaitClosed(3s));
  }
}

TEST(Proxy, MultipleIoThreads) {
  TestUpstream up(TestUpstream::Responder([](const std::string& req) { return Ok(req.substr(0, req.find(' ', 5))); }));
  TestRecorder rec;
  Harness h(Opts({up.url()}), &rec, 3);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    ts.emplace_back([&, t] {
      Client c(h.port());
      for (int i = 0; i < 50; ++i) {
        std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
        std::string body(static_cast<size_t>(i * 37), 'q');
        if (!c.Send("POST " + target + " HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body)) return;
        if (c.ReadResponse() == Ok("POST " + target)) ok++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 300);
  for (int i = 0; i < 300 && rec.count() < 300; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(rec.count(), 300u);
}

TEST(Proxy, StopClosesIdleConnectionsAndRefusesNew) {
  TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  ProxyOptions o = Opts({up.url()});
  o.listen = "127.0.0.1:0";
  Proxy p(io, o, nullptr);
  ASSERT_TRUE(p.Start().ok());
  std::thread th([&] { io.run(); });
  uint16_t port = p.local_endpoint().port();
  Client c(port);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), Ok("x"));
  EXPECT_EQ(p.active_connections(), 1u);
  p.Stop();
  EXPECT_TRUE(c.WaitClosed());
  for (int i = 0; i < 200 && p.active_connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(p.active_connections(), 0u);
  std::this_thread::sleep_for(50ms);
  Client c2(port);
  EXPECT_FALSE(c2.connected());
  guard.reset();
  th.join();  // io.run() returns: nothing left running
}

TEST(Proxy, StartErrors) {
  asio::io_context io;
  {
    Proxy p(io, Opts({"https://x:1"}), nullptr);
    Status st = p.Start();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("only http://"), std::string::npos);
  }
  {
    Proxy p(io, Opts({}), nullptr);
    EXPECT_FALSE(p.Start().ok());
  }
  {
    TestUpstream up(TestUpstream::Responder([](const std::string&) { return Ok("x"); }));
    ProxyOptions o = Opts({"http://127.0.0.1:1"});
    o.listen = "127.0.0.1:" + std::to_string(up.port());  // taken
    Proxy p(io, o, nullptr);
    Status st = p.Start();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(up.port())), std::string::npos) << st.ToString();
  }
}

}  // namespace
}  // namespace hakone::gateway
