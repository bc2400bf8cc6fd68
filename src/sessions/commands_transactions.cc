// Transactions (MULTI EXEC DISCARD WATCH UNWATCH) and the command dispatcher.
#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

void Discard(Engine& e, Client& c) {
  c.in_multi = false;
  c.multi_error = false;
  c.queued.clear();
  UnwatchAll(e, c);
}

void CmdMulti(Ctx& ctx) {
  if (ctx.c.in_multi) return ReplyError(ctx.out, "ERR MULTI calls can not be nested");
  ctx.c.in_multi = true;
  ctx.c.multi_error = false;
  ctx.c.queued.clear();
  ReplyOk(ctx.out);
}

void CmdDiscard(Ctx& ctx) {
  if (!ctx.c.in_multi) return ReplyError(ctx.out, "ERR DISCARD without MULTI");
  Discard(ctx.e, ctx.c);
  ReplyOk(ctx.out);
}

void CmdWatch(Ctx& ctx) {
  if (ctx.c.in_multi) return ReplyError(ctx.out, "ERR WATCH inside MULTI is not allowed");
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    bool dup = false;
    for (const auto& k : ctx.c.watched) dup |= k.db == ctx.c.db && k.key == ctx.argv[i];
    if (dup) continue;
    ctx.c.watched.push_back(CacheKey{ctx.c.db, std::string(ctx.argv[i])});
    ctx.e.Watch(ctx.c.db, ctx.argv[i], &ctx.c.watch_dirty);
  }
  ReplyOk(ctx.out);
}

void CmdUnwatch(Ctx& ctx) {
  UnwatchAll(ctx.e, ctx.c);
  ReplyOk(ctx.out);
}

void CmdExec(Ctx& ctx) {
  Client& c = ctx.c;
  if (!c.in_multi) return ReplyError(ctx.out, "ERR EXEC without MULTI");
  if (c.multi_error) {
    Discard(ctx.e, c);
    return ReplyError(ctx.out, "EXECABORT Transaction discarded because of previous errors.");
  }
  if (c.watch_dirty) {
    Discard(ctx.e, c);
    return ReplyNilArray(ctx.out);
  }
  auto queued = std::move(c.queued);
  c.queued.clear();
  c.in_multi = false;
  UnwatchAll(ctx.e, c);
  ReplyArray(ctx.out, queued.size());
  std::vector<std::string_view> argv;
  for (const auto& cmd : queued) {
    argv.assign(cmd.begin(), cmd.end());
    ExecuteCommand(ctx.e, ctx.srv, ctx.table, c, ctx.table.Find(argv[0]), argv, ctx.out, ctx.now);
  }
}

std::string Sanitize(std::string s) {
  for (char& ch : s) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  return s;
}

void Reject(Client& c, std::string& out, std::string_view err) {
  if (c.in_multi) c.multi_error = true;
  ReplyError(out, Sanitize(std::string(err)));
}

}  // namespace

void UnwatchAll(Engine& e, Client& c) {
  if (!c.watched.empty()) e.Unwatch(c.watched, &c.watch_dirty);
  c.watched.clear();
  c.watch_dirty = false;
}

void ExecuteCommand(Engine& e, ServerInfo& srv, const CommandTable& table, Client& c, const CommandSpec* spec,
                    std::span<const std::string_view> argv, std::string& out, int64_t now) {
  if (!spec) {
    std::string args;
    for (size_t i = 1; i < argv.size() && args.size() < 128; i++) {
      size_t room = 128 - args.size();
      args += '\'';
      args.append(argv[i].substr(0, room));
      args += "' ";
    }
    std::string name(argv[0].substr(0, 128));
    return Reject(c, out, "ERR unknown command '" + name + "', with args beginning with: " + args);
  }
  int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && spec->arity != argc) || argc < -spec->arity) return Reject(c, out, ErrArity(spec->name));
  if (srv.auth_required && !c.authenticated && !(spec->flags & kNoAuth)) {
    return Reject(c, out, "NOAUTH Authentication required.");
  }
  if (c.user && !c.user->AllowedCommand(spec->name)) {
    return Reject(c, out, "NOPERM this user has no permissions to run the '" + spec->name + "' command");
  }
  if (c.in_multi && !(spec->flags & kNoQueue)) {
    c.queued.emplace_back(argv.begin(), argv.end());
    out.append("+QUEUED\r\n");
    return;
  }
  if ((spec->flags & kWrite) && e.options().strict && !e.durable_writable()) {
    return ReplyError(out, Sanitize("ERR hakone: durable tier unavailable, write refused (" + e.durable_error() + ")"));
  }
  srv.total_commands.fetch_add(1, std::memory_order_relaxed);
  Ctx ctx{e, srv, c, argv, out, now, table};
  if (spec->first_key > 0) {
    // Read-through the keys first, so that a durable read failure refuses the command before it
    // changes anything.
    int last = spec->last_key >= 0 ? spec->last_key : argc + spec->last_key;
    for (int i = spec->first_key; i <= last && i < argc; i += spec->step) {
      (void)e.Lookup(c.db, argv[i], now);
      if (!e.read_error().empty()) {
        std::string err = e.read_error();
        e.ClearReadError();
        return ReplyError(out, err);
      }
    }
  }
  spec->fn(ctx);
}

void RegisterTransactionCommands(CommandTable& t) {
  t.Add({"multi", 1, kNoQueue, 0, 0, 0, CmdMulti, {}});
  t.Add({"exec", 1, kNoQueue, 0, 0, 0, CmdExec, {}});
  t.Add({"discard", 1, kNoQueue, 0, 0, 0, CmdDiscard, {}});
  t.Add({"watch", -2, kNoQueue | kReadOnly, 1, -1, 1, CmdWatch, {}});
  t.Add({"unwatch", 1, 0, 0, 0, 0, CmdUnwatch, {}});
}

}  // namespace hakone::sessions
