// Fuzzes the _bulk NDJSON parser (fed whole and in small pieces, which must agree) and the gzip
// inflater. Arbitrary bytes must give actions or an error, never a crash or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "store/es_bulk.h"

using hakone::store::es::BulkAction;
using hakone::store::es::BulkParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<BulkAction> whole, pieces;
  BulkParser a("default", 4096);
  bool ok_whole = a.Feed(in, &whole).ok() && a.Finish(&whole).ok();
  BulkParser b("default", 4096);
  bool ok_pieces = true;
  for (size_t i = 0; i < size && ok_pieces; i += 3) ok_pieces = b.Feed(in.substr(i, 3), &pieces).ok();
  ok_pieces = ok_pieces && b.Finish(&pieces).ok();
  if (ok_whole != ok_pieces) std::abort();
  if (ok_whole) {
    if (whole.size() != pieces.size()) std::abort();
    for (size_t i = 0; i < whole.size(); i++) {
      if (whole[i].item.source_json != pieces[i].item.source_json || whole[i].error_type != pieces[i].error_type) std::abort();
    }
  }
  hakone::store::es::Inflater inf(1 << 20);
  std::string out;
  (void)inf.Feed(in, &out);
  return 0;
}
