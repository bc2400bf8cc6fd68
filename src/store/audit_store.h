// The audit store: the gateway's operation log kept in its data directory, queryable while the
// gateway runs (a first version of the event store of ARCHITECTURE.md, for one stream).
//
// Data flow: the gateway appends one sealed event line per request to the audit spool
// (AuditSpoolDir). A background thread of the writing AuditStore reads the spool as consumer
// "audit-store", groups events into blocks (a block is cut after `flush_interval` (1 s), or
// `block_max_events`, or `block_max_bytes`, whichever comes first), compresses each block with
// zstd, appends it to the current segment file, fdatasyncs, and only then commits its spool
// position. A crash between the two re-reads those records; they are skipped by seq (a block
// never holds a seq at or below the last block's last_seq), so no event is stored twice.
//
// Files under `dir` (normally <data_dir>/audit):
//   blocks-<first seq, 20 digits>-<YYYYMMDD>.blk  segment files, see block.h for the block
//        format. Append-only; a new segment starts when the UTC day of the events changes or the
//        current one passes `segment_max_bytes`, so retention can drop whole days.
//   LOCK                                          flock()ed by the one writing AuditStore.
//   (checkpoints.jsonl and queries.jsonl also live there; see gateway/audit_chain.h, audit_cli.h)
//
// Readers: a store opened with spool == nullptr is read-only (the CLI, from another process
// while the gateway runs). It reads the block files, then the spool records after the last
// block (Spool::Scan, no lock taken), so it sees every event that is durable in the spool.
// Each Query re-reads whatever was appended since the previous one.
//
// Damage: a block whose header or payload checksum is bad is logged once (with file, offset and
// seqs) and skipped; it never crashes a query. A torn block at the end of the newest segment
// (crash during a write) is cut off when the writer opens the store.
//
// Order: events are kept in append (seq) order. `time` is the request's time, so it is only
// roughly monotonic; newest_first means descending seq.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone {
class Spool;
}

namespace hakone::store {

// The data directory's layout for the audit stream.
std::string AuditStoreDir(const std::string& data_dir);  // <data_dir>/audit
std::string AuditSpoolDir(const std::string& data_dir);  // <data_dir>/spool/audit
inline constexpr char kAuditStoreConsumer[] = "audit-store";

// A query over the operation log. Every set field must match (AND).
struct AuditQuery {
  std::optional<std::string> user;       // exact match on `user`
  std::optional<int64_t> since_us;       // time >= since (µs since the Unix epoch)
  std::optional<int64_t> until_us;       // time < until
  std::optional<std::string> path_glob;  // glob on `path` or `route`: * any run (also '/'), ? one char
  std::optional<std::string> method;     // case-insensitive
  std::optional<std::string> status;     // "5xx" (a class), "404" (exact), "4xx", ...
  std::optional<std::string> ip_cidr;    // `client_ip` in one of these comma-separated CIDRs/addresses
  size_t limit = 100;                    // at most this many results; 0 = no limit
  bool newest_first = true;              // false: oldest first (timelines)
};

// InvalidArgument naming the bad field (status not "Nxx"/"NNN", bad CIDR, since > until, ...).
Status ValidateAuditQuery(const AuditQuery& q);

struct AuditStoreOptions {
  // The audit spool directory, for read-only opens. "": the sibling "spool/audit" of `dir`'s
  // parent (that is AuditSpoolDir(data_dir) when dir == AuditStoreDir(data_dir)).
  std::string spool_dir;
  std::chrono::milliseconds flush_interval{1000};  // a block is cut at most this long after its first event
  size_t block_max_events = 8192;                   // ... or when it has this many events
  size_t block_max_bytes = 4u << 20;                // ... or this many uncompressed bytes
  uint64_t segment_max_bytes = 256ull << 20;        // a new segment file past this
  int zstd_level = 3;
  std::string consumer = kAuditStoreConsumer;       // the spool consumer name
};

// A damaged part of the store, reported by ScanAll (and logged by Query).
struct BlockProblem {
  std::string file;
  uint64_t offset = 0;
  bool seqs_known = false;  // first_seq/last_seq are from a valid header
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string reason;
};

struct AuditStoreStats {
  uint64_t segments = 0;
  uint64_t blocks = 0;
  uint64_t events_in_blocks = 0;
  uint64_t bytes_on_disk = 0;      // compressed, headers included
  uint64_t raw_bytes = 0;          // uncompressed payload of all blocks
  uint64_t last_block_seq = 0;     // 0: no block yet
  uint64_t pending_events = 0;     // read from the spool, not yet in a block (writer only)
  uint64_t damaged_blocks = 0;
};

class AuditStore {
 public:
  // Opens the store in `dir` (created if missing when writing).
  // spool != nullptr: the writer. Takes dir/LOCK (Unavailable if another writer holds it), cuts
  // a torn tail off the newest segment (logged), opens the spool reader `opts.consumer` and
  // starts the background thread. The Spool must outlive the store (call Stop() first).
  // spool == nullptr: read-only; takes no lock, modifies nothing; a missing dir is NotFound.
  // Errors: InvalidArgument (options), Unavailable, NotFound, IOError.
  static Result<std::unique_ptr<AuditStore>> Open(const std::string& dir, Spool* spool, AuditStoreOptions opts = {});
  // Stop()s.
  ~AuditStore();
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;

