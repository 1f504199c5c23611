// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/topology.h"

#include <gtest/gtest.h>

namespace irqd {
namespace {

using Ids = std::vector<unsigned>;

TEST(Topology, SyntheticTwoPackagesWithNumaAndSmt) {
  auto t = Topology::load("synthetic:pack:2 [numa] core:2 pu:2");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->nr_cpu_ids(), 8U);
  EXPECT_EQ(t->nr_node_ids(), 2U);
  EXPECT_EQ(t->node_ids(), (Ids{0, 1}));
  EXPECT_EQ(t->possible().to_list(), "0-7");
  EXPECT_EQ(t->present().to_list(), "0-7");
  EXPECT_EQ(t->node_cpus(0).to_list(), "0-3");
  EXPECT_EQ(t->node_cpus(1).to_list(), "4-7");
  EXPECT_EQ(t->core_siblings(5), (Ids{4, 5}));
  EXPECT_EQ(t->cores().size(), 4U);
  EXPECT_EQ(t->packages(), (std::vector<Ids>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
}

TEST(Topology, SyntheticFarApartSiblings) {
  auto t = Topology::load("synthetic:pack:2 [numa] core:2 pu:2(indexes=0,4,1,5,2,6,3,7)");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->core_siblings(0), (Ids{0, 4}));
  EXPECT_EQ(t->core_siblings(7), (Ids{3, 7}));
  EXPECT_EQ(t->node_cpus(0).to_list(), "0-1,4-5");
  EXPECT_EQ(t->cpu_to_node(6), 1U);
}

TEST(Topology, MarkNotPresent) {
  auto t = Topology::load("synthetic:core:4 pu:2");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->mark_not_present({6, 7}).ok());
  EXPECT_EQ(t->possible().to_list(), "0-7");
  EXPECT_EQ(t->present().to_list(), "0-5");
  Status outside = t->mark_not_present({8});
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().message, "CPU 8 is not a CPU of topology 'synthetic:core:4 pu:2' (accepted: 0-7)");
  Status all = t->mark_not_present({0, 1, 2, 3, 4, 5});
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.error().message.find("leaves no present CPU"), std::string::npos);
  EXPECT_EQ(t->present().to_list(), "0-5");  // a refused call changes nothing
}

TEST(Topology, BadSpecsNameTheValue) {
  auto a = Topology::load("synthetic:pack:2 bogus:3");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("'pack:2 bogus:3'"), std::string::npos) << a.error().message;
  auto b = Topology::load("xml:/nonexistent/topo.xml");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("'/nonexistent/topo.xml'"), std::string::npos) << b.error().message;
  auto c = Topology::load("numa:2");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("accepted: live"), std::string::npos) << c.error().message;
}

TEST(Topology, LiveLoads) {
  auto t = Topology::load("live");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_GE(t->present().weight(), 1U);
  EXPECT_TRUE(t->present().is_subset_of(t->possible()));
}

TEST(Topology, FromCpusGivesCorelessPusTheirOwnCore) {
  auto t = Topology::from_cpus({{0, 0, -1, -1, -1}, {1, 0, -1, -1, -1}, {2, 2, 5, -1, -1}, {3, 2, 5, -1, -1}},
                               {0, 1, 2}, "test");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->core_siblings(0), (Ids{0}));
  EXPECT_EQ(t->core_siblings(1), (Ids{1}));
  EXPECT_EQ(t->core_siblings(3), (Ids{2, 3}));
  EXPECT_EQ(t->nr_node_ids(), 3U);
  EXPECT_TRUE(t->node_cpus(1).empty());
}

TEST(Topology, RestrictToKeepsNodesAndSiblingsOfTheKeptCpus) {
  auto t = Topology::load("synthetic:pack:2 [numa] core:2 pu:2");
  ASSERT_TRUE(t.ok());
  auto r = t->restrict_to({1, 2, 3, 6});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->possible().to_list(), "1-3,6");
  EXPECT_EQ(r->node_ids(), (Ids{0, 1}));
  EXPECT_EQ(r->node_cpus(1).to_list(), "6");
  EXPECT_EQ(r->core_siblings(2), (Ids{2, 3}));
  EXPECT_EQ(r->core_siblings(1), (Ids{1}));
  auto bad = t->restrict_to({9});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "CPU 9 is not a CPU of topology 'synthetic:pack:2 [numa] core:2 pu:2' (accepted: 0-7)");
}

// Clusters (x86's cpu_l2c_shared_map, what v6.19's group_cpus_evenly()
// groups by): the present PUs under one L2, or the core's where there is no
// L2 level; nothing for a CPU that is not present.
TEST(Topology, ClustersFollowTheL2) {
  auto t = Topology::load("synthetic:pack:2 l2:2 core:2 pu:2");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cluster_cpus(0), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(t->cluster_cpus(3), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(t->cluster_cpus(5), (Ids{4, 5, 6, 7}));
  EXPECT_EQ(t->cluster_cpus(15), (Ids{12, 13, 14, 15}));
  EXPECT_EQ(t->cpu(9).l2, 2);
  auto l2cache = Topology::load("synthetic:l2cache:2 core:1 pu:2");  // hwloc's long name
  ASSERT_TRUE(l2cache.ok()) << l2cache.error().message;
  EXPECT_EQ(l2cache->cluster_cpus(2), (Ids{2, 3}));
}

TEST(Topology, ClustersAreCoresWithoutAnL2) {
  auto t = Topology::load("synthetic:pack:2 [numa] core:2 pu:2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->cpu(0).l2, -1);
  EXPECT_EQ(t->cluster_cpus(0), (Ids{0, 1}));
  EXPECT_EQ(t->cluster_cpus(7), (Ids{6, 7}));
  auto far = Topology::load("synthetic:core:2 pu:2(indexes=0,2,1,3)");
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(far->cluster_cpus(1), (Ids{1, 3}));
}

TEST(Topology, ClustersHoldPresentCpusOnly) {
  auto t = Topology::load("synthetic:l2:2 core:2 pu:1");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->mark_not_present({1, 3}).ok());
  EXPECT_EQ(t->cluster_cpus(0), (Ids{0}));
  EXPECT_TRUE(t->cluster_cpus(1).empty());
  EXPECT_EQ(t->cluster_cpus(2), (Ids{2}));
  EXPECT_TRUE(t->cluster_cpus(3).empty());
  EXPECT_TRUE(t->cluster_cpus(99).empty());  // not a CPU at all
}

TEST(Topology, ClustersFromPlainDataAndRestricted) {
  // L2 7 over CPUs 0-2 (two cores), CPU 3 with no L2: its core {3,4}.
  auto t = Topology::from_cpus(
      {{0, 0, 0, -1, -1, 7}, {1, 0, 0, -1, -1, 7}, {2, 0, 1, -1, -1, 7}, {3, 0, 2, -1, -1, -1}, {4, 0, 2, -1, -1, -1}},
      {0}, "test");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cluster_cpus(1), (Ids{0, 1, 2}));
  EXPECT_EQ(t->cluster_cpus(4), (Ids{3, 4}));
  auto r = t->restrict_to({1, 2, 3});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cluster_cpus(1), (Ids{1, 2}));
  EXPECT_EQ(r->cluster_cpus(3), (Ids{3}));
}

}  // namespace
}  // namespace irqd
