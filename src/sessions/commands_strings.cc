// String commands: GET SET SETEX PSETEX SETNX GETDEL GETEX MGET MSET MSETNX APPEND STRLEN
// INCR INCRBY DECR DECRBY.
#include <limits>

#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

enum SetFlags : unsigned {
  kNX = 1, kXX = 2, kGET = 4, kKEEPTTL = 8, kPERSIST = 16, kEX = 32, kPX = 64, kEXAT = 128, kPXAT = 256,
};
constexpr unsigned kAnyExpire = kEX | kPX | kEXAT | kPXAT;

// Redis's parseExtendedStringArgumentsOrReply. is_set: SET; otherwise GETEX.
bool ParseStringOptions(Ctx& ctx, size_t first, bool is_set, unsigned* flags, std::string_view* expire) {
  auto& a = ctx.argv;
  for (size_t j = first; j < a.size(); j++) {
    std::string_view o = a[j];
    bool has_next = j + 1 < a.size();
    if (EqualsNoCase(o, "nx") && !(*flags & kXX) && is_set) {
      *flags |= kNX;
    } else if (EqualsNoCase(o, "xx") && !(*flags & kNX) && is_set) {
      *flags |= kXX;
    } else if (EqualsNoCase(o, "get") && is_set) {
      *flags |= kGET;
    } else if (EqualsNoCase(o, "keepttl") && !(*flags & (kPERSIST | kAnyExpire)) && is_set) {
      *flags |= kKEEPTTL;
    } else if (EqualsNoCase(o, "persist") && !is_set && !(*flags & (kAnyExpire | kKEEPTTL))) {
      *flags |= kPERSIST;
    } else if (EqualsNoCase(o, "ex") && !(*flags & (kKEEPTTL | kPERSIST | kEXAT | kPX | kPXAT)) && has_next) {
      *flags |= kEX;
      *expire = a[++j];
    } else if (EqualsNoCase(o, "px") && !(*flags & (kKEEPTTL | kPERSIST | kEX | kEXAT | kPXAT)) && has_next) {
      *flags |= kPX;
      *expire = a[++j];
    } else if (EqualsNoCase(o, "exat") && !(*flags & (kKEEPTTL | kPERSIST | kEX | kPX | kPXAT)) && has_next) {
      *flags |= kEXAT;
      *expire = a[++j];
    } else if (EqualsNoCase(o, "pxat") && !(*flags & (kKEEPTTL | kPERSIST | kEX | kEXAT | kPX)) && has_next) {
      *flags |= kPXAT;
      *expire = a[++j];
    } else {
      ReplyError(ctx.out, kErrSyntax);
      return false;
    }
  }
  return true;
}

// getExpireMillisecondsOrReply: the absolute expiry in ms.
bool ExpireMs(Ctx& ctx, std::string_view text, unsigned flags, std::string_view cmd, int64_t* out) {
  int64_t v;
  if (!ParseInt64(text, &v)) {
    ReplyError(ctx.out, kErrNotInt);
    return false;
  }
  bool seconds = flags & (kEX | kEXAT);
  if (v <= 0 || (seconds && v > kMax / 1000)) {
    ReplyError(ctx.out, ErrInvalidExpire(cmd));
    return false;
  }
  if (seconds) v *= 1000;
  if (flags & (kEX | kPX)) {
    if (v > kMax - ctx.now) {
      ReplyError(ctx.out, ErrInvalidExpire(cmd));
      return false;
    }
    v += ctx.now;
  }
  *out = v;
  return true;
}

// Sets key to a string value; keeps the TTL when keepttl.
// A plain overwrite does not need the old value: only KEEPTTL reads it (through to the durable
// tier on a cache miss), so a SET of an uncached key costs no durable read.
void SetString(Ctx& ctx, std::string_view key, std::string_view val, int64_t expire_ms, bool keepttl) {
  int64_t old_exp = 0;
  if (keepttl) {
    Entry* old = ctx.Find(key);
    old_exp = old ? old->expire_ms : 0;
  }
  Entry* e = ctx.Upsert(key);
  e->v.type = ValueType::kString;
  e->v.hash.clear();
  e->v.set.clear();
  e->v.str.assign(val);
  e->v.flags = 0;
  e->expire_ms = keepttl ? old_exp : expire_ms;
  ctx.Persist(key, e);
}

