// SPDX-License-Identifier: GPL-2.0-only
//
// The planners on real machines: the 18 hwloc XML topologies in the shared
// folder beside the clone (see ../shared/topologies/README.md). For each
// file, first the facts the README states about the machine (so a loader
// regression shows up as a wrong machine, not as odd plans), then the
// kernel planner's invariants for a spread of vector counts, then the
// defining property of each other planner. The kernel planner is checked
// for every kernel line it follows (kernel_version.h), and exactly on a few
// machines where the lines differ.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "affinity/kernel_version.h"
#include "affinity/plan.h"
#include "affinity/topology.h"

namespace irqd {
namespace {

using Ids = std::vector<unsigned>;

constexpr const char* kTopologyDir = IRQD_SHARED_DIR "/topologies";

Ids range(unsigned first, unsigned last) {
  Ids out;
  for (unsigned i = first; i <= last; ++i) out.push_back(i);
  return out;
}

// What the README's table says about one file.
struct Machine {
  const char* file;
  unsigned cpus;
  unsigned cores;
  unsigned nodes;
  unsigned nr_cpu_ids;
  unsigned nr_node_ids;
  // The "kernel view worth knowing" column, as assertions.
  void (*facts)(const Topology&);
};

void PrintTo(const Machine& m, std::ostream* os) { *os << m.file; }

// Each of the listed nodes holds exactly `per_node` CPUs.
void expect_cpus_per_node(const Topology& t, const Ids& nodes, unsigned per_node) {
  for (unsigned n : nodes) EXPECT_EQ(t.node_cpus(n).weight(), per_node) << "node " << n;
}

void expect_no_smt(const Topology& t) {
  for (const Ids& core : t.cores()) EXPECT_EQ(core.size(), 1U) << "core of CPU " << core.front();
}

// The 18 files, listed one by one: a file missing from the shared folder
// fails its tests instead of quietly shrinking the suite.
// NOLINTNEXTLINE(cert-err58-cpp): plain data and captureless lambdas; nothing here throws.
const Machine kMachines[] = {
    {"16em64t-4s2c2t.xml", 16, 8, 1, 16, 1,
     [](const Topology& t) {
       for (unsigned i = 0; i < 8; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 8}));
       EXPECT_EQ(t.node_cpus(0).to_list(), "0-15");
     }},
    {"16em64t-4s2c2t-offlines.xml", 7, 6, 1, 16, 1,
     [](const Topology& t) {
       EXPECT_EQ(t.cpu_ids(), (Ids{0, 1, 3, 4, 6, 12, 15}));
       unsigned smt_cores = 0;
       for (const Ids& core : t.cores()) smt_cores += core.size() > 1 ? 1 : 0;
       EXPECT_EQ(smt_cores, 1U);
       EXPECT_EQ(t.core_siblings(12), (Ids{4, 12}));
     }},
    {"24em64t-2n6c2t-pci.xml", 24, 12, 2, 24, 2,
     [](const Topology& t) {
       for (unsigned i = 0; i < 24; ++i) EXPECT_EQ(t.cpu_to_node(i), i % 2) << "cpu " << i;
       for (unsigned i = 0; i < 12; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 12}));
     }},
    {"32em64t-2n8c2t-pci-normalio.xml", 32, 16, 2, 32, 2,
     [](const Topology& t) {
       EXPECT_EQ(t.node_cpus(0).to_list(), "0-7,16-23");
       EXPECT_EQ(t.node_cpus(1).to_list(), "8-15,24-31");
       for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 16}));
     }},
    {"28intel64-2p2g7c-CoDgroups.v1tov2.xml", 28, 28, 4, 28, 4,
     [](const Topology& t) {
       expect_cpus_per_node(t, {0, 1, 2, 3}, 7);
       expect_no_smt(t);
       ASSERT_EQ(t.packages().size(), 2U);
       for (const Ids& pkg : t.packages()) {
         std::set<unsigned> nodes;
         for (unsigned cpu : pkg) nodes.insert(t.cpu_to_node(cpu));
         EXPECT_EQ(nodes.size(), 2U) << "package of CPU " << pkg.front();
       }
     }},
    {"16amd64-4distances.xml", 16, 16, 8, 16, 8,
     [](const Topology& t) {
       EXPECT_EQ(t.node_cpus(0).to_list(), "2-3");
       EXPECT_EQ(t.node_cpus(1).to_list(), "0-1");
       expect_cpus_per_node(t, range(0, 7), 2);
     }},
    {"48amd64-4d2n6c-sparse.xml", 48, 48, 8, 48, 74,
     [](const Topology& t) {
       EXPECT_EQ(t.node_ids(), (Ids{0, 1, 2, 33, 34, 45, 72, 73}));
       expect_cpus_per_node(t, t.node_ids(), 6);
       EXPECT_FALSE(t.node_exists(3));
       EXPECT_TRUE(t.node_cpus(3).empty());
     }},
    {"64amd64-4s2n4ca2co.xml", 64, 64, 8, 64, 8,
     [](const Topology& t) {
       expect_cpus_per_node(t, range(0, 7), 8);
       ASSERT_EQ(t.packages().size(), 4U);
       for (const Ids& pkg : t.packages()) {
         std::set<unsigned> nodes;
         for (unsigned cpu : pkg) nodes.insert(t.cpu_to_node(cpu));
         EXPECT_EQ(nodes.size(), 2U) << "package of CPU " << pkg.front();
       }
     }},
    {"96em64t-4n4d3ca2co-pci.xml", 96, 96, 4, 96, 4,
     [](const Topology& t) {
       expect_cpus_per_node(t, {0, 1, 2, 3}, 24);
       expect_no_smt(t);
     }},
    {"192em64t-24n8c2t.xml", 384, 192, 24, 384, 24,
     [](const Topology& t) {
       for (unsigned i = 0; i < 192; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 192}));
       expect_cpus_per_node(t, range(0, 23), 16);
     }},
    {"256ia64-64n2s2c.xml", 256, 256, 64, 256, 64,
     [](const Topology& t) {
       expect_cpus_per_node(t, range(0, 63), 4);
       expect_no_smt(t);
     }},
    {"256ppc-8n8s4t.xml", 256, 64, 8, 256, 14,
     [](const Topology& t) {
       for (unsigned k = 0; k < 64; ++k) EXPECT_EQ(t.core_siblings(4 * k + 2), range(4 * k, 4 * k + 3));
       EXPECT_EQ(t.node_ids(), (Ids{0, 1, 4, 5, 8, 9, 12, 13}));
       expect_cpus_per_node(t, t.node_ids(), 32);
     }},
    {"128arm-2pa2n8cluster4co.xml", 128, 128, 4, 128, 4,
     [](const Topology& t) {
       expect_cpus_per_node(t, {0, 1, 2, 3}, 32);
       expect_no_smt(t);
     }},
    {"64intel64-fakeKNL-SNC4-hybrid.xml", 64, 16, 8, 64, 8,
     [](const Topology& t) {
       for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 16, i + 32, i + 48}));
       expect_cpus_per_node(t, {0, 1, 2, 3}, 16);
       expect_cpus_per_node(t, {4, 5, 6, 7}, 0);
     }},
    {"memorysidecaches.xml", 80, 40, 4, 80, 4,
     [](const Topology& t) {
       for (unsigned i = 0; i < 80; ++i) EXPECT_EQ(t.cpu_to_node(i), i % 4) << "cpu " << i;
       for (unsigned i = 0; i < 40; ++i) EXPECT_EQ(t.core_siblings(i), (Ids{i, i + 40}));
     }},
    {"power8gpudistances.xml", 16, 8, 2, 106, 2,
     [](const Topology& t) {
       EXPECT_EQ(t.cpu_ids(), (Ids{0, 1, 8, 9, 16, 17, 24, 25, 80, 81, 88, 89, 96, 97, 104, 105}));
       EXPECT_EQ(t.node_cpus(0).to_list(), "0-1,8-9,16-17,24-25");
       for (unsigned cpu : t.cpu_ids()) EXPECT_EQ(t.core_siblings(cpu), (Ids{cpu & ~1U, cpu | 1U}));
     }},
    {"8ia64-2n2s2c+1n.v1tov2.xml", 8, 8, 3, 20, 17,
     [](const Topology& t) {
       EXPECT_EQ(t.node_ids(), (Ids{0, 2, 16}));
       EXPECT_EQ(t.node_cpus(0).to_list(), "0-3");
       EXPECT_EQ(t.node_cpus(2).to_list(), "16-19");
       EXPECT_TRUE(t.node_exists(16));
       EXPECT_TRUE(t.node_cpus(16).empty());
     }},
    {"20em64t-hybrid-1p6c2t+2ca4co1t.xml", 20, 14, 1, 20, 1,
     [](const Topology& t) {
       for (unsigned k = 0; k < 6; ++k) EXPECT_EQ(t.core_siblings(2 * k + 1), (Ids{2 * k, 2 * k + 1}));
       for (unsigned cpu = 12; cpu < 20; ++cpu) EXPECT_EQ(t.core_siblings(cpu), (Ids{cpu}));
     }},
};

