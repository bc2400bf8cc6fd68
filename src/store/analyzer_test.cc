// The analyser (ForEachToken, AnalyzeTokens, AnalyzeText) against the implementation it replaced
// (kept below, verbatim, as the reference): tokens and positions must be byte-identical on random
// mixed ASCII / Latin-1 / Greek / Cyrillic / full-width / CJK / emoji / malformed UTF-8 input.
#include "store/analyzer.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "store/event_store.h"
#include "store/store_internal.h"

namespace {

// ---- Reference: src/store/analyzer.cc before the ASCII fast path (std::function per token). ----
namespace reference {

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes decode as U+FFFD (1 byte).
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

enum class Cls { kSep, kWord, kCjk };

bool IsCjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2FFFF) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF) ||
         (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
         (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xFF66 && cp <= 0xFF9F) || cp == 0x3005;
}

// Folds a code point (lowercase, full-width ASCII → ASCII) and classifies it.
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

void AnalyzeTokens(std::string_view text, const std::function<void(std::string_view, uint32_t)>& fn) {
  uint32_t pos = 0;
  std::string word;
  std::vector<uint32_t> cjk;  // current CJK run
  std::string tok;
  auto flush_word = [&] {
    if (!word.empty()) { fn(word, pos++); word.clear(); }
  };
  auto flush_cjk = [&] {
    if (cjk.empty()) return;
    if (cjk.size() == 1) {
      tok.clear(); AppendUtf8(tok, cjk[0]); fn(tok, pos++);
    } else {
      for (size_t k = 0; k + 1 < cjk.size(); ++k) {
        tok.clear(); AppendUtf8(tok, cjk[k]); AppendUtf8(tok, cjk[k + 1]); fn(tok, pos++);
      }
    }
    cjk.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {  // fast path
      ++i;
      if (c >= 'A' && c <= 'Z') { flush_cjk(); word.push_back(static_cast<char>(c + 32)); continue; }
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) { flush_cjk(); word.push_back(static_cast<char>(c)); continue; }
      flush_word(); flush_cjk();
      continue;
    }
    uint32_t cp = DecodeUtf8(text, i);
    switch (Classify(cp)) {
      case Cls::kSep: flush_word(); flush_cjk(); break;
      case Cls::kWord: flush_cjk(); AppendUtf8(word, cp); break;
      case Cls::kCjk: flush_word(); cjk.push_back(cp); break;
    }
  }
  flush_word();
  flush_cjk();
}

}  // namespace reference


using Toks = std::vector<std::pair<std::string, uint32_t>>;

Toks Reference(std::string_view text) {
  Toks out;
  reference::AnalyzeTokens(text, [&](std::string_view t, uint32_t p) { out.emplace_back(std::string(t), p); });
  return out;
}

Toks New(std::string_view text) {
  Toks out;
  hakone::store::internal::ForEachToken(text, [&](std::string_view t, uint32_t p) { out.emplace_back(std::string(t), p); });
  return out;
}

Toks NewViaFunction(std::string_view text) {
  Toks out;
  hakone::store::internal::AnalyzeTokens(text, [&](std::string_view t, uint32_t p) { out.emplace_back(std::string(t), p); });
  return out;
}

// Pieces random inputs are made of: every byte class of the fast path, multi-byte code points
// of each class Classify knows, and malformed sequences (lone continuation bytes, truncated
// sequences, overlong starts, invalid lead bytes).
const std::vector<std::string>& Pieces() {
  static const std::vector<std::string> p = {
      "a", "z", "A", "Z", "0", "9", "m", "Q", " ", ".", "_", "-", "=", ":", "/", "\t", "\n", std::string(1, '\0'),
      "\x7f", "\"", "{", "@",
      "é", "É", "ß", "ÿ", "×", "÷", "¡", "\u00a0", "Ω", "ω", "Ж", "ж", "ѐ",  // Latin-1, Greek, Cyrillic
      "東", "京", "都", "ロ", "グ", "ぁ", "々", "한", "ｱ", "㐀", "\U00020000",      // CJK classes
      "、", "。", "「", "ＡＢ", "１２", "ｚ", "！", "\u2014", "\u2603", "😀", "\ufffd",  // separators, full-width
      "\xff", "\xfe", "\x80", "\xbf", "\xc3", "\xe6\x9d", "\xf0\x9f\x98", "\xc0\xaf", "\xed\xa0\x80",
      "\xf4\x90\x80\x80", "\xe6\x41", "\xc3(",
      "\xf0\x84\xb8\x80", "\xf0\x83\x80\x85",  // overlong encodings of U+4E00 and U+3005 (CJK)
      "hello", "WORLD", "Café", "user_id=42", "東京都", "エラーが発生しました", "2024-05-01T10:00:00Z"};
  return p;
}

TEST(Analyzer, SameTokensAsReferenceOnRandomInput) {
  std::mt19937_64 rng(20261127);
  const auto& pieces = Pieces();
  size_t tokens = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) {
      if (rng() % 8 == 0) s.push_back(static_cast<char>(rng() & 0xFF));  // any byte at all
      else s += pieces[rng() % pieces.size()];
    }
    const Toks want = Reference(s);
    tokens += want.size();
    ASSERT_EQ(New(s), want) << "input bytes: " << ::testing::PrintToString(s);
    ASSERT_EQ(NewViaFunction(s), want) << "input bytes: " << ::testing::PrintToString(s);
    std::vector<std::string> text;
    for (const auto& t : want) text.push_back(t.first);
    ASSERT_EQ(hakone::store::AnalyzeText(s), text);
  }
  EXPECT_GT(tokens, 100000u);  // the inputs really produced tokens
}

TEST(Analyzer, SameTokensOnEveryByteAndCodePointBoundary) {
  // Each single byte, each byte around a word, and text ending in the middle of a sequence.
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    for (const std::string& s : {std::string(1, c), "ab" + std::string(1, c) + "cd", "AB" + std::string(1, c),
                                 std::string(1, c) + "Xy", "東" + std::string(1, c) + "京", "é" + std::string(1, c)}) {
      ASSERT_EQ(New(s), Reference(s)) << "byte " << b;
    }
  }
  for (const std::string& s : {std::string("abc\xe6"), std::string("abc\xe6\x9d"), std::string("東京\xe4"), std::string("")}) {
    EXPECT_EQ(New(s), Reference(s));
  }
}

TEST(Analyzer, KnownTokens) {
  // Views into the input and copied words give the same results.
  EXPECT_EQ(New("get /api/v1/users?id=42 took 13ms"),
            (Toks{{"get", 0}, {"api", 1}, {"v1", 2}, {"users", 3}, {"id", 4}, {"42", 5}, {"took", 6}, {"13ms", 7}}));
  EXPECT_EQ(New("abcDEF ghi\xc3\xa9 東京都x"),
            (Toks{{"abcdef", 0}, {"ghi\xc3\xa9", 1}, {"東京", 2}, {"京都", 3}, {"x", 4}}));
  EXPECT_EQ(New(""), Toks{});
}

}  // namespace
