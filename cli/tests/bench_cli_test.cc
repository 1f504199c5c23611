// SPDX-License-Identifier: GPL-2.0-only
//
// Runs the real irqd binary (IRQD_BINARY) as a child process and checks it
// against the `irqd bench` contract:
//
//   irqd bench [--reactors LIST] [--layouts LIST] [--vectors N]
//              [--pattern PATTERN] [--duration S] [--warmup S] [--repeat K]
//              [--cpus LIST] [--fire-cpu CPU] [--floor [--floor-methods LIST]]
//              [--json FILE] [--plot DIR]
//
// Bad input, outputs that cannot be written included: exit 2 before any
// run, nothing on stdout, one line on stderr naming the value and what is
// accepted. A run: exit 0, one table row per configuration and the legend
// under it, a progress line per run on stderr (a pipe here), and a JSON
// report whose runs come in the order asked for, each with exact
// accounting (fired == handled + dropped.queue_full). Nothing here asserts
// on speed: the runs are short and the figures are whatever the machine
// gives; only the accounting and the shape of the output are fixed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"

namespace {

using irqd::test::TempDir;

using irqd::test::describe;
using irqd::test::run_irqd;

using irqd::test::ProcessResult;
using nlohmann::json;
using ::testing::HasSubstr;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A fresh directory under the system's temporary one, removed with all it
// holds when the test ends, pass or fail.
json read_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f, nullptr, /*allow_exceptions=*/false);
}

// The live machine as irqd itself sees it, from `irqd plan --topology live`:
// the bench report must describe the same machine.
const json& live_topology() {
  static const json topology = [] {
    ProcessResult r = run_irqd({"plan", "--topology", "live", "--vectors", "1", "--format", "json"});
    json doc = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    if (r.exit_code != 0 || doc.is_discarded()) throw std::runtime_error("irqd plan --topology live failed: " + r.err);
    return doc.at("topology");
  }();
  return topology;
}

// A CPU id this machine does not have: one past the highest possible.
unsigned absent_cpu() {
  auto possible = live_topology().at("possible").get<std::vector<unsigned>>();
  return possible.back() + 1;
}

// The flags every test run shares unless it gives its own: short, no
// warm-up, one repeat. A bad-input case that wrongly passed validation then
// still ends quickly instead of running the 3 s x 3 default.
std::vector<std::string> bench_args(std::vector<std::string> given) {
  std::vector<std::string> args{"bench"};
  args.insert(args.end(), given.begin(), given.end());
  const std::pair<std::string, std::string> defaults[] = {{"--duration", "0.1"}, {"--warmup", "0"}, {"--repeat", "1"}};
  for (const auto& flag_value : defaults) {
    if (std::find(given.begin(), given.end(), flag_value.first) == given.end())
      args.insert(args.end(), {flag_value.first, flag_value.second});
  }
  return args;
}

// ---------------------------------------------------------------------------
// Bad input: exit 2, nothing on stdout, one line on stderr that names the
// offending value and what is accepted.

struct BadInput {
  std::string name;
  std::vector<std::string> args;  // after "bench"
  std::string offending;          // must appear in the error line
};

void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

class BenchCliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(BenchCliBadInput, OneLineOnStderrExitTwoNothingOnStdout) {
  const BadInput& c = GetParam();
  std::vector<std::string> args = bench_args(c.args);
  ProcessResult r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 2) << describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "") << describe(args);
  ASSERT_FALSE(r.err.empty()) << describe(args);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.back(), '\n') << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.offending));
  EXPECT_THAT(r.err, HasSubstr("accepted"));
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, BenchCliBadInput,
    ::testing::Values(BadInput{"unknown_reactor", {"--reactors", "io_uring,kqueue"}, "'kqueue'"},
                      BadInput{"empty_reactor_entry", {"--reactors", "io_uring,"}, "''"},
                      BadInput{"empty_reactors", {"--reactors", ""}, "--reactors"},
                      BadInput{"unknown_layout", {"--layouts", "kernel,spiral"}, "'spiral'"},
                      BadInput{"zero_vectors", {"--vectors", "0"}, "--vectors '0'"},
                      BadInput{"too_many_vectors", {"--vectors", "2049"}, "--vectors '2049'"},
                      BadInput{"vectors_not_a_number", {"--vectors", "abc"}, "--vectors 'abc'"},
                      BadInput{"vectors_negative", {"--vectors", "-1"}, "--vectors '-1'"},
                      BadInput{"pattern_unknown", {"--pattern", "sat"}, "'sat'"},
                      BadInput{"pattern_rate_without_value", {"--pattern", "rate:"}, "'rate:'"},
                      BadInput{"pattern_rate_zero", {"--pattern", "rate:0"}, "'rate:0'"},
                      BadInput{"pattern_rate_negative", {"--pattern", "rate:-5"}, "'rate:-5'"},
                      BadInput{"pattern_poisson_not_a_number", {"--pattern", "poisson:x"}, "'poisson:x'"},
                      BadInput{"pattern_burst_without_rate", {"--pattern", "burst:4"}, "'burst:4'"},
                      BadInput{"pattern_burst_of_zero", {"--pattern", "burst:0@100"}, "'burst:0@100'"},
                      BadInput{"pattern_burst_rate_zero", {"--pattern", "burst:4@0"}, "'burst:4@0'"},
                      BadInput{"choice_unknown", {"--choice", "normal"}, "'normal'"},
                      BadInput{"choice_zipf_zero", {"--choice", "zipf:0"}, "'zipf:0'"},
                      BadInput{"choice_zipf_without_value", {"--choice", "zipf:"}, "'zipf:'"},
                      BadInput{"duration_zero", {"--duration", "0"}, "--duration '0'"},
                      BadInput{"duration_negative", {"--duration", "-1"}, "--duration '-1'"},
                      BadInput{"duration_not_a_number", {"--duration", "x"}, "--duration 'x'"},
                      BadInput{"warmup_negative", {"--warmup", "-1"}, "--warmup '-1'"},
                      BadInput{"repeat_zero", {"--repeat", "0"}, "--repeat '0'"},
                      BadInput{"cpus_open_range", {"--cpus", "0-"}, "'0-'"},
                      BadInput{"cpus_backwards", {"--cpus", "1-0"}, "'1-0'"},
                      BadInput{"cpus_not_a_number", {"--cpus", "a"}, "'a'"},
                      BadInput{"cpus_empty_entry", {"--cpus", "0,,1"}, "'0,,1'"},
                      BadInput{"cpus_given_empty", {"--cpus", ""}, "--cpus ''"},
                      BadInput{"fire_cpu_given_empty", {"--fire-cpu", ""}, "--fire-cpu ''"},
                      BadInput{"json_given_empty", {"--json", ""}, "--json ''"},
                      BadInput{"fire_cpu_not_a_number", {"--fire-cpu", "x"}, "--fire-cpu 'x'"},
                      BadInput{"fire_cpu_above_any_id", {"--fire-cpu", "70000"}, "--fire-cpu '70000'"},
                      BadInput{"handoff_unknown", {"--handoff", "x"}, "--handoff 'x'"},
                      BadInput{"when_full_unknown", {"--when-full", "x"}, "--when-full 'x'"},
                      BadInput{"queue_capacity_one", {"--queue-capacity", "1"}, "--queue-capacity '1'"},
                      BadInput{"unknown_flag", {"--frobnicate"}, "'--frobnicate'"},
                      // Outputs, checked before the first run; no directory is created.
                      BadInput{"json_directory_missing",
                               {"--json", "/nonexistent-irqd-bench/dir/x.json"},
                               "--json '/nonexistent-irqd-bench/dir/x.json': directory /nonexistent-irqd-bench/dir: No "
                               "such file or directory"},
                      BadInput{"json_is_a_directory", {"--json", "/tmp"}, "--json '/tmp' is a directory"},
                      BadInput{"plot_parent_missing",
                               {"--plot", "/nonexistent-irqd-bench/plots"},
                               "--plot '/nonexistent-irqd-bench/plots': directory /nonexistent-irqd-bench: No such"},
                      BadInput{"plot_unwritable",
                               {"--plot", "/sys/irqd-plots"},
                               "--plot '/sys/irqd-plots': cannot "
                               "create a file in /sys: "},
                      // Threads are pinned to this machine's CPUs.
                      BadInput{"topology_synthetic",
                               {"--topology", "synthetic:pack:2 core:2"},
                               "--topology 'synthetic:pack:2 core:2': bench pins its threads to this machine's CPUs"},
                      BadInput{"stray_positional", {"extra"}, "'extra'"},
                      // --floor: the bare loops, by name, each once.
                      BadInput{"floor_methods_without_floor",
                               {"--floor-methods", "epoll"},
                               "--floor-methods 'epoll' needs --floor (accepted: --floor [--floor-methods LIST of "
                               "uring-read, uring-poll, epoll, thread])"},
                      BadInput{"floor_method_unknown",
                               {"--floor", "--floor-methods", "epoll,kqueue"},
                               "--floor-methods: unknown floor method 'kqueue' (accepted: uring-read, uring-poll, "
                               "epoll, thread)"},
                      BadInput{"floor_method_empty_entry",
                               {"--floor", "--floor-methods", "epoll,"},
                               "--floor-methods: unknown floor method '' (accepted: uring-read"},
                      BadInput{"floor_method_twice",
                               {"--floor", "--floor-methods", "epoll,thread,epoll"},
                               "--floor-methods 'epoll,thread,epoll' names epoll twice (accepted: each of uring-read, "
                               "uring-poll, epoll, thread at most once)"},
                      BadInput{"floor_methods_given_empty", {"--floor", "--floor-methods", ""}, "--floor-methods ''"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.name; });

