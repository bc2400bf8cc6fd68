// Crash safety of the Elasticsearch-compatible API: kill -9 of `hakone serve` in the middle of
// concurrent _bulk loads loses nothing that was acknowledged (200 with a 201 item), and a full
// disk (RLIMIT_FSIZE: writes fail with EFBIG) gives clear errors and still loses nothing that
// was acknowledged.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <set>
#include <thread>

#include "es_util.h"

namespace hakone::testing {
namespace {
namespace json = boost::json;

// Loads `threads` concurrent bulk streams with unique ids until `stop`; collects acknowledged ids.
struct Loader {
  std::mutex mu;
  std::set<std::string> acked;
  std::vector<std::string> errors;
  std::vector<std::string> protocol_errors;  // a 200 bulk response that does not account for every action
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};

  void Run(EsServer& es, int threads, int round) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
      ts.emplace_back([&, t] {
        for (int b = 0; !stop; b++) {
          std::string body;
          std::vector<std::string> ids;
          for (int i = 0; i < 100; i++) {
            std::string id = "r" + std::to_string(round) + "t" + std::to_string(t) + "b" + std::to_string(b) + "i" + std::to_string(i);
            ids.push_back(id);
            body += "{\"index\":{\"_index\":\"crash\",\"_id\":\"" + id + "\"}}\n{\"msg\":\"payload " + id +
                    " 東京 connection\",\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(200 + i, 'x') + "\"}\n";
          }
          EsReply r = es.Call("POST", "/_bulk", body, {}, 10);
          requests++;
          if (r.status != 200 || !r.json.is_object()) {
            std::lock_guard lk(mu);
            errors.push_back(std::to_string(r.status) + " " + r.body.substr(0, 300));
            if (r.status == 0) return;  // the server is gone
            continue;
          }
          // Acknowledged: exactly the items whose own result is 201/200 for the id we sent.
          const auto* items = r.json.as_object().if_contains("items");
          std::lock_guard lk(mu);
          if (!items || !items->is_array() || items->as_array().size() != ids.size()) {
            protocol_errors.push_back("bulk response without one item per action: " + r.body.substr(0, 300));
            continue;
          }
          for (size_t i = 0; i < ids.size(); i++) {
            const auto* o = items->as_array()[i].as_object().if_contains("index");
            if (!o || !o->is_object() || !o->as_object().contains("status") || !o->as_object().contains("_id")) {
              protocol_errors.push_back("malformed bulk item: " + json::serialize(items->as_array()[i]).substr(0, 300));
              continue;
            }
            int st = o->as_object().at("status").to_number<int>();
            if ((st == 200 || st == 201) && o->as_object().at("_id").is_string() && o->as_object().at("_id").as_string() == ids[i]) acked.insert(ids[i]);
            else if (st == 200 || st == 201) protocol_errors.push_back("item for another id: " + json::serialize(*o).substr(0, 300));
            else errors.push_back(json::serialize(*o).substr(0, 300));
          }
        }
      });
    }
    for (auto& t : ts) t.join();
  }
};

