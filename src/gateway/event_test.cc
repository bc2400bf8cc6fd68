#include "gateway/event.h"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace hakone::gateway {
namespace {

using namespace std::chrono_literals;

Redactor TestRedactor() {
  RedactOptions r;
  r.salt = "0000000000000000000000000000000000000000000000000000000000000001";
  return Redactor(r);
}

EventOptions Opts() {
  EventOptions o;
  o.instance = "gw-test";
  return o;
}

RequestRecord Get(std::string target = "/candidates/123?page=2") {
  RequestRecord r;
  r.start = std::chrono::system_clock::time_point(std::chrono::microseconds(1714564800123456LL));  // 2024-05-01T12:00:00.123456Z
  r.method = "GET";
  r.target = std::move(target);
  r.headers = {{"Host", "ats.example.com"},
               {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"},
               {"Accept", "text/html"},
               {"Accept-Language", "ja,en;q=0.8"},
               {"Referer", "https://ats.example.com/candidates"},
               {"Accept-Encoding", "gzip"},
               {"Connection", "keep-alive"},
               {"X-Forwarded-For", "203.0.113.9"}};
  r.peer_ip = "10.0.0.5";
  r.peer_port = 51234;
  r.request_id = "req-1";
  r.status = 200;
  r.bytes_out = 5120;
  r.upstream = "127.0.0.1:9000";
  r.upstream_ms = 1.25;
  r.total_ms = 1.5;
  return r;
}

boost::json::object Parse(const std::string& s) {
  boost::system::error_code ec;
  auto v = boost::json::parse(s, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << s;
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

std::vector<std::string> Keys(const boost::json::object& o) {
  std::vector<std::string> k;
  for (auto& kv : o) k.emplace_back(kv.key());
  return k;
}

TEST(Event, TypicalGetHasEveryFieldInOrder) {
  EventBuilder b(Opts(), TestRedactor());
  std::string ev = b.Build(Get(), "alice");
  auto o = Parse(ev);
  EXPECT_EQ(Keys(o), (std::vector<std::string>{"time", "request_id", "instance", "user", "client_ip", "user_agent", "method",
                                               "host", "path", "route", "query", "headers", "request_body_truncated",
                                               "status", "bytes_in", "bytes_out", "upstream", "upstream_ms", "total_ms"}));
  EXPECT_EQ(o["time"], "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(o["request_id"], "req-1");
  EXPECT_EQ(o["instance"], "gw-test");
  EXPECT_EQ(o["user"], "alice");
  EXPECT_EQ(o["client_ip"], "10.0.0.5");  // no trusted proxies: X-Forwarded-For is ignored
  EXPECT_EQ(o["user_agent"], "Mozilla/5.0 (X11; Linux x86_64)");
  EXPECT_EQ(o["method"], "GET");
  EXPECT_EQ(o["host"], "ats.example.com");
  EXPECT_EQ(o["path"], "/candidates/123");
  EXPECT_EQ(o["route"], "/candidates/{id}");
  EXPECT_EQ(o["query"], "page=2");
  auto& h = o["headers"].as_object();
  EXPECT_EQ(Keys(h), (std::vector<std::string>{"User-Agent", "Referer", "Accept-Language"}));
  EXPECT_EQ(o["status"], 200);
  EXPECT_EQ(o["bytes_out"], 5120);
  EXPECT_EQ(o["upstream"], "127.0.0.1:9000");
  EXPECT_EQ(o["upstream_ms"].as_double(), 1.25);
  EXPECT_EQ(o["request_body_truncated"], false);
  EXPECT_EQ(ev.find("\"seq\""), std::string::npos);
  EXPECT_EQ(ev.find("hash"), std::string::npos);
  EXPECT_EQ(ev.front(), '{');
  EXPECT_EQ(ev.back(), '}');

  RequestRecord failed = Get("/");
  failed.status = 502;
  failed.error = "upstream refused";
  failed.websocket = true;
  auto f = Parse(b.Build(failed, "anonymous"));
  EXPECT_EQ(f["error"], "upstream refused");
  EXPECT_EQ(f["websocket"], true);
  EXPECT_EQ(Keys(f).back(), "websocket");
  EXPECT_EQ(f["query"], "");
}

TEST(Event, FixtureFullOfSecretsLeaksNone) {
  EventBuilder b(Opts(), TestRedactor());
  const std::vector<std::string> secrets = {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig-part-0001",
                                            "sess-cookie-value-777",
                                            "api-key-header-888",
                                            "json-password-111",
                                            "NestedTok-222",
                                            "4111111111111111",
                                            "form-passwd-333",
                                            "query-token-444",
                                            "proxy-basic-555",
                                            "refresh-666"};
  RequestRecord json = Get("/login?user=bob&access_token=query-token-444&x=1");
  json.method = "POST";
  json.headers.push_back({"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig-part-0001"});
  json.headers.push_back({"Cookie", "PLAY_SESSION=sess-cookie-value-777; theme=dark"});
  json.headers.push_back({"x-api-key", "api-key-header-888"});
  json.headers.push_back({"Proxy-Authorization", "Basic proxy-basic-555"});
  json.headers.push_back({"Content-Type", "application/json; charset=utf-8"});
  json.content_type = "application/json; charset=utf-8";
  json.body_prefix = R"({"user":"bob","Password":"json-password-111","profile":{"tokens":[{"token":"NestedTok-222"}]},)"
                     R"("payment":{"card_number":"4111111111111111","cvv":"123"},"refresh_token":"refresh-666"})";
  std::string ev = b.Build(json, "bob");
  for (auto& s : secrets) EXPECT_EQ(ev.find(s), std::string::npos) << s << " in " << ev;
  auto o = Parse(ev);
  EXPECT_EQ(o["query"], "user=bob&access_token=[REDACTED]&x=1");
  auto& h = o["headers"].as_object();
  EXPECT_EQ(h.at("Authorization").as_string().subview(0, 7), "sha256:");
  EXPECT_EQ(h.at("Cookie").as_string().subview(0, 7), "sha256:");
  EXPECT_EQ(h.at("X-Api-Key").as_string().subview(0, 7), "sha256:");
  EXPECT_EQ(h.at("Content-Type"), "application/json; charset=utf-8");
  // Parsed JSON bodies are embedded as JSON values.
  ASSERT_TRUE(o["request_body"].is_object());
  EXPECT_EQ(o["request_body"].at("user"), "bob");
  EXPECT_EQ(o["request_body"].at("Password"), "[REDACTED]");
  // Hashes correlate: the same token gives the same hash in another event.
  auto o2 = Parse(b.Build(json, "bob"));
  EXPECT_EQ(o2["headers"].at("Authorization"), h.at("Authorization"));

  // The same secrets in a truncated JSON body and in a form body.
  RequestRecord trunc = json;
  trunc.body_prefix = json.body_prefix.substr(0, json.body_prefix.find("4111") + 6);
  trunc.body_truncated = true;
  ev = b.Build(trunc, "bob");
  EXPECT_EQ(ev.find("4111"), std::string::npos) << ev;
  for (auto& s : secrets) EXPECT_EQ(ev.find(s), std::string::npos) << s << " in " << ev;
  o = Parse(ev);
  EXPECT_FALSE(o.contains("request_body"));
  EXPECT_TRUE(o["request_body_text"].is_string());
  EXPECT_EQ(o["request_body_truncated"], true);

  RequestRecord form = json;
  form.content_type = "application/x-www-form-urlencoded";
  form.body_prefix = "user=bob&passwd=form-passwd-333&user%5Bapi_key%5D=api-key-header-888&card_number=4111111111111111";
  ev = b.Build(form, "bob");
  for (auto& s : secrets) EXPECT_EQ(ev.find(s), std::string::npos) << s << " in " << ev;
  o = Parse(ev);
  EXPECT_FALSE(o.contains("request_body"));
  EXPECT_EQ(o["request_body_text"], "user=bob&passwd=[REDACTED]&user%5Bapi_key%5D=[REDACTED]&card_number=[REDACTED]");

  // Bodies of other types (if captured) go through the free-text redactor.
  RequestRecord text = json;
  text.content_type = "text/plain";
  text.body_prefix = "password=form-passwd-333 and Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig-part-0001";
  ev = b.Build(text, "bob");
  for (auto& s : secrets) EXPECT_EQ(ev.find(s), std::string::npos) << s << " in " << ev;
}

TEST(Event, NoRawControlCharactersAnywhere) {
  EventBuilder b(Opts(), TestRedactor());
  RequestRecord r = Get("/a\r\nInjected: yes?q=1\r\n2");
  r.headers.push_back({"User-Agent", "evil\r\n{\"fake\":1}\x01\x7f"});
  r.headers[4] = {"Referer", std::string("bad utf8 \xff\xfe \xc3\x28 ok \xe6\x97\xa5\xe6\x9c\xac")};
  r.request_id = "id\n2";
  r.error = "line1\nline2\ttab";
  r.content_type = "application/x-www-form-urlencoded";
  r.body_prefix = "a=1\r\n&b=\x00\x02";
  std::string ev = b.Build(r, "user\r\nname");
  EXPECT_EQ(ev.find('\r'), std::string::npos);
  EXPECT_EQ(ev.find('\n'), std::string::npos);
  for (unsigned char c : ev) EXPECT_GE(c, 0x20) << ev;
  auto o = Parse(ev);
  EXPECT_EQ(o["path"], "/a\r\nInjected: yes");
  EXPECT_EQ(o["user"], "user\r\nname");
  EXPECT_EQ(o["headers"].at("Referer"), "bad utf8 \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD( ok \xe6\x97\xa5\xe6\x9c\xac");
  // A JSON body with newlines inside is embedded compactly.
  RequestRecord j = Get("/x");
  j.content_type = "application/vnd.api+json";
  j.body_prefix = "{\n  \"a\": \"x\\ny\",\r\n  \"b\": [1,\n 2]\n}\n";
  ev = b.Build(j, "u");
  EXPECT_EQ(ev.find('\n'), std::string::npos);
  o = Parse(ev);
  EXPECT_EQ(o["request_body"].at("a"), "x\ny");
  // A JSON body that is not an object keeps its text in request_body_text, so request_body is
  // always an object (stores fix a field's type on first sight).
  j.body_prefix = "[1, 2, {\"password\": \"s3cret-999\"}]";
  ev = b.Build(j, "u");
  EXPECT_EQ(ev.find("s3cret-999"), std::string::npos) << ev;
  o = Parse(ev);
  EXPECT_FALSE(o.contains("request_body"));
  ASSERT_TRUE(o["request_body_text"].is_string()) << ev;
  j.body_prefix = "42";
  o = Parse(b.Build(j, "u"));
  EXPECT_FALSE(o.contains("request_body"));
  EXPECT_EQ(o["request_body_text"], "42");
}

TEST(Event, Routes) {
  EventOptions opt = Opts();
  opt.routes = {"/candidates/{id}", "/jobs/{id}", "/candidates/{id}/notes/{note}", "/static/*", "/"};
  EventBuilder b(opt, TestRedactor());
  EXPECT_EQ(b.Route("/candidates/123"), "/candidates/{id}");
  EXPECT_EQ(b.Route("/candidates/alice-smith"), "/candidates/{id}");  // patterns take any segment
  EXPECT_EQ(b.Route("/candidates/1/notes/7"), "/candidates/{id}/notes/{note}");
  EXPECT_EQ(b.Route("/candidates/"), "/candidates/");  // an empty segment is no id
  EXPECT_EQ(b.Route("/static/css/app.css"), "/static/*");
  EXPECT_EQ(b.Route("/"), "/");
  // Automatic ids.
  EXPECT_EQ(b.Route("/companies/42/members/7"), "/companies/{id}/members/{id}");
  EXPECT_EQ(b.Route("/files/550e8400-e29b-41d4-a716-446655440000/download"), "/files/{id}/download");
  EXPECT_EQ(b.Route("/objects/507f1f77bcf86cd799439011"), "/objects/{id}");
  EXPECT_EQ(b.Route("/t/dGhpcyBpcyBhIHRva2VuMTIz"), "/t/{id}");
  EXPECT_EQ(b.Route("/users/alice%40example.com/profile"), "/users/{id}/profile");
  EXPECT_EQ(b.Route("/v1/applications/search"), "/v1/applications/search");
  EXPECT_EQ(b.Route("/jobs/senior-software-engineer-tokyo-2024"), "/jobs/{id}");  // the pattern
  EXPECT_EQ(b.Route("/blog/senior-software-engineer-tokyo-2024"), "/blog/senior-software-engineer-tokyo-2024");
  EXPECT_EQ(b.Route("/deadbeefdeadbeef"), "/deadbeefdeadbeef");  // hex without a digit: a word
  EXPECT_EQ(b.Route("*"), "*");
  EXPECT_TRUE(ValidateRoutePattern("/a/{id}/b").ok());
  EXPECT_FALSE(ValidateRoutePattern("a/{id}").ok());
  EXPECT_FALSE(ValidateRoutePattern("/a/x{id}").ok());
  EXPECT_FALSE(ValidateRoutePattern("/a/{}").ok());
  EXPECT_FALSE(ValidateRoutePattern("/a/*/b").ok());
}

TEST(Event, TargetsAndGlobs) {
  EXPECT_EQ(TargetPath("/a/b?x=1#f"), "/a/b");
  EXPECT_EQ(TargetPath("http://h:1/a?x"), "/a");
  EXPECT_EQ(TargetPath("http://h"), "/");
  EXPECT_EQ(TargetPath("*"), "*");
  EXPECT_EQ(TargetPath("h:443"), "h:443");
  EXPECT_EQ(TargetQuery("/a?x=1&y=2#frag"), "x=1&y=2");
  EXPECT_EQ(TargetQuery("/a"), "");
  EXPECT_TRUE(GlobMatch("/assets/*", "/assets/css/app.css"));
  EXPECT_TRUE(GlobMatch("/healthz", "/healthz"));
  EXPECT_FALSE(GlobMatch("/healthz", "/healthz/x"));
  EXPECT_TRUE(GlobMatch("*.png", "/img/a.png"));
  EXPECT_TRUE(GlobMatch("/v?/ping", "/v1/ping"));
  EXPECT_FALSE(GlobMatch("/v?/ping", "/v12/ping"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("/a*b*c", "/axxbyyc"));
  EXPECT_FALSE(GlobMatch("/a*b*c", "/axxbyy"));
}

TEST(Event, PolicyExcludesAndCaptures) {
  EventOptions opt = Opts();
  opt.exclude_paths = {"/healthz", "/assets/*"};
  opt.capture_body = 1000;
  opt.capture_content_types.push_back("text/*");
  EventBuilder b(opt, TestRedactor());
  RequestRecord r = Get("/healthz?probe=1");
  EXPECT_FALSE(b.Policy(r).record);
  r.target = "/assets/app.js";
  EXPECT_FALSE(b.Policy(r).record);
  r.target = "/api/login";
  EXPECT_TRUE(b.Policy(r).record);
  EXPECT_EQ(b.Policy(r).capture_limit, 0u);  // no body type
  for (const char* ct : {"application/json", "Application/JSON; charset=UTF-8", "application/problem+json",
                         "application/x-www-form-urlencoded", "text/plain"}) {
    r.content_type = ct;
    EXPECT_EQ(b.Policy(r).capture_limit, 1000u) << ct;
  }
  for (const char* ct : {"multipart/form-data; boundary=x", "application/octet-stream", "image/png", "application/jsonx"}) {
    r.content_type = ct;
    EXPECT_EQ(b.Policy(r).capture_limit, 0u) << ct;
  }
  r.content_type = "";
  r.headers.push_back({"content-type", "application/json"});
  EXPECT_EQ(b.Policy(r).capture_limit, 1000u);
  opt.capture_body = 0;
  EventBuilder none(opt, TestRedactor());
  EXPECT_EQ(none.Policy(r).capture_limit, 0u);
}

TEST(Event, ClientIp) {
  EventBuilder plain(Opts(), TestRedactor());
  EventOptions opt = Opts();
  opt.trusted_proxies = {"10.0.0.0/8", "2001:db8::/32"};
  EventBuilder b(opt, TestRedactor());
  auto rec = [](std::string peer, std::vector<std::string> xffs) {
    RequestRecord r;
    r.peer_ip = std::move(peer);
    for (auto& x : xffs) r.headers.push_back({"X-Forwarded-For", x});
    return r;
  };
  EXPECT_EQ(plain.ClientIp(rec("10.0.0.5", {"203.0.113.9"})), "10.0.0.5");
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"203.0.113.9"})), "203.0.113.9");
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {})), "10.0.0.5");
  // An untrusted peer's X-Forwarded-For is a claim by the client: ignored.
  EXPECT_EQ(b.ClientIp(rec("198.51.100.7", {"1.2.3.4"})), "198.51.100.7");
  // Spoofed entries left of the first untrusted hop are ignored.
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"6.6.6.6, 203.0.113.9, 10.1.1.1"})), "203.0.113.9");
  // Several headers are one list, in order.
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"6.6.6.6", "203.0.113.9", "10.1.1.1"})), "203.0.113.9");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"10.9.9.9, 10.1.1.1"})), "10.9.9.9");
  // Garbage stops the walk at the last address that parsed.
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"203.0.113.9, unknown, 10.1.1.1"})), "10.1.1.1");
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"<script>"})), "10.0.0.5");
  // Ports and IPv6.
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"203.0.113.9:4711"})), "203.0.113.9");
  EXPECT_EQ(b.ClientIp(rec("2001:db8::1", {"2001:DB8::2, [2400:cb00::7]:443"})), "2400:cb00::7");
  EXPECT_EQ(b.ClientIp(rec("::ffff:10.0.0.5", {"203.0.113.10"})), "203.0.113.10");
  EXPECT_EQ(plain.ClientIp(rec("::ffff:192.0.2.1", {})), "192.0.2.1");
  EXPECT_EQ(plain.ClientIp(rec("fe80::1", {})), "fe80::1");
  EXPECT_EQ(plain.ClientIp(rec("", {})), "");
  // 100 hops: still the right answer.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "10.0.0." + std::to_string(i) + ", ";
  EXPECT_EQ(b.ClientIp(rec("10.0.0.5", {"203.0.113.9, " + many + "10.0.0.1"})), "203.0.113.9");
}

