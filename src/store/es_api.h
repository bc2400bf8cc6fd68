// The Elasticsearch-compatible HTTP API over the event store, as a Component of `hakone serve`
// (and the whole of `hakone serve --listen ... --data-dir ...` without a config file).
// Endpoints, auth and metrics: docs/es-api.md. Config: the [store] section, docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"
#include "store/event_store.h"

namespace hakone::store {

struct EsToken {
  std::string name;   // the user name for Basic auth, the key id for ApiKey
  std::string token;  // the secret (Basic password, Bearer token, ApiKey key)
  enum class Role { kReader, kWriter, kAdmin } role = EsToken::Role::kReader;
};

struct EsApiOptions {
  std::string listen = "127.0.0.1:9200";
  std::string data_dir = "./hakone-data";  // the store lives in <data_dir>/store
  std::vector<EsToken> tokens;             // none: no auth, and only a loopback listen address
  uint64_t max_body = 1ull << 30;          // request bodies above this get 413
  int threads = 4;                         // threads running store calls (they block on fsync)
  std::string retention_default;           // "30d" etc. applied to new streams ("" = keep)
  std::map<std::string, std::string> retention;  // per stream name (exact) → age
  EventStoreOptions store;                 // store.dir is set from data_dir
};

// Reads the [store] section (absent: defaults). Errors are recorded in the Config (Finish()).
EsApiOptions EsApiOptionsFromConfig(const Config& cfg);

// Builds the component (opens nothing until Start()). Start() errors: InvalidArgument (a
// non-loopback listen address without tokens), Unavailable (the store is locked by another
// process), IOError (cannot listen).
std::unique_ptr<Component> MakeEsApi(Runtime& rt, EsApiOptions opts);

}  // namespace hakone::store
