// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd serve` as a real process: SIGTERM and SIGINT run the whole unbind
// sequence for every device and exit 0 with a report that accounts for
// every fire; a software hot-unplug unbinds with its own reason; the leaky
// driver's leak is reported with the driver and its vectors; bad input is
// one line and exit 2.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"

namespace irqd {
namespace {

using irqd::test::slurp;
using irqd::test::TempDir;

namespace fs = std::filesystem;
using nlohmann::json;
using test::describe;
using test::run_irqd;

const std::vector<std::string> kDesignOrder = {"stop-arming",     "drain",        "remove",
                                               "release",         "disable-msix", "close-eventfds",
                                               "domain-teardown", "close-device", "report"};

std::vector<std::string> step_kinds(const json& device) {
  std::vector<std::string> out;
  for (const json& s : device["unbind"]) {
    std::string k = s["step"];
    if (out.empty() || out.back() != k) out.push_back(k);
  }
  return out;
}

void expect_accounted(const json& d) {
  ASSERT_TRUE(d["fired"].is_number()) << d.dump();
  const std::uint64_t fired = d["fired"];
  const std::uint64_t handled = d["handled"];
  const std::uint64_t queue_full = d["dropped"]["queue_full"];
  const std::uint64_t after_drain = d["dropped"]["after_drain"];
  EXPECT_GT(fired, 0u);
  EXPECT_EQ(fired, handled + queue_full + after_drain) << d.dump();
  EXPECT_TRUE(d["accounted"].get<bool>());
}

// Starts `irqd serve ARGS`, waits for it to say it is serving, sends sig,
// and returns its exit status; stdout and stderr land in files of dir.
int serve_until_signal(const TempDir& dir, const std::vector<std::string>& args, int sig) {
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, dir.file("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, dir.file("err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  std::vector<std::string> argv{"irqd", "serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  test::Child child(IRQD_BINARY, argv, actions);
  // A guard against hangs, not a timing assertion.
  for (int i = 0; i < 3000 && slurp(dir.file("err")).find("irqd: serving") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it fire and dispatch for a while
  ::kill(child.pid(), sig);
  return child.wait();
}

TEST(ServeCli, SigtermUnbindsEveryDeviceInOrderAndAccountsForEveryFire) {
  TempDir dir;
  const int rc = serve_until_signal(
      dir, {"--device", "soft:16", "--device", "soft:8", "--pattern", "saturate", "--report", dir.file("r.json")},
      SIGTERM);
  ASSERT_EQ(rc, 0) << slurp(dir.file("err"));
  json report = json::parse(slurp(dir.file("r.json")));
  ASSERT_EQ(report["devices"].size(), 2u);
  EXPECT_EQ(report["devices"][0]["name"], "soft0");
  EXPECT_EQ(report["devices"][1]["name"], "soft1");
  for (const json& d : report["devices"]) {
    EXPECT_EQ(d["reason"], "SIGTERM");
    EXPECT_EQ(d["driver"], "count");
    EXPECT_EQ(step_kinds(d), kDesignOrder);
    EXPECT_TRUE(d["leaks"].empty());
    expect_accounted(d);
  }
  // count spreads managed vectors: at most one per possible CPU
  // (irq_calc_affinity_vectors), each on its own CPU.
  const json& vectors = report["devices"][0]["vectors"];
  ASSERT_GE(vectors.size(), 1u);
  ASSERT_LE(vectors.size(), 16u);
  std::set<int> cpus;
  for (const json& v : vectors) {
    EXPECT_TRUE(v["managed"].get<bool>()) << v.dump();
    cpus.insert(v["cpu"].get<int>());
  }
  EXPECT_EQ(cpus.size(), vectors.size());
  const std::string out = slurp(dir.file("out"));
  EXPECT_NE(out.find("soft0 (software, driver count): unbound on SIGTERM"), std::string::npos) << out;
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("irqd: unbind soft1 step=domain-teardown msi_teardown"), std::string::npos) << err;
}

TEST(ServeCli, SigintIsHandledLikeSigterm) {
  TempDir dir;
  const int rc = serve_until_signal(dir, {"--device", "soft:4", "--report", dir.file("r.json")}, SIGINT);
  ASSERT_EQ(rc, 0) << slurp(dir.file("err"));
  json report = json::parse(slurp(dir.file("r.json")));
  EXPECT_EQ(report["devices"][0]["reason"], "SIGINT");
  expect_accounted(report["devices"][0]);
}

TEST(ServeCli, SoftwareHotUnplugUnbindsWithItsReason) {
  TempDir dir;
  const std::vector<std::string> args{"serve",          "--device", "soft:8",   "--pattern",       "saturate",
                                      "--unplug-after", "0.3",      "--report", dir.file("r.json")};
  auto r = run_irqd(args);
  ASSERT_EQ(r.exit_code, 0) << describe(args) << "\n" << r.err;
  json report = json::parse(slurp(dir.file("r.json")));
  const json& d = report["devices"][0];
  EXPECT_EQ(d["reason"], "hot-unplug");
  EXPECT_EQ(step_kinds(d), kDesignOrder);
  expect_accounted(d);
  EXPECT_NE(r.err.find("irqd: hot-unplug soft0"), std::string::npos) << r.err;
}

TEST(ServeCli, LeakyDriversLeakIsReportedThenFreed) {
  TempDir dir;
  const std::vector<std::string> args{"serve", "--device",   "soft:8", "--driver", "leaky",           "--vectors",
                                      "3",     "--duration", "0.2",    "--report", dir.file("r.json")};
  auto r = run_irqd(args);
  ASSERT_EQ(r.exit_code, 0) << describe(args) << "\n" << r.err;
  json d = json::parse(slurp(dir.file("r.json")))["devices"][0];
  EXPECT_EQ(d["reason"], "duration");
  ASSERT_EQ(d["leaks"].size(), 1u);
  EXPECT_EQ(d["leaks"][0]["driver"], "leaky");
  EXPECT_EQ(d["leaks"][0]["vectors"], json::parse("[0,1,2]"));
  EXPECT_EQ(d["problems"], json::array()) << "the leak is listed twice";
  EXPECT_NE(r.err.find("irqd: ownership soft0: driver leaky leaked explicit vectors 0-2 of soft0 (alloc_vectors, "
                       "never freed): freed at unbind"),
            std::string::npos)
      << r.err;
  expect_accounted(d);
}

// The unbind log's drain line tells what the drain itself read, not the
// device's totals since bind: a few reads of a few interrupts, against
// thousands handled over the run.
TEST(ServeCli, DrainLineCountsTheDrainOnly) {
  TempDir dir;
  const std::vector<std::string> args{"serve", "--device",   "soft:8", "--pattern", "rate:20000",      "--reactor",
                                      "epoll", "--duration", "0.3",    "--report",  dir.file("r.json")};
  auto r = run_irqd(args);
  ASSERT_EQ(r.exit_code, 0) << describe(args) << "\n" << r.err;
  const json d = json::parse(slurp(dir.file("r.json")))["devices"][0];
  const std::uint64_t handled = d["handled"];
  ASSERT_GT(handled, 1000u) << r.err;
  std::smatch m;
  const std::regex line(
      "irqd: unbind soft0 step=drain ([0-9]+) reads of ([0-9]+) interrupts after arming stopped; ([0-9]+) handled in "
      "([0-9]+) calls, ([0-9]+) dropped \\(queue_full\\) while draining\n");
  ASSERT_TRUE(std::regex_search(r.err, m, line)) << r.err;
  const std::uint64_t reads = std::stoull(m[1]);
  const std::uint64_t interrupts = std::stoull(m[2]);
  // How many reads the drain takes depends on how fast it runs (33 under
  // ASan on 2 cores): bounded against the run's totals, not a constant.
  EXPECT_LT(reads, handled / 10) << m[0];
  EXPECT_LT(interrupts, handled / 10) << m[0];
  EXPECT_LT(std::stoull(m[3]), handled / 10) << m[0];
  // The drain's step in the report says the same.
  for (const json& step : d["unbind"]) {
    if (step["step"] == "drain") {
      EXPECT_EQ("irqd: unbind soft0 step=drain " + step["detail"].get<std::string>() + "\n", m[0].str());
    }
  }
}

struct BadInput {
  std::vector<std::string> args;
  std::string message;
};

TEST(ServeCli, BadInputIsOneLineAndExitTwo) {
  const std::vector<BadInput> cases = {
      {{"serve"}, "irqd: error: irqd serve: --device is required (accepted: soft:N or vfio:DDDD:BB:DD.F, repeatable)"},
      {{"serve", "--device", "soft:0"},
       "irqd: error: irqd serve: --device: device 'soft:0' has an invalid vector count (accepted: soft:N with N in "
       "1..2048, or vfio:DDDD:BB:DD.F)"},
      {{"serve", "--device", "soft:4", "--device", "soft:4", "--device", "vfio:0000:00:01.0", "--device",
        "vfio:0000:00:01.0"},
       "irqd: error: irqd serve: --device 'vfio:0000:00:01.0' is given twice"},
      {{"serve", "--device", "soft:4", "--driver", "nvme"},
       "irqd: error: irqd serve: --driver: unknown driver 'nvme' (accepted: count, leaky)"},
      {{"serve", "--device", "soft:4", "--reactor", "kqueue"},
       "irqd: error: irqd serve: --reactor: unknown reactor 'kqueue' (accepted: io_uring, io_uring-read, "
       "io_uring-poll, io_uring-busy, epoll, thread)"},
      {{"serve", "--device", "soft:4", "--duration", "-1"},
       "irqd: error: irqd serve: --duration '-1' is not valid (accepted: seconds in 0..31536000)"},
      {{"serve", "--device", "soft:4", "--pattern", ""},
       "irqd: error: irqd serve: --pattern '' is empty (accepted: see irqd serve --help)"},
      {{"serve", "--device", "soft:4", "--bogus"},
       "irqd: error: irqd serve: unexpected argument '--bogus' (accepted: irqd serve --device soft:N|vfio:DDDD:BB:DD.F "
       "[--device ...] [--driver count|leaky] [--vectors N] [--reactor NAME] [--pattern PATTERN] [--duration S] "
       "[--unplug-after S] [--report FILE]; see irqd serve --help)"},
      // Checked before anything is bound, with the reason; no directory is
      // created.
      {{"serve", "--device", "soft:4", "--duration", "0.1", "--report", "/nonexistent-irqd-dir/r.json"},
       "irqd: error: irqd serve: --report '/nonexistent-irqd-dir/r.json': directory /nonexistent-irqd-dir: No such "
       "file or directory"},
  };
  for (const BadInput& c : cases) {
    auto r = run_irqd(c.args);
    EXPECT_EQ(r.exit_code, 2) << describe(c.args);
    EXPECT_EQ(r.out, "") << describe(c.args);
    EXPECT_EQ(r.err, c.message + "\n") << describe(c.args);
  }
  // A directory no file can be created in (sysfs: EACCES, or EROFS where
  // it is mounted read-only).
  auto r = run_irqd({"serve", "--device", "soft:4", "--duration", "0.1", "--report", "/sys/r.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("irqd: error: irqd serve: --report '/sys/r.json': cannot create a file in /sys: "))
      << r.err;
}

TEST(ServeCli, VfioDeviceThatCannotBeOpenedSaysWhyAndBindsNothing) {
  // No VFIO on these machines (and on most CI hosts): the error must name
  // the device and the fix, and the software device given first must have
  // been unbound cleanly.
  if (fs::exists("/dev/vfio/vfio")) GTEST_SKIP() << "this machine has VFIO";
  const std::vector<std::string> args{"serve", "--device", "soft:4", "--device", "vfio:0000:00:1f.7"};
  auto r = run_irqd(args);
  EXPECT_EQ(r.exit_code, 2) << describe(args);
  EXPECT_NE(r.err.find("irqd: error: irqd serve: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0000:00:1f.7"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("irqd: unbind soft0 reason=shutdown"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace irqd
