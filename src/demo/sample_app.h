// A small recruiting web app — candidates, companies, jobs and a login form — used as the
// upstream in the demo, the integration tests and the benchmark. In memory; not for production.
#pragma once

#include <memory>
#include <string>

#include "core/component.h"
#include "core/runtime.h"

namespace hakone::demo {

struct SampleAppOptions {
  std::string listen = "127.0.0.1:9000";
  // The environment this instance plays (dev, stage, prod): in its log lines.
  std::string env = "prod";
  // Appends one JSON line per request here ({"@timestamp","level","service","env","method",
  // "path","status","ms","user","message"}); "" = no log file. The directory must exist.
  std::string log_path;
  // redis://host:port of a Redis-protocol session store (hakone sessions): POST /login stores
  // the session as `sess:<id>` = {"user":{"id":..}} with a one-hour TTL, requests carrying the
  // PLAY_SESSION cookie are attributed to its user, POST /logout deletes it. "" = the cookie is
  // only a name (no store).
  std::string sessions;
};

// Serves on options.listen once started. Routes:
//   GET /  /healthz  /assets/app.css  /login (form)  POST /login (sets a session cookie; a
//   password under 8 characters is refused with 401)  POST /logout
//   GET|POST /candidates   GET|PUT|DELETE /candidates/{id}   GET /jobs  /jobs/{id}  /companies
//   GET /reports (every 4th call fails with 500: the report database "times out")
// Errors: InvalidArgument for a bad listen address or sessions URL, IOError when the log file
// cannot be opened.
Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const SampleAppOptions& options);
Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const std::string& listen);

}  // namespace hakone::demo
