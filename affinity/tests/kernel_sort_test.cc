// SPDX-License-Identifier: GPL-2.0-only
//
// The exact permutations lib/sort.c produces, traced by hand through its
// loop (sift-down to a leaf, backtrack, shift). Equal keys are where it
// differs from std::sort/std::stable_sort, and equal NUMA nodes are the
// common case in group_cpus_evenly().

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

std::vector<unsigned> sorted_ids(std::vector<unsigned> keys) {
  std::vector<Item> items;
  for (unsigned i = 0; i < keys.size(); ++i) items.push_back({i, keys[i]});
  kernel_sort(std::span<Item>(items), by_key);
  std::vector<unsigned> ids;
  ids.reserve(items.size());
  for (const Item& it : items) ids.push_back(it.id);
  return ids;
}

TEST(KernelSort, TwoEqualKeysSwap) {
  // Heap build leaves [0,1]; extracting the root swaps them.
  EXPECT_EQ(sorted_ids({4, 4}), (std::vector<unsigned>{1, 0}));
}

TEST(KernelSort, ThreeEqualKeysRotate) { EXPECT_EQ(sorted_ids({7, 7, 7}), (std::vector<unsigned>{1, 2, 0})); }

TEST(KernelSort, FourEqualKeysRotate) { EXPECT_EQ(sorted_ids({8, 8, 8, 8}), (std::vector<unsigned>{1, 2, 3, 0})); }

TEST(KernelSort, AbsentNodesSortFirstAndEqualNodesReverse) {
  // Node ids 0..3, nodes 1 and 3 absent (UINT_MAX compares as -1).
  EXPECT_EQ(sorted_ids({4, UINT_MAX, 4, UINT_MAX}), (std::vector<unsigned>{1, 3, 2, 0}));
}

TEST(KernelSort, DistinctKeysAscending) {
  EXPECT_EQ(sorted_ids({5, 1, 4, 2, 3}), (std::vector<unsigned>{1, 3, 4, 2, 0}));
}

TEST(KernelSort, SortsRandomInputsLikeStdSortByKey) {
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    std::vector<unsigned> keys(rng() % 40);
    for (auto& k : keys) k = rng() % 6;
    std::vector<Item> items;
    for (unsigned i = 0; i < keys.size(); ++i) items.push_back({i, keys[i]});
    kernel_sort(std::span<Item>(items), by_key);
    std::vector<unsigned> got;
    got.reserve(items.size());
    for (const Item& it : items) got.push_back(it.key);
    std::sort(keys.begin(), keys.end());
    ASSERT_EQ(got, keys);
  }
}

TEST(KernelSort, EmptyAndSingleAreUntouched) {
  EXPECT_EQ(sorted_ids({}), (std::vector<unsigned>{}));
  EXPECT_EQ(sorted_ids({9}), (std::vector<unsigned>{0}));
}

}  // namespace
}  // namespace irqd
