#include "store/local.h"

#include <atomic>

namespace hakone::store {
namespace {
std::atomic<EventStore*> g_process_store{nullptr};
}  // namespace

void SetProcessStore(EventStore* s) { g_process_store.store(s, std::memory_order_release); }
EventStore* ProcessStore() { return g_process_store.load(std::memory_order_acquire); }

}  // namespace hakone::store
