// Differential test: random command sequences (TTL edge cases, wrong types, wrong arity, syntax
// errors, pipelines, MULTI/EXEC/WATCH, SELECT) run against a real redis-server and against
// `hakone sessions`; every reply must match byte for byte (KEYS replies compared as sorted
// sets, since Redis answers them in hash-table order).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

#include "process_util.h"
#include "sessions/resp_conn.h"

namespace hakone::testing {
namespace {

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}
  size_t N(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[N(v.size())]; }
  std::string Key() { return Pick<std::string>({"k0", "k1", "k2", "k3", "sess:a", "sess:b"}); }
  std::string Val() { return Pick<std::string>({"v", "1", "10", "-3", "abc", "9223372036854775807", "", "x y", "0", "-9223372036854775808"}); }
  std::string Field() { return Pick<std::string>({"f1", "f2", "f3", "user"}); }
  // Integers (a Redis intset, answered sorted) and other strings (a hash table, no order).
  std::string Member() { return N(3) ? Pick<std::string>({"1", "2", "3", "10", "-5"}) : Pick<std::string>({"a", "sess", "01", "-0", "x y", "1.5"}); }
  std::string Num() { return Pick<std::string>({"0", "-1", "1", "100", "abc", "9223372036854775807", "1000", "-9223372036854775808", "2.5"}); }
  // No 1-second TTLs here: they would expire at slightly different moments on the two servers.
  std::string Secs() { return Pick<std::string>({"100", "1000", "0", "-1", "x", "9223372036854775807", "-9223372036854775808"}); }

  // SET/GETEX option lists, valid or not.
  std::vector<std::string> SetOpts(bool getex) {
    std::vector<std::string> o;
    size_t n = N(3);
    for (size_t i = 0; i < n; i++) {
      switch (N(getex ? 6 : 9)) {
        case 0: o.push_back("EX"); o.push_back(Secs()); break;
        case 1: o.push_back("PX"); o.push_back(Pick<std::string>({"100000", "0", "-5"})); break;
        case 2: o.push_back("EXAT"); o.push_back(Pick<std::string>({"1", "4102444800", "0"})); break;
        case 3: o.push_back("PXAT"); o.push_back(Pick<std::string>({"1", "4102444800000"})); break;
        case 4: o.push_back(getex ? "PERSIST" : "KEEPTTL"); break;
        case 5: o.push_back(Pick<std::string>({"bogus", "ex"})); break;
        case 6: o.push_back("NX"); break;
        case 7: o.push_back("XX"); break;
        case 8: o.push_back("GET"); break;
      }
    }
    return o;
  }

