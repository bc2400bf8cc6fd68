#include "core/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace hakone::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected 0x1EDC6F41

struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr Tables kTables;

uint32_t ExtendPortable(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t l = crc ^ 0xFFFFFFFFu;
  const auto& t = kTables.t;
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    if constexpr (std::endian::native == std::endian::big) {
      lo = __builtin_bswap32(lo);
      hi = __builtin_bswap32(hi);
    }
    lo ^= l;
    l = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) l = t[0][(l ^ *p++) & 0xFF] ^ (l >> 8);
  return l ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t l = crc ^ 0xFFFFFFFFu;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    l = _mm_crc32_u64(l, v);
    p += 8;
    n -= 8;
  }
  while (n-- > 0) l = _mm_crc32_u8(static_cast<uint32_t>(l), *p++);
  return static_cast<uint32_t>(l) ^ 0xFFFFFFFFu;
}

using ExtendFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);
// A function-local static, so that callers in other static initialisers see it set.
ExtendFn Chosen() {
  static const ExtendFn fn = __builtin_cpu_supports("sse4.2") ? ExtendSse42 : ExtendPortable;
  return fn;
}
#endif

}  // namespace

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
#if defined(__x86_64__)
  return Chosen()(crc, static_cast<const uint8_t*>(data), n);
#else
  return ExtendPortable(crc, static_cast<const uint8_t*>(data), n);
#endif
}

bool IsHardwareAccelerated() {
#if defined(__x86_64__)
  return Chosen() == ExtendSse42;
#else
  return false;
#endif
}

}  // namespace hakone::crc32c
