#include "core/redact.h"

#include <algorithm>

#include <fcntl.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/log.h"

namespace hakone {
namespace {

constexpr char kHex[] = "0123456789abcdef";

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool IsLowerC(char c) { return c >= 'a' && c <= 'z'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlnum(char c) { return IsUpper(c) || IsLowerC(c) || IsDigit(c); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// Lowercase letters/digits of `name` into `letters`, and word starts into `starts` (one flag per
// letter, plus one past the end). Returns the number of letters written (at most `cap`).
size_t Normalize(std::string_view name, char* letters, bool* starts, size_t cap) {
  size_t n = 0;
  bool sep = true;  // a separator (or the beginning) precedes
  for (size_t i = 0; i < name.size() && n < cap; ++i) {
    char c = name[i];
    if (!IsAlnum(c)) {
      sep = true;
      continue;
    }
    bool start = sep;
    if (!start && i > 0) {
      char p = name[i - 1];
      if (IsUpper(c) && (IsLowerC(p) || IsDigit(p))) start = true;                        // fooBar, v2Key
      if (IsUpper(c) && IsUpper(p) && i + 1 < name.size() && IsLowerC(name[i + 1])) start = true;  // APIKey
      if (IsDigit(c) != IsDigit(p)) start = true;                                           // cvv2
    }
    letters[n] = Lower(c);
    starts[n] = start;
    ++n;
    sep = false;
  }
  starts[n] = true;
  return n;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = Lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// Index just past the JSON string starting at s[i] == '"' (or s.size() if it never ends).
size_t ScanJsonString(std::string_view s, size_t i, bool* terminated) {
  for (size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') {
      ++j;
      continue;
    }
    if (s[j] == '"') {
      *terminated = true;
      return j + 1;
    }
  }
  *terminated = false;
  return s.size();
}

// Decodes the common escapes of a JSON string body well enough to match a field name.
std::string UnescapeJsonKey(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char e = s[++i];
    if (e == 'u' && i + 4 < s.size()) {
      unsigned v = 0;
      bool ok = true;
      for (int k = 1; k <= 4 && ok; ++k) {
        char h = Lower(s[i + k]);
        if (IsDigit(h)) v = v * 16 + (h - '0');
        else if (h >= 'a' && h <= 'f') v = v * 16 + (h - 'a' + 10);
        else ok = false;
      }
      if (ok) {
        out += v < 0x80 ? static_cast<char>(v) : '?';
        i += 4;
        continue;
      }
    }
    out += e;
  }
  return out;
}

inline bool IsJsonWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Index just past the JSON value starting at s[k] (tolerant: stops at the end of the text).
size_t SkipJsonValue(std::string_view s, size_t k) {
  if (k >= s.size()) return k;
  char c = s[k];
  if (c == '"') {
    bool t;
    return ScanJsonString(s, k, &t);
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    for (size_t j = k; j < s.size(); ++j) {
      char d = s[j];
      if (d == '"') {
        bool t;
        j = ScanJsonString(s, j, &t) - 1;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) return j + 1;
      }
    }
    return s.size();
  }
  size_t j = k;
  while (j < s.size() && s[j] != ',' && s[j] != '}' && s[j] != ']' && !IsJsonWs(s[j])) ++j;
  return j;
}

struct KeyCharTable {
  bool t[256] = {};
  KeyCharTable() {
    for (int c = 0; c < 256; ++c) {
      char ch = static_cast<char>(c);
      t[c] = IsAlnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '[' || ch == ']';
    }
  }
};
const KeyCharTable kKeyChars;
inline bool IsKeyChar(char c) { return kKeyChars.t[static_cast<unsigned char>(c)]; }
inline bool IsTokenChar(char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

}  // namespace

// HMAC-SHA256 with the pads hashed once: HashValue() is on the gateway's hot path, and
// OpenSSL 3's one-shot HMAC() spends microseconds fetching algorithms on every call. The
// low-level SHA256 functions are deprecated in OpenSSL 3 but stable and much faster here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct Redactor::HmacKey {
  SHA256_CTX inner;
  SHA256_CTX outer;

