#include "crawl/robots.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace hakone::crawl {
namespace {

constexpr size_t kMaxRobotsBytes = 500 * 1024;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Normalises percent-encoding so that a pattern and a path compare byte for byte: %xx of an
// unreserved character is decoded, other %xx upper-cased, raw non-ASCII bytes encoded.
std::string NormalizeEncoding(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 &&
        HexVal(s[i + 2]) >= 0) {
      unsigned char v = static_cast<unsigned char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2]));
      if (Unreserved(v)) {
        out += static_cast<char>(v);
      } else {
        out += '%';
        out += kHex[v >> 4];
        out += kHex[v & 15];
      }
      i += 2;
    } else if (c >= 0x80 || c < 0x20 || c == ' ') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string ProductToken(std::string_view ua) {
  size_t end = 0;
  while (end < ua.size()) {
    char c = ua[end];
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '-' || c == '_')) break;
    ++end;
  }
  return Lower(ua.substr(0, end));
}

}  // namespace

bool RobotsPatternMatch(std::string_view pattern, std::string_view path) {
  bool anchored = !pattern.empty() && pattern.back() == '$';
  if (anchored) pattern.remove_suffix(1);
  // Iterative glob with backtracking to the last '*': O(n*m) worst case, no recursion.
  size_t p = 0, s = 0, star = std::string_view::npos, mark = 0;
  while (s < path.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = s;
    } else if (p < pattern.size() && pattern[p] == path[s]) {
      ++p;
      ++s;
    } else if (p == pattern.size() && !anchored) {
      return true;  // prefix match
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Robots Robots::DisallowAll() {
  Robots r;
  r.disallow_all_ = true;
  return r;
}

Robots Robots::Parse(std::string_view body, std::string_view user_agent) {
  if (body.size() > kMaxRobotsBytes) body = body.substr(0, kMaxRobotsBytes);
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // BOM
  const std::string me = ProductToken(user_agent);

  struct Group {
    std::vector<std::string> agents;
    std::vector<Rule> rules;
    std::optional<double> delay;
  };
  std::vector<Group> groups;
  std::vector<std::string> sitemaps;
  bool in_agents = false;  // the previous meaningful line was a user-agent line

  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find_first_of("\r\n", pos);
    std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // malformed: skipped
    std::string key = Lower(Trim(line.substr(0, colon)));
    std::string_view value = Trim(line.substr(colon + 1));
    if (key == "user-agent" || key == "useragent" || key == "user agent") {
      if (!in_agents || groups.empty()) groups.emplace_back();
      groups.back().agents.push_back(value == "*" ? "*" : ProductToken(value));
      in_agents = true;
    } else if (key == "allow" || key == "disallow") {
      in_agents = false;
      if (groups.empty()) continue;  // rules before any user-agent line belong to no group
      if (value.empty()) continue;   // "Disallow:" allows everything: no rule
      groups.back().rules.push_back({key == "allow", NormalizeEncoding(value)});
    } else if (key == "crawl-delay") {
      in_agents = false;
      if (groups.empty()) continue;
      std::string v(value);
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0' && d >= 0 && d < 86400) groups.back().delay = d;
    } else if (key == "sitemap" || key == "site-map") {
      if (!value.empty()) sitemaps.emplace_back(value);
      // Sitemap lines are not part of a group (they do not end the user-agent run either).
    } else {
      in_agents = false;  // unknown keys (Host, Noindex ...) are ignored
    }
  }

  Robots r;
  r.sitemaps_ = std::move(sitemaps);
  bool matched = false;
  for (const auto& want : {me, std::string("*")}) {
    if (want.empty()) continue;
    for (const auto& g : groups) {
      if (std::find(g.agents.begin(), g.agents.end(), want) == g.agents.end()) continue;
      matched = true;
      r.rules_.insert(r.rules_.end(), g.rules.begin(), g.rules.end());
      if (g.delay && !r.crawl_delay_) r.crawl_delay_ = g.delay;
    }
    if (matched) break;
  }
  return r;
}

bool Robots::Allowed(std::string_view path_and_query) const {
  if (path_and_query == "/robots.txt") return true;
  if (disallow_all_) return false;
  if (rules_.empty()) return true;
  std::string path = NormalizeEncoding(path_and_query.empty() ? std::string_view("/") : path_and_query);
  const Rule* best = nullptr;
  for (const auto& rule : rules_) {
    if (!RobotsPatternMatch(rule.pattern, path)) continue;
    if (!best || rule.pattern.size() > best->pattern.size() ||
        (rule.pattern.size() == best->pattern.size() && rule.allow && !best->allow)) {
      best = &rule;
    }
  }
  return !best || best->allow;
}

}  // namespace hakone::crawl
