// CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and LevelDB): the checksum of the spool's
// records. Uses the SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8 table otherwise.
//
// Thread safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hakone::crc32c {

// Returns the CRC-32C of `data` appended to a buffer whose CRC-32C is `crc`
// (Extend(Extend(0, a), b) == Value(a + b)).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

// Returns the CRC-32C of data[0, n). Value("123456789") == 0xE3069283.
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// true when the hardware (SSE4.2) path is in use.
bool IsHardwareAccelerated();

}  // namespace hakone::crc32c