std::string test_name(const ::testing::TestParamInfo<Machine>& info) {
  std::string name = info.param.file;
  name = name.substr(0, name.rfind(".xml"));
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

// ---------------------------------------------------------------------------
// Helpers shared by the checks below.

// Nodes (ascending id) holding at least one CPU of `cpus`.
Ids nodes_of(const Topology& t, const CpuMask& cpus) {
  Ids out;
  for (unsigned n : t.node_ids())
    if (t.node_cpus(n).intersects(cpus)) out.push_back(n);
  return out;
}

// Where each set's spread vectors sit in a plan.
struct SetSpan {
  unsigned first;   // vector index of the set's first filled mask
  unsigned size;    // vectors asked for
  unsigned filled;  // masks it got
};

// From v6.16 (and for the layouts) a set is followed right after its filled
// masks; before, after all its vectors.
bool packs_sets(const PlanRequest& req) {
  return req.planner != PlannerKind::kKernel || kernel_traits(req.kernel).nr_masks;
}

std::vector<SetSpan> set_spans(const PlanRequest& req, const Plan& plan) {
  Ids sizes = req.sets;
  if (sizes.empty()) sizes.push_back(req.vectors - req.pre_vectors - req.post_vectors);
  std::vector<SetSpan> spans;
  unsigned next = req.pre_vectors;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    spans.push_back(SetSpan{next, sizes[s], plan.masks_per_set.at(s)});
    next += packs_sets(req) ? plan.masks_per_set[s] : sizes[s];
  }
  return spans;
}

