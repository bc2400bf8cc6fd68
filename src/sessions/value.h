// The values hakone sessions keeps per key: strings, hashes and sets, with their serialised form
// (what the durable tier and an external Redis cache tier store).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hakone::sessions {

enum class ValueType : uint8_t {
  kString = 0,
  kHash = 1,
  kSet = 2,
  kFlaggedString = 3,  // storage only: a string with memcached client flags (payload: 4-byte flags + data)
};

// Hashes and sets keep insertion order (Redis 7 answers small hashes in insertion order and small
// integer sets sorted; see SetMembersInRedisOrder). Look-ups are linear: session values are small.
struct Value {
  ValueType type = ValueType::kString;
  std::string str;
  std::vector<std::pair<std::string, std::string>> hash;
  std::vector<std::string> set;
  uint32_t flags = 0;  // memcached client flags of a string (0 for values written over RESP)

  // Approximate bytes used, for the cache's memory bound.
  size_t MemoryUsage() const;
  std::pair<std::string, std::string>* HashFind(std::string_view field);
  bool SetContains(std::string_view member) const;
  bool Empty() const { return type == ValueType::kHash ? hash.empty() : type == ValueType::kSet ? set.empty() : false; }
};

std::string_view TypeName(ValueType t);

// The type stored in the durable tier (kFlaggedString for strings with memcached flags).
ValueType StoredType(const Value& v);
// Serialises the payload (the type is stored beside it). Strings are stored raw; hashes and sets
// as varint-length-prefixed items.
void SerializeValue(const Value& v, std::string* out);
// Parses a payload written by SerializeValue. Corruption on malformed bytes.
Result<Value> ParseValue(ValueType type, std::string_view bytes);

// A record of the durable / external tiers: the typed value and its absolute expiry.
struct Record {
  ValueType type = ValueType::kString;
  std::string payload;
  int64_t expire_ms = 0;  // unix ms, 0 = no expiry
};

// Encodes {type, expire, payload} into one blob (the external Redis cache tier stores this).
std::string EncodeRecord(ValueType type, int64_t expire_ms, std::string_view payload);
Result<Record> DecodeRecord(std::string_view blob);

// The members of a set in the order Redis 7.0 returns them when it can be matched (all members
// integers → numerically sorted, like an intset); insertion order otherwise.
std::vector<const std::string*> SetMembersInRedisOrder(const Value& v);

// Redis's glob matching (stringmatchlen): * ? [abc] [^a] [a-z] and \ escapes.
bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase = false);

// Strict integer parsing as Redis does (string2ll): no spaces, no '+', no leading zeros.
bool ParseInt64(std::string_view s, int64_t* out);

}  // namespace hakone::sessions
