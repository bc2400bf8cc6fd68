#include "core/metrics.h"

#include <cmath>
#include <cstdio>

namespace hakone::metrics {

void Gauge::Add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Buckets() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry& Registry::Global() {
  static Registry* r = new Registry();
  return *r;
}

Family<Counter>* Registry::AddCounter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lk(mu_);
  auto& slot = counters_[name];
  if (!slot) slot = std::make_unique<Family<Counter>>(name, help, std::move(labels));
  return slot.get();
}
Family<Gauge>* Registry::AddGauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lk(mu_);
  auto& slot = gauges_[name];
  if (!slot) slot = std::make_unique<Family<Gauge>>(name, help, std::move(labels));
  return slot.get();
}
Family<Histogram>* Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lk(mu_);
  auto& slot = histograms_[name];
  if (!slot) slot = std::make_unique<Family<Histogram>>(name, help, std::move(labels), std::move(bounds));
  return slot.get();
}

namespace {
void AppendEscapedLabel(std::string& out, const std::string& v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string& extra_name = "", const std::string& extra_value = "") {
  if (names.empty() && extra_name.empty()) return "";
  std::string s = "{";
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) s += ',';
    first = false;
    s += names[i];
    s += "=\"";
    AppendEscapedLabel(s, values[i]);
    s += '"';
  }
  if (!extra_name.empty()) {
    if (!first) s += ',';
    s += extra_name + "=\"" + extra_value + "\"";
  }
  s += '}';
  return s;
}
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

std::string Registry::Render() const {
  std::lock_guard lk(mu_);
  std::string out;
  for (auto& kv : counters_) {
    const std::string& name = kv.first;
    const auto& f = kv.second;
    out += "# HELP " + name + " " + f->help() + "\n# TYPE " + name + " counter\n";
    f->ForEach([&](const std::vector<std::string>& lv, const Counter& c) {
      out += name + Labels(f->label_names(), lv) + " " + std::to_string(c.Value()) + "\n";
    });
  }
  for (auto& kv : gauges_) {
    const std::string& name = kv.first;
    const auto& f = kv.second;
    out += "# HELP " + name + " " + f->help() + "\n# TYPE " + name + " gauge\n";
    f->ForEach([&](const std::vector<std::string>& lv, const Gauge& g) {
      out += name + Labels(f->label_names(), lv) + " " + Num(g.Value()) + "\n";
    });
  }
  for (auto& kv : histograms_) {
    const std::string& name = kv.first;
    const auto& f = kv.second;
    out += "# HELP " + name + " " + f->help() + "\n# TYPE " + name + " histogram\n";
    f->ForEach([&](const std::vector<std::string>& lv, const Histogram& h) {
      auto b = h.Buckets();
      for (size_t i = 0; i < h.bounds().size(); ++i) {
        out += name + "_bucket" + Labels(f->label_names(), lv, "le", Num(h.bounds()[i])) + " " + std::to_string(b[i]) + "\n";
      }
      out += name + "_bucket" + Labels(f->label_names(), lv, "le", "+Inf") + " " + std::to_string(b.back()) + "\n";
      out += name + "_sum" + Labels(f->label_names(), lv) + " " + Num(h.Sum()) + "\n";
      out += name + "_count" + Labels(f->label_names(), lv) + " " + std::to_string(h.Count()) + "\n";
    });
  }
  return out;
}

}  // namespace hakone::metrics
