#include "core/units.h"

#include <gtest/gtest.h>

#include "core/config.h"

namespace hakone {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(ParseDuration("200ms")->count(), 200'000'000);
  EXPECT_EQ(ParseDuration("5m")->count(), 300'000'000'000LL);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5'400'000'000'000LL);
  EXPECT_EQ(ParseDuration("2")->count(), 2'000'000'000LL);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("ms").ok());
  EXPECT_FALSE(ParseDuration("5 parsecs").ok());
  EXPECT_FALSE(ParseDuration("5x").ok());
}

TEST(Units, Sizes) {
  EXPECT_EQ(*ParseSize("64KiB"), 65536u);
  EXPECT_EQ(*ParseSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseSize("100"), 100u);
  EXPECT_FALSE(ParseSize("KiB").ok());
  EXPECT_FALSE(ParseSize("12 zettabytes").ok());
}

TEST(Config, ReadsValuesAndRejectsUnknownKeys) {
  auto c = Config::LoadString(R"(
data_dir = "/tmp/x"
[gateway]
listen = "127.0.0.1:8080"
listn = "oops"
flush_interval = "200ms"
workers = 2
[[gateway.sinks]]
type = "postgres"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto root = c->Root();
  EXPECT_EQ(root.String("data_dir", ""), "/tmp/x");
  auto gw = root.Section("gateway");
  EXPECT_EQ(gw.String("listen", ""), "127.0.0.1:8080");
  EXPECT_EQ(gw.Duration("flush_interval", {}).count(), 200'000'000);
  EXPECT_EQ(gw.Int("workers", 1), 2);
  auto sinks = gw.SectionArray("sinks");
  ASSERT_EQ(sinks.size(), 1u);
  EXPECT_EQ(sinks[0].String("type", ""), "postgres");
  Status st = c->Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("gateway.listn"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("line 5"), std::string::npos) << st.message();
}

TEST(Config, TypeErrorsNameKeyAndLine) {
  auto c = Config::LoadString("[gateway]\nworkers = \"two\"\n");
  ASSERT_TRUE(c.ok());
  (void)c->Section("gateway").Int("workers", 1);
  Status st = c->Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("[gateway] workers: must be an integer (line 2)"), std::string::npos) << st.message();
}

TEST(Config, SyntaxErrorsSayWhere) {
  auto c = Config::LoadString("[gateway\nx=1\n", "hakone.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("hakone.toml:1"), std::string::npos) << c.status().message();
}

TEST(Config, EnvironmentOverrides) {
  setenv("HAKONE_GATEWAY_WORKERS", "3", 1);
  auto c = Config::LoadString("[gateway]\nworkers = 1\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Section("gateway").Int("workers", 1), 3);
  unsetenv("HAKONE_GATEWAY_WORKERS");
  EXPECT_TRUE(c->Finish().ok());
}

TEST(Units, FormatIsoTime) {
  using namespace std::chrono;
  system_clock::time_point t{milliseconds(1795756595556)};  // 2026-11-27T05:16:35.556Z
  EXPECT_EQ(FormatIsoTime(t), "2026-11-27T05:16:35.556Z");
  EXPECT_EQ(FormatIsoTime(t, false), "2026-11-27T05:16:35Z");
  EXPECT_EQ(FormatIsoTime(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIsoTime(system_clock::time_point{milliseconds(-1)}), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace hakone
