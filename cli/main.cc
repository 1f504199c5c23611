// SPDX-License-Identifier: GPL-2.0-only
//
// irqd: the command-line entry point. Parses flags with CLI11 and hands each
// subcommand its options; every error is one line on stderr and exit 2, with
// nothing on stdout.

#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/kernel_version.h"
#include "cli/bench_command.h"
#include "cli/config_command.h"
#include "cli/ctl_command.h"
#include "cli/devices_command.h"
#include "cli/irqs_command.h"
#include "cli/plan_command.h"
#include "cli/serve_command.h"
#include "cli/top_command.h"
#include "cli/tune_command.h"
#include "daemon/metrics.h"
#include "daemon/service.h"

namespace {

constexpr int kExitUsage = 2;

constexpr std::string_view kPlanUsage =
    "irqd plan --topology SPEC --vectors N [--pre-vectors A] [--post-vectors B] [--sets S1,S2,...] "
    "[--offline-cpus LIST] [--planner NAME] [--kernel VERSION[,VERSION...]] [--format table|json]";

// One line, whatever the message holds: a newline from a library's text
// would otherwise split it.
int fail(std::string message) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  std::cerr << "irqd: error: " << message << "\n";
  return kExitUsage;
}

// CLI11's texts for a repeated option and for an option without its value,
// in irqd's words; anything else as CLI11 says it.
std::string parse_error_text(const CLI::ParseError& e) {
  std::string what = e.what();
  if (what.empty()) what = e.get_name();
  static const std::regex kRepeated(R"(^(\S+): At Most 1 required but received (\d+)$)");
  static const std::regex kNoValue(R"(^(\S+): \d+ required (\S+) missing$)");
  std::smatch m;
  if (std::regex_match(what, m, kRepeated)) return m[1].str() + " given " + m[2].str() + " times, at most once";
  if (std::regex_match(what, m, kNoValue)) return m[1].str() + " has no value, " + m[2].str() + " expected";
  return what;
}

// `irqd --version`: the version, the build type, and the running kernel
// with the line the kernel planner reproduces for it.
std::string version_text() {
  const irqd::MetricsBuildInfo build = irqd::this_build();
  std::string out = "irqd " + build.version + " (" + build.build_type + " build)\n";
  utsname u{};
  const std::string release = ::uname(&u) == 0 ? u.release : "unknown";
  if (auto k = irqd::parse_kernel_version("live"); k) {
    out += "kernel " + k->text + " (" + std::string(irqd::generation_summary(irqd::kernel_generation(*k))) + ")\n";
  } else {
    const irqd::KernelVersion d = irqd::default_kernel_version();
    out += "kernel " + release + " (not a line irqd reproduces; the kernel planner follows " + d.text + ": " +
           std::string(irqd::generation_summary(irqd::kernel_generation(d))) + ")\n";
  }
  return out;
}

std::string accepted_plan_usage() { return " (accepted: " + std::string(kPlanUsage) + "; see irqd plan --help)"; }

CLI::App* add_plan_command(CLI::App& app, irqd::PlanFlags& flags) {
  CLI::App* plan = app.add_subcommand("plan", "Plan which CPUs serve each interrupt vector of a device");
  plan->footer(irqd::planner_help());
  // Unknown arguments are kept and reported by main() with the accepted
  // form; CLI11's own text for them names no accepted form.
  plan->allow_extras();
  plan->add_option("--topology", flags.topology,
                   "live | synthetic:<hwloc synthetic string> | xml:<path> (default live)")
      ->type_name("SPEC");
  // Required, but checked by parse_plan_options() so that the error says
  // what is accepted.
  plan->add_option("--vectors", flags.vectors, "Vectors of the device, 0..65536 (required; 0: an empty plan)")
      ->type_name("N");
  plan->add_option("--pre-vectors", flags.pre_vectors, "Leading vectors not spread (irq_affinity.pre_vectors)")
      ->type_name("A");
  plan->add_option("--post-vectors", flags.post_vectors, "Trailing vectors not spread (irq_affinity.post_vectors)")
      ->type_name("B");
  // Given but empty is malformed (main() checks), unlike not given (one set).
  plan->add_option("--sets", flags.sets, "Sizes of up to 4 vector sets, summing to vectors - pre - post")
      ->type_name("S1,S2,...");
  plan->add_option("--offline-cpus", flags.offline_cpus, "CPUs possible but not present, e.g. 4-7,12")
      ->type_name("LIST");
  plan->add_option("--planner", flags.planner, "kernel | compact | per-core | single | round-robin (default kernel)")
      ->type_name("NAME");
  plan->add_option("--kernel", flags.kernel,
                   "Kernel line(s) whose spreading is reproduced: 6.1, 6.12.117, 6.18, 6.19, live; a list "
                   "(6.1,6.18) compares them (default: the running kernel with --topology live, else 6.18)")
      ->type_name("VERSION[,VERSION...]");
  plan->add_option("--format", flags.format, "table | json (default table)")->type_name("table|json");
  return plan;
}

