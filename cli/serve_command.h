// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd serve`: host devices (software or VFIO) with a driver until they go
// away: the device's request (VFIO REQ IRQ when the kernel unbinds it, e.g.
// `irqd unbind BDF`; a software hot-unplug with --unplug-after), SIGTERM or
// SIGINT, or --duration. Each device goes through the full unbind sequence
// and is reported: the steps in order, leaks, and fired == handled +
// dropped for devices that count their fires.

#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "base/result.h"
#include "host/host.h"
#include "host/report.h"

namespace irqd {

struct ServeFlags {
  std::vector<std::string> devices;
  std::string driver = "count";
  std::string vectors;  // the driver's maximum; default every entry
  std::string pre_vectors = "0";
  std::string post_vectors = "0";
  std::string planner = "kernel";
  std::string reactor = "io_uring";
  std::string handoff = "adaptive";
  std::string when_full = "backoff";
  std::string queue_capacity = "4096";
  std::string busy_poll_us = "50";
  std::string pattern = "rate:10000";  // software devices
  std::string choice = "uniform";
  std::string fire_cpu;
  std::string cpus;
  std::string topology = "live";
  std::string duration = "0";
  std::string unplug_after = "0";
  std::string report;
};

struct ServeOptions {
  std::vector<DeviceSpec> devices;
  HostOptions host;  // dispatch settings; run_serve sets log and open_vfio
  std::string topology;
  std::vector<unsigned> cpus;  // empty: every CPU
  std::string reactor_name;
  std::string pattern_text;
  double duration_s = 0;
  double unplug_after_s = 0;
  std::string report_path;
};

Result<ServeOptions> parse_serve_options(const ServeFlags& flags);

// Serves until every device is gone; one line per event on err, a summary
// per device on out, the JSON report to options.report_path. Returns 0, 1
// when a device lost interrupts or a step failed, 2 when nothing could be
// bound.
int run_serve(const ServeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace irqd
