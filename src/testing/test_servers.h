// Helpers for unit tests that need a real server process: free loopback ports and a real
// redis-server in a temporary directory. Linked into every hakone_test binary (test-only
// library hakone_testing; never into the hakone executable).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hakone::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
uint16_t FreePort();

// true once something accepts TCP connections on 127.0.0.1:port, polling up to timeout_ms.
bool WaitForTcpPort(uint16_t port, int timeout_ms = 5000);

// A real redis-server (/usr/bin/redis-server) on a loopback port, no persistence, in a
// temporary directory; SIGKILLed (and the directory removed) by the destructor, and killed by
// the kernel if the test process dies (PR_SET_PDEATHSIG).
class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer() { Cleanup(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server with `extra` arguments appended, on `port` (0: a free one; pass the old
  // port() to restart on the same address). Returns false if it did not accept connections
  // within 5 s. Keeps the same directory across Stop()/Start().
  bool Start(std::vector<std::string> extra = {}, uint16_t port = 0);
  // SIGKILLs the server (its data directory stays until Cleanup()).
  void Stop();
  void Cleanup();
  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string dir_;
};

}  // namespace hakone::testing
