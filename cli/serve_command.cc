// SPDX-License-Identifier: GPL-2.0-only

#include "cli/serve_command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/signalfd.h>

#include <csignal>
#include <limits>
#include <ostream>

#include "affinity/cpulist.h"
#include "cli/flags.h"
#include "device/vfio_device.h"
#include "host/report.h"

namespace irqd {
namespace {

// SIGTERM and SIGINT go to a signalfd that the host's loop polls. Blocked
// before any thread starts, so every reactor and worker inherits the mask
// and none of them takes the signal instead.
Result<UniqueFd> block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (int e = pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0)
    return Error{"cannot block SIGTERM/SIGINT: " + errno_string(e)};
  UniqueFd fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) return Error{"signalfd: " + errno_string(errno)};
  return fd;
}

}  // namespace

Result<ServeOptions> parse_serve_options(const ServeFlags& f) {
  ServeOptions o;
  if (f.devices.empty()) return Error{"--device is required (accepted: soft:N or vfio:DDDD:BB:DD.F, repeatable)"};
  unsigned ordinal = 0;
  for (const std::string& text : f.devices) {
    auto spec = parse_device_spec(text, ordinal);
    if (!spec) return Error{"--device: " + spec.error().message};
    if (spec->kind == DeviceSpec::Kind::kSoftware) ++ordinal;
    for (const DeviceSpec& d : o.devices)
      if (d.name == spec->name) return Error{"--device '" + text + "' is given twice"};
    o.devices.push_back(*spec);
  }
  DeviceSpec d;  // what every device gets: driver, planner, firing
  auto driver = make_driver(f.driver, {});
  if (!driver) return Error{"--driver: " + driver.error().message};
  d.driver = f.driver;
  if (!f.vectors.empty()) {
    auto n = parse_uint("--vectors", f.vectors, 1, 2048);
    if (!n) return n.error();
    d.driver_options.max_vectors = *n;
  }
  auto pre = parse_uint("--pre-vectors", f.pre_vectors, 0, 2048);
  if (!pre) return pre.error();
  auto post = parse_uint("--post-vectors", f.post_vectors, 0, 2048);
  if (!post) return post.error();
  d.driver_options.affinity.pre_vectors = *pre;
  d.driver_options.affinity.post_vectors = *post;
  auto planner = planner_from_name(f.planner);
  if (!planner) return Error{"--planner: " + planner.error().message};
  d.planner = *planner;

  auto busy_us = parse_uint("--busy-poll-us", f.busy_poll_us, 1, 1'000'000);
  if (!busy_us) return busy_us.error();
  auto reactor = parse_reactor("--reactor", f.reactor, std::uint64_t{*busy_us} * 1000);
  if (!reactor) return reactor.error();
  o.reactor_name = reactor->name;
  o.host.dispatch.reactor = reactor->kind;
  o.host.dispatch.uring_method = reactor->method;
  o.host.dispatch.busy_poll_ns = reactor->busy_poll_ns;
  auto handoff = parse_handoff("--handoff", f.handoff);
  if (!handoff) return handoff.error();
  o.host.dispatch.handoff = *handoff;
  auto when_full = parse_when_full("--when-full", f.when_full);
  if (!when_full) return when_full.error();
  o.host.dispatch.when_full = *when_full;
  auto cap = parse_uint("--queue-capacity", f.queue_capacity, 2, 1U << 20);
  if (!cap) return cap.error();
  o.host.dispatch.queue_capacity = *cap;

  auto pattern = parse_fire_pattern(f.pattern);
  if (!pattern) return Error{"--pattern: " + pattern.error().message};
  d.firing.pattern = *pattern;
  o.pattern_text = f.pattern;
  auto choice = parse_vector_choice(f.choice);
  if (!choice) return Error{"--choice: " + choice.error().message};
  d.firing.choice = *choice;
  if (!f.fire_cpu.empty()) {
    auto cpu = parse_uint("--fire-cpu", f.fire_cpu, 0, 65535);
    if (!cpu) return cpu.error();
    d.firing.cpu = static_cast<int>(*cpu);
  }
  if (!f.cpus.empty()) {
    auto cpus = parse_cpulist(f.cpus);
    if (!cpus) return Error{"--cpus: " + cpus.error().message};
    o.cpus = *cpus;
  }
  o.topology = f.topology;
  auto duration = parse_seconds("--duration", f.duration, 0, 31'536'000);
  if (!duration) return duration.error();
  o.duration_s = *duration;
  auto unplug = parse_seconds("--unplug-after", f.unplug_after, 0, 31'536'000);
  if (!unplug) return unplug.error();
  o.unplug_after_s = *unplug;
  o.report_path = f.report;
  for (DeviceSpec& spec : o.devices) {
    spec.driver = d.driver;
    spec.driver_options = d.driver_options;
    spec.planner = d.planner;
    spec.firing = d.firing;
  }
  return o;
}

