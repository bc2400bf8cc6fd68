#include "graph/algo.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace hakone::graph {

Result<uint32_t> ResolveNode(const Graph& g, const std::string& ref) {
  if (ref.empty()) return Status::InvalidArgument("graph: empty node reference");
  size_t colon = ref.find(':');
  if (colon != std::string::npos) {
    std::string label = ref.substr(0, colon), id = ref.substr(colon + 1);
    uint32_t l = g.LabelId(label);
    if (l == kNone) return Status::NotFound("graph: no label " + label + " in the graph");
    Value v(id);
    char* end = nullptr;
    long long iv = std::strtoll(id.c_str(), &end, 10);
    if (!id.empty() && *end == 0) v = Value(static_cast<int64_t>(iv));
    auto nodes = g.FindNodes(l, "id", v);
    if (nodes.empty()) return Status::NotFound("graph: no " + label + " with id " + id);
    return nodes[0];
  }
  std::string num = ref[0] == '#' ? ref.substr(1) : ref;
  char* end = nullptr;
  unsigned long long n = std::strtoull(num.c_str(), &end, 10);
  if (num.empty() || *end != 0) return Status::InvalidArgument("graph: node reference '" + ref + "' is not Label:id or a node id");
  if (n >= g.node_count()) return Status::NotFound("graph: node id " + num + " is out of range");
  return static_cast<uint32_t>(n);
}

namespace {

template <typename Fn>
void ParallelFor(uint32_t n, int threads, Fn&& fn) {
  if (threads <= 1 || n < 100000) {
    fn(0, n, 0);
    return;
  }
  std::vector<std::thread> ts;
  uint32_t chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    uint32_t b = std::min<uint32_t>(n, chunk * t), e = std::min<uint32_t>(n, chunk * (t + 1));
    ts.emplace_back([&fn, b, e, t] { fn(b, e, t); });
  }
  fn(0, std::min(n, chunk), 0);
  for (auto& t : ts) t.join();
}

int Threads(int want) {
  if (want > 0) return want;
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(hw, 1, 8);
}

// One PageRank engine for both directed (in-CSR pull) and undirected (in + out pull) graphs.
PageRankResult Iterate(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint64_t* out_off,
                       const uint32_t* out_nbr, const uint32_t* deg, const PageRankOptions& o) {
  PageRankResult res;
  if (n == 0) return res;
  int threads = Threads(o.threads);
  std::vector<double> tele(n, 0.0);
  bool personal = !o.sources.empty();
  if (personal) {
    for (uint32_t s : o.sources)
      if (s < n) tele[s] += 1.0;
    double sum = std::accumulate(tele.begin(), tele.end(), 0.0);
    if (sum == 0) personal = false;
    else
      for (auto& t : tele) t /= sum;
  }
  double uni = 1.0 / n;
  std::vector<double> x(n), y(n);
  if (personal) x = tele;
  else std::fill(x.begin(), x.end(), uni);
  std::vector<float> contrib(n);
  std::vector<double> part_dangling(threads), part_delta(threads);
  const double d = o.damping;
  for (int it = 0; it < o.max_iterations; ++it) {
    ParallelFor(n, threads, [&](uint32_t b, uint32_t e, int t) {
      double dang = 0;
      for (uint32_t u = b; u < e; ++u) {
        if (deg[u] == 0) {
          dang += x[u];
          contrib[u] = 0;
        } else {
          contrib[u] = static_cast<float>(x[u] / deg[u]);
        }
      }
      part_dangling[t] = dang;
    });
    double dangling = std::accumulate(part_dangling.begin(), part_dangling.end(), 0.0);
    // Teleport + dangling mass go to the teleport vector.
    double base = (1.0 - d) + d * dangling;
    ParallelFor(n, threads, [&](uint32_t b, uint32_t e, int t) {
      double delta = 0;
      for (uint32_t v = b; v < e; ++v) {
        double s = 0;
        for (uint64_t k = in_off[v], ke = in_off[v + 1]; k < ke; ++k) s += contrib[in_nbr[k]];
        if (out_off)
          for (uint64_t k = out_off[v], ke = out_off[v + 1]; k < ke; ++k) s += contrib[out_nbr[k]];
        double nv = d * s + base * (personal ? tele[v] : uni);
        delta += std::fabs(nv - x[v]);
        y[v] = nv;
      }
      part_delta[t] = delta;
    });
    x.swap(y);
    res.iterations = it + 1;
    res.delta = std::accumulate(part_delta.begin(), part_delta.end(), 0.0);
    if (res.delta < o.tolerance) break;
  }
  double sum = std::accumulate(x.begin(), x.end(), 0.0);
  if (sum > 0)
    for (auto& v : x) v /= sum;
  res.scores = std::move(x);
  return res;
}

