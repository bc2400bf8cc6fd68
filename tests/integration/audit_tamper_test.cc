// Tamper evidence end to end: a real data directory written through Spool + AuditChain +
// AuditStore (the gateway's recording path), then edited the way an attacker with file access
// would (decompress a block, edit, recompress with valid checksums; rewrite spool records with
// valid CRCs; forge checkpoint lines), and `VerifyAudit` / `hakone audit verify` must name the
// first bad seq and why.
#include <gtest/gtest.h>
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/spool.h"
#include "gateway/audit_chain.h"
#include "process_util.h"
#include "store/audit_store.h"
#include "store/block.h"

namespace hakone {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using gateway::VerifyAudit;
using gateway::VerifyProblem;
using gateway::VerifyReport;
using Kind = VerifyProblem::Kind;

constexpr int64_t kT0 = 1714521600LL * 1000000;  // 2024-05-01T00:00:00Z
constexpr int kEvents = 45;                      // 1..15 block A, 16..30 block B, 31..45 spool tail

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}
void Replace(std::string* s, const std::string& from, const std::string& to) {
  size_t p = s->find(from);
  ASSERT_NE(p, std::string::npos) << from << " not in " << *s;
  s->replace(p, from.size(), to);
}

std::string Body(int i) {
  const char* users[] = {"alice", "bob", "carol"};
  return "{\"time\":\"" + store::FormatRfc3339Micros(kT0 + i * 1000000LL) +
         "\",\"request_id\":\"r" + std::to_string(i) + "\",\"instance\":\"gw-test\",\"user\":\"" + users[i % 3] +
         "\",\"client_ip\":\"10.0.0." + std::to_string(i) + "\",\"method\":\"" + (i % 2 ? "POST" : "GET") +
         "\",\"path\":\"/candidates/" + std::to_string(i) + "\",\"status\":200,\"total_ms\":1.25}";
}

// Sets a line's prev_hash and recomputes its hash: what an attacker does to rebuild the chain.
std::string Rechain(const std::string& line, const std::string& prev) {
  std::string head = line.substr(0, line.size() - 75 - 79);
  std::string tmp = head + ",\"prev_hash\":\"" + prev + "\",\"hash\":\"" + std::string(64, '0') + "\"}";
  std::string h = gateway::ComputeLineHash(tmp);
  return head + ",\"prev_hash\":\"" + prev + "\",\"hash\":\"" + h + "\"}";
}
std::string HashOf(const std::string& line) { return line.substr(line.size() - 66, 64); }
std::string PrevOf(const std::string& line) { return line.substr(line.size() - 75 - 65, 64); }

class AuditTamperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(sodium_init(), 0);
    base_ = testing::MakeTempDir("hakone-audit-tamper");
    SpoolOptions so;
    so.dir = store::AuditSpoolDir(base_);
    so.name = "audit";
    so.fsync = false;
    so.flush_interval = 5ms;
    auto spool = Spool::Open(so);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    auto chain = gateway::AuditChain::Open(base_, "gw-test", /*checkpoint_every=*/10);
    ASSERT_TRUE(chain.ok()) << chain.status().ToString();
    (*chain)->SetDurableSeq([s = spool->get()] { return s->durable_seq(); });
    store::AuditStoreOptions ao;
    ao.flush_interval = 60s;  // blocks cut only by Flush(): a known layout
    auto st = store::AuditStore::Open(store::AuditStoreDir(base_), spool->get(), ao);
    ASSERT_TRUE(st.ok()) << st.status().ToString();

    auto record = [&](int i) {
      uint64_t seq = (*spool)->last_seq() + 1;
      std::string line = (*chain)->Seal(Body(i), seq);
      auto r = (*spool)->Append(line);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(*r, seq);
      ASSERT_TRUE((*spool)->Sync().ok());  // a checkpoint names only durable events
      (*chain)->MaybeCheckpoint();
    };
    auto cut_block = [&](size_t pending) {
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while ((*st)->stats().pending_events < pending && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
      ASSERT_EQ((*st)->stats().pending_events, pending);
      ASSERT_TRUE((*st)->Flush().ok());
    };
    for (int i = 1; i <= 15; ++i) record(i);
    cut_block(15);
    for (int i = 16; i <= 30; ++i) record(i);
    cut_block(15);
    (*st)->Stop();
    st->reset();
    for (int i = 31; i <= kEvents; ++i) record(i);  // the store is down: these stay in the spool
    chain->reset();
    spool->reset();
  }
  static void TearDownTestSuite() { testing::RemoveTree(base_); }

  void SetUp() override {
    dir_ = testing::MakeTempDir("hakone-audit-tamper-case");
    fs::copy(base_, dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  std::string SegmentFile() {
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(store::AuditStoreDir(dir_))) {
      if (e.path().extension() == ".blk") files.push_back(e.path().string());
    }
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? "" : files[0];
  }

  // The attacker's block editor: decode every block, let fn edit the lines, re-encode each
  // block with valid checksums.
  void EditBlocks(const std::function<void(std::vector<std::vector<std::string>>&)>& fn) {
    std::string path = SegmentFile();
    std::vector<store::DecodedBlock> blocks;
    ASSERT_TRUE(store::ReadSegmentFile(path, &blocks).ok());
    std::vector<std::vector<std::string>> lines;
    for (auto& b : blocks) {
      ASSERT_TRUE(b.ok);
      lines.push_back(b.lines);
    }
    fn(lines);
    std::string out;
    for (auto& bl : lines) {
      std::vector<store::BlockEvent> evs;
      for (auto& l : bl) evs.push_back({store::EventSeq(l).value_or(0), store::EventTimeMicros(l), l});
      ASSERT_TRUE(store::EncodeBlock(evs, 3, &out).ok());
    }
    WriteFile(path, out);
  }

  // The attacker's spool editor: decode the segment, let fn edit the payloads, write them back
  // as a valid segment (dense record seqs, valid CRCs).
  void EditSpool(const std::function<void(std::vector<std::string>&)>& fn) {
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(store::AuditSpoolDir(dir_))) {
      if (e.path().extension() == ".log") files.push_back(e.path().string());
    }
    ASSERT_EQ(files.size(), 1u);
    std::string bytes = ReadFile(files[0]);
    std::vector<std::string> payloads;
    SegmentDecodeResult res;
    ASSERT_TRUE(DecodeSegment(bytes, 0, [&](const SpoolRecordView& r) {
                  payloads.emplace_back(r.payload);
                  return true;
                }, &res).ok());
    ASSERT_TRUE(res.header_ok);
    fn(payloads);
    std::string out;
    EncodeSegmentHeader(res.first_seq, &out);
    for (size_t i = 0; i < payloads.size(); ++i) EncodeSpoolRecord(res.first_seq + i, payloads[i], &out);
    WriteFile(files[0], out);
  }

  // Index of the line with event seq s in a block's lines.
  static size_t Find(const std::vector<std::string>& lines, uint64_t s) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (store::EventSeq(lines[i]) == s) return i;
    }
    ADD_FAILURE() << "seq " << s << " not found";
    return 0;
  }

  VerifyReport Verify(const std::string& key = "") {
    VerifyReport r;
    Status st = VerifyAudit(dir_, key, &r);
    if (r.ok()) {
      EXPECT_TRUE(st.ok()) << st.ToString();
    } else {
      EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
      EXPECT_NE(st.message().find("seq " + std::to_string(r.problems.front().seq)), std::string::npos);
    }
    return r;
  }

  static void ExpectFirst(const VerifyReport& r, uint64_t seq, Kind kind) {
    ASSERT_FALSE(r.ok()) << "expected a problem at seq " << seq;
    EXPECT_EQ(r.problems.front().seq, seq) << r.FirstProblemText();
    EXPECT_EQ(r.problems.front().kind, kind) << r.FirstProblemText();
  }

  static std::string base_;
  std::string dir_;
};
std::string AuditTamperTest::base_;

TEST_F(AuditTamperTest, IntactLogVerifies) {
  auto r = Verify();
  EXPECT_TRUE(r.ok()) << r.FirstProblemText();
  EXPECT_EQ(r.events, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(r.checkpoints, 4u);  // 10, 20, 30, 40
  EXPECT_EQ(r.last_checkpoint_seq, 40u);
  EXPECT_EQ(r.unsigned_events, 5u);
  // The layout this suite relies on.
  std::vector<store::DecodedBlock> blocks;
  ASSERT_TRUE(store::ReadSegmentFile(SegmentFile(), &blocks).ok());
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].ref.header.first_seq, 1u);
  EXPECT_EQ(blocks[0].ref.header.last_seq, 15u);
  EXPECT_EQ(blocks[1].ref.header.last_seq, 30u);
}

