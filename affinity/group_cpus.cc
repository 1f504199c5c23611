// SPDX-License-Identifier: GPL-2.0-only
//
// Mirrors lib/group_cpus.c function by function, so the two can be read
// side by side: Linux v6.18 for the common part, and the cluster-aware
// rework (alloc_cluster_groups(), __try_group_cluster_cpus()) for v6.19 on.
// Names, loop shapes and the order of operations are the kernel's; the
// comments are ours and say why each step matters for the masks that come
// out, and which kernel line each piece follows.
//
// The 6.1 line's kernel/irq/affinity.c (irq_spread_init_one(),
// alloc_nodes_vectors(), __irq_build_affinity_masks(),
// irq_build_affinity_masks()) computes the same groups: it was renamed and
// moved into lib/ in v6.3 without a change in what it produces, except for
// zero groups (see irq_affinity.cc).

#include "affinity/group_cpus.h"

#include <algorithm>
#include <climits>
#include <span>

namespace irqd {
namespace {

// topology_sibling_cpumask(cpu). The kernel fills a CPU's sibling map when
// that CPU comes online; a CPU that was never brought up (possible, not
// present) has no siblings but itself. That is what makes the second stage
// below take non-present CPUs in plain id order.
std::span<const unsigned> topology_sibling_cpumask(const Topology& topo, const unsigned& cpu) {
  if (!topo.present().test_cpu(cpu)) return {&cpu, 1};
  return topo.core_siblings(cpu);
}

// topology_cluster_cpumask(cpu) (x86: cpu_l2c_shared_map), empty for a CPU
// that is not present. Used from v6.19 on.
std::span<const unsigned> topology_cluster_cpumask(const Topology& topo, unsigned cpu) {
  return topo.cluster_cpus(cpu);
}

// Moves cpus_per_grp CPUs from nmsk into irqmsk: the lowest remaining CPU,
// then its remaining siblings, then the next lowest, and so on. (6.1:
// irq_spread_init_one(), the same loop.)
void grp_spread_init_one(const Topology& topo, CpuMask* irqmsk, CpuMask* nmsk, unsigned cpus_per_grp) {
  while (cpus_per_grp > 0) {
    unsigned cpu = nmsk->first();
    if (cpu >= topo.nr_cpu_ids()) return;  // nothing left; the kernel bails the same way

    nmsk->clear_cpu(cpu);
    irqmsk->set_cpu(cpu);
    cpus_per_grp--;

    // Siblings first, in ascending id order (cpumask_next over the map).
    for (unsigned sibl : topology_sibling_cpumask(topo, cpu)) {
      if (cpus_per_grp == 0) break;
      if (!nmsk->test_and_clear_cpu(sibl)) continue;
      irqmsk->set_cpu(sibl);
      cpus_per_grp--;
    }
  }
}

// node_to_cpumask[node]: every possible CPU of each node. Indexed by node
// id up to nr_node_ids, so ids that no node has stay empty masks.
std::vector<CpuMask> build_node_to_cpumask(const Topology& topo) {
  std::vector<CpuMask> masks(topo.nr_node_ids(), CpuMask(topo.nr_cpu_ids()));
  topo.possible().for_each([&](unsigned cpu) { masks[topo.cpu_to_node(cpu)].set_cpu(cpu); });
  return masks;
}

// Collects the nodes (ascending id, as for_each_node does) whose CPUs meet
// the mask; returns how many.
unsigned get_nodes_in_cpumask(const Topology& topo, const std::vector<CpuMask>& node_to_cpumask, const CpuMask& mask,
                              std::vector<unsigned>* nodemsk) {
  for (unsigned n : topo.node_ids()) {
    if (mask.intersects(node_to_cpumask[n])) nodemsk->push_back(n);
  }
  return static_cast<unsigned>(nodemsk->size());
}

// One entry per node id (or, v6.19 on, per cluster of a node). ncpus and
// ngroups share storage in the kernel (a union): alloc_groups_to_nodes()
// overwrites an entry's CPU count with its group count, and UINT_MAX marks
// a node with nothing to spread in both. (6.1: struct node_vectors.)
struct node_groups {
  unsigned id;
  unsigned ncpus_or_ngroups;
};

// The kernel returns `ln->ncpus - rn->ncpus` as int: unsigned subtraction
// converted to int. With UINT_MAX for absent nodes that makes them compare
// as -1, i.e. smaller than every real node, so they sort to the front.
// Reproduced as is, since the sort order decides which vectors a node gets.
int ncpus_cmp_func(const node_groups& l, const node_groups& r) {
  return static_cast<int>(l.ncpus_or_ngroups - r.ncpus_or_ngroups);
}

// Gives each entry groups in proportion to its CPUs, smallest first, at
// least one group each; the remainder carried to the larger entries keeps
// every entry's groups <= its CPUs (the kernel file proves this at length).
// The sort is lib/sort.c of the kernel line followed (6.1: the tail of
// alloc_nodes_vectors()).
void alloc_groups_to_nodes(unsigned numgrps, unsigned numcpus, std::span<node_groups> ngs, KernelSort sort) {
  unsigned remaining_ncpus = numcpus;

  kernel_sort(ngs, ncpus_cmp_func, sort);

  for (node_groups& ng : ngs) {
    if (ng.ncpus_or_ngroups == UINT_MAX) continue;
    unsigned ncpus = ng.ncpus_or_ngroups;
    // 64-bit product: with 8192 CPUs and 4096 groups the kernel's 32-bit
    // unsigned product still fits, and so does ours; widen anyway.
    unsigned ngroups =
        std::max(1U, static_cast<unsigned>(static_cast<unsigned long long>(numgrps) * ncpus / remaining_ncpus));
    ng.ncpus_or_ngroups = ngroups;
    remaining_ncpus -= ncpus;
    numgrps -= ngroups;
  }
}

// Counts each node's CPUs in cpu_mask and hands the nodes to
// alloc_groups_to_nodes(). Never more groups than CPUs in the mask.
void alloc_nodes_groups(const Topology& topo, unsigned numgrps, const std::vector<CpuMask>& node_to_cpumask,
                        const CpuMask& cpu_mask, const std::vector<unsigned>& nodemsk, CpuMask* nmsk,
                        std::vector<node_groups>* ngs, KernelSort sort) {
  unsigned numcpus = 0;

  for (unsigned n = 0; n < topo.nr_node_ids(); n++) (*ngs)[n] = node_groups{n, UINT_MAX};

  for (unsigned n : nodemsk) {
    nmsk->assign_and(cpu_mask, node_to_cpumask[n]);
    unsigned ncpus = nmsk->weight();
    if (ncpus == 0) continue;
    numcpus += ncpus;
    (*ngs)[n].ncpus_or_ngroups = ncpus;
  }

  numgrps = std::min(numcpus, numgrps);
  alloc_groups_to_nodes(numgrps, numcpus, *ngs, sort);
}

// Spreads the groups an entry was given over its CPUs; the first
// (ncpus % ngroups) groups take one CPU more. (v6.18: the loop body of
// __group_cpus_evenly(), made a function by the cluster-aware rework.)
void assign_cpus_to_groups(const Topology& topo, unsigned ncpus, CpuMask* nmsk, const node_groups& nv,
                           std::vector<CpuMask>* masks, unsigned* curgrp, unsigned last_grp) {
  unsigned ngroups = nv.ncpus_or_ngroups;
  unsigned extra_grps = ncpus - ngroups * (ncpus / ngroups);

  for (unsigned v = 0; v < ngroups; v++, *curgrp += 1) {
    unsigned cpus_per_grp = ncpus / ngroups;
    if (extra_grps != 0) {
      cpus_per_grp++;
      --extra_grps;
    }
    // The second stage starts mid-array, so wrap back to group 0.
    if (*curgrp >= last_grp) *curgrp = 0;
    grp_spread_init_one(topo, &(*masks)[*curgrp], nmsk, cpus_per_grp);
  }
}

// v6.19 on. Counts the clusters of a node's CPUs (node_cpumask), cluster by
// cluster from the lowest CPU left, and gives each cluster groups as
// alloc_groups_to_nodes() gives nodes theirs. Returns 0, meaning "group the
// node as before", when a CPU has no cluster (not present: its map is
// empty) or when there are more clusters than groups (a group would have
// to span clusters anyway).
unsigned alloc_cluster_groups(const Topology& topo, unsigned ncpus, unsigned ngroups, const CpuMask& node_cpumask,
                              CpuMask* msk, std::vector<std::span<const unsigned>>* clusters,
                              std::vector<node_groups>* cluster_groups, KernelSort sort) {
  unsigned ncluster = 0;

  *msk = node_cpumask;
  // Probe how many clusters the node has.
  for (;;) {
    unsigned cpu = msk->first();
    if (cpu >= topo.nr_cpu_ids()) break;
    std::span<const unsigned> cluster_mask = topology_cluster_cpumask(topo, cpu);
    // The fix in v2 of the patch: an empty map would loop forever.
    if (cluster_mask.empty()) return 0;
    for (unsigned c : cluster_mask) msk->clear_cpu(c);  // cpumask_andnot()
    ncluster++;
  }

  if (ncluster == 0 || ncluster > ngroups) return 0;

  // Each cluster's CPUs within the node, clusters in the order probed.
  *msk = node_cpumask;
  for (unsigned n = 0; n < ncluster; n++) {
    unsigned cpu = msk->first();
    std::span<const unsigned> cluster_mask = topology_cluster_cpumask(topo, cpu);
    unsigned nc = 0;
    for (unsigned c : cluster_mask) nc += node_cpumask.test_cpu(c) ? 1 : 0;  // cpumask_weight_and()
    clusters->push_back(cluster_mask);
    cluster_groups->push_back(node_groups{n, nc});
    for (unsigned c : cluster_mask) msk->clear_cpu(c);
  }

  alloc_groups_to_nodes(ngroups, ncpus, *cluster_groups, sort);
  return ncluster;
}

// v6.19 on: groups a node's CPUs cluster by cluster, clusters in sorted
// order (fewest CPUs first, equal ones in heapsort order). False when
// alloc_cluster_groups() found no usable clusters. (The kernel's
// __try_group_cluster_cpus.)
bool try_group_cluster_cpus(const Topology& topo, unsigned ncpus, unsigned ngroups, const CpuMask& node_cpumask,
                            std::vector<CpuMask>* masks, unsigned* curgrp, unsigned last_grp, KernelSort sort) {
  std::vector<std::span<const unsigned>> clusters;
  std::vector<node_groups> cluster_groups;
  CpuMask nmsk(topo.nr_cpu_ids());

  unsigned ncluster = alloc_cluster_groups(topo, ncpus, ngroups, node_cpumask, &nmsk, &clusters, &cluster_groups, sort);
  if (ncluster == 0) return false;

  for (unsigned i = 0; i < ncluster; i++) {
    const node_groups& nv = cluster_groups[i];

    // The CPUs of this cluster in the node.
    nmsk.clear_all();
    for (unsigned c : clusters[nv.id])
      if (node_cpumask.test_cpu(c)) nmsk.set_cpu(c);
    unsigned nc = nmsk.weight();
    if (nc == 0) continue;

    assign_cpus_to_groups(topo, nc, &nmsk, nv, masks, curgrp, last_grp);
  }
  return true;
}

// One stage: spread the CPUs of cpu_mask over numgrps groups starting at
// group startgrp. Returns how many groups it filled. (The kernel's
// __group_cpus_evenly; C++ reserves names with a leading double underscore.
// 6.1: __irq_build_affinity_masks().)
unsigned do_group_cpus_evenly(const Topology& topo, unsigned startgrp, unsigned numgrps,
                              const std::vector<CpuMask>& node_to_cpumask, const CpuMask& cpu_mask, CpuMask* nmsk,
                              std::vector<CpuMask>* masks, const GroupCpusOptions& options) {
  unsigned done = 0;
  unsigned last_grp = numgrps;
  unsigned curgrp = startgrp;
  std::vector<unsigned> nodemsk;

  if (cpu_mask.empty()) return 0;

  unsigned nodes = get_nodes_in_cpumask(topo, node_to_cpumask, cpu_mask, &nodemsk);

  // No more groups than nodes: each node's CPUs go whole into a group,
  // nodes in id order, wrapping so several nodes can share one group.
  if (numgrps <= nodes) {
    for (unsigned n : nodemsk) {
      nmsk->assign_and(cpu_mask, node_to_cpumask[n]);
      (*masks)[curgrp].or_with(*nmsk);
      if (++curgrp == last_grp) curgrp = 0;
    }
    return numgrps;
  }

  std::vector<node_groups> ngs(topo.nr_node_ids());
  alloc_nodes_groups(topo, numgrps, node_to_cpumask, cpu_mask, nodemsk, nmsk, &ngs, options.sort);

  // Nodes are visited in sorted order (fewest CPUs first, equal ones in
  // heapsort order), and that order decides which group numbers each gets.
  for (unsigned i = 0; i < topo.nr_node_ids(); i++) {
    const node_groups& nv = ngs[i];
    if (nv.ncpus_or_ngroups == UINT_MAX) continue;

    nmsk->assign_and(cpu_mask, node_to_cpumask[nv.id]);
    unsigned ncpus = nmsk->weight();
    if (ncpus == 0) continue;

    // v6.19 on: cluster by cluster where the node allows it.
    if (options.cluster_aware &&
        try_group_cluster_cpus(topo, ncpus, nv.ncpus_or_ngroups, *nmsk, masks, &curgrp, last_grp, options.sort)) {
      done += nv.ncpus_or_ngroups;
      continue;
    }

    assign_cpus_to_groups(topo, ncpus, nmsk, nv, masks, &curgrp, last_grp);
    done += nv.ncpus_or_ngroups;
  }
  return done;
}

}  // namespace

std::vector<CpuMask> group_cpus_evenly(const Topology& topo, unsigned numgrps, unsigned* nummasks,
                                       const GroupCpusOptions& options) {
  unsigned curgrp = 0;

  *nummasks = 0;
  if (numgrps == 0) return {};

  CpuMask nmsk(topo.nr_cpu_ids());
  std::vector<CpuMask> masks(numgrps, CpuMask(topo.nr_cpu_ids()));
  std::vector<CpuMask> node_to_cpumask = build_node_to_cpumask(topo);

  // Stage 1: present CPUs.
  CpuMask npresmsk = topo.present();
  unsigned nr_present = do_group_cpus_evenly(topo, curgrp, numgrps, node_to_cpumask, npresmsk, &nmsk, &masks, options);

  // Stage 2: possible-but-not-present CPUs, starting at the first group the
  // present CPUs left unused, or over again from group 0 if they used all.
  curgrp = nr_present >= numgrps ? 0 : nr_present;
  npresmsk.assign_andnot(topo.possible(), npresmsk);
  unsigned nr_others = do_group_cpus_evenly(topo, curgrp, numgrps, node_to_cpumask, npresmsk, &nmsk, &masks, options);

  // v6.16 on the kernel reports this; before, irq_create_affinity_masks()
  // used all numgrps masks, the unfilled ones empty.
  *nummasks = std::min(nr_present + nr_others, numgrps);
  return masks;
}

}  // namespace irqd
