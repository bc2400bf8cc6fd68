// Key commands: DEL UNLINK EXISTS TOUCH EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME
// TTL PTTL PERSIST TYPE RENAME RENAMENX KEYS SCAN.
#include <limits>

#include "sessions/commands.h"

namespace hakone::sessions {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

void CmdDel(Ctx& ctx) {
  int64_t n = 0;
  for (size_t i = 1; i < ctx.argv.size(); i++) n += ctx.Remove(ctx.argv[i]) ? 1 : 0;
  ReplyInt(ctx.out, n);
}

void CmdExists(Ctx& ctx) {
  int64_t n = 0;
  for (size_t i = 1; i < ctx.argv.size(); i++) n += ctx.Find(ctx.argv[i]) ? 1 : 0;
  ReplyInt(ctx.out, n);
}

enum ExpFlags : unsigned { kNX = 1, kXX = 2, kGT = 4, kLT = 8 };

void ExpireGeneric(Ctx& ctx, bool absolute, bool seconds, std::string_view cmd) {
  unsigned flags = 0;
  for (size_t j = 3; j < ctx.argv.size(); j++) {
    std::string_view o = ctx.argv[j];
    if (EqualsNoCase(o, "nx")) flags |= kNX;
    else if (EqualsNoCase(o, "xx")) flags |= kXX;
    else if (EqualsNoCase(o, "gt")) flags |= kGT;
    else if (EqualsNoCase(o, "lt")) flags |= kLT;
    else return ReplyError(ctx.out, "ERR Unsupported option " + std::string(o));
  }
  if ((flags & kNX) && (flags & (kXX | kGT | kLT)))
    return ReplyError(ctx.out, "ERR NX and XX, GT or LT options at the same time are not compatible");
  if ((flags & kGT) && (flags & kLT)) return ReplyError(ctx.out, "ERR GT and LT options at the same time are not compatible");
  int64_t when;
  if (!ParseInt64(ctx.argv[2], &when)) return ReplyError(ctx.out, kErrNotInt);
  if (seconds) {
    if (when > kMax / 1000 || when < kMin / 1000) return ReplyError(ctx.out, ErrInvalidExpire(cmd));
    when *= 1000;
  }
  int64_t base = absolute ? 0 : ctx.now;
  if (when > kMax - base) return ReplyError(ctx.out, ErrInvalidExpire(cmd));
  when += base;
  Entry* e = ctx.Find(ctx.argv[1]);
  if (!e) return ReplyInt(ctx.out, 0);
  int64_t cur = e->expire_ms == 0 ? -1 : e->expire_ms;
  if (flags) {
    if ((flags & kNX) && cur != -1) return ReplyInt(ctx.out, 0);
    if ((flags & kXX) && cur == -1) return ReplyInt(ctx.out, 0);
    if ((flags & kGT) && (when <= cur || cur == -1)) return ReplyInt(ctx.out, 0);
    if ((flags & kLT) && cur != -1 && when >= cur) return ReplyInt(ctx.out, 0);
  }
  if (when <= ctx.now) {
    (void)ctx.Remove(ctx.argv[1]);
  } else {
    e->expire_ms = when;
    ctx.Persist(ctx.argv[1], e);
  }
  ReplyInt(ctx.out, 1);
}

void CmdExpire(Ctx& ctx) { ExpireGeneric(ctx, false, true, "expire"); }
void CmdPExpire(Ctx& ctx) { ExpireGeneric(ctx, false, false, "pexpire"); }
void CmdExpireAt(Ctx& ctx) { ExpireGeneric(ctx, true, true, "expireat"); }
void CmdPExpireAt(Ctx& ctx) { ExpireGeneric(ctx, true, false, "pexpireat"); }

void TtlGeneric(Ctx& ctx, bool ms, bool absolute) {
  Entry* e = ctx.Find(ctx.argv[1]);
  if (!e) return ReplyInt(ctx.out, -2);
  if (e->expire_ms == 0) return ReplyInt(ctx.out, -1);
  if (absolute) return ReplyInt(ctx.out, ms ? e->expire_ms : e->expire_ms / 1000);
  int64_t ttl = e->expire_ms - ctx.now;
  if (ttl < 0) ttl = 0;
  ReplyInt(ctx.out, ms ? ttl : (ttl + 500) / 1000);
}
void CmdTtl(Ctx& ctx) { TtlGeneric(ctx, false, false); }
void CmdPTtl(Ctx& ctx) { TtlGeneric(ctx, true, false); }
void CmdExpireTime(Ctx& ctx) { TtlGeneric(ctx, false, true); }
void CmdPExpireTime(Ctx& ctx) { TtlGeneric(ctx, true, true); }

void CmdPersist(Ctx& ctx) {
  Entry* e = ctx.Find(ctx.argv[1]);
  if (!e || e->expire_ms == 0) return ReplyInt(ctx.out, 0);
  e->expire_ms = 0;
  ctx.Persist(ctx.argv[1], e);
  ReplyInt(ctx.out, 1);
}

void CmdType(Ctx& ctx) {
  Entry* e = ctx.Find(ctx.argv[1]);
  ReplyStatus(ctx.out, e ? TypeName(e->v.type) : "none");
}

void RenameGeneric(Ctx& ctx, bool nx) {
  std::string_view src = ctx.argv[1], dst = ctx.argv[2];
  Entry* e = ctx.Find(src);
  if (!e) return ReplyError(ctx.out, kErrNoSuchKey);
  if (src == dst) return nx ? ReplyInt(ctx.out, 0) : ReplyOk(ctx.out);
  Value v = e->v;
  int64_t exp = e->expire_ms;
  if (nx && ctx.Find(dst)) return ReplyInt(ctx.out, 0);
  Entry* d = ctx.Upsert(dst);
  d->v = std::move(v);
  d->expire_ms = exp;
  ctx.Persist(dst, d);
  (void)ctx.Remove(src);
  if (nx) ReplyInt(ctx.out, 1);
  else ReplyOk(ctx.out);
}
void CmdRename(Ctx& ctx) { RenameGeneric(ctx, false); }
void CmdRenameNx(Ctx& ctx) { RenameGeneric(ctx, true); }

void CmdKeys(Ctx& ctx) {
  auto keys = ctx.e.durable().Keys(ctx.c.db, ctx.now, "", 0);
  if (!keys.ok()) return ReplyError(ctx.out, "ERR hakone: durable tier read failed: " + keys.status().message());
  std::string_view pat = ctx.argv[1];
  bool all = pat == "*";
  std::vector<const std::string*> hits;
  for (const auto& [k, t] : *keys) {
    if (all || GlobMatch(pat, k)) hits.push_back(&k);
  }
  ReplyArray(ctx.out, hits.size());
  for (const auto* k : hits) ReplyBulk(ctx.out, *k);
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]. The cursor is a position in the key order of
// the durable tier (keys are sorted), so a full iteration returns every key present throughout.
void CmdScan(Ctx& ctx) {
  int64_t cursor;
  std::string_view cs = ctx.argv[1];
  uint64_t ucur = 0;
  for (char ch : cs) {
    if (ch < '0' || ch > '9' || ucur > (std::numeric_limits<uint64_t>::max() - 9) / 10) return ReplyError(ctx.out, "ERR invalid cursor");
    ucur = ucur * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (cs.empty()) return ReplyError(ctx.out, "ERR invalid cursor");
  cursor = static_cast<int64_t>(ucur > static_cast<uint64_t>(kMax) ? kMax : ucur);
  std::string_view pattern, type;
  int64_t count = 10;
  for (size_t j = 2; j < ctx.argv.size(); j++) {
    bool has_next = j + 1 < ctx.argv.size();
    if (EqualsNoCase(ctx.argv[j], "count") && has_next) {
      if (!ParseInt64(ctx.argv[j + 1], &count)) return ReplyError(ctx.out, kErrNotInt);
      if (count < 1) return ReplyError(ctx.out, kErrSyntax);
      j++;
    } else if (EqualsNoCase(ctx.argv[j], "match") && has_next) {
      pattern = ctx.argv[++j];
    } else if (EqualsNoCase(ctx.argv[j], "type") && has_next) {
      type = ctx.argv[++j];
    } else {
      return ReplyError(ctx.out, kErrSyntax);
    }
  }
  auto keys = ctx.e.durable().Keys(ctx.c.db, ctx.now, "", 0);
  if (!keys.ok()) return ReplyError(ctx.out, "ERR hakone: durable tier read failed: " + keys.status().message());
  size_t start = static_cast<size_t>(cursor);
  size_t end = start + static_cast<size_t>(count);
  if (start > keys->size()) start = keys->size();
  if (end > keys->size() || end < start) end = keys->size();
  std::vector<const std::string*> hits;
  for (size_t i = start; i < end; i++) {
    const auto& [k, t] = (*keys)[i];
    if (!pattern.empty() && pattern != "*" && !GlobMatch(pattern, k)) continue;
    if (!type.empty() && !EqualsNoCase(type, TypeName(t))) continue;
    hits.push_back(&k);
  }
  ReplyArray(ctx.out, 2);
  ReplyBulk(ctx.out, end >= keys->size() ? "0" : std::to_string(end));
  ReplyArray(ctx.out, hits.size());
  for (const auto* k : hits) ReplyBulk(ctx.out, *k);
}

}  // namespace

void RegisterKeyCommands(CommandTable& t) {
  t.Add({"del", -2, kWrite, 1, -1, 1, CmdDel, {}});
  t.Add({"unlink", -2, kWrite, 1, -1, 1, CmdDel, {}});
  t.Add({"exists", -2, kReadOnly, 1, -1, 1, CmdExists, {}});
  t.Add({"touch", -2, kReadOnly, 1, -1, 1, CmdExists, {}});
  t.Add({"expire", -3, kWrite, 1, 1, 1, CmdExpire, {}});
  t.Add({"pexpire", -3, kWrite, 1, 1, 1, CmdPExpire, {}});
  t.Add({"expireat", -3, kWrite, 1, 1, 1, CmdExpireAt, {}});
  t.Add({"pexpireat", -3, kWrite, 1, 1, 1, CmdPExpireAt, {}});
  t.Add({"expiretime", 2, kReadOnly, 1, 1, 1, CmdExpireTime, {}});
  t.Add({"pexpiretime", 2, kReadOnly, 1, 1, 1, CmdPExpireTime, {}});
  t.Add({"ttl", 2, kReadOnly, 1, 1, 1, CmdTtl, {}});
  t.Add({"pttl", 2, kReadOnly, 1, 1, 1, CmdPTtl, {}});
  t.Add({"persist", 2, kWrite, 1, 1, 1, CmdPersist, {}});
  t.Add({"type", 2, kReadOnly, 1, 1, 1, CmdType, {}});
  t.Add({"rename", 3, kWrite, 1, 2, 1, CmdRename, {}});
  t.Add({"renamenx", 3, kWrite, 1, 2, 1, CmdRenameNx, {}});
  t.Add({"keys", 2, kReadOnly | kNeedsDurableView, 0, 0, 0, CmdKeys, {}});
  t.Add({"scan", -2, kReadOnly | kNeedsDurableView, 0, 0, 0, CmdScan, {}});
}

}  // namespace hakone::sessions
