#include "gateway/identity.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "core/metrics.h"
#include "core/resp_client.h"
#include "testing/test_servers.h"

namespace hakone::gateway {
namespace {

using namespace std::chrono_literals;

// ---- helpers --------------------------------------------------------------------------------

using hakone::testing::FreePort;
using hakone::testing::RedisServer;

void RedisCmd(const RedisServer& redis, std::vector<std::string> args) {
  auto r = RespCommandSync(redis.url(), std::move(args));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->is_error()) << r->str;
}

std::string B64Url(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += t[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += t[(acc << (6 - bits)) & 63];
  return out;
}

std::string HsSign(std::string_view signing_input, std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(signing_input.data()),
       signing_input.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string MakeHs256(std::string_view payload, std::string_view secret, std::string_view alg = "HS256") {
  std::string input = B64Url(std::string(R"({"alg":")") + std::string(alg) + R"(","typ":"JWT"})") + "." + B64Url(payload);
  return input + "." + B64Url(HsSign(input, secret));
}

struct RsaKey {
  EVP_PKEY* key = nullptr;
  RsaKey() { key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)); }
  ~RsaKey() { EVP_PKEY_free(key); }
  std::string PublicPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    return pem;
  }
  std::string Sign(std::string_view payload) const {
    std::string input = B64Url(R"({"alg":"RS256","typ":"JWT"})") + "." + B64Url(payload);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return input + "." + B64Url(sig);
  }
};

RequestRecord Req(std::vector<std::pair<std::string, std::string>> headers) {
  RequestRecord r;
  r.method = "GET";
  r.target = "/";
  r.headers = std::move(headers);
  return r;
}

uint64_t Rejected(const char* reason) {
  return metrics::Registry::Global().AddCounter("hakone_gateway_identity_rejected_total", "", {"reason"})->WithLabels({reason})->Value();
}

std::string ResolveNow(asio::io_context& io, IdentityResolver& r, const RequestRecord& rec) {
  std::optional<std::string> out;
  auto fn = [&]() -> asio::awaitable<void> { out = co_await r.Resolve(rec); };
  asio::co_spawn(io, fn(), asio::detached);
  io.restart();
  while (!out && io.run_one_for(5s)) {
  }
  return out.value_or("<no result>");
}

int64_t Now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

IdentityOptions NoSession() {
  IdentityOptions o;
  o.order = {"header", "jwt"};
  return o;
}

// ---- tests ----------------------------------------------------------------------------------

TEST(Identity, HeaderRuleAndAnonymous) {
  asio::io_context io;
  IdentityResolver r(io, NoSession());
  EXPECT_EQ(*r.ResolveSync(Req({{"x-user-id", "  alice "}})), "alice");
  EXPECT_EQ(*r.ResolveSync(Req({})), "anonymous");
  EXPECT_EQ(*r.ResolveSync(Req({{"X-User-Id", ""}})), "anonymous");
}

TEST(Identity, JwtUnverifiedTakesTheClaim) {
  asio::io_context io;
  IdentityResolver r(io, NoSession());
  std::string tok = MakeHs256(R"({"sub":"bob","exp":1})", "whatever");  // expired and unverifiable: still read
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Bearer " + tok}})), "bob");
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "bearer " + tok}})), "bob");
  // The header rule comes first in the default order.
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Bearer " + tok}, {"X-User-Id", "carol"}})), "carol");
  // Numeric claims, nested claim paths, and names with dots.
  IdentityOptions o = NoSession();
  o.jwt.claim = "user.id";
  IdentityResolver nested(io, o);
  EXPECT_EQ(*nested.ResolveSync(Req({{"Authorization", "Bearer " + MakeHs256(R"({"user":{"id":42}})", "k")}})), "42");
  EXPECT_EQ(*nested.ResolveSync(Req({{"Authorization", "Bearer " + MakeHs256(R"({"user.id":"dotted"})", "k")}})), "dotted");
  // Not JWTs.
  uint64_t malformed = Rejected("malformed");
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Basic YWxpY2U6cHc="}})), "anonymous");
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Bearer opaque-token"}})), "anonymous");
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Bearer a.b!.c"}})), "anonymous");
  EXPECT_EQ(*r.ResolveSync(Req({{"Authorization", "Bearer " + B64Url("[1]") + "." + B64Url("{}") + ".x"}})), "anonymous");
  EXPECT_EQ(Rejected("malformed"), malformed + 3);
  // A custom header with a bare token.
  o = NoSession();
  o.jwt.header = "X-Token";
  IdentityResolver custom(io, o);
  EXPECT_EQ(*custom.ResolveSync(Req({{"X-Token", tok}})), "bob");
}

