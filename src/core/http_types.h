// The request and response values HttpServer hands to and takes from handlers. Plain data: no
// Beast types, so every component can include this header.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  // Extra headers. Content-Length and Transfer-Encoding are set by the server and ignored here;
  // "Connection: close" makes the server close the connection after this response.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

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
