#include "sessions/resp.h"

#include <gtest/gtest.h>

namespace hakone::sessions {
namespace {

struct Parsed {
  ParseStatus st;
  std::vector<std::string> args;
  size_t consumed = 0;
  std::string error;
};

Parsed ParseOne(std::string_view in, RespServerLimits lim = {}) {
  RespRequestParser p;
  std::vector<std::string_view> a;
  Parsed r;
  r.st = p.Parse(in, lim, &a, &r.consumed);
  for (auto v : a) r.args.emplace_back(v);
  r.error = p.error();
  return r;
}

TEST(RespParser, Multibulk) {
  auto r = ParseOne("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest");
  ASSERT_EQ(r.st, ParseStatus::kOk);
  EXPECT_EQ(r.args, (std::vector<std::string>{"GET", "k"}));
  EXPECT_EQ(r.consumed, 20u);
}

TEST(RespParser, BinarySafeBulk) {
  std::string in = std::string("*2\r\n$3\r\nSET\r\n$4\r\na\r\n\0\r\n", 23);
  auto r = ParseOne(in);
  ASSERT_EQ(r.st, ParseStatus::kOk);
  EXPECT_EQ(r.args[1], std::string("a\r\n\0", 4));
}

TEST(RespParser, IncompleteAtEveryPrefix) {
  std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
  for (size_t i = 0; i < in.size(); i++) {
    EXPECT_EQ(ParseOne(in.substr(0, i)).st, ParseStatus::kIncomplete) << i;
  }
  EXPECT_EQ(ParseOne(in).st, ParseStatus::kOk);
}

TEST(RespParser, Inline) {
  auto r = ParseOne("set k \"a b\\x41\\n\" 'c d'\r\n");
  ASSERT_EQ(r.st, ParseStatus::kOk);
  EXPECT_EQ(r.args, (std::vector<std::string>{"set", "k", "a bA\n", "c d"}));
  EXPECT_EQ(ParseOne("\r\n").st, ParseStatus::kEmpty);
  EXPECT_EQ(ParseOne("PING").st, ParseStatus::kIncomplete);
}

TEST(RespParser, MalformedInputsAreProtocolErrors) {
  struct Case {
    std::string in, error;
  } cases[] = {
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*-\r\n", "Protocol error: invalid multibulk length"},
      {"*99999999999\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n+3\r\n", "Protocol error: expected '$', got '+'"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$1\r\nab\r\n", "Protocol error: expected '\\r\\n' after bulk argument"},
      {"set \"abc\r\n", "Protocol error: unbalanced quotes in request"},
      {"set \"a\"b\r\n", "Protocol error: unbalanced quotes in request"},
  };
  for (const auto& c : cases) {
    auto r = ParseOne(c.in);
    EXPECT_EQ(r.st, ParseStatus::kError) << c.in;
    EXPECT_EQ(r.error, c.error) << c.in;
  }
}

TEST(RespParser, Limits) {
  RespServerLimits lim;
  lim.max_bulk = 10;
  lim.max_multibulk = 3;
  lim.max_inline = 16;
  EXPECT_EQ(ParseOne("*4\r\n", lim).error, "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseOne("*1\r\n$11\r\n", lim).error, "Protocol error: invalid bulk length");
  EXPECT_EQ(ParseOne(std::string(20, 'a'), lim).error, "Protocol error: too big inline request");
  EXPECT_EQ(ParseOne("*1" + std::string(20, '1'), lim).error, "Protocol error: too big mbulk count string");
  RespServerLimits unauth;
  unauth.authenticated = false;
  EXPECT_EQ(ParseOne("*11\r\n", unauth).error, "Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseOne("*1\r\n$16385\r\n", unauth).error, "Protocol error: invalid bulk length");
}

TEST(RespParser, WantedGrowsForLargeBulk) {
  RespRequestParser p;
  std::vector<std::string_view> a;
  size_t used;
  EXPECT_EQ(p.Parse("*1\r\n$100000\r\nabc", {}, &a, &used), ParseStatus::kIncomplete);
  EXPECT_EQ(p.wanted(), 4u + 9u + 100000u + 2u);
}

TEST(RespWriter, Replies) {
  std::string o;
  ReplyOk(o);
  ReplyInt(o, -42);
  ReplyBulk(o, "ab");
  ReplyNil(o);
  ReplyArray(o, 2);
  ReplyError(o, "ERR x");
  EXPECT_EQ(o, "+OK\r\n:-42\r\n$2\r\nab\r\n$-1\r\n*2\r\n-ERR x\r\n");
}

}  // namespace
}  // namespace hakone::sessions