TEST(Event, FromConfig) {
  auto c = Config::LoadString(R"(
instance = "gw-7"
[gateway]
listen = "127.0.0.1:1"
capture_body = "1KiB"
capture_content_types = ["application/json"]
record_headers = ["User-Agent", "Authorization"]
trusted_proxies = ["10.0.0.0/8", "::1"]
exclude_paths = ["/assets/*"]
routes = ["/a/{id}"]
[gateway.redact]
headers = ["Authorization", "X-Secret"]
fields = ["password", "ssn"]
)");
  ASSERT_TRUE(c.ok());
  auto o = EventOptions::FromConfig(c->Root());
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->instance, "gw-7");
  EXPECT_EQ(o->capture_body, 1024u);
  EXPECT_EQ(o->record_headers.size(), 2u);
  EXPECT_EQ(o->trusted_proxies.size(), 2u);
  EXPECT_EQ(o->redact.fields, (std::vector<std::string>{"password", "ssn"}));
  EXPECT_EQ(o->redact.headers.size(), 2u);
  auto o2 = EventOptions::FromConfig(c->Root(), "from-flag");
  ASSERT_TRUE(o2.ok());
  EXPECT_EQ(o2->instance, "from-flag");
  (void)c->Section("gateway").String("listen", "");  // the proxy's key
  EXPECT_TRUE(c->Finish().ok()) << c->Finish().ToString();

  Config empty;
  auto d = EventOptions::FromConfig(empty.Root());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->instance.empty());  // the host name
  EXPECT_EQ(d->capture_body, 65536u);
  EXPECT_EQ(d->exclude_paths, (std::vector<std::string>{"/healthz"}));
  EXPECT_EQ(d->redact.fields.size(), 9u);

  struct Bad {
    std::string toml, want;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]", "config: [gateway] trusted_proxies: CIDR #2 '10.0.0.0/33'"},
           {"routes = [\"candidates/{id}\"]", "config: [gateway] routes: 'candidates/{id}': must start with '/'"},
           {"geoip_db = \"/nonexistent/geo.mmdb\"", "config: [gateway] geoip_db: '/nonexistent/geo.mmdb'"},
           {"exclude_paths = [\"\"]", "config: [gateway] exclude_paths"},
       }) {
    auto cc = Config::LoadString("[gateway]\n" + bad.toml + "\n");
    ASSERT_TRUE(cc.ok());
    auto r = EventOptions::FromConfig(cc->Root());
    ASSERT_FALSE(r.ok()) << bad.toml;
    EXPECT_NE(r.status().message().find(bad.want), std::string::npos) << r.status().message();
  }
}