void CmdGet(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyNil(ctx.out);
  ReplyBulk(ctx.out, e->v.str);
}

void CmdSet(Ctx& ctx) {
  unsigned flags = 0;
  std::string_view expire;
  if (!ParseStringOptions(ctx, 3, true, &flags, &expire)) return;
  int64_t exp = 0;
  if ((flags & kAnyExpire) && !ExpireMs(ctx, expire, flags, "set", &exp)) return;
  std::string_view key = ctx.argv[1];
  Entry* e = (flags & (kGET | kNX | kXX)) ? ctx.Find(key) : nullptr;
  if (flags & kGET) {
    if (e && e->v.type != ValueType::kString) return ReplyError(ctx.out, kErrWrongType);
    if (e) ReplyBulk(ctx.out, e->v.str);
    else ReplyNil(ctx.out);
  }
  bool found = e != nullptr;
  if (((flags & kNX) && found) || ((flags & kXX) && !found)) {
    if (!(flags & kGET)) ReplyNil(ctx.out);
    return;
  }
  SetString(ctx, key, ctx.argv[2], exp, flags & kKEEPTTL);
  if (!(flags & kGET)) ReplyOk(ctx.out);
}

void SetExGeneric(Ctx& ctx, bool ms, std::string_view cmd) {
  int64_t exp;
  if (!ExpireMs(ctx, ctx.argv[2], ms ? kPX : kEX, cmd, &exp)) return;
  SetString(ctx, ctx.argv[1], ctx.argv[3], exp, false);
  ReplyOk(ctx.out);
}
void CmdSetEx(Ctx& ctx) { SetExGeneric(ctx, false, "setex"); }
void CmdPSetEx(Ctx& ctx) { SetExGeneric(ctx, true, "psetex"); }

void CmdSetNx(Ctx& ctx) {
  if (ctx.Find(ctx.argv[1])) return ReplyInt(ctx.out, 0);
  SetString(ctx, ctx.argv[1], ctx.argv[2], 0, false);
  ReplyInt(ctx.out, 1);
}

void CmdGetDel(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) return ReplyNil(ctx.out);
  ReplyBulk(ctx.out, e->v.str);
  (void)ctx.Remove(ctx.argv[1]);
}

void CmdGetEx(Ctx& ctx) {
  unsigned flags = 0;
  std::string_view expire;
  if (!ParseStringOptions(ctx, 2, false, &flags, &expire)) return;
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (!e && !wrong) return ReplyNil(ctx.out);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  int64_t exp = 0;
  if ((flags & kAnyExpire) && !ExpireMs(ctx, expire, flags, "getex", &exp)) return;
  ReplyBulk(ctx.out, e->v.str);
  if (flags & kAnyExpire) {
    if (exp <= ctx.now) {
      (void)ctx.Remove(ctx.argv[1]);
    } else {
      e->expire_ms = exp;
      ctx.Persist(ctx.argv[1], e);
    }
  } else if ((flags & kPERSIST) && e->expire_ms != 0) {
    e->expire_ms = 0;
    ctx.Persist(ctx.argv[1], e);
  }
}

void CmdMGet(Ctx& ctx) {
  ReplyArray(ctx.out, ctx.argv.size() - 1);
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    Entry* e = ctx.Find(ctx.argv[i]);
    if (!e || e->v.type != ValueType::kString) ReplyNil(ctx.out);
    else ReplyBulk(ctx.out, e->v.str);
  }
}

void CmdMSet(Ctx& ctx) {
  if (ctx.argv.size() % 2 == 0) return ReplyError(ctx.out, ErrArity("mset"));
  for (size_t i = 1; i + 1 < ctx.argv.size(); i += 2) SetString(ctx, ctx.argv[i], ctx.argv[i + 1], 0, false);
  ReplyOk(ctx.out);
}

void CmdMSetNx(Ctx& ctx) {
  if (ctx.argv.size() % 2 == 0) return ReplyError(ctx.out, ErrArity("msetnx"));
  for (size_t i = 1; i + 1 < ctx.argv.size(); i += 2) {
    if (ctx.Find(ctx.argv[i])) return ReplyInt(ctx.out, 0);
  }
  for (size_t i = 1; i + 1 < ctx.argv.size(); i += 2) SetString(ctx, ctx.argv[i], ctx.argv[i + 1], 0, false);
  ReplyInt(ctx.out, 1);
}

