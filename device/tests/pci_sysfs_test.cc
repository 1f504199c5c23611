// SPDX-License-Identifier: GPL-2.0-only
//
// The sysfs side of `irqd devices`, `irqd bind` and `irqd unbind` on fake
// sysfs trees in a temp dir: regular files for the attributes and for
// driver_override, unbind and drivers_probe, symlinks for driver and
// iommu_group, a config file built here with a real capability list.
//
// A fake tree cannot react to writes, so bind and unbind get a FakeKernel as
// their writer: it records every write (path under the root, value), writes
// the file, and moves the driver link the way the kernel would (unbind
// removes it, drivers_probe creates it from driver_override or the
// device's own driver). Tests then assert exactly what was written, where,
// in which order, and what the tree looks like afterwards.
//
// The in-use checks read a fake /proc beside it (self/mountinfo, swaps,
// PID/comm, PID/fd links, PID/fdinfo) and a device's net/ and block
// directories, laid out as the kernel does for virtio-net, NVMe,
// virtio-blk and SCSI.

#include "device/pci_sysfs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace irqd::pci {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using State = MsixCount::State;

// ---------------------------------------------------------------- config space

// A type-0 config space whose capability list is PM (0x40) -> MSI (0x50) ->
// MSI-X (0x70) when msix_entries > 0, PM -> MSI otherwise. Message Control
// has the enable bit (15) set, which the table size must ignore.
std::vector<std::uint8_t> config_space(unsigned msix_entries, std::uint8_t header_type = 0, std::size_t len = 256) {
  std::vector<std::uint8_t> c(256, 0);
  c[0] = 0xf4;  // 1af4:1041
  c[1] = 0x1a;
  c[2] = 0x41;
  c[3] = 0x10;
  c[0x06] = 0x10;  // PCI_STATUS_CAP_LIST
  c[0x0e] = header_type;
  c[0x34] = 0x40;
  c[0x40] = 0x01;  // PM
  c[0x41] = 0x50;
  c[0x50] = 0x05;  // MSI
  c[0x51] = msix_entries > 0 ? 0x70 : 0x00;
  if (msix_entries > 0) {
    const unsigned flags = 0x8000U | (msix_entries - 1);
    c[0x70] = 0x11;
    c[0x71] = 0x00;
    c[0x72] = static_cast<std::uint8_t>(flags & 0xff);
    c[0x73] = static_cast<std::uint8_t>(flags >> 8);
  }
  c.resize(len);
  return c;
}

TEST(MsixFromConfig, ReadsTheTableSizeFromTheCapabilityList) {
  for (unsigned n : {1U, 3U, 64U, 2048U}) {
    const MsixCount m = msix_from_config(config_space(n));
    EXPECT_EQ(m.state, State::kCount) << n;
    EXPECT_EQ(m.count, n);
    EXPECT_EQ(format_msix(m), std::to_string(n));
  }
  // Extended config space (root, PCIe) reads the same.
  EXPECT_EQ(msix_from_config(config_space(17, 0, 4096)).count, 17U);
}

TEST(MsixFromConfig, NoCapabilityIsNone) {
  EXPECT_EQ(msix_from_config(config_space(0)).state, State::kNone);
  auto no_list = config_space(8);
  no_list[0x06] = 0;  // status without PCI_STATUS_CAP_LIST: the pointer means nothing
  EXPECT_EQ(msix_from_config(no_list).state, State::kNone);
  auto loop = config_space(0);
  loop[0x51] = 0x40;  // MSI -> PM -> MSI ...: the TTL ends it
  EXPECT_EQ(msix_from_config(loop).state, State::kNone);
  EXPECT_EQ(format_msix(msix_from_config(loop)), "none");
}

TEST(MsixFromConfig, OnlyTheHeaderReadableMeansNeedsRootNotZero) {
  // Non-root reads 64 bytes of config: the list starts at 0x40, past them.
  const MsixCount m = msix_from_config(config_space(64, 0, 64));
  EXPECT_EQ(m.state, State::kNeedsRoot);
  EXPECT_EQ(format_msix(m), "unknown (needs root)");
  // Shorter than the standard header is no config space at all.
  EXPECT_EQ(format_msix(msix_from_config(config_space(64, 0, 32))), "unknown");
}

// ---------------------------------------------------------------- BDFs

TEST(ParseBdf, AcceptsDomainBusDeviceFunctionInHex) {
  EXPECT_EQ(*parse_bdf("0000:00:03.0"), "0000:00:03.0");
  EXPECT_EQ(*parse_bdf("0000:AF:1F.7"), "0000:af:1f.7");
  for (const char* bad :
       {"", "00:03.0", "0000:00:03", "0000:00:20.0", "0000:00:03.8", "0000-00:03.0", "0000:0g:03.0", " 0000:00:03.0"}) {
    auto r = parse_bdf(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message, "malformed PCI address '" + std::string(bad) +
                                     "' (accepted: DDDD:BB:DD.F in hex, device 00-1f, function 0-7, e.g. "
                                     "0000:00:03.0; `irqd devices` lists them)");
  }
}

// ---------------------------------------------------------------- fake tree

struct DeviceSpec {
  std::string bdf;
  std::string vendor = "0x1af4";
  std::string device = "0x1041";
  std::string cls = "0x020000";
  std::string driver{};  // "": unbound
  int group = -1;        // -1: no iommu_group link
  int numa = -1;
  std::string override_text = "(null)";
  std::vector<std::uint8_t> config = config_space(3);
};

