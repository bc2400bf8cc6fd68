// Helpers shared by the event store's unit tests (not part of the library): a temporary
// directory, store options with small blocks, and write/open shortcuts that fail the test.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/event_store.h"

namespace hakone::store::testutil {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hakone_store_test_XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path_, ec); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline EventStoreOptions Opts(const std::string& dir, size_t block_events = 64) {
  EventStoreOptions o;
  o.dir = dir;
  o.refresh_interval = std::chrono::milliseconds(100);
  o.block_max_events = block_events;
  return o;
}

inline std::unique_ptr<EventStore> MustOpen(const EventStoreOptions& o) {
  auto r = EventStore::Open(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

inline WriteItem Doc(const std::string& stream, const std::string& json, std::optional<std::string> id = std::nullopt) {
  WriteItem w;
  w.stream = stream;
  w.source_json = json;
  w.id = std::move(id);
  return w;
}

inline void MustWrite(EventStore& s, const std::vector<WriteItem>& items, bool refresh = true) {
  std::vector<WriteResult> res;
  ASSERT_TRUE(s.Write(items, &res, refresh).ok());
  for (const auto& r : res) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
}

// A segment file (.hkv) of `stream` in the store at `dir` (the last listed), "" if none.
inline std::string SegmentFile(const std::string& dir, const std::string& stream) {
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/streams/" + stream))
    if (e.path().extension() == ".hkv") seg = e.path().string();
  return seg;
}

inline QueryPtr Q(Query q) { return std::make_shared<const Query>(std::move(q)); }

}  // namespace hakone::store::testutil