TEST_F(AuditTamperTest, AlteredFieldInABlock) {
  EditBlocks([](auto& b) { Replace(&b[0][Find(b[0], 12)], "\"user\":\"alice\"", "\"user\":\"mallory\""); });
  auto r = Verify();
  ExpectFirst(r, 12, Kind::kAltered);
  EXPECT_EQ(r.problems.size(), 1u) << r.problems[1].message;
}

TEST_F(AuditTamperTest, AlteredFieldWithItsHashRecomputed) {
  EditBlocks([](auto& b) {
    std::string& l = b[0][Find(b[0], 12)];
    Replace(&l, "\"status\":200", "\"status\":404");
    l = Rechain(l, PrevOf(l));
  });
  auto r = Verify();
  ExpectFirst(r, 12, Kind::kAltered);
  EXPECT_NE(r.problems.front().message.find("prev_hash recorded by seq 13"), std::string::npos);
}

TEST_F(AuditTamperTest, DeletedEventInABlock) {
  EditBlocks([](auto& b) { b[1].erase(b[1].begin() + static_cast<long>(Find(b[1], 17))); });
  auto r = Verify();
  ExpectFirst(r, 17, Kind::kDeleted);
  EXPECT_EQ(r.events, static_cast<uint64_t>(kEvents - 1));
}

TEST_F(AuditTamperTest, DeletedFirstEvent) {
  EditBlocks([](auto& b) { b[0].erase(b[0].begin()); });
  ExpectFirst(Verify(), 1, Kind::kDeleted);
}

TEST_F(AuditTamperTest, InsertedForgedEventWithAValidLink) {
  // A forged seq 8 that links correctly to seq 7 and carries a correct hash of its own.
  EditBlocks([](auto& b) {
    size_t i = Find(b[0], 8);
    std::string body = Body(8);
    Replace(&body, "\"path\":\"/candidates/8\"", "\"path\":\"/admin/export\"");
    std::string forged = gateway::SealLine(body, 8, HashOf(b[0][i - 1]));
    b[0].insert(b[0].begin() + static_cast<long>(i), forged);
  });
  ExpectFirst(Verify(), 8, Kind::kInserted);
}

TEST_F(AuditTamperTest, InsertedForgedEventWithABrokenLink) {
  EditBlocks([](auto& b) {
    size_t i = Find(b[0], 8);
    std::string forged = gateway::SealLine(Body(99), 8, std::string(64, 'a'));
    b[0].insert(b[0].begin() + static_cast<long>(i), forged);
  });
  ExpectFirst(Verify(), 8, Kind::kInserted);
}

TEST_F(AuditTamperTest, SwappedEvents) {
  EditBlocks([](auto& b) {
    size_t i = Find(b[1], 21);
    std::swap(b[1][i], b[1][i + 1]);
  });
  auto r = Verify();
  ExpectFirst(r, 21, Kind::kReordered);
}

TEST_F(AuditTamperTest, EventMovedLater) {
  EditBlocks([](auto& b) {
    size_t i = Find(b[0], 4);
    std::string moved = b[0][i];
    b[0].erase(b[0].begin() + static_cast<long>(i));
    b[0].insert(b[0].begin() + static_cast<long>(Find(b[0], 9)), moved);
  });
  ExpectFirst(Verify(), 4, Kind::kReordered);
}

TEST_F(AuditTamperTest, ForgedCheckpoint) {
  // A checkpoint for seq 20 with the right hash but a signature made without the key.
  std::string hash20;
  EditBlocks([&](auto& b) { hash20 = HashOf(b[1][Find(b[1], 20)]); });
  std::string sig(128, '0');
  for (size_t i = 0; i < sig.size(); ++i) sig[i] = "0123456789abcdef"[randombytes_uniform(16)];
  std::ofstream(gateway::AuditCheckpointsPath(dir_), std::ios::app)
      << "{\"type\":\"checkpoint\",\"instance\":\"gw-test\",\"seq\":20,\"hash\":\"" << hash20
      << "\",\"time\":\"2024-05-01T00:00:20.000000Z\",\"time_us\":1714521620000000,\"alg\":\"ed25519\",\"key_id\":"
         "\"0000000000000000\",\"sig\":\""
      << sig << "\"}\n";
  ExpectFirst(Verify(), 20, Kind::kBadCheckpoint);
}

