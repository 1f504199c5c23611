// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd plan`: load a topology, plan a device's vectors, print the plan.

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
  std::string format = "table";
};

enum class PlanFormat { kTable, kJson };

struct PlanOptions {
  std::string topology;
  PlanRequest request;
  std::vector<unsigned> offline_cpus;
  PlanFormat format = PlanFormat::kTable;
};

Result<PlanOptions> parse_plan_options(const PlanFlags& flags);

// Loads the topology (with offline CPUs marked) and plans. Errors carry the
// offending value.
struct PlanOutcome {
  Topology topology;
  Plan plan;
};
Result<PlanOutcome> run_plan(const PlanOptions& options);

std::string format_plan_table(const Topology& topo, const PlanRequest& request, const Plan& plan);
std::string format_plan_json(const Topology& topo, const PlanRequest& request, const Plan& plan);

// One sentence per planner, for --help.
std::string planner_help();

}  // namespace irqd
