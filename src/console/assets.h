// The web console's built files (web/dist), embedded at build time by embed_assets.cmake into
// console_assets.cc in the build directory. Empty when web/dist did not exist at build time.
#pragma once

#include <cstddef>

namespace hakone::console {

struct EmbeddedAsset {
  const char* path;  // relative to web/dist: "index.html", "assets/index-3f2a.js"
  const unsigned char* data;
  size_t size;
};

extern const EmbeddedAsset kEmbeddedAssets[];
extern const size_t kEmbeddedAssetsCount;

}  // namespace hakone::console
