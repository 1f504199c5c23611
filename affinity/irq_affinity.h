// SPDX-License-Identifier: GPL-2.0-only
//
// irq_create_affinity_masks(), following kernel/irq/affinity.c: pre vectors
// and post vectors keep the default affinity, the vectors between them are
// split into sets and each set is spread over all possible CPUs on its own
// by a grouping function (group_cpus_evenly() for the kernel; the other
// layouts plug their own in). Linux v6.18 by default; the traits name what
// earlier lines did differently (see kernel_version.h).

#pragma once

#include <array>
#include <functional>
#include <optional>
#include <vector>

#include "affinity/cpumask.h"
#include "affinity/kernel_version.h"
#include "affinity/topology.h"

namespace irqd {

// IRQ_AFFINITY_MAX_SETS.
inline constexpr unsigned kIrqAffinityMaxSets = 4;

// struct irq_affinity, less the calc_sets callback: set_size holds what a
// driver's calc_sets() would have produced. nr_sets == 0 means one set of
// every vector between pre and post (default_calc_sets()).
struct IrqAffinity {
  unsigned pre_vectors = 0;
  unsigned post_vectors = 0;
  unsigned nr_sets = 0;
  std::array<unsigned, kIrqAffinityMaxSets> set_size{};
};

struct IrqAffinityDesc {
  CpuMask mask;
  bool is_managed = false;
};

// Splits the possible CPUs into numgrps masks; sets *nummasks to how many
// are filled (the kernel's group_cpus_evenly() signature since v6.16).
using GroupCpusFn = std::function<std::vector<CpuMask>(unsigned numgrps, unsigned* nummasks)>;

// What irq_create_affinity_masks() does with a set of size 0 for layouts
// that are not the kernel's: the set simply takes no vector.
struct IrqAffinityRules {
  // v6.16 on: sets packed by their filled masks; before, by their sizes
  // with the unfilled masks left empty.
  bool nr_masks = true;
  // nullopt: a set of size 0 takes no vector (the non-kernel layouts).
  // ZeroSizeSet::kOops is refused by validate_request(), never seen here.
  std::optional<ZeroSizeSet> zero_size_set = ZeroSizeSet::kNoMasks;
};

// Returns std::nullopt where the kernel returns NULL: no vector is left
// between pre and post, or (with the fix) a set of size 0, so every vector
// keeps the default affinity and none is managed. The default affinity is
// every possible CPU. nr_masks, when given, receives each set's nummasks.
std::optional<std::vector<IrqAffinityDesc>> irq_create_affinity_masks(const Topology& topo, unsigned nvecs,
                                                                      IrqAffinity affd, const GroupCpusFn& group,
                                                                      std::vector<unsigned>* nr_masks = nullptr,
                                                                      const IrqAffinityRules& rules = {});

// Up to v6.2, a set of size 0 writes each node's CPUs into the vectors
// after it: the CPUs of the k-th node with present CPUs into vector
// first + k, then (second stage) those of the k-th node with possible-not-
// present CPUs into first + k. Returns, for k = 0, 1, ..., what lands in
// vector first + k.
std::vector<CpuMask> zero_size_set_residue(const Topology& topo);

}  // namespace irqd