  std::vector<std::string> Command() {
    std::vector<std::string> c;
    auto add = [&](std::initializer_list<std::string> l) { c.insert(c.end(), l); };
    switch (N(52)) {
      case 0: case 1: case 2: add({"SET", Key(), Val()}); { auto o = SetOpts(false); c.insert(c.end(), o.begin(), o.end()); } break;
      case 3: case 4: add({"GET", Key()}); break;
      case 5: add({"SETEX", Key(), Secs(), Val()}); break;
      case 6: add({"PSETEX", Key(), Pick<std::string>({"100000", "0", "-1"}), Val()}); break;
      case 7: add({"SETNX", Key(), Val()}); break;
      case 8: add({"GETDEL", Key()}); break;
      case 9: add({"GETEX", Key()}); { auto o = SetOpts(true); c.insert(c.end(), o.begin(), o.end()); } break;
      case 10: add({"MGET", Key(), Key(), Key()}); break;
      case 11: add({"MSET", Key(), Val(), Key(), Val()}); if (N(4) == 0) c.pop_back(); break;
      case 12: add({"MSETNX", Key(), Val(), Key(), Val()}); break;
      case 13: add({"APPEND", Key(), Val()}); break;
      case 14: add({"INCR", Key()}); break;
      case 15: add({"INCRBY", Key(), Num()}); break;
      case 16: add({"DECR", Key()}); break;
      case 17: add({"DECRBY", Key(), Num()}); break;
      case 18: add({"STRLEN", Key()}); break;
      case 19: add({"DEL", Key(), Key()}); break;
      case 20: add({"UNLINK", Key()}); break;
      case 21: add({"EXISTS", Key(), Key()}); break;
      case 22: add({"EXPIRE", Key(), Secs()}); if (N(3) == 0) c.push_back(Pick<std::string>({"NX", "XX", "GT", "LT", "BAD"})); if (N(5) == 0) c.push_back("XX"); break;
      case 23: add({"PEXPIRE", Key(), Pick<std::string>({"100000", "-1", "0", "x"})}); break;
      case 24: add({"EXPIREAT", Key(), Pick<std::string>({"1", "4102444800", "-1"})}); break;
      case 25: add({"PEXPIREAT", Key(), Pick<std::string>({"1", "4102444800000"})}); break;
      case 26: add({"TTL", Key()}); break;
      case 27: add({"PERSIST", Key()}); break;
      case 28: add({"TYPE", Key()}); break;
      case 29: add({"RENAME", Key(), Key()}); break;
      case 30: add({"KEYS", Pick<std::string>({"*", "k*", "sess:?", "[ks]*"})}); break;
      case 31: add({"HSET", Key(), Field(), Val()}); if (N(3) == 0) add({Field(), Val()}); if (N(6) == 0) c.pop_back(); break;
      case 32: add({"HMSET", Key(), Field(), Val()}); break;
      case 33: add({"HGET", Key(), Field()}); break;
      case 34: add({"HGETALL", Key()}); break;
      case 35: add({"HDEL", Key(), Field(), Field()}); break;
      case 36: add({"HEXISTS", Key(), Field()}); break;
      case 37: add({"HINCRBY", Key(), Field(), Num()}); break;
      case 38: add({"HKEYS", Key()}); break;
      case 39: add({"HLEN", Key()}); break;
      case 40: add({"SADD", Key(), Member(), Member()}); break;
      case 41: add({"SREM", Key(), Member()}); break;
      case 42: add({"SMEMBERS", Key()}); break;
      case 43: add({"SISMEMBER", Key(), Member()}); break;
      case 44: add({"PING"}); if (N(2)) c.push_back("hello"); if (N(8) == 0) c.push_back("extra"); break;
      case 45: add({"ECHO", Val()}); break;
      case 46: add({"SELECT", Pick<std::string>({"0", "1", "0", "16", "x", "-1"})}); break;
      case 47: add({"DBSIZE"}); break;
      case 48: add({Pick<std::string>({"NOSUCH", "gett", "hsetx"}), Key(), Val()}); break;
      case 49: {  // wrong arity on a random known command
        c = {Pick<std::string>({"GET", "SET", "HGET", "TTL", "EXPIRE", "SADD", "HSET", "GETDEL", "RENAME", "INCRBY"})};
        if (N(2)) c.push_back(Key());
        break;
      }
      case 50: add({Pick<std::string>({"MULTI", "EXEC", "DISCARD", "UNWATCH"})}); break;
      case 51: add({"WATCH", Key()}); break;
    }
    if (N(10) == 0) {  // random case
      for (char& ch : c[0]) ch = N(2) ? static_cast<char>(std::tolower(ch)) : ch;
    }
    return c;
  }

 private:
  std::mt19937 rng_;
};

// A canonical integer as Redis's string2ll takes it (what may live in an intset).
bool CanonicalInt(const std::string& s) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    return used == s.size() && std::to_string(v) == s;
  } catch (...) {
    return false;
  }
}

// KEYS replies: compare as sorted lists. SMEMBERS: Redis answers an intset (integers only, at
// most 512) in ascending order, and that order is compared byte for byte; any other set is a
// hash table whose order depends on Redis's random hash seed (it differs between two runs of
// Redis itself), so those replies are compared as sorted lists. A reply that is all integers but
// not ascending comes from a hash table too (Redis never converts back to an intset after SREM).
std::string Normalize(const std::vector<std::string>& cmd, const std::string& reply) {
  std::string name = cmd[0];
  for (char& c : name) c = static_cast<char>(std::toupper(c));
  if (name == "SMEMBERS" && !reply.empty() && reply[0] == '*') {
    RespValue v;
    auto r = ParseRespReply(reply, &v);
    if (!r.ok() || v.type != RespValue::kArray) return reply;
    bool intset_order = v.array.size() <= 512;
    for (size_t i = 0; i < v.array.size() && intset_order; i++) {
      intset_order = CanonicalInt(v.array[i].str) && (i == 0 || std::stoll(v.array[i - 1].str) < std::stoll(v.array[i].str));
    }
    if (intset_order) return reply;
    std::vector<std::string> ms;
    for (auto& e : v.array) ms.push_back(e.str);
    std::sort(ms.begin(), ms.end());
    std::string out = "SMEMBERS(unordered)";
    for (auto& m : ms) out += "|" + m;
    return out;
  }
  // Redis counts keys that are expired but not yet reclaimed by its active expiry cycle; hakone
  // counts live keys. Both are integers; the key sets are compared with KEYS.
  if (name == "DBSIZE" && !reply.empty() && reply[0] == ':') return "DBSIZE";
  if (name != "KEYS" || reply.empty() || reply[0] != '*') return reply;
  RespValue v;
  auto r = ParseRespReply(reply, &v);
  if (!r.ok() || v.type != RespValue::kArray) return reply;
  std::vector<std::string> ks;
  for (auto& e : v.array) ks.push_back(e.str);
  std::sort(ks.begin(), ks.end());
  std::string out = "KEYS";
  for (auto& k : ks) out += "|" + k;
  return out;
}

