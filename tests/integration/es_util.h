// Helpers for the Elasticsearch-compatible API tests: a `hakone serve` child on a free port and
// a small JSON-over-HTTP caller.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "process_util.h"

namespace hakone::testing {

// One gzip member of `in` (Content-Encoding: gzip request bodies).
std::string Gzip(const std::string& in);

struct EsReply {
  int status = 0;  // 0: transport error
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  boost::json::value json;  // null unless the body is JSON
  std::string Header(const std::string& name) const;
};

// `hakone serve --listen 127.0.0.1:PORT --data-dir DIR` (plus extra args), restartable.
class EsServer {
 public:
  // data_dir "" → a fresh temp dir (removed on destruction).
  explicit EsServer(std::string data_dir = "", std::vector<std::string> extra_args = {},
                    std::vector<std::string> wrapper = {});
  ~EsServer();
  bool Start();     // waits until the port accepts
  void Kill9();     // SIGKILL and reap
  bool Stop();      // SIGTERM, wait; true on exit code 0
  int port() const { return port_; }
  int pid() const { return proc_ ? proc_->pid() : -1; }
  const std::string& data_dir() const { return data_dir_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return proc_ ? proc_->Log() : ""; }
  bool Running() { return proc_ && proc_->Running(); }

  EsReply Call(const std::string& method, const std::string& target, const std::string& body = "",
               std::vector<std::pair<std::string, std::string>> headers = {}, int timeout_s = 60);

 private:
  std::string data_dir_, log_;
  bool own_dir_ = false;
  int port_;
  std::vector<std::string> extra_, wrapper_;
  std::unique_ptr<Process> proc_;
  int starts_ = 0;
};

}  // namespace hakone::testing
