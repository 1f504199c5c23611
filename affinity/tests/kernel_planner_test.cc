// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel planner against masks worked out by hand from each kernel
// line's kernel/irq/affinity.c (irq_create_affinity_masks) and
// lib/group_cpus.c (group_cpus_evenly), with lib/sort.c's heapsort ordering
// the NUMA nodes. The default is Linux v6.18; cases that differ between
// lines say which line they follow. Each case says how its masks come
// about: which node is visited first, how many groups each node gets
// (max(1, numgrps * ncpus / remaining_ncpus)) and how many CPUs each group
// takes.
//
// Node orders used below, traced through lib/sort.c with the comparator
// (int)(l.ncpus - r.ncpus) (absent / CPU-less ids hold UINT_MAX and compare
// as -1), one-pop (up to v6.10) / double-pop (v6.11 on; kernel_sort_test
// has the traces):
//   keys {a,a}           -> ids [1,0] / [1,0]
//   keys {a,a,a}         -> [1,2,0] / [2,1,0]
//   keys {a,a,a,a}       -> [1,2,3,0] / [1,3,2,0]
//   keys 8 x {a}         -> [1,2,3,4,5,6,7,0] / [1,3,4,5,6,7,2,0]
//   keys {a,MAX,a}       -> [1,2,0] / [1,2,0]
//   keys {MAX,a,a}       -> [0,2,1] / [0,1,2]
//   keys {MAX,MAX,a,a}   -> [0,1,2,3] / [0,1,3,2]
//   keys {a,a,a,MAX}     -> [3,2,1,0] / [3,1,2,0]
//   keys {a,a,MAX,a}     -> [2,1,3,0] / [2,3,1,0]
//   keys {1,1,6}         -> [1,0,2] / [0,1,2]
//   keys {2,4,2}         -> [0,2,1] / [2,0,1]
//   keys {4,2,4}         -> [1,2,0] / [1,2,0]
// Distinct keys simply come out ascending.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "affinity/kernel_version.h"
#include "affinity/plan.h"
#include "affinity/topology.h"

namespace irqd {
namespace {

using Lists = std::vector<std::string>;

Topology Must(Result<Topology> t) {
  if (!t.ok()) {
    ADD_FAILURE() << t.error().message;
    std::abort();
  }
  return std::move(t).value();
}

Topology Synthetic(const std::string& text) { return Must(Topology::load("synthetic:" + text)); }

// CPUs first..last, all on `node`; with smt > 1 every `smt` consecutive ids
// (id / smt) share a core, otherwise each CPU is a core of its own.
struct Span {
  unsigned node;
  unsigned first;
  unsigned last;
};

Topology FromSpans(const std::vector<Span>& spans, std::vector<unsigned> node_ids, unsigned smt = 1) {
  std::vector<CpuDesc> cpus;
  for (const Span& s : spans) {
    for (unsigned id = s.first; id <= s.last; ++id) {
      int core = smt > 1 ? static_cast<int>(id / smt) : -1;
      cpus.push_back(CpuDesc{id, s.node, core, static_cast<int>(s.node), -1});
    }
  }
  return Must(Topology::from_cpus(std::move(cpus), std::move(node_ids), "test"));
}

Topology Offline(Topology topo, const std::vector<unsigned>& cpus) {
  Status s = topo.mark_not_present(cpus);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return topo;
}

// One release per generation: the last of its line, or the first of the
// newest.
const KernelVersion k610{6, 10, 0, "6.10"};  // one-pop sort, empty unfilled masks
const KernelVersion k615{6, 15, 0, "6.15"};  // double-pop sort
const KernelVersion k618{6, 18, 0, "6.18"};  // nr_masks: sets packed
const KernelVersion k619{6, 19, 0, "6.19"};  // cluster-aware

Plan KernelPlan(const Topology& topo, unsigned vectors, unsigned pre = 0, unsigned post = 0,
                std::vector<unsigned> sets = {}, const KernelVersion& kernel = k618) {
  auto plan = make_plan(topo, PlanRequest{vectors, pre, post, std::move(sets), PlannerKind::kKernel, kernel});
  if (!plan.ok()) {
    ADD_FAILURE() << plan.error().message;
    return Plan{};
  }
  return std::move(plan).value();
}

// cpus: the cpulist of every vector; managed: one character per vector,
// 'M' managed, '.' not managed.
void ExpectMasks(const Plan& plan, const Lists& cpus, std::string_view managed) {
  ASSERT_EQ(cpus.size(), managed.size()) << "bad expectation";
  Lists got_cpus;
  std::string got_managed;
  for (const VectorPlacement& v : plan.vectors) {
    got_cpus.push_back(v.cpus.to_list());
    got_managed += v.managed ? 'M' : '.';
  }
  EXPECT_EQ(got_cpus, cpus);
  EXPECT_EQ(got_managed, managed);
}

// Topologies used by several cases.
constexpr const char* kOneNode8 = "core:8 pu:1";                                // 0-7, no SMT
constexpr const char* kOneNode4 = "core:4 pu:1";                                // 0-3, no SMT
constexpr const char* kOneNodeSmt = "core:4 pu:2";                              // cores {0,1},{2,3},...
constexpr const char* kOneNodeSmtFar = "core:4 pu:2(indexes=0,4,1,5,2,6,3,7)";  // cores {0,4},{1,5},...
constexpr const char* kTwoNodesSmt = "pack:2 [numa] core:4 pu:2";               // n0 0-7, n1 8-15
constexpr const char* kTwoNodesNoSmt = "pack:2 [numa] core:4 pu:1";             // n0 0-3, n1 4-7
constexpr const char* kThreeNodes = "pack:3 [numa] core:2 pu:2";                // 0-3, 4-7, 8-11
constexpr const char* kFourNodes = "pack:4 [numa] core:2 pu:2";                 // 0-3 ... 12-15
// n0 = 0-3,8-11 and n1 = 4-7,12-15; siblings i and i+8.
constexpr const char* kTwoNodesSmtFar = "pack:2 [numa] core:4 pu:2(indexes=0,8,1,9,2,10,3,11,4,12,5,13,6,14,7,15)";

// ---------------------------------------------------------------------------
// One node.

TEST(KernelPlanner, OneNodeSingleVectorTakesWholeNode) {
  // numgrps 1 <= 1 node: the node's CPUs go whole into group 0.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 1), {"0-7"}, "M");
}

TEST(KernelPlanner, OneNodeOneCpuPerVector) {
  // ngroups = 8*8/8 = 8, cpus_per_grp 1.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 8), {"0", "1", "2", "3", "4", "5", "6", "7"}, "MMMMMMMM");
}

TEST(KernelPlanner, OneNodeEvenPairs) {
  // ngroups 4, cpus_per_grp 8/4 = 2, no extra.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 4), {"0-1", "2-3", "4-5", "6-7"}, "MMMM");
}

TEST(KernelPlanner, OneNodeThreeGroupsExtraFirst) {
  // ngroups 3: 8/3 = 2, extra_grps 8-6 = 2, so sizes 3,3,2.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 3), {"0-2", "3-5", "6-7"}, "MMM");
}

TEST(KernelPlanner, OneNodeFiveGroupsThreeExtra) {
  // ngroups 5: 8/5 = 1, extra_grps 3, so sizes 2,2,2,1,1.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 5), {"0-1", "2-3", "4-5", "6", "7"}, "MMMMM");
}

TEST(KernelPlanner, OneNodeAdjacentSmtThreeGroups) {
  // Sizes 3,3,2. g0: 0,sib 1, then 2. g1: 3 (sib 2 gone), 4, sib 5. g2: 6,7.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmt), 3), {"0-2", "3-5", "6-7"}, "MMM");
}

TEST(KernelPlanner, OneNodeAdjacentSmtPairs) {
  // Sizes 2: each group is one core, 0 with sibling 1, and so on.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmt), 4), {"0-1", "2-3", "4-5", "6-7"}, "MMMM");
}

TEST(KernelPlanner, OneNodeFarSmtPairsFollowSiblings) {
  // Sizes 2: lowest CPU then its sibling i+4: {0,4}, {1,5}, {2,6}, {3,7}.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmtFar), 4), {"0,4", "1,5", "2,6", "3,7"}, "MMMM");
}

TEST(KernelPlanner, OneNodeFarSmtThreeGroups) {
  // Sizes 3,3,2. g0: 0,sib 4, then 1 (quota used, 5 stays). g1: 2,sib 6, then 3.
  // g2: what is left, 5 then 7.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmtFar), 3), {"0-1,4", "2-3,6", "5,7"}, "MMM");
}

TEST(KernelPlanner, OneNodeFarSmtFiveGroups) {
  // Sizes 2,2,2,1,1: three sibling pairs, then 3 alone and 7 alone.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmtFar), 5), {"0,4", "1,5", "2,6", "3", "7"}, "MMMMM");
}

TEST(KernelPlanner, OneNodeFarSmtTwoGroups) {
  // Sizes 4: {0,4} then {1,5}; {2,6} then {3,7}.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmtFar), 2), {"0-1,4-5", "2-3,6-7"}, "MM");
}

TEST(KernelPlanner, OneNodeFourWayFarSmt) {
  // Cores {0,2,4,6} and {1,3,5,7}; sizes 3,3,2. g0: 0,2,4. g1: 1,3,5. g2: 6,7.
  ExpectMasks(KernelPlan(Synthetic("core:2 pu:4(indexes=0,2,4,6,1,3,5,7)"), 3), {"0,2,4", "1,3,5", "6-7"}, "MMM");
}

TEST(KernelPlanner, OneNodeMoreVectorsThanCpus) {
  // numgrps clamped to 4 CPUs: 4 masks of one CPU; vectors 4,5 are unfilled:
  // all CPUs, still managed.
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 6), {"0", "1", "2", "3", "0-3", "0-3"}, "MMMMMM");
}

