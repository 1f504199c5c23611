// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd top`: rates, sorting and formatting in-process over exact samples;
// the real binary with --batch on this machine's /proc, on a capture
// (IRQD_PROC_ROOT) and against an in-process ControlServer whose fake
// stats grow by fixed counts and a fixed time_ns per call, so that the
// rates it prints are exact whatever the wall clock did.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"
#include "cli/top_command.h"
#include "kirq/tests/kernel_tree.h"

namespace irqd {
namespace {

using irqd::test::TempDir;

using json = nlohmann::ordered_json;
using test::ProcessResult;
using test::run_irqd;

TopEntry irqd_entry(const std::string& device, unsigned vector, int cpu, std::uint64_t handled) {
  return TopEntry{"irqd", device, vector, "managed", {{cpu, handled}}};
}

TopEntry kernel_entry(unsigned irq, const std::string& name, std::vector<std::uint64_t> counts) {
  TopEntry e{"kernel", "IO-APIC", irq, name, {}};
  for (std::size_t i = 0; i < counts.size(); ++i) e.per_cpu.emplace_back(static_cast<int>(i), counts[i]);
  return e;
}

// ---------------------------------------------------------------------------
// The pure layer.

TEST(TopOptionsTest, Defaults) {
  auto o = parse_top_options(TopFlags{});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->source, TopSource::kBoth);
  EXPECT_EQ(o->sort, TopSort::kRate);
  EXPECT_DOUBLE_EQ(o->interval_s, 1.0);
  EXPECT_EQ(o->iterations, 0U);
  TopFlags batch;
  batch.batch = true;
  EXPECT_EQ(parse_top_options(batch)->iterations, 1U);
  batch.iterations = "3";
  batch.interval = "0.1";
  EXPECT_EQ(parse_top_options(batch)->iterations, 3U);
  EXPECT_DOUBLE_EQ(parse_top_options(batch)->interval_s, 0.1);
}

TEST(TopOptionsTest, BadValuesNameTheAcceptedForm) {
  const std::string accepted = std::string(" (accepted: ") + std::string(kTopUsage) + "; see irqd top --help)";
  TopFlags f;
  f.sort = "speed";
  EXPECT_EQ(parse_top_options(f).error().message, "--sort 'speed' is not one of rate, total, name, cpu" + accepted);
  f = TopFlags{};
  f.source = "proc";
  EXPECT_EQ(parse_top_options(f).error().message, "--source 'proc' is not one of irqd, kernel, both" + accepted);
  for (const char* bad : {"0.05", "61", "x", "1s", "nan", "-1"}) {
    f = TopFlags{};
    f.interval = bad;
    EXPECT_EQ(parse_top_options(f).error().message,
              "--interval '" + std::string(bad) + "' is not a number of seconds 0.1..60" + accepted);
  }
  for (const char* bad : {"0", "-2", "two", "99999999999"}) {
    f = TopFlags{};
    f.iterations = bad;
    EXPECT_EQ(parse_top_options(f).error().message,
              "--iterations '" + std::string(bad) + "' is not an integer 1..4294967295" + accepted);
  }
}

TEST(TopSampleTest, FromStats) {
  json stats = {{"time_ns", 5000},
                {"devices",
                 {{{"name", "nic0"},
                   {"handled", 30},
                   {"fired", nullptr},
                   {"vectors",
                    {{{"index", 0}, {"cpu", 1}, {"ownership", "managed"}, {"handled", 10}},
                     {{"index", 1}, {"cpu", -1}, {"ownership", "explicit"}, {"handled", 20}}}}},
                  {{"name", "disk1"}, {"vectors", json::array()}}}}};
  auto s = top_sample_from_stats(stats);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->time_ns, 5000U);
  ASSERT_EQ(s->entries.size(), 2U);
  EXPECT_EQ(s->entries[0].source, "irqd");
  EXPECT_EQ(s->entries[0].device, "nic0");
  EXPECT_EQ(s->entries[0].vector, 0U);
  EXPECT_EQ(s->entries[0].name, "managed");
  EXPECT_EQ(s->entries[0].per_cpu, (std::vector<std::pair<int, std::uint64_t>>{{1, 10}}));
  EXPECT_EQ(s->entries[1].per_cpu, (std::vector<std::pair<int, std::uint64_t>>{{-1, 20}}));
  EXPECT_EQ(s->entries[1].name, "explicit");
}