// Strongly connected components (iterative Tarjan) of the *reverse* graph, i.e. following
// in-edges. Tarjan emits a component after every component reachable from it; in the reverse graph
// that is every ancestor, so `order` lists nodes grouped by component (comp_off[c]..comp_off[c+1])
// with each component after all components that have edges into it: a topological order of the
// condensation, the order a forward substitution needs.
// With `live`, only live nodes are visited (and only in-edges from live nodes followed).
// Nodes without in-links (first) or without out-links (last) are singleton components placed
// without the DFS, which then only walks the nodes that can lie on a cycle.
void ComponentsInTopoOrder(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint32_t* out_deg,
                           const char* live, std::vector<uint32_t>& order, std::vector<uint32_t>& comp_off) {
  constexpr uint32_t kUnseen = UINT32_MAX;
  std::vector<uint32_t> index(n, kUnseen), low(n), stack, sinks;
  std::vector<char> on_stack(n, 0);
  std::vector<std::pair<uint32_t, uint64_t>> call;
  order.clear();
  order.reserve(n);
  comp_off.assign(1, 0);
  uint32_t next = 0;
  for (uint32_t v = 0; v < n; ++v) {
    if (live && !live[v]) continue;
    if (in_off[v] == in_off[v + 1]) {
      index[v] = 0;  // placed: the DFS treats it as finished
      order.push_back(v);
      comp_off.push_back(static_cast<uint32_t>(order.size()));
    } else if (out_deg[v] == 0) {
      index[v] = 0;
      sinks.push_back(v);
    }
  }
  for (uint32_t r = 0; r < n; ++r) {
    if (index[r] != kUnseen || (live && !live[r])) continue;
    index[r] = low[r] = next++;
    stack.push_back(r);
    on_stack[r] = 1;
    call.emplace_back(r, in_off[r]);
    while (!call.empty()) {
      uint32_t v = call.back().first;
      uint64_t k = call.back().second;
      if (k < in_off[v + 1]) {
        call.back().second = k + 1;
        uint32_t w = in_nbr[k];
        if (live && !live[w]) continue;
        if (index[w] == kUnseen) {
          index[w] = low[w] = next++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.emplace_back(w, in_off[w]);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      call.pop_back();
      if (!call.empty()) low[call.back().first] = std::min(low[call.back().first], low[v]);
      if (low[v] == index[v]) {
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          order.push_back(w);
        } while (w != v);
        comp_off.push_back(static_cast<uint32_t>(order.size()));
      }
    }
  }
  for (uint32_t v : sinks) {
    order.push_back(v);
    comp_off.push_back(static_cast<uint32_t>(order.size()));
  }
}

// Directed PageRank by forward substitution over the strongly connected components (the idea of
// PRPACK's "sccgs" solver, which igraph uses). With dangling mass sent to the teleport vector u,
// the PageRank vector is proportional to y = (I - d A)^-1 u, so we solve y = u + d A y component by
// component in topological order: a single node (no cycle through it) is exact in one step,
// a cyclic component is solved by Gauss-Seidel sweeps, then y is normalised to sum 1.
// `live` (optional, personalised only): the nodes reachable from the sources; every other node
// scores 0 and is skipped. Returns false (nothing computed) when the (live) graph is mostly one big
// cycle-connected component, where the parallel power iteration is faster.
// Cheap pre-check for SolveByComponents: a node with no in- or no out-links is its own component.
// If fewer than half the nodes are, a giant component is likely; skip the O(n + m) decomposition.
bool MostlyAcyclic(uint32_t n, const uint64_t* in_off, const uint32_t* deg) {
  uint32_t trivial = 0;
  for (uint32_t v = 0; v < n; ++v) trivial += (deg[v] == 0 || in_off[v] == in_off[v + 1]) ? 1 : 0;
  return trivial >= n / 2;
}

bool SolveByComponents(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint32_t* deg,
                       const char* live, uint32_t live_count, const PageRankOptions& o, PageRankResult& res) {
  if (n == 0 || !(o.damping < 1.0)) return false;
  if (!live) {
    if (!MostlyAcyclic(n, in_off, deg)) return false;
    live_count = n;
  }
  std::vector<uint32_t> order, comp_off;
  ComponentsInTopoOrder(n, in_off, in_nbr, deg, live, order, comp_off);
  uint32_t largest = 0;
  for (size_t c = 0; c + 1 < comp_off.size(); ++c) largest = std::max(largest, comp_off[c + 1] - comp_off[c]);
  if (largest > live_count / 2 && largest > 1000) return false;

  std::vector<double> u(n, 0.0);
  bool personal = false;
  if (!o.sources.empty()) {
    for (uint32_t s : o.sources)
      if (s < n) u[s] += 1.0;
    double sum = std::accumulate(u.begin(), u.end(), 0.0);
    if (sum > 0) {
      personal = true;
      for (auto& t : u) t /= sum;
    }
  }
  if (!personal) std::fill(u.begin(), u.end(), 1.0 / n);
  // y, and contrib[w] = y[w] / deg[w] (what w passes along each out-link; one load per edge).
  std::vector<double> y(n, 0.0), contrib(n, 0.0);
  const double d = o.damping;
  // One Gauss-Seidel update of v: y[v] = u[v] + d * sum(y[w] / deg[w]), self-loops solved for.
  auto update = [&](uint32_t v) {
    double s = 0;
    uint32_t self = 0;
    for (uint64_t k = in_off[v], ke = in_off[v + 1]; k < ke; ++k) {
      uint32_t w = in_nbr[k];
      if (w == v) ++self;
      else s += contrib[w];
    }
    double nv = u[v] + d * s;
    if (self > 0) nv /= 1.0 - d * self / deg[v];  // a self-loop is an out-link, so deg[v] >= self
    y[v] = nv;
    contrib[v] = deg[v] ? nv / deg[v] : 0.0;
    return nv;
  };
  int sweeps_max = 1;
  double last_delta = 0;
  for (size_t c = 0; c + 1 < comp_off.size(); ++c) {
    uint32_t b = comp_off[c], e = comp_off[c + 1];
    if (e - b == 1) {
      update(order[b]);
      continue;
    }
    // The component's share of the L1 tolerance (y sums to at least 1, so this bounds the
    // normalised change the same way the power iteration's stopping rule does).
    double tol = o.tolerance * (static_cast<double>(e - b) / n);
    int sweeps = 0;
    double delta;
    do {
      delta = 0;
      for (uint32_t i = b; i < e; ++i) {
        uint32_t v = order[i];
        double old = y[v];
        delta += std::fabs(update(v) - old);
      }
      ++sweeps;
    } while (delta > tol && sweeps < o.max_iterations);
    if (sweeps > sweeps_max) {
      sweeps_max = sweeps;
      last_delta = delta;
    }
  }
  double sum = std::accumulate(y.begin(), y.end(), 0.0);
  if (sum > 0)
    for (auto& v : y) v /= sum;
  res.scores = std::move(y);
  res.iterations = sweeps_max;
  res.delta = last_delta / (sum > 0 ? sum : 1.0);
  return true;
}

PageRankResult Directed(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint32_t* out_deg,
                        const char* live, uint32_t live_count, const PageRankOptions& opts) {
  PageRankResult res;
  if (SolveByComponents(n, in_off, in_nbr, out_deg, live, live_count, opts, res)) return res;
  return Iterate(n, in_off, in_nbr, nullptr, nullptr, out_deg, opts);
}

}  // namespace

