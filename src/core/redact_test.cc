#include "core/redact.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hakone {
namespace {

Redactor Make() {
  RedactOptions o;
  o.salt = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  return Redactor(o);
}

bool Has(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

TEST(Redactor, SecretHeaders) {
  Redactor r = Make();
  EXPECT_TRUE(r.IsSecretHeader("Authorization"));
  EXPECT_TRUE(r.IsSecretHeader("authorization"));
  EXPECT_TRUE(r.IsSecretHeader("COOKIE"));
  EXPECT_TRUE(r.IsSecretHeader("set-cookie"));
  EXPECT_TRUE(r.IsSecretHeader("x-api-key"));
  EXPECT_FALSE(r.IsSecretHeader("User-Agent"));
  EXPECT_FALSE(r.IsSecretHeader("Authorizatio"));
}

TEST(Redactor, FieldNameMatching) {
  Redactor r = Make();
  for (const char* yes : {"password", "PASSWORD", "Password", "newPassword", "password_confirmation", "user[password]",
                          "user.password", "userpassword", "passwd", "api_key", "apiKey", "APIKey", "X-Api-Key",
                          "accessToken", "refresh_token", "client_secret", "cardNumber", "card_number", "cvv", "cvv2",
                          "CVV", "authorization", "cookie", "csrf_token"}) {
    EXPECT_TRUE(r.IsSecretField(yes)) << yes;
  }
  for (const char* no : {"name", "email", "user", "id", "shipping", "cvvx", "card", "number", "pass", ""}) {
    EXPECT_FALSE(r.IsSecretField(no)) << no;
  }
  EXPECT_TRUE(r.IsSecretField(std::string(300, 'a') + "_password"));
  RedactOptions custom;
  custom.fields = {"pin"};
  custom.headers = {};
  Redactor c(custom);
  EXPECT_TRUE(c.IsSecretField("pin"));
  EXPECT_TRUE(c.IsSecretField("card_pin"));
  EXPECT_TRUE(c.IsSecretField("pinCode"));
  EXPECT_FALSE(c.IsSecretField("shipping"));  // short names match whole words only
  EXPECT_FALSE(c.IsSecretField("password"));
}

TEST(Redactor, HashValueIsStableSaltedAndShort) {
  Redactor r = Make();
  std::string h = r.HashValue("Bearer abc");
  EXPECT_EQ(h.size(), 7u + 16u);
  EXPECT_EQ(h.substr(0, 7), "sha256:");
  EXPECT_EQ(h, r.HashValue("Bearer abc"));
  EXPECT_NE(h, r.HashValue("Bearer abd"));
  RedactOptions o2;
  o2.salt = "another";
  EXPECT_NE(h, Redactor(o2).HashValue("Bearer abc"));
  // It is HMAC-SHA256(salt, value), truncated: check against OpenSSL's HMAC, short and long keys.
  for (std::string salt : {std::string("k"), std::string(64, 'a'), std::string(100, 'b')}) {
    for (std::string v : {std::string(""), std::string("Bearer abc"), std::string(1000, 'x')}) {
      unsigned char md[32];
      unsigned int len = 0;
      HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()), reinterpret_cast<const unsigned char*>(v.data()),
           v.size(), md, &len);
      char hex[17];
      for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
      RedactOptions o;
      o.salt = salt;
      EXPECT_EQ(Redactor(o).HashValue(v), std::string("sha256:") + hex);
    }
  }
  RedactOptions none;  // random per process
  Redactor a(none), b(none);
  EXPECT_NE(a.HashValue("x"), b.HashValue("x"));
  EXPECT_EQ(a.HashValue("x"), a.HashValue("x"));
}

TEST(Redactor, JsonNestedArraysCaseInsensitive) {
  Redactor r = Make();
  bool bad = true;
  std::string out = r.RedactJson(R"({
    "user": {"name": "alice", "Password": "hunter2", "profile": {"API_KEY": 12345, "tags": ["a", "b"]}},
    "cards": [{"card_number": "4111111111111111", "cvv": 123}, {"nested": [{"token": {"x": "tok-secret"}}]}],
    "accessToken": "at-secret", "note": "hello"
  })",
                                 &bad);
  EXPECT_FALSE(bad);
  for (const char* secret : {"hunter2", "12345", "4111111111111111", "123,", "tok-secret", "at-secret"}) {
    EXPECT_FALSE(Has(out, secret)) << secret << " in " << out;
  }
  EXPECT_TRUE(Has(out, "alice"));
  EXPECT_TRUE(Has(out, "hello"));
  // Still JSON, compact, keys and structure kept.
  boost::json::value v = boost::json::parse(out);
  EXPECT_EQ(v.at("user").at("Password").as_string(), "[REDACTED]");
  EXPECT_EQ(v.at("user").at("profile").at("API_KEY").as_string(), "[REDACTED]");
  EXPECT_EQ(v.at("cards").at(0).at("cvv").as_string(), "[REDACTED]");
  EXPECT_EQ(v.at("cards").at(1).at("nested").at(0).at("token").as_string(), "[REDACTED]");
  EXPECT_EQ(v.at("user").at("profile").at("tags").at(1).as_string(), "b");
  EXPECT_FALSE(Has(out, "\n"));
  // Escaped key names are matched after decoding.
  out = r.RedactJson(R"({"pass\u0077ord":"s3cr3t"})", &bad);
  EXPECT_FALSE(bad);
  EXPECT_FALSE(Has(out, "s3cr3t")) << out;
  // Top-level arrays and scalars.
  out = r.RedactJson(R"([{"secret":"x1"},2,"three"])", &bad);
  EXPECT_EQ(out, R"([{"secret":"[REDACTED]"},2,"three"])");
  out = r.RedactJson("42", &bad);
  EXPECT_EQ(out, "42");
  EXPECT_FALSE(bad);
}

