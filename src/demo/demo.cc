#include "demo/demo.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/config.h"
#include "core/flags.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/runtime.h"
#include "demo/sample_app.h"
#include "gateway/gateway.h"

namespace hakone::demo {
namespace {

struct DemoRequest {
  const char* user;
  const char* method;
  const char* path;
  const char* content_type;
  const char* body;
};

// What recruiters and candidates do in the sample app; the login carries a password that the
// operation log must show as [REDACTED].
const DemoRequest kTraffic[] = {
    {"alice", "GET", "/", nullptr, nullptr},
    {"alice", "POST", "/login", "application/x-www-form-urlencoded", "user=alice&password=correct-horse-battery"},
    {"alice", "GET", "/candidates", nullptr, nullptr},
    {"alice", "GET", "/candidates/1", nullptr, nullptr},
    {"alice", "PUT", "/candidates/1", "application/json", R"({"stage":"interview"})"},
    {"bob", "GET", "/jobs", nullptr, nullptr},
    {"bob", "POST", "/candidates", "application/json", R"({"name":"田中 美咲","email":"misaki@example.com","password":"hunter2"})"},
    {"bob", "GET", "/candidates/2", nullptr, nullptr},
    {"bob", "DELETE", "/candidates/3", nullptr, nullptr},
    {"carol", "GET", "/companies", nullptr, nullptr},
    {"carol", "GET", "/candidates/999", nullptr, nullptr},
    {"carol", "GET", "/jobs/2?utm_source=demo&token=abc123", nullptr, nullptr},
};

}  // namespace

int RunDemo(int argc, char** argv) {
  std::string data_dir = "./hakone-demo-data";
  std::string listen = "127.0.0.1:8080";
  std::string admin = "127.0.0.1:8081";
  std::string app = "127.0.0.1:9000";
  bool exit_after = false;
  FlagSet f("hakone demo",
            "Runs the sample recruiting app behind the gateway, sends it some traffic as recruiters\n"
            "and candidates, and shows how to search the operation log. Ctrl-C stops it.");
  f.String("data-dir", &data_dir, "DIR", "where the demo keeps its data (default ./hakone-demo-data; kept between runs)");
  f.String("listen", &listen, "ADDR", "the gateway's address (default 127.0.0.1:8080)");
  f.String("admin", &admin, "ADDR", "the gateway's admin API (default 127.0.0.1:8081)");
  f.String("app", &app, "ADDR", "the sample app's address (default 127.0.0.1:9000)");
  f.Bool("exit-after-traffic", &exit_after, "stop once the sample traffic has been sent (for tests)");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;

  log::SetJson(false);
  log::SetLevel(log::Level::kWarn);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  Runtime rt(1);
  auto sample = MakeSampleApp(rt, app);
  if (!sample.ok()) {
    std::fprintf(stderr, "hakone demo: %s\n", sample.status().message().c_str());
    return 1;
  }
  gateway::GatewayOverrides ov;
  ov.listen = listen;
  ov.admin = admin;
  ov.data_dir = data_dir;
  ov.upstreams = {"http://" + app};
  ov.instance = "demo";
  Config cfg;
  auto gw = gateway::MakeGateway(rt, cfg, ov);
  if (!gw.ok()) {
    std::fprintf(stderr, "hakone demo: %s\n", gw.status().message().c_str());
    return 1;
  }
  std::printf("[1/3] starting the sample app on %s\n", app.c_str());
  if (Status st = (*sample)->Start(); !st.ok()) {
    std::fprintf(stderr, "hakone demo: sample app: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("[2/3] starting the gateway on %s (admin %s, data in %s)\n", listen.c_str(), admin.c_str(), data_dir.c_str());
  if (Status st = (*gw)->Start(); !st.ok()) {
    std::fprintf(stderr, "hakone demo: gateway: %s\n", st.message().c_str());
    return 1;
  }
  Component* s = sample->get();
  Component* g = gw->get();
  rt.OnShutdown([s, g] {
    g->Stop();
    s->Stop();
  });

  std::thread traffic([&] {
    std::printf("[3/3] sending sample traffic through the gateway\n");
    int ok = 0, n = 0;
    for (const auto& r : kTraffic) {
      std::vector<std::pair<std::string, std::string>> headers = {{"X-User-Id", r.user}, {"User-Agent", "hakone-demo/1.0"}};
      if (r.content_type) headers.emplace_back("Content-Type", r.content_type);
      auto resp = HttpFetch(r.method, "http://" + listen + r.path, headers, r.body ? r.body : "", std::chrono::seconds(5));
      ++n;
      if (resp.ok()) {
        ++ok;
        std::printf("      %-5s %-6s %-40s → %d\n", r.user, r.method, r.path, resp->status);
      } else {
        std::printf("      %-5s %-6s %-40s → error: %s\n", r.user, r.method, r.path, resp.status().message().c_str());
      }
    }
    std::string self = std::filesystem::canonical("/proc/self/exe").string();
    std::printf(
        "\nhakone demo is running (%d/%d requests answered).\n"
        "  the app, through the gateway:  http://%s/\n"
        "  the operation log over HTTP:   http://%s/api/audit/search?user=alice\n"
        "  metrics:                       http://%s/metrics\n\n"
        "Ask the operation log:\n"
        "  %s audit search --data-dir %s --since 10m\n"
        "  %s audit timeline alice --data-dir %s\n"
        "  %s audit who --path '/candidates/*' --data-dir %s\n"
        "  %s audit verify --data-dir %s\n\n"
        "Press Ctrl-C to stop.\n",
        ok, n, listen.c_str(), admin.c_str(), admin.c_str(), self.c_str(), data_dir.c_str(), self.c_str(),
        data_dir.c_str(), self.c_str(), data_dir.c_str(), self.c_str(), data_dir.c_str());
    std::fflush(stdout);
    if (exit_after) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let the store flush a block
      rt.Shutdown();
    }
  });
  rt.Run();
  traffic.join();
  std::printf("hakone demo stopped. Data kept in %s\n", data_dir.c_str());
  return 0;
}

}  // namespace hakone::demo