std::string describe(const PlanRequest& req) {
  std::string s = std::string(planner_name(req.planner)) + " kernel=" + req.kernel.text +
                  " vectors=" + std::to_string(req.vectors) + " pre=" + std::to_string(req.pre_vectors) +
                  " post=" + std::to_string(req.post_vectors) + " sets=";
  for (std::size_t i = 0; i < req.sets.size(); ++i) s += (i ? "," : "") + std::to_string(req.sets[i]);
  if (req.sets.empty()) s += "(one)";
  return s;
}

// What holds for every planner: pre/post vectors keep every possible CPU,
// unfilled ones too from v6.16 (an empty mask before), and the serving CPU
// is the x86 vector matrix's choice among the present CPUs of the vector's
// mask, vectors in index order; none for an empty mask. Every
// managed vector has reserved one vector on each CPU of its mask before the
// first is served. A managed vector goes to the CPU serving the fewest
// managed vectors, the highest id on a tie; an unmanaged one to the CPU with
// the fewest reserved plus unmanaged vectors served, the lowest id on a tie.
void check_common(const Topology& t, const PlanRequest& req, const Plan& plan) {
  ASSERT_EQ(plan.vectors.size(), req.vectors);
  std::vector<unsigned> load(t.nr_cpu_ids(), 0);
  std::vector<unsigned> managed_load(t.nr_cpu_ids(), 0);
  std::vector<unsigned> taken(t.nr_cpu_ids(), 0);  // reserved + unmanaged served
  for (const VectorPlacement& v : plan.vectors)
    if (v.managed) v.cpus.for_each([&](unsigned c) { taken[c]++; });
  unsigned served = 0;
  for (const VectorPlacement& v : plan.vectors) {
    SCOPED_TRACE("vector " + std::to_string(v.index) + " cpus " + v.cpus.to_list());
    bool pre = v.index < req.pre_vectors;
    bool post = v.index >= req.vectors - req.post_vectors;
    if (pre || post) {
      EXPECT_EQ(v.role, pre ? VectorRole::kPre : VectorRole::kPost);
      EXPECT_FALSE(v.managed);
      EXPECT_EQ(v.cpus, t.possible());
      EXPECT_EQ(v.set, -1);
    }
    if (v.role == VectorRole::kUnfilled) {
      if (packs_sets(req)) {
        EXPECT_EQ(v.cpus, t.possible());
      } else {
        EXPECT_TRUE(v.cpus.empty());
        EXPECT_EQ(v.serving_cpu, -1);
        continue;
      }
    }
    ASSERT_GE(v.serving_cpu, 0);  // every other mask here holds a present CPU
    auto cpu = static_cast<unsigned>(v.serving_cpu);
    EXPECT_TRUE(v.cpus.test_cpu(cpu));
    EXPECT_TRUE(t.present().test_cpu(cpu));
    EXPECT_EQ(v.serving_node, static_cast<int>(t.cpu_to_node(cpu)));
    const std::vector<unsigned>& key = v.managed ? managed_load : taken;
    std::vector<unsigned> candidates;
    v.cpus.for_each([&](unsigned c) {
      if (t.present().test_cpu(c)) candidates.push_back(c);
    });
    unsigned fewest = key[candidates.front()];
    for (unsigned c : candidates) fewest = std::min(fewest, key[c]);
    std::erase_if(candidates, [&](unsigned c) { return key[c] != fewest; });
    unsigned expected = v.managed ? candidates.back() : candidates.front();
    EXPECT_EQ(cpu, expected) << (v.managed ? "managed" : "unmanaged") << ": " << key[cpu] << " against " << fewest;
    load[cpu]++;
    (v.managed ? managed_load : taken)[cpu]++;
    ++served;
  }
  unsigned total = 0;
  for (unsigned n : plan.served_per_cpu) total += n;
  EXPECT_EQ(total, served);
  EXPECT_EQ(plan.served_per_cpu, load);
}

