// Tests of the time zone reader: fixed offsets, IANA zones from /usr/share/zoneinfo checked
// against glibc's own reading of the same files, DST gaps and overlaps, the POSIX footer rule
// for far-future instants, and malformed names, rules and files.
#include "store/tz.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

namespace hakone::store {
namespace {

constexpr int64_t kH = 3600000;

int64_t Utc(int y, int mo, int d, int h, int mi) {
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  return static_cast<int64_t>(::timegm(&t)) * 1000;
}

std::shared_ptr<const TimeZone> Must(const std::string& name) {
  auto tz = TimeZone::Get(name);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : nullptr;
}

TEST(TimeZone, FixedOffsets) {
  EXPECT_TRUE(Must("UTC")->is_utc());
  EXPECT_TRUE(Must("Z")->is_utc());
  EXPECT_TRUE(Must("")->is_utc());
  EXPECT_EQ(Must("+09:00")->OffsetMs(0), 9 * kH);
  EXPECT_EQ(Must("-0530")->OffsetMs(0), -(5 * kH + 30 * 60000));
  EXPECT_EQ(Must("+03")->OffsetMs(123456789), 3 * kH);
  EXPECT_EQ(Must("-8")->OffsetMs(0), -8 * kH);
  EXPECT_EQ(Must("+09:00")->LocalToUtcMs(9 * kH), 0);
  for (const char* bad : {"+19:00", "+09:60", "+123", "+09:0", "+ab:cd", "++09:00", "+09:00x"}) {
    auto tz = TimeZone::Get(bad);
    EXPECT_FALSE(tz.ok()) << bad;
    if (!tz.ok()) EXPECT_NE(tz.status().message().find(bad), std::string::npos) << tz.status().ToString();
  }
}

TEST(TimeZone, IanaZonesAndDst) {
  auto tokyo = Must("Asia/Tokyo");
  EXPECT_FALSE(tokyo->is_utc());
  EXPECT_EQ(tokyo->OffsetMs(Utc(2024, 1, 1, 0, 0)), 9 * kH);
  EXPECT_EQ(tokyo->OffsetMs(Utc(2024, 7, 1, 0, 0)), 9 * kH);
  auto berlin = Must("Europe/Berlin");
  // 2024-03-31 01:00 UTC: +01:00 → +02:00; 2024-10-27 01:00 UTC: back.
  EXPECT_EQ(berlin->OffsetMs(Utc(2024, 3, 31, 0, 59)), 1 * kH);
  EXPECT_EQ(berlin->OffsetMs(Utc(2024, 3, 31, 1, 0)), 2 * kH);
  EXPECT_EQ(berlin->OffsetMs(Utc(2024, 10, 27, 0, 59)), 2 * kH);
  EXPECT_EQ(berlin->OffsetMs(Utc(2024, 10, 27, 1, 0)), 1 * kH);
  // Local → UTC: a normal time, a gap (02:30 does not exist: the instant after the gap), an
  // overlap (02:30 happens twice: the earlier).
  EXPECT_EQ(berlin->LocalToUtcMs(Utc(2024, 6, 1, 12, 0)), Utc(2024, 6, 1, 10, 0));
  EXPECT_EQ(berlin->LocalToUtcMs(Utc(2024, 3, 31, 2, 30)), Utc(2024, 3, 31, 1, 0));
  EXPECT_EQ(berlin->LocalToUtcMs(Utc(2024, 10, 27, 2, 30)), Utc(2024, 10, 27, 0, 30));
  EXPECT_EQ(berlin->LocalToUtcMs(Utc(2024, 10, 27, 0, 0)), Utc(2024, 10, 26, 22, 0));
  // Far future: past the file's transitions, the footer rule (CET-1CEST,M3.5.0,M10.5.0/3).
  EXPECT_EQ(berlin->OffsetMs(Utc(2100, 1, 15, 0, 0)), 1 * kH);
  EXPECT_EQ(berlin->OffsetMs(Utc(2100, 7, 15, 0, 0)), 2 * kH);
  auto sydney = Must("Australia/Sydney");  // southern hemisphere: DST over the new year
  EXPECT_EQ(sydney->OffsetMs(Utc(2100, 1, 15, 0, 0)), 11 * kH);
  EXPECT_EQ(sydney->OffsetMs(Utc(2100, 7, 15, 0, 0)), 10 * kH);
  auto kolkata = Must("Asia/Kolkata");
  EXPECT_EQ(kolkata->OffsetMs(Utc(2024, 1, 1, 0, 0)), 5 * kH + 30 * 60000);
}

// The same files read by glibc (TZ=<name>, localtime_r's tm_gmtoff) must give the same offsets.
TEST(TimeZone, AgreesWithGlibc) {
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  std::mt19937_64 rng(42);
  for (const char* name : {"Asia/Tokyo", "Europe/Berlin", "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe",
                           "Asia/Tehran", "Pacific/Chatham", "Europe/London", "America/Santiago", "Africa/Casablanca"}) {
    auto tz = Must(name);
    ASSERT_NE(tz, nullptr);
    ::setenv("TZ", name, 1);
    ::tzset();
    for (int i = 0; i < 3000; ++i) {
      // 1970 .. 2120
      int64_t s = static_cast<int64_t>(rng() % (150ull * 365 * 86400));
      time_t t = static_cast<time_t>(s);
      std::tm lt{};
      ::localtime_r(&t, &lt);
      ASSERT_EQ(tz->OffsetMs(s * 1000), static_cast<int64_t>(lt.tm_gmtoff) * 1000) << name << " at " << s;
      // Round trip through local time where the local time is unambiguous.
      int64_t local = s * 1000 + tz->OffsetMs(s * 1000);
      int64_t back = tz->LocalToUtcMs(local);
      EXPECT_EQ(back + tz->OffsetMs(back), local) << name << " at " << s;
    }
  }
  if (old) ::setenv("TZ", saved.c_str(), 1);
  else ::unsetenv("TZ");
  ::tzset();
}

TEST(TimeZone, UnknownAndMalformedNames) {
  for (const char* bad : {"Mars/Olympus", "Asia/Atlantis", "../../etc/passwd", "/etc/passwd", "Asia/../Asia/Tokyo", "Asia//Tokyo",
                          "Asia/Tokyo/", "asia tokyo", "Asia/Tokyo\n", "zone.tab", "."}) {
    auto tz = TimeZone::Get(bad);
    ASSERT_FALSE(tz.ok()) << bad;
    EXPECT_EQ(tz.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(tz.status().message().find("time zone"), std::string::npos) << tz.status().ToString();
  }
}

TEST(TimeZone, PosixRules) {
  auto ny = TimeZone::FromPosix("EST5EDT,M3.2.0,M11.1.0", "x");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ((*ny)->OffsetMs(Utc(2030, 1, 1, 0, 0)), -5 * kH);
  EXPECT_EQ((*ny)->OffsetMs(Utc(2030, 7, 1, 0, 0)), -4 * kH);
  // 2030-03-10 is the second Sunday of March: 02:00 EST = 07:00 UTC.
  EXPECT_EQ((*ny)->OffsetMs(Utc(2030, 3, 10, 6, 59)), -5 * kH);
  EXPECT_EQ((*ny)->OffsetMs(Utc(2030, 3, 10, 7, 0)), -4 * kH);
  auto q = TimeZone::FromPosix("<+0330>-3:30", "x");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->OffsetMs(0), 3 * kH + 30 * 60000);
  auto j = TimeZone::FromPosix("XXX-2YYY,J60/0,J300/0", "x");  // Julian days without Feb 29
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)->OffsetMs(Utc(2032, 3, 1, 12, 0)), 3 * kH);  // day 60 is Mar 1 even in a leap year
  EXPECT_EQ((*j)->OffsetMs(Utc(2032, 2, 28, 12, 0)), 2 * kH);
  for (const char* bad : {"", "E", "EST", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0",
                          "EST5EDT,J0,J10", "EST5EDT,M3.2.0/200,M11.1.0", "<>5", "<ab", "EST99", "EST5EDT,M3.2.0,M11.1.0,x", "EST5:99"}) {
    EXPECT_FALSE(TimeZone::FromPosix(bad, "x").ok()) << bad;
  }
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TimeZone, MalformedTzifFiles) {
  std::string good = ReadAll("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(good.size(), 100u);
  ASSERT_TRUE(TimeZone::FromTzif(good, "b").ok());
  // Every truncation is an error (the footer is the last thing), never a crash.
  for (size_t n = 0; n + 1 < good.size(); ++n) EXPECT_FALSE(TimeZone::FromTzif(std::string_view(good).substr(0, n), "b").ok()) << n;
  // Flipped bytes and huge counts: an error or a zone, never a crash or a read out of bounds.
  std::mt19937 rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string d = good;
    for (int k = 0; k < 3; ++k) d[rng() % d.size()] = static_cast<char>(rng());
    auto tz = TimeZone::FromTzif(d, "b");
    if (tz.ok()) (void)(*tz)->OffsetMs(Utc(2024, 3, 31, 1, 0));
  }
  std::string huge = good;
  for (int k = 20; k < 44; ++k) huge[k] = '\x7f';
  EXPECT_FALSE(TimeZone::FromTzif(huge, "b").ok());
  EXPECT_FALSE(TimeZone::FromTzif("TZif", "b").ok());
  EXPECT_FALSE(TimeZone::FromTzif("not a zone file at all, but long enough to hold a header ......", "b").ok());
}

}  // namespace
}  // namespace hakone::store
