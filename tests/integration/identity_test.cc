// Identity through the real binary: from a header, a verified HS256 JWT, and a session cookie
// looked up in a real redis-server.
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "process_util.h"

namespace hakone::testing {
namespace {

const std::string kBin = HAKONE_BINARY;

std::string B64Url(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t)in[i] << 16 | (uint8_t)in[i + 1] << 8 | (uint8_t)in[i + 2];
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = (uint8_t)in[i] << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    uint32_t v = (uint8_t)in[i] << 16 | (uint8_t)in[i + 1] << 8;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
  }
  return out;
}

std::string Hs256Jwt(const std::string& payload, const std::string& secret) {
  std::string signing = B64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + B64Url(payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(signing.data()),
       signing.size(), mac, &len);
  return signing + "." + B64Url(std::string(reinterpret_cast<char*>(mac), len));
}

TEST(GatewayIdentity, HeaderJwtAndSessionFromRealRedis) {
  std::string dir = MakeTempDir("hakone-id");
  int redis_port = FreePort();
  Process redis({"/usr/bin/redis-server", "--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", dir},
                dir + "/redis.log");
  ASSERT_TRUE(WaitForPort(redis_port)) << redis.Log();
  std::string out;
  ASSERT_EQ(RunCommand({"/usr/bin/redis-cli", "-p", std::to_string(redis_port), "SET", "sess:abc123",
                        R"({"user":{"id":"u-42","name":"Hanako"}})"},
                       &out),
            0)
      << out;

  int app_port = FreePort(), gw_port = FreePort(), admin_port = FreePort();
  Process app({kBin, "sample-app", "--listen", "127.0.0.1:" + std::to_string(app_port)}, dir + "/app.log");
  ASSERT_TRUE(WaitForPort(app_port));
  const std::string secret = "test-secret-0123456789abcdef";
  {
    std::ofstream(dir + "/jwt.secret") << secret << "\n";
    std::ofstream f(dir + "/hakone.toml");
    f << "data_dir = \"" << dir << "/data\"\n"
      << "[gateway]\nlisten = \"127.0.0.1:" << gw_port << "\"\nadmin = \"127.0.0.1:" << admin_port << "\"\n"
      << "upstreams = [\"http://127.0.0.1:" << app_port << "\"]\n"
      << "[gateway.identity]\nheader = \"X-User-Id\"\norder = [\"header\", \"jwt\", \"session\"]\n"
      << "jwt = { header = \"Authorization\", claim = \"sub\", hs256_secret_file = \"" << dir << "/jwt.secret\" }\n"
      << "session = { cookie = \"PLAY_SESSION\", store = \"redis://127.0.0.1:" << redis_port
      << "/0\", key_prefix = \"sess:\", user_field = \"user.id\" }\n";
  }
  Process gw({kBin, "gateway", "--config", dir + "/hakone.toml"}, dir + "/gw.log");
  ASSERT_TRUE(WaitForPort(gw_port)) << gw.Log();

  EXPECT_EQ(HttpCall(gw_port, "GET", "/jobs", {{"X-User-Id", "from-header"}}), 200);
  EXPECT_EQ(HttpCall(gw_port, "GET", "/jobs",
                     {{"Authorization", "Bearer " + Hs256Jwt(R"({"sub":"from-jwt","exp":4102444800})", secret)}}),
            200);
  // A token signed with another key is not believed: the request falls through to anonymous.
  EXPECT_EQ(HttpCall(gw_port, "GET", "/companies",
                     {{"Authorization", "Bearer " + Hs256Jwt(R"({"sub":"forged","exp":4102444800})", "wrong-key")}}),
            200);
  EXPECT_EQ(HttpCall(gw_port, "GET", "/candidates", {{"Cookie", "theme=dark; PLAY_SESSION=abc123"}}), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));

  ASSERT_EQ(RunCommand({kBin, "audit", "search", "--data-dir", dir + "/data", "--json", "--limit", "100"}, &out), 0) << out;
  EXPECT_NE(out.find("\"user\":\"from-header\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"user\":\"from-jwt\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"user\":\"u-42\""), std::string::npos) << out;
  EXPECT_EQ(out.find("forged"), std::string::npos) << out;
  EXPECT_NE(out.find("\"path\":\"/companies\",\"route\":\"/companies\""), std::string::npos);
  EXPECT_EQ(out.find("abc123"), std::string::npos) << "the session id must not be stored: " << out;

  // With the session store gone, requests still succeed (anonymous).
  redis.Signal(SIGKILL);
  redis.Wait();
  EXPECT_EQ(HttpCall(gw_port, "GET", "/jobs/1", {{"Cookie", "PLAY_SESSION=zzz999"}}), 200);
  gw.Signal(SIGTERM);
  EXPECT_EQ(gw.Wait(), 0) << gw.Log();
  RemoveTree(dir);
}

}  // namespace
}  // namespace hakone::testing
