// The spool: hakone's durable write-ahead buffer (audit events; later log records and bulk
// documents). Append-only, checksummed segment files in one directory, group commit, replay on
// start, a bound on its size with back-pressure, and several named consumers, each with a
// durable position.
//
// Durability contract:
//   * Append() returns a sequence number once the record is in memory: NOT durable yet.
//   * A record is durable (survives kill -9 and, with fsync = true, power loss) once
//     durable_seq() >= its seq; WhenDurable()/Sync() wait for that (one fdatasync is shared by
//     every record appended before it: group commit). Without them, appended data is written and
//     fsync'd within flush_interval (batch mode).
//   * Readers only ever see durable records; Commit() is durable when it returns; a consumer
//     sees every record after its last Commit() again after a restart (at-least-once).
//
// On-disk format (all integers little-endian), one directory per spool:
//   seg-<first seq, 20 digits>.log   segment: 16-byte header "HKSPOOL" 0x01 u64 first_seq, then
//                                    records [u32 len][u32 crc][u64 seq][payload: len bytes],
//                                    crc = CRC-32C of payload, then seq (8 bytes), then len (4 bytes).
//                                    Seqs inside a segment are dense from first_seq.
//   consumer-<name>.pos              20 bytes: "HKSPPOS1" u64 committed_seq u32 crc32c(first 16),
//                                    replaced atomically (tmp + fsync + rename + fsync dir).
//   LOCK                             flock()ed by the one process that has the spool open.
// Recovery: an incomplete or bad record at the end of the last segment (a torn write) is cut off
// and logged. A bad record followed by valid ones (real corruption) is logged, counted in
// hakone_spool_corrupt_records_total and the rest of that segment is skipped; the spool never
// refuses to open because of its contents.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone {

struct SpoolOptions {
  std::string dir;                       // created if missing
  std::string name = "spool";            // metrics label ("spool" label value)
  uint64_t segment_bytes = 64ull << 20;  // roll to a new segment file past this (clamped to max_bytes/4)
  uint64_t max_bytes = 1ull << 30;       // bound on bytes not yet committed by every consumer
  enum class OnFull { kBlock, kDropOldest } on_full = OnFull::kBlock;
  std::chrono::milliseconds flush_interval{200};  // batch mode: appended data is fsync'd within this
  bool fsync = true;                              // false only for tests/benchmarks
  // kBlock: how long Append() waits for space before returning ResourceExhausted. Also bounds
  // waits on the in-memory buffer (below) and, for kDropOldest, on a flush that must complete
  // before the oldest segment can be dropped.
  std::chrono::milliseconds block_timeout{5000};
  // Bound on appended bytes not yet written to the file; Append() waits for the flusher past it.
  uint64_t max_pending_bytes = 32ull << 20;
};

struct SpoolRecord {
  uint64_t seq = 0;
  std::string payload;
};

// A record inside a buffer being decoded (DecodeSegment); valid only during the callback.
struct SpoolRecordView {
  uint64_t seq = 0;
  std::string_view payload;
};

// What DecodeSegment found in one segment image.
struct SegmentDecodeResult {
  enum class End {
    kClean,     // every byte belongs to a valid record
    kTornTail,  // the bytes after valid_bytes are an incomplete or bad record with nothing valid after it
    kCorrupt,   // a bad header, or a bad record followed by at least one valid record
  };
  End end = End::kClean;
  bool header_ok = false;      // false: too short or wrong magic/version/first seq
  uint64_t first_seq = 0;      // from the header (0 when !header_ok)
  uint64_t records = 0;        // valid records before the first bad one
  uint64_t last_seq = 0;       // seq of the last of them (first_seq - 1 when none)
  uint64_t valid_bytes = 0;    // end offset of the last valid record (the header size when none)
  uint64_t bad_offset = 0;     // where decoding stopped (== valid_bytes unless kClean)
  uint64_t max_seq_after = 0;  // kCorrupt: highest seq of the valid records found after the bad one
  std::string reason;          // human-readable cause when not kClean
};

inline constexpr size_t kSpoolSegmentHeaderBytes = 16;
inline constexpr size_t kSpoolRecordHeaderBytes = 16;
inline constexpr uint64_t kSpoolMaxPayloadBytes = 256ull << 20;

// Decodes one segment file image (arbitrary bytes: never crashes, never reads out of bounds).
// `expected_first_seq` is the seq from the file name (0: take the header's). Calls fn for each
// valid record in order; fn returning false stops decoding early (out->end then describes only
// what was decoded). Returns OK for kClean and kTornTail, Corruption (with the reason) for
// kCorrupt; *out is always filled. Thread safe.
Status DecodeSegment(std::string_view bytes, uint64_t expected_first_seq,
                     const std::function<bool(const SpoolRecordView&)>& fn, SegmentDecodeResult* out);

// Appends the on-disk header of a segment starting at first_seq / one record (for tools and tests).
void EncodeSegmentHeader(uint64_t first_seq, std::string* out);
void EncodeSpoolRecord(uint64_t seq, std::string_view payload, std::string* out);

class SpoolReader;
struct SpoolCore;