// ---------------------------------------------------------------------------
// Two equal nodes: heapsort puts node 1 first.

TEST(KernelPlanner, TwoNodesFourGroupsNodeOneFirst) {
  // Order [1,0]. n1: 4*8/16 = 2 groups; n0: 2*8/8 = 2. 4 CPUs per group.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 4), {"8-11", "12-15", "0-3", "4-7"}, "MMMM");
}

TEST(KernelPlanner, TwoNodesOneCpuPerVector) {
  // Order [1,0], 8 groups each of 1 CPU: n1 gets groups 0-7, n0 groups 8-15.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 16),
              {"8", "9", "10", "11", "12", "13", "14", "15", "0", "1", "2", "3", "4", "5", "6", "7"},
              "MMMMMMMMMMMMMMMM");
}

TEST(KernelPlanner, TwoNodesTwoGroupsWholeNodesInIdOrder) {
  // numgrps 2 <= 2 nodes: no sort, whole nodes in ascending id order.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 2), {"0-7", "8-15"}, "MM");
}

TEST(KernelPlanner, TwoNodesOneGroupWrapsBothNodesIntoIt) {
  // numgrps 1 <= 2 nodes: n0 into g0, curgrp wraps to 0, n1 into g0 too.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 1), {"0-15"}, "M");
}

TEST(KernelPlanner, TwoNodesThreeGroups) {
  // Order [1,0]. n1: max(1, 3*8/16 = 1) = 1 group of 8; n0: 2*8/8 = 2 groups of 4.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 3), {"8-15", "0-3", "4-7"}, "MMM");
}

TEST(KernelPlanner, TwoNodesFiveGroups) {
  // n1: 5*8/16 = 2 groups of 4. n0: 3*8/8 = 3 groups, sizes 3,3,2:
  // g2 0,1,2; g3 3 (sib 2 gone),4,5; g4 6,7.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 5), {"8-11", "12-15", "0-2", "3-5", "6-7"}, "MMMMM");
}

TEST(KernelPlanner, TwoNodesSevenGroups) {
  // n1: 7*8/16 = 3 groups, sizes 3,3,2: 8,9,10 / 11,12,13 / 14,15.
  // n0: 4*8/8 = 4 groups of 2.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 7), {"8-10", "11-13", "14-15", "0-1", "2-3", "4-5", "6-7"},
              "MMMMMMM");
}

TEST(KernelPlanner, TwoNodesFarSmtFourGroups) {
  // Order [1,0]; n1 = 4-7,12-15 gets 2 groups of 4: {4,12,5,13}, {6,14,7,15};
  // n0 = 0-3,8-11 gets {0,8,1,9}, {2,10,3,11}.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmtFar), 4), {"4-5,12-13", "6-7,14-15", "0-1,8-9", "2-3,10-11"}, "MMMM");
}

TEST(KernelPlanner, TwoNodesFarSmtSiblingPairs) {
  // 4 groups per node, 2 CPUs each: a CPU and its sibling i+8; n1 first.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmtFar), 8), {"4,12", "5,13", "6,14", "7,15", "0,8", "1,9", "2,10", "3,11"},
              "MMMMMMMM");
}

TEST(KernelPlanner, TwoNodesFarSmtSixGroups) {
  // 3 groups per node, sizes 3,3,2. n1: {4,12,5}, {6,14,7}, {13,15};
  // n0: {0,8,1}, {2,10,3}, {9,11}.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmtFar), 6), {"4-5,12", "6-7,14", "13,15", "0-1,8", "2-3,10", "9,11"},
              "MMMMMM");
}

TEST(KernelPlanner, TwoNodesFarSmtTenGroups) {
  // 10*8/16 = 5 groups per node: 8/5 = 1, extra 3: sizes 2,2,2,1,1.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmtFar), 10),
              {"4,12", "5,13", "6,14", "7", "15", "0,8", "1,9", "2,10", "3", "11"}, "MMMMMMMMMM");
}

TEST(KernelPlanner, TwoNodesFarSmtTwoGroupsWholeNodes) {
  // numgrps 2 <= 2 nodes: whole nodes, id order.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmtFar), 2), {"0-3,8-11", "4-7,12-15"}, "MM");
}

TEST(KernelPlanner, TwoNodesNoSmtSixGroups) {
  // n1 (4-7): 6*4/8 = 3 groups, 4/3 = 1 extra 1: 4-5, 6, 7. n0 (0-3) likewise.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 6), {"4-5", "6", "7", "0-1", "2", "3"}, "MMMMMM");
}

