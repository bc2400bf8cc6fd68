#include "gateway/audit_chain.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "core/log.h"
#include "store/audit_store.h"
#include "store/block.h"

namespace hakone::gateway {

namespace fs = std::filesystem;

namespace {

constexpr size_t kHashSuffixLen = 75;      // ,"hash":"<64>"}
constexpr size_t kPrevSuffixLen = 79;      // ,"prev_hash":"<64>"
constexpr std::string_view kSeqPrefix = "{\"seq\":";
constexpr std::string_view kSigContext = "hakone-audit-checkpoint-v1\n";

constexpr uint8_t kPkcs8Prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                      0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
constexpr uint8_t kSpkiPrefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.resize(n * 2);
  return out;
}

bool Unhex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2) return false;
  size_t got = 0;
  if (sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &got, nullptr) != 0) return false;
  return got == n;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Pem(std::string_view label, const uint8_t* der, size_t n) {
  std::string b64(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), der, n, sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += "-----END " + std::string(label) + "-----\n";
  return out;
}

// The DER bytes inside a PEM block with the given label; false when absent or bad base64.
bool UnPem(std::string_view text, std::string_view label, std::vector<uint8_t>* der) {
  std::string begin = "-----BEGIN " + std::string(label) + "-----";
  std::string end = "-----END " + std::string(label) + "-----";
  size_t b = text.find(begin);
  if (b == std::string_view::npos) return false;
  size_t e = text.find(end, b + begin.size());
  if (e == std::string_view::npos) return false;
  std::string body;
  for (char c : text.substr(b + begin.size(), e - b - begin.size())) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') body.push_back(c);
  }
  der->assign(body.size(), 0);
  size_t len = 0;
  if (sodium_base642bin(der->data(), der->size(), body.data(), body.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  der->resize(len);
  return true;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::FromErrno("open " + path, errno);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::FromErrno("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (512u << 20)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": file too large");
    }
  }
  ::close(fd);
  return out;
}

Status FsyncPath(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno("fsync " + path, err);
  return Status::Ok();
}

// Writes `data` to `path` durably with `mode`, without replacing an existing file
// (AlreadyExists then).
Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno("create " + tmp, errno);
  ::fchmod(fd, mode);
  Status st = store::WriteAll(fd, data);
  if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + tmp, errno);
  ::close(fd);
  if (st.ok() && ::link(tmp.c_str(), path.c_str()) != 0) {
    st = errno == EEXIST ? Status::AlreadyExists(path) : Status::FromErrno("link " + path, errno);
  }
  ::unlink(tmp.c_str());
  if (st.ok()) st = FsyncPath(fs::path(path).parent_path().string(), true);
  return st;
}

std::string SignedMessage(std::string_view instance, uint64_t seq, std::string_view hash, int64_t time_us) {
  std::string m(kSigContext);
  m += instance;
  m += '\n';
  m += std::to_string(seq);
  m += '\n';
  m += hash;
  m += '\n';
  m += std::to_string(time_us);
  return m;
}

std::string KeyId(const std::array<uint8_t, 32>& pk) {
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, pk.data(), pk.size());
  return Hex(h, 8);
}

bool ValidInstance(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::string AuditPrivateKeyPath(const std::string& data_dir) {
  return (fs::path(data_dir) / "keys" / "audit-ed25519.key").string();
}
std::string AuditPublicKeyPath(const std::string& data_dir) {
  return (fs::path(data_dir) / "keys" / "audit-ed25519.pub").string();
}
std::string AuditCheckpointsPath(const std::string& data_dir) {
  return (fs::path(store::AuditStoreDir(data_dir)) / "checkpoints.jsonl").string();
}

// ---------------------------------------------------------------------------------------------
// Line format

bool ParseSealedLine(std::string_view line, SealedLine* out, std::string* why) {
  auto fail = [&](const char* w) {
    if (why) *why = w;
    return false;
  };
  if (line.size() < kSeqPrefix.size() + 1 + kPrevSuffixLen + kHashSuffixLen) return fail("too short");
  if (line.substr(0, kSeqPrefix.size()) != kSeqPrefix) return fail("does not start with {\"seq\":");
  size_t pos = kSeqPrefix.size();
  uint64_t seq = 0;
  size_t digits = 0;
  while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9' && digits < 20) {
    seq = seq * 10 + static_cast<uint64_t>(line[pos] - '0');
    ++pos;
    ++digits;
  }
  if (digits == 0 || line[pos] != ',') return fail("bad seq");
  std::string_view hs = line.substr(line.size() - kHashSuffixLen);
  if (hs.substr(0, 9) != ",\"hash\":\"" || hs.substr(73) != "\"}") return fail("does not end with ,\"hash\":\"...\"}");
  std::string_view hash = hs.substr(9, 64);
  std::string_view ps = line.substr(line.size() - kHashSuffixLen - kPrevSuffixLen, kPrevSuffixLen);
  if (ps.substr(0, 14) != ",\"prev_hash\":\"" || ps.back() != '"') return fail("no prev_hash before hash");
  std::string_view prev = ps.substr(14, 64);
  if (!IsLowerHex(hash) || !IsLowerHex(prev)) return fail("hash or prev_hash is not 64 lowercase hex digits");
  if (line.size() - kHashSuffixLen - kPrevSuffixLen < pos) return fail("overlapping fields");
  out->seq = seq;
  out->prev_hash = prev;
  out->hash = hash;
  return true;
}

