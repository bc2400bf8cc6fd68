// Graph algorithms over a snapshot, and the recommendations built on them.
//
// All functions are pure (read the immutable Graph) and thread safe. Node arguments are dense
// node ids; ResolveNode turns "Person:42" (label + source id) or "#17" / "17" (node id) into one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace hakone::graph {

// "Label:id" (the node's `id` property), "#N" or "N" (a node id). NotFound / InvalidArgument.
Result<uint32_t> ResolveNode(const Graph& g, const std::string& ref);

struct PageRankOptions {
  double damping = 0.85;
  double tolerance = 1e-9;  // stop when the L1 change of an iteration is below this
  int max_iterations = 100;
  bool directed = true;     // false: every relationship counts both ways
  int threads = 0;          // 0: hardware concurrency (at most 8)
  // Personalised PageRank: teleport (and dangling mass) goes to these nodes, uniformly.
  std::vector<uint32_t> sources;
};

struct PageRankResult {
  std::vector<double> scores;  // sums to 1
  int iterations = 0;          // power iterations, or the most Gauss-Seidel sweeps of one component
  double delta = 0;            // L1 change of the last iteration (sweep)
};

// Dangling nodes spread their rank like the teleport vector (as igraph's PRPACK does); scores match
// igraph_pagerank / personalized_pagerank. Directed graphs where at least half the nodes have no
// in-links or no out-links (e.g. people -> jobs -> companies) are solved like PRPACK's "sccgs":
// strongly connected components in topological order, one exact step per acyclic node, Gauss-Seidel
// sweeps inside cyclic components (personalised: only the nodes reachable from the sources). Other
// graphs (a giant cyclic component) use parallel power iteration pulling along the incoming CSR.
PageRankResult PageRank(const Graph& g, const PageRankOptions& opts);

// Same, over a plain CSR (for the benchmark driver): in_off[n+1], in_nbr[], out_deg[n].
PageRankResult PageRankCsr(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint32_t* out_deg,
                           const PageRankOptions& opts);

// The top `k` nodes by score (descending, ties by id).
std::vector<std::pair<uint32_t, double>> TopK(const std::vector<double>& scores, size_t k,
                                              const std::vector<bool>* allowed = nullptr);

struct KHopOptions {
  int k = 2;
  size_t limit = 10000;  // stop after this many nodes
  int direction = 0;     // 1 out, -1 in, 0 both
  std::vector<uint32_t> types;  // empty: any
};
// Nodes within k hops (excluding the start), with their distance, in BFS order.
std::vector<std::pair<uint32_t, int>> KHop(const Graph& g, uint32_t start, const KHopOptions& opts);
// Count of distinct nodes within k hops, ignoring direction (the benchmark's 2-hop query).
size_t KHopCount(const Graph& g, uint32_t start, int k, std::vector<uint32_t>* visited_stamp, uint32_t stamp);

// Unweighted shortest path ignoring direction (max_hops bound). Empty when unreachable.
struct PathResult {
  std::vector<uint32_t> nodes, rels;
};
PathResult ShortestPath(const Graph& g, uint32_t from, uint32_t to, int max_hops = 10);

// Neighbourhood similarity of two nodes (neighbours ignoring direction).
struct Similarity {
  double common = 0, jaccard = 0, adamic_adar = 0;
};
Similarity NodeSimilarity(const Graph& g, uint32_t a, uint32_t b);
// Nodes sharing neighbours with `a` (2 hops), ranked by `metric` ("adamic_adar" | "jaccard" |
// "common"); only nodes with label `label` (kNone: any).
std::vector<std::pair<uint32_t, double>> SimilarNodes(const Graph& g, uint32_t a, const std::string& metric,
                                                      uint32_t label, size_t top);

// Weakly connected components: component id per node (the smallest node id in it).
std::vector<uint32_t> WeaklyConnectedComponents(const Graph& g);

// ---- Recommendations ----

struct Explanation {
  std::vector<uint32_t> nodes, rels;  // a path from the source to the recommended node
  double weight = 0;                  // its random-walk probability
};
struct Recommendation {
  uint32_t node = 0;
  double score = 0;
  std::vector<Explanation> paths;  // the paths that contributed most (at most 3)
};
struct RecommendOptions {
  uint32_t target_label = kNone;  // only recommend nodes with this label
  std::string filter_key;         // and, when set, this property ...
  Value filter_value;             // ... equal to this value
  size_t top = 10;
  bool exclude_neighbours = true;  // skip nodes already directly connected to the source
  double damping = 0.85;
};
// Personalised PageRank from `source` (relationships both ways), filtered, with explanations.
std::vector<Recommendation> Recommend(const Graph& g, uint32_t source, const RecommendOptions& opts);
// The highest-weight paths of length <= 3 from a to b (ignoring direction), at most `max`.
std::vector<Explanation> ExplainPaths(const Graph& g, uint32_t a, uint32_t b, size_t max = 3);

}  // namespace hakone::graph
