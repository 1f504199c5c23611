// SPDX-License-Identifier: GPL-2.0-only
//
// VfioDevice against the real kernel: runs INSIDE the VFIO lab guest
// (run.sh), on an ivshmem-doorbell device bound to vfio-pci behind an
// emulated Intel IOMMU. $VFIO_LAB_BDF names the device, $VFIO_LAB_VECTORS
// its MSI-X table size.
//
// The device rings its own MSI-X vectors: writing (IVPosition << 16) | V to
// the Doorbell register (BAR0 + 12) makes QEMU raise vector V. Fires of one
// vector that are not waited for coalesce (QEMU reads its eventfd counter
// and raises the MSI once), so every check fires one and waits for it.
//
// The cases share one device and run in file order; the unbind case is
// last because it unbinds and rebinds it.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/fault.h"
#include "base/unique_fd.h"
#include "device/tests/vfio_lab/guest_kernel.h"
#include "device/vfio_device.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::size_t kIvPosition = 8;  // BAR0 registers of ivshmem
constexpr std::size_t kDoorbell = 12;
// How long one fire may take to arrive under TCG (observed: 0.1-3 ms).
// Only a bound on waiting: no case measures time.
constexpr int kArriveMs = 5000;
// How long a fire that must NOT arrive is given to show up anyway.
constexpr int kQuietMs = 300;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): no thread sets the environment
  return v != nullptr ? v : fallback;
}
const std::string& lab_bdf() {
  static const std::string bdf = env_or("VFIO_LAB_BDF", "");
  return bdf;
}
unsigned lab_vectors() { return static_cast<unsigned>(std::stoul(env_or("VFIO_LAB_VECTORS", "64"))); }

std::vector<UniqueFd> make_eventfds(unsigned n) {
  std::vector<UniqueFd> fds;
  for (unsigned i = 0; i < n; i++) fds.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  return fds;
}
std::vector<int> raw(const std::vector<UniqueFd>& fds, unsigned from = 0, unsigned n = ~0u) {
  std::vector<int> out;
  for (unsigned i = from; i < fds.size() && out.size() < n; i++) out.push_back(fds[i].get());
  return out;
}

// What the eventfd holds now (0: nothing), without blocking.
std::uint64_t drain(int fd) {
  std::uint64_t c = 0;
  return ::read(fd, &c, sizeof c) == static_cast<ssize_t>(sizeof c) ? c : 0;
}
// Waits up to ms for the eventfd, then reads it (0: nothing came).
std::uint64_t wait_read(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return 0;
  return drain(fd);
}

// Lines of /proc/interrupts that are this device's vfio-msix vectors.
unsigned proc_interrupt_lines(const std::string& bdf) {
  std::ifstream in("/proc/interrupts");
  unsigned n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find("vfio-msix[") != std::string::npos && line.find("(" + bdf + ")") != std::string::npos) n++;
  return n;
}

std::string driver_of(const std::string& bdf) {
  std::error_code ec;
  return fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/driver", ec).filename().string();
}

// An observation worth seeing in the log, never asserted on.
void note(const std::string& text) {
  (void)std::printf("vfio-lab: note: %s\n", text.c_str());
  (void)std::fflush(stdout);
}
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

class VfioLab : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(lab_bdf().empty()) << "no $VFIO_LAB_BDF: this program runs inside the VFIO lab guest "
                                       "(device/tests/vfio_lab/run.sh)";
    auto d = VfioDevice::open(lab_bdf());
    ASSERT_TRUE(d.ok()) << d.error().message;
    dev_ = std::move(d.value());
    auto bar = dev_->map_bar(0);
    ASSERT_TRUE(bar.ok()) << bar.error().message;
    bar0_ = std::move(bar.value());
    ivpos_ = bar0_.read32(kIvPosition);
  }

  void fire(unsigned vector) { bar0_.write32(kDoorbell, (ivpos_ << 16) | vector); }

  // Fires `vector` once and waits for exactly that fire on expected_fd.
  void expect_fire_lands(unsigned vector, int expected_fd) {
    fire(vector);
    EXPECT_EQ(wait_read(expected_fd, kArriveMs), 1u) << "vector " << vector;
  }

  std::unique_ptr<VfioDevice> dev_;
  BarMapping bar0_;
  std::uint32_t ivpos_ = 0;
};

