// SPDX-License-Identifier: GPL-2.0-only

#include "bench/runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <thread>

#include "affinity/cpulist.h"
#include "affinity/topology.h"
#include "dispatch/sys.h"

#ifndef IRQD_VERSION
#define IRQD_VERSION "unknown"
#endif
#ifndef IRQD_BUILD_TYPE
#define IRQD_BUILD_TYPE "unknown"
#endif
#ifndef IRQD_PLOT_SCRIPT
#define IRQD_PLOT_SCRIPT "bench/plot.py"
#endif

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

// Everything one measured run produced.
struct RunResult {
  std::string reactor;
  std::string layout;
  double seconds = 0;
  std::uint64_t fired = 0;
  std::uint64_t handled = 0;
  std::uint64_t invocations = 0;
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t refused = 0;  // fires the device refused (stamp ring full)
  std::uint64_t backoffs = 0;
  std::uint64_t dispatch_cpu_ns = 0;
  std::uint64_t fire_cpu_ns = 0;
  int fire_cpu = -1;
  LatencyHistogram latency;
  std::vector<std::pair<unsigned, std::uint64_t>> handled_per_cpu;
  bool pinned_ok = true;
  std::string uring_choice;           // the io_uring reactor's method and why; empty for the fixed ones
  std::uint64_t method_switches = 0;  // io_uring switching by load, over every CPU

  double interrupts_per_s() const { return seconds > 0 ? static_cast<double>(handled) / seconds : 0; }
  double invocations_per_s() const { return seconds > 0 ? static_cast<double>(invocations) / seconds : 0; }
  double cpu_ns_per_interrupt() const {
    return handled > 0 ? static_cast<double>(dispatch_cpu_ns) / static_cast<double>(handled) : 0;
  }
  std::int64_t lost() const {
    return static_cast<std::int64_t>(fired) - static_cast<std::int64_t>(handled + dropped_queue_full);
  }
};

struct Machine {
  std::string cpu_model;
  unsigned cpus = 0;
  std::string kernel;
  std::string topology;
};

Machine describe_machine(const Topology& topo) {
  Machine m;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  m.cpus = topo.present().weight();
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  m.topology = topo.description();
  return m;
}

// Progress on err: on a terminal, a line redrawn while a run goes; on a
// terminal or not, one line per finished run, so that a bench writing
// into a pipe or a file does not sit silent for a minute.
class Progress {
 public:
  Progress(std::ostream& err, bool tty) : err_(err), tty_(tty) {}
  void show(const std::string& what, double done, double total) {
    if (!tty_) return;
    err_ << fmt::format("\r\033[K{} {:.1f}/{:.1f} s", what, done, total) << std::flush;
  }
  void clear() {
    if (tty_) err_ << "\r\033[K" << std::flush;
  }
  // A finished run, on a line of its own.
  void done(const std::string& line) {
    clear();
    err_ << line << "\n" << std::flush;
  }

 private:
  std::ostream& err_;
  bool tty_;
};

