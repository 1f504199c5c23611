// SPDX-License-Identifier: GPL-2.0-only
//
// Property tests of the kernel planner (irq_create_affinity_masks() +
// group_cpus_evenly(); Linux v6.18, and each other kernel line where it
// differs: sets keep their unfilled vectors, empty, up to v6.15; v6.19
// groups a node cluster by cluster) over many random machines: hwloc
// synthetic topologies (symmetric, with sibling numbering shuffled or far
// apart, and CPU-less nodes) and hand-built ones (nodes and cores of
// unequal sizes, sparse node and CPU ids, memory-only nodes), with random
// CPUs possible but not present, vector counts, pre/post vectors and sets.
//
// Every case is derived from kSeed + its index alone with std::mt19937 and
// plain modulo arithmetic (no std:: distribution, whose output differs
// between standard libraries), and every failure names the case, its
// topology, its offline CPUs and the request, so it can be replayed.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "affinity/group_cpus.h"
#include "affinity/kernel_version.h"
#include "affinity/plan.h"
#include "affinity/topology.h"

namespace irqd {
namespace {

using Ids = std::vector<unsigned>;

constexpr std::uint32_t kSeed = 20251118;
constexpr unsigned kCases = 1000;
constexpr unsigned kRequestsPerCase = 3;

class Rng {
 public:
  explicit Rng(std::uint32_t seed) : gen_(seed) {}
  // Uniform enough in [0, n) for test shapes; n > 0.
  unsigned below(unsigned n) { return static_cast<unsigned>(gen_() % n); }
  unsigned between(unsigned lo, unsigned hi) { return lo + below(hi - lo + 1); }
  bool chance(unsigned num, unsigned den) { return below(den) < num; }
  template <typename T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates, the same everywhere
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(static_cast<unsigned>(i))]);
  }

 private:
  std::mt19937 gen_;
};

