// Command families executed against a real engine (SQLite durable tier in a temp dir), plus the
// tier behaviours: read-through with the remaining TTL, group commit, durable tier down.
#include "sessions/commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace hakone::sessions {
namespace {

// A durable tier that can be switched off, wrapping a real one.
class FlakyTier : public DurableTier {
 public:
  explicit FlakyTier(std::unique_ptr<DurableTier> t) : t_(std::move(t)) {}
  std::string name() const override { return "flaky"; }
  Status Apply(const std::vector<DurableOp>& ops) override {
    if (down) return Status::Unavailable("disk unplugged");
    applies++;
    return t_->Apply(ops);
  }
  Result<std::optional<Record>> Get(int db, std::string_view key, int64_t now) override {
    if (reads_down) return Status::Unavailable("disk unplugged");
    return t_->Get(db, key, now);
  }
  Result<std::vector<std::pair<std::string, ValueType>>> Keys(int db, int64_t now, std::string_view a, size_t l) override {
    if (reads_down) return Status::Unavailable("disk unplugged");
    return t_->Keys(db, now, a, l);
  }
  Result<int64_t> Count(int db, int64_t now) override { return t_->Count(db, now); }
  Result<int64_t> Sweep(int64_t now, int limit) override { return t_->Sweep(now, limit); }
  Status Ping() override { return down ? Status::Unavailable("disk unplugged") : Status::Ok(); }
  std::atomic<bool> down{false};        // writes fail
  std::atomic<bool> reads_down{false};  // reads fail
  std::atomic<int> applies{0};

