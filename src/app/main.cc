// hakone: one binary, one subcommand per component. This file only dispatches.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "app/commands.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

const Command kCommands[] = {
    {"serve", "run every component present in the config file in one process", hakone::app::RunServe},
    {"gateway", "reverse proxy that records who did what, when and from where", hakone::app::RunGateway},
    {"audit", "search, verify and export the operation log (verify|search|timeline|who|export-key)",
     hakone::app::RunAudit},
    {"sample-app", "a small recruiting web app to put behind the gateway (for demos and tests)",
     hakone::app::RunSampleApp},
    {"demo", "run the gateway in front of the sample app, send traffic, show the operation log",
     hakone::app::RunDemo},
    {"agent", "collect logs per environment: sources -> transforms -> durable spool -> sinks", hakone::app::RunAgent},
    {"search", "search tools: reindex (copy indices between Elasticsearch-compatible endpoints)", hakone::app::RunSearch},
    {"logs", "search and tail events in the store from the command line (search|tail)", hakone::app::RunLogs},
    {"sessions", "Redis/memcached-protocol session store: cache tier + durable tier", hakone::app::RunSessions},
    {"console", "the web console at /ui/: operation log, logs, alerts, graph, crawler, sessions", hakone::app::RunConsole},
    {"graph", "people-companies graph: sample|build|query|serve|run|recommend|export|verify", hakone::app::RunGraph},
    {"crawl", "polite, resumable crawler that extracts JobPostings (scheduled batch job)", hakone::app::RunCrawl},
};

void PrintHelp() {
  std::printf(
      "hakone %s — the operations backbone of a recruiting SaaS\n\n"
      "Usage: hakone <command> [flags]   (hakone <command> --help for a command's flags)\n\nCommands:\n",
      HAKONE_VERSION);
  for (const auto& c : kCommands) std::printf("  %-12s %s\n", c.name, c.summary);
  std::printf(
      "\nGlobal flags:\n  --version    print the version\n  --help       show this help\n\n"
      "Docs: README.md and docs/ in the source tree.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintHelp();
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--version" || cmd == "version" || cmd == "-V") {
    std::printf("hakone %s\n", HAKONE_VERSION);
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintHelp();
    return 0;
  }
  for (const auto& c : kCommands) {
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "hakone: unknown command '%s'\nRun 'hakone --help' for the list of commands.\n",
               std::string(cmd).c_str());
  return 2;
}