  explicit HmacKey(std::string_view key) {
    unsigned char k[64] = {0};
    if (key.size() > 64) {
      SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), k);
    } else {
      std::memcpy(k, key.data(), key.size());
    }
    unsigned char ipad[64], opad[64];
    for (int i = 0; i < 64; ++i) {
      ipad[i] = k[i] ^ 0x36;
      opad[i] = k[i] ^ 0x5c;
    }
    SHA256_Init(&inner);
    SHA256_Update(&inner, ipad, 64);
    SHA256_Init(&outer);
    SHA256_Update(&outer, opad, 64);
  }

  void Mac(std::string_view v, unsigned char out[32]) const {
    unsigned char ih[32];
    SHA256_CTX c = inner;
    SHA256_Update(&c, v.data(), v.size());
    SHA256_Final(ih, &c);
    c = outer;
    SHA256_Update(&c, ih, 32);
    SHA256_Final(out, &c);
  }
};
#pragma GCC diagnostic pop

Redactor::Redactor(RedactOptions options) : options_(std::move(options)) {
  for (auto& h : options_.headers) {
    std::string l;
    for (char c : h) l += Lower(c);
    headers_lower_.push_back(std::move(l));
  }
  auto add = [&](const std::string& n) {
    std::string letters;
    for (char c : n) {
      if (IsAlnum(c)) letters += Lower(c);
    }
    if (letters.empty()) return;
    for (auto& x : names_) {
      if (x.letters == letters) return;
    }
    names_.push_back({std::move(letters)});
  };
  for (auto& f : options_.fields) add(f);
  for (auto& h : options_.headers) add(h);
  std::string key = options_.salt;
  if (key.empty()) {
    unsigned char buf[32];
    if (RAND_bytes(buf, sizeof buf) != 1) {
      // Never fall back to a fixed key silently: hashes would then be guessable.
      log::Error("redact: no random bytes for the hash key; using the clock", {});
      auto t = std::chrono::steady_clock::now().time_since_epoch().count();
      std::memcpy(buf, &t, sizeof t);
    }
    key.assign(reinterpret_cast<char*>(buf), sizeof buf);
  }
  hmac_ = std::make_shared<const HmacKey>(key);
}

