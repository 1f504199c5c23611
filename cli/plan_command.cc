// SPDX-License-Identifier: GPL-2.0-only

#include "cli/plan_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "affinity/cpulist.h"
#include "base/table.h"

namespace irqd {
namespace {

Result<unsigned> parse_count(std::string_view flag, const std::string& text, unsigned lo, unsigned hi) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    return Error{fmt::format("{} '{}' is not valid (accepted: an integer in {}..{})", flag, text, lo, hi)};
  return value;
}

Result<std::vector<unsigned>> parse_sets(const std::string& text) {
  std::vector<unsigned> sets;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      return Error{fmt::format("--sets '{}' is malformed at '{}' (accepted: comma-separated set sizes >= 0, e.g. 8,8)",
                               text, item)};
    sets.push_back(value);
    if (comma == std::string::npos) return sets;
    pos = comma + 1;
  }
}

const char* role_name(VectorRole role) {
  switch (role) {
    case VectorRole::kPre: return "pre";
    case VectorRole::kSpread: return "spread";
    case VectorRole::kUnfilled: return "unfilled";
    case VectorRole::kPost: return "post";
  }
  return "?";
}

std::string dash_if_negative(int v) { return v < 0 ? "-" : std::to_string(v); }

// --kernel: one version or a list; "" = the running kernel for a live
// topology, else the default line.
Result<std::vector<KernelVersion>> parse_kernels(const std::string& text, const std::string& topology) {
  std::vector<KernelVersion> kernels;
  if (text.empty()) {
    if (topology != "live") return std::vector<KernelVersion>{default_kernel_version()};
    auto live = parse_kernel_version("live");
    if (!live) return Error{"--kernel not given, and the running kernel: " + live.error().message + " (give --kernel)"};
    return std::vector<KernelVersion>{*live};
  }
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto v = parse_kernel_version(item);
    if (!v) return Error{"--kernel: " + v.error().message};
    kernels.push_back(*v);
    if (comma == std::string::npos) return kernels;
    pos = comma + 1;
  }
}

}  // namespace

Result<PlanOptions> parse_plan_options(const PlanFlags& flags) {
  PlanOptions o;
  o.topology = flags.topology;
  if (flags.vectors.empty()) return Error{fmt::format("--vectors is required (accepted: 0..{})", kMaxVectors)};
  auto vectors = parse_count("--vectors", flags.vectors, 0, kMaxVectors);
  if (!vectors) return vectors.error();
  o.request.vectors = *vectors;
  auto pre = parse_count("--pre-vectors", flags.pre_vectors, 0, kMaxVectors);
  if (!pre) return pre.error();
  auto post = parse_count("--post-vectors", flags.post_vectors, 0, kMaxVectors);
  if (!post) return post.error();
  o.request.pre_vectors = *pre;
  o.request.post_vectors = *post;
  if (!flags.sets.empty()) {
    auto sets = parse_sets(flags.sets);
    if (!sets) return sets.error();
    o.request.sets = std::move(*sets);
  }
  auto planner = planner_from_name(flags.planner);
  if (!planner) return Error{"--planner: " + planner.error().message};
  o.request.planner = *planner;
  auto kernels = parse_kernels(flags.kernel, flags.topology);
  if (!kernels) return kernels.error();
  o.kernels = std::move(*kernels);
  o.request.kernel = o.kernels.front();
  if (!flags.offline_cpus.empty()) {
    auto cpus = parse_cpulist(flags.offline_cpus);
    if (!cpus) return Error{"--offline-cpus: " + cpus.error().message};
    o.offline_cpus = std::move(*cpus);
  }
  if (flags.format == "table") {
    o.format = PlanFormat::kTable;
  } else if (flags.format == "json") {
    o.format = PlanFormat::kJson;
  } else {
    return Error{fmt::format("--format '{}' is not a format (accepted: table, json)", flags.format)};
  }
  return o;
}

Result<PlanOutcome> run_plan(const PlanOptions& options) {
  auto topo = Topology::load(options.topology);
  if (!topo) return Error{"--topology: " + topo.error().message};
  if (!options.offline_cpus.empty()) {
    if (Status s = topo->mark_not_present(options.offline_cpus); !s)
      return Error{"--offline-cpus: " + s.error().message};
  }
  std::vector<Plan> plans;
  for (const KernelVersion& kernel : options.kernels) {
    PlanRequest request = options.request;
    request.kernel = kernel;
    const std::string which = options.kernels.size() > 1 ? "--kernel " + kernel.text + ": " : "";
    if (Status s = validate_request(*topo, request); !s) return Error{which + s.error().message};
    auto plan = make_plan(*topo, request);
    if (!plan) return Error{which + plan.error().message};
    plans.push_back(std::move(*plan));
  }
  return PlanOutcome{std::move(topo.value()), std::move(plans)};
}

