// The graph snapshot: an immutable, compact in-memory property graph.
//
// Nodes and relationships are dense ids (uint32). Adjacency is CSR in both directions (offsets
// per node + relationship ids). Properties are columnar: nodes are grouped by their first label,
// relationships by their type, and each group keeps one column per property key (a type tag and
// 8 bytes per row); strings are dictionary-encoded (each distinct string stored once). A property
// index (sorted rows per label and key) answers equality and prefix lookups; it is built lazily
// on first use, once per (label, key), thread safe.
//
// On disk a snapshot is one file (graph.bin: magic, sections, CRC-32C trailer) inside a version
// directory; see SaveSnapshot / LoadSnapshot / SnapshotStore.
//
// Thread safety: a frozen Graph is immutable and safe to share between threads (shared_ptr).
// GraphBuilder is single-threaded.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "graph/value.h"

namespace hakone::graph {

constexpr uint32_t kNone = 0xffffffffu;

enum class PTag : uint8_t { kNull = 0, kBool, kInt, kFloat, kString, kComplex };

struct PropColumn {
  std::string key;
  std::vector<uint8_t> tag;    // PTag per row
  std::vector<uint64_t> data;  // bool/int64/double bits/string id/complex index per row
};

// One property group: the nodes sharing a first label, or the relationships of one type.
struct PropTable {
  uint32_t rows = 0;
  std::vector<PropColumn> cols;
  int Find(std::string_view key) const;  // column index or -1
};

class Graph {
 public:
  uint32_t node_count() const { return static_cast<uint32_t>(node_group_.size()); }
  uint32_t rel_count() const { return static_cast<uint32_t>(rel_src_.size()); }

  // Labels and relationship types by id.
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<std::string>& type_names() const { return type_names_; }
  uint32_t LabelId(std::string_view name) const;  // kNone if absent
  uint32_t TypeId(std::string_view name) const;   // kNone if absent

  // A node's labels (label ids).
  std::pair<const uint32_t*, const uint32_t*> Labels(uint32_t n) const {
    return {node_labels_.data() + node_labels_off_[n], node_labels_.data() + node_labels_off_[n + 1]};
  }
  bool HasLabel(uint32_t n, uint32_t label) const;
  // Nodes carrying a label, ascending.
  std::pair<const uint32_t*, const uint32_t*> NodesWithLabel(uint32_t label) const {
    return {label_nodes_.data() + label_nodes_off_[label], label_nodes_.data() + label_nodes_off_[label + 1]};
  }

  uint32_t RelSrc(uint32_t r) const { return rel_src_[r]; }
  uint32_t RelDst(uint32_t r) const { return rel_dst_[r]; }
  uint32_t RelType(uint32_t r) const { return rel_type_[r]; }
  // Outgoing / incoming relationship ids of a node.
  std::pair<const uint32_t*, const uint32_t*> Out(uint32_t n) const {
    return {out_rel_.data() + out_off_[n], out_rel_.data() + out_off_[n + 1]};
  }
  std::pair<const uint32_t*, const uint32_t*> In(uint32_t n) const {
    return {in_rel_.data() + in_off_[n], in_rel_.data() + in_off_[n + 1]};
  }
  uint32_t OutDegree(uint32_t n) const { return static_cast<uint32_t>(out_off_[n + 1] - out_off_[n]); }
  uint32_t InDegree(uint32_t n) const { return static_cast<uint32_t>(in_off_[n + 1] - in_off_[n]); }
  // Raw CSR for algorithms: out_off()[n]..out_off()[n+1] index into out_rel().
  const std::vector<uint64_t>& out_off() const { return out_off_; }
  const std::vector<uint64_t>& in_off() const { return in_off_; }
  const std::vector<uint32_t>& out_rel() const { return out_rel_; }
  const std::vector<uint32_t>& in_rel() const { return in_rel_; }
  const std::vector<uint32_t>& rel_src() const { return rel_src_; }
  // Neighbour node ids parallel to out_rel()/in_rel() (out_nbr()[k] == RelDst(out_rel()[k])).
  const std::vector<uint32_t>& out_nbr() const { return out_nbr_; }
  const std::vector<uint32_t>& in_nbr() const { return in_nbr_; }
  const std::vector<uint32_t>& rel_dst() const { return rel_dst_; }

  // Properties (null when absent).
  Value NodeProp(uint32_t n, std::string_view key) const;
  Value RelProp(uint32_t r, std::string_view key) const;
  Map NodeProps(uint32_t n) const;
  Map RelProps(uint32_t r) const;
  const PropTable& node_table(uint32_t group) const { return node_tables_[group]; }
  uint32_t node_group(uint32_t n) const { return node_group_[n]; }
  uint32_t node_row(uint32_t n) const { return node_row_[n]; }
  size_t node_group_count() const { return node_tables_.size(); }
  const PropTable& rel_table(uint32_t type) const { return rel_tables_[type]; }
  uint32_t rel_row(uint32_t r) const { return rel_row_[r]; }
  const std::vector<std::string>& strings() const { return strings_; }

  // Property index: nodes with label `label` whose property `key` equals `v` (ascending node
  // ids). Numbers match across int/float. Builds the index for (label, key) on first use.
  std::vector<uint32_t> FindNodes(uint32_t label, std::string_view key, const Value& v) const;
  // Nodes whose string property starts with `prefix` (case-sensitive, bytes), up to `limit`.
  // label kNone searches every label.
  std::vector<uint32_t> FindNodesByPrefix(uint32_t label, std::string_view key, std::string_view prefix,
                                          size_t limit) const;

