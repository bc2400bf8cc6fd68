#include "gateway/identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "core/log.h"
#include "core/metrics.h"
#include "core/resp_client.h"

namespace hakone::gateway {
namespace {

constexpr size_t kMaxToken = 16 << 10;
constexpr size_t kMaxCookie = 4096;
constexpr size_t kMaxUser = 512;
constexpr std::string_view kAnonymous = "anonymous";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool IStartsWith(std::string_view s, std::string_view p) { return s.size() >= p.size() && IEquals(s.substr(0, p.size()), p); }

// Base64url (RFC 4648 §5), padding optional. Returns false on any other character.
bool Base64UrlDecode(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  out->clear();
  out->reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return bits < 6;  // a single leftover character cannot encode a byte
}

// A string or integer at `path` (a key, or a dotted path when no such key exists).
std::optional<std::string> JsonLookup(const boost::json::value& root, std::string_view path) {
  const boost::json::value* v = nullptr;
  if (auto* o = root.if_object()) {
    if (auto it = o->find(path); it != o->end()) v = &it->value();
  }
  if (!v) {
    v = &root;
    while (!path.empty()) {
      size_t dot = path.find('.');
      std::string_view seg = path.substr(0, dot);
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      if (auto* o = v->if_object()) {
        auto it = o->find(seg);
        if (it == o->end()) return std::nullopt;
        v = &it->value();
      } else if (auto* a = v->if_array()) {
        size_t idx = 0;
        if (seg.empty() || seg.size() > 6) return std::nullopt;
        for (char c : seg) {
          if (c < '0' || c > '9') return std::nullopt;
          idx = idx * 10 + static_cast<size_t>(c - '0');
        }
        if (idx >= a->size()) return std::nullopt;
        v = &(*a)[idx];
      } else {
        return std::nullopt;
      }
    }
  }
  if (auto* s = v->if_string()) {
    if (s->empty()) return std::nullopt;
    return std::string(s->data(), std::min(s->size(), kMaxUser));
  }
  if (auto* i = v->if_int64()) return std::to_string(*i);
  if (auto* u = v->if_uint64()) return std::to_string(*u);
  return std::nullopt;
}

std::optional<boost::json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::FromErrno("cannot read '" + path + "'", errno);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status KeyError(const ConfigSection& s, std::string_view key, std::string_view msg) {
  return Status::InvalidArgument("config: [" + s.path() + "] " + std::string(key) + ": " + std::string(msg));
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

PkeyPtr LoadRsaPublicKey(const std::string& pem, std::string* err) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) {
    *err = "out of memory";
    return nullptr;
  }
  PkeyPtr key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!key) {
    *err = "not a PEM public key (-----BEGIN PUBLIC KEY-----)";
    return nullptr;
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    *err = "not an RSA key";
    return nullptr;
  }
  return key;
}

enum class Rule { kHeader, kJwt, kSession };

}  // namespace

