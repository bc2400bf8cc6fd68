// Event block encoding/decoding (format in event_block.h).
#include "store/event_block.h"
#include "store/block.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_forceAttachDict (stable in libzstd since 1.3.7)
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/crc32c.h"

namespace hakone::store::internal {
namespace {

inline void PutVar(std::string* o, uint64_t v) {
  if (v < 0x80) {
    o->push_back(static_cast<char>(v));
    return;
  }
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) { buf[n++] = static_cast<char>(v | 0x80); v >>= 7; }
  buf[n++] = static_cast<char>(v);
  o->append(buf, n);
}
bool GetVar(std::string_view s, size_t* p, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && *p < s.size(); shift += 7) {
    auto b = static_cast<unsigned char>(s[(*p)++]);
    r |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) { *v = r; return true; }
  }
  return false;
}
bool GetStr(std::string_view s, size_t* p, std::string_view* out) {
  uint64_t n;
  if (!GetVar(s, p, &n) || n > s.size() - *p) return false;
  *out = s.substr(*p, n);
  *p += n;
  return true;
}
void PutStr(std::string* o, std::string_view s) { PutVar(o, s.size()); o->append(s); }

constexpr uint32_t kTooMany = 0xFFFFFFFFu;
constexpr size_t kMaxLabelValues = 256;

// One compression / decompression context per thread: creating one per call costs more than
// compressing a small frame.
struct ZCtx {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZCtx() { ZSTD_freeCCtx(c); ZSTD_freeDCtx(d); }
};
ZCtx& Ctx() {
  thread_local ZCtx ctx;
  return ctx;
}

Status Compress(std::string_view in, int level, std::string* out, uint32_t* comp_len) {
  size_t bound = ZSTD_compressBound(in.size());
  size_t off = out->size();
  out->resize(off + bound);
  size_t n = ZSTD_compressCCtx(Ctx().c, out->data() + off, bound, in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out->resize(off + n);
  *comp_len = static_cast<uint32_t>(n);
  return Status::Ok();
}

Status Decompress(std::string_view comp, uint32_t raw_len, std::string* out, std::string_view dict = {}) {
  if (raw_len > kEvMaxSection) return Status::Corruption("event block: section too large");
  unsigned long long declared = ZSTD_getFrameContentSize(comp.data(), comp.size());
  if (declared != raw_len) return Status::Corruption("event block: zstd frame size differs from the header");
  out->resize(raw_len);
  size_t n = dict.empty() ? ZSTD_decompressDCtx(Ctx().d, out->data(), raw_len, comp.data(), comp.size())
                          : ZSTD_decompress_usingDict(Ctx().d, out->data(), raw_len, comp.data(), comp.size(), dict.data(), dict.size());
  if (ZSTD_isError(n)) return Status::Corruption(std::string("event block: zstd: ") + ZSTD_getErrorName(n));
  if (n != raw_len) return Status::Corruption("event block: decompressed size differs from the header");
  return Status::Ok();
}

}  // namespace

uint64_t HashToken(std::string_view t) {
  // FNV-1a then a murmur-style finaliser.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : t) { h ^= c; h *= 1099511628211ull; }
  h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
  return h;
}

namespace {
uint64_t FastHash(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  uint64_t v = 0;
  if (i < s.size()) std::memcpy(&v, s.data() + i, s.size() - i);
  h = (h ^ v) * 0x94d049bb133111ebull;
  h ^= h >> 29;
  return h;
}
}  // namespace

void TokenPostings::Grow() {
  std::vector<uint32_t> n(slots_.empty() ? 1024 : slots_.size() * 2, 0);
  const size_t mask = n.size() - 1;
  for (size_t t = 0; t < toks_.size(); ++t) {
    size_t i = toks_[t].hash & mask;
    while (n[i]) i = (i + 1) & mask;
    n[i] = static_cast<uint32_t>(t + 1);
  }
  slots_.swap(n);
}

