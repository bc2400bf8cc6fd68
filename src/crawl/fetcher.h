// One HTTP/1.1 or HTTPS GET at a time per Fetcher (libcurl underneath; hidden in the .cc).
// Fetchers made from one FetcherPool share a connection cache, so keep-alive connections are
// reused per host across the crawler's workers. Bodies are decoded (gzip, deflate, br) and capped.
// Redirects are NOT followed here: the crawler follows them itself, so that every hop is
// canonicalised, filtered, checked against robots.txt and loop-detected.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hakone::crawl {

struct FetchOptions {
  std::string user_agent = "hakone-crawler/1.0";
  std::chrono::milliseconds timeout{30000};          // whole request
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS handshake
  size_t max_body = 10u << 20;                       // decoded bytes; larger → error "too_large"
  bool verify_tls = true;                            // certificate and host name checks
};

struct FetchResult {
  // "" on an HTTP answer (any status), else the error kind: "timeout", "connect", "dns", "tls",
  // "too_large", "protocol", "aborted".
  std::string error;
  std::string error_detail;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;                                          // decoded
  size_t wire_bytes = 0;                                     // bytes received (headers + body as sent)
  std::chrono::milliseconds elapsed{0};
  std::string Header(const std::string& lower_name) const;
};

class FetcherPool;

class Fetcher {
 public:
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;
  // GET `url` with extra request headers (If-None-Match ...). Never throws; errors in `error`.
  FetchResult Get(const std::string& url, const std::vector<std::string>& extra_headers = {});

 private:
  friend class FetcherPool;
  Fetcher() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class FetcherPool {
 public:
  explicit FetcherPool(FetchOptions options);
  ~FetcherPool();
  // A new fetcher sharing this pool's connections and DNS cache. Use one per thread.
  std::unique_ptr<Fetcher> NewFetcher();

  struct Shared;

 private:
  FetchOptions options_;
  std::unique_ptr<Shared> shared_;
};

// Blocking HTTP request with a body (used for the _bulk sink and the Pushgateway).
// Returns status (0 on transport error, message in *error) and the response body.
int HttpSend(const std::string& method, const std::string& url, const std::string& content_type,
             const std::string& body, std::string* response, std::string* error,
             std::chrono::milliseconds timeout = std::chrono::seconds(30),
             const std::vector<std::string>& extra_headers = {});

}  // namespace hakone::crawl
