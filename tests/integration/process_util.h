// Helpers for integration tests: child processes, free ports, temp dirs, raw HTTP.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace hakone::testing {

// A child process whose stdout+stderr go to a log file. Killed (SIGKILL) on destruction.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  int pid() const { return pid_; }
  // Sends `sig`; Wait() reaps and returns the exit code (128+signal when killed).
  void Signal(int sig);
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool Running();
  std::string Log() const;

 private:
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

// Runs a command to completion; returns exit code, stdout in *out (stderr appended if err_too).
int RunCommand(const std::vector<std::string>& argv, std::string* out, bool err_too = false,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

int FreePort();
std::string MakeTempDir(const std::string& prefix = "hakone-it");
void RemoveTree(const std::string& path);
// Waits until something accepts on 127.0.0.1:port.
bool WaitForPort(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
// Sends raw bytes to 127.0.0.1:port and reads until the peer closes or `timeout` (returns all).
std::string RawExchange(int port, const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// One HTTP/1.1 request on a fresh connection (Connection: close); returns status (0 on error), body in *body.
int HttpCall(int port, const std::string& method, const std::string& target,
             const std::map<std::string, std::string>& headers = {}, const std::string& body = "",
             std::string* response_body = nullptr);
// Every file under `dir` (recursive), concatenated bytes per path.
std::map<std::string, std::string> ReadTree(const std::string& dir);

}  // namespace hakone::testing
