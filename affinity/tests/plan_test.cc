// SPDX-License-Identifier: GPL-2.0-only
//
// What make_plan() adds around the masks: roles, sets, the serving CPU
// (fewest vectors served so far, lowest id on a tie, present CPUs only),
// and request validation.

#include "affinity/plan.h"

#include <gtest/gtest.h>

namespace irqd {
namespace {

Topology load(const char* spec) {
  auto t = Topology::load(spec);
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(t.value());
}

std::vector<int> serving(const Plan& plan) {
  std::vector<int> out;
  for (const auto& v : plan.vectors) out.push_back(v.serving_cpu);
  return out;
}

TEST(Plan, ServingCpuIsLeastLoadedThenLowestId) {
  Topology t = load("synthetic:core:4 pu:1");
  auto plan = make_plan(t, PlanRequest{6, 2, 0, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  // Pre vectors may use 0-3: CPU 0, then CPU 1. Spread vectors get one CPU
  // each, so they are served where they point, whatever the load.
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 1, 0, 1, 2, 3}));
  EXPECT_EQ(plan->served_per_cpu, (std::vector<unsigned>{2, 2, 1, 1}));
  EXPECT_EQ(plan->vectors[5].serving_node, 0);
}

TEST(Plan, NotPresentOnlyMaskHasNoServingCpu) {
  Topology t = load("synthetic:core:4 pu:1");
  ASSERT_TRUE(t.mark_not_present({2, 3}).ok());
  auto plan = make_plan(t, PlanRequest{4, 0, 0, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  // Stage 1 fills groups 0-1 with the present CPUs, stage 2 groups 2-3.
  EXPECT_EQ(plan->vectors[2].cpus.to_list(), "2");
  EXPECT_EQ(plan->vectors[3].cpus.to_list(), "3");
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 1, -1, -1}));
  EXPECT_EQ(plan->vectors[3].serving_node, -1);
  EXPECT_TRUE(plan->vectors[3].managed);
}

TEST(Plan, MoreVectorsThanCpusLeavesUnfilledManagedVectors) {
  Topology t = load("synthetic:core:2 pu:1");
  auto plan = make_plan(t, PlanRequest{4, 0, 0, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->masks_per_set, (std::vector<unsigned>{2}));
  const auto& v = plan->vectors;
  EXPECT_EQ(v[0].role, VectorRole::kSpread);
  EXPECT_EQ(v[2].role, VectorRole::kUnfilled);
  EXPECT_EQ(v[2].cpus.to_list(), "0-1");
  EXPECT_TRUE(v[2].managed);
  EXPECT_EQ(v[2].set, -1);
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 1, 0, 1}));
}

TEST(Plan, NothingLeftToSpreadMeansNothingManaged) {
  Topology t = load("synthetic:core:4 pu:1");
  for (const PlanRequest& req :
       {PlanRequest{2, 1, 1, {}, PlannerKind::kKernel}, PlanRequest{2, 2, 2, {}, PlannerKind::kKernel}}) {
    auto plan = make_plan(t, req);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    ASSERT_EQ(plan->vectors.size(), 2U);
    for (const auto& v : plan->vectors) {
      EXPECT_FALSE(v.managed);
      EXPECT_EQ(v.cpus.to_list(), "0-3");
    }
    EXPECT_EQ(plan->vectors[0].role, VectorRole::kPre);
    EXPECT_TRUE(plan->masks_per_set.empty());
  }
}

TEST(Plan, SetsAreNumberedAndEachCoversEveryCpu) {
  Topology t = load("synthetic:core:4 pu:1");
  auto plan = make_plan(t, PlanRequest{7, 1, 0, {4, 2}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> masks;
  std::vector<int> sets;
  for (const auto& v : plan->vectors) {
    masks.push_back(v.cpus.to_list());
    sets.push_back(v.set);
  }
  EXPECT_EQ(masks, (std::vector<std::string>{"0-3", "0", "1", "2", "3", "0-1", "2-3"}));
  EXPECT_EQ(sets, (std::vector<int>{-1, 0, 0, 0, 0, 1, 1}));
}

TEST(Plan, ValidationNamesTheValueAndTheRange) {
  Topology t = load("synthetic:core:4 pu:1");
  auto expect_error = [&](const PlanRequest& req, const std::string& message) {
    Status s = validate_request(t, req);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message, message);
    EXPECT_FALSE(make_plan(t, req).ok());
  };
  expect_error({0, 0, 0, {}, PlannerKind::kKernel}, "vectors 0 is out of range (accepted: 1..65536)");
  expect_error({65537, 0, 0, {}, PlannerKind::kKernel}, "vectors 65537 is out of range (accepted: 1..65536)");
  expect_error({8, 0, 0, {4, 3}, PlannerKind::kKernel},
               "sets '4,3' sum to 7 but vectors - pre - post = 8 (accepted: sizes summing to exactly that)");
  expect_error({8, 0, 0, {2, 2, 2, 1, 1}, PlannerKind::kKernel},
               "sets '2,2,2,1,1' has 5 sets (accepted: 1..4, IRQ_AFFINITY_MAX_SETS)");
  expect_error({8, 0, 0, {8, 0}, PlannerKind::kKernel}, "sets '8,0' has an empty set (accepted: every set >= 1)");
  EXPECT_TRUE(validate_request(t, {65536, 0, 0, {}, PlannerKind::kKernel}).ok());
}

}  // namespace
}  // namespace irqd
