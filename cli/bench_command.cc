// SPDX-License-Identifier: GPL-2.0-only

#include "cli/bench_command.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>

#include "affinity/cpulist.h"
#include "cli/flags.h"
#include "host/report.h"

namespace irqd {

Result<BenchOptions> parse_bench_options(const BenchFlags& f) {
  BenchOptions o;
  auto busy_us = parse_uint("--busy-poll-us", f.busy_poll_us, 1, 1'000'000);
  if (!busy_us) return busy_us.error();
  for (const std::string& name : split(f.reactors, ',')) {
    auto r = parse_reactor("--reactors", name, std::uint64_t{*busy_us} * 1000);
    if (!r) return r.error();
    o.reactors.push_back(*r);
  }
  if (o.reactors.empty()) return Error{fmt::format("--reactors is empty (accepted: {})", kReactorNames)};
  for (const std::string& name : split(f.layouts, ',')) {
    auto p = planner_from_name(name);
    if (!p) return Error{"--layouts: " + p.error().message};
    o.layouts.push_back(*p);
  }
  if (o.layouts.empty()) return Error{"--layouts is empty (accepted: kernel, compact, per-core, single, round-robin)"};
  auto vectors = parse_uint("--vectors", f.vectors, 1, kMaxSoftwareVectors);
  if (!vectors) return vectors.error();
  o.vectors = *vectors;
  auto pattern = parse_fire_pattern(f.pattern);
  if (!pattern) return Error{"--pattern: " + pattern.error().message};
  o.pattern = *pattern;
  o.pattern_text = f.pattern;
  auto choice = parse_vector_choice(f.choice);
  if (!choice) return Error{"--choice: " + choice.error().message};
  o.choice = *choice;
  o.choice_text = f.choice;
  auto duration = parse_seconds("--duration", f.duration, 0.1, 3600);
  if (!duration) return duration.error();
  o.duration_s = *duration;
  auto warmup = parse_seconds("--warmup", f.warmup, 0, 600);
  if (!warmup) return warmup.error();
  o.warmup_s = *warmup;
  auto repeat = parse_uint("--repeat", f.repeat, 1, 100);
  if (!repeat) return repeat.error();
  o.repeat = *repeat;
  if (!f.cpus.empty()) {
    auto cpus = parse_cpulist(f.cpus);
    if (!cpus) return Error{"--cpus: " + cpus.error().message};
    o.cpus = *cpus;
  }
  if (!f.fire_cpu.empty()) {
    auto cpu = parse_uint("--fire-cpu", f.fire_cpu, 0, 65535);
    if (!cpu) return cpu.error();
    o.fire_cpu = static_cast<int>(*cpu);
  }
  // The threads are pinned to CPUs of this machine: a synthetic or XML
  // topology would name CPUs that are not here.
  if (f.topology != "live")
    return Error{fmt::format(
        "--topology '{}': bench pins its threads to this machine's CPUs, so it runs on the live topology only "
        "(accepted: live; irqd plan --topology plans on other topologies)",
        f.topology)};
  o.topology = f.topology;
  auto handoff = parse_handoff("--handoff", f.handoff);
  if (!handoff) return handoff.error();
  o.handoff = *handoff;
  auto when_full = parse_when_full("--when-full", f.when_full);
  if (!when_full) return when_full.error();
  o.when_full = *when_full;
  auto cap = parse_uint("--queue-capacity", f.queue_capacity, 2, 1U << 20);
  if (!cap) return cap.error();
  o.queue_capacity = *cap;
  if (f.worker_cpus != "same") {
    // A list keeps its order (the i-th worker CPU serves the i-th dispatch
    // CPU), so parse item by item rather than as a sorted cpulist.
    for (const std::string& item : split(f.worker_cpus, ',')) {
      auto cpu = parse_uint("--worker-cpus", item, 0, 65535);
      if (!cpu)
        return Error{
            fmt::format("--worker-cpus '{}' is not valid (accepted: same, or CPU ids like 1 or 1,3)", f.worker_cpus)};
      o.worker_cpus.push_back(*cpu);
    }
  }
  if (f.floor_methods_given && !f.floor)
    return Error{fmt::format("--floor-methods '{}' needs --floor (accepted: --floor [--floor-methods LIST of {}])",
                             f.floor_methods, kFloorMethodNames)};
  if (f.floor) {
    for (const std::string& name : split(f.floor_methods, ',')) {
      auto m = parse_floor_method("--floor-methods", name);
      if (!m) return m.error();
      if (std::find(o.floor.begin(), o.floor.end(), *m) != o.floor.end())
        return Error{fmt::format("--floor-methods '{}' names {} twice (accepted: each of {} at most once)",
                                 f.floor_methods, name, kFloorMethodNames)};
      o.floor.push_back(*m);
    }
    if (o.floor.empty()) return Error{fmt::format("--floor-methods is empty (accepted: {})", kFloorMethodNames)};
  }
  o.json_path = f.json;
  o.plot_dir = f.plot;
  // Written after a run of a minute or more: checked now, each under its
  // own flag. No directory is created but DIR of --plot itself.
  if (!o.json_path.empty()) {
    struct stat st {};
    if (::stat(o.json_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return Error{fmt::format("--json '{}' is a directory (accepted: a file path)", o.json_path)};
    if (Status s = check_output_directory(directory_of(o.json_path)); !s)
      return Error{
          fmt::format("--json '{}': {} (accepted: a file in an existing directory)", o.json_path, s.error().message)};
  }
  if (!o.plot_dir.empty()) {
    struct stat st {};
    const bool exists = ::stat(o.plot_dir.c_str(), &st) == 0;
    // An existing directory, or one to create in an existing directory.
    std::string dir = o.plot_dir;
    while (dir.size() > 1 && dir.ends_with('/')) dir.pop_back();
    const std::string where = exists ? dir : directory_of(dir);
    if (Status s = check_output_directory(where); !s)
      return Error{fmt::format("--plot '{}': {} (accepted: a directory, or one to create in an existing directory)",
                               o.plot_dir, s.error().message)};
  }
  // The plots are drawn from the report: --plot alone keeps it beside them.
  if (!o.plot_dir.empty() && o.json_path.empty()) o.json_path = o.plot_dir + "/irqd-bench.json";
  return o;
}

std::string reactor_help() {
  return "Reactors:\n"
         "  io_uring       one ring per CPU, registered eventfds, 8-byte read SQEs re-armed in batches\n"
         "  io_uring-poll  one ring per CPU, multishot poll per eventfd, then read()\n"
         "  io_uring-busy  io_uring read SQEs, spinning on the completion ring --busy-poll-us before sleeping\n"
         "  epoll          one epoll thread per CPU, read() per ready eventfd (DPDK EAL style)\n"
         "  thread         one blocking read() thread per vector (the naive host)\n";
}

}  // namespace irqd
