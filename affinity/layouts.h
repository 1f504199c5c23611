// SPDX-License-Identifier: GPL-2.0-only
//
// The layouts users compare the kernel's spreading with. Each fills numgrps
// masks from the present CPUs (a layout of user-set affinities cannot place
// a vector on a CPU that is not there) with the GroupCpusFn signature.

#pragma once

#include <vector>

#include "affinity/cpumask.h"
#include "affinity/topology.h"

namespace irqd {

// Vector i on the i-th CPU (mod n) taking each node in turn, each core's
// siblings together, cores in order.
std::vector<CpuMask> group_compact(const Topology& topo, unsigned numgrps, unsigned* nummasks);
// Vector i on every PU of one physical core, cores dealt round-robin
// across nodes (node 0's first core, node 1's first core, ...).
std::vector<CpuMask> group_per_core(const Topology& topo, unsigned numgrps, unsigned* nummasks);
// Every vector on the lowest present CPU.
std::vector<CpuMask> group_single(const Topology& topo, unsigned numgrps, unsigned* nummasks);
// Vector i on present CPU i mod n, CPUs in id order.
std::vector<CpuMask> group_round_robin(const Topology& topo, unsigned numgrps, unsigned* nummasks);

}  // namespace irqd