PageRankResult PageRankCsr(uint32_t n, const uint64_t* in_off, const uint32_t* in_nbr, const uint32_t* out_deg,
                           const PageRankOptions& opts) {
  return Directed(n, in_off, in_nbr, out_deg, nullptr, 0, opts);
}

PageRankResult PageRank(const Graph& g, const PageRankOptions& opts) {
  uint32_t n = g.node_count();
  std::vector<uint32_t> deg(n);
  for (uint32_t v = 0; v < n; ++v) deg[v] = g.OutDegree(v) + (opts.directed ? 0 : g.InDegree(v));
  if (opts.directed) {
    // Personalised: only nodes reachable from the sources can score; find them (forward BFS).
    std::vector<char> live;
    uint32_t live_count = 0;
    if (!opts.sources.empty() && opts.damping < 1.0 && MostlyAcyclic(n, g.in_off().data(), deg.data())) {
      live.assign(n, 0);
      std::vector<uint32_t> queue;
      for (uint32_t s : opts.sources)
        if (s < n && !live[s]) {
          live[s] = 1;
          queue.push_back(s);
        }
      for (size_t i = 0; i < queue.size(); ++i)
        for (uint64_t k = g.out_off()[queue[i]], ke = g.out_off()[queue[i] + 1]; k < ke; ++k) {
          uint32_t w = g.out_nbr()[k];
          if (!live[w]) {
            live[w] = 1;
            queue.push_back(w);
          }
        }
      live_count = static_cast<uint32_t>(queue.size());
      if (live_count == 0) live.clear();
    }
    return Directed(n, g.in_off().data(), g.in_nbr().data(), deg.data(), live.empty() ? nullptr : live.data(),
                    live_count, opts);
  }
  return Iterate(n, g.in_off().data(), g.in_nbr().data(), g.out_off().data(), g.out_nbr().data(), deg.data(), opts);
}

