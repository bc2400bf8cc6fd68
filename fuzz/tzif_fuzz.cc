// Fuzzes the TZif reader and the POSIX TZ rule parser (date_histogram time_zone): arbitrary bytes
// give a zone or an error, never a crash; a zone answers offset queries.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/tz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (auto tz : {hakone::store::TimeZone::FromTzif(in, "f"), hakone::store::TimeZone::FromPosix(in, "f")}) {
    if (!tz.ok()) continue;
    for (int64_t t : {INT64_C(-4000000000000), INT64_C(0), INT64_C(1711846800000), INT64_C(4102444800000), INT64_C(9000000000000)}) {
      (void)(*tz)->OffsetMs(t);
      (void)(*tz)->LocalToUtcMs(t);
    }
  }
  return 0;
}