// CPUs the machine does not have: only known at run time.
TEST(BenchCliBadCpu, CpusNamingACpuTheMachineLacks) {
  const std::string cpu = std::to_string(absent_cpu());
  std::vector<std::string> args = bench_args({"--cpus", "0," + cpu});
  ProcessResult r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 2) << describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--cpus: CPU " + cpu + " "));
  EXPECT_THAT(r.err, HasSubstr("accepted"));
}

TEST(BenchCliBadCpu, FireCpuTheMachineLacks) {
  const std::string cpu = std::to_string(absent_cpu());
  std::vector<std::string> args = bench_args({"--fire-cpu", cpu});
  ProcessResult r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 2) << describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--fire-cpu " + cpu + " "));
  EXPECT_THAT(r.err, HasSubstr("accepted"));
}

TEST(BenchCliBadOutput, NoDirectoryIsCreated) {
  for (const char* flag : {"--json", "--plot"}) {
    std::vector<std::string> args = bench_args({flag, "/nonexistent-irqd-bench/dir/x"});
    ProcessResult r = run_irqd(args);
    EXPECT_EQ(r.exit_code, 2) << describe(args);
    EXPECT_FALSE(std::filesystem::exists("/nonexistent-irqd-bench")) << describe(args) << " created it";
  }
}

// The firing engine spins on its CPU: a dispatch CPU shared with it is
// refused, not measured.
TEST(BenchCliBadCpu, FireCpuAmongTheDispatchCpus) {
  const auto present = live_topology().at("present").get<std::vector<unsigned>>();
  if (present.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const std::string list = std::to_string(present[0]) + "," + std::to_string(present[1]);
  const std::string fire = std::to_string(present[1]);
  std::vector<std::string> args = bench_args({"--cpus", list, "--fire-cpu", fire});
  ProcessResult r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 2) << describe(args) << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "");
  const std::string mask = present[1] == present[0] + 1 ? std::to_string(present[0]) + "-" + fire : list;
  EXPECT_EQ(r.err, "irqd: error: irqd bench: --cpus " + mask + " includes CPU " + fire +
                       ", the firing engine's (--fire-cpu " + fire +
                       "): they would share it (accepted: dispatch CPUs other than the firing engine's; --fire-cpu "
                       "moves it)\n");
}

// ---------------------------------------------------------------------------
// Real runs.

constexpr const char* kLegend =
    "x: the row's value over the first row's; for irq/s higher is better, for cpu/irq (dispatch CPU time per "
    "interrupt) lower is better";

// What one run of `irqd bench` gave, and the configurations it was asked.
struct BenchRun {
  ProcessResult result;
  json report;
};

