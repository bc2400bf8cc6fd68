// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4) for /metrics.
//
// Families are created once (usually at start-up) and live for the process; the pointer a
// family's WithLabels() returns stays valid, so hot paths keep it and update it lock-free.
// Thread safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hakone::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf.
  std::vector<uint64_t> Buckets() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Seconds buckets from 100us to 10s.
std::vector<double> LatencyBuckets();

template <typename M>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  // Returns the series for these label values (in label_names order), creating it once.
  M* WithLabels(const std::vector<std::string>& values);
  M* Get() { return WithLabels({}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename F>
  void ForEach(F f) const {
    std::lock_guard lk(mu_);
    for (auto& [k, v] : series_) f(k, *v);
  }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

class Registry {
 public:
  // The process-wide registry served at /metrics.
  static Registry& Global();
  // Re-registering a name returns the existing family (same type required).
  Family<Counter>* AddCounter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Gauge>* AddGauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Histogram>* AddHistogram(const std::string& name, const std::string& help, std::vector<std::string> labels = {},
                                  std::vector<double> bounds = LatencyBuckets());
  // The text exposition format.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
};

template <typename M>
M* Family<M>::WithLabels(const std::vector<std::string>& values) {
  std::lock_guard lk(mu_);
  auto it = series_.find(values);
  if (it != series_.end()) return it->second.get();
  std::unique_ptr<M> m;
  if constexpr (std::is_same_v<M, Histogram>) {
    m = std::make_unique<M>(bounds_);
  } else {
    m = std::make_unique<M>();
  }
  M* raw = m.get();
  series_.emplace(values, std::move(m));
  return raw;
}

}  // namespace hakone::metrics
