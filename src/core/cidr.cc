#include "core/cidr.h"

#include <arpa/inet.h>

#include <cstring>

namespace hakone {
namespace {

bool ParseV4(std::string_view s, IpAddress* out) {
  char buf[INET_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  uint8_t b[4];
  if (inet_pton(AF_INET, buf, b) != 1) return false;
  out->bytes = {};
  out->bytes[10] = 0xff;
  out->bytes[11] = 0xff;
  std::memcpy(out->bytes.data() + 12, b, 4);
  return true;
}

bool ParseV6(std::string_view s, IpAddress* out) {
  if (auto pct = s.find('%'); pct != std::string_view::npos) s = s.substr(0, pct);  // zone id
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  return inet_pton(AF_INET6, buf, out->bytes.data()) == 1;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IpAddress::is_v4() const {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kMapped, 12) == 0;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    if (!inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf)) return "";
  } else {
    if (!inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf)) return "";
  }
  return buf;
}

bool ParseIpAddress(std::string_view text, IpAddress* out, bool allow_port) {
  // Trim blanks (X-Forwarded-For entries come with spaces).
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return false;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!allow_port || rest.front() != ':' || !AllDigits(rest.substr(1))) return false;
    }
    return ParseV6(text.substr(1, close - 1), out);
  }
  size_t colons = 0;
  for (char c : text) colons += c == ':';
  if (colons == 0) return ParseV4(text, out);
  if (colons == 1) {  // a.b.c.d:port
    if (!allow_port) return false;
    size_t c = text.find(':');
    if (!AllDigits(text.substr(c + 1))) return false;
    return ParseV4(text.substr(0, c), out);
  }
  return ParseV6(text, out);
}

Result<CidrSet> CidrSet::Parse(const std::vector<std::string>& cidrs) {
  CidrSet set;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    std::string_view s = cidrs[i];
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument("CIDR #" + std::to_string(i + 1) + " '" + cidrs[i] + "': " + std::string(why));
    };
    Net net;
    std::string_view addr = s;
    int prefix = -1;
    if (size_t slash = s.find('/'); slash != std::string_view::npos) {
      addr = s.substr(0, slash);
      std::string_view p = s.substr(slash + 1);
      if (p.empty() || p.size() > 3) return bad("bad prefix length");
      prefix = 0;
      for (char c : p) {
        if (c < '0' || c > '9') return bad("bad prefix length");
        prefix = prefix * 10 + (c - '0');
      }
    }
    if (!ParseIpAddress(addr, &net.addr, false)) return bad("not an IPv4 or IPv6 address");
    bool v4_text = addr.find(':') == std::string_view::npos;
    if (prefix < 0) {
      prefix = 128;
    } else if (v4_text) {
      if (prefix > 32) return bad("prefix length over 32 for IPv4");
      prefix += 96;
    } else if (prefix > 128) {
      return bad("prefix length over 128 for IPv6");
    }
    net.prefix = prefix;
    for (int b = 0; b < 16; ++b) {
      int keep = prefix - b * 8;
      if (keep >= 8) continue;
      net.addr.bytes[b] &= keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    }
    set.nets_.push_back(net);
  }
  return set;
}

bool CidrSet::Contains(const IpAddress& ip) const {
  for (const Net& n : nets_) {
    int full = n.prefix / 8, rem = n.prefix % 8;
    if (std::memcmp(ip.bytes.data(), n.addr.bytes.data(), full) != 0) continue;
    if (rem != 0) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
      if ((ip.bytes[full] & mask) != n.addr.bytes[full]) continue;
    }
    return true;
  }
  return false;
}

bool CidrSet::Contains(std::string_view ip) const {
  if (nets_.empty()) return false;
  IpAddress a;
  if (!ParseIpAddress(ip, &a, false)) return false;
  return Contains(a);
}

}  // namespace hakone