int run_serve(const ServeOptions& options, std::ostream& out, std::ostream& err) {
  auto fail = [&](const std::string& m) {
    err << "irqd: error: irqd serve: " << m << "\n";
    return 2;
  };
  // The report is written at the end: a path that cannot take it fails now.
  if (!options.report_path.empty()) {
    if (Status s = check_output_directory(directory_of(options.report_path)); !s)
      return fail("--report '" + options.report_path + "': " + s.error().message);
  }
  auto live = Topology::load(options.topology);
  if (!live) return fail("--topology: " + live.error().message);
  Topology topo = std::move(*live);
  if (!options.cpus.empty()) {
    auto restricted = topo.restrict_to(options.cpus);
    if (!restricted) return fail("--cpus: " + restricted.error().message);
    topo = std::move(*restricted);
  }
  raise_nofile_limit();
  auto signals = block_termination_signals();
  if (!signals) return fail(signals.error().message);

  HostOptions ho = options.host;
  // A bounded run: its report lists every device it unbound.
  ho.report_history = std::numeric_limits<std::size_t>::max();
  ho.log = [&err](const std::string& line) { err << "irqd: " << line << "\n" << std::flush; };
  // One vfio::GroupSet for every device the host opens: two functions of
  // one IOMMU group share its group fd (the kernel allows one opener).
  ho.open_vfio =
      [groups = std::make_shared<vfio::GroupSet>()](const std::string& bdf) -> Result<std::unique_ptr<MsixDevice>> {
    auto dev = VfioDevice::open(bdf, {}, {}, groups.get());
    if (!dev) return dev.error();
    return std::unique_ptr<MsixDevice>(std::move(*dev));
  };
  Host host(topo, ho);
  for (const DeviceSpec& spec : options.devices) {
    if (Status s = host.add(spec); !s) {
      err << "irqd: error: irqd serve: " << s.error().message << "\n";
      return 2;  // ~Host unbinds what was bound, in order
    }
  }
  err << "irqd: serving " << options.devices.size() << " device(s), reactor " << options.reactor_name
      << "; SIGTERM or SIGINT unbinds everything\n"
      << std::flush;

  Host::RunOptions run;
  run.signal_fd = signals->get();
  run.duration_s = options.duration_s;
  run.unplug_after_s = options.unplug_after_s;
  host.run(run);

  int status = 0;
  for (const DeviceReport& r : host.reports()) {
    out << fmt::format(
        "{} ({}, driver {}): unbound on {}; fired {}, handled {}, dropped {} (queue_full {}, "
        "after_drain {}), leaks {}: {}\n",
        r.name, r.backend, r.driver, r.unbind.reason, r.fired_known ? std::to_string(r.fired) : "unknown",
        r.dispatch.handled(), r.dropped(), r.dispatch.dropped_queue_full(), r.unbind.dropped_after_drain_total(),
        r.unbind.leaks.size(), r.accounted() ? "accounted" : "LOST INTERRUPTS");
    if (!r.accounted() || !r.unbind.errors.empty()) status = 1;
  }
  if (!options.report_path.empty()) {
    if (Status s = write_host_report(options.report_path, host.reports(), host.report_totals()); !s) {
      err << "irqd: error: irqd serve: " << s.error().message << "\n";
      status = 1;
    }
  }
  out << std::flush;
  return status;
}

}  // namespace irqd
