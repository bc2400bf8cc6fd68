// A crawl frontier shared through Redis, so several `hakone crawl` processes (pods) crawl one
// site between them: a seen-set (SADD says whether a URL is new), one queue (a list of encoded
// items) and an in-flight sorted set scored by lease expiry. Claiming moves items from the queue
// to in-flight atomically (a Lua script) and first requeues items whose lease expired — the
// items of a crawler that was killed mid-run. See docs/crawl.md ("Shared frontier").
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/resp_client.h"
#include "core/status.h"

namespace hakone::crawl {

class RedisFrontier {
 public:
  struct Claimed {
    std::vector<std::string> entries;  // encoded items, now leased to this process
    int64_t recovered = 0;             // expired leases put back into the queue by this call
    int64_t queued = 0, in_flight = 0;  // after the claim, all processes
  };

  // `url`: redis://[[user]:password@]host[:port][/db]; keys are `prefix`:seen|queue|inflight|done.
  // InvalidArgument for a malformed URL; does not connect yet.
  static Result<std::unique_ptr<RedisFrontier>> Create(const std::string& url, std::string prefix,
                                                       std::chrono::milliseconds lease);
  ~RedisFrontier();

  // Joins the frontier: true when an unfinished one exists (another process is crawling, or a
  // killed run left work); a finished one (done marker) is cleared so a new run starts over.
  // Unavailable etc. when Redis cannot be reached.
  Result<bool> Start();
  // Adds `entry` to the queue when `url` is new to the seen-set (front: taken next). Returns
  // whether it was new.
  Result<bool> Add(const std::string& url, const std::string& entry, bool front);
  // Leases up to `n` queued entries for lease().
  Result<Claimed> Claim(int n);
  // The entry was fetched (or given up): removes it from in-flight.
  Status Finish(const std::string& entry);
  // Returns a leased entry to the front of the queue (not fetched: stop, limit). Does nothing
  // if its lease had already expired and it was requeued by someone else.
  Status Release(const std::string& entry);
  // Marks the frontier finished (queue and in-flight seen empty).
  Status MarkDone();

  const std::string& url() const { return url_; }

 private:
  RedisFrontier() = default;
  Result<RespValue> Call(std::vector<std::string> args);

  std::string url_, prefix_;
  std::chrono::milliseconds lease_{};
  asio::io_context io_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::unique_ptr<RespClient> client_;
  std::thread thread_;
};

// Item <-> entry: {"u":url,"d":depth,"k":kind,"c":[redirect chain]}.
std::string EncodeFrontierEntry(const std::string& url, int depth, int kind, const std::vector<std::string>& chain);
// Corruption for anything that is not such an object (a foreign value in the queue).
Status DecodeFrontierEntry(const std::string& entry, std::string* url, int* depth, int* kind,
                           std::vector<std::string>* chain);

}  // namespace hakone::crawl
