// The text analyser: Latin words lowercased, CJK runs as bigrams (see event_store.h).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/analyzer.h"
#include "store/store_internal.h"

namespace hakone::store {
namespace internal {
namespace analyzer {

uint32_t DecodeUtf8(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { ++i; return c; }
  int len = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else { ++i; return 0xFFFD; }
  if (i + len > s.size()) { ++i; return 0xFFFD; }
  for (int k = 1; k < len; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) { ++i; return 0xFFFD; }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return cp;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) out.push_back(static_cast<char>(cp));
  else if (cp < 0x800) { out.push_back(static_cast<char>(0xC0 | (cp >> 6))); out.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
  else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {
bool IsCjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2FFFF) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF) ||
         (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
         (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xFF66 && cp <= 0xFF9F) || cp == 0x3005;
}
}  // namespace

Cls Classify(uint32_t& cp) {
  if (cp >= 0xFF10 && cp <= 0xFF5A) {  // full-width digits and letters
    uint32_t a = cp - 0xFF10 + '0';
    if ((a >= '0' && a <= '9') || (a >= 'A' && a <= 'Z') || (a >= 'a' && a <= 'z')) cp = a;
  }
  if (cp < 0x80) {
    if (cp >= 'A' && cp <= 'Z') { cp += 32; return Cls::kWord; }
    if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) return Cls::kWord;
    return Cls::kSep;
  }
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) { cp += 32; return Cls::kWord; }
  if (cp >= 0xDF && cp <= 0xFF && cp != 0xF7) return Cls::kWord;
  if (cp < 0xC0) return Cls::kSep;                       // Latin-1 punctuation, controls
  if (cp >= 0x2000 && cp <= 0x2BFF) return Cls::kSep;    // punctuation, symbols, arrows, ...
  if (cp >= 0x3000 && cp <= 0x303F && cp != 0x3005) return Cls::kSep;  // CJK punctuation
  if (cp >= 0xFF00 && cp <= 0xFF65) return Cls::kSep;    // remaining full-width punctuation
  if (cp >= 0xFE30 && cp <= 0xFE4F) return Cls::kSep;
  if (cp == 0xFFFD || (cp >= 0x1F000 && cp <= 0x1FAFF)) return Cls::kSep;  // invalid, emoji
  if (IsCjk(cp)) return Cls::kCjk;
  if (cp >= 0x0400 && cp <= 0x042F) cp += 32;            // Cyrillic capitals
  else if (cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2) cp += 32;  // Greek capitals
  return Cls::kWord;
}

}  // namespace analyzer

void AnalyzeTokens(std::string_view text, const std::function<void(std::string_view, uint32_t)>& fn) {
  ForEachToken(text, fn);
}

}  // namespace internal

std::vector<std::string> AnalyzeText(std::string_view text) {
  std::vector<std::string> out;
  internal::ForEachToken(text, [&](std::string_view t, uint32_t) { out.emplace_back(t); });
  return out;
}

}  // namespace hakone::store
