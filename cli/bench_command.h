// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd bench`, the front-end: the flags as typed, checked one by one into
// the runner's BenchOptions (bench/runner.h), every error naming the flag,
// the value and the accepted range.

#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "base/result.h"
#include "bench/runner.h"

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
  std::string handoff = "adaptive";
  std::string when_full = "backoff";
  std::string queue_capacity = "4096";
  std::string busy_poll_us = "50";  // for the io_uring-busy reactor
  std::string worker_cpus = "same";
  std::string json;
  std::string plot;
  bool floor = false;  // --floor: the bare loops too (bench/floor.h)
  std::string floor_methods = "uring-read,uring-poll,epoll,thread";
  bool floor_methods_given = false;  // --floor-methods typed: needs --floor
};

Result<BenchOptions> parse_bench_options(const BenchFlags& flags);

// The reactors by name, for --help.
std::string reactor_help();

}  // namespace irqd
