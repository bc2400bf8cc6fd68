// URL canonicalisation (so that one page has one frontier key) and the crawl's URL filters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone::crawl {

// Resolves `ref` against `base` (RFC 3986 §5.2) and canonicalises the result: scheme and host
// lower case, default port dropped, dot segments removed, percent-encoding normalised (upper-case
// hex, unreserved characters decoded), empty path → "/", fragment and empty "?" dropped, user
// info rejected. Only http and https URLs are accepted. Errors: InvalidArgument.
Result<std::string> CanonicalUrl(std::string_view base, std::string_view ref);
inline Result<std::string> CanonicalUrl(std::string_view absolute) { return CanonicalUrl("", absolute); }

// Parts of a canonical URL.
struct UrlParts {
  std::string scheme, host;  // host without port
  std::string authority;     // "host" or "host:port" (the politeness key)
  std::string path_query;    // "/path?query"
};
Result<UrlParts> SplitUrl(std::string_view canonical_url);

// Whether two hosts belong to the same site: equal after dropping a leading "www.", or one a
// subdomain of the other ("jobs.acme.example" and "acme.example").
bool SameSite(std::string_view host_a, std::string_view host_b);

// A stable 64-bit FNV-1a hash (host sharding across Indexed Job pods: hash % shard_count).
uint64_t Fnv1a64(std::string_view s);

struct FilterConfig {
  std::vector<std::string> allow;  // ECMAScript regexes searched in the URL; empty: allow all
  std::vector<std::string> deny;   // a match excludes the URL (deny wins over allow)
  bool same_site = true;           // only hosts of the same site as some seed
  int max_depth = 10;              // links followed from a seed (seed = 0)
};

class UrlFilter {
 public:
  // Errors: InvalidArgument naming the bad regex.
  static Result<UrlFilter> Create(const FilterConfig& cfg, const std::vector<std::string>& seed_hosts);
  // "" when `url` (canonical) at `depth` may be crawled, else the reason ("depth", "deny",
  // "not_allowed", "off_site").
  std::string Check(std::string_view url, std::string_view host, int depth) const;

 private:
  FilterConfig cfg_;
  std::vector<std::regex> allow_, deny_;
  std::vector<std::string> seed_hosts_;
};

}  // namespace hakone::crawl
