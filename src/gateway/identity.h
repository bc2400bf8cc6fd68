// Who made a request: the `user` of an audit event.
//
// Rules, tried in the configured `order` (first match wins; "anonymous" when none matches):
//   header  — the value of a request header (X-User-Id) set by something in front of the gateway
//             (an auth proxy, the load balancer). Clients can send it too: use this rule only
//             when that front component overwrites or strips it.
//   jwt     — a claim (default `sub`) of a JWT in a header (Authorization: Bearer <jwt>). When
//             `hs256_secret_file` and/or `rs256_public_key` is configured the signature MUST
//             verify with one of them (HS256 / RS256 only; `alg: none` and other algorithms are
//             refused) and `exp`/`nbf` are honoured; a token that fails is ignored (the next
//             rule is tried) and counted in hakone_gateway_identity_rejected_total{reason}.
//             WITHOUT a key the claim is read unverified: anyone can forge it, so the event
//             records who the token *claims* to be. That is fine when the application or a
//             component in front verifies every token, and misleading otherwise.
//   session — (only when a `session` table is configured) a session cookie (PLAY_SESSION)
//             looked up in a Redis-protocol store (Redis or hakone sessions) under
//             key_prefix + the raw cookie value: a string value is parsed as JSON and
//             `user_field` ("user.id") followed as a path; a hash value is read with HGET
//             user_field (or HGET of its first segment, then the rest as a JSON path). Results,
//             found or not, are cached (LRU, `cache_ttl`). A store that is down or slow never
//             fails a request: the rule is skipped (the event says "anonymous" unless a later
//             rule matches), hakone_gateway_identity_store_errors_total counts it and a warning
//             is logged at most every 10 s.
// hakone_gateway_identity_resolved_total{rule} counts which rule named each request.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "gateway/record.h"

namespace hakone::gateway {

namespace asio = boost::asio;

struct IdentityOptions {
  // The header rule's header; "" disables the rule.
  std::string header = "X-User-Id";

  struct Jwt {
    std::string header = "Authorization";  // "Bearer " prefix optional (required for Authorization)
    std::string claim = "sub";             // a claim name, or a dotted path into the payload
    std::string hs256_secret_file;         // file holding the HMAC secret (raw bytes; one trailing newline dropped)
    std::string rs256_public_key;          // PEM file with the RSA public key
    // Loaded by FromConfig from the files above (tests may set them directly).
    std::string hs256_secret;
    std::string rs256_public_key_pem;
  } jwt;

  struct Session {
    std::string cookie = "PLAY_SESSION";   // "" disables the rule (FromConfig: when no session table)
    std::string store = "redis://127.0.0.1:6380";
    std::string key_prefix = "sess:";
    std::string user_field = "user.id";
    std::chrono::milliseconds cache_ttl{10000};
    // Added beyond the original sketch:
    size_t cache_size = 10000;                // sessions kept in the cache
    std::chrono::milliseconds timeout{250};   // per store round trip (connecting included)
  } session;

  // Any of "header", "jwt", "session", each at most once.
  std::vector<std::string> order = {"header", "jwt", "session"};

  // Reads [gateway.identity] (pass that section). Loads the JWT key files and checks the store
  // URL; errors name the key ("config: [gateway.identity.jwt] rs256_public_key: ..."). Type
  // errors are recorded in the Config as usual (see Config::Finish()).
  static Result<IdentityOptions> FromConfig(const ConfigSection& identity);
};

class IdentityResolver {
 public:
  // `io` runs the session store client; it must outlive the resolver, and the resolver must
  // outlive every Resolve() still running (destroy it after the io_context stopped). A key that does not load
  // (only possible when options were not made by FromConfig) is logged, and every token is then
  // refused: never silently unverified.
  IdentityResolver(asio::io_context& io, IdentityOptions options);
  ~IdentityResolver();
  IdentityResolver(const IdentityResolver&) = delete;
  IdentityResolver& operator=(const IdentityResolver&) = delete;

  // The fast path: the user from the header or JWT rules, or a cached session. Returns nullopt
  // only when a session lookup is needed (then call Resolve); "anonymous" when nothing matched.
  // Thread safe; never blocks.
  std::optional<std::string> ResolveSync(const RequestRecord& rec) const;

  // All rules, looking sessions up in the store when not cached. Never fails: a store error
  // skips the session rule. `rec` must stay alive until the returned awaitable completes.
  // Thread safe (any number of concurrent calls, from any thread).
  asio::awaitable<std::string> Resolve(const RequestRecord& rec);

  const IdentityOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hakone::gateway