TEST_F(VfioLab, OpenReportsTheFunctionAsTheKernelSeesIt) {
  const std::string& bdf = lab_bdf();
  EXPECT_EQ(dev_->name(), bdf);
  EXPECT_STREQ(dev_->backend(), "vfio");
  EXPECT_EQ(dev_->msix_count(), lab_vectors());
  // Linux 6.1 vfio-pci: MSI-X cannot grow once enabled; 6.5 on: it can.
  const bool dynamic = guest_has_dynamic_msix();
  EXPECT_EQ(dev_->msix_info().flags, dynamic ? VFIO_IRQ_INFO_EVENTFD : VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
  EXPECT_EQ(dev_->msix_can_grow(), dynamic);
  EXPECT_EQ(dev_->req_info().count, 1u);
  EXPECT_GE(dev_->request_fd(), 0);
  EXPECT_EQ(dev_->device_info().flags & VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_PCI);
  EXPECT_EQ(dev_->device_info().num_irqs, static_cast<unsigned>(VFIO_PCI_NUM_IRQS));
  EXPECT_EQ(dev_->device_info().num_regions, static_cast<unsigned>(VFIO_PCI_NUM_REGIONS));
  std::error_code ec;
  EXPECT_EQ(std::to_string(dev_->iommu_group()),
            fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/iommu_group", ec).filename().string());
  EXPECT_EQ(dev_->msix_enabled(), 0u);
  // Every fd the device holds is close-on-exec.
  EXPECT_TRUE((::fcntl(dev_->device_fd(), F_GETFD) & FD_CLOEXEC) != 0);
  EXPECT_TRUE((::fcntl(dev_->request_fd(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_F(VfioLab, ConfigSpaceAndBusMaster) {
  EXPECT_EQ(*dev_->config_read(0x00, 2), 0x1af4u);  // PCI_VENDOR_ID
  EXPECT_EQ(*dev_->config_read(0x02, 2), 0x1110u);  // PCI_DEVICE_ID
  EXPECT_EQ(*dev_->config_read(0x00, 4), 0x11101af4u);
  // open() sets Bus Master (no MSI-X without it) and Memory Space.
  EXPECT_EQ(*dev_->config_read(0x04, 2) & 0x6u, 0x6u);
  auto bad = dev_->config_read(0x04, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("width 3 (1, 2 or 4)"));
  EXPECT_FALSE(dev_->config_read(4096, 4).ok());
}

TEST_F(VfioLab, BarsMapAsTheRegionsAllow) {
  auto r0 = dev_->region_info(VFIO_PCI_BAR0_REGION_INDEX);
  ASSERT_TRUE(r0.ok());
  EXPECT_EQ(r0->size, 256u);
  EXPECT_EQ(r0->flags & 0x7u, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP);
  EXPECT_TRUE(bar0_.valid());
  EXPECT_EQ(bar0_.size(), 256u);
  EXPECT_EQ(ivpos_, 0u);  // the first (only) peer on the server

  // BAR2 is the shared memory (1 MiB from the server): what the mapping
  // writes, the region read sees.
  auto bar2 = dev_->map_bar(2);
  ASSERT_TRUE(bar2.ok()) << bar2.error().message;
  EXPECT_EQ(bar2->size(), 1u << 20);
  bar2->write32(4096, 0xfeedc0deu);
  std::uint32_t back = 0;
  ASSERT_TRUE(
      dev_->region_read(VFIO_PCI_BAR2_REGION_INDEX, 4096, std::as_writable_bytes(std::span<std::uint32_t>(&back, 1)))
          .ok());
  EXPECT_EQ(back, 0xfeedc0deu);

  auto none = dev_->map_bar(5);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, lab_bdf() + ": BAR 5 is not implemented (size 0)");
  auto past = dev_->map_bar(6);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().message, lab_bdf() + ": no BAR 6 (BARs are 0-5)");
}

// ivshmem puts its MSI-X table (and PBA) in BAR1: map_bar(1) must leave
// the table's page out, and on this 4 KiB BAR that is all of it.
TEST_F(VfioLab, MsixTableBarIsMappedWithTheTableLeftOut) {
  auto layout = dev_->msix_layout();
  ASSERT_TRUE(layout.ok()) << layout.error().message;
  ASSERT_TRUE(layout->has_value());
  const vfio::MsixLayout& l = **layout;
  EXPECT_EQ(l.table_bar, 1u);
  EXPECT_EQ(l.table_offset, 0u);
  EXPECT_EQ(l.table_size, dev_->msix_count());
  EXPECT_EQ(l.pba_bar, 1u);
  note("MSI-X table BAR" + std::to_string(l.table_bar) + "+" + std::to_string(l.table_offset) + ", PBA BAR" +
       std::to_string(l.pba_bar) + "+" + std::to_string(l.pba_offset));
  auto r1 = dev_->region_info(VFIO_PCI_BAR1_REGION_INDEX);
  ASSERT_TRUE(r1.ok());
  auto sparse = dev_->sparse_mmap_areas(VFIO_PCI_BAR1_REGION_INDEX);
  ASSERT_TRUE(sparse.ok()) << sparse.error().message;
  note("BAR1 size " + std::to_string(r1->size) + " flags " + std::to_string(r1->flags) + " argsz " +
       std::to_string(r1->argsz) +
       (sparse->has_value() ? " sparse areas " + std::to_string((*sparse)->size())
                            : std::string(" no sparse-mmap cap")));
  auto bar1 = dev_->map_bar(1);
  ASSERT_TRUE(bar1.ok()) << bar1.error().message;
  EXPECT_EQ(bar1->size(), r1->size);
  EXPECT_EQ(bar1->mapped(), std::vector<vfio::ByteRange>{});
  EXPECT_EQ(bar1->holes(), (std::vector<vfio::ByteRange>{{0, r1->size}}));
  EXPECT_EQ(bar1->read32(0), 0xffffffffu);
  bar1->write32(0, 0xdeadbeefu);  // entry 0's message address: refused
  EXPECT_EQ(bar1->refused(), 2u);
  // The table still holds the kernel's message: vector 0 still arrives.
  auto fds = make_eventfds(1);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  expect_fire_lands(0, fds[0].get());
  ASSERT_TRUE(dev_->disable_msix().ok());
  // BAR0 (registers) has no table: all of it is mapped.
  EXPECT_EQ(bar0_.mapped(), (std::vector<vfio::ByteRange>{{0, 256}}));
  EXPECT_EQ(bar0_.holes(), std::vector<vfio::ByteRange>{});
}

TEST_F(VfioLab, EveryVectorSignalsExactlyItsOwnEventfd) {
  const unsigned n = dev_->msix_count();
  auto fds = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  EXPECT_EQ(dev_->msix_enabled(), n);
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), n);

  constexpr unsigned kRounds = 8;
  std::vector<std::uint64_t> got(n, 0);
  for (unsigned k = 0; k < kRounds; k++) {
    for (unsigned v = 0; v < n; v++) {
      fire(v);
      got[v] += wait_read(fds[v].get(), kArriveMs);
    }
    // Nothing arrived anywhere it was not fired.
    for (unsigned v = 0; v < n; v++) EXPECT_EQ(drain(fds[v].get()), 0u) << "stray on vector " << v << ", round " << k;
  }
  for (unsigned v = 0; v < n; v++) EXPECT_EQ(got[v], kRounds) << "vector " << v;

  ASSERT_TRUE(dev_->disable_msix().ok());
  EXPECT_EQ(dev_->msix_enabled(), 0u);
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 0u);
}

TEST_F(VfioLab, RearmingASubrangeMovesOnlyThoseEntries) {
  const unsigned n = dev_->msix_count();
  auto a = make_eventfds(n);
  auto b = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(a)).ok());
  // Entries 16-31 now signal b's eventfds; the others keep a's.
  ASSERT_TRUE(dev_->set_msix_eventfds(16, raw(b, 16, 16)).ok());
  EXPECT_EQ(dev_->msix_enabled(), n);
  for (unsigned v = 0; v < n; v++) {
    const bool moved = v >= 16 && v < 32;
    expect_fire_lands(v, moved ? b[v].get() : a[v].get());
    EXPECT_EQ(drain(moved ? a[v].get() : b[v].get()), 0u) << "vector " << v;
  }
  // And back.
  ASSERT_TRUE(dev_->set_msix_eventfds(16, raw(a, 16, 16)).ok());
  for (unsigned v = 16; v < 32; v++) {
    expect_fire_lands(v, a[v].get());
    EXPECT_EQ(drain(b[v].get()), 0u) << "vector " << v;
  }
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), n);
}