void TokenPostings::Add(std::string_view tok, uint32_t doc) {
  if ((toks_.size() + 1) * 2 > slots_.size()) Grow();
  const uint64_t h = FastHash(tok);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (uint32_t s = slots_[i]) {
    Tok& t = toks_[s - 1];
    if (t.hash == h && t.len == tok.size() && std::memcmp(arena_.data() + t.off, tok.data(), tok.size()) == 0) {
      if (links_[t.tail - 1].doc != doc) {
        links_.push_back({doc, 0});
        links_[t.tail - 1].next = static_cast<uint32_t>(links_.size());
        t.tail = static_cast<uint32_t>(links_.size());
        ++t.n;
      }
      return;
    }
    i = (i + 1) & mask;
  }
  links_.push_back({doc, 0});
  const auto l = static_cast<uint32_t>(links_.size());
  toks_.push_back({h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(tok.size()), l, l, 1});
  arena_.append(tok);
  slots_[i] = static_cast<uint32_t>(toks_.size());
}

void TokenPostings::clear() {
  arena_.clear();
  toks_.clear();
  links_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
}

Status EncodeEvBlock(const std::vector<EvDocIn>& docs, const TokenPostings& postings, int level, std::string* out, EvHeader* hdr) {
  if (docs.empty()) return Status::InvalidArgument("event block: no docs");
  EvHeader h;
  h.first_seq = docs.front().seq;
  h.last_seq = docs.back().seq;
  h.min_time_us = INT64_MAX;
  h.max_time_us = INT64_MIN;
  h.count = static_cast<uint32_t>(docs.size());
  // docs section: frames of consecutive docs, compressed with a dictionary sampled from the
  // block's own docs (small frames alone would compress worse than one big frame).
  std::string all;
  std::vector<uint32_t> ends;  // end of each doc in `all`
  ends.reserve(docs.size());
  for (const auto& e : docs) {
    PutStr(&all, e.id);
    PutStr(&all, e.source);
    if (all.size() > kEvMaxSection) return Status::InvalidArgument("event block: too large");
    ends.push_back(static_cast<uint32_t>(all.size()));
    h.min_time_us = std::min(h.min_time_us, e.time_us);
    h.max_time_us = std::max(h.max_time_us, e.time_us);
  }
  std::vector<EvFrameRef> frames;
  {
    uint32_t first = 0, start = 0;
    for (uint32_t i = 0; i < ends.size(); ++i) {
      if (i + 1 - first >= kEvFrameMaxDocs || ends[i] - start >= kEvFrameMaxBytes || i + 1 == ends.size()) {
        EvFrameRef f;
        f.first_doc = first;
        f.ndocs = i + 1 - first;
        f.raw_len = ends[i] - start;
        frames.push_back(f);
        first = i + 1;
        start = ends[i];
      }
    }
  }
  std::string dict;
  if (frames.size() > 1) {
    // Whole docs at an even stride; '\n' first so that zstd never takes it for a formatted
    // dictionary (whose magic starts with 0x37).
    dict.push_back('\n');
    // A doc is taken when the share taken so far is behind its position in the block.
    for (size_t i = 0; i < ends.size() && dict.size() < kEvDictBytes; ++i) {
      uint64_t b = i == 0 ? 0 : ends[i - 1];
      if (uint64_t{dict.size() - 1} * all.size() <= b * kEvDictBytes)
        dict.append(all, b, std::min<size_t>(ends[i] - b, kEvDictBytes - dict.size()));
    }
  }
  std::string d;
  {
    ZSTD_CDict* cdict = dict.empty() ? nullptr : ZSTD_createCDict(dict.data(), dict.size(), level);
    if (!dict.empty() && !cdict) return Status::Internal("zstd: cannot create a dictionary");
    size_t off = 0;
    for (auto& f : frames) {
      std::string_view in = std::string_view(all).substr(off, f.raw_len);
      off += f.raw_len;
      f.comp_off = d.size();
      size_t bound = ZSTD_compressBound(in.size());
      d.resize(f.comp_off + bound);
      size_t n;
      if (cdict) {
        // Attach the dictionary's tables instead of copying them into the context per frame
        // (copying cost more than compressing a 32 KiB frame).
        ZSTD_CCtx* c = Ctx().c;
        ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(c, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
        ZSTD_CCtx_refCDict(c, cdict);
        n = ZSTD_compress2(c, d.data() + f.comp_off, bound, in.data(), in.size());
        ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
      } else {
        n = ZSTD_compressCCtx(Ctx().c, d.data() + f.comp_off, bound, in.data(), in.size(), level);
      }
      if (ZSTD_isError(n)) {
        ZSTD_freeCDict(cdict);
        return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
      }
      d.resize(f.comp_off + n);
      f.comp_len = static_cast<uint32_t>(n);
      f.crc = crc32c::Value(d.data() + f.comp_off, n);
    }
    ZSTD_freeCDict(cdict);
  }
  const auto docs_raw = static_cast<uint32_t>(all.size());
  // index section
  std::string ix;
  int64_t prev_t = 0;
  uint64_t prev_seq = h.first_seq;
  for (size_t i = 0; i < docs.size(); ++i) {
    PutVar(&ix, docs[i].seq - prev_seq);  // version 3: from the previous doc (mostly 1)
    prev_seq = docs[i].seq;
    int64_t dt = docs[i].time_us - prev_t;
    prev_t = docs[i].time_us;
    PutVar(&ix, (static_cast<uint64_t>(dt) << 1) ^ static_cast<uint64_t>(dt >> 63));
  }
  std::vector<uint32_t> toks(postings.size());
  {
    // Sorted by the first 8 bytes as a big-endian number, then the whole token on ties.
    std::vector<std::pair<uint64_t, uint32_t>> keyed(postings.size());
    for (size_t i = 0; i < keyed.size(); ++i) {
      std::string_view t = postings.token(i);
      uint64_t k = 0;
      for (size_t j = 0; j < 8; ++j) k = (k << 8) | (j < t.size() ? static_cast<unsigned char>(t[j]) : 0u);
      keyed[i] = {k, static_cast<uint32_t>(i)};
    }
    std::sort(keyed.begin(), keyed.end(), [&](const std::pair<uint64_t, uint32_t>& a, const std::pair<uint64_t, uint32_t>& b) {
      if (a.first != b.first) return a.first < b.first;
      return postings.token(a.second) < postings.token(b.second);
    });
    for (size_t i = 0; i < keyed.size(); ++i) toks[i] = keyed[i].second;
  }
  PutVar(&ix, toks.size());
  std::string_view prev_tok;
  for (uint32_t t : toks) {
    // Front coding: the length of the prefix shared with the previous token, then the rest.
    std::string_view tok = postings.token(t);
    size_t common = 0, lim = std::min(tok.size(), prev_tok.size());
    while (common < lim && tok[common] == prev_tok[common]) ++common;
    PutVar(&ix, common);
    PutStr(&ix, tok.substr(common));
    prev_tok = tok;
    PutVar(&ix, postings.ndocs(t));
    uint32_t prev = 0;
    postings.ForEachDoc(t, [&](uint32_t o) {
      PutVar(&ix, o - prev);
      prev = o;
    });
  }
  // summary: labels + bloom
  // Label field → its distinct values, sorted (views into docs).
  std::map<std::string_view, std::vector<std::string_view>> labels;
  {
    std::unordered_map<std::string_view, std::unordered_set<std::string_view>> seen;
    for (const auto& e : docs)
      for (const auto& [f, v] : e.labels) seen[f].insert(v);
    for (auto& [f, vals] : seen) {
      auto& out = labels[f];
      out.assign(vals.begin(), vals.end());
      std::sort(out.begin(), out.end());
    }
  }
  // Label columns (end of the index section): per listed label with one value per doc at most,
  // a varint code per doc (0 = absent, i + 1 = the i-th value of the summary's sorted list).
  {
    std::vector<std::pair<const std::string_view*, const std::vector<std::string_view>*>> cols;
    for (const auto& [f, vals] : labels) {
      if (vals.size() > kMaxLabelValues) continue;
      bool single = true;
      for (const auto& e : docs) {
        int n = 0;
        for (const auto& l : e.labels) n += l.first == f;
        if (n > 1) { single = false; break; }
      }
      if (single) cols.push_back({&f, &vals});
    }
    PutVar(&ix, cols.size());
    for (const auto& [f, vals] : cols) {
      PutStr(&ix, *f);
      const std::vector<std::string_view>& sorted = *vals;
      for (const auto& e : docs) {
        uint64_t code = 0;
        for (const auto& l : e.labels)
          if (l.first == *f) code = static_cast<uint64_t>(std::lower_bound(sorted.begin(), sorted.end(), l.second) - sorted.begin()) + 1;
        PutVar(&ix, code);
      }
    }
  }
  // Frame table (end of the index section).
  PutVar(&ix, frames.size());
  for (const auto& f : frames) {
    PutVar(&ix, f.ndocs);
    PutVar(&ix, f.raw_len);
    PutVar(&ix, f.comp_len);
    Put32(&ix, f.crc);
  }
  PutStr(&ix, dict);
  std::string sum;
  PutVar(&sum, labels.size());
  for (const auto& [f, vals] : labels) {
    PutStr(&sum, f);
    if (vals.size() > kMaxLabelValues) { PutVar(&sum, kTooMany); continue; }
    PutVar(&sum, vals.size());
    for (const auto& v : vals) PutStr(&sum, v);
  }
  uint32_t bits = std::max<uint32_t>(64, static_cast<uint32_t>(toks.size() * 10));
  bits = (bits + 7) / 8 * 8;
  const uint8_t k = 6;
  std::string bloom(bits / 8, '\0');
  for (uint32_t t : toks) {
    uint64_t hh = HashToken(postings.token(t));
    uint32_t h1 = static_cast<uint32_t>(hh), h2 = static_cast<uint32_t>(hh >> 32) | 1;
    for (uint8_t j = 0; j < k; ++j) {
      uint32_t b = (h1 + j * h2) % bits;
      bloom[b / 8] = static_cast<char>(bloom[b / 8] | (1 << (b % 8)));
    }
  }
  Put32(&sum, bits);
  sum.push_back(static_cast<char>(k));
  sum += bloom;

  std::string body;
  body += sum;
  uint32_t ic = 0, dc = 0;
  Status s = Compress(ix, level, &body, &ic);
  if (!s.ok()) return s;
  if (ix.size() > kEvMaxSection || d.size() > kEvMaxSection) return Status::InvalidArgument("event block: too large");
  dc = static_cast<uint32_t>(d.size());
  h.summary_len = static_cast<uint32_t>(sum.size());
  h.index_raw = static_cast<uint32_t>(ix.size());
  h.index_comp = ic;
  h.docs_raw = docs_raw;
  h.docs_comp = dc;
  h.summary_crc = crc32c::Value(sum);
  h.index_crc = crc32c::Value(std::string_view(body).substr(sum.size(), ic));
  h.docs_crc = crc32c::Value(d);
  h.version = kEvVersion;
  std::string hb;
  hb.append("HKEV", 4);
  hb.push_back(static_cast<char>(kEvVersion));
  hb.append(3, '\0');
  Put64(&hb, h.first_seq);
  Put64(&hb, h.last_seq);
  Put64(&hb, static_cast<uint64_t>(h.min_time_us));
  Put64(&hb, static_cast<uint64_t>(h.max_time_us));
  Put32(&hb, h.count);
  Put32(&hb, h.summary_len);
  Put32(&hb, h.index_raw);
  Put32(&hb, h.index_comp);
  Put32(&hb, h.docs_raw);
  Put32(&hb, h.docs_comp);
  Put32(&hb, h.summary_crc);
  Put32(&hb, h.index_crc);
  Put32(&hb, h.docs_crc);
  Put32(&hb, crc32c::Value(hb));
  out->append(hb);
  out->append(body);
  out->append(d);
  if (hdr) *hdr = h;
  return Status::Ok();
}

Status DecodeEvHeader(std::string_view b, EvHeader* h) {
  if (b.size() < kEvHeaderBytes) return Status::Corruption("event block header: short");
  if (std::memcmp(b.data(), "HKEV", 4) != 0) return Status::Corruption("event block header: bad magic");
  if (crc32c::Value(b.data(), 76) != Get32(b.data() + 76)) return Status::Corruption("event block header: checksum mismatch");
  auto version = static_cast<uint8_t>(b[4]);
  if (version > kEvVersion)
    return Status::InvalidArgument("event block header: format version " + std::to_string(version) +
                                   " is newer than this build reads (" + std::to_string(kEvOldestVersion) + " to " +
                                   std::to_string(kEvVersion) + "): upgrade hakone to read this data");
  if (version < kEvOldestVersion) return Status::Corruption("event block header: unknown format version " + std::to_string(version));
  const char* p = b.data();
  h->version = version;
  h->first_seq = Get64(p + 8);
  h->last_seq = Get64(p + 16);
  h->min_time_us = static_cast<int64_t>(Get64(p + 24));
  h->max_time_us = static_cast<int64_t>(Get64(p + 32));
  h->count = Get32(p + 40);
  h->summary_len = Get32(p + 44);
  h->index_raw = Get32(p + 48);
  h->index_comp = Get32(p + 52);
  h->docs_raw = Get32(p + 56);
  h->docs_comp = Get32(p + 60);
  h->summary_crc = Get32(p + 64);
  h->index_crc = Get32(p + 68);
  h->docs_crc = Get32(p + 72);
  if (h->count == 0 || h->last_seq < h->first_seq || h->summary_len > kEvMaxSection || h->index_comp > kEvMaxSection ||
      h->docs_comp > kEvMaxSection || h->index_raw > kEvMaxSection || h->docs_raw > kEvMaxSection ||
      h->count > h->index_raw / 2 + 1 || h->count > h->docs_raw / 2 + 1)
    return Status::Corruption("event block header: inconsistent fields");
  return Status::Ok();
}

bool EvSummary::MayHaveToken(std::string_view t) const {
  if (bloom.empty()) return true;
  uint32_t bits = static_cast<uint32_t>(bloom.size() * 8);
  uint64_t hh = HashToken(t);
  uint32_t h1 = static_cast<uint32_t>(hh), h2 = static_cast<uint32_t>(hh >> 32) | 1;
  for (uint8_t j = 0; j < k; ++j) {
    uint32_t b = (h1 + j * h2) % bits;
    if (!(bloom[b / 8] & (1 << (b % 8)))) return false;
  }
  return true;
}

bool EvSummary::MayHaveLabel(const std::string& field, const std::vector<std::string>& values) const {
  for (const auto& a : any_labels) if (a == field) return true;
  for (const auto& [f, vals] : labels) {
    if (f != field) continue;
    for (const auto& v : values)
      if (std::binary_search(vals.begin(), vals.end(), v)) return true;
    return false;
  }
  return false;  // no doc in the block has the label at all
}

Status DecodeEvSummary(std::string_view s, EvSummary* out) {
  size_t p = 0;
  uint64_t n;
  if (!GetVar(s, &p, &n) || n > 10000) return Status::Corruption("event block summary: bad label count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view f;
    uint64_t nv;
    if (!GetStr(s, &p, &f) || !GetVar(s, &p, &nv)) return Status::Corruption("event block summary: truncated labels");
    if (nv == kTooMany) { out->any_labels.emplace_back(f); continue; }
    if (nv > kMaxLabelValues) return Status::Corruption("event block summary: bad value count");
    std::vector<std::string> vals;
    for (uint64_t j = 0; j < nv; ++j) {
      std::string_view v;
      if (!GetStr(s, &p, &v)) return Status::Corruption("event block summary: truncated values");
      vals.emplace_back(v);
    }
    out->labels.push_back({std::string(f), std::move(vals)});
  }
  if (s.size() - p < 5) return Status::Corruption("event block summary: no bloom filter");
  uint32_t bits = Get32(s.data() + p);
  out->k = static_cast<uint8_t>(s[p + 4]);
  p += 5;
  if (bits % 8 != 0 || bits / 8 != s.size() - p || out->k > 16) return Status::Corruption("event block summary: bad bloom filter");
  out->bloom.assign(s.begin() + static_cast<long>(p), s.end());
  return Status::Ok();
}

Status DecodeEvIndex(std::string_view b, const EvHeader& h, EvBlockData* out) {
  if (b.size() < h.index_end()) return Status::Corruption("event block: short read");
  std::string_view summary = b.substr(kEvHeaderBytes, h.summary_len);
  std::string_view ic = b.substr(kEvHeaderBytes + h.summary_len, h.index_comp);
  if (crc32c::Value(summary) != h.summary_crc) return Status::Corruption("event block: summary checksum mismatch");
  if (crc32c::Value(ic) != h.index_crc) return Status::Corruption("event block: index checksum mismatch");
  Status s = Decompress(ic, h.index_raw, &out->index);
  if (!s.ok()) return s;
  out->version = h.version;
  const bool v3 = h.version >= 3;
  std::string_view ix = out->index;
  size_t p = 0;
  int64_t t = 0;
  out->seqs.resize(h.count);
  out->times.resize(h.count);
  for (uint32_t i = 0; i < h.count; ++i) {
    uint64_t ds, dt;
    if (!GetVar(ix, &p, &ds) || !GetVar(ix, &p, &dt)) return Status::Corruption("event block: truncated columns");
    out->seqs[i] = (v3 && i > 0 ? out->seqs[i - 1] : h.first_seq) + ds;
    t += static_cast<int64_t>((dt >> 1) ^ (~(dt & 1) + 1));
    out->times[i] = t;
  }
  uint64_t nt;
  if (!GetVar(ix, &p, &nt) || nt > ix.size()) return Status::Corruption("event block: bad token count");
  out->token_offsets.reserve(nt);
  out->dict_ends.reserve(nt);
  out->dict.reserve(ix.size());
  std::string cur;  // the previous token, then this one
  for (uint64_t i = 0; i < nt; ++i) {
    uint64_t common = 0;
    if (v3 && (!GetVar(ix, &p, &common) || common > cur.size())) return Status::Corruption("event block: bad token prefix");
    std::string_view rest;
    if (!GetStr(ix, &p, &rest)) return Status::Corruption("event block: truncated postings");
    cur.resize(common);
    cur.append(rest);
    out->dict.append(cur);
    out->dict_ends.push_back(out->dict.size());
    out->dict.push_back('\n');
    out->token_offsets.push_back(static_cast<uint32_t>(p));
    uint64_t nd;
    if (!GetVar(ix, &p, &nd) || nd > h.count) return Status::Corruption("event block: truncated postings");
    uint64_t doc = 0;
    for (uint64_t j = 0; j < nd; ++j) {
      uint64_t d;
      if (!GetVar(ix, &p, &d)) return Status::Corruption("event block: truncated postings");
      // Ascending ordinals of docs of this block (readers index by them).
      if ((j > 0 && d == 0) || d >= h.count - doc) return Status::Corruption("event block: bad posting");
      doc += d;
    }
  }
  uint64_t ncols;
  if (!GetVar(ix, &p, &ncols) || ncols > 10000) return Status::Corruption("event block: bad label column count");
  EvSummary sum;
  if (ncols > 0) {
    Status ss = DecodeEvSummary(summary, &sum);
    if (!ss.ok()) return ss;
  }
  for (uint64_t c = 0; c < ncols; ++c) {
    std::string_view name;
    if (!GetStr(ix, &p, &name)) return Status::Corruption("event block: truncated label column");
    const std::vector<std::string>* vals = nullptr;
    for (const auto& [f, v] : sum.labels)
      if (f == name) vals = &v;
    if (!vals) return Status::Corruption("event block: label column without summary values");
    EvBlockData::LabelColumn col;
    col.field = std::string(name);
    col.values = *vals;
    col.codes.resize(h.count);
    for (uint32_t i = 0; i < h.count; ++i) {
      uint64_t code;
      if (!GetVar(ix, &p, &code) || code > vals->size()) return Status::Corruption("event block: bad label code");
      col.codes[i] = static_cast<uint16_t>(code);
    }
    out->label_cols.push_back(std::move(col));
  }
  if (!v3) {
    // One frame holds every doc.
    EvFrameRef f;
    f.ndocs = h.count;
    f.comp_len = h.docs_comp;
    f.raw_len = h.docs_raw;
    f.crc = h.docs_crc;
    out->frames.push_back(f);
  } else {
    uint64_t nf;
    if (!GetVar(ix, &p, &nf) || nf == 0 || nf > h.count) return Status::Corruption("event block: bad frame count");
    uint64_t docs = 0, raw = 0, comp = 0;
    out->frames.reserve(nf);
    for (uint64_t i = 0; i < nf; ++i) {
      uint64_t nd, rl, cl;
      if (!GetVar(ix, &p, &nd) || !GetVar(ix, &p, &rl) || !GetVar(ix, &p, &cl) || ix.size() - p < 4)
        return Status::Corruption("event block: truncated frame table");
      if (nd == 0 || nd > h.count - docs || rl > h.docs_raw - raw || cl > h.docs_comp - comp)
        return Status::Corruption("event block: frame table disagrees with the header");
      EvFrameRef f;
      f.first_doc = static_cast<uint32_t>(docs);
      f.ndocs = static_cast<uint32_t>(nd);
      f.comp_off = comp;
      f.raw_len = static_cast<uint32_t>(rl);
      f.comp_len = static_cast<uint32_t>(cl);
      f.crc = Get32(ix.data() + p);
      p += 4;
      out->frames.push_back(f);
      docs += nd;
      raw += rl;
      comp += cl;
    }
    if (docs != h.count || raw != h.docs_raw || comp != h.docs_comp) return Status::Corruption("event block: frame table disagrees with the header");
    std::string_view dict;
    if (!GetStr(ix, &p, &dict) || dict.size() > kEvDictBytes) return Status::Corruption("event block: bad frame dictionary");
    out->frame_dict = std::string(dict);
  }
  if (p != ix.size()) return Status::Corruption("event block: trailing bytes in the index");
  return Status::Ok();
}

Status DecodeEvFrame(const EvFrameRef& f, std::string_view dict, std::string_view comp, EvFrame* out) {
  if (comp.size() != f.comp_len) return Status::Corruption("event block: short frame");
  if (crc32c::Value(comp) != f.crc) return Status::Corruption("event block: docs checksum mismatch");
  Status s = Decompress(comp, f.raw_len, &out->raw, dict);
  if (!s.ok()) return s;
  out->first_doc = f.first_doc;
  out->offsets.resize(f.ndocs);
  size_t q = 0;
  for (uint32_t i = 0; i < f.ndocs; ++i) {
    out->offsets[i] = static_cast<uint32_t>(q);
    std::string_view a, c;
    if (!GetStr(out->raw, &q, &a) || !GetStr(out->raw, &q, &c)) return Status::Corruption("event block: truncated doc");
  }
  if (q != out->raw.size()) return Status::Corruption("event block: trailing bytes after the docs");
  return Status::Ok();
}

Status DecodeEvBlock(std::string_view b, const EvHeader& h, EvBlockData* out, std::vector<EvFrame>* frames) {
  if (b.size() != h.total_len()) return Status::Corruption("event block: short read");
  Status s = DecodeEvIndex(b, h, out);
  if (!s.ok()) return s;
  std::string_view dc = b.substr(h.index_end(), h.docs_comp);
  if (crc32c::Value(dc) != h.docs_crc) return Status::Corruption("event block: docs checksum mismatch");
  frames->clear();
  frames->resize(out->frames.size());
  for (size_t i = 0; i < out->frames.size(); ++i) {
    const EvFrameRef& f = out->frames[i];
    s = DecodeEvFrame(f, out->frame_dict, dc.substr(f.comp_off, f.comp_len), &(*frames)[i]);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

std::vector<uint32_t> EvBlockData::Postings(std::string_view t) const {
  size_t lo = 0, hi = token_offsets.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (Token(mid) < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo == token_offsets.size() || Token(lo) != t) return {};
  return PostingsAt(lo);
}

std::vector<uint32_t> EvBlockData::PostingsAt(size_t i) const {
  std::string_view ix = index;
  std::vector<uint32_t> out;
  size_t p = token_offsets[i];
  uint64_t nd = 0;
  GetVar(ix, &p, &nd);
  out.reserve(nd);
  uint32_t cur = 0;
  for (uint64_t j = 0; j < nd; ++j) {
    uint64_t d = 0;
    GetVar(ix, &p, &d);
    cur += static_cast<uint32_t>(d);
    out.push_back(cur);
  }
  return out;
}

std::string_view EvBlockData::Token(size_t i) const {
  size_t start = i == 0 ? 0 : dict_ends[i - 1] + 1;
  return std::string_view(dict).substr(start, dict_ends[i] - start);
}

size_t EvBlockData::FrameOf(size_t i) const {
  auto it = std::upper_bound(frames.begin(), frames.end(), i, [](size_t v, const EvFrameRef& f) { return v < f.first_doc; });
  return static_cast<size_t>(it - frames.begin()) - 1;
}

void EvFrame::Doc(size_t i, std::string_view* id, std::string_view* source) const {
  size_t q = offsets[i - first_doc];
  GetStr(raw, &q, id);
  GetStr(raw, &q, source);
}

}  // namespace hakone::store::internal
