// libFuzzer target for the graph mapping loader (TOML → Mapping, src/graph/build.cc): any input
// must give a Mapping or an InvalidArgument error naming the problem, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "graph/build.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = hakone::graph::ParseMapping(text, "fuzz.toml", "/base");
  if (!m.ok() && (m.status().code() != hakone::StatusCode::kInvalidArgument || m.status().message().empty()))
    std::abort();
  return 0;
}