// A disarmed entry (fd -1) is masked, not gone: a fire on it is held in the
// Pending Bit Array and delivered once when the entry is armed again, as
// MSI-X requires of a masked vector. Whoever arms a freed entry may get one
// interrupt that fired before.
TEST_F(VfioLab, DisarmedEntryHoldsAFireAsPending) {
  const unsigned n = dev_->msix_count();
  auto a = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(a)).ok());
  const int none = -1;
  ASSERT_TRUE(dev_->set_msix_eventfds(40, std::span<const int>(&none, 1)).ok());
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), n - 1);
  fire(40);
  expect_fire_lands(41, a[41].get());  // a later fire arrived: 40's had its chance
  EXPECT_EQ(wait_read(a[40].get(), kQuietMs), 0u);
  ASSERT_TRUE(dev_->set_msix_eventfds(40, raw(a, 40, 1)).ok());
  EXPECT_EQ(wait_read(a[40].get(), kArriveMs), 1u) << "the pending fire, delivered on unmask";
  expect_fire_lands(40, a[40].get());
  EXPECT_EQ(drain(a[40].get()), 0u);
}

TEST_F(VfioLab, DisableStopsEverySignalAndMsixCanBeEnabledAgain) {
  const unsigned n = dev_->msix_count();
  auto fds = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  expect_fire_lands(0, fds[0].get());
  ASSERT_TRUE(dev_->disable_msix().ok());
  ASSERT_TRUE(dev_->disable_msix().ok());  // already disabled: nothing to do
  for (unsigned v = 0; v < n; v++) fire(v);
  std::this_thread::sleep_for(std::chrono::milliseconds(kQuietMs));
  for (unsigned v = 0; v < n; v++) EXPECT_EQ(drain(fds[v].get()), 0u) << "vector " << v << " after disable";
  // Fires while MSI-X was disabled are not pending: enabling again brings none.
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds, 0, 8)).ok());
  EXPECT_EQ(dev_->msix_enabled(), 8u);
  std::this_thread::sleep_for(std::chrono::milliseconds(kQuietMs));
  for (unsigned v = 0; v < 8; v++) EXPECT_EQ(drain(fds[v].get()), 0u) << "vector " << v << " after enable";
  for (unsigned v = 0; v < 8; v++) expect_fire_lands(v, fds[v].get());
}

