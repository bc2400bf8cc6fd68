#include "crawl/url_filter.h"

#include <boost/url.hpp>

#include <cctype>

namespace hakone::crawl {
namespace {

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %xx of unreserved characters decoded, other %xx upper-cased (RFC 3986 §6.2.2.2).
std::string NormalizePercent(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 && HexVal(s[i + 2]) >= 0) {
      unsigned char v = static_cast<unsigned char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2]));
      if (std::isalnum(v) || v == '-' || v == '.' || v == '_' || v == '~') {
        out += static_cast<char>(v);
      } else {
        out += '%';
        out += kHex[v >> 4];
        out += kHex[v & 15];
      }
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// RFC 3986 §5.2.4.
std::string RemoveDotSegments(std::string_view in) {
  std::vector<std::string_view> segs;
  bool trailing = false;
  size_t p = 0;
  if (!in.empty() && in[0] == '/') p = 1;
  while (p <= in.size()) {
    size_t slash = in.find('/', p);
    std::string_view seg = in.substr(p, slash == std::string_view::npos ? std::string_view::npos : slash - p);
    bool last = slash == std::string_view::npos;
    if (seg == ".") {
      trailing = last;
    } else if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
      trailing = last;
    } else {
      segs.push_back(seg);
      trailing = false;
    }
    if (last) break;
    p = slash + 1;
  }
  std::string out;
  for (auto s : segs) {
    out += '/';
    out.append(s);
  }
  if (trailing || out.empty()) out += '/';
  return out;
}

}  // namespace

Result<std::string> CanonicalUrl(std::string_view base, std::string_view ref) {
  // Trim whitespace around hrefs (common in HTML) and reject control characters.
  while (!ref.empty() && std::isspace(static_cast<unsigned char>(ref.front()))) ref.remove_prefix(1);
  while (!ref.empty() && std::isspace(static_cast<unsigned char>(ref.back()))) ref.remove_suffix(1);
  if (ref.empty() && base.empty()) return Status::InvalidArgument("url: empty");
  for (char c : ref) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Status::InvalidArgument("url: control character");
  }
  std::string fixed;
  fixed.reserve(ref.size());
  // Browsers percent-encode spaces and non-ASCII in hrefs; do the same so Boost.URL accepts them.
  for (char c : ref) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || c == ' ' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' ||
        c == '{' || c == '|' || c == '}') {
      static const char* kHex = "0123456789ABCDEF";
      if (c == '\\') {
        fixed += '/';
        continue;
      }
      fixed += '%';
      fixed += kHex[u >> 4];
      fixed += kHex[u & 15];
    } else {
      fixed += c;
    }
  }
  boost::urls::url out;
  auto r = boost::urls::parse_uri_reference(fixed);
  if (!r) return Status::InvalidArgument("url: cannot parse '" + std::string(ref.substr(0, 200)) + "'");
  if (r->has_scheme()) {
    out = *r;
  } else {
    if (base.empty()) return Status::InvalidArgument("url: relative reference without a base");
    auto b = boost::urls::parse_uri(base);
    if (!b) return Status::InvalidArgument("url: bad base '" + std::string(base.substr(0, 200)) + "'");
    auto rr = boost::urls::resolve(*b, *r, out);
    if (!rr) return Status::InvalidArgument("url: cannot resolve '" + std::string(ref.substr(0, 200)) + "'");
  }
  out.normalize_scheme();
  out.normalize_authority();
  std::string scheme(out.scheme());
  if (scheme != "http" && scheme != "https") return Status::InvalidArgument("url: not http(s): " + scheme);
  if (!out.has_authority() || out.encoded_host().empty()) return Status::InvalidArgument("url: no host");
  if (out.has_userinfo()) return Status::InvalidArgument("url: user info is not crawled");
  if (out.has_port()) {
    if ((scheme == "http" && out.port() == "80") || (scheme == "https" && out.port() == "443") || out.port().empty()) {
      out.remove_port();
    }
  }
  // Assembled by hand: Boost.URL's normalize() decodes %2F in paths, which changes the resource.
  std::string result = scheme + "://" + std::string(out.encoded_host_and_port());
  std::string path = RemoveDotSegments(NormalizePercent(out.encoded_path()));
  result += path.empty() ? "/" : path;
  if (out.has_query() && !out.encoded_query().empty()) {
    result += '?';
    result += NormalizePercent(out.encoded_query());
  }
  return result;
}

Result<UrlParts> SplitUrl(std::string_view canonical_url) {
  auto r = boost::urls::parse_uri(canonical_url);
  if (!r) return Status::InvalidArgument("url: cannot parse '" + std::string(canonical_url.substr(0, 200)) + "'");
  UrlParts p;
  p.scheme = std::string(r->scheme());
  p.host = std::string(r->encoded_host());
  p.authority = std::string(r->encoded_host_and_port());
  p.path_query = std::string(r->encoded_path());
  if (p.path_query.empty()) p.path_query = "/";
  if (r->has_query()) {
    p.path_query += '?';
    p.path_query += std::string(r->encoded_query());
  }
  return p;
}

bool SameSite(std::string_view a, std::string_view b) {
  auto strip = [](std::string_view h) {
    if (h.substr(0, 4) == "www.") h.remove_prefix(4);
    return h;
  };
  a = strip(a);
  b = strip(b);
  if (a == b) return true;
  auto sub = [](std::string_view x, std::string_view y) {  // x is a subdomain of y
    return x.size() > y.size() && x.substr(x.size() - y.size()) == y && x[x.size() - y.size() - 1] == '.';
  };
  return sub(a, b) || sub(b, a);
}

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Result<UrlFilter> UrlFilter::Create(const FilterConfig& cfg, const std::vector<std::string>& seed_hosts) {
  UrlFilter f;
  f.cfg_ = cfg;
  f.seed_hosts_ = seed_hosts;
  auto compile = [](const std::vector<std::string>& pats, std::vector<std::regex>* out, const char* what) -> Status {
    for (const auto& p : pats) {
      try {
        out->emplace_back(p, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return Status::InvalidArgument(std::string("crawl: ") + what + " pattern '" + p + "': " + e.what());
      }
    }
    return Status::Ok();
  };
  HAKONE_RETURN_IF_ERROR(compile(cfg.allow, &f.allow_, "allow"));
  HAKONE_RETURN_IF_ERROR(compile(cfg.deny, &f.deny_, "deny"));
  return f;
}

std::string UrlFilter::Check(std::string_view url, std::string_view host, int depth) const {
  if (depth > cfg_.max_depth) return "depth";
  if (cfg_.same_site) {
    bool ok = false;
    for (const auto& s : seed_hosts_) ok = ok || SameSite(host, s);
    if (!ok) return "off_site";
  }
  for (const auto& re : deny_) {
    if (std::regex_search(url.begin(), url.end(), re)) return "deny";
  }
  if (!allow_.empty()) {
    bool ok = false;
    for (const auto& re : allow_) ok = ok || std::regex_search(url.begin(), url.end(), re);
    if (!ok) return "not_allowed";
  }
  return "";
}

}  // namespace hakone::crawl
