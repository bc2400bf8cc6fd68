// Server and connection commands: PING ECHO QUIT AUTH HELLO SELECT DBSIZE FLUSHDB FLUSHALL INFO
// TIME COMMAND CONFIG CLIENT.
#include <sys/resource.h>

#include <chrono>

#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

void CmdPing(Ctx& ctx) {
  if (ctx.argv.size() > 2) return ReplyError(ctx.out, ErrArity("ping"));
  if (ctx.argv.size() == 2) return ReplyBulk(ctx.out, ctx.argv[1]);
  ReplyStatus(ctx.out, "PONG");
}

void CmdEcho(Ctx& ctx) { ReplyBulk(ctx.out, ctx.argv[1]); }

void CmdQuit(Ctx& ctx) {
  ReplyOk(ctx.out);
  ctx.c.close_after_reply = true;
}

// Checks a user/password pair; sets the client's user on success.
bool CheckAuth(Ctx& ctx, std::string_view user, std::string_view pass) {
  if (user == "default" && !ctx.srv.requirepass.empty() && pass == ctx.srv.requirepass) {
    ctx.c.authenticated = true;
    ctx.c.user = nullptr;
    return true;
  }
  for (const auto& u : ctx.srv.users) {
    if (u.name == user && u.password == pass) {
      ctx.c.authenticated = true;
      ctx.c.user = &u;
      return true;
    }
  }
  return false;
}

void CmdAuth(Ctx& ctx) {
  if (ctx.argv.size() > 3) return ReplyError(ctx.out, kErrSyntax);
  if (ctx.argv.size() == 2 && !ctx.srv.auth_required) {
    return ReplyError(ctx.out,
                      "ERR AUTH <password> called without any password configured for the default user. Are you sure "
                      "your configuration is correct?");
  }
  std::string_view user = ctx.argv.size() == 3 ? ctx.argv[1] : "default";
  std::string_view pass = ctx.argv.back();
  if (!ctx.srv.auth_required && user == "default") {
    ctx.c.authenticated = true;
    return ReplyOk(ctx.out);
  }
  if (!CheckAuth(ctx, user, pass)) return ReplyError(ctx.out, "WRONGPASS invalid username-password pair or user is disabled.");
  ReplyOk(ctx.out);
}

void CmdHello(Ctx& ctx) {
  size_t j = 1;
  if (ctx.argv.size() >= 2) {
    int64_t ver;
    if (!ParseInt64(ctx.argv[1], &ver)) return ReplyError(ctx.out, "ERR Protocol version is not an integer or out of range");
    if (ver != 2) return ReplyError(ctx.out, "NOPROTO unsupported protocol version");
    j = 2;
  }
  std::string_view setname;
  bool has_setname = false;
  for (; j < ctx.argv.size(); j++) {
    size_t more = ctx.argv.size() - j - 1;
    if (EqualsNoCase(ctx.argv[j], "auth") && more >= 2) {
      if (!CheckAuth(ctx, ctx.argv[j + 1], ctx.argv[j + 2]) &&
          !(!ctx.srv.auth_required && ctx.argv[j + 1] == "default")) {
        return ReplyError(ctx.out, "WRONGPASS invalid username-password pair or user is disabled.");
      }
      ctx.c.authenticated = true;
      j += 2;
    } else if (EqualsNoCase(ctx.argv[j], "setname") && more >= 1) {
      setname = ctx.argv[++j];
      has_setname = true;
    } else {
      return ReplyError(ctx.out, "ERR Syntax error in HELLO option '" + std::string(ctx.argv[j]) + "'");
    }
  }
  if (ctx.srv.auth_required && !ctx.c.authenticated) return ReplyError(ctx.out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
  if (has_setname) ctx.c.name.assign(setname);
  ReplyArray(ctx.out, 14);
  ReplyBulk(ctx.out, "server");
  ReplyBulk(ctx.out, "redis");
  ReplyBulk(ctx.out, "version");
  ReplyBulk(ctx.out, ctx.srv.version);
  ReplyBulk(ctx.out, "proto");
  ReplyInt(ctx.out, 2);
  ReplyBulk(ctx.out, "id");
  ReplyInt(ctx.out, static_cast<int64_t>(ctx.c.id));
  ReplyBulk(ctx.out, "mode");
  ReplyBulk(ctx.out, "standalone");
  ReplyBulk(ctx.out, "role");
  ReplyBulk(ctx.out, "master");
  ReplyBulk(ctx.out, "modules");
  ReplyArray(ctx.out, 0);
}

void CmdSelect(Ctx& ctx) {
  int64_t id;
  if (!ParseInt64(ctx.argv[1], &id) || id < INT32_MIN || id > INT32_MAX) return ReplyError(ctx.out, kErrNotInt);
  if (id < 0 || id >= kNumDbs) return ReplyError(ctx.out, "ERR DB index is out of range");
  ctx.c.db = static_cast<int>(id);
  ReplyOk(ctx.out);
}

void CmdDbSize(Ctx& ctx) {
  auto n = ctx.e.durable().Count(ctx.c.db, ctx.now);
  if (!n.ok()) return ReplyError(ctx.out, "ERR hakone: durable tier read failed: " + n.status().message());
  ReplyInt(ctx.out, *n);
}

void FlushGeneric(Ctx& ctx, bool all) {
  if (ctx.argv.size() > 2 || (ctx.argv.size() == 2 && !EqualsNoCase(ctx.argv[1], "async") && !EqualsNoCase(ctx.argv[1], "sync"))) {
    return ReplyError(ctx.out, kErrSyntax);
  }
  ctx.e.FlushDb(all ? -1 : ctx.c.db);
  ReplyOk(ctx.out);
}
void CmdFlushDb(Ctx& ctx) { FlushGeneric(ctx, false); }
void CmdFlushAll(Ctx& ctx) { FlushGeneric(ctx, true); }

void CmdTime(Ctx& ctx) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ReplyArray(ctx.out, 2);
  ReplyBulk(ctx.out, std::to_string(us / 1000000));
  ReplyBulk(ctx.out, std::to_string(us % 1000000));
}

