// Asking the operation log: `hakone audit <verify|search|timeline|who|export-key>`, and the
// query functions the HTTP admin API (/api/audit/search|timeline|who) reuses.
//
//   hakone audit verify --data-dir DIR [--public-key FILE]
//   hakone audit search --data-dir DIR [--user U] [--since 1h|ISO] [--until ...] [--path GLOB]
//                       [--method M] [--status 5xx|404] [--ip CIDR] [--limit N] [--json]
//   hakone audit timeline USER --data-dir DIR [--since ...] [--until ...] [--limit N] [--json]
//   hakone audit who --path GLOB --data-dir DIR [--since ...] [--until ...] [--limit N] [--json]
//   hakone audit export-key --data-dir DIR
//
// Exit codes: 0 success (verify: intact), 1 failure (verify: tampered or damaged, naming the
// first bad seq; or the log could not be read), 2 usage error (unknown flag, bad value).
//
// The operation log holds personal data, so every search/timeline/who is itself recorded
// before it runs: one line appended (and fdatasync'd) to <data_dir>/audit/queries.jsonl:
//   {"time":"<RFC 3339>","actor":"<--actor or the OS user>","os_user":"...","command":"search",
//    "query":{"user":"alice","since":"...","path":"/candidates/*","limit":100,"order":"newest_first"}}
// If that line cannot be written the query is refused. The HTTP API records the API token's
// name as the actor through RecordAuditQuery().
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "store/audit_store.h"

namespace hakone::gateway {

// argv[0] is "audit", argv[1] the sub-command. Returns the exit code (0, 1 or 2 as above).
int RunAuditCli(int argc, char** argv);

// ---- Shared with the HTTP admin API ----

int64_t NowMicros();

// A point in time for --since/--until: a duration back from now ("90s", "15m", "1h", "7d",
// "1h30m"), "now", or an ISO 8601 time: "2024-05-01T09:00:00Z", "2024-05-01T09:00:00+09:00",
// "2024-05-01T09:00" or "2024-05-01" (without an offset: local time, TZ). Returns µs since the
// Unix epoch. Errors: InvalidArgument explaining the accepted forms.
Result<int64_t> ParseSince(std::string_view text, int64_t now_us = NowMicros());

// Builds a query from name/value pairs (HTTP query parameters): user, since, until, path,
// method, status, ip, limit, order ("newest_first" | "oldest_first"). Unknown names and bad
// values are InvalidArgument naming the parameter.
Result<store::AuditQuery> AuditQueryFromParams(const std::vector<std::pair<std::string, std::string>>& params,
                                               int64_t now_us = NowMicros());
// The query as recorded in queries.jsonl (times as RFC 3339).
boost::json::object AuditQueryToJson(const store::AuditQuery& q);

// The matching events as JSON objects (the stored lines, parsed), in q's order.
// Errors: as AuditStore::Query.
Result<boost::json::array> SearchAudit(const store::AuditStore& store, const store::AuditQuery& q);
// What one user did, oldest first (q.user required; q.newest_first is ignored).
Result<boost::json::array> TimelineAudit(const store::AuditStore& store, store::AuditQuery q);

// Who touched a resource: distinct users among the events matching q (q.path_glob required;
// q.limit bounds the number of users returned, not the events scanned), most events first.
struct WhoRow {
  std::string user;
  uint64_t count = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  std::string first_time;  // the events' own `time` strings
  std::string last_time;
};
Result<std::vector<WhoRow>> WhoAudit(const store::AuditStore& store, const store::AuditQuery& q);
// [{"user":..,"count":..,"first":..,"last":..}, ...]
boost::json::array WhoToJson(const std::vector<WhoRow>& rows);

// Appends one line to <data_dir>/audit/queries.jsonl and fdatasyncs it. Thread safe (O_APPEND,
// one write per line). Errors: IOError, NotFound (no audit directory).
Status RecordAuditQuery(const std::string& data_dir, std::string_view actor, std::string_view command,
                        const boost::json::object& query);
std::string AuditQueriesPath(const std::string& data_dir);
// The effective OS user name (getpwuid, else $USER, else "uid:<n>").
std::string CurrentOsUser();

// The readable table of `hakone audit search`: columns time, user, client_ip, method, path,
// status, total_ms, aligned (CJK counted as two columns); control characters are shown as '?'
// so that logged input cannot drive the terminal.
std::string FormatEventTable(const std::vector<boost::json::object>& events, bool with_user = true);

}  // namespace hakone::gateway
