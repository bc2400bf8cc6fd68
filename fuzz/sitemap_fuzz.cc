// libFuzzer: sitemap parsing (XML scanner, entities, CDATA, gzip) from src/crawl/sitemap.h.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crawl/sitemap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto sm = hakone::crawl::ParseSitemap(in, 1 << 20);
  if (sm.ok()) {
    for (const auto& loc : sm->locs) (void)loc.size();
  }
  (void)hakone::crawl::DecodeXmlEntities(in);
  return 0;
}