  // Where this snapshot came from ("v000003-20261126T231500Z"; "" for an in-memory graph).
  const std::string& version() const { return version_; }
  uint64_t MemoryBytes() const;

 private:
  friend class GraphBuilder;
  friend Status SaveSnapshotFile(const Graph& g, const std::string& path);
  friend Result<std::shared_ptr<const Graph>> LoadSnapshotFile(const std::string& path);
  friend class SnapshotStore;
  struct IndexEntry;
  Value CellValue(const PropColumn& c, uint32_t row) const;
  const IndexEntry& Index(uint32_t group, int col) const;
  void Finish();  // derived structures after load/freeze

  std::vector<std::string> label_names_, type_names_;
  std::vector<uint32_t> node_group_, node_row_;   // group = first label id, or label count for none
  std::vector<uint64_t> node_labels_off_;
  std::vector<uint32_t> node_labels_;
  std::vector<uint64_t> label_nodes_off_;
  std::vector<uint32_t> label_nodes_;
  std::vector<uint32_t> rel_src_, rel_dst_, rel_type_, rel_row_;
  std::vector<uint64_t> out_off_, in_off_;
  std::vector<uint32_t> out_rel_, in_rel_;
  std::vector<uint32_t> out_nbr_, in_nbr_;
  std::vector<PropTable> node_tables_;  // label count + 1 (last: unlabelled)
  std::vector<PropTable> rel_tables_;   // per type
  std::vector<std::string> strings_;
  std::vector<Value> complex_;  // list/map property values
  std::vector<std::vector<uint32_t>> group_nodes_;  // per group: row -> node (derived)
  std::string version_;

  struct IndexEntry {
    std::once_flag once;
    std::vector<uint32_t> rows;  // rows of the group sorted by value (nulls dropped)
  };
  mutable std::mutex index_mu_;
  mutable std::unordered_map<uint64_t, std::unique_ptr<IndexEntry>> index_;
};

// Collects nodes and relationships, then freezes them into a Graph. Property values may be any
// Value except nodes/relationships/paths (lists and maps are stored as complex values).
class GraphBuilder {
 public:
  GraphBuilder();
  // Starts from a copy of `g` (ids are kept): used by Cypher CREATE on small graphs.
  explicit GraphBuilder(const Graph& g);
  uint32_t AddNode(const std::vector<std::string>& labels, const Map& props);
  // Adds a node with one label, properties given as parallel key/value spans (the fast path).
  uint32_t AddNodeFast(uint32_t label_id, const std::vector<uint32_t>& key_ids, const std::vector<Value>& vals);
  uint32_t AddRel(uint32_t src, uint32_t dst, std::string_view type, const Map& props);
  uint32_t AddRelFast(uint32_t src, uint32_t dst, uint32_t type_id, const std::vector<uint32_t>& key_ids,
                      const std::vector<Value>& vals);
  // The same with vals[i] pointing at the value for key_ids[i] (no copies: the build points
  // into the source row).
  uint32_t AddNodeCells(uint32_t label_id, const std::vector<uint32_t>& key_ids, const Value* const* vals);
  uint32_t AddRelCells(uint32_t src, uint32_t dst, uint32_t type_id, const std::vector<uint32_t>& key_ids,
                       const Value* const* vals);
  uint32_t InternLabel(std::string_view name);
  uint32_t InternType(std::string_view name);
  // Property key ids for the fast paths (per group: the column index is resolved lazily).
  uint32_t InternKey(std::string_view key);
  uint32_t node_count() const { return static_cast<uint32_t>(node_labels_off_.size() - 1); }
  uint32_t rel_count() const { return static_cast<uint32_t>(rel_src_.size()); }
  // Consumes the builder.
  std::shared_ptr<const Graph> Freeze();

 private:
  void SetCell(PropTable& t, std::vector<int>& colmap, uint32_t key_id, uint32_t row, const Value& v);
  uint32_t InternString(std::string_view s);
  std::unique_ptr<Graph> g_;
  std::vector<uint64_t> node_labels_off_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, uint32_t> key_ids_, label_ids_, type_ids_;
  // Property string dictionary: open addressing over string ids (see InternString); each
  // string's full hash is kept for rehashing.
  std::vector<uint64_t> str_slots_;
  std::vector<uint64_t> str_hashes_;
  std::vector<std::vector<int>> node_colmap_, rel_colmap_;  // per group: key id -> column
  std::vector<uint32_t> rel_src_;
};

// Writes `g` to `path` (graph.bin format, CRC-32C over everything). Not atomic by itself.
Status SaveSnapshotFile(const Graph& g, const std::string& path);
// Reads and verifies a graph.bin. Errors: Corruption naming the file and what failed
// (bad magic, checksum mismatch, truncated section), IOError.
Result<std::shared_ptr<const Graph>> LoadSnapshotFile(const std::string& path);

// A directory of snapshot versions: DIR/v000001-<utc>/graph.bin ..., DIR/CURRENT names the
// newest complete one. Publish() writes a new version atomically (temp dir, fsync, rename,
// then CURRENT replaced by rename) and deletes the oldest beyond `keep`.
class SnapshotStore {
 public:
  explicit SnapshotStore(std::string dir) : dir_(std::move(dir)) {}
  // Returns the new version's name.
  Result<std::string> Publish(const Graph& g, int keep);
  // The version CURRENT names ("" when none yet). Errors: IOError.
  Result<std::string> Current() const;
  // Loads the CURRENT version (NotFound when there is none).
  Result<std::shared_ptr<const Graph>> LoadCurrent() const;
  Result<std::shared_ptr<const Graph>> Load(const std::string& version) const;
  std::vector<std::string> Versions() const;  // ascending
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace hakone::graph