std::vector<std::pair<uint32_t, double>> TopK(const std::vector<double>& scores, size_t k,
                                              const std::vector<bool>* allowed) {
  std::vector<std::pair<uint32_t, double>> v;
  for (uint32_t i = 0; i < scores.size(); ++i)
    if (!allowed || (*allowed)[i]) v.emplace_back(i, scores[i]);
  auto cmp = [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); };
  if (v.size() > k) {
    std::partial_sort(v.begin(), v.begin() + static_cast<long>(k), v.end(), cmp);
    v.resize(k);
  } else {
    std::sort(v.begin(), v.end(), cmp);
  }
  return v;
}

std::vector<std::pair<uint32_t, int>> KHop(const Graph& g, uint32_t start, const KHopOptions& o) {
  std::vector<std::pair<uint32_t, int>> out;
  std::unordered_set<uint32_t> seen{start};
  std::vector<uint32_t> frontier{start};
  auto type_ok = [&](uint32_t r) {
    return o.types.empty() || std::find(o.types.begin(), o.types.end(), g.RelType(r)) != o.types.end();
  };
  for (int d = 1; d <= o.k && !frontier.empty(); ++d) {
    std::vector<uint32_t> next;
    for (uint32_t u : frontier) {
      auto visit = [&](uint32_t r, uint32_t v) {
        if (!type_ok(r) || out.size() >= o.limit) return;
        if (seen.insert(v).second) {
          out.emplace_back(v, d);
          next.push_back(v);
        }
      };
      if (o.direction >= 0) {
        auto [b, e] = g.Out(u);
        for (auto it = b; it != e; ++it) visit(*it, g.RelDst(*it));
      }
      if (o.direction <= 0) {
        auto [b, e] = g.In(u);
        for (auto it = b; it != e; ++it) visit(*it, g.RelSrc(*it));
      }
      if (out.size() >= o.limit) return out;
    }
    frontier = std::move(next);
  }
  return out;
}

size_t KHopCount(const Graph& g, uint32_t start, int k, std::vector<uint32_t>* stamp_vec, uint32_t stamp) {
  auto& seen = *stamp_vec;
  const auto& oo = g.out_off();
  const auto& io = g.in_off();
  const auto& on = g.out_nbr();
  const auto& in = g.in_nbr();
  std::vector<uint32_t> frontier{start}, next;
  seen[start] = stamp;
  size_t count = 0;
  for (int d = 0; d < k; ++d) {
    next.clear();
    for (uint32_t u : frontier) {
      for (uint64_t j = oo[u]; j < oo[u + 1]; ++j)
        if (seen[on[j]] != stamp) {
          seen[on[j]] = stamp;
          next.push_back(on[j]);
        }
      for (uint64_t j = io[u]; j < io[u + 1]; ++j)
        if (seen[in[j]] != stamp) {
          seen[in[j]] = stamp;
          next.push_back(in[j]);
        }
    }
    count += next.size();
    frontier.swap(next);
  }
  return count;
}