std::string ComputeLineHash(std::string_view line) {
  if (line.size() < kHashSuffixLen) return "";
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(line.data()), line.size() - kHashSuffixLen);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>("}"), 1);
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  return Hex(h, sizeof h);
}

std::string SealLine(std::string_view body, uint64_t seq, std::string_view prev_hash) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  };
  std::string_view b = trim(body);
  std::string line;
  line.reserve(b.size() + 180);
  line += kSeqPrefix;
  line += std::to_string(seq);
  bool object = b.size() >= 2 && b.front() == '{' && b.back() == '}' && b.find('\n') == std::string_view::npos &&
                b.find('\r') == std::string_view::npos;
  if (object) {
    std::string_view inner = trim(b.substr(1, b.size() - 2));
    if (!inner.empty()) {
      line += ',';
      line += inner;
    }
  } else {
    line += ",\"invalid_body\":\"";
    log::AppendJsonEscaped(line, body);
    line += '"';
  }
  line += ",\"prev_hash\":\"";
  line += prev_hash;
  line += '"';
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(line.data()), line.size());
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>("}"), 1);
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  line += ",\"hash\":\"";
  line += Hex(h, sizeof h);
  line += "\"}";
  return line;
}

// ---------------------------------------------------------------------------------------------
// Keys

Result<std::array<uint8_t, 32>> ParsePublicKey(std::string_view text) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::array<uint8_t, 32> pk{};
  std::string_view t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
  while (!t.empty() && (t.front() == '\n' || t.front() == '\r' || t.front() == ' ')) t.remove_prefix(1);
  if (t.size() == 64) {
    if (Unhex(t, pk.data(), 32)) return pk;
    return Status::InvalidArgument("public key: 64 characters but not hex");
  }
  std::vector<uint8_t> der;
  if (!UnPem(text, "PUBLIC KEY", &der))
    return Status::InvalidArgument("public key: expected a PEM \"BEGIN PUBLIC KEY\" block or 64 hex digits");
  if (der.size() != sizeof kSpkiPrefix + 32 || std::memcmp(der.data(), kSpkiPrefix, sizeof kSpkiPrefix) != 0)
    return Status::InvalidArgument("public key: not an Ed25519 SubjectPublicKeyInfo");
  std::memcpy(pk.data(), der.data() + sizeof kSpkiPrefix, 32);
  return pk;
}

std::string PublicKeyPem(const std::array<uint8_t, 32>& pk) {
  uint8_t der[sizeof kSpkiPrefix + 32];
  std::memcpy(der, kSpkiPrefix, sizeof kSpkiPrefix);
  std::memcpy(der + sizeof kSpkiPrefix, pk.data(), 32);
  return Pem("PUBLIC KEY", der, sizeof der);
}

namespace {

struct KeyPair {
  std::array<uint8_t, 32> pk{};
  std::array<uint8_t, 64> sk{};
};

Status LoadPrivateKey(const std::string& path, KeyPair* kp) {
  HAKONE_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::vector<uint8_t> der;
  bool ok = UnPem(text, "PRIVATE KEY", &der) && der.size() == sizeof kPkcs8Prefix + 32 &&
            std::memcmp(der.data(), kPkcs8Prefix, sizeof kPkcs8Prefix) == 0;
  sodium_memzero(text.data(), text.size());
  if (!ok) {
    if (!der.empty()) sodium_memzero(der.data(), der.size());
    return Status::Corruption(path + ": not an Ed25519 PKCS#8 PEM private key");
  }
  crypto_sign_seed_keypair(kp->pk.data(), kp->sk.data(), der.data() + sizeof kPkcs8Prefix);
  sodium_memzero(der.data(), der.size());
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    log::Warn("audit private key was readable by others; setting its mode to 0600", {{"file", path}});
    ::chmod(path.c_str(), 0600);
  }
  return Status::Ok();
}

