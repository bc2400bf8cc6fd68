#include "gateway/audit_chain.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/spool.h"
#include "store/audit_store.h"

namespace hakone::gateway {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string TempDir() {
  char tmpl[] = "/tmp/hakone_audit_chain_test_XXXXXX";
  char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string Sha256Hex(std::string_view s) {
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

std::string Body(int i) {
  return "{\"time\":\"2024-05-01T00:00:0" + std::to_string(i % 10) + ".000000Z\",\"instance\":\"gw-1\",\"user\":\"u" +
         std::to_string(i) + "\",\"method\":\"GET\",\"path\":\"/x/" + std::to_string(i) + "\",\"status\":200}";
}

TEST(SealTest, ExactLineAndHashRule) {
  ASSERT_GE(sodium_init(), 0);
  std::string body = R"({"time":"2024-05-01T00:00:00Z","user":"alice","path":"/candidates/1"})";
  std::string line = SealLine(body, 1, kZeroHash);
  std::string prefix = R"({"seq":1,"time":"2024-05-01T00:00:00Z","user":"alice","path":"/candidates/1","prev_hash":")" +
                       std::string(kZeroHash) + "\"";
  ASSERT_EQ(line.substr(0, prefix.size()), prefix);
  std::string expected_hash = Sha256Hex(prefix + "}");
  EXPECT_EQ(line, prefix + ",\"hash\":\"" + expected_hash + "\"}");
  SealedLine sl;
  std::string why;
  ASSERT_TRUE(ParseSealedLine(line, &sl, &why)) << why;
  EXPECT_EQ(sl.seq, 1u);
  EXPECT_EQ(sl.prev_hash, kZeroHash);
  EXPECT_EQ(sl.hash, expected_hash);
  EXPECT_EQ(ComputeLineHash(line), expected_hash);
  // The line is valid JSON with the seq first.
  EXPECT_EQ(store::EventSeq(line), 1u);

  // The next line links to this one.
  std::string line2 = SealLine(body, 2, expected_hash);
  ASSERT_TRUE(ParseSealedLine(line2, &sl, &why));
  EXPECT_EQ(sl.prev_hash, expected_hash);

  // Any change of a byte changes the hash.
  std::string altered = line;
  altered[line.find("alice")] = 'A';
  EXPECT_NE(ComputeLineHash(altered), expected_hash);
}

TEST(SealTest, OddBodies) {
  std::string l = SealLine("  {}  ", 7, kZeroHash);
  EXPECT_EQ(l.substr(0, 22), "{\"seq\":7,\"prev_hash\":\"");
  SealedLine sl;
  std::string why;
  EXPECT_TRUE(ParseSealedLine(l, &sl, &why)) << why;
  l = SealLine(" {\"a\":1} \n", 8, kZeroHash);
  EXPECT_EQ(l.substr(0, 15), "{\"seq\":8,\"a\":1,");
  l = SealLine("not json\n\"x", 9, kZeroHash);
  EXPECT_NE(l.find(R"("invalid_body":"not json\n\"x")"), std::string::npos);
  EXPECT_TRUE(ParseSealedLine(l, &sl, &why));
  EXPECT_EQ(ComputeLineHash(l), sl.hash);
  EXPECT_FALSE(ParseSealedLine("{\"seq\":1}", &sl, &why));
  EXPECT_FALSE(ParseSealedLine("", &sl, &why));
}

TEST(KeyTest, ParsePublicKeyForms) {
  std::array<uint8_t, 32> pk{};
  for (size_t i = 0; i < 32; ++i) pk[i] = static_cast<uint8_t>(i * 7);
  std::string pem = PublicKeyPem(pk);
  EXPECT_EQ(pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u);
  auto r = ParsePublicKey(pem);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, pk);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, pk.data(), 32);
  r = ParsePublicKey(std::string(hex) + "\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, pk);
  EXPECT_FALSE(ParsePublicKey("hello").ok());
  EXPECT_FALSE(ParsePublicKey(std::string(64, 'z')).ok());
  EXPECT_FALSE(ParsePublicKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
}

class ChainFixture : public ::testing::Test {
 protected:
  void SetUp() override { data_ = TempDir(); }
  void TearDown() override {
    chain_.reset();
    spool_.reset();
    fs::remove_all(data_);
  }
  void OpenSpool() {
    SpoolOptions so;
    so.dir = store::AuditSpoolDir(data_);
    so.fsync = false;
    so.flush_interval = 10ms;
    auto s = Spool::Open(so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }
  void OpenChain(uint64_t every = 1000, std::chrono::seconds interval = 10s) {
    auto c = AuditChain::Open(data_, "gw-1", every, interval);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    chain_ = std::move(*c);
  }
  // What the gateway does for one event.
  std::string Record(int i) {
    uint64_t seq = spool_->last_seq() + 1;
    std::string line = chain_->Seal(Body(i), seq);
    auto r = spool_->Append(line);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(*r, seq);
    chain_->MaybeCheckpoint();
    return line;
  }

  std::string data_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<AuditChain> chain_;
};

TEST_F(ChainFixture, CreatesKeyPairWithPrivateMode) {
  OpenChain();
  struct stat st;
  ASSERT_EQ(::stat(AuditPrivateKeyPath(data_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((fs::path(data_) / "keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  std::string priv = ReadFile(AuditPrivateKeyPath(data_));
  EXPECT_EQ(priv.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  std::string pub = ReadFile(AuditPublicKeyPath(data_));
  EXPECT_EQ(pub, chain_->public_key_pem_or_hex());
  auto pk = ParsePublicKey(pub);
  ASSERT_TRUE(pk.ok());
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, pk->data(), 32);
  EXPECT_EQ(chain_->public_key_hex(), hex);
  std::string first = chain_->public_key_hex();
  chain_.reset();
  OpenChain();  // the same key is loaded again
  EXPECT_EQ(chain_->public_key_hex(), first);
  EXPECT_EQ(ReadFile(AuditPrivateKeyPath(data_)), priv);
}

TEST_F(ChainFixture, RejectsBadInstance) {
  EXPECT_EQ(AuditChain::Open(data_, "a\nb").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AuditChain::Open(data_, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AuditChain::Open(data_, "q\"").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AuditChain::Open(data_, "ok", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ChainFixture, ContinuesAcrossRestartsAndVerifies) {
  OpenSpool();
  OpenChain();
  EXPECT_EQ(chain_->last_seq(), 0u);
  EXPECT_EQ(chain_->last_hash(), kZeroHash);
  std::string l1 = Record(1);
  SealedLine sl;
  std::string why;
  ASSERT_TRUE(ParseSealedLine(l1, &sl, &why));
  EXPECT_EQ(sl.prev_hash, kZeroHash);
  for (int i = 2; i <= 5; ++i) Record(i);
  std::string h5 = chain_->last_hash();
  ASSERT_TRUE(spool_->Sync().ok());
  chain_.reset();
  spool_.reset();

  OpenSpool();
  OpenChain();
  EXPECT_EQ(chain_->last_seq(), 5u);
  EXPECT_EQ(chain_->last_hash(), h5);
  std::string l6 = Record(6);
  ASSERT_TRUE(ParseSealedLine(l6, &sl, &why));
  EXPECT_EQ(sl.seq, 6u);
  EXPECT_EQ(sl.prev_hash, h5);
  Record(7);
  ASSERT_TRUE(spool_->Sync().ok());
  ASSERT_TRUE(chain_->Checkpoint().ok());

  VerifyReport r;
  Status st = VerifyAudit(data_, "", &r);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(r.events, 7u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 7u);
  EXPECT_EQ(r.checkpoints, 1u);
  EXPECT_EQ(r.last_checkpoint_seq, 7u);
  EXPECT_EQ(r.unsigned_events, 0u);
}

TEST_F(ChainFixture, ResealingTheSameSeqReplacesTheUnappendedLine) {
  OpenChain();
  std::string a = chain_->Seal(Body(1), 1);
  std::string h1 = chain_->last_hash();
  std::string lost = chain_->Seal(Body(2), 2);  // pretend Append failed
  std::string b = chain_->Seal(Body(3), 2);
  SealedLine sl;
  std::string why;
  ASSERT_TRUE(ParseSealedLine(b, &sl, &why));
  EXPECT_EQ(sl.seq, 2u);
  EXPECT_EQ(sl.prev_hash, h1);
  EXPECT_EQ(chain_->last_hash(), sl.hash);
}

TEST_F(ChainFixture, CheckpointsEveryNEvents) {
  OpenSpool();
  OpenChain(3);
  for (int i = 1; i <= 10; ++i) Record(i);
  auto lines = ReadLines(AuditCheckpointsPath(data_));
  ASSERT_EQ(lines.size(), 3u);
  std::vector<uint64_t> seqs;
  for (auto& l : lines) {
    store::ForEachTopLevelMember(l, [&](std::string_view k, std::string_view v) {
      if (k == "seq") seqs.push_back(static_cast<uint64_t>(*store::JsonIntValue(v)));
      return true;
    });
    EXPECT_NE(l.find("\"type\":\"checkpoint\""), std::string::npos);
    EXPECT_NE(l.find("\"instance\":\"gw-1\""), std::string::npos);
    EXPECT_NE(l.find("\"alg\":\"ed25519\""), std::string::npos);
    EXPECT_NE(l.find("\"key_id\":\"" + chain_->key_id() + "\""), std::string::npos);
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 6, 9}));
  EXPECT_EQ(chain_->last_checkpoint_seq(), 9u);

  // Check a signature by hand, following the documented message format.
  std::string l = lines[1];
  auto field = [&](std::string_view key) {
    std::string out;
    store::ForEachTopLevelMember(l, [&](std::string_view k, std::string_view v) {
      if (k == key) out = v[0] == '"' ? *store::JsonStringValue(v) : std::string(v);
      return true;
    });
    return out;
  };
  std::string msg = "hakone-audit-checkpoint-v1\ngw-1\n6\n" + field("hash") + "\n" + field("time_us");
  uint8_t sig[64];
  ASSERT_EQ(sodium_hex2bin(sig, 64, field("sig").data(), 128, nullptr, nullptr, nullptr), 0);
  auto pk = ParsePublicKey(chain_->public_key_pem_or_hex());
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pk->data()), 0);
  msg[msg.size() - 1] ^= 1;
  EXPECT_NE(crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pk->data()), 0);

  ASSERT_TRUE(spool_->Sync().ok());
  VerifyReport r;
  EXPECT_TRUE(VerifyAudit(data_, "", &r).ok()) << r.FirstProblemText();
  EXPECT_EQ(r.checkpoints, 3u);
  EXPECT_EQ(r.last_checkpoint_seq, 9u);
  EXPECT_EQ(r.unsigned_events, 1u);
}

TEST_F(ChainFixture, CheckpointsAfterTheInterval) {
  OpenSpool();
  OpenChain(1000, 1s);
  Record(1);
  EXPECT_FALSE(fs::exists(AuditCheckpointsPath(data_)));
  std::this_thread::sleep_for(1100ms);
  chain_->MaybeCheckpoint();
  EXPECT_EQ(ReadLines(AuditCheckpointsPath(data_)).size(), 1u);
  chain_->MaybeCheckpoint();  // nothing new: no second checkpoint
  std::this_thread::sleep_for(1100ms);
  chain_->MaybeCheckpoint();
  EXPECT_EQ(ReadLines(AuditCheckpointsPath(data_)).size(), 1u);
}

TEST_F(ChainFixture, CheckpointsOnlyDurableEvents) {
  OpenChain(2);
  uint64_t durable = 0;
  chain_->SetDurableSeq([&] { return durable; });
  for (uint64_t s = 1; s <= 5; ++s) {
    chain_->Seal(Body(static_cast<int>(s)), s);
    chain_->MaybeCheckpoint();
  }
  EXPECT_FALSE(fs::exists(AuditCheckpointsPath(data_)));  // nothing durable yet
  durable = 3;
  chain_->MaybeCheckpoint();
  EXPECT_EQ(chain_->last_checkpoint_seq(), 3u);
  durable = 5;
  ASSERT_TRUE(chain_->Checkpoint().ok());
  EXPECT_EQ(chain_->last_checkpoint_seq(), 5u);
  EXPECT_EQ(ReadLines(AuditCheckpointsPath(data_)).size(), 2u);
}

TEST_F(ChainFixture, VerifyNeverCrashesOnGarbage) {
  OpenSpool();
  OpenChain(5);
  std::vector<std::string> lines;
  for (int i = 1; i <= 20; ++i) lines.push_back(Record(i));
  std::srand(5);
  for (int i = 0; i < 200; ++i) {
    std::string l = lines[static_cast<size_t>(std::rand()) % lines.size()];
    for (int k = 0; k < 3; ++k) {
      size_t pos = static_cast<size_t>(std::rand()) % l.size();
      if (std::rand() % 2) l[pos] = static_cast<char>("{}\",:0123456789abcdef"[std::rand() % 21]);
      else l.erase(pos, static_cast<size_t>(std::rand()) % 80);
      if (l.empty()) l = "x";
    }
    ASSERT_TRUE(spool_->Append(l).ok());
  }
  ASSERT_TRUE(spool_->Sync().ok());
  VerifyReport r;
  Status st = VerifyAudit(data_, "", &r);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.events, 220u);
  EXPECT_LE(r.problems.size(), 1000u);
  for (size_t i = 1; i < r.problems.size(); ++i) EXPECT_LE(r.problems[i - 1].seq, r.problems[i].seq);
}

TEST_F(ChainFixture, VerifyOnEmptyAndMissingLogs) {
  VerifyReport r;
  EXPECT_EQ(VerifyAudit(data_ + "/nope", "", &r).code(), StatusCode::kNotFound);
  OpenChain();
  EXPECT_TRUE(VerifyAudit(data_, "", &r).ok());
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(VerifyAudit(data_, data_ + "/missing.pub", &r).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hakone::gateway
