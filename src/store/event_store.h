// The event store: named streams of events (an Elasticsearch "index" is a stream), kept in
// immutable, checksummed, zstd-compressed blocks with skip data and a token index per segment.
// See ../shared/docs/ARCHITECTURE.md ("The event store in brief") and docs/store.md.
//
// This header is the whole public surface of the engine. The Elasticsearch-compatible API
// (es_*.cc), the agent's `store` sink, the crawler and `hakone logs` all go through it. The
// query and aggregation requests below are an engine-level IR: the ES layer translates the
// query DSL / query_string into it and renders SearchResult as Elasticsearch JSON.
//
// Durability: Write() returns only after every accepted item is in the write-ahead log and
// fdatasync'd (group commit: concurrent writers share one sync). A kill -9 afterwards loses
// nothing. Visibility: written events are searchable within `refresh_interval` (1 s default),
// or immediately after Refresh() / Write(..., refresh = true).
//
// Thread safety: an EventStore is safe to use from any number of threads. Writes to one stream
// are serialised internally (one writer per stream); readers never block writers for long
// (they work on immutable blocks plus a snapshot of the head).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace hakone::store {

// ---------------------------------------------------------------------------------------------
// Values, mappings, settings

// A JSON scalar as used in queries, sort values and search_after.
using Value = std::variant<std::monostate /*null*/, bool, int64_t, double, std::string>;

enum class FieldType { kKeyword, kText, kLong, kDouble, kDate, kBoolean, kObject };
std::string_view FieldTypeName(FieldType t);  // "keyword", "text", "long", "double", "date", "boolean", "object"
std::optional<FieldType> ParseFieldType(std::string_view name);  // also accepts integer/short/byte→long, float/half_float/scaled_float→double, "string"→nullopt

struct FieldMapping {
  FieldType type = FieldType::kKeyword;
  // A text field also indexed whole as keyword under "<name>.keyword" (ES dynamic mapping for
  // strings does this; ignore_above 256).
  bool keyword_subfield = false;
};

// Dotted field paths ("http.status") to their types. Fields are inferred on first sight
// (string → text + keyword sub-field, or date if it parses as RFC 3339 / ISO 8601; integer →
// long; other number → double; bool → boolean) unless mapped explicitly. A field's type never
// changes once set: PutMapping with a different type is InvalidArgument naming the field.
struct Mapping {
  std::map<std::string, FieldMapping> fields;
};

struct StreamSettings {
  // Which field holds the event time. Absent from a document: the ingest time is used.
  std::string time_field = "@timestamp";
  // Low-cardinality keyword fields kept as labels (block skip data prunes on them).
  std::vector<std::string> label_fields = {"env", "service", "level", "host"};
  // Retention: whole segments older than this are dropped (0 = keep forever) ...
  std::chrono::seconds retention_age{0};
  // ... and the oldest segments are dropped while the stream is larger than this (0 = no limit).
  uint64_t retention_bytes = 0;
  int number_of_shards = 1;    // reported only (GET /{index}/_settings); one machine
  int number_of_replicas = 0;  // reported only
};

// ---------------------------------------------------------------------------------------------
// Queries (engine IR)

struct Query;
using QueryPtr = std::shared_ptr<const Query>;

struct Query {
  enum class Kind {
    kMatchAll,
    kMatchNone,
    kTerm,      // field == values[0] (exact, on keyword/long/double/date/boolean; on a text field: one analysed token)
    kTerms,     // field == any of values
    kIds,       // _id in values (strings)
    kMatch,     // text analysed into tokens; all (op_and) or any must occur in any of `fields`
    kPhrase,    // text analysed; tokens adjacent and in order in one of `fields` (slop 0)
    kRange,     // gt/gte/lt/lte on field; for date fields bounds may be strings (RFC 3339,
                // epoch millis, or date math "now-1h", "now/d"), resolved by the engine
    kExists,    // field present and not null
    kPrefix,    // keyword/text value (or a token of text) starts with text
    kWildcard,  // `*` and `?` glob over the keyword value (or a token of a text field)
    kRegexp,    // Lucene regexp over the keyword value (or a token); whole-value match
    kBool,
  };
  Kind kind = Kind::kMatchAll;
  // Single-field queries use `field`. kMatch/kPhrase/kPrefix/kWildcard/kRegexp may instead list
  // several in `fields`; an empty `field` and empty `fields` means every text and keyword field
  // (query_string without a field, multi_match without fields).
  std::string field;
  std::vector<std::string> fields;
  std::vector<Value> values;  // kTerm (one), kTerms, kIds
  std::string text;           // kMatch, kPhrase, kPrefix, kWildcard, kRegexp
  bool op_and = false;        // kMatch: every token must match (operator: and)
  bool case_insensitive = false;
  std::optional<Value> gt, gte, lt, lte;  // kRange
  // kRange on a date field: dates without an offset and date math ("now/d") are interpreted in
  // this zone ("+09:00" or an IANA name); "" = UTC. Epoch millis are unaffected.
  std::string time_zone;
  std::vector<QueryPtr> must, filter, should, must_not;  // kBool
  // kBool: how many `should` clauses must match. nullopt: ES default (1 if there are no
  // must/filter clauses, else 0).
  std::optional<int> minimum_should_match;
  float boost = 1.0f;
};

