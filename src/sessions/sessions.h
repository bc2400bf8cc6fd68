// hakone sessions: a Redis-protocol (RESP2) and memcached-protocol session server with an
// in-process cache tier in front of a durable tier (SQLite or PostgreSQL).
//
// MakeSessions() reads the [sessions] section (and the root `data_dir`), applies command-line
// overrides, validates everything, and returns a Component that, when started:
//   - opens the durable tier and starts its writer thread (group commit, expired-row sweep);
//   - accepts Redis clients on `listen` and, when set, memcached clients on `memcached`.
//
// Durability: with durability = "strict" (default) a write's reply is sent only after the write
// is committed to the durable tier (one transaction + one fsync shared by every connection's
// writes at that moment). With "async" the reply is sent after the cache write and the write is
// committed within `flush_interval`: a crash can lose that window.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone::sessions {

struct SessionsUser {
  std::string name;
  std::string password;
  std::vector<std::string> commands;  // lower-case command names; empty = all
};

struct SessionsConfig {
  std::string listen = "127.0.0.1:6380";         // Redis protocol
  std::string memcached;                          // memcached text protocol; "" = off
  // HTTP admin listener: GET /metrics, /healthz (the process answers), /readyz (200 when the
  // durable tier takes a write and the configured cache tier answers, else 503 with the
  // reason). "" = off. Unauthenticated: probes and scrapers call it.
  std::string admin;
  std::string requirepass;                        // password of the `default` user ("" = none)
  std::vector<SessionsUser> users;                // ACL-style users
  bool strict = true;                             // durability = "strict" | "async"
  std::chrono::milliseconds flush_interval{100};  // async: durable within this
  std::chrono::milliseconds sweep_interval{1000}; // expired rows deleted from the durable tier
  uint64_t max_bulk = 512ull << 20;               // bytes in one bulk argument / memcached value
  uint64_t max_multibulk = 1u << 20;              // arguments in one request
  uint64_t max_client_buffer = 1ull << 30;        // unparsed bytes held per connection
  int workers = 1;                                // I/O threads
  // cache tier
  std::string cache_type = "memory";              // memory | redis
  std::string cache_url;                          // redis://[:password@]host:port[/db] for type = redis
  // Sentinel-managed cache Redis: the sentinels' "host:port"s and the master's name. The master's
  // address comes from the sentinels (cache_url, optional then, gives only password and db).
  std::vector<std::string> cache_sentinels;
  std::string cache_master_name;
  std::string cache_prefix = "hakone:sessions:";  // key prefix in the external Redis
  std::chrono::milliseconds cache_timeout{250};   // per command to the external Redis
  uint64_t max_memory = 1ull << 30;               // in-process cache bound
  int shards = 16;
  // durable tier
  std::string durable_type = "sqlite";            // sqlite | postgres
  std::string sqlite_path;                        // default <data_dir>/sessions.db
  std::string postgres_url;
};

// Command-line values; empty / zero = not given.
struct SessionsOverrides {
  std::string listen, memcached, admin, durability, data_dir, durable, sqlite_path, postgres_url, cache_redis;
  std::string cache_sentinels;  // comma-separated host:port list
  std::string cache_master;
  int64_t workers = 0;
};

// Reads and validates [sessions] (errors name the key: "config: [sessions] durability: ...").
Result<SessionsConfig> ParseSessionsConfig(const Config& cfg, const SessionsOverrides& ov);
Result<std::unique_ptr<Component>> MakeSessions(Runtime& rt, const SessionsConfig& cfg);
Result<std::unique_ptr<Component>> MakeSessions(Runtime& rt, const Config& cfg, const SessionsOverrides& ov);

}  // namespace hakone::sessions