PathResult ShortestPath(const Graph& g, uint32_t from, uint32_t to, int max_hops) {
  PathResult res;
  if (from == to) {
    res.nodes.push_back(from);
    return res;
  }
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> parent;  // node -> (prev, rel)
  parent[from] = {kNone, kNone};
  std::vector<uint32_t> frontier{from};
  bool found = false;
  for (int d = 0; d < max_hops && !frontier.empty() && !found; ++d) {
    std::vector<uint32_t> next;
    for (uint32_t u : frontier) {
      auto visit = [&](uint32_t r, uint32_t v) {
        if (parent.count(v)) return;
        parent[v] = {u, r};
        next.push_back(v);
        if (v == to) found = true;
      };
      auto [ob, oe] = g.Out(u);
      for (auto it = ob; it != oe; ++it) visit(*it, g.RelDst(*it));
      auto [ib, ie] = g.In(u);
      for (auto it = ib; it != ie; ++it) visit(*it, g.RelSrc(*it));
      if (found) break;
    }
    frontier = std::move(next);
  }
  if (!found) return res;
  for (uint32_t v = to; v != from; v = parent[v].first) {
    res.nodes.push_back(v);
    res.rels.push_back(parent[v].second);
  }
  res.nodes.push_back(from);
  std::reverse(res.nodes.begin(), res.nodes.end());
  std::reverse(res.rels.begin(), res.rels.end());
  return res;
}

namespace {
std::vector<uint32_t> Neighbours(const Graph& g, uint32_t a) {
  std::vector<uint32_t> out;
  const auto& oo = g.out_off();
  const auto& io = g.in_off();
  for (uint64_t j = oo[a]; j < oo[a + 1]; ++j) out.push_back(g.out_nbr()[j]);
  for (uint64_t j = io[a]; j < io[a + 1]; ++j) out.push_back(g.in_nbr()[j]);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(std::remove(out.begin(), out.end(), a), out.end());
  return out;
}
double Degree(const Graph& g, uint32_t v) { return static_cast<double>(g.OutDegree(v) + g.InDegree(v)); }
}  // namespace

Similarity NodeSimilarity(const Graph& g, uint32_t a, uint32_t b) {
  Similarity s;
  auto na = Neighbours(g, a), nb = Neighbours(g, b);
  std::vector<uint32_t> common;
  std::set_intersection(na.begin(), na.end(), nb.begin(), nb.end(), std::back_inserter(common));
  s.common = static_cast<double>(common.size());
  size_t uni = na.size() + nb.size() - common.size();
  s.jaccard = uni ? s.common / static_cast<double>(uni) : 0;
  for (uint32_t c : common) {
    double d = Degree(g, c);
    if (d > 1) s.adamic_adar += 1.0 / std::log(d);
  }
  return s;
}

std::vector<std::pair<uint32_t, double>> SimilarNodes(const Graph& g, uint32_t a, const std::string& metric,
                                                      uint32_t label, size_t top) {
  auto na = Neighbours(g, a);
  std::unordered_map<uint32_t, double> aa, common;
  for (uint32_t c : na) {
    double d = Degree(g, c);
    double w = d > 1 ? 1.0 / std::log(d) : 0;
    for (uint32_t v : Neighbours(g, c)) {
      if (v == a) continue;
      if (label != kNone && !g.HasLabel(v, label)) continue;
      aa[v] += w;
      common[v] += 1;
    }
  }
  std::vector<std::pair<uint32_t, double>> out;
  for (const auto& [v, c] : common) {
    double score;
    if (metric == "common") score = c;
    else if (metric == "jaccard") {
      double nv = static_cast<double>(Neighbours(g, v).size());
      score = c / (static_cast<double>(na.size()) + nv - c);
    } else {
      score = aa[v];
    }
    out.emplace_back(v, score);
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return x.second > y.second || (x.second == y.second && x.first < y.first);
  });
  if (out.size() > top) out.resize(top);
  return out;
}

