// Redaction of secrets before anything is written: header values, JSON and form fields, query
// strings and free text. Shared by the gateway (audit events) and the log pipeline.
//
// Field names are matched case-insensitively and by "words": a name is split into words at
// punctuation, camelCase and letter/digit boundaries, and a configured name matches when its
// letters appear in the name starting and ending on word boundaries ("newPassword",
// "user[password]", "password_confirmation" and "X-Api-Key" all match "password" / "api_key").
// Configured names of 5 letters or more also match anywhere inside a name ("userpassword"),
// because missing a secret is worse than hiding a harmless field. Secret header names count as
// field names too (a JSON field "authorization" is redacted).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hakone {

struct RedactOptions {
  // Headers whose values are replaced by HashValue() (case-insensitive names).
  std::vector<std::string> headers = {"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization", "X-Api-Key"};
  // Field names whose values become "[REDACTED]" in JSON, forms, query strings and text.
  std::vector<std::string> fields = {"password", "passwd",  "secret",      "token", "access_token",
                                     "refresh_token", "api_key", "card_number", "cvv"};
  // Key of the HMAC in HashValue(): LoadOrCreateSalt(data_dir), so that hashes are stable across
  // restarts of one installation and differ between installations. Empty: a random key for the
  // life of the process (hashes then correlate only within one run).
  std::string salt;
};

class Redactor {
 public:
  static constexpr std::string_view kRedacted = "[REDACTED]";

  explicit Redactor(RedactOptions options);

  // True for a configured secret header name (case-insensitive, exact). Thread safe.
  bool IsSecretHeader(std::string_view name) const;
  // True for a field name that must not be recorded (see the matching rules above).
  bool IsSecretField(std::string_view name) const;
  // "sha256:" + the first 16 hex digits of HMAC-SHA256(salt, v): equal values give equal
  // hashes (correlatable), and without the salt a hash cannot be brute-forced back.
  std::string HashValue(std::string_view v) const;
  // Redacts a JSON body. Valid JSON comes back re-serialized compactly (so it can be embedded as
  // a JSON value) with every secret field's value, whatever its type, replaced by "[REDACTED]",
  // in nested objects and arrays alike; *truncated_or_invalid (may be null) is set to false.
  // Anything else (a truncated prefix, invalid JSON) comes back as text redacted by a tolerant
  // scanner (`"password": "..."`-looking pairs, even unterminated, then RedactText), and
  // *truncated_or_invalid is set to true: such output is text, not JSON.
  // known_truncated: the caller knows `body` is a cut-off prefix, so the (failing) full parse is
  // skipped and the tolerant scanner runs directly.
  std::string RedactJson(std::string_view body, bool* truncated_or_invalid, bool known_truncated = false) const;
  // Redacts application/x-www-form-urlencoded text or a query string (no leading '?'): values of
  // secret names (matched after url-decoding, so "user%5Bpassword%5D" counts) become
  // "[REDACTED]"; everything else is kept byte for byte. '&' and ';' both separate pairs.
  std::string RedactForm(std::string_view form) const;
  // Redacts free text (log lines): `key=value`, `key: value`, `"key": "value"` (also with
  // JSON-escaped quotes) for secret keys; for secret header names followed by ':' the rest of the
  // line; `Bearer <token>` / `Basic <token>`; JWT-looking tokens (eyJ...).
  std::string RedactText(std::string_view text) const;

  const RedactOptions& options() const { return options_; }

 private:
  struct Name {
    std::string letters;  // lowercase letters and digits only
  };
  struct HmacKey;  // precomputed HMAC-SHA256 pads
  RedactOptions options_;
  std::vector<std::string> headers_lower_;
  std::vector<Name> names_;  // fields and headers
  std::shared_ptr<const HmacKey> hmac_;
};

// Returns the salt kept in `data_dir`/redact.salt (64 hex digits), creating the directory and
// the file (32 random bytes, mode 0600, written atomically) on first use. IOError when the
// directory or file cannot be read or written; Corruption when the file's content is not a salt.
Result<std::string> LoadOrCreateSalt(const std::string& data_dir);

}  // namespace hakone
