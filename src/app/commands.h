// Subcommand entry points. Each takes argv with argv[0] = the subcommand's name and returns the
// process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"

namespace hakone::app {

int RunServe(int argc, char** argv);
int RunGateway(int argc, char** argv);
int RunAudit(int argc, char** argv);
int RunSampleApp(int argc, char** argv);
int RunDemo(int argc, char** argv);
int RunAgent(int argc, char** argv);  // cmd_agent.cc
// cmd_agent.cc: adds the log agent to `hakone serve` when the config has an [agent] section.
Status AddAgentComponent(const Config& cfg, std::vector<std::unique_ptr<Component>>* comps);

// cmd_store.cc: the store + Elasticsearch-compatible API for `hakone serve` (added when the
// config has [store], when --listen/--data-dir are given, or when there is no config at all).
struct StoreServeFlags {
  std::string listen, data_dir;
};
Status AddStoreComponent(Runtime& rt, const Config& cfg, bool no_config, const StoreServeFlags& flags,
                         std::vector<std::unique_ptr<Component>>* comps);
int RunSearch(int argc, char** argv);  // hakone search reindex
int RunLogs(int argc, char** argv);    // hakone logs search|tail
// cmd_sessions.cc: `hakone sessions`, and the sessions component for `hakone serve` ([sessions]).
int RunSessions(int argc, char** argv);
Status AddSessionsComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps);
// cmd_graph.cc: `hakone graph`, and the graph API component for `hakone serve` ([graph]).
int RunGraph(int argc, char** argv);
int RunCrawl(int argc, char** argv);  // cmd_crawl.cc: `hakone crawl`
// The graph mapping of `hakone graph sample`'s database at db_path (TOML, from the source line on).
std::string GraphSampleMapping(std::string_view db_path);
// s with `"` and `\` escaped for a TOML basic string.
std::string TomlEscape(std::string_view s);
Status AddGraphComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps);

// cmd_console.cc: `hakone console`, and the web console for `hakone serve` ([console]).
int RunConsole(int argc, char** argv);
Status AddConsoleComponent(Runtime& rt, const Config& cfg, std::vector<std::unique_ptr<Component>>* comps);

}  // namespace hakone::app
