// bench/graph_bench.cc: hakone's graph algorithms against igraph's C library (PRPACK), same
// graph, same process, alternating runs (A B A B ...). Built as the `graph_bench` target when
// libigraph-dev is installed; driven by bench/graph.sh.
//
//   graph_bench --shape uniform|zipf --nodes N --edges M [--reps 3] [--seed 1]
//   graph_bench --graph DIR [--reps 3]          (the current snapshot of a hakone graph build)
//
// For each graph: PageRank (damping 0.85) and personalised PageRank (from the node with the most
// in-links) on both sides, checking the L1 distance of the score vectors (<= 1e-4) and the top
// 100; then the 2-hop neighbourhood size (ignoring direction) from 1000 random nodes, p50/p99 on
// both sides, checking that the counts agree. Prints one JSON line per measurement.
#include <igraph/igraph.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graph/algo.h"
#include "graph/graph.h"

using namespace hakone;
using namespace hakone::graph;
using Clock = std::chrono::steady_clock;

namespace {

double Secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

std::vector<std::pair<uint32_t, uint32_t>> Generate(const std::string& shape, uint32_t n, uint64_t m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<uint32_t, uint32_t>> e;
  e.reserve(m);
  std::uniform_int_distribution<uint32_t> uni(0, n - 1);
  if (shape == "uniform") {
    while (e.size() < m) {
      uint32_t a = uni(rng), b = uni(rng);
      if (a != b) e.emplace_back(a, b);
    }
    return e;
  }
  // Zipf in-degree (s = 1.0) over a random permutation of the nodes; sources uniform.
  std::vector<double> cdf(n);
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) cdf[i] = (sum += 1.0 / (i + 1.0));
  for (auto& c : cdf) c /= sum;
  std::vector<uint32_t> perm(n);
  for (uint32_t i = 0; i < n; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::uniform_real_distribution<double> u01(0, 1);
  while (e.size() < m) {
    uint32_t b = perm[std::lower_bound(cdf.begin(), cdf.end(), u01(rng)) - cdf.begin()];
    uint32_t a = uni(rng);
    if (a != b) e.emplace_back(a, b);
  }
  return e;
}

struct Cmp {
  double l1 = 0;
  int top_overlap = 0;
};

Cmp Compare(const std::vector<double>& a, const igraph_vector_t* b) {
  Cmp c;
  size_t n = a.size();
  for (size_t i = 0; i < n; ++i) c.l1 += std::fabs(a[i] - VECTOR(*b)[i]);
  std::vector<double> bv(n);
  for (size_t i = 0; i < n; ++i) bv[i] = VECTOR(*b)[i];
  auto ta = TopK(a, 100), tb = TopK(bv, 100);
  std::vector<uint32_t> sa, sb;
  for (auto& x : ta) sa.push_back(x.first);
  for (auto& x : tb) sb.push_back(x.first);
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  std::vector<uint32_t> common;
  std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(common));
  c.top_overlap = static_cast<int>(common.size());
  return c;
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "uniform", dir;
  uint32_t n = 100000;
  uint64_t m = 1000000, seed = 1;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--shape") shape = v;
    else if (k == "--nodes") n = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--edges") m = std::stoull(v);
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--seed") seed = std::stoull(v);
    else if (k == "--graph") dir = v;
    else {
      std::fprintf(stderr, "graph_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  igraph_set_attribute_table(nullptr);
  std::shared_ptr<const Graph> g;
  std::string name;
  auto t0 = Clock::now();
  if (!dir.empty()) {
    auto l = SnapshotStore(dir).LoadCurrent();
    if (!l.ok()) {
      std::fprintf(stderr, "graph_bench: %s\n", l.status().message().c_str());
      return 1;
    }
    g = *l;
    name = "ats-sample";
    std::printf("{\"graph\":\"%s\",\"nodes\":%u,\"edges\":%u,\"load_s\":%.3f}\n", name.c_str(), g->node_count(),
                g->rel_count(), Secs(t0));
  } else {
    auto edges = Generate(shape, n, m, seed);
    double gen = Secs(t0);
    t0 = Clock::now();
    GraphBuilder b;
    uint32_t label = b.InternLabel("N"), type = b.InternType("E");
    for (uint32_t i = 0; i < n; ++i) b.AddNodeFast(label, {}, {});
    for (auto [a, c] : edges) b.AddRelFast(a, c, type, {}, {});
    g = b.Freeze();
    name = shape;
    std::printf("{\"graph\":\"%s\",\"nodes\":%u,\"edges\":%llu,\"generate_s\":%.3f,\"hakone_freeze_s\":%.3f}\n",
                shape.c_str(), n, static_cast<unsigned long long>(m), gen, Secs(t0));
  }
  n = g->node_count();
  m = g->rel_count();
  // The same edges for igraph.
  t0 = Clock::now();
  igraph_vector_int_t ev;
  igraph_vector_int_init(&ev, static_cast<igraph_integer_t>(2 * m));
  for (uint64_t r = 0; r < m; ++r) {
    VECTOR(ev)[2 * r] = g->RelSrc(static_cast<uint32_t>(r));
    VECTOR(ev)[2 * r + 1] = g->RelDst(static_cast<uint32_t>(r));
  }
  igraph_t ig;
  igraph_create(&ig, &ev, n, IGRAPH_DIRECTED);
  igraph_vector_int_destroy(&ev);
  std::printf("{\"graph\":\"%s\",\"igraph_create_s\":%.3f}\n", name.c_str(), Secs(t0));
  std::fflush(stdout);

  // Personalised source: the node with the most in-links.
  uint32_t src = 0;
  for (uint32_t v = 0; v < n; ++v)
    if (g->InDegree(v) > g->InDegree(src)) src = v;

  for (int personal = 0; personal < 2; ++personal) {
    double best_h = 1e9, best_i = 1e9;
    PageRankResult hr;
    igraph_vector_t iv;
    igraph_vector_init(&iv, 0);
    for (int rep = 0; rep < reps; ++rep) {
      PageRankOptions o;
      o.tolerance = 1e-7;
      if (personal) o.sources = {src};
      auto a = Clock::now();
      hr = PageRank(*g, o);
      best_h = std::min(best_h, Secs(a));
      igraph_real_t value;
      a = Clock::now();
      if (personal)
        igraph_personalized_pagerank_vs(&ig, IGRAPH_PAGERANK_ALGO_PRPACK, &iv, &value, igraph_vss_all(), IGRAPH_DIRECTED,
                                        0.85, igraph_vss_1(src), nullptr, nullptr);
      else
        igraph_pagerank(&ig, IGRAPH_PAGERANK_ALGO_PRPACK, &iv, &value, igraph_vss_all(), IGRAPH_DIRECTED, 0.85, nullptr,
                        nullptr);
      best_i = std::min(best_i, Secs(a));
    }
    Cmp c = Compare(hr.scores, &iv);
    std::printf("{\"graph\":\"%s\",\"algo\":\"%s\",\"hakone_s\":%.4f,\"igraph_s\":%.4f,\"speedup\":%.2f,"
                "\"iterations\":%d,\"l1\":%.3g,\"top100_overlap\":%d,\"agree\":%s}\n",
                name.c_str(), personal ? "ppr" : "pagerank", best_h, best_i, best_i / best_h, hr.iterations, c.l1,
                c.top_overlap, (c.l1 <= 1e-4 && c.top_overlap >= 99) ? "true" : "false");
    std::fflush(stdout);
    igraph_vector_destroy(&iv);
  }

  // 2-hop neighbourhood sizes from 1000 random nodes.
  {
    std::mt19937_64 rng(seed + 7);
    std::vector<uint32_t> starts(1000);
    for (auto& s : starts) s = static_cast<uint32_t>(rng() % n);
    std::vector<double> th, ti;
    std::vector<uint32_t> stamp(n, 0);
    size_t mismatches = 0;
    igraph_vector_int_t res;
    igraph_vector_int_init(&res, 0);
    uint32_t st = 0;
    for (uint32_t s : starts) {
      auto a = Clock::now();
      size_t hc = KHopCount(*g, s, 2, &stamp, ++st);
      th.push_back(Secs(a) * 1e6);
      a = Clock::now();
      igraph_neighborhood_size(&ig, &res, igraph_vss_1(s), 2, IGRAPH_ALL, 1);
      ti.push_back(Secs(a) * 1e6);
      if (static_cast<size_t>(VECTOR(res)[0]) != hc) ++mismatches;
    }
    igraph_vector_int_destroy(&res);
    std::printf("{\"graph\":\"%s\",\"algo\":\"2hop\",\"hakone_p50_us\":%.1f,\"hakone_p99_us\":%.1f,"
                "\"igraph_p50_us\":%.1f,\"igraph_p99_us\":%.1f,\"count_mismatches\":%zu}\n",
                name.c_str(), Pct(th, 0.5), Pct(th, 0.99), Pct(ti, 0.5), Pct(ti, 0.99), mismatches);
  }
  igraph_destroy(&ig);
  return 0;
}