std::string Show(const std::vector<std::string>& cmd) {
  std::string s;
  for (auto& a : cmd) s += "'" + a + "' ";
  return s;
}

class SessionsDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("hakone-sess-diff");
    redis_port_ = FreePort();
    redis_ = StartRedis(dir_, redis_port_);
    ASSERT_TRUE(WaitForPort(redis_port_)) << redis_->Log();
    sess_port_ = FreePort();
    sess_ = StartSessions(dir_, sess_port_);
    ASSERT_TRUE(WaitForPort(sess_port_)) << sess_->Log();
  }
  void TearDown() override {
    sess_.reset();
    redis_.reset();
    if (!HasFailure()) RemoveTree(dir_);
  }
  std::string dir_;
  int redis_port_ = 0, sess_port_ = 0;
  std::unique_ptr<Process> redis_, sess_;
};

TEST_F(SessionsDiffTest, RandomSequencesMatchRedisByteForByte) {
  RespConn r(redis_port_), h(sess_port_);
  ASSERT_TRUE(r.ok() && h.ok());
  ASSERT_EQ(r.Command({"FLUSHALL"}), "+OK\r\n");
  ASSERT_EQ(h.Command({"FLUSHALL"}), "+OK\r\n");
  std::vector<std::string> history;
  int mismatches = 0, total = 0;
  for (int seed_round = 0; seed_round < 3; seed_round++) {
  Gen g(20261126 + seed_round);
  for (int round = 0; round < 400 && mismatches < 10; round++) {
    // A pipeline of 1..12 commands sent in one write.
    size_t n = 1 + g.N(12);
    std::vector<std::vector<std::string>> cmds;
    std::string wire;
    for (size_t i = 0; i < n; i++) {
      cmds.push_back(g.Command());
      wire += EncodeRespCommand(cmds.back());
      history.push_back(Show(cmds.back()));
    }
    ASSERT_TRUE(r.SendRaw(wire));
    ASSERT_TRUE(h.SendRaw(wire));
    auto rr = r.ReadReplies(n);
    auto hr = h.ReadReplies(n);
    for (size_t i = 0; i < n; i++) {
      total++;
      if (Normalize(cmds[i], rr[i]) != Normalize(cmds[i], hr[i])) {
        ADD_FAILURE() << "round " << round << " command " << Show(cmds[i]) << "\n redis:  " << rr[i] << "\n hakone: " << hr[i]
                      << "\n redis keys: " << r.Command({"KEYS", "*"}) << "\n hakone keys: " << h.Command({"KEYS", "*"}) << "\n last commands:\n" << [&] {
                        std::string t;
                        for (size_t j = history.size() > 40 ? history.size() - 40 : 0; j < history.size(); j++) t += history[j] + "\n";
                        return t;
                      }();
        mismatches++;
      }
    }
    if (g.N(25) == 0) {
      // TTL edge: a key that expires between two pipelines must be gone on both sides.
      std::string k = g.Key();
      auto set = EncodeRespCommand({"SET", k, "short", "PX", "30"}) + EncodeRespCommand({"HSET", "h:" + k, "f", "v"}) +
                 EncodeRespCommand({"PEXPIRE", "h:" + k, "30"});
      ASSERT_TRUE(r.SendRaw(set) && h.SendRaw(set));
      EXPECT_EQ(r.ReadReplies(3), h.ReadReplies(3));
      std::this_thread::sleep_for(std::chrono::milliseconds(80));
      for (auto c : std::vector<std::vector<std::string>>{{"GET", k}, {"TTL", k}, {"EXISTS", k, "h:" + k}, {"TYPE", "h:" + k},
                                                          {"HGET", "h:" + k, "f"}, {"INCR", k}, {"DEL", k}}) {
        EXPECT_EQ(r.Command(c), h.Command(c)) << Show(c);
      }
    }
  }
  }
  EXPECT_GT(total, 5000);
  // Both sides hold the same data at the end.
  for (int db : {0, 1}) {
    r.Command({"SELECT", std::to_string(db)});
    h.Command({"SELECT", std::to_string(db)});
    auto rk = r.Command({"KEYS", "*"});
    auto hk = h.Command({"KEYS", "*"});
    EXPECT_EQ(Normalize({"KEYS"}, rk), Normalize({"KEYS"}, hk));
  }
}

