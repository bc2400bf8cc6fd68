// A small recruiting web app — candidates, companies, jobs and a login form — used as the
// upstream in the demo, the integration tests and the benchmark. In memory; not for production.
#pragma once

#include <memory>
#include <string>

#include "core/component.h"
#include "core/runtime.h"

namespace hakone::demo {

// Serves on `listen` once started. Routes:
//   GET /  /healthz  /assets/app.css  /login (form)  POST /login (sets a session cookie)
//   GET|POST /candidates   GET|PUT|DELETE /candidates/{id}   GET /jobs  /jobs/{id}  /companies
Result<std::unique_ptr<Component>> MakeSampleApp(Runtime& rt, const std::string& listen);

}  // namespace hakone::demo
