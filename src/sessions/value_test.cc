#include "sessions/value.h"

#include <gtest/gtest.h>

namespace hakone::sessions {
namespace {

TEST(Value, RoundTripEveryType) {
  Value s;
  s.str = std::string("a\0b", 3);
  Value h;
  h.type = ValueType::kHash;
  h.hash = {{"f1", "v1"}, {"", std::string(300, 'x')}};
  Value st;
  st.type = ValueType::kSet;
  st.set = {"b", "a", "c"};
  Value fl;
  fl.str = "mc";
  fl.flags = 0xdeadbeef;
  for (const Value* v : {&s, &h, &st, &fl}) {
    std::string p;
    SerializeValue(*v, &p);
    auto back = ParseValue(StoredType(*v), p);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->type, v->type);
    EXPECT_EQ(back->str, v->str);
    EXPECT_EQ(back->hash, v->hash);
    EXPECT_EQ(back->set, v->set);
    EXPECT_EQ(back->flags, v->flags);
  }
}

TEST(Value, MalformedPayloadsAreCorruption) {
  EXPECT_FALSE(ParseValue(ValueType::kHash, "\x05").ok());
  EXPECT_FALSE(ParseValue(ValueType::kHash, "\x01\x02" "a").ok());
  EXPECT_FALSE(ParseValue(ValueType::kSet, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").ok());
  EXPECT_FALSE(ParseValue(ValueType::kSet, std::string("\x01\x01" "ab", 4)).ok());  // trailing byte
  EXPECT_FALSE(ParseValue(ValueType::kFlaggedString, "ab").ok());
  EXPECT_FALSE(ParseValue(static_cast<ValueType>(9), "").ok());
  EXPECT_FALSE(DecodeRecord("X").ok());
  EXPECT_FALSE(DecodeRecord("H\x07\x00").ok());
}

TEST(Value, RecordRoundTrip) {
  auto r = DecodeRecord(EncodeRecord(ValueType::kSet, 1234567890123, "payload"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, ValueType::kSet);
  EXPECT_EQ(r->expire_ms, 1234567890123);
  EXPECT_EQ(r->payload, "payload");
}

TEST(Value, ParseInt64LikeRedis) {
  int64_t v;
  EXPECT_TRUE(ParseInt64("0", &v));
  EXPECT_TRUE(ParseInt64("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(ParseInt64("9223372036854775807", &v));
  EXPECT_FALSE(ParseInt64("9223372036854775808", &v));
  EXPECT_FALSE(ParseInt64("01", &v));
  EXPECT_FALSE(ParseInt64("-0", &v));
  EXPECT_FALSE(ParseInt64("+1", &v));
  EXPECT_FALSE(ParseInt64(" 1", &v));
  EXPECT_FALSE(ParseInt64("", &v));
  EXPECT_FALSE(ParseInt64("1.5", &v));
}

TEST(Value, GlobMatch) {
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("sess:*", "sess:abc"));
  EXPECT_FALSE(GlobMatch("sess:*", "user:abc"));
  EXPECT_TRUE(GlobMatch("h?llo", "hello"));
  EXPECT_TRUE(GlobMatch("h[ae]llo", "hallo"));
  EXPECT_FALSE(GlobMatch("h[^e]llo", "hello"));
  EXPECT_TRUE(GlobMatch("h[a-c]llo", "hbllo"));
  EXPECT_TRUE(GlobMatch("a\\*b", "a*b"));
  EXPECT_FALSE(GlobMatch("a\\*b", "axb"));
  EXPECT_TRUE(GlobMatch("MAXMEM*", "maxmemory", true));
  EXPECT_FALSE(GlobMatch(std::string(100, '*') + "x", std::string(50, 'a')));
}

TEST(Value, IntegerSetsSortLikeIntset) {
  Value v;
  v.type = ValueType::kSet;
  v.set = {"10", "-1", "2"};
  auto m = SetMembersInRedisOrder(v);
  EXPECT_EQ(*m[0], "-1");
  EXPECT_EQ(*m[1], "2");
  EXPECT_EQ(*m[2], "10");
  v.set = {"b", "1"};
  m = SetMembersInRedisOrder(v);
  EXPECT_EQ(*m[0], "b");
}

}  // namespace
}  // namespace hakone::sessions