// ---------------------------------------------------------------------------------------------
// Aggregations (engine IR; results are rendered by the engine as Elasticsearch JSON)

struct AggRequest {
  enum class Kind {
    kDateHistogram, kHistogram, kTerms, kRange, kFilters,
    kMin, kMax, kAvg, kSum, kValueCount, kCardinality, kPercentiles, kStats,
  };
  Kind kind = Kind::kTerms;
  std::string name;
  std::string field;
  // kDateHistogram: exactly one of fixed_interval_ms (fixed_interval, or the legacy `interval`
  // given as a fixed unit) and calendar_interval ("minute","hour","day","week","month",
  // "quarter","year", or "1d", "1M", ...).
  int64_t fixed_interval_ms = 0;
  std::string calendar_interval;
  std::string time_zone;  // "" = UTC; "+09:00" or an IANA name
  std::optional<int64_t> extended_bounds_min_ms, extended_bounds_max_ms;
  // kHistogram
  double interval = 0;
  std::optional<double> extended_bounds_min, extended_bounds_max;
  // kDateHistogram, kHistogram: buckets with fewer docs are omitted (default 0 for histograms:
  // empty buckets between the first and last are returned).
  int64_t min_doc_count = 0;
  // kTerms
  size_t size = 10;
  enum class Order { kCountDesc, kCountAsc, kKeyAsc, kKeyDesc };
  Order order = Order::kCountDesc;
  // kRange: buckets [from, to)
  struct RangeBucket {
    std::optional<std::string> key;
    std::optional<double> from, to;
  };
  std::vector<RangeBucket> ranges;
  // kFilters: named filters (keyed buckets)
  std::vector<std::pair<std::string, QueryPtr>> filters;
  // kPercentiles
  std::vector<double> percents = {1, 5, 25, 50, 75, 95, 99};
  std::vector<AggRequest> subs;  // nested sub-aggregations (bucket aggregations only)
};

// ---------------------------------------------------------------------------------------------
// Search

struct SortKey {
  std::string field;  // a field, "_score", "_doc", or the stream's time field
  bool desc = false;
};

struct SourceFilter {
  bool enabled = true;                // _source: false
  std::vector<std::string> includes;  // globs on dotted paths; empty = all
  std::vector<std::string> excludes;
};

struct SearchRequest {
  std::vector<std::string> streams;  // concrete stream names (the ES layer expands wildcards)
  QueryPtr query;                    // null = match_all
  size_t from = 0;
  size_t size = 10;
  // Empty: by _score descending when the query has scoring clauses (match, phrase,
  // query_string...), otherwise by the time field descending (newest first).
  std::vector<SortKey> sort;
  std::vector<Value> search_after;  // one value per sort key
  SourceFilter source;
  // Count hits exactly up to this many (ES default 10000); -1 = always exact; 0 = do not count.
  int64_t track_total_hits = 10000;
  std::vector<AggRequest> aggs;
};

struct SearchHit {
  std::string stream;
  std::string id;
  double score = 0;            // 0 when not scored
  std::string source_json;     // after SourceFilter ("" when _source is disabled)
  std::vector<Value> sort_values;  // the values of the sort keys (for search_after)
};

struct SearchResult {
  uint64_t total = 0;
  bool total_is_lower_bound = false;  // "relation": "gte"
  std::optional<double> max_score;
  std::vector<SearchHit> hits;
  std::string aggregations_json;  // the ES "aggregations" object, "" when no aggs requested
  // Pruning statistics (for metrics and `profile`-style debugging).
  uint64_t blocks_scanned = 0;
  uint64_t blocks_pruned = 0;
  uint64_t blocks_damaged = 0;  // skipped because their checksum failed (logged; see stats())
};

// ---------------------------------------------------------------------------------------------
// Writes

struct WriteItem {
  enum class Op { kIndex, kCreate, kDelete };
  Op op = Op::kIndex;
  std::string stream;
  std::optional<std::string> id;  // none: the engine assigns one (20 chars, URL-safe base64-like)
  std::string source_json;        // a JSON object (kIndex/kCreate)
};

struct WriteResult {
  Status status;           // InvalidArgument (not an object, mapping conflict: names the field),
                           // AlreadyExists (kCreate with an existing id), NotFound (kDelete), ...
  std::string id;
  enum class Outcome { kCreated, kUpdated, kDeleted, kNotFound, kNoop };
  Outcome outcome = Outcome::kCreated;
  int64_t version = 1;
  uint64_t seq_no = 0;
};

struct StreamInfo {
  std::string name;
  uint64_t docs = 0;
  uint64_t deleted_docs = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t raw_bytes = 0;
  std::string uuid;
  int64_t created_ms = 0;
  StreamSettings settings;
};

