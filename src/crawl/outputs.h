// Crawl outputs: the Elasticsearch `_bulk` sink (NDJSON over HTTP to hakone's ES-compatible API
// or Elasticsearch itself) and the companies ↔ jobs tables (SQLite or PostgreSQL) that the graph
// mapping reads. Internal to the crawler; not thread safe (the crawler serialises calls).
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "crawl/extract.h"

namespace hakone::crawl {

struct PageDoc {
  std::string url, final_url, content_type, content_hash, fetched_at;  // fetched_at RFC 3339
  int status = 0, depth = 0;
  int64_t bytes = 0;
  const PageExtract* extract = nullptr;  // null for non-HTML pages
};

struct PostingDoc {
  std::string job_id, company_id, url, content_hash, crawled_at;
  const JobPosting* posting = nullptr;
};

class Output {
 public:
  virtual ~Output() = default;
  virtual Status Page(const PageDoc& p) = 0;
  virtual Status Posting(const PostingDoc& p) = 0;
  virtual Status Flush() = 0;
};

// POSTs batches of `max_docs` documents to `base_url`/_bulk; a response with "errors":true or a
// non-2xx status is an error naming the first failed item.
// A non-empty `token` is sent as "Authorization: Bearer <token>".
std::unique_ptr<Output> NewBulkOutput(std::string base_url, std::string pages_index, std::string jobs_index,
                                      int max_docs, bool emit_pages, std::string token = "");
// Writes batches of `max_docs` documents to the process's event store (store/local.h: the one
// `hakone serve` or the demo opened), as `index` ops with the same ids and documents as the
// _bulk output; each batch is durable (WAL fdatasync'd) when Flush() returns. Errors:
// InvalidArgument when no store is open in this process; from Flush(), the store's error or
// IOError naming the first refused document.
Result<std::unique_ptr<Output>> NewStoreOutput(std::string pages_index, std::string jobs_index, int max_docs, bool emit_pages);
// "sqlite:PATH" or "postgresql://..."/"postgres://...": creates crawl_companies and crawl_jobs
// if missing and upserts rows. Errors: InvalidArgument for another scheme, IOError/Unavailable.
Result<std::unique_ptr<Output>> NewTableOutput(const std::string& spec);

// The JSON documents (also used by tests).
std::string PageJson(const PageDoc& p);
std::string PostingJson(const PostingDoc& p);
// company_id for an organisation name: lower case, spaces collapsed ("" for "").
std::string CompanyId(std::string_view name);

}  // namespace hakone::crawl
