// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/irq_affinity.h"

#include <utility>

namespace irqd {
namespace {

// default_calc_sets(): one set holding every vector between pre and post.
void default_calc_sets(IrqAffinity* affd, unsigned affvecs) {
  affd->nr_sets = 1;
  affd->set_size[0] = affvecs;
}

}  // namespace

std::optional<std::vector<IrqAffinityDesc>> irq_create_affinity_masks(const Topology& topo, unsigned nvecs,
                                                                      IrqAffinity affd, const GroupCpusFn& group,
                                                                      std::vector<unsigned>* nr_masks) {
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
    unsigned set_masks = 0;
    std::vector<CpuMask> result = group(this_vecs, &set_masks);
    if (result.empty()) return std::nullopt;  // the kernel frees and returns NULL

    for (unsigned j = 0; j < set_masks; j++) masks[curvec + j].mask = std::move(result[j]);
    if (nr_masks != nullptr) nr_masks->push_back(set_masks);

    // Fewer masks than vectors (more vectors than CPUs): the next set
    // starts right after the masks this one filled, not after its vectors.
    curvec += set_masks;
    usedvecs += set_masks;
  }

  // Everything after the last filled mask keeps the default affinity: the
  // post vectors and, when sets came up short, the unfilled spread vectors.
  curvec = usedvecs >= affvecs ? affd.pre_vectors + affvecs : affd.pre_vectors + usedvecs;
  for (; curvec < nvecs; curvec++) masks[curvec].mask = irq_default_affinity;

  // Managed: every vector between pre and post, filled or not.
  for (unsigned i = affd.pre_vectors; i < nvecs - affd.post_vectors; i++) masks[i].is_managed = true;

  return masks;
}

}  // namespace irqd