// Every id in `ids` is searchable (after a refresh): one scan of the index with search_after.
void ExpectAllPresent(EsServer& es, const std::set<std::string>& ids) {
  ASSERT_EQ(es.Call("POST", "/crash/_refresh").status, 200);
  std::set<std::string> present;
  json::value after;
  for (int page = 0; page < 1000; page++) {
    json::object q{{"size", 10000}, {"_source", false}, {"sort", json::array{json::object{{"_doc", "asc"}}}}, {"track_total_hits", false}};
    if (!after.is_null()) q["search_after"] = after;
    EsReply r = es.Call("POST", "/crash/_search", json::serialize(q), {}, 300);  // slow on a loaded machine
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    const auto& hits = r.json.at_pointer("/hits/hits").as_array();
    if (hits.empty()) break;
    for (const auto& h : hits) present.insert(std::string(h.at("_id").as_string()));
    after = hits.back().at("sort");
  }
  std::vector<std::string> missing;
  std::set_difference(ids.begin(), ids.end(), present.begin(), present.end(), std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << "acknowledged documents missing from a full scan: " << missing.size() << " of " << ids.size() << ", e.g. " << missing[0];
  // Each acknowledged id by id (an ids query, 1000 at a time), with its own source.
  std::vector<std::string> lost;
  std::vector<std::string> all(ids.begin(), ids.end());
  // In write order (r<round>t<thread>b<batch>i<item>), so that each ids query touches few blocks.
  auto key = [](const std::string& id) {
    std::vector<long> k;
    for (size_t p = 0; p < id.size();) {
      if (std::isdigit(static_cast<unsigned char>(id[p]))) {
        size_t e = p;
        while (e < id.size() && std::isdigit(static_cast<unsigned char>(id[e]))) e++;
        k.push_back(std::stol(id.substr(p, e - p)));
        p = e;
      } else {
        p++;
      }
    }
    return k;
  };
  std::sort(all.begin(), all.end(), [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
  for (size_t i = 0; i < all.size(); i += 1000) {
    json::array values;
    for (size_t k = i; k < std::min(all.size(), i + 1000); k++) values.push_back(json::value(all[k]));
    json::object q{{"size", 1000}, {"query", json::object{{"ids", json::object{{"values", values}}}}}, {"_source", json::array{"msg"}}};
    EsReply r = es.Call("POST", "/crash/_search", json::serialize(q), {}, 300);
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    std::set<std::string> got;
    for (const auto& h : r.json.at_pointer("/hits/hits").as_array()) {
      std::string id(h.at("_id").as_string());
      std::string msg(h.at_pointer("/_source/msg").as_string());
      EXPECT_EQ(msg, "payload " + id + " 東京 connection");
      got.insert(id);
    }
    for (size_t k = i; k < std::min(all.size(), i + 1000); k++)
      if (!got.count(all[k])) lost.push_back(all[k]);
  }
  EXPECT_TRUE(lost.empty()) << "acknowledged documents lost: " << lost.size() << " of " << ids.size() << ", e.g. " << lost[0];
  // And by real-time GET for a sample.
  std::vector<std::string> v(ids.begin(), ids.end());
  size_t step = std::max<size_t>(1, v.size() / 20);
  for (size_t i = 0; i < v.size(); i += step) {
    EsReply g = es.Call("GET", "/crash/_doc/" + v[i]);
    EXPECT_EQ(g.status, 200) << v[i] << " " << g.body;
  }
}

TEST(EsDurability, KillNineDuringBulkLosesNothingAcknowledged) {
  std::string dir = MakeTempDir("hakone-es-kill");
  std::set<std::string> all_acked;
  for (int round = 0; round < 3; round++) {
    EsServer es(dir);
    ASSERT_TRUE(es.Start()) << es.Log();
    Loader l;
    std::thread load([&] { l.Run(es, 2, round); });
    std::this_thread::sleep_for(std::chrono::milliseconds(600 + round * 200));
    es.Kill9();
    l.stop = true;
    load.join();
    ASSERT_GT(l.acked.size(), 0u) << "nothing was acknowledged before the kill: " << (l.errors.empty() ? "" : l.errors[0]);
    EXPECT_TRUE(l.protocol_errors.empty()) << l.protocol_errors[0];
    all_acked.insert(l.acked.begin(), l.acked.end());
    // Restart on the same data: everything acknowledged in every round so far is there.
    auto t0 = std::chrono::steady_clock::now();
    auto secs = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    EsServer again(dir);
    ASSERT_TRUE(again.Start()) << again.Log();
    std::printf("round %d: %zu acknowledged in %d requests; restart took %.2fs\n", round, l.acked.size(), l.requests.load(), secs());
    SCOPED_TRACE("round " + std::to_string(round) + ", " + std::to_string(all_acked.size()) + " acknowledged so far");
    ExpectAllPresent(again, all_acked);
    std::printf("round %d: checked %zu documents after %.2fs\n", round, all_acked.size(), secs());
    EsReply c = again.Call("GET", "/crash/_count");
    EXPECT_GE(c.json.at("count").to_number<size_t>(), all_acked.size());
    ASSERT_TRUE(again.Stop()) << again.Log();
    std::printf("round %d: stopped after %.2fs\n", round, secs());
  }
  RemoveTree(dir);
}

TEST(EsDurability, DiskFullGivesClearErrorsAndLosesNothingAcknowledged) {
  std::string dir = MakeTempDir("hakone-es-full");
  Loader l;
  {
    // RLIMIT_FSIZE of 2 MiB per file, SIGXFSZ ignored: writes past it fail with EFBIG, as on a full
    // disk (the write-ahead log, ids.log or a segment reaches it first).
    EsServer es(dir, {}, {"/bin/bash", "-c", "trap '' XFSZ; ulimit -f 2048; exec \"$0\" \"$@\""});
    ASSERT_TRUE(es.Start()) << es.Log();
    std::thread load([&] { l.Run(es, 2, 9); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::lock_guard lk(l.mu);
      if (l.errors.size() >= 5) break;
    }
    l.stop = true;
    load.join();
    {
      std::lock_guard lk(l.mu);
      ASSERT_FALSE(l.errors.empty()) << "no write ever failed under a 2 MiB file size limit (" << l.acked.size() << " acked)";
      bool clear = false;
      for (const auto& e : l.errors) {
        if (e.find("File too large") != std::string::npos || e.find("No space") != std::string::npos ||
            e.find("space") != std::string::npos || e.find("full") != std::string::npos || e.find("EFBIG") != std::string::npos ||
            e.find("too large") != std::string::npos) {
          clear = true;
        }
      }
      EXPECT_TRUE(clear) << "errors do not say what is wrong, e.g.: " << l.errors[0];
      EXPECT_TRUE(es.Running()) << "the server died on a full disk:\n" << es.Log();
      EXPECT_TRUE(l.protocol_errors.empty()) << l.protocol_errors[0];
    }
    es.Kill9();
  }
  // Restart without the limit: everything acknowledged is there.
  EsServer again(dir);
  ASSERT_TRUE(again.Start()) << again.Log();
  if (!l.acked.empty()) ExpectAllPresent(again, l.acked);
  ASSERT_TRUE(again.Stop());
  RemoveTree(dir);
}

// A real full filesystem: a 4 MiB tmpfs under the data directory (needs CAP_SYS_ADMIN, as root in
// CI containers; skipped with the reason otherwise). Writes fail with "No space left on device"
// per item, the server keeps running, and once space frees (the tmpfs is grown in place) writes
// succeed again without a restart. After a kill -9, everything acknowledged is there.
TEST(EsDurability, FullTmpfsRecoversWhenSpaceFrees) {
  std::string dir = MakeTempDir("hakone-es-tmpfs");
  std::string mnt = dir + "/data";
  ::mkdir(mnt.c_str(), 0755);
  if (std::system(("mount -t tmpfs -o size=4m tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
    RemoveTree(dir);
    GTEST_SKIP() << "cannot mount a tmpfs here (not root / no CAP_SYS_ADMIN); DiskFullGivesClearErrors... covers RLIMIT_FSIZE";
  }
  struct Unmount {
    std::string m, d;
    ~Unmount() {
      if (std::system(("umount " + m).c_str()) != 0) std::fprintf(stderr, "umount %s failed\n", m.c_str());
      RemoveTree(d);
    }
  } unmount{mnt, dir};
  Loader l;
  EsServer es(dir);
  ASSERT_TRUE(es.Start()) << es.Log();
  std::thread load([&] { l.Run(es, 2, 7); });
  auto wait_errors = [&](size_t n, int secs) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::lock_guard lk(l.mu);
      if (l.errors.size() >= n) return true;
    }
    return false;
  };
  bool full = wait_errors(20, 60);
  size_t acked_when_full;
  {
    std::lock_guard lk(l.mu);
    ASSERT_TRUE(full) << "no write failed on a 4 MiB filesystem (" << l.acked.size() << " acked)";
    acked_when_full = l.acked.size();
    bool clear = false;
    for (const auto& e : l.errors) clear = clear || e.find("No space left on device") != std::string::npos;
    EXPECT_TRUE(clear) << "errors do not say the disk is full, e.g.: " << l.errors[0];
    EXPECT_TRUE(l.protocol_errors.empty()) << l.protocol_errors[0];
  }
  EXPECT_TRUE(es.Running()) << "the server died on a full disk:\n" << es.Log();
  // Space frees: the same server accepts writes again.
  ASSERT_EQ(std::system(("mount -o remount,size=512m " + mnt).c_str()), 0);
  bool recovered = false;
  for (int i = 0; i < 200 && !recovered; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lk(l.mu);
    recovered = l.acked.size() >= acked_when_full + 1000;
  }
  EXPECT_TRUE(recovered) << "writes did not succeed again after space was freed:\n" << es.Log().substr(0, 2000);
  l.stop = true;
  load.join();
  es.Kill9();
  EsServer again(dir);
  ASSERT_TRUE(again.Start()) << again.Log();
  ExpectAllPresent(again, l.acked);
  ASSERT_TRUE(again.Stop());
}

}  // namespace
}  // namespace hakone::testing