class FakeSysfs {
 public:
  FakeSysfs() {
    std::string templ = (fs::temp_directory_path() / "irqd-pci-test.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    base_ = templ;
    paths_.sysfs = base_ + "/sys";
    paths_.state_dir = base_ + "/run/irqd/bound";
    fs::create_directories(paths_.sysfs + "/bus/pci/devices");
    put(paths_.sysfs + "/bus/pci/drivers_probe", "");
    paths_.proc = base_ + "/proc";
    fs::create_directories(paths_.proc + "/self");
    set_mounts({"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"});
    set_swaps({});
  }

  // ---- in use: interfaces, block devices, /proc
  // An interface under the device (rel: "virtio0/net/eth0"); flags in hex.
  void add_net(const std::string& bdf, const std::string& rel, const std::string& flags) const {
    fs::create_directories(dev(bdf) + "/" + rel);
    put(dev(bdf) + "/" + rel + "/flags", flags + "\n");
  }
  // A disk or partition under the device (rel: "nvme/nvme0/nvme0n1"), with
  // its major:minor and the block devices stacked on it.
  void add_block(const std::string& bdf, const std::string& rel, const std::string& majmin,
                 const std::vector<std::string>& holders = {}) const {
    block_dir(dev(bdf) + "/" + rel, majmin, holders);
  }
  // A stacked device (dm-0, md0) under class/block.
  void add_class_block(const std::string& name, const std::string& majmin,
                       const std::vector<std::string>& holders = {}) const {
    block_dir(sys("class/block/" + name), majmin, holders);
  }
  void set_mounts(const std::vector<std::string>& lines) const {
    std::string text;
    for (const std::string& l : lines) text += l + "\n";
    put(paths_.proc + "/self/mountinfo", text);
  }
  void set_swaps(const std::vector<std::string>& files) const {
    std::string text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
    for (const std::string& f : files) text += f + "\t\t\t\tpartition\t8388604\t\t0\t\t-2\n";
    put(paths_.proc + "/swaps", text);
  }
  // A process with fd `fd` open on `target` (a /proc/PID/fd link).
  void add_process_fd(int pid, const std::string& comm, int fd, const std::string& target,
                      const std::string& fdinfo = "") const {
    const std::string dir = paths_.proc + "/" + std::to_string(pid);
    fs::create_directories(dir + "/fd");
    fs::create_directories(dir + "/fdinfo");
    put(dir + "/comm", comm + "\n");
    fs::create_symlink(target, dir + "/fd/" + std::to_string(fd));
    put(dir + "/fdinfo/" + std::to_string(fd), "pos:\t0\nflags:\t02000002\n" + fdinfo);
  }
  ~FakeSysfs() { fs::remove_all(base_); }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const PciPaths& paths() const { return paths_; }
  std::string sys(const std::string& rel) const { return paths_.sysfs + "/" + rel; }
  std::string dev(const std::string& bdf) const { return sys("bus/pci/devices/" + bdf); }

  void add_driver(const std::string& name) const {
    fs::create_directories(sys("bus/pci/drivers/" + name));
    put(sys("bus/pci/drivers/" + name + "/unbind"), "");
    put(sys("bus/pci/drivers/" + name + "/bind"), "");
  }

  void add_device(const DeviceSpec& d) const {
    const std::string dir = dev(d.bdf);
    fs::create_directories(dir);
    put(dir + "/vendor", d.vendor + "\n");
    put(dir + "/device", d.device + "\n");
    put(dir + "/class", d.cls + "\n");
    put(dir + "/numa_node", std::to_string(d.numa) + "\n");
    put(dir + "/driver_override", d.override_text + "\n");
    std::ofstream(dir + "/config", std::ios::binary)
        .write(reinterpret_cast<const char*>(d.config.data()), static_cast<std::streamsize>(d.config.size()));
    if (d.group >= 0) {
      const std::string g = std::to_string(d.group);
      fs::create_directories(sys("kernel/iommu_groups/" + g + "/devices"));
      fs::create_symlink("../../../../kernel/iommu_groups/" + g, dir + "/iommu_group");
      fs::create_symlink("../../../../../bus/pci/devices/" + d.bdf,
                         sys("kernel/iommu_groups/" + g + "/devices/" + d.bdf));
    }
    if (!d.driver.empty()) set_driver(d.bdf, d.driver);
  }

  void set_driver(const std::string& bdf, const std::string& driver) const {
    std::error_code ec;
    fs::remove(dev(bdf) + "/driver", ec);
    if (!driver.empty()) fs::create_symlink("../../../../bus/pci/drivers/" + driver, dev(bdf) + "/driver");
  }
  std::string driver(const std::string& bdf) const {
    std::error_code ec;
    return fs::read_symlink(dev(bdf) + "/driver", ec).filename().string();
  }

  static void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  static std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  std::string state(const std::string& bdf) const { return slurp(paths_.state_dir + "/" + bdf); }

 private:
  static void block_dir(const std::string& dir, const std::string& majmin, const std::vector<std::string>& holders) {
    fs::create_directories(dir + "/holders");
    put(dir + "/dev", majmin + "\n");
    for (const std::string& h : holders) fs::create_symlink("../../" + h, dir + "/holders/" + h);
  }

 public:
  bool has_state(const std::string& bdf) const { return fs::exists(paths_.state_dir + "/" + bdf); }

 private:
  std::string base_;
  PciPaths paths_;
};

// One sysfs write, with the path relative to the fake root.
struct Write {
  std::string path;
  std::string value;
  bool operator==(const Write&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Write& w) {
  std::string v;
  for (char c : w.value) v += c == '\n' ? std::string("\\n") : std::string(1, c);
  return os << "{" << w.path << " <- '" << v << "'}";
}

// Plays the kernel's part for one fake tree: see the file comment.
class FakeKernel {
 public:
  explicit FakeKernel(const FakeSysfs& sysfs) : sysfs_(sysfs) {}

  // The driver that drivers_probe binds when driver_override is clear ("":
  // none matches).
  std::map<std::string, std::string> native;
  // vfio-pci's probe fails (e.g. the device is on its deny list).
  bool vfio_refuses = false;
  // drivers/vfio-pci/unbind returns without releasing (a fake-only state:
  // the real write blocks until the VFIO user lets go).
  bool vfio_keeps = false;
  // path (relative) -> errno the write fails with.
  std::map<std::string, int> fail;

  std::vector<Write> writes;
  std::vector<std::string> log;

  SysfsIo io() {
    SysfsIo io;
    io.write = [this](const std::string& path, const std::string& value) { return write(path, value); };
    io.log = [this](const std::string& line) { log.push_back(line); };
    return io;
  }