// Kernel planner on a machine whose CPUs are all present.
void check_kernel(const Topology& t, const PlanRequest& req, const Plan& plan) {
  SCOPED_TRACE(describe(req));
  check_common(t, req, plan);
  if (::testing::Test::HasFatalFailure()) return;
  const Ids nodes = nodes_of(t, t.possible());
  const auto nr_nodes = static_cast<unsigned>(nodes.size());
  unsigned filled_end = req.pre_vectors;
  ASSERT_EQ(plan.masks_per_set.size(), std::max<std::size_t>(1, req.sets.size()));

  for (std::size_t s = 0; s < plan.masks_per_set.size(); ++s) {
    const SetSpan span = set_spans(req, plan)[s];
    SCOPED_TRACE("set " + std::to_string(s) + " of " + std::to_string(span.size) + " vectors");
    ASSERT_EQ(span.filled, std::min(span.size, t.nr_possible()));
    filled_end = span.first + span.filled;

    // Disjoint masks covering every possible CPU exactly once.
    std::vector<unsigned> hits(t.nr_cpu_ids(), 0);
    std::vector<CpuMask> masks;
    for (unsigned j = 0; j < span.filled; ++j) {
      const VectorPlacement& v = plan.vectors[span.first + j];
      EXPECT_EQ(v.role, VectorRole::kSpread);
      EXPECT_EQ(v.set, static_cast<int>(s));
      EXPECT_TRUE(v.managed);
      EXPECT_FALSE(v.cpus.empty()) << "mask " << j;
      v.cpus.for_each([&](unsigned cpu) { hits[cpu]++; });
      masks.push_back(v.cpus);
    }
    for (unsigned cpu = 0; cpu < t.nr_cpu_ids(); ++cpu)
      EXPECT_EQ(hits[cpu], t.is_possible(cpu) ? 1U : 0U) << "cpu " << cpu;

    if (span.size <= nr_nodes) {
      // No more groups than nodes: whole nodes, in id order, dealt round
      // the groups.
      for (unsigned j = 0; j < span.size; ++j) {
        CpuMask expected(t.nr_cpu_ids());
        for (unsigned k = j; k < nr_nodes; k += span.size) expected.or_with(t.node_cpus(nodes[k]));
        EXPECT_EQ(masks[j].to_list(), expected.to_list()) << "mask " << j;
      }
    } else {
      // Groups are made per node: no mask leaves its node.
      for (unsigned j = 0; j < span.filled; ++j)
        EXPECT_EQ(nodes_of(t, masks[j]).size(), 1U) << "mask " << j << " = " << masks[j].to_list();
    }

    // SMT siblings: a node's CPUs are taken core by core, so only the core
    // a group ends in can be split, i.e. at most groups_in_node - 1 cores.
    for (unsigned n : nodes) {
      std::vector<std::set<unsigned>> masks_of_core(t.cores().size());
      unsigned groups = 0;
      for (unsigned j = 0; j < span.filled; ++j) {
        if (!masks[j].intersects(t.node_cpus(n))) continue;
        ++groups;
        masks[j].for_each([&](unsigned cpu) {
          if (t.cpu_to_node(cpu) == n) masks_of_core[static_cast<unsigned>(t.core_of(cpu))].insert(j);
        });
      }
      unsigned split = 0;
      for (const auto& m : masks_of_core) split += m.size() > 1 ? 1 : 0;
      EXPECT_LE(split, groups - 1) << "node " << n << " got " << groups << " groups";

      // v6.19: a node with no more clusters than groups is grouped cluster
      // by cluster, so no mask spans two clusters there.
      if (!kernel_traits(req.kernel).cluster_aware || span.size <= nr_nodes) continue;
      std::set<Ids> clusters;
      t.node_cpus(n).for_each([&](unsigned cpu) { clusters.insert(t.cluster_cpus(cpu)); });
      if (clusters.size() > groups) continue;
      for (unsigned j = 0; j < span.filled; ++j) {
        if (!masks[j].intersects(t.node_cpus(n))) continue;
        std::set<Ids> met;
        masks[j].for_each([&](unsigned cpu) { met.insert(t.cluster_cpus(cpu)); });
        EXPECT_EQ(met.size(), 1U) << "mask " << j << " = " << masks[j].to_list() << " spans clusters";
      }
    }

    // Up to v6.15 the set keeps its unfilled vectors: empty, managed.
    if (!packs_sets(req)) {
      for (unsigned j = span.filled; j < span.size; ++j) {
        const VectorPlacement& v = plan.vectors[span.first + j];
        EXPECT_EQ(v.role, VectorRole::kUnfilled) << "vector " << v.index;
        EXPECT_EQ(v.set, static_cast<int>(s)) << "vector " << v.index;
        EXPECT_TRUE(v.managed) << "vector " << v.index;
      }
      filled_end = span.first + span.size;
    }
  }
  for (unsigned i = filled_end; i < req.vectors - req.post_vectors; ++i) {
    EXPECT_EQ(plan.vectors[i].role, VectorRole::kUnfilled) << "vector " << i;
    EXPECT_TRUE(plan.vectors[i].managed) << "vector " << i;
  }
}

// The vector counts each machine is planned with: the edges around the
// node count, cores and CPUs, and a common queue count.
Ids vector_counts(const Topology& t) {
  auto nodes = static_cast<unsigned>(t.node_ids().size());
  unsigned with_cpus = static_cast<unsigned>(nodes_of(t, t.possible()).size());
  std::set<unsigned> counts{1,
                            2,
                            nodes - 1,
                            nodes,
                            nodes + 1,
                            with_cpus - 1,
                            with_cpus,
                            with_cpus + 1,
                            static_cast<unsigned>(t.cores().size()),
                            t.nr_possible(),
                            t.nr_possible() + 3,
                            64};
  counts.erase(0);
  return {counts.begin(), counts.end()};
}

// One set; one set with a pre and a post vector; two sets behind a pre
// vector.
std::vector<PlanRequest> requests_for(unsigned n, PlannerKind planner) {
  std::vector<PlanRequest> out;
  out.push_back(PlanRequest{n, 0, 0, {}, planner});
  out.push_back(PlanRequest{n + 2, 1, 1, {}, planner});
  unsigned second = (n + 1) / 2;
  out.push_back(PlanRequest{1 + n + second, 1, 0, {n, second}, planner});
  return out;
}

