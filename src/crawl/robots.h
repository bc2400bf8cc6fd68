// robots.txt per RFC 9309: user-agent groups, Allow/Disallow with `*` and `$`, longest match
// (Allow wins a tie), plus the widely used Crawl-delay and Sitemap lines.
//
// Parsing never fails: malformed lines are skipped (RFC 9309 §2.2: "parse what can be parsed").
// Only the first 500 KiB are read (the RFC's minimum limit). Thread safe after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hakone::crawl {

class Robots {
 public:
  // Allows everything (no robots.txt, or a 4xx answer: RFC 9309 §2.3.1.3).
  Robots() = default;
  // Disallows everything (a 5xx or unreachable robots.txt: RFC 9309 §2.3.1.4).
  static Robots DisallowAll();
  // Parses `body` and keeps the rules of the group that matches `user_agent`'s product token
  // ("hakone-crawler/1.0 (+url)" → "hakone-crawler", matched case-insensitively), merged over
  // every group naming it; else the `*` groups; else no rules (allow all).
  static Robots Parse(std::string_view body, std::string_view user_agent);

  // `path_and_query` is the URL's "/path?query" (percent-encoded as sent). /robots.txt is
  // always allowed.
  bool Allowed(std::string_view path_and_query) const;
  // Crawl-delay of the matched group in seconds (nullopt when absent or malformed).
  std::optional<double> CrawlDelay() const { return crawl_delay_; }
  // Sitemap URLs listed anywhere in the file.
  const std::vector<std::string>& Sitemaps() const { return sitemaps_; }

  struct Rule {
    bool allow;
    std::string pattern;  // normalised: %XX upper case, unreserved characters decoded
  };
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
  std::optional<double> crawl_delay_;
  std::vector<std::string> sitemaps_;
  bool disallow_all_ = false;
};

// Whether `path` matches `pattern` (`*` any run of bytes, `$` at the end anchors). Exposed for tests.
bool RobotsPatternMatch(std::string_view pattern, std::string_view path);

}  // namespace hakone::crawl