BenchRun run_bench(std::vector<std::string> args, const std::string& json_path) {
  if (!json_path.empty()) args.insert(args.end(), {"--json", json_path});
  std::vector<std::string> full = bench_args(std::move(args));
  BenchRun run{run_irqd(full), json()};
  EXPECT_EQ(run.result.exit_code, 0) << describe(full) << "\nstdout:\n"
                                     << run.result.out << "stderr:\n"
                                     << run.result.err;
  // Into a pipe: no redrawn line (no escape), one line per finished run.
  EXPECT_EQ(run.result.err.find('\x1b'), std::string::npos) << run.result.err;
  const std::vector<std::string> progress = lines_of(run.result.err);
  EXPECT_FALSE(progress.empty()) << describe(full);
  const std::regex line(R"(irqd bench: \[[0-9]+/[0-9]+\] [a-z_-]+/[a-z-]+ repeat [0-9]+/[0-9]+: [0-9.]+[kM]? irq/s, )"
                        R"([0-9]+ns cpu/irq, p99 [0-9.]+(ns|us|ms))");
  // A bare loop of --floor: no stamps, so no latency.
  const std::regex floor_line(
      R"(irqd bench: \[[0-9]+/[0-9]+\] floor/[a-z-]+ repeat [0-9]+/[0-9]+: [0-9.]+[kM]? irq/s, )"
      R"([0-9]+ns cpu/irq)");
  for (const std::string& l : progress) EXPECT_TRUE(std::regex_match(l, line) || std::regex_match(l, floor_line)) << l;
  // The legend of the two x columns right under the table.
  const std::vector<std::string> out = lines_of(run.result.out);
  EXPECT_NE(std::find(out.begin(), out.end(), kLegend), out.end()) << run.result.out;
  if (!json_path.empty()) {
    run.report = read_json(json_path);
    EXPECT_FALSE(run.report.is_discarded()) << json_path << " holds no JSON";
  }
  return run;
}

// The table's rows: the lines after the header up to the first line that is
// not a row (the "report:" and "plots:" lines).
std::vector<std::string> table_rows(const std::string& out) {
  std::vector<std::string> lines = lines_of(out);
  auto header =
      std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("reactor/layout ", 0) == 0; });
  std::vector<std::string> rows;
  if (header == lines.end()) return rows;
  for (auto it = std::next(header); it != lines.end(); ++it) {
    if (it->rfind("x: ", 0) == 0) break;  // the legend
    rows.push_back(it->substr(0, it->find(' ')));
  }
  return rows;
}

// Every run has the contract's fields and exact accounting; the runs are the
// configurations asked for, in order ("reactor/layout").
void expect_runs(const json& report, const std::vector<std::string>& configs, unsigned vectors,
                 const std::string& pattern, const std::string& handoff) {
  ASSERT_TRUE(report.contains("runs")) << report.dump(1);
  const json& runs = report.at("runs");
  ASSERT_EQ(runs.size(), configs.size()) << report.dump(1);
  const auto dispatch_cpus = report.at("machine").at("dispatch_cpus").get<std::vector<unsigned>>();
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const json& r = runs[i];
    SCOPED_TRACE(configs[i]);
    EXPECT_EQ(r.at("reactor").get<std::string>() + "/" + r.at("layout").get<std::string>(), configs[i]);
    EXPECT_EQ(r.at("vectors"), vectors);
    EXPECT_EQ(r.at("pattern"), pattern);
    EXPECT_EQ(r.at("handoff"), handoff);

    const auto fired = r.at("fired").get<std::uint64_t>();
    const auto handled = r.at("handled").get<std::uint64_t>();
    const auto dropped = r.at("dropped").at("queue_full").get<std::uint64_t>();
    EXPECT_GT(fired, 0U);
    EXPECT_EQ(fired, handled + dropped) << "fired " << fired << ", handled " << handled << ", dropped " << dropped;

    // Each handler call handles at least one interrupt.
    const auto invocations = r.at("invocations").get<std::uint64_t>();
    EXPECT_GE(invocations, handled > 0 ? 1U : 0U);
    EXPECT_LE(invocations, handled);
    // Both rates come from the same run's seconds, so they keep that order.
    EXPECT_GT(r.at("interrupts_per_s").get<double>(), 0);
    EXPECT_LE(r.at("invocations_per_s").get<double>(), r.at("interrupts_per_s").get<double>());
    EXPECT_GT(r.at("cpu_ns_per_interrupt").get<double>(), 0);

    const json& lat = r.at("latency_ns");
    for (const char* key : {"p50", "p90", "p99", "p999", "max"}) EXPECT_TRUE(lat.at(key).is_number_unsigned()) << key;
    EXPECT_LE(lat.at("p50"), lat.at("p90"));
    EXPECT_LE(lat.at("p90"), lat.at("p99"));
    EXPECT_LE(lat.at("p99"), lat.at("p999"));
    // The percentiles are bucket bounds and max is exact, so p99.9 may
    // exceed max when both fall in the last bucket: no order between them.
    EXPECT_EQ(lat.at("samples"), invocations) << "every handler call of a stamped device records one latency";

    // Every dispatch CPU is reported once, in order, and their loads add up.
    std::vector<unsigned> cpus;
    std::uint64_t per_cpu_total = 0;
    for (const json& c : r.at("per_cpu")) {
      cpus.push_back(c.at("cpu").get<unsigned>());
      per_cpu_total += c.at("handled").get<std::uint64_t>();
    }
    EXPECT_TRUE(std::includes(dispatch_cpus.begin(), dispatch_cpus.end(), cpus.begin(), cpus.end()))
        << r.at("per_cpu").dump();
    EXPECT_EQ(per_cpu_total, handled);
  }
}

