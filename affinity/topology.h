// SPDX-License-Identifier: GPL-2.0-only
//
// Topology: what the planners need to know about a machine, taken from hwloc
// and then held as plain data (no hwloc handle survives loading), so a plan
// is a pure function of a Topology and a request.
//
// CPU ids are PU os_index values, i.e. Linux CPU ids. A CPU's node is the
// lowest-numbered NUMA node whose cpuset holds it; CPU-less (memory-only)
// nodes are still nodes, as they are for the kernel's nr_node_ids and
// node_possible_map. Every PU is a possible CPU; every possible CPU is present
// unless marked offline with mark_not_present() (possible-but-not-present,
// the kernel's hot-pluggable slots).

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "affinity/cpumask.h"
#include "base/result.h"

namespace irqd {

// One PU as the planners see it. core/package/l3 are dense indexes into the
// Topology's tables, l2 names the PU's L2 cache (-1 when the machine has no
// such level above the PU).
struct CpuDesc {
  unsigned id = 0;
  unsigned node = 0;
  int core = -1;
  int package = -1;
  int l3 = -1;
  int l2 = -1;
};

class Topology {
 public:
  // SPEC is "live", "synthetic:<hwloc synthetic string>" or "xml:<path>".
  static Result<Topology> load(std::string_view spec);

  // Builds a topology from plain data (tests, and the hwloc loader itself).
  // node_ids lists every NUMA node id, CPU-less ones included. A CPU whose
  // core is -1 is given a core of its own.
  static Result<Topology> from_cpus(std::vector<CpuDesc> cpus, std::vector<unsigned> node_ids, std::string description);

  // The same machine with only these CPUs (each must be a CPU of it): what
  // a dispatcher confined to them plans on. Nodes, CPU-less ones included,
  // stay; presence carries over.
  Result<Topology> restrict_to(const std::vector<unsigned>& cpus) const;

  // Marks CPUs possible but not present. Every id must be a CPU of this
  // topology, and at least one CPU must stay present.
  Status mark_not_present(const std::vector<unsigned>& cpus);

  // Width of every CpuMask of this topology: largest CPU id + 1.
  unsigned nr_cpu_ids() const { return nr_cpu_ids_; }
  // Largest NUMA node id + 1 (the kernel's nr_node_ids).
  unsigned nr_node_ids() const { return nr_node_ids_; }

  const CpuMask& possible() const { return possible_; }
  const CpuMask& present() const { return present_; }
  bool is_possible(unsigned cpu) const { return possible_.test_cpu(cpu); }

  // Node ids that exist (node_possible_map), ascending.
  const std::vector<unsigned>& node_ids() const { return node_ids_; }
  bool node_exists(unsigned node) const;
  // The possible CPUs of a node (the kernel's node_to_cpumask[node]).
  const CpuMask& node_cpus(unsigned node) const { return node_cpus_[node]; }
  // Node of a possible CPU (cpu_to_node).
  unsigned cpu_to_node(unsigned cpu) const { return cpus_[cpu].node; }

  // The PUs of the CPU's core, ascending, the CPU itself included.
  const std::vector<unsigned>& core_siblings(unsigned cpu) const {
    return cores_[static_cast<unsigned>(cpus_[cpu].core)];
  }
  int core_of(unsigned cpu) const { return cpus_[cpu].core; }

  // The CPU's cluster as x86 sees it (topology_cluster_cpumask(), i.e.
  // cpu_l2c_shared_map): the present PUs under the same L2 cache, or the
  // present PUs of its core where there is no L2 level (match_l2c() falls
  // back to match_smt()); ascending. Empty for a CPU that is not present:
  // the map is filled when a CPU comes online.
  const std::vector<unsigned>& cluster_cpus(unsigned cpu) const;
  // Everything known of a possible CPU.
  const CpuDesc& cpu(unsigned id) const { return cpus_[id]; }

  // Groups of CPU ids, each ascending, in hwloc's logical order.
  const std::vector<std::vector<unsigned>>& cores() const { return cores_; }
  const std::vector<std::vector<unsigned>>& packages() const { return packages_; }
  const std::vector<std::vector<unsigned>>& l3_groups() const { return l3_groups_; }

  // Possible CPUs ascending, and their count.
  std::vector<unsigned> cpu_ids() const { return possible_.to_vector(); }
  unsigned nr_possible() const { return possible_.weight(); }

  // How it was built, e.g. "synthetic:pack:2 core:2 pu:2".
  const std::string& description() const { return description_; }

 private:
  Topology() = default;

  std::string description_;
  unsigned nr_cpu_ids_ = 0;
  unsigned nr_node_ids_ = 0;
  std::vector<CpuDesc> cpus_;  // indexed by CPU id; valid where possible_
  CpuMask possible_;
  CpuMask present_;
  std::vector<unsigned> node_ids_;
  std::vector<CpuMask> node_cpus_;  // indexed by node id, nr_node_ids_ long
  std::vector<std::vector<unsigned>> cores_;
  std::vector<std::vector<unsigned>> packages_;
  std::vector<std::vector<unsigned>> l3_groups_;
  // Present PUs per cluster, and each CPU's cluster (-1: not present).
  std::vector<std::vector<unsigned>> clusters_;
  std::vector<int> cluster_of_;

  void build_clusters();
};

}  // namespace irqd
