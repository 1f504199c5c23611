// SPDX-License-Identifier: GPL-2.0-only
//
// What make_plan() adds around the masks: roles, sets, the serving CPU (the
// x86 vector matrix's choice, present CPUs only: a managed vector goes to the
// CPU with the fewest managed vectors, highest id on a tie; an unmanaged one
// to the CPU with the most vectors still available, lowest id on a tie), and
// request validation.

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

// 2 pre, 3 spread, 1 post vector on CPUs 0-3: group_cpus_evenly(3) gives
// {0,1}, {2}, {3}. Every managed vector reserves a vector on each CPU of its
// mask before any is served, one per CPU here, so that evens out.
//   pre 0 over 0-3 (unmanaged): all equally available -> 0, the lowest.
//   pre 1 over 0-3 (unmanaged): CPU 0 has one fewer available -> 1.
//   spread {0,1} (managed): no managed vector on either -> 1, the highest.
//   spread {2}, {3}: their only CPU.
//   post over 0-3 (unmanaged): CPUs 0 and 1 each gave one to a pre vector;
//   the managed vectors 1, 2 and 3 serve take nothing more -> 2, the lowest
//   of 2 and 3 (fewest vectors served in all would have said 0).
TEST(Plan, ServingCpuManagedHighestIdOnTieUnmanagedLowestId) {
  Topology t = load("synthetic:core:4 pu:1");
  auto plan = make_plan(t, PlanRequest{6, 2, 1, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> masks;
  for (const auto& v : plan->vectors) masks.push_back(v.cpus.to_list());
  EXPECT_EQ(masks, (std::vector<std::string>{"0-3", "0-3", "0-1", "2", "3", "0-3"}));
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(plan->served_per_cpu, (std::vector<unsigned>{1, 2, 2, 1}));
  EXPECT_EQ(plan->vectors[5].serving_node, 0);
}

// Every vector unmanaged (the compact planner): fewest vectors served, the
// lowest id on a tie. One CPU per spread vector: {0}, {1}, {2}; the pre
// vector before them -> 0, the post vector after them -> 3.
TEST(Plan, UnmanagedVectorsGoToTheLeastLoadedLowestCpu) {
  Topology t = load("synthetic:core:4 pu:1");
  auto plan = make_plan(t, PlanRequest{5, 1, 1, {}, PlannerKind::kCompact});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  for (const auto& v : plan->vectors) EXPECT_FALSE(v.managed) << v.index;
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 0, 1, 2, 3}));
  EXPECT_EQ(plan->served_per_cpu, (std::vector<unsigned>{2, 1, 1, 1}));
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
  // {0} -> 0, {1} -> 1; the unfilled ones over 0-1: one managed vector on
  // each -> 1 (highest id), then 0 (fewer).
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 1, 1, 0}));
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
  expect_error({65537, 0, 0, {}, PlannerKind::kKernel}, "vectors 65537 is out of range (accepted: 0..65536)");
  expect_error({2, 3, 0, {}, PlannerKind::kKernel},
               "pre-vectors 3 / post-vectors 0 exceed vectors 2 (accepted: 0..2 each)");
  expect_error({8, 0, 0, {4, 3}, PlannerKind::kKernel},
               "sets '4,3' sum to 7 but vectors - pre - post = 8 (accepted: sizes summing to exactly that)");
  expect_error({8, 0, 0, {2, 2, 2, 1, 1}, PlannerKind::kKernel},
               "sets '2,2,2,1,1' has 5 sets (accepted: 1..4, IRQ_AFFINITY_MAX_SETS)");
  // A set of size 0 where the kernel line oopses on it.
  expect_error(
      {8, 0, 0, {8, 0}, PlannerKind::kKernel, KernelVersion{6, 12, 0, "6.12"}},
      "sets '8,0' has an empty set (set 1): Linux 6.12 oopses there (group_cpus_evenly(0) writes through "
      "ZERO_SIZE_PTR), so there are no masks to show (accepted: every set >= 1 before the fix, df831e977394 in "
      "6.16 and stable 6.12.36)");
  EXPECT_TRUE(validate_request(t, {65536, 0, 0, {}, PlannerKind::kKernel}).ok());
  EXPECT_TRUE(validate_request(t, {0, 0, 0, {}, PlannerKind::kKernel}).ok());
  EXPECT_TRUE(validate_request(t, {8, 0, 0, {8, 0}, PlannerKind::kKernel}).ok());  // v6.18: no masks
  // The layouts never reach group_cpus_evenly(): a set of size 0 is fine
  // whatever the kernel.
  EXPECT_TRUE(validate_request(t, {8, 0, 0, {8, 0}, PlannerKind::kCompact, KernelVersion{6, 12, 0, "6.12"}}).ok());
}

// --vectors 0: an empty plan for every planner.
TEST(Plan, ZeroVectorsIsAnEmptyPlan) {
  Topology t = load("synthetic:core:4 pu:1");
  for (const PlannerInfo& p : all_planners()) {
    auto plan = make_plan(t, PlanRequest{0, 0, 0, {}, p.kind});
    ASSERT_TRUE(plan.ok()) << p.name << ": " << plan.error().message;
    EXPECT_TRUE(plan->vectors.empty());
    EXPECT_EQ(plan->served_per_cpu, (std::vector<unsigned>{0, 0, 0, 0}));
  }
}

// The plan records the kernel line it followed.
TEST(Plan, RecordsTheKernelFollowed) {
  Topology t = load("synthetic:core:4 pu:1");
  auto plan = make_plan(t, PlanRequest{4, 0, 0, {}, PlannerKind::kKernel});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->kernel.text, "6.18");
  KernelVersion k = parse_kernel_version("6.12.117+deb12-amd64").value();
  plan = make_plan(t, PlanRequest{4, 0, 0, {}, PlannerKind::kKernel, k});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->kernel.text, "6.12.117+deb12-amd64");
  EXPECT_EQ(plan->kernel.minor, 12U);
}

// Up to v6.15 an unfilled vector keeps an empty mask inside its set: no CPU
// serves it, and it belongs to its set.
TEST(Plan, MoreVectorsThanCpusUpTo615LeavesEmptyManagedVectors) {
  Topology t = load("synthetic:core:2 pu:1");
  auto plan = make_plan(t, PlanRequest{6, 1, 0, {3, 2}, PlannerKind::kKernel, KernelVersion{6, 15, 0, "6.15"}});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->masks_per_set, (std::vector<unsigned>{2, 2}));
  std::vector<std::string> masks;
  std::vector<int> sets;
  std::vector<VectorRole> roles;
  for (const auto& v : plan->vectors) {
    masks.push_back(v.cpus.to_list());
    sets.push_back(v.set);
    roles.push_back(v.role);
  }
  EXPECT_EQ(masks, (std::vector<std::string>{"0-1", "0", "1", "", "0", "1"}));
  EXPECT_EQ(sets, (std::vector<int>{-1, 0, 0, 0, 1, 1}));
  EXPECT_EQ(roles, (std::vector<VectorRole>{VectorRole::kPre, VectorRole::kSpread, VectorRole::kSpread,
                                            VectorRole::kUnfilled, VectorRole::kSpread, VectorRole::kSpread}));
  EXPECT_TRUE(plan->vectors[3].managed);
  // pre -> 0 (lowest of 0-1); {0} -> 0, {1} -> 1, empty -> none, {0}, {1}.
  EXPECT_EQ(serving(*plan), (std::vector<int>{0, 0, 1, -1, 0, 1}));
  EXPECT_EQ(plan->vectors[3].serving_node, -1);
}

}  // namespace
}  // namespace irqd