TEST(KernelPlanner, TwoNodesMoreVectorsThanCpus) {
  // numgrps clamped to 8: n1 4 groups, n0 4 groups, 1 CPU each; 8 masks, the
  // last 2 of 10 vectors unfilled (all CPUs, managed).
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 10), {"4", "5", "6", "7", "0", "1", "2", "3", "0-7", "0-7"},
              "MMMMMMMMMM");
}

// ---------------------------------------------------------------------------
// Uneven nodes: proportional shares, the max(1, ...) floor, smaller first.

TEST(KernelPlanner, UnevenSmallLowNodeFourGroups) {
  // n0 = 0-1, n1 = 2-7. Keys {2,6}: n0 first, max(1, 4*2/8 = 1) = 1; n1: 3*6/6 = 3.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 1}, {1, 2, 7}}, {0, 1}), 4), {"0-1", "2-3", "4-5", "6-7"}, "MMMM");
}

TEST(KernelPlanner, UnevenSmallLowNodeFloorsToOneGroup) {
  // n0: 3*2/8 = 0 -> floor 1 (0-1); n1: 2*6/6 = 2 groups of 3.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 1}, {1, 2, 7}}, {0, 1}), 3), {"0-1", "2-4", "5-7"}, "MMM");
}

TEST(KernelPlanner, UnevenSmallHighNodeGoesFirst) {
  // n0 = 0-5, n1 = 6-7. Keys {6,2}: n1 first, 4*2/8 = 1 group (6-7);
  // n0: 3*6/6 = 3 groups of 2.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 5}, {1, 6, 7}}, {0, 1}), 4), {"6-7", "0-1", "2-3", "4-5"}, "MMMM");
}

TEST(KernelPlanner, UnevenOneCpuNodeThreeGroups) {
  // n0 = 0, n1 = 1-7. n0: max(1, 3*1/8 = 0) = 1; n1: 2*7/7 = 2, 7/2 = 3 extra 1: 4,3.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 0}, {1, 1, 7}}, {0, 1}), 3), {"0", "1-4", "5-7"}, "MMM");
}

TEST(KernelPlanner, UnevenOneCpuNodeTwoGroupsWholeNodes) {
  // numgrps 2 <= 2 nodes: whole nodes in id order, however uneven.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 0}, {1, 1, 7}}, {0, 1}), 2), {"0", "1-7"}, "MM");
}

TEST(KernelPlanner, UnevenThreeNodesDescendingSizes) {
  // n0 = 0-3, n1 = 4-6, n2 = 7; order [2,1,0]. n2: max(1, 5*1/8) = 1; n1:
  // 4*3/7 = 1 (all of 4-6); n0: 3*4/4 = 3, 4/3 = 1 extra 1: 0-1, 2, 3.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 3}, {1, 4, 6}, {2, 7, 7}}, {0, 1, 2}), 5), {"7", "4-6", "0-1", "2", "3"},
              "MMMMM");
}

TEST(KernelPlanner, UnevenTwoSingleCpuNodesBothFloored) {
  // n0 = 0, n1 = 1, n2 = 2-7; keys {1,1,6} -> [0,1,2] from v6.11. n0:
  // max(1, 4*1/8) = 1; n1: max(1, 3*1/7) = 1; n2: 2*6/6 = 2 groups of 3.
  Topology t = FromSpans({{0, 0, 0}, {1, 1, 1}, {2, 2, 7}}, {0, 1, 2});
  ExpectMasks(KernelPlan(t, 4), {"0", "1", "2-4", "5-7"}, "MMMM");
  // Up to v6.10: [1,0,2], n1 first.
  ExpectMasks(KernelPlan(t, 4, 0, 0, {}, k610), {"1", "0", "2-4", "5-7"}, "MMMM");
}

TEST(KernelPlanner, UnevenEqualOuterNodes) {
  // n0 = 0-1, n1 = 2-5, n2 = 6-7; keys {2,4,2} -> [2,0,1] from v6.11. n2:
  // 4*2/8 = 1; n0: 3*2/6 = 1; n1: 2*4/4 = 2 groups of 2.
  Topology t = FromSpans({{0, 0, 1}, {1, 2, 5}, {2, 6, 7}}, {0, 1, 2});
  ExpectMasks(KernelPlan(t, 4), {"6-7", "0-1", "2-3", "4-5"}, "MMMM");
  // Up to v6.10: [0,2,1], n0 then n2.
  ExpectMasks(KernelPlan(t, 4, 0, 0, {}, k610), {"0-1", "6-7", "2-3", "4-5"}, "MMMM");
}

TEST(KernelPlanner, UnevenSmallMiddleNode) {
  // n0 = 0-3, n1 = 4-5, n2 = 6-9; keys {4,2,4} -> [1,2,0]. n1: 5*2/10 = 1;
  // n2: 4*4/8 = 2; n0: 2*4/4 = 2. Groups of 2.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 3}, {1, 4, 5}, {2, 6, 9}}, {0, 1, 2}), 5),
              {"4-5", "6-7", "8-9", "0-1", "2-3"}, "MMMMM");
}

TEST(KernelPlanner, UnevenWithSmt) {
  // n0 = 0-3, n1 = 4-15, SMT pairs (2k, 2k+1). n0: 5*4/16 = 1 (0-3);
  // n1: 4*12/12 = 4 groups of 3: 4,5,6 / 7,8,9 / 10,11,12 / 13,14,15.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 3}, {1, 4, 15}}, {0, 1}, 2), 5), {"0-3", "4-6", "7-9", "10-12", "13-15"},
              "MMMMM");
}

// ---------------------------------------------------------------------------
// Three and four equal nodes.

TEST(KernelPlanner, ThreeNodesSixGroups) {
  // From v6.11, order [2,1,0]; 6*4/12 = 2, 4*4/8 = 2, 2*4/4 = 2 groups of 2.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 6), {"8-9", "10-11", "4-5", "6-7", "0-1", "2-3"}, "MMMMMM");
  // Up to v6.10, order [1,2,0].
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 6, 0, 0, {}, k610), {"4-5", "6-7", "8-9", "10-11", "0-1", "2-3"},
              "MMMMMM");
}

TEST(KernelPlanner, ThreeNodesFourGroups) {
  // From v6.11, order [2,1,0]; n2: 4*4/12 = 1; n1: 3*4/8 = 1; n0: 2*4/4 = 2.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 4), {"8-11", "4-7", "0-1", "2-3"}, "MMMM");
  // Up to v6.10, order [1,2,0]: n1, n2, n0.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 4, 0, 0, {}, k610), {"4-7", "8-11", "0-1", "2-3"}, "MMMM");
}

TEST(KernelPlanner, ThreeNodesFiveGroups) {
  // From v6.11, order [2,1,0]; n2: 5*4/12 = 1; n1: 4*4/8 = 2; n0: 2*4/4 = 2.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 5), {"8-11", "4-5", "6-7", "0-1", "2-3"}, "MMMMM");
  // Up to v6.10, order [1,2,0]; n1: 5*4/12 = 1; n2: 4*4/8 = 2; n0: 2.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 5, 0, 0, {}, k610), {"4-7", "8-9", "10-11", "0-1", "2-3"}, "MMMMM");
}

