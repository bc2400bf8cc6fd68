// The Redis command table: one entry per command (name, arity, flags, key positions, handler),
// registered family by family (commands_*.cc) from RegisterAllCommands(). Handlers run with the
// engine lock held, append exactly one reply to ctx.out, and never block on the network.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sessions/engine.h"
#include "sessions/resp.h"

namespace hakone::sessions {

class Server;

// An ACL-style user: a password and the commands it may run (empty = all).
struct User {
  std::string name;
  std::string password;
  std::vector<std::string> commands;  // lower-case names; empty = every command
  bool AllowedCommand(std::string_view lower_name) const;
};

// Per-connection state.
struct Client {
  uint64_t id = 0;
  int db = 0;
  std::string name;
  std::string addr, laddr;
  const User* user = nullptr;  // nullptr: not authenticated (when auth is required)
  bool authenticated = false;
  bool in_multi = false;
  bool multi_error = false;
  bool watch_dirty = false;
  std::vector<CacheKey> watched;
  std::vector<std::vector<std::string>> queued;
  bool close_after_reply = false;
  int64_t created_ms = 0;
};

enum CmdFlags : uint32_t {
  kWrite = 1 << 0,
  kReadOnly = 1 << 1,
  kNoAuth = 1 << 2,      // allowed before AUTH (AUTH, HELLO, QUIT)
  kNoQueue = 1 << 3,     // runs at once inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET)
  kNeedsDurableView = 1 << 4,  // reads the whole keyspace from the durable tier (KEYS, SCAN, DBSIZE, INFO)
  kAdmin = 1 << 5,
};

struct Ctx;
using Handler = void (*)(Ctx&);

struct CommandSpec {
  std::string name;     // lower case
  int arity;            // argc including the name; negative = at least -arity
  uint32_t flags;
  int first_key, last_key, step;  // last_key -1 = last argument, -2 = second to last
  Handler fn;
  std::vector<std::string> subcommands;  // for COMMAND output only
};

class CommandTable {
 public:
  void Add(CommandSpec spec);
  // Case-insensitive look-up; nullptr when unknown.
  const CommandSpec* Find(std::string_view name) const;
  const std::vector<CommandSpec>& all() const { return specs_; }

 private:
  std::vector<CommandSpec> specs_;
  std::unordered_map<std::string, size_t> index_;
};

// Server-wide settings handlers need.
struct ServerInfo {
  std::string version = "7.0.15";  // the Redis version clients see (hakone speaks its protocol)
  std::string requirepass;
  std::vector<User> users;
  bool auth_required = false;
  int64_t start_ms = 0;
  uint16_t port = 0;
  std::string cache_tier = "memory";
  std::atomic<uint64_t> connected_clients{0}, total_connections{0}, total_commands{0}, rejected_connections{0};
  std::atomic<bool> cache_up{true};
  std::string tiers_extra;  // extra lines for INFO tiers (external cache state)
};

struct Ctx {
  Engine& e;
  ServerInfo& srv;
  Client& c;
  std::span<const std::string_view> argv;
  std::string& out;
  int64_t now;
  const CommandTable& table;

  Entry* Find(std::string_view key) { return e.Lookup(c.db, key, now); }
  // The live entry if it has type t; *wrong set when it exists with another type.
  Entry* FindTyped(std::string_view key, ValueType t, bool* wrong) {
    Entry* x = Find(key);
    *wrong = x && x->v.type != t;
    return *wrong ? nullptr : x;
  }
  Entry* Upsert(std::string_view key) { return e.Upsert(c.db, key); }
  void Persist(std::string_view key, Entry* x) { e.Persist(c.db, key, x); }
  bool Remove(std::string_view key) { return e.Remove(c.db, key, now); }
};

// Texts Redis 7 answers, byte for byte.
inline constexpr std::string_view kErrWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInt = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrNoSuchKey = "ERR no such key";
std::string ErrArity(std::string_view name);
std::string ErrInvalidExpire(std::string_view cmd);

void RegisterStringCommands(CommandTable& t);
void RegisterKeyCommands(CommandTable& t);
void RegisterHashCommands(CommandTable& t);
void RegisterSetCommands(CommandTable& t);
void RegisterServerCommands(CommandTable& t);
void RegisterTransactionCommands(CommandTable& t);
void RegisterAllCommands(CommandTable& t);

// Lower-cases into `buf` (at most 32 bytes); returns the view, or "" when too long.
std::string_view LowerName(std::string_view s, char* buf, size_t cap);
bool EqualsNoCase(std::string_view a, std::string_view b);
// Keys of a command per its spec (for prefetching and WATCH-like bookkeeping).
void CommandKeys(const CommandSpec& spec, std::span<const std::string_view> argv, std::vector<std::string_view>* keys);

}  // namespace hakone::sessions

namespace hakone::sessions {

// Runs one command as Redis's processCommand does: look-up (unknown command), arity, auth and
// ACL, MULTI queueing, the durable-tier write check, key prefetch (read-through), the handler.
// Appends exactly one reply to `out`. REQUIRES e.mu() held.
// `spec` is table.Find(argv[0]) (nullptr when unknown), passed in because callers need its flags.
void ExecuteCommand(Engine& e, ServerInfo& srv, const CommandTable& table, Client& c, const CommandSpec* spec,
                    std::span<const std::string_view> argv, std::string& out, int64_t now);
// Drops the client's WATCHes (on disconnect). REQUIRES e.mu() held.
void UnwatchAll(Engine& e, Client& c);

}  // namespace hakone::sessions
