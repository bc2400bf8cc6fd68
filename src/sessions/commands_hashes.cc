// Hash commands: HGET HSET HMSET HSETNX HGETALL HMGET HDEL HEXISTS HINCRBY HKEYS HVALS HLEN HSTRLEN.
#include <limits>

#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

Entry* HashForWrite(Ctx& ctx, std::string_view key, bool* wrong) {
  Entry* e = ctx.FindTyped(key, ValueType::kHash, wrong);
  if (*wrong) return nullptr;
  if (!e) {
    e = ctx.Upsert(key);
    e->v = Value();
    e->v.type = ValueType::kHash;
    e->expire_ms = 0;
  }
  return e;
}

void CmdHGet(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  auto* p = e ? e->v.HashFind(ctx.argv[2]) : nullptr;
  if (!p) return ReplyNil(ctx.out);
  ReplyBulk(ctx.out, p->second);
}

int64_t HSetPairs(Entry* e, std::span<const std::string_view> a) {
  int64_t added = 0;
  for (size_t i = 2; i + 1 < a.size(); i += 2) {
    auto* p = e->v.HashFind(a[i]);
    if (p) {
      p->second.assign(a[i + 1]);
    } else {
      e->v.hash.emplace_back(std::string(a[i]), std::string(a[i + 1]));
      added++;
    }
  }
  return added;
}

void HSetGeneric(Ctx& ctx, bool hmset) {
  if (ctx.argv.size() % 2 == 1) return ReplyError(ctx.out, ErrArity(hmset ? "hmset" : "hset"));
  bool wrong;
  Entry* e = HashForWrite(ctx, ctx.argv[1], &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  int64_t added = HSetPairs(e, ctx.argv);
  ctx.Persist(ctx.argv[1], e);
  if (hmset) ReplyOk(ctx.out);
  else ReplyInt(ctx.out, added);
}
void CmdHSet(Ctx& ctx) { HSetGeneric(ctx, false); }
void CmdHMSet(Ctx& ctx) { HSetGeneric(ctx, true); }

void CmdHSetNx(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (e && e->v.HashFind(ctx.argv[2])) return ReplyInt(ctx.out, 0);
  e = HashForWrite(ctx, ctx.argv[1], &wrong);
  e->v.hash.emplace_back(std::string(ctx.argv[2]), std::string(ctx.argv[3]));
  ctx.Persist(ctx.argv[1], e);
  ReplyInt(ctx.out, 1);
}

void CmdHGetAll(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyArray(ctx.out, 0);
  ReplyArray(ctx.out, e->v.hash.size() * 2);
  for (const auto& [f, v] : e->v.hash) {
    ReplyBulk(ctx.out, f);
    ReplyBulk(ctx.out, v);
  }
}

void CmdHKeysVals(Ctx& ctx, bool keys) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyArray(ctx.out, 0);
  ReplyArray(ctx.out, e->v.hash.size());
  for (const auto& [f, v] : e->v.hash) ReplyBulk(ctx.out, keys ? f : v);
}
void CmdHKeys(Ctx& ctx) { CmdHKeysVals(ctx, true); }
void CmdHVals(Ctx& ctx) { CmdHKeysVals(ctx, false); }

void CmdHMGet(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyArray(ctx.out, ctx.argv.size() - 2);
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    auto* p = e ? e->v.HashFind(ctx.argv[i]) : nullptr;
    if (p) ReplyBulk(ctx.out, p->second);
    else ReplyNil(ctx.out);
  }
}

void CmdHDel(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyInt(ctx.out, 0);
  int64_t n = 0;
  for (size_t i = 2; i < ctx.argv.size(); i++) {
    auto& h = e->v.hash;
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it->first == ctx.argv[i]) {
        h.erase(it);
        n++;
        break;
      }
    }
  }
  if (n > 0) {
    if (e->v.hash.empty()) (void)ctx.Remove(ctx.argv[1]);
    else ctx.Persist(ctx.argv[1], e);
  }
  ReplyInt(ctx.out, n);
}

void CmdHExists(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyInt(ctx.out, e && e->v.HashFind(ctx.argv[2]) ? 1 : 0);
}

void CmdHLen(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyInt(ctx.out, e ? static_cast<int64_t>(e->v.hash.size()) : 0);
}

void CmdHStrlen(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  auto* p = e ? e->v.HashFind(ctx.argv[2]) : nullptr;
  ReplyInt(ctx.out, p ? static_cast<int64_t>(p->second.size()) : 0);
}

void CmdHIncrBy(Ctx& ctx) {
  int64_t by;
  if (!ParseInt64(ctx.argv[3], &by)) return ReplyError(ctx.out, kErrNotInt);
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kHash, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  int64_t cur = 0;
  auto* p = e ? e->v.HashFind(ctx.argv[2]) : nullptr;
  if (p && !ParseInt64(p->second, &cur)) return ReplyError(ctx.out, "ERR hash value is not an integer");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  if ((by < 0 && cur < 0 && by < kMin - cur) || (by > 0 && cur > 0 && by > kMax - cur)) {
    return ReplyError(ctx.out, kErrOverflow);
  }
  cur += by;
  std::string s;
  AppendInt(s, cur);
  e = HashForWrite(ctx, ctx.argv[1], &wrong);
  p = e->v.HashFind(ctx.argv[2]);
  if (p) p->second = std::move(s);
  else e->v.hash.emplace_back(std::string(ctx.argv[2]), std::move(s));
  ctx.Persist(ctx.argv[1], e);
  ReplyInt(ctx.out, cur);
}

}  // namespace

void RegisterHashCommands(CommandTable& t) {
  t.Add({"hget", 3, kReadOnly, 1, 1, 1, CmdHGet, {}});
  t.Add({"hset", -4, kWrite, 1, 1, 1, CmdHSet, {}});
  t.Add({"hmset", -4, kWrite, 1, 1, 1, CmdHMSet, {}});
  t.Add({"hsetnx", 4, kWrite, 1, 1, 1, CmdHSetNx, {}});
  t.Add({"hgetall", 2, kReadOnly, 1, 1, 1, CmdHGetAll, {}});
  t.Add({"hmget", -3, kReadOnly, 1, 1, 1, CmdHMGet, {}});
  t.Add({"hdel", -3, kWrite, 1, 1, 1, CmdHDel, {}});
  t.Add({"hexists", 3, kReadOnly, 1, 1, 1, CmdHExists, {}});
  t.Add({"hincrby", 4, kWrite, 1, 1, 1, CmdHIncrBy, {}});
  t.Add({"hkeys", 2, kReadOnly, 1, 1, 1, CmdHKeys, {}});
  t.Add({"hvals", 2, kReadOnly, 1, 1, 1, CmdHVals, {}});
  t.Add({"hlen", 2, kReadOnly, 1, 1, 1, CmdHLen, {}});
  t.Add({"hstrlen", 3, kReadOnly, 1, 1, 1, CmdHStrlen, {}});
}

}  // namespace hakone::sessions
