// Fuzzes the logfmt parser and the query language of filters/alerts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/event.h"
#include "pipeline/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  boost::json::object o;
  (void)hakone::pipeline::ParseLogfmt(in, &o);
  auto q = hakone::pipeline::Query::Parse(in);
  if (q.ok()) {
    hakone::pipeline::Event e;
    e.message = std::string(in);
    e.fields = o;
    (void)(*q)->Matches(e);
  }
  std::vector<hakone::pipeline::BulkDoc> docs;
  (void)hakone::pipeline::ParseBulk(in, &docs);
  boost::json::object c;
  (void)hakone::pipeline::ParseCombinedLog(in, &c);
  return 0;
}
