#include "graph/graph.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/crc32c.h"

namespace hakone::graph {

namespace fs = std::filesystem;

int PropTable::Find(std::string_view key) const {
  for (size_t i = 0; i < cols.size(); ++i)
    if (cols[i].key == key) return static_cast<int>(i);
  return -1;
}

uint32_t Graph::LabelId(std::string_view name) const {
  for (size_t i = 0; i < label_names_.size(); ++i)
    if (label_names_[i] == name) return static_cast<uint32_t>(i);
  return kNone;
}

uint32_t Graph::TypeId(std::string_view name) const {
  for (size_t i = 0; i < type_names_.size(); ++i)
    if (type_names_[i] == name) return static_cast<uint32_t>(i);
  return kNone;
}

bool Graph::HasLabel(uint32_t n, uint32_t label) const {
  auto [b, e] = Labels(n);
  for (auto it = b; it != e; ++it)
    if (*it == label) return true;
  return false;
}

Value Graph::CellValue(const PropColumn& c, uint32_t row) const {
  uint64_t d = c.data[row];
  switch (static_cast<PTag>(c.tag[row])) {
    case PTag::kNull: return Value();
    case PTag::kBool: return Value(d != 0);
    case PTag::kInt: return Value(static_cast<int64_t>(d));
    case PTag::kFloat: {
      double x;
      std::memcpy(&x, &d, 8);
      return Value(x);
    }
    case PTag::kString: return Value(strings_[d]);
    case PTag::kComplex: return complex_[d];
  }
  return Value();
}

Value Graph::NodeProp(uint32_t n, std::string_view key) const {
  const PropTable& t = node_tables_[node_group_[n]];
  int c = t.Find(key);
  if (c < 0) return Value();
  return CellValue(t.cols[c], node_row_[n]);
}

Value Graph::RelProp(uint32_t r, std::string_view key) const {
  const PropTable& t = rel_tables_[rel_type_[r]];
  int c = t.Find(key);
  if (c < 0) return Value();
  return CellValue(t.cols[c], rel_row_[r]);
}

Map Graph::NodeProps(uint32_t n) const {
  Map m;
  const PropTable& t = node_tables_[node_group_[n]];
  for (const auto& c : t.cols) {
    Value v = CellValue(c, node_row_[n]);
    if (!v.is_null()) m.emplace(c.key, std::move(v));
  }
  return m;
}

Map Graph::RelProps(uint32_t r) const {
  Map m;
  const PropTable& t = rel_tables_[rel_type_[r]];
  for (const auto& c : t.cols) {
    Value v = CellValue(c, rel_row_[r]);
    if (!v.is_null()) m.emplace(c.key, std::move(v));
  }
  return m;
}

const Graph::IndexEntry& Graph::Index(uint32_t group, int col) const {
  IndexEntry* e;
  {
    std::lock_guard<std::mutex> lk(index_mu_);
    auto& slot = index_[(static_cast<uint64_t>(group) << 32) | static_cast<uint32_t>(col)];
    if (!slot) slot = std::make_unique<IndexEntry>();
    e = slot.get();
  }
  std::call_once(e->once, [&] {
    const PropColumn& c = node_tables_[group].cols[col];
    for (uint32_t r = 0; r < c.tag.size(); ++r)
      if (c.tag[r] != static_cast<uint8_t>(PTag::kNull)) e->rows.push_back(r);
    std::sort(e->rows.begin(), e->rows.end(), [&](uint32_t a, uint32_t b) {
      int x = OrderCompare(CellValue(c, a), CellValue(c, b));
      return x < 0 || (x == 0 && a < b);
    });
  });
  return *e;
}

std::vector<uint32_t> Graph::FindNodes(uint32_t label, std::string_view key, const Value& v) const {
  std::vector<uint32_t> out;
  if (v.is_null() || label == kNone || label >= label_names_.size()) return out;
  // Nodes whose first label is `label` live in group `label` (indexed); nodes carrying it as a
  // second label (from CREATE) are checked directly.
  const PropTable& t = node_tables_[label];
  int col = t.Find(key);
  if (col >= 0) {
    const IndexEntry& ix = Index(label, col);
    const PropColumn& c = t.cols[col];
    auto lo = std::lower_bound(ix.rows.begin(), ix.rows.end(), v,
                               [&](uint32_t r, const Value& x) { return OrderCompare(CellValue(c, r), x) < 0; });
    for (auto it = lo; it != ix.rows.end(); ++it) {
      if (!GroupEquals(CellValue(c, *it), v)) break;
      out.push_back(group_nodes_[label][*it]);
    }
  }
  auto [b, e] = NodesWithLabel(label);
  for (auto it = b; it != e; ++it) {
    if (node_group_[*it] == label) continue;
    Value x = NodeProp(*it, key);
    if (!x.is_null() && GroupEquals(x, v)) out.push_back(*it);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> Graph::FindNodesByPrefix(uint32_t label, std::string_view key, std::string_view prefix,
                                               size_t limit) const {
  std::vector<uint32_t> out;
  for (uint32_t group = 0; group < node_tables_.size() && out.size() < limit; ++group) {
    if (label != kNone && group != label) continue;
    const PropTable& t = node_tables_[group];
    int col = t.Find(key);
    if (col < 0) continue;
    const IndexEntry& ix = Index(group, col);
    const PropColumn& c = t.cols[col];
    Value pv{std::string(prefix)};
    auto lo = std::lower_bound(ix.rows.begin(), ix.rows.end(), pv,
                               [&](uint32_t r, const Value& x) { return OrderCompare(CellValue(c, r), x) < 0; });
    std::vector<uint32_t> rows;
    for (auto it = lo; it != ix.rows.end() && out.size() + rows.size() < limit; ++it) {
      if (static_cast<PTag>(c.tag[*it]) != PTag::kString) break;
      const std::string& s = strings_[c.data[*it]];
      if (s.compare(0, prefix.size(), prefix) != 0) break;
      rows.push_back(*it);
    }
    for (uint32_t r : rows) out.push_back(group_nodes_[group][r]);
  }
  return out;
}

uint64_t Graph::MemoryBytes() const {
  uint64_t b = 0;
  auto v = [&](const auto& x) { b += x.size() * sizeof(x[0]); };
  v(node_group_), v(node_row_), v(node_labels_off_), v(node_labels_), v(label_nodes_off_), v(label_nodes_);
  v(rel_src_), v(rel_dst_), v(rel_type_), v(rel_row_), v(out_off_), v(in_off_), v(out_rel_), v(in_rel_), v(out_nbr_), v(in_nbr_);
  for (const auto* ts : {&node_tables_, &rel_tables_})
    for (const auto& t : *ts)
      for (const auto& c : t.cols) b += c.tag.size() * 9;
  for (const auto& s : strings_) b += s.size() + 32;
  return b;
}

void Graph::Finish() {
  uint32_t n = node_count();
  uint32_t m = rel_count();
  // CSR both ways (counting sort; relationship ids ascending within a node).
  out_off_.assign(n + 1, 0);
  in_off_.assign(n + 1, 0);
  for (uint32_t r = 0; r < m; ++r) {
    ++out_off_[rel_src_[r] + 1];
    ++in_off_[rel_dst_[r] + 1];
  }
  for (uint32_t i = 0; i < n; ++i) {
    out_off_[i + 1] += out_off_[i];
    in_off_[i + 1] += in_off_[i];
  }
  out_rel_.resize(m);
  in_rel_.resize(m);
  {
    std::vector<uint64_t> po(out_off_.begin(), out_off_.end() - 1), pi(in_off_.begin(), in_off_.end() - 1);
    for (uint32_t r = 0; r < m; ++r) {
      out_rel_[po[rel_src_[r]]++] = r;
      in_rel_[pi[rel_dst_[r]]++] = r;
    }
  }
  out_nbr_.resize(m);
  in_nbr_.resize(m);
  for (uint64_t k = 0; k < m; ++k) {
    out_nbr_[k] = rel_dst_[out_rel_[k]];
    in_nbr_[k] = rel_src_[in_rel_[k]];
  }
  group_nodes_.assign(node_tables_.size(), {});
  for (uint32_t v = 0; v < n; ++v) group_nodes_[node_group_[v]].push_back(v);
  // Label -> nodes.
  uint32_t L = static_cast<uint32_t>(label_names_.size());
  label_nodes_off_.assign(L + 1, 0);
  for (uint32_t x : node_labels_) ++label_nodes_off_[x + 1];
  for (uint32_t i = 0; i < L; ++i) label_nodes_off_[i + 1] += label_nodes_off_[i];
  label_nodes_.resize(node_labels_.size());
  std::vector<uint64_t> pl(label_nodes_off_.begin(), label_nodes_off_.end() - 1);
  for (uint32_t v = 0; v < n; ++v)
    for (uint64_t k = node_labels_off_[v]; k < node_labels_off_[v + 1]; ++k) label_nodes_[pl[node_labels_[k]]++] = v;
}

// ---- GraphBuilder ----

GraphBuilder::GraphBuilder() : g_(std::make_unique<Graph>()) {
  node_labels_off_.push_back(0);
  g_->node_tables_.emplace_back();  // unlabelled group (moved to the end on Freeze)
  node_colmap_.emplace_back();
}

GraphBuilder::GraphBuilder(const Graph& src) : GraphBuilder() {
  for (const auto& l : src.label_names_) InternLabel(l);
  for (const auto& t : src.type_names_) InternType(t);
  for (uint32_t n = 0; n < src.node_count(); ++n) {
    std::vector<std::string> labels;
    auto [b, e] = src.Labels(n);
    for (auto it = b; it != e; ++it) labels.push_back(src.label_names_[*it]);
    AddNode(labels, src.NodeProps(n));
  }
  for (uint32_t r = 0; r < src.rel_count(); ++r)
    AddRel(src.RelSrc(r), src.RelDst(r), src.type_names_[src.RelType(r)], src.RelProps(r));
}

uint32_t GraphBuilder::InternString(std::string_view s) {
  uint64_t h = std::hash<std::string_view>()(s);
  // A slot packs the hash's high 32 bits with id + 1 (0 = empty): a probe compares hashes
  // without touching the strings; the bucket comes from the low bits.
  uint64_t tag = h >> 32 << 32;
  if ((g_->strings_.size() + 1) * 2 > str_slots_.size()) {
    // Grow to keep the load factor at most 1/2; rehash from the stored hashes.
    size_t cap = std::max<size_t>(1024, str_slots_.size() * 2);
    std::vector<uint64_t> slots(cap, 0);
    for (uint32_t id = 0; id < g_->strings_.size(); ++id) {
      size_t i = str_hashes_[id] & (cap - 1);
      while (slots[i]) i = (i + 1) & (cap - 1);
      slots[i] = (str_hashes_[id] >> 32 << 32) | (id + 1);
    }
    str_slots_ = std::move(slots);
  }
  size_t mask = str_slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint64_t slot = str_slots_[i];
    if (slot == 0) {
      uint32_t id = static_cast<uint32_t>(g_->strings_.size());
      g_->strings_.emplace_back(s);
      str_hashes_.push_back(h);
      str_slots_[i] = tag | (id + 1);
      return id;
    }
    uint32_t id = static_cast<uint32_t>(slot) - 1;
    if ((slot >> 32 << 32) == tag && g_->strings_[id] == s) return id;
  }
}

uint32_t GraphBuilder::InternLabel(std::string_view name) {
  auto it = label_ids_.find(std::string(name));
  if (it != label_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(g_->label_names_.size());
  g_->label_names_.emplace_back(name);
  label_ids_.emplace(std::string(name), id);
  // Group ids while building: label id + 1 (0 = unlabelled).
  g_->node_tables_.emplace_back();
  node_colmap_.emplace_back();
  return id;
}

uint32_t GraphBuilder::InternType(std::string_view name) {
  auto it = type_ids_.find(std::string(name));
  if (it != type_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(g_->type_names_.size());
  g_->type_names_.emplace_back(name);
  type_ids_.emplace(std::string(name), id);
  g_->rel_tables_.emplace_back();
  rel_colmap_.emplace_back();
  return id;
}

uint32_t GraphBuilder::InternKey(std::string_view key) {
  auto it = key_ids_.find(std::string(key));
  if (it != key_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(keys_.size());
  keys_.emplace_back(key);
  key_ids_.emplace(std::string(key), id);
  return id;
}

void GraphBuilder::SetCell(PropTable& t, std::vector<int>& colmap, uint32_t key_id, uint32_t row, const Value& v) {
  if (v.is_null()) return;
  if (colmap.size() <= key_id) colmap.resize(key_id + 1, -1);
  if (colmap[key_id] < 0) {
    colmap[key_id] = static_cast<int>(t.cols.size());
    t.cols.emplace_back();
    t.cols.back().key = keys_[key_id];
  }
  PropColumn& c = t.cols[colmap[key_id]];
  if (c.tag.size() <= row) {
    c.tag.resize(row + 1, 0);
    c.data.resize(row + 1, 0);
  }
  uint64_t d = 0;
  PTag tag;
  switch (v.kind()) {
    case Value::kBool: tag = PTag::kBool; d = v.b(); break;
    case Value::kInt: tag = PTag::kInt; d = static_cast<uint64_t>(v.i()); break;
    case Value::kFloat: {
      tag = PTag::kFloat;
      double x = v.f();
      std::memcpy(&d, &x, 8);
      break;
    }
    case Value::kString: tag = PTag::kString; d = InternString(v.s()); break;
    default:
      tag = PTag::kComplex;
      d = g_->complex_.size();
      g_->complex_.push_back(v);
  }
  c.tag[row] = static_cast<uint8_t>(tag);
  c.data[row] = d;
}

uint32_t GraphBuilder::AddNode(const std::vector<std::string>& labels, const Map& props) {
  std::vector<uint32_t> ids;
  for (const auto& l : labels) {
    uint32_t id = InternLabel(l);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  uint32_t group = ids.empty() ? 0 : ids[0] + 1;
  uint32_t n = node_count();
  PropTable& t = g_->node_tables_[group];
  uint32_t row = t.rows++;
  g_->node_group_.push_back(group);
  g_->node_row_.push_back(row);
  for (uint32_t id : ids) g_->node_labels_.push_back(id);
  node_labels_off_.push_back(g_->node_labels_.size());
  for (const auto& [k, v] : props) SetCell(t, node_colmap_[group], InternKey(k), row, v);
  return n;
}

uint32_t GraphBuilder::AddNodeFast(uint32_t label_id, const std::vector<uint32_t>& key_ids,
                                   const std::vector<Value>& vals) {
  std::vector<const Value*> cells(vals.size());
  for (size_t i = 0; i < vals.size(); ++i) cells[i] = &vals[i];
  return AddNodeCells(label_id, key_ids, cells.data());
}

uint32_t GraphBuilder::AddNodeCells(uint32_t label_id, const std::vector<uint32_t>& key_ids, const Value* const* vals) {
  uint32_t group = label_id + 1;
  uint32_t n = node_count();
  PropTable& t = g_->node_tables_[group];
  uint32_t row = t.rows++;
  g_->node_group_.push_back(group);
  g_->node_row_.push_back(row);
  g_->node_labels_.push_back(label_id);
  node_labels_off_.push_back(g_->node_labels_.size());
  for (size_t i = 0; i < key_ids.size(); ++i) SetCell(t, node_colmap_[group], key_ids[i], row, *vals[i]);
  return n;
}

uint32_t GraphBuilder::AddRel(uint32_t src, uint32_t dst, std::string_view type, const Map& props) {
  uint32_t t = InternType(type);
  std::vector<uint32_t> keys;
  std::vector<Value> vals;
  for (const auto& [k, v] : props) {
    keys.push_back(InternKey(k));
    vals.push_back(v);
  }
  return AddRelFast(src, dst, t, keys, vals);
}

uint32_t GraphBuilder::AddRelFast(uint32_t src, uint32_t dst, uint32_t type_id, const std::vector<uint32_t>& key_ids,
                                  const std::vector<Value>& vals) {
  std::vector<const Value*> cells(vals.size());
  for (size_t i = 0; i < vals.size(); ++i) cells[i] = &vals[i];
  return AddRelCells(src, dst, type_id, key_ids, cells.data());
}

uint32_t GraphBuilder::AddRelCells(uint32_t src, uint32_t dst, uint32_t type_id, const std::vector<uint32_t>& key_ids,
                                   const Value* const* vals) {
  uint32_t r = rel_count();
  PropTable& t = g_->rel_tables_[type_id];
  uint32_t row = t.rows++;
  rel_src_.push_back(src);
  g_->rel_dst_.push_back(dst);
  g_->rel_type_.push_back(type_id);
  g_->rel_row_.push_back(row);
  for (size_t i = 0; i < key_ids.size(); ++i) SetCell(t, rel_colmap_[type_id], key_ids[i], row, *vals[i]);
  return r;
}

std::shared_ptr<const Graph> GraphBuilder::Freeze() {
  Graph& g = *g_;
  // Groups: builder group 0 (unlabelled) becomes the last one, label l's group becomes l.
  uint32_t L = static_cast<uint32_t>(g.label_names_.size());
  std::vector<PropTable> tables(L + 1);
  for (uint32_t l = 0; l < L; ++l) tables[l] = std::move(g.node_tables_[l + 1]);
  tables[L] = std::move(g.node_tables_[0]);
  g.node_tables_ = std::move(tables);
  for (auto& grp : g.node_group_) grp = grp == 0 ? L : grp - 1;
  for (auto* ts : {&g.node_tables_, &g.rel_tables_})
    for (auto& t : *ts)
      for (auto& c : t.cols) {
        c.tag.resize(t.rows, 0);
        c.data.resize(t.rows, 0);
      }
  g.node_labels_off_ = std::move(node_labels_off_);
  g.rel_src_ = std::move(rel_src_);
  g.Finish();
  return std::shared_ptr<const Graph>(g_.release());
}

// ---- Snapshot file ----

namespace {

constexpr char kMagic[8] = {'H', 'K', 'G', 'R', 'A', 'P', 'H', '1'};

class Writer {
 public:
  explicit Writer(FILE* f) : f_(f) {}
  void Bytes(const void* p, size_t n) {
    if (!ok_ || n == 0) return;
    crc_ = crc32c::Extend(crc_, p, n);
    if (std::fwrite(p, 1, n, f_) != n) ok_ = false;
  }
  void U64(uint64_t v) { Bytes(&v, 8); }
  void Str(const std::string& s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  template <typename T>
  void Vec(const std::vector<T>& v) {
    U64(v.size());
    Bytes(v.data(), v.size() * sizeof(T));
  }
  void Strs(const std::vector<std::string>& v) {
    U64(v.size());
    for (const auto& s : v) Str(s);
  }
  uint32_t crc() const { return crc_; }
  bool ok() const { return ok_; }

 private:
  FILE* f_;
  uint32_t crc_ = 0;
  bool ok_ = true;
};

class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}
  bool U64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    std::memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  bool Str(std::string* s, uint64_t max = 1ull << 32) {
    uint64_t n;
    if (!U64(&n) || n > max || static_cast<uint64_t>(end_ - p_) < n) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  template <typename T>
  bool Vec(std::vector<T>* v) {
    uint64_t n;
    if (!U64(&n) || n > static_cast<uint64_t>(end_ - p_) / sizeof(T)) return false;
    v->resize(n);
    if (n) std::memcpy(v->data(), p_, n * sizeof(T));
    p_ += n * sizeof(T);
    return true;
  }
  bool Strs(std::vector<std::string>* v) {
    uint64_t n;
    if (!U64(&n) || n > static_cast<uint64_t>(end_ - p_) / 8) return false;
    v->resize(n);
    for (auto& s : *v)
      if (!Str(&s)) return false;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

// Complex values (lists/maps of plain values) are serialised as their JSON-like tagged form.
void WriteValue(std::string* out, const Value& v) {
  out->push_back(static_cast<char>(v.kind()));
  auto u64 = [&](uint64_t x) { out->append(reinterpret_cast<const char*>(&x), 8); };
  switch (v.kind()) {
    case Value::kBool: out->push_back(v.b() ? 1 : 0); break;
    case Value::kInt: u64(static_cast<uint64_t>(v.i())); break;
    case Value::kFloat: {
      uint64_t d;
      double x = v.f();
      std::memcpy(&d, &x, 8);
      u64(d);
      break;
    }
    case Value::kString: u64(v.s().size()); out->append(v.s()); break;
    case Value::kList:
      u64(v.list().size());
      for (const auto& e : v.list()) WriteValue(out, e);
      break;
    case Value::kMap:
      u64(v.map().size());
      for (const auto& [k, e] : v.map()) {
        u64(k.size());
        out->append(k);
        WriteValue(out, e);
      }
      break;
    default: break;  // null (graph entities are never stored as properties)
  }
}

bool ReadValue(const char*& p, const char* end, Value* v, int depth = 0) {
  if (p >= end || depth > 64) return false;
  auto kind = static_cast<Value::Kind>(*p++);
  auto u64 = [&](uint64_t* x) {
    if (end - p < 8) return false;
    std::memcpy(x, p, 8);
    p += 8;
    return true;
  };
  uint64_t x;
  switch (kind) {
    case Value::kNull: *v = Value(); return true;
    case Value::kBool:
      if (p >= end) return false;
      *v = Value(*p++ != 0);
      return true;
    case Value::kInt:
      if (!u64(&x)) return false;
      *v = Value(static_cast<int64_t>(x));
      return true;
    case Value::kFloat: {
      if (!u64(&x)) return false;
      double d;
      std::memcpy(&d, &x, 8);
      *v = Value(d);
      return true;
    }
    case Value::kString:
      if (!u64(&x) || static_cast<uint64_t>(end - p) < x) return false;
      *v = Value(std::string(p, x));
      p += x;
      return true;
    case Value::kList: {
      if (!u64(&x) || x > static_cast<uint64_t>(end - p)) return false;
      List l(x);
      for (auto& e : l)
        if (!ReadValue(p, end, &e, depth + 1)) return false;
      *v = Value(std::move(l));
      return true;
    }
    case Value::kMap: {
      if (!u64(&x) || x > static_cast<uint64_t>(end - p)) return false;
      Map m;
      for (uint64_t i = 0; i < x; ++i) {
        uint64_t kl;
        if (!u64(&kl) || static_cast<uint64_t>(end - p) < kl) return false;
        std::string k(p, kl);
        p += kl;
        Value e;
        if (!ReadValue(p, end, &e, depth + 1)) return false;
        m.emplace(std::move(k), std::move(e));
      }
      *v = Value(std::move(m));
      return true;
    }
    default: return false;
  }
}

void WriteTables(Writer& w, const std::vector<PropTable>& ts) {
  w.U64(ts.size());
  for (const auto& t : ts) {
    w.U64(t.rows);
    w.U64(t.cols.size());
    for (const auto& c : t.cols) {
      w.Str(c.key);
      w.Vec(c.tag);
      w.Vec(c.data);
    }
  }
}

bool ReadTables(Reader& r, std::vector<PropTable>* ts, size_t strings, size_t complex) {
  uint64_t n;
  if (!r.U64(&n) || n > (1u << 24)) return false;
  ts->resize(n);
  for (auto& t : *ts) {
    uint64_t rows, cols;
    if (!r.U64(&rows) || !r.U64(&cols) || cols > (1u << 20)) return false;
    t.rows = static_cast<uint32_t>(rows);
    t.cols.resize(cols);
    for (auto& c : t.cols) {
      if (!r.Str(&c.key) || !r.Vec(&c.tag) || !r.Vec(&c.data)) return false;
      if (c.tag.size() != rows || c.data.size() != rows) return false;
      for (size_t i = 0; i < rows; ++i) {
        if (c.tag[i] > static_cast<uint8_t>(PTag::kComplex)) return false;
        if (c.tag[i] == static_cast<uint8_t>(PTag::kString) && c.data[i] >= strings) return false;
        if (c.tag[i] == static_cast<uint8_t>(PTag::kComplex) && c.data[i] >= complex) return false;
      }
    }
  }
  return true;
}

}  // namespace

Status SaveSnapshotFile(const Graph& g, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::FromErrno("graph: create " + path, errno);
  std::vector<char> buf(1 << 20);
  std::setvbuf(f, buf.data(), _IOFBF, buf.size());
  Writer w(f);
  w.Bytes(kMagic, 8);
  w.Strs(g.label_names_);
  w.Strs(g.type_names_);
  w.Strs(g.strings_);
  std::string cx;
  w.U64(g.complex_.size());
  for (const auto& v : g.complex_) {
    cx.clear();
    WriteValue(&cx, v);
    w.Str(cx);
  }
  w.Vec(g.node_group_);
  w.Vec(g.node_row_);
  w.Vec(g.node_labels_off_);
  w.Vec(g.node_labels_);
  w.Vec(g.rel_src_);
  w.Vec(g.rel_dst_);
  w.Vec(g.rel_type_);
  w.Vec(g.rel_row_);
  WriteTables(w, g.node_tables_);
  WriteTables(w, g.rel_tables_);
  uint32_t crc = w.crc();
  bool ok = w.ok() && std::fwrite(&crc, 1, 4, f) == 4 && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  int err = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) return Status::FromErrno("graph: write " + path, err);
  return Status::Ok();
}

Result<std::shared_ptr<const Graph>> LoadSnapshotFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("graph: cannot open snapshot " + path);
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::string data(size, '\0');
  if (!in.read(data.data(), static_cast<std::streamsize>(size))) return Status::IOError("graph: read " + path);
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("graph: snapshot " + path + " is corrupt: " + what);
  };
  if (size < 12 || std::memcmp(data.data(), kMagic, 8) != 0) return corrupt("bad magic (not a hakone graph snapshot)");
  uint32_t stored;
  std::memcpy(&stored, data.data() + size - 4, 4);
  uint32_t actual = crc32c::Value(data.data(), size - 4);
  if (stored != actual) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "checksum mismatch (stored %08x, computed %08x)", stored, actual);
    return corrupt(buf);
  }
  auto g = std::make_shared<Graph>();
  Reader r(data.data() + 8, size - 12);
  if (!r.Strs(&g->label_names_) || !r.Strs(&g->type_names_) || !r.Strs(&g->strings_))
    return corrupt("truncated names section");
  uint64_t ncx;
  if (!r.U64(&ncx) || ncx > size) return corrupt("truncated complex values");
  g->complex_.resize(ncx);
  std::string cx;
  for (auto& v : g->complex_) {
    if (!r.Str(&cx)) return corrupt("truncated complex value");
    const char* p = cx.data();
    if (!ReadValue(p, cx.data() + cx.size(), &v)) return corrupt("bad complex value");
  }
  if (!r.Vec(&g->node_group_) || !r.Vec(&g->node_row_) || !r.Vec(&g->node_labels_off_) || !r.Vec(&g->node_labels_) ||
      !r.Vec(&g->rel_src_) || !r.Vec(&g->rel_dst_) || !r.Vec(&g->rel_type_) || !r.Vec(&g->rel_row_))
    return corrupt("truncated topology section");
  if (!ReadTables(r, &g->node_tables_, g->strings_.size(), ncx) ||
      !ReadTables(r, &g->rel_tables_, g->strings_.size(), ncx))
    return corrupt("bad property section");
  if (!r.done()) return corrupt("trailing bytes");
  // Structural checks, so that a consistent-but-wrong file cannot make queries read out of bounds.
  size_t n = g->node_group_.size(), m = g->rel_src_.size(), L = g->label_names_.size();
  if (g->node_row_.size() != n || g->node_labels_off_.size() != n + 1 || g->node_labels_off_[0] != 0 ||
      g->node_labels_off_[n] != g->node_labels_.size() || g->node_tables_.size() != L + 1)
    return corrupt("node arrays disagree");
  for (size_t i = 0; i < n; ++i) {
    if (g->node_labels_off_[i] > g->node_labels_off_[i + 1]) return corrupt("node label offsets");
    if (g->node_group_[i] > L || g->node_row_[i] >= g->node_tables_[g->node_group_[i]].rows)
      return corrupt("node group/row out of range");
  }
  for (uint32_t l : g->node_labels_)
    if (l >= L) return corrupt("label id out of range");
  if (g->rel_dst_.size() != m || g->rel_type_.size() != m || g->rel_row_.size() != m ||
      g->rel_tables_.size() != g->type_names_.size())
    return corrupt("relationship arrays disagree");
  for (size_t r2 = 0; r2 < m; ++r2) {
    if (g->rel_src_[r2] >= n || g->rel_dst_[r2] >= n || g->rel_type_[r2] >= g->type_names_.size() ||
        g->rel_row_[r2] >= g->rel_tables_[g->rel_type_[r2]].rows)
      return corrupt("relationship endpoint/type/row out of range");
  }
  g->Finish();
  return std::shared_ptr<const Graph>(std::move(g));
}

// ---- SnapshotStore ----

namespace {
Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::FromErrno("graph: create " + tmp, errno);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::FromErrno("graph: write " + tmp, err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno("graph: rename " + tmp, errno);
  return Status::Ok();
}

void FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

std::vector<std::string> SnapshotStore::Versions() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() > 8 && name[0] == 'v' && e.is_directory() && fs::exists(e.path() / "graph.bin"))
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> SnapshotStore::Publish(const Graph& g, int keep) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::IOError("graph: create " + dir_ + ": " + ec.message());
  auto versions = Versions();
  uint64_t seq = 1;
  if (!versions.empty()) seq = std::strtoull(versions.back().c_str() + 1, nullptr, 10) + 1;
  char name[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
  std::snprintf(name, sizeof name, "v%06llu-%s", static_cast<unsigned long long>(seq), ts);
  std::string tmp = dir_ + "/.tmp-" + name;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError("graph: create " + tmp + ": " + ec.message());
  HAKONE_RETURN_IF_ERROR(SaveSnapshotFile(g, tmp + "/graph.bin"));
  FsyncDir(tmp);
  std::string final_dir = dir_ + "/" + name;
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) return Status::FromErrno("graph: rename " + tmp, errno);
  FsyncDir(dir_);
  HAKONE_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/CURRENT", std::string(name) + "\n"));
  FsyncDir(dir_);
  versions = Versions();
  if (keep < 1) keep = 1;
  for (size_t i = 0; i + keep < versions.size(); ++i) fs::remove_all(dir_ + "/" + versions[i], ec);
  return std::string(name);
}

Result<std::string> SnapshotStore::Current() const {
  std::ifstream in(dir_ + "/CURRENT");
  if (!in) return std::string();
  std::string name;
  std::getline(in, name);
  if (name.empty() || name.find('/') != std::string::npos || name[0] != 'v')
    return Status::Corruption("graph: " + dir_ + "/CURRENT does not name a version");
  return name;
}

Result<std::shared_ptr<const Graph>> SnapshotStore::Load(const std::string& version) const {
  auto g = LoadSnapshotFile(dir_ + "/" + version + "/graph.bin");
  if (!g.ok()) return g.status();
  const_cast<Graph&>(**g).version_ = version;
  return g;
}

Result<std::shared_ptr<const Graph>> SnapshotStore::LoadCurrent() const {
  HAKONE_ASSIGN_OR_RETURN(std::string cur, Current());
  if (cur.empty()) return Status::NotFound("graph: no snapshot in " + dir_ + " yet (run hakone graph build)");
  return Load(cur);
}

}  // namespace hakone::graph
