// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/plan.h"

#include <array>
#include <numeric>

#include "affinity/group_cpus.h"
#include "affinity/irq_affinity.h"
#include "affinity/layouts.h"

namespace irqd {
namespace {

constexpr std::array<PlannerInfo, 5> kPlanners{{
    {PlannerKind::kKernel, "kernel",
     "Linux managed-interrupt spreading (irq_create_affinity_masks + group_cpus_evenly) of the kernel line "
     "followed (v6.18 unless told): CPUs split evenly into groups, NUMA nodes in proportion to their CPUs, SMT "
     "siblings together, present CPUs first."},
    {PlannerKind::kCompact, "compact",
     "One CPU per vector, filling a core's siblings before the next core and a NUMA node before the next node."},
    {PlannerKind::kPerCore, "per-core",
     "All SMT siblings of one physical core per vector, cores dealt round-robin across NUMA nodes."},
    {PlannerKind::kSingle, "single", "Every vector on one CPU, the lowest-numbered present one."},
    {PlannerKind::kRoundRobin, "round-robin", "Vector i on present CPU i mod n, CPUs in id order."},
}};

std::string join(std::span<const unsigned> values) {
  std::string out;
  for (unsigned v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

GroupCpusFn grouping_for(const Topology& topo, PlannerKind kind, const KernelTraits& traits) {
  if (kind == PlannerKind::kKernel) {
    GroupCpusOptions options{traits.sort, traits.cluster_aware};
    return [&topo, options](unsigned numgrps, unsigned* nummasks) {
      return group_cpus_evenly(topo, numgrps, nummasks, options);
    };
  }
  using Fn = std::vector<CpuMask> (*)(const Topology&, unsigned, unsigned*);
  Fn fn = nullptr;
  switch (kind) {
    case PlannerKind::kKernel: break;
    case PlannerKind::kCompact: fn = group_compact; break;
    case PlannerKind::kPerCore: fn = group_per_core; break;
    case PlannerKind::kSingle: fn = group_single; break;
    case PlannerKind::kRoundRobin: fn = group_round_robin; break;
  }
  return [&topo, fn](unsigned numgrps, unsigned* nummasks) { return fn(topo, numgrps, nummasks); };
}

// Where each set's vectors sit: from `first`, `span` vectors (its size up
// to v6.15, its filled masks from v6.16 on and for the layouts), of which
// the first `filled` got a mask.
struct SetSpan {
  unsigned first = 0;
  unsigned span = 0;
  unsigned filled = 0;
};

std::vector<SetSpan> set_spans(const PlanRequest& req, const std::vector<unsigned>& masks_per_set, bool nr_masks) {
  std::vector<SetSpan> spans;
  unsigned next = req.pre_vectors;
  for (std::size_t s = 0; s < masks_per_set.size(); ++s) {
    unsigned size = req.sets.empty() ? req.vectors - req.pre_vectors - req.post_vectors : req.sets[s];
    unsigned span = nr_masks ? masks_per_set[s] : size;
    spans.push_back(SetSpan{next, span, masks_per_set[s]});
    next += span;
  }
  return spans;
}

// Role and set of vector `index` when the kernel returned masks.
void place(unsigned index, const PlanRequest& req, const std::vector<SetSpan>& spans, VectorPlacement* v) {
  v->set = -1;
  if (index < req.pre_vectors) {
    v->role = VectorRole::kPre;
    return;
  }
  if (index >= req.vectors - req.post_vectors) {
    v->role = VectorRole::kPost;
    return;
  }
  v->role = VectorRole::kUnfilled;
  for (std::size_t s = 0; s < spans.size(); ++s) {
    if (index < spans[s].first || index >= spans[s].first + spans[s].span) continue;
    v->set = static_cast<int>(s);
    if (index < spans[s].first + spans[s].filled) v->role = VectorRole::kSpread;
  }
}

// Nodes holding at least one CPU of `cpus`.
unsigned nodes_meeting(const Topology& topo, const CpuMask& cpus) {
  unsigned n = 0;
  for (unsigned node : topo.node_ids()) n += topo.node_cpus(node).intersects(cpus) ? 1 : 0;
  return n;
}

// The kernel's handling of a set of size 0, where it has none to offer.
Status check_zero_size_sets(const Topology& topo, const PlanRequest& req) {
  if (req.planner != PlannerKind::kKernel || req.vectors <= req.pre_vectors + req.post_vectors) return ok_status();
  const KernelTraits traits = kernel_traits(req.kernel);
  unsigned first = req.pre_vectors;
  for (std::size_t i = 0; i < req.sets.size(); first += req.sets[i], ++i) {
    if (req.sets[i] != 0) continue;
    const std::string what = "sets '" + join(req.sets) + "' has an empty set (set " + std::to_string(i) + ")";
    switch (traits.zero_size_set) {
      case ZeroSizeSet::kNoMasks: return ok_status();  // NULL: the first one decides
      case ZeroSizeSet::kOops:
        return Error{what + ": Linux " + req.kernel.text +
                     " oopses there (group_cpus_evenly(0) writes through ZERO_SIZE_PTR), so there are no masks to "
                     "show (accepted: every set >= 1 before the fix, df831e977394 in 6.16 and stable 6.12.36)"};
      case ZeroSizeSet::kOrIntoFollowingVectors: {
        CpuMask absent(topo.nr_cpu_ids());
        absent.assign_andnot(topo.possible(), topo.present());
        unsigned reach = std::max(nodes_meeting(topo, topo.present()), nodes_meeting(topo, absent));
        if (first + reach > req.vectors)
          return Error{what + ": Linux " + req.kernel.text + " writes each node's CPUs into the " +
                       std::to_string(reach) + " vectors after it, past vector " + std::to_string(req.vectors - 1) +
                       " (out of bounds), so there are no masks to show (accepted: an empty set followed by at "
                       "least one vector per node)"};
        break;
      }
    }
  }
  return ok_status();
}

// What the x86 vector matrix (kernel/irq/matrix.c, struct cpumap) counts per
// CPU that decides where a vector lands. All of a device's vectors are
// allocated before the first is activated (msi_domain_alloc_irqs(), then
// request_irq() one by one), so every managed vector's reservation is in
// place before any serving CPU is picked.
struct MatrixCounts {
  // cm->managed_allocated: managed vectors this CPU serves.
  std::vector<unsigned> managed_allocated;
  // What took cm->available down: one per managed vector whose mask holds
  // the CPU (irq_matrix_reserve_managed() on the whole mask, from
  // x86_vector_alloc_irqs() -> reserve_managed_vector()), and one per
  // unmanaged vector the CPU serves (irq_matrix_alloc()). A managed vector
  // being served takes nothing more (irq_matrix_alloc_managed()).
  std::vector<unsigned> unavailable;
};

// matrix_find_best_cpu_managed(): of the online CPUs of the mask, the one
// with the fewest managed vectors allocated. It skips a CPU only when
// `cm->managed_allocated > allocated`, so a later CPU with an equal count
// wins: the highest id on a tie.
int find_best_cpu_managed(const Topology& topo, const CpuMask& cpus, const MatrixCounts& m) {
  int best = -1;
  cpus.for_each([&](unsigned cpu) {
    if (!topo.present().test_cpu(cpu)) return;
    if (best < 0 || m.managed_allocated[cpu] <= m.managed_allocated[static_cast<unsigned>(best)])
      best = static_cast<int>(cpu);
  });
  return best;
}

// matrix_find_best_cpu(): of the online CPUs of the mask, the one with the
// most vectors still available. It skips a CPU when `cm->available <=
// maxavl`, so an equal count later loses: the lowest id on a tie.
int find_best_cpu(const Topology& topo, const CpuMask& cpus, const MatrixCounts& m) {
  int best = -1;
  cpus.for_each([&](unsigned cpu) {
    if (!topo.present().test_cpu(cpu)) return;
    if (best < 0 || m.unavailable[cpu] < m.unavailable[static_cast<unsigned>(best)]) best = static_cast<int>(cpu);
  });
  return best;
}

// The CPU the x86 vector allocator would give the vector, present CPUs
// standing for online ones; -1 when none of the mask is present (a managed
// interrupt is then shut down).
int pick_serving_cpu(const Topology& topo, const VectorPlacement& v, const MatrixCounts& m) {
  return v.managed ? find_best_cpu_managed(topo, v.cpus, m) : find_best_cpu(topo, v.cpus, m);
}

}  // namespace

std::span<const PlannerInfo> all_planners() { return kPlanners; }

Result<PlannerKind> planner_from_name(std::string_view name) {
  std::string names;
  for (const PlannerInfo& p : kPlanners) {
    if (p.name == name) return p.kind;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  return Error{"unknown planner '" + std::string(name) + "' (accepted: " + names + ")"};
}

std::string_view planner_name(PlannerKind kind) {
  for (const PlannerInfo& p : kPlanners)
    if (p.kind == kind) return p.name;
  return "?";
}

Status validate_request(const Topology& topo, const PlanRequest& req) {
  if (req.vectors > kMaxVectors)
    return Error{"vectors " + std::to_string(req.vectors) + " is out of range (accepted: 0.." +
                 std::to_string(kMaxVectors) + ")"};
  if (req.pre_vectors > req.vectors || req.post_vectors > req.vectors)
    return Error{"pre-vectors " + std::to_string(req.pre_vectors) + " / post-vectors " +
                 std::to_string(req.post_vectors) + " exceed vectors " + std::to_string(req.vectors) +
                 " (accepted: 0.." + std::to_string(req.vectors) + " each)"};
  if (req.sets.empty()) return ok_status();
  if (req.sets.size() > kIrqAffinityMaxSets)
    return Error{"sets '" + join(req.sets) + "' has " + std::to_string(req.sets.size()) + " sets (accepted: 1.." +
                 std::to_string(kIrqAffinityMaxSets) + ", IRQ_AFFINITY_MAX_SETS)"};
  unsigned long long sum = std::accumulate(req.sets.begin(), req.sets.end(), 0ULL);
  long long affvecs = static_cast<long long>(req.vectors) - req.pre_vectors - req.post_vectors;
  if (static_cast<long long>(sum) != affvecs)
    return Error{"sets '" + join(req.sets) + "' sum to " + std::to_string(sum) + " but vectors - pre - post = " +
                 std::to_string(affvecs) + " (accepted: sizes summing to exactly that)"};
  return check_zero_size_sets(topo, req);
}

Result<Plan> make_plan(const Topology& topo, const PlanRequest& req) {
  if (Status s = validate_request(topo, req); !s) return s.error();

  const bool kernel = req.planner == PlannerKind::kKernel;
  const KernelTraits traits = kernel_traits(req.kernel);
  IrqAffinityRules rules;
  rules.nr_masks = !kernel || traits.nr_masks;
  rules.zero_size_set = kernel ? std::optional<ZeroSizeSet>(traits.zero_size_set) : std::nullopt;

  IrqAffinity affd;
  affd.pre_vectors = req.pre_vectors;
  affd.post_vectors = req.post_vectors;
  affd.nr_sets = static_cast<unsigned>(req.sets.size());
  for (std::size_t i = 0; i < req.sets.size(); ++i) affd.set_size[i] = req.sets[i];

  Plan plan;
  plan.planner = req.planner;
  plan.kernel = req.kernel;
  auto masks = irq_create_affinity_masks(topo, req.vectors, affd, grouping_for(topo, req.planner, traits),
                                         &plan.masks_per_set, rules);
  if (!masks) plan.masks_per_set.clear();  // NULL: no set got anything
  const std::vector<SetSpan> spans = set_spans(req, plan.masks_per_set, rules.nr_masks);

  plan.served_per_cpu.assign(topo.nr_cpu_ids(), 0);
  plan.vectors.reserve(req.vectors);
  for (unsigned i = 0; i < req.vectors; ++i) {
    VectorPlacement v;
    v.index = i;
    if (masks) {
      v.cpus = std::move((*masks)[i].mask);
      // Only the kernel's own spreading is managed; the other layouts are
      // what a user (or irqbalance) would write to smp_affinity_list.
      v.managed = (*masks)[i].is_managed && kernel;
      place(i, req, spans, &v);
    } else {
      // irq_create_affinity_masks() gave NULL: every vector the default
      // affinity, unmanaged.
      v.cpus = topo.possible();
      bool between = i >= req.pre_vectors && i < req.vectors - req.post_vectors;
      v.role = i < req.pre_vectors ? VectorRole::kPre : between ? VectorRole::kUnfilled : VectorRole::kPost;
    }
    plan.vectors.push_back(std::move(v));
  }

  MatrixCounts matrix;
  matrix.managed_allocated.assign(topo.nr_cpu_ids(), 0);
  matrix.unavailable.assign(topo.nr_cpu_ids(), 0);
  for (const VectorPlacement& v : plan.vectors)
    if (v.managed) v.cpus.for_each([&](unsigned cpu) { matrix.unavailable[cpu]++; });
  // Activated in index order, as a driver requests them.
  for (VectorPlacement& v : plan.vectors) {
    v.serving_cpu = pick_serving_cpu(topo, v, matrix);
    if (v.serving_cpu < 0) continue;
    const auto cpu = static_cast<unsigned>(v.serving_cpu);
    plan.served_per_cpu[cpu]++;
    (v.managed ? matrix.managed_allocated : matrix.unavailable)[cpu]++;
    v.serving_node = static_cast<int>(topo.cpu_to_node(cpu));
  }
  return plan;
}

}  // namespace irqd
