// libFuzzer target for hakone sessions' memcached text protocol: the input is what a client
// sends, executed against a real engine (SQLite durable tier in a temporary file) in two pieces
// like socket reads. Nothing may crash, consume more than it was given, or leave a reply that is
// not CRLF-terminated.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "sessions/engine.h"
#include "sessions/memcache.h"

using namespace hakone::sessions;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

Engine* GetEngine() {
  static Engine* e = [] {
    std::string path = "/tmp/hakone-memcache-fuzz-" + std::to_string(getpid()) + ".db";
    auto t = OpenSqliteTier(path);
    Check(t.ok());
    EngineOptions o;
    o.strict = false;
    o.max_memory = 8 << 20;
    auto* eng = new Engine(o, std::move(*t));
    eng->Start();
    return eng;
  }();
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Engine* e = GetEngine();
  MemcacheSession s(*e, 4096);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = size ? data[0] % (size + 1) : 0;
  std::string out;
  bool close = false;
  size_t pos = 0;
  std::lock_guard lk(e->mu());
  for (size_t end : {cut, size}) {
    if (end < pos) continue;
    std::string buf(in.substr(pos, end - pos));  // a fresh buffer per read: views must not outlive it
    size_t used = s.Process(buf, NowMs(), &out, &close);
    Check(used <= buf.size());
    pos += used;
    if (close) break;
  }
  if (!out.empty()) Check(out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0);
  (void)e->SubmitBatch();
  e->Upkeep(NowMs());
  return 0;
}
