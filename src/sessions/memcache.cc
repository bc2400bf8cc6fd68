#include "sessions/memcache.h"

#include <charconv>
#include <vector>

#include "sessions/resp.h"

namespace hakone::sessions {
namespace {

constexpr size_t kMaxLine = 2048;
constexpr size_t kMaxKey = 250;

bool ParseU64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool ParseI64(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ValidKey(std::string_view k) {
  if (k.empty() || k.size() > kMaxKey) return false;
  for (unsigned char c : k) {
    if (c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

void Split(std::string_view line, std::vector<std::string_view>* t) {
  t->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') i++;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') j++;
    if (j > i) t->push_back(line.substr(i, j - i));
    i = j;
  }
}


}  // namespace

int64_t MemcacheExpiry(int64_t exptime, int64_t now_ms) {
  if (exptime == 0) return 0;
  if (exptime < 0) return -1;
  if (exptime <= 60 * 60 * 24 * 30) return now_ms + exptime * 1000;
  int64_t abs = exptime * 1000;
  return abs <= now_ms ? -1 : abs;
}

size_t MemcacheSession::Process(std::string_view in, int64_t now_ms, std::string* out, bool* close) {
  size_t pos = 0;
  while (pos < in.size() && !*close) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (in.size() - pos > kMaxLine) {
        out->append("CLIENT_ERROR line too long\r\n");
        *close = true;
      }
      break;
    }
    std::string_view line = in.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) {
      out->append("CLIENT_ERROR line too long\r\n");
      *close = true;
      break;
    }
    size_t used = 0;
    if (!Command(line, in.substr(nl + 1), now_ms, out, &used, close)) break;  // need the data block
    pos = nl + 1 + used;
  }
  return pos;
}

