// `stdout` (JSON lines, for debugging and tests) and `blackhole` (discards; for benchmarks).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "pipeline/component.h"

namespace hakone::pipeline {
namespace {

std::mutex stdout_mu;  // lines of several runners never interleave

struct StdoutSinkConfig : SinkConfig {
  std::string format = "json";  // json (the formatted event) | raw (the message only)
  Status Validate() const override {
    if (format != "json" && format != "raw") return Status::InvalidArgument("format must be json or raw");
    return Status::Ok();
  }
  Result<std::unique_ptr<Sink>> Build(const SinkContext&) const override;
  std::string Describe() const override { return "format=" + format; }
};

class StdoutSink : public Sink {
 public:
  explicit StdoutSink(bool raw) : raw_(raw) {}
  Status Write(std::vector<Event>& batch) override {
    std::string out;
    for (auto& e : batch) {
      if (raw_) out.append(e.message);
      else FormatEventJson(e, &out);
      out.push_back('\n');
    }
    std::lock_guard lk(stdout_mu);
    size_t off = 0;
    while (off < out.size()) {
      ssize_t w = ::write(1, out.data() + off, out.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("stdout", errno);
      }
      off += static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  bool NeedsFields() const override { return !raw_; }
  bool raw_;
};

Result<std::unique_ptr<Sink>> StdoutSinkConfig::Build(const SinkContext&) const {
  return std::unique_ptr<Sink>(new StdoutSink(format == "raw"));
}

struct BlackholeSinkConfig : SinkConfig {
  bool format = false;  // format each event as JSON before discarding it (measures the formatting cost)
  Status Validate() const override { return Status::Ok(); }
  Result<std::unique_ptr<Sink>> Build(const SinkContext&) const override;
};
class BlackholeSink : public Sink {
 public:
  explicit BlackholeSink(bool f) : format_(f) {}
  Status Write(std::vector<Event>& batch) override {
    if (format_) {
      std::string out;
      for (auto& e : batch) {
        out.clear();
        FormatEventJson(e, &out);
      }
    }
    return Status::Ok();
  }
  bool NeedsFields() const override { return format_; }
  bool format_;
};
Result<std::unique_ptr<Sink>> BlackholeSinkConfig::Build(const SinkContext&) const {
  return std::unique_ptr<Sink>(new BlackholeSink(format));
}

}  // namespace

std::unique_ptr<SinkConfig> ReadStdoutSink(const ConfigSection& s) {
  auto c = std::make_unique<StdoutSinkConfig>();
  c->format = s.String("format", c->format);
  return c;
}
std::unique_ptr<SinkConfig> ReadBlackholeSink(const ConfigSection& s) {
  auto c = std::make_unique<BlackholeSinkConfig>();
  c->format = s.Bool("format", false);
  return c;
}

}  // namespace hakone::pipeline