TEST(KernelPlanner, ThreeNodesThreeGroupsWholeNodes) {
  // numgrps 3 <= 3 nodes: one whole node per group, id order.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 3), {"0-3", "4-7", "8-11"}, "MMM");
}

TEST(KernelPlanner, ThreeNodesTwoGroupsWrap) {
  // numgrps 2 <= 3 nodes: n0 -> g0, n1 -> g1, n2 wraps into g0.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 2), {"0-3,8-11", "4-7"}, "MM");
}

TEST(KernelPlanner, ThreeNodesOneCpuPerVector) {
  // From v6.11, order [2,1,0], 4 groups of 1 CPU per node.
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 12), {"8", "9", "10", "11", "4", "5", "6", "7", "0", "1", "2", "3"},
              "MMMMMMMMMMMM");
  // Up to v6.10, order [1,2,0].
  ExpectMasks(KernelPlan(Synthetic(kThreeNodes), 12, 0, 0, {}, k610),
              {"4", "5", "6", "7", "8", "9", "10", "11", "0", "1", "2", "3"}, "MMMMMMMMMMMM");
}

TEST(KernelPlanner, FourNodesEightGroups) {
  // From v6.11, order [1,3,2,0]; 2 groups of 2 per node.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 8), {"4-5", "6-7", "12-13", "14-15", "8-9", "10-11", "0-1", "2-3"},
              "MMMMMMMM");
  // Up to v6.10, order [1,2,3,0].
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 8, 0, 0, {}, k610),
              {"4-5", "6-7", "8-9", "10-11", "12-13", "14-15", "0-1", "2-3"}, "MMMMMMMM");
}

TEST(KernelPlanner, FourNodesSixGroups) {
  // From v6.11, order [1,3,2,0]; n1: 6*4/16 = 1; n3: 5*4/12 = 1; n2: 4*4/8 = 2;
  // n0: 2.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 6), {"4-7", "12-15", "8-9", "10-11", "0-1", "2-3"}, "MMMMMM");
  // Up to v6.10, order [1,2,3,0]; n1 1, n2 1, n3 2, n0 2.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 6, 0, 0, {}, k610), {"4-7", "8-11", "12-13", "14-15", "0-1", "2-3"},
              "MMMMMM");
}

TEST(KernelPlanner, FourNodesFiveGroups) {
  // From v6.11, order [1,3,2,0]; n1: 5*4/16 = 1; n3: 4*4/12 = 1; n2: 3*4/8 = 1;
  // n0: 2*4/4 = 2.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 5), {"4-7", "12-15", "8-11", "0-1", "2-3"}, "MMMMM");
  // Up to v6.10, order [1,2,3,0].
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 5, 0, 0, {}, k610), {"4-7", "8-11", "12-15", "0-1", "2-3"}, "MMMMM");
}

TEST(KernelPlanner, FourNodesFourGroupsWholeNodes) {
  // numgrps 4 <= 4 nodes: one whole node per group.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 4), {"0-3", "4-7", "8-11", "12-15"}, "MMMM");
}

TEST(KernelPlanner, FourNodesThreeGroupsWrap) {
  // numgrps 3 <= 4 nodes: n0 -> g0, n1 -> g1, n2 -> g2, n3 wraps into g0.
  ExpectMasks(KernelPlan(Synthetic(kFourNodes), 3), {"0-3,12-15", "4-7", "8-11"}, "MMM");
}

// ---------------------------------------------------------------------------
// Sparse node ids and CPU-less nodes (UINT_MAX entries in the sort).

TEST(KernelPlanner, SparseNodeIdsHighNodeFirst) {
  // Nodes 0 (0-3) and 2 (4-7), no node 1: keys {4,MAX,4} -> [1,2,0], so n2
  // first with 4*4/8 = 2 groups, then n0 with 2.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 3}, {2, 4, 7}}, {0, 2}), 4), {"4-5", "6-7", "0-1", "2-3"}, "MMMM");
}

TEST(KernelPlanner, SparseNodeIdsWholeNodes) {
  // numgrps 2 <= 2 nodes with CPUs: whole nodes, id order (0 then 2).
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 3}, {2, 4, 7}}, {0, 2}), 2), {"0-3", "4-7"}, "MM");
}

TEST(KernelPlanner, SparseHighNodeIdsHighNodeFirst) {
  // Nodes 2 (0-3) and 3 (4-7) only: keys {MAX,MAX,4,4} -> [0,1,3,2] from
  // v6.11, so n3 goes first: 2 groups of 2 each.
  Topology t = FromSpans({{2, 0, 3}, {3, 4, 7}}, {2, 3});
  ExpectMasks(KernelPlan(t, 4), {"4-5", "6-7", "0-1", "2-3"}, "MMMM");
  // Up to v6.10: [0,1,2,3], so n2, the lower id, goes first.
  ExpectMasks(KernelPlan(t, 4, 0, 0, {}, k610), {"0-1", "2-3", "4-5", "6-7"}, "MMMM");
}

TEST(KernelPlanner, CpulessNodeZero) {
  // Node 0 memory-only, n1 = 0-3, n2 = 4-7: keys {MAX,4,4} -> [0,1,2] from
  // v6.11: n1 first.
  Topology t = FromSpans({{1, 0, 3}, {2, 4, 7}}, {0, 1, 2});
  ExpectMasks(KernelPlan(t, 4), {"0-1", "2-3", "4-5", "6-7"}, "MMMM");
  // Up to v6.10: [0,2,1]: n2 first.
  ExpectMasks(KernelPlan(t, 4, 0, 0, {}, k610), {"4-5", "6-7", "0-1", "2-3"}, "MMMM");
}

TEST(KernelPlanner, CpulessLastNode) {
  // n0 = 0-3, n1 = 4-7, n2 = 8-11, n3 memory-only: keys {4,4,4,MAX} ->
  // [3,1,2,0] from v6.11, so n1, n2, n0 (without n3 it would be n2, n1, n0);
  // 2 groups each.
  Topology t = FromSpans({{0, 0, 3}, {1, 4, 7}, {2, 8, 11}}, {0, 1, 2, 3});
  ExpectMasks(KernelPlan(t, 6), {"4-5", "6-7", "8-9", "10-11", "0-1", "2-3"}, "MMMMMM");
  // Up to v6.10: [3,2,1,0], so n2, n1, n0 (without n3: n1, n2, n0).
  ExpectMasks(KernelPlan(t, 6, 0, 0, {}, k610), {"8-9", "10-11", "4-5", "6-7", "0-1", "2-3"}, "MMMMMM");
}

TEST(KernelPlanner, CpulessMiddleNode) {
  // n0 = 0-1, n1 = 2-3, n2 memory-only, n3 = 4-5: keys {2,2,MAX,2} ->
  // [2,3,1,0] from v6.11: n3, n1, n0, each 2 groups of 1 CPU.
  Topology t = FromSpans({{0, 0, 1}, {1, 2, 3}, {3, 4, 5}}, {0, 1, 2, 3});
  ExpectMasks(KernelPlan(t, 6), {"4", "5", "2", "3", "0", "1"}, "MMMMMM");
  // Up to v6.10: [2,1,3,0]: n1, n3, n0.
  ExpectMasks(KernelPlan(t, 6, 0, 0, {}, k610), {"2", "3", "4", "5", "0", "1"}, "MMMMMM");
}

