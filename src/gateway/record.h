// What the proxy knows about one request when it is done (or failed): the raw material of an
// operation event. The proxy fills it; the EventBuilder turns it into the event's JSON.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hakone::gateway {

struct RequestRecord {
  std::chrono::system_clock::time_point start;     // first byte of the request head received
  std::string method;                              // as sent ("GET")
  std::string target;                              // raw request-target ("/candidates/1?x=2")
  int http_minor = 1;                              // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // request headers, as received
  std::string peer_ip;                             // TCP peer address (before X-Forwarded-For)
  uint16_t peer_port = 0;
  std::string request_id;                          // X-Request-Id, propagated or generated
  std::string content_type;                        // request Content-Type
  std::string body_prefix;                         // captured prefix (only for capturable types)
  bool body_truncated = false;                     // the body was longer than the captured prefix
  int status = 0;                                  // response status sent to the client (0: none)
  uint64_t bytes_in = 0;                           // request body bytes received
  uint64_t bytes_out = 0;                          // response body bytes sent
  std::string upstream;                            // "127.0.0.1:9000" (empty: never reached one)
  double upstream_ms = 0;                          // request sent → response head received
  double total_ms = 0;                             // request head received → response done
  std::string error;                               // proxy failure ("upstream refused", "timeout")
  bool websocket = false;                          // the connection was upgraded

  // Case-insensitive header lookup; "" if absent.
  std::string_view Header(std::string_view name) const {
    for (auto& [k, v] : headers) {
      if (k.size() == name.size()) {
        bool eq = true;
        for (size_t i = 0; i < k.size() && eq; ++i) {
          char a = k[i], b = name[i];
          if (a >= 'A' && a <= 'Z') a = static_cast<char>(a + 32);
          if (b >= 'A' && b <= 'Z') b = static_cast<char>(b + 32);
          eq = a == b;
        }
        if (eq) return v;
      }
    }
    return {};
  }
};

}  // namespace hakone::gateway