 private:
  int write(const std::string& path, const std::string& value) {
    const std::string prefix = sysfs_.paths().sysfs + "/";
    EXPECT_TRUE(path.starts_with(prefix)) << path;
    const std::string rel = path.substr(prefix.size());
    writes.push_back({rel, value});
    if (auto it = fail.find(rel); it != fail.end()) return it->second;
    if (int err = write_sysfs(path, value); err != 0) return err;
    react(rel, value);
    return 0;
  }

  void react(const std::string& rel, const std::string& value) {
    if (rel.starts_with("bus/pci/drivers/") && rel.ends_with("/unbind")) {
      const std::string drv = rel.substr(16, rel.size() - 16 - 7);
      if (sysfs_.driver(value) == drv && !(drv == kVfioPci && vfio_keeps)) sysfs_.set_driver(value, "");
    } else if (rel == "bus/pci/drivers_probe" && sysfs_.driver(value).empty()) {
      std::string ovr = FakeSysfs::slurp(sysfs_.dev(value) + "/driver_override");
      while (!ovr.empty() && ovr.back() == '\n') ovr.pop_back();
      const std::string target = ovr.empty() ? native[value] : ovr;
      if (target == kVfioPci && vfio_refuses) return;
      sysfs_.set_driver(value, target);
    }
  }

  const FakeSysfs& sysfs_;
};

// ---------------------------------------------------------------- listing

class PciListing : public ::testing::Test {
 protected:
  FakeSysfs sysfs;
};

TEST_F(PciListing, ListsEveryFunctionWithExactFields) {
  sysfs.add_driver("virtio-pci");
  sysfs.add_driver("nvme");
  sysfs.add_driver("snd_hda_intel");
  sysfs.add_driver("pcieport");
  sysfs.add_driver(kVfioPci);
  sysfs.add_device({.bdf = "0000:00:03.0", .driver = "virtio-pci", .group = 3, .numa = 0, .config = config_space(3)});
  sysfs.add_device({.bdf = "0000:00:1c.0",
                    .vendor = "0x8086",
                    .device = "0xa33c",
                    .cls = "0x060400",
                    .driver = "pcieport",
                    .group = 7,
                    .numa = 1,
                    .config = config_space(0, 1)});
  sysfs.add_device({.bdf = "0000:01:00.0",
                    .vendor = "0x144d",
                    .device = "0xa808",
                    .cls = "0x010802",
                    .driver = "nvme",
                    .group = 7,
                    .numa = 1,
                    .config = config_space(33)});
  sysfs.add_device({.bdf = "0000:01:00.1", .cls = "0x040300", .driver = "snd_hda_intel", .group = 7, .numa = 1});
  sysfs.add_device({.bdf = "0000:02:00.0", .override_text = "vfio-pci", .config = config_space(64, 0, 64)});

  auto list = list_pci_functions(sysfs.paths().sysfs);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 5U);
  const PciFunction& nic = (*list)[0];
  EXPECT_EQ(nic.bdf, "0000:00:03.0");
  EXPECT_EQ(nic.vendor, "1af4");
  EXPECT_EQ(nic.device, "1041");
  EXPECT_EQ(nic.class_code, 0x020000U);
  EXPECT_EQ(nic.header_type, 0);
  EXPECT_EQ(nic.driver, "virtio-pci");
  EXPECT_EQ(nic.driver_override, "");
  EXPECT_EQ(nic.iommu_group, 3);
  EXPECT_EQ(nic.numa_node, 0);
  EXPECT_EQ(format_msix(nic.msix), "3");
  EXPECT_TRUE(nic.group_peers.empty());
  EXPECT_TRUE(nic.vfio_can_take());

  // The bridge: pcieport leaves group 7 viable, but a bridge is no endpoint.
  const PciFunction& bridge = (*list)[1];
  EXPECT_EQ(bridge.bdf, "0000:00:1c.0");
  EXPECT_EQ(bridge.header_type, 1);
  EXPECT_EQ(format_msix(bridge.msix), "none");
  ASSERT_EQ(bridge.vfio_blockers.size(), 2U);
  EXPECT_EQ(bridge.vfio_blockers[0].reason, "PCI bridge");
  EXPECT_EQ(bridge.vfio_blockers[0].fix,
            "vfio-pci takes only type-0 (endpoint) functions, not bridges (class 0x060400); bind the devices behind "
            "it instead");
  EXPECT_EQ(bridge.vfio_blockers[1].reason, "group 7 shared with 0000:01:00.0 (nvme), 0000:01:00.1 (snd_hda_intel)");

  // The NVMe drive shares group 7 with the bridge (fine) and an audio
  // function on snd_hda_intel (not fine): named, with the fix.
  const PciFunction& nvme = (*list)[2];
  EXPECT_EQ(nvme.vendor + ":" + nvme.device, "144d:a808");
  EXPECT_EQ(nvme.class_code, 0x010802U);
  EXPECT_EQ(nvme.numa_node, 1);
  EXPECT_EQ(format_msix(nvme.msix), "33");
  ASSERT_EQ(nvme.group_peers.size(), 2U);
  EXPECT_EQ(nvme.group_peers[0].bdf, "0000:00:1c.0");
  EXPECT_EQ(nvme.group_peers[0].driver, "pcieport");
  EXPECT_EQ(nvme.group_peers[1].bdf, "0000:01:00.1");
  EXPECT_EQ(nvme.group_peers[1].driver, "snd_hda_intel");
  ASSERT_EQ(nvme.vfio_blockers.size(), 1U);
  EXPECT_EQ(nvme.vfio_blockers[0].reason, "group 7 shared with 0000:01:00.1 (snd_hda_intel)");
  EXPECT_EQ(nvme.vfio_blockers[0].fix,
            "VFIO opens group 7 only when every member is on vfio-pci or unbound: irqd bind 0000:01:00.1");

