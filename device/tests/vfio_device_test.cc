// SPDX-License-Identifier: GPL-2.0-only
//
// VfioDevice::open() errors on fake sysfs and /dev/vfio trees: each names
// the offending value and the fix. The real ioctls are tested in the VFIO
// lab (device/tests/vfio_lab/), inside a QEMU guest.

#include "device/vfio_device.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "device/pci_sysfs.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kBdf = "0000:00:01.0";

// A temp dir holding sys/ and dev/vfio/, shaped like the kernel's:
// sys/bus/pci/devices/BDF/{iommu_group,driver} are symlinks whose last
// component is what VfioDevice reads.
class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "irqd-vfio-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    paths_.sysfs = root_ + "/sys";
    paths_.dev_vfio = root_ + "/dev/vfio";
    fs::create_directories(paths_.sysfs + "/bus/pci/drivers/vfio-pci");
    fs::create_directories(paths_.sysfs + "/bus/pci/drivers/nvme");
    fs::create_directories(paths_.dev_vfio);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A PCI function; group < 0: no iommu_group link; driver "": unbound.
  void add_device(const std::string& bdf, int group, const std::string& driver) const {
    const std::string dev = paths_.sysfs + "/bus/pci/devices/" + bdf;
    fs::create_directories(dev);
    if (group >= 0) {
      const std::string gdir = paths_.sysfs + "/kernel/iommu_groups/" + std::to_string(group);
      fs::create_directories(gdir + "/devices");
      fs::create_symlink("../../../kernel/iommu_groups/" + std::to_string(group), dev + "/iommu_group");
      fs::create_symlink("../../../../bus/pci/devices/" + bdf, gdir + "/devices/" + bdf);
    }
    if (!driver.empty()) fs::create_symlink("../../../../bus/pci/drivers/" + driver, dev + "/driver");
  }
  static void touch(const std::string& path) { std::ofstream(path).put('\n'); }

  std::string open_error(const std::string& bdf = kBdf) {
    auto d = VfioDevice::open(bdf, paths_);
    EXPECT_FALSE(d.ok());
    return d.ok() ? "" : d.error().message;
  }

  std::string root_;
  VfioPaths paths_;
};

TEST_F(FakeTree, InvalidAddressNamesTheForm) {
  EXPECT_EQ(open_error("0000:00:01"),
            "invalid PCI address '0000:00:01' (expected DDDD:BB:DD.F or BB:DD.F, e.g. "
            "0000:00:01.0)");
  EXPECT_THAT(open_error("0000:00:01.8"), HasSubstr("invalid PCI address '0000:00:01.8'"));
  EXPECT_THAT(open_error("0000:0g:01.0"), HasSubstr("invalid PCI address"));
  EXPECT_THAT(open_error(""), HasSubstr("invalid PCI address ''"));
}

TEST_F(FakeTree, NormalizesShortAndUpperCaseAddresses) {
  EXPECT_EQ(*vfio::normalize_bdf("00:01.0"), "0000:00:01.0");
  EXPECT_EQ(*vfio::normalize_bdf("0000:AF:1F.7"), "0000:af:1f.7");
}

TEST_F(FakeTree, MissingDevice) {
  EXPECT_EQ(open_error(), "no PCI device 0000:00:01.0 (" + paths_.sysfs +
                              "/bus/pci/devices/0000:00:01.0 is missing; `lspci -D` lists the addresses)");
}

TEST_F(FakeTree, NoIommuGroupAsksForTheIommu) {
  add_device(kBdf, -1, "vfio-pci");
  const std::string e = open_error();
  EXPECT_THAT(e, HasSubstr("0000:00:01.0 has no IOMMU group"));
  EXPECT_THAT(e, HasSubstr("enable the IOMMU (intel_iommu=on / amd_iommu=on"));
}

TEST_F(FakeTree, BoundToAnotherDriverNamesItAndTheBindCommand) {
  add_device(kBdf, 5, "nvme");
  EXPECT_EQ(open_error(), "0000:00:01.0 is bound to nvme, not vfio-pci: bind it with `irqd bind 0000:00:01.0`");
}