void CmdAppend(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  if (!e) {
    SetString(ctx, ctx.argv[1], ctx.argv[2], 0, false);
    return ReplyInt(ctx.out, static_cast<int64_t>(ctx.argv[2].size()));
  }
  e->v.str.append(ctx.argv[2]);
  ctx.Persist(ctx.argv[1], e);
  ReplyInt(ctx.out, static_cast<int64_t>(e->v.str.size()));
}

void CmdStrlen(Ctx& ctx) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  ReplyInt(ctx.out, e ? static_cast<int64_t>(e->v.str.size()) : 0);
}

void IncrBy(Ctx& ctx, int64_t by) {
  bool wrong;
  Entry* e = ctx.FindTyped(ctx.argv[1], ValueType::kString, &wrong);
  if (wrong) return ReplyError(ctx.out, kErrWrongType);
  int64_t cur = 0;
  if (e && !ParseInt64(e->v.str, &cur)) return ReplyError(ctx.out, kErrNotInt);
  if ((by < 0 && cur < 0 && by < std::numeric_limits<int64_t>::min() - cur) || (by > 0 && cur > 0 && by > kMax - cur)) {
    return ReplyError(ctx.out, kErrOverflow);
  }
  cur += by;
  std::string s;
  AppendInt(s, cur);
  if (e) {
    e->v.str = std::move(s);
    ctx.Persist(ctx.argv[1], e);
  } else {
    SetString(ctx, ctx.argv[1], s, 0, false);
  }
  ReplyInt(ctx.out, cur);
}

void CmdIncr(Ctx& ctx) { IncrBy(ctx, 1); }
void CmdDecr(Ctx& ctx) { IncrBy(ctx, -1); }
void CmdIncrBy(Ctx& ctx) {
  int64_t by;
  if (!ParseInt64(ctx.argv[2], &by)) return ReplyError(ctx.out, kErrNotInt);
  IncrBy(ctx, by);
}
void CmdDecrBy(Ctx& ctx) {
  int64_t by;
  if (!ParseInt64(ctx.argv[2], &by)) return ReplyError(ctx.out, kErrNotInt);
  if (by == std::numeric_limits<int64_t>::min()) return ReplyError(ctx.out, "ERR decrement would overflow");
  IncrBy(ctx, -by);
}

}  // namespace

void RegisterStringCommands(CommandTable& t) {
  t.Add({"get", 2, kReadOnly, 1, 1, 1, CmdGet, {}});
  t.Add({"set", -3, kWrite, 1, 1, 1, CmdSet, {}});
  t.Add({"setex", 4, kWrite, 1, 1, 1, CmdSetEx, {}});
  t.Add({"psetex", 4, kWrite, 1, 1, 1, CmdPSetEx, {}});
  t.Add({"setnx", 3, kWrite, 1, 1, 1, CmdSetNx, {}});
  t.Add({"getdel", 2, kWrite, 1, 1, 1, CmdGetDel, {}});
  t.Add({"getex", -2, kWrite, 1, 1, 1, CmdGetEx, {}});
  t.Add({"mget", -2, kReadOnly, 1, -1, 1, CmdMGet, {}});
  t.Add({"mset", -3, kWrite, 1, -1, 2, CmdMSet, {}});
  t.Add({"msetnx", -3, kWrite, 1, -1, 2, CmdMSetNx, {}});
  t.Add({"append", 3, kWrite, 1, 1, 1, CmdAppend, {}});
  t.Add({"strlen", 2, kReadOnly, 1, 1, 1, CmdStrlen, {}});
  t.Add({"incr", 2, kWrite, 1, 1, 1, CmdIncr, {}});
  t.Add({"decr", 2, kWrite, 1, 1, 1, CmdDecr, {}});
  t.Add({"incrby", 3, kWrite, 1, 1, 1, CmdIncrBy, {}});
  t.Add({"decrby", 3, kWrite, 1, 1, 1, CmdDecrBy, {}});
}

}  // namespace hakone::sessions