void Line(std::string& s, std::string_view k, const std::string& v) {
  s.append(k);
  s.push_back(':');
  s.append(v);
  s.append("\r\n");
}

void CmdInfo(Ctx& ctx) {
  auto want = [&](std::string_view sec) {
    if (ctx.argv.size() == 1) return true;
    for (size_t i = 1; i < ctx.argv.size(); i++) {
      if (EqualsNoCase(ctx.argv[i], sec) || EqualsNoCase(ctx.argv[i], "all") || EqualsNoCase(ctx.argv[i], "everything") ||
          EqualsNoCase(ctx.argv[i], "default"))
        return true;
    }
    return false;
  };
  std::string s;
  auto& st = ctx.e.stats();
  int64_t up_ms = ctx.now - ctx.srv.start_ms;
  if (want("server")) {
    s += "# Server\r\n";
    Line(s, "redis_version", ctx.srv.version);
    Line(s, "hakone_version", HAKONE_VERSION);
    Line(s, "redis_mode", "standalone");
    Line(s, "os", "Linux");
    Line(s, "arch_bits", "64");
    Line(s, "process_id", std::to_string(getpid()));
    Line(s, "tcp_port", std::to_string(ctx.srv.port));
    Line(s, "uptime_in_seconds", std::to_string(up_ms / 1000));
    Line(s, "uptime_in_days", std::to_string(up_ms / 86400000));
    s += "\r\n";
  }
  if (want("clients")) {
    s += "# Clients\r\n";
    Line(s, "connected_clients", std::to_string(ctx.srv.connected_clients.load()));
    Line(s, "blocked_clients", "0");
    s += "\r\n";
  }
  if (want("memory")) {
    s += "# Memory\r\n";
    Line(s, "used_memory", std::to_string(ctx.e.cache().bytes()));
    Line(s, "maxmemory", std::to_string(ctx.e.options().max_memory));
    Line(s, "maxmemory_policy", "allkeys-lru");
    s += "\r\n";
  }
  if (want("stats")) {
    s += "# Stats\r\n";
    Line(s, "total_connections_received", std::to_string(ctx.srv.total_connections.load()));
    Line(s, "total_commands_processed", std::to_string(ctx.srv.total_commands.load()));
    Line(s, "rejected_connections", std::to_string(ctx.srv.rejected_connections.load()));
    Line(s, "expired_keys", std::to_string(st.expired.load()));
    Line(s, "evicted_keys", std::to_string(ctx.e.cache().evictions()));
    Line(s, "keyspace_hits", std::to_string(st.hits.load()));
    Line(s, "keyspace_misses", std::to_string(st.misses.load()));
    s += "\r\n";
  }
  if (want("tiers")) {
    s += "# Tiers\r\n";
    Line(s, "cache_tier", ctx.srv.cache_tier);
    Line(s, "cache_up", ctx.srv.cache_up.load() ? "1" : "0");
    Line(s, "cache_keys", std::to_string(ctx.e.cache().size()));
    Line(s, "cache_bytes", std::to_string(ctx.e.cache().bytes()));
    Line(s, "durable_tier", ctx.e.durable().name());
    Line(s, "durable_up", ctx.e.durable_writable() ? "1" : "0");
    Line(s, "durability", ctx.e.options().strict ? "strict" : "async");
    Line(s, "durable_reads", std::to_string(st.durable_reads.load()));
    Line(s, "durable_read_errors", std::to_string(st.durable_read_errors.load()));
    Line(s, "durable_commits", std::to_string(st.commits.load()));
    Line(s, "durable_committed_ops", std::to_string(st.committed_ops.load()));
    Line(s, "durable_commit_errors", std::to_string(st.commit_errors.load()));
    Line(s, "durable_commit_usec", std::to_string(st.commit_us.load()));
    Line(s, "durable_swept_rows", std::to_string(st.swept.load()));
    s += ctx.srv.tiers_extra;
    s += "\r\n";
  }
  if (want("keyspace")) {
    s += "# Keyspace\r\n";
    for (int db = 0; db < kNumDbs; db++) {
      auto n = ctx.e.durable().Count(db, ctx.now);
      if (n.ok() && *n > 0) Line(s, "db" + std::to_string(db), "keys=" + std::to_string(*n) + ",expires=0,avg_ttl=0");
    }
    s += "\r\n";
  }
  if (s.size() >= 2) s.resize(s.size() - 2);  // Redis ends without the last blank line
  ReplyBulk(ctx.out, s);
}