// vfio-pci's variant drivers give the same VFIO device: the open goes on
// to the container (missing here) instead of refusing the driver.
TEST_F(FakeTree, VariantDriversAreVfioToo) {
  // Known by its module, a holder of vfio_pci_core, whatever its name.
  fs::create_directories(paths_.sysfs + "/bus/pci/drivers/acme_vf");
  fs::create_directories(paths_.sysfs + "/module/acme_vf");
  fs::create_directories(paths_.sysfs + "/module/vfio_pci_core/holders/acme_vf");
  fs::create_symlink("../../../../module/acme_vf", paths_.sysfs + "/bus/pci/drivers/acme_vf/module");
  add_device(kBdf, 5, "acme_vf");
  EXPECT_EQ(open_error(), paths_.dev_vfio + "/vfio is missing: load vfio-pci: modprobe vfio-pci");
  // Known by the kernel's naming convention (built in: no module link).
  fs::create_directories(paths_.sysfs + "/bus/pci/drivers/mlx5_vfio_pci");
  add_device("0000:00:02.0", 6, "mlx5_vfio_pci");
  EXPECT_EQ(open_error("0000:00:02.0"), paths_.dev_vfio + "/vfio is missing: load vfio-pci: modprobe vfio-pci");
  EXPECT_TRUE(pci::is_vfio_pci_driver(paths_.sysfs, "pds-vfio-pci"));
  // Neither: refused, named.
  EXPECT_FALSE(pci::is_vfio_pci_driver(paths_.sysfs, "nvme"));
  EXPECT_FALSE(pci::is_vfio_pci_driver(paths_.sysfs, "vfio"));
  EXPECT_FALSE(pci::is_vfio_pci_driver(paths_.sysfs, ""));
}

TEST_F(FakeTree, UnboundDevice) {
  add_device(kBdf, 5, "");
  EXPECT_EQ(open_error("00:01.0"),
            "0000:00:01.0 is not bound to any driver, not vfio-pci: bind it with `irqd bind 0000:00:01.0`");
}

TEST_F(FakeTree, VfioPciNotLoadedSaysModprobe) {
  fs::remove_all(paths_.sysfs + "/bus/pci/drivers/vfio-pci");
  add_device(kBdf, 5, "nvme");
  EXPECT_THAT(open_error(), HasSubstr("(vfio-pci is not loaded: modprobe vfio-pci)"));
}

TEST_F(FakeTree, MissingContainerNodeSaysModprobe) {
  add_device(kBdf, 5, "vfio-pci");
  EXPECT_EQ(open_error(), paths_.dev_vfio + "/vfio is missing: load vfio-pci: modprobe vfio-pci");
}

TEST_F(FakeTree, MissingGroupNode) {
  add_device(kBdf, 5, "vfio-pci");
  touch(paths_.dev_vfio + "/vfio");
  EXPECT_EQ(open_error(), paths_.dev_vfio +
                              "/5 is missing although 0000:00:01.0 is bound to vfio-pci (is devtmpfs "
                              "mounted on " +
                              root_ + "/dev?)");
}

TEST_F(FakeTree, NoIommuModeIsRefused) {
  add_device(kBdf, 5, "vfio-pci");
  touch(paths_.dev_vfio + "/vfio");
  touch(paths_.dev_vfio + "/noiommu-5");
  const std::string e = open_error();
  EXPECT_THAT(e, HasSubstr("0000:00:01.0 is in VFIO no-IOMMU mode (" + paths_.dev_vfio + "/noiommu-5)"));
  EXPECT_THAT(e, HasSubstr("enable the IOMMU"));
}

TEST_F(FakeTree, ContainerThatIsNoVfioNode) {
  add_device(kBdf, 5, "vfio-pci");
  touch(paths_.dev_vfio + "/vfio");
  touch(paths_.dev_vfio + "/5");
  EXPECT_EQ(open_error(),
            paths_.dev_vfio + "/vfio is not a VFIO container (VFIO_GET_API_VERSION: Inappropriate ioctl for device)");
}