TEST_F(SessionsDiffTest, InlineCommandsAndProtocolErrorsMatch) {
  struct Case {
    std::string wire;
    size_t replies;
    bool closes;
  } cases[] = {
      {"PING\r\n", 1, false},
      {"set a \"b c\"\r\nget a\r\n", 2, false},
      {"\r\n\r\nPING\r\n", 1, false},
      {"*1\r\n$4\r\nPING\r\n*0\r\n*-1\r\nPING\r\n", 2, false},
      {"*x\r\n", 1, true},
      {"*1\r\n+PING\r\n", 1, true},
      {"*1\r\n$-5\r\n", 1, true},
      {"set a \"unbalanced\r\n", 1, true},
      {"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$x\r\n", 2, true},
  };
  for (const auto& c : cases) {
    RespConn r(redis_port_), h(sess_port_);
    ASSERT_TRUE(r.SendRaw(c.wire));
    ASSERT_TRUE(h.SendRaw(c.wire));
    auto rr = r.ReadReplies(c.replies);
    auto hr = h.ReadReplies(c.replies);
    EXPECT_EQ(rr, hr) << c.wire;
    if (c.closes) {
      EXPECT_TRUE(r.Closed()) << c.wire;
      EXPECT_TRUE(h.Closed()) << c.wire;
    }
  }
  // A malformed request on one connection leaves the others alone.
  RespConn ok(sess_port_), bad(sess_port_);
  ASSERT_EQ(ok.Command({"SET", "survivor", "1"}), "+OK\r\n");
  bad.SendRaw("*1\r\n$99999999999999\r\n");
  EXPECT_TRUE(bad.Closed());
  EXPECT_EQ(ok.Command({"GET", "survivor"}), "$1\r\n1\r\n");
}

// HELLO with protocol 2 answers like Redis (the map as a RESP2 array; only the client id
// differs). hakone speaks RESP2 only: HELLO 3 gets the error Redis gives for a protocol version
// it does not support, and clients (go-redis, Lettuce, redis-py's protocol=3) fall back to RESP2.
TEST_F(SessionsDiffTest, HelloMatchesRedisForProtocolTwo) {
  auto without_id = [](std::string r) {
    auto p = r.find("$2\r\nid\r\n:");
    if (p != std::string::npos) r.erase(p + 9, r.find("\r\n", p + 9) - (p + 9));
    return r;
  };
  std::vector<std::vector<std::string>> seq = {
      {"HELLO"}, {"HELLO", "2"}, {"HELLO", "4"}, {"HELLO", "0"}, {"HELLO", "x"}, {"HELLO", "2", "SETNAME", "app"},
      {"CLIENT", "GETNAME"}, {"HELLO", "2", "BOGUS"}, {"HELLO", "2", "SETNAME"}, {"HELLO", "2", "AUTH", "default"},
      {"HELLO", "2", "AUTH", "default", "wrong"}, {"hello", "2", "setname", "b", "SETNAME", "c"}, {"CLIENT", "GETNAME"},
  };
  RespConn r(redis_port_), h(sess_port_);
  for (const auto& c : seq) EXPECT_EQ(without_id(r.Command(c)), without_id(h.Command(c))) << Show(c);
  EXPECT_EQ(h.Command({"HELLO", "3"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(h.Command({"HELLO", "3", "AUTH", "default", "x"}), "-NOPROTO unsupported protocol version\r\n");
  // ... and the connection stays in RESP2.
  EXPECT_EQ(h.Command({"GET", "missing"}), "$-1\r\n");
}

TEST_F(SessionsDiffTest, TransactionsMatch) {
  std::vector<std::vector<std::string>> seq = {
      {"MULTI"}, {"SET", "t", "1"}, {"INCR", "t"}, {"HSET", "t", "f", "v"}, {"GET", "t"}, {"EXEC"},
      {"MULTI"}, {"SET", "t"}, {"GET", "t"}, {"EXEC"},
      {"MULTI"}, {"NOSUCH"}, {"EXEC"},
      {"WATCH", "t"}, {"MULTI"}, {"WATCH", "x"}, {"DISCARD"},
      {"EXEC"}, {"DISCARD"}, {"MULTI"}, {"MULTI"}, {"PING"}, {"EXEC"},
  };
  RespConn r(redis_port_), h(sess_port_);
  for (const auto& c : seq) EXPECT_EQ(r.Command(c), h.Command(c)) << Show(c);
  // WATCH + a write from another client aborts EXEC on both.
  RespConn r2(redis_port_), h2(sess_port_);
  EXPECT_EQ(r.Command({"WATCH", "w"}), h.Command({"WATCH", "w"}));
  EXPECT_EQ(r2.Command({"SET", "w", "1"}), h2.Command({"SET", "w", "1"}));
  EXPECT_EQ(r.Command({"MULTI"}), h.Command({"MULTI"}));
  EXPECT_EQ(r.Command({"GET", "w"}), h.Command({"GET", "w"}));
  std::string re = r.Command({"EXEC"});
  EXPECT_EQ(re, "*-1\r\n");
  EXPECT_EQ(re, h.Command({"EXEC"}));
}

}  // namespace
}  // namespace hakone::testing
