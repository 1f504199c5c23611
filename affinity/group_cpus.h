// SPDX-License-Identifier: GPL-2.0-only
//
// group_cpus_evenly(), following lib/group_cpus.c: split the possible CPUs
// into groups, NUMA node by NUMA node in proportion to each node's CPUs,
// keeping SMT siblings together, present CPUs first and possible-but-not-
// present ones after. The static functions of the kernel file appear in
// group_cpus.cc under their kernel names, in the same order.
//
// One structure for every kernel line since 6.1 (before v6.3 the same
// algorithm lived in kernel/irq/affinity.c as irq_build_affinity_masks());
// the options name what differs between them:
//   - the sort that orders the nodes (lib/sort.c changed in v6.11);
//   - v6.19 on: cluster-aware grouping within each node.
// How many masks the caller uses (nummasks, v6.16) is the caller's business:
// see irq_create_affinity_masks().

#pragma once

#include <vector>

#include "affinity/cpumask.h"
#include "affinity/kernel_sort.h"
#include "affinity/topology.h"

namespace irqd {

struct GroupCpusOptions {
  KernelSort sort = KernelSort::kDoublePop;  // v6.11 on; kOnePop before
  bool cluster_aware = false;                // v6.19 on
};

// Returns numgrps masks (empty when numgrps is 0, where the fixed kernel
// returns NULL) and sets *nummasks to how many of them were filled: fewer
// than numgrps when there are fewer possible CPUs than groups; the others
// stay empty. The default options are Linux v6.18's.
std::vector<CpuMask> group_cpus_evenly(const Topology& topo, unsigned numgrps, unsigned* nummasks,
                                       const GroupCpusOptions& options = {});

}  // namespace irqd