TEST(KernelPlanner, CpulessNodeWholeNodesWrap) {
  // numgrps 2 <= 3 nodes with CPUs (the memory-only n2 does not count):
  // n0 -> g0, n1 -> g1, n3 wraps into g0.
  ExpectMasks(KernelPlan(FromSpans({{0, 0, 1}, {1, 2, 3}, {3, 4, 5}}, {0, 1, 2, 3}), 2), {"0-1,4-5", "2-3"}, "MM");
}

// ---------------------------------------------------------------------------
// Pre and post vectors, and requests with nothing to spread.

TEST(KernelPlanner, PreAndPostVectors) {
  // Pre/post get all possible CPUs, unmanaged; the 4 between are spread as
  // in TwoNodesFourGroupsNodeOneFirst.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 6, 1, 1), {"0-15", "8-11", "12-15", "0-3", "4-7", "0-15"}, ".MMMM.");
}

TEST(KernelPlanner, TwoPreVectors) {
  // affvecs 2 on one node of 8: groups of 4.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 4, 2, 0), {"0-7", "0-7", "0-3", "4-7"}, "..MM");
}

TEST(KernelPlanner, TwoPostVectors) {
  // affvecs 3: sizes 3,3,2, then two unmanaged post vectors.
  ExpectMasks(KernelPlan(Synthetic(kOneNode8), 5, 0, 2), {"0-2", "3-5", "6-7", "0-7", "0-7"}, "MMM..");
}

TEST(KernelPlanner, PreVectorAndSingleSpreadVector) {
  // affvecs 1: numgrps 1 <= 2 nodes, both nodes OR'ed into it.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 2, 1, 0), {"0-15", "0-15"}, ".M");
}

TEST(KernelPlanner, VectorsEqualPrePlusPost) {
  // affvecs 0: irq_create_affinity_masks() returns NULL; all CPUs, unmanaged.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 3, 2, 1), {"0-15", "0-15", "0-15"}, "...");
}

TEST(KernelPlanner, VectorsBelowPrePlusPost) {
  // nvecs 3 < pre 2 + post 2: affvecs 0, NULL again.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 3, 2, 2), {"0-15", "0-15", "0-15"}, "...");
}

TEST(KernelPlanner, VectorsEqualPrePlusPostIncludesOfflineCpus) {
  // NULL: every vector gets all possible CPUs, the not-present 6-7 included.
  ExpectMasks(KernelPlan(Offline(Synthetic(kOneNodeSmt), {6, 7}), 2, 1, 1), {"0-7", "0-7"}, "..");
}

// ---------------------------------------------------------------------------
// Several sets: each grouped on its own over all CPUs.

TEST(KernelPlanner, TwoEqualSets) {
  // Each set of 4 is grouped as in TwoNodesFourGroupsNodeOneFirst.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 8, 0, 0, {4, 4}),
              {"8-11", "12-15", "0-3", "4-7", "8-11", "12-15", "0-3", "4-7"}, "MMMMMMMM");
}

TEST(KernelPlanner, ThreeSetsWithPreAndPost) {
  // Set of 2: whole nodes 0-7, 8-15. Set of 3: n1 1 group, n0 2 groups.
  // Set of 1: both nodes in one group.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 8, 1, 1, {2, 3, 1}),
              {"0-15", "0-7", "8-15", "8-15", "0-3", "4-7", "0-15", "0-15"}, ".MMMMMM.");
}

TEST(KernelPlanner, SecondSetStartsAfterFirstSetsMasks) {
  // 4 CPUs. Set of 6 gets 4 masks (v0-3); set 2 starts at v4, not v6, with
  // 2 groups of 2; v6-7 are unfilled: all CPUs, managed.
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 8, 0, 0, {6, 2}), {"0", "1", "2", "3", "0-1", "2-3", "0-3", "0-3"},
              "MMMMMMMM");
}

TEST(KernelPlanner, TwoShortSetsWithPreAndPost) {
  // 4 CPUs, sets {5,5}: 4 masks each at v1-4 and v5-8; usedvecs 8 < 10, so
  // v9-10 unfilled (managed) and v11 post (unmanaged).
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 12, 1, 1, {5, 5}),
              {"0-3", "0", "1", "2", "3", "0", "1", "2", "3", "0-3", "0-3", "0-3"}, ".MMMMMMMMMM.");
}

TEST(KernelPlanner, ThreeSetsFarSmt) {
  // Set of 4: sibling pairs; set of 2: two cores each; set of 1 on one node:
  // numgrps 1 <= 1 node, the whole node.
  ExpectMasks(KernelPlan(Synthetic(kOneNodeSmtFar), 7, 0, 0, {4, 2, 1}),
              {"0,4", "1,5", "2,6", "3,7", "0-1,4-5", "2-3,6-7", "0-7"}, "MMMMMMM");
}

// ---------------------------------------------------------------------------
// Possible-but-not-present CPUs: the second stage.

TEST(KernelPlanner, OfflineSecondStageWrapsToGroupZero) {
  // Present 0-5: 4 groups, 6/4 = 1 extra 2: 0-1, 2-3, 4, 5. nr_present 4 >= 4,
  // so stage 2 starts at g0: 6 -> g0, 7 -> g1 (2 groups of 1).
  ExpectMasks(KernelPlan(Offline(Synthetic(kOneNodeSmt), {6, 7}), 4), {"0-1,6", "2-3,7", "4", "5"}, "MMMM");
}

TEST(KernelPlanner, OfflineSecondStageStartsAfterPresentGroups) {
  // Present 0-3 fill g0-g3 (numgrps clamped to 4); stage 2 starts at g4: 4, 5,
  // then wraps: 6 -> g0, 7 -> g1.
  ExpectMasks(KernelPlan(Offline(Synthetic(kOneNode8), {4, 5, 6, 7}), 6), {"0,6", "1,7", "2", "3", "4", "5"}, "MMMMMM");
}

TEST(KernelPlanner, OfflineCpusIgnoreSiblings) {
  // Present {0,3,4,7}: g0 {0,4}, g1 {3,7}. Stage 2 over {1,2,5,6} from g0: not
  // present, so no siblings: g0 takes 1,2 and g1 takes 5,6 (not {1,5}/{2,6}).
  ExpectMasks(KernelPlan(Offline(Synthetic(kOneNodeSmtFar), {1, 2, 5, 6}), 2), {"0-2,4", "3,5-7"}, "MM");
}

TEST(KernelPlanner, OfflineAcrossTwoNodes) {
  // Present {0-2} and {4-6}: order [1,0], 2 groups each, 3/2 = 1 extra 1:
  // 4-5, 6, 0-1, 2. Stage 2 from g0 over {3,7}: n1 first, 7 -> g0, 3 -> g1.
  ExpectMasks(KernelPlan(Offline(Synthetic(kTwoNodesNoSmt), {3, 7}), 4), {"4-5,7", "3,6", "0-1", "2"}, "MMMM");
}