TEST_F(VfioLab, ArmingOutsideTheTableOrPastTheEnabledRangeIsRefused) {
  const unsigned n = dev_->msix_count();
  auto fds = make_eventfds(n);
  auto past = dev_->set_msix_eventfds(n - 4, raw(fds, 0, 8));
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().message, lab_bdf() + ": MSI-X entries " + std::to_string(n - 4) + "-" + std::to_string(n + 3) +
                                      " lie outside its table of " + std::to_string(n) + " (0-" +
                                      std::to_string(n - 1) + ")");
  EXPECT_FALSE(dev_->set_msix_eventfds(0, {}).ok());
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds, 0, 16)).ok());
  auto grow = dev_->set_msix_eventfds(16, raw(fds, 16, 1));
  if (guest_has_dynamic_msix()) {
    // The kernel allocates entry 16 now (vfio_msix_vector_do_use).
    ASSERT_TRUE(grow.ok()) << grow.error().message;
    EXPECT_EQ(dev_->msix_enabled(), 17u);
    return;
  }
  ASSERT_FALSE(grow.ok());
  EXPECT_THAT(grow.error().message, HasSubstr("past the 16 MSI-X is enabled with"));
  EXPECT_THAT(grow.error().message, HasSubstr("VFIO_IRQ_INFO_NORESIZE"));
}

TEST_F(VfioLab, ASecondOpenIsBusy) {
  auto second = VfioDevice::open(lab_bdf());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error().message, HasSubstr("Device or resource busy: another process holds " + lab_bdf()));
}

