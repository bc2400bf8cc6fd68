#include "es_util.h"

#include <cstdlib>

#include <signal.h>
#include <strings.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/http_client.h"

namespace hakone::testing {

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string EsReply::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

EsServer::EsServer(std::string data_dir, std::vector<std::string> extra_args, std::vector<std::string> wrapper)
    : data_dir_(std::move(data_dir)), extra_(std::move(extra_args)), wrapper_(std::move(wrapper)) {
  if (data_dir_.empty()) {
    data_dir_ = MakeTempDir("hakone-es");
    own_dir_ = true;
  }
  port_ = FreePort();
}

EsServer::~EsServer() {
  proc_.reset();
  if (own_dir_) RemoveTree(data_dir_);
}

bool EsServer::Start() {
  std::vector<std::string> argv = wrapper_;
  // HAKONE_TEST_BINARY: run another build of hakone (e.g. a frozen copy for a long stress loop).
  const char* bin_env = std::getenv("HAKONE_TEST_BINARY");
  std::string bin = bin_env && *bin_env ? bin_env : HAKONE_BINARY;
  for (const std::string& a : std::vector<std::string>{bin, "serve", "--listen", "127.0.0.1:" + std::to_string(port_),
                                                      "--data-dir", data_dir_ + "/data"}) {
    argv.push_back(a);
  }
  for (const auto& a : extra_) argv.push_back(a);
  static std::atomic<int> seq{0};
  log_ = data_dir_ + "/serve." + std::to_string(port_) + "." + std::to_string(seq++) + ".log";
  proc_ = std::make_unique<Process>(argv, log_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!proc_->Running()) return false;
    if (WaitForPort(port_, std::chrono::milliseconds(200))) {
      EsReply r = Call("GET", "/");
      if (r.status != 0) return true;
    }
  }
  return false;
}

void EsServer::Kill9() {
  if (!proc_) return;
  proc_->Signal(SIGKILL);
  proc_->Wait();
}

bool EsServer::Stop() {
  if (!proc_) return true;
  proc_->Signal(SIGTERM);
  return proc_->Wait(std::chrono::seconds(30)) == 0;
}

EsReply EsServer::Call(const std::string& method, const std::string& target, const std::string& body,
                       std::vector<std::pair<std::string, std::string>> headers, int timeout_s) {
  bool has_ct = false;
  for (const auto& [k, v] : headers) has_ct = has_ct || strcasecmp(k.c_str(), "Content-Type") == 0;
  if (!body.empty() && !has_ct) {
    headers.emplace_back("Content-Type", target.find("_bulk") != std::string::npos || target.find("_msearch") != std::string::npos
                                             ? "application/x-ndjson"
                                             : "application/json");
  }
  EsReply out;
  auto r = HttpFetch(method, url() + target, headers, body, std::chrono::seconds(timeout_s));
  if (!r.ok()) {
    out.body = r.status().ToString();
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.headers = r->headers;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(out.body, ec);
  if (!ec) out.json = std::move(v);
  return out;
}

}  // namespace hakone::testing
