// SPDX-License-Identifier: GPL-2.0-only
//
// Which Linux kernel's interrupt spreading the kernel planner reproduces.
//
// The spreading (kernel/irq/affinity.c, lib/group_cpus.c, lib/sort.c) has
// changed a few times since Linux 6.1. The versions are grouped into
// generations, and what tells one generation from the next is spelled out
// once, in KernelTraits below: the planner code is shared and asks these
// traits at the few places where the kernel's code differs.
//
// Sources read for each difference (torvalds/linux unless said otherwise):
//   - lib/sort.c before v6.11 (sort_r() of v5.x-v6.10, one pop per step),
//     and after it: "lib/sort: optimize heapsort with double-pop variation"
//     and "lib/sort: optimize heapsort for equal elements in sift-down path"
//     (the same series, v6.11), as in the 6.17-era copy in Kingxukai/linux.
//   - kernel/irq/affinity.c of the 6.1 line (irq_build_affinity_masks(),
//     node_vectors), before "genirq/affinity: Move group_cpus_evenly() into
//     lib/" (f7b3ea8cf72f, v6.3).
//   - lib/group_cpus.c and kernel/irq/affinity.c of v6.3-v6.15 (no nummasks)
//     and of v6.16-v6.18 ("lib/group_cpus: Let group_cpu_evenly() return
//     the number of initialized masks", v6.16), Kingxukai/linux 6.17-era.
//   - "lib/group_cpus: fix NULL pointer dereference from group_cpus_evenly()"
//     (df831e977394, v6.16; stable 6.12.36): group_cpus_evenly(0) returns
//     NULL instead of writing through ZERO_SIZE_PTR.
//   - "lib/group_cpus: make group CPU cluster aware" (v2, with its fix for an
//     empty cluster mask), the torvalds/linux copy holding
//     __try_group_cluster_cpus().

#pragma once

#include <span>
#include <string>
#include <string_view>

#include "affinity/kernel_sort.h"
#include "base/result.h"

namespace irqd {

// A kernel release. text is what the user gave (or uname(2) said for
// "live"), e.g. "6.12.117+deb12-amd64", "6.19-rc3" or "6.18".
struct KernelVersion {
  unsigned major = 6;
  unsigned minor = 18;
  unsigned patch = 0;
  std::string text;
};

// Accepts MAJOR.MINOR[.PATCH] with an optional suffix after '-', '+', '_',
// '~' or '.' ("6.1", "6.12.117", "6.12.117+deb12-amd64", "6.1.0-37-amd64",
// "6.19-rc3"), a leading 'v', and "live" (this machine's uname(2) release).
// Versions before 6.1 are refused: no older code was read.
Result<KernelVersion> parse_kernel_version(std::string_view text);

// Linux v6.18, the LTS line: the default when no kernel is named.
KernelVersion default_kernel_version();

// True when v is at least major.minor.patch.
bool kernel_at_least(const KernelVersion& v, unsigned major, unsigned minor, unsigned patch = 0);

enum class KernelGeneration {
  kUpTo6_10,    // one-pop heapsort; unfilled vectors keep empty masks
  k6_11To6_15,  // double-pop heapsort
  k6_16To6_18,  // group_cpus_evenly() returns nummasks; sets compacted
  k6_19On,      // cluster-aware grouping within each node
};

KernelGeneration kernel_generation(const KernelVersion& v);
// One short phrase, e.g. "6.11-6.15: double-pop sort".
std::string_view generation_summary(KernelGeneration g);
// Every generation, oldest first.
std::span<const KernelGeneration> all_kernel_generations();
// A version of each generation, for tests and comparisons: 6.10, 6.15, 6.18,
// 6.19.
KernelVersion representative_version(KernelGeneration g);

// What irq_create_affinity_masks() does with a set of size 0 (a driver's
// calc_sets() may produce one; nvme and virtio do not).
enum class ZeroSizeSet {
  // Up to v6.2: irq_build_affinity_masks(curvec, 0, ...) takes the
  // "numvecs <= nodes" path and ORs each node's CPUs into the vectors after
  // the empty set (node k into vector curvec + k), which the next set then
  // ORs its own masks into; past the last vector it writes out of bounds.
  kOrIntoFollowingVectors,
  // v6.3-v6.15 before the fix: group_cpus_evenly(0) gets ZERO_SIZE_PTR from
  // kcalloc() and writes through it: an oops, no masks.
  kOops,
  // The fix (v6.16, stable 6.12.36): group_cpus_evenly(0) returns NULL, so
  // irq_create_affinity_masks() returns NULL and PCI/MSI gives every vector
  // the default affinity, unmanaged.
  kNoMasks,
};

// The differences between the kernel lines, each in one place.
struct KernelTraits {
  // lib/sort.c: the one-pop heapsort until v6.10, double-pop from v6.11.
  KernelSort sort = KernelSort::kDoublePop;
  // v6.16+: group_cpus_evenly() reports how many masks it filled and
  // irq_create_affinity_masks() packs the sets' filled masks together; the
  // vectors after them keep the default affinity (still managed). Before:
  // each set keeps all its vectors and the unfilled ones keep the empty
  // masks kcalloc() gave them.
  bool nr_masks = true;
  // v6.19+: within a node, CPUs are grouped cluster by cluster
  // (topology_cluster_cpumask()) when the node has no more clusters than
  // groups.
  bool cluster_aware = false;
  ZeroSizeSet zero_size_set = ZeroSizeSet::kNoMasks;
};

KernelTraits kernel_traits(const KernelVersion& v);

}  // namespace irqd
