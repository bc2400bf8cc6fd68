// A small asynchronous client for the Redis protocol (RESP2), on Asio C++20 coroutines: enough
// for session look-ups, health checks and tests against Redis or hakone's session server.
//
// One TCP connection per client, pipelined: any number of coroutines may call Command()
// concurrently (from any thread of the io_context); commands are written in call order and
// replies matched in that order. The connection is opened on first use (AUTH and SELECT sent
// first when configured) and reopened after any failure; after a failed connect, commands fail
// fast with Unavailable for a back-off (100 ms doubling to 5 s) instead of each paying a connect
// timeout. A command that times out closes the connection (its reply could otherwise be taken
// for the next command's), so the commands pipelined behind it fail with Unavailable too.
//
// Replies are read by a bounded parser: a malformed reply, a bulk string over 64 MiB, an array
// over 1M elements or nested deeper than 32 fails the pending commands with Corruption and
// drops the connection; nothing in a reply can crash the process.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/status.h"

namespace hakone {

namespace asio = boost::asio;

struct RespValue {
  enum Type { kString, kError, kInteger, kNil, kArray, kStatus };
  Type type = kNil;
  std::string str;                // kString (bulk string), kError and kStatus text
  int64_t integer = 0;            // kInteger
  std::vector<RespValue> array;   // kArray

  bool is_nil() const { return type == kNil; }
  bool is_error() const { return type == kError; }
  // `"OK"`, `(error) ERR x`, `(integer) 3`, `(nil)`, `[a, b]` — for messages and tests.
  std::string DebugString() const;
};

struct RespLimits {
  size_t max_bulk = 64u << 20;     // bytes in one bulk string
  size_t max_array = 1u << 20;     // elements in one array
  int max_depth = 32;              // nesting of arrays
  size_t max_line = 64u << 10;     // bytes in a status/error/integer/length line
};

// Parses one RESP2 reply from the front of `buf`. Returns the number of bytes it took (> 0) and
// fills *out; returns 0 when `buf` holds only the beginning of a reply (read more and call again
// with the longer buffer); returns Corruption, saying what and at which offset, for malformed input
// or input past `limits`. Never throws.
Result<size_t> ParseRespReply(std::string_view buf, RespValue* out, const RespLimits& limits = {});

// The command as a RESP array of bulk strings.
std::string EncodeRespCommand(const std::vector<std::string>& args);

// Parses "redis://[[user]:password@]host[:port][/db]" (host: name, IPv4 or [IPv6]; port default
// 6379; db default 0; the password is percent-decoded) into {host, port, password, db}.
// InvalidArgument for other schemes (rediss:// is not supported), ACL users other than
// "default", a bad port or db, or a query string.
Result<std::tuple<std::string, uint16_t, std::string, int>> ParseRedisUrl(std::string_view url);

class RespClient {
 public:
  // Connects lazily, on the first Command(). `io` must outlive the client.
  RespClient(asio::io_context& io, std::string host, uint16_t port, std::string password = "", int db = 0);
  // Closes the connection; commands still waiting complete with Cancelled.
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Sends one command and waits for its reply, at most `timeout` (connecting included).
  // A Redis error reply is a successful result of type kError. Errors: InvalidArgument (no
  // args), Unavailable (cannot connect, connection lost, in back-off), Timeout, Corruption
  // (malformed reply), PermissionDenied (AUTH refused), ResourceExhausted (over 4096 commands
  // waiting), Cancelled (client closed). Thread safe.
  asio::awaitable<Result<RespValue>> Command(std::vector<std::string> args, std::chrono::milliseconds timeout);

  // Closes the connection now; waiting commands complete with Cancelled; later commands reconnect.
  void Close();

  // "host:port", for messages.
  std::string address() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Runs one command on a private io_context and returns its reply: for tests and the CLI.
Result<RespValue> RespCommandSync(std::string_view url, std::vector<std::string> args,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace hakone
