#include "sessions/value.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstring>
#include <limits>

namespace hakone::sessions {

size_t Value::MemoryUsage() const {
  size_t n = sizeof(Value) + str.capacity();
  for (const auto& [f, v] : hash) n += 64 + f.capacity() + v.capacity();
  for (const auto& m : set) n += 32 + m.capacity();
  return n;
}

std::pair<std::string, std::string>* Value::HashFind(std::string_view field) {
  for (auto& p : hash) {
    if (p.first == field) return &p;
  }
  return nullptr;
}

bool Value::SetContains(std::string_view member) const {
  for (const auto& m : set) {
    if (m == member) return true;
  }
  return false;
}

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString: return "string";
    case ValueType::kHash: return "hash";
    case ValueType::kSet: return "set";
    case ValueType::kFlaggedString: return "string";
  }
  return "none";
}

namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

void PutItem(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool GetItem(std::string_view* in, std::string* s) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

}  // namespace

ValueType StoredType(const Value& v) {
  return v.type == ValueType::kString && v.flags != 0 ? ValueType::kFlaggedString : v.type;
}

void SerializeValue(const Value& v, std::string* out) {
  switch (v.type) {
    case ValueType::kFlaggedString:
    case ValueType::kString:
      if (v.flags != 0) {
        char b[4] = {static_cast<char>(v.flags >> 24), static_cast<char>(v.flags >> 16), static_cast<char>(v.flags >> 8),
                     static_cast<char>(v.flags)};
        out->append(b, 4);
      }
      out->append(v.str);
      return;
    case ValueType::kHash:
      PutVarint(out, v.hash.size());
      for (const auto& [f, val] : v.hash) {
        PutItem(out, f);
        PutItem(out, val);
      }
      return;
    case ValueType::kSet:
      PutVarint(out, v.set.size());
      for (const auto& m : v.set) PutItem(out, m);
      return;
  }
}

Result<Value> ParseValue(ValueType type, std::string_view in) {
  Value v;
  v.type = type;
  switch (type) {
    case ValueType::kString:
      v.str.assign(in);
      return v;
    case ValueType::kFlaggedString:
      if (in.size() < 4) return Status::Corruption("sessions: bad flagged string");
      v.type = ValueType::kString;
      v.flags = (static_cast<uint32_t>(static_cast<uint8_t>(in[0])) << 24) | (static_cast<uint32_t>(static_cast<uint8_t>(in[1])) << 16) |
                (static_cast<uint32_t>(static_cast<uint8_t>(in[2])) << 8) | static_cast<uint8_t>(in[3]);
      v.str.assign(in.substr(4));
      return v;
    case ValueType::kHash: {
      uint64_t n;
      if (!GetVarint(&in, &n) || n > in.size()) return Status::Corruption("sessions: bad hash value (count)");
      v.hash.resize(n);
      for (auto& [f, val] : v.hash) {
        if (!GetItem(&in, &f) || !GetItem(&in, &val)) return Status::Corruption("sessions: bad hash value (item)");
      }
      break;
    }
    case ValueType::kSet: {
      uint64_t n;
      if (!GetVarint(&in, &n) || n > in.size()) return Status::Corruption("sessions: bad set value (count)");
      v.set.resize(n);
      for (auto& m : v.set) {
        if (!GetItem(&in, &m)) return Status::Corruption("sessions: bad set value (item)");
      }
      break;
    }
    default:
      return Status::Corruption("sessions: unknown value type " + std::to_string(static_cast<int>(type)));
  }
  if (!in.empty()) return Status::Corruption("sessions: trailing bytes after value");
  return v;
}

std::string EncodeRecord(ValueType type, int64_t expire_ms, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 12);
  out.push_back('H');
  out.push_back(static_cast<char>(type));
  PutVarint(&out, static_cast<uint64_t>(expire_ms));
  out.append(payload);
  return out;
}