Status LoadOrCreateKey(const std::string& data_dir, KeyPair* kp) {
  std::string key_dir = (fs::path(data_dir) / "keys").string();
  std::error_code ec;
  if (!fs::is_directory(key_dir, ec)) {
    if (::mkdir(key_dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + key_dir, errno);
    HAKONE_RETURN_IF_ERROR(FsyncPath(data_dir, true));
  }
  std::string priv = AuditPrivateKeyPath(data_dir);
  std::string pub = AuditPublicKeyPath(data_dir);
  if (!fs::exists(priv, ec)) {
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    uint8_t der[sizeof kPkcs8Prefix + 32];
    std::memcpy(der, kPkcs8Prefix, sizeof kPkcs8Prefix);
    std::memcpy(der + sizeof kPkcs8Prefix, seed, 32);
    std::string pem = Pem("PRIVATE KEY", der, sizeof der);
    Status st = WriteNewFile(priv, pem, 0600);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(der, sizeof der);
    sodium_memzero(pem.data(), pem.size());
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
    if (st.ok()) log::Info("created the audit signing key", {{"file", priv}});
  }
  HAKONE_RETURN_IF_ERROR(LoadPrivateKey(priv, kp));
  std::string want = PublicKeyPem(kp->pk);
  auto have = ReadSmallFile(pub);
  if (!have.ok() || *have != want) {
    if (have.ok()) log::Warn("audit public key file did not match the private key; rewriting it", {{"file", pub}});
    ::unlink(pub.c_str());
    Status st = WriteNewFile(pub, want, 0644);
    if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
  }
  return Status::Ok();
}

// The last checkpoint in checkpoints.jsonl (seq 0 when none).
void LastCheckpoint(const std::string& path, uint64_t* seq) {
  *seq = 0;
  auto text = ReadSmallFile(path);
  if (!text.ok()) return;
  std::string_view t = *text;
  size_t pos = 0;
  while (pos < t.size()) {
    size_t nl = t.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a torn last line
    std::string_view line = t.substr(pos, nl - pos);
    pos = nl + 1;
    store::ForEachTopLevelMember(line, [&](std::string_view k, std::string_view v) {
      if (k == "seq") {
        if (auto i = store::JsonIntValue(v); i && *i > 0) *seq = std::max(*seq, static_cast<uint64_t>(*i));
      }
      return true;
    });
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// AuditChain

struct AuditChain::Impl {
  std::string data_dir;
  std::string instance;
  std::string cp_path;
  uint64_t every = 1000;
  std::chrono::seconds interval{10};
  KeyPair kp;
  std::string key_id;

  mutable std::mutex mu;
  uint64_t head_seq = 0;
  std::string head_hash{kZeroHash};
  bool have_before = false;  // the head was sealed by this process: Seal(head_seq) may replace it
  std::string before_hash;
  std::function<uint64_t()> durable_fn;
  std::deque<std::pair<uint64_t, std::string>> candidates;  // sealed, maybe not durable yet
  uint64_t last_cp_seq = 0;
  std::chrono::steady_clock::time_point last_cp_time = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point retry_after{};
  bool cp_busy = false;

  std::mutex cp_mu;
  int cp_fd = -1;

  ~Impl() {
    sodium_memzero(kp.sk.data(), kp.sk.size());
    if (cp_fd >= 0) ::close(cp_fd);
  }

  Status WriteCheckpoint(uint64_t seq, const std::string& hash) {
    int64_t t = NowMicros();
    std::string msg = SignedMessage(instance, seq, hash, t);
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), kp.sk.data());
    std::string line = "{\"type\":\"checkpoint\",\"instance\":\"" + instance + "\",\"seq\":" + std::to_string(seq) +
                       ",\"hash\":\"" + hash + "\",\"time\":\"" + store::FormatRfc3339Micros(t) +
                       "\",\"time_us\":" + std::to_string(t) + ",\"alg\":\"ed25519\",\"key_id\":\"" + key_id +
                       "\",\"sig\":\"" + Hex(sig, sizeof sig) + "\"}\n";
    std::lock_guard lk(cp_mu);
    if (cp_fd < 0) {
      std::error_code ec;
      bool existed = fs::exists(cp_path, ec);
      cp_fd = ::open(cp_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (cp_fd < 0) return Status::FromErrno("open " + cp_path, errno);
      if (!existed) HAKONE_RETURN_IF_ERROR(FsyncPath(fs::path(cp_path).parent_path().string(), true));
    }
    struct stat st;
    off_t before = ::fstat(cp_fd, &st) == 0 ? st.st_size : -1;
    Status ws = store::WriteAll(cp_fd, line);
    if (ws.ok() && ::fdatasync(cp_fd) != 0) ws = Status::FromErrno("fdatasync " + cp_path, errno);
    if (!ws.ok()) {
      if (before >= 0 && ::ftruncate(cp_fd, before) != 0) {
        ::close(cp_fd);
        cp_fd = -1;
      }
      return ws.WithContext("audit checkpoint");
    }
    return Status::Ok();
  }

  // force: ignore the every/interval rule.
  Status Run(bool force) {
    uint64_t seq = 0;
    std::string hash;
    auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lk(mu);
      if (cp_busy || head_seq <= last_cp_seq) return Status::Ok();
      if (!force) {
        if (now < retry_after) return Status::Ok();
        bool due = head_seq - last_cp_seq >= every || now - last_cp_time >= interval;
        if (!due) return Status::Ok();
      }
      if (durable_fn) {
        uint64_t d = durable_fn();
        while (!candidates.empty() && candidates.front().first <= d) {
          seq = candidates.front().first;
          hash = std::move(candidates.front().second);
          candidates.pop_front();
        }
        if (seq == 0 || seq <= last_cp_seq) return Status::Ok();
      } else {
        seq = head_seq;
        hash = head_hash;
      }
      cp_busy = true;
    }
    Status st = WriteCheckpoint(seq, hash);
    std::lock_guard lk(mu);
    cp_busy = false;
    if (st.ok()) {
      last_cp_seq = std::max(last_cp_seq, seq);
      last_cp_time = now;
    } else {
      retry_after = now + std::chrono::seconds(1);
    }
    return st;
  }
};

AuditChain::AuditChain(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditChain::~AuditChain() = default;

Result<std::unique_ptr<AuditChain>> AuditChain::Open(const std::string& data_dir, std::string instance,
                                                     uint64_t checkpoint_every, std::chrono::seconds checkpoint_interval) {
  if (sodium_init() < 0) return Status::Internal("audit chain: libsodium failed to initialise");
  if (data_dir.empty()) return Status::InvalidArgument("audit chain: data_dir is empty");
  if (!ValidInstance(instance))
    return Status::InvalidArgument("audit chain: instance '" + instance +
                                   "' must be 1-128 printable characters without quotes, backslashes or newlines");
  if (checkpoint_every == 0) return Status::InvalidArgument("audit chain: checkpoint_every must be at least 1");
  if (checkpoint_interval.count() <= 0) return Status::InvalidArgument("audit chain: checkpoint_interval must be positive");
  std::error_code ec;
  fs::create_directories(store::AuditStoreDir(data_dir), ec);
  if (ec) return Status::IOError("audit chain: create " + store::AuditStoreDir(data_dir) + ": " + ec.message());

  auto impl = std::make_unique<Impl>();
  impl->data_dir = data_dir;
  impl->instance = std::move(instance);
  impl->cp_path = AuditCheckpointsPath(data_dir);
  impl->every = checkpoint_every;
  impl->interval = checkpoint_interval;
  HAKONE_RETURN_IF_ERROR(LoadOrCreateKey(data_dir, &impl->kp).WithContext("audit chain"));
  impl->key_id = KeyId(impl->kp.pk);

  // The chain head: the newest event in the blocks or the spool tail.
  store::AuditStoreOptions so;
  so.spool_dir = store::AuditSpoolDir(data_dir);
  auto st = store::AuditStore::Open(store::AuditStoreDir(data_dir), nullptr, so);
  if (!st.ok()) return st.status().WithContext("audit chain: read the log head");
  auto last = (*st)->LastEvent();
  if (!last.ok()) return last.status().WithContext("audit chain: read the log head");
  if (last->has_value()) {
    const std::string& line = **last;
    SealedLine sl;
    std::string why;
    if (ParseSealedLine(line, &sl, &why)) {
      impl->head_seq = sl.seq;
      impl->head_hash = std::string(sl.hash);
    } else {
      // Keep going (refusing to start would stop the proxy); verify will name the damage.
      impl->head_seq = store::EventSeq(line).value_or(0);
      uint8_t h[crypto_hash_sha256_BYTES];
      crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(line.data()), line.size());
      impl->head_hash = Hex(h, sizeof h);
      log::Error("audit chain: the newest event is not a sealed line; continuing the chain after it",
                 {{"seq", static_cast<unsigned long long>(impl->head_seq)}, {"reason", why}});
    }
  }
  LastCheckpoint(impl->cp_path, &impl->last_cp_seq);
  if (impl->last_cp_seq > impl->head_seq) {
    log::Error("audit chain: a signed checkpoint names a seq past the end of the log (events were lost or removed); "
               "run hakone audit verify",
               {{"checkpoint_seq", static_cast<unsigned long long>(impl->last_cp_seq)},
                {"log_end_seq", static_cast<unsigned long long>(impl->head_seq)}});
    impl->last_cp_seq = impl->head_seq;
  }
  log::Info("audit chain opened", {{"instance", impl->instance},
                                   {"head_seq", static_cast<unsigned long long>(impl->head_seq)},
                                   {"key_id", impl->key_id}});
  return std::unique_ptr<AuditChain>(new AuditChain(std::move(impl)));
}

std::string AuditChain::Seal(std::string_view body, uint64_t seq) {
  auto& m = *impl_;
  std::lock_guard lk(m.mu);
  std::string prev;
  if (seq == m.head_seq && m.have_before) {
    prev = m.before_hash;  // the line sealed for this seq was never appended: replace it
    if (!m.candidates.empty() && m.candidates.back().first == seq) m.candidates.pop_back();
  } else {
    m.before_hash = m.head_hash;
    prev = m.head_hash;
  }
  std::string line = SealLine(body, seq, prev);
  m.head_seq = seq;
  m.head_hash = line.substr(line.size() - 66, 64);
  m.have_before = true;
  if (m.durable_fn) {
    m.candidates.emplace_back(seq, m.head_hash);
    size_t cap = static_cast<size_t>(std::min<uint64_t>(m.every, 100000)) * 2 + 1024;
    while (m.candidates.size() > cap) m.candidates.pop_front();
  }
  return line;
}

void AuditChain::MaybeCheckpoint() {
  Status st = impl_->Run(false);
  if (!st.ok()) log::Error("audit checkpoint failed (retrying)", {{"error", st.ToString()}});
}

Status AuditChain::Checkpoint() { return impl_->Run(true); }

void AuditChain::SetDurableSeq(std::function<uint64_t()> durable_seq) {
  std::lock_guard lk(impl_->mu);
  impl_->durable_fn = std::move(durable_seq);
}

std::string AuditChain::public_key_pem_or_hex() const { return PublicKeyPem(impl_->kp.pk); }
std::string AuditChain::public_key_hex() const { return Hex(impl_->kp.pk.data(), 32); }
std::string AuditChain::key_id() const { return impl_->key_id; }
const std::string& AuditChain::instance() const { return impl_->instance; }
uint64_t AuditChain::last_seq() const {
  std::lock_guard lk(impl_->mu);
  return impl_->head_seq;
}
std::string AuditChain::last_hash() const {
  std::lock_guard lk(impl_->mu);
  return impl_->head_hash;
}
uint64_t AuditChain::last_checkpoint_seq() const {
  std::lock_guard lk(impl_->mu);
  return impl_->last_cp_seq;
}

// ---------------------------------------------------------------------------------------------
// Verification

std::string_view VerifyProblemKindName(VerifyProblem::Kind k) {
  switch (k) {
    case VerifyProblem::Kind::kAltered: return "altered";
    case VerifyProblem::Kind::kDeleted: return "deleted";
    case VerifyProblem::Kind::kInserted: return "inserted";
    case VerifyProblem::Kind::kReordered: return "reordered";
    case VerifyProblem::Kind::kRewritten: return "rewritten";
    case VerifyProblem::Kind::kTruncated: return "truncated";
    case VerifyProblem::Kind::kBadCheckpoint: return "bad checkpoint";
    case VerifyProblem::Kind::kDamaged: return "damaged";
  }
  return "?";
}

std::string VerifyReport::FirstProblemText() const {
  if (problems.empty()) return "";
  const auto& p = problems.front();
  return "seq " + std::to_string(p.seq) + ": " + std::string(VerifyProblemKindName(p.kind)) + ": " + p.message;
}

namespace {

using Kind = VerifyProblem::Kind;

struct CheckpointInfo {
  uint64_t seq = 0;
  std::string hash;
  std::string time;
  size_t line_no = 0;
  bool seen = false;     // an event with this seq was read
  bool matched = false;  // ... and its hash equals the checkpoint's
};

class Verifier {
 public:
  explicit Verifier(VerifyReport* r) : r_(r) {}

  std::multimap<uint64_t, CheckpointInfo> cps;

  void Add(Kind k, uint64_t seq, std::string msg) {
    if (all_.size() < 100000) all_.push_back(VerifyProblem{k, seq, std::move(msg)});
  }

  void Feed(std::string_view line) {
    ++r_->events;
    SealedLine sl;
    std::string why;
    if (!ParseSealedLine(line, &sl, &why)) {
      uint64_t s = store::EventSeq(line).value_or(max_seq_ + 1);
      Add(Kind::kAltered, s, "the event line is malformed (" + why + ")");
      Advance(s, "", /*link_known=*/false);
      return;
    }
    uint64_t s = sl.seq;
    std::string recomputed = ComputeLineHash(line);
    if (recomputed != sl.hash) Add(Kind::kAltered, s, "the event's content does not match its hash (it was edited)");
    bool suppress_dup = false;
    if (pending_.active) {
      pending_.active = false;
      if (s == pending_.seq && sl.prev_hash == pending_.expected_prev) {
        Add(Kind::kInserted, s,
            "a forged event with seq " + std::to_string(s) + " was inserted before the original (its prev_hash does not link)");
        suppress_dup = true;
      } else {
        ReportBrokenLink(pending_.seq);
      }
    }
    auto range = cps.equal_range(s);
    for (auto it = range.first; it != range.second; ++it) {
      it->second.seen = true;
      if (it->second.hash == recomputed) it->second.matched = true;
    }
    if (!any_) {
      any_ = true;
      r_->first_seq = s;
      if (s > 1) {
        Add(Kind::kDeleted, 1, "events 1.." + std::to_string(s - 1) + " are missing (the log starts at seq " + std::to_string(s) + ")");
      } else if (sl.prev_hash != kZeroHash) {
        Add(Kind::kInserted, s, "the first event's prev_hash is not zero: it does not start the chain");
      }
      max_seq_ = s;
      link_ = {std::string(sl.hash)};
      link_known_ = true;
      return;
    }
    if (s == max_seq_ + 1) {
      bool linked = !link_known_ || std::find(link_.begin(), link_.end(), sl.prev_hash) != link_.end();
      if (!linked) pending_ = {true, s, link_.front()};
      Advance(s, sl.hash, true);
    } else if (s > max_seq_ + 1) {
      uint64_t a = max_seq_ + 1, b = s - 1;
      if (!after_damage_) {
        if (b - a < 100000) {
          for (uint64_t x = a; x <= b; ++x) missing_.insert(x);
        } else {
          Add(Kind::kDeleted, a, "events " + std::to_string(a) + ".." + std::to_string(b) + " are missing (deleted)");
        }
      }
      Advance(s, sl.hash, true);
    } else if (s == max_seq_) {
      if (!suppress_dup) Add(Kind::kInserted, s, "seq " + std::to_string(s) + " appears twice: an event was inserted");
      link_.push_back(std::string(sl.hash));
      after_damage_ = false;
    } else {
      if (missing_.erase(s)) {
        Add(Kind::kReordered, s, "seq " + std::to_string(s) + " appears after seq " + std::to_string(max_seq_) + ": events were reordered");
      } else {
        Add(Kind::kInserted, s, "seq " + std::to_string(s) + " appears again after seq " + std::to_string(max_seq_) +
                                    " (a duplicated or replayed event)");
      }
      after_damage_ = false;
    }
  }

  void Damaged(const store::BlockProblem& p) {
    std::string where = p.file + (p.offset ? " at offset " + std::to_string(p.offset) : "");
    if (p.seqs_known) {
      Add(Kind::kDamaged, p.first_seq,
          "events " + std::to_string(p.first_seq) + ".." + std::to_string(p.last_seq) + " are unreadable (" + where +
              ": " + p.reason + ")");
      if (!any_) {
        any_ = true;
        r_->first_seq = p.first_seq;
      }
      if (p.last_seq > max_seq_) max_seq_ = p.last_seq;
      link_known_ = false;
    } else {
      Add(Kind::kDamaged, max_seq_ + 1, "unreadable data after seq " + std::to_string(max_seq_) + " (" + where + ": " + p.reason + ")");
      link_known_ = false;
      after_damage_ = true;
    }
  }

  void Finish() {
    if (pending_.active) ReportBrokenLink(pending_.seq);
    pending_.active = false;
    // Remaining holes: deletions.
    uint64_t start = 0, prev = 0;
    auto flush = [&] {
      if (start) {
        Add(Kind::kDeleted, start,
            start == prev ? "event " + std::to_string(start) + " is missing (deleted)"
                          : "events " + std::to_string(start) + ".." + std::to_string(prev) + " are missing (deleted)");
      }
    };
    for (uint64_t x : missing_) {
      if (start && x == prev + 1) {
        prev = x;
        continue;
      }
      flush();
      start = prev = x;
    }
    flush();
    r_->last_seq = max_seq_;
    // Checkpoints.
    uint64_t last_matched = 0;
    for (auto& [seq, cp] : cps) {
      if (!any_ || seq > max_seq_) {
        Add(Kind::kTruncated, max_seq_ + 1,
            "a signed checkpoint (" + cp.time + ") names seq " + std::to_string(seq) + " but the log ends at seq " +
                std::to_string(max_seq_) + ": events were removed from the end");
        continue;
      }
      if (!cp.seen) continue;  // in a hole or a damaged block: reported already
      if (cp.matched) {
        last_matched = seq;
        continue;
      }
      Add(Kind::kRewritten, last_matched + 1,
          "the signed checkpoint at seq " + std::to_string(seq) + " (" + cp.time + ") does not match the log: events " +
              std::to_string(last_matched + 1) + ".." + std::to_string(seq) +
              " were altered, inserted or deleted and the chain recomputed");
    }
    std::stable_sort(all_.begin(), all_.end(), [](const VerifyProblem& a, const VerifyProblem& b) { return a.seq < b.seq; });
    if (all_.size() > 1000) all_.resize(1000);
    r_->problems = std::move(all_);
  }

  uint64_t max_seq() const { return max_seq_; }

 private:
  void Advance(uint64_t s, std::string_view hash, bool link_known) {
    if (!any_) {
      any_ = true;
      r_->first_seq = s;
    }
    if (s > max_seq_) {
      max_seq_ = s;
      link_ = {std::string(hash)};
      link_known_ = link_known && !hash.empty();
    }
    after_damage_ = false;
  }

  void ReportBrokenLink(uint64_t s) {
    if (s <= 1) {
      Add(Kind::kAltered, 1, "the first event does not link to the start of the chain");
      return;
    }
    Add(Kind::kAltered, s - 1,
        "seq " + std::to_string(s - 1) + " was altered or replaced: its hash is not the prev_hash recorded by seq " +
            std::to_string(s));
  }

  VerifyReport* r_;
  std::vector<VerifyProblem> all_;
  bool any_ = false;
  uint64_t max_seq_ = 0;
  std::vector<std::string> link_;  // acceptable prev_hash values for seq max_seq_ + 1
  bool link_known_ = false;
  bool after_damage_ = false;
  std::set<uint64_t> missing_;
  struct {
    bool active = false;
    uint64_t seq = 0;
    std::string expected_prev;
  } pending_;
};

// Reads checkpoints.jsonl: valid checkpoints go to v->cps, bad ones become problems.
Status LoadCheckpoints(const std::string& path, const std::array<uint8_t, 32>* pk, Verifier* v, VerifyReport* r) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return Status::Ok();
    return text.status();
  }
  std::string_view t = *text;
  size_t pos = 0, line_no = 0;
  while (pos < t.size()) {
    size_t nl = t.find('\n', pos);
    bool torn = nl == std::string_view::npos;
    std::string_view line = t.substr(pos, torn ? std::string_view::npos : nl - pos);
    pos = torn ? t.size() : nl + 1;
    ++line_no;
    if (line.empty()) continue;
    std::string instance, hash, sig, time, alg, key_id;
    std::optional<int64_t> seq, time_us;
    bool ok = store::ForEachTopLevelMember(line, [&](std::string_view k, std::string_view val) {
      if (k == "instance") instance = store::JsonStringValue(val).value_or("");
      else if (k == "hash") hash = store::JsonStringValue(val).value_or("");
      else if (k == "sig") sig = store::JsonStringValue(val).value_or("");
      else if (k == "time") time = store::JsonStringValue(val).value_or("");
      else if (k == "alg") alg = store::JsonStringValue(val).value_or("");
      else if (k == "key_id") key_id = store::JsonStringValue(val).value_or("");
      else if (k == "seq") seq = store::JsonIntValue(val);
      else if (k == "time_us") time_us = store::JsonIntValue(val);
      return true;
    });
    std::string where = "checkpoints.jsonl line " + std::to_string(line_no);
    if (!ok || !seq || *seq <= 0 || !time_us || hash.size() != 64 || !IsLowerHex(hash) || sig.size() != 128) {
      if (torn) {
        r->notes.push_back(where + " is incomplete (a write cut short by a crash) and was ignored");
        continue;
      }
      v->Add(Kind::kBadCheckpoint, seq && *seq > 0 ? static_cast<uint64_t>(*seq) : 0, where + " is not a valid checkpoint");
      continue;
    }
    uint8_t sigbin[crypto_sign_BYTES];
    std::string msg = SignedMessage(instance, static_cast<uint64_t>(*seq), hash, *time_us);
    bool valid = pk && Unhex(sig, sigbin, sizeof sigbin) && alg == "ed25519" &&
                 crypto_sign_verify_detached(sigbin, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                                             pk->data()) == 0;
    if (!valid) {
      v->Add(Kind::kBadCheckpoint, static_cast<uint64_t>(*seq),
             where + ": the signature is not valid for this public key (forged or altered checkpoint" +
                 (pk && !key_id.empty() && key_id != KeyId(*pk) ? ", or signed by another key: key_id " + key_id : "") + ")");
      continue;
    }
    CheckpointInfo cp;
    cp.seq = static_cast<uint64_t>(*seq);
    cp.hash = hash;
    cp.time = time.empty() ? store::FormatRfc3339Micros(*time_us) : time;
    cp.line_no = line_no;
    ++r->checkpoints;
    if (cp.seq >= r->last_checkpoint_seq) {
      r->last_checkpoint_seq = cp.seq;
      r->last_checkpoint_time = cp.time;
    }
    v->cps.emplace(cp.seq, std::move(cp));
  }
  return Status::Ok();
}

}  // namespace

