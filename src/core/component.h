// A long-running part of hakone (gateway, store, sessions, agent...) as `hakone serve` sees it:
// built from the configuration, started on the shared Runtime, stopped on shutdown.
#pragma once

#include <string>

#include "core/status.h"

namespace hakone {

class Component {
 public:
  virtual ~Component() = default;
  virtual std::string name() const = 0;
  // Binds listeners and starts background work. Errors name what failed ("gateway: listen on ...").
  virtual Status Start() = 0;
  // Begins a graceful stop: stop accepting, finish in-flight work, flush. Called on the io thread.
  virtual void Stop() = 0;
};

}  // namespace hakone