  // Unbound, driver_override set, no IOMMU group, config cut at 64 bytes.
  const PciFunction& loose = (*list)[4];
  EXPECT_EQ(loose.bdf, "0000:02:00.0");
  EXPECT_EQ(loose.driver, "");
  EXPECT_EQ(loose.driver_override, "vfio-pci");
  EXPECT_EQ(loose.iommu_group, -1);
  EXPECT_EQ(loose.numa_node, -1);
  EXPECT_EQ(format_msix(loose.msix), "unknown (needs root)");
  ASSERT_EQ(loose.vfio_blockers.size(), 1U);
  EXPECT_EQ(loose.vfio_blockers[0].reason, "no IOMMU group");
  EXPECT_EQ(loose.vfio_blockers[0].fix,
            "turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line; a VM needs a vIOMMU)");
}

TEST_F(PciListing, VfioPciNotLoadedNamesModprobe) {
  sysfs.add_driver("virtio-pci");
  sysfs.add_device({.bdf = "0000:00:03.0", .driver = "virtio-pci", .group = 3});
  EXPECT_FALSE(vfio_pci_loaded(sysfs.paths().sysfs));
  auto fn = read_pci_function(sysfs.paths().sysfs, "0000:00:03.0");
  ASSERT_TRUE(fn.ok());
  ASSERT_EQ(fn->vfio_blockers.size(), 1U);
  EXPECT_EQ(fn->vfio_blockers[0].reason, "vfio-pci not loaded");
  EXPECT_EQ(fn->vfio_blockers[0].fix, "modprobe vfio-pci");
}

TEST_F(PciListing, GroupViableDriversAreNotBlockers) {
  for (const char* d : {"", "vfio-pci", "mlx5_vfio_pci", "pci-stub", "pcieport"})
    EXPECT_TRUE(driver_leaves_group_viable(d)) << d;
  for (const char* d : {"nvme", "virtio-pci", "snd_hda_intel", "ixgbe"}) EXPECT_FALSE(driver_leaves_group_viable(d));
}

TEST_F(PciListing, NoDevicesDirIsAnError) {
  auto list = list_pci_functions(sysfs.paths().sysfs + "/nowhere");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.error().message, HasSubstr("/nowhere/bus/pci/devices"));
  EXPECT_THAT(list.error().message, HasSubstr("is sysfs mounted on"));
}

TEST_F(PciListing, EmptyBusListsNothing) {
  auto list = list_pci_functions(sysfs.paths().sysfs);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

// ---------------------------------------------------------------- in use

class PciUsers : public ::testing::Test {
 protected:
  void SetUp() override { sysfs.add_device({.bdf = kDev, .driver = "nvme", .group = 5}); }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const DeviceUser& u : find_users(sysfs.paths(), kDev)) out.push_back(u.line);
    return out;
  }
  static constexpr const char* kDev = "0000:01:00.0";
  FakeSysfs sysfs;
};

TEST_F(PciUsers, AnUnusedDeviceHasNoUsers) {
  sysfs.add_net(kDev, "virtio0/net/eth1", "0x1002");  // down
  sysfs.add_block(kDev, "nvme/nvme0/nvme0n1", "259:0");
  EXPECT_TRUE(find_users(sysfs.paths(), kDev).empty());
}

TEST_F(PciUsers, InterfacesThatAreUp) {
  sysfs.add_net(kDev, "virtio0/net/eth0", "0x1003");
  sysfs.add_net(kDev, "virtio0/net/eth1", "0x1002");
  sysfs.add_net(kDev, "net/enp1s0", "0x1043");
  EXPECT_THAT(lines(), ElementsAre("enp1s0 is up", "eth0 is up"));
  const auto users = find_users(sysfs.paths(), kDev);
  ASSERT_EQ(users.size(), 2U);
  EXPECT_EQ(users[0].kind, DeviceUser::Kind::kInterfaceUp);
  EXPECT_EQ(users[0].name, "enp1s0");
  EXPECT_FALSE(users[0].root_fs);
}

TEST_F(PciUsers, NvmePartitionsMountedSwapAndHeld) {
  const std::string disk = "nvme/nvme0/nvme0n1";
  sysfs.add_block(kDev, disk, "259:0");
  sysfs.add_block(kDev, disk + "/nvme0n1p1", "259:1");
  sysfs.add_block(kDev, disk + "/nvme0n1p2", "259:2");
  sysfs.add_block(kDev, disk + "/nvme0n1p3", "259:3");
  sysfs.add_block(kDev, disk + "/nvme0n1p4", "259:4", {"dm-0"});
  sysfs.add_class_block("dm-0", "253:0");
  sysfs.set_mounts({
      "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw",  // by major:minor: the source says /dev/root
      "30 22 259:1 / /boot/efi rw shared:7 - vfat /dev/nvme0n1p1 rw",
      "31 22 253:0 / /home rw shared:8 - xfs /dev/mapper/vg-home rw",
      "32 22 259:1 / /mnt/my\\040efi rw shared:9 - vfat /dev/nvme0n1p1 rw",
  });
  sysfs.set_swaps({"/dev/nvme0n1p3"});
  EXPECT_THAT(lines(), ElementsAre("nvme0n1p1 is mounted on /boot/efi, /mnt/my efi",
                                   "nvme0n1p2 is mounted on / (the root filesystem)", "nvme0n1p3 is swap",
                                   "nvme0n1p4 is held by dm-0 (mounted on /home)"));
  const auto users = find_users(sysfs.paths(), kDev);
  ASSERT_EQ(users.size(), 4U);
  EXPECT_EQ(users[1].kind, DeviceUser::Kind::kMounted);
  EXPECT_TRUE(users[1].root_fs);
  EXPECT_EQ(users[2].kind, DeviceUser::Kind::kSwap);
  EXPECT_EQ(users[3].kind, DeviceUser::Kind::kHeld);
  EXPECT_FALSE(users[3].root_fs);
}

TEST_F(PciUsers, ScsiDiskDeepDownHoldingTheRootFilesystemThroughDm) {
  const std::string disk = "ata1/host0/target0:0:0/0:0:0:0/block/sda";
  sysfs.add_block(kDev, disk, "8:0");
  sysfs.add_block(kDev, disk + "/sda2", "8:2", {"md0"});
  sysfs.add_class_block("md0", "9:0", {"dm-1"});
  sysfs.add_class_block("dm-1", "253:1");
  sysfs.set_mounts({"22 1 253:1 / / rw - ext4 /dev/mapper/root rw"});
  EXPECT_THAT(lines(), ElementsAre("sda2 is held by md0 (held by dm-1 (mounted on /: the root filesystem))"));
  EXPECT_TRUE(find_users(sysfs.paths(), kDev).at(0).root_fs);
}

