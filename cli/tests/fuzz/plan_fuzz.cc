// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: the arguments of `irqd plan`. The input is one flag
// value per line, in PlanFlags order: topology, vectors, pre_vectors,
// post_vectors, sets, offline_cpus, planner, kernel, format; a missing line
// keeps the flag's default. parse_plan_options() checks them; what it
// accepts is planned with run_plan() and printed in both formats, on
// synthetic topologies only ("live" would plan this machine, xml: reads a
// file): the topology line is the hwloc synthetic string, bounded to
// kMaxObjects objects, and requests of more than kMaxPlanned vectors or
// kMaxKernels kernel lines are checked but not planned, so that one input
// stays well under a millisecond or two. Beyond "no crash": every plan has
// one placement per vector, and the JSON output parses.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/tests/fuzz/bounded_synthetic.h"
#include "cli/plan_command.h"

namespace {

constexpr unsigned long long kMaxObjects = 512;
constexpr unsigned kMaxPlanned = 2048;
constexpr std::size_t kMaxKernels = 4;

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string> lines = split_lines(std::string_view(reinterpret_cast<const char*>(data), size));
  irqd::PlanFlags flags;
  std::string* fields[] = {&flags.topology,     &flags.vectors, &flags.pre_vectors, &flags.post_vectors, &flags.sets,
                           &flags.offline_cpus, &flags.planner, &flags.kernel,      &flags.format};
  for (std::size_t i = 0; i < lines.size() && i < std::size(fields); ++i) *fields[i] = lines[i];
  if (!irqd::fuzz::bounded_synthetic(flags.topology, kMaxObjects)) return 0;
  flags.topology = "synthetic:" + flags.topology;

  auto options = irqd::parse_plan_options(flags);
  if (!options) return 0;
  if (options->kernels.empty()) std::abort();
  if (options->request.vectors > kMaxPlanned || options->kernels.size() > kMaxKernels) return 0;
  auto outcome = irqd::run_plan(*options);
  if (!outcome) return 0;
  if (outcome->plans.size() != options->kernels.size()) std::abort();
  const irqd::PlanRequest& request = options->request;
  for (const irqd::Plan& plan : outcome->plans) {
    if (plan.vectors.size() != request.vectors) std::abort();
    (void)irqd::format_plan_table(outcome->topology, request, plan);
    if (!nlohmann::json::accept(irqd::format_plan_json(outcome->topology, request, plan))) std::abort();
  }
  if (outcome->plans.size() > 1) {
    (void)irqd::format_plan_comparison_table(outcome->topology, request, outcome->plans);
    if (!nlohmann::json::accept(irqd::format_plan_comparison_json(outcome->topology, request, outcome->plans)))
      std::abort();
  }
  return 0;
}
