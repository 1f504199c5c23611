// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel's sort() (lib/sort.c): a bottom-up heapsort. It is not stable,
// and group_cpus_evenly() hands it NUMA nodes (and, from the cluster-aware
// line on, clusters) that often compare equal, so the order equal entries
// come out in, and with it which vectors a node gets, is whatever the exact
// sequence of compares and swaps produces. std::sort and std::stable_sort
// give other orders; hence these copies of the algorithm, in element
// indexes instead of the kernel's byte offsets.
//
// Two versions, one per kernel line:
//   - kOnePop: lib/sort.c of v5.x-v6.10 (sort_r()). Pops one element per
//     step; on the way down it takes the left child on a tie (>= 0).
//   - kDoublePop: lib/sort.c from v6.11 (Kuan-Wei Chiu's series "lib/sort:
//     optimize heapsort for equal elements in sift-down path" and "lib/sort:
//     optimize heapsort with double-pop variation"; read in the 6.17-era
//     copy of Kingxukai/linux). Takes the right child on a tie (> 0), pops
//     the two largest elements per step while more than three remain, then
//     puts the last two or three in order with one swap and one compare.
//
// cmp_func(a, b) returns <0, 0, >0 like the kernel's comparison callbacks.

#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace irqd {

enum class KernelSort { kOnePop, kDoublePop };

// lib/sort.c v5.x-v6.10.
template <typename T, typename Cmp>
void kernel_sort_one_pop(std::span<T> base, Cmp cmp_func) {
  std::size_t n = base.size();
  std::size_t a = n / 2;
  if (a == 0) return;  // fewer than two elements

  // Invariants, as in lib/sort.c: [a, n) is a max-heap, [n, size) is sorted.
  for (;;) {
    std::size_t b = 0;
    std::size_t c = 0;
    std::size_t d = 0;

    if (a != 0) {
      --a;  // building the heap: sift element a down
    } else if (--n != 0) {
      std::swap(base[0], base[n]);  // sorting: move the root behind the heap
    } else {
      break;
    }

    // Walk down to a leaf taking the larger child each level (one compare
    // per level), then climb back to where element a belongs.
    for (b = a; c = 2 * b + 1, (d = c + 1) < n;) b = cmp_func(base[c], base[d]) >= 0 ? c : d;
    if (d == n) b = c;  // the last leaf has no sibling

    while (b != a && cmp_func(base[a], base[b]) >= 0) b = (b - 1) / 2;
    c = b;
    while (b != a) {
      b = (b - 1) / 2;
      std::swap(base[b], base[c]);
    }
  }
}

// lib/sort.c from v6.11 (__sort_r()).
template <typename T, typename Cmp>
void kernel_sort_double_pop(std::span<T> base, Cmp cmp_func) {
  std::size_t n = base.size();
  std::size_t a = n / 2;
  std::size_t shift = 0;
  if (a == 0) return;  // fewer than two elements

  for (;;) {
    std::size_t b = 0;
    std::size_t c = 0;
    std::size_t d = 0;

    if (a != 0) {
      // Building the heap: sift down a - 1. After a double pop a is 1 or 2
      // (the child that took an element) and shift makes this 0: the root.
      a -= std::size_t{1} << shift;
    } else if (n > 3) {
      // Sorting: the root goes behind the heap, then the larger of its two
      // children (the right one on a tie) goes behind that.
      --n;
      std::swap(base[0], base[n]);
      shift = cmp_func(base[1], base[2]) <= 0 ? 1 : 0;
      a = std::size_t{1} << shift;
      --n;
      std::swap(base[a], base[n]);
    } else {
      break;  // three or fewer left: finished below
    }

    // Walk down to a leaf taking the larger child each level, the right one
    // on a tie, then climb back to where element a belongs.
    for (b = a; c = 2 * b + 1, (d = c + 1) < n;) b = cmp_func(base[c], base[d]) > 0 ? c : d;
    if (d == n) b = c;  // the last leaf has no sibling

    while (b != a && cmp_func(base[a], base[b]) >= 0) b = (b - 1) / 2;
    c = b;
    while (b != a) {
      b = (b - 1) / 2;
      std::swap(base[b], base[c]);
    }
  }

  // Two or three left, the largest at the root: it goes last, and the
  // other two are put in order.
  --n;
  std::swap(base[0], base[n]);
  if (n == 2 && cmp_func(base[0], base[1]) > 0) std::swap(base[0], base[1]);
}

template <typename T, typename Cmp>
void kernel_sort(std::span<T> base, Cmp cmp_func, KernelSort which) {
  if (which == KernelSort::kOnePop) {
    kernel_sort_one_pop(base, cmp_func);
  } else {
    kernel_sort_double_pop(base, cmp_func);
  }
}

}  // namespace irqd