TEST_F(AuditTamperTest, AlteredCheckpoint) {
  std::string cps = ReadFile(gateway::AuditCheckpointsPath(dir_));
  Replace(&cps, "\"seq\":30,", "\"seq\":29,");
  WriteFile(gateway::AuditCheckpointsPath(dir_), cps);
  ExpectFirst(Verify(), 29, Kind::kBadCheckpoint);
}

TEST_F(AuditTamperTest, RewrittenChainIsCaughtByTheCheckpoints) {
  // The careful attacker edits seq 12 and recomputes every later hash, in blocks and spool.
  std::string prev;
  EditBlocks([&](auto& b) {
    bool started = false;
    for (auto& bl : b) {
      for (auto& l : bl) {
        if (store::EventSeq(l) == 12u) {
          Replace(&l, "\"path\":\"/candidates/12\"", "\"path\":\"/candidates/999\"");
          started = true;
        }
        if (started) l = Rechain(l, prev);
        prev = HashOf(l);
      }
    }
  });
  EditSpool([&](auto& payloads) {
    for (auto& p : payloads) {
      if (store::EventSeq(p).value_or(0) <= 30) continue;
      p = Rechain(p, prev);
      prev = HashOf(p);
    }
  });
  auto r = Verify();
  // The chain itself is consistent again: only the signed checkpoint at 20 disagrees, so the
  // damage lies after the last matching checkpoint (10).
  ExpectFirst(r, 11, Kind::kRewritten);
  EXPECT_NE(r.problems.front().message.find("checkpoint at seq 20"), std::string::npos);
}

TEST_F(AuditTamperTest, TruncatedAfterACheckpoint) {
  EditSpool([](auto& payloads) {
    payloads.erase(std::remove_if(payloads.begin(), payloads.end(),
                                  [](const std::string& p) { return store::EventSeq(p).value_or(0) >= 36; }),
                   payloads.end());
  });
  auto r = Verify();
  ExpectFirst(r, 36, Kind::kTruncated);
  EXPECT_EQ(r.last_seq, 35u);
}

TEST_F(AuditTamperTest, AlteredEventInTheSpoolTail) {
  EditSpool([](auto& payloads) {
    for (auto& p : payloads) {
      if (store::EventSeq(p) == 33u) Replace(&p, "\"method\":\"POST\"", "\"method\":\"GET\"");
    }
  });
  ExpectFirst(Verify(), 33, Kind::kAltered);
}

TEST_F(AuditTamperTest, DeletedEventInTheSpoolTail) {
  EditSpool([](auto& payloads) {
    payloads.erase(std::remove_if(payloads.begin(), payloads.end(),
                                  [](const std::string& p) { return store::EventSeq(p) == 35u; }),
                   payloads.end());
  });
  ExpectFirst(Verify(), 35, Kind::kDeleted);
}

TEST_F(AuditTamperTest, ClumsyEditWithoutChecksumIsDamage) {
  std::string path = SegmentFile();
  std::vector<store::DecodedBlock> blocks;
  ASSERT_TRUE(store::ReadSegmentFile(path, &blocks).ok());
  std::string bytes = ReadFile(path);
  bytes[blocks[1].ref.offset + store::kBlockHeaderBytes + 10] ^= 0x20;
  WriteFile(path, bytes);
  auto r = Verify();
  ExpectFirst(r, 16, Kind::kDamaged);
  EXPECT_EQ(r.problems.size(), 1u) << r.problems[1].message;
}

TEST_F(AuditTamperTest, OtherPublicKeyRejectsTheCheckpoints) {
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  std::array<uint8_t, 32> other;
  std::copy(pk, pk + 32, other.begin());
  std::string key = dir_ + "/other.pub";
  WriteFile(key, gateway::PublicKeyPem(other));
  ExpectFirst(Verify(key), 10, Kind::kBadCheckpoint);
  // The data directory's own key, exported, verifies.
  std::string own = dir_ + "/own.pub";
  WriteFile(own, ReadFile(gateway::AuditPublicKeyPath(dir_)));
  EXPECT_TRUE(Verify(own).ok());
}

// ---- The CLI (the hakone binary) ----