TEST(Redactor, TruncatedOrInvalidJsonNeverLeaks) {
  Redactor r = Make();
  std::string full = R"({"user":"bob","password":"hunter2-long-secret","card":{"cvv":"987","n":[1,2]},"token":"tk-999"})";
  // Every prefix of the body: no prefix of a secret value longer than 2 chars survives.
  for (size_t len = 0; len <= full.size(); ++len) {
    bool bad = false;
    std::string out = r.RedactJson(full.substr(0, len), &bad);
    EXPECT_EQ(bad, len != full.size()) << len;
    EXPECT_FALSE(Has(out, "hun")) << len << ": " << out;
    EXPECT_FALSE(Has(out, "98")) << len << ": " << out;
    EXPECT_FALSE(Has(out, "tk-")) << len << ": " << out;
    // The caller may say the prefix is cut off: the same redaction without the full parse.
    if (len != full.size()) {
      bool bad2 = false;
      EXPECT_EQ(r.RedactJson(full.substr(0, len), &bad2, /*known_truncated=*/true), out) << len;
      EXPECT_TRUE(bad2);
    }
  }
  bool bad = false;
  std::string out = r.RedactJson(R"({"user":"bob","password":"hun)", &bad);
  EXPECT_TRUE(bad);
  EXPECT_EQ(out, R"({"user":"bob","password":"[REDACTED]")");
  out = r.RedactJson(R"({"a":1,"secret":{"deep":[1,2,{"x":"leak)", &bad);
  EXPECT_EQ(out, R"({"a":1,"secret":"[REDACTED]")");
  out = r.RedactJson(R"({"password" : 12345, "x": tru)", &bad);
  EXPECT_EQ(out, R"({"password" : "[REDACTED]", "x": tru)");
  out = r.RedactJson(R"({"esc":"a\"password\":\"no","password":"q\"uoted"} trailing)", &bad);
  EXPECT_FALSE(Has(out, "uoted")) << out;
  // Not JSON at all, under a JSON content type.
  out = r.RedactJson("user=bob&password=hunter2", &bad);
  EXPECT_TRUE(bad);
  EXPECT_FALSE(Has(out, "hunter2")) << out;
  // Deep nesting beyond the parser's depth still gets redacted.
  std::string deep(100, '[');
  deep += R"({"password":"deep-secret"})";
  deep += std::string(100, ']');
  out = r.RedactJson(deep, &bad);
  EXPECT_FALSE(Has(out, "deep-secret"));
}

TEST(Redactor, FormAndQuery) {
  Redactor r = Make();
  EXPECT_EQ(r.RedactForm("user=bob&password=hunter2&remember=1"), "user=bob&password=[REDACTED]&remember=1");
  EXPECT_EQ(r.RedactForm("PASSWORD=x"), "PASSWORD=[REDACTED]");
  EXPECT_EQ(r.RedactForm("user%5Bpassword%5D=x&user[name]=b"), "user%5Bpassword%5D=[REDACTED]&user[name]=b");
  EXPECT_EQ(r.RedactForm("user[password]=x"), "user[password]=[REDACTED]");
  EXPECT_EQ(r.RedactForm("api+key=x"), "api+key=[REDACTED]");
  EXPECT_EQ(r.RedactForm("a=1;token=abc"), "a=1;token=[REDACTED]");
  EXPECT_EQ(r.RedactForm("q=password&x=1"), "q=password&x=1");
  EXPECT_EQ(r.RedactForm("password&password="), "password&password=");
  EXPECT_EQ(r.RedactForm(""), "");
  EXPECT_EQ(r.RedactForm("noequals"), "noequals");
  EXPECT_EQ(r.RedactForm("access_token=abc&&cvv=1&"), "access_token=[REDACTED]&&cvv=[REDACTED]&");
  EXPECT_EQ(r.RedactForm("pa%73sword=hidden%"), "pa%73sword=[REDACTED]");
}