TEST(VfioErrnoHint, BusyAndPermissionSayWhatToDo) {
  EXPECT_EQ(vfio::errno_hint(EBUSY, "/dev/vfio/5", kBdf),
            ": another process holds 0000:00:01.0 or its IOMMU group (find it with `fuser -v /dev/vfio/5`)");
  EXPECT_EQ(vfio::errno_hint(EACCES, "/dev/vfio/5", kBdf),
            ": run as root, or give this user /dev/vfio/5 (chown, or a udev rule)");
  EXPECT_EQ(vfio::errno_hint(EPERM, "/dev/vfio/5", kBdf), vfio::errno_hint(EACCES, "/dev/vfio/5", kBdf));
  EXPECT_EQ(vfio::errno_hint(EINVAL, "/dev/vfio/5", kBdf), "");
}

// vfio_iommu_type1_attach_group(): -EPERM when the IOMMU cannot remap
// interrupts and allow_unsafe_interrupts is off. Root does not help.
TEST(VfioSetIommuError, EpermIsInterruptRemappingNotRights) {
  const std::string e = vfio::set_iommu_error(kBdf, "/dev/vfio/vfio", EPERM).message;
  EXPECT_THAT(e, StartsWith("0000:00:01.0: VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU) failed: Operation not permitted: this "
                            "platform has no interrupt remapping"));
  EXPECT_THAT(e, HasSubstr("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("run as root")));
  EXPECT_EQ(vfio::set_iommu_error(kBdf, "/dev/vfio/vfio", ENODEV).message,
            "0000:00:01.0: VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU) failed: No such device");
}

TEST_F(FakeTree, GroupPeersNameTheirDrivers) {
  add_device(kBdf, 7, "vfio-pci");
  add_device("0000:00:1f.3", 7, "nvme");
  add_device("0000:00:1f.0", 7, "");
  add_device("0000:00:02.0", 8, "nvme");
  EXPECT_EQ(vfio::group_peers(paths_, 7, kBdf),
            (std::vector<std::string>{"0000:00:1f.0 (no driver)", "0000:00:1f.3 (nvme)"}));
  EXPECT_EQ(vfio::group_peers(paths_, 9, kBdf), std::vector<std::string>{});
  EXPECT_EQ(vfio::pci_driver(paths_, "0000:00:1f.3"), "nvme");
  EXPECT_EQ(vfio::pci_driver(paths_, "0000:00:1f.0"), "");
}

// ---- one Group per IOMMU group, shared through a GroupSet ----

std::set<std::string> open_fds() {
  std::set<std::string> fds;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) fds.insert(entry.path().filename().string());
  return fds;
}
bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// The fake tree's nodes are plain files: no ioctl answers there, so the
// set gets an opener that opens them as Group::open does (container, then
// group) and logs each open.
class SharedGroups : public FakeTree {
 protected:
  void SetUp() override {
    FakeTree::SetUp();
    add_device(kBdf, 5, "vfio-pci");
    add_device(kBdf1, 5, "vfio-pci");
    add_device(kOther, 6, "vfio-pci");
    for (const char* node : {"vfio", "5", "6"}) touch(paths_.dev_vfio + "/" + node);
  }
  vfio::GroupSet::Opener opener() {
    return [this](const VfioPaths& paths, int id, const std::string&) -> Result<std::unique_ptr<vfio::Group>> {
      UniqueFd container(::open((paths.dev_vfio + "/vfio").c_str(), O_RDONLY | O_CLOEXEC));
      opened_.push_back("vfio");
      const std::string node = paths.dev_vfio + "/" + std::to_string(id);
      UniqueFd group(::open(node.c_str(), O_RDONLY | O_CLOEXEC));
      opened_.push_back(std::to_string(id));
      if (!container.valid() || !group.valid()) return Error{"fake open of " + node + " failed"};
      return std::make_unique<vfio::Group>(id, node, std::move(container), std::move(group));
    };
  }
  static constexpr const char* kBdf1 = "0000:00:01.1";
  static constexpr const char* kOther = "0000:00:02.0";
  std::vector<std::string> opened_;
};

TEST_F(SharedGroups, TwoFunctionsOfOneGroupShareOneGroupFdUntilTheLastGoes) {
  const std::set<std::string> before = open_fds();
  vfio::GroupSet set(opener());
  auto a = set.acquire(paths_, 5, kBdf);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = set.acquire(paths_, 5, kBdf1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ((*a)->fd(), (*b)->fd());
  EXPECT_EQ((*a)->node(), paths_.dev_vfio + "/5");
  EXPECT_EQ(set.opens(), 1u);
  EXPECT_EQ(opened_, (std::vector<std::string>{"vfio", "5"}));
  EXPECT_EQ(open_fds().size(), before.size() + 2);  // one container, one group
  auto c = set.acquire(paths_, 6, kOther);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->get(), a->get());
  EXPECT_EQ(set.opens(), 2u);
  EXPECT_EQ(set.open_groups(), 2u);
  EXPECT_EQ(opened_, (std::vector<std::string>{"vfio", "5", "vfio", "6"}));
  EXPECT_EQ(open_fds().size(), before.size() + 4);

  const int group5 = (*a)->fd();
  const int container5 = (*a)->container_fd();
  a->reset();  // the first function closes: the group stays for the second
  EXPECT_TRUE(fd_open(group5));
  EXPECT_TRUE(fd_open(container5));
  EXPECT_EQ(set.open_groups(), 2u);
  b->reset();  // the last: group fd and container closed
  EXPECT_FALSE(fd_open(group5));
  EXPECT_FALSE(fd_open(container5));
  EXPECT_EQ(set.open_groups(), 1u);
  c->reset();
  EXPECT_EQ(set.open_groups(), 0u);
  EXPECT_EQ(open_fds(), before);
  // Closed means closed: the next function of group 5 opens it afresh.
  auto again = set.acquire(paths_, 5, kBdf1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(set.opens(), 3u);
  EXPECT_EQ(opened_.size(), 6u);
}

// VfioDevice::open goes through the set: with the group held by a first
// function, the second one's open uses that group fd (no second open of
// /dev/vfio/5, which the kernel would refuse with EBUSY) and gets as far as
// VFIO_GROUP_GET_DEVICE_FD, which a plain file cannot answer; failing, it
// unclaims the group and leaves it open for its holder.
TEST_F(SharedGroups, DeviceOpenUsesTheHeldGroupAndAFailedOpenLeavesItToItsHolder) {
  const std::set<std::string> before = open_fds();
  vfio::GroupSet set(opener());
  auto held = set.acquire(paths_, 5, kBdf);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE((*held)->claim(kBdf));
  auto second = VfioDevice::open(kBdf1, paths_, {}, &set);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "0000:00:01.1: VFIO_GROUP_GET_DEVICE_FD failed: Inappropriate ioctl for device");
  EXPECT_EQ(set.opens(), 1u);
  EXPECT_EQ(opened_, (std::vector<std::string>{"vfio", "5"}));
  EXPECT_EQ((*held)->devices(), std::vector<std::string>{kBdf});
  EXPECT_TRUE(fd_open((*held)->fd()));
  // The same function twice is refused before the kernel is asked.
  auto twice = VfioDevice::open(kBdf, paths_, {}, &set);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message,
            "0000:00:01.0 is open already in this process (IOMMU group 5): close that VfioDevice first");
  EXPECT_EQ((*held)->devices(), std::vector<std::string>{kBdf});
  held->reset();
  EXPECT_EQ(open_fds(), before);
  // With no holder, a failed open closes the group it opened.
  auto alone = VfioDevice::open(kOther, paths_, {}, &set);
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(set.opens(), 2u);
  EXPECT_EQ(set.open_groups(), 0u);
  EXPECT_EQ(open_fds(), before);
}