TEST(Identity, JwtHs256MustVerify) {
  asio::io_context io;
  IdentityOptions o = NoSession();
  o.jwt.hs256_secret = "0123456789abcdef0123456789abcdef";
  IdentityResolver r(io, o);
  auto user = [&](const std::string& tok) { return *r.ResolveSync(Req({{"Authorization", "Bearer " + tok}})); };
  std::string exp = std::to_string(Now() + 600);
  EXPECT_EQ(user(MakeHs256(R"({"sub":"alice","exp":)" + exp + "}", o.jwt.hs256_secret)), "alice");
  EXPECT_EQ(user(MakeHs256(R"({"sub":"alice"})", o.jwt.hs256_secret)), "alice");

  uint64_t sig = Rejected("signature"), expired = Rejected("expired"), alg = Rejected("alg"), nbf = Rejected("not_yet_valid");
  EXPECT_EQ(user(MakeHs256(R"({"sub":"mallory"})", "wrong-secret")), "anonymous");
  // A valid signature over a different payload.
  std::string good = MakeHs256(R"({"sub":"alice"})", o.jwt.hs256_secret);
  std::string forged = good.substr(0, good.find('.')) + "." + B64Url(R"({"sub":"admin"})") + good.substr(good.rfind('.'));
  EXPECT_EQ(user(forged), "anonymous");
  EXPECT_EQ(Rejected("signature"), sig + 2);
  EXPECT_EQ(user(MakeHs256(R"({"sub":"alice","exp":)" + std::to_string(Now() - 5) + "}", o.jwt.hs256_secret)), "anonymous");
  EXPECT_EQ(Rejected("expired"), expired + 1);
  EXPECT_EQ(user(MakeHs256(R"({"sub":"alice","nbf":)" + std::to_string(Now() + 300) + "}", o.jwt.hs256_secret)), "anonymous");
  EXPECT_EQ(Rejected("not_yet_valid"), nbf + 1);
  // alg=none and algorithms without a configured key are refused.
  std::string none = B64Url(R"({"alg":"none"})") + "." + B64Url(R"({"sub":"root"})") + ".";
  EXPECT_EQ(user(none), "anonymous");
  EXPECT_EQ(user(MakeHs256(R"({"sub":"alice"})", o.jwt.hs256_secret, "HS512")), "anonymous");
  EXPECT_EQ(Rejected("alg"), alg + 2);
  // A rejected token falls through to the next rule.
  IdentityOptions o2 = o;
  o2.order = {"jwt", "header"};
  IdentityResolver r2(io, o2);
  EXPECT_EQ(*r2.ResolveSync(Req({{"Authorization", "Bearer " + MakeHs256(R"({"sub":"x"})", "bad")}, {"X-User-Id", "hdr"}})),
            "hdr");
  EXPECT_EQ(*r2.ResolveSync(Req({{"Authorization", "Bearer " + good}, {"X-User-Id", "hdr"}})), "alice");
}

