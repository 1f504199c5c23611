// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd plan`: load a topology, plan a device's vectors, print the plan.
// With two or more --kernel versions, plan once per kernel line and show
// which vectors change between them: what an upgrade does to a device's
// interrupt layout, before the upgrade.

#pragma once

#include <iosfwd>
#include <string>

#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/result.h"

namespace irqd {

// The flags as typed; parse_plan_options() checks each and names the flag,
// the value and the accepted range when one is wrong.
struct PlanFlags {
  std::string topology = "live";
  std::string vectors;
  std::string pre_vectors = "0";
  std::string post_vectors = "0";
  std::string sets;
  std::string offline_cpus;
  std::string planner = "kernel";
  // One version or a comma-separated list; "" = the running kernel with
  // --topology live, else v6.18.
  std::string kernel;
  std::string format = "table";
};

enum class PlanFormat { kTable, kJson };

struct PlanOptions {
  std::string topology;
  PlanRequest request;                 // request.kernel is kernels[0]
  std::vector<KernelVersion> kernels;  // one, or the lines to compare, in the order given
  std::vector<unsigned> offline_cpus;
  PlanFormat format = PlanFormat::kTable;
};

Result<PlanOptions> parse_plan_options(const PlanFlags& flags);

// Loads the topology (with offline CPUs marked) and plans, once per kernel
// line. Errors carry the offending value.
struct PlanOutcome {
  Topology topology;
  std::vector<Plan> plans;  // one per options.kernels, in that order
};
Result<PlanOutcome> run_plan(const PlanOptions& options);

std::string format_plan_table(const Topology& topo, const PlanRequest& request, const Plan& plan);
std::string format_plan_json(const Topology& topo, const PlanRequest& request, const Plan& plan);

// Two or more plans of one request under different kernel lines: a row per
// vector with each line's mask, marked where they differ, then how many
// vectors change.
std::string format_plan_comparison_table(const Topology& topo, const PlanRequest& request,
                                         const std::vector<Plan>& plans);
// {"kernel_version": the first, "kernel_versions":[...], "plans":[one
// format_plan_json() object per line], "changes":[{"index","cpus":{"V":[..]},
// "managed":{"V":b}}, ...] (only the vectors that differ)}.
std::string format_plan_comparison_json(const Topology& topo, const PlanRequest& request,
                                        const std::vector<Plan>& plans);

// What the table's header and the JSON say of a kernel line: "6.12.117
// (6.11-6.15: double-pop sort)".
std::string describe_kernel(const KernelVersion& kernel);

// One sentence per planner, for --help.
std::string planner_help();

}  // namespace irqd