std::string describe_kernel(const KernelVersion& kernel) {
  return fmt::format("{} ({})", kernel.text, generation_summary(kernel_generation(kernel)));
}

std::string format_plan_table(const Topology& topo, const PlanRequest& req, const Plan& plan) {
  std::string out =
      fmt::format("planner {} on {}: {} possible CPUs ({} present), {} NUMA nodes, {} vectors ({} pre, {} post)\n",
                  planner_name(plan.planner), topo.description(), topo.nr_possible(), topo.present().weight(),
                  topo.node_ids().size(), req.vectors, req.pre_vectors, req.post_vectors);
  out += fmt::format("kernel {}\n", describe_kernel(plan.kernel));
  out += fmt::format("{:>6}  {:<7}  {:<8}  {:>3}  {:>7}  {:>4}  {}\n", "vector", "managed", "role", "set", "serving",
                     "node", "cpus");
  for (const VectorPlacement& v : plan.vectors) {
    out += fmt::format("{:>6}  {:<7}  {:<8}  {:>3}  {:>7}  {:>4}  {}\n", v.index, v.managed ? "yes" : "no",
                       role_name(v.role), dash_if_negative(v.set), dash_if_negative(v.serving_cpu),
                       dash_if_negative(v.serving_node), v.cpus.to_list());
  }

  // Load: which CPUs serve how many vectors, then the same per node.
  std::map<unsigned, CpuMask, std::greater<>> cpus_by_load;
  topo.present().for_each([&](unsigned cpu) {
    auto [it, inserted] = cpus_by_load.try_emplace(plan.served_per_cpu[cpu], topo.nr_cpu_ids());
    it->second.set_cpu(cpu);
  });
  out += "\nvectors served per present CPU:\n";
  for (const auto& [load, cpus] : cpus_by_load)
    out += fmt::format("  {:>5} vector{} on CPUs {}\n", load, load == 1 ? " " : "s", cpus.to_list());
  out += "per NUMA node:\n";
  for (unsigned node : topo.node_ids()) {
    CpuMask present(topo.nr_cpu_ids());
    present.assign_and(topo.node_cpus(node), topo.present());
    unsigned served = 0;
    present.for_each([&](unsigned cpu) { served += plan.served_per_cpu[cpu]; });
    out += fmt::format("  node {:>3}: {:>5} vectors on {:>4} present CPUs ({})\n", node, served, present.weight(),
                       present.empty() ? "none" : present.to_list());
  }
  return out;
}

