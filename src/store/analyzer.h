// The text analyser as a template, so that the per-token callback inlines into the caller (the
// write path calls it for every text field of every document). Same tokens and positions as
// AnalyzeText / AnalyzeTokens (event_store.h, store_internal.h), which are built on it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hakone::store::internal::analyzer {

// Byte classes for the ASCII fast path: 0 separator, 1 lowercase letter or digit (already folded),
// 2 uppercase letter (folds by +32), 3 a byte ≥ 0x80 (decoded as UTF-8 on the slow path).
struct ByteTable {
  uint8_t cls[256];
  constexpr ByteTable() : cls{} {
    for (int c = 0; c < 256; ++c) {
      uint8_t k = 0;
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) k = 1;
      else if (c >= 'A' && c <= 'Z') k = 2;
      else if (c >= 0x80) k = 3;
      cls[c] = k;
    }
  }
};
inline constexpr ByteTable kBytes{};

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes decode as U+FFFD (1 byte).
uint32_t DecodeUtf8(std::string_view s, size_t& i);
void AppendUtf8(std::string& out, uint32_t cp);

enum class Cls { kSep, kWord, kCjk };
// Folds a code point (lowercase, full-width ASCII → ASCII) and classifies it.
Cls Classify(uint32_t& cp);

}  // namespace hakone::store::internal::analyzer

namespace hakone::store::internal {

// Calls fn(token, position) for each token of `text`: maximal runs of letters/digits lowercased
// (full-width ASCII folded), CJK runs as overlapping bigrams (a single CJK character alone),
// everything else separates. Token views are valid only during the call (most ASCII words are
// views into `text`; the others point into buffers local to the call).
template <typename Fn>
void ForEachToken(std::string_view text, Fn&& fn) {
  using namespace analyzer;
  std::string word;           // current word when it is not a plain view of `text`
  // Current CJK run. A character's bytes in `text` are its canonical UTF-8 unless it was
  // decoded from an overlong sequence, so bigrams of canonical characters are views of `text`.
  struct CjkChar {
    uint32_t cp;
    uint32_t len;  // bytes in text; 0 when not canonical
    size_t off;
  };
  std::vector<CjkChar> cjk;
  std::string tok;
  uint32_t pos = 0;
  auto flush_word = [&] {
    if (!word.empty()) { fn(std::string_view(word), pos++); word.clear(); }
  };
  auto flush_cjk = [&] {
    if (cjk.empty()) return;
    if (cjk.size() == 1) {
      if (cjk[0].len) { fn(text.substr(cjk[0].off, cjk[0].len), pos++); }
      else { tok.clear(); AppendUtf8(tok, cjk[0].cp); fn(std::string_view(tok), pos++); }
    } else {
      for (size_t k = 0; k + 1 < cjk.size(); ++k) {
        if (cjk[k].len && cjk[k + 1].len) {
          fn(text.substr(cjk[k].off, cjk[k].len + cjk[k + 1].len), pos++);
        } else {
          tok.clear(); AppendUtf8(tok, cjk[k].cp); AppendUtf8(tok, cjk[k + 1].cp); fn(std::string_view(tok), pos++);
        }
      }
    }
    cjk.clear();
  };
  const char* p = text.data();
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    uint8_t k = kBytes.cls[static_cast<unsigned char>(p[i])];
    if (k == 0) {  // separator
      flush_word(); flush_cjk();
      ++i;
      continue;
    }
    if (k == 1 && word.empty()) {
      // Start of a word: scan the run of already-folded ASCII; if a separator or the end follows,
      // the token is a view of the input (no copy).
      flush_cjk();
      size_t j = i + 1;
      while (j < n && kBytes.cls[static_cast<unsigned char>(p[j])] == 1) ++j;
      if (j == n || kBytes.cls[static_cast<unsigned char>(p[j])] == 0) {
        fn(std::string_view(p + i, j - i), pos++);
        i = j;
        continue;
      }
      word.append(p + i, j - i);  // continues with an uppercase letter or a non-ASCII byte
      i = j;
      continue;
    }
    if (k == 1) { word.push_back(p[i]); ++i; continue; }
    if (k == 2) { flush_cjk(); word.push_back(static_cast<char>(p[i] + 32)); ++i; continue; }
    const size_t start = i;
    uint32_t cp = DecodeUtf8(text, i);
    switch (Classify(cp)) {
      case Cls::kSep: flush_word(); flush_cjk(); break;
      case Cls::kWord: flush_cjk(); AppendUtf8(word, cp); break;
      case Cls::kCjk: {
        flush_word();
        const auto len = static_cast<uint32_t>(i - start);
        cjk.push_back({cp, len == (cp < 0x10000 ? 3u : 4u) ? len : 0u, start});
        break;
      }
    }
  }
  flush_word();
  flush_cjk();
}

}  // namespace hakone::store::internal
