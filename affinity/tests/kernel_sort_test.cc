// SPDX-License-Identifier: GPL-2.0-only
//
// The exact permutations lib/sort.c produces, traced by hand through its
// loops: the one-pop heapsort of v5.x-v6.10 and the double-pop one of v6.11
// on. Equal keys are where they differ from each other and from
// std::sort/std::stable_sort, and equal NUMA nodes are the common case in
// group_cpus_evenly().

#include "affinity/kernel_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <random>
#include <vector>

namespace irqd {
namespace {

struct Item {
  unsigned id;
  unsigned key;
};

// The comparator of lib/group_cpus.c: unsigned difference read as int.
int by_key(const Item& l, const Item& r) { return static_cast<int>(l.key - r.key); }

std::vector<unsigned> sorted_ids(std::vector<unsigned> keys, KernelSort which) {
  std::vector<Item> items;
  for (unsigned i = 0; i < keys.size(); ++i) items.push_back({i, keys[i]});
  kernel_sort(std::span<Item>(items), by_key, which);
  std::vector<unsigned> ids;
  ids.reserve(items.size());
  for (const Item& it : items) ids.push_back(it.id);
  return ids;
}

std::vector<unsigned> one_pop(std::vector<unsigned> keys) { return sorted_ids(std::move(keys), KernelSort::kOnePop); }
std::vector<unsigned> double_pop(std::vector<unsigned> keys) {
  return sorted_ids(std::move(keys), KernelSort::kDoublePop);
}

constexpr unsigned M = UINT_MAX;  // an absent node: compares as -1

// ---------------------------------------------------------------------------
// One-pop (up to v6.10).

TEST(KernelSortOnePop, TwoEqualKeysSwap) {
  // Heap build leaves [0,1]; extracting the root swaps them.
  EXPECT_EQ(one_pop({4, 4}), (std::vector<unsigned>{1, 0}));
}

TEST(KernelSortOnePop, ThreeEqualKeysRotate) { EXPECT_EQ(one_pop({7, 7, 7}), (std::vector<unsigned>{1, 2, 0})); }

TEST(KernelSortOnePop, FourEqualKeysRotate) { EXPECT_EQ(one_pop({8, 8, 8, 8}), (std::vector<unsigned>{1, 2, 3, 0})); }

TEST(KernelSortOnePop, EightEqualKeysRotate) {
  EXPECT_EQ(one_pop({8, 8, 8, 8, 8, 8, 8, 8}), (std::vector<unsigned>{1, 2, 3, 4, 5, 6, 7, 0}));
}

TEST(KernelSortOnePop, AbsentNodesSortFirstAndEqualNodesReverse) {
  // Node ids 0..3, nodes 1 and 3 absent (UINT_MAX compares as -1).
  EXPECT_EQ(one_pop({4, M, 4, M}), (std::vector<unsigned>{1, 3, 2, 0}));
  EXPECT_EQ(one_pop({4, 4, 4, M}), (std::vector<unsigned>{3, 2, 1, 0}));
  EXPECT_EQ(one_pop({M, M, 4, 4}), (std::vector<unsigned>{0, 1, 2, 3}));
}

TEST(KernelSortOnePop, DistinctKeysAscending) {
  EXPECT_EQ(one_pop({5, 1, 4, 2, 3}), (std::vector<unsigned>{1, 3, 4, 2, 0}));
}

// ---------------------------------------------------------------------------
// Double-pop (v6.11 on). Traces, a = element under sift, n = heap size:
//
// {x,x}: build a=0: d=2 == n, b=c=1; x>=x climbs back to 0, no swap. Loop
// ends (n = 2 is not > 3); the tail swaps 0 and 1: [1,0].
//
// {x,x,x}: build a=0: c=1, d=2 < 3, cmp(1,2) = 0 is not > 0 so b=d=2; 0>=2
// climbs to 0. Tail: n=2, swap(0,2) -> [2,1,0]; cmp(2,1) = 0, no swap.
//
// {x,x,x,x}: build a=1: d=4 == n, b=c=3, climbs back; then a=0: b=2 (right
// child on a tie; c=5 stops), climbs back. Sort, n=4 > 3: swap(0,3) -> [3,1,2,0], n=3;
// cmp(1,2) <= 0 so shift=1, a=2; n=2, swap(2,2). Sift a=2 (c=5 stops).
// a=2 -> a -= 2 = 0: sift the root in n=2: d=2 == n, b=1, climbs. Loop
// ends; tail: n=1, swap(0,1) -> [1,3,2,0].

TEST(KernelSortDoublePop, TwoEqualKeysSwap) { EXPECT_EQ(double_pop({4, 4}), (std::vector<unsigned>{1, 0})); }

TEST(KernelSortDoublePop, ThreeEqualKeysStartAtTheLast) {
  EXPECT_EQ(double_pop({7, 7, 7}), (std::vector<unsigned>{2, 1, 0}));
}

TEST(KernelSortDoublePop, FourEqualKeys) { EXPECT_EQ(double_pop({8, 8, 8, 8}), (std::vector<unsigned>{1, 3, 2, 0})); }

TEST(KernelSortDoublePop, FiveAndSixEqualKeys) {
  EXPECT_EQ(double_pop({8, 8, 8, 8, 8}), (std::vector<unsigned>{3, 1, 4, 2, 0}));
  EXPECT_EQ(double_pop({8, 8, 8, 8, 8, 8}), (std::vector<unsigned>{1, 3, 4, 5, 2, 0}));
}

TEST(KernelSortDoublePop, EightEqualKeys) {
  // Issue 12: 8 equal NUMA nodes come out 1,3,4,5,6,7,2,0 from v6.11 on.
  EXPECT_EQ(double_pop({8, 8, 8, 8, 8, 8, 8, 8}), (std::vector<unsigned>{1, 3, 4, 5, 6, 7, 2, 0}));
}

TEST(KernelSortDoublePop, AbsentNodes) {
  EXPECT_EQ(double_pop({4, M, 4, M}), (std::vector<unsigned>{1, 3, 2, 0}));
  EXPECT_EQ(double_pop({4, 4, 4, M}), (std::vector<unsigned>{3, 1, 2, 0}));
  EXPECT_EQ(double_pop({M, M, 4, 4}), (std::vector<unsigned>{0, 1, 3, 2}));
  EXPECT_EQ(double_pop({4, M, 4}), (std::vector<unsigned>{1, 2, 0}));
  EXPECT_EQ(double_pop({M, 4, 4}), (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ(double_pop({2, 2, M, 2}), (std::vector<unsigned>{2, 3, 1, 0}));
}

TEST(KernelSortDoublePop, UnequalKeysWithTies) {
  EXPECT_EQ(double_pop({1, 1, 6}), (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ(double_pop({2, 4, 2}), (std::vector<unsigned>{2, 0, 1}));
  EXPECT_EQ(double_pop({4, 2, 4}), (std::vector<unsigned>{1, 2, 0}));
  EXPECT_EQ(double_pop({2, 2, 2, 2, 2, 2, 4, 4}), (std::vector<unsigned>{2, 1, 4, 5, 0, 3, 7, 6}));
}

TEST(KernelSortDoublePop, DistinctKeysAscending) {
  EXPECT_EQ(double_pop({5, 1, 4, 2, 3}), (std::vector<unsigned>{1, 3, 4, 2, 0}));
}

// ---------------------------------------------------------------------------
// Both.

TEST(KernelSort, SortsRandomInputsLikeStdSortByKey) {
  std::mt19937 rng(42);
  for (KernelSort which : {KernelSort::kOnePop, KernelSort::kDoublePop}) {
    for (int round = 0; round < 500; ++round) {
      std::vector<unsigned> keys(rng() % 40);
      for (auto& k : keys) k = rng() % 6;
      std::vector<Item> items;
      for (unsigned i = 0; i < keys.size(); ++i) items.push_back({i, keys[i]});
      kernel_sort(std::span<Item>(items), by_key, which);
      std::vector<unsigned> got;
      got.reserve(items.size());
      for (const Item& it : items) got.push_back(it.key);
      std::sort(keys.begin(), keys.end());
      ASSERT_EQ(got, keys) << (which == KernelSort::kOnePop ? "one-pop" : "double-pop");
    }
  }
}

TEST(KernelSort, TheTwoDifferOnlyInTheOrderOfEqualKeys) {
  // Same multiset of keys out; only equal keys can be ordered differently.
  EXPECT_NE(one_pop({3, 3, 3}), double_pop({3, 3, 3}));
  EXPECT_EQ(one_pop({1, 2}), double_pop({1, 2}));
}

TEST(KernelSort, EmptyAndSingleAreUntouched) {
  for (KernelSort which : {KernelSort::kOnePop, KernelSort::kDoublePop}) {
    EXPECT_EQ(sorted_ids({}, which), (std::vector<unsigned>{}));
    EXPECT_EQ(sorted_ids({9}, which), (std::vector<unsigned>{0}));
  }
}

}  // namespace
}  // namespace irqd
