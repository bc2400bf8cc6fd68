// ParseSessionsConfig: the [sessions.cache] Sentinel keys and their errors.
#include <gtest/gtest.h>

#include "core/config.h"
#include "sessions/sessions.h"

namespace hakone::sessions {
namespace {

Result<SessionsConfig> Parse(std::string_view toml, SessionsOverrides ov = {}) {
  auto c = Config::LoadString(toml);
  if (!c.ok()) return c.status();
  return ParseSessionsConfig(*c, ov);
}

TEST(SessionsConfigTest, SentinelsImplyTheRedisTier) {
  auto c = Parse("[sessions.cache]\nsentinels = [\"10.0.0.1:26379\", \"sentinel-b:26380\"]\nmaster_name = \"cache\"\n"
                 "url = \"redis://:secret@ignored:1/3\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cache_type, "redis");
  ASSERT_EQ(c->cache_sentinels.size(), 2u);
  EXPECT_EQ(c->cache_sentinels[1], "sentinel-b:26380");
  EXPECT_EQ(c->cache_master_name, "cache");
}

TEST(SessionsConfigTest, SentinelFlagsOverrideTheFile) {
  SessionsOverrides ov;
  ov.cache_sentinels = "127.0.0.1:1,,[::1]:2";
  ov.cache_master = "m";
  auto c = Parse("[sessions.cache]\nsentinels = [\"10.0.0.1:26379\"]\nmaster_name = \"x\"\n", ov);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cache_sentinels, (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));
  EXPECT_EQ(c->cache_master_name, "m");
}

TEST(SessionsConfigTest, BadSentinelSettingsAreClearErrors) {
  struct Case {
    const char* toml;
    const char* error;
  } cases[] = {
      {"[sessions.cache]\nsentinels = [\"127.0.0.1:26379\"]\n", "master_name: required with sentinels"},
      {"[sessions.cache]\nmaster_name = \"m\"\n", "master_name: only meaningful with sentinels"},
      {"[sessions.cache]\nsentinels = [\"127.0.0.1\"]\nmaster_name = \"m\"\n", "sentinels: '127.0.0.1': expected host:port"},
      {"[sessions.cache]\nsentinels = [\"h:0\"]\nmaster_name = \"m\"\n", "sentinels: 'h:0': bad port"},
      {"[sessions.cache]\nsentinels = [\"h:65536\"]\nmaster_name = \"m\"\n", "bad port '65536'"},
      {"[sessions.cache]\nsentinels = [\":26379\"]\nmaster_name = \"m\"\n", "expected host:port"},
      {"[sessions.cache]\nsentinels = [\"h:26379\"]\nmaster_name = \"m\"\nurl = \"http://x\"\n", "[sessions.cache] url:"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.toml);
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.toml << " → " << r.status().message();
  }
}

}  // namespace
}  // namespace hakone::sessions