 private:
  std::unique_ptr<DurableTier> t_;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hakone-sessions-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    RegisterAllCommands(table_);
    Open();
  }
  void TearDown() override {
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(EngineOptions opts = {}) {
    engine_.reset();
    auto t = OpenSqliteTier((dir_ / "s.db").string());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    auto f = std::make_unique<FlakyTier>(std::move(*t));
    flaky_ = f.get();
    engine_ = std::make_unique<Engine>(opts, std::move(f));
    engine_->Start();
    client_ = Client{};
    client_.authenticated = true;
  }
  // Runs one command like a connection does (execute, submit, wait for durability).
  std::string Run(std::vector<std::string> argv, Client* c = nullptr, int64_t now = 0) {
    std::vector<std::string_view> v(argv.begin(), argv.end());
    std::string out;
    uint64_t seq;
    {
      std::lock_guard lk(engine_->mu());
      ExecuteCommand(*engine_, srv_, table_, c ? *c : client_, table_.Find(v[0]), v, out, now ? now : NowMs());
      seq = engine_->SubmitBatch();
    }
    if (engine_->options().strict) {
      while (engine_->done_seq() < seq) std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::string err;
      if (seq && engine_->SeqFailed(seq, &err)) return "-FAILED " + err;
    }
    return out;
  }

  std::filesystem::path dir_;
  CommandTable table_;
  ServerInfo srv_;
  std::unique_ptr<Engine> engine_;
  FlakyTier* flaky_ = nullptr;
  Client client_;
};

TEST_F(CommandsTest, StringsBasics) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"get", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(Run({"GET", "nope"}), "$-1\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "NX"}), "$-1\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "XX", "GET"}), "$1\r\nv\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "NX", "XX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "EX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(Run({"SET", "k", "w", "EX", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"SETEX", "k", "-1", "v"}), "-ERR invalid expire time in 'setex' command\r\n");
  EXPECT_EQ(Run({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(Run({"APPEND", "a", "xy"}), ":2\r\n");
  EXPECT_EQ(Run({"APPEND", "a", "z"}), ":3\r\n");
  EXPECT_EQ(Run({"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(Run({"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(Run({"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(Run({"INCR", "a"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"SET", "big", "9223372036854775807"}), "+OK\r\n");
  EXPECT_EQ(Run({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(Run({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(Run({"MGET", "a", "b", "zz"}), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
  EXPECT_EQ(Run({"MSETNX", "a", "1", "c", "3"}), ":0\r\n");
  EXPECT_EQ(Run({"GETDEL", "a"}), "$1\r\n1\r\n");
  EXPECT_EQ(Run({"EXISTS", "a", "b", "b"}), ":2\r\n");
  EXPECT_EQ(Run({"SETNX", "b", "x"}), ":0\r\n");
}

TEST_F(CommandsTest, ExpiryAndTtl) {
  int64_t now = NowMs();
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "100000"}, nullptr, now), "+OK\r\n");
  EXPECT_EQ(Run({"PTTL", "k"}, nullptr, now), ":100000\r\n");
  EXPECT_EQ(Run({"TTL", "k"}, nullptr, now + 499), ":100\r\n");
  EXPECT_EQ(Run({"GET", "k"}, nullptr, now + 100000), "$-1\r\n");  // expired exactly at its time
  EXPECT_EQ(Run({"TTL", "k"}, nullptr, now + 100000), ":-2\r\n");
  EXPECT_EQ(Run({"SET", "p", "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"TTL", "p"}), ":-1\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "100", "XX"}), ":0\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "100", "NX"}), ":1\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "50", "GT"}), ":0\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "50", "LT"}), ":1\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "50", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "50", "FOO"}), "-ERR Unsupported option FOO\r\n");
  EXPECT_EQ(Run({"PERSIST", "p"}), ":1\r\n");
  EXPECT_EQ(Run({"PERSIST", "p"}), ":0\r\n");
  EXPECT_EQ(Run({"EXPIRE", "p", "-1"}), ":1\r\n");  // a past time deletes
  EXPECT_EQ(Run({"EXISTS", "p"}), ":0\r\n");
  EXPECT_EQ(Run({"SET", "g", "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"GETEX", "g", "EX", "100"}), "$1\r\nv\r\n");
  EXPECT_EQ(Run({"GETEX", "g", "PERSIST"}), "$1\r\nv\r\n");
  EXPECT_EQ(Run({"TTL", "g"}), ":-1\r\n");
  EXPECT_EQ(Run({"GETEX", "g", "KEEPTTL"}), "-ERR syntax error\r\n");
  EXPECT_EQ(Run({"SET", "g", "w", "EX", "100"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "g", "x", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(Run({"TTL", "g"}), ":100\r\n");
}

TEST_F(CommandsTest, KeysFamily) {
  EXPECT_EQ(Run({"SET", "sess:1", "a"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "sess:2", "b"}), "+OK\r\n");
  EXPECT_EQ(Run({"HSET", "user:1", "f", "v"}), ":1\r\n");
  EXPECT_EQ(Run({"TYPE", "user:1"}), "+hash\r\n");
  EXPECT_EQ(Run({"TYPE", "nope"}), "+none\r\n");
  EXPECT_EQ(Run({"KEYS", "sess:*"}), "*2\r\n$6\r\nsess:1\r\n$6\r\nsess:2\r\n");
  EXPECT_EQ(Run({"DBSIZE"}), ":3\r\n");
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "2"}), "*2\r\n$1\r\n2\r\n*2\r\n$6\r\nsess:1\r\n$6\r\nsess:2\r\n");
  EXPECT_EQ(Run({"SCAN", "2", "TYPE", "hash"}), "*2\r\n$1\r\n0\r\n*1\r\n$6\r\nuser:1\r\n");
  EXPECT_EQ(Run({"SCAN", "x"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(Run({"RENAME", "nope", "x"}), "-ERR no such key\r\n");
  EXPECT_EQ(Run({"RENAME", "sess:1", "sess:9"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "sess:9"}), "$1\r\na\r\n");
  EXPECT_EQ(Run({"GET", "sess:1"}), "$-1\r\n");
  EXPECT_EQ(Run({"DEL", "sess:9", "sess:2", "nope"}), ":2\r\n");
  EXPECT_EQ(Run({"FLUSHDB"}), "+OK\r\n");
  EXPECT_EQ(Run({"DBSIZE"}), ":0\r\n");
}

TEST_F(CommandsTest, HashesAndSets) {
  EXPECT_EQ(Run({"HSET", "h", "a", "1", "b", "2"}), ":2\r\n");
  EXPECT_EQ(Run({"HSET", "h", "a", "3"}), ":0\r\n");
  EXPECT_EQ(Run({"HSET", "h", "a"}), "-ERR wrong number of arguments for 'hset' command\r\n");
  EXPECT_EQ(Run({"HGETALL", "h"}), "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n");
  EXPECT_EQ(Run({"HINCRBY", "h", "a", "2"}), ":5\r\n");
  EXPECT_EQ(Run({"HINCRBY", "h", "a", "x"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(Run({"HSET", "h", "s", "str"}), ":1\r\n");
  EXPECT_EQ(Run({"HINCRBY", "h", "s", "1"}), "-ERR hash value is not an integer\r\n");
  EXPECT_EQ(Run({"HKEYS", "h"}), "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\ns\r\n");
  EXPECT_EQ(Run({"HLEN", "h"}), ":3\r\n");
  EXPECT_EQ(Run({"HEXISTS", "h", "b"}), ":1\r\n");
  EXPECT_EQ(Run({"HDEL", "h", "a", "b", "s"}), ":3\r\n");
  EXPECT_EQ(Run({"EXISTS", "h"}), ":0\r\n");
  EXPECT_EQ(Run({"SADD", "s", "3", "1", "2", "1"}), ":3\r\n");
  EXPECT_EQ(Run({"SMEMBERS", "s"}), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
  EXPECT_EQ(Run({"SISMEMBER", "s", "2"}), ":1\r\n");
  EXPECT_EQ(Run({"SREM", "s", "2", "9"}), ":1\r\n");
  EXPECT_EQ(Run({"GET", "s"}), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_EQ(Run({"HGET", "s", "x"}), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_EQ(Run({"SET", "s", "now a string"}), "+OK\r\n");
  EXPECT_EQ(Run({"SADD", "s", "x"}), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}

TEST_F(CommandsTest, ServerAndConnection) {
  EXPECT_EQ(Run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(Run({"PING", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(Run({"ECHO", "x"}), "$1\r\nx\r\n");
  EXPECT_EQ(Run({"FOO", "a", "b"}), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(Run({"SELECT", "16"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(Run({"SELECT", "1"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "k", "db1"}), "+OK\r\n");
  EXPECT_EQ(Run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(Run({"CLIENT", "SETNAME", "a b"}), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(Run({"CLIENT", "SETNAME", "app"}), "+OK\r\n");
  EXPECT_EQ(Run({"CLIENT", "GETNAME"}), "$3\r\napp\r\n");
  EXPECT_EQ(Run({"CLIENT", "NOPE"}), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n");
  EXPECT_EQ(Run({"AUTH", "x"}), "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
  EXPECT_EQ(Run({"HELLO", "3"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(Run({"CONFIG", "GET", "maxmemory-policy"}), "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n");
  EXPECT_NE(Run({"INFO", "tiers"}).find("durable_tier:flaky"), std::string::npos);
}

TEST_F(CommandsTest, AuthAndUsers) {
  srv_.requirepass = "s3cret";
  srv_.users.push_back(User{"reader", "pw", {"get", "auth"}});
  srv_.auth_required = true;
  Client c;
  EXPECT_EQ(Run({"GET", "k"}, &c), "-NOAUTH Authentication required.\r\n");
  EXPECT_EQ(Run({"AUTH", "wrong"}, &c), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_EQ(Run({"AUTH", "s3cret"}, &c), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "k", "v"}, &c), "+OK\r\n");
  Client r;
  EXPECT_EQ(Run({"AUTH", "reader", "pw"}, &r), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "k"}, &r), "$1\r\nv\r\n");
  EXPECT_EQ(Run({"SET", "k", "x"}, &r), "-NOPERM this user has no permissions to run the 'set' command\r\n");
}

TEST_F(CommandsTest, MultiExecWatch) {
  EXPECT_EQ(Run({"EXEC"}), "-ERR EXEC without MULTI\r\n");
  EXPECT_EQ(Run({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "a", "1"}), "+QUEUED\r\n");
  EXPECT_EQ(Run({"INCR", "a"}), "+QUEUED\r\n");
  EXPECT_EQ(Run({"HSET", "a", "f", "v"}), "+QUEUED\r\n");
  EXPECT_EQ(Run({"EXEC"}),
            "*3\r\n+OK\r\n:2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_EQ(Run({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(Run({"EXEC"}), "-EXECABORT Transaction discarded because of previous errors.\r\n");
  Client other;
  other.authenticated = true;
  EXPECT_EQ(Run({"WATCH", "a"}), "+OK\r\n");
  EXPECT_EQ(Run({"SET", "a", "9"}, &other), "+OK\r\n");
  EXPECT_EQ(Run({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "a"}), "+QUEUED\r\n");
  EXPECT_EQ(Run({"EXEC"}), "*-1\r\n");
  EXPECT_EQ(Run({"MULTI"}), "+OK\r\n");
  EXPECT_EQ(Run({"MULTI"}), "-ERR MULTI calls can not be nested\r\n");
  EXPECT_EQ(Run({"DISCARD"}), "+OK\r\n");
  EXPECT_EQ(Run({"DISCARD"}), "-ERR DISCARD without MULTI\r\n");
}

TEST_F(CommandsTest, ReadThroughKeepsRemainingTtl) {
  int64_t now = NowMs();
  EXPECT_EQ(Run({"SET", "sess:x", "{\"user\":1}", "PX", "60000"}, nullptr, now), "+OK\r\n");
  EXPECT_EQ(Run({"HSET", "h", "a", "1"}), ":1\r\n");
  EXPECT_EQ(Run({"SADD", "s", "m"}), ":1\r\n");
  Open();  // a new process: empty cache, same SQLite file
  EXPECT_EQ(engine_->cache().size(), 0u);
  EXPECT_EQ(Run({"PTTL", "sess:x"}, nullptr, now + 20000), ":40000\r\n");  // the remaining TTL, not a fixed one
  EXPECT_EQ(Run({"GET", "sess:x"}, nullptr, now + 20000), "$10\r\n{\"user\":1}\r\n");
  EXPECT_EQ(Run({"HGET", "h", "a"}), "$1\r\n1\r\n");
  EXPECT_EQ(Run({"SISMEMBER", "s", "m"}), ":1\r\n");
  EXPECT_EQ(Run({"GET", "sess:x"}, nullptr, now + 60001), "$-1\r\n");
  EXPECT_GE(engine_->stats().durable_reads.load(), 3u);
}

TEST_F(CommandsTest, DeleteIsDurableAcrossRestart) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"DEL", "k"}), ":1\r\n");
  Open();
  EXPECT_EQ(Run({"GET", "k"}), "$-1\r\n");
}

TEST_F(CommandsTest, DurableDownRefusesWritesButServesCachedReads) {
  EXPECT_EQ(Run({"SET", "k", "v"}), "+OK\r\n");
  flaky_->down = true;
  std::string r = Run({"SET", "k2", "v"});
  EXPECT_EQ(r.rfind("-FAILED", 0), 0u) << r;  // the batch failed: not acknowledged
  std::string r2 = Run({"SET", "k3", "v"});
  EXPECT_EQ(r2.rfind("-ERR hakone: durable tier unavailable, write refused", 0), 0u) << r2;
  EXPECT_EQ(Run({"GET", "k"}), "$1\r\nv\r\n");  // cached read still works
  {
    std::lock_guard lk(engine_->mu());
    engine_->Upkeep(NowMs());  // drops the key of the failed batch from the cache
  }
  flaky_->reads_down = true;
  std::string r3 = Run({"GET", "k2"});
  EXPECT_EQ(r3.rfind("-ERR hakone: durable tier read failed", 0), 0u) << r3;
  flaky_->down = false;
  flaky_->reads_down = false;
  for (int i = 0; i < 100 && !engine_->durable_writable(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Run({"SET", "k3", "v"}), "+OK\r\n");
  EXPECT_EQ(Run({"GET", "k2"}), "$-1\r\n");
}

TEST_F(CommandsTest, GroupCommitSharesTransactions) {
  // Many writers submitting at once are committed in fewer transactions than writes.
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      Client c;
      c.authenticated = true;
      for (int i = 0; i < 50; i++) {
        EXPECT_EQ(Run({"SET", "k" + std::to_string(t) + ":" + std::to_string(i), "v"}, &c), "+OK\r\n");
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(Run({"DBSIZE"}), ":400\r\n");
  EXPECT_LT(flaky_->applies.load(), 400);
}

TEST_F(CommandsTest, AsyncModePersistsWithinFlushInterval) {
  EngineOptions o;
  o.strict = false;
  o.flush_interval = std::chrono::milliseconds(50);
  Open(o);
  EXPECT_EQ(Run({"SET", "k", "v"}), "+OK\r\n");
  for (int i = 0; i < 100 && engine_->done_seq() < engine_->last_seq(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Open();
  EXPECT_EQ(Run({"GET", "k"}), "$1\r\nv\r\n");
}

TEST_F(CommandsTest, MemoryBoundEvicts) {
  EngineOptions o;
  o.max_memory = 64 * 1024;
  o.shards = 4;
  Open(o);
  for (int i = 0; i < 2000; i++) EXPECT_EQ(Run({"SET", "key" + std::to_string(i), std::string(100, 'x')}), "+OK\r\n");
  {
    std::lock_guard lk(engine_->mu());
    engine_->Upkeep(NowMs());
  }
  EXPECT_LE(engine_->cache().bytes(), 64u * 1024u);
  EXPECT_GT(engine_->cache().evictions(), 0u);
  EXPECT_EQ(Run({"GET", "key0"}), "$100\r\n" + std::string(100, 'x') + "\r\n");  // read through after eviction
}

}  // namespace
}  // namespace hakone::sessions
