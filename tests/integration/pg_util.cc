#include "pg_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/pg.h"

extern char** environ;

namespace hakone {
namespace {

namespace fs = std::filesystem;

std::string Tail(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max) s = "..." + s.substr(s.size() - max);
  return s;
}

// Runs argv (as the postgres user when we are root), output appended to `log_path`.
Status Run(std::vector<std::string> argv, const std::string& log_path) {
  if (geteuid() == 0) {
    argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  }
  std::string cmdline;
  for (const auto& a : argv) cmdline += (cmdline.empty() ? "" : " ") + a;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status::FromErrno("spawn " + cmdline, rc);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid " + cmdline, errno);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Internal(cmdline + " failed (status " + std::to_string(status) + "): " + Tail(log_path, 3000));
  }
  return Status::Ok();
}

Result<int> FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno("bind 127.0.0.1:0", e);
  }
  ::close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

Result<std::string> FindBinDir() {
  if (const char* env = std::getenv("HAKONE_PG_BIN")) return std::string(env);
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    fs::path bin = e.path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) continue;
    int v = std::atoi(e.path().filename().c_str());
    if (v > best_version) {
      best_version = v;
      best = bin.string();
    }
  }
  if (best.empty()) return Status::NotFound("no initdb/pg_ctl under /usr/lib/postgresql/*/bin");
  return best;
}

}  // namespace

Result<std::unique_ptr<TestPostgres>> TestPostgres::Start() {
  HAKONE_ASSIGN_OR_RETURN(std::string bin, FindBinDir());
  std::unique_ptr<TestPostgres> pg(new TestPostgres());
  pg->bin_dir_ = bin;
  // /tmp rather than $TMPDIR: the postgres user must be able to reach the directory.
  char tmpl[] = "/tmp/hakone-pg-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::FromErrno("mkdtemp", errno);
  pg->dir_ = tmpl;
  if (geteuid() == 0) {
    struct passwd* pw = getpwnam("postgres");
    if (!pw) return Status::NotFound("no 'postgres' OS user to run the server as");
    if (chown(tmpl, pw->pw_uid, pw->pw_gid) != 0) return Status::FromErrno(std::string("chown ") + tmpl, errno);
  }
  HAKONE_ASSIGN_OR_RETURN(pg->port_, FreeLoopbackPort());
  HAKONE_RETURN_IF_ERROR(Run({bin + "/initdb", "-D", pg->dir_ + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
                              "--no-locale", "--no-sync"},
                             pg->dir_ + "/tool.log"));
  HAKONE_RETURN_IF_ERROR(pg->PgCtl("start"));
  pg->running_ = true;
  return pg;
}

TestPostgres::~TestPostgres() {
  if (dir_.empty()) return;
  if (running_) {
    if (!Stop().ok()) {
      Status ignored = Run({bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}, dir_ + "/tool.log");
      (void)ignored;
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string TestPostgres::url(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db + "?sslmode=disable";
}

Status TestPostgres::PgCtl(const std::string& action) {
  std::vector<std::string> argv = {bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "60"};
  if (action == "start") {
    argv.insert(argv.end(), {"-l", dir_ + "/postgres.log", "-o",
                             "-p " + std::to_string(port_) + " -k " + dir_ +
                                 " -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB"});
  } else if (action == "stop") {
    argv.insert(argv.end(), {"-m", "fast"});
  }
  argv.push_back(action);
  Status s = Run(argv, dir_ + "/tool.log");
  if (!s.ok() && action == "start") {
    return Status(s.code(), s.message() + "; server log: " + Tail(dir_ + "/postgres.log", 2000));
  }
  return s;
}

Status TestPostgres::Stop() {
  if (!running_) return Status::Ok();
  HAKONE_RETURN_IF_ERROR(PgCtl("stop"));
  running_ = false;
  return Status::Ok();
}

Status TestPostgres::StartAgain() {
  if (running_) return Status::Ok();
  HAKONE_RETURN_IF_ERROR(PgCtl("start"));
  running_ = true;
  return Status::Ok();
}

Status TestPostgres::CreateDatabase(const std::string& name) {
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return Status::InvalidArgument("bad database name '" + name + "'");
    }
  }
  HAKONE_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(url()));
  return conn.Exec("CREATE DATABASE " + name);
}

}  // namespace hakone