TEST(KernelPlanner, OfflineWholeNodesBothStages) {
  // numgrps 2 <= 2 nodes in both stages: present parts, then 3 -> g0, 7 -> g1.
  ExpectMasks(KernelPlan(Offline(Synthetic(kTwoNodesNoSmt), {3, 7}), 2), {"0-3", "4-7"}, "MM");
}

TEST(KernelPlanner, OfflineWholeNode) {
  // n1 (4-7) all offline. Stage 1, n0 only: 3 groups, sizes 2,1,1: 0-1, 2, 3.
  // nr_present 3 >= 3: stage 2 from g0, 3 groups of n1: 4-5, 6, 7.
  ExpectMasks(KernelPlan(Offline(Synthetic("pack:2 [numa] core:2 pu:2"), {4, 5, 6, 7}), 3), {"0-1,4-5", "2,6", "3,7"},
              "MMM");
}

TEST(KernelPlanner, OfflineSecondStageAcrossNodesWraps) {
  // Present {0,1} and {4,5}: numgrps clamped to 4, n1 then n0: g0 4, g1 5,
  // g2 0, g3 1. Stage 2 from g4: n1 6 -> g4, 7 -> g5; n0 wraps: 2 -> g0, 3 -> g1.
  ExpectMasks(KernelPlan(Offline(Synthetic(kTwoNodesNoSmt), {2, 3, 6, 7}), 6), {"2,4", "3,5", "0", "1", "6", "7"},
              "MMMMMM");
}

TEST(KernelPlanner, OfflineMoreVectorsThanCpus) {
  // Stage 1: {0} in g0. Stage 2 from g1: {1} in g1. nummasks min(2, 4) = 2;
  // v2-3 unfilled: all possible CPUs, managed.
  ExpectMasks(KernelPlan(Offline(Synthetic("core:2 pu:1"), {1}), 4), {"0", "1", "0-1", "0-1"}, "MMMM");
}

TEST(KernelPlanner, OfflineWithPreVector) {
  // The pre vector gets all possible CPUs (not-present 6-7 included); the
  // rest as in OfflineSecondStageWrapsToGroupZero.
  ExpectMasks(KernelPlan(Offline(Synthetic(kOneNodeSmt), {6, 7}), 5, 1, 0), {"0-7", "0-1,6", "2-3,7", "4", "5"},
              ".MMMM");
}

// ---------------------------------------------------------------------------
// Issue 12's tie orders: equal NUMA nodes, one-pop sort (up to v6.10) against
// double-pop (v6.11 on). Node k holds CPUs 2k and 2k+1; each node gets 2
// groups of one CPU. From v6.19 each CPU is a cluster of its own (no L2
// level: the core, here one PU), a node's two clusters tie and the
// double-pop sort puts the second first, so each node's two vectors swap.

struct TieCase {
  const KernelVersion* kernel;
  Lists masks;
};

void ExpectTies(const std::string& topo, unsigned vectors, const std::vector<TieCase>& cases) {
  for (const TieCase& c : cases) {
    SCOPED_TRACE("kernel " + c.kernel->text);
    ExpectMasks(KernelPlan(Synthetic(topo), vectors, 0, 0, {}, *c.kernel), c.masks, std::string(vectors, 'M'));
  }
}

TEST(KernelPlannerTies, FourEqualNodes) {
  // Nodes of the vectors: 1,1,2,2,3,3,0,0 up to v6.10; 1,1,3,3,2,2,0,0 after.
  const Lists one_pop{"2", "3", "4", "5", "6", "7", "0", "1"};
  const Lists double_pop{"2", "3", "6", "7", "4", "5", "0", "1"};
  const Lists clusters{"3", "2", "7", "6", "5", "4", "1", "0"};
  ExpectTies("numa:4 core:2 pu:1", 8, {{&k610, one_pop}, {&k615, double_pop}, {&k618, double_pop}, {&k619, clusters}});
}

TEST(KernelPlannerTies, ThreeEqualNodes) {
  // Node 1 first up to v6.10 ([1,2,0]); node 2 first after ([2,1,0]).
  const Lists one_pop{"2", "3", "4", "5", "0", "1"};
  const Lists double_pop{"4", "5", "2", "3", "0", "1"};
  const Lists clusters{"5", "4", "3", "2", "1", "0"};
  ExpectTies("numa:3 core:2 pu:1", 6, {{&k610, one_pop}, {&k615, double_pop}, {&k618, double_pop}, {&k619, clusters}});
}

TEST(KernelPlannerTies, EightEqualNodes) {
  // [1,2,3,4,5,6,7,0] up to v6.10; [1,3,4,5,6,7,2,0] after.
  const Lists one_pop{"2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "0", "1"};
  const Lists double_pop{"2", "3", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "4", "5", "0", "1"};
  const Lists clusters{"3", "2", "7", "6", "9", "8", "11", "10", "13", "12", "15", "14", "5", "4", "1", "0"};
  ExpectTies("numa:8 core:2 pu:1", 16, {{&k610, one_pop}, {&k615, double_pop}, {&k618, double_pop}, {&k619, clusters}});
}

TEST(KernelPlannerTies, TwoEqualNodesAgreeEverywhere) {
  // Two equal keys come out [1,0] from both sorts. Whole cores per group
  // (2 PUs, 2 groups per node), so from v6.19 too: a node has 4 clusters,
  // more than its 2 groups, and is grouped as before.
  for (const KernelVersion* k : {&k610, &k615, &k618, &k619}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 4, 0, 0, {}, *k), {"8-11", "12-15", "0-3", "4-7"}, "MMMM");
  }
}

TEST(KernelPlannerTies, WholeNodesNeedNoSort) {
  // numgrps <= nodes: nodes in id order in every line.
  for (const KernelVersion* k : {&k610, &k615, &k618, &k619}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kFourNodes), 3, 0, 0, {}, *k), {"0-3,12-15", "4-7", "8-11"}, "MMM");
  }
}

// ---------------------------------------------------------------------------
// More vectors than CPUs. Up to v6.15 group_cpus_evenly() (or, up to v6.2,
// irq_build_affinity_masks()) fills min(CPUs, vectors) masks and leaves the
// rest of the kcalloc()ed array empty; irq_create_affinity_masks() copies
// all of a set's masks and moves on by the set's size: unfilled vectors
// keep an empty mask and stay managed. From v6.16 it copies nr_masks and
// moves on by that; the rest get the default affinity.

TEST(KernelPlannerMoreVectorsThanCpus, OneNode) {
  for (const KernelVersion* k : {&k610, &k615}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kOneNode4), 6, 0, 0, {}, *k), {"0", "1", "2", "3", "", ""}, "MMMMMM");
  }
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 6, 0, 0, {}, k618), {"0", "1", "2", "3", "0-3", "0-3"}, "MMMMMM");
  // v6.19: numgrps clamped to 4, one per cluster (each CPU its own core);
  // the 4 equal clusters come out [1,3,2,0].
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 6, 0, 0, {}, k619), {"1", "3", "2", "0", "0-3", "0-3"}, "MMMMMM");
}

