// Set commands: SADD SREM SMEMBERS SISMEMBER SCARD.
#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

void CmdSAdd(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kSet, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) {
    e = ctx.Upsert(ctx.argv[1]);
    e->v = Value();
    e->v.type = ValueType::kSet;
    e->expire_ms = 0;
  }
  int64_t n = 0;
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    if (!e->v.SetContains(ctx.argv[i])) {
      e->v.set.emplace_back(ctx.argv[i]);
      n++;
    }
  }
  ctx.Persist(ctx.argv[1], e);
  ReplyInt(ctx.out, n);
}

void CmdSRem(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kSet, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyInt(ctx.out, 0);
  int64_t n = 0;
  auto& s = e->v.set;
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (*it == ctx.argv[i]) {
        s.erase(it);
        n++;
        break;
      }
    }
  }
  if (n > 0) {
    if (s.empty()) (void)ctx.Remove(ctx.argv[1]);
    else ctx.Persist(ctx.argv[1], e);
  }
  ReplyInt(ctx.out, n);
}

void CmdSMembers(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kSet, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyArray(ctx.out, 0);
  auto members = SetMembersInRedisOrder(e->v);
  ReplyArray(ctx.out, members.size());
  for (const auto* m : members) ReplyBulk(ctx.out, *m);
}

void CmdSIsMember(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kSet, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyInt(ctx.out, e && e->v.SetContains(ctx.argv[2]) ? 1 : 0);
}

void CmdSCard(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kSet, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyInt(ctx.out, e ? static_cast<int64_t>(e->v.set.size()) : 0);
}

}  // namespace

void RegisterSetCommands(CommandTable& t) {
  t.Add({"sadd", -3, kWrite, 1, 1, 1, CmdSAdd, {}});
  t.Add({"srem", -3, kWrite, 1, 1, 1, CmdSRem, {}});
  t.Add({"smembers", 2, kReadOnly, 1, 1, 1, CmdSMembers, {}});
  t.Add({"sismember", 3, kReadOnly, 1, 1, 1, CmdSIsMember, {}});
  t.Add({"scard", 2, kReadOnly, 1, 1, 1, CmdSCard, {}});
}

}  // namespace hakone::sessions