// A tiny MaxMind DB writer (IPv4 tree, 24-bit records), enough to test geo lookups.
class MmdbWriter {
 public:
  void Add(uint32_t ip, int prefix, const std::string& country, const std::string& city) {
    size_t off = data_.size();
    std::string d;
    int pairs = city.empty() ? 1 : 2;
    d += Ctl(7, pairs);
    d += Str("country") + Ctl(7, 1) + Str("iso_code") + Str(country);
    if (!city.empty()) d += Str("city") + Ctl(7, 1) + Str("names") + Ctl(7, 1) + Str("en") + Str(city);
    data_ += d;
    size_t n = 0;
    for (int i = 0; i < prefix; ++i) {
      int bit = (ip >> (31 - i)) & 1;
      if (i == prefix - 1) {
        nodes_[n][bit] = -static_cast<int64_t>(off) - 2;
        break;
      }
      if (nodes_[n][bit] < 0) {
        nodes_.push_back({-1, -1});
        nodes_[n][bit] = static_cast<int64_t>(nodes_.size() - 1);
      }
      n = static_cast<size_t>(nodes_[n][bit]);
    }
  }
  std::string Serialize() const {
    std::string out;
    uint32_t count = static_cast<uint32_t>(nodes_.size());
    for (auto& node : nodes_) {
      for (int64_t rec : node) {
        uint32_t v = rec >= 0 ? static_cast<uint32_t>(rec) : rec == -1 ? count : count + 16 + static_cast<uint32_t>(-rec - 2);
        out += static_cast<char>((v >> 16) & 0xff);
        out += static_cast<char>((v >> 8) & 0xff);
        out += static_cast<char>(v & 0xff);
      }
    }
    out += std::string(16, '\0');
    out += data_;
    out += "\xAB\xCD\xEFMaxMind.com";
    out += Ctl(7, 9);
    out += Str("binary_format_major_version") + U(5, 2);
    out += Str("binary_format_minor_version") + U(5, 0);
    out += Str("build_epoch") + std::string("\x08\x02", 2) + Be(1714564800, 8);
    out += Str("database_type") + Str("Hakone-Test-City");
    out += Str("description") + Ctl(7, 1) + Str("en") + Str("test");
    out += Str("ip_version") + U(5, 4);
    out += Str("languages") + std::string("\x01\x04", 2) + Str("en");
    out += Str("node_count") + U(6, count);
    out += Str("record_size") + U(5, 24);
    return out;
  }

