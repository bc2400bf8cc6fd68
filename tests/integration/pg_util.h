// A throwaway PostgreSQL server for integration tests: initdb into a temporary directory, then
// pg_ctl start on a free loopback port with trust authentication. The server runs as the
// `postgres` OS user (via runuser when the test runs as root), keeps its Unix socket inside the
// temporary directory, and is stopped and deleted by the destructor.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace hakone {

class TestPostgres {
 public:
  // Creates and starts a server (a few seconds). Errors: NotFound when no initdb/pg_ctl exists
  // under /usr/lib/postgresql/*/bin (tests may GTEST_SKIP on that), IOError/Internal with the
  // tool's output otherwise.
  static Result<std::unique_ptr<TestPostgres>> Start();

  ~TestPostgres();  // fast shutdown (if running), then removes the directory
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // "postgresql://postgres@127.0.0.1:<port>/<db>?sslmode=disable"
  std::string url(const std::string& db = "postgres") const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return running_; }

  // pg_ctl stop -m fast (waits until the server is down). Idempotent.
  Status Stop();
  // Starts the same cluster again, on the same port with the same data.
  Status StartAgain();
  // CREATE DATABASE <name> (the name must be a plain identifier).
  Status CreateDatabase(const std::string& name);

 private:
  TestPostgres() = default;
  Status PgCtl(const std::string& action);
  std::string bin_dir_;
  std::string dir_;  // the temp dir: data/, the socket, logs
  int port_ = 0;
  bool running_ = false;
};

}  // namespace hakone