// Fires for `seconds` and dispatches; stops the device first, then the
// dispatcher (which drains), so every fire is accounted.
Result<RunResult> run_once(const BenchOptions& o, const Topology& topo, const ReactorVariant& reactor,
                           PlannerKind layout, double seconds, Progress& progress, const std::string& label) {
  auto plan = make_plan(topo, PlanRequest{o.vectors, 0, 0, {}, layout});
  if (!plan) return plan.error();
  auto device = SoftwareDevice::create(o.vectors);
  if (!device) return device.error();
  SoftwareDevice& dev = **device;

  std::vector<VectorBinding> bindings;
  for (const VectorPlacement& v : plan->vectors) {
    if (v.serving_cpu < 0) return Error{fmt::format("vector {} has no present CPU to serve it", v.index)};
    bindings.push_back({v.index, dev.eventfd(v.index), static_cast<unsigned>(v.serving_cpu)});
  }
  DispatchOptions d;
  d.reactor = reactor.kind;
  d.uring_method = reactor.method;
  d.busy_poll_ns = reactor.busy_poll_ns;
  d.handoff = o.handoff;
  d.when_full = o.when_full;
  d.queue_capacity = o.queue_capacity;
  if (!o.worker_cpus.empty()) {
    d.worker_cpu = [&o](unsigned reactor_cpu) {
      auto it = std::find(o.cpus.begin(), o.cpus.end(), reactor_cpu);
      auto i = static_cast<std::size_t>(it - o.cpus.begin());
      return o.worker_cpus.size() == 1 ? o.worker_cpus.front() : o.worker_cpus.at(i);
    };
  }
  d.consume_stamp = [&dev](unsigned vector, std::uint64_t count) { return dev.consume(vector, count); };
  auto dispatcher = Dispatcher::start(bindings, d);
  if (!dispatcher) return dispatcher.error();

  FiringEngine::Options fo;
  fo.pattern = o.pattern;
  fo.choice = o.choice;
  fo.cpu = o.fire_cpu;
  auto engine = FiringEngine::start(dev, fo);
  if (!engine) return engine.error();

  std::uint64_t t0 = monotonic_ns();
  auto total_ns = static_cast<std::uint64_t>(seconds * 1e9);
  while (monotonic_ns() - t0 < total_ns) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    progress.show(label, static_cast<double>(monotonic_ns() - t0) / 1e9, seconds);
  }
  (*engine)->stop();
  const DispatchStats& s = (*dispatcher)->stop();
  std::uint64_t t1 = monotonic_ns();

  RunResult r;
  r.reactor = reactor.name;
  r.layout = std::string(planner_name(layout));
  r.seconds = static_cast<double>(t1 - t0) / 1e9;
  r.fired = dev.total_fired();
  r.refused = dev.refused();
  r.handled = s.handled();
  r.invocations = s.invocations();
  r.dropped_queue_full = s.dropped_queue_full();
  r.dispatch_cpu_ns = s.cpu_ns();
  r.fire_cpu_ns = (*engine)->cpu_ns();
  r.fire_cpu = (*engine)->cpu();
  r.latency = s.latency;
  r.uring_choice = s.uring_choice;
  for (const CpuStats& c : s.cpus) {
    r.backoffs += c.backoffs;
    r.method_switches += c.method_switches;
    r.handled_per_cpu.emplace_back(c.cpu, c.handled);
    if (c.reactor_ran_on != static_cast<int>(c.cpu)) r.pinned_ok = false;
    if (o.handoff != Handoff::kInline && c.worker_ran_on != c.worker_cpu) r.pinned_ok = false;
  }
  return r;
}

// The serving CPU of each vector under `layout`: where the reactors serve
// them, so the bare loops read them on the same CPUs.
Result<std::vector<unsigned>> vector_cpus(const BenchOptions& o, const Topology& topo, PlannerKind layout) {
  auto plan = make_plan(topo, PlanRequest{o.vectors, 0, 0, {}, layout});
  if (!plan) return plan.error();
  std::vector<unsigned> cpus(o.vectors, 0);
  for (const VectorPlacement& v : plan->vectors) {
    if (v.serving_cpu < 0) return Error{fmt::format("vector {} has no present CPU to serve it", v.index)};
    cpus.at(v.index) = static_cast<unsigned>(v.serving_cpu);
  }
  return cpus;
}

bool saturating(const BenchOptions& o) { return o.pattern.kind == FirePattern::Kind::kSaturate; }

// The repeat kept of a reactor's or a bare loop's runs: the median of the
// figure the tables compare, interrupts/s when saturating, CPU ns per
// interrupt when paced (every paced repeat reads the pattern's rate, so a
// median by interrupts/s would pick an arbitrary repeat's cost and latency).
template <typename Run>
Run median_repeat(std::vector<Run> runs, bool saturate) {
  std::sort(runs.begin(), runs.end(), [saturate](const Run& a, const Run& b) {
    return saturate ? a.interrupts_per_s() < b.interrupts_per_s() : a.cpu_ns_per_interrupt() < b.cpu_ns_per_interrupt();
  });
  return runs[runs.size() / 2];
}