TEST(KernelPlannerMoreVectorsThanCpus, TwoNodes) {
  // As TwoNodesMoreVectorsThanCpus: n1 then n0, 1 CPU per group.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 10, 0, 0, {}, k610),
              {"4", "5", "6", "7", "0", "1", "2", "3", "", ""}, "MMMMMMMMMM");
}

TEST(KernelPlannerMoreVectorsThanCpus, SetsKeepTheirVectorsUpTo615) {
  // 4 CPUs, sets {6,2}: set 0 is v0-5 (v4-5 empty), set 1 starts at v6, not
  // v4, with 2 groups of 2. Compare SecondSetStartsAfterFirstSetsMasks.
  for (const KernelVersion* k : {&k610, &k615}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kOneNode4), 8, 0, 0, {6, 2}, *k), {"0", "1", "2", "3", "", "", "0-1", "2-3"},
                "MMMMMMMM");
  }
}

TEST(KernelPlannerMoreVectorsThanCpus, TwoShortSetsWithPreAndPostUpTo615) {
  // Sets {5,5} at v1-5 and v6-10, the fifth of each empty; usedvecs 10 ==
  // affvecs, so only v11 (post) gets the default affinity.
  ExpectMasks(KernelPlan(Synthetic(kOneNode4), 12, 1, 1, {5, 5}, k610),
              {"0-3", "0", "1", "2", "3", "", "0", "1", "2", "3", "", "0-3"}, ".MMMMMMMMMM.");
}

TEST(KernelPlannerMoreVectorsThanCpus, OfflineCpusUpTo615) {
  // Stage 1: {0} in g0; stage 2 from g1: {1}. g2-3 stay empty.
  ExpectMasks(KernelPlan(Offline(Synthetic("core:2 pu:1"), {1}), 4, 0, 0, {}, k615), {"0", "1", "", ""}, "MMMM");
}

// ---------------------------------------------------------------------------
// Pre and post vectors, and nothing to spread: the same in every line.

TEST(KernelPlannerEveryLine, PreAndPostVectors) {
  for (const KernelVersion* k : {&k610, &k615, &k618, &k619}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 6, 1, 1, {}, *k), {"0-15", "8-11", "12-15", "0-3", "4-7", "0-15"},
                ".MMMM.");
    ExpectMasks(KernelPlan(Synthetic(kTwoNodesSmt), 3, 2, 1, {}, *k), {"0-15", "0-15", "0-15"}, "...");
    ExpectMasks(KernelPlan(Synthetic(kOneNode8), 5, 0, 2, {}, *k), {"0-2", "3-5", "6-7", "0-7", "0-7"}, "MMM..");
  }
}

TEST(KernelPlannerEveryLine, ZeroVectorsIsAnEmptyPlan) {
  for (const KernelVersion* k : {&k610, &k615, &k618, &k619}) {
    SCOPED_TRACE(k->text);
    for (const std::vector<unsigned>& sets : {std::vector<unsigned>{}, std::vector<unsigned>{0}}) {
      auto plan = make_plan(Synthetic(kTwoNodesSmt), PlanRequest{0, 0, 0, sets, PlannerKind::kKernel, *k});
      ASSERT_TRUE(plan.ok()) << plan.error().message;
      EXPECT_TRUE(plan->vectors.empty());
      EXPECT_TRUE(plan->masks_per_set.empty());
      EXPECT_EQ(plan->served_per_cpu, std::vector<unsigned>(16, 0));
      EXPECT_EQ(plan->kernel.text, k->text);
    }
  }
}

// ---------------------------------------------------------------------------
// A set of size 0 (sets {0,4} or {4,0}: a driver's calc_sets() result).

TEST(KernelPlannerZeroSizeSet, FixedKernelsGiveNoMasks) {
  // group_cpus_evenly(0) returns NULL, so irq_create_affinity_masks() does:
  // every vector the default affinity, unmanaged.
  for (const char* text : {"6.12.36", "6.12.117+deb12-amd64", "6.16", "6.18", "6.19"}) {
    SCOPED_TRACE(text);
    KernelVersion k = parse_kernel_version(text).value();
    ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 5, 0, 1, {0, 4}, k), {"0-7", "0-7", "0-7", "0-7", "0-7"},
                ".....");
    Plan p = KernelPlan(Synthetic(kTwoNodesNoSmt), 5, 1, 0, {4, 0}, k);
    ExpectMasks(p, {"0-7", "0-7", "0-7", "0-7", "0-7"}, ".....");
    EXPECT_EQ(p.vectors[0].role, VectorRole::kPre);
    EXPECT_EQ(p.vectors[1].role, VectorRole::kUnfilled);
    EXPECT_EQ(p.vectors[1].set, -1);
    EXPECT_TRUE(p.masks_per_set.empty());
  }
}

TEST(KernelPlannerZeroSizeSet, UnfixedGroupCpusKernelsOops) {
  for (const char* text : {"6.3", "6.10", "6.12.35", "6.15"}) {
    SCOPED_TRACE(text);
    KernelVersion k = parse_kernel_version(text).value();
    auto plan = make_plan(Synthetic(kTwoNodesNoSmt), PlanRequest{5, 0, 1, {0, 4}, PlannerKind::kKernel, k});
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().message,
              "sets '0,4' has an empty set (set 0): Linux " + std::string(text) +
                  " oopses there (group_cpus_evenly(0) writes through ZERO_SIZE_PTR), so there are no masks to show "
                  "(accepted: every set >= 1 before the fix, df831e977394 in 6.16 and stable 6.12.36)");
  }
}

TEST(KernelPlannerZeroSizeSet, UpTo62TheNodesLandInTheNextVectors) {
  // 6.1: irq_build_affinity_masks(0, 0, 0, masks): 0 <= 2 nodes, so n0
  // (0-3) is OR'ed into v0 and n1 (4-7) into v1. The set of 4 then ORs its
  // groups over them: order [1,0], 4-5, 6-7, 0-1, 2-3. v4 is the post vector.
  const KernelVersion k61{6, 1, 0, "6.1.0-37-amd64"};
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 5, 0, 1, {0, 4}, k61), {"0-5", "4-7", "0-1", "2-3", "0-7"},
              "MMMM.");
  // After the set of 4, the node masks land on the two post vectors, which
  // then get the default affinity anyway.
  ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 6, 0, 2, {4, 0}, k61), {"4-5", "6-7", "0-1", "2-3", "0-7", "0-7"},
              "MMMM..");
  // Not-present CPUs: the second stage ORs node k's into v0 + k too: n0
  // has 0-2 present and 3 not, n1 4-6 and 7, so v0 gets 0-3 and v1 4-7.
  // The set of 4 is then as in OfflineAcrossTwoNodes: 4-5,7 / 3,6 / 0-1 / 2.
  ExpectMasks(KernelPlan(Offline(Synthetic(kTwoNodesNoSmt), {3, 7}), 5, 0, 1, {0, 4}, k61),
              {"0-5,7", "3-7", "0-1", "2", "0-7"}, "MMMM.");
}

