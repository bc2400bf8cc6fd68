// IP addresses and CIDR sets (IPv4 and IPv6), e.g. the gateway's trusted proxies.
//
// Every address is kept as 16 bytes: IPv4 addresses (and IPv4 CIDRs) as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so "10.0.0.0/8" contains both "10.1.2.3" and "::ffff:10.1.2.3".
// A consequence worth knowing: "::/0" and "::ffff:0:0/96" contain every IPv4 address too.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  // True for IPv4 and IPv4-mapped IPv6 addresses.
  bool is_v4() const;
  // Canonical text: "10.1.2.3" for IPv4 (mapped ones too), RFC 5952 form for IPv6.
  std::string ToString() const;
};

// Parses "10.1.2.3", "2001:db8::1", "[2001:db8::1]", "fe80::1%eth0" (zone dropped). With
// `allow_port`, also "10.1.2.3:5678" and "[2001:db8::1]:443" (the port is dropped).
// Returns false (and leaves *out unspecified) on anything else. Never throws, never allocates.
bool ParseIpAddress(std::string_view text, IpAddress* out, bool allow_port = false);

class CidrSet {
 public:
  CidrSet() = default;

  // Parses "10.0.0.0/8", "192.168.1.7" (a single host), "2001:db8::/32", "::1". Bits set past
  // the prefix are ignored ("10.1.2.3/8" is 10.0.0.0/8). Returns InvalidArgument naming the first
  // bad entry (its index and text).
  static Result<CidrSet> Parse(const std::vector<std::string>& cidrs);

  // True if `ip` (any form ParseIpAddress accepts, without port) lies in one of the networks.
  // False for text that is not an address. Thread safe (const).
  bool Contains(std::string_view ip) const;
  bool Contains(const IpAddress& ip) const;
  bool empty() const { return nets_.empty(); }
  size_t size() const { return nets_.size(); }

 private:
  struct Net {
    IpAddress addr;  // masked
    int prefix = 0;  // 0..128 over the 16-byte form
  };
  std::vector<Net> nets_;
};

}  // namespace hakone