std::string si(double v) {
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string ns(std::uint64_t v) {
  if (v >= 1'000'000) return fmt::format("{:.2f}ms", static_cast<double>(v) / 1e6);
  if (v >= 1'000) return fmt::format("{:.1f}us", static_cast<double>(v) / 1e3);
  return fmt::format("{}ns", v);
}

}  // namespace

std::string bench_legend(bool with_floor) {
  std::string legend =
      "x: the row's value over the first row's; for irq/s higher is better, for cpu/irq (dispatch CPU time per "
      "interrupt) lower is better\n";
  // Saturated, every loop reads as fast as it can, so throughput is the
  // figure; paced, every loop reads the pattern's rate, so throughput says
  // nothing and the CPU each interrupt costs is the figure.
  if (with_floor)
    legend +=
        "floor: saturate: the row's irq/s over the best bare loop's (1.00 = as fast as the floor, higher is "
        "better); paced: the row's cpu/irq over the best (lowest) bare loop's (1.00 = as cheap, lower is better)\n";
  return legend;
}

namespace {

// The best bare loop by the figure the floor column compares.
const FloorResult* best_floor(const std::vector<FloorResult>& floor, bool saturate) {
  const FloorResult* best = nullptr;
  for (const FloorResult& f : floor) {
    if (!best || (saturate ? f.interrupts_per_s() > best->interrupts_per_s()
                           : f.cpu_ns_per_interrupt() < best->cpu_ns_per_interrupt()))
      best = &f;
  }
  return best;
}

double floor_ratio(const RunResult& r, const FloorResult& best, bool saturate) {
  if (saturate) return best.interrupts_per_s() > 0 ? r.interrupts_per_s() / best.interrupts_per_s() : 0;
  return best.cpu_ns_per_interrupt() > 0 ? r.cpu_ns_per_interrupt() / best.cpu_ns_per_interrupt() : 0;
}

std::string format_table(const std::vector<RunResult>& runs, const std::vector<FloorMethod>& methods,
                         const std::vector<FloorResult>& floor, bool saturate) {
  const RunResult& base = runs.front();
  const FloorResult* best = best_floor(floor, saturate);
  std::string out = fmt::format("{:<24} {:>9} {:>6} {:>9} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}", "reactor/layout",
                                "irq/s", "x", "calls/s", "cpu/irq", "x", "p50", "p99", "p99.9", "max", "dropped");
  out += best ? fmt::format(" {:>6}\n", "floor") : "\n";
  for (const RunResult& r : runs) {
    double tput = base.interrupts_per_s() > 0 ? r.interrupts_per_s() / base.interrupts_per_s() : 0;
    double cost = base.cpu_ns_per_interrupt() > 0 ? r.cpu_ns_per_interrupt() / base.cpu_ns_per_interrupt() : 0;
    out += fmt::format("{:<24} {:>9} {:>6.2f} {:>9} {:>6.0f}ns {:>6.2f} {:>8} {:>8} {:>8} {:>8} {:>8}",
                       r.reactor + "/" + r.layout, si(r.interrupts_per_s()), tput, si(r.invocations_per_s()),
                       r.cpu_ns_per_interrupt(), cost, ns(r.latency.percentile(50)), ns(r.latency.percentile(99)),
                       ns(r.latency.percentile(99.9)), ns(r.latency.max()), r.dropped_queue_full);
    out += best ? fmt::format(" {:>6.2f}\n", floor_ratio(r, *best, saturate)) : "\n";
  }
  // The bare loops under the reactors, in the same columns where they
  // apply; no hand-off, no stamps, so no calls/s or latency.
  for (std::size_t i = 0; i < floor.size(); ++i) {
    const FloorResult& f = floor[i];
    out += fmt::format("{:<24} {:>9} {:>6} {:>9} {:>6.0f}ns\n", "floor:" + std::string(floor_method_name(methods[i])),
                       si(f.interrupts_per_s()), "", "", f.cpu_ns_per_interrupt());
  }
  return out;
}

json latency_json(const LatencyHistogram& h) {
  json cdf = json::array();
  std::uint64_t seen = 0;
  for (const auto& [value, count] : h.nonempty_buckets()) {
    seen += count;
    cdf.push_back({value, static_cast<double>(seen) / static_cast<double>(h.count())});
  }
  return {{"p50", h.percentile(50)},    {"p90", h.percentile(90)}, {"p99", h.percentile(99)},
          {"p999", h.percentile(99.9)}, {"max", h.max()},          {"min", h.min()},
          {"mean", h.mean()},           {"samples", h.count()},    {"cdf", cdf}};
}

json run_json(const RunResult& r, const BenchOptions& o, const std::vector<RunResult>& repeats) {
  json per_cpu = json::array();
  for (const auto& [cpu, handled] : r.handled_per_cpu) per_cpu.push_back({{"cpu", cpu}, {"handled", handled}});
  // Every repeat in run order, so a reader can see the spread the median
  // hides (on a shared machine it is often as large as the differences).
  json rep = json::array();
  json rep_cpu = json::array();
  json rep_p99 = json::array();
  for (const RunResult& x : repeats) {
    rep.push_back(x.interrupts_per_s());
    rep_cpu.push_back(x.cpu_ns_per_interrupt());
    rep_p99.push_back(x.latency.percentile(99));
  }
  return {{"reactor", r.reactor},
          {"layout", r.layout},
          {"vectors", o.vectors},
          {"pattern", o.pattern_text},
          {"choice", o.choice_text},
          {"handoff", std::string(handoff_name(o.handoff))},
          {"seconds", r.seconds},
          {"interrupts_per_s", r.interrupts_per_s()},
          {"invocations_per_s", r.invocations_per_s()},
          {"cpu_ns_per_interrupt", r.cpu_ns_per_interrupt()},
          {"latency_ns", latency_json(r.latency)},
          {"fired", r.fired},
          {"handled", r.handled},
          {"invocations", r.invocations},
          {"dropped", {{"queue_full", r.dropped_queue_full}}},
          {"refused_fires", r.refused},
          {"backoffs", r.backoffs},
          {"dispatch_cpu_ns", r.dispatch_cpu_ns},
          {"fire_cpu", r.fire_cpu},
          {"fire_cpu_ns", r.fire_cpu_ns},
          {"per_cpu", per_cpu},
          {"repeats_interrupts_per_s", rep},
          {"repeats_cpu_ns_per_interrupt", rep_cpu},
          {"repeats_p99_ns", rep_p99},
          {"uring_choice", r.uring_choice},
          {"method_switches", r.method_switches}};
}

// Picks the firing engine's CPU (the last present one unless given) and
// the dispatcher's (every other present CPU unless given).
Status choose_cpus(const Topology& topo, BenchOptions& o) {
  std::vector<unsigned> present = topo.present().to_vector();
  if (o.fire_cpu < 0) o.fire_cpu = static_cast<int>(present.back());
  if (!topo.present().test_cpu(static_cast<unsigned>(o.fire_cpu)))
    return Error{
        fmt::format("--fire-cpu {} is not a present CPU (accepted: {})", o.fire_cpu, topo.present().to_list())};
  if (o.cpus.empty()) {
    for (unsigned c : present)
      if (static_cast<int>(c) != o.fire_cpu) o.cpus.push_back(c);
    if (o.cpus.empty()) o.cpus = present;  // one CPU: share it
  } else if (std::find(o.cpus.begin(), o.cpus.end(), static_cast<unsigned>(o.fire_cpu)) != o.cpus.end()) {
    // The firing engine spins on its CPU: a reactor there would measure the
    // two fighting for it, not the reactor.
    return Error{fmt::format(
        "--cpus {} includes CPU {}, the firing engine's (--fire-cpu {}): they would share it (accepted: dispatch "
        "CPUs other than the firing engine's; --fire-cpu moves it)",
        cpumask_of(topo.nr_cpu_ids(), o.cpus).to_list(), o.fire_cpu, o.fire_cpu)};
  }
  for (unsigned c : o.cpus)
    if (!topo.present().test_cpu(c))
      return Error{fmt::format("--cpus: CPU {} is not a present CPU (accepted: {})", c, topo.present().to_list())};
  if (o.worker_cpus.size() > 1 && o.worker_cpus.size() != o.cpus.size())
    return Error{
        fmt::format("--worker-cpus has {} CPUs for {} dispatch CPUs (accepted: same, one CPU, or one per dispatch CPU)",
                    o.worker_cpus.size(), o.cpus.size())};
  for (unsigned c : o.worker_cpus)
    if (!topo.present().test_cpu(c))
      return Error{
          fmt::format("--worker-cpus: CPU {} is not a present CPU (accepted: {})", c, topo.present().to_list())};
  return ok_status();
}

// Layouts that place every vector on the same CPUs here measure the same
// thing twice: say so before the runs, with why when it is one CPU.
std::string layouts_note(const Topology& topo, const BenchOptions& o) {
  if (o.layouts.size() < 2) return {};
  std::vector<std::vector<int>> placements;
  for (PlannerKind layout : o.layouts) {
    auto plan = make_plan(topo, PlanRequest{o.vectors, 0, 0, {}, layout});
    if (!plan) return {};  // the run says why
    std::vector<int> cpus;
    for (const VectorPlacement& v : plan->vectors) cpus.push_back(v.serving_cpu);
    placements.push_back(std::move(cpus));
  }
  std::string names;
  for (PlannerKind layout : o.layouts) names += (names.empty() ? "" : ", ") + std::string(planner_name(layout));
  if (std::all_of(placements.begin(), placements.end(), [&](const auto& p) { return p == placements.front(); })) {
    if (o.cpus.size() == 1)
      return fmt::format(
          "note: one dispatch CPU ({}): the layouts {} all serve every vector there, so they cannot differ; give "
          "--cpus two or more CPUs to compare layouts\n",
          o.cpus.front(), names);
    return fmt::format(
        "note: the layouts {} place every vector on the same CPUs here, so they cannot differ; only the reactors "
        "compare\n",
        names);
  }
  return {};
}

// python3 bench/plot.py --check: whether the plots can be drawn at all,
// asked before the runs rather than found out after them.
Status check_plot_script() {
  std::vector<std::string> args{"python3", IRQD_PLOT_SCRIPT, "--check"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int e = posix_spawnp(&pid, "python3", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (e != 0) return Error{"--plot needs python3 with matplotlib: cannot run python3: " + errno_string(e)};
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error{fmt::format("--plot needs python3 with matplotlib, which cannot be loaded here (python3 {} --check)",
                             IRQD_PLOT_SCRIPT)};
  return ok_status();
}

// python3 bench/plot.py REPORT DIR, without a shell in between.
Status run_plot_script(const std::string& report, const std::string& dir) {
  std::vector<std::string> args{"python3", IRQD_PLOT_SCRIPT, report, dir};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int e = posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ); e != 0)
    return Error{"cannot run python3 for --plot: " + errno_string(e)};
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error{fmt::format("plotting failed: python3 {} {} {}", IRQD_PLOT_SCRIPT, report, dir)};
  return ok_status();
}

}  // namespace

int run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err) {
  BenchOptions o = options;
  auto live = Topology::load(o.topology);
  if (!live) {
    err << "irqd: error: irqd bench: --topology: " << live.error().message << "\n";
    return 2;
  }
  if (Status s = choose_cpus(*live, o); !s) {
    err << "irqd: error: irqd bench: " << s.error().message << "\n";
    return 2;
  }
  auto topo = live->restrict_to(o.cpus);
  if (!topo) {
    err << "irqd: error: irqd bench: --cpus: " << topo.error().message << "\n";
    return 2;
  }
  if (!o.plot_dir.empty()) {
    if (Status s = check_plot_script(); !s) {
      err << "irqd: error: irqd bench: " << s.error().message << "\n";
      return 2;
    }
  }
  Machine machine = describe_machine(*live);
  out << fmt::format("irqd bench: {} vectors, pattern {}, choice {}, {} s x {} (median), warmup {} s, hand-off {}\n",
                     o.vectors, o.pattern_text, o.choice_text, o.duration_s, o.repeat, o.warmup_s,
                     handoff_name(o.handoff));
  out << fmt::format("machine: {} ({} CPUs), {}; dispatch on CPUs {}, firing engine on CPU {}\n", machine.cpu_model,
                     machine.cpus, machine.kernel, cpumask_of(live->nr_cpu_ids(), o.cpus).to_list(), o.fire_cpu);
  if (std::string note = layouts_note(*topo, o); !note.empty()) out << note;
  out << std::flush;

  Progress progress(err, isatty(STDERR_FILENO) == 1);
  struct Config {
    const ReactorVariant* reactor;
    PlannerKind layout;
    std::vector<RunResult> runs;
  };
  std::vector<Config> configs;
  for (const ReactorVariant& r : o.reactors)
    for (PlannerKind l : o.layouts) configs.push_back({&r, l, {}});
  // The bare loops read the vectors where the first layout serves them.
  FloorRunOptions floor_options;
  std::vector<std::vector<FloorResult>> floor_runs(o.floor.size());
  if (!o.floor.empty()) {
    auto cpus = vector_cpus(o, *topo, o.layouts.front());
    if (!cpus) {
      err << "irqd: error: irqd bench: --floor: " << cpus.error().message << "\n";
      return 1;
    }
    floor_options.vector_cpus = std::move(*cpus);
    floor_options.pattern = o.pattern;
    floor_options.choice = o.choice;
    floor_options.fire_cpu = o.fire_cpu;
  }
  const std::size_t total = configs.size() + o.floor.size();

  // Repeats interleave the configurations, so slow drift of a shared
  // machine spreads over all of them instead of favouring one.
  bool failed = false;
  for (unsigned rep = 0; rep < o.repeat; ++rep) {
    for (std::size_t i = 0; i < configs.size(); ++i) {
      Config& c = configs[i];
      std::string label = fmt::format("[{}/{}] {}/{} repeat {}/{}", i + 1, total, c.reactor->name,
                                      planner_name(c.layout), rep + 1, o.repeat);
      if (o.warmup_s > 0) {
        auto w = run_once(o, *topo, *c.reactor, c.layout, o.warmup_s, progress, label + " warmup");
        if (!w) {
          progress.clear();
          err << "irqd: error: irqd bench: " << w.error().message << "\n";
          return 1;
        }
      }
      auto r = run_once(o, *topo, *c.reactor, c.layout, o.duration_s, progress, label);
      if (!r) {
        progress.clear();
        err << "irqd: error: irqd bench: " << r.error().message << "\n";
        return 1;
      }
      progress.done(fmt::format("irqd bench: {}: {} irq/s, {:.0f}ns cpu/irq, p99 {}", label, si(r->interrupts_per_s()),
                                r->cpu_ns_per_interrupt(), ns(r->latency.percentile(99))));
      if (r->lost() != 0) {
        progress.clear();
        err << fmt::format("irqd bench: {}/{}: fired {} != handled {} + dropped {} (off by {})\n", r->reactor,
                           r->layout, r->fired, r->handled, r->dropped_queue_full, r->lost());
        failed = true;
      }
      if (!r->pinned_ok) {
        progress.clear();
        err << fmt::format("irqd bench: {}/{}: a thread did not run on its CPU\n", r->reactor, r->layout);
        failed = true;
      }
      c.runs.push_back(std::move(*r));
    }
    for (std::size_t i = 0; i < o.floor.size(); ++i) {
      std::string label = fmt::format("[{}/{}] floor/{} repeat {}/{}", configs.size() + i + 1, total,
                                      floor_method_name(o.floor[i]), rep + 1, o.repeat);
      floor_options.method = o.floor[i];
      if (o.warmup_s > 0) {
        progress.show(label + " warmup", 0, o.warmup_s);
        floor_options.seconds = o.warmup_s;
        if (auto w = run_floor(floor_options); !w) {
          progress.clear();
          err << "irqd: error: irqd bench: " << w.error().message << "\n";
          return 1;
        }
      }
      progress.show(label, 0, o.duration_s);
      floor_options.seconds = o.duration_s;
      auto f = run_floor(floor_options);
      if (!f) {
        // A bare loop that loses a count or cannot run is a failed run, as
        // a reactor's would be.
        progress.clear();
        err << "irqd: error: irqd bench: " << f.error().message << "\n";
        return 1;
      }
      progress.done(fmt::format("irqd bench: {}: {} irq/s, {:.0f}ns cpu/irq", label, si(f->interrupts_per_s()),
                                f->cpu_ns_per_interrupt()));
      floor_runs[i].push_back(*f);
    }
  }
  progress.clear();

  std::vector<RunResult> medians;
  json runs = json::array();
  for (Config& c : configs) {
    medians.push_back(median_repeat(c.runs, saturating(o)));
    runs.push_back(run_json(medians.back(), o, c.runs));
  }
  std::vector<FloorResult> floor;
  json floor_json = json::array();
  for (std::size_t i = 0; i < o.floor.size(); ++i) {
    floor.push_back(median_repeat(floor_runs[i], saturating(o)));
    json rep = json::array();
    json rep_cpu = json::array();
    for (const FloorResult& f : floor_runs[i]) {
      rep.push_back(f.interrupts_per_s());
      rep_cpu.push_back(f.cpu_ns_per_interrupt());
    }
    floor_json.push_back({{"method", floor_method_name(o.floor[i])},
                          {"pattern", o.pattern_text},
                          {"interrupts_per_s", floor.back().interrupts_per_s()},
                          {"cpu_ns_per_interrupt", floor.back().cpu_ns_per_interrupt()},
                          {"repeats_interrupts_per_s", rep},
                          {"repeats_cpu_ns_per_interrupt", rep_cpu}});
  }
  out << format_table(medians, o.floor, floor, saturating(o)) << bench_legend(!floor.empty());
  // The adaptive io_uring reactor says which method it took, and why.
  for (const RunResult& r : medians)
    if (!r.uring_choice.empty())
      out << fmt::format("{}/{}: {}{}\n", r.reactor, r.layout, r.uring_choice,
                         r.method_switches > 0 ? fmt::format("; switched {} times", r.method_switches) : "");

  if (!o.plot_dir.empty()) {
    // DIR itself, in the directory checked before the runs; nothing above it.
    if (::mkdir(o.plot_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      err << "irqd: error: irqd bench: --plot '" << o.plot_dir << "': cannot create it: " << errno_string(errno)
          << "\n";
      return 1;
    }
  }
  if (!o.json_path.empty()) {
    json doc = {{"machine",
                 {{"cpu_model", machine.cpu_model},
                  {"cpus", machine.cpus},
                  {"kernel", machine.kernel},
                  {"topology", machine.topology},
                  {"dispatch_cpus", o.cpus},
                  {"fire_cpu", o.fire_cpu},
                  {"irqd_version", IRQD_VERSION},
                  {"build_type", IRQD_BUILD_TYPE}}},
                {"duration_s", o.duration_s},
                {"warmup_s", o.warmup_s},
                {"repeat", o.repeat},
                {"runs", runs}};
    if (!o.floor.empty()) doc["floor"] = floor_json;
    errno = 0;
    std::ofstream f(o.json_path);
    f << doc.dump(2) << "\n";
    f.close();
    if (!f) {
      const std::string why = errno != 0 ? errno_string(errno) : "write failed";
      err << "irqd: error: irqd bench: cannot write " << (options.json_path.empty() ? "the report of --plot" : "--json")
          << " '" << o.json_path << "': " << why << "\n";
      return 1;
    }
    out << "report: " << o.json_path << "\n";
  }
  if (!o.plot_dir.empty()) {
    if (Status s = run_plot_script(o.json_path, o.plot_dir); !s) {
      err << "irqd: error: irqd bench: " << s.error().message << "\n";
      return 1;
    }
    out << "plots: " << o.plot_dir << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace irqd
