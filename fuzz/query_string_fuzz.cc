// Fuzzes the Lucene query_string and simple_query_string parsers. Arbitrary text must give a
// query or an error, never a crash or a hang (deep parentheses included).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/es_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  hakone::store::es::QueryStringOptions o;
  o.default_and = size % 2;
  (void)hakone::store::es::ParseQueryString(in, o);
  o.fields = {"message"};
  (void)hakone::store::es::ParseQueryString(in, o);
  o.simple = true;
  (void)hakone::store::es::ParseQueryString(in, o);
  return 0;
}
