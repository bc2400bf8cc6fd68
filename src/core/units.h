// Parsing of the human units used in config files and flags: durations ("200ms", "5m", "24h",
// "1h30m") and sizes ("64KiB", "2GiB", "100MB", "512").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hakone {

// Accepts one or more <number><unit> groups; units: ns us ms s m h d. A bare number is seconds.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);
// Accepts <number>[unit]; units: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (all binary, 1024).
Result<uint64_t> ParseSize(std::string_view text);
std::string FormatDuration(std::chrono::nanoseconds d);
std::string FormatSize(uint64_t bytes);
// UTC in RFC 3339 / ISO 8601: "2026-11-27T05:06:35.556Z" (millis = true) or "...T05:06:35Z".
std::string FormatIsoTime(std::chrono::system_clock::time_point tp, bool millis = true);

}  // namespace hakone