TEST_F(PciUsers, VirtioBlkMountedBySourceWhenTheDeviceNumberIsAnonymous) {
  // btrfs reports an anonymous 0:N in mountinfo: the source names the disk.
  sysfs.add_block(kDev, "virtio1/block/vda", "252:0");
  sysfs.set_mounts({"40 1 0:33 / /srv rw - btrfs /dev/vda rw"});
  EXPECT_THAT(lines(), ElementsAre("vda is mounted on /srv"));
}

TEST_F(PciUsers, SymlinksOutOfTheDeviceAreNotFollowed) {
  // Another device's disk, mounted on /, reached by a link from this one.
  sysfs.add_device({.bdf = "0000:02:00.0", .driver = "nvme", .group = 6});
  sysfs.add_block("0000:02:00.0", "nvme/nvme1/nvme1n1", "259:8");
  sysfs.set_mounts({"22 1 259:8 / / rw - ext4 /dev/nvme1n1 rw"});
  fs::create_symlink("../0000:02:00.0", sysfs.dev(kDev) + "/peer");
  EXPECT_TRUE(find_users(sysfs.paths(), kDev).empty());
  EXPECT_THAT(find_users(sysfs.paths(), "0000:02:00.0").at(0).line, "nvme1n1 is mounted on / (the root filesystem)");
}

TEST_F(PciUsers, UnreadableMountTableIsAUserToo) {
  sysfs.add_block(kDev, "virtio1/block/vda", "252:0");
  fs::remove(sysfs.paths().proc + "/self/mountinfo");
  fs::remove(sysfs.paths().proc + "/swaps");
  EXPECT_THAT(lines(), ElementsAre("whether vda is mounted is unknown: cannot read " + sysfs.paths().proc +
                                       "/self/mountinfo: No such file or directory",
                                   "whether vda is swap is unknown: cannot read " + sysfs.paths().proc +
                                       "/swaps: No such file or directory"));
}

// ---------------------------------------------------------------- bind / unbind

constexpr const char* kNic = "0000:00:03.0";

class PciBind : public ::testing::Test {
 protected:
  void SetUp() override {
    sysfs.add_driver("virtio-pci");
    sysfs.add_driver(kVfioPci);
    sysfs.add_device({.bdf = kNic, .driver = "virtio-pci", .group = 3});
    kernel.native[kNic] = "virtio-pci";
  }

  Result<BindReport> bind(const std::string& bdf = kNic) { return bind_to_vfio(bdf, sysfs.paths(), kernel.io()); }
  Result<UnbindReport> unbind(const std::string& bdf = kNic) {
    return unbind_from_vfio(bdf, sysfs.paths(), kernel.io());
  }
  std::string bind_error(const std::string& bdf = kNic) {
    auto r = bind(bdf);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message;
  }
  std::string unbind_error(const std::string& bdf = kNic) {
    auto r = unbind(bdf);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message;
  }

  FakeSysfs sysfs;
  FakeKernel kernel{sysfs};
};

constexpr const char* kOverride = "bus/pci/devices/0000:00:03.0/driver_override";

TEST_F(PciBind, BindWritesOverrideUnbindProbeInOrderAndRemembersTheDriver) {
  auto r = bind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(kernel.writes, ElementsAre(Write{kOverride, "vfio-pci"}, Write{"bus/pci/drivers/virtio-pci/unbind", kNic},
                                         Write{"bus/pci/drivers_probe", kNic}));
  EXPECT_EQ(sysfs.driver(kNic), "vfio-pci");
  EXPECT_EQ(sysfs.state(kNic), "driver=virtio-pci\n");
  EXPECT_EQ(FakeSysfs::slurp(sysfs.sys(kOverride)), "vfio-pci");
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->bdf, kNic);
  EXPECT_EQ(r->original_driver, "virtio-pci");
  EXPECT_EQ(r->iommu_group, 3);
  EXPECT_TRUE(r->group_blockers.empty());
  EXPECT_THAT(kernel.log,
              ElementsAre("0000:00:03.0: driver_override = vfio-pci", "0000:00:03.0: unbound from virtio-pci",
                          "0000:00:03.0: probed (" + sysfs.sys("bus/pci/drivers_probe") + ")",
                          "0000:00:03.0: now on vfio-pci (was virtio-pci)"));
}

TEST_F(PciBind, UnbindGivesItBackToTheOriginalDriver) {
  ASSERT_TRUE(bind().ok());
  kernel.writes.clear();
  kernel.log.clear();
  auto r = unbind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(kernel.writes, ElementsAre(Write{"bus/pci/drivers/vfio-pci/unbind", kNic}, Write{kOverride, "\n"},
                                         Write{"bus/pci/drivers_probe", kNic}));
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
  EXPECT_FALSE(sysfs.has_state(kNic));
  EXPECT_TRUE(r->was_on_vfio);
  EXPECT_TRUE(r->original_known);
  EXPECT_EQ(r->original_driver, "virtio-pci");
  EXPECT_EQ(r->driver, "virtio-pci");
  EXPECT_TRUE(r->changed);
  EXPECT_THAT(kernel.log, ElementsAre("0000:00:03.0: unbinding from vfio-pci (waits until its VFIO user lets go of it; "
                                      "`fuser -v /dev/vfio/3` names it)",
                                      "0000:00:03.0: unbound from vfio-pci", "0000:00:03.0: driver_override cleared",
                                      "0000:00:03.0: probed (" + sysfs.sys("bus/pci/drivers_probe") + ")",
                                      "0000:00:03.0: back on virtio-pci"));
}

TEST_F(PciBind, StateFileLetsAnotherProcessUnbind) {
  ASSERT_TRUE(bind().ok());
  // A second FakeKernel: nothing carried over in memory, only the state dir.
  FakeKernel other(sysfs);
  other.native[kNic] = "virtio-pci";
  auto r = unbind_from_vfio(kNic, sysfs.paths(), other.io());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->original_driver, "virtio-pci");
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
  EXPECT_EQ(other.writes.back(), (Write{"bus/pci/drivers_probe", kNic}));
}