TEST_F(SharedGroups, AFailedGroupOpenIsNotKeptAndIsRetried) {
  vfio::GroupSet set(opener());
  fs::remove(paths_.dev_vfio + "/5");
  auto failed = set.acquire(paths_, 5, kBdf);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "fake open of " + paths_.dev_vfio + "/5 failed");
  EXPECT_EQ(set.opens(), 0u);
  EXPECT_EQ(set.open_groups(), 0u);
  touch(paths_.dev_vfio + "/5");
  auto ok = set.acquire(paths_, 5, kBdf);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(set.opens(), 1u);
  EXPECT_EQ(opened_, (std::vector<std::string>{"vfio", "5", "vfio", "5"}));
}

// The real opener on the fake tree fails where the old open did, with the
// same words, and keeps nothing.
TEST_F(SharedGroups, RealOpenerFailsAsBeforeAndKeepsNothing) {
  const std::set<std::string> before = open_fds();
  vfio::GroupSet set;
  auto d = VfioDevice::open(kBdf, paths_, {}, &set);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message,
            paths_.dev_vfio + "/vfio is not a VFIO container (VFIO_GET_API_VERSION: Inappropriate ioctl for device)");
  EXPECT_EQ(set.opens(), 0u);
  EXPECT_EQ(open_fds(), before);
}