namespace {

using json = nlohmann::ordered_json;

json plan_json(const Topology& topo, const PlanRequest& req, const Plan& plan) {
  // Keys in the order written: the planner and request read first.
  json nodes = json::array();
  for (unsigned node : topo.node_ids()) nodes.push_back({{"id", node}, {"cpus", topo.node_cpus(node).to_vector()}});
  json vectors = json::array();
  for (const VectorPlacement& v : plan.vectors) {
    vectors.push_back({{"index", v.index},
                       {"cpus", v.cpus.to_vector()},
                       {"managed", v.managed},
                       {"role", role_name(v.role)},
                       {"set", v.set < 0 ? json(nullptr) : json(v.set)},
                       {"serving_cpu", v.serving_cpu < 0 ? json(nullptr) : json(v.serving_cpu)},
                       {"node", v.serving_node < 0 ? json(nullptr) : json(v.serving_node)}});
  }
  json load = json::array();
  topo.possible().for_each([&](unsigned cpu) {
    load.push_back({{"cpu", cpu},
                    {"node", topo.cpu_to_node(cpu)},
                    {"present", topo.present().test_cpu(cpu)},
                    {"vectors", plan.served_per_cpu[cpu]}});
  });
  json doc = {
      {"planner", planner_name(plan.planner)},
      {"kernel_version", plan.kernel.text},
      {"kernel_generation", generation_summary(kernel_generation(plan.kernel))},
      {"topology",
       {{"spec", topo.description()},
        {"nr_cpu_ids", topo.nr_cpu_ids()},
        {"nr_node_ids", topo.nr_node_ids()},
        {"possible", topo.possible().to_vector()},
        {"present", topo.present().to_vector()},
        {"nodes", nodes}}},
      {"request",
       {{"vectors", req.vectors},
        {"pre_vectors", req.pre_vectors},
        {"post_vectors", req.post_vectors},
        {"sets", req.sets}}},
      {"masks_per_set", plan.masks_per_set},
      {"vectors", vectors},
      {"cpu_load", load},
  };
  return doc;
}

bool same_placement(const VectorPlacement& a, const VectorPlacement& b) {
  return a.cpus == b.cpus && a.managed == b.managed;
}

// The vectors whose mask or managed flag differ between any two plans.
std::vector<unsigned> changed_vectors(const std::vector<Plan>& plans) {
  std::vector<unsigned> out;
  for (std::size_t i = 0; i < plans.front().vectors.size(); ++i) {
    for (const Plan& p : plans) {
      if (!same_placement(p.vectors[i], plans.front().vectors[i])) {
        out.push_back(static_cast<unsigned>(i));
        break;
      }
    }
  }
  return out;
}

// The topology's description and the kernel line are the user's text, as
// typed: bytes that are not UTF-8 are written as U+FFFD (nlohmann's dump()
// would throw type_error 316, a fatal error instead of a plan).
std::string dump_json(const json& doc) { return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

}  // namespace

std::string format_plan_json(const Topology& topo, const PlanRequest& req, const Plan& plan) {
  return dump_json(plan_json(topo, req, plan));
}

std::string format_plan_comparison_table(const Topology& topo, const PlanRequest& req, const std::vector<Plan>& plans) {
  std::string out =
      fmt::format("planner {} on {}: {} possible CPUs ({} present), {} NUMA nodes, {} vectors ({} pre, {} post)\n",
                  planner_name(plans.front().planner), topo.description(), topo.nr_possible(), topo.present().weight(),
                  topo.node_ids().size(), req.vectors, req.pre_vectors, req.post_vectors);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"vector", "role"};
  for (const Plan& p : plans) {
    out += fmt::format("kernel {}\n", describe_kernel(p.kernel));
    header.push_back(p.kernel.text);
  }
  header.emplace_back("");
  rows.push_back(header);
  const std::vector<unsigned> changed = changed_vectors(plans);
  for (std::size_t i = 0; i < plans.front().vectors.size(); ++i) {
    std::vector<std::string> row{std::to_string(i), role_name(plans.front().vectors[i].role)};
    for (const Plan& p : plans) {
      const VectorPlacement& v = p.vectors[i];
      row.push_back((v.cpus.empty() ? std::string("(empty)") : v.cpus.to_list()) + (v.managed ? "" : " unmanaged"));
    }
    const bool differs = std::binary_search(changed.begin(), changed.end(), static_cast<unsigned>(i));
    row.emplace_back(differs ? "<- changes" : "");
    rows.push_back(std::move(row));
  }
  out += "\n" + align(rows);
  std::string versions;
  for (const Plan& p : plans) versions += (versions.empty() ? "" : " and ") + p.kernel.text;
  out += fmt::format("\n{} of {} vectors change between {}\n", changed.size(), plans.front().vectors.size(), versions);
  return out;
}

std::string format_plan_comparison_json(const Topology& topo, const PlanRequest& req, const std::vector<Plan>& plans) {
  json versions = json::array();
  json each = json::array();
  for (const Plan& p : plans) {
    versions.push_back(p.kernel.text);
    each.push_back(plan_json(topo, req, p));
  }
  json changes = json::array();
  for (unsigned i : changed_vectors(plans)) {
    json cpus = json::object();
    json managed = json::object();
    for (const Plan& p : plans) {
      cpus[p.kernel.text] = p.vectors[i].cpus.to_vector();
      managed[p.kernel.text] = p.vectors[i].managed;
    }
    changes.push_back({{"index", i}, {"cpus", cpus}, {"managed", managed}});
  }
  json doc = {{"kernel_version", plans.front().kernel.text},
              {"kernel_versions", versions},
              {"plans", each},
              {"changes", changes}};
  return dump_json(doc);
}

std::string planner_help() {
  std::string out = "Planners:\n";
  for (const PlannerInfo& p : all_planners()) out += fmt::format("  {:<12} {}\n", p.name, p.summary);
  return out;
}

}  // namespace irqd