TEST_F(AuditTamperTest, CliVerify) {
  std::string out;
  int rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_}, &out, true);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("audit log intact: 45 events, 4 checkpoints (last signed at seq 40, time 20"), std::string::npos) << out;

  std::string key = dir_ + "/exported.pub";
  rc = testing::RunCommand({HAKONE_BINARY, "audit", "export-key", "--data-dir", dir_}, &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  WriteFile(key, out);
  rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_, "--public-key", key}, &out, true);
  EXPECT_EQ(rc, 0) << out;

  EditBlocks([](auto& b) { Replace(&b[0][Find(b[0], 12)], "\"user\":\"alice\"", "\"user\":\"mallory\""); });
  rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_, "--public-key", key}, &out, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("first bad seq 12: altered"), std::string::npos) << out;

  rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_, "--json"}, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("\"first_bad_seq\":12"), std::string::npos) << out;

  rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_ + "/nope"}, &out, true);
  EXPECT_EQ(rc, 1) << out;
  rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir_, "--bogus"}, &out, true);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("unknown flag --bogus"), std::string::npos) << out;
}

TEST_F(AuditTamperTest, CliSearchTimelineWho) {
  std::string out;
  int rc = testing::RunCommand({HAKONE_BINARY, "audit", "search", "--data-dir", dir_, "--user", "alice", "--method", "post",
                                "--limit", "3", "--actor", "auditor-1"},
                               &out, true);
  ASSERT_EQ(rc, 0) << out;
  // alice: i % 3 == 0; POST: odd i → 3, 9, 15, 21, 27, 33, 39, 45; newest first, 3 of them.
  EXPECT_EQ(out.rfind("TIME", 0), 0u) << out;
  EXPECT_NE(out.find("/candidates/45"), std::string::npos) << out;
  EXPECT_NE(out.find("/candidates/33"), std::string::npos) << out;
  EXPECT_EQ(out.find("/candidates/27"), std::string::npos) << out;
  EXPECT_NE(out.find("3 events, newest first (limit 3 reached"), std::string::npos) << out;

  rc = testing::RunCommand({HAKONE_BINARY, "audit", "search", "--data-dir", dir_, "--path", "/candidates/1?", "--ip",
                            "10.0.0.0/28", "--json"},
                           &out);
  ASSERT_EQ(rc, 0) << out;
  // /candidates/10..19 with client_ip 10.0.0.10..15 (/28 = .0-.15)
  std::istringstream in(out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 6u) << out;
  EXPECT_EQ(store::EventSeq(lines.front()), 15u);
  EXPECT_EQ(store::EventSeq(lines.back()), 10u);
  for (auto& l : lines) {
    gateway::SealedLine sl;
    std::string why;
    EXPECT_TRUE(gateway::ParseSealedLine(l, &sl, &why)) << l;  // the exact stored lines
  }

  rc = testing::RunCommand({HAKONE_BINARY, "audit", "timeline", "bob", "--data-dir", dir_, "--since",
                            "2024-05-01T00:00:30Z", "--json"},
                           &out);
  ASSERT_EQ(rc, 0) << out;
  // bob: i % 3 == 1, time >= 30 s → 31, 34, 37, 40, 43 (oldest first)
  std::vector<uint64_t> seqs;
  std::istringstream tin(out);
  for (std::string l; std::getline(tin, l);) seqs.push_back(store::EventSeq(l).value_or(0));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{31, 34, 37, 40, 43}));

  rc = testing::RunCommand({HAKONE_BINARY, "audit", "who", "--path", "/candidates/*", "--data-dir", dir_,
                            "--until", "2024-05-01T00:00:10Z"},
                           &out);
  ASSERT_EQ(rc, 0) << out;
  // i = 1..9: alice 3,6,9; bob 1,4,7; carol 2,5,8
  EXPECT_NE(out.find("USER"), std::string::npos) << out;
  for (const char* u : {"alice", "bob", "carol"}) EXPECT_NE(out.find(u), std::string::npos) << out;
  EXPECT_NE(out.find("2024-05-01T00:00:01.000000Z"), std::string::npos) << out;

  // Every query was recorded, with its actor.
  std::string q = ReadFile(store::AuditStoreDir(dir_) + "/queries.jsonl");
  std::istringstream qin(q);
  std::vector<std::string> qlines;
  for (std::string l; std::getline(qin, l);) qlines.push_back(l);
  ASSERT_EQ(qlines.size(), 4u) << q;
  EXPECT_NE(qlines[0].find("\"actor\":\"auditor-1\""), std::string::npos) << qlines[0];
  EXPECT_NE(qlines[0].find("\"command\":\"search\""), std::string::npos);
  EXPECT_NE(qlines[0].find("\"user\":\"alice\""), std::string::npos);
  EXPECT_NE(qlines[2].find("\"command\":\"timeline\""), std::string::npos);
  EXPECT_NE(qlines[3].find("\"command\":\"who\""), std::string::npos);
  EXPECT_NE(qlines[3].find("\"path\":\"/candidates/*\""), std::string::npos);

  // Usage errors: exit 2 with a message naming the flag.
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  } cases[] = {
      {{"search", "--status", "6xx"}, "--status"},
      {{"search", "--since", "yesterday"}, "--since"},
      {{"search", "--ip", "10.0.0.0/99"}, "--ip"},
      {{"search", "--limit", "ten"}, "--limit"},
      {{"search", "--limit", "-1"}, "--limit"},
      {{"search", "--frobnicate"}, "unknown flag --frobnicate"},
      {{"timeline"}, "USER"},
      {{"who"}, "--path"},
      {{"bogus"}, "unknown command"},
  };
  for (auto& c : cases) {
    std::vector<std::string> argv = {HAKONE_BINARY, "audit"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    if (c.args[0] != "bogus") {
      argv.push_back("--data-dir");
      argv.push_back(dir_);
    }
    rc = testing::RunCommand(argv, &out, true);
    EXPECT_EQ(rc, 2) << c.args[0] << " " << out;
    EXPECT_NE(out.find(c.needle), std::string::npos) << out;
  }
  rc = testing::RunCommand({HAKONE_BINARY, "audit", "search", "--help"}, &out);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("--status STATUS"), std::string::npos) << out;
  EXPECT_NE(out.find("Examples:"), std::string::npos) << out;
}

