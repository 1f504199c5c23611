// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd devices`, `irqd bind BDF` and `irqd unbind BDF` as real processes:
// on fake sysfs and proc trees (IRQD_SYSFS_ROOT, IRQD_BIND_STATE_DIR,
// IRQD_PROC_ROOT: mounts, swaps, the processes holding a device) for exact
// output, exit codes and the files written, and `irqd devices` on this
// machine's own /sys, checked against what /sys says.
//
// A fake tree does not react to writes (the driver link never moves), so a
// bind there ends in "vfio-pci did not take it" and undoes itself; the full
// successful sequences, with a fake kernel that moves the link, are in
// device/tests/pci_sysfs_test.cc. The formatting functions are checked
// in-process here too.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"
#include "cli/devices_command.h"
#include "cli/irqs_command.h"

namespace irqd {
namespace {

using irqd::test::slurp;

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A config space with PM (0x40) -> MSI-X (0x50) of `msix` entries, or no
// capabilities at all when msix is 0; cut to len bytes.
std::vector<std::uint8_t> config_space(unsigned msix, std::size_t len = 256) {
  std::vector<std::uint8_t> c(256, 0);
  if (msix > 0) {
    c[0x06] = 0x10;
    c[0x34] = 0x40;
    c[0x40] = 0x01;
    c[0x41] = 0x50;
    c[0x50] = 0x11;
    c[0x52] = static_cast<std::uint8_t>((msix - 1) & 0xff);
    c[0x53] = static_cast<std::uint8_t>((msix - 1) >> 8);
  }
  c.resize(len);
  return c;
}

// A fake /sys (and a state dir) in a temp dir; irqd reads it through
// IRQD_SYSFS_ROOT and IRQD_BIND_STATE_DIR.
class FakeTree {
 public:
  FakeTree() {
    std::string templ = (fs::temp_directory_path() / "irqd-devices-cli.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    base_ = templ;
    ::chmod(base_.c_str(), 0755);  // readable to the non-root run
    fs::create_directories(sys("bus/pci/devices"));
    put(sys("bus/pci/drivers_probe"), "");
    fs::create_directories(proc() + "/self");
    put(proc() + "/self/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
    put(proc() + "/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
  }
  ~FakeTree() { fs::remove_all(base_); }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  std::string sys(const std::string& rel) const { return base_ + "/sys/" + rel; }
  std::string state_dir() const { return base_ + "/state"; }
  std::string proc() const { return base_ + "/proc"; }
  // A process `comm` with fd 9 open on `target`.
  void add_holder(int pid, const std::string& comm, const std::string& target) const {
    const std::string dir = proc() + "/" + std::to_string(pid);
    fs::create_directories(dir + "/fd");
    put(dir + "/comm", comm + "\n");
    fs::create_symlink(target, dir + "/fd/9");
  }
  std::string dev(const std::string& bdf) const { return sys("bus/pci/devices/" + bdf); }

  void add_driver(const std::string& name) const {
    fs::create_directories(sys("bus/pci/drivers/" + name));
    put(sys("bus/pci/drivers/" + name + "/unbind"), "");
  }
  void add_device(const std::string& bdf, const std::string& id, const std::string& cls, const std::string& driver,
                  int group, int numa, const std::vector<std::uint8_t>& config) const {
    const std::string dir = dev(bdf);
    fs::create_directories(dir);
    put(dir + "/vendor", "0x" + id.substr(0, 4) + "\n");
    put(dir + "/device", "0x" + id.substr(5) + "\n");
    put(dir + "/class", cls + "\n");
    put(dir + "/numa_node", std::to_string(numa) + "\n");
    put(dir + "/driver_override", "(null)\n");
    std::ofstream(dir + "/config", std::ios::binary)
        .write(reinterpret_cast<const char*>(config.data()), static_cast<std::streamsize>(config.size()));
    if (group >= 0) {
      const std::string g = std::to_string(group);
      fs::create_directories(sys("kernel/iommu_groups/" + g + "/devices"));
      fs::create_symlink("../../../../kernel/iommu_groups/" + g, dir + "/iommu_group");
      fs::create_symlink("../../../../../bus/pci/devices/" + bdf, sys("kernel/iommu_groups/" + g + "/devices/" + bdf));
    }
    if (!driver.empty()) fs::create_symlink("../../../../bus/pci/drivers/" + driver, dir + "/driver");
  }
  std::string driver(const std::string& bdf) const {
    std::error_code ec;
    return fs::read_symlink(dev(bdf) + "/driver", ec).filename().string();
  }

  // irqd ARGS with the fake tree's environment.
  test::ProcessResult irqd(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"env", std::string(kSysfsRootEnv) + "=" + base_ + "/sys",
                                  std::string(kBindStateDirEnv) + "=" + state_dir(),
                                  std::string(kProcRootEnv) + "=" + proc(), IRQD_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process("env", argv);
  }

  static void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

 private:
  std::string base_;
};

// The tree most tests use: a NIC alone in group 3, an NVMe drive sharing
// group 7 with an audio function, a function with no IOMMU group and only
// 64 bytes of config readable, and one already on vfio-pci.
void standard_tree(const FakeTree& t) {
  for (const char* d : {"virtio-pci", "nvme", "snd_hda_intel", "vfio-pci"}) t.add_driver(d);
  t.add_device("0000:00:03.0", "1af4:1041", "0x020000", "virtio-pci", 3, 0, config_space(3));
  t.add_device("0000:00:06.0", "1b36:0011", "0x00ff00", "vfio-pci", 6, 0, config_space(64));
  t.add_device("0000:01:00.0", "144d:a808", "0x010802", "nvme", 7, 1, config_space(33));
  t.add_device("0000:01:00.1", "8086:a348", "0x040300", "snd_hda_intel", 7, 1, config_space(1));
  t.add_device("0000:02:00.0", "8086:1533", "0x020000", "", -1, -1, config_space(5, 64));
}

// ---------------------------------------------------------------- devices

TEST(DevicesCli, TableOnAFakeTree) {
  FakeTree t;
  standard_tree(t);
  auto r = t.irqd({"devices"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "BDF           ID         CLASS     DRIVER         OVERRIDE  GROUP  NUMA  MSI-X                 VFIO\n"
            "0000:00:03.0  1af4:1041  0x020000  virtio-pci     none      3      0     3                     yes\n"
            "0000:00:06.0  1b36:0011  0x00ff00  vfio-pci       none      6      0     64                    yes (on "
            "vfio-pci)\n"
            "0000:01:00.0  144d:a808  0x010802  nvme           none      7      1     33                    no: group "
            "7 shared with 0000:01:00.1 (snd_hda_intel)\n"
            "0000:01:00.1  8086:a348  0x040300  snd_hda_intel  none      7      1     1                     no: group "
            "7 shared with 0000:01:00.0 (nvme)\n"
            "0000:02:00.0  8086:1533  0x020000  none           none      none   none  unknown (needs root)  no: no "
            "IOMMU group\n"
            "fixes:\n"
            "  group 7 shared with 0000:01:00.1 (snd_hda_intel): VFIO opens group 7 only when every member is on "
            "vfio-pci or unbound: irqd bind 0000:01:00.1\n"
            "  group 7 shared with 0000:01:00.0 (nvme): VFIO opens group 7 only when every member is on vfio-pci or "
            "unbound: irqd bind 0000:01:00.0\n"
            "  no IOMMU group: turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line; a VM "
            "needs a vIOMMU)\n");
}

TEST(DevicesCli, JsonOnAFakeTree) {
  FakeTree t;
  standard_tree(t);
  auto r = t.irqd({"devices", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const json doc = json::parse(r.out);
  EXPECT_TRUE(doc["vfio_pci_loaded"].get<bool>());
  ASSERT_EQ(doc["devices"].size(), 5U);
  EXPECT_EQ(doc["devices"][0], json::parse(R"({"bdf":"0000:00:03.0","vendor":"1af4","device":"1041","class":"0x020000",
              "driver":"virtio-pci","driver_override":null,"iommu_group":3,"numa_node":0,"msix":3,"msix_note":null,
              "group_peers":[],"vfio":{"can_take":true,"reasons":[]}})"));
  EXPECT_EQ(doc["devices"][2]["group_peers"], json::parse(R"([{"bdf":"0000:01:00.1","driver":"snd_hda_intel"}])"));
  EXPECT_EQ(doc["devices"][2]["vfio"],
            json::parse(R"j({"can_take":false,"reasons":[{"reason":"group 7 shared with 0000:01:00.1 (snd_hda_intel)",
              "fix":"VFIO opens group 7 only when every member is on vfio-pci or unbound: irqd bind 0000:01:00.1"}]})j"));
  const json& loose = doc["devices"][4];
  EXPECT_TRUE(loose["driver"].is_null());
  EXPECT_TRUE(loose["iommu_group"].is_null());
  EXPECT_TRUE(loose["numa_node"].is_null());
  EXPECT_TRUE(loose["msix"].is_null());  // unknown, not 0
  EXPECT_EQ(loose["msix_note"], "needs root");
}

// A driver_override is whatever bytes root wrote: one that is not UTF-8
// comes out of --json with U+FFFD in its place, never as an exception.
TEST(DevicesCli, AnOverrideThatIsNotUtf8IsReplacedInJson) {
  FakeTree t;
  standard_tree(t);
  FakeTree::put(t.dev("0000:00:03.0") + "/driver_override", "vfio\xfe\n");
  auto r = t.irqd({"devices", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc["devices"][0]["driver_override"], "vfio\xef\xbf\xbd") << r.out;
}

TEST(DevicesCli, VfioPciNotLoadedSaysModprobe) {
  FakeTree t;
  t.add_driver("virtio-pci");
  t.add_device("0000:00:03.0", "1af4:1041", "0x020000", "virtio-pci", 3, 0, config_space(0));
  auto r = t.irqd({"devices"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "BDF           ID         CLASS     DRIVER      OVERRIDE  GROUP  NUMA  MSI-X  VFIO\n"
            "0000:00:03.0  1af4:1041  0x020000  virtio-pci  none      3      0     none   no: vfio-pci not loaded\n"
            "fixes:\n"
            "  vfio-pci not loaded: modprobe vfio-pci\n");
}

TEST(DevicesCli, NoSysfsIsOneLineAndExitTwo) {
  FakeTree t;
  fs::remove_all(t.sys("bus"));
  auto r = t.irqd({"devices"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("irqd: error: irqd devices: cannot list " + t.sys("bus/pci/devices")));
  EXPECT_EQ(lines_of(r.err).size(), 1U) << r.err;
}

// This machine's own /sys: one row per function, each as /sys tells it.
TEST(DevicesCli, ListsThisMachinesRealDevices) {
  const fs::path bus = "/sys/bus/pci/devices";
  std::error_code ec;
  if (!fs::is_directory(bus, ec)) GTEST_SKIP() << "no " << bus << " here";
  std::vector<std::string> bdfs;
  for (const auto& e : fs::directory_iterator(bus)) bdfs.push_back(e.path().filename().string());
  std::sort(bdfs.begin(), bdfs.end());

  auto r = test::run_irqd({"devices"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), bdfs.size() + 1) << r.out;
  EXPECT_THAT(lines[0], StartsWith("BDF  "));
  for (std::size_t i = 0; i < bdfs.size(); i++) EXPECT_THAT(lines[i + 1], StartsWith(bdfs[i] + "  ")) << r.out;
  if (lines.size() > bdfs.size() + 1) {
    EXPECT_EQ(lines[bdfs.size() + 1], "fixes:");
  }

  auto j = test::run_irqd({"devices", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json doc = json::parse(j.out);
  ASSERT_EQ(doc["devices"].size(), bdfs.size());
  const bool vfio_loaded = fs::is_directory("/sys/bus/pci/drivers/vfio-pci", ec);
  EXPECT_EQ(doc["vfio_pci_loaded"].get<bool>(), vfio_loaded);
  for (std::size_t i = 0; i < bdfs.size(); i++) {
    const json& d = doc["devices"][i];
    SCOPED_TRACE(d.dump());
    EXPECT_EQ(d["bdf"], bdfs[i]);
    const fs::path dir = bus / bdfs[i];
    EXPECT_EQ("0x" + d["vendor"].get<std::string>(), lines_of(slurp(dir / "vendor"))[0]);
    EXPECT_EQ("0x" + d["device"].get<std::string>(), lines_of(slurp(dir / "device"))[0]);
    EXPECT_EQ(d["class"].get<std::string>(), lines_of(slurp(dir / "class"))[0]);
    const fs::path driver = fs::read_symlink(dir / "driver", ec);
    const json want_driver = ec ? json(nullptr) : json(driver.filename().string());
    EXPECT_EQ(d["driver"], want_driver);
    const bool has_group = fs::exists(dir / "iommu_group", ec);
    EXPECT_EQ(d["iommu_group"].is_null(), !has_group);
    // Root reads the whole config space; others only its header.
    if (::geteuid() == 0) {
      EXPECT_TRUE(d["msix"].is_number()) << "root reads the capability list";
    }
    std::set<std::string> reasons;
    for (const json& why : d["vfio"]["reasons"]) reasons.insert(why["reason"].get<std::string>());
    EXPECT_EQ(reasons.count("no IOMMU group") == 1, !has_group);
    EXPECT_EQ(reasons.count("vfio-pci not loaded") == 1, !vfio_loaded);
    EXPECT_EQ(d["vfio"]["can_take"].get<bool>(), reasons.empty());
  }
}

// ---------------------------------------------------------------- bind / unbind

TEST(BindCli, AlreadyOnVfioPciIsANoOp) {
  FakeTree t;
  standard_tree(t);
  auto r = t.irqd({"bind", "0000:00:06.0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "0000:00:06.0 is already on vfio-pci: nothing to do\n"
            "IOMMU group 6 is viable: `irqd serve --device vfio:0000:00:06.0` can open 0000:00:06.0\n");
  EXPECT_FALSE(fs::exists(t.state_dir()));
}

TEST(BindCli, ATreeThatDoesNotReactEndsInAClearErrorAndIsUndone) {
  FakeTree t;
  standard_tree(t);
  const std::string nic = "0000:00:03.0";
  auto r = t.irqd({"bind", nic});
  EXPECT_EQ(r.exit_code, 1) << "something was written before the step failed";
  EXPECT_EQ(r.out,
            "0000:00:03.0: driver_override = vfio-pci\n"
            "0000:00:03.0: unbound from virtio-pci\n"
            "0000:00:03.0: probed (" +
                t.sys("bus/pci/drivers_probe") +
                ")\n"
                "0000:00:03.0: driver_override cleared\n");
  EXPECT_EQ(r.err,
            "irqd: error: irqd bind: vfio-pci did not take 0000:00:03.0: its driver is virtio-pci after "
            "driver_override and drivers_probe (`dmesg` says why); undone: driver_override cleared, driver now "
            "virtio-pci\n");
  // What each file got last: override cleared, the others the address.
  EXPECT_EQ(slurp(t.dev(nic) + "/driver_override"), "\n");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers/virtio-pci/unbind")), nic);
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers_probe")), nic);
  EXPECT_FALSE(fs::exists(t.state_dir() + "/" + nic));
}

TEST(BindCli, UnbindWithoutAStateFileLeavesTheOriginalDriverUnknown) {
  FakeTree t;
  standard_tree(t);
  FakeTree::put(t.dev("0000:00:06.0") + "/driver_override", "vfio-pci\n");
  auto r = t.irqd({"unbind", "0000:00:06.0"});
  // The fake link stays on vfio-pci: the check after the unbind says so.
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            "0000:00:06.0: unbinding from vfio-pci (waits until its VFIO user lets go of it; `fuser -v /dev/vfio/6` "
            "names it)\n"
            "0000:00:06.0: unbound from vfio-pci\n"
            "0000:00:06.0: driver_override cleared\n");
  EXPECT_EQ(r.err, "irqd: error: irqd unbind: 0000:00:06.0 is still on vfio-pci after writing it to " +
                       t.sys("bus/pci/drivers/vfio-pci/unbind") + " (`dmesg` says why)\n");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers/vfio-pci/unbind")), "0000:00:06.0");
  EXPECT_EQ(slurp(t.dev("0000:00:06.0") + "/driver_override"), "\n");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers_probe")), "") << "original driver unknown: no probe";
}

TEST(BindCli, UnbindUsesTheStateFileAndProbes) {
  FakeTree t;
  standard_tree(t);
  fs::create_directories(t.state_dir());
  FakeTree::put(t.state_dir() + "/0000:00:06.0", "driver=virtio-pci\n");
  FakeTree::put(t.dev("0000:00:06.0") + "/driver_override", "vfio-pci\n");
  auto r = t.irqd({"unbind", "0000:00:06.0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_of(r.out).back(), "0000:00:06.0: probed (" + t.sys("bus/pci/drivers_probe") + ")");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers_probe")), "0000:00:06.0");
  // Not given back (the fake link did not move): still remembered.
  EXPECT_EQ(slurp(t.state_dir() + "/0000:00:06.0"), "driver=virtio-pci\n");
}

TEST(BindCli, UnbindOfADeviceNotOnVfioPciIsANoOp) {
  FakeTree t;
  standard_tree(t);
  auto r = t.irqd({"unbind", "0000:01:00.0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0000:01:00.0 is not on vfio-pci (driver nvme): nothing to undo\n");
  EXPECT_EQ(r.err, "");
}

TEST(BindCli, BadInputIsOneLineExitTwoNothingWritten) {
  FakeTree t;
  standard_tree(t);
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases{
      {{"bind"},
       "irqd bind: no PCI address (accepted: irqd bind [--force [--force]] DDDD:BB:DD.F; `irqd devices` lists them)"},
      {{"unbind"},
       "irqd unbind: no PCI address (accepted: irqd unbind [--force] DDDD:BB:DD.F; `irqd devices` lists them)"},
      {{"bind", "00:03.0"},
       "irqd bind: malformed PCI address '00:03.0' (accepted: DDDD:BB:DD.F in hex, device 00-1f, function 0-7, e.g. "
       "0000:00:03.0; `irqd devices` lists them)"},
      {{"bind", "0000:00:09.0"},
       "irqd bind: no PCI device 0000:00:09.0 (no " + t.dev("0000:00:09.0") + "; `irqd devices` lists the devices)"},
      {{"unbind", "0000:00:09.0"},
       "irqd unbind: no PCI device 0000:00:09.0 (no " + t.dev("0000:00:09.0") + "; `irqd devices` lists the devices)"},
      {{"bind", "0000:02:00.0"},
       "irqd bind: 0000:02:00.0 has no IOMMU group, so vfio-pci cannot take it: turn the IOMMU on (intel_iommu=on or "
       "amd_iommu=on on the kernel command line; a VM needs a vIOMMU)"},
      {{"bind", "0000:00:03.0", "0000:00:04.0"},
       "irqd bind: unexpected argument '0000:00:04.0' (accepted: irqd bind [--force [--force]] DDDD:BB:DD.F; see irqd "
       "bind --help)"},
      {{"devices", "--format", "json"},
       "irqd devices: unexpected argument '--format' (accepted: irqd devices [--json]; see irqd devices --help)"},
  };
  for (const Case& c : cases) {
    auto r = t.irqd(c.args);
    EXPECT_EQ(r.exit_code, 2) << test::describe(c.args);
    EXPECT_EQ(r.out, "") << test::describe(c.args);
    EXPECT_EQ(r.err, "irqd: error: " + c.err + "\n") << test::describe(c.args);
  }
  EXPECT_EQ(slurp(t.dev("0000:00:03.0") + "/driver_override"), "(null)\n");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers_probe")), "");
  EXPECT_FALSE(fs::exists(t.state_dir()));
}

TEST(BindCli, VfioPciNotLoadedSaysModprobe) {
  FakeTree t;
  t.add_driver("virtio-pci");
  t.add_device("0000:00:03.0", "1af4:1041", "0x020000", "virtio-pci", 3, 0, config_space(0));
  auto r = t.irqd({"bind", "0000:00:03.0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: irqd bind: vfio-pci is not loaded (no " + t.sys("bus/pci/drivers/vfio-pci") +
                       "): load it with `modprobe vfio-pci`\n");
}

TEST(BindCli, NotRootSaysRunAsRoot) {
  FakeTree t;
  standard_tree(t);
  std::vector<std::string> args{"bind", "0000:00:03.0"};
  test::ProcessResult r;
  if (::geteuid() == 0) {
    // As root, run irqd as nobody: the tree is root's, 0644, as sysfs is.
    std::vector<std::string> argv{"setpriv",
                                  "--reuid=65534",
                                  "--regid=65534",
                                  "--clear-groups",
                                  "env",
                                  std::string(kSysfsRootEnv) + "=" + t.sys(""),
                                  std::string(kBindStateDirEnv) + "=" + t.state_dir(),
                                  IRQD_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    try {
      r = test::run_process("setpriv", argv);
    } catch (const std::exception& e) {
      GTEST_SKIP() << "no setpriv to drop root: " << e.what();
    }
    if (r.exit_code == 126 || r.exit_code == 127) GTEST_SKIP() << "nobody cannot run " << IRQD_BINARY << ": " << r.err;
  } else {
    ::chmod((t.dev("0000:00:03.0") + "/driver_override").c_str(), 0444);
    r = t.irqd(args);
  }
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("irqd: error: irqd bind: cannot write "));
  EXPECT_THAT(r.err, HasSubstr("Permission denied: run as root\n"));
  EXPECT_EQ(lines_of(r.err).size(), 1U) << r.err;
  EXPECT_EQ(slurp(t.dev("0000:00:03.0") + "/driver_override"), "(null)\n");
}

// Real /sys, an address no machine has: safe to run anywhere.
TEST(BindCli, UnknownDeviceOnThisMachine) {
  for (const char* cmd : {"bind", "unbind"}) {
    auto r = test::run_irqd({cmd, "ffff:ff:1f.7"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, std::string("irqd: error: irqd ") + cmd +
                         ": no PCI device ffff:ff:1f.7 (no /sys/bus/pci/devices/ffff:ff:1f.7; `irqd devices` lists "
                         "the devices)\n");
  }
}

// ---------------------------------------------------------------- in use

TEST(BindCli, ADeviceInUseIsRefusedUntilForced) {
  FakeTree t;
  standard_tree(t);
  const std::string nic = "0000:00:03.0";
  fs::create_directories(t.dev(nic) + "/virtio0/net/eth0");
  FakeTree::put(t.dev(nic) + "/virtio0/net/eth0/flags", "0x1003\n");
  auto r = t.irqd({"bind", nic});
  EXPECT_EQ(r.exit_code, 2) << "nothing written";
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "irqd: error: irqd bind: 0000:00:03.0 is in use: eth0 is up: its driver's unbind takes these away; stop "
            "them, or use --force\n");
  EXPECT_EQ(slurp(t.dev(nic) + "/driver_override"), "(null)\n");
  EXPECT_FALSE(fs::exists(t.state_dir() + "/" + nic));

  r = t.irqd({"bind", "--force", nic});
  EXPECT_EQ(r.exit_code, 1) << "the fake tree does not react: vfio-pci does not take it";
  EXPECT_THAT(lines_of(r.out), ::testing::ElementsAre("0000:00:03.0: in use, taken anyway (--force): eth0 is up",
                                                      "0000:00:03.0: driver_override = vfio-pci",
                                                      "0000:00:03.0: unbound from virtio-pci",
                                                      "0000:00:03.0: probed (" + t.sys("bus/pci/drivers_probe") + ")",
                                                      "0000:00:03.0: driver_override cleared"));
}

TEST(BindCli, TheRootFilesystemTakesForceTwice) {
  FakeTree t;
  standard_tree(t);
  const std::string nvme = "0000:01:00.0";
  for (const std::string rel : {"nvme/nvme0/nvme0n1", "nvme/nvme0/nvme0n1/nvme0n1p2"}) {
    fs::create_directories(t.dev(nvme) + "/" + rel + "/holders");
    FakeTree::put(t.dev(nvme) + "/" + rel + "/dev", rel.ends_with("p2") ? "259:2\n" : "259:0\n");
  }
  FakeTree::put(t.proc() + "/self/mountinfo", "22 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n");
  auto r = t.irqd({"bind", "--force", nvme});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "irqd: error: irqd bind: 0000:01:00.0 holds the root filesystem: nvme0n1p2 is mounted on / (the root "
            "filesystem): binding it to vfio-pci takes / away from this machine, so one --force is not enough "
            "(--force --force, if that is what you mean)\n");
  EXPECT_EQ(slurp(t.dev(nvme) + "/driver_override"), "(null)\n");
  r = t.irqd({"bind", "--force", "--force", nvme});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, StartsWith("0000:01:00.0: in use, taken anyway (--force): nvme0n1p2 is mounted on / (the root "
                                "filesystem)\n0000:01:00.0: driver_override = vfio-pci\n"));
}

TEST(BindCli, UnbindRefusesAHolderThatIsNotIrqdUntilForced) {
  FakeTree t;
  standard_tree(t);
  const std::string dev = "0000:00:06.0";
  t.add_holder(999, "qemu-system-x86", "/dev/vfio/6");
  auto r = t.irqd({"unbind", dev});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "irqd: error: irqd unbind: 0000:00:06.0 is held by pid 999 (qemu-system-x86) through /dev/vfio/6: the "
            "kernel's unbind would wait, unkillable (D state), until it lets go of the device; stop it, or use "
            "--force to wait for it\n");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers/vfio-pci/unbind")), "") << "nothing written";

  r = t.irqd({"unbind", "--force", dev});
  EXPECT_EQ(lines_of(r.out).at(0),
            "0000:00:06.0: held by pid 999 (qemu-system-x86) through /dev/vfio/6: not irqd; the unbind waits until "
            "it lets go (--force)");
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers/vfio-pci/unbind")), dev);
}

TEST(BindCli, UnbindHeldByIrqdGoesOnAndSaysWhy) {
  FakeTree t;
  standard_tree(t);
  t.add_holder(4242, "irqd", "/dev/vfio/6");
  auto r = t.irqd({"unbind", "0000:00:06.0"});
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 2U) << r.err;
  EXPECT_EQ(lines[0],
            "0000:00:06.0: held by pid 4242 (irqd) through /dev/vfio/6: irqd lets go when the kernel sends it the "
            "device request, which this unbind does");
  EXPECT_THAT(lines[1], StartsWith("0000:00:06.0: unbinding from vfio-pci"));
  EXPECT_EQ(slurp(t.sys("bus/pci/drivers/vfio-pci/unbind")), "0000:00:06.0");
}

// ---------------------------------------------------------------- formatting

TEST(DevicesFormat, BindOutcomeNamesTheMembersKeepingTheGroupFromVfio) {
  pci::BindReport r;
  r.bdf = "0000:01:00.0";
  r.iommu_group = 7;
  r.group_blockers = {{"0000:01:00.1", "snd_hda_intel"}, {"0000:01:00.2", "i801_smbus"}};
  EXPECT_THAT(format_bind_outcome(r),
              ::testing::ElementsAre("IOMMU group 7 is not viable yet: 0000:01:00.1 (snd_hda_intel), 0000:01:00.2 "
                                     "(i801_smbus) must be on vfio-pci or unbound too; irqd does not move them by "
                                     "itself (irqd bind 0000:01:00.1, irqd bind 0000:01:00.2)"));
  r.group_blockers.clear();
  EXPECT_THAT(format_bind_outcome(r), ::testing::ElementsAre("IOMMU group 7 is viable: `irqd serve --device "
                                                             "vfio:0000:01:00.0` can open 0000:01:00.0"));
}

TEST(DevicesFormat, EmptyBusIsTheHeaderAlone) {
  EXPECT_EQ(format_devices_table({}), "BDF  ID  CLASS  DRIVER  OVERRIDE  GROUP  NUMA  MSI-X  VFIO\n");
  EXPECT_EQ(format_devices_json({}, false), "{\n  \"devices\": [],\n  \"vfio_pci_loaded\": false\n}\n");
}

}  // namespace
}  // namespace irqd
