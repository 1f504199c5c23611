// SPDX-License-Identifier: GPL-2.0-only
//
// irqd: the command-line entry point. Parses flags with CLI11 and hands each
// subcommand its options; every error is one line on stderr and exit 2, with
// nothing on stdout.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/bench_command.h"
#include "daemon/plan_command.h"
#include "daemon/serve_command.h"

namespace {

constexpr int kExitUsage = 2;

constexpr std::string_view kPlanUsage =
    "irqd plan --topology SPEC --vectors N [--pre-vectors A] [--post-vectors B] [--sets S1,S2,...] "
    "[--offline-cpus LIST] [--planner NAME] [--format table|json]";

// One line, whatever the message holds: a newline from a library's text
// would otherwise split it.
int fail(std::string message) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  std::cerr << "irqd: error: " << message << "\n";
  return kExitUsage;
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
  plan->add_option("--vectors", flags.vectors, "Vectors of the device, 1..65536 (required)")->type_name("N");
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
  plan->add_option("--format", flags.format, "table | json (default table)")->type_name("table|json");
  return plan;
}

int run_plan(const irqd::PlanFlags& flags) {
  auto options = irqd::parse_plan_options(flags);
  if (!options) return fail("irqd plan: " + options.error().message);
  auto outcome = irqd::run_plan(*options);
  if (!outcome) return fail("irqd plan: " + outcome.error().message);
  const auto& [topo, plan] = *outcome;
  std::cout << (options->format == irqd::PlanFormat::kJson ? irqd::format_plan_json(topo, options->request, plan)
                                                           : irqd::format_plan_table(topo, options->request, plan));
  return std::cout.flush() ? 0 : 1;
}

constexpr std::string_view kBenchUsage =
    "irqd bench [--reactors LIST] [--layouts LIST] [--vectors N] [--pattern P] [--duration S] [--warmup S] "
    "[--repeat K] [--cpus LIST] [--json FILE] [--plot DIR]";

CLI::App* add_bench_command(CLI::App& app, irqd::BenchFlags& f) {
  CLI::App* bench = app.add_subcommand("bench", "Fire a software device and compare reactors and layouts side by side");
  bench->footer(irqd::reactor_help() + irqd::planner_help());
  bench->allow_extras();
  bench->add_option("--reactors", f.reactors, "Reactors to compare, in order (default io_uring,epoll,thread)");
  bench->add_option("--layouts", f.layouts, "Planners to compare, in order (default kernel)");
  bench->add_option("--vectors", f.vectors, "Vectors of the software device, 1..2048 (default 64)");
  bench->add_option("--pattern", f.pattern, "saturate | rate:R | poisson:R | burst:B@R (default saturate)");
  bench->add_option("--choice", f.choice, "Vector of each fire: uniform | zipf:S (default uniform)");
  bench->add_option("--duration", f.duration, "Seconds measured per run (default 3)");
  bench->add_option("--warmup", f.warmup, "Seconds run and discarded before each run (default 0.5)");
  bench->add_option("--repeat", f.repeat, "Runs per configuration; the median is reported (default 3)");
  bench->add_option("--cpus", f.cpus, "CPUs the dispatcher may use (default: all but the firing engine's)");
  bench->add_option("--fire-cpu", f.fire_cpu, "CPU of the firing engine (default: the last CPU)");
  bench->add_option("--topology", f.topology, "Topology to plan on (default live)");
  bench->add_option("--handoff", f.handoff, "queue (SPSC to a pinned worker) | inline (default queue)");
  bench->add_option("--when-full", f.when_full, "backoff | drop, when a worker's queue is full (default backoff)");
  bench->add_option("--queue-capacity", f.queue_capacity, "Entries per reactor-worker queue (default 4096)");
  bench->add_option("--busy-poll-us", f.busy_poll_us, "io_uring-busy: spin this long before sleeping (default 50)");
  bench->add_option("--worker-cpus", f.worker_cpus,
                    "same | CPU | one CPU per dispatch CPU: where each reactor's worker runs (default same)");
  bench->add_option("--json", f.json, "Write the report as JSON to FILE");
  bench->add_option("--plot", f.plot, "Write PNG and SVG plots to DIR (python3 + matplotlib)");
  return bench;
}

int run_bench(const irqd::BenchFlags& flags) {
  auto options = irqd::parse_bench_options(flags);
  if (!options) return fail("irqd bench: " + options.error().message);
  return irqd::run_bench(*options, std::cout, std::cerr);
}

constexpr std::string_view kServeUsage =
    "irqd serve --device soft:N|vfio:DDDD:BB:DD.F [--device ...] [--driver count|leaky] [--vectors N] "
    "[--reactor NAME] [--pattern P] [--duration S] [--unplug-after S] [--report FILE]";