TEST(VfioGroup, ClaimRefusesAFunctionTwice) {
  vfio::Group g(5, "/dev/vfio/5", UniqueFd(), UniqueFd());
  EXPECT_TRUE(g.claim("0000:00:01.0"));
  EXPECT_FALSE(g.claim("0000:00:01.0"));
  EXPECT_TRUE(g.claim("0000:00:01.1"));
  EXPECT_EQ(g.devices(), (std::vector<std::string>{"0000:00:01.0", "0000:00:01.1"}));
  g.unclaim("0000:00:01.0");
  EXPECT_EQ(g.devices(), std::vector<std::string>{"0000:00:01.1"});
  EXPECT_TRUE(g.claim("0000:00:01.0"));
}

// ---- map_bar: the MSI-X table's pages left out ----

using vfio::ByteRange;
using Ranges = std::vector<ByteRange>;
constexpr std::uint64_t kPage = 4096;

TEST(MappableRanges, WholeBarWithoutATableInIt) {
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, std::nullopt, kPage), (Ranges{{0, 0x4000}}));
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, ByteRange{0x2000, 0}, kPage), (Ranges{{0, 0x4000}}));
}

TEST(MappableRanges, TablePagesAreCutOut) {
  // 64 entries (1 KiB) at 0x2000 of a 16 KiB BAR: its page goes.
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, ByteRange{0x2000, 64 * 16}, kPage),
            (Ranges{{0, 0x2000}, {0x3000, 0x1000}}));
  // Unaligned and straddling a page boundary: both pages go.
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, ByteRange{0x1f00, 0x200}, kPage),
            (Ranges{{0, 0x1000}, {0x3000, 0x1000}}));
  // At the start, at the end.
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, ByteRange{0, 16}, kPage), (Ranges{{0x1000, 0x3000}}));
  EXPECT_EQ(vfio::mappable_ranges(0x4000, std::nullopt, ByteRange{0x3ff0, 16}, kPage), (Ranges{{0, 0x3000}}));
  // ivshmem's BAR1: table and PBA in one 4 KiB BAR, nothing left to map.
  EXPECT_EQ(vfio::mappable_ranges(0x1000, std::nullopt, ByteRange{0, 64 * 16}, kPage), Ranges{});
}

// Kernels before 4.16 offer the MSI-X BAR only as sparse areas around the
// table (VFIO_REGION_INFO_CAP_SPARSE_MMAP): only those are mapped, in
// order, clipped to the BAR, and the table is still cut out of them.
TEST(MappableRanges, OnlySparseAreasAreMapped) {
  const Ranges sparse{{0x3000, 0x1000}, {0, 0x2000}, {0x5000, 0x1000}, {0x3800, 0}};
  EXPECT_EQ(vfio::mappable_ranges(0x4000, sparse, std::nullopt, kPage), (Ranges{{0, 0x2000}, {0x3000, 0x1000}}));
  EXPECT_EQ(vfio::mappable_ranges(0x4000, sparse, ByteRange{0x1000, 16}, kPage),
            (Ranges{{0, 0x1000}, {0x3000, 0x1000}}));
  EXPECT_EQ(vfio::mappable_ranges(0x4000, Ranges{}, std::nullopt, kPage), Ranges{});
}