TEST(KernelPlannerZeroSizeSet, UpTo62WritingPastTheLastVectorIsRefused) {
  const KernelVersion k61{6, 1, 0, "6.1"};
  for (unsigned post : {0U, 1U}) {
    auto plan = make_plan(Synthetic(kTwoNodesNoSmt), PlanRequest{4 + post, 0, post, {4, 0}, PlannerKind::kKernel, k61});
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.error().message,
              "sets '4,0' has an empty set (set 1): Linux 6.1 writes each node's CPUs into the 2 vectors after it, "
              "past vector " +
                  std::to_string(3 + post) +
                  " (out of bounds), so there are no masks to show (accepted: an empty set followed by at least one "
                  "vector per node)");
  }
}

TEST(KernelPlannerZeroSizeSet, NothingToSpreadNeverReachesTheSets) {
  // affvecs 0: irq_create_affinity_masks() returns NULL before any set is
  // looked at, in every line.
  for (const KernelVersion* k : {&k610, &k615, &k618, &k619}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic(kTwoNodesNoSmt), 2, 1, 1, {0}, *k), {"0-7", "0-7"}, "..");
  }
}

// ---------------------------------------------------------------------------
// v6.19: cluster-aware grouping. A node with no more clusters (CPUs under
// one L2, or one core where there is no L2 level) than groups is grouped
// cluster by cluster: clusters sorted like nodes (fewest CPUs first, ties
// in double-pop order), each given max(1, groups * cpus / remaining) groups.

// CPUs 0..n-1 on node 0, each its own core, l2[i] the L2 of CPU i.
Topology WithL2(const std::vector<int>& l2) {
  std::vector<CpuDesc> cpus;
  for (unsigned i = 0; i < l2.size(); ++i) cpus.push_back(CpuDesc{i, 0, -1, 0, -1, l2[i]});
  return Must(Topology::from_cpus(std::move(cpus), {0}, "test"));
}

TEST(KernelPlannerClusters, L2SharedByTwoCores) {
  // L2 0 = cores {0,1},{2,3}; L2 1 = {4,5},{6,7}. 3 groups, 2 clusters.
  // v6.18: sizes 3,3,2 over the node. v6.19: keys {4,4} -> [1,0]: L2 1
  // first, max(1, 3*4/8) = 1 group; L2 0 the other 2, a core each.
  const std::string topo = "l2:2 core:2 pu:2";
  ExpectMasks(KernelPlan(Synthetic(topo), 3, 0, 0, {}, k618), {"0-2", "3-5", "6-7"}, "MMM");
  ExpectMasks(KernelPlan(Synthetic(topo), 3, 0, 0, {}, k619), {"4-7", "0-1", "2-3"}, "MMM");
}

TEST(KernelPlannerClusters, L2SharedByTwoCoresOnTwoNodes) {
  // n1 = 4-7 first (order [1,0]), 3 groups. v6.18: sizes 2,1,1: 4-5, 6, 7.
  // v6.19: clusters {4,5},{6,7}, keys {2,2} -> [1,0]: {6,7} gets 1 group,
  // {4,5} 2. Then n0 the same way.
  const std::string topo = "pack:2 [numa] l2:2 core:2 pu:1";
  ExpectMasks(KernelPlan(Synthetic(topo), 6, 0, 0, {}, k618), {"4-5", "6", "7", "0-1", "2", "3"}, "MMMMMM");
  ExpectMasks(KernelPlan(Synthetic(topo), 6, 0, 0, {}, k619), {"6-7", "4", "5", "2-3", "0", "1"}, "MMMMMM");
}

TEST(KernelPlannerClusters, NoL2LevelMeansTheCore) {
  // No L2 in the topology: each core's PUs are a cluster (x86's match_l2c()
  // falls back to match_smt()). Same shape as above with cores for L2s.
  const std::string topo = "pack:2 [numa] core:2 pu:2";
  ExpectMasks(KernelPlan(Synthetic(topo), 6, 0, 0, {}, k618), {"4-5", "6", "7", "0-1", "2", "3"}, "MMMMMM");
  ExpectMasks(KernelPlan(Synthetic(topo), 6, 0, 0, {}, k619), {"6-7", "4", "5", "2-3", "0", "1"}, "MMMMMM");
}

TEST(KernelPlannerClusters, MoreClustersThanGroupsGroupsAsBefore) {
  // 4 clusters (one core of 2 PUs each) > 3 groups: the node is grouped as
  // in v6.18.
  for (const KernelVersion* k : {&k618, &k619}) {
    SCOPED_TRACE(k->text);
    ExpectMasks(KernelPlan(Synthetic("l2:4 core:1 pu:2"), 3, 0, 0, {}, *k), {"0-2", "3-5", "6-7"}, "MMM");
  }
}

TEST(KernelPlannerClusters, ThreeEqualClustersInDoublePopOrder) {
  // Keys {2,2,2} -> [2,1,0]: the last cluster takes group 0.
  ExpectMasks(KernelPlan(Synthetic("l2:3 core:2 pu:1"), 3, 0, 0, {}, k618), {"0-1", "2-3", "4-5"}, "MMM");
  ExpectMasks(KernelPlan(Synthetic("l2:3 core:2 pu:1"), 3, 0, 0, {}, k619), {"4-5", "2-3", "0-1"}, "MMM");
}

TEST(KernelPlannerClusters, UnequalClustersKeepTheirBoundaries) {
  // L2s {0} and {1,2,3}. v6.18: sizes 2,1,1 across the boundary. v6.19: keys
  // {1,3}: {0} gets max(1, 3*1/4) = 1 group, {1,2,3} the other 2 (2 and 1).
  Topology t = WithL2({0, 1, 1, 1});
  ExpectMasks(KernelPlan(t, 3, 0, 0, {}, k618), {"0-1", "2", "3"}, "MMM");
  ExpectMasks(KernelPlan(t, 3, 0, 0, {}, k619), {"0", "1-2", "3"}, "MMM");
}

TEST(KernelPlannerClusters, NotPresentCpusHaveNoCluster) {
  // L2s {0,1} and {2,3}, CPU 3 not present. Stage 1 over 0-2: clusters
  // {0,1} and {2} (only present CPUs are in a cluster), keys {2,1} -> [1,0]:
  // {2} one group, {0,1} two. Stage 2 over {3} from g0: CPU 3's cluster
  // map is empty, so its node is grouped as before: 3 into g0.
  Topology t = Offline(Synthetic("l2:2 core:2 pu:1"), {3});
  EXPECT_TRUE(t.cluster_cpus(3).empty());
  EXPECT_EQ(t.cluster_cpus(2), (std::vector<unsigned>{2}));
  ExpectMasks(KernelPlan(t, 3, 0, 0, {}, k618), {"0,3", "1", "2"}, "MMM");
  ExpectMasks(KernelPlan(t, 3, 0, 0, {}, k619), {"2-3", "0", "1"}, "MMM");
}

TEST(KernelPlannerClusters, SetsEachGroupedByCluster) {
  // Two sets of 3 on the L2-shared node: each as in L2SharedByTwoCores.
  ExpectMasks(KernelPlan(Synthetic("l2:2 core:2 pu:2"), 8, 1, 1, {3, 3}, k619),
              {"0-7", "4-7", "0-1", "2-3", "4-7", "0-1", "2-3", "0-7"}, ".MMMMMM.");
}

}  // namespace
}  // namespace irqd
