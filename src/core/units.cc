#include "core/units.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace hakone {

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  std::string_view s = text;
  long double total_ns = 0;
  bool any = false;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
    if (i == 0) {
      return Status::InvalidArgument("bad duration '" + std::string(text) +
                                     "' (expected e.g. 200ms, 5s, 5m, 24h)");
    }
    long double n = 0;
    try {
      n = std::stold(std::string(s.substr(0, i)));
    } catch (...) {
      return Status::InvalidArgument("bad duration '" + std::string(text) + "'");
    }
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) j++;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    long double mult;
    if (unit.empty() || unit == "s") mult = 1e9L;
    else if (unit == "ns") mult = 1;
    else if (unit == "us") mult = 1e3L;
    else if (unit == "ms") mult = 1e6L;
    else if (unit == "m") mult = 60e9L;
    else if (unit == "h") mult = 3600e9L;
    else if (unit == "d") mult = 86400e9L;
    else return Status::InvalidArgument("bad duration unit '" + std::string(unit) + "' in '" +
                                        std::string(text) + "' (use ns, us, ms, s, m, h, d)");
    if (unit.empty() && !s.empty()) return Status::InvalidArgument("bad duration '" + std::string(text) + "'");
    total_ns += n * mult;
    any = true;
  }
  if (!any || total_ns > 9.2e18L) return Status::InvalidArgument("bad duration '" + std::string(text) + "'");
  return std::chrono::nanoseconds(static_cast<int64_t>(total_ns));
}

Result<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) i++;
  if (i == 0) return Status::InvalidArgument("bad size '" + std::string(text) + "' (expected e.g. 64KiB, 2GiB)");
  long double n;
  try {
    n = std::stold(std::string(text.substr(0, i)));
  } catch (...) {
    return Status::InvalidArgument("bad size '" + std::string(text) + "'");
  }
  std::string unit;
  for (char c : text.substr(i)) {
    if (c != ' ') unit += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  long double mult;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mult = 1024.0L;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mult = 1024.0L * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mult = 1024.0L * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") mult = 1024.0L * 1024 * 1024 * 1024;
  else return Status::InvalidArgument("bad size unit in '" + std::string(text) + "' (use B, KiB, MiB, GiB, TiB)");
  long double v = n * mult;
  if (v > 1.8e19L) return Status::InvalidArgument("size too large: '" + std::string(text) + "'");
  return static_cast<uint64_t>(v);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  char buf[64];
  double ns = static_cast<double>(d.count());
  if (ns < 1e3) std::snprintf(buf, sizeof buf, "%.0fns", ns);
  else if (ns < 1e6) std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  else if (ns < 1e9) std::snprintf(buf, sizeof buf, "%.1fms", ns / 1e6);
  else if (ns < 60e9) std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  else if (ns < 3600e9) std::snprintf(buf, sizeof buf, "%.1fm", ns / 60e9);
  else std::snprintf(buf, sizeof buf, "%.1fh", ns / 3600e9);
  return buf;
}

std::string FormatSize(uint64_t b) {
  char buf[64];
  double v = static_cast<double>(b);
  if (b < 1024) std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(b));
  else if (v < 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1fKiB", v / 1024);
  else if (v < 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1fMiB", v / 1024 / 1024);
  else std::snprintf(buf, sizeof buf, "%.2fGiB", v / 1024 / 1024 / 1024);
  return buf;
}

std::string FormatIsoTime(std::chrono::system_clock::time_point tp, bool millis) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;  // floor, for times before 1970
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (millis) n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), ".%03d", static_cast<int>(ms - secs * 1000));
  std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), "Z");
  return buf;
}

}  // namespace hakone
