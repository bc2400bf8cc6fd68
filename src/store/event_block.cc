// Event block encoding/decoding (format in event_block.h).
#include "store/event_block.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "core/crc32c.h"

namespace hakone::store::internal {
namespace {

void Put32(std::string* o, uint32_t v) { for (int i = 0; i < 4; ++i) o->push_back(static_cast<char>(v >> (8 * i))); }
void Put64(std::string* o, uint64_t v) { for (int i = 0; i < 8; ++i) o->push_back(static_cast<char>(v >> (8 * i))); }
uint32_t Get32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t Get64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
void PutVar(std::string* o, uint64_t v) {
  while (v >= 0x80) { o->push_back(static_cast<char>(v | 0x80)); v >>= 7; }
  o->push_back(static_cast<char>(v));
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

Status Compress(std::string_view in, int level, std::string* out, uint32_t* comp_len) {
  size_t bound = ZSTD_compressBound(in.size());
  size_t off = out->size();
  out->resize(off + bound);
  size_t n = ZSTD_compress(out->data() + off, bound, in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out->resize(off + n);
  *comp_len = static_cast<uint32_t>(n);
  return Status::Ok();
}

Status Decompress(std::string_view comp, uint32_t raw_len, std::string* out) {
  if (raw_len > kEvMaxSection) return Status::Corruption("event block: section too large");
  unsigned long long declared = ZSTD_getFrameContentSize(comp.data(), comp.size());
  if (declared != raw_len) return Status::Corruption("event block: zstd frame size differs from the header");
  out->resize(raw_len);
  size_t n = ZSTD_decompress(out->data(), raw_len, comp.data(), comp.size());
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

Status EncodeEvBlock(const std::vector<EvDocIn>& docs, const TokenPostings& postings, int level, std::string* out, EvHeader* hdr) {
  if (docs.empty()) return Status::InvalidArgument("event block: no docs");
  EvHeader h;
  h.first_seq = docs.front().seq;
  h.last_seq = docs.back().seq;
  h.min_time_us = INT64_MAX;
  h.max_time_us = INT64_MIN;
  h.count = static_cast<uint32_t>(docs.size());
  // docs section
  std::string d;
  std::vector<uint32_t> offsets;
  for (const auto& e : docs) {
    offsets.push_back(static_cast<uint32_t>(d.size()));
    PutStr(&d, e.id);
    PutStr(&d, e.source);
    h.min_time_us = std::min(h.min_time_us, e.time_us);
    h.max_time_us = std::max(h.max_time_us, e.time_us);
  }
  if (d.size() > kEvMaxSection) return Status::InvalidArgument("event block: too large");
  // index section
  std::string ix;
  int64_t prev_t = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    PutVar(&ix, docs[i].seq - h.first_seq);
    int64_t dt = docs[i].time_us - prev_t;
    prev_t = docs[i].time_us;
    PutVar(&ix, (static_cast<uint64_t>(dt) << 1) ^ static_cast<uint64_t>(dt >> 63));
  }
  const auto& post = postings.map();
  std::vector<const std::pair<const std::string, std::vector<uint32_t>>*> toks;
  toks.reserve(post.size());
  for (auto& kv : post) toks.push_back(&kv);
  std::sort(toks.begin(), toks.end(), [](auto* a, auto* b) { return a->first < b->first; });
  PutVar(&ix, toks.size());
  for (auto* t : toks) {
    PutStr(&ix, t->first);
    const auto& v = t->second;
    PutVar(&ix, v.size());
    uint32_t prev = 0;
    for (uint32_t o : v) { PutVar(&ix, o - prev); prev = o; }
  }
  // summary: labels + bloom
  std::map<std::string, std::set<std::string>> labels;
  for (const auto& e : docs)
    for (const auto& [f, v] : e.labels) labels[f].insert(v);
  // Label columns (end of the index section): per listed label with one value per doc at most,
  // a varint code per doc (0 = absent, i + 1 = the i-th value of the summary's sorted list).
  {
    std::vector<std::pair<const std::string*, const std::set<std::string>*>> cols;
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
      std::vector<std::string_view> sorted(vals->begin(), vals->end());
      for (const auto& e : docs) {
        uint64_t code = 0;
        for (const auto& l : e.labels)
          if (l.first == *f) code = static_cast<uint64_t>(std::lower_bound(sorted.begin(), sorted.end(), l.second) - sorted.begin()) + 1;
        PutVar(&ix, code);
      }
    }
  }
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
  for (auto* t : toks) {
    uint64_t hh = HashToken(t->first);
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
  size_t docs_at = body.size();
  s = Compress(d, level, &body, &dc);
  if (!s.ok()) return s;
  h.summary_len = static_cast<uint32_t>(sum.size());
  h.index_raw = static_cast<uint32_t>(ix.size());
  h.index_comp = ic;
  h.docs_raw = static_cast<uint32_t>(d.size());
  h.docs_comp = dc;
  h.summary_crc = crc32c::Value(sum);
  h.index_crc = crc32c::Value(std::string_view(body).substr(sum.size(), ic));
  h.docs_crc = crc32c::Value(std::string_view(body).substr(docs_at, dc));
  std::string hb;
  hb.append("HKEV", 4);
  hb.push_back(2);
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
  if (hdr) *hdr = h;
  return Status::Ok();
}

Status DecodeEvHeader(std::string_view b, EvHeader* h) {
  if (b.size() < kEvHeaderBytes) return Status::Corruption("event block header: short");
  if (std::memcmp(b.data(), "HKEV", 4) != 0) return Status::Corruption("event block header: bad magic");
  if (crc32c::Value(b.data(), 76) != Get32(b.data() + 76)) return Status::Corruption("event block header: checksum mismatch");
  if (b[4] != 2) return Status::Corruption("event block header: unsupported version");
  const char* p = b.data();
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

Status DecodeEvBlock(std::string_view b, const EvHeader& h, EvBlockData* out) {
  if (b.size() != h.total_len()) return Status::Corruption("event block: short read");
  std::string_view summary = b.substr(kEvHeaderBytes, h.summary_len);
  std::string_view ic = b.substr(kEvHeaderBytes + h.summary_len, h.index_comp);
  std::string_view dc = b.substr(kEvHeaderBytes + h.summary_len + h.index_comp, h.docs_comp);
  if (crc32c::Value(summary) != h.summary_crc) return Status::Corruption("event block: summary checksum mismatch");
  if (crc32c::Value(ic) != h.index_crc) return Status::Corruption("event block: index checksum mismatch");
  if (crc32c::Value(dc) != h.docs_crc) return Status::Corruption("event block: docs checksum mismatch");
  Status s = Decompress(ic, h.index_raw, &out->index);
  if (!s.ok()) return s;
  s = Decompress(dc, h.docs_raw, &out->docs);
  if (!s.ok()) return s;
  std::string_view ix = out->index;
  size_t p = 0;
  int64_t t = 0;
  out->seqs.resize(h.count);
  out->times.resize(h.count);
  out->doc_offsets.resize(h.count);
  for (uint32_t i = 0; i < h.count; ++i) {
    uint64_t ds, dt;
    if (!GetVar(ix, &p, &ds) || !GetVar(ix, &p, &dt)) return Status::Corruption("event block: truncated columns");
    out->seqs[i] = h.first_seq + ds;
    t += static_cast<int64_t>((dt >> 1) ^ (~(dt & 1) + 1));
    out->times[i] = t;
  }
  uint64_t nt;
  if (!GetVar(ix, &p, &nt) || nt > ix.size()) return Status::Corruption("event block: bad token count");
  out->token_offsets.reserve(nt);
  for (uint64_t i = 0; i < nt; ++i) {
    out->token_offsets.push_back(static_cast<uint32_t>(p));
    std::string_view tok;
    uint64_t nd;
    if (!GetStr(ix, &p, &tok) || !GetVar(ix, &p, &nd) || nd > h.count) return Status::Corruption("event block: truncated postings");
    out->dict.append(tok);
    out->dict_ends.push_back(out->dict.size());
    out->dict.push_back('\n');
    for (uint64_t j = 0; j < nd; ++j) {
      uint64_t d;
      if (!GetVar(ix, &p, &d)) return Status::Corruption("event block: truncated postings");
    }
  }
  uint64_t ncols;
  if (!GetVar(ix, &p, &ncols) || ncols > 10000) return Status::Corruption("event block: bad label column count");
  EvSummary sum;
  if (ncols > 0) {
    Status ss = DecodeEvSummary(b.substr(kEvHeaderBytes, h.summary_len), &sum);
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
  if (p != ix.size()) return Status::Corruption("event block: trailing bytes in the index");
  // Every doc must decode; their offsets are found by walking the section.
  size_t q = 0;
  for (uint32_t i = 0; i < h.count; ++i) {
    out->doc_offsets[i] = static_cast<uint32_t>(q);
    std::string_view a, c;
    if (!GetStr(out->docs, &q, &a) || !GetStr(out->docs, &q, &c)) return Status::Corruption("event block: truncated doc");
  }
  if (q != out->docs.size()) return Status::Corruption("event block: trailing bytes after the docs");
  return Status::Ok();
}

std::vector<uint32_t> EvBlockData::Postings(std::string_view t) const {
  std::string_view ix = index;
  size_t lo = 0, hi = token_offsets.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    size_t p = token_offsets[mid];
    std::string_view tok;
    GetStr(ix, &p, &tok);
    if (tok < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo == token_offsets.size() || Token(lo) != t) return {};
  return PostingsAt(lo);
}

std::vector<uint32_t> EvBlockData::PostingsAt(size_t i) const {
  std::string_view ix = index;
  std::vector<uint32_t> out;
  size_t p = token_offsets[i];
  std::string_view tok;
  GetStr(ix, &p, &tok);
  uint64_t nd;
  GetVar(ix, &p, &nd);
  uint32_t cur = 0;
  for (uint64_t j = 0; j < nd; ++j) {
    uint64_t d;
    GetVar(ix, &p, &d);
    cur += static_cast<uint32_t>(d);
    out.push_back(cur);
  }
  return out;
}

std::string_view EvBlockData::Token(size_t i) const {
  size_t p = token_offsets[i];
  std::string_view t;
  GetStr(index, &p, &t);
  return t;
}

void EvBlockData::Doc(size_t i, std::string_view* id, std::string_view* source) const {
  size_t q = doc_offsets[i];
  GetStr(docs, &q, id);
  GetStr(docs, &q, source);
}

}  // namespace hakone::store::internal