TEST(Redactor, FreeText) {
  Redactor r = Make();
  auto check = [&](std::string in, std::vector<std::string> secrets, std::vector<std::string> kept) {
    std::string out = r.RedactText(in);
    for (auto& s : secrets) EXPECT_FALSE(Has(out, s)) << in << " -> " << out;
    for (auto& k : kept) EXPECT_TRUE(Has(out, k)) << in << " -> " << out;
  };
  check("login ok user=alice password=hunter2 ip=10.0.0.1", {"hunter2"}, {"user=alice", "ip=10.0.0.1", "password=[REDACTED]"});
  check(R"({"msg":"x","password": "hunter2","n":1})", {"hunter2"}, {R"("password": "[REDACTED]")", R"("n":1)"});
  check(R"({"msg":"body {\"api_key\": \"k-123\"}"})", {"k-123"}, {"msg"});
  check("token='abc def' next", {"abc", "def"}, {"next"});
  check("GET /login?user=a&password=p4ss&x=1 HTTP/1.1", {"p4ss"}, {"user=a", "x=1 HTTP/1.1"});
  check("Authorization: Bearer abcdef.ghijk\nnext line", {"abcdef", "ghijk"}, {"next line"});
  check("Cookie: theme=dark; sid=s3ssion\r\nHost: x", {"s3ssion", "dark"}, {"Host: x"});
  check("sent bearer eyJhbGciOi.eyJzdWIiOiIxIn0.sig to upstream", {"eyJhbGciOi", "eyJzdWIi"}, {"to upstream"});
  check("jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl done", {"eyJzdWIi", "c2lnbmF0"}, {"done"});
  check("token in text eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", {"eyJzdWIi"}, {"token in text"});
  check("the password is long", {}, {"the password is long"});
  check("basic auth is fine", {}, {"basic auth is fine"});
  check("client_secret:xyz789", {"xyz789"}, {"client_secret:"});
  check(R"(params={"password" => "rb-secret", "user" => "bob"})", {"rb-secret"}, {"bob"});
  check("password: 'py-secret' x", {"py-secret"}, {"x"});
  check("password=", {}, {"password="});
  check("", {}, {});
}

TEST(Redactor, RandomInputNeverCrashesOrLeaks) {
  Redactor r = Make();
  uint32_t seed = 7;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345; };
  const std::vector<std::string> pieces = {"{", "}", "[", "]", ",", ":", "\"", "\\", " ", "\n", "=", "&", ";", "'", "a",
                                           "1", "password", "Bearer ", "eyJ", ".", "%", "%5B", "\xff", "user", "token"};
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    size_t n = rnd() % 30;
    for (size_t k = 0; k < n; ++k) s += pieces[(rnd() >> 8) % pieces.size()];
    bool bad;
    (void)r.RedactJson(s, &bad);
    (void)r.RedactForm(s);
    (void)r.RedactText(s);
    // A secret value right after a secret key, in any of the three shapes, never survives.
    for (const std::string& shaped : {s + "{\"password\":\"S3CRET-VAL\"}", s + "&password=S3CRET-VAL",
                                      s + " password=S3CRET-VAL"}) {
      std::string j = r.RedactJson(shaped, &bad);
      EXPECT_EQ(j.find("S3CRET"), std::string::npos) << shaped << " -> " << j;
    }
    std::string f = r.RedactForm("x=1&password=S3CRET-VAL&" + s);
    EXPECT_EQ(f.find("S3CRET"), std::string::npos) << f;
    std::string t = r.RedactText(s + " password=S3CRET-VAL");
    EXPECT_EQ(t.find("S3CRET"), std::string::npos) << s << " -> " << t;
  }
}

TEST(Salt, CreatedOnceWithMode0600) {
  char tmpl[] = "/tmp/hakone-salt-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/nested/data";
  auto a = LoadOrCreateSalt(dir);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->size(), 64u);
  struct stat st;
  ASSERT_EQ(stat((dir + "/redact.salt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto b = LoadOrCreateSalt(dir);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  char tmpl2[] = "/tmp/hakone-salt-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl2), nullptr);
  auto c = LoadOrCreateSalt(tmpl2);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);
  // A damaged salt file is an error, not silently replaced.
  {
    std::ofstream f(std::string(tmpl2) + "/redact.salt", std::ios::trunc);
    f << "nothex";
  }
  auto d = LoadOrCreateSalt(tmpl2);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorruption);
  std::filesystem::remove_all(tmpl);
  std::filesystem::remove_all(tmpl2);
}

}  // namespace
}  // namespace hakone
