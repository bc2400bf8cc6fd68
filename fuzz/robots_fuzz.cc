// libFuzzer: robots.txt parsing and matching (src/crawl/robots.h) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crawl/robots.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The last line (after the final '\n') doubles as the path to check.
  size_t nl = in.rfind('\n');
  std::string_view path = nl == std::string_view::npos ? in.substr(0, 64) : in.substr(nl + 1);
  auto r = hakone::crawl::Robots::Parse(in, "hakone-crawler/1.0");
  (void)r.Allowed(path);
  (void)r.Allowed("/");
  (void)r.CrawlDelay();
  for (const auto& rule : r.rules()) (void)hakone::crawl::RobotsPatternMatch(rule.pattern, path);
  return 0;
}
