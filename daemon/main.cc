// SPDX-License-Identifier: GPL-2.0-only
//
// irqd: the command-line entry point. Parses flags with CLI11 and hands each
// subcommand its options; every error is one line on stderr and exit 2, with
// nothing on stdout.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "daemon/plan_command.h"

namespace {

constexpr int kExitUsage = 2;

int fail(const std::string& message) {
  std::cerr << "irqd: error: " << message << "\n";
  return kExitUsage;
}

void add_plan_command(CLI::App& app, irqd::PlanFlags& flags) {
  CLI::App* plan = app.add_subcommand("plan", "Plan which CPUs serve each interrupt vector of a device");
  plan->footer(irqd::planner_help());
  plan->add_option("--topology", flags.topology,
                   "live | synthetic:<hwloc synthetic string> | xml:<path> (default live)");
  plan->add_option("--vectors", flags.vectors, "Vectors of the device, 1..65536")->required();
  plan->add_option("--pre-vectors", flags.pre_vectors, "Leading vectors not spread (irq_affinity.pre_vectors)");
  plan->add_option("--post-vectors", flags.post_vectors, "Trailing vectors not spread (irq_affinity.post_vectors)");
  plan->add_option("--sets", flags.sets, "Sizes of up to 4 vector sets, summing to vectors - pre - post");
  plan->add_option("--offline-cpus", flags.offline_cpus, "CPUs possible but not present, e.g. 4-7,12");
  plan->add_option("--planner", flags.planner, "kernel | compact | per-core | single | round-robin (default kernel)");
  plan->add_option("--format", flags.format, "table | json (default table)");
}

int run_plan(const irqd::PlanFlags& flags) {
  auto options = irqd::parse_plan_options(flags);
  if (!options) return fail("irqd plan: " + options.error().message);
  auto outcome = irqd::run_plan(*options);
  if (!outcome) return fail("irqd plan: " + outcome.error().message);
  const auto& [topo, plan] = *outcome;
  std::cout << (options->format == irqd::PlanFormat::kJson ? irqd::format_plan_json(topo, options->request, plan)
                                                           : irqd::format_plan_table(topo, options->request, plan));
  return std::cout.flush() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"irqd: userspace interrupt host and benchmark daemon"};
  app.require_subcommand(1);
  irqd::PlanFlags plan_flags;
  add_plan_command(app, plan_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    return fail(what.empty() ? e.get_name() : what);
  }

  if (app.got_subcommand("plan")) return run_plan(plan_flags);
  return fail("no subcommand (accepted: plan)");
}