void CommandInfo(std::string& out, const CommandSpec& c) {
  ReplyArray(out, 10);
  ReplyBulk(out, c.name);
  ReplyInt(out, c.arity);
  std::vector<std::string_view> flags;
  if (c.flags & kWrite) flags.push_back("write");
  if (c.flags & kReadOnly) flags.push_back("readonly");
  if (c.flags & kNoAuth) flags.push_back("no_auth");
  flags.push_back("fast");
  ReplyArray(out, flags.size());
  for (auto f : flags) ReplyStatus(out, f);
  ReplyInt(out, c.first_key);
  ReplyInt(out, c.last_key);
  ReplyInt(out, c.step);
  ReplyArray(out, 0);
  ReplyArray(out, 0);
  ReplyArray(out, 0);
  ReplyArray(out, 0);
}

void CmdCommand(Ctx& ctx) {
  const auto& all = ctx.table.all();
  if (ctx.argv.size() == 1) {
    ReplyArray(ctx.out, all.size());
    for (const auto& c : all) CommandInfo(ctx.out, c);
    return;
  }
  std::string_view sub = ctx.argv[1];
  if (EqualsNoCase(sub, "count")) return ReplyInt(ctx.out, static_cast<int64_t>(all.size()));
  if (EqualsNoCase(sub, "info")) {
    ReplyArray(ctx.out, ctx.argv.size() - 2);
    for (size_t i = 2; i < ctx.argv.size(); i++) {
      const CommandSpec* c = ctx.table.Find(ctx.argv[i]);
      if (c) CommandInfo(ctx.out, *c);
      else ReplyNilArray(ctx.out);
    }
    return;
  }
  if (EqualsNoCase(sub, "docs")) return ReplyArray(ctx.out, 0);
  if (EqualsNoCase(sub, "list")) {
    ReplyArray(ctx.out, all.size());
    for (const auto& c : all) ReplyBulk(ctx.out, c.name);
    return;
  }
  ReplyError(ctx.out, "ERR unknown subcommand '" + std::string(sub) + "'. Try COMMAND HELP.");
}

void CmdConfig(Ctx& ctx) {
  std::string_view sub = ctx.argv[1];
  if (EqualsNoCase(sub, "get")) {
    if (ctx.argv.size() < 3) return ReplyError(ctx.out, ErrArity("config|get"));
    std::vector<std::pair<std::string, std::string>> params = {
        {"maxmemory", std::to_string(ctx.e.options().max_memory)},
        {"maxmemory-policy", "allkeys-lru"},
        {"databases", std::to_string(kNumDbs)},
        {"appendonly", "no"},
        {"appendfsync", ctx.e.options().strict ? "always" : "everysec"},
        {"save", ""},
        {"timeout", "0"},
        {"port", std::to_string(ctx.srv.port)},
        {"proto-max-bulk-len", "536870912"},
    };
    std::vector<const std::pair<std::string, std::string>*> hits;
    for (const auto& p : params) {
      for (size_t i = 2; i < ctx.argv.size(); i++) {
        if (GlobMatch(ctx.argv[i], p.first, true)) {
          hits.push_back(&p);
          break;
        }
      }
    }
    ReplyArray(ctx.out, hits.size() * 2);
    for (const auto* p : hits) {
      ReplyBulk(ctx.out, p->first);
      ReplyBulk(ctx.out, p->second);
    }
    return;
  }
  if (EqualsNoCase(sub, "resetstat")) return ReplyOk(ctx.out);
  if (EqualsNoCase(sub, "set")) return ReplyError(ctx.out, "ERR hakone: CONFIG SET is not supported; edit the [sessions] section");
  ReplyError(ctx.out, "ERR unknown subcommand '" + std::string(sub) + "'. Try CONFIG HELP.");
}

