// SPDX-License-Identifier: GPL-2.0-only
//
// VfioDevice::open() errors on fake sysfs and /dev/vfio trees: each names
// the offending value and the fix. The real ioctls are tested in the VFIO
// lab (device/tests/vfio_lab/), inside a QEMU guest.

#include "device/vfio_device.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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