class RealTopology : public ::testing::TestWithParam<Machine> {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(kTopologyDir))
      GTEST_SKIP() << "no " << kTopologyDir << ": the real machines' topologies live in ../shared/topologies "
                   << "beside the clone";
    auto t = Topology::load(std::string("xml:") + kTopologyDir + "/" + GetParam().file);
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_.emplace(std::move(t).value());
  }

  Plan plan(const PlanRequest& req) {
    auto p = make_plan(*topo_, req);
    EXPECT_TRUE(p.ok()) << describe(req) << ": " << p.error().message;
    return p.ok() ? std::move(p).value() : Plan{};
  }

  std::optional<Topology> topo_;
};

TEST_P(RealTopology, MatchesTheReadme) {
  const Topology& t = *topo_;
  const Machine& m = GetParam();
  EXPECT_EQ(t.nr_possible(), m.cpus);
  EXPECT_EQ(t.cores().size(), m.cores);
  EXPECT_EQ(t.node_ids().size(), m.nodes);
  EXPECT_EQ(t.nr_cpu_ids(), m.nr_cpu_ids);
  EXPECT_EQ(t.nr_node_ids(), m.nr_node_ids);
  EXPECT_EQ(t.present(), t.possible());
  m.facts(t);
}

TEST_P(RealTopology, KernelPlannerInvariants) {
  const Topology& t = *topo_;
  for (KernelGeneration g : all_kernel_generations()) {
    for (unsigned n : vector_counts(t)) {
      for (PlanRequest req : requests_for(n, PlannerKind::kKernel)) {
        req.kernel = representative_version(g);
        Plan p = plan(req);
        EXPECT_EQ(p.kernel.text, req.kernel.text);
        check_kernel(t, req, p);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// A cluster is the present PUs under one L2 cache (or one core where the
// machine has no L2 level): the clusters split the CPUs, each is made of
// whole cores, and each lies in one node.
TEST_P(RealTopology, ClustersAreWholeCoresUnderOneL2) {
  const Topology& t = *topo_;
  std::set<Ids> clusters;
  for (unsigned cpu : t.cpu_ids()) {
    const Ids& c = t.cluster_cpus(cpu);
    ASSERT_FALSE(c.empty()) << "cpu " << cpu;
    EXPECT_TRUE(std::find(c.begin(), c.end(), cpu) != c.end()) << "cpu " << cpu;
    for (unsigned sib : t.core_siblings(cpu)) EXPECT_EQ(t.cluster_cpus(sib), c) << "cpu " << cpu << " sibling " << sib;
    for (unsigned other : c) EXPECT_EQ(t.cpu_to_node(other), t.cpu_to_node(cpu)) << "cpu " << cpu;
    clusters.insert(c);
  }
  std::size_t total = 0;
  for (const Ids& c : clusters) total += c.size();
  EXPECT_EQ(total, t.nr_possible());
}

// A node's share of groups follows its CPU count: between 1 and its CPUs,
// within max(1, nodes - 1) of G * cpus / C (see planner_property_test.cc
// for why that is the bound the kernel's allocation guarantees).
TEST_P(RealTopology, KernelNodeShares) {
  const Topology& t = *topo_;
  const Ids nodes = nodes_of(t, t.possible());
  const auto nr_nodes = static_cast<unsigned>(nodes.size());
  for (unsigned n : vector_counts(t)) {
    if (n <= nr_nodes) continue;
    for (KernelGeneration g : all_kernel_generations()) {
      SCOPED_TRACE(generation_summary(g));
      Plan p = plan(PlanRequest{n, 0, 0, {}, PlannerKind::kKernel, representative_version(g)});
      unsigned groups_total = std::min(n, t.nr_possible());
      for (unsigned node : nodes) {
        unsigned groups = 0;
        for (const VectorPlacement& v : p.vectors)
          if (v.role == VectorRole::kSpread && v.cpus.intersects(t.node_cpus(node))) ++groups;
        unsigned cpus = t.node_cpus(node).weight();
        double ideal = double(groups_total) * cpus / t.nr_possible();
        EXPECT_GE(groups, 1U) << "node " << node << " vectors " << n;
        EXPECT_LE(groups, cpus) << "node " << node << " vectors " << n;
        EXPECT_LT(std::abs(groups - ideal), std::max(1.0, nr_nodes - 1.0)) << "node " << node << " vectors " << n;
      }
    }
  }
}

// Equal nodes of equal cores: every node gets the same share, and the
// machines with SMT keep every core whole once groups are a multiple of
// the thread count.
TEST_P(RealTopology, KernelWholeCoresWhenGroupsAllowIt) {
  const Topology& t = *topo_;
  const Ids nodes = nodes_of(t, t.possible());
  auto threads = static_cast<unsigned>(t.cores().front().size());
  for (const Ids& core : t.cores())
    if (core.size() != threads) GTEST_SKIP() << "cores of unequal sizes";
  unsigned per_node = t.node_cpus(nodes.front()).weight();
  for (unsigned n : nodes)
    if (t.node_cpus(n).weight() != per_node) GTEST_SKIP() << "nodes of unequal sizes";
  // One group per core: each group is exactly one core, in every line (from
  // v6.19 a cluster of k cores gets k groups, one core each).
  auto ncores = static_cast<unsigned>(t.cores().size());
  for (KernelGeneration g : all_kernel_generations()) {
    SCOPED_TRACE(generation_summary(g));
    Plan p = plan(PlanRequest{ncores, 0, 0, {}, PlannerKind::kKernel, representative_version(g)});
    ASSERT_EQ(p.vectors.size(), ncores);
    std::set<Ids> seen;
    for (const VectorPlacement& v : p.vectors) {
      Ids cpus = v.cpus.to_vector();
      EXPECT_EQ(cpus, t.core_siblings(cpus.front())) << "vector " << v.index;
      seen.insert(cpus);
    }
    EXPECT_EQ(seen.size(), ncores);
  }
}

// compact: one CPU per vector, a core's present siblings back to back,
// nodes ascending, cores of a node in hwloc's order; wraps after the last
// present CPU.
void check_compact(const Topology& t, const std::vector<CpuMask>& masks) {
  const Ids present = t.present().to_vector();
  const auto np = static_cast<unsigned>(present.size());
  Ids seq;
  for (const CpuMask& m : masks) {
    ASSERT_EQ(m.weight(), 1U) << m.to_list();
    seq.push_back(m.first());
  }
  std::set<unsigned> seen;
  std::set<int> cores_done;
  for (unsigned i = 0; i < seq.size(); ++i) {
    SCOPED_TRACE("vector " + std::to_string(i) + " on cpu " + std::to_string(seq[i]));
    ASSERT_TRUE(t.present().test_cpu(seq[i]));
    if (i >= np) {
      EXPECT_EQ(seq[i], seq[i - np]);
      continue;
    }
    EXPECT_TRUE(seen.insert(seq[i]).second) << "cpu used twice";
    if (i == 0) continue;
    unsigned prev = seq[i - 1];
    EXPECT_LE(t.cpu_to_node(prev), t.cpu_to_node(seq[i]));
    if (t.core_of(prev) == t.core_of(seq[i])) {
      EXPECT_LT(prev, seq[i]);
      continue;
    }
    // Moving to another core: the previous one is used up, and the new
    // one was not visited before.
    for (unsigned sib : t.core_siblings(prev)) {
      if (t.present().test_cpu(sib)) {
        EXPECT_TRUE(seen.count(sib)) << "sibling " << sib << " of " << prev << " skipped";
      }
    }
    cores_done.insert(t.core_of(prev));
    EXPECT_FALSE(cores_done.count(t.core_of(seq[i]))) << "core revisited";
    if (t.cpu_to_node(prev) == t.cpu_to_node(seq[i])) {
      EXPECT_LT(t.core_of(prev), t.core_of(seq[i]));
    }
  }
  if (seq.size() >= np) {
    EXPECT_EQ(seen.size(), np);
  }
}

// per-core: each mask is the present PUs of one core; every present core
// once before any repeats; the first round takes one core of each node,
// nodes ascending.
void check_per_core(const Topology& t, const std::vector<CpuMask>& masks) {
  std::set<int> present_cores;
  t.present().for_each([&](unsigned cpu) { present_cores.insert(t.core_of(cpu)); });
  const auto kc = static_cast<unsigned>(present_cores.size());
  const unsigned nodes_with_cores = static_cast<unsigned>(nodes_of(t, t.present()).size());
  std::set<int> seen;
  for (unsigned i = 0; i < masks.size(); ++i) {
    SCOPED_TRACE("vector " + std::to_string(i) + " on " + masks[i].to_list());
    ASSERT_FALSE(masks[i].empty());
    unsigned first = masks[i].first();
    CpuMask core(t.nr_cpu_ids());
    for (unsigned sib : t.core_siblings(first))
      if (t.present().test_cpu(sib)) core.set_cpu(sib);
    EXPECT_EQ(masks[i], core);
    if (i >= kc) {
      EXPECT_EQ(masks[i], masks[i - kc]);
      continue;
    }
    EXPECT_TRUE(seen.insert(t.core_of(first)).second) << "core used twice";
    if (i > 0 && i < nodes_with_cores) {
      EXPECT_LT(t.cpu_to_node(masks[i - 1].first()), t.cpu_to_node(first));
    }
  }
  if (masks.size() >= kc) {
    EXPECT_EQ(seen.size(), kc);
  }
}

void check_layout(const Topology& t, const PlanRequest& req, const Plan& plan) {
  SCOPED_TRACE(describe(req));
  check_common(t, req, plan);
  if (::testing::Test::HasFatalFailure()) return;
  for (const VectorPlacement& v : plan.vectors) EXPECT_FALSE(v.managed) << "vector " << v.index;
  const Ids present = t.present().to_vector();
  ASSERT_EQ(plan.masks_per_set.size(), std::max<std::size_t>(1, req.sets.size()));
  for (std::size_t s = 0; s < plan.masks_per_set.size(); ++s) {
    const SetSpan span = set_spans(req, plan)[s];
    SCOPED_TRACE("set " + std::to_string(s));
    ASSERT_EQ(span.filled, span.size);  // a layout fills every vector
    std::vector<CpuMask> masks;
    for (unsigned j = 0; j < span.size; ++j) {
      const VectorPlacement& v = plan.vectors[span.first + j];
      EXPECT_EQ(v.role, VectorRole::kSpread);
      EXPECT_EQ(v.set, static_cast<int>(s));
      masks.push_back(v.cpus);
    }
    switch (req.planner) {
      case PlannerKind::kCompact: check_compact(t, masks); break;
      case PlannerKind::kPerCore: check_per_core(t, masks); break;
      case PlannerKind::kSingle:
        for (unsigned j = 0; j < span.size; ++j)
          EXPECT_EQ(masks[j].to_vector(), (Ids{present.front()})) << "vector " << j;
        break;
      case PlannerKind::kRoundRobin:
        for (unsigned j = 0; j < span.size; ++j)
          EXPECT_EQ(masks[j].to_vector(), (Ids{present[j % present.size()]})) << "vector " << j;
        break;
      case PlannerKind::kKernel: FAIL() << "not a layout";
    }
  }
}

TEST_P(RealTopology, LayoutsKeepTheirShape) {
  const Topology& t = *topo_;
  for (PlannerKind planner :
       {PlannerKind::kCompact, PlannerKind::kPerCore, PlannerKind::kSingle, PlannerKind::kRoundRobin}) {
    for (unsigned n : vector_counts(t)) {
      for (const PlanRequest& req : requests_for(n, planner)) {
        Plan p = plan(req);
        check_layout(t, req, p);
        if (HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Machines, RealTopology, ::testing::ValuesIn(kMachines), test_name);

// ---------------------------------------------------------------------------
// Offline CPUs on the 4-socket, 2-core, 2-thread machine (siblings i and
// i+8). CPUs 3, 6, 11, 14 and 15 are possible but not present; the present
// ones are 0-2,4-5,7-10,12-13 (11 CPUs).
class OfflineCpus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(kTopologyDir))
      GTEST_SKIP() << "no " << kTopologyDir << ": the real machines' topologies live in ../shared/topologies "
                   << "beside the clone";
    auto t = Topology::load(std::string("xml:") + kTopologyDir + "/16em64t-4s2c2t.xml");
    ASSERT_TRUE(t.ok()) << t.error().message;
    ASSERT_TRUE(t->mark_not_present({3, 6, 11, 14, 15}).ok());
    topo_.emplace(std::move(t).value());
  }

  std::vector<std::string> masks(unsigned vectors) {
    auto p = make_plan(*topo_, PlanRequest{vectors, 0, 0, {}, PlannerKind::kKernel});
    EXPECT_TRUE(p.ok());
    std::vector<std::string> out;
    if (!p.ok()) return out;
    for (const VectorPlacement& v : p->vectors) {
      out.push_back(v.cpus.to_list());
      EXPECT_TRUE(v.managed);
      // A mask of only offline CPUs has no one to serve it.
      EXPECT_EQ(v.serving_cpu < 0, !v.cpus.intersects(topo_->present())) << v.cpus.to_list();
    }
    return out;
  }

  std::optional<Topology> topo_;
};

// Four groups: the 11 present CPUs first, in groups of 3,3,3,2, each the
// lowest CPU left plus its sibling before the next lowest (core {1,9} is
// split by the end of group 0); then the 5 offline CPUs from group 0 again,
// in groups of 2,1,1,1, in id order since they have no known siblings.
TEST_F(OfflineCpus, PresentCpusAreGroupedFirst) {
  EXPECT_EQ(masks(4), (std::vector<std::string>{"0-1,3,6,8", "2,4,10-11", "5,7,13-14", "9,12,15"}));
}

// As many groups as CPUs: one present CPU per group in id order, then the
// offline CPUs in the groups after them.
TEST_F(OfflineCpus, OfflineCpusTakeTheGroupsAfterThePresentOnes) {
  EXPECT_EQ(masks(16), (std::vector<std::string>{"0", "1", "2", "4", "5", "7", "8", "9", "10", "12", "13", "3", "6",
                                                 "11", "14", "15"}));
}

// Twelve groups: 11 hold a present CPU each, the offline CPUs start at
// group 11 and wrap round to groups 0-3.
TEST_F(OfflineCpus, OfflineCpusWrapRoundToGroupZero) {
  EXPECT_EQ(masks(12),
            (std::vector<std::string>{"0,6", "1,11", "2,14", "4,15", "5", "7", "8", "9", "10", "12", "13", "3"}));
}

// The layouts place vectors only where a user could: on present CPUs.
// Also with CPU 0 offline, so the lowest present CPU is not the lowest
// possible one.
TEST_F(OfflineCpus, LayoutsUsePresentCpusOnly) {
  Topology without_0 = *topo_;
  ASSERT_TRUE(without_0.mark_not_present({0}).ok());
  for (const Topology* t : {&*topo_, &without_0}) {
    SCOPED_TRACE("present " + t->present().to_list());
    for (PlannerKind planner :
         {PlannerKind::kCompact, PlannerKind::kPerCore, PlannerKind::kSingle, PlannerKind::kRoundRobin}) {
      for (unsigned n : {1U, 4U, 11U, 16U, 20U}) {
        for (const PlanRequest& req : requests_for(n, planner)) {
          auto p = make_plan(*t, req);
          ASSERT_TRUE(p.ok()) << p.error().message;
          check_layout(*t, req, *p);
          for (const VectorPlacement& v : p->vectors) {
            if (v.role == VectorRole::kSpread) {
              EXPECT_TRUE(v.cpus.is_subset_of(t->present())) << v.cpus.to_list();
            }
          }
        }
      }
    }
  }
  auto single = make_plan(without_0, PlanRequest{3, 0, 0, {}, PlannerKind::kSingle});
  ASSERT_TRUE(single.ok());
  for (const VectorPlacement& v : single->vectors) EXPECT_EQ(v.cpus.to_list(), "1");
  // Exact values. hwloc orders the cores {0,8} {4,12} | {1,9} {5,13} |
  // {2,10} {6,14} | {3,11} {7,15} (package by package); {6,14} and {3,11}
  // are wholly offline and {7,15} keeps only 7.
  auto lists = [&](PlannerKind planner, unsigned n) {
    std::vector<std::string> out;
    auto p = make_plan(*topo_, PlanRequest{n, 0, 0, {}, planner});
    EXPECT_TRUE(p.ok());
    if (p.ok())
      for (const VectorPlacement& v : p->vectors) out.push_back(v.cpus.to_list());
    return out;
  };
  using Lists = std::vector<std::string>;
  EXPECT_EQ(lists(PlannerKind::kPerCore, 8), (Lists{"0,8", "4,12", "1,9", "5,13", "2,10", "7", "0,8", "4,12"}));
  EXPECT_EQ(lists(PlannerKind::kCompact, 12), (Lists{"0", "8", "4", "12", "1", "9", "5", "13", "2", "10", "7", "0"}));
  EXPECT_EQ(lists(PlannerKind::kRoundRobin, 12),
            (Lists{"0", "1", "2", "4", "5", "7", "8", "9", "10", "12", "13", "0"}));
  EXPECT_EQ(lists(PlannerKind::kSingle, 3), (Lists{"0", "0", "0"}));
}

// ---------------------------------------------------------------------------
// Exact masks where the kernel lines part, on real machines.

class KernelLines : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(kTopologyDir))
      GTEST_SKIP() << "no " << kTopologyDir << ": the real machines' topologies live in ../shared/topologies "
                   << "beside the clone";
  }

  static std::vector<std::string> masks(const char* file, unsigned vectors, const char* kernel) {
    auto t = Topology::load(std::string("xml:") + kTopologyDir + "/" + file);
    EXPECT_TRUE(t.ok()) << t.error().message;
    std::vector<std::string> out;
    if (!t.ok()) return out;
    auto k = parse_kernel_version(kernel);
    EXPECT_TRUE(k.ok());
    auto p = make_plan(*t, PlanRequest{vectors, 0, 0, {}, PlannerKind::kKernel, k.value()});
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return out;
    for (const VectorPlacement& v : p->vectors) {
      out.push_back(v.cpus.to_list());
      EXPECT_TRUE(v.managed);
    }
    return out;
  }
};

using Lists = std::vector<std::string>;

// 8 nodes of 2 CPUs (n0 = 2-3, n1 = 0-1, n2 = 4-5, n3 = 10-11, n4 = 8-9,
// n5 = 6-7, n6 = 12-13, n7 = 14-15), 16 vectors: 2 groups of one CPU per
// node, nodes in the sort's order of 8 equal keys: [1,2,3,4,5,6,7,0] up to
// v6.10, [1,3,4,5,6,7,2,0] from v6.11. From v6.19 each CPU is a cluster
// (own core and L2), the node's two clusters tie and come out second first.
TEST_F(KernelLines, EightEqualNodesOn16amd64) {
  const char* file = "16amd64-4distances.xml";
  EXPECT_EQ(masks(file, 16, "6.1"),
            (Lists{"0", "1", "4", "5", "10", "11", "8", "9", "6", "7", "12", "13", "14", "15", "2", "3"}));
  const Lists double_pop{"0", "1", "10", "11", "8", "9", "6", "7", "12", "13", "14", "15", "4", "5", "2", "3"};
  EXPECT_EQ(masks(file, 16, "6.12.117+deb12-amd64"), double_pop);
  EXPECT_EQ(masks(file, 16, "6.18"), double_pop);
  EXPECT_EQ(masks(file, 16, "6.19"),
            (Lists{"1", "0", "11", "10", "9", "8", "7", "6", "13", "12", "15", "14", "5", "4", "3", "2"}));
  // 8 vectors <= 8 nodes: whole nodes in id order, whatever the line.
  for (const char* k : {"6.1", "6.12", "6.18", "6.19"})
    EXPECT_EQ(masks(file, 8, k), (Lists{"2-3", "0-1", "4-5", "10-11", "8-9", "6-7", "12-13", "14-15"})) << k;
}

// One node: 6 P-cores of 2 threads, each core its own L2 (0-1, ..., 10-11),
// and 8 E-cores in two L2 clusters (12-15, 16-19). 8 groups of 20 CPUs.
// v6.18: sizes 3,3,3,3,2,2,2,2, taken core by core from CPU 0.
// v6.19: 8 clusters <= 8 groups. Keys {2,2,2,2,2,2,4,4} (clusters in CPU
// order) come out [2,1,4,5,0,3,7,6] and each cluster gets one group:
// max(1, 8*2/20) = 1 for every P-core, then 2*4/8 = 1 and 1*4/4 = 1.
TEST_F(KernelLines, ClustersOnTheHybridI7) {
  const char* file = "20em64t-hybrid-1p6c2t+2ca4co1t.xml";
  EXPECT_EQ(masks(file, 8, "6.18"), (Lists{"0-2", "3-5", "6-8", "9-11", "12-13", "14-15", "16-17", "18-19"}));
  EXPECT_EQ(masks(file, 8, "6.19"), (Lists{"4-5", "2-3", "8-9", "10-11", "0-1", "6-7", "16-19", "12-15"}));
}

}  // namespace
}  // namespace irqd
