// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/cpumask.h"

#include <gtest/gtest.h>

#include "affinity/cpulist.h"

namespace irqd {
namespace {

TEST(CpuMask, FirstNextAcrossWordBoundaries) {
  CpuMask m = cpumask_of(200, {3, 63, 64, 127, 199});
  EXPECT_EQ(m.first(), 3U);
  EXPECT_EQ(m.next(3), 63U);
  EXPECT_EQ(m.next(63), 64U);
  EXPECT_EQ(m.next(64), 127U);
  EXPECT_EQ(m.next(127), 199U);
  EXPECT_EQ(m.next(199), 200U);  // "none" is size(), as nr_cpu_ids in the kernel
  EXPECT_EQ(m.weight(), 5U);
  EXPECT_EQ(CpuMask(200).first(), 200U);
}

TEST(CpuMask, SetAllKeepsTailBitsClear) {
  CpuMask m(70);
  m.set_all();
  EXPECT_EQ(m.weight(), 70U);
  EXPECT_EQ(m.to_list(), "0-69");
  CpuMask full(70);
  for (unsigned i = 0; i < 70; ++i) full.set_cpu(i);
  EXPECT_EQ(m, full);
}

TEST(CpuMask, AndOrAndnot) {
  CpuMask a = cpumask_of(16, {0, 1, 2, 3, 8});
  CpuMask b = cpumask_of(16, {2, 3, 4, 8, 15});
  CpuMask r(16);
  r.assign_and(a, b);
  EXPECT_EQ(r.to_vector(), (std::vector<unsigned>{2, 3, 8}));
  r.assign_andnot(a, b);
  EXPECT_EQ(r.to_vector(), (std::vector<unsigned>{0, 1}));
  r.or_with(b);
  EXPECT_EQ(r.to_list(), "0-4,8,15");
  EXPECT_TRUE(a.intersects(b));
  EXPECT_FALSE(cpumask_of(16, {0}).intersects(cpumask_of(16, {1})));
  EXPECT_TRUE(cpumask_of(16, {2, 3}).is_subset_of(a));
  EXPECT_FALSE(b.is_subset_of(a));
}

TEST(CpuMask, TestAndClear) {
  CpuMask m = cpumask_of(8, {5});
  EXPECT_TRUE(m.test_and_clear_cpu(5));
  EXPECT_FALSE(m.test_and_clear_cpu(5));
  EXPECT_TRUE(m.empty());
}

TEST(CpuMask, ListFormat) {
  EXPECT_EQ(cpumask_of(32, {0, 1, 2, 3, 8, 9, 10, 11}).to_list(), "0-3,8-11");
  EXPECT_EQ(cpumask_of(32, {5}).to_list(), "5");
  EXPECT_EQ(cpumask_of(32, {0, 2, 4}).to_list(), "0,2,4");
  EXPECT_EQ(CpuMask(32).to_list(), "");
}

TEST(Cpulist, ParsesIdsAndRanges) {
  auto r = parse_cpulist("8-10,0,3,9");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), (std::vector<unsigned>{0, 3, 8, 9, 10}));
}

TEST(Cpulist, RejectsMalformedWithTheValueAndForm) {
  for (const char* bad : {"", "a", "1-", "-1", "3-1", "1,,2", "1,", "1 2", "0-99999999"}) {
    auto r = parse_cpulist(bad);
    ASSERT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("accepted form"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace irqd
