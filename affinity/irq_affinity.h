// SPDX-License-Identifier: GPL-2.0-only
//
// irq_create_affinity_masks(), following kernel/irq/affinity.c of Linux
// v6.18: pre vectors and post vectors keep the default affinity, the
// vectors between them are split into sets and each set is spread over all
// possible CPUs on its own by a grouping function (group_cpus_evenly() for
// the kernel; the other layouts plug their own in).

#pragma once

#include <array>
#include <functional>
#include <optional>
#include <vector>

#include "affinity/cpumask.h"
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
// are filled (the kernel's group_cpus_evenly() signature).
using GroupCpusFn = std::function<std::vector<CpuMask>(unsigned numgrps, unsigned* nummasks)>;

// Returns std::nullopt where the kernel returns NULL: no vector is left
// between pre and post, so every vector keeps the default affinity and
// none is managed. The default affinity is every possible CPU.
// nr_masks, when given, receives each set's nummasks.
std::optional<std::vector<IrqAffinityDesc>> irq_create_affinity_masks(const Topology& topo, unsigned nvecs,
                                                                      IrqAffinity affd, const GroupCpusFn& group,
                                                                      std::vector<unsigned>* nr_masks = nullptr);

}  // namespace irqd
