// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd irqs` and `irqd tune` as real processes.
//
// On fake trees copied from the captures in kirq/tests/data
// (IRQD_PROC_ROOT, IRQD_SYSFS_ROOT): exact output, exit codes, the exact
// contents --apply leaves in the /proc/irq files (plain files there), the
// restore file, --restore putting every mask back, and managed interrupts'
// files untouched (read-only, as the kernel makes them; see kernel_tree.h).
// A fake tree cannot refuse a write with EIO the way an older kernel does;
// kernel_irqs_test injects that answer in-process.
//
// On this machine: `irqd irqs` for every network interface and every PCI
// function with MSI vectors, checked against /proc/interrupts and /sys, and
// a dry-run `irqd tune` that must leave every /proc/irq file as it was.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"
#include "kirq/tests/kernel_tree.h"

namespace irqd {
namespace {

using irqd::test::slurp;
using irqd::test::TempDir;

namespace fs = std::filesystem;
using nlohmann::json;
using test::KernelTree;
using test::ProcessResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kMqTopology = "synthetic:pack:2 [numa] core:4 pu:1";
constexpr const char* kTuneUsageText =
    "irqd tune --device NAME --planner P [--cpus LIST] [--kernel VERSION] [--xps] [--json] [--apply [--save FILE] "
    "[--ban-from-irqbalance]] [--save-profile NAME] | irqd tune --profile NAME [--apply] [--if-present] [--json] | "
    "irqd tune --udev-wants IFACE | irqd tune --restore FILE";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// irqd with the fake tree's roots (and env, VAR=value) in its environment.
ProcessResult run_on(const KernelTree& t, std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{"env", "IRQD_PROC_ROOT=" + t.proc(), "IRQD_SYSFS_ROOT=" + t.sys()};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.emplace_back(IRQD_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process("env", argv);
}

// Every smp_affinity_list of a tree (or of /proc), by irq.
std::map<unsigned, std::string> masks(const std::string& proc) {
  std::map<unsigned, std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(proc + "/irq", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    out[static_cast<unsigned>(std::stoul(name))] = slurp(e.path().string() + "/smp_affinity_list");
  }
  return out;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777U;
}

// A usage error: one line on stderr, exit 2, nothing on stdout.
void expect_usage_error(const ProcessResult& r, const std::string& message) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: " + message + "\n");
}

// ------------------------------------------------------------ irqd irqs

TEST(IrqsCli, ThisVmsEth0AsCaptured) {
  KernelTree t("vm-virtio");
  const ProcessResult r = run_on(t, {"irqs", "--device", "eth0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "eth0 -> virtio2 -> 0000:00:03.0 (virtio-pci, class 0x020000, NUMA node -1, local CPUs 0-1): 3 "
            "interrupts\n"
            "IRQ  VEC  NAME              QUEUE  AFFINITY  EFFECTIVE  NODE  MANAGED  TOTAL  PER-CPU\n"
            "37   0    virtio2-config    -      0-1       0          -1    no       0      -\n"
            "38   1    virtio2-input.0   0      0-1       1          -1    no       2628   1:2628\n"
            "39   2    virtio2-output.0  0      0-1       0          -1    no       2108   0:2108\n");
}

TEST(IrqsCli, ThisVmsVirtioBlkAsJson) {
  KernelTree t("vm-virtio");
  const ProcessResult r = run_on(t, {"irqs", "--device", "vda", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["device"]["name"], "vda");
  EXPECT_EQ(j["device"]["pci"], "0000:00:02.0");
  EXPECT_EQ(j["device"]["path"], json({"vda", "virtio1", "0000:00:02.0"}));
  EXPECT_EQ(j["device"]["driver"], "virtio-pci");
  EXPECT_EQ(j["device"]["numa_node"], -1);
  EXPECT_EQ(j["cpus"], json({0, 1}));
  ASSERT_EQ(j["irqs"].size(), 2U);
  const json& req = j["irqs"][1];
  EXPECT_EQ(req["irq"], 36);
  EXPECT_EQ(req["name"], "virtio1-req.0");
  EXPECT_EQ(req["chip"], "PCI-MSIX-0000:00:02.0");
  EXPECT_EQ(req["hwirq"], "1-edge");
  EXPECT_EQ(req["msi_index"], 1);
  EXPECT_EQ(req["queue"], 0);
  EXPECT_EQ(req["pci"], json({"0000:00:02.0"}));
  EXPECT_EQ(req["mode"], "msix");
  EXPECT_EQ(req["smp_affinity_list"], "0-1");
  EXPECT_EQ(req["effective_affinity_list"], "1");
  EXPECT_EQ(req["node"], 0);
  EXPECT_EQ(req["managed"], true);
  EXPECT_EQ(j["irqs"][0]["managed"], false);
  EXPECT_EQ(j["irqs"][0]["queue"], nullptr);
  const std::uint64_t c1 = req["counts"][1];
  EXPECT_EQ(req["counts"][0], 0);
  EXPECT_EQ(req["total"], c1);
}

// /proc/interrupts names are bytes (a driver's request_irq() name): one
// that is not UTF-8 comes out of --json with U+FFFD in its place, never as
// an exception.
TEST(IrqsCli, ANameThatIsNotUtf8IsReplacedInJson) {
  KernelTree t("vm-virtio");
  std::string text = slurp(t.proc() + "/interrupts");
  const std::string::size_type at = text.find("virtio1-req.0");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 13, "virtio1-req\xff.0");
  t.write("proc/interrupts", text);
  const ProcessResult r = run_on(t, {"irqs", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  std::set<std::string> names;
  for (const json& irq : j["irqs"]) names.insert(irq["name"].get<std::string>());
  EXPECT_EQ(names.count("virtio1-req\xef\xbf\xbd.0"), 1U) << r.out;
}

TEST(IrqsCli, AllInterruptsWithTheirDevices) {
  KernelTree t("mq-nic");
  const ProcessResult r = run_on(t, {"irqs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 21U) << r.out;
  EXPECT_EQ(lines[0],
            "IRQ  DEVICE                     NAME                          QUEUE  AFFINITY  EFFECTIVE  NODE  MANAGED  "
            "TOTAL   PER-CPU");
  EXPECT_EQ(lines[2],
            "16   0000:00:1a.0,0000:00:1f.3  ehci_hcd:usb1, i801_smbus     -      0-7       2          -1    no       "
            "1250    2:1250");
  EXPECT_EQ(lines[12],
            "70   0000:5e:00.0               nvme0q0                       0      0-7       0          0     no       "
            "52      0:52");
  EXPECT_EQ(lines[13],
            "71   0000:5e:00.0               nvme0q1                       1      4         4          1     yes      "
            "20007   4:20007");
  const ProcessResult all = run_on(t, {"irqs", "--device", "all", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const json j = json::parse(all.out);
  EXPECT_EQ(j["device"], nullptr);
  EXPECT_EQ(j["irqs"].size(), 20U);
  EXPECT_EQ(j["cpus"], json({0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(IrqsCli, BadDevicesAreOneLineExit2) {
  KernelTree t("vm-virtio");
  expect_usage_error(run_on(t, {"irqs", "--device", "eth9"}),
                     "irqd irqs: --device: no device 'eth9' (accepted: a network interface (here: eth0), a class "
                     "device such as nvme0 or vda, a virtio device such as virtio2, or a PCI address DDDD:BB:DD.F)");
  expect_usage_error(run_on(t, {"irqs", "--device", "lo"}),
                     "irqd irqs: --device: 'lo' is a virtual device (no " + t.sys() +
                         "/class/net/lo/device): it has no interrupts of its own");
  expect_usage_error(run_on(t, {"irqs", "--device", ""}),
                     "irqd irqs: --device '' is empty (accepted: see irqd irqs --help)");
  expect_usage_error(run_on(t, {"irqs", "eth0"}),
                     "irqd irqs: unexpected argument 'eth0' (accepted: irqd irqs [--device NAME|all] [--json]; see "
                     "irqd irqs --help)");
}

// ------------------------------------------------------- irqd tune, fake

TEST(TuneCli, DryRunShowsTheDiffAndWritesNothing) {
  KernelTree t("mq-nic");
  const auto before = masks(t.proc());
  const ProcessResult r =
      run_on(t, {"tune", "--device", "ens1f0np0", "--planner", "per-core", "--topology", kMqTopology});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // The table itself is TunePlan.MlxStyleNicPerCoreOnItsNode's
  // (format_tune_plan); here: what the command adds around it.
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 24U) << r.out;
  EXPECT_EQ(lines[0], "irqd tune: ens1f0np0 -> 0000:3b:00.0 (mlx5_core, class 0x020000, NUMA node 1, local CPUs 4-7)");
  EXPECT_EQ(lines[22], "5 of 9 interrupts change");
  EXPECT_EQ(lines[23], "dry run: nothing written (--apply writes the 5 changes)");
  EXPECT_EQ(masks(t.proc()), before);
}

TEST(TuneCli, ApplyWritesSavesAndRestorePutsEveryMaskBack) {
  KernelTree t("mq-nic");
  TempDir dir;
  const std::string save = dir.file("nic.json");
  const auto before = masks(t.proc());
  const ProcessResult r = run_on(t, {"tune", "--device", "ens1f0np0", "--planner", "per-core", "--topology",
                                     kMqTopology, "--apply", "--save", save});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("5 of 9 interrupts change\n"
                               "restore file: " +
                               save +
                               "\n"
                               "60  mlx5_async0@pci:0000:3b:00.0  0-7  ->  4-7  written, reads back 4-7\n"
                               "65  mlx5_comp4@pci:0000:3b:00.0   0    ->  4    written, reads back 4\n"
                               "66  mlx5_comp5@pci:0000:3b:00.0   1    ->  5    written, reads back 5\n"
                               "67  mlx5_comp6@pci:0000:3b:00.0   2    ->  6    written, reads back 6\n"
                               "68  mlx5_comp7@pci:0000:3b:00.0   3    ->  7    written, reads back 7\n"
                               "irqd tune --restore " +
                               save + " puts the 9 masks back\n"));
  // Exactly those files changed, to exactly this.
  auto want = before;
  want[60] = "4-7\n";
  want[65] = "4\n";
  want[66] = "5\n";
  want[67] = "6\n";
  want[68] = "7\n";
  EXPECT_EQ(masks(t.proc()), want);
  EXPECT_EQ(mode_of(save), 0600U);
  const json saved = json::parse(slurp(save));
  EXPECT_EQ(saved["irqd_tune_restore"], 1);
  EXPECT_EQ(saved["boot_id"], "6d1f0c2e-8a4b-4f3e-9c1d-2b7e5a9f0c11");
  EXPECT_EQ(saved["device"], "ens1f0np0");
  EXPECT_EQ(saved["pci"], "0000:3b:00.0");
  EXPECT_EQ(saved["planner"], "per-core");
  EXPECT_EQ(saved["cpus"], "4-7");
  const json irqs = json::array({
      {{"irq", 60}, {"name", "mlx5_async0@pci:0000:3b:00.0"}, {"smp_affinity_list", "0-7"}},
      {{"irq", 61}, {"name", "mlx5_comp0@pci:0000:3b:00.0"}, {"smp_affinity_list", "4"}},
      {{"irq", 62}, {"name", "mlx5_comp1@pci:0000:3b:00.0"}, {"smp_affinity_list", "5"}},
      {{"irq", 63}, {"name", "mlx5_comp2@pci:0000:3b:00.0"}, {"smp_affinity_list", "6"}},
      {{"irq", 64}, {"name", "mlx5_comp3@pci:0000:3b:00.0"}, {"smp_affinity_list", "7"}},
      {{"irq", 65}, {"name", "mlx5_comp4@pci:0000:3b:00.0"}, {"smp_affinity_list", "0"}},
      {{"irq", 66}, {"name", "mlx5_comp5@pci:0000:3b:00.0"}, {"smp_affinity_list", "1"}},
      {{"irq", 67}, {"name", "mlx5_comp6@pci:0000:3b:00.0"}, {"smp_affinity_list", "2"}},
      {{"irq", 68}, {"name", "mlx5_comp7@pci:0000:3b:00.0"}, {"smp_affinity_list", "3"}},
  });
  EXPECT_EQ(saved["irqs"], irqs);

  // Applying the same plan again changes nothing and saves nothing.
  const ProcessResult again = run_on(t, {"tune", "--device", "ens1f0np0", "--planner", "per-core", "--topology",
                                         kMqTopology, "--apply", "--save", dir.file("again.json")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("nothing to write: every unmanaged interrupt has its planned mask already\n"));
  EXPECT_FALSE(fs::exists(dir.file("again.json")));

  const ProcessResult back = run_on(t, {"tune", "--restore", save});
  ASSERT_EQ(back.exit_code, 0) << back.err << back.out;
  EXPECT_EQ(back.out, "irqd tune: restoring 9 interrupts of ens1f0np0 (0000:3b:00.0) from " + save +
                          "\n"
                          "60  mlx5_async0@pci:0000:3b:00.0  4-7  ->  0-7  written, reads back 0-7\n"
                          "61  mlx5_comp0@pci:0000:3b:00.0   4    ->  4    unchanged\n"
                          "62  mlx5_comp1@pci:0000:3b:00.0   5    ->  5    unchanged\n"
                          "63  mlx5_comp2@pci:0000:3b:00.0   6    ->  6    unchanged\n"
                          "64  mlx5_comp3@pci:0000:3b:00.0   7    ->  7    unchanged\n"
                          "65  mlx5_comp4@pci:0000:3b:00.0   4    ->  0    written, reads back 0\n"
                          "66  mlx5_comp5@pci:0000:3b:00.0   5    ->  1    written, reads back 1\n"
                          "67  mlx5_comp6@pci:0000:3b:00.0   6    ->  2    written, reads back 2\n"
                          "68  mlx5_comp7@pci:0000:3b:00.0   7    ->  3    written, reads back 3\n");
  EXPECT_EQ(masks(t.proc()), before);
}

// What the restore file is for: an apply killed half-way (SIGKILL: no
// handler, no cleanup) is undone by --restore. The third interrupt's file
// is a FIFO: irqd reads its mask through it (this test writes it in), then
// blocks opening it to write after writing the first two (60, 65); it is
// killed there, the FIFO becomes the file it was, and --restore puts every
// mask back as it was before the apply.
TEST(TuneCli, AnApplyKilledHalfWayIsUndoneByRestore) {
  KernelTree t("mq-nic");
  TempDir dir;
  const std::string save = dir.file("nic.json");
  const auto before = masks(t.proc());
  const std::string blocker = t.proc() + "/irq/66/smp_affinity_list";
  ASSERT_TRUE(fs::remove(blocker));
  ASSERT_EQ(::mkfifo(blocker.c_str(), 0644), 0);

  const std::vector<std::string> args{"env",
                                      "IRQD_PROC_ROOT=" + t.proc(),
                                      "IRQD_SYSFS_ROOT=" + t.sys(),
                                      IRQD_BINARY,
                                      "tune",
                                      "--device",
                                      "ens1f0np0",
                                      "--planner",
                                      "per-core",
                                      "--topology",
                                      kMqTopology,
                                      "--apply",
                                      "--save",
                                      save};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  ASSERT_EQ(::posix_spawn_file_actions_init(&actions), 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawnp(&pid, "env", &actions, nullptr, argv.data(), environ), 0);
  ::posix_spawn_file_actions_destroy(&actions);
  // The mask irqd reads (the open blocks until irqd opens it to read).
  std::thread feeder([&] { std::ofstream(blocker) << before.at(66); });

  // A guard against hangs, not a timing assertion: wait for the two writes.
  bool halfway = false;
  for (int i = 0; i < 3000 && !halfway; ++i) {
    halfway = slurp(t.proc() + "/irq/60/smp_affinity_list") == "4-7\n" &&
              slurp(t.proc() + "/irq/65/smp_affinity_list") == "4\n";
    if (!halfway) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!halfway) ::close(::open(blocker.c_str(), O_RDONLY | O_NONBLOCK));  // lets the feeder go
  feeder.join();
  ASSERT_TRUE(halfway);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // Half applied: two masks written, the rest as they were.
  EXPECT_EQ(slurp(t.proc() + "/irq/67/smp_affinity_list"), before.at(67));
  ASSERT_TRUE(fs::exists(save));  // saved and synced before the first write

  ASSERT_TRUE(fs::remove(blocker));
  { std::ofstream(blocker) << before.at(66); }
  const ProcessResult back = run_on(t, {"tune", "--restore", save});
  ASSERT_EQ(back.exit_code, 0) << back.err << back.out;
  EXPECT_THAT(back.out, HasSubstr("60  mlx5_async0@pci:0000:3b:00.0  4-7  ->  0-7  written, reads back 0-7\n"));
  EXPECT_THAT(back.out, HasSubstr("65  mlx5_comp4@pci:0000:3b:00.0   4    ->  0    written, reads back 0\n"));
  EXPECT_EQ(masks(t.proc()), before);
}

TEST(TuneCli, ManagedQueuesAreNeverWrittenAndCheckedAgainstTheKernelPlanner) {
  KernelTree t("mq-nic");
  TempDir dir;
  const auto before = masks(t.proc());
  const ProcessResult r = run_on(t, {"tune", "--device", "nvme0", "--planner", "single", "--cpus", "3", "--topology",
                                     kMqTopology, "--apply", "--save", dir.file("nvme.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("plan: planner single, 9 vectors (pre 1, post 0), on CPUs 3 (--cpus)\n"));
  EXPECT_THAT(r.out, HasSubstr("78   8    nvme0q8  8      3            -        managed: never written\n"));
  EXPECT_THAT(r.out, HasSubstr("\n8 of 8 managed masks match the kernel planner\n"));
  EXPECT_THAT(r.out, HasSubstr("\n70  nvme0q0  0-7  ->  3  written, reads back 3\n"));
  auto want = before;
  want[70] = "3\n";
  EXPECT_EQ(masks(t.proc()), want);
  for (unsigned irq = 71; irq <= 78; ++irq)
    EXPECT_EQ(mode_of(t.proc() + "/irq/" + std::to_string(irq) + "/smp_affinity_list"), 0444U) << irq;
  const json saved = json::parse(slurp(dir.file("nvme.json")));
  EXPECT_EQ(saved["irqs"].size(), 1U);
}

TEST(TuneCli, WithoutSaveARestoreFileNamedAfterTheDeviceAndTime) {
  KernelTree t("vm-virtio");
  TempDir dir;
  const std::string state = dir.file("state/tune");
  const std::vector<std::string> env{"IRQD_TUNE_STATE_DIR=" + state};
  const ProcessResult r = run_on(
      t, {"tune", "--device", "eth0", "--planner", "per-core", "--topology", "synthetic:core:2 pu:1", "--apply"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(state)) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 1U);
  // eth0-YYYYmmddTHHMMSSZ.json
  const std::string name = fs::path(files[0]).filename().string();
  EXPECT_EQ(name.size(), std::string("eth0-20250101T000000Z.json").size()) << name;
  EXPECT_THAT(name, StartsWith("eth0-2"));
  EXPECT_THAT(r.out, HasSubstr("\nrestore file: " + files[0] +
                               "\n"
                               "38  virtio2-input.0   0-1  ->  0  written, reads back 0\n"
                               "39  virtio2-output.0  0-1  ->  0  written, reads back 0\n"
                               "irqd tune --restore " +
                               files[0] + " puts the 3 masks back\n"));
  // One queue pair: its receive and transmit interrupts on one CPU.
  EXPECT_EQ(t.affinity(38), "0\n");
  EXPECT_EQ(t.affinity(39), "0\n");
  // A second --apply of another plan gets a file of its own.
  const ProcessResult again = run_on(t,
                                     {"tune", "--device", "eth0", "--planner", "single", "--cpus", "1", "--topology",
                                      "synthetic:core:2 pu:1", "--apply"},
                                     env);
  ASSERT_EQ(again.exit_code, 0) << again.err << again.out;
  std::set<std::string> after;
  for (const fs::directory_entry& e : fs::directory_iterator(state)) after.insert(e.path().string());
  EXPECT_EQ(after.size(), 2U);
  const ProcessResult back = run_on(t, {"tune", "--restore", files[0]});
  ASSERT_EQ(back.exit_code, 0) << back.err << back.out;
  EXPECT_EQ(t.affinity(37), "0-1\n");
  EXPECT_EQ(t.affinity(38), "0-1\n");
  EXPECT_EQ(t.affinity(39), "0-1\n");
}

TEST(TuneCli, IrqbalanceIsNamedWithHowToBanTheIrqs) {
  KernelTree t("vm-virtio");
  t.write("proc/4321/comm", "irqbalance\n");
  const ProcessResult r =
      run_on(t, {"tune", "--device", "eth0", "--planner", "kernel", "--topology", "synthetic:core:2 pu:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err,
            "irqd: warning: irqbalance is running (pid 4321) and will move these interrupts again: ban them from it "
            "with --banirq=37 --banirq=38 --banirq=39 (IRQBALANCE_ARGS in /etc/default/irqbalance or "
            "/etc/sysconfig/irqbalance) and keep its other interrupts off CPUs 0-1 with "
            "IRQBALANCE_BANNED_CPULIST=0-1, then restart irqbalance (or give --ban-from-irqbalance)\n");
  // One queue pair spread by the kernel planner over both CPUs: as it is.
  EXPECT_THAT(r.out, HasSubstr("dry run: nothing written; nothing would change\n"));
}

TEST(TuneCli, ErrorsWriteNothing) {
  const std::string kUsage = "(accepted: " + std::string(kTuneUsageText) + ")";
  KernelTree t("mq-nic");
  TempDir dir;
  const auto before = masks(t.proc());
  const std::vector<std::string> mq{"--topology", kMqTopology};
  auto tune = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "tune");
    args.insert(args.end(), mq.begin(), mq.end());
    return run_on(t, args);
  };
  expect_usage_error(tune({"--device", "ens9", "--planner", "kernel", "--apply"}),
                     "irqd tune: --device: no device 'ens9' (accepted: a network interface (here: ens1f0np0), a class "
                     "device such as nvme0 or vda, a virtio device such as virtio2, or a PCI address DDDD:BB:DD.F)");
  expect_usage_error(tune({"--device", "ens1f0np0", "--planner", "kernel", "--cpus", "4-8", "--apply"}),
                     "irqd tune: --cpus '4-8': CPU 8 is not a CPU of this machine (accepted: CPUs of 0-7)");
  expect_usage_error(tune({"--device", "ens1f0np0", "--planner", "kernel", "--cpus", "4-x", "--apply"}),
                     "irqd tune: --cpus: malformed CPU list '4-x': '4-x' is not a range A-B (accepted form: "
                     "comma-separated CPU ids and ranges, e.g. 0-3,8,10-11)");
  expect_usage_error(tune({"--device", "ens1f0np0", "--planner", "spread", "--apply"}),
                     "irqd tune: --planner: unknown planner 'spread' (accepted: kernel, compact, per-core, single, "
                     "round-robin, hint)");
  expect_usage_error(
      tune({"--device", "ens1f0np0", "--apply"}),
      "irqd tune: --planner is required (accepted: kernel, compact, per-core, single, round-robin, hint)");
  expect_usage_error(tune({"--planner", "kernel"}), "irqd tune: --device is required " + kUsage);
  expect_usage_error(tune({"--device", "ens1f0np0", "--planner", "kernel", "--save", dir.file("x.json")}),
                     "irqd tune: --save FILE goes with --apply (nothing is saved without it)");
  expect_usage_error(tune({"--restore", dir.file("x.json"), "--device", "ens1f0np0"}),
                     "irqd tune: --restore FILE takes no other flag " + kUsage);
  expect_usage_error(tune({"--device", "ens1f0np0", "--planner", "kernel", "--kernel", "5.10"}),
                     "irqd tune: --kernel: kernel version '5.10' is older than 6.1, the oldest line irqd reproduces "
                     "(accepted: MAJOR.MINOR[.PATCH][suffix] from 6.1 on, e.g. 6.1, 6.12.117, 6.12.117+deb12-amd64, "
                     "6.19-rc3, or live)");
  expect_usage_error(tune({"--restore", dir.file("missing.json")}),
                     "irqd tune: --restore: cannot read " + dir.file("missing.json") + ": No such file or directory");
  // An existing restore file is never overwritten: it may hold the only
  // record of the state before an earlier --apply.
  std::ofstream(dir.file("taken.json")) << "{}\n";
  expect_usage_error(
      tune({"--device", "ens1f0np0", "--planner", "per-core", "--apply", "--save", dir.file("taken.json")}),
      "irqd tune: cannot create the restore file " + dir.file("taken.json") +
          ": File exists (it would hide an earlier state: restore it or choose another --save); nothing written");
  EXPECT_EQ(slurp(dir.file("taken.json")), "{}\n");
  EXPECT_EQ(masks(t.proc()), before);
}

TEST(TuneCli, RestoreRefusesAnotherBootAndSkipsRenamedInterrupts) {
  KernelTree t("mq-nic");
  TempDir dir;
  const std::string save = dir.file("nic.json");
  ASSERT_EQ(run_on(t, {"tune", "--device", "ens1f0np0", "--planner", "per-core", "--topology", kMqTopology, "--apply",
                       "--save", save})
                .exit_code,
            0);
  const auto applied = masks(t.proc());
  t.write("proc/sys/kernel/random/boot_id", "00000000-0000-0000-0000-000000000000\n");
  expect_usage_error(run_on(t, {"tune", "--restore", save}),
                     "irqd tune: --restore: " + save +
                         " is from another boot (boot_id 6d1f0c2e-8a4b-4f3e-9c1d-2b7e5a9f0c11, now "
                         "00000000-0000-0000-0000-000000000000): interrupt numbers may name other devices now; "
                         "nothing written");
  EXPECT_EQ(masks(t.proc()), applied);
  t.write("proc/sys/kernel/random/boot_id", "6d1f0c2e-8a4b-4f3e-9c1d-2b7e5a9f0c11\n");
  // The driver was reloaded and irq 65 now belongs to something else.
  std::string text = slurp(t.proc() + "/interrupts");
  const std::string old_name = "mlx5_comp4@pci:0000:3b:00.0";
  text.replace(text.find(old_name), old_name.size(), "xhci_hcd");
  t.write("proc/interrupts", text);
  const ProcessResult r = run_on(t, {"tune", "--restore", save});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("65  mlx5_comp4@pci:0000:3b:00.0   4    ->  0    skipped: it is now 'xhci_hcd', "
                               "another interrupt\n"));
  EXPECT_EQ(t.affinity(65), "4\n");
  EXPECT_EQ(t.affinity(66), "1\n");
}

TEST(TuneCli, ApplyNeedsRootOnTheRealProc) {
  // Not root: as nobody (setpriv) when this runs as root, from a link in a
  // world-searchable directory (a clone under mktemp -d is 0700).
  TempDir dir;
  std::string binary = IRQD_BINARY;
  std::vector<std::string> argv;
  if (::geteuid() == 0) {
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/setpriv to drop root with";
    fs::permissions(dir.file(""), fs::perms(0755));
    std::error_code ec;
    fs::create_hard_link(IRQD_BINARY, dir.file("irqd"), ec);
    if (ec) fs::copy_file(IRQD_BINARY, dir.file("irqd"));
    binary = "/usr/bin/setpriv";
    argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", dir.file("irqd")};
  } else {
    argv = {"irqd"};
  }
  const auto before = masks("/proc");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"tune", "--device", "lo", "--planner", "kernel", "--apply"},
        std::vector<std::string>{"tune", "--restore", "/nonexistent.json"}}) {
    std::vector<std::string> full = argv;
    full.insert(full.end(), args.begin(), args.end());
    const ProcessResult r = test::run_process(binary, full);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "irqd: error: irqd tune: " + std::string(args[1] == "--restore" ? "--restore" : "--apply") +
                         " needs root (it writes /proc/irq/N/smp_affinity_list): run it with sudo\n");
  }
  EXPECT_EQ(masks("/proc"), before);
}

// ------------------------------------------------------- this machine

// /proc/interrupts lines by irq: the text after the counts, chip and hwirq.
std::map<unsigned, std::string> proc_interrupt_names() {
  std::map<unsigned, std::string> out;
  const std::vector<std::string> lines = lines_of(slurp("/proc/interrupts"));
  if (lines.empty()) return out;
  std::istringstream header(lines[0]);
  std::size_t ncpus = 0;
  for (std::string tok; header >> tok;) ++ncpus;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::istringstream in(lines[i]);
    std::string label;
    in >> label;
    if (label.empty() || label.back() != ':' || label.find_first_not_of("0123456789:") != std::string::npos) continue;
    std::string tok;
    for (std::size_t c = 0; c < ncpus; ++c) in >> tok;
    std::string chip;
    std::string hwirq;
    in >> chip >> hwirq;
    std::string rest;
    std::getline(in, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    out[static_cast<unsigned>(std::stoul(label))] = rest;
  }
  return out;
}

std::set<unsigned> msi_irqs_of(const std::string& bdf) {
  std::set<unsigned> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/sys/bus/pci/devices/" + bdf + "/msi_irqs", ec))
    out.insert(static_cast<unsigned>(std::stoul(e.path().filename().string())));
  return out;
}

// Network interfaces with a device, and PCI functions with MSI vectors.
std::vector<std::string> devices_here() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/sys/class/net", ec))
    if (fs::exists(e.path() / "device")) out.push_back(e.path().filename().string());
  for (const fs::directory_entry& e : fs::directory_iterator("/sys/bus/pci/devices", ec))
    if (!msi_irqs_of(e.path().filename().string()).empty()) out.push_back(e.path().filename().string());
  return out;
}

// ------------------------------------------- irqd tune: queues, XPS, profiles

// vm-virtio's eth0 (one queue pair) with the queues/ directory a kernel
// with XPS shows: tx-0's xps_cpus as the driver left it.
constexpr const char* kEth0Queues = "sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth0/queues";

TEST(TuneCli, XpsFollowsTheQueuesInterruptAndRestoreBringsItBack) {
  KernelTree t("vm-virtio");
  t.write(std::string(kEth0Queues) + "/tx-0/xps_cpus", "3\n");
  TempDir dir;
  const std::string save = dir.file("eth0.json");
  const ProcessResult r = run_on(t, {"tune", "--device", "eth0", "--planner", "single", "--cpus", "1", "--xps",
                                     "--topology", "synthetic:core:2 pu:1", "--apply", "--save", save});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("queues: each queue's interrupts on the same CPUs\n"
                               "QUEUE  KIND   INTERRUPTS  PLANNED\n"
                               "0      rx+tx  38,39       1\n"
                               "xps: each transmit queue steered to its interrupt's CPUs\n"
                               "XPS        CURRENT      PLANNED\n"
                               "eth0 tx-0  0-1      ->  1\n"
                               "3 of 3 interrupts change, 1 of 1 xps_cpus\n"));
  EXPECT_THAT(r.out, HasSubstr("\nxps  eth0 tx-0         0-1  ->  1  written, reads back 1\n"));
  EXPECT_EQ(t.affinity(38), "1\n");
  EXPECT_EQ(t.affinity(39), "1\n");
  EXPECT_EQ(t.read(std::string(kEth0Queues) + "/tx-0/xps_cpus"), "2\n");
  const json saved = json::parse(slurp(save));
  EXPECT_EQ(saved["irqd_tune_restore"], 2);
  EXPECT_EQ(saved["xps"], json::parse(R"([{"iface":"eth0","queue":0,"xps_cpus":"3"}])"));
  const ProcessResult back = run_on(t, {"tune", "--restore", save});
  ASSERT_EQ(back.exit_code, 0) << back.err << back.out;
  EXPECT_THAT(back.out, HasSubstr("restoring 3 interrupts and 1 xps_cpus of eth0"));
  EXPECT_EQ(t.read(std::string(kEth0Queues) + "/tx-0/xps_cpus"), "3\n");
  EXPECT_EQ(t.affinity(39), "0-1\n");
}

// igb's separate vectors (eth2-rx-N, eth2-tx-N): queue N's two interrupts
// on one CPU, tx-N's XPS on it too, and all of it put back by --restore.
TEST(TuneCli, SeparateRxAndTxVectorsOfAQueueLandTogetherWithTheirXps) {
  KernelTree t("nic-queues");
  TempDir dir;
  const std::string save = dir.file("eth2.json");
  const std::string queues = "sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0/net/eth2/queues/";
  const auto before = masks(t.proc());
  const ProcessResult r = run_on(t, {"tune", "--device", "eth2", "--planner", "per-core", "--xps", "--topology",
                                     kMqTopology, "--apply", "--save", save});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("plan: planner per-core, 4 queues of 9 interrupts, as 5 vectors (pre 1, post 0), on "
                               "CPUs 0-3 (the device's NUMA node 0)\n"));
  EXPECT_THAT(r.out, HasSubstr("QUEUE  KIND   INTERRUPTS  PLANNED\n"
                               "0      rx+tx  81,85       0\n"
                               "1      rx+tx  82,86       1\n"
                               "2      rx+tx  83,87       2\n"
                               "3      rx+tx  84,88       3\n"));
  EXPECT_THAT(r.out, HasSubstr("9 of 9 interrupts change, 4 of 4 xps_cpus\n"));
  auto want = before;
  want[80] = "0-3\n";
  for (unsigned q = 0; q < 4; ++q) want[81 + q] = want[85 + q] = std::to_string(q) + "\n";
  EXPECT_EQ(masks(t.proc()), want);
  for (unsigned q = 0; q < 4; ++q)
    EXPECT_EQ(t.read(queues + "tx-" + std::to_string(q) + "/xps_cpus"), std::string(1, "1248"[q]) + "\n") << q;
  const ProcessResult back = run_on(t, {"tune", "--restore", save});
  ASSERT_EQ(back.exit_code, 0) << back.err << back.out;
  EXPECT_EQ(masks(t.proc()), before);
  // No CPU, written as bitmap_parse() reads it (a kernel prints it back
  // as "00" again; a plain file keeps what was written).
  for (unsigned q = 0; q < 4; ++q) EXPECT_EQ(t.read(queues + "tx-" + std::to_string(q) + "/xps_cpus"), "0\n") << q;
}

// virtio_net's own layout (virtnet_set_affinity: queue i on CPUs 2i-2i+1,
// hint and XPS the same) is what --planner hint asks for: nothing changes.
TEST(TuneCli, HintOfAVirtioNetIsItsOwnLayout) {
  KernelTree t("nic-queues");
  const ProcessResult r =
      run_on(t, {"tune", "--device", "eth1", "--planner", "hint", "--xps", "--topology", kMqTopology});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0      rx+tx  41,42       0-1\n"
                               "1      rx+tx  43,44       2-3\n"
                               "2      rx+tx  45,46       4-5\n"
                               "3      rx+tx  47,48       6-7\n"));
  EXPECT_THAT(r.out, HasSubstr("40   0    virtio3-config    -      0-7         -        no affinity_hint: left as it "
                               "was\n"));
  EXPECT_THAT(r.out, HasSubstr("0 of 9 interrupts change, 0 of 4 xps_cpus\n"));
}

TEST(TuneCli, XpsOfADeviceWithoutInterfaceOrQueuesIsRefusedOrSaidWhy) {
  KernelTree t("vm-virtio");
  expect_usage_error(
      run_on(t, {"tune", "--device", "vda", "--planner", "kernel", "--xps", "--topology", "synthetic:core:2 pu:1"}),
      "irqd tune: --xps: 0000:00:02.0 has no network interface (XPS steers a network device's "
      "transmit queues)");
  // eth0 without queues/: listed with why, nothing to write for it.
  const ProcessResult r =
      run_on(t, {"tune", "--device", "eth0", "--planner", "kernel", "--xps", "--topology", "synthetic:core:2 pu:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("eth0 tx-0  -          0-1      no /sys/class/net/eth0/queues/tx-0/xps_cpus (no "
                               "such transmit queue, or a kernel without XPS)\n"));
}

TEST(TuneCli, JsonIsOneObjectWithIrqsQueuesAndXps) {
  KernelTree t("vm-virtio");
  t.write(std::string(kEth0Queues) + "/tx-0/xps_cpus", "3\n");
  const ProcessResult r = run_on(t, {"tune", "--device", "eth0", "--planner", "per-core", "--xps", "--json",
                                     "--topology", "synthetic:core:2 pu:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "dry run: nothing written (--apply writes the 3 changes)\n");
  const json j = json::parse(r.out);
  EXPECT_EQ(j["device"], "eth0");
  EXPECT_EQ(j["pci"], "0000:00:03.0");
  EXPECT_EQ(j["planner"], "per-core");
  EXPECT_EQ(j["cpus"], json({0, 1}));
  EXPECT_EQ(j["by_queue"], true);
  ASSERT_EQ(j["irqs"].size(), 3U);
  EXPECT_EQ(j["irqs"][0], json::parse(R"j({"irq":37,"name":"virtio2-config","msi_index":0,"queue":null,"kind":null,
      "current":[0,1],"planned":[0,1],"managed":false,"change":false,
      "why":"not a queue: the default affinity (a pre/post vector)"
})j"));
  EXPECT_EQ(j["irqs"][1], json::parse(R"({"irq":38,"name":"virtio2-input.0","msi_index":1,"queue":0,"kind":"rx",
      "current":[0,1],"planned":[0],"managed":false,"change":true,"why":null})"));
  EXPECT_EQ(j["irqs"][2]["kind"], "tx");
  EXPECT_EQ(j["irqs"][2]["planned"], json::array({0}));
  EXPECT_EQ(j["queues"], json::parse(R"([{"queue":0,"kind":"rx+tx","irqs":[38,39],"planned":[0]}])"));
  EXPECT_EQ(j["xps"], json::parse(R"([{"iface":"eth0","queue":0,"path":")" + t.sys() +
                                  R"(/class/net/eth0/queues/tx-0/xps_cpus","current":[0,1],"planned":[0],
      "change":true,"why":null}])"));
  EXPECT_FALSE(j.contains("written"));
}

TEST(TuneCli, AProfileIsSavedAppliedWantedByUdevAndAbsentDevicesAreNoError) {
  KernelTree t("vm-virtio");
  TempDir dir;
  const std::vector<std::string> env{"IRQD_TUNE_PROFILE_DIR=" + dir.file("tune.d"),
                                     "IRQD_TUNE_STATE_DIR=" + dir.file("state")};
  const auto before = masks(t.proc());
  const ProcessResult saved = run_on(t,
                                     {"tune", "--device", "eth0", "--planner", "single", "--cpus", "1", "--topology",
                                      "synthetic:core:2 pu:1", "--save-profile", "nic"},
                                     env);
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_THAT(saved.out, HasSubstr("profile nic saved to " + dir.file("tune.d/nic.json") +
                                   ": systemctl enable irqd-tune@nic.service applies it at every boot and whenever "
                                   "eth0 appears again\n"));
  EXPECT_EQ(masks(t.proc()), before);  // a dry run
  const json profile = json::parse(slurp(dir.file("tune.d/nic.json")));
  EXPECT_EQ(profile["pci"], "0000:00:03.0");
  EXPECT_EQ(profile["cpus"], "1");

  const ProcessResult wants = run_on(t, {"tune", "--udev-wants", "eth0"}, env);
  EXPECT_EQ(wants.exit_code, 0);
  EXPECT_EQ(wants.out, "IRQD_TUNE_WANTS=irqd-tune@nic.service\n");
  const ProcessResult none = run_on(t, {"tune", "--udev-wants", "lo"}, env);
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");

  const ProcessResult applied =
      run_on(t, {"tune", "--profile", "nic", "--apply", "--topology", "synthetic:core:2 pu:1"}, env);
  ASSERT_EQ(applied.exit_code, 0) << applied.err << applied.out;
  EXPECT_EQ(t.affinity(37), "1\n");
  EXPECT_EQ(t.affinity(38), "1\n");
  EXPECT_EQ(t.affinity(39), "1\n");

  expect_usage_error(run_on(t, {"tune", "--profile", "nic", "--planner", "kernel"}, env),
                     "irqd tune: --profile NAME takes the device, planner, CPUs and options from the profile: give "
                     "only --apply, --save, --if-present, --json, --kernel (accepted: " +
                         std::string(kTuneUsageText) + ")");
  const ProcessResult missing = run_on(t, {"tune", "--profile", "other", "--apply", "--if-present"}, env);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--profile other: no such profile"));
  // Unbound: the function stays in sysfs without a driver (and its
  // interface and vectors go); the unit is not failed.
  fs::remove(t.sys() + "/devices/pci0000:00/0000:00:03.0/driver");
  const ProcessResult unbound = run_on(t, {"tune", "--profile", "nic", "--apply", "--if-present"}, env);
  EXPECT_EQ(unbound.exit_code, 0) << unbound.err;
  EXPECT_EQ(unbound.out,
            "irqd tune: profile nic: eth0 (0000:00:03.0), bound to no driver, is not present now; nothing to do\n");
  // The function gone (unplugged).
  fs::remove(t.sys() + "/bus/pci/devices/0000:00:03.0");
  fs::remove(t.sys() + "/class/net/eth0");
  const ProcessResult absent = run_on(t, {"tune", "--profile", "nic", "--apply", "--if-present"}, env);
  EXPECT_EQ(absent.exit_code, 0) << absent.err;
  EXPECT_EQ(absent.out, "irqd tune: profile nic: eth0 (0000:00:03.0) is not present now; nothing to do\n");
  EXPECT_NE(run_on(t, {"tune", "--profile", "nic", "--apply"}, env).exit_code, 0);
}

TEST(TuneCli, HintPlannerTakesTheDriversAffinityHint) {
  KernelTree t("vm-virtio");
  t.write("proc/irq/38/affinity_hint", "2\n");
  t.write("proc/irq/39/affinity_hint", "00\n");
  const ProcessResult r =
      run_on(t, {"tune", "--device", "eth0", "--planner", "hint", "--topology", "synthetic:core:2 pu:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("plan: planner hint, 1 queue of 3 interrupts"));
  EXPECT_THAT(r.out, HasSubstr("38   1    virtio2-input.0   0 rx   0-1      ->  1\n"));
  EXPECT_THAT(r.out, HasSubstr("39   2    virtio2-output.0  0 tx   0-1          -        no affinity_hint: left as "
                               "it was\n"));
}

TEST(TuneCli, BanFromIrqbalanceListsTheDeviceAndRunsIrqbalanceWithThePolicy) {
  KernelTree t("vm-virtio");
  TempDir dir;
  fs::create_directories(dir.file("lib"));
  std::ofstream(dir.file("lib/irqbalance.service")) << "[Service]\nExecStart=/usr/sbin/irqbalance --foreground\n";
  std::ofstream(dir.file("lib/policy")) << "#!/bin/sh\n";
  const std::vector<std::string> env{
      "IRQD_TUNE_STATE_DIR=" + dir.file("state"), "IRQD_IRQBALANCE_BANNED=" + dir.file("etc/irqbalance-banned"),
      "IRQD_IRQBALANCE_DROPIN_DIR=" + dir.file("etc/irqbalance.service.d"),
      "IRQD_IRQBALANCE_UNIT=" + dir.file("lib/irqbalance.service"), "IRQD_IRQBALANCE_POLICY=" + dir.file("lib/policy")};
  t.write("proc/4321/comm", "irqbalance\n");
  const ProcessResult dry = run_on(t,
                                   {"tune", "--device", "eth0", "--planner", "single", "--topology",
                                    "synthetic:core:2 pu:1", "--ban-from-irqbalance"},
                                   env);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("; --ban-from-irqbalance acts with --apply\n"));
  EXPECT_EQ(dry.err, "");  // no --banirq advice: the ban replaces it
  EXPECT_FALSE(fs::exists(dir.file("etc/irqbalance-banned")));
  const ProcessResult r = run_on(t,
                                 {"tune", "--device", "eth0", "--planner", "single", "--topology",
                                  "synthetic:core:2 pu:1", "--apply", "--ban-from-irqbalance"},
                                 env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("irqbalance: 0000:00:03.0 added to " + dir.file("etc/irqbalance-banned")));
  EXPECT_THAT(slurp(dir.file("etc/irqbalance-banned")), HasSubstr("\n0000:00:03.0\n"));
  EXPECT_THAT(slurp(dir.file("etc/irqbalance.service.d/irqd.conf")),
              HasSubstr("ExecStart=\nExecStart=/usr/sbin/irqbalance --foreground --policyscript=" +
                        dir.file("lib/policy") + "\n"));
}

TEST(ThisMachine, IrqsOfEveryDeviceMatchProcInterrupts) {
  const std::vector<std::string> devices = devices_here();
  if (devices.empty()) GTEST_SKIP() << "no network interface with a device and no PCI function with MSI vectors here";
  for (const std::string& dev : devices) {
    SCOPED_TRACE(dev);
    const ProcessResult r = test::run_irqd({"irqs", "--device", dev, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const json j = json::parse(r.out);
    const std::string bdf = j["device"]["pci"];
    const std::set<unsigned> msi = msi_irqs_of(bdf);
    const std::map<unsigned, std::string> names = proc_interrupt_names();
    std::set<unsigned> listed;
    for (const json& k : j["irqs"]) {
      const unsigned irq = k["irq"];
      listed.insert(irq);
      // Requested vectors have a /proc/interrupts line with this name.
      if (names.contains(irq)) {
        EXPECT_EQ(k["name"], names.at(irq)) << irq;
      } else {
        EXPECT_EQ(k["name"], "") << irq;
      }
      const std::string dir = "/proc/irq/" + std::to_string(irq);
      if (fs::exists(dir + "/smp_affinity_list")) {
        std::string mask = slurp(dir + "/smp_affinity_list");
        mask.erase(mask.find_last_not_of('\n') + 1);
        EXPECT_EQ(k["smp_affinity_list"], mask) << irq;
        EXPECT_EQ(k["managed"], (mode_of(dir + "/smp_affinity_list") & 0200U) == 0) << irq;
      }
    }
    if (!msi.empty()) {
      EXPECT_EQ(listed, msi);
    }
  }
}

TEST(ThisMachine, DryRunTuneWritesNothingAndVirtioManagedMasksMatchTheKernelPlanner) {
  const std::vector<std::string> devices = devices_here();
  if (devices.empty()) GTEST_SKIP() << "no network interface with a device and no PCI function with MSI vectors here";
  for (const std::string& dev : devices) {
    SCOPED_TRACE(dev);
    const auto before = masks("/proc");
    const ProcessResult r = test::run_irqd({"tune", "--device", dev, "--planner", "kernel"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, StartsWith("irqd tune: "));
    EXPECT_THAT(r.out, HasSubstr("\ndry run: nothing written"));
    // Only the kernel moves them between the two reads (it does not, here).
    EXPECT_EQ(masks("/proc"), before);
    // virtio-pci spreads its queues as irq_affinity{.pre_vectors = 1}, no
    // sets: the kernel planner must predict every managed mask exactly.
    const ProcessResult info = test::run_irqd({"irqs", "--device", dev, "--json"});
    const json j = json::parse(info.out);
    if (j["device"]["driver"] != "virtio-pci") continue;
    unsigned managed = 0;
    for (const json& k : j["irqs"]) managed += k["managed"].get<bool>() ? 1 : 0;
    if (managed == 0) continue;
    const std::string all = std::to_string(managed) + " of " + std::to_string(managed);
    EXPECT_THAT(r.out, HasSubstr("\n" + all + " managed masks match the kernel planner\n"));
  }
}

}  // namespace
}  // namespace irqd