CLI::App* add_serve_command(CLI::App& app, irqd::ServeFlags& f) {
  CLI::App* serve = app.add_subcommand(
      "serve", "Host devices with a driver until they go away (device request, SIGTERM/SIGINT, --duration)");
  serve->footer(irqd::reactor_help() + irqd::planner_help());
  serve->allow_extras();
  serve->add_option("--device", f.devices, "soft:N (software device, N vectors) or vfio:DDDD:BB:DD.F; repeatable")
      ->type_name("SPEC");
  serve->add_option("--driver", f.driver, "count (managed, spread vectors) | leaky (explicit, never freed)");
  serve->add_option("--vectors", f.vectors, "Vectors the driver asks for at most (default: every MSI-X entry)");
  serve->add_option("--pre-vectors", f.pre_vectors, "count: leading vectors not spread");
  serve->add_option("--post-vectors", f.post_vectors, "count: trailing vectors not spread");
  serve->add_option("--planner", f.planner, "Where vectors go (default kernel)");
  serve->add_option("--reactor", f.reactor, "io_uring | io_uring-poll | io_uring-busy | epoll | thread");
  serve->add_option("--handoff", f.handoff, "queue | inline (default queue)");
  serve->add_option("--when-full", f.when_full, "backoff | drop (default backoff)");
  serve->add_option("--queue-capacity", f.queue_capacity, "Entries per reactor-worker queue (default 4096)");
  serve->add_option("--busy-poll-us", f.busy_poll_us, "io_uring-busy: spin this long before sleeping (default 50)");
  serve->add_option("--pattern", f.pattern, "Software devices: saturate | rate:R | poisson:R | burst:B@R");
  serve->add_option("--choice", f.choice, "Software devices: uniform | zipf:S");
  serve->add_option("--fire-cpu", f.fire_cpu, "Software devices: CPU of the firing engine (default unpinned)");
  serve->add_option("--cpus", f.cpus, "CPUs irqd may serve vectors on (default all)");
  serve->add_option("--topology", f.topology, "Topology to plan on (default live)");
  serve->add_option("--duration", f.duration, "Unbind everything after S seconds (default 0: never)");
  serve->add_option("--unplug-after", f.unplug_after, "Hot-unplug every software device after S seconds");
  serve->add_option("--report", f.report, "Write the final report as JSON to FILE");
  return serve;
}

int run_serve(const irqd::ServeFlags& flags) {
  auto options = irqd::parse_serve_options(flags);
  if (!options) return fail("irqd serve: " + options.error().message);
  return irqd::run_serve(*options, std::cout, std::cerr);
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

int run(int argc, char** argv) {
  CLI::App app{"irqd: userspace interrupt host and benchmark daemon"};
  app.require_subcommand(1);
  irqd::PlanFlags plan_flags;
  CLI::App* plan = add_plan_command(app, plan_flags);
  irqd::BenchFlags bench_flags;
  CLI::App* bench = add_bench_command(app, bench_flags);
  irqd::ServeFlags serve_flags;
  CLI::App* serve = add_serve_command(app, serve_flags);

  // CLI11 reports a misspelt subcommand as "a subcommand is required",
  // which does not name it.
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known)
    return fail("unknown subcommand '" + std::string(argv[1]) + "' (accepted: " + names + ")");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    if (app.got_subcommand(bench))
      return fail("irqd bench: " + what + " (accepted: " + std::string(kBenchUsage) + "; see irqd bench --help)");
    if (app.got_subcommand(serve))
      return fail("irqd serve: " + what + " (accepted: " + std::string(kServeUsage) + "; see irqd serve --help)");
    return fail((app.got_subcommand(plan) ? "irqd plan: " : "") + what + accepted_plan_usage());
  }

  if (app.got_subcommand(bench)) {
    if (!bench->remaining().empty()) return unexpected(bench, kBenchUsage);
    if (int rc = empty_flag(bench); rc != 0) return rc;
    return run_bench(bench_flags);
  }
  if (app.got_subcommand(serve)) {
    if (!serve->remaining().empty()) return unexpected(serve, kServeUsage);
    if (int rc = empty_flag(serve); rc != 0) return rc;
    return run_serve(serve_flags);
  }
  if (!app.got_subcommand(plan)) return fail("no subcommand (accepted: " + names + ")");
  if (!plan->remaining().empty()) return unexpected(plan, kPlanUsage);
  if (plan->count("--sets") > 0 && plan_flags.sets.empty())
    return fail("irqd plan: --sets '' is malformed (accepted: comma-separated set sizes >= 1, e.g. 8,8)");
  return run_plan(plan_flags);
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