 private:
  static std::string Ctl(int type, size_t size) { return std::string(1, static_cast<char>((type << 5) | static_cast<int>(size))); }
  static std::string Str(const std::string& s) { return Ctl(2, s.size()) + s; }
  static std::string Be(uint64_t v, int n) {
    std::string s;
    for (int i = n - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
  }
  static std::string U(int type, uint64_t v) {
    int n = 0;
    for (uint64_t x = v; x; x >>= 8) ++n;
    return Ctl(type, n) + Be(v, n);
  }
  std::vector<std::array<int64_t, 2>> nodes_{{-1, -1}};
  std::string data_;
};

TEST(Event, GeoFromMaxMindDatabase) {
  char tmpl[] = "/tmp/hakone-geo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/test.mmdb";
  MmdbWriter w;
  w.Add(0xCB007100, 24, "JP", "Tokyo");  // 203.0.113.0/24
  w.Add(0xC6336400, 24, "DE", "");      // 198.51.100.0/24
  {
    std::ofstream f(path, std::ios::binary);
    f << w.Serialize();
  }
  auto c = Config::LoadString("[gateway]\ngeoip_db = \"" + path + "\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
  ASSERT_TRUE(c.ok());
  auto o = EventOptions::FromConfig(c->Root());
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EventBuilder b(*o, TestRedactor());
  auto o1 = Parse(b.Build(Get(), "u"));  // X-Forwarded-For 203.0.113.9 through 10.0.0.5
  EXPECT_EQ(o1["client_ip"], "203.0.113.9");
  ASSERT_TRUE(o1.contains("geo")) << boost::json::serialize(o1);
  EXPECT_EQ(o1["geo"].at("country"), "JP");
  EXPECT_EQ(o1["geo"].at("city"), "Tokyo");
  EXPECT_EQ(Keys(o1)[5], "geo");
  RequestRecord de = Get();
  de.headers.back().second = "198.51.100.20";
  auto o2 = Parse(b.Build(de, "u"));
  EXPECT_EQ(o2["geo"].at("country"), "DE");
  EXPECT_FALSE(o2["geo"].as_object().contains("city"));
  RequestRecord unknown = Get();
  unknown.headers.back().second = "192.0.2.1";
  EXPECT_FALSE(Parse(b.Build(unknown, "u")).contains("geo"));
  RequestRecord v6 = Get();
  v6.peer_ip = "2001:db8::1";
  EXPECT_FALSE(Parse(b.Build(v6, "u")).contains("geo"));
  std::filesystem::remove_all(tmpl);
}

TEST(Event, BuildSpeed) {
  EventOptions opt = Opts();
  opt.trusted_proxies = {"10.0.0.0/8"};
  EventBuilder b(opt, TestRedactor());
  RequestRecord get = Get();
  RequestRecord withauth = Get();
  withauth.headers.push_back({"Cookie", "PLAY_SESSION=abcdef0123456789; theme=dark"});
  RequestRecord post = Get("/api/candidates");
  post.method = "POST";
  post.content_type = "application/json";
  post.body_prefix = R"({"name":"Alice","email":"alice@example.com","password":"x","tags":["a","b"],"age":31})";
  // Thread CPU time, so that other work on a shared machine does not count.
  auto cpu_ns = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
  };
  const int n = 20000;
  for (auto* r : {&get, &withauth, &post}) {
    size_t total = 0;
    long long t0 = cpu_ns();
    for (int i = 0; i < n; ++i) total += b.Build(*r, "alice").size();
    long long ns = (cpu_ns() - t0) / n;
    std::printf("[ perf     ] Build %s%s: %lld ns/op (%zu bytes)\n", r->method.c_str(), r == &withauth ? " +cookie" : "", ns,
                total / n);
  }
  size_t sink = 0;
  long long t0 = cpu_ns();
  for (int i = 0; i < n; ++i) sink += b.ClientIp(get).size();
  long long t1 = cpu_ns();
  for (int i = 0; i < n; ++i) sink += b.Route("/candidates/123/notes/456").size();
  long long t2 = cpu_ns();
  std::printf("[ perf     ] ClientIp (trusted peer + XFF): %lld ns/op, Route (auto ids): %lld ns/op (%zu)\n", (t1 - t0) / n,
              (t2 - t1) / n, sink % 10);
}

}  // namespace
}  // namespace hakone::gateway
