// The `_bulk` NDJSON parser, incremental: bytes go in as they arrive (any split), complete
// action/source pairs come out, so a large body is turned into write batches without holding
// its parsed form whole. Plus an incremental gzip/deflate decoder for `Content-Encoding: gzip`.
//
// Format (Elasticsearch): one action line {"index"|"create": {"_index": ..., "_id": ...}}
// followed by a source line; {"delete": {...}} has no source line. Blank lines are skipped.
// A malformed action line is fatal for the whole request (ES answers 400); a per-item problem
// (missing index, unsupported action such as `update`, a source that is not an object) becomes
// a per-item error and parsing goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/event_store.h"

namespace hakone::store::es {

struct BulkAction {
  std::string op;   // "index", "create", "delete", "update" (as written)
  WriteItem item;   // valid when error_type is empty
  int error_status = 0;  // per-item error (400/404...) when error_type is set
  std::string error_type, error_reason;
};

class BulkParser {
 public:
  // default_index: from the URL (/{index}/_bulk), "" for /_bulk. max_line: longest line accepted.
  explicit BulkParser(std::string default_index, size_t max_line = 100u << 20);
  // Consumes bytes; appends every completed action to *out. Error (fatal): InvalidArgument
  // "<es_type>: reason" naming the line number.
  Status Feed(std::string_view chunk, std::vector<BulkAction>* out);
  // End of body: a final line without '\n' is processed; an action missing its source is an error.
  Status Finish(std::vector<BulkAction>* out);
  uint64_t lines() const { return line_no_; }

 private:
  Status Line(std::string_view line, std::vector<BulkAction>* out);
  std::string default_index_;
  size_t max_line_;
  std::string partial_;
  uint64_t line_no_ = 0;
  bool want_source_ = false;
  BulkAction pending_;
};

// Incremental gzip (or zlib) inflater. Output above max_out bytes in total → ResourceExhausted.
class Inflater {
 public:
  explicit Inflater(uint64_t max_out = 4ull << 30);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  // Appends decompressed bytes of `in` to *out. InvalidArgument on corrupt data.
  Status Feed(std::string_view in, std::string* out);
  // Hands the decompressed bytes of `in` to `sink` in pieces of at most 64 KiB, so memory stays
  // bounded however well the input compresses; a sink error stops and is returned.
  Status Feed(std::string_view in, const std::function<Status(std::string_view)>& sink);
  // InvalidArgument if the stream was truncated.
  Status Finish() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hakone::store::es
