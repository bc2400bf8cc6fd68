// Helpers for the sessions integration tests (header-only, included by sessions_*_test.cc): a
// blocking RESP connection that returns raw reply bytes, and launchers for redis-server and
// `hakone sessions` on free loopback ports.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/resp_client.h"
#include "process_util.h"

namespace hakone::testing {

class RespConn {
 public:
  explicit RespConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RespConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool SendRaw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads `n` complete replies; returns each reply's raw bytes ("" entries on timeout/close).
  std::vector<std::string> ReadReplies(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::vector<std::string> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      RespValue v;
      auto r = ParseRespReply(buf_, &v);
      if (r.ok() && *r > 0) {
        out.push_back(buf_.substr(0, *r));
        buf_.erase(0, *r);
        continue;
      }
      if (!r.ok()) {
        out.push_back("<corrupt:" + buf_ + ">");
        buf_.clear();
        continue;
      }
      if (!Fill(deadline)) {
        while (out.size() < n) out.push_back("");
      }
    }
    return out;
  }
  std::string Command(const std::vector<std::string>& args) {
    SendRaw(EncodeRespCommand(args));
    return ReadReplies(1)[0];
  }
  // True when the peer closed the connection (after reading what is left).
  bool Closed(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      if (ms <= 0) return false;
      if (::poll(&p, 1, ms) <= 0) return false;
      char b[4096];
      ssize_t r = ::recv(fd_, b, sizeof(b), 0);
      if (r <= 0) return true;
      buf_.append(b, static_cast<size_t>(r));
    }
  }
  std::string& pending() { return buf_; }

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    pollfd p{fd_, POLLIN, 0};
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) return false;
    if (::poll(&p, 1, ms) <= 0) return false;
    char b[65536];
    ssize_t r = ::recv(fd_, b, sizeof(b), 0);
    if (r <= 0) return false;
    buf_.append(b, static_cast<size_t>(r));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// redis-server on a free port with its files in `dir` (no persistence unless args say so).
inline std::unique_ptr<Process> StartRedis(const std::string& dir, int port, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--dir", dir,
                                   "--save", "", "--appendonly", "no", "--protected-mode", "yes"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<Process>(argv, dir + "/redis-" + std::to_string(port) + ".log");
  WaitForPort(port);
  return p;
}

// `hakone sessions` on `port` with data in `dir` (extra flags appended).
inline std::unique_ptr<Process> StartSessions(const std::string& dir, int port, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {HAKONE_BINARY, "sessions", "--listen", "127.0.0.1:" + std::to_string(port),
                                   "--data-dir", dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<Process>(argv, dir + "/sessions-" + std::to_string(port) + ".log");
  WaitForPort(port);
  return p;
}

}  // namespace hakone::testing
