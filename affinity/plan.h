// SPDX-License-Identifier: GPL-2.0-only
//
// A plan: for every vector of a device, the CPUs it may be delivered to,
// whether the kernel would manage it, and the one CPU that serves it (where
// irqd's reactor for it runs). This is the affinity library's public entry
// point; the plan is plain data that dispatch/ and daemon/ consume.

#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/cpumask.h"
#include "affinity/kernel_version.h"
#include "affinity/topology.h"
#include "base/result.h"

namespace irqd {

enum class PlannerKind { kKernel, kCompact, kPerCore, kSingle, kRoundRobin };

struct PlannerInfo {
  PlannerKind kind;
  std::string_view name;     // as given on the command line
  std::string_view summary;  // one sentence, for --help
};

// Every planner, in the order --help lists them.
std::span<const PlannerInfo> all_planners();
Result<PlannerKind> planner_from_name(std::string_view name);
std::string_view planner_name(PlannerKind kind);

inline constexpr unsigned kMaxVectors = 65536;

struct PlanRequest {
  unsigned vectors = 0;
  unsigned pre_vectors = 0;
  unsigned post_vectors = 0;
  // Sizes of the vector sets between pre and post; empty means one set.
  std::vector<unsigned> sets;
  PlannerKind planner = PlannerKind::kKernel;
  // The kernel line whose spreading the kernel planner reproduces; the
  // other planners do not depend on it.
  KernelVersion kernel = default_kernel_version();
};

// kUnfilled: a spread vector that got no mask of its own. Either it is past
// the masks its set got (more vectors than CPUs): managed, with the default
// affinity from v6.16 on and an empty mask before (set names its set there,
// -1 from v6.16 on, where it sits after every set); or the kernel returned
// no masks at all because a set was empty: unmanaged, default affinity.
enum class VectorRole { kPre, kSpread, kUnfilled, kPost };

struct VectorPlacement {
  unsigned index = 0;
  CpuMask cpus;
  bool managed = false;
  VectorRole role = VectorRole::kSpread;
  int set = -1;           // which set a spread vector belongs to; -1 for pre/post
  int serving_cpu = -1;   // -1 when no CPU of the mask is present (or it is empty)
  int serving_node = -1;  // node of serving_cpu, -1 with it
};

struct Plan {
  PlannerKind planner = PlannerKind::kKernel;
  // The kernel line followed (the request's).
  KernelVersion kernel = default_kernel_version();
  std::vector<VectorPlacement> vectors;
  // Masks each set got from its grouping (the kernel's nr_masks); below the
  // set's size when there are fewer CPUs than vectors.
  std::vector<unsigned> masks_per_set;
  // Vectors served by each CPU id, nr_cpu_ids long.
  std::vector<unsigned> served_per_cpu;
};

// Checks a request against the limits and the topology; the message names
// the offending value and the accepted range. Zero vectors are an empty
// plan. A set of size 0 is accepted where the kernel line followed copes
// with it (see ZeroSizeSet): refused where the kernel oopses (v6.3-v6.15
// before the fix) or, up to v6.2, writes past its mask array.
Status validate_request(const Topology& topo, const PlanRequest& request);

// Plans every vector. Pre and post vectors, and with the kernel planner
// also the spread vectors, follow irq_create_affinity_masks(); the other
// planners lay out each set their own way and leave every vector unmanaged,
// as a write to /proc/irq/N/smp_affinity_list would.
Result<Plan> make_plan(const Topology& topo, const PlanRequest& request);

}  // namespace irqd