int run_plan(const irqd::PlanFlags& flags) {
  auto options = irqd::parse_plan_options(flags);
  if (!options) return fail("irqd plan: " + options.error().message);
  auto outcome = irqd::run_plan(*options);
  if (!outcome) return fail("irqd plan: " + outcome.error().message);
  const auto& [topo, plans] = *outcome;
  const bool json = options->format == irqd::PlanFormat::kJson;
  if (plans.size() > 1)
    std::cout << (json ? irqd::format_plan_comparison_json(topo, options->request, plans)
                       : irqd::format_plan_comparison_table(topo, options->request, plans));
  else
    std::cout << (json ? irqd::format_plan_json(topo, options->request, plans.front())
                       : irqd::format_plan_table(topo, options->request, plans.front()));
  return std::cout.flush() ? 0 : 1;
}

constexpr std::string_view kBenchUsage =
    "irqd bench [--reactors LIST] [--layouts LIST] [--vectors N] [--pattern PATTERN] [--duration S] [--warmup S] "
    "[--repeat K] [--cpus LIST] [--fire-cpu CPU] [--floor [--floor-methods LIST]] [--json FILE] [--plot DIR]";

CLI::App* add_bench_command(CLI::App& app, irqd::BenchFlags& f) {
  CLI::App* bench = app.add_subcommand("bench", "Fire a software device and compare reactors and layouts side by side");
  bench->footer(irqd::reactor_help() + irqd::planner_help());
  bench->allow_extras();
  bench->add_option("--reactors", f.reactors, "Reactors to compare, in order (default io_uring,epoll,thread)")
      ->type_name("LIST");
  bench->add_option("--layouts", f.layouts, "Planners to compare, in order (default kernel)")->type_name("LIST");
  bench->add_option("--vectors", f.vectors, "Vectors of the software device, 1..2048 (default 64)")->type_name("N");
  bench->add_option("--pattern", f.pattern, "saturate | rate:R | poisson:R | burst:B@R (default saturate)")
      ->type_name("PATTERN");
  bench->add_option("--choice", f.choice, "Vector of each fire: uniform | zipf:S (default uniform)")
      ->type_name("CHOICE");
  bench->add_option("--duration", f.duration, "Seconds measured per run (default 3)")->type_name("S");
  bench->add_option("--warmup", f.warmup, "Seconds run and discarded before each run (default 0.5)")->type_name("S");
  bench->add_option("--repeat", f.repeat, "Runs per configuration; the median is reported (default 3)")->type_name("K");
  bench
      ->add_option("--cpus", f.cpus,
                   "CPUs the dispatcher may use, not the firing engine's (default: all but the firing engine's)")
      ->type_name("LIST");
  bench->add_option("--fire-cpu", f.fire_cpu, "CPU of the firing engine (default: the last CPU)")->type_name("CPU");
  bench->add_option("--topology", f.topology, "live only: bench pins threads to this machine's CPUs (default live)")
      ->type_name("SPEC");
  bench
      ->add_option("--handoff", f.handoff,
                   "adaptive (inline while the worker idles, queued under backlog) | queue (SPSC to a pinned "
                   "worker) | inline (default adaptive)")
      ->type_name("MODE");
  bench->add_option("--when-full", f.when_full, "backoff | drop, when a worker's queue is full (default backoff)")
      ->type_name("POLICY");
  bench->add_option("--queue-capacity", f.queue_capacity, "Entries per reactor-worker queue (default 4096)")
      ->type_name("N");
  bench->add_option("--busy-poll-us", f.busy_poll_us, "io_uring-busy: spin this long before sleeping (default 50)")
      ->type_name("US");
  bench
      ->add_option("--worker-cpus", f.worker_cpus,
                   "same | CPU | one CPU per dispatch CPU: where each reactor's worker runs (default same)")
      ->type_name("LIST");
  bench->add_flag("--floor", f.floor,
                  "Also run the bare loops (no hand-off, no stamps) with the same vectors, pattern and CPUs, "
                  "interleaved; adds each reactor's ratio to the best of them");
  bench
      ->add_option("--floor-methods", f.floor_methods,
                   "Bare loops of --floor, in order: uring-read, uring-poll, epoll, thread (default all four)")
      ->type_name("LIST");
  bench->add_option("--json", f.json, "Write the report as JSON to FILE (its directory must exist)")->type_name("FILE");
  bench
      ->add_option("--plot", f.plot,
                   "Write PNG and SVG plots to DIR, created if its parent exists (python3 + matplotlib)")
      ->type_name("DIR");
  return bench;
}