bool MemcacheSession::Command(std::string_view line, std::string_view rest, int64_t now_ms, std::string* out,
                              size_t* used, bool* close) {
  std::vector<std::string_view> t;
  Split(line, &t);
  *used = 0;
  if (t.empty()) {
    out->append("ERROR\r\n");
    return true;
  }
  std::string_view cmd = t[0];
  auto live = [&](std::string_view key) -> Entry* {
    Entry* x = e_.Lookup(0, key, now_ms);
    if (!e_.read_error().empty()) e_.ClearReadError();
    return x && x->v.type == ValueType::kString ? x : nullptr;
  };
  if (cmd == "get" || cmd == "gets" || cmd == "gat" || cmd == "gats") {
    bool with_cas = cmd == "gets" || cmd == "gats";
    bool touch = cmd == "gat" || cmd == "gats";
    size_t first = touch ? 2 : 1;
    int64_t exp = 0;
    if (t.size() <= first) {
      out->append("ERROR\r\n");
      return true;
    }
    if (touch) {
      int64_t et;
      if (!ParseI64(t[1], &et)) {
        out->append("CLIENT_ERROR invalid exptime argument\r\n");
        return true;
      }
      exp = MemcacheExpiry(et, now_ms);
    }
    for (size_t i = first; i < t.size(); i++) {
      if (!ValidKey(t[i])) {
        out->append("CLIENT_ERROR bad command line format\r\n");
        return true;
      }
    }
    for (size_t i = first; i < t.size(); i++) {
      Entry* x = live(t[i]);
      if (!x) continue;
      if (touch) {
        if (exp < 0) {
          // Touched into the past: the item is gone after this reply.
        } else {
          x->expire_ms = exp;
          e_.Persist(0, t[i], x);
        }
      }
      out->append("VALUE ");
      out->append(t[i]);
      out->push_back(' ');
      AppendInt(*out, x->v.flags);
      out->push_back(' ');
      AppendInt(*out, static_cast<int64_t>(x->v.str.size()));
      if (with_cas) {
        out->push_back(' ');
        AppendInt(*out, static_cast<int64_t>(x->version));
      }
      out->append("\r\n");
      out->append(x->v.str);
      out->append("\r\n");
      if (touch && exp < 0) (void)e_.Remove(0, t[i], now_ms);
    }
    out->append("END\r\n");
    return true;
  }
  if (cmd == "set" || cmd == "add" || cmd == "replace" || cmd == "append" || cmd == "prepend" || cmd == "cas") {
    bool is_cas = cmd == "cas";
    size_t need = is_cas ? 6 : 5;
    uint64_t flags, bytes, cas = 0;
    int64_t et;
    if (t.size() < need || t.size() > need + 1 || !ParseU64(t[2], &flags) || flags > 0xffffffffu || !ParseI64(t[3], &et) ||
        !ParseU64(t[4], &bytes) || (is_cas && !ParseU64(t[5], &cas)) || !ValidKey(t[1])) {
      out->append("CLIENT_ERROR bad command line format\r\n");
      // The data block cannot be framed reliably: close like memcached does for bad framing.
      *close = true;
      return true;
    }
    if (bytes > max_value_) {
      out->append("SERVER_ERROR object too large for cache\r\n");
      *close = true;
      return true;
    }
    if (rest.size() < bytes + 2) return false;
    std::string_view data = rest.substr(0, bytes);
    if (rest[bytes] != '\r' || rest[bytes + 1] != '\n') {
      out->append("CLIENT_ERROR bad data chunk\r\n");
      *close = true;
      return true;
    }
    *used = bytes + 2;
    bool noreply = t.size() == need + 1 && t[need] == "noreply";
    std::string_view key = t[1];
    Entry* x = e_.Lookup(0, key, now_ms);
    if (!e_.read_error().empty()) {
      e_.ClearReadError();
      if (!noreply) out->append("SERVER_ERROR durable tier read failed\r\n");
      return true;
    }
    if (!e_.durable_writable() && e_.options().strict) {
      if (!noreply) out->append("SERVER_ERROR durable tier unavailable\r\n");
      return true;
    }
    bool exists = x != nullptr;
    bool is_string = exists && x->v.type == ValueType::kString;
    const char* reply = "STORED\r\n";
    int64_t exp = MemcacheExpiry(et, now_ms);
    if ((cmd == "add" && exists) || ((cmd == "replace" || cmd == "append" || cmd == "prepend") && !is_string)) {
      reply = "NOT_STORED\r\n";
    } else if (is_cas && !exists) {
      reply = "NOT_FOUND\r\n";
    } else if (is_cas && (!is_string || x->version != cas)) {
      reply = "EXISTS\r\n";
    } else if (cmd == "append" || cmd == "prepend") {
      if (cmd == "append") x->v.str.append(data);
      else x->v.str.insert(0, data);
      e_.Persist(0, key, x);
    } else if (exp < 0) {
      // An exptime in the past stores nothing visible (memcached: the item expires at once).
      if (exists) (void)e_.Remove(0, key, now_ms);
    } else {
      Entry* w = e_.Upsert(0, key);
      w->v = Value();
      w->v.type = ValueType::kString;
      w->v.str.assign(data);
      w->v.flags = static_cast<uint32_t>(flags);
      w->expire_ms = exp;
      e_.Persist(0, key, w);
    }
    if (!noreply) out->append(reply);
    return true;
  }
  if (cmd == "delete") {
    if (t.size() < 2 || t.size() > 3 || !ValidKey(t[1])) {
      out->append("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
      return true;
    }
    bool noreply = t.size() == 3 && t[2] == "noreply";
    bool ok = e_.Remove(0, t[1], now_ms);
    if (!noreply) out->append(ok ? "DELETED\r\n" : "NOT_FOUND\r\n");
    return true;
  }
  if (cmd == "incr" || cmd == "decr") {
    uint64_t by;
    if (t.size() < 3 || t.size() > 4 || !ValidKey(t[1])) {
      out->append("ERROR\r\n");
      return true;
    }
    if (!ParseU64(t[2], &by)) {
      out->append("CLIENT_ERROR invalid numeric delta argument\r\n");
      return true;
    }
    bool noreply = t.size() == 4 && t[3] == "noreply";
    Entry* x = live(t[1]);
    if (!x) {
      if (!noreply) out->append("NOT_FOUND\r\n");
      return true;
    }
    uint64_t cur;
    if (!ParseU64(x->v.str, &cur)) {
      if (!noreply) out->append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
      return true;
    }
    if (cmd == "incr") cur += by;  // wraps at 2^64 like memcached
    else cur = by > cur ? 0 : cur - by;
    x->v.str = std::to_string(cur);
    e_.Persist(0, t[1], x);
    if (!noreply) {
      out->append(x->v.str);
      out->append("\r\n");
    }
    return true;
  }
  if (cmd == "touch") {
    int64_t et;
    if (t.size() < 3 || t.size() > 4 || !ValidKey(t[1]) || !ParseI64(t[2], &et)) {
      out->append("CLIENT_ERROR bad command line format\r\n");
      return true;
    }
    bool noreply = t.size() == 4 && t[3] == "noreply";
    Entry* x = live(t[1]);
    if (!x) {
      if (!noreply) out->append("NOT_FOUND\r\n");
      return true;
    }
    int64_t exp = MemcacheExpiry(et, now_ms);
    if (exp < 0) {
      (void)e_.Remove(0, t[1], now_ms);
    } else {
      x->expire_ms = exp;
      e_.Persist(0, t[1], x);
    }
    if (!noreply) out->append("TOUCHED\r\n");
    return true;
  }
  if (cmd == "version") {
    out->append("VERSION 1.6.18 (hakone sessions)\r\n");
    return true;
  }
  if (cmd == "quit") {
    *close = true;
    return true;
  }
  out->append("ERROR\r\n");
  return true;
}

}  // namespace hakone::sessions
