// Sitemaps (sitemaps.org 0.9): a <urlset> of <url><loc>, or a <sitemapindex> of <sitemap><loc>,
// optionally gzip-compressed (detected by the gzip magic bytes, whatever the Content-Type).
// A tolerant scanner, not a validating XML parser: it reads <loc> elements (with CDATA and the
// five predefined entities plus numeric references) and ignores everything else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone::crawl {

struct Sitemap {
  bool is_index = false;            // <sitemapindex>: `locs` are further sitemaps
  std::vector<std::string> locs;    // in document order, trimmed, entities decoded
};

// Parses a sitemap. Errors: InvalidArgument when the document is neither a urlset nor a
// sitemapindex; Corruption for bad gzip; ResourceExhausted when the decompressed size exceeds
// `max_bytes` (the protocol's limit is 50 MB) or there are more than 50,000 locs.
Result<Sitemap> ParseSitemap(std::string_view body, size_t max_bytes = 50u << 20);

// Inflates gzip data (RFC 1952, concatenated members allowed) up to `max_bytes`.
Result<std::string> Gunzip(std::string_view data, size_t max_bytes);
inline bool LooksGzipped(std::string_view d) {
  return d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x1f && static_cast<unsigned char>(d[1]) == 0x8b;
}

// Decodes &amp; &lt; &gt; &quot; &apos; and &#NN; / &#xHH; (unknown entities are kept as written).
std::string DecodeXmlEntities(std::string_view s);

}  // namespace hakone::crawl