TEST(TopSampleTest, MalformedStatsSayWhat) {
  EXPECT_EQ(top_sample_from_stats(json::array()).error().message,
            "malformed stats from irqd: the result is not an object");
  EXPECT_EQ(top_sample_from_stats(json{{"devices", json::array()}}).error().message,
            "malformed stats from irqd: the result has no unsigned \"time_ns\"");
  EXPECT_EQ(top_sample_from_stats(json{{"time_ns", 1}}).error().message,
            "malformed stats from irqd: the result has no \"devices\" array");
  json no_handled = {{"time_ns", 1}, {"devices", {{{"name", "nic0"}, {"vectors", {{{"index", 0}, {"cpu", 0}}}}}}}};
  EXPECT_EQ(top_sample_from_stats(no_handled).error().message,
            "malformed stats from irqd: a vector of device nic0 has no unsigned \"handled\"");
}

TEST(TopSampleTest, FromProcInterrupts) {
  auto proc = kirq::parse_proc_interrupts(
      "           CPU0       CPU2\n"
      " 24:          1          7  IO-APIC   5-edge      ACPI:Ged\n"
      "NMI:          0          0   Non-maskable interrupts\n");
  ASSERT_TRUE(proc) << proc.error().message;
  TopSample s = top_sample_from_proc(*proc, 42);
  EXPECT_EQ(s.time_ns, 42U);
  ASSERT_EQ(s.entries.size(), 1U);
  EXPECT_EQ(s.entries[0].source, "kernel");
  EXPECT_EQ(s.entries[0].device, "IO-APIC");
  EXPECT_EQ(s.entries[0].vector, 24U);
  EXPECT_EQ(s.entries[0].name, "ACPI:Ged");
  EXPECT_EQ(s.entries[0].per_cpu, (std::vector<std::pair<int, std::uint64_t>>{{0, 1}, {2, 7}}));
  EXPECT_EQ(s.entries[0].total(), 8U);
}