Status VerifyAudit(const std::string& data_dir, const std::string& public_key_file, VerifyReport* out) {
  *out = VerifyReport{};
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  std::string audit_dir = store::AuditStoreDir(data_dir);
  std::error_code ec;
  if (!fs::is_directory(audit_dir, ec)) return Status::NotFound("no audit log in " + data_dir + " (" + audit_dir + " is missing)");

  // The public key.
  std::optional<std::array<uint8_t, 32>> pk;
  std::string key_file = public_key_file.empty() ? AuditPublicKeyPath(data_dir) : public_key_file;
  auto key_text = ReadSmallFile(key_file);
  if (key_text.ok()) {
    auto k = ParsePublicKey(*key_text);
    if (!k.ok()) return Status::InvalidArgument(key_file + ": " + k.status().message());
    pk = *k;
    out->public_key_source = key_file;
  } else if (!public_key_file.empty()) {
    return Status::InvalidArgument("--public-key " + public_key_file + ": " + key_text.status().message());
  } else {
    KeyPair kp;
    if (LoadPrivateKey(AuditPrivateKeyPath(data_dir), &kp).ok()) {
      pk = kp.pk;
      sodium_memzero(kp.sk.data(), kp.sk.size());
      out->public_key_source = AuditPrivateKeyPath(data_dir);
    }
  }

  Verifier v(out);
  HAKONE_RETURN_IF_ERROR(LoadCheckpoints(AuditCheckpointsPath(data_dir), pk ? &*pk : nullptr, &v, out));
  if (!pk && !v.cps.empty()) return Status::NotFound("no public key to check the checkpoints: pass --public-key FILE");

  store::AuditStoreOptions so;
  so.spool_dir = store::AuditSpoolDir(data_dir);
  HAKONE_ASSIGN_OR_RETURN(auto st, store::AuditStore::Open(audit_dir, nullptr, so));
  HAKONE_RETURN_IF_ERROR(st->ScanAll(
      [&](std::string_view line) {
        v.Feed(line);
        return true;
      },
      [&](const store::BlockProblem& p) { v.Damaged(p); }));
  v.Finish();
  out->unsigned_events = out->last_seq > out->last_checkpoint_seq ? out->last_seq - out->last_checkpoint_seq : 0;
  if (!out->ok()) return Status::Corruption("audit log tampered or damaged: " + out->FirstProblemText());
  return Status::Ok();
}

}  // namespace hakone::gateway