TEST_F(VfioLab, CloseIsIdempotentUnmapsAndRefusesLaterCalls) {
  auto fds = make_eventfds(4);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  dev_->close();
  dev_->close();
  EXPECT_TRUE(dev_->closed());
  EXPECT_FALSE(bar0_.valid());  // unmapped by close(); its destructor then does nothing
  EXPECT_EQ(bar0_.size(), 0u);
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 0u);  // closing the device fd disabled MSI-X
  auto st = dev_->set_msix_eventfds(0, raw(fds));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, lab_bdf() + ": set_msix_eventfds on a closed device");
  EXPECT_FALSE(dev_->disable_msix().ok());
  EXPECT_FALSE(dev_->map_bar(0).ok());
  // The request eventfd stays open for whoever still polls it.
  EXPECT_GE(dev_->request_fd(), 0);
  // Closed for good: another open succeeds.
  auto again = VfioDevice::open(lab_bdf());
  EXPECT_TRUE(again.ok()) << again.error().message;
}

// Injected faults (base/fault.h) at the two calls a host makes on a real
// device after open: VFIO_DEVICE_SET_IRQS and the BAR mmap. Each error names
// the call and the errno and changes nothing: MSI-X stays off (no vfio-msix
// line), the device stays usable; and a device whose disable failed is still
// released by its close (MSI-X off, and it opens again, where a device fd
// left open would make that open fail with EBUSY).
TEST_F(VfioLab, InjectedSetIrqsAndMmapFaultsNameTheCallAndLeaveNothing) {
  bar0_.reset();
  dev_.reset();  // the fixture's open: one at a time per group
  int set_irqs_errno = 0;
  int mmap_errno = 0;
  FaultHook hook = [&](std::string_view call) {
    if (call == "VFIO_DEVICE_SET_IRQS") return set_irqs_errno;
    return call == "mmap" ? mmap_errno : 0;
  };
  auto d = VfioDevice::open(lab_bdf(), {}, hook);
  ASSERT_TRUE(d.ok()) << d.error().message;
  VfioDevice& dev = **d;
  auto fds = make_eventfds(4);

  set_irqs_errno = ENOSPC;
  auto armed = dev.set_msix_eventfds(0, raw(fds));
  set_irqs_errno = 0;
  ASSERT_FALSE(armed.ok());
  EXPECT_THAT(armed.error().message,
              HasSubstr("VFIO_DEVICE_SET_IRQS(MSIX, start 0, count 4) failed: " + errno_string(ENOSPC)));
  EXPECT_EQ(dev.msix_enabled(), 0u);
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 0u);

  mmap_errno = ENOMEM;
  auto mapped = dev.map_bar(0);
  mmap_errno = 0;
  ASSERT_FALSE(mapped.ok());
  EXPECT_THAT(mapped.error().message, HasSubstr("mmap of BAR 0"));
  EXPECT_THAT(mapped.error().message, HasSubstr(errno_string(ENOMEM)));

  // Nothing half-done: the same calls succeed now, and a fire lands.
  ASSERT_TRUE(dev.set_msix_eventfds(0, raw(fds)).ok());
  EXPECT_EQ(dev.msix_enabled(), 4u);
  auto bar = dev.map_bar(0);
  ASSERT_TRUE(bar.ok()) << bar.error().message;
  bar->write32(kDoorbell, (bar->read32(kIvPosition) << 16) | 1);
  EXPECT_EQ(wait_read(fds[1].get(), kArriveMs), 1u);

  set_irqs_errno = EIO;
  auto disabled = dev.disable_msix();
  ASSERT_FALSE(disabled.ok());
  EXPECT_THAT(disabled.error().message,
              HasSubstr("VFIO_DEVICE_SET_IRQS(MSIX, start 0, count 0) failed: " + errno_string(EIO)));
  dev.close();  // its SET_IRQS(REQ) fails too; closing the fd is what counts
  set_irqs_errno = 0;
  EXPECT_FALSE(bar->valid());
  EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 0u);
  auto again = VfioDevice::open(lab_bdf());
  EXPECT_TRUE(again.ok()) << again.error().message;
}

// The host fires: run.sh -H host_fire.sh waits for the READY line, then
// signals each vector's eventfd once through the ivshmem server, as another
// ivshmem peer would. Only with $VFIO_LAB_HOST_FIRE=1 (the ctest sets it).
TEST_F(VfioLab, HostFiresEveryVectorThroughTheServer) {
  if (env_or("VFIO_LAB_HOST_FIRE", "0") != "1") GTEST_SKIP() << "no host hook (VFIO_LAB_HOST_FIRE=1, run.sh -H)";
  const unsigned n = dev_->msix_count();
  auto fds = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  (void)std::printf("@@VFIO_LAB_HOST_FIRE_READY@@\n");
  (void)std::fflush(stdout);
  // One host fire per vector: distinct vectors never coalesce.
  for (unsigned v = 0; v < n; v++) EXPECT_EQ(wait_read(fds[v].get(), 30000), 1u) << "vector " << v;
  std::this_thread::sleep_for(std::chrono::milliseconds(kQuietMs));
  for (unsigned v = 0; v < n; v++) EXPECT_EQ(drain(fds[v].get()), 0u) << "stray on vector " << v;
}