int run_bench(const irqd::BenchFlags& flags) {
  auto options = irqd::parse_bench_options(flags);
  if (!options) return fail("irqd bench: " + options.error().message);
  return irqd::run_bench(*options, std::cout, std::cerr);
}

constexpr std::string_view kServeUsage =
    "irqd serve --device soft:N|vfio:DDDD:BB:DD.F [--device ...] [--driver count|leaky] [--vectors N] "
    "[--reactor NAME] [--pattern PATTERN] [--duration S] [--unplug-after S] [--report FILE]";

CLI::App* add_serve_command(CLI::App& app, irqd::ServeFlags& f) {
  CLI::App* serve = app.add_subcommand(
      "serve", "Host devices with a driver until they go away (device request, SIGTERM/SIGINT, --duration)");
  serve->footer(irqd::reactor_help() + irqd::planner_help());
  serve->allow_extras();
  serve->add_option("--device", f.devices, "soft:N (software device, N vectors) or vfio:DDDD:BB:DD.F; repeatable")
      ->type_name("SPEC");
  serve->add_option("--driver", f.driver, "count (managed, spread vectors) | leaky (explicit, never freed)")
      ->type_name("NAME");
  serve->add_option("--vectors", f.vectors, "Vectors the driver asks for at most (default: every MSI-X entry)")
      ->type_name("N");
  serve->add_option("--pre-vectors", f.pre_vectors, "count: leading vectors not spread")->type_name("A");
  serve->add_option("--post-vectors", f.post_vectors, "count: trailing vectors not spread")->type_name("B");
  serve->add_option("--planner", f.planner, "Where vectors go (default kernel)")->type_name("NAME");
  serve->add_option("--reactor", f.reactor, "io_uring | io_uring-poll | io_uring-busy | epoll | thread")
      ->type_name("NAME");
  serve->add_option("--handoff", f.handoff, "adaptive | queue | inline (default adaptive)")->type_name("MODE");
  serve->add_option("--when-full", f.when_full, "backoff | drop (default backoff)")->type_name("POLICY");
  serve->add_option("--queue-capacity", f.queue_capacity, "Entries per reactor-worker queue (default 4096)")
      ->type_name("N");
  serve->add_option("--busy-poll-us", f.busy_poll_us, "io_uring-busy: spin this long before sleeping (default 50)")
      ->type_name("US");
  serve->add_option("--pattern", f.pattern, "Software devices: saturate | rate:R | poisson:R | burst:B@R")
      ->type_name("PATTERN");
  serve->add_option("--choice", f.choice, "Software devices: uniform | zipf:S")->type_name("CHOICE");
  serve->add_option("--fire-cpu", f.fire_cpu, "Software devices: CPU of the firing engine (default unpinned)")
      ->type_name("CPU");
  serve->add_option("--cpus", f.cpus, "CPUs irqd may serve vectors on (default all)")->type_name("LIST");
  serve->add_option("--topology", f.topology, "Topology to plan on (default live)")->type_name("SPEC");
  serve->add_option("--duration", f.duration, "Unbind everything after S seconds (default 0: never)")->type_name("S");
  serve->add_option("--unplug-after", f.unplug_after, "Hot-unplug every software device after S seconds")
      ->type_name("S");
  serve->add_option("--report", f.report, "Write the final report as JSON to FILE (its directory must exist)")
      ->type_name("FILE");
  return serve;
}