TEST(Identity, JwtRs256) {
  asio::io_context io;
  RsaKey key, other;
  ASSERT_NE(key.key, nullptr);
  IdentityOptions o = NoSession();
  o.jwt.rs256_public_key_pem = key.PublicPem();
  IdentityResolver r(io, o);
  auto user = [&](const std::string& tok) { return *r.ResolveSync(Req({{"Authorization", "Bearer " + tok}})); };
  EXPECT_EQ(user(key.Sign(R"({"sub":"rsa-user","exp":)" + std::to_string(Now() + 60) + "}")), "rsa-user");
  EXPECT_EQ(user(other.Sign(R"({"sub":"rsa-user"})")), "anonymous");
  EXPECT_EQ(user(key.Sign(R"({"sub":"rsa-user","exp":)" + std::to_string(Now() - 60) + "}")), "anonymous");
  // Algorithm confusion: HS256 signed with the public key as the secret.
  EXPECT_EQ(user(MakeHs256(R"({"sub":"evil"})", o.jwt.rs256_public_key_pem)), "anonymous");
  // A key that does not load refuses everything rather than trusting tokens.
  IdentityOptions broken = NoSession();
  broken.jwt.rs256_public_key_pem = "not a key";
  IdentityResolver rb(io, broken);
  EXPECT_EQ(*rb.ResolveSync(Req({{"Authorization", "Bearer " + key.Sign(R"({"sub":"x"})")}})), "anonymous");
}

