// Subcommand entry points. Each takes argv with argv[0] = the subcommand's name and returns the
// process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

namespace hakone::app {

int RunServe(int argc, char** argv);
int RunGateway(int argc, char** argv);
int RunAudit(int argc, char** argv);
int RunSampleApp(int argc, char** argv);
int RunDemo(int argc, char** argv);

}  // namespace hakone::app