// `echo BDF > /sys/bus/pci/drivers/vfio-pci/unbind` blocks while a user
// holds the device and signals its request eventfd (VFIO_PCI_REQ_IRQ_INDEX);
// the unbind completes once the user closes the device. The writer is
// spawned (exec, not a bare fork: a forked copy of this process would hold
// the device fd and the BAR mapping itself, and the unbind would wait for it
// forever).
TEST_F(VfioLab, UnbindRequestsTheDeviceAndCompletesOnClose) {
  const std::string& bdf = lab_bdf();
  const unsigned n = dev_->msix_count();
  auto fds = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(fds)).ok());
  expect_fire_lands(3, fds[3].get());
  EXPECT_EQ(drain(dev_->request_fd()), 0u);

  const std::string cmd = "echo -n " + bdf + " > /sys/bus/pci/drivers/vfio-pci/unbind";
  const char* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
  pid_t writer = -1;
  const auto t_unbind = std::chrono::steady_clock::now();
  ASSERT_EQ(::posix_spawn(&writer, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ), 0);

  EXPECT_GE(wait_read(dev_->request_fd(), 20000), 1u) << "no device request within 20 s of the unbind";
  note("device request " + std::to_string(ms_since(t_unbind)) + " ms after the unbind write began");
  // The unbind waits for us; the device still works meanwhile.
  int status = 0;
  EXPECT_EQ(::waitpid(writer, &status, WNOHANG), 0) << "unbind finished while the device was held";
  expect_fire_lands(5, fds[5].get());
  // The driver link is gone already: the driver core drops it before it
  // calls vfio-pci's remove(), and remove() is what waits for us.
  EXPECT_EQ(driver_of(bdf), "");

  ASSERT_TRUE(dev_->disable_msix().ok());
  const auto t_close = std::chrono::steady_clock::now();
  dev_->close();
  EXPECT_FALSE(bar0_.valid());
  pid_t done = 0;
  for (int i = 0; i < 1000 && done == 0; i++) {
    done = ::waitpid(writer, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done, writer) << "unbind still blocked 10 s after close()";
  note("unbind returned " + std::to_string(ms_since(t_close)) + " ms after close()");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(driver_of(bdf), "");
  auto unbound = VfioDevice::open(bdf);
  ASSERT_FALSE(unbound.ok());
  EXPECT_EQ(unbound.error().message,
            bdf + " is not bound to any driver, not vfio-pci: bind it with `irqd bind " + bdf + "`");

  // driver_override is still vfio-pci (guest-init set it): a probe binds it again.
  ASSERT_TRUE(write_file("/sys/bus/pci/drivers_probe", bdf));
  ASSERT_EQ(driver_of(bdf), "vfio-pci");
  auto d = VfioDevice::open(bdf);
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev_ = std::move(d.value());
  auto bar = dev_->map_bar(0);
  ASSERT_TRUE(bar.ok()) << bar.error().message;
  bar0_ = std::move(bar.value());
  auto again = make_eventfds(n);
  ASSERT_TRUE(dev_->set_msix_eventfds(0, raw(again)).ok());
  for (unsigned v = 0; v < n; v++) {
    expect_fire_lands(v, again[v].get());
    EXPECT_EQ(drain(fds[v].get()), 0u) << "the old eventfd of vector " << v;
  }
}

// ---- two functions of one IOMMU group (run.sh -d 2 -B: behind one bridge)

int group_of(const std::string& bdf) {
  std::error_code ec;
  const std::string g = fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/iommu_group", ec).filename().string();
  return ec ? -1 : std::stoi(g);
}

// The first two of $VFIO_LAB_BDFS that share an IOMMU group, or none.
std::vector<std::string> same_group_pair() {
  std::vector<std::string> bdfs;
  std::istringstream in(env_or("VFIO_LAB_BDFS", ""));
  for (std::string b; in >> b;) bdfs.push_back(b);
  for (std::size_t i = 0; i < bdfs.size(); ++i)
    for (std::size_t j = i + 1; j < bdfs.size(); ++j)
      if (group_of(bdfs[i]) >= 0 && group_of(bdfs[i]) == group_of(bdfs[j])) return {bdfs[i], bdfs[j]};
  return {};
}

