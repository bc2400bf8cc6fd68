// A log record as it moves through the agent: sources create Events, the router appends them to
// their environment's spool (EncodeEvent), sink runners read them back (DecodeEvent) and apply
// the transforms on the path from the record's source to the sink before handing them over.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hakone::pipeline {

struct Event {
  int64_t ts_ns = 0;      // event time (set by the source, or by a `timestamp` transform)
  int64_t ingest_ns = 0;  // when the agent read it (retention is measured from this)
  std::string env;        // environment: picks the spool and the sinks
  std::string source;     // the source component's name ("stream" in archive keys)
  std::string origin;     // where it came from: a file path, a peer address, a command
  std::string message;    // the raw record (one line, or a multiline group)
  boost::json::object fields;  // parsed / set fields (empty until a transform adds some)
  // The fields serialized as a JSON object, used only while `fields` is empty. Source side:
  // written to the spool by EncodeEvent as is (sources that build fields in bulk, e.g. syslog,
  // skip the object). Sink side: DecodeEvent(..., parse_fields = false) leaves them here
  // unparsed; MaterializeFields() moves them into `fields` (sinks and paths that never look at
  // fields skip the parse).
  std::string fields_json;
  // The fields are the syslog parse of `message` (ParseSyslog(message, ingest_ns) then
  // SyslogToFieldsJson), used only while `fields` and `fields_json` are empty. The syslog source
  // sets it instead of writing fields_json, and EncodeEvent then spools no fields at all (the
  // parsed JSON repeats the message: it would more than double the spooled bytes); sink side,
  // DecodeEvent sets it back and MaterializeFields re-parses the message (only for sinks and paths
  // that look at fields). Deterministic: the parse depends only on the message and ingest_ns.
  bool fields_from_syslog = false;
  uint64_t seq = 0;       // spool sequence number (sink side only)
};

// Spool payload: [u8 version=1][i64 ts][i64 ingest][u8 n][source][u16 n][origin]
// [u32 n][fields JSON or empty][message: the rest]. env is not stored: one spool per env.
// Version 2 (fields_from_syslog): the same without the fields length and JSON; the fields are
// the syslog parse of the message.
void EncodeEvent(const Event& e, std::string* out);
// Errors: Corruption naming what is wrong (truncated, bad version, bad fields JSON).
// parse_fields = false: the fields JSON is not parsed (nor checked) but kept in e->fields_json;
// e's strings are assigned, not reallocated, so a reused Event keeps its buffers. A version 2
// record sets e->fields_from_syslog (parse_fields = true re-parses it at once).
Status DecodeEvent(std::string_view payload, Event* e, bool parse_fields = true);
// Parses e->fields_json (or, with fields_from_syslog, the syslog parse of e->message) into
// e->fields (when fields is empty) and clears fields_json and fields_from_syslog. OK when there
// is nothing to parse. Corruption when the JSON is not an object or the message no longer
// parses as syslog.
Status MaterializeFields(Event* e);
// True while e's fields are spooled but not parsed yet (fields_json or fields_from_syslog).
inline bool HasUnparsedFields(const Event& e) { return !e.fields_json.empty() || e.fields_from_syslog; }

// The formatted JSON line of an event (no trailing newline):
// {"@timestamp":"2026-01-02T03:04:05.678Z","env":..,"source":..,"origin":..,"message":..,<fields>}
// A field named like a built-in key replaces it.
void FormatEventJson(const Event& e, std::string* out);
// Appends s JSON-escaped (no quotes) exactly as log::AppendJsonEscaped does (invalid UTF-8 →
// U+FFFD), copying runs of plain ASCII in one go: the agent's hot formatting path.
void AppendJsonEscapedFast(std::string* out, std::string_view s);
// "2026-01-02T03:04:05.678Z"
std::string FormatTimestamp(int64_t ts_ns);
// Appends FormatTimestamp(ts_ns) to out (no allocation beyond out's growth).
void AppendTimestamp(std::string* out, int64_t ts_ns);
int64_t NowNs();

}  // namespace hakone::pipeline
