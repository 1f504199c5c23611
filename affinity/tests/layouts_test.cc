// SPDX-License-Identifier: GPL-2.0-only
//
// The comparison layouts on a machine with far-apart SMT sibling numbering
// (siblings i and i+4), where each layout's rule gives a different order.

#include "affinity/layouts.h"

#include <gtest/gtest.h>

#include "affinity/plan.h"

namespace irqd {
namespace {

using Lists = std::vector<std::string>;

// pack0/node0: cores {0,4} {1,5}; pack1/node1: cores {2,6} {3,7}.
Topology far_siblings() {
  auto t = Topology::load("synthetic:pack:2 [numa] core:2 pu:2(indexes=0,4,1,5,2,6,3,7)");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(t.value());
}

Lists masks_of(const Topology& topo, PlannerKind kind, unsigned vectors) {
  auto plan = make_plan(topo, PlanRequest{vectors, 0, 0, {}, kind});
  EXPECT_TRUE(plan.ok()) << plan.error().message;
  Lists out;
  for (const auto& v : plan->vectors) {
    EXPECT_FALSE(v.managed) << "only the kernel planner's vectors are managed";
    out.push_back(v.cpus.to_list());
  }
  return out;
}

TEST(Layouts, CompactFillsCoreSiblingsThenNextCoreThenNextNode) {
  EXPECT_EQ(masks_of(far_siblings(), PlannerKind::kCompact, 10),
            (Lists{"0", "4", "1", "5", "2", "6", "3", "7", "0", "4"}));
}

TEST(Layouts, PerCoreDealsWholeCoresAcrossNodes) {
  EXPECT_EQ(masks_of(far_siblings(), PlannerKind::kPerCore, 5), (Lists{"0,4", "2,6", "1,5", "3,7", "0,4"}));
}

TEST(Layouts, SingleUsesTheLowestPresentCpu) {
  EXPECT_EQ(masks_of(far_siblings(), PlannerKind::kSingle, 3), (Lists{"0", "0", "0"}));
}

TEST(Layouts, RoundRobinIsIdOrderModN) {
  EXPECT_EQ(masks_of(far_siblings(), PlannerKind::kRoundRobin, 10),
            (Lists{"0", "1", "2", "3", "4", "5", "6", "7", "0", "1"}));
}

TEST(Layouts, NotPresentCpusAreNeverUsed) {
  Topology t = far_siblings();
  ASSERT_TRUE(t.mark_not_present({0, 6}).ok());
  EXPECT_EQ(masks_of(t, PlannerKind::kCompact, 6), (Lists{"4", "1", "5", "2", "3", "7"}));
  EXPECT_EQ(masks_of(t, PlannerKind::kPerCore, 4), (Lists{"4", "2", "1,5", "3,7"}));
  EXPECT_EQ(masks_of(t, PlannerKind::kSingle, 1), (Lists{"1"}));
  EXPECT_EQ(masks_of(t, PlannerKind::kRoundRobin, 7), (Lists{"1", "2", "3", "4", "5", "7", "1"}));
}

TEST(Layouts, EachSetStartsOverAndPrePostKeepDefaultAffinity) {
  Topology t = far_siblings();
  auto plan = make_plan(t, PlanRequest{7, 1, 1, {2, 3}, PlannerKind::kRoundRobin});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  Lists got;
  for (const auto& v : plan->vectors) got.push_back(v.cpus.to_list());
  EXPECT_EQ(got, (Lists{"0-7", "0", "1", "0", "1", "2", "0-7"}));
  EXPECT_EQ(plan->masks_per_set, (std::vector<unsigned>{2, 3}));
  EXPECT_EQ(plan->vectors[3].set, 1);
}

TEST(Planners, NamesRoundTripAndUnknownIsRejected) {
  for (const PlannerInfo& p : all_planners()) {
    auto kind = planner_from_name(p.name);
    ASSERT_TRUE(kind.ok());
    EXPECT_EQ(*kind, p.kind);
    EXPECT_EQ(planner_name(p.kind), p.name);
    EXPECT_FALSE(p.summary.empty());
  }
  auto bad = planner_from_name("numa");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "unknown planner 'numa' (accepted: kernel, compact, per-core, single, round-robin)");
}

}  // namespace
}  // namespace irqd