Result<Record> DecodeRecord(std::string_view blob) {
  if (blob.size() < 3 || blob[0] != 'H') return Status::Corruption("sessions: not a hakone record");
  Record r;
  uint8_t t = static_cast<uint8_t>(blob[1]);
  if (t > 3) return Status::Corruption("sessions: bad record type");
  r.type = static_cast<ValueType>(t);
  blob.remove_prefix(2);
  uint64_t e;
  if (!GetVarint(&blob, &e)) return Status::Corruption("sessions: bad record expiry");
  r.expire_ms = static_cast<int64_t>(e);
  r.payload.assign(blob);
  return r;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() == 1 && s[0] == '0') {
    *out = 0;
    return true;
  }
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = 0;
  for (; i < s.size(); i++) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    if (v > (std::numeric_limits<uint64_t>::max() - (c - '0')) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (neg) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

std::vector<const std::string*> SetMembersInRedisOrder(const Value& v) {
  std::vector<const std::string*> out;
  out.reserve(v.set.size());
  bool all_int = v.set.size() <= 512;
  std::vector<std::pair<int64_t, const std::string*>> ints;
  for (const auto& m : v.set) {
    out.push_back(&m);
    int64_t x;
    if (all_int && ParseInt64(m, &x)) ints.emplace_back(x, &m);
    else all_int = false;
  }
  if (all_int) {
    std::sort(ints.begin(), ints.end());
    for (size_t i = 0; i < ints.size(); i++) out[i] = ints[i].second;
  }
  return out;
}

// A port of Redis's stringmatchlen (util.c), without the recursion-depth guard's nesting.
static bool Match(const char* p, size_t plen, const char* s, size_t slen, bool nocase, int depth) {
  if (depth > 1000) return false;
  while (plen && slen) {
    switch (p[0]) {
      case '*':
        while (plen > 1 && p[1] == '*') {
          p++;
          plen--;
        }
        if (plen == 1) return true;
        while (slen) {
          if (Match(p + 1, plen - 1, s, slen, nocase, depth + 1)) return true;
          s++;
          slen--;
        }
        return false;
      case '?':
        s++;
        slen--;
        break;
      case '[': {
        p++;
        plen--;
        bool neg = plen && p[0] == '^';
        if (neg) {
          p++;
          plen--;
        }
        bool match = false;
        for (;;) {
          if (plen == 0) break;
          if (p[0] == '\\' && plen >= 2) {
            p++;
            plen--;
            if (p[0] == s[0]) match = true;
          } else if (p[0] == ']') {
            break;
          } else if (plen >= 3 && p[1] == '-') {
            int start = static_cast<unsigned char>(p[0]), end = static_cast<unsigned char>(p[2]);
            int c = static_cast<unsigned char>(s[0]);
            if (start > end) std::swap(start, end);
            if (nocase) {
              start = std::tolower(start);
              end = std::tolower(end);
              c = std::tolower(c);
            }
            p += 2;
            plen -= 2;
            if (c >= start && c <= end) match = true;
          } else {
            if (!nocase) {
              if (p[0] == s[0]) match = true;
            } else if (std::tolower(static_cast<unsigned char>(p[0])) == std::tolower(static_cast<unsigned char>(s[0]))) {
              match = true;
            }
          }
          p++;
          plen--;
        }
        if (neg) match = !match;
        if (!match) return false;
        s++;
        slen--;
        if (plen == 0) {
          // "[" without a closing bracket: the pattern ends here.
          return slen == 0;
        }
        break;
      }
      case '\\':
        if (plen >= 2) {
          p++;
          plen--;
        }
        [[fallthrough]];
      default:
        if (!nocase) {
          if (p[0] != s[0]) return false;
        } else if (std::tolower(static_cast<unsigned char>(p[0])) != std::tolower(static_cast<unsigned char>(s[0]))) {
          return false;
        }
        s++;
        slen--;
        break;
    }
    p++;
    plen--;
    if (slen == 0) {
      while (plen && *p == '*') {
        p++;
        plen--;
      }
      break;
    }
  }
  return plen == 0 && slen == 0;
}

bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase) {
  return Match(pattern.data(), pattern.size(), str.data(), str.size(), nocase, 0);
}

}  // namespace hakone::sessions
