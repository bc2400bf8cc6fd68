// The demo's traffic: recruiters and candidates using the sample app — logging in (sessions in
// hakone sessions), browsing candidates and jobs, moving candidates through stages, applying,
// running reports, mistyping passwords — through the gateway (prod) and directly against the dev
// and stage instances. Gentle: `rate` requests per second in all.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace hakone::demo {

struct TrafficTarget {
  std::string env;   // "prod", "stage", "dev"
  std::string addr;  // host:port to send to (the gateway for prod)
};

struct TrafficOptions {
  std::vector<TrafficTarget> targets;
  double rate = 2.0;  // requests per second, all targets together
  bool verbose = false;  // print each request of the first round
};

class TrafficGenerator {
 public:
  explicit TrafficGenerator(TrafficOptions o);
  ~TrafficGenerator();
  // Sends one scripted round (every persona, every target) now, then keeps going in the
  // background at the configured rate until Stop().
  void Start();
  // Blocks until the first round has been sent.
  void WaitFirstRound();
  void Stop();
  int64_t sent() const { return sent_.load(); }
  int64_t answered() const { return answered_.load(); }

 private:
  void Run();
  TrafficOptions o_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> first_round_done_{false};
  std::atomic<int64_t> sent_{0}, answered_{0};
};

}  // namespace hakone::demo
