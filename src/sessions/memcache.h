// The memcached text protocol over the same keyspace (db 0) and tiers as the Redis protocol:
// get gets set add replace append prepend cas delete touch gat gats incr decr version quit.
// Values are Redis strings (memcached flags kept beside them), so a session written by a
// memcached client can be read over RESP and the other way round.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sessions/engine.h"

namespace hakone::sessions {

class MemcacheSession {
 public:
  MemcacheSession(Engine& e, uint64_t max_value) : e_(e), max_value_(max_value) {}
  // Executes every complete request at the front of `in`, appending replies to *out. Returns the
  // bytes consumed (a partial request is left for the next call). Sets *close on "quit" or on a
  // request that cannot be framed (a line over 2048 bytes, a bad data chunk). REQUIRES e.mu().
  size_t Process(std::string_view in, int64_t now_ms, std::string* out, bool* close);

 private:
  // Handles one command line (without CRLF); returns false when more bytes are needed for its
  // data block. *used receives the bytes of the data block taken (0 for none).
  bool Command(std::string_view line, std::string_view rest, int64_t now_ms, std::string* out, size_t* used, bool* close);
  Engine& e_;
  uint64_t max_value_;
};

// memcached exptime → absolute unix ms (0 = never; negative = already expired → -1).
int64_t MemcacheExpiry(int64_t exptime, int64_t now_ms);

}  // namespace hakone::sessions
