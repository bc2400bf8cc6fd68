// The process-wide in-process event store: whoever opens the EventStore in this process (the
// store component of `hakone serve`, the demo) publishes it here, and in-process writers (the
// agent's `store` sink without `url`, the crawler's store output) find it here, so that a
// monolithic process writes to its own store directly instead of `_bulk` over HTTP to itself.
#pragma once

namespace hakone::store {

class EventStore;

// Publishes `s` as this process's store (nullptr: withdraws it, e.g. before Close()). The
// pointer is not owned; the publisher keeps it alive until it withdraws it. Thread safe.
void SetProcessStore(EventStore* s);

// The published store, or nullptr when none is open in this process. Thread safe. Callers use
// the pointer for one call at a time and look it up again for the next (the store may be
// withdrawn at shutdown).
EventStore* ProcessStore();

}  // namespace hakone::store
