// SPDX-License-Identifier: GPL-2.0-only
//
// The comparison runner behind `irqd bench`: fire a software device's
// vectors, dispatch them through each reactor and layout asked for, side by
// side in one invocation (repeats interleaved, median of them), and report
// throughput, CPU cost and latency as ratios to the first configuration,
// with fired == handled + dropped checked for every run.

#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "affinity/plan.h"
#include "base/result.h"
#include "bench/floor.h"
#include "device/software_device.h"
#include "dispatch/dispatcher.h"
#include "dispatch/reactor_names.h"

namespace irqd {

struct BenchOptions {
  std::vector<ReactorVariant> reactors;
  std::vector<PlannerKind> layouts;
  unsigned vectors = 64;
  FirePattern pattern;
  std::string pattern_text;
  VectorChoice choice;
  std::string choice_text;
  double duration_s = 3;
  double warmup_s = 0.5;
  unsigned repeat = 3;
  std::vector<unsigned> cpus;  // empty: chosen from the topology
  int fire_cpu = -1;           // -1: chosen
  std::string topology;
  Handoff handoff = Handoff::kQueue;
  FullPolicy when_full = FullPolicy::kBackoff;
  unsigned queue_capacity = 4096;
  // Worker CPU for the i-th dispatch CPU (one entry: for all); empty: the
  // reactor's own CPU.
  std::vector<unsigned> worker_cpus;
  std::string json_path;
  std::string plot_dir;
  // --floor: the bare loops (bench/floor.h) run with the same vectors,
  // pattern and CPUs (vectors placed by the first layout), interleaved
  // with the reactors: each repeat runs every reactor and then every floor
  // method once. Empty: none.
  std::vector<FloorMethod> floor;
};

// Runs every configuration, prints the comparison on out (the table, then
// bench_legend()), progress on err (a line per finished run; on a terminal
// also a line redrawn during each run), writes the JSON report and plots if
// asked. What can be checked before the runs is: the CPUs (the firing
// engine's not among the dispatch CPUs given), python3 with matplotlib for
// --plot; layouts that cannot differ here are said so before the runs.
// Returns the process exit status: 0, 2 for what was refused before the
// runs, or 1 when a run lost interrupts (fired != handled + dropped) or
// failed.
int run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err);

// The lines under the table that say what its `x` columns are; with_floor:
// also the `floor` column, which is a ratio to the best bare loop, of
// interrupts/s when the pattern saturates, of CPU ns per interrupt when it
// is paced (rate, poisson, burst).
std::string bench_legend(bool with_floor = false);

}  // namespace irqd
