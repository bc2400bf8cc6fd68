// Fuzzes the Elasticsearch request parsers: the query DSL, aggregations and the whole _search
// body (JSON → engine IR). Arbitrary bytes must give an error, never a crash or a hang.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/es_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)hakone::store::es::ParseSearch(in, {});
  (void)hakone::store::es::ParseCount(in, {});
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(in, ec);
  if (!ec) {
    (void)hakone::store::es::ParseQuery(v);
    (void)hakone::store::es::ParseAggs(v);
  }
  if (size < 64) (void)hakone::store::es::ParseDateMillis(in, 1700000000000);
  return 0;
}