Result<IdentityOptions> IdentityOptions::FromConfig(const ConfigSection& s) {
  IdentityOptions o;
  o.header = s.String("header", o.header);
  ConfigSection jwt = s.Section("jwt");
  o.jwt.header = jwt.String("header", o.jwt.header);
  o.jwt.claim = jwt.String("claim", o.jwt.claim);
  o.jwt.hs256_secret_file = jwt.String("hs256_secret_file", "");
  o.jwt.rs256_public_key = jwt.String("rs256_public_key", "");
  if (o.jwt.claim.empty()) return KeyError(jwt, "claim", "must not be empty");
  if (!o.jwt.hs256_secret_file.empty()) {
    auto secret = ReadFile(o.jwt.hs256_secret_file);
    if (!secret.ok()) return KeyError(jwt, "hs256_secret_file", secret.status().message());
    std::string v = std::move(*secret);
    if (!v.empty() && v.back() == '\n') v.pop_back();
    if (!v.empty() && v.back() == '\r') v.pop_back();
    if (v.empty()) return KeyError(jwt, "hs256_secret_file", "'" + o.jwt.hs256_secret_file + "' is empty");
    if (v.size() < 32) {
      log::Warn("identity: the HS256 secret is shorter than 32 bytes; it can be brute-forced",
                {{"file", o.jwt.hs256_secret_file}});
    }
    o.jwt.hs256_secret = std::move(v);
  }
  if (!o.jwt.rs256_public_key.empty()) {
    auto pem = ReadFile(o.jwt.rs256_public_key);
    if (!pem.ok()) return KeyError(jwt, "rs256_public_key", pem.status().message());
    std::string err;
    if (!LoadRsaPublicKey(*pem, &err)) {
      return KeyError(jwt, "rs256_public_key", "'" + o.jwt.rs256_public_key + "': " + err);
    }
    o.jwt.rs256_public_key_pem = std::move(*pem);
  }

  ConfigSection sess = s.Section("session");
  // Without a `session` table there is no store to ask: the rule stays off rather than trying
  // the default address for every request that carries the cookie.
  if (!sess.present()) o.session.cookie.clear();
  o.session.cookie = sess.String("cookie", o.session.cookie);
  o.session.store = sess.String("store", o.session.store);
  o.session.key_prefix = sess.String("key_prefix", o.session.key_prefix);
  o.session.user_field = sess.String("user_field", o.session.user_field);
  o.session.cache_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(sess.Duration("cache_ttl", o.session.cache_ttl));
  o.session.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(sess.Duration("timeout", o.session.timeout));
  int64_t cache_size = sess.Int("cache_size", static_cast<int64_t>(o.session.cache_size));
  if (cache_size < 0) return KeyError(sess, "cache_size", "must not be negative");
  o.session.cache_size = static_cast<size_t>(cache_size);
  if (o.session.timeout.count() <= 0) return KeyError(sess, "timeout", "must be positive");
  if (o.session.user_field.empty()) return KeyError(sess, "user_field", "must not be empty");

  o.order = s.StringList("order", o.order);
  std::vector<std::string> seen;
  for (auto& r : o.order) {
    if (r != "header" && r != "jwt" && r != "session") {
      return KeyError(s, "order", "unknown rule '" + r + "' (expected header, jwt or session)");
    }
    for (auto& x : seen) {
      if (x == r) return KeyError(s, "order", "rule '" + r + "' listed twice");
    }
    seen.push_back(r);
  }
  bool session_used = false;
  for (auto& r : o.order) session_used |= r == "session";
  if (session_used && !o.session.cookie.empty()) {
    auto url = ParseRedisUrl(o.session.store);
    if (!url.ok()) return KeyError(sess, "store", url.status().message());
  }
  return o;
}

struct IdentityResolver::Impl {
  struct CacheEntry {
    std::string session;
    std::optional<std::string> user;  // nullopt: the store has no user for this session
    std::chrono::steady_clock::time_point expires;
  };

  IdentityOptions o;
  std::vector<Rule> rules;
  bool jwt_verify = false;  // a key is configured: signatures must verify
  bool jwt_broken = false;  // a key was configured but did not load: refuse every token
  PkeyPtr rsa;
  std::unique_ptr<RespClient> store;
  std::atomic<bool> hash_values{false};

  mutable std::mutex mu;
  mutable std::list<CacheEntry> lru;  // front: most recent
  mutable std::unordered_map<std::string_view, std::list<CacheEntry>::iterator> index;

  metrics::Family<metrics::Counter>* rejected = nullptr;
  metrics::Counter* store_errors = nullptr;
  metrics::Counter* by_rule[4] = {};  // header, jwt, session, anonymous
  std::atomic<int64_t> last_warn_ns{0};
  std::atomic<uint64_t> suppressed{0};

  // The state of one walk through the rules.
  struct Walk {
    std::string user;
    int rule = 3;                      // index into by_rule of the rule that matched
    std::vector<const char*> rejects;  // reasons, committed to metrics once the answer is final
    size_t next = 0;                   // rule to resume at after a lookup
    std::string session;               // cookie value needing a lookup
  };

  void Commit(const Walk& w) const {
    for (const char* r : w.rejects) rejected->WithLabels({r})->Inc();
    by_rule[w.rule]->Inc();
  }

  bool TryHeader(const RequestRecord& rec, Walk* w) const {
    if (o.header.empty()) return false;
    std::string_view v = Trim(rec.Header(o.header));
    if (v.empty()) return false;
    w->user.assign(v.substr(0, kMaxUser));
    w->rule = 0;
    return true;
  }

