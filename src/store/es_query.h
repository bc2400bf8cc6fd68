// Parsers of the Elasticsearch request language into the engine IR of event_store.h: the query
// DSL, Lucene `query_string` / `simple_query_string` syntax, aggregations and the whole
// `_search` body. Pure functions (no engine, no I/O), so they are unit tested and fuzzed alone.
//
// Errors: InvalidArgument whose message is "<es_error_type>: <reason>" (for example
// "parsing_exception: [match] query does not support [fuzziness]"); the HTTP layer turns it into
// Elasticsearch's 400 error shape (see EsErrorFromStatus). Anything the engine cannot evaluate
// faithfully is refused here, naming the unsupported part, rather than approximated.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/event_store.h"

namespace hakone::store::es {

// The query DSL object ({"match": {...}}) → IR.
Result<QueryPtr> ParseQuery(const boost::json::value& v);

struct QueryStringOptions {
  std::vector<std::string> fields;  // default_field / fields; empty = every text/keyword field
  bool default_and = false;         // default_operator: AND
  bool simple = false;              // simple_query_string syntax (never fails on syntax)
};
// Lucene query syntax (query_string) or simple_query_string syntax → IR.
Result<QueryPtr> ParseQueryString(std::string_view q, const QueryStringOptions& opts);

// The "aggs"/"aggregations" object → IR.
Result<std::vector<AggRequest>> ParseAggs(const boost::json::value& v);

// Everything a _search/_count request says besides the index names.
struct SearchParams {
  SearchRequest req;            // streams left empty
  bool rest_total_hits_as_int = false;
  bool track_total_hits_set = false;
};
// Parses a _search body (may be empty) and URL parameters (already decoded: q, from, size,
// sort, _source, _source_includes, _source_excludes, track_total_hits, rest_total_hits_as_int,
// default_operator, df). Unknown body keys → 400; harmless URL parameters are ignored.
Result<SearchParams> ParseSearch(std::string_view body, const std::vector<std::pair<std::string, std::string>>& params);
// A _count body ({"query": ...} or empty) and q/df/default_operator parameters.
Result<QueryPtr> ParseCount(std::string_view body, const std::vector<std::pair<std::string, std::string>>& params);

// Parses a date as epoch millis: epoch millis (number or digits), RFC 3339 / ISO 8601
// ("2024-01-02", "2024-01-02T03:04:05.678Z", "+09:00" offsets), or date math ("now-1h",
// "now/d", "2024-01-02||+1d"). now_ms: the current time.
Result<int64_t> ParseDateMillis(std::string_view s, int64_t now_ms);
// "30s", "5m", "1h", "2d", "100ms" → millis. InvalidArgument otherwise.
Result<int64_t> ParseFixedInterval(std::string_view s);

// Splits "<type>: <reason>" from a parser error; other statuses get a type from their code.
struct EsError {
  int status = 400;
  std::string type;
  std::string reason;
};
EsError EsErrorFromStatus(const Status& st);
// {"error":{"root_cause":[{"type":..,"reason":..}],"type":..,"reason":..},"status":N}
std::string EsErrorJson(const EsError& e);

}  // namespace hakone::store::es