int run_serve(const irqd::ServeFlags& flags) {
  auto options = irqd::parse_serve_options(flags);
  if (!options) return fail("irqd serve: " + options.error().message);
  return irqd::run_serve(*options, std::cout, std::cerr);
}

constexpr std::string_view kRunUsage = "irqd run [--config FILE] [--log-level LEVEL]";

CLI::App* add_run_command(CLI::App& app, irqd::DaemonOptions& f) {
  CLI::App* run = app.add_subcommand(
      "run", "The long-running host: devices, drivers, control socket, metrics (SIGHUP reloads, SIGTERM stops)");
  run->allow_extras();
  run->add_option("--config", f.config, "Configuration file (default /etc/irqd/irqd.toml)")->type_name("FILE");
  run->add_option("--log-level", f.log_level, "trace | debug | info | warn | error (default: the file's)")
      ->type_name("LEVEL");
  return run;
}

// `irqd devices [--json]`, `irqd bind BDF`, `irqd unbind BDF`.
struct DeviceCommands {
  CLI::App* devices = nullptr;
  CLI::App* bind = nullptr;
  CLI::App* unbind = nullptr;
};

constexpr std::string_view kDevicesUsage = "irqd devices [--json]";
constexpr std::string_view kBindUsage = "irqd bind [--force [--force]] DDDD:BB:DD.F";
constexpr std::string_view kUnbindUsage = "irqd unbind [--force] DDDD:BB:DD.F";

DeviceCommands add_device_commands(CLI::App& app, irqd::DevicesFlags& f) {
  DeviceCommands c;
  c.devices = app.add_subcommand("devices", "List PCI functions: driver, IOMMU group, MSI-X entries, VFIO or why not");
  c.devices->add_flag("--json", f.json, "Print JSON instead of the table");
  c.bind = app.add_subcommand("bind", "Move a PCI function to vfio-pci (remembers its driver for irqd unbind)");
  c.bind->add_option("bdf", f.bind_bdf, "The function, as irqd devices lists it")->type_name("DDDD:BB:DD.F");
  c.bind->add_flag("--force", f.bind_force,
                   "Bind it although it is in use (twice: also when it holds the root filesystem)");
  c.unbind = app.add_subcommand("unbind", "Give a PCI function back from vfio-pci to the driver it had");
  c.unbind->add_option("bdf", f.unbind_bdf, "The function, as irqd devices lists it")->type_name("DDDD:BB:DD.F");
  c.unbind->add_flag("--force", f.unbind_force, "Unbind it although a process other than irqd holds it (waits for it)");
  c.devices->footer(irqd::devices_list_help());
  for (CLI::App* sub : {c.bind, c.unbind}) sub->footer(irqd::devices_help());
  for (CLI::App* sub : {c.devices, c.bind, c.unbind}) sub->allow_extras();
  return c;
}

std::string_view device_usage(const DeviceCommands& c, const CLI::App* sub) {
  return sub == c.devices ? kDevicesUsage : sub == c.bind ? kBindUsage : kUnbindUsage;
}

// The device command given, or nullptr.
CLI::App* device_command(const CLI::App& app, const DeviceCommands& c) {
  for (CLI::App* sub : {c.devices, c.bind, c.unbind})
    if (app.got_subcommand(sub)) return sub;
  return nullptr;
}

int run_device_command(const DeviceCommands& c, CLI::App* sub, const irqd::DevicesFlags& f);

CLI::App* add_ctl_command(CLI::App& app, irqd::CtlFlags& f) {
  CLI::App* ctl = app.add_subcommand("ctl", "Query and steer a running `irqd run` through its control socket");
  ctl->add_option("--socket", f.socket, "Control socket of irqd run (default /run/irqd/irqd.sock)")->type_name("PATH");
  ctl->add_flag("--json", f.json, "Print the daemon's result as JSON instead of tables");
  ctl->add_option("command", f.args,
                  "status | stats [DEVICE] | plan [DEVICE] | move DEVICE VECTOR CPU | unbind DEVICE | bind DEVICE | "
                  "reload")
      ->type_name("COMMAND");
  return ctl;
}

int run_ctl(const irqd::CtlFlags& flags) {
  auto options = irqd::parse_ctl_options(flags);
  if (!options) return fail("irqd ctl: " + options.error().message);
  return irqd::run_ctl(*options, std::cout, std::cerr);
}

// `irqd config check FILE`, `irqd config example`.
struct ConfigCommands {
  CLI::App* config = nullptr;
  CLI::App* check = nullptr;
  CLI::App* example = nullptr;
};