std::string join(const Ids& ids) {
  std::string s;
  for (unsigned id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// n distinct ids for n PUs: in order, shuffled, or with holes (then
// shuffled), so siblings can end up far apart and nr_cpu_ids above the
// CPU count.
Ids cpu_numbering(Rng& rng, unsigned n, unsigned mode) {
  Ids ids;
  if (mode == 2) {
    unsigned next = rng.below(3);
    for (unsigned i = 0; i < n; ++i, next += 1 + rng.below(3)) ids.push_back(next);
  } else {
    for (unsigned i = 0; i < n; ++i) ids.push_back(i);
  }
  if (mode >= 1) rng.shuffle(ids);
  return ids;
}

// A symmetric machine from hwloc's synthetic syntax.
std::string random_synthetic(Rng& rng) {
  static const unsigned kThreads[] = {1, 1, 2, 2, 3, 4};
  unsigned p = rng.between(1, 4);
  unsigned n = rng.between(1, 3);
  unsigned l = rng.between(1, 3);
  unsigned c = rng.between(1, 6);
  unsigned t = kThreads[rng.below(6)];
  std::string shape;
  unsigned above_core = 1;
  switch (rng.below(6)) {
    case 0: shape = ""; break;
    case 5: shape = "pack:" + std::to_string(p) + " [numa] l2:" + std::to_string(l) + " ", above_core = p * l; break;
    case 1: shape = "pack:" + std::to_string(p) + " [numa] ", above_core = p; break;
    case 2: shape = "pack:" + std::to_string(p) + " numa:" + std::to_string(n) + " ", above_core = p * n; break;
    case 3: shape = "pack:" + std::to_string(p) + " l3:" + std::to_string(l) + " [numa] ", above_core = p * l; break;
    default: shape = "[numa] pack:" + std::to_string(p) + " [numa] ", above_core = p; break;  // + a CPU-less node
  }
  while (above_core * c * t > 160 && c > 1) --c;
  unsigned ncores = above_core * c;
  std::string text = shape + "core:" + std::to_string(c) + " pu:" + std::to_string(t);
  switch (rng.below(4)) {
    case 0: break;
    case 1: {  // far apart: thread j of core k is PU j * ncores + k
      Ids ids;
      for (unsigned k = 0; k < ncores; ++k)
        for (unsigned j = 0; j < t; ++j) ids.push_back(j * ncores + k);
      text += "(indexes=" + join(ids) + ")";
      break;
    }
    default: text += "(indexes=" + join(cpu_numbering(rng, ncores * t, rng.between(1, 2))) + ")"; break;
  }
  return text;
}

// An asymmetric machine built from plain data: 1-6 nodes, maybe sparse ids,
// maybe memory-only nodes, 1-8 cores a node, 1-4 threads a core (all alike
// in a node, or hybrid).
Result<Topology> random_handmade(Rng& rng, std::string* description) {
  unsigned nnodes = rng.between(1, 6);
  std::set<unsigned> id_set;
  if (rng.chance(1, 2)) {
    for (unsigned i = 0; i < nnodes; ++i) id_set.insert(i);
  } else {
    while (id_set.size() < nnodes) id_set.insert(rng.below(80));
  }
  Ids node_ids(id_set.begin(), id_set.end());
  std::vector<std::vector<unsigned>> core_sizes(nnodes);  // threads of each core, per node
  bool any = false;
  for (unsigned i = 0; i < nnodes; ++i) {
    if (rng.chance(1, 5)) continue;  // memory only
    unsigned ncores = rng.between(1, 8);
    unsigned uniform = rng.chance(2, 3) ? (1U << rng.below(3)) : 0;
    for (unsigned c = 0; c < ncores; ++c) core_sizes[i].push_back(uniform ? uniform : rng.between(1, 4));
    any = true;
  }
  if (!any) core_sizes[rng.below(nnodes)].push_back(rng.between(1, 4));
  unsigned total = 0;
  for (const auto& sizes : core_sizes)
    for (unsigned s : sizes) total += s;
  Ids ids = cpu_numbering(rng, total, rng.below(3));

  // Half the machines share an L2 between 1-3 consecutive cores of a node
  // ("|" below closes an L2); the others have no L2 level.
  const bool l2 = rng.chance(1, 2);
  std::vector<CpuDesc> cpus;
  unsigned next = 0;
  int core = 0;
  int cache = 0;
  *description = "handmade";
  for (unsigned i = 0; i < nnodes; ++i) {
    *description += " node" + std::to_string(node_ids[i]) + ":";
    if (core_sizes[i].empty()) *description += "[]";
    unsigned left_in_l2 = 0;
    for (unsigned s : core_sizes[i]) {
      if (l2 && left_in_l2 == 0) {
        if (core != 0 && !cpus.empty()) *description += "|";
        left_in_l2 = rng.between(1, 3);
        ++cache;
      }
      Ids members;
      for (unsigned k = 0; k < s; ++k) {
        cpus.push_back(CpuDesc{ids[next], node_ids[i], core, -1, -1, l2 ? cache : -1});
        members.push_back(ids[next++]);
      }
      *description += "[" + join(members) + "]";
      ++core;
      if (left_in_l2 > 0) --left_in_l2;
    }
    left_in_l2 = 0;
  }
  return Topology::from_cpus(std::move(cpus), node_ids, *description);
}

struct Case {
  unsigned index = 0;
  std::string topology;
  bool synthetic = false;
  Ids offline;
  std::optional<Topology> topo;
  std::vector<PlanRequest> requests;
};

std::string describe(const Case& c, const PlanRequest& r) {
  std::string s = "case " + std::to_string(c.index) + " (kSeed + " + std::to_string(c.index) + "): topology '" +
                  c.topology + "' offline {" + join(c.offline) + "} kernel=" + r.kernel.text +
                  " vectors=" + std::to_string(r.vectors) + " pre=" + std::to_string(r.pre_vectors) +
                  " post=" + std::to_string(r.post_vectors);
  if (!r.sets.empty()) s += " sets=" + join(r.sets);
  return s;
}

Ids nodes_of(const Topology& t, const CpuMask& cpus) {
  Ids out;
  for (unsigned n : t.node_ids())
    if (t.node_cpus(n).intersects(cpus)) out.push_back(n);
  return out;
}

Case make_case(unsigned index) {
  Case c;
  c.index = index;
  Rng rng(kSeed + index);
  if (rng.chance(2, 3)) {
    c.synthetic = true;
    c.topology = "synthetic:" + random_synthetic(rng);
    auto t = Topology::load(c.topology);
    if (!t) ADD_FAILURE() << c.topology << ": " << t.error().message;
    if (!t) return c;
    c.topo.emplace(std::move(t).value());
  } else {
    auto t = random_handmade(rng, &c.topology);
    if (!t) ADD_FAILURE() << c.topology << ": " << t.error().message;
    if (!t) return c;
    c.topo.emplace(std::move(t).value());
  }
  Topology& t = *c.topo;
  const Ids cpus = t.cpu_ids();
  const auto ncpus = static_cast<unsigned>(cpus.size());

  // Possible but not present: none, random CPUs, a whole node, or whole cores.
  std::set<unsigned> off;
  switch (rng.below(5)) {
    case 0:
    case 1: break;
    case 2: {
      unsigned quarters = rng.between(1, 3);
      for (unsigned cpu : cpus)
        if (rng.below(4) < quarters) off.insert(cpu);
      break;
    }
    case 3: {
      Ids nodes = nodes_of(t, t.possible());
      t.node_cpus(nodes[rng.below(static_cast<unsigned>(nodes.size()))]).for_each([&](unsigned cpu) {
        off.insert(cpu);
      });
      if (rng.chance(1, 2)) off.insert(cpus[rng.below(ncpus)]);
      break;
    }
    default:
      for (const Ids& core : t.cores())
        if (rng.chance(1, 3)) off.insert(core.begin(), core.end());
      break;
  }
  if (off.size() == ncpus) off.erase(cpus[rng.below(ncpus)]);
  c.offline.assign(off.begin(), off.end());
  if (!c.offline.empty()) {
    Status s = t.mark_not_present(c.offline);
    if (!s) ADD_FAILURE() << c.topology << ": " << s.error().message;
  }

  const unsigned present_nodes = static_cast<unsigned>(nodes_of(t, t.present()).size());
  for (unsigned r = 0; r < kRequestsPerCase; ++r) {
    PlanRequest req;
    // A quarter of the requests around the node count, where whole nodes
    // share groups; the rest anywhere up to three vectors a CPU.
    req.vectors = rng.chance(1, 4) ? rng.between(1, present_nodes + 2) : rng.between(1, 3 * ncpus);
    req.pre_vectors = std::min(rng.below(3), req.vectors);
    req.post_vectors = std::min(rng.below(3), req.vectors);
    int affvecs = static_cast<int>(req.vectors) - static_cast<int>(req.pre_vectors + req.post_vectors);
    if (affvecs >= 2 && rng.chance(1, 3)) {
      unsigned nsets = rng.between(2, std::min(4U, static_cast<unsigned>(affvecs)));
      // nsets - 1 distinct cut points in [1, affvecs).
      std::set<unsigned> cuts;
      while (cuts.size() < nsets - 1) cuts.insert(rng.between(1, static_cast<unsigned>(affvecs) - 1));
      unsigned prev = 0;
      for (unsigned cut : cuts) {
        req.sets.push_back(cut - prev);
        prev = cut;
      }
      req.sets.push_back(static_cast<unsigned>(affvecs) - prev);
    }
    c.requests.push_back(req);
  }
  return c;
}

// What the stage checks measured, for the generator-coverage test and the
// reported worst deviation.
struct Stats {
  double worst_share_dev = 0;  // max over nodes of |g_n - G * c_n / C|
  std::string worst_share_case;
  unsigned share_checks = 0;      // nodes whose share was checked
  unsigned whole_node_sets = 0;   // sets with no more groups than nodes (> 1 node)
  unsigned stage2_sets = 0;       // sets with CPUs not present
  unsigned stage2_wrapped = 0;    // ... whose second stage wrapped round to group 0
  unsigned stage2_after = 0;      // ... whose second stage started after the present groups
  unsigned splits_at_bound = 0;   // nodes splitting exactly groups - 1 >= 1 cores
  unsigned whole_core_nodes = 0;  // nodes where the multiple-of-threads rule applied with SMT
  unsigned unfilled = 0;          // requests with more vectors than CPUs
  unsigned multi_set = 0;
  unsigned no_spread = 0;      // pre + post >= vectors
  unsigned cluster_nodes = 0;  // v6.19: nodes of 2+ clusters grouped cluster by cluster
};

// One stage of group_cpus_evenly(): spreading the CPUs in `parts` (the part
// of each of the G masks that this stage filled, i.e. the present or the
// not-present CPUs of each mask) starting at group `start`.
//
// The kernel: with no more groups than nodes, each node whole into one
// group, nodes in id order, wrapping round. Otherwise each node gets
// g_n groups (1 <= g_n <= its CPUs), nodes with fewer CPUs first; a node's
// groups are consecutive (mod G), the first c_n % g_n take c_n / g_n + 1
// CPUs and the rest c_n / g_n, each group taking the lowest CPU left and
// then that CPU's siblings.
void check_stage(const Topology& t, unsigned G, unsigned start, const std::vector<CpuMask>& parts, const CpuMask& cpus,
                 bool present_stage, const std::string& what, Stats* stats) {
  SCOPED_TRACE(std::string(present_stage ? "present" : "not-present") + " stage");
  const Ids nodes = nodes_of(t, cpus);
  const auto nr_nodes = static_cast<unsigned>(nodes.size());
  const unsigned total = cpus.weight();
  std::vector<CpuMask> node_part(t.nr_node_ids(), CpuMask(t.nr_cpu_ids()));
  for (unsigned n : nodes) node_part[n].assign_and(cpus, t.node_cpus(n));

  if (G <= nr_nodes) {
    if (nr_nodes > 1 && present_stage) stats->whole_node_sets++;
    for (unsigned j = 0; j < G; ++j) {
      CpuMask expected(t.nr_cpu_ids());
      for (unsigned k = 0; k < nr_nodes; ++k)
        if ((start + k) % G == j) expected.or_with(node_part[nodes[k]]);
      EXPECT_EQ(parts[j].to_list(), expected.to_list()) << "group " << j << " should hold whole nodes";
    }
    return;
  }

  // Groups this stage fills, in the order it fills them.
  const unsigned used = std::min(G, total);
  std::vector<unsigned> order;
  for (unsigned k = 0; k < used; ++k) order.push_back((start + k) % G);
  for (unsigned j = 0; j < G; ++j) {
    bool filled = std::find(order.begin(), order.end(), j) != order.end();
    EXPECT_EQ(parts[j].empty(), !filled) << "group " << j << " = " << parts[j].to_list();
  }
  if (::testing::Test::HasFailure()) return;

  // Runs of consecutive groups, one per node.
  std::vector<std::pair<unsigned, Ids>> runs;  // node, its groups in fill order
  for (unsigned j : order) {
    Ids in = nodes_of(t, parts[j]);
    ASSERT_EQ(in.size(), 1U) << "group " << j << " = " << parts[j].to_list() << " spans nodes " << join(in);
    if (runs.empty() || runs.back().first != in[0]) {
      for (const auto& run : runs) ASSERT_NE(run.first, in[0]) << "node " << in[0] << "'s groups are not consecutive";
      runs.push_back({in[0], {}});
    }
    runs.back().second.push_back(j);
  }
  ASSERT_EQ(runs.size(), nr_nodes);

  // The runs come in the order the kernel took the nodes, so its share
  // rule can be replayed along them exactly: each node gets
  // max(1, floor(groups left * its CPUs / CPUs left)).
  unsigned groups_left = used;
  unsigned cpus_left = total;
  unsigned prev_cpus = 0;
  for (const auto& [node, groups] : runs) {
    SCOPED_TRACE("node " + std::to_string(node));
    const unsigned c = node_part[node].weight();
    const auto g = static_cast<unsigned>(groups.size());
    EXPECT_GE(c, prev_cpus) << "nodes with fewer CPUs get their groups first";
    prev_cpus = c;
    EXPECT_GE(g, 1U);
    EXPECT_LE(g, c);
    EXPECT_EQ(g, std::max(1U, groups_left * c / cpus_left))
        << groups_left << " groups left for " << cpus_left << " CPUs";
    groups_left -= std::min(g, groups_left);
    cpus_left -= c;

    // Proportional share, against the ideal G' * c / C with G' = min(G, C)
    // (the kernel caps the groups at the CPUs). Processing the N nodes
    // from the smallest, the kernel gives node k
    //   g_k = max(1, floor(R_k * c_k / S_k)),
    // R_k and S_k the groups and CPUs left. Write x_k = G' c_k / C and
    // D_k = sum_{j<k} (x_j - g_j), the shortfall so far; then
    // R_k / S_k = G'/C + D_k / S_k and g_k = max(1, floor(x_k + D_k c_k / S_k)).
    //  - By induction |D_k| < k: a floored node moves D by less than 1
    //    after shrinking it by (1 - c_k/S_k); a node lifted to 1 group
    //    moves D down by less than 1 and never past D_k (1 - c_k/S_k).
    //  - The last node takes what is left: g - x = D_{N-1}, so |g - x| < N - 1.
    //  - Any other node: lifted to 1, 0 < g - x < 1; floored,
    //    |g - x| < 1 + |D_k| c_k / S_k < 1 + k / (N - k) <= N / 2, as the
    //    c's ascend so S_k >= (N - k) c_k.
    // Hence |g_n - G' c_n / C| < max(1, N - 1). That cannot be tightened
    // as a function of N alone: N - 1 one-CPU nodes and one M-CPU node with
    // G = N + 1 give the big node 2 groups against an ideal that tends to
    // N + 1 as M grows.
    const double ideal = double(used) * c / total;
    const double dev = std::abs(double(g) - ideal);
    EXPECT_LT(dev, std::max(1.0, nr_nodes - 1.0))
        << g << " groups for " << c << " of " << total << " CPUs, " << used << " groups, " << nr_nodes << " nodes";
    stats->share_checks++;
    if (dev > stats->worst_share_dev) {
      stats->worst_share_dev = dev;
      stats->worst_share_case = what + " node " + std::to_string(node) + " (" + std::to_string(g) + " groups for " +
                                std::to_string(c) + " of " + std::to_string(total) + " CPUs, " + std::to_string(used) +
                                " groups over " + std::to_string(nr_nodes) + " nodes)";
    }

    // Sizes: the first c % g groups one CPU more; each group starts at the
    // lowest CPU left.
    for (unsigned k = 0; k < g; ++k) {
      EXPECT_EQ(parts[groups[k]].weight(), c / g + (k < c % g ? 1 : 0))
          << "group " << groups[k] << " = " << parts[groups[k]].to_list() << ", number " << k
          << " of the node's groups";
      if (k > 0) {
        EXPECT_LT(parts[groups[k - 1]].first(), parts[groups[k]].first()) << "group " << groups[k];
      }
    }

    if (!present_stage) {
      // No siblings known: plain id order, group after group.
      Ids seq;
      for (unsigned j : groups)
        for (unsigned cpu : parts[j].to_vector()) seq.push_back(cpu);
      EXPECT_TRUE(std::is_sorted(seq.begin(), seq.end())) << join(seq);
      continue;
    }

    // Siblings: CPUs are taken core by core, so only the core a group ends
    // in can be left split, at most g - 1 cores. And when every core of
    // the node has the same number t of CPUs here and every group size is
    // a multiple of t, each group takes whole cores and none is split.
    std::map<int, std::set<unsigned>> groups_of_core;
    std::map<int, unsigned> threads;
    for (unsigned j : groups) parts[j].for_each([&](unsigned cpu) { groups_of_core[t.core_of(cpu)].insert(j); });
    node_part[node].for_each([&](unsigned cpu) { threads[t.core_of(cpu)]++; });
    unsigned split = 0;
    for (const auto& [core, in] : groups_of_core) split += in.size() > 1 ? 1 : 0;
    EXPECT_LE(split, g - 1) << "cores split over groups";
    if (split == g - 1 && split > 0) stats->splits_at_bound++;
    const unsigned t0 = threads.begin()->second;
    bool uniform = std::all_of(threads.begin(), threads.end(), [&](const auto& e) { return e.second == t0; });
    bool multiples = std::all_of(groups.begin(), groups.end(), [&](unsigned j) { return parts[j].weight() % t0 == 0; });
    if (uniform && multiples) {
      EXPECT_EQ(split, 0U) << "every core has " << t0 << " CPUs and every group a multiple of that";
      if (t0 > 1) stats->whole_core_nodes++;
    }
  }
}

// v6.19: in a stage, a node whose CPUs there fall in no more clusters than
// the groups it got (and whose CPUs all have one: present) is grouped
// cluster by cluster, so none of its groups spans two clusters.
void check_clusters(const Topology& t, const std::vector<CpuMask>& parts, const CpuMask& cpus, Stats* stats) {
  for (unsigned n : nodes_of(t, cpus)) {
    CpuMask mine(t.nr_cpu_ids());
    mine.assign_and(cpus, t.node_cpus(n));
    std::set<Ids> clusters;
    bool all = true;
    mine.for_each([&](unsigned cpu) {
      all = all && !t.cluster_cpus(cpu).empty();
      clusters.insert(t.cluster_cpus(cpu));
    });
    unsigned groups = 0;
    for (const CpuMask& m : parts) groups += m.intersects(mine) ? 1 : 0;
    if (!all || clusters.size() > groups) continue;
    if (clusters.size() > 1) stats->cluster_nodes++;
    for (const CpuMask& m : parts) {
      if (!m.intersects(mine)) continue;
      std::set<Ids> met;
      m.for_each([&](unsigned cpu) {
        if (mine.test_cpu(cpu)) met.insert(t.cluster_cpus(cpu));
      });
      EXPECT_EQ(met.size(), 1U) << "node " << n << " group " << m.to_list() << " spans clusters";
    }
  }
}

// One set: G vectors asked for, masks[0, nummasks) filled. With
// cluster-aware grouping (v6.19) a node's groups follow its clusters, so
// the per-node shape check_stage() knows is replaced by check_clusters().
void check_set(const Topology& t, unsigned G, const std::vector<CpuMask>& filled, const std::string& what, Stats* stats,
               bool cluster_aware = false) {
  const CpuMask& present = t.present();
  CpuMask absent(t.nr_cpu_ids());
  absent.assign_andnot(t.possible(), present);
  const unsigned nr_present_nodes = static_cast<unsigned>(nodes_of(t, present).size());
  const unsigned nr_absent_nodes = static_cast<unsigned>(nodes_of(t, absent).size());

  // nummasks: min(nr_present + nr_others, G), which always comes to
  // min(G, possible CPUs).
  const unsigned nr_present = G <= nr_present_nodes ? G : std::min(G, present.weight());
  const unsigned nr_others = absent.empty() ? 0 : G <= nr_absent_nodes ? G : std::min(G, absent.weight());
  ASSERT_EQ(filled.size(), std::min(nr_present + nr_others, G));
  ASSERT_EQ(filled.size(), std::min(G, t.nr_possible()));

  // Every possible CPU exactly once; no mask empty.
  std::vector<unsigned> hits(t.nr_cpu_ids(), 0);
  for (std::size_t j = 0; j < filled.size(); ++j) {
    EXPECT_FALSE(filled[j].empty()) << "mask " << j;
    filled[j].for_each([&](unsigned cpu) { hits[cpu]++; });
  }
  for (unsigned cpu = 0; cpu < t.nr_cpu_ids(); ++cpu)
    ASSERT_EQ(hits[cpu], t.is_possible(cpu) ? 1U : 0U) << "cpu " << cpu;

  // The two stages, each on its own part of the masks; masks past the
  // filled ones are empty.
  std::vector<CpuMask> present_parts(G, CpuMask(t.nr_cpu_ids()));
  std::vector<CpuMask> absent_parts(G, CpuMask(t.nr_cpu_ids()));
  for (std::size_t j = 0; j < filled.size(); ++j) {
    present_parts[j].assign_and(filled[j], present);
    absent_parts[j].assign_and(filled[j], absent);
  }
  if (cluster_aware) {
    if (G > nr_present_nodes) check_clusters(t, present_parts, present, stats);
    return;
  }
  check_stage(t, G, 0, present_parts, present, true, what, stats);
  if (absent.empty()) return;
  // Present CPUs first: the others start at the first group the present
  // ones left unused, or at group 0 when they used every group.
  const unsigned start = nr_present >= G ? 0 : nr_present;
  stats->stage2_sets++;
  if (start > 0) stats->stage2_after++;
  if (start + std::min(nr_others, G) > G) stats->stage2_wrapped++;
  if (start > 0) {
    for (unsigned j = 0; j < start; ++j) EXPECT_FALSE(present_parts[j].empty()) << "group " << j;
    for (unsigned j = start; j < G; ++j) EXPECT_TRUE(present_parts[j].empty()) << "group " << j;
  }
  check_stage(t, G, start, absent_parts, absent, false, what, stats);
}

// Everything of one kernel plan: vector roles, managed flags, pre/post and
// unfilled vectors, each set's masks, serving CPUs.
void check_kernel_plan(const Case& c, const PlanRequest& req, Stats* stats) {
  const Topology& t = *c.topo;
  const std::string what = describe(c, req);
  SCOPED_TRACE(what);
  auto result = make_plan(t, req);
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Plan& plan = *result;
  ASSERT_EQ(plan.vectors.size(), req.vectors);

  const bool spread = req.vectors > req.pre_vectors + req.post_vectors;
  Ids sizes = req.sets;
  if (sizes.empty() && spread) sizes.push_back(req.vectors - req.pre_vectors - req.post_vectors);
  ASSERT_EQ(plan.masks_per_set.size(), sizes.size());
  if (!spread) stats->no_spread++;
  if (sizes.size() > 1) stats->multi_set++;

  const KernelTraits traits = kernel_traits(req.kernel);
  unsigned next = req.pre_vectors;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    SCOPED_TRACE("set " + std::to_string(s));
    std::vector<CpuMask> filled;
    for (unsigned j = 0; j < plan.masks_per_set[s]; ++j) {
      ASSERT_LT(next + j, req.vectors);
      const VectorPlacement& v = plan.vectors[next + j];
      EXPECT_EQ(v.role, VectorRole::kSpread) << "vector " << v.index;
      EXPECT_EQ(v.set, static_cast<int>(s)) << "vector " << v.index;
      filled.push_back(v.cpus);
    }
    check_set(t, sizes[s], filled, what, stats, traits.cluster_aware);
    if (::testing::Test::HasFatalFailure()) return;

    // The same masks as group_cpus_evenly() hands back, and nothing in the
    // ones it left unfilled.
    unsigned nummasks = 0;
    std::vector<CpuMask> direct =
        group_cpus_evenly(t, sizes[s], &nummasks, GroupCpusOptions{traits.sort, traits.cluster_aware});
    EXPECT_EQ(nummasks, filled.size());
    for (std::size_t j = 0; j < direct.size(); ++j)
      EXPECT_EQ(direct[j], j < filled.size() ? filled[j] : CpuMask(t.nr_cpu_ids())) << "group " << j;

    // Up to v6.15 the set keeps its unfilled vectors, empty and managed, and
    // the next set starts after all of them.
    if (!traits.nr_masks) {
      for (unsigned j = plan.masks_per_set[s]; j < sizes[s]; ++j) {
        const VectorPlacement& v = plan.vectors[next + j];
        EXPECT_EQ(v.role, VectorRole::kUnfilled) << "vector " << v.index;
        EXPECT_EQ(v.set, static_cast<int>(s)) << "vector " << v.index;
        EXPECT_TRUE(v.cpus.empty()) << "vector " << v.index;
      }
      next += sizes[s];
      continue;
    }
    next += plan.masks_per_set[s];
  }

  const unsigned managed_end = spread ? req.vectors - req.post_vectors : req.pre_vectors;
  if (spread && next < managed_end) stats->unfilled++;
  unsigned served = 0;
  // The x86 vector matrix's state, to check each serving CPU exactly: managed
  // vectors served per CPU, and per CPU the vectors no longer available
  // (one reserved by each managed vector whose mask holds it, before any is
  // served, plus the unmanaged vectors it serves).
  std::vector<unsigned> managed_load(t.nr_cpu_ids(), 0);
  std::vector<unsigned> taken(t.nr_cpu_ids(), 0);
  for (const VectorPlacement& v : plan.vectors)
    if (v.managed) v.cpus.for_each([&](unsigned c) { taken[c]++; });
  for (const VectorPlacement& v : plan.vectors) {
    SCOPED_TRACE("vector " + std::to_string(v.index) + " = " + v.cpus.to_list());
    const bool managed = v.index >= req.pre_vectors && v.index < managed_end;
    EXPECT_EQ(v.managed, managed);
    if (v.index < req.pre_vectors) {
      EXPECT_EQ(v.role, VectorRole::kPre);
    } else if (!spread || v.index >= managed_end) {
      EXPECT_EQ(v.role, VectorRole::kPost);
    } else if (v.index >= next) {
      EXPECT_EQ(v.role, VectorRole::kUnfilled);
    }
    if (v.role != VectorRole::kSpread && (traits.nr_masks || v.role != VectorRole::kUnfilled)) {
      EXPECT_EQ(v.cpus, t.possible());
      EXPECT_EQ(v.set, -1);
    }
    // Served by a present CPU of its mask; a mask of CPUs none of which is
    // present has no one to serve it. Managed: the fewest managed vectors,
    // the highest id on a tie (matrix_find_best_cpu_managed()); unmanaged:
    // the fewest taken, the lowest id on a tie (matrix_find_best_cpu()).
    if (v.cpus.intersects(t.present())) {
      ASSERT_GE(v.serving_cpu, 0);
      const auto cpu = static_cast<unsigned>(v.serving_cpu);
      EXPECT_TRUE(v.cpus.test_cpu(cpu));
      EXPECT_TRUE(t.present().test_cpu(cpu));
      EXPECT_EQ(v.serving_node, static_cast<int>(t.cpu_to_node(cpu)));
      std::vector<unsigned>& key = v.managed ? managed_load : taken;
      CpuMask candidates(t.nr_cpu_ids());
      candidates.assign_and(v.cpus, t.present());
      unsigned fewest = ~0U;
      candidates.for_each([&](unsigned c) { fewest = std::min(fewest, key[c]); });
      std::vector<unsigned> best;
      candidates.for_each([&](unsigned c) {
        if (key[c] == fewest) best.push_back(c);
      });
      EXPECT_EQ(cpu, v.managed ? best.back() : best.front())
          << (v.managed ? "managed" : "unmanaged") << ": " << key[cpu] << " against " << fewest;
      key[cpu]++;
      ++served;
    } else {
      EXPECT_EQ(v.serving_cpu, -1);
      EXPECT_EQ(v.serving_node, -1);
    }
  }
  unsigned total = 0;
  for (unsigned n : plan.served_per_cpu) total += n;
  EXPECT_EQ(total, served);
}

Stats run_all_cases(const KernelVersion& kernel = default_kernel_version()) {
  Stats stats;
  for (unsigned i = 0; i < kCases; ++i) {
    Case c = make_case(i);
    if (!c.topo) return stats;
    for (PlanRequest req : c.requests) {
      req.kernel = kernel;
      check_kernel_plan(c, req, &stats);
      if (::testing::Test::HasFailure()) return stats;  // the first failing case is enough to read
    }
  }
  return stats;
}

TEST(KernelPlannerProperties, HoldOnRandomMachines) {
  Stats stats = run_all_cases();
  std::cout << "worst node-share deviation |g_n - G*c_n/C| = " << stats.worst_share_dev << " at "
            << stats.worst_share_case << "\n";
}

// The same machines and requests in the other kernel lines.
TEST(KernelPlannerProperties, HoldInEveryKernelLine) {
  for (KernelGeneration g : all_kernel_generations()) {
    SCOPED_TRACE(generation_summary(g));
    Stats stats = run_all_cases(representative_version(g));
    if (HasFailure()) return;
    if (g == KernelGeneration::k6_19On) {
      std::cout << "cluster_nodes " << stats.cluster_nodes << "\n";
      EXPECT_GE(stats.cluster_nodes, 300U);
    }
  }
}

// The bound on a node's share is reached: three one-CPU nodes and one of
// 60 CPUs, 5 groups. The small nodes take one group each (ideal 5/63) and
// leave the big node 2 groups of 30, against an ideal share of
// 5 * 60 / 63 = 4.76, i.e. 2.76 off, under the bound of nodes - 1 = 3.
TEST(KernelPlannerProperties, NodeShareBoundIsNearlyReached) {
  std::vector<CpuDesc> cpus;
  for (unsigned id = 0; id < 63; ++id) cpus.push_back(CpuDesc{id, std::min(id, 3U), -1, -1, -1});
  auto t = Topology::from_cpus(cpus, {0, 1, 2, 3}, "three small nodes and a big one");
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto plan = make_plan(*t, PlanRequest{5, 0, 0, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> masks;
  for (const VectorPlacement& v : plan->vectors) masks.push_back(v.cpus.to_list());
  ASSERT_EQ(masks.size(), 5U);
  // The small nodes come first (fewest CPUs); among equal nodes the
  // heapsort decides the order, so only the set is fixed.
  std::sort(masks.begin(), masks.begin() + 3);
  EXPECT_EQ(masks, (std::vector<std::string>{"0", "1", "2", "3-32", "33-62"}));
}

// The properties above only mean something if the random cases reach the
// branches they describe; this keeps the generator honest.
TEST(KernelPlannerProperties, CasesReachEveryBranch) {
  Stats stats = run_all_cases();
  unsigned synthetic = 0;
  unsigned handmade = 0;
  unsigned with_offline = 0;
  unsigned cpuless = 0;
  unsigned sparse_nodes = 0;
  unsigned holes = 0;
  unsigned far_apart = 0;
  for (unsigned i = 0; i < kCases; ++i) {
    Case c = make_case(i);
    ASSERT_TRUE(c.topo.has_value());
    const Topology& t = *c.topo;
    (c.synthetic ? synthetic : handmade)++;
    if (!c.offline.empty()) with_offline++;
    if (nodes_of(t, t.possible()).size() < t.node_ids().size()) cpuless++;
    if (t.nr_node_ids() > t.node_ids().size()) sparse_nodes++;
    if (t.nr_cpu_ids() > t.nr_possible()) holes++;
    for (const Ids& core : t.cores())
      if (core.size() > 1 && core.back() - core.front() >= core.size() + 2) {
        far_apart++;
        break;
      }
  }
  std::cout << "synthetic " << synthetic << " handmade " << handmade << " offline " << with_offline << " cpuless "
            << cpuless << " sparse_nodes " << sparse_nodes << " holes " << holes << " far_apart " << far_apart
            << " whole_node_sets " << stats.whole_node_sets << " stage2 " << stats.stage2_sets << " after "
            << stats.stage2_after << " wrapped " << stats.stage2_wrapped << " splits_at_bound " << stats.splits_at_bound
            << " whole_core_nodes " << stats.whole_core_nodes << " unfilled " << stats.unfilled << " multi_set "
            << stats.multi_set << " no_spread " << stats.no_spread << " share_checks " << stats.share_checks << "\n";
  EXPECT_GE(synthetic, 200U);
  EXPECT_GE(handmade, 100U);
  EXPECT_GE(with_offline, 100U);
  EXPECT_GE(cpuless, 30U);
  EXPECT_GE(sparse_nodes, 30U);
  EXPECT_GE(holes, 30U);
  EXPECT_GE(far_apart, 100U);
  EXPECT_GE(stats.whole_node_sets, 50U);
  EXPECT_GE(stats.stage2_sets, 200U);
  EXPECT_GE(stats.stage2_after, 30U);
  EXPECT_GE(stats.stage2_wrapped, 30U);
  EXPECT_GE(stats.splits_at_bound, 50U);
  EXPECT_GE(stats.whole_core_nodes, 50U);
  EXPECT_GE(stats.unfilled, 100U);
  EXPECT_GE(stats.multi_set, 100U);
  EXPECT_GE(stats.no_spread, 10U);
  EXPECT_GE(stats.share_checks, 1000U);
  // Some node lands at least a whole group off its ideal share.
  EXPECT_GE(stats.worst_share_dev, 1.0);
}

}  // namespace
}  // namespace irqd
