#include "console/console.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/http_client.h"
#include "core/http_server.h"

namespace hakone::console {
namespace {

TEST(ConsoleAssets, PathMapping) {
  EXPECT_EQ(AssetPathFor("/ui"), "index.html");
  EXPECT_EQ(AssetPathFor("/ui/"), "index.html");
  EXPECT_EQ(AssetPathFor("/ui/assets/index-abc.js"), "assets/index-abc.js");
  EXPECT_EQ(AssetPathFor("/ui/oplog"), "oplog");
  EXPECT_EQ(AssetPathFor("/ui/sub/"), "sub/index.html");
  EXPECT_EQ(AssetPathFor("/ui/../etc/passwd"), "");
  EXPECT_EQ(AssetPathFor("/ui/assets/../../x"), "");
  EXPECT_EQ(AssetPathFor("/ui/./x"), "");
  EXPECT_EQ(AssetPathFor("/ui/a//b"), "");
  EXPECT_EQ(AssetPathFor("/ui/a\\..\\b"), "");
}

TEST(ConsoleAssets, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("assets/a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("assets/a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("noext"), "application/octet-stream");
}

TEST(ConsoleUpstream, Normalize) {
  EXPECT_EQ(*NormalizeUpstream("127.0.0.1:8081"), "http://127.0.0.1:8081");
  EXPECT_EQ(*NormalizeUpstream("http://127.0.0.1:9200/"), "http://127.0.0.1:9200");
  EXPECT_EQ(*NormalizeUpstream(""), "");
  EXPECT_FALSE(NormalizeUpstream("https://x:1").ok());
  EXPECT_FALSE(NormalizeUpstream("http://127.0.0.1:1/path").ok());
  EXPECT_FALSE(NormalizeUpstream("nonsense").ok());
}

TEST(ConsoleConfig, ReadsSectionAndDefaults) {
  auto cfg = Config::LoadString(R"(
[gateway]
admin = "127.0.0.1:18081"
[console]
listen = "127.0.0.1:0"
store = "http://127.0.0.1:19200"
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  auto o = ConsoleOptionsFromConfig(*cfg);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->gateway_admin, "127.0.0.1:18081");
  EXPECT_EQ(o->store, "http://127.0.0.1:19200");
  EXPECT_TRUE(o->tokens.empty());
}

TEST(ConsoleConfig, RefusesPublicListenWithoutTokens) {
  Runtime rt(1);
  ConsoleOptions o;
  o.listen = "0.0.0.0:0";
  auto c = MakeConsole(rt, o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("no API token"), std::string::npos);
  o.listen = "127.0.0.1:0";
  o.store = "https://x:1";
  EXPECT_FALSE(MakeConsole(rt, o).ok());
}

// A console in front of a stand-in upstream, on a runtime thread; requests from the test thread.
class ConsoleServer : public ::testing::Test {
 protected:
  // A loopback port nothing listens on right now.
  std::string FreeAddress() {
    asio::ip::tcp::acceptor a(rt_.io(), *ParseEndpoint("127.0.0.1:0"));
    std::string addr = FormatEndpoint(a.local_endpoint());
    a.close();
    return addr;
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("console_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "assets");
    std::ofstream(dir_ / "index.html") << "<!doctype html><title>hakone console</title>";
    std::ofstream(dir_ / "assets" / "app-1.js") << "console.log(1)";

    upstream_ = std::make_unique<HttpServer>(rt_.io(), HttpServer::Options{});
    upstream_->Route("*", "/*", [](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      std::string auth(req.Header("Authorization"));
      co_return HttpResponse::Json(200, "{\"method\":\"" + req.method + "\",\"target\":\"" + req.target + "\",\"auth\":\"" +
                                            auth + "\",\"body\":\"" + req.body + "\"}");
    });
    ASSERT_TRUE(upstream_->Listen(*ParseEndpoint("127.0.0.1:0")).ok());
    std::string up = FormatEndpoint(upstream_->local_endpoint());

    ConsoleOptions o;
    o.listen = FreeAddress();
    o.gateway_admin = up;
    o.store = up;
    o.graph = FreeAddress();  // refuses connections
    o.agent = "";             // not configured
    o.assets_dir = dir_.string();
    o.tokens = {{"ops", "0123456789abcdef-ops"}};
    base_ = "http://" + o.listen;
    auto c = MakeConsole(rt_, o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    console_ = std::move(*c);
    Status st = console_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    rt_.OnShutdown([this] {
      console_->Stop();
      upstream_->Stop();
    });
    thread_ = std::thread([this] { rt_.Run(); });
  }
  void TearDown() override {
    rt_.Shutdown();
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }
  HttpClient::Response Call(const std::string& path, bool with_token = true, std::string method = "GET", std::string body = "") {
    std::vector<std::pair<std::string, std::string>> h;
    if (with_token) h.emplace_back("Authorization", "Bearer 0123456789abcdef-ops");
    auto r = HttpFetch(method, base_ + path, h, body, std::chrono::seconds(10));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : HttpClient::Response{};
  }

  Runtime rt_{1};
  std::filesystem::path dir_;
  std::unique_ptr<HttpServer> upstream_;
  std::unique_ptr<Component> console_;
  std::thread thread_;
  std::string base_;
};

TEST_F(ConsoleServer, ServesAssetsWithRouteFallback) {
  auto r = Call("/ui/", false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("hakone console"), std::string::npos);
  r = Call("/ui/assets/app-1.js", false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "console.log(1)");
  EXPECT_NE(r.Header("Cache-Control").find("immutable"), std::string::npos);
  r = Call("/ui/oplog", false);  // a page of the console: index.html, the browser routes it
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("hakone console"), std::string::npos);
  EXPECT_EQ(Call("/ui/assets/missing.js", false).status, 404);
  EXPECT_EQ(Call("/ui/%2e%2e/etc/passwd", false).status, 400);
  r = Call("/", false);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.Header("Location"), "/ui/");
}

TEST_F(ConsoleServer, ChecksTokens) {
  EXPECT_EQ(Call("/api/console/whoami", false).status, 401);
  EXPECT_EQ(Call("/api/audit/search?user=a", false).status, 401);
  EXPECT_EQ(Call("/es/_search", false).status, 401);
  auto r = Call("/api/console/whoami");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"name":"ops"})");
  r = Call("/api/console/info", false);  // the login page needs it before it has a token
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"auth\":true"), std::string::npos);
}