TEST(Identity, FromConfigLoadsKeysAndNamesBadKeys) {
  char tmpl[] = "/tmp/hakone-id-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  RsaKey key;
  { std::ofstream(dir + "/hs.key") << "0123456789abcdef0123456789abcdef\n"; }
  { std::ofstream(dir + "/rs.pem") << key.PublicPem(); }
  { std::ofstream(dir + "/bad.pem") << "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"; }
  auto cfg = Config::LoadString(R"(
[gateway.identity]
header = "X-Auth-User"
order = ["jwt", "session"]
jwt = { header = "Authorization", claim = "uid", hs256_secret_file = ")" + dir + R"(/hs.key", rs256_public_key = ")" + dir + R"(/rs.pem" }
session = { cookie = "sid", store = "redis://:pw@127.0.0.1:6390/2", key_prefix = "s:", user_field = "uid", cache_ttl = "3s" }
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto o = IdentityOptions::FromConfig(cfg->Section("gateway").Section("identity"));
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(cfg->Finish().ok()) << cfg->Finish().ToString();
  EXPECT_EQ(o->header, "X-Auth-User");
  EXPECT_EQ(o->jwt.claim, "uid");
  EXPECT_EQ(o->jwt.hs256_secret, "0123456789abcdef0123456789abcdef");
  EXPECT_NE(o->jwt.rs256_public_key_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(o->session.cookie, "sid");
  EXPECT_EQ(o->session.cache_ttl, 3s);
  EXPECT_EQ(o->order, (std::vector<std::string>{"jwt", "session"}));

  // Defaults from an absent section.
  Config empty;
  auto d = IdentityOptions::FromConfig(empty.Section("gateway").Section("identity"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->header, "X-User-Id");
  EXPECT_EQ(d->session.store, "redis://127.0.0.1:6380");
  EXPECT_EQ(d->session.cookie, "");  // no session table: the rule is off
  auto withsess = Config::LoadString("[gateway.identity]\nsession = {}\n");
  ASSERT_TRUE(withsess.ok());
  auto ws = IdentityOptions::FromConfig(withsess->Section("gateway").Section("identity"));
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->session.cookie, "PLAY_SESSION");
  EXPECT_EQ(d->order.size(), 3u);

  struct Bad {
    std::string toml, want;
  };
  for (const Bad& b : std::vector<Bad>{
           {"jwt = { hs256_secret_file = \"" + dir + "/missing\" }", "[gateway.identity.jwt] hs256_secret_file: cannot read"},
           {"jwt = { rs256_public_key = \"" + dir + "/bad.pem\" }", "[gateway.identity.jwt] rs256_public_key:"},
           {"jwt = { rs256_public_key = \"" + dir + "/hs.key\" }", "[gateway.identity.jwt] rs256_public_key:"},
           {"session = { store = \"http://x\" }", "[gateway.identity.session] store:"},
           {"order = [\"header\", \"ldap\"]", "[gateway.identity] order: unknown rule 'ldap'"},
           {"order = [\"jwt\", \"jwt\"]", "[gateway.identity] order: rule 'jwt' listed twice"},
           {"jwt = { claim = \"\" }", "[gateway.identity.jwt] claim: must not be empty"},
       }) {
    auto c = Config::LoadString("[gateway.identity]\n" + b.toml + "\n");
    ASSERT_TRUE(c.ok()) << b.toml;
    auto r = IdentityOptions::FromConfig(c->Section("gateway").Section("identity"));
    ASSERT_FALSE(r.ok()) << b.toml;
    EXPECT_NE(r.status().message().find(b.want), std::string::npos) << r.status().message();
  }
  std::filesystem::remove_all(dir);
}

TEST(Identity, SessionsFromRedisStringsAndHashes) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start());
  RedisCmd(redis, {"SET", "sess:abc", R"({"user":{"id":"u-17","name":"Alice"},"csrf":"x"})"});
  RedisCmd(redis, {"SET", "sess:num", R"({"user":{"id":99}})"});
  RedisCmd(redis, {"SET", "sess:nouser", R"({"flash":"hi"})"});
  RedisCmd(redis, {"SET", "sess:notjson", "php|serialized"});
  RedisCmd(redis, {"HSET", "sess:h1", "user.id", "hash-user"});
  RedisCmd(redis, {"HSET", "sess:h2", "user", R"({"id":"nested-hash-user"})"});

  asio::io_context io;
  IdentityOptions o;
  o.session.store = redis.url();
  IdentityResolver r(io, o);
  auto with_cookie = [](std::string v) { return Req({{"Cookie", "theme=dark; PLAY_SESSION=" + v + "; other=1"}}); };

  RequestRecord a = with_cookie("abc");
  EXPECT_EQ(r.ResolveSync(a), std::nullopt);  // needs a lookup
  EXPECT_EQ(ResolveNow(io, r, a), "u-17");
  EXPECT_EQ(r.ResolveSync(a), std::optional<std::string>("u-17"));  // now cached
  EXPECT_EQ(ResolveNow(io, r, with_cookie("num")), "99");
  EXPECT_EQ(ResolveNow(io, r, with_cookie("\"num\"")), "99");  // quoted cookie value
  EXPECT_EQ(ResolveNow(io, r, with_cookie("nouser")), "anonymous");
  EXPECT_EQ(ResolveNow(io, r, with_cookie("notjson")), "anonymous");
  EXPECT_EQ(ResolveNow(io, r, with_cookie("missing")), "anonymous");
  EXPECT_EQ(r.ResolveSync(with_cookie("missing")), std::optional<std::string>("anonymous"));  // negative cached
  EXPECT_EQ(ResolveNow(io, r, with_cookie("h1")), "hash-user");
  EXPECT_EQ(ResolveNow(io, r, with_cookie("h2")), "nested-hash-user");
  // After switching to hashes, strings still work.
  RedisCmd(redis, {"SET", "sess:late", R"({"user":{"id":"late-user"}})"});
  EXPECT_EQ(ResolveNow(io, r, with_cookie("late")), "late-user");
  // No cookie, or the header rule first.
  EXPECT_EQ(*r.ResolveSync(Req({{"Cookie", "a=b"}})), "anonymous");
  EXPECT_EQ(*r.ResolveSync(Req({{"Cookie", "PLAY_SESSION=abc"}, {"X-User-Id", "hdr"}})), "hdr");
  // Cached for cache_ttl: a deleted session still resolves until then.
  RedisCmd(redis, {"DEL", "sess:abc"});
  EXPECT_EQ(ResolveNow(io, r, a), "u-17");

  // A small cache evicts the least recently used session.
  IdentityOptions small = o;
  small.session.cache_size = 2;
  IdentityResolver r3(io, small);
  EXPECT_EQ(ResolveNow(io, r3, with_cookie("num")), "99");
  EXPECT_EQ(ResolveNow(io, r3, with_cookie("h1")), "hash-user");
  EXPECT_TRUE(r3.ResolveSync(with_cookie("num")).has_value());  // num is now the most recent
  EXPECT_EQ(ResolveNow(io, r3, with_cookie("late")), "late-user");
  EXPECT_FALSE(r3.ResolveSync(with_cookie("h1")).has_value());  // evicted
  EXPECT_TRUE(r3.ResolveSync(with_cookie("num")).has_value());
  EXPECT_TRUE(r3.ResolveSync(with_cookie("late")).has_value());

  // Many concurrent lookups from two threads share one pipelined connection and the cache.
  for (int i = 0; i < 50; ++i) RedisCmd(redis, {"SET", "sess:c" + std::to_string(i), R"({"user":{"id":"cu)" + std::to_string(i) + R"("}})"});
  IdentityResolver rc(io, small);
  std::vector<RequestRecord> recs;
  for (int i = 0; i < 200; ++i) recs.push_back(with_cookie("c" + std::to_string(i % 50)));
  std::vector<std::string> got(recs.size());
  std::atomic<int> done{0};
  std::vector<std::function<asio::awaitable<void>()>> fns;
  for (size_t i = 0; i < recs.size(); ++i) {
    fns.push_back([&, i]() -> asio::awaitable<void> {
      got[i] = co_await rc.Resolve(recs[i]);
      ++done;
    });
  }
  for (auto& f : fns) asio::co_spawn(io, f(), asio::detached);
  io.restart();
  auto guard = asio::make_work_guard(io);
  std::thread t1([&] { io.run(); });
  std::thread t2([&] { io.run(); });
  for (int i = 0; i < 500 && done < 200; ++i) std::this_thread::sleep_for(10ms);
  guard.reset();
  io.stop();
  t1.join();
  t2.join();
  ASSERT_EQ(done.load(), 200);
  for (size_t i = 0; i < recs.size(); ++i) EXPECT_EQ(got[i], "cu" + std::to_string(i % 50)) << i;

  IdentityOptions shortttl = o;
  shortttl.session.cache_ttl = 50ms;
  IdentityResolver r2(io, shortttl);
  RedisCmd(redis, {"SET", "sess:t", R"({"user":{"id":"t1"}})"});
  EXPECT_EQ(ResolveNow(io, r2, with_cookie("t")), "t1");
  RedisCmd(redis, {"SET", "sess:t", R"({"user":{"id":"t2"}})"});
  std::this_thread::sleep_for(80ms);
  EXPECT_EQ(r2.ResolveSync(with_cookie("t")), std::nullopt);
  EXPECT_EQ(ResolveNow(io, r2, with_cookie("t")), "t2");
}

TEST(Identity, StoreDownNeverFailsTheRequest) {
  asio::io_context io;
  IdentityOptions o;
  o.session.store = "redis://127.0.0.1:" + std::to_string(FreePort());  // nothing listens
  o.order = {"session", "header"};
  IdentityResolver r(io, o);
  auto* errors = metrics::Registry::Global().AddCounter("hakone_gateway_identity_store_errors_total", "")->Get();
  uint64_t before = errors->Value();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ResolveNow(io, r, Req({{"Cookie", "PLAY_SESSION=abc"}})), "anonymous");
  EXPECT_EQ(ResolveNow(io, r, Req({{"Cookie", "PLAY_SESSION=abc"}, {"X-User-Id", "fallback"}})), "fallback");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ResolveNow(io, r, Req({{"Cookie", "PLAY_SESSION=x" + std::to_string(i)}})), "anonymous");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(errors->Value(), before + 22);
  // Failures are not cached: nothing to serve synchronously.
  EXPECT_EQ(r.ResolveSync(Req({{"Cookie", "PLAY_SESSION=abc"}})), std::nullopt);
}

}  // namespace
}  // namespace hakone::gateway
