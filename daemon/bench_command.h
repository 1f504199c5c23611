// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd bench`: fire a software device's vectors, dispatch them through
// each reactor and layout asked for, side by side in one invocation, and
// report throughput, CPU cost and latency as ratios to the first
// configuration.

#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "affinity/plan.h"
#include "base/result.h"
#include "daemon/flags.h"
#include "device/software_device.h"
#include "dispatch/dispatcher.h"

namespace irqd {

// The flags as typed; parse_bench_options() checks each one.
struct BenchFlags {
  std::string reactors = "io_uring,epoll,thread";
  std::string layouts = "kernel";
  std::string vectors = "64";
  std::string pattern = "saturate";
  std::string choice = "uniform";
  std::string duration = "3";
  std::string warmup = "0.5";
  std::string repeat = "3";
  std::string cpus;      // default: every CPU but the firing engine's
  std::string fire_cpu;  // default: the last CPU of the machine
  std::string topology = "live";
  std::string handoff = "queue";
  std::string when_full = "backoff";
  std::string queue_capacity = "4096";
  std::string busy_poll_us = "50";  // for the io_uring-busy reactor
  std::string worker_cpus = "same";
  std::string json;
  std::string plot;
};

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
};

Result<BenchOptions> parse_bench_options(const BenchFlags& flags);

// Runs every configuration, prints the comparison on out, progress on err
// (when it is a terminal), writes the JSON report and plots if asked.
// Returns the process exit status: 0, or 1 when a run lost interrupts
// (fired != handled + dropped) or failed.
int run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err);

std::string reactor_help();

}  // namespace irqd