TEST_F(PciBind, UnboundDeviceSkipsTheDriverUnbind) {
  sysfs.set_driver(kNic, "");
  auto r = bind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(kernel.writes, ElementsAre(Write{kOverride, "vfio-pci"}, Write{"bus/pci/drivers_probe", kNic}));
  EXPECT_EQ(sysfs.state(kNic), "driver=\n");
  EXPECT_EQ(kernel.log.back(), "0000:00:03.0: now on vfio-pci (was none)");
  // And unbind leaves it unbound again: no probe.
  kernel.writes.clear();
  auto u = unbind();
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_THAT(kernel.writes, ElementsAre(Write{"bus/pci/drivers/vfio-pci/unbind", kNic}, Write{kOverride, "\n"}));
  EXPECT_EQ(sysfs.driver(kNic), "");
  EXPECT_EQ(kernel.log.back(), "0000:00:03.0: left unbound, as it was before irqd bind");
  EXPECT_FALSE(sysfs.has_state(kNic));
}

TEST_F(PciBind, AlreadyOnVfioPciIsANoOpThatSaysSo) {
  sysfs.set_driver(kNic, kVfioPci);
  auto r = bind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->original_driver, "vfio-pci");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_FALSE(sysfs.has_state(kNic));
  EXPECT_THAT(kernel.log, ElementsAre("0000:00:03.0 is already on vfio-pci: nothing to do"));
}

// A variant driver (mlx5_vfio_pci, ...) already gives VFIO the device:
// replacing it with plain vfio-pci would lose what the variant adds.
TEST_F(PciBind, AlreadyOnAVariantDriverIsANoOpThatSaysSo) {
  sysfs.add_driver("mlx5_vfio_pci");
  sysfs.set_driver(kNic, "mlx5_vfio_pci");
  auto r = bind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->original_driver, "mlx5_vfio_pci");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_FALSE(sysfs.has_state(kNic));
  EXPECT_THAT(kernel.log,
              ElementsAre("0000:00:03.0 is already on mlx5_vfio_pci, a vfio-pci variant driver: nothing to do"));
}

TEST_F(PciBind, GroupPeersAreReportedNeverMoved) {
  sysfs.add_driver("snd_hda_intel");
  sysfs.add_device({.bdf = "0000:00:03.1", .driver = "snd_hda_intel", .group = 3});
  sysfs.add_device({.bdf = "0000:00:03.2", .group = 3});  // unbound: fine
  kernel.native["0000:00:03.1"] = "snd_hda_intel";
  auto r = bind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->group_blockers.size(), 1U);
  EXPECT_EQ(r->group_blockers[0].bdf, "0000:00:03.1");
  EXPECT_EQ(r->group_blockers[0].driver, "snd_hda_intel");
  for (const Write& w : kernel.writes) EXPECT_EQ(w.path.find("0000:00:03.1"), std::string::npos) << w;
  for (const Write& w : kernel.writes) EXPECT_NE(w.value, "0000:00:03.1") << w;
  EXPECT_EQ(sysfs.driver("0000:00:03.1"), "snd_hda_intel");
}

TEST_F(PciBind, VfioPciRefusingIsUndone) {
  kernel.vfio_refuses = true;
  EXPECT_EQ(bind_error(),
            "vfio-pci did not take 0000:00:03.0: its driver is none after driver_override and drivers_probe (`dmesg` "
            "says why); undone: driver_override cleared, driver now virtio-pci");
  EXPECT_THAT(kernel.writes, ElementsAre(Write{kOverride, "vfio-pci"}, Write{"bus/pci/drivers/virtio-pci/unbind", kNic},
                                         Write{"bus/pci/drivers_probe", kNic}, Write{kOverride, "\n"},
                                         Write{"bus/pci/drivers_probe", kNic}));
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
  EXPECT_FALSE(sysfs.has_state(kNic));
}

TEST_F(PciBind, DriverThatDidNotChangeIsAClearError) {
  // What a tree that does not react looks like: the link never moves.
  FakeKernel inert(sysfs);
  SysfsIo io = inert.io();
  io.write = [](const std::string& path, const std::string& value) { return write_sysfs(path, value); };
  auto r = bind_to_vfio(kNic, sysfs.paths(), io);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "vfio-pci did not take 0000:00:03.0: its driver is virtio-pci after driver_override and drivers_probe "
            "(`dmesg` says why); undone: driver_override cleared, driver now virtio-pci");
  // The files hold the last thing written to each.
  EXPECT_EQ(FakeSysfs::slurp(sysfs.sys(kOverride)), "\n");
  EXPECT_EQ(FakeSysfs::slurp(sysfs.sys("bus/pci/drivers/virtio-pci/unbind")), kNic);
  EXPECT_EQ(FakeSysfs::slurp(sysfs.sys("bus/pci/drivers_probe")), kNic);
  EXPECT_FALSE(sysfs.has_state(kNic));
}

TEST_F(PciBind, NotRootSaysRunAsRootAndChangesNothing) {
  kernel.fail[kOverride] = EACCES;
  EXPECT_EQ(bind_error(), "writing 'vfio-pci' to " + sysfs.sys(kOverride) + " failed: Permission denied: run as root");
  EXPECT_THAT(kernel.writes, ElementsAre(Write{kOverride, "vfio-pci"}));
  EXPECT_FALSE(sysfs.has_state(kNic));
  EXPECT_TRUE(kernel.log.empty());
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
}

TEST_F(PciBind, PreflightCatchesUnwritableFilesBeforeAnyWrite) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes any file; the EACCES path is covered by the injected errno";
  ASSERT_EQ(::chmod(sysfs.sys(kOverride).c_str(), 0444), 0);
  EXPECT_EQ(bind_error(), "cannot write " + sysfs.sys(kOverride) + ": Permission denied: run as root");
  EXPECT_TRUE(kernel.writes.empty());
}

TEST_F(PciBind, BusyDeviceSaysSo) {
  kernel.fail["bus/pci/drivers/virtio-pci/unbind"] = EBUSY;
  EXPECT_EQ(bind_error(),
            "writing '0000:00:03.0' to " + sysfs.sys("bus/pci/drivers/virtio-pci/unbind") +
                " failed: Device or resource busy: 0000:00:03.0 is busy (another process or driver holds it); try "
                "again once it is released; undone: driver_override cleared, driver now virtio-pci");
  EXPECT_THAT(kernel.writes, ElementsAre(Write{kOverride, "vfio-pci"}, Write{"bus/pci/drivers/virtio-pci/unbind", kNic},
                                         Write{kOverride, "\n"}));
}