constexpr std::string_view kConfigUsage = "irqd config check FILE | irqd config example";

ConfigCommands add_config_command(CLI::App& app, std::string& file) {
  ConfigCommands c;
  c.config = app.add_subcommand("config", "Check a config file of `irqd run`, or print a commented example");
  c.check = c.config->add_subcommand(
      "check", "Check FILE (syntax and ranges, not this machine): every error with FILE:LINE:COLUMN, exit 2");
  c.check->add_option("file", file, "The config file; - reads standard input")->type_name("FILE");
  c.example = c.config->add_subcommand("example", "Print a commented example with every key and its default");
  for (CLI::App* sub : {c.config, c.check, c.example}) sub->allow_extras();
  return c;
}

int run_config_command(const ConfigCommands& c, const std::string& file) {
  const std::string accepted = " (accepted: " + std::string(kConfigUsage) + "; see irqd config --help)";
  if (c.config->got_subcommand(c.check)) {
    if (!c.check->remaining().empty())
      return fail("irqd config check: unexpected argument '" + c.check->remaining().front() + "'" + accepted);
    if (c.check->count("file") == 0) return fail("irqd config check: no FILE" + accepted);
    if (file.empty()) return fail("irqd config check: FILE '' is empty" + accepted);
    return irqd::run_config_check(file, std::cout, std::cerr);
  }
  if (c.config->got_subcommand(c.example)) {
    if (!c.example->remaining().empty())
      return fail("irqd config example: unexpected argument '" + c.example->remaining().front() + "'" + accepted);
    return irqd::run_config_example(std::cout);
  }
  if (!c.config->remaining().empty())
    return fail("irqd config: unknown subcommand '" + c.config->remaining().front() + "'" + accepted);
  return fail("irqd config: no subcommand" + accepted);
}

// Given but empty is a mistake (a shell variable that was never set), not
// a request for the default.
int empty_flag(CLI::App* sub) {
  for (CLI::Option* opt : sub->get_options()) {
    if (opt->count() > 0 && !opt->results().empty() && opt->results().front().empty())
      return fail("irqd " + sub->get_name() + ": " + opt->get_name() + " '' is empty (accepted: see irqd " +
                  sub->get_name() + " --help)");
  }
  return 0;
}

// Unknown arguments are kept by CLI11 (allow_extras) and reported here with
// the accepted form, which CLI11's own message lacks.
int unexpected(CLI::App* sub, std::string_view usage) {
  return fail("irqd " + sub->get_name() + ": unexpected argument '" + sub->remaining().front() +
              "' (accepted: " + std::string(usage) + "; see irqd " + sub->get_name() + " --help)");
}

// `irqd irqs` and `irqd tune`: the kernel's own interrupts of a device.
struct KernelIrqCommands {
  CLI::App* irqs = nullptr;
  CLI::App* tune = nullptr;
};

struct KernelIrqFlags {
  irqd::IrqsFlags irqs;
  irqd::TuneFlags tune;
};

