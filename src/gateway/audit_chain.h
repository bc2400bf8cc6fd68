// Tamper evidence for the operation log: a SHA-256 hash chain over the event lines, and
// Ed25519-signed checkpoints of the chain head.
//
// ---- The event line and its hash (exact rule) ----
// Seal(body, seq) turns the event body `{"time":...,"user":...}` (a JSON object text from the
// EventBuilder, without seq/prev_hash/hash) into the stored line
//
//   {"seq":<N>,<body members>,"prev_hash":"<64 hex>","hash":"<64 hex>"}
//
// byte for byte: `{"seq":` + N in decimal + (`,` + the body's text between its outer braces,
// leading/trailing whitespace removed, if not empty) + `,"prev_hash":"` + P + `"` + `,"hash":"` +
// H + `"}`. Then
//
//   H = lowercase hex of SHA-256( line[0, len - 75) + "}" )
//
// that is, the SHA-256 of the exact bytes of the line up to, not including, the final
// `,"hash":"<64 hex>"}` (always its last 75 bytes), followed by one `}`: the line as it would
// read without its hash member. P is the H of the event with seq N-1; for the first event
// (seq 1) it is 64 zeros. Hex digits are lowercase; nothing else is normalised, so verification
// works on the stored bytes and never re-serialises JSON. Seqs are the spool's seqs (dense,
// from 1), so a deleted event is a gap. One chain per data directory (one gateway instance);
// events carry `instance` in their body so that chains can be told apart once merged elsewhere.
//
// ---- Checkpoints ----
// Every `checkpoint_every` events or `checkpoint_interval` (whichever is first, when there is a
// new event), MaybeCheckpoint() signs the newest durable (seq, hash) with the instance's Ed25519
// key and appends one line to <data_dir>/audit/checkpoints.jsonl (then fdatasync):
//
//   {"type":"checkpoint","instance":"gw-1","seq":1000,"hash":"<64 hex>",
//    "time":"2024-05-01T12:00:00.000000Z","time_us":1714564800000000,
//    "alg":"ed25519","key_id":"<16 hex>","sig":"<128 hex>"}
//
// The signed message is the bytes
//   "hakone-audit-checkpoint-v1\n" + instance + "\n" + seq + "\n" + hash + "\n" + time_us
// (decimal integers, no trailing newline). key_id = the first 16 hex digits of SHA-256(public
// key). A checkpoint pins the whole chain up to its seq: rewriting events and recomputing every
// later hash (which anyone with the files can do) changes the hash at the checkpoint, and
// dropping events after it leaves a checkpoint naming a seq past the end.
//
// ---- Keys ----
// <data_dir>/keys/audit-ed25519.key: the private key, PKCS#8 PEM ("BEGIN PRIVATE KEY", the
// form `openssl pkey` reads), created on first Open with mode 0600 (directory 0700).
// <data_dir>/keys/audit-ed25519.pub: the public key, SubjectPublicKeyInfo PEM ("BEGIN PUBLIC
// KEY"). Export it (hakone audit export-key) and keep it away from the gateway host: verifying
// with the data directory's own key only proves integrity against someone who cannot write the
// key files too. --public-key accepts that PEM or the 32-byte key as 64 hex digits.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone::gateway {

inline constexpr std::string_view kZeroHash = "0000000000000000000000000000000000000000000000000000000000000000";

// Paths inside a data directory.
std::string AuditPrivateKeyPath(const std::string& data_dir);  // keys/audit-ed25519.key
std::string AuditPublicKeyPath(const std::string& data_dir);   // keys/audit-ed25519.pub
std::string AuditCheckpointsPath(const std::string& data_dir); // audit/checkpoints.jsonl

class AuditChain {
 public:
  // Loads (or creates) the data directory's Ed25519 key pair and finds the chain head (the
  // seq and hash of the newest event in the audit blocks and the spool tail, see
  // store/audit_store.h), so that the chain continues across restarts. Creates
  // <data_dir>/audit and <data_dir>/keys as needed. `instance` must be 1-128 printable
  // characters without '"', '\\' or newlines. Errors: InvalidArgument, IOError, Corruption
  // (an unreadable key file), Internal (libsodium).
  static Result<std::unique_ptr<AuditChain>> Open(const std::string& data_dir, std::string instance,
                                                  uint64_t checkpoint_every = 1000,
                                                  std::chrono::seconds checkpoint_interval = std::chrono::seconds(10));
  ~AuditChain();
  AuditChain(const AuditChain&) = delete;
  AuditChain& operator=(const AuditChain&) = delete;

  // Returns the final line for the event `body` with sequence number `seq` (see the rule
  // above) and makes it the chain head. REQUIRES: calls in append order with seq = the spool's
  // next seq (the gateway holds one mutex around Seal + Spool::Append). If the previous line
  // could not be appended, call Seal again with the same seq: the chain then replaces that
  // line (its prev_hash is the one before). A body that is not a JSON object is kept as the
  // string member "invalid_body" rather than dropped. Thread safe; never fails.
  std::string Seal(std::string_view body, uint64_t seq);