class MemfdBar : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)), kPage);
    fd_ = UniqueFd(::memfd_create("irqd-bar", MFD_CLOEXEC));
    ASSERT_TRUE(fd_.valid());
    std::vector<std::uint32_t> words(kSize / 4);
    for (std::size_t i = 0; i < words.size(); ++i) words[i] = 0xa0000000u + static_cast<std::uint32_t>(i * 4);
    ASSERT_EQ(::pwrite(fd_.get(), words.data(), kSize, 0), static_cast<ssize_t>(kSize));
  }
  static constexpr std::size_t kSize = 0x4000;
  UniqueFd fd_;
};

TEST_F(MemfdBar, HolesArePROTNONEAndTheAccessorsRefuseThem) {
  const Ranges ranges{{0, 0x2000}, {0x3000, 0x1000}};
  auto addr = vfio::map_ranges(fd_.get(), 0, kSize, PROT_READ | PROT_WRITE, ranges);
  ASSERT_TRUE(addr.ok()) << addr.error().message;
  BarMapping bar = BarMapping::adopt(*addr, kSize, 1, ranges);
  EXPECT_EQ(bar.size(), kSize);
  EXPECT_EQ(bar.mapped(), ranges);
  EXPECT_EQ(bar.holes(), (Ranges{{0x2000, 0x1000}}));
  EXPECT_EQ(bar.read32(0), 0xa0000000u);
  EXPECT_EQ(bar.read32(0x1ffc), 0xa0001ffcu);
  EXPECT_EQ(bar.read32(0x3000), 0xa0003000u);
  EXPECT_EQ(bar.refused(), 0u);
  EXPECT_TRUE(bar.accessible(0x1ffc, 4));
  EXPECT_FALSE(bar.accessible(0x1ffe, 4));  // runs into the hole
  EXPECT_FALSE(bar.accessible(0x2000, 4));
  EXPECT_FALSE(bar.accessible(0x3ffe, 4));  // runs past the end
  EXPECT_EQ(bar.read32(0x2000), 0xffffffffu);
  bar.write32(0x2ffc, 1);
  EXPECT_EQ(bar.read32(0x4000), 0xffffffffu);
  EXPECT_EQ(bar.refused(), 3u);
  // The file under the hole is untouched; a write outside lands.
  bar.write32(0x3004, 0x12345678u);
  std::uint32_t hole = 0, landed = 0;
  ASSERT_EQ(::pread(fd_.get(), &hole, 4, 0x2ffc), 4);
  ASSERT_EQ(::pread(fd_.get(), &landed, 4, 0x3004), 4);
  EXPECT_EQ(hole, 0xa0002ffcu);
  EXPECT_EQ(landed, 0x12345678u);
  // A stray access through the pointer faults instead of writing.
  volatile std::uint8_t* p = bar.data();
  EXPECT_DEATH(p[0x2000] = 1, "");
  EXPECT_DEATH((void)p[0x2fff], "");
  bar.reset();
  EXPECT_FALSE(bar.valid());
  EXPECT_EQ(bar.read32(0), 0xffffffffu);
}

TEST_F(MemfdBar, AFailedPartMapsNothingAndNamesTheBytes) {
  unsigned calls = 0;
  FaultHook second_mmap = [&calls](std::string_view call) { return call == "mmap" && ++calls == 2 ? ENOMEM : 0; };
  auto addr = vfio::map_ranges(fd_.get(), 0, kSize, PROT_READ, {{0, 0x1000}, {0x2000, 0x2000}}, second_mmap);
  ASSERT_FALSE(addr.ok());
  EXPECT_EQ(addr.error().message, "mmap of bytes 8192-16383 failed: " + errno_string(ENOMEM));
  EXPECT_EQ(calls, 2u);
}

TEST(BarMapping, EmptyMappingIsInvalidAndResetIsIdempotent) {
  BarMapping m;
  EXPECT_FALSE(m.valid());
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.data(), nullptr);
  m.reset();
  m.reset();
  EXPECT_FALSE(m.valid());
}

}  // namespace
}  // namespace irqd