TEST(TopRatesTest, IrqdVectorsOverTwoSeconds) {
  TopSample before{1'000'000'000, {irqd_entry("nic0", 0, 1, 100), irqd_entry("nic0", 1, 3, 0)}};
  TopSample after{3'000'000'000,
                  {irqd_entry("nic0", 0, 1, 300), irqd_entry("nic0", 1, 3, 1000), irqd_entry("nic0", 2, 2, 7)}};
  TopView view;
  add_top_rates(view, before, after);
  EXPECT_DOUBLE_EQ(view.interval_s, 2.0);
  ASSERT_EQ(view.rows.size(), 3U);
  EXPECT_EQ(view.rows[0].cpu, 1);
  EXPECT_EQ(view.rows[0].rate, 100.0);
  EXPECT_EQ(view.rows[0].total, 300U);
  EXPECT_EQ(view.rows[1].cpu, 3);
  EXPECT_EQ(view.rows[1].rate, 500.0);
  // New since the first sample: no rate yet.
  EXPECT_EQ(view.rows[2].cpu, 2);
  EXPECT_FALSE(view.rows[2].rate.has_value());
  EXPECT_EQ(view.rows[2].total, 7U);
  ASSERT_EQ(view.cpus.size(), 3U);
  EXPECT_EQ(view.cpus[0].cpu, 1);
  EXPECT_EQ(view.cpus[0].rate, 100.0);
  EXPECT_EQ(view.cpus[0].total, 300U);
  EXPECT_EQ(view.cpus[1].cpu, 2);
  EXPECT_EQ(view.cpus[1].rate, 0.0);
  EXPECT_EQ(view.cpus[1].total, 7U);
  EXPECT_EQ(view.cpus[2].cpu, 3);
  EXPECT_EQ(view.cpus[2].rate, 500.0);
}

TEST(TopRatesTest, ResetCounterAndMovedVector) {
  // nic0/0 was bound again (its count went down), nic0/1 moved CPU 1 -> 2.
  TopSample before{0, {irqd_entry("nic0", 0, 0, 500), irqd_entry("nic0", 1, 1, 100)}};
  TopSample after{1'000'000'000, {irqd_entry("nic0", 0, 0, 200), irqd_entry("nic0", 1, 2, 150)}};
  TopView view;
  add_top_rates(view, before, after);
  EXPECT_EQ(view.rows[0].rate, 200.0);
  EXPECT_EQ(view.rows[1].rate, 50.0);
  EXPECT_EQ(view.rows[1].cpu, 2);
  ASSERT_EQ(view.cpus.size(), 2U);
  EXPECT_EQ(view.cpus[0].cpu, 0);
  EXPECT_EQ(view.cpus[0].rate, 200.0);
  EXPECT_EQ(view.cpus[1].cpu, 2);
  EXPECT_EQ(view.cpus[1].rate, 50.0);
  EXPECT_EQ(view.cpus[1].total, 150U);
}

TEST(TopRatesTest, KernelLinesPerCpuAndTwoSources) {
  TopSample kbefore{0, {kernel_entry(24, "ACPI:Ged", {10, 0}), kernel_entry(26, "ttyS0", {0, 13})}};
  TopSample kafter{500'000'000, {kernel_entry(24, "ACPI:Ged", {30, 5}), kernel_entry(26, "ttyS0", {0, 13})}};
  TopSample ibefore{7'000'000'000, {irqd_entry("nic0", 0, 1, 0)}};
  TopSample iafter{8'000'000'000, {irqd_entry("nic0", 0, 1, 40)}};
  TopView view;
  add_top_rates(view, ibefore, iafter);
  add_top_rates(view, kbefore, kafter);
  EXPECT_DOUBLE_EQ(view.interval_s, 1.0);
  ASSERT_EQ(view.rows.size(), 3U);
  EXPECT_EQ(view.rows[1].vector, 24U);
  EXPECT_EQ(view.rows[1].rate, 50.0);  // 25 in 0.5 s
  EXPECT_EQ(view.rows[1].cpu, 0);      // took 20 of them
  EXPECT_EQ(view.rows[1].total, 35U);
  EXPECT_EQ(view.rows[2].rate, 0.0);
  EXPECT_EQ(view.rows[2].cpu, -1);  // none in the interval
  ASSERT_EQ(view.cpus.size(), 2U);
  EXPECT_EQ(view.cpus[0].rate, 40.0);  // 20 in 0.5 s
  EXPECT_EQ(view.cpus[0].total, 30U);
  EXPECT_EQ(view.cpus[1].rate, 50.0);  // 40/s of irqd + 5 in 0.5 s
  EXPECT_EQ(view.cpus[1].total, 58U);
}

std::vector<TopRow> sample_rows() {
  return {TopRow{"kernel", "IO-APIC", 24, "ACPI:Ged", 0, 50.0, 35},
          TopRow{"irqd", "nic0", 1, "managed", 3, 500.0, 1000}, TopRow{"irqd", "nic0", 0, "managed", 1, 100.0, 5000},
          TopRow{"irqd", "disk1", 0, "explicit", 1, std::nullopt, 7},
          TopRow{"kernel", "IO-APIC", 26, "ttyS0", -1, 0.0, 13}};
}

std::vector<std::string> order(std::vector<TopRow> rows, TopSort sort) {
  sort_top_rows(rows, sort);
  std::vector<std::string> names;
  names.reserve(rows.size());
  for (const TopRow& r : rows) names.push_back(r.device + "/" + std::to_string(r.vector));
  return names;
}

TEST(TopSortTest, EveryKey) {
  using V = std::vector<std::string>;
  EXPECT_EQ(order(sample_rows(), TopSort::kRate), (V{"nic0/1", "nic0/0", "IO-APIC/24", "IO-APIC/26", "disk1/0"}));
  EXPECT_EQ(order(sample_rows(), TopSort::kTotal), (V{"nic0/0", "nic0/1", "IO-APIC/24", "IO-APIC/26", "disk1/0"}));
  EXPECT_EQ(order(sample_rows(), TopSort::kName), (V{"disk1/0", "nic0/0", "nic0/1", "IO-APIC/24", "IO-APIC/26"}));
  EXPECT_EQ(order(sample_rows(), TopSort::kCpu), (V{"IO-APIC/24", "nic0/0", "disk1/0", "nic0/1", "IO-APIC/26"}));
}

TEST(TopFormatTest, TableAndCpuSummary) {
  TopView view;
  view.rows = sample_rows();
  view.interval_s = 1.0;
  view.cpus = {TopCpu{0, 50.0, 35}, TopCpu{1, 100.0, 5007}, TopCpu{3, 500.0, 1000}};
  sort_top_rows(view.rows, TopSort::kRate);
  EXPECT_EQ(format_top(view, TopSort::kRate, false),
            "irqd top: 5 vectors, 650.0 interrupts/s over 1.0 s, sorted by rate\n"
            "SOURCE  DEVICE   VECTOR  CPU  RATE/S  TOTAL  NAME\n"
            "irqd    nic0          1    3   500.0   1000  managed\n"
            "irqd    nic0          0    1   100.0   5000  managed\n"
            "kernel  IO-APIC      24    0    50.0     35  ACPI:Ged\n"
            "kernel  IO-APIC      26    -     0.0     13  ttyS0\n"
            "irqd    disk1         0    1       -      7  explicit\n");
  EXPECT_EQ(format_top(view, TopSort::kRate, true), format_top(view, TopSort::kRate, false) +
                                                        "\n"
                                                        "CPU  RATE/S  TOTAL\n"
                                                        "  0    50.0     35\n"
                                                        "  1   100.0   5007\n"
                                                        "  3   500.0   1000\n");
  TopView empty;
  EXPECT_EQ(format_top(empty, TopSort::kName, false),
            "irqd top: 0 vectors, 0.0 interrupts/s over 0.0 s, sorted by name\n"
            "SOURCE  DEVICE  VECTOR  CPU  RATE/S  TOTAL  NAME\n");
}

// ---------------------------------------------------------------------------
// The real binary.

// A table row split into its columns (NAME, the last, may hold spaces).
struct Row {
  std::string source, device, vector, cpu, rate, total, name;
};

std::vector<Row> table_rows(const std::string& out) {
  std::vector<Row> rows;
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);  // the header line
  std::getline(lines, line);  // the column names
  while (std::getline(lines, line) && !line.empty()) {
    std::istringstream cells(line);
    Row r;
    cells >> r.source >> r.device >> r.vector >> r.cpu >> r.rate >> r.total;
    std::getline(cells >> std::ws, r.name);
    rows.push_back(r);
  }
  return rows;
}

// The numbered lines of a /proc/interrupts: irq -> total count.
std::map<std::string, std::uint64_t> numbered_lines(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  auto parsed = kirq::parse_proc_interrupts(s.str());
  std::map<std::string, std::uint64_t> out;
  if (!parsed) return out;
  for (const kirq::InterruptLine& l : parsed->lines) {
    std::uint64_t sum = 0;
    for (std::uint64_t c : l.counts) sum += c;
    out[std::to_string(l.irq)] = sum;
  }
  return out;
}

TEST(TopCliTest, UsageErrorsAreOneLineExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::string accepted = std::string(" (accepted: ") + std::string(kTopUsage) + "; see irqd top --help)";
  const std::vector<Case> cases{
      {{"top", "--sort", "speed"},
       "irqd: error: irqd top: --sort 'speed' is not one of rate, total, name, cpu" + accepted + "\n"},
      {{"top", "--interval", "0"},
       "irqd: error: irqd top: --interval '0' is not a number of seconds 0.1..60" + accepted + "\n"},
      {{"top", "--batch", "--iterations", "0"},
       "irqd: error: irqd top: --iterations '0' is not an integer 1..4294967295" + accepted + "\n"},
      {{"top", "extra"}, "irqd: error: irqd top: unexpected argument 'extra'" + accepted + "\n"},
      {{"top", "--socket", ""}, "irqd: error: irqd top: --socket '' is empty (accepted: see irqd top --help)\n"},
  };
  for (const Case& c : cases) {
    ProcessResult r = run_irqd(c.args);
    EXPECT_EQ(r.exit_code, 2) << test::describe(c.args);
    EXPECT_EQ(r.err, c.err) << test::describe(c.args);
    EXPECT_EQ(r.out, "") << test::describe(c.args);
  }
}

TEST(TopCliTest, KernelBatchOnThisMachine) {
  ProcessResult r = run_irqd({"top", "--batch", "--source", "kernel", "--interval", "0.1", "--sort", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::map<std::string, std::uint64_t> lines = numbered_lines("/proc/interrupts");
  ASSERT_FALSE(lines.empty());
  std::vector<Row> rows = table_rows(r.out);
  EXPECT_EQ(rows.size(), lines.size()) << r.out;
  for (const Row& row : rows) {
    EXPECT_EQ(row.source, "kernel") << r.out;
    EXPECT_EQ(lines.count(row.vector), 1U) << row.vector << " is no line of /proc/interrupts";
  }
}

// Without --batch, into a pipe (not a terminal): plain tables one after the
// other, no ANSI escapes, no "q quits" line.
TEST(TopCliTest, NotATerminalGetsPlainTablesWithoutBatch) {
  ProcessResult r = run_irqd({"top", "--source", "kernel", "--interval", "0.1", "--iterations", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("quits"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.starts_with("irqd top: ")) << r.out;
  EXPECT_NE(r.out.find("\n\nirqd top: "), std::string::npos) << r.out;  // the second table, after a blank line
}

TEST(TopCliTest, KernelBatchOnACapture) {
  test::KernelTree tree("mq-nic");
  std::map<std::string, std::uint64_t> lines = numbered_lines(tree.proc() + "/interrupts");
  ASSERT_FALSE(lines.empty());
  ProcessResult r = test::run_process("env", {"env", "IRQD_PROC_ROOT=" + tree.proc(), IRQD_BINARY, "top", "--batch",
                                              "--source", "kernel", "--interval", "0.1", "--iterations", "2", "--cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Two tables, each with a per-CPU summary; the capture never changes, so
  // every rate is 0.
  std::size_t second = r.out.find("\nirqd top: ");
  ASSERT_NE(second, std::string::npos) << r.out;
  for (const std::string& table : {r.out.substr(0, second), r.out.substr(second + 1)}) {
    std::vector<Row> rows = table_rows(table);
    ASSERT_EQ(rows.size(), lines.size()) << table;
    for (const Row& row : rows) {
      EXPECT_EQ(row.rate, "0.0") << table;
      EXPECT_EQ(row.cpu, "-") << table;
      EXPECT_EQ(row.total, std::to_string(lines.at(row.vector))) << table;
    }
    EXPECT_NE(table.find("\nCPU  RATE/S"), std::string::npos) << table;
    EXPECT_NE(table.find("\n  0     0.0"), std::string::npos) << table;
  }
}

class TopIrqdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlOptions o;
    o.path = socket_path();
    auto server = ControlServer::start(o, [this](const ControlRequest& r) -> Result<json> {
      if (r.cmd != ControlCommand::kStats) return Error{"only stats here"};
      std::uint64_t k = 0;
      {
        std::lock_guard lock(mu_);
        k = calls_++;
      }
      // Every call: half a second later on the daemon's clock, 100 more on
      // vector 0 and 1000 more on vector 1.
      return json{{"time_ns", 1'000'000'000 + k * 500'000'000},
                  {"devices",
                   {{{"name", "nic0"},
                     {"handled", 1100 * k},
                     {"vectors",
                      {{{"index", 0}, {"cpu", 0}, {"ownership", "managed"}, {"handled", 100 * k}},
                       {{"index", 1}, {"cpu", 1}, {"ownership", "explicit"}, {"handled", 1000 * k}}}}}}}};
    });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  std::string socket_path() const { return dir_.path() + "/irqd.sock"; }

  std::uint64_t calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  TempDir dir_;
  std::mutex mu_;
  std::uint64_t calls_ = 0;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(TopIrqdTest, BatchRatesAreExact) {
  ProcessResult r =
      run_irqd({"top", "--socket", socket_path(), "--source", "irqd", "--batch", "--interval", "0.1", "--cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "irqd top: 2 vectors, 2200.0 interrupts/s over 0.5 s, sorted by rate\n"
            "SOURCE  DEVICE  VECTOR  CPU  RATE/S  TOTAL  NAME\n"
            "irqd    nic0         1    1  2000.0   1000  explicit\n"
            "irqd    nic0         0    0   200.0    100  managed\n"
            "\n"
            "CPU  RATE/S  TOTAL\n"
            "  0   200.0    100\n"
            "  1  2000.0   1000\n");
  EXPECT_EQ(calls(), 2U);
}

TEST_F(TopIrqdTest, IterationsPrintOneTableEach) {
  ProcessResult r = run_irqd({"top", "--socket", socket_path(), "--source", "irqd", "--batch", "--interval", "0.1",
                              "--iterations", "2", "--sort", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "irqd top: 2 vectors, 2200.0 interrupts/s over 0.5 s, sorted by name\n"
            "SOURCE  DEVICE  VECTOR  CPU  RATE/S  TOTAL  NAME\n"
            "irqd    nic0         0    0   200.0    100  managed\n"
            "irqd    nic0         1    1  2000.0   1000  explicit\n"
            "\n"
            "irqd top: 2 vectors, 2200.0 interrupts/s over 0.5 s, sorted by name\n"
            "SOURCE  DEVICE  VECTOR  CPU  RATE/S  TOTAL  NAME\n"
            "irqd    nic0         0    0   200.0    200  managed\n"
            "irqd    nic0         1    1  2000.0   2000  explicit\n");
  EXPECT_EQ(calls(), 3U);
}

TEST_F(TopIrqdTest, BothShowsIrqdAndKernelRows) {
  ProcessResult r = run_irqd({"top", "--socket", socket_path(), "--batch", "--interval", "0.1", "--sort", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<Row> rows = table_rows(r.out);
  ASSERT_GE(rows.size(), 3U) << r.out;
  EXPECT_EQ(rows[0].source + " " + rows[0].rate, "irqd 200.0");
  EXPECT_EQ(rows[1].source + " " + rows[1].rate, "irqd 2000.0");
  for (std::size_t i = 2; i < rows.size(); ++i) EXPECT_EQ(rows[i].source, "kernel") << r.out;
}

TEST(TopCliTest, NoDaemon) {
  TempDir dir;
  const std::string path = dir.path() + "/irqd.sock";
  ProcessResult r = run_irqd({"top", "--socket", path, "--source", "irqd", "--batch", "--interval", "0.1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "irqd: error: irqd top: is irqd run running? no socket at " + path + "\n");
  EXPECT_EQ(r.out, "");
  // both: the kernel alone, with a note.
  r = run_irqd({"top", "--socket", path, "--batch", "--interval", "0.1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "irqd: note: irqd top: is irqd run running? no socket at " + path +
                       "; showing the kernel's interrupts only\n");
  std::vector<Row> rows = table_rows(r.out);
  ASSERT_FALSE(rows.empty()) << r.out;
  for (const Row& row : rows) EXPECT_EQ(row.source, "kernel");
}

}  // namespace
}  // namespace irqd
