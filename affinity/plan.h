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
};

// kUnfilled: a spread vector past the masks its set got (more vectors than
// CPUs); the kernel leaves it the default affinity but still managed.
enum class VectorRole { kPre, kSpread, kUnfilled, kPost };

struct VectorPlacement {
  unsigned index = 0;
  CpuMask cpus;
  bool managed = false;
  VectorRole role = VectorRole::kSpread;
  int set = -1;           // which set a spread vector belongs to; -1 for pre/post
  int serving_cpu = -1;   // -1 when no CPU of the mask is present
  int serving_node = -1;  // node of serving_cpu, -1 with it
};

struct Plan {
  PlannerKind planner = PlannerKind::kKernel;
  std::vector<VectorPlacement> vectors;
  // Masks each set got from its grouping (the kernel's nr_masks); below the
  // set's size when there are fewer CPUs than vectors.
  std::vector<unsigned> masks_per_set;
  // Vectors served by each CPU id, nr_cpu_ids long.
  std::vector<unsigned> served_per_cpu;
};

// Checks a request against the limits and the topology; the message names
// the offending value and the accepted range.
Status validate_request(const Topology& topo, const PlanRequest& request);

// Plans every vector. Pre and post vectors, and with the kernel planner
// also the spread vectors, follow irq_create_affinity_masks(); the other
// planners lay out each set their own way and leave every vector unmanaged,
// as a write to /proc/irq/N/smp_affinity_list would.
Result<Plan> make_plan(const Topology& topo, const PlanRequest& request);

}  // namespace irqd