bool Redactor::IsSecretHeader(std::string_view name) const {
  for (auto& h : headers_lower_) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

bool Redactor::IsSecretField(std::string_view name) const {
  constexpr size_t kStack = 256;
  char sbuf[kStack];
  bool sstarts[kStack + 1];
  std::unique_ptr<char[]> hbuf;
  std::unique_ptr<bool[]> hstarts;
  char* letters = sbuf;
  bool* starts = sstarts;
  if (name.size() > kStack) {
    hbuf.reset(new char[name.size()]);
    hstarts.reset(new bool[name.size() + 1]);
    letters = hbuf.get();
    starts = hstarts.get();
  }
  size_t n = Normalize(name, letters, starts, name.size() > kStack ? name.size() : kStack);
  std::string_view l(letters, n);
  for (auto& cfg : names_) {
    const std::string& c = cfg.letters;
    for (size_t p = l.find(c); p != std::string_view::npos; p = l.find(c, p + 1)) {
      if (c.size() >= 5) return true;
      if (starts[p] && starts[p + c.size()]) return true;
    }
  }
  return false;
}

std::string Redactor::HashValue(std::string_view v) const {
  unsigned char md[32];
  hmac_->Mac(v, md);
  std::string out;
  out.reserve(23);
  out += "sha256:";
  for (int i = 0; i < 8; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

namespace {

void RedactValue(const Redactor& r, boost::json::value& v) {
  if (auto* o = v.if_object()) {
    for (auto& kv : *o) {
      if (r.IsSecretField(kv.key())) {
        kv.value() = Redactor::kRedacted;
      } else {
        RedactValue(r, kv.value());
      }
    }
  } else if (auto* a = v.if_array()) {
    for (auto& e : *a) RedactValue(r, e);
  }
}

}  // namespace

std::string Redactor::RedactJson(std::string_view body, bool* truncated_or_invalid, bool known_truncated) const {
  if (!known_truncated) {
    boost::json::monotonic_resource mr;
    boost::json::parse_options opts;
    opts.max_depth = 64;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec, &mr, opts);
    if (!ec) {
      RedactValue(*this, v);
      if (truncated_or_invalid) *truncated_or_invalid = false;
      return boost::json::serialize(v);
    }
  }
  if (truncated_or_invalid) *truncated_or_invalid = true;
  // Tolerant scan: copy the text, replacing the value after every secret `"key" :`.
  std::string out;
  out.reserve(body.size());
  size_t i = 0, n = body.size();
  while (i < n) {
    if (body[i] != '"') {
      size_t q = body.find('"', i);
      if (q == std::string_view::npos) q = n;
      out.append(body.substr(i, q - i));
      i = q;
      continue;
    }
    bool terminated;
    size_t j = ScanJsonString(body, i, &terminated);
    size_t k = j;
    while (k < n && IsJsonWs(body[k])) ++k;
    if (terminated && k < n && body[k] == ':' && IsSecretField(UnescapeJsonKey(body.substr(i + 1, j - i - 2)))) {
      out.append(body.substr(i, k + 1 - i));
      ++k;
      while (k < n && IsJsonWs(body[k])) out += body[k++];
      if (k < n) {
        out += '"';
        out += kRedacted;
        out += '"';
        i = SkipJsonValue(body, k);
      } else {
        i = n;
      }
      continue;
    }
    out.append(body.substr(i, j - i));
    i = j;
  }
  // Not JSON at all (a form body sent as JSON, a log line): catch key=value and tokens too.
  return RedactText(out);
}

std::string Redactor::RedactForm(std::string_view form) const {
  if (form.find('=') == std::string_view::npos) return std::string(form);
  std::string out;
  out.reserve(form.size());
  size_t i = 0;
  while (i <= form.size()) {
    size_t end = form.find_first_of("&;", i);
    if (end == std::string_view::npos) end = form.size();
    std::string_view pair = form.substr(i, end - i);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && eq + 1 < pair.size() && IsSecretField(UrlDecode(pair.substr(0, eq)))) {
      out.append(pair.substr(0, eq + 1));
      out += kRedacted;
    } else {
      out.append(pair);
    }
    if (end < form.size()) out += form[end];
    i = end + 1;
  }
  return out;
}

std::string Redactor::RedactText(std::string_view s) const {
  // Pass 1: key/value pairs. Only text with a ':' or '=' can hold one (the common case of a
  // long body without either, e.g. a captured prefix, skips the pass).
  std::string a;
  size_t n = s.size(), i = 0;
  if (s.find_first_of(":=") == std::string_view::npos) {
    a.assign(s);
    i = n;
  } else {
    a.reserve(s.size());
  }
  while (i < n) {
    char c = s[i];
    if (!IsKeyChar(c) || (i > 0 && IsKeyChar(s[i - 1]))) {
      // Copy the run up to the next key start in one go.
      size_t e = i + 1;
      while (e < n && !(IsKeyChar(s[e]) && !IsKeyChar(s[e - 1]))) ++e;
      a.append(s.substr(i, e - i));
      i = e;
      continue;
    }
    size_t j = i;
    while (j < n && IsKeyChar(s[j])) ++j;
    std::string_view key = s.substr(i, j - i);
    size_t k = j;
    // A closing quote of a quoted key: ", ' or \" (JSON inside a JSON string).
    if (k < n && (s[k] == '"' || s[k] == '\'')) {
      ++k;
    } else if (k + 1 < n && s[k] == '\\' && s[k + 1] == '"') {
      k += 2;
    }
    while (k < n && (s[k] == ' ' || s[k] == '\t')) ++k;
    if (k >= n || (s[k] != ':' && s[k] != '=') || !IsSecretField(key)) {
      a.append(key);
      i = j;
      continue;
    }
    char sep = s[k];
    ++k;
    if (sep == '=' && k < n && s[k] == '>') ++k;  // Ruby's `"password" => "x"`
    while (k < n && (s[k] == ' ' || s[k] == '\t')) ++k;
    a.append(s.substr(i, k - i));
    if (k >= n) {
      i = k;
      continue;
    }
    size_t v = k;
    if (s[v] == '"' || s[v] == '\'') {
      char q = s[v];
      size_t e = v + 1;
      while (e < n && s[e] != q && s[e] != '\n' && s[e] != '\r') e += (s[e] == '\\' && e + 1 < n) ? 2 : 1;
      a += q;
      a += kRedacted;
      if (e < n && s[e] == q) {
        a += q;
        ++e;
      }
      i = e;
    } else if (v + 1 < n && s[v] == '\\' && s[v + 1] == '"') {
      size_t e = s.find("\\\"", v + 2);
      if (e == std::string_view::npos) e = n;
      size_t nl = s.find_first_of("\r\n", v + 2);
      if (nl < e) e = nl;
      a += "\\\"";
      a += kRedacted;
      if (e + 1 < n && s[e] == '\\' && s[e + 1] == '"') {
        a += "\\\"";
        e += 2;
      }
      i = e;
    } else if (sep == ':' && IsSecretHeader(key)) {
      size_t e = s.find_first_of("\r\n", v);
      if (e == std::string_view::npos) e = n;
      a += kRedacted;
      i = e;
    } else {
      size_t e = v;
      while (e < n && !(s[e] == ' ' || s[e] == '\t' || s[e] == '\r' || s[e] == '\n' || s[e] == ',' || s[e] == ';' ||
                        s[e] == '&' || s[e] == '"' || s[e] == '\'' || s[e] == '}' || s[e] == ']' || s[e] == ')' ||
                        s[e] == '\\')) {
        ++e;
      }
      if (e > v) a += kRedacted;
      i = e;
    }
  }
  // Pass 2: bearer/basic credentials and JWT-looking tokens. Candidates start with b, B or e;
  // the text between them is copied in runs, and not at all when nothing matched.
  std::string b;
  n = a.size();
  i = 0;
  size_t copied = 0;  // a[0, copied) is in b
  auto starts_word = [&](size_t p, std::string_view w) {
    if (p + w.size() > n) return false;
    if (p > 0 && IsAlnum(a[p - 1])) return false;
    return EqualsIgnoreCase(std::string_view(a).substr(p, w.size()), w);
  };
  // Next occurrence of each candidate first letter, found with memchr (vectorised) and cached.
  size_t next_b = 0, next_B = 0, next_e = 0;
  auto next_of = [&](char ch, size_t& cache) {
    if (cache >= i && (cache == n || a[cache] == ch)) return cache;
    const void* p = std::memchr(a.data() + i, ch, n - i);
    cache = p ? static_cast<size_t>(static_cast<const char*>(p) - a.data()) : n;
    return cache;
  };
  while (i < n) {
    i = std::min({next_of('b', next_b), next_of('B', next_B), next_of('e', next_e)});
    if (i >= n) break;
    std::string_view scheme;
    if (starts_word(i, "bearer")) scheme = std::string_view(a).substr(i, 6);
    else if (starts_word(i, "basic")) scheme = std::string_view(a).substr(i, 5);
    if (!scheme.empty()) {
      size_t k = i + scheme.size();
      size_t sp = k;
      while (k < n && (a[k] == ' ' || a[k] == '\t')) ++k;
      size_t e = k;
      while (e < n && IsTokenChar(a[e])) ++e;
      if (k > sp && e - k >= 6) {
        b.append(a, copied, k - copied);
        b += kRedacted;
        i = copied = e;
        continue;
      }
    }
    if (a[i] == 'e' && starts_word(i, "eyJ") && i + 3 < n) {
      size_t e = i;
      int dots = 0;
      while (e < n && (IsAlnum(a[e]) || a[e] == '-' || a[e] == '_' || a[e] == '.')) dots += a[e++] == '.';
      if (dots >= 2 && e - i >= 16) {
        b.append(a, copied, i - copied);
        b += kRedacted;
        i = copied = e;
        continue;
      }
    }
    ++i;
  }
  if (copied == 0) return a;
  b.append(a, copied, n - copied);
  return b;
}

Result<std::string> LoadOrCreateSalt(const std::string& data_dir) {
  std::error_code fec;
  std::filesystem::create_directories(data_dir, fec);
  if (fec) return Status::IOError("redact: create " + data_dir + ": " + fec.message());
  const std::string path = data_dir + "/redact.salt";
  auto read_existing = [&]() -> Result<std::string> {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("redact: open " + path, errno);
    struct stat st;
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
      log::Warn("redact: salt file is readable by others; chmod 600 it", {{"path", path}});
    }
    char buf[130];
    ssize_t r = ::read(fd, buf, sizeof buf);
    int err = errno;
    ::close(fd);
    if (r < 0) return Status::FromErrno("redact: read " + path, err);
    std::string s(buf, static_cast<size_t>(r));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    bool hex = s.size() == 64;
    for (char c : s) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (!hex) return Status::Corruption("redact: " + path + " does not hold 64 lowercase hex digits");
    return s;
  };
  if (::access(path.c_str(), F_OK) == 0) return read_existing();

  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return Status::Internal("redact: no random bytes for the salt");
  std::string hex;
  for (unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("redact: create " + tmp, errno);
  std::string line = hex + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::FromErrno("redact: write " + tmp, err);
  }
  // link() fails if another process created the salt first: then theirs wins.
  int lr = ::link(tmp.c_str(), path.c_str());
  err = errno;
  ::unlink(tmp.c_str());
  if (lr != 0) {
    if (err == EEXIST) return read_existing();
    return Status::FromErrno("redact: create " + path, err);
  }
  int dfd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return hex;
}

}  // namespace hakone