TEST_F(PciBind, BindErrorsNameTheFixAndWriteNothing) {
  EXPECT_THAT(bind_error("0000:00:03"), HasSubstr("malformed PCI address '0000:00:03' (accepted: DDDD:BB:DD.F"));
  EXPECT_EQ(bind_error("0000:00:09.0"),
            "no PCI device 0000:00:09.0 (no " + sysfs.dev("0000:00:09.0") + "; `irqd devices` lists the devices)");
  sysfs.add_device({.bdf = "0000:00:04.0", .driver = "virtio-pci"});
  EXPECT_EQ(bind_error("0000:00:04.0"),
            "0000:00:04.0 has no IOMMU group, so vfio-pci cannot take it: turn the IOMMU on (intel_iommu=on or "
            "amd_iommu=on on the kernel command line; a VM needs a vIOMMU)");
  sysfs.add_device({.bdf = "0000:00:1c.0", .cls = "0x060400", .group = 9, .config = config_space(0, 1)});
  EXPECT_EQ(bind_error("0000:00:1c.0"),
            "0000:00:1c.0 is a PCI bridge: vfio-pci takes only type-0 (endpoint) functions, not bridges (class "
            "0x060400); bind the devices behind it instead");
  fs::remove_all(sysfs.sys("bus/pci/drivers/vfio-pci"));
  EXPECT_EQ(bind_error(), "vfio-pci is not loaded (no " + sysfs.sys("bus/pci/drivers/vfio-pci") +
                              "): load it with `modprobe vfio-pci`");
  // Every reason at once: modprobe alone would not help this one.
  EXPECT_EQ(bind_error("0000:00:04.0"),
            "0000:00:04.0 has no IOMMU group, so vfio-pci cannot take it: turn the IOMMU on (intel_iommu=on or "
            "amd_iommu=on on the kernel command line; a VM needs a vIOMMU); vfio-pci is not loaded (no " +
                sysfs.sys("bus/pci/drivers/vfio-pci") + "): load it with `modprobe vfio-pci`");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_FALSE(sysfs.has_state(kNic));
}

// The state directory is where irqd unbind learns which driver to give
// the device back to: one planted as a link (or writable by others) is
// refused before the first write to sysfs.
TEST_F(PciBind, AStateDirectoryPlantedAsALinkIsRefusedBeforeAnyWrite) {
  const std::string state_dir = sysfs.paths().state_dir;
  fs::create_directories(state_dir + "-elsewhere");
  fs::create_directories(fs::path(state_dir).parent_path());
  fs::create_directory_symlink(state_dir + "-elsewhere", state_dir);
  EXPECT_EQ(bind_error(), state_dir +
                              " is a symbolic link: a state directory must be a real directory (it keeps the "
                              "original driver for irqd unbind)");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_TRUE(fs::is_empty(state_dir + "-elsewhere"));
}

TEST_F(PciBind, UnbindWithoutStateFileLeavesItUnbound) {
  sysfs.set_driver(kNic, kVfioPci);
  FakeSysfs::put(sysfs.sys(kOverride), "vfio-pci\n");
  auto r = unbind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->original_known);
  EXPECT_EQ(r->driver, "");
  EXPECT_THAT(kernel.writes, ElementsAre(Write{"bus/pci/drivers/vfio-pci/unbind", kNic}, Write{kOverride, "\n"}));
  EXPECT_EQ(kernel.log.back(), "0000:00:03.0: left unbound: its original driver is unknown (irqd did not bind it: no " +
                                   sysfs.paths().state_dir +
                                   "/0000:00:03.0); `echo 0000:00:03.0 > /sys/bus/pci/drivers_probe` lets the kernel "
                                   "choose one");
}

TEST_F(PciBind, UnbindOfADeviceNotOnVfioPciIsANoOp) {
  FakeSysfs::put(sysfs.sys(kOverride), "pci-stub\n");  // someone else's: left alone
  auto r = unbind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->changed);
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_THAT(kernel.log, ElementsAre("0000:00:03.0 is not on vfio-pci (driver virtio-pci): nothing to undo"));
}

TEST_F(PciBind, UnbindThatDoesNotReleaseIsAnError) {
  ASSERT_TRUE(bind().ok());
  kernel.vfio_keeps = true;
  EXPECT_EQ(unbind_error(), "0000:00:03.0 is still on vfio-pci after writing it to " +
                                sysfs.sys("bus/pci/drivers/vfio-pci/unbind") + " (`dmesg` says why)");
  // Still remembered, so a second unbind can finish the job.
  EXPECT_EQ(sysfs.state(kNic), "driver=virtio-pci\n");
  kernel.vfio_keeps = false;
  ASSERT_TRUE(unbind().ok());
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
}

TEST_F(PciBind, UnbindWhenTheOriginalDriverDoesNotComeBack) {
  ASSERT_TRUE(bind().ok());
  kernel.native[kNic] = "";
  EXPECT_EQ(unbind_error(),
            "virtio-pci did not take 0000:00:03.0 back: its driver is none after drivers_probe (is it loaded? "
            "`modprobe virtio-pci`; `dmesg` says why)");
}

TEST_F(PciBind, MalformedStateFileIsNamed) {
  sysfs.set_driver(kNic, kVfioPci);
  fs::create_directories(sysfs.paths().state_dir);
  FakeSysfs::put(sysfs.paths().state_dir + "/" + kNic, "virtio-pci\n");
  EXPECT_EQ(unbind_error(), sysfs.paths().state_dir +
                                "/0000:00:03.0 is malformed (expected one line driver=NAME): remove it, and "
                                "0000:00:03.0 is then treated as not bound by irqd");
  EXPECT_TRUE(kernel.writes.empty());
}

// ---------------------------------------------------------------- bind / unbind: in use

