// The gateway's admin listener: /healthz, /metrics and the operation log over HTTP
// (/api/audit/search, /api/audit/timeline, /api/audit/who, /api/audit/verify).
//
// The operation log holds personal data. Without API tokens ([auth] tokens) the listener only
// binds loopback addresses; with tokens every /api/ call needs `Authorization: Bearer <token>`.
// Every query of the log is itself recorded in <data_dir>/audit/queries.jsonl with the caller
// (the token's name, or "loopback:<ip>").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/runtime.h"
#include "core/status.h"

namespace hakone::store {
class AuditStore;
}

namespace hakone::gateway {

struct AdminToken {
  std::string name;
  std::string token;
  std::string role = "reader";  // reader | writer | admin
};
struct AdminAuth {
  std::vector<AdminToken> tokens;
};

// Reads [auth] tokens = [{ name, token_file | token, role }]. Errors name the key.
Result<AdminAuth> LoadAdminAuth(const ConfigSection& auth);

class AdminApi {
 public:
  // `store` must outlive the API (call Stop() first).
  AdminApi(asio::io_context& io, store::AuditStore* store, std::string data_dir, AdminAuth auth);
  ~AdminApi();
  // Binds `listen`. InvalidArgument when it is not a loopback address and no token is configured.
  Status Start(const std::string& listen);
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hakone::gateway