struct EventStoreOptions {
  std::string dir;  // the store's directory (<data_dir>/store)
  std::chrono::milliseconds refresh_interval{1000};
  std::chrono::milliseconds group_commit_delay{2};  // how long a sync waits for more writers
  uint64_t wal_max_bytes = 1ull << 30;              // back-pressure: Write() waits (then Unavailable) past this
  size_t block_max_events = 8192;
  size_t block_max_bytes = 4u << 20;
  uint64_t segment_max_bytes = 256ull << 20;
  std::chrono::seconds segment_span{86400};  // time partitioning: one segment per UTC day at most
  int zstd_level = 3;
  bool auto_create_streams = true;  // writing to a missing stream creates it (ES default)
  // How often the background thread applies retention and compacts small blocks, and how long
  // an idle head stays in memory (WAL-backed) before it is flushed to blocks.
  std::chrono::milliseconds maintenance_interval{10000};
  std::chrono::milliseconds head_flush_interval{10000};
};

struct EventStoreStats {
  uint64_t ingested_docs = 0;
  uint64_t ingested_raw_bytes = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t raw_bytes = 0;
  uint64_t blocks_scanned = 0;
  uint64_t blocks_pruned = 0;
  uint64_t damaged_blocks = 0;
};

class EventStore {
 public:
  // Opens (creating if missing) the store in opts.dir; takes dir/LOCK (Unavailable if another
  // process holds it); replays the write-ahead log; cuts torn tails; starts the background
  // flush/retention/compaction thread. Errors: InvalidArgument (options), Unavailable, IOError.
  static Result<std::unique_ptr<EventStore>> Open(const EventStoreOptions& opts);
  virtual ~EventStore() = default;

  // Streams. Names follow ES index rules (lowercase, no `\ / * ? " < > | , #`, space, not
  // starting with - _ +, not "." or ".."); violations are InvalidArgument naming the rule.
  virtual Status CreateStream(const std::string& name, const StreamSettings& settings, const Mapping* mapping) = 0;  // AlreadyExists
  virtual Status DeleteStream(const std::string& name) = 0;  // NotFound
  virtual bool HasStream(const std::string& name) const = 0;
  virtual std::vector<StreamInfo> ListStreams() const = 0;
  virtual Result<StreamInfo> GetStream(const std::string& name) const = 0;
  virtual Result<Mapping> GetMapping(const std::string& name) const = 0;
  // Adds fields to the mapping; a type change is InvalidArgument naming the field.
  virtual Status PutMapping(const std::string& name, const Mapping& mapping) = 0;

  // Writes a batch; results[i] belongs to items[i]. Returns after every accepted item is
  // durable (see the top of this file); per-item failures are in results, the returned Status
  // is for the whole batch (IOError: nothing acknowledged; Unavailable: back-pressure timeout).
  // refresh = true: the items are searchable when this returns.
  virtual Status Write(const std::vector<WriteItem>& items, std::vector<WriteResult>* results, bool refresh = false) = 0;
  // Makes everything written so far searchable (streams empty = all).
  virtual Status Refresh(const std::vector<std::string>& streams = {}) = 0;
  // Waits until everything written to `streams` before the call is searchable, without forcing
  // a refresh: the next periodic refresh (at most refresh_interval) or a Refresh() by anyone
  // releases it, as Elasticsearch's ?refresh=wait_for. NotFound: a stream.
  virtual Status WaitForRefresh(const std::vector<std::string>& streams) = 0;

  // The current source of document `id`; nullopt when absent or deleted. Real-time (sees
  // unrefreshed writes, like ES's GET). `version` (if given) receives the doc's version (1 when
  // first indexed, +1 per overwrite of its id) and `seq_no` its sequence number.
  virtual Result<std::optional<std::string>> Get(const std::string& stream, const std::string& id, int64_t* version = nullptr,
                                                 uint64_t* seq_no = nullptr) const = 0;

  // InvalidArgument naming the unsupported part (a regexp it cannot compile, an aggregation on a
  // text field, sort on a text field, ...): never a silently wrong result. NotFound: a stream.
  virtual Result<SearchResult> Search(const SearchRequest& req) const = 0;
  virtual Result<uint64_t> Count(const std::vector<std::string>& streams, const QueryPtr& query) const = 0;

  virtual EventStoreStats stats() const = 0;
  // Whether the store accepts writes (readiness). Ok while it is open and writable. Unavailable
  // once closed. After a write failed to reach a write-ahead log (disk full, EFBIG, an fdatasync
  // error): that error, until a later write succeeds or a 64 KiB trial write + fdatasync in the
  // store directory does (tried at most once a second). Also an error while a stream's log is
  // unusable (a failed fdatasync; the next flush rotates it).
  virtual Status Writable() const = 0;
  // Flushes the head to blocks, syncs, stops the background thread. Idempotent.
  virtual void Close() = 0;
};

// The analyser used for text fields and match/phrase queries: Latin letters/digits split into
// words and lowercased (ASCII and Latin-1 letters folded), CJK (Han, Hiragana, Katakana, Hangul)
// runs emitted as overlapping bigrams (a single CJK character alone as a unigram). Positions are
// consecutive, so a phrase is "these tokens at consecutive positions".
std::vector<std::string> AnalyzeText(std::string_view text);

}  // namespace hakone::store
