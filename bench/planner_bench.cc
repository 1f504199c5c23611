// SPDX-License-Identifier: GPL-2.0-only
//
// planner_bench: how long one plan takes. The kernel planner (make_plan with
// PlannerKind::kKernel) on machines from 16 to 8192 CPUs, group_cpus_evenly()
// alone on the largest, and the other four planners on the largest. Every
// topology is built once, outside the timed loop.
//
// Target: the 8192 CPU / 16 node / SMT2 machine with 4096 vectors plans in
// under 10 ms.
//
//   cmake --preset release && cmake --build --preset release --target planner_bench
//   build/release/bench/planner_bench

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "affinity/group_cpus.h"
#include "affinity/kernel_version.h"
#include "affinity/plan.h"
#include "affinity/topology.h"

namespace irqd {
namespace {

// A machine the way x86 Linux numbers it: ncpus / smt cores split evenly and
// contiguously over the nodes (one package and one L3 per node), thread t of
// core c being CPU c + t * (ncpus / smt), so siblings are far apart in id.
Topology make_topology(unsigned ncpus, unsigned nodes, unsigned smt) {
  const unsigned ncores = ncpus / smt;
  const unsigned cores_per_node = ncores / nodes;
  std::vector<CpuDesc> cpus;
  cpus.reserve(ncpus);
  for (unsigned t = 0; t < smt; ++t) {
    for (unsigned c = 0; c < ncores; ++c) {
      const unsigned node = c / cores_per_node;
      cpus.push_back(
          CpuDesc{c + t * ncores, node, static_cast<int>(c), static_cast<int>(node), static_cast<int>(node)});
    }
  }
  std::vector<unsigned> node_ids;
  for (unsigned n = 0; n < nodes; ++n) node_ids.push_back(n);
  auto topo = Topology::from_cpus(
      std::move(cpus), std::move(node_ids),
      std::to_string(ncpus) + " CPUs, " + std::to_string(nodes) + " nodes, SMT" + std::to_string(smt));
  if (!topo) {
    std::cerr << "planner_bench: " << topo.error().message << "\n";
    std::abort();
  }
  return std::move(topo.value());
}

Topology load_topology(const std::string& spec) {
  auto topo = Topology::load(spec);
  if (!topo) {
    std::cerr << "planner_bench: " << topo.error().message << "\n";
    std::abort();
  }
  return std::move(topo.value());
}

// Built on first use and kept for the program's life, so no benchmark pays
// for building one.
const Topology& small_machine() {
  static const Topology topo = load_topology("synthetic:pack:2 [numa] core:4 pu:2");  // 16 CPUs
  return topo;
}
const Topology& machine_256() {
  static const Topology topo = make_topology(256, 4, 2);
  return topo;
}
const Topology& machine_1024() {
  static const Topology topo = make_topology(1024, 8, 2);
  return topo;
}
const Topology& machine_8192() {
  static const Topology topo = make_topology(8192, 16, 2);
  return topo;
}
// The big machine with its upper half possible but not present, so that
// group_cpus_evenly() runs both of its stages over 4096 CPUs each.
const Topology& machine_8192_half_offline() {
  static const Topology topo = [] {
    Topology t = make_topology(8192, 16, 2);
    std::vector<unsigned> offline;
    for (unsigned cpu = 4096; cpu < 8192; ++cpu) offline.push_back(cpu);
    if (!t.mark_not_present(offline)) std::abort();
    return t;
  }();
  return topo;
}

void run_plan(benchmark::State& state, const Topology& topo, const PlanRequest& request) {
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    auto plan = make_plan(topo, request);
    if (!plan) {
      state.SkipWithError(plan.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(plan->vectors.data());
    benchmark::ClobberMemory();
  }
  state.counters["cpus"] = topo.nr_possible();
  state.counters["vectors"] = request.vectors;
}

PlanRequest request(unsigned vectors, PlannerKind planner = PlannerKind::kKernel) {
  PlanRequest r;
  r.vectors = vectors;
  r.planner = planner;
  return r;
}

void BM_KernelPlan_16cpu_2node_16vec(benchmark::State& state) { run_plan(state, small_machine(), request(16)); }
void BM_KernelPlan_256cpu_4node_64vec(benchmark::State& state) { run_plan(state, machine_256(), request(64)); }
void BM_KernelPlan_1024cpu_8node_256vec(benchmark::State& state) { run_plan(state, machine_1024(), request(256)); }
void BM_KernelPlan_8192cpu_16node_4096vec(benchmark::State& state) { run_plan(state, machine_8192(), request(4096)); }
void BM_KernelPlan_8192cpu_16node_4096vec_half_offline(benchmark::State& state) {
  run_plan(state, machine_8192_half_offline(), request(4096));
}

// The same machine and device under each kernel line's spreading (the
// cluster-aware grouping of 6.19 on does the most work per node).
void BM_KernelLine_8192cpu_16node_4096vec(benchmark::State& state, const char* version) {
  PlanRequest r = request(4096);
  auto v = parse_kernel_version(version);
  if (!v) {
    state.SkipWithError(v.error().message.c_str());
    return;
  }
  r.kernel = *v;
  run_plan(state, machine_8192(), r);
}

// group_cpus_evenly() alone: the spreading without irq_create_affinity_masks'
// copies and make_plan's serving-CPU choice.
void BM_GroupCpusEvenly_8192cpu_16node_4096grp(benchmark::State& state) {
  const Topology& topo = machine_8192();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    unsigned nummasks = 0;
    auto masks = group_cpus_evenly(topo, 4096, &nummasks);
    benchmark::DoNotOptimize(masks.data());
    benchmark::DoNotOptimize(nummasks);
    benchmark::ClobberMemory();
  }
}

void BM_OtherPlanner_8192cpu_16node_4096vec(benchmark::State& state, PlannerKind planner) {
  run_plan(state, machine_8192(), request(4096, planner));
}

BENCHMARK(BM_KernelPlan_16cpu_2node_16vec)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelPlan_256cpu_4node_64vec)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelPlan_1024cpu_8node_256vec)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelPlan_8192cpu_16node_4096vec)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KernelPlan_8192cpu_16node_4096vec_half_offline)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelLine_8192cpu_16node_4096vec, v6_10, "6.10")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelLine_8192cpu_16node_4096vec, v6_15, "6.15")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelLine_8192cpu_16node_4096vec, v6_18, "6.18")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_KernelLine_8192cpu_16node_4096vec, v6_19, "6.19")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GroupCpusEvenly_8192cpu_16node_4096grp)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OtherPlanner_8192cpu_16node_4096vec, compact, PlannerKind::kCompact)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OtherPlanner_8192cpu_16node_4096vec, per_core, PlannerKind::kPerCore)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OtherPlanner_8192cpu_16node_4096vec, single, PlannerKind::kSingle)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OtherPlanner_8192cpu_16node_4096vec, round_robin, PlannerKind::kRoundRobin)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace irqd

BENCHMARK_MAIN();