KernelIrqCommands add_kernel_irq_commands(CLI::App& app, KernelIrqFlags& f) {
  KernelIrqCommands c;
  c.irqs = app.add_subcommand("irqs", "List a device's kernel interrupts: affinity, effective CPU, managed, counts");
  c.irqs->add_option("--device", f.irqs.device, "eth0, nvme0, vda, virtio2, DDDD:BB:DD.F, or all (default all)")
      ->type_name("NAME");
  c.irqs->add_flag("--json", f.irqs.json, "Print JSON instead of the table");
  c.tune = app.add_subcommand("tune", "Plan a device's kernel interrupts with irqd's planners; --apply writes them");
  c.tune->add_option("--device", f.tune.device, "eth0, nvme0, vda, virtio2 or DDDD:BB:DD.F")->type_name("NAME");
  c.tune->add_option("--planner", f.tune.planner, "kernel | compact | per-core | single | round-robin | hint")
      ->type_name("P");
  c.tune->add_option("--cpus", f.tune.cpus, "CPUs to plan on (default: the device's NUMA node, else every CPU)")
      ->type_name("LIST");
  c.tune
      ->add_option("--kernel", f.tune.kernel,
                   "Kernel line the kernel planner follows: 6.1, 6.12.117, 6.18, 6.19 (default: the running kernel)")
      ->type_name("VERSION");
  c.tune->add_flag("--apply", f.tune.apply, "Write /proc/irq/N/smp_affinity_list (root; saves a restore file first)");
  c.tune->add_option("--save", f.tune.save, "Restore file of --apply (default /run/irqd/tune/NAME-TIME.json)")
      ->type_name("FILE");
  c.tune->add_option("--restore", f.tune.restore, "Put back every mask and xps_cpus a restore file saved")
      ->type_name("FILE");
  c.tune->add_flag("--xps", f.tune.xps, "Also steer each transmit queue (xps_cpus) to its queue's interrupt CPUs");
  c.tune->add_flag("--json", f.tune.json, "Print the plan and diff as JSON instead of the table");
  c.tune
      ->add_option("--save-profile", f.tune.save_profile,
                   "Keep device, planner, CPUs and options as /etc/irqd/tune.d/NAME.json for irqd-tune@NAME.service")
      ->type_name("NAME");
  c.tune->add_option("--profile", f.tune.profile, "Plan (and with --apply, write) what a saved profile says")
      ->type_name("NAME");
  c.tune->add_flag("--if-present", f.tune.if_present, "With --profile: a device that is not there is not an error");
  c.tune->add_flag("--ban-from-irqbalance", f.tune.ban_from_irqbalance,
                   "With --apply: make irqbalance leave the device's interrupts alone (its policy script)");
  c.tune
      ->add_option("--udev-wants", f.tune.udev_wants,
                   "For the udev rule: the irqd-tune@ units of the profiles of IFACE, as IRQD_TUNE_WANTS=...")
      ->type_name("IFACE");
  // Testing on captures of other machines: plan on their topology.
  c.tune->add_option("--topology", f.tune.topology, "live | synthetic:... | xml:PATH (default live)")->group("");
  c.tune->footer(irqd::kernel_irqs_help() + "\n" + irqd::planner_help());
  c.irqs->footer(irqd::kernel_irqs_help());
  c.irqs->allow_extras();
  c.tune->allow_extras();
  return c;
}

std::string_view kernel_irq_usage(const KernelIrqCommands& c, const CLI::App* sub) {
  return sub == c.irqs ? irqd::kIrqsUsage : irqd::kTuneUsage;
}

// The kernel interrupt command given, or nullptr.
CLI::App* kernel_irq_command(const CLI::App& app, const KernelIrqCommands& c) {
  for (CLI::App* sub : {c.irqs, c.tune})
    if (app.got_subcommand(sub)) return sub;
  return nullptr;
}

int run_kernel_irq_command(const KernelIrqCommands& c, CLI::App* sub, const KernelIrqFlags& f) {
  if (!sub->remaining().empty()) return unexpected(sub, kernel_irq_usage(c, sub));
  if (int rc = empty_flag(sub); rc != 0) return rc;
  const irqd::kirq::KernelRoots roots = irqd::kernel_roots_from_env();
  if (sub == c.irqs) return irqd::run_irqs(f.irqs, roots, std::cout, std::cerr);
  irqd::TuneFlags tune = f.tune;
  irqd::tune_paths_from_env(tune);
  return irqd::run_tune(tune, roots, std::cout, std::cerr);
}

// `irqd top`: interrupts per second per vector, irqd's and the kernel's.
CLI::App* add_top_command(CLI::App& app, irqd::TopFlags& f) {
  CLI::App* top =
      app.add_subcommand("top", "Live interrupts per second per vector and per CPU, irqd's and the kernel's");
  top->allow_extras();
  top->add_option("--socket", f.socket, "Control socket of irqd run (default /run/irqd/irqd.sock)")->type_name("PATH");
  top->add_option("--source", f.source, "irqd | kernel (/proc/interrupts) | both (default both)")->type_name("SRC");
  top->add_option("--sort", f.sort, "rate | total | name | cpu (default rate)")->type_name("KEY");
  top->add_option("--interval", f.interval, "Seconds between samples, 0.1..60 (default 1)")->type_name("S");
  top->add_flag("--batch", f.batch, "Print plain tables and exit (no screen redraw)");
  top->add_option("--iterations", f.iterations, "Tables to print (default: 1 with --batch, else until q or Ctrl-C)")
      ->type_name("N");
  top->add_flag("--cpu", f.cpu, "Also print the per-CPU summary");
  top->footer(irqd::top_help());
  return top;
}

