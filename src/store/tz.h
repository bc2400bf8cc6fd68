// Time zones for date_histogram's `time_zone`: fixed offsets ("+09:00", "-0530", "Z", "UTC")
// and IANA names ("Asia/Tokyo", "Europe/Berlin") read from the system's TZif files
// (/usr/share/zoneinfo, Debian package tzdata). libstdc++ 12 has no chrono tzdb, so this is a
// small reader of RFC 8536 (TZif versions 1-4) with the POSIX TZ rule of the footer for instants
// after the last transition.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone::store {

class TimeZone {
 public:
  // A fixed offset or an IANA name (cached). InvalidArgument: an unknown or malformed name (the
  // message names it), or a damaged zone file.
  static Result<std::shared_ptr<const TimeZone>> Get(const std::string& name);
  // The same, reading IANA names under `zoneinfo_dir` (no cache).
  static Result<std::shared_ptr<const TimeZone>> Load(const std::string& name, const std::string& zoneinfo_dir);
  // A TZif file image. InvalidArgument on anything malformed (never reads out of bounds).
  static Result<std::shared_ptr<const TimeZone>> FromTzif(std::string_view data, const std::string& name);
  // A POSIX TZ string ("JST-9", "CET-1CEST,M3.5.0,M10.5.0/3", "<+0330>-3:30").
  static Result<std::shared_ptr<const TimeZone>> FromPosix(std::string_view rule, const std::string& name);

  const std::string& name() const { return name_; }
  bool is_utc() const { return transitions_.empty() && !rule_.has_dst && rule_.std_offset_s == 0; }
  // The offset from UTC (local = utc + offset) in effect at a UTC instant, in milliseconds.
  int64_t OffsetMs(int64_t utc_ms) const;
  // The UTC instant of a local wall-clock time. In a gap (spring forward) the instant after the
  // gap; in an overlap (fall back) the earlier instant.
  int64_t LocalToUtcMs(int64_t local_ms) const;

  struct PosixRule {
    int64_t std_offset_s = 0;  // local = utc + offset
    bool has_dst = false;
    int64_t dst_offset_s = 0;
    // Transition dates: kind 'M' (month, week 1-5, weekday 0-6), 'J' (1-365, no Feb 29), 'D'
    // (0-365, counting Feb 29); `time_s` is local wall time (may be negative or > 24h).
    struct Date {
      char kind = 'M';
      int month = 0, week = 0, weekday = 0, day = 0;
      int64_t time_s = 7200;
    };
    Date start, end;
  };

 private:
  int64_t RuleOffsetS(int64_t utc_s) const;

  std::string name_;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int64_t> offsets_;      // offsets_[i]: in effect from transitions_[i]
  int64_t initial_offset_s_ = 0;      // before the first transition
  PosixRule rule_;                    // after the last transition (or always, without a file)
  bool has_rule_ = false;
};

}  // namespace hakone::store