TEST(BenchCliRun, ThreeReactorsSideBySideWithReportAndTable) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench(
      {"--reactors", "io_uring,epoll,thread", "--duration", "0.3", "--warmup", "0", "--repeat", "1", "--vectors", "8"},
      path);
  ASSERT_FALSE(run.report.is_discarded());

  const json& m = run.report.at("machine");
  EXPECT_TRUE(m.at("cpu_model").is_string());
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_EQ(m.at("kernel"), std::string(u.sysname) + " " + u.release);
  EXPECT_EQ(m.at("cpus"), live_topology().at("present").size());
  EXPECT_EQ(m.at("topology"), "live");
  EXPECT_EQ(m.at("irqd_version"), IRQD_VERSION);
  EXPECT_EQ(m.at("build_type"), IRQD_BUILD_TYPE);

  const std::vector<std::string> configs{"io_uring/kernel", "epoll/kernel", "thread/kernel"};
  expect_runs(run.report, configs, 8, "saturate", "adaptive");
  // The default --when-full is backoff: the reactor waits, nothing drops.
  for (const json& r : run.report.at("runs")) EXPECT_EQ(r.at("dropped").at("queue_full"), 0) << r.at("reactor");

  EXPECT_EQ(table_rows(run.result.out), configs) << run.result.out;
  EXPECT_EQ(lines_of(run.result.out).back(), "report: " + path);
}

TEST(BenchCliRun, PacedRateAccountsExactly) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "epoll", "--pattern", "rate:20000", "--duration", "0.3"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"epoll/kernel"}, 64, "rate:20000", "adaptive");
  EXPECT_EQ(table_rows(run.result.out), std::vector<std::string>{"epoll/kernel"}) << run.result.out;
}

TEST(BenchCliRun, InlineHandoffAccountsExactly) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "io_uring,epoll,thread", "--handoff", "inline", "--vectors", "8"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"io_uring/kernel", "epoll/kernel", "thread/kernel"}, 8, "saturate", "inline");
  // No queue, so nothing can be dropped for want of room in one.
  for (const json& r : run.report.at("runs")) EXPECT_EQ(r.at("dropped").at("queue_full"), 0) << r.at("reactor");
}

// One dispatch CPU: every layout serves every vector there; said before the
// runs, and the runs still happen.
TEST(BenchCliRun, LayoutsThatCannotDifferAreSaidSo) {
  const auto present = live_topology().at("present").get<std::vector<unsigned>>();
  if (present.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const std::string cpu = std::to_string(present[0]);
  BenchRun run = run_bench({"--reactors", "epoll", "--layouts", "kernel,compact", "--vectors", "8", "--cpus", cpu,
                            "--fire-cpu", std::to_string(present[1])},
                           "");
  EXPECT_THAT(run.result.out,
              HasSubstr("\nnote: one dispatch CPU (" + cpu +
                        "): the layouts kernel, compact all serve every vector there, so they cannot differ; give "
                        "--cpus two or more CPUs to compare layouts\nreactor/layout "));
  EXPECT_EQ(table_rows(run.result.out), (std::vector<std::string>{"epoll/kernel", "epoll/compact"}));
}

TEST(BenchCliRun, LayoutsRunInTheOrderGiven) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "epoll", "--layouts", "kernel,round-robin", "--vectors", "8"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  const std::vector<std::string> configs{"epoll/kernel", "epoll/round-robin"};
  expect_runs(run.report, configs, 8, "saturate", "adaptive");
  EXPECT_EQ(table_rows(run.result.out), configs) << run.result.out;
}