TEST(VfioLabGroup, TwoFunctionsOfOneGroupShareItInOneProcess) {
  const std::vector<std::string> pair = same_group_pair();
  if (pair.empty()) GTEST_SKIP() << "no two lab devices in one IOMMU group (run.sh -d 2 -B)";
  note(pair[0] + " and " + pair[1] + " share IOMMU group " + std::to_string(group_of(pair[0])));
  vfio::GroupSet set;
  auto a = VfioDevice::open(pair[0], {}, {}, &set);
  ASSERT_TRUE(a.ok()) << a.error().message;
  // Without the set, the second function cannot open the group: the
  // kernel allows one opener, and that is this process.
  auto alone = VfioDevice::open(pair[1]);
  ASSERT_FALSE(alone.ok());
  EXPECT_THAT(alone.error().message, HasSubstr("Device or resource busy"));
  auto b = VfioDevice::open(pair[1], {}, {}, &set);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*a)->iommu_group(), (*b)->iommu_group());
  EXPECT_EQ((*a)->group_fd(), (*b)->group_fd());
  EXPECT_NE((*a)->device_fd(), (*b)->device_fd());
  EXPECT_EQ(set.opens(), 1u);
  EXPECT_EQ(set.open_groups(), 1u);
  auto twice = VfioDevice::open(pair[0], {}, {}, &set);
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message, HasSubstr("is open already in this process"));

  // Both fire their own vectors, each onto its own eventfds only.
  struct Fn {
    VfioDevice* dev;
    BarMapping bar0;
    std::uint32_t ivpos = 0;
    std::vector<UniqueFd> fds;
  };
  const unsigned n = std::min(8u, (*a)->msix_count());
  std::vector<Fn> fns(2);
  fns[0].dev = a->get();
  fns[1].dev = b->get();
  for (Fn& f : fns) {
    auto bar = f.dev->map_bar(0);
    ASSERT_TRUE(bar.ok()) << bar.error().message;
    f.bar0 = std::move(*bar);
    f.ivpos = f.bar0.read32(kIvPosition);
    f.fds = make_eventfds(n);
    ASSERT_TRUE(f.dev->set_msix_eventfds(0, raw(f.fds)).ok());
  }
  EXPECT_EQ(proc_interrupt_lines(pair[0]), n);
  EXPECT_EQ(proc_interrupt_lines(pair[1]), n);
  for (unsigned k = 0; k < 2; ++k) {
    for (unsigned v = 0; v < n; ++v) {
      for (std::size_t i = 0; i < 2; ++i) {
        fns[i].bar0.write32(kDoorbell, (fns[i].ivpos << 16) | v);
        EXPECT_EQ(wait_read(fns[i].fds[v].get(), kArriveMs), 1u) << fns[i].dev->name() << " vector " << v;
        for (std::size_t j = 0; j < 2; ++j)
          for (unsigned w = 0; w < n; ++w)
            EXPECT_EQ(drain(fns[j].fds[w].get()), 0u) << "stray on " << fns[j].dev->name() << " vector " << w;
      }
    }
  }

  // The first function goes: the group stays open for the second, which
  // still fires.
  const int group_fd = (*a)->group_fd();
  fns[0].bar0.reset();
  (*a)->close();
  EXPECT_EQ(set.open_groups(), 1u);
  EXPECT_NE(::fcntl(group_fd, F_GETFD), -1);
  fns[1].bar0.write32(kDoorbell, (fns[1].ivpos << 16) | 3u);
  EXPECT_EQ(wait_read(fns[1].fds[3].get(), kArriveMs), 1u);
  // The last one goes: group and container closed.
  fns[1].bar0.reset();
  (*b)->close();
  EXPECT_EQ(set.open_groups(), 0u);
  EXPECT_EQ(::fcntl(group_fd, F_GETFD), -1);
  // Closed means the group can be opened again, even without the set.
  auto again = VfioDevice::open(pair[1]);
  EXPECT_TRUE(again.ok()) << again.error().message;
}

}  // namespace
}  // namespace irqd