  bool TryJwt(const RequestRecord& rec, Walk* w) const {
    if (o.jwt.header.empty()) return false;
    std::string_view v = Trim(rec.Header(o.jwt.header));
    if (v.empty()) return false;
    if (IStartsWith(v, "bearer ")) {
      v = Trim(v.substr(7));
    } else if (IEquals(o.jwt.header, "authorization")) {
      return false;  // Basic or another scheme: not a JWT
    }
    const char* reason = nullptr;
    auto user = CheckJwt(v, &reason);
    if (!user) {
      if (reason) w->rejects.push_back(reason);
      return false;
    }
    w->user = std::move(*user);
    w->rule = 1;
    return true;
  }

  std::optional<std::string> CheckJwt(std::string_view token, const char** reason) const {
    *reason = "malformed";
    if (token.size() > kMaxToken) return std::nullopt;
    size_t d1 = token.find('.');
    if (d1 == std::string_view::npos) return std::nullopt;
    size_t d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return std::nullopt;
    std::string header_json, payload_json, sig;
    if (!Base64UrlDecode(token.substr(0, d1), &header_json) || !Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), &payload_json) ||
        !Base64UrlDecode(token.substr(d2 + 1), &sig)) {
      return std::nullopt;
    }
    auto header = ParseJson(header_json);
    auto payload = ParseJson(payload_json);
    if (!header || !header->is_object() || !payload || !payload->is_object()) return std::nullopt;
    if (jwt_verify || jwt_broken) {
      auto* alg_v = header->as_object().if_contains("alg");
      std::string_view alg = alg_v && alg_v->is_string() ? std::string_view(alg_v->as_string()) : std::string_view();
      std::string_view signed_part = token.substr(0, d2);
      bool ok = false;
      if (jwt_broken) {
        *reason = "key";
        return std::nullopt;
      } else if (alg == "HS256" && !o.jwt.hs256_secret.empty()) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        ok = HMAC(EVP_sha256(), o.jwt.hs256_secret.data(), static_cast<int>(o.jwt.hs256_secret.size()),
                  reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), md, &len) != nullptr &&
             len == sig.size() && CRYPTO_memcmp(md, sig.data(), len) == 0;
      } else if (alg == "RS256" && rsa) {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, rsa.get()) == 1 &&
             EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                              reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
        EVP_MD_CTX_free(ctx);
      } else {
        *reason = "alg";
        return std::nullopt;
      }
      if (!ok) {
        *reason = "signature";
        return std::nullopt;
      }
      const auto& p = payload->as_object();
      double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      if (auto* exp = p.if_contains("exp")) {
        if (!exp->is_number()) return std::nullopt;
        if (now >= exp->to_number<double>()) {
          *reason = "expired";
          return std::nullopt;
        }
      }
      if (auto* nbf = p.if_contains("nbf")) {
        if (!nbf->is_number()) return std::nullopt;
        if (now < nbf->to_number<double>()) {
          *reason = "not_yet_valid";
          return std::nullopt;
        }
      }
    }
    auto user = JsonLookup(*payload, o.jwt.claim);
    if (!user) {
      *reason = "no_claim";
      return std::nullopt;
    }
    *reason = nullptr;
    return user;
  }

  std::string_view SessionCookie(const RequestRecord& rec) const {
    for (auto& [k, v] : rec.headers) {
      if (!IEquals(k, "cookie")) continue;
      std::string_view rest = v;
      while (!rest.empty()) {
        size_t semi = rest.find(';');
        std::string_view pair = Trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        size_t eq = pair.find('=');
        if (eq == std::string_view::npos || Trim(pair.substr(0, eq)) != o.session.cookie) continue;
        std::string_view val = Trim(pair.substr(eq + 1));
        if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
        if (val.empty() || val.size() > kMaxCookie) return {};
        return val;
      }
    }
    return {};
  }

  // true: answered from the cache (*user set when the session has one).
  bool CacheGet(std::string_view session, std::optional<std::string>* user) const {
    std::lock_guard lk(mu);
    auto it = index.find(session);
    if (it == index.end()) return false;
    if (std::chrono::steady_clock::now() >= it->second->expires) {
      auto entry = it->second;
      index.erase(it);
      lru.erase(entry);
      return false;
    }
    lru.splice(lru.begin(), lru, it->second);
    *user = it->second->user;
    return true;
  }

  void CachePut(std::string_view session, const std::optional<std::string>& user) const {
    if (o.session.cache_size == 0 || o.session.cache_ttl.count() <= 0) return;
    std::lock_guard lk(mu);
    if (auto it = index.find(session); it != index.end()) {
      auto entry = it->second;
      index.erase(it);
      lru.erase(entry);
    }
    lru.push_front({std::string(session), user, std::chrono::steady_clock::now() + o.session.cache_ttl});
    index.emplace(lru.front().session, lru.begin());
    while (lru.size() > o.session.cache_size) {
      index.erase(lru.back().session);
      lru.pop_back();
    }
  }

  // Walks the rules from w->next. Returns true with w->user set when decided; false when the
  // session rule needs a store lookup (w->session set, w->next at the session rule).
  bool WalkRules(const RequestRecord& rec, Walk* w) const {
    for (; w->next < rules.size(); ++w->next) {
      switch (rules[w->next]) {
        case Rule::kHeader:
          if (TryHeader(rec, w)) return true;
          break;
        case Rule::kJwt:
          if (TryJwt(rec, w)) return true;
          break;
        case Rule::kSession: {
          if (!store) break;
          std::string_view sid = SessionCookie(rec);
          if (sid.empty()) break;
          std::optional<std::string> user;
          if (!CacheGet(sid, &user)) {
            w->session.assign(sid);
            return false;
          }
          if (user) {
            w->user = *user;
            w->rule = 2;
            return true;
          }
          break;
        }
      }
    }
    w->user.assign(kAnonymous);
    w->rule = 3;
    return true;
  }

  void StoreFailed(const Status& st) {
    store_errors->Inc();
    int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    int64_t last = last_warn_ns.load();
    if (now - last < 10'000'000'000LL || !last_warn_ns.compare_exchange_strong(last, now)) {
      suppressed.fetch_add(1);
      return;
    }
    log::Warn("identity: session store lookup failed; the session rule is skipped",
              {{"error", st.ToString()}, {"suppressed", static_cast<unsigned long long>(suppressed.exchange(0))}});
  }

  // The user of one session: nullopt when the store has none; an error status when the store
  // could not answer.
  asio::awaitable<Result<std::optional<std::string>>> Lookup(std::string session) {
    using Found = std::optional<std::string>;
    const std::string key = o.session.key_prefix + session;
    const std::string& field = o.session.user_field;
    bool hashes = hash_values.load(std::memory_order_relaxed);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!hashes) {
        std::vector<std::string> cmd{"GET", key};
        auto r = co_await store->Command(std::move(cmd), o.session.timeout);
        if (!r.ok()) co_return r.status();
        if (r->is_nil()) co_return Found();
        if (r->is_error()) {
          if (r->str.rfind("WRONGTYPE", 0) == 0) {
            hashes = true;
            hash_values.store(true, std::memory_order_relaxed);
            continue;
          }
          co_return Status::Unavailable("session store: GET: " + r->str);
        }
        auto v = ParseJson(r->str);
        if (!v) {
          rejected->WithLabels({"session_format"})->Inc();
          co_return Found();
        }
        co_return JsonLookup(*v, field);
      }
      std::vector<std::string> cmd{"HGET", key, field};
      auto r = co_await store->Command(std::move(cmd), o.session.timeout);
      if (!r.ok()) co_return r.status();
      if (r->is_error()) {
        if (r->str.rfind("WRONGTYPE", 0) == 0) {
          hashes = false;
          hash_values.store(false, std::memory_order_relaxed);
          continue;
        }
        co_return Status::Unavailable("session store: HGET: " + r->str);
      }
      if (r->type == RespValue::kString && !r->str.empty()) co_return Found(r->str.substr(0, kMaxUser));
      size_t dot = field.find('.');
      if (dot == std::string::npos) co_return Found();
      // {user: '{"id": 42}'}: HGET the first segment, follow the rest in its JSON.
      std::vector<std::string> cmd2{"HGET", key, field.substr(0, dot)};
      auto r2 = co_await store->Command(std::move(cmd2), o.session.timeout);
      if (!r2.ok()) co_return r2.status();
      if (r2->type != RespValue::kString) co_return Found();
      auto v = ParseJson(r2->str);
      if (!v) co_return Found();
      co_return JsonLookup(*v, std::string_view(field).substr(dot + 1));
    }
    co_return Found();
  }
};