// A two-entry queue with --when-full drop: whatever the reactor cannot
// queue is dropped with its reason, and still fired == handled + dropped.
TEST(BenchCliRun, DropsOnAFullQueueAreCountedWithTheirReason) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "io_uring", "--when-full", "drop", "--queue-capacity", "2"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"io_uring/kernel"}, 64, "saturate", "adaptive");
}

// ---------------------------------------------------------------------------
// Plots.

// Whether `irqd bench --plot` can draw here: the script's own check, run
// the way irqd runs it (python3 from PATH), so the test skips exactly when
// irqd would fail to plot for want of matplotlib.
bool can_plot() {
  try {
    return irqd::test::run_process("python3", {"python3", IRQD_PLOT_SCRIPT, "--check"}).exit_code == 0;
  } catch (const std::runtime_error&) {
    return false;  // no python3 at all
  }
}

TEST(BenchCliPlot, WritesEveryPlotAsPngAndSvg) {
  if (!can_plot()) GTEST_SKIP() << "python3 with matplotlib is not installed";
  TempDir dir;
  const std::string plots = dir / "plots";
  BenchRun run = run_bench({"--reactors", "io_uring,epoll", "--vectors", "8", "--plot", plots}, "");
  // --plot alone keeps the report beside the plots.
  json report = read_json(plots + "/irqd-bench.json");
  ASSERT_FALSE(report.is_discarded());
  expect_runs(report, {"io_uring/kernel", "epoll/kernel"}, 8, "saturate", "adaptive");
  for (const char* name : {"throughput", "cpu_per_interrupt", "latency_cdf", "per_cpu"}) {
    std::ifstream png(plots + "/" + name + ".png", std::ios::binary);
    std::string magic(8, '\0');
    png.read(magic.data(), 8);
    EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << name << ".png";
    std::ifstream svg(plots + "/" + name + ".svg");
    std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    EXPECT_THAT(text, HasSubstr("<svg")) << name << ".svg";
    EXPECT_THAT(text, HasSubstr("</svg>")) << name << ".svg";
  }
  EXPECT_EQ(lines_of(run.result.out).back(), "plots: " + plots);
}

// A report the script cannot use is one line naming the file and what is
// wrong, exit 1, and no plot. Checked before matplotlib is loaded, so this
// needs only python3.
TEST(BenchCliPlot, ScriptRejectsAMalformedReportInOneLine) {
  TempDir dir;
  const std::string plots = dir / "plots";
  struct Case {
    std::string text;
    std::string what;
  };
  const Case cases[] = {
      {"{\"machine\": ", "not JSON"},
      {"[]", "not a JSON object"},
      {R"({"machine": {"cpu_model": "x", "kernel": "y"}, "runs": []})", "runs is empty"},
      {R"({"machine": {"cpu_model": "x"}, "runs": []})", "machine.kernel is missing"},
      {R"({"machine": {"cpu_model": "x", "kernel": "y"}, "runs": [{"reactor": "epoll", "layout": "kernel",
          "pattern": "saturate", "interrupts_per_s": "fast"}]})",
       "runs[0].interrupts_per_s"},
  };
  for (const Case& c : cases) {
    const std::string path = dir / "bad.json";
    std::ofstream(path) << c.text;
    ProcessResult r;
    try {
      r = irqd::test::run_process("python3", {"python3", IRQD_PLOT_SCRIPT, path, plots});
    } catch (const std::runtime_error&) {
      GTEST_SKIP() << "no python3";
    }
    EXPECT_EQ(r.exit_code, 1) << c.text << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(path + ": "));
    EXPECT_THAT(r.err, HasSubstr(c.what));
    EXPECT_FALSE(std::filesystem::exists(plots)) << c.text;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// --floor: the bare loops, interleaved with the reactors.

constexpr const char* kFloorLegend =
    "floor: saturate: the row's irq/s over the best bare loop's (1.00 = as fast as the floor, higher is better); "
    "paced: the row's cpu/irq over the best (lowest) bare loop's (1.00 = as cheap, lower is better)";

