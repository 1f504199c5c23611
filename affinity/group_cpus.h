// SPDX-License-Identifier: GPL-2.0-only
//
// group_cpus_evenly(), following lib/group_cpus.c of Linux v6.18 (before the
// cluster-aware rework that landed after it): split the possible CPUs into
// groups, NUMA node by NUMA node in proportion to each node's CPUs, keeping
// SMT siblings together, present CPUs first and possible-but-not-present
// ones after. The static functions of the kernel file appear in
// group_cpus.cc under their kernel names, in the same order.

#pragma once

#include <vector>

#include "affinity/cpumask.h"
#include "affinity/topology.h"

namespace irqd {

// Returns numgrps masks (empty when numgrps is 0, where the kernel returns
// NULL) and sets *nummasks to how many of them were filled: fewer than
// numgrps when there are fewer possible CPUs than groups.
std::vector<CpuMask> group_cpus_evenly(const Topology& topo, unsigned numgrps, unsigned* nummasks);

}  // namespace irqd
