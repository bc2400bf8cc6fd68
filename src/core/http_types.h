// The request and response values HttpServer hands to and takes from handlers. Plain data: no
// Beast types, so every component can include this header.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hakone {

struct HttpRequest {
  std::string method;  // as sent: "GET", "POST", ... (HEAD requests reach GET routes as "HEAD")
  std::string target;  // the raw request-target: "/a%20b/c?x=1"
  std::string path;    // the target's path, percent-decoded: "/a b/c"
  std::string query;   // the raw query after '?', not decoded: "x=1"
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order, names as sent
  std::string body;
  boost::asio::ip::tcp::endpoint remote;  // the peer address of the connection

  // The first header with this name (ASCII case-insensitive); "" if absent. The view points
  // into `headers` and is valid while the request is unchanged.
  std::string_view Header(std::string_view name) const;
  // The first query parameter with this name, percent-decoded ('+' as space); nullopt if absent.
  std::optional<std::string> Param(std::string_view name) const;
  // Every query parameter, decoded, in order.
  std::vector<std::pair<std::string, std::string>> Params() const;
};

// A response body produced piecewise after the headers are sent, for bodies too large to hold
// in memory (HttpResponse::body_source). Read runs on the connection's strand.
class HttpBodySource {
 public:
  virtual ~HttpBodySource() = default;
  // Total bytes; sent as Content-Length, so Read must produce exactly this many.
  virtual uint64_t size() const = 0;
  // Copies the next bytes of the body (at most `cap`) to `buf`; returns how many (0 only at the
  // end). An error (or a short body) closes the connection mid-response.
  virtual Result<size_t> Read(char* buf, size_t cap) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  // Extra headers. Content-Length and Transfer-Encoding are set by the server and ignored here;
  // "Connection: close" makes the server close the connection after this response.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<HttpBodySource> body_source;  // when set, sent instead of `body`

  static HttpResponse Json(int status, std::string body);
  // text/plain; charset=utf-8
  static HttpResponse Text(int status, std::string body);
  // {"error":{"type":"<type>","reason":"<message>"},"status":N}, the Elasticsearch error shape;
  // type is derived from the status ("bad_request", "not_found", "internal_error", ...).
  static HttpResponse Error(int status, std::string_view message);
};

// The snake_case error type used by HttpResponse::Error for a status ("not_found" for 404).
std::string_view HttpErrorType(int status);

}  // namespace hakone