  // Calls fn with each event line (the exact JSON text) matching q, newest first or oldest
  // first, at most q.limit of them, until fn returns false. Blocks are pruned by their time
  // range; damaged blocks are logged and skipped. Sees events still in the spool (read-only) or
  // in the in-memory head (writer). Errors: InvalidArgument (ValidateAuditQuery), IOError.
  // Thread safe; fn must not call back into this store.
  Status Query(const AuditQuery& q, const std::function<bool(std::string_view event_json)>& fn) const;

  // Every stored event in storage order (blocks in seq order, then the spool tail or the
  // in-memory head), unfiltered: for verification. on_problem (may be null) is called, in
  // order with the events, for each damaged block instead of its events. Stops when on_event
  // returns false. Errors: IOError. Thread safe.
  Status ScanAll(const std::function<bool(std::string_view line)>& on_event,
                 const std::function<void(const BlockProblem&)>& on_problem) const;

  // The newest event line (highest seq) stored anywhere (block, head or spool tail); nullopt
  // when there is none. Used to continue the hash chain across restarts. Thread safe.
  Result<std::optional<std::string>> LastEvent() const;

  // Writer only: cuts a block from the in-memory head now (no-op when empty). Thread safe.
  Status Flush();
  // Writer only: waits until every event with seq <= seq is in a block (and the spool position
  // committed), up to `timeout`. Returns Timeout, or the writer's last I/O error. Thread safe.
  Status WaitStored(uint64_t seq, std::chrono::milliseconds timeout);
  // Writer: reads what is left in the spool (briefly), writes the head as a block, commits and
  // stops the thread. Idempotent; the store can still be queried afterwards.
  void Stop();

  // Counters of the blocks indexed so far (a read-only store: as of its last Query/ScanAll).
  // Thread safe.
  AuditStoreStats stats() const;
  // true when opened with spool == nullptr.
  bool read_only() const;
  // The directory given to Open().
  const std::string& dir() const;

  struct Impl;

 private:
  explicit AuditStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Event field helpers (shared with the hash chain and the CLI) ----

// Calls fn(key, raw_value) for each member of the JSON object text `obj`, without descending
// into nested values (raw_value is the exact JSON text of the value: "\"alice\"", "404", "{...}").
// Keys are passed raw (escapes not decoded). Returns false if `obj` is not a well-formed object
// as far as it was scanned (stopping early via fn returning false counts as well-formed).
bool ForEachTopLevelMember(std::string_view obj, const std::function<bool(std::string_view key, std::string_view raw)>& fn);
// The decoded string of a raw JSON string value; nullopt if raw is not a string.
std::optional<std::string> JsonStringValue(std::string_view raw);
// An integer JSON value (a fractional part is truncated: 12.9 → 12); nullopt for anything else,
// exponents included.
std::optional<int64_t> JsonIntValue(std::string_view raw);

// "2024-05-01T12:34:56.123456Z", "...+09:00", fraction optional. InvalidArgument otherwise.
Result<int64_t> ParseRfc3339Micros(std::string_view s);
// "2024-05-01T12:34:56.123456Z" (UTC, always 6 fraction digits).
std::string FormatRfc3339Micros(int64_t us);
// The event's `time` (an RFC 3339 string or an integer of µs); 0 when absent or unreadable.
int64_t EventTimeMicros(std::string_view line);
// The event's top-level `seq`; nullopt when absent.
std::optional<uint64_t> EventSeq(std::string_view line);
// Glob: '*' matches any run of characters (including '/'), '?' one character, "\x" a literal x.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace hakone::store
