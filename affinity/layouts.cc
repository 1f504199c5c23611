// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/layouts.h"

namespace irqd {
namespace {

using CpuList = std::vector<unsigned>;

// Present CPUs of each core, cores grouped by the node of their CPUs (nodes
// ascending, cores in hwloc's logical order within a node). Cores with no
// present CPU are left out; nodes without cores are left out.
std::vector<std::vector<CpuList>> present_cores_by_node(const Topology& topo) {
  std::vector<std::vector<CpuList>> by_node;
  for (unsigned node : topo.node_ids()) {
    std::vector<CpuList> cores;
    for (const CpuList& core : topo.cores()) {
      CpuList cpus;
      for (unsigned cpu : core)
        if (topo.present().test_cpu(cpu) && topo.cpu_to_node(cpu) == node) cpus.push_back(cpu);
      if (!cpus.empty()) cores.push_back(std::move(cpus));
    }
    if (!cores.empty()) by_node.push_back(std::move(cores));
  }
  return by_node;
}

// Fills numgrps masks, mask i from choices[i % choices.size()].
std::vector<CpuMask> deal(const Topology& topo, unsigned numgrps, const std::vector<CpuList>& choices,
                          unsigned* nummasks) {
  std::vector<CpuMask> masks;
  masks.reserve(numgrps);
  for (unsigned i = 0; i < numgrps; ++i) masks.push_back(cpumask_of(topo.nr_cpu_ids(), choices[i % choices.size()]));
  *nummasks = numgrps;
  return masks;
}

}  // namespace

std::vector<CpuMask> group_compact(const Topology& topo, unsigned numgrps, unsigned* nummasks) {
  std::vector<CpuList> order;
  for (const auto& cores : present_cores_by_node(topo))
    for (const CpuList& core : cores)
      for (unsigned cpu : core) order.push_back({cpu});
  return deal(topo, numgrps, order, nummasks);
}

std::vector<CpuMask> group_per_core(const Topology& topo, unsigned numgrps, unsigned* nummasks) {
  std::vector<std::vector<CpuList>> by_node = present_cores_by_node(topo);
  std::vector<CpuList> order;
  // Round k takes the k-th core of every node that still has one.
  for (std::size_t k = 0;; ++k) {
    bool any = false;
    for (const auto& cores : by_node) {
      if (k < cores.size()) {
        order.push_back(cores[k]);
        any = true;
      }
    }
    if (!any) break;
  }
  return deal(topo, numgrps, order, nummasks);
}

std::vector<CpuMask> group_single(const Topology& topo, unsigned numgrps, unsigned* nummasks) {
  return deal(topo, numgrps, {{topo.present().first()}}, nummasks);
}

std::vector<CpuMask> group_round_robin(const Topology& topo, unsigned numgrps, unsigned* nummasks) {
  std::vector<CpuList> order;
  topo.present().for_each([&](unsigned cpu) { order.push_back({cpu}); });
  return deal(topo, numgrps, order, nummasks);
}

}  // namespace irqd
