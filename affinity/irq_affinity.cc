// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/irq_affinity.h"

#include <algorithm>
#include <utility>

namespace irqd {
namespace {

// default_calc_sets(): one set holding every vector between pre and post.
void default_calc_sets(IrqAffinity* affd, unsigned affvecs) {
  affd->nr_sets = 1;
  affd->set_size[0] = affvecs;
}

// masks[] starts zeroed (kcalloc); ours are built on first write, since at
// 8192 CPUs each mask is 1 KiB (and taken over, not copied, when nothing
// was written there before).
void or_into(IrqAffinityDesc* desc, CpuMask&& cpus) {
  if (desc->mask.size() == 0) {
    desc->mask = std::move(cpus);
  } else {
    desc->mask.or_with(cpus);
  }
}

}  // namespace

std::vector<CpuMask> zero_size_set_residue(const Topology& topo) {
  // __irq_build_affinity_masks(startvec, 0, firstvec, ...) of the 6.1 line:
  // numvecs 0 <= nodes, so "for_each_node_mask(n, nodemsk) cpumask_or(
  // &masks[curvec].mask, ..., cpu_mask & node); if (++curvec == last_affv)
  // curvec = firstvec;" with last_affv == firstvec: curvec only grows.
  std::vector<CpuMask> out;
  auto stage = [&](const CpuMask& cpu_mask) {
    unsigned k = 0;
    for (unsigned n : topo.node_ids()) {
      CpuMask nmsk(topo.nr_cpu_ids());
      nmsk.assign_and(cpu_mask, topo.node_cpus(n));
      if (nmsk.empty()) continue;
      if (out.size() <= k) out.emplace_back(topo.nr_cpu_ids());
      out[k++].or_with(nmsk);
    }
  };
  CpuMask absent(topo.nr_cpu_ids());
  absent.assign_andnot(topo.possible(), topo.present());
  stage(topo.present());  // nr_present 0 >= numvecs 0: stage 2 restarts at firstvec
  stage(absent);
  return out;
}

std::optional<std::vector<IrqAffinityDesc>> irq_create_affinity_masks(const Topology& topo, unsigned nvecs,
                                                                      IrqAffinity affd, const GroupCpusFn& group,
                                                                      std::vector<unsigned>* nr_masks,
                                                                      const IrqAffinityRules& rules) {
  unsigned affvecs = 0;
  unsigned curvec = 0;
  unsigned usedvecs = 0;

  // Vectors left once pre and post are taken; none means nothing to spread.
  if (nvecs > affd.pre_vectors + affd.post_vectors) affvecs = nvecs - affd.pre_vectors - affd.post_vectors;

  if (affd.nr_sets == 0) default_calc_sets(&affd, affvecs);

  if (affvecs == 0) return std::nullopt;

  // irq_default_affinity: every CPU the machine may ever have.
  const CpuMask& irq_default_affinity = topo.possible();
  // Every entry gets a mask below (pre, a set's result, or the default), so
  // none is built here: at 8192 CPUs each mask is 1 KiB.
  std::vector<IrqAffinityDesc> masks(nvecs);

  for (curvec = 0; curvec < affd.pre_vectors; curvec++) masks[curvec].mask = irq_default_affinity;

  // Each set covers all CPUs on its own: a set is one kind of queue (say,
  // read vs write queues) and every CPU needs one of each.
  for (unsigned i = 0; i < affd.nr_sets; i++) {
    unsigned this_vecs = affd.set_size[i];

    if (this_vecs == 0 && rules.zero_size_set != ZeroSizeSet::kNoMasks) {
      if (nr_masks != nullptr) nr_masks->push_back(0);
      // Up to v6.2: the node masks land in the vectors after this set
      // (validate_request() refuses the requests where they would land
      // past the last vector). A non-kernel layout: nothing at all.
      if (rules.zero_size_set == ZeroSizeSet::kOrIntoFollowingVectors) {
        std::vector<CpuMask> residue = zero_size_set_residue(topo);
        for (std::size_t k = 0; k < residue.size() && curvec + k < nvecs; ++k)
          or_into(&masks[curvec + k], std::move(residue[k]));
      }
      continue;
    }

    unsigned set_masks = 0;
    std::vector<CpuMask> result = group(this_vecs, &set_masks);
    if (result.empty()) return std::nullopt;  // the kernel frees and returns NULL
    if (nr_masks != nullptr) nr_masks->push_back(set_masks);

    if (rules.nr_masks) {
      // v6.16 on: only the filled masks are copied, and the next set starts
      // right after them, not after this set's vectors.
      for (unsigned j = 0; j < set_masks; j++) masks[curvec + j].mask = std::move(result[j]);
      curvec += set_masks;
      usedvecs += set_masks;
    } else {
      // Up to v6.15: all this_vecs masks, the unfilled ones empty (up to
      // v6.2 the grouping wrote into the array itself, over whatever a
      // preceding empty set left there).
      for (unsigned j = 0; j < this_vecs; j++) or_into(&masks[curvec + j], std::move(result[j]));
      curvec += this_vecs;
      usedvecs += this_vecs;
    }
  }

  // Everything after the last filled mask keeps the default affinity: the
  // post vectors and, when sets came up short (v6.16 on), the unfilled
  // spread vectors.
  curvec = usedvecs >= affvecs ? affd.pre_vectors + affvecs : affd.pre_vectors + usedvecs;
  for (; curvec < nvecs; curvec++) masks[curvec].mask = irq_default_affinity;

  // Managed: every vector between pre and post, filled or not.
  for (unsigned i = affd.pre_vectors; i < nvecs - affd.post_vectors; i++) masks[i].is_managed = true;

  return masks;
}

}  // namespace irqd