std::vector<uint32_t> WeaklyConnectedComponents(const Graph& g) {
  uint32_t n = g.node_count();
  std::vector<uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](uint32_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  for (uint32_t r = 0; r < g.rel_count(); ++r) {
    uint32_t a = find(g.RelSrc(r)), b = find(g.RelDst(r));
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
  for (uint32_t v = 0; v < n; ++v) parent[v] = find(v);
  return parent;
}

std::vector<Explanation> ExplainPaths(const Graph& g, uint32_t a, uint32_t b, size_t max) {
  std::vector<Explanation> out;
  // Relationships of each neighbour, ignoring direction.
  auto edges = [&](uint32_t u, auto&& fn) {
    auto [ob, oe] = g.Out(u);
    for (auto it = ob; it != oe; ++it) fn(*it, g.RelDst(*it));
    auto [ib, ie] = g.In(u);
    for (auto it = ib; it != ie; ++it) fn(*it, g.RelSrc(*it));
  };
  double da = std::max(1.0, Degree(g, a));
  // Length 1.
  edges(a, [&](uint32_t r, uint32_t v) {
    if (v == b) out.push_back({{a, b}, {r}, 1.0 / da});
  });
  // Neighbours of a: node -> first rel.
  std::unordered_map<uint32_t, uint32_t> na;
  size_t scanned = 0;
  edges(a, [&](uint32_t r, uint32_t v) {
    if (++scanned <= 200000 && v != a) na.emplace(v, r);
  });
  // Length 2 and 3 via b's neighbours.
  std::vector<std::pair<uint32_t, uint32_t>> nb;  // (node, rel to b)
  edges(b, [&](uint32_t r, uint32_t v) {
    if (v != b && nb.size() < 1000) nb.emplace_back(v, r);
  });
  for (auto [x, rxb] : nb) {
    auto it = na.find(x);
    if (it != na.end() && x != a) out.push_back({{a, x, b}, {it->second, rxb}, 1.0 / da / std::max(1.0, Degree(g, x))});
  }
  for (const auto& yr : nb) {
    const uint32_t y = yr.first, ryb = yr.second;  // not a structured binding: captured below (clang 14)
    if (y == a) continue;
    size_t budget = 20000;
    double dy = std::max(1.0, Degree(g, y));
    edges(y, [&](uint32_t r, uint32_t x) {
      if (budget == 0 || x == a || x == b || x == y) return;
      --budget;
      auto it = na.find(x);
      if (it == na.end()) return;
      out.push_back({{a, x, y, b}, {it->second, r, ryb}, 1.0 / da / std::max(1.0, Degree(g, x)) / dy});
    });
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.weight > y.weight; });
  if (out.size() > max) out.resize(max);
  return out;
}

std::vector<Recommendation> Recommend(const Graph& g, uint32_t source, const RecommendOptions& o) {
  PageRankOptions po;
  po.damping = o.damping;
  po.directed = false;
  po.sources = {source};
  po.tolerance = 1e-8;
  po.max_iterations = 50;
  auto pr = PageRank(g, po);
  std::unordered_set<uint32_t> neighbours;
  if (o.exclude_neighbours)
    for (uint32_t v : Neighbours(g, source)) neighbours.insert(v);
  std::vector<std::pair<uint32_t, double>> cand;
  for (uint32_t v = 0; v < g.node_count(); ++v) {
    if (v == source || pr.scores[v] <= 0 || neighbours.count(v)) continue;
    if (o.target_label != kNone && !g.HasLabel(v, o.target_label)) continue;
    cand.emplace_back(v, pr.scores[v]);
  }
  std::sort(cand.begin(), cand.end(), [](const auto& x, const auto& y) {
    return x.second > y.second || (x.second == y.second && x.first < y.first);
  });
  std::vector<Recommendation> out;
  for (const auto& [v, s] : cand) {
    if (out.size() >= o.top) break;
    if (!o.filter_key.empty()) {
      Value pv = g.NodeProp(v, o.filter_key);
      if (!GroupEquals(pv, o.filter_value)) continue;
    }
    Recommendation r;
    r.node = v;
    r.score = s;
    r.paths = ExplainPaths(g, source, v, 3);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hakone::graph
