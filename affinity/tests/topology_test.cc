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

}  // namespace
}  // namespace irqd