int run_top(CLI::App* top, const irqd::TopFlags& flags) {
  if (!top->remaining().empty()) return unexpected(top, irqd::kTopUsage);
  if (int rc = empty_flag(top); rc != 0) return rc;
  auto options = irqd::parse_top_options(flags);
  if (!options) return fail("irqd top: " + options.error().message);
  options->screen = ::isatty(STDOUT_FILENO) == 1;  // a pipe or a file gets plain tables
  return irqd::run_top(*options, irqd::kernel_roots_from_env(), std::cout, std::cerr);
}

int run(int argc, char** argv) {
  CLI::App app{"irqd: userspace interrupt host and benchmark daemon", "irqd"};
  app.require_subcommand(1);
  // Listed in `irqd help`; both are answered before parsing (below).
  bool version_flag = false;
  app.add_flag("--version", version_flag, "Print the version, the build type and the running kernel, and exit");
  app.footer(
      "irqd help SUBCOMMAND or irqd SUBCOMMAND --help: its options. Exit status: 0 done, 1 failed, 2 usage or "
      "configuration error.");
  irqd::PlanFlags plan_flags;
  CLI::App* plan = add_plan_command(app, plan_flags);
  irqd::BenchFlags bench_flags;
  CLI::App* bench = add_bench_command(app, bench_flags);
  irqd::ServeFlags serve_flags;
  CLI::App* serve = add_serve_command(app, serve_flags);
  irqd::CtlFlags ctl_flags;
  CLI::App* ctl = add_ctl_command(app, ctl_flags);
  irqd::DaemonOptions run_flags;
  CLI::App* run_cmd = add_run_command(app, run_flags);
  irqd::DevicesFlags device_flags;
  const DeviceCommands device_cmds = add_device_commands(app, device_flags);
  std::string config_file;
  const ConfigCommands config_cmds = add_config_command(app, config_file);
  KernelIrqFlags kirq_flags;
  const KernelIrqCommands kirq_cmds = add_kernel_irq_commands(app, kirq_flags);
  irqd::TopFlags top_flags;
  CLI::App* top = add_top_command(app, top_flags);

  // CLI11 reports a misspelt subcommand as "a subcommand is required",
  // which does not name it.
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  const std::string first = argc > 1 ? argv[1] : "";
  if (first == "--version") {
    if (argc > 2) return fail("--version takes no arguments (accepted: irqd --version)");
    std::cout << version_text();
    return std::cout.flush() ? 0 : 1;
  }
  // A bare `irqd` is a usage error that shows what there is to use.
  if (argc == 1) {
    std::cerr << app.help();
    return kExitUsage;
  }
  if (first == "help") {
    if (argc == 2) {
      std::cout << app.help();
      return std::cout.flush() ? 0 : 1;
    }
    const std::string sub = argv[2];
    CLI::App* target = nullptr;
    for (CLI::App* s : app.get_subcommands({}))
      if (s->get_name() == sub) target = s;
    if (argc > 3)
      return fail("irqd help: unexpected argument '" + std::string(argv[3]) + "' (accepted: irqd help [SUBCOMMAND])");
    if (target == nullptr) return fail("irqd help: unknown subcommand '" + sub + "' (accepted: " + names + ")");
    std::vector<std::string> args{argv[0], sub, "--help"};
    std::vector<char*> again;
    for (std::string& a : args) again.push_back(a.data());
    again.push_back(nullptr);
    return run(3, again.data());
  }
  const std::string accepted_top =
      "(accepted: irqd SUBCOMMAND [OPTIONS], SUBCOMMAND one of " + names + "; irqd --version; see irqd help)";
  if (argc > 1 && argv[1][0] != '-' && !known)
    return fail("unknown subcommand '" + std::string(argv[1]) + "' " + accepted_top);
  if (argc > 1 && argv[1][0] == '-' && first != "-h" && first != "--help")
    return fail("unexpected argument '" + first + "' " + accepted_top);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string what = parse_error_text(e);
    if (app.got_subcommand(bench))
      return fail("irqd bench: " + what + " (accepted: " + std::string(kBenchUsage) + "; see irqd bench --help)");
    if (CLI::App* sub = device_command(app, device_cmds))
      return fail("irqd " + sub->get_name() + ": " + what + " (accepted: " +
                  std::string(device_usage(device_cmds, sub)) + "; see irqd " + sub->get_name() + " --help)");
    if (CLI::App* sub = kernel_irq_command(app, kirq_cmds))
      return fail("irqd " + sub->get_name() + ": " + what + " (accepted: " +
                  std::string(kernel_irq_usage(kirq_cmds, sub)) + "; see irqd " + sub->get_name() + " --help)");
    if (app.got_subcommand(config_cmds.config))
      return fail("irqd config: " + what + " (accepted: " + std::string(kConfigUsage) + "; see irqd config --help)");
    if (app.got_subcommand(ctl))
      return fail("irqd ctl: " + what + " (accepted: " + std::string(irqd::kCtlUsage) + "; see irqd ctl --help)");
    if (app.got_subcommand(top))
      return fail("irqd top: " + what + " (accepted: " + std::string(irqd::kTopUsage) + "; see irqd top --help)");
    if (app.got_subcommand(serve))
      return fail("irqd serve: " + what + " (accepted: " + std::string(kServeUsage) + "; see irqd serve --help)");
    if (app.got_subcommand(run_cmd))
      return fail("irqd run: " + what + " (accepted: " + std::string(kRunUsage) + "; see irqd run --help)");
    if (app.got_subcommand(plan)) return fail("irqd plan: " + what + accepted_plan_usage());
    return fail(what + " " + accepted_top);
  }

  if (app.got_subcommand(bench)) {
    if (!bench->remaining().empty()) return unexpected(bench, kBenchUsage);
    if (int rc = empty_flag(bench); rc != 0) return rc;
    bench_flags.floor_methods_given = bench->count("--floor-methods") > 0;
    return run_bench(bench_flags);
  }
  if (app.got_subcommand(serve)) {
    if (!serve->remaining().empty()) return unexpected(serve, kServeUsage);
    if (int rc = empty_flag(serve); rc != 0) return rc;
    return run_serve(serve_flags);
  }
  if (app.got_subcommand(top)) return run_top(top, top_flags);
  if (app.got_subcommand(run_cmd)) {
    if (!run_cmd->remaining().empty()) return unexpected(run_cmd, kRunUsage);
    if (int rc = empty_flag(run_cmd); rc != 0) return rc;
    return irqd::run_daemon(run_flags, std::cerr);
  }
  if (CLI::App* sub = device_command(app, device_cmds)) return run_device_command(device_cmds, sub, device_flags);
  if (app.got_subcommand(ctl)) {
    if (int rc = empty_flag(ctl); rc != 0) return rc;
    return run_ctl(ctl_flags);
  }
  if (app.got_subcommand(config_cmds.config)) return run_config_command(config_cmds, config_file);
  if (CLI::App* sub = kernel_irq_command(app, kirq_cmds)) return run_kernel_irq_command(kirq_cmds, sub, kirq_flags);
  if (!app.got_subcommand(plan)) return fail("no subcommand (accepted: " + names + ")");
  if (!plan->remaining().empty()) return unexpected(plan, kPlanUsage);
  if (plan->count("--sets") > 0 && plan_flags.sets.empty())
    return fail("irqd plan: --sets '' is malformed (accepted: comma-separated set sizes >= 1, e.g. 8,8)");
  return run_plan(plan_flags);
}

int run_device_command(const DeviceCommands& c, CLI::App* sub, const irqd::DevicesFlags& f) {
  if (!sub->remaining().empty()) return unexpected(sub, device_usage(c, sub));
  const irqd::pci::PciPaths paths = irqd::devices_paths_from_env();
  if (sub == c.devices) return irqd::run_devices(paths, f.json, std::cout, std::cerr);
  const std::string& bdf = sub == c.bind ? f.bind_bdf : f.unbind_bdf;
  if (bdf.empty())
    return fail("irqd " + sub->get_name() + ": no PCI address (accepted: " + std::string(device_usage(c, sub)) +
                "; `irqd devices` lists them)");
  if (sub == c.bind) return irqd::run_bind(bdf, paths, std::cout, std::cerr, f.bind_force);
  return irqd::run_unbind(bdf, paths, std::cout, std::cerr, f.unbind_force);
}

}  // namespace

int main(int argc, char** argv) {
  // Errors travel as Result values; an exception reaching here is a bug or
  // std::bad_alloc, and still gets one line and a non-zero exit.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "irqd: fatal: " << e.what() << "\n";
  }
  return 1;
}