class Spool {
 public:
  // Opens (creating if missing) the spool in opts.dir: takes the directory lock (Unavailable if
  // another Spool, in this or another process, has it), replays and validates every segment,
  // truncates a torn tail (logged), reports corruption (logged + metric) and starts the flusher
  // thread. Errors: InvalidArgument for bad options, Unavailable, IOError.
  static Result<std::unique_ptr<Spool>> Open(SpoolOptions opts);
  // Flushes and fsyncs everything appended, fires the remaining WhenDurable callbacks, stops
  // the flusher and releases the lock. Readers still alive afterwards get Unavailable.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends one record; returns its sequence number (dense, starts at 1, continues across
  // restarts). Not durable yet (see WhenDurable/Sync). When the spool is full: kBlock waits up
  // to block_timeout, then returns ResourceExhausted; kDropOldest deletes the oldest segment(s)
  // (counted in hakone_spool_dropped_total). Errors: InvalidArgument (payload larger than
  // kSpoolMaxPayloadBytes or than the spool), ResourceExhausted, the flusher's I/O error once it
  // failed (the spool then refuses all writes until reopened). Thread safe.
  Result<uint64_t> Append(std::string_view payload);
  // Appends all payloads contiguously (all or none); returns the last seq. Same errors as Append;
  // InvalidArgument for an empty batch. Thread safe.
  Result<uint64_t> AppendBatch(const std::vector<std::string_view>& payloads);

  // Calls cb(OK) once every record <= seq is durable, or cb(error) if the flusher failed or
  // seq > last_seq(). Requests an immediate group commit. Callbacks run on the flusher thread,
  // in seq order among those waiting for the same commit; keep them short (post elsewhere): do
  // not call Sync() from them, and an Append() there that has to wait for room times out. After
  // the flusher has stopped (spool closing), cb runs inline. Thread safe.
  void WhenDurable(uint64_t seq, std::function<void(Status)> cb);
  // Blocks until everything appended so far is durable. Returns the flusher's error if any.
  // Thread safe; must not be called from a WhenDurable callback.
  Status Sync();

  uint64_t last_seq() const;     // highest seq appended (0 when none ever)
  uint64_t durable_seq() const;  // every record <= this is durable
  // Bytes retained: segment files on disk plus appended bytes not yet written. This is what
  // max_bytes bounds; it shrinks when segments are deleted (all consumers past them) or dropped.
  uint64_t bytes() const;

  // Opens the reader of a consumer. An existing consumer resumes after its committed seq; a new
  // one is registered durably and starts at the oldest retained record. Every registered
  // consumer holds back segment deletion until it commits past them. At most one open reader
  // per consumer (AlreadyExists). Names: [A-Za-z0-9._-]{1,64}. The reader may outlive the Spool
  // (its calls then return Unavailable). Thread safe.
  Result<std::unique_ptr<SpoolReader>> OpenReader(const std::string& consumer);
  // Unregisters a consumer (its position file is deleted) so that it no longer holds back
  // deletion. NotFound if unknown; AlreadyExists while its reader is open.
  Status RemoveConsumer(const std::string& consumer);
  // Registered consumers, sorted.
  std::vector<std::string> Consumers() const;

  // Read-only scan for tools: calls fn for each record with seq >= from in order until fn returns
  // false. Takes no lock, so it works while another process appends (a partial record at the end
  // of the newest segment is simply the end). Keeps going past corruption and then returns
  // Corruption naming the first problem; OK otherwise (also when fn stopped the scan).
  static Status Scan(const std::string& dir, uint64_t from, const std::function<bool(const SpoolRecord&)>& fn);

 private:
  explicit Spool(std::shared_ptr<SpoolCore> core);
  std::shared_ptr<SpoolCore> core_;
};

// A consumer's cursor. Not thread safe: use one reader from one thread at a time.
class SpoolReader {
 public:
  ~SpoolReader();
  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;

  // Returns up to max_records records (and about max_bytes of payload, but at least one record)
  // after the reader's position, only durable ones; waits up to `wait` for the first one.
  // An empty vector on timeout. Records dropped (kDropOldest) or lost to corruption are skipped:
  // seqs can jump. Errors: Unavailable once the spool is closed, IOError.
  Result<std::vector<SpoolRecord>> Read(size_t max_records, size_t max_bytes, std::chrono::milliseconds wait);
  // Read() without the copies: calls fn(seq, payload) for each record, in order, with a view
  // into the reader's buffer that is valid only during the call; returns how many. fn must not
  // call back into this reader. Same waiting, limits and errors as Read().
  Result<size_t> ReadEach(size_t max_records, size_t max_bytes, std::chrono::milliseconds wait,
                          const std::function<void(uint64_t seq, std::string_view payload)>& fn);
  // Durably records that this consumer handled every record <= seq (a small file written
  // atomically with two fsyncs: batch your commits). Segments every consumer has passed are then
  // deleted. seq below committed() is a no-op; beyond what Read returned is InvalidArgument.
  Status Commit(uint64_t seq);
  uint64_t committed() const;
  // Seq of the last record Read() returned (or committed() before the first Read).
  uint64_t position() const;
  const std::string& consumer() const;

 private:
  friend class Spool;
  struct Impl;
  explicit SpoolReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hakone