// The report's "floor" list: one entry per method asked, in order, each with
// exactly its fields, numbers a run produced, and one figure per repeat.
void expect_floor(const json& report, const std::vector<std::string>& methods, const std::string& pattern,
                  std::size_t repeats = 1) {
  ASSERT_TRUE(report.contains("floor")) << report.dump(1);
  const json& floor = report.at("floor");
  ASSERT_TRUE(floor.is_array());
  ASSERT_EQ(floor.size(), methods.size()) << floor.dump(1);
  for (std::size_t i = 0; i < methods.size(); ++i) {
    const json& f = floor[i];
    SCOPED_TRACE(methods[i]);
    std::vector<std::string> keys;
    for (const auto& item : f.items()) keys.push_back(item.key());
    // nlohmann::json keeps keys sorted: the exact set, not the file's order.
    EXPECT_EQ(keys, (std::vector<std::string>{"cpu_ns_per_interrupt", "interrupts_per_s", "method", "pattern",
                                              "repeats_cpu_ns_per_interrupt", "repeats_interrupts_per_s"}));
    EXPECT_EQ(f.at("repeats_interrupts_per_s").size(), repeats);
    EXPECT_EQ(f.at("repeats_cpu_ns_per_interrupt").size(), repeats);
    EXPECT_EQ(f.at("method"), methods[i]);
    EXPECT_EQ(f.at("pattern"), pattern);
    EXPECT_GT(f.at("interrupts_per_s").get<double>(), 0);
    EXPECT_GT(f.at("cpu_ns_per_interrupt").get<double>(), 0);
  }
}

// Every reactor row carries the floor column (one more field than without
// --floor), and the bare loops come after the reactors as rows of their own.
void expect_floor_table(const std::string& out, const std::vector<std::string>& rows) {
  EXPECT_EQ(table_rows(out), rows) << out;
  const std::vector<std::string> lines = lines_of(out);
  auto header =
      std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("reactor/layout ", 0) == 0; });
  ASSERT_NE(header, lines.end()) << out;
  EXPECT_TRUE(header->ends_with(" floor")) << *header;
  for (auto it = std::next(header); it != lines.end() && it->rfind("floor:", 0) != 0; ++it) {
    if (it->rfind("x: ", 0) == 0) break;
    std::istringstream fields(*it);
    const std::vector<std::string> cells{std::istream_iterator<std::string>(fields), {}};
    EXPECT_EQ(cells.size(), 12U) << *it;
    EXPECT_TRUE(std::regex_match(cells.back(), std::regex(R"([0-9]+\.[0-9]{2})"))) << *it;
  }
  EXPECT_NE(std::find(lines.begin(), lines.end(), kFloorLegend), lines.end()) << out;
}

TEST(BenchCliFloor, EveryMethodRunsBesideTheReactorsWithExactAccounting) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "io_uring,epoll", "--floor", "--vectors", "8"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"io_uring/kernel", "epoll/kernel"}, 8, "saturate", "adaptive");
  expect_floor(run.report, {"uring-read", "uring-poll", "epoll", "thread"}, "saturate");
  expect_floor_table(run.result.out, {"io_uring/kernel", "epoll/kernel", "floor:uring-read", "floor:uring-poll",
                                      "floor:epoll", "floor:thread"});
  // One progress line per run, reactors first, then the bare loops: 6 runs.
  const std::vector<std::string> progress = lines_of(run.result.err);
  ASSERT_EQ(progress.size(), 6U) << run.result.err;
  EXPECT_EQ(progress[2].rfind("irqd bench: [3/6] floor/uring-read repeat 1/1: ", 0), 0U) << progress[2];
  EXPECT_EQ(progress[5].rfind("irqd bench: [6/6] floor/thread repeat 1/1: ", 0), 0U) << progress[5];
}

