// `hakone agent --config FILE [--validate]`: runs the [agent] section's log pipeline.
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/commands.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/runtime.h"
#include "pipeline/agent.h"

namespace hakone::app {
namespace {

Result<std::unique_ptr<pipeline::Agent>> LoadAgent(const std::string& path) {
  auto cfg = Config::LoadFile(path);
  if (!cfg.ok()) return cfg.status();
  auto logsec = cfg->Section("log");
  log::Level lv;
  if (log::ParseLevel(logsec.String("level", "info"), &lv)) log::SetLevel(lv);
  log::SetJson(logsec.String("format", "json") != "text");
  if (!cfg->HasSection("agent")) return Status::InvalidArgument("config: " + path + " has no [agent] section");
  auto agent = pipeline::Agent::Make(*cfg);
  if (!agent.ok()) return agent.status();
  // Sections of other components may be present (one file for everything): ignore them here.
  for (const auto& k : cfg->Root().Keys())
    if (k != "agent" && k != "log" && k != "data_dir" && k != "instance") cfg->Root().Ignore(k);
  HAKONE_RETURN_IF_ERROR(cfg->Finish());
  return agent;
}

}  // namespace

int RunAgent(int argc, char** argv) {
  std::string config_path;
  bool validate = false;
  FlagSet f("hakone agent",
            "Collects logs per environment: sources (file, syslog, http, stdin, exec) -> transforms -> a durable\n"
            "spool per environment -> sinks (store, archive, elasticsearch, slack, stdout). At least once:\n"
            "nothing read is acknowledged (file checkpoint, HTTP 200) before it is durable in the spool, and\n"
            "a record leaves the spool only when every sink of its route has delivered it. SIGHUP reloads\n"
            "the config without losing records.");
  f.String("config", &config_path, "FILE", "hakone.toml with an [agent] section (required)");
  f.Bool("validate", &validate, "check the config, print the component graph and exit");
  f.Epilog(
      "Examples:\n"
      "  hakone agent --config examples/hakone.toml --validate\n"
      "  hakone agent --config examples/hakone.toml\n"
      "Docs: docs/agent.md");
  if (int rc = f.ParseOrExit(argc, argv); rc >= 0) return rc;
  if (config_path.empty()) {
    std::fprintf(stderr, "hakone agent: --config FILE is required\n");
    return 2;
  }
  auto agent = LoadAgent(config_path);
  if (!agent.ok()) {
    std::fprintf(stderr, "hakone agent: %s\n", agent.status().message().c_str());
    return 2;
  }
  if (validate) {
    std::printf("config ok: %s\n%s", config_path.c_str(), (*agent)->Graph().c_str());
    return 0;
  }
  std::mutex mu;
  std::unique_ptr<pipeline::Agent> current = std::move(*agent);
  if (Status st = current->Start(); !st.ok()) {
    std::fprintf(stderr, "hakone agent: %s\n", st.message().c_str());
    log::Error("agent failed to start", {{"error", st.ToString()}});
    current->Stop();
    return 1;
  }
  Runtime rt(1, std::chrono::seconds(60));
  rt.OnShutdown([&] {
    // Stopping joins threads: do it off the io thread.
    std::thread([&] {
      std::lock_guard lk(mu);
      if (current) current->Stop();
    }).join();
  });
  boost::asio::signal_set hup(rt.io(), SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec || rt.stopping()) return;
      log::Info("agent: SIGHUP, reloading the config", {{"config", config_path}});
      std::thread([&] {
        std::lock_guard lk(mu);
        auto next = LoadAgent(config_path);
        if (!next.ok()) {
          log::Error("agent: reload failed, keeping the running config", {{"error", next.status().ToString()}});
          return;
        }
        current->Stop();  // sources synced + checkpointed, sinks flushed: nothing is lost
        current = std::move(*next);
        if (Status st = current->Start(); !st.ok()) {
          log::Error("agent: reloaded config failed to start", {{"error", st.ToString()}});
          rt.Shutdown();
        }
      }).join();
      wait_hup();
    });
  };
  wait_hup();
  rt.OnShutdown([&] {
    boost::system::error_code ec;
    hup.cancel(ec);
  });
  rt.Run();
  log::Info("stopped");
  return 0;
}

}  // namespace hakone::app

namespace hakone::app {

Status AddAgentComponent(const Config& cfg, std::vector<std::unique_ptr<Component>>* comps) {
  if (!cfg.HasSection("agent")) return Status::Ok();
  // `store` sinks without `url` write to the in-process store: the store component (started
  // before this one) publishes it in store/local.h, and the sink looks it up at each write.
  auto agent = pipeline::Agent::Make(cfg);
  if (!agent.ok()) return agent.status();
  comps->push_back(std::move(*agent));
  return Status::Ok();
}

}  // namespace hakone::app
