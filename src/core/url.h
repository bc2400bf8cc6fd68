// URL helpers shared by the HTTP server and client: splitting "http://user@host:port/path?q",
// percent-decoding and -encoding, and query strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hakone {

// An absolute http(s) URL split into the parts a client needs.
struct ParsedUrl {
  std::string scheme;    // lowercased: "http" or "https"
  std::string userinfo;  // percent-decoded "user:password", "" if absent (never log it)
  std::string host;      // without brackets for IPv6 literals; lowercased
  uint16_t port = 0;     // explicit port, else 80 (http) / 443 (https)
  std::string target;    // "/path?query" (origin form); "/" when the URL has no path

  // "host:port", or "[v6]:port": the key of a connection pool.
  std::string HostPort() const;
  // The Host header value: the port is left out when it is the scheme's default.
  std::string HostHeader() const;
  // "scheme://host:port/target" without the userinfo: safe for logs and error messages.
  std::string Redacted() const;
};

// Parses an absolute http:// or https:// URL. Rejects other schemes, a missing host, a bad port,
// and control characters or spaces anywhere in the URL. A "#fragment" is dropped.
Result<ParsedUrl> ParseUrl(std::string_view url);

// Percent-decodes `s`; with `plus_as_space` a '+' becomes ' ' (form/query encoding).
// Returns nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_as_space = false);

// Percent-encodes every byte except the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~).
std::string PercentEncode(std::string_view s);

// Splits "a=1&b=x%20y&c" into {{"a","1"},{"b","x y"},{"c",""}}, in order, '+' as space.
// Lenient: a malformed escape is kept as it was written rather than failing the whole query.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// ASCII case-insensitive equality (header names).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace hakone