IdentityResolver::IdentityResolver(asio::io_context& io, IdentityOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  for (auto& r : m.o.order) {
    if (r == "header") m.rules.push_back(Rule::kHeader);
    else if (r == "jwt") m.rules.push_back(Rule::kJwt);
    else if (r == "session") m.rules.push_back(Rule::kSession);
    else log::Error("identity: unknown rule ignored", {{"rule", r}});
  }
  m.jwt_verify = !m.o.jwt.hs256_secret.empty();
  if (!m.o.jwt.rs256_public_key_pem.empty()) {
    std::string err;
    m.rsa = LoadRsaPublicKey(m.o.jwt.rs256_public_key_pem, &err);
    if (m.rsa) {
      m.jwt_verify = true;
    } else {
      m.jwt_broken = true;
      log::Error("identity: the RS256 public key does not load; every JWT is refused", {{"error", err}});
    }
  }
  if ((!m.o.jwt.hs256_secret_file.empty() && m.o.jwt.hs256_secret.empty()) ||
      (!m.o.jwt.rs256_public_key.empty() && m.o.jwt.rs256_public_key_pem.empty())) {
    m.jwt_broken = true;  // a key file was named but never loaded
    log::Error("identity: a JWT key file is configured but was not loaded (use IdentityOptions::FromConfig); every JWT is refused");
  }
  bool session_rule = false;
  for (auto r : m.rules) session_rule |= r == Rule::kSession;
  if (session_rule && !m.o.session.cookie.empty()) {
    auto url = ParseRedisUrl(m.o.session.store);
    if (url.ok()) {
      auto& [host, port, password, db] = *url;
      m.store = std::make_unique<RespClient>(io, host, port, password, db);
    } else {
      log::Error("identity: bad session store URL; the session rule is off", {{"error", url.status().ToString()}});
    }
  }
  auto& reg = metrics::Registry::Global();
  m.rejected = reg.AddCounter("hakone_gateway_identity_rejected_total",
                              "Identity evidence ignored (JWT: malformed, alg, signature, expired, not_yet_valid, "
                              "no_claim, key; session_format)",
                              {"reason"});
  m.store_errors = reg.AddCounter("hakone_gateway_identity_store_errors_total",
                                  "Session store lookups that failed (the session rule was skipped)")
                       ->Get();
  auto* by = reg.AddCounter("hakone_gateway_identity_resolved_total", "Requests by the identity rule that matched", {"rule"});
  const char* names[4] = {"header", "jwt", "session", "anonymous"};
  for (int i = 0; i < 4; ++i) m.by_rule[i] = by->WithLabels({names[i]});
}

IdentityResolver::~IdentityResolver() = default;

const IdentityOptions& IdentityResolver::options() const { return impl_->o; }

std::optional<std::string> IdentityResolver::ResolveSync(const RequestRecord& rec) const {
  Impl::Walk w;
  if (!impl_->WalkRules(rec, &w)) return std::nullopt;
  impl_->Commit(w);
  return std::move(w.user);
}

asio::awaitable<std::string> IdentityResolver::Resolve(const RequestRecord& rec) {
  Impl& m = *impl_;
  Impl::Walk w;
  while (!m.WalkRules(rec, &w)) {
    auto found = co_await m.Lookup(w.session);
    if (!found.ok()) {
      m.StoreFailed(found.status());
    } else {
      m.CachePut(w.session, *found);
      if (*found) {
        w.user = std::move(**found);
        w.rule = 2;
        break;
      }
    }
    ++w.next;  // no user from the session rule: on to the next rule
    w.session.clear();
  }
  m.Commit(w);
  co_return std::move(w.user);
}

}  // namespace hakone::gateway
