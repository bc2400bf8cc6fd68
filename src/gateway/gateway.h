// hakone gateway: a reverse proxy that records one operation event per request.
//
// MakeGateway() reads the [gateway] section (and the root `data_dir`, `instance`, `[auth]`),
// applies command-line overrides, and returns a Component that, when started, runs:
//   - the proxy (src/gateway/proxy.h) on `listen`, forwarding to `upstreams`;
//   - the recorder: identity → event JSON (event.h) → hash chain (audit_chain.h) → spool;
//   - the audit store, which turns spooled events into compressed, queryable blocks;
//   - the sinks listed in [[gateway.sinks]] (PostgreSQL, Elasticsearch _bulk), each reading
//     the spool at its own pace;
//   - the admin listener: /api/audit/search|timeline|who, /metrics, /healthz.
//
// Durability: in "batch" mode an event is durable (fsync'd in the spool) within
// `flush_interval` (default 200 ms) of its response: a crash can lose at most that window. In
// "strict" mode the client does not receive the response's final byte before the event is
// durable; group commit shares one fsync among all requests waiting at that moment.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone::gateway {

// Command-line values; empty / zero means "not given" (the config file or the default applies).
struct GatewayOverrides {
  std::string listen;
  std::vector<std::string> upstreams;
  std::string data_dir;
  std::string admin;
  std::string durability;
  std::string instance;
  int64_t workers = 0;
};

// Validates everything up front: errors name the key ("config: [gateway] durability: ...").
Result<std::unique_ptr<Component>> MakeGateway(Runtime& rt, const Config& cfg, const GatewayOverrides& ov);

}  // namespace hakone::gateway
