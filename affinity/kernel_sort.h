// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel's sort() (lib/sort.c, Linux v6.18): a bottom-up heapsort. It is
// not stable, and group_cpus_evenly() hands it NUMA nodes that often compare
// equal, so the order equal nodes come out in (and with it which vectors a
// node gets) is whatever this exact sequence of compares and swaps produces.
// std::sort and std::stable_sort give other orders; hence this copy of the
// algorithm, in element indexes instead of the kernel's byte offsets.
//
// cmp_func(a, b) returns <0, 0, >0 like the kernel's comparison callbacks.

#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace irqd {

template <typename T, typename Cmp>
void kernel_sort(std::span<T> base, Cmp cmp_func) {
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

}  // namespace irqd