// Another process (the CLI) reading while this process writes, as with a running gateway.
TEST(AuditLiveTest, CliSeesEventsOfARunningWriterWithinASecond) {
  std::string dir = testing::MakeTempDir("hakone-audit-live");
  SpoolOptions so;
  so.dir = store::AuditSpoolDir(dir);
  so.flush_interval = 200ms;  // batch mode, as the gateway's default
  auto spool = Spool::Open(so);
  ASSERT_TRUE(spool.ok());
  auto chain = gateway::AuditChain::Open(dir, "gw-live", 1000, 1s);
  ASSERT_TRUE(chain.ok());
  (*chain)->SetDurableSeq([s = spool->get()] { return s->durable_seq(); });
  store::AuditStoreOptions ao;  // default: blocks cut every second
  auto st = store::AuditStore::Open(store::AuditStoreDir(dir), spool->get(), ao);
  ASSERT_TRUE(st.ok());
  for (int i = 1; i <= 3; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t seq = (*spool)->last_seq() + 1;
    ASSERT_TRUE((*spool)->Append((*chain)->Seal(Body(i), seq)).ok());
    std::string out;
    int found = 0;
    while (std::chrono::steady_clock::now() - t0 < 1s) {
      int rc = testing::RunCommand({HAKONE_BINARY, "audit", "search", "--data-dir", dir, "--json", "--limit", "0"}, &out);
      ASSERT_EQ(rc, 0) << out;
      found = static_cast<int>(std::count(out.begin(), out.end(), '\n'));
      if (found == i) break;
    }
    EXPECT_EQ(found, i) << "event " << i << " not visible within 1 s";
  }
  ASSERT_TRUE((*spool)->Sync().ok());
  std::this_thread::sleep_for(1200ms);  // a checkpoint falls due and a block is cut
  (*chain)->MaybeCheckpoint();
  std::string out;
  int rc = testing::RunCommand({HAKONE_BINARY, "audit", "verify", "--data-dir", dir}, &out, true);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("audit log intact: 3 events, 1 checkpoint (last signed at seq 3"), std::string::npos) << out;
  EXPECT_GE((*st)->stats().blocks, 1u);
  (*st)->Stop();
  testing::RemoveTree(dir);
}

}  // namespace
}  // namespace hakone
