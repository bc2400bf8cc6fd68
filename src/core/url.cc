#include "core/url.h"

#include <charconv>

namespace hakone {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = Lower(c);
  return out;
}

std::string DecodeLenient(std::string_view s) {
  auto d = PercentDecode(s, true);
  if (d) return std::move(*d);
  std::string out(s);
  for (auto& c : out) {
    if (c == '+') c = ' ';
  }
  return out;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string ParsedUrl::HostPort() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string ParsedUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  uint16_t def = scheme == "https" ? 443 : 80;
  if (port == def) return h;
  return h + ":" + std::to_string(port);
}

std::string ParsedUrl::Redacted() const { return scheme + "://" + HostPort() + target; }

Result<ParsedUrl> ParseUrl(std::string_view url) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("url: control character or space in URL");
    }
  }
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return Status::InvalidArgument("url: missing scheme (expected http://host:port/...)");
  ParsedUrl u;
  u.scheme = Lowered(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    return Status::InvalidArgument("url: unsupported scheme '" + u.scheme + "' (expected http or https)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto ui = PercentDecode(authority.substr(0, at));
    if (!ui) return Status::InvalidArgument("url: bad percent-escape in userinfo");
    u.userinfo = std::move(*ui);
    authority = authority.substr(at + 1);
  }
  std::string_view host, port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("url: unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::InvalidArgument("url: unexpected characters after IPv6 literal");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    } else {
      host = authority;
    }
  }
  if (host.empty()) return Status::InvalidArgument("url: missing host");
  u.host = Lowered(host);
  if (port.empty()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535) {
      return Status::InvalidArgument("url: bad port '" + std::string(port) + "'");
    }
    u.port = static_cast<uint16_t>(p);
  }
  if (target.empty()) {
    u.target = "/";
  } else if (target[0] == '?') {
    u.target = "/" + std::string(target);
  } else {
    u.target = std::string(target);
  }
  return u;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(DecodeLenient(part), std::string());
    } else {
      out.emplace_back(DecodeLenient(part.substr(0, eq)), DecodeLenient(part.substr(eq + 1)));
    }
  }
  return out;
}

}  // namespace hakone
