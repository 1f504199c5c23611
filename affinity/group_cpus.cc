// SPDX-License-Identifier: GPL-2.0-only
//
// Mirrors lib/group_cpus.c of Linux v6.18, function by function, so the two
// can be read side by side. Names, loop shapes and the order of operations
// are the kernel's; the comments are ours and say why each step matters for
// the masks that come out.

#include "affinity/group_cpus.h"

#include <algorithm>
#include <climits>
#include <span>

#include "affinity/kernel_sort.h"

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

// Moves cpus_per_grp CPUs from nmsk into irqmsk: the lowest remaining CPU,
// then its remaining siblings, then the next lowest, and so on.
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

// One entry per node id. ncpus and ngroups share storage in the kernel (a
// union): alloc_groups_to_nodes() overwrites a node's CPU count with its
// group count, and UINT_MAX marks a node with nothing to spread in both.
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

// Gives each node groups in proportion to its CPUs, smallest node first, at
// least one group each; the remainder carried to the larger nodes keeps
// every node's groups <= its CPUs (the kernel file proves this at length).
void alloc_groups_to_nodes(unsigned numgrps, unsigned numcpus, std::span<node_groups> ngs) {
  unsigned remaining_ncpus = numcpus;

  kernel_sort(ngs, ncpus_cmp_func);

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
                        std::vector<node_groups>* ngs) {
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
  alloc_groups_to_nodes(numgrps, numcpus, *ngs);
}

// Spreads the groups a node was given over that node's CPUs; the first
// (ncpus % ngroups) groups take one CPU more.
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

// One stage: spread the CPUs of cpu_mask over numgrps groups starting at
// group startgrp. Returns how many groups it filled. (The kernel's
// __group_cpus_evenly; C++ reserves names with a leading double underscore.)
unsigned do_group_cpus_evenly(const Topology& topo, unsigned startgrp, unsigned numgrps,
                              const std::vector<CpuMask>& node_to_cpumask, const CpuMask& cpu_mask, CpuMask* nmsk,
                              std::vector<CpuMask>* masks) {
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
  alloc_nodes_groups(topo, numgrps, node_to_cpumask, cpu_mask, nodemsk, nmsk, &ngs);

  // Nodes are visited in sorted order (fewest CPUs first, equal ones in
  // heapsort order), and that order decides which group numbers each gets.
  for (unsigned i = 0; i < topo.nr_node_ids(); i++) {
    const node_groups& nv = ngs[i];
    if (nv.ncpus_or_ngroups == UINT_MAX) continue;

    nmsk->assign_and(cpu_mask, node_to_cpumask[nv.id]);
    unsigned ncpus = nmsk->weight();
    if (ncpus == 0) continue;

    assign_cpus_to_groups(topo, ncpus, nmsk, nv, masks, &curgrp, last_grp);
    done += nv.ncpus_or_ngroups;
  }
  return done;
}

}  // namespace

std::vector<CpuMask> group_cpus_evenly(const Topology& topo, unsigned numgrps, unsigned* nummasks) {
  unsigned curgrp = 0;

  *nummasks = 0;
  if (numgrps == 0) return {};

  CpuMask nmsk(topo.nr_cpu_ids());
  std::vector<CpuMask> masks(numgrps, CpuMask(topo.nr_cpu_ids()));
  std::vector<CpuMask> node_to_cpumask = build_node_to_cpumask(topo);

  // Stage 1: present CPUs.
  CpuMask npresmsk = topo.present();
  unsigned nr_present = do_group_cpus_evenly(topo, curgrp, numgrps, node_to_cpumask, npresmsk, &nmsk, &masks);

  // Stage 2: possible-but-not-present CPUs, starting at the first group the
  // present CPUs left unused, or over again from group 0 if they used all.
  curgrp = nr_present >= numgrps ? 0 : nr_present;
  npresmsk.assign_andnot(topo.possible(), npresmsk);
  unsigned nr_others = do_group_cpus_evenly(topo, curgrp, numgrps, node_to_cpumask, npresmsk, &nmsk, &masks);

  *nummasks = std::min(nr_present + nr_others, numgrps);
  return masks;
}

}  // namespace irqd