void CmdClient(Ctx& ctx) {
  std::string_view sub = ctx.argv[1];
  size_t n = ctx.argv.size();
  if (EqualsNoCase(sub, "id")) {
    if (n != 2) return ReplyError(ctx.out, ErrArity("client|id"));
    return ReplyInt(ctx.out, static_cast<int64_t>(ctx.c.id));
  }
  if (EqualsNoCase(sub, "getname")) {
    if (n != 2) return ReplyError(ctx.out, ErrArity("client|getname"));
    if (ctx.c.name.empty()) return ReplyNil(ctx.out);
    return ReplyBulk(ctx.out, ctx.c.name);
  }
  if (EqualsNoCase(sub, "setname")) {
    if (n != 3) return ReplyError(ctx.out, ErrArity("client|setname"));
    for (char ch : ctx.argv[2]) {
      if (ch < '!' || ch > '~') {
        return ReplyError(ctx.out, "ERR Client names cannot contain spaces, newlines or special characters.");
      }
    }
    ctx.c.name.assign(ctx.argv[2]);
    return ReplyOk(ctx.out);
  }
  if (EqualsNoCase(sub, "setinfo")) {
    if (n != 4) return ReplyError(ctx.out, ErrArity("client|setinfo"));
    return ReplyOk(ctx.out);
  }
  if (EqualsNoCase(sub, "info") || EqualsNoCase(sub, "list")) {
    std::string s = "id=" + std::to_string(ctx.c.id) + " addr=" + ctx.c.addr + " laddr=" + ctx.c.laddr +
                    " name=" + ctx.c.name + " age=" + std::to_string((ctx.now - ctx.c.created_ms) / 1000) +
                    " db=" + std::to_string(ctx.c.db) + " multi=" + (ctx.c.in_multi ? std::to_string(ctx.c.queued.size()) : "-1") +
                    " cmd=client|" + (EqualsNoCase(sub, "info") ? "info" : "list") + "\n";
    return ReplyBulk(ctx.out, s);
  }
  ReplyError(ctx.out, "ERR unknown subcommand '" + std::string(sub) + "'. Try CLIENT HELP.");
}

}  // namespace

void RegisterServerCommands(CommandTable& t) {
  t.Add({"ping", -1, 0, 0, 0, 0, CmdPing, {}});
  t.Add({"echo", 2, 0, 0, 0, 0, CmdEcho, {}});
  t.Add({"quit", -1, kNoAuth | kNoQueue, 0, 0, 0, CmdQuit, {}});
  t.Add({"auth", -2, kNoAuth, 0, 0, 0, CmdAuth, {}});
  t.Add({"hello", -1, kNoAuth, 0, 0, 0, CmdHello, {}});
  t.Add({"select", 2, 0, 0, 0, 0, CmdSelect, {}});
  t.Add({"dbsize", 1, kReadOnly | kNeedsDurableView, 0, 0, 0, CmdDbSize, {}});
  t.Add({"flushdb", -1, kWrite, 0, 0, 0, CmdFlushDb, {}});
  t.Add({"flushall", -1, kWrite, 0, 0, 0, CmdFlushAll, {}});
  t.Add({"info", -1, kNeedsDurableView, 0, 0, 0, CmdInfo, {}});
  t.Add({"time", 1, 0, 0, 0, 0, CmdTime, {}});
  t.Add({"command", -1, 0, 0, 0, 0, CmdCommand, {"count", "info", "docs", "list"}});
  t.Add({"config", -2, kAdmin, 0, 0, 0, CmdConfig, {"get", "set", "resetstat"}});
  t.Add({"client", -2, 0, 0, 0, 0, CmdClient, {"id", "getname", "setname", "setinfo", "info", "list"}});
}

}  // namespace hakone::sessions