  // Writes a checkpoint when one is due (checkpoint_every events or checkpoint_interval since
  // the last one, and something new was sealed). Cheap when none is due; otherwise signs and
  // appends with an fdatasync (about a millisecond), so call it outside the append mutex,
  // after Append and from a timer. Errors are logged and retried at the next call. Thread safe.
  void MaybeCheckpoint();
  // Writes a checkpoint of the newest durable head now (no-op when that seq is already
  // checkpointed). For shutdown and tests. Errors: IOError. Thread safe.
  Status Checkpoint();

  // Optional: where to learn which seqs are durable (e.g. [spool]{ return spool->durable_seq(); }).
  // With it, checkpoints only ever name durable events, so a crash in batch mode cannot leave
  // a checkpoint past the end of the log. Without it, checkpoints name the newest sealed event.
  void SetDurableSeq(std::function<uint64_t()> durable_seq);

  // The public key as PEM (SubjectPublicKeyInfo), ready to save and pass to --public-key.
  std::string public_key_pem_or_hex() const;
  std::string public_key_hex() const;
  std::string key_id() const;
  const std::string& instance() const;
  uint64_t last_seq() const;      // seq of the chain head (0: empty)
  std::string last_hash() const;  // hash of the chain head (kZeroHash: empty)
  uint64_t last_checkpoint_seq() const;

  struct Impl;

 private:
  explicit AuditChain(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- The line format, for verifiers and tests ----

struct SealedLine {
  uint64_t seq = 0;
  std::string_view prev_hash;  // 64 hex
  std::string_view hash;       // 64 hex, as recorded
};
// Parses the fixed parts of a sealed line: the `{"seq":N,` prefix, the `,"prev_hash":"..."`
// and `,"hash":"..."}` suffix. Returns false (with *why) when the line does not have that shape.
bool ParseSealedLine(std::string_view line, SealedLine* out, std::string* why);
// The hash the line should carry (H of the rule above); "" if the line is too short.
std::string ComputeLineHash(std::string_view line);
// Builds a sealed line from a body, seq and prev_hash (what Seal does, without state).
std::string SealLine(std::string_view body, uint64_t seq, std::string_view prev_hash);

// ---- Keys ----

// Parses a public key file's text: SubjectPublicKeyInfo PEM of an Ed25519 key, or 64 hex digits.
Result<std::array<uint8_t, 32>> ParsePublicKey(std::string_view text);
std::string PublicKeyPem(const std::array<uint8_t, 32>& pk);

// ---- Verification ----

struct VerifyProblem {
  enum class Kind {
    kAltered,          // an event's content does not match its hash (or the next event's prev_hash)
    kDeleted,          // seqs missing
    kInserted,         // a seq appears twice / a forged event was inserted
    kReordered,        // seqs out of order
    kRewritten,        // the chain was recomputed: a signed checkpoint does not match
    kTruncated,        // a signed checkpoint names a seq past the end of the log
    kBadCheckpoint,    // a checkpoint whose signature (or line) is invalid
    kDamaged,          // a block or spool record that cannot be read (checksum)
  };
  Kind kind = Kind::kAltered;
  uint64_t seq = 0;  // the first bad seq this problem points at
  std::string message;
};
std::string_view VerifyProblemKindName(VerifyProblem::Kind kind);  // "altered", "deleted", ...

struct VerifyReport {
  uint64_t events = 0;       // event lines read
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t checkpoints = 0;  // checkpoints with a valid signature
  uint64_t last_checkpoint_seq = 0;
  std::string last_checkpoint_time;
  uint64_t unsigned_events = 0;  // events after the last valid checkpoint
  std::string public_key_source;  // the file used
  std::vector<std::string> notes;  // non-fatal remarks (a torn last checkpoint line, ...)
  // Sorted by seq; the first is the first bad seq. Capped at 1000.
  std::vector<VerifyProblem> problems;
  bool ok() const { return problems.empty(); }
  // "seq 42: altered: ..." for the first problem; "" when ok.
  std::string FirstProblemText() const;
};

// Reads every event in order (audit blocks, then the spool tail), recomputes hashes, checks
// seq continuity and prev_hash links, checks every checkpoint's signature with the public key
// in `public_key_file` ("" = <data_dir>/keys/audit-ed25519.pub) and that each checkpointed
// (seq, hash) is in the log. Fills *out in every case. Returns OK when the log is intact,
// Corruption (naming the first bad seq and why) when a problem was found, NotFound when there
// is no audit log in data_dir, InvalidArgument for an unreadable key, IOError.
Status VerifyAudit(const std::string& data_dir, const std::string& public_key_file, VerifyReport* out);

}  // namespace hakone::gateway
