#include "crawl/sitemap.h"

#include <zlib.h>

#include <cctype>
#include <cstring>

namespace hakone::crawl {
namespace {

constexpr size_t kMaxLocs = 50000;

void AppendUtf8(std::string& out, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string_view TrimWs(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Local name of the tag starting at `lt` ("<ns:loc attr>" → "loc"); empty for comments etc.
std::string_view TagName(std::string_view doc, size_t lt, bool* closing) {
  size_t i = lt + 1;
  *closing = i < doc.size() && doc[i] == '/';
  if (*closing) ++i;
  size_t start = i;
  while (i < doc.size() && !std::isspace(static_cast<unsigned char>(doc[i])) && doc[i] != '>' && doc[i] != '/') ++i;
  std::string_view name = doc.substr(start, i - start);
  if (size_t c = name.rfind(':'); c != std::string_view::npos) name.remove_prefix(c + 1);
  return name;
}

}  // namespace

std::string DecodeXmlEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) {
      out += '&';
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() >= 2 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long cp = digits.empty() ? 0 : std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0') {
        out.append(s.substr(i, semi - i + 1));
      } else {
        AppendUtf8(out, cp);
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

Result<std::string> Gunzip(std::string_view data, size_t max_bytes) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Status::Internal("gzip: inflateInit2 failed");
  std::string out;
  char buf[64 * 1024];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Status::Corruption(std::string("gzip: ") + (zs.msg ? zs.msg : "bad data"));
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return Status::ResourceExhausted("gzip: more than " + std::to_string(max_bytes) + " bytes decompressed");
    }
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // concatenated member
      continue;
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Status::Corruption("gzip: truncated data");
    }
  }
  inflateEnd(&zs);
  return out;
}

Result<Sitemap> ParseSitemap(std::string_view body, size_t max_bytes) {
  std::string inflated;
  if (LooksGzipped(body)) {
    HAKONE_ASSIGN_OR_RETURN(inflated, Gunzip(body, max_bytes));
    body = inflated;
  } else if (body.size() > max_bytes) {
    return Status::ResourceExhausted("sitemap: larger than " + std::to_string(max_bytes) + " bytes");
  }
  Sitemap sm;
  bool root_seen = false;
  size_t i = 0;
  while ((i = body.find('<', i)) != std::string_view::npos) {
    if (body.compare(i, 4, "<!--") == 0) {
      size_t end = body.find("-->", i + 4);
      if (end == std::string_view::npos) break;
      i = end + 3;
      continue;
    }
    if (body.compare(i, 2, "<?") == 0 || body.compare(i, 2, "<!") == 0) {
      ++i;
      continue;
    }
    bool closing = false;
    std::string_view name = TagName(body, i, &closing);
    size_t gt = body.find('>', i);
    if (gt == std::string_view::npos) break;
    if (!closing && !root_seen && (name == "urlset" || name == "sitemapindex")) {
      root_seen = true;
      sm.is_index = name == "sitemapindex";
    } else if (!closing && name == "loc" && body[gt - 1] != '/') {
      size_t content = gt + 1;
      size_t end = body.find("</", content);
      // the closing tag may carry a prefix ("</ns:loc>"); CDATA may contain "</" only as data
      std::string value;
      size_t p = content;
      while (p < body.size()) {
        if (body.compare(p, 9, "<![CDATA[") == 0) {
          size_t ce = body.find("]]>", p + 9);
          if (ce == std::string_view::npos) return Status::InvalidArgument("sitemap: unterminated CDATA");
          value.append(body.substr(p + 9, ce - p - 9));
          p = ce + 3;
          continue;
        }
        if (body[p] == '<') break;
        size_t next = body.find('<', p);
        if (next == std::string_view::npos) next = body.size();
        value += DecodeXmlEntities(body.substr(p, next - p));
        p = next;
      }
      (void)end;
      std::string_view v = TrimWs(value);
      if (!v.empty()) {
        if (sm.locs.size() >= kMaxLocs) return Status::ResourceExhausted("sitemap: more than 50000 <loc> entries");
        sm.locs.emplace_back(v);
      }
      i = p;
      continue;
    }
    i = gt + 1;
  }
  if (!root_seen) return Status::InvalidArgument("sitemap: no <urlset> or <sitemapindex> element");
  return sm;
}

}  // namespace hakone::crawl