TEST(BenchCliFloor, RepeatsInterleaveReactorsAndBareLoops) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench(
      {"--reactors", "epoll", "--floor", "--floor-methods", "thread,epoll", "--vectors", "4", "--repeat", "2"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"epoll/kernel"}, 4, "saturate", "adaptive");
  expect_floor(run.report, {"thread", "epoll"}, "saturate", 2);
  std::vector<std::string> order;
  for (const std::string& l : lines_of(run.result.err)) order.push_back(l.substr(0, l.find(':', 12)));
  EXPECT_EQ(order, (std::vector<std::string>{
                       "irqd bench: [1/3] epoll/kernel repeat 1/2", "irqd bench: [2/3] floor/thread repeat 1/2",
                       "irqd bench: [3/3] floor/epoll repeat 1/2", "irqd bench: [1/3] epoll/kernel repeat 2/2",
                       "irqd bench: [2/3] floor/thread repeat 2/2", "irqd bench: [3/3] floor/epoll repeat 2/2"}));
}

TEST(BenchCliFloor, PacedComparesCostAndAccountsExactly) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench(
      {"--reactors", "epoll", "--pattern", "rate:20000", "--floor", "--floor-methods", "epoll", "--duration", "0.2"},
      path);
  ASSERT_FALSE(run.report.is_discarded());
  expect_runs(run.report, {"epoll/kernel"}, 64, "rate:20000", "adaptive");
  expect_floor(run.report, {"epoll"}, "rate:20000");
  expect_floor_table(run.result.out, {"epoll/kernel", "floor:epoll"});
}

// The repeats' position of a run's figure among them: the median of an
// odd count is the middle one once sorted.
double middle(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Which repeat is reported: the median by the figure that varies. Paced,
// every repeat reads the pattern's rate, so it is the one of median CPU
// cost, and its p99 is that repeat's; saturated, the one of median
// interrupts/s.
TEST(BenchCliRepeats, PacedReportsTheRepeatOfMedianCostWithItsOwnP99) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "epoll", "--pattern", "rate:20000", "--vectors", "4", "--repeat", "3",
                            "--duration", "0.2", "--floor", "--floor-methods", "epoll"},
                           path);
  ASSERT_FALSE(run.report.is_discarded());
  const json& r = run.report.at("runs").at(0);
  const auto cpu = r.at("repeats_cpu_ns_per_interrupt").get<std::vector<double>>();
  const auto p99 = r.at("repeats_p99_ns").get<std::vector<std::uint64_t>>();
  ASSERT_EQ(cpu.size(), 3U);
  ASSERT_EQ(p99.size(), 3U);
  ASSERT_EQ(r.at("repeats_interrupts_per_s").size(), 3U);
  const double median = middle(cpu);
  EXPECT_EQ(r.at("cpu_ns_per_interrupt").get<double>(), median);
  const auto at = static_cast<std::size_t>(std::find(cpu.begin(), cpu.end(), median) - cpu.begin());
  EXPECT_EQ(r.at("latency_ns").at("p99").get<std::uint64_t>(), p99[at]);
  const json& f = run.report.at("floor").at(0);
  EXPECT_EQ(f.at("cpu_ns_per_interrupt").get<double>(),
            middle(f.at("repeats_cpu_ns_per_interrupt").get<std::vector<double>>()));
}

TEST(BenchCliRepeats, SaturatedReportsTheRepeatOfMedianThroughput) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench(
      {"--reactors", "epoll", "--vectors", "4", "--repeat", "3", "--floor", "--floor-methods", "epoll"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  const json& r = run.report.at("runs").at(0);
  const auto rate = r.at("repeats_interrupts_per_s").get<std::vector<double>>();
  ASSERT_EQ(rate.size(), 3U);
  EXPECT_EQ(r.at("interrupts_per_s").get<double>(), middle(rate));
  const json& f = run.report.at("floor").at(0);
  EXPECT_EQ(f.at("interrupts_per_s").get<double>(),
            middle(f.at("repeats_interrupts_per_s").get<std::vector<double>>()));
}

TEST(BenchCliFloor, WithoutFloorTheReportHasNoFloorAndTheTableNoColumn) {
  TempDir dir;
  const std::string path = dir / "report.json";
  BenchRun run = run_bench({"--reactors", "epoll", "--vectors", "4"}, path);
  ASSERT_FALSE(run.report.is_discarded());
  EXPECT_FALSE(run.report.contains("floor")) << run.report.dump(1);
  EXPECT_EQ(run.result.out.find("floor"), std::string::npos) << run.result.out;
  // The fixed reactors made no choice to report.
  for (const json& r : run.report.at("runs")) EXPECT_EQ(r.at("uring_choice"), "") << r.at("reactor");
}