TEST_F(ConsoleServer, ForwardsToUpstreams) {
  auto r = Call("/api/audit/search?user=alice&since=1h");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("target":"/api/audit/search?user=alice&since=1h")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("auth":"Bearer 0123456789abcdef-ops")"), std::string::npos) << r.body;
  r = Call("/es/logs-prod/_search", true, "POST", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("method":"POST","target":"/logs-prod/_search")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("body":"{}")"), std::string::npos) << r.body;
  r = Call("/api/gateway/metrics");
  EXPECT_NE(r.body.find(R"("target":"/metrics")"), std::string::npos) << r.body;
}

TEST_F(ConsoleServer, SaysWhichComponentIsNotRunning) {
  auto r = Call("/api/graph/stats");
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("upstream_unavailable"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("graph at http://"), std::string::npos) << r.body;
  r = Call("/api/agent/metrics");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("component_not_configured"), std::string::npos) << r.body;
  r = Call("/api/sessions/info");
  EXPECT_EQ(r.status, 503);
  r = Call("/api/console/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"({"name":"gateway_admin")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("up":true)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"name":"agent","address":"","configured":false,"up":false})"), std::string::npos) << r.body;
}


// GET /api/agent/alerts goes to [console] alerts when set (the demo's alert board); everything
// else under /api/agent/ (and the alerts without that setting) to the agent.
TEST(ConsoleAlerts, RoutesAlertsToTheAlertsUpstreamWhenSet) {
  Runtime rt(1);
  auto echo = [&rt](std::string who) {
    auto s = std::make_unique<HttpServer>(rt.io(), HttpServer::Options{});
    s->Route("*", "/*", [who](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      co_return HttpResponse::Json(200, "{\"who\":\"" + who + "\",\"target\":\"" + req.target + "\"}");
    });
    EXPECT_TRUE(s->Listen(*ParseEndpoint("127.0.0.1:0")).ok());
    return s;
  };
  auto agent = echo("agent");
  auto alerts = echo("alerts");
  auto make = [&](bool with_alerts) {
    ConsoleOptions o;
    asio::ip::tcp::acceptor a(rt.io(), *ParseEndpoint("127.0.0.1:0"));
    o.listen = FormatEndpoint(a.local_endpoint());
    a.close();
    o.gateway_admin = o.store = o.graph = "";
    o.agent = FormatEndpoint(agent->local_endpoint());
    if (with_alerts) o.alerts = FormatEndpoint(alerts->local_endpoint());
    auto c = MakeConsole(rt, o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE((*c)->Start().ok());
    return std::make_pair(std::move(*c), "http://" + o.listen);
  };
  auto [with, with_base] = make(true);
  auto [without, without_base] = make(false);
  Component* c1 = with.get();
  Component* c2 = without.get();
  HttpServer* s1 = agent.get();
  HttpServer* s2 = alerts.get();
  rt.OnShutdown([c1, c2, s1, s2] {
    c1->Stop();
    c2->Stop();
    s1->Stop();
    s2->Stop();
  });
  std::thread t([&rt] { rt.Run(); });
  auto get = [](const std::string& url) {
    auto r = HttpFetch("GET", url, {}, "", std::chrono::seconds(5));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->body : std::string();
  };
  EXPECT_EQ(get(with_base + "/api/agent/alerts"), R"({"who":"alerts","target":"/alerts"})");
  EXPECT_EQ(get(with_base + "/api/agent/metrics"), R"({"who":"agent","target":"/metrics"})");
  EXPECT_EQ(get(without_base + "/api/agent/alerts"), R"({"who":"agent","target":"/alerts"})");
  std::string status = get(with_base + "/api/console/status");
  EXPECT_NE(status.find(R"("name":"alerts")"), std::string::npos) << status;
  status = get(without_base + "/api/console/status");
  EXPECT_EQ(status.find(R"("name":"alerts")"), std::string::npos) << status;
  rt.Shutdown();
  t.join();
}

TEST(ConsoleAlerts, ReadsTheAlertsKey) {
  auto cfg = Config::LoadString("[console]\nalerts = \"127.0.0.1:9011\"\n");
  ASSERT_TRUE(cfg.ok());
  auto o = ConsoleOptionsFromConfig(*cfg);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->alerts, "127.0.0.1:9011");
  ConsoleOptions bad = *o;
  bad.alerts = "http://[::1";
  Runtime rt(1);
  auto c = MakeConsole(rt, bad);
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace hakone::console