TEST_F(PciBind, BindRefusesADeviceInUseNamingEveryUserAndWritesNothing) {
  sysfs.add_net(kNic, "virtio0/net/eth0", "0x1003");
  sysfs.add_block(kNic, "virtio0/block/vdb", "252:16");
  sysfs.set_mounts({"22 1 8:1 / / rw - ext4 /dev/sda1 rw", "50 22 252:16 / /data rw - ext4 /dev/vdb rw"});
  EXPECT_EQ(bind_error(),
            "0000:00:03.0 is in use: eth0 is up; vdb is mounted on /data: its driver's unbind takes "
            "these away; stop them, or use --force");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_TRUE(kernel.log.empty());
  EXPECT_FALSE(sysfs.has_state(kNic));
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
}

TEST_F(PciBind, ForcedBindTakesItAndSaysWhatItTookFirst) {
  sysfs.add_net(kNic, "virtio0/net/eth0", "0x1003");
  auto r = bind_to_vfio(kNic, sysfs.paths(), kernel.io(), {.force = 1});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(sysfs.driver(kNic), "vfio-pci");
  ASSERT_GE(kernel.log.size(), 2U);
  EXPECT_EQ(kernel.log[0], "0000:00:03.0: in use, taken anyway (--force): eth0 is up");
  EXPECT_EQ(kernel.log[1], "0000:00:03.0: driver_override = vfio-pci");
}

TEST_F(PciBind, TheRootFilesystemTakesForceTwice) {
  sysfs.add_block(kNic, "virtio0/block/vda", "252:0");
  sysfs.add_block(kNic, "virtio0/block/vda/vda1", "252:1");
  sysfs.set_mounts({"22 1 252:1 / / rw - ext4 /dev/vda1 rw"});
  EXPECT_EQ(bind_error(),
            "0000:00:03.0 is in use: vda1 is mounted on / (the root filesystem): its driver's unbind "
            "takes these away; stop them, or use --force twice (it holds the root filesystem)");
  auto once = bind_to_vfio(kNic, sysfs.paths(), kernel.io(), {.force = 1});
  ASSERT_FALSE(once.ok());
  EXPECT_EQ(once.error().message,
            "0000:00:03.0 holds the root filesystem: vda1 is mounted on / (the root filesystem): binding it to "
            "vfio-pci takes / away from this machine, so one --force is not enough (--force --force, if that is what "
            "you mean)");
  EXPECT_TRUE(kernel.writes.empty());
  auto twice = bind_to_vfio(kNic, sysfs.paths(), kernel.io(), {.force = 2});
  ASSERT_TRUE(twice.ok()) << twice.error().message;
  EXPECT_EQ(kernel.log.at(0),
            "0000:00:03.0: in use, taken anyway (--force): vda1 is mounted on / (the root filesystem)");
}

TEST_F(PciBind, UnbindNamesIrqdHoldingTheGroupAndGoesOn) {
  ASSERT_TRUE(bind().ok());
  kernel.writes.clear();
  kernel.log.clear();
  sysfs.add_process_fd(4242, "irqd", 9, "/dev/vfio/3");
  sysfs.add_process_fd(77, "bash", 1, "/dev/pts/0");
  auto r = unbind();
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_GE(kernel.log.size(), 2U);
  EXPECT_EQ(kernel.log[0],
            "0000:00:03.0: held by pid 4242 (irqd) through /dev/vfio/3: irqd lets go when the kernel sends it the "
            "device request, which this unbind does");
  EXPECT_THAT(kernel.log[1], HasSubstr("unbinding from vfio-pci"));
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
}

TEST_F(PciBind, UnbindRefusesAHolderThatIsNotIrqdUnlessForced) {
  ASSERT_TRUE(bind().ok());
  kernel.writes.clear();
  kernel.log.clear();
  sysfs.add_process_fd(4242, "irqd", 9, "/dev/vfio/3");
  sysfs.add_process_fd(999, "qemu-system-x86", 31, "/dev/vfio/3");
  EXPECT_EQ(unbind_error(),
            "0000:00:03.0 is held by pid 999 (qemu-system-x86) through /dev/vfio/3: the kernel's unbind would wait, "
            "unkillable (D state), until it lets go of the device; stop it, or use --force to wait for it");
  EXPECT_TRUE(kernel.writes.empty());
  EXPECT_TRUE(kernel.log.empty());
  EXPECT_EQ(sysfs.driver(kNic), "vfio-pci");
  EXPECT_TRUE(sysfs.has_state(kNic));

  auto r = unbind_from_vfio(kNic, sysfs.paths(), kernel.io(), {.force = true});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_GE(kernel.log.size(), 2U);
  EXPECT_EQ(kernel.log[0],
            "0000:00:03.0: held by pid 999 (qemu-system-x86) through /dev/vfio/3: not irqd; the unbind waits until it "
            "lets go (--force)");
  EXPECT_EQ(sysfs.driver(kNic), "virtio-pci");
}

TEST_F(PciBind, HoldersThroughTheCdevAndADeviceFdAreFound) {
  fs::create_directories(sysfs.dev(kNic) + "/vfio-dev/vfio0");
  sysfs.add_process_fd(300, "spdk_tgt", 4, "/dev/vfio/devices/vfio0");
  sysfs.add_process_fd(301, "dpdk-testpmd", 5, "anon_inode:[vfio-device]",
                       "vfio-device-syspath: /sys/devices/pci0000:00/0000:00:03.0\n");
  sysfs.add_process_fd(302, "other", 5, "anon_inode:[vfio-device]",
                       "vfio-device-syspath: /sys/devices/pci0000:00/0000:00:04.0\n");
  sysfs.add_process_fd(303, "other", 6, "/dev/vfio/4");
  const auto holders = find_vfio_holders(sysfs.paths(), kNic, 3);
  ASSERT_EQ(holders.size(), 2U);
  EXPECT_EQ(holders[0].pid, 300);
  EXPECT_EQ(holders[0].comm, "spdk_tgt");
  EXPECT_EQ(holders[0].file, "/dev/vfio/devices/vfio0");
  EXPECT_EQ(holders[1].pid, 301);
  EXPECT_EQ(holders[1].file, "a VFIO device fd");
  EXPECT_FALSE(holders[1].is_irqd());
}

}  // namespace
}  // namespace irqd::pci
