// SPDX-License-Identifier: GPL-2.0-only
//
// The vector domain on the software device: prepare exactly once before the
// first allocation, teardown exactly once and only after a successful
// prepare, min/max allocation, the MSI-X range rules of a device that can or
// cannot grow, and what a free does to the device's arming.

#include "device/vector_domain.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "device/software_device.h"

namespace irqd {
namespace {

std::unique_ptr<SoftwareDevice> make_device(unsigned n, bool can_grow = true, unsigned fail_call = 0,
                                            bool no_msix = false) {
  SoftwareDevice::Options o;
  o.nvectors = n;
  o.self_armed = false;
  o.can_grow = can_grow;
  o.fail_set_irqs_call = fail_call;
  o.no_msix = no_msix;
  auto d = SoftwareDevice::create(o);
  EXPECT_TRUE(d.ok());
  return std::move(*d);
}

std::unique_ptr<SoftwareDevice> make_short_device(unsigned n, unsigned host_vectors, bool can_grow = true) {
  SoftwareDevice::Options o;
  o.nvectors = n;
  o.self_armed = false;
  o.can_grow = can_grow;
  o.host_vectors = host_vectors;
  auto d = SoftwareDevice::create(o);
  EXPECT_TRUE(d.ok());
  return std::move(*d);
}

std::set<std::string> open_fds() {
  std::set<std::string> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    fds.insert(entry.path().filename().string());
  return fds;
}

std::uint64_t read_count(int fd) {
  std::uint64_t n = 0;
  EXPECT_EQ(::read(fd, &n, sizeof n), static_cast<ssize_t>(sizeof n));
  return n;
}

TEST(VectorDomain, PrepareRunsOnceAtTheFirstAllocationAndTeardownOnce) {
  auto dev = make_device(16);
  VectorDomain domain(*dev);
  EXPECT_EQ(domain.prepare_calls(), 0u);
  EXPECT_EQ(domain.size(), 0u);
  ASSERT_TRUE(domain.alloc(2, 2).ok());
  EXPECT_EQ(domain.prepare_calls(), 1u);
  EXPECT_EQ(domain.size(), 16u);  // sized from the device's MSI-X count
  ASSERT_TRUE(domain.alloc(3, 3).ok());
  ASSERT_TRUE(domain.alloc_at(kAnyIndex).ok());
  EXPECT_EQ(domain.prepare_calls(), 1u);
  EXPECT_TRUE(domain.teardown());
  EXPECT_FALSE(domain.teardown());
  EXPECT_EQ(domain.teardown_calls(), 1u);
  // teardown closed every eventfd and disabled MSI-X on the device.
  for (unsigned v = 0; v < 16; ++v) EXPECT_EQ(dev->eventfd(v), -1) << v;
}

TEST(VectorDomain, FailedPrepareIsNeverTornDown) {
  auto dev = make_device(8, true, 0, /*no_msix=*/true);
  VectorDomain domain(*dev);
  auto got = domain.alloc(1, 4);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().message, "soft0: the device has no MSI-X table (msix_prepare: 0 entries)");
  EXPECT_EQ(domain.prepare_calls(), 1u);
  EXPECT_FALSE(domain.prepared());
  EXPECT_FALSE(domain.teardown());
  EXPECT_EQ(domain.teardown_calls(), 0u);
}

TEST(VectorDomain, AllocationFailingAfterPrepareStillTearsDownOnce) {
  auto dev = make_device(8, true, /*fail_call=*/1);
  VectorDomain domain(*dev);
  auto got = domain.alloc(4, 4);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message.find("injected fault"), std::string::npos) << got.error().message;
  EXPECT_TRUE(domain.prepared());
  EXPECT_EQ(domain.allocated_count(), 0u);
  for (unsigned v = 0; v < 8; ++v) EXPECT_EQ(dev->eventfd(v), -1) << v;
  // The next allocation works on the same, still prepared, domain.
  ASSERT_TRUE(domain.alloc(4, 4).ok());
  EXPECT_EQ(domain.prepare_calls(), 1u);
  EXPECT_TRUE(domain.teardown());
  EXPECT_EQ(domain.teardown_calls(), 1u);
}

TEST(VectorDomain, DestructorTearsDownAPreparedDomain) {
  auto dev = make_device(4);
  {
    VectorDomain domain(*dev);
    ASSERT_TRUE(domain.alloc(4, 4).ok());
    EXPECT_NE(dev->eventfd(3), -1);
  }
  for (unsigned v = 0; v < 4; ++v) EXPECT_EQ(dev->eventfd(v), -1) << v;
}

TEST(VectorDomain, GivesWhatTheDeviceHasBetweenMinAndMax) {
  auto dev = make_device(8);
  VectorDomain domain(*dev);
  auto first = domain.alloc(1, 5);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, (std::vector<unsigned>{0, 1, 2, 3, 4}));
  auto second = domain.alloc(2, 100);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, (std::vector<unsigned>{5, 6, 7}));
  auto none = domain.alloc(1, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "soft0: 1 vectors requested at least, 0 available of 8");
  EXPECT_EQ(domain.allocated_count(), 8u);
}

TEST(VectorDomain, FewerThanMinAllocatesNothing) {
  auto dev = make_device(8);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(6, 6).ok());
  auto got = domain.alloc(3, 4);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().message, "soft0: 3 vectors requested at least, 2 available of 8");
  EXPECT_EQ(domain.allocated_count(), 6u);
  EXPECT_EQ(dev->eventfd(6), -1);
  EXPECT_EQ(dev->eventfd(7), -1);
}

// Table of 16, the host can give 12: the first enable of 16 comes back
// short and is retried with entries 0..11, as QEMU retries with the count
// vfio-pci returned.
TEST(VectorDomain, HostShortOfVectorsRetriesWithTheCountItGave) {
  auto dev = make_short_device(16, 12);
  VectorDomain domain(*dev);
  auto got = domain.alloc(8, 16);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(dev->msix_enabled(), 12u);
  EXPECT_EQ(dev->msix_enable_max(), 12u);
  EXPECT_EQ(domain.enabled(), 12u);
  for (unsigned v = 0; v < 12; ++v) EXPECT_EQ(dev->eventfd(v), domain.eventfd(v)) << v;
  for (unsigned v = 12; v < 16; ++v) EXPECT_EQ(domain.eventfd(v), -1) << v;
  ASSERT_TRUE(dev->fire(11, 5));
  EXPECT_EQ(read_count(domain.eventfd(11)), 1u);
  // Later allocations stay inside the 12 although the table could grow.
  auto more = domain.alloc(1, 4);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().message,
            "soft0: 1 vectors requested at least, but the host can enable only 12 of the 16 MSI-X entries "
            "(pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt vectors), 0 of them free: free some of "
            "them first, or free interrupt vectors on the host (fewer devices, more CPUs)");
  EXPECT_EQ(domain.alloc_at(kAnyIndex).error().message, "soft0: no free MSI-X entry left");
  EXPECT_EQ(domain.alloc_at(13).error().message,
            "soft0: MSI-X entry 13 is past the 12 entries the host can enable (pci_alloc_irq_vectors gave fewer: the "
            "CPUs are short of interrupt vectors)");
  // A freed entry below the limit comes back.
  ASSERT_TRUE(domain.free({3}, true).ok());
  auto again = domain.alloc(1, 4);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, std::vector<unsigned>{3});
}

TEST(VectorDomain, HostShortOfTheMinimumAllocatesNothingAndLeavesMsixDisabled) {
  auto dev = make_short_device(16, 12);
  const std::set<std::string> before = open_fds();
  VectorDomain domain(*dev);
  auto got = domain.alloc(13, 16);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().message,
            "soft0: 13 vectors requested at least, but the host can enable only 12 of the 16 MSI-X entries "
            "(pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt vectors): ask for at most 12, or "
            "free interrupt vectors on the host (fewer devices, more CPUs)");
  EXPECT_EQ(dev->msix_enabled(), 0u);
  EXPECT_EQ(domain.enabled(), 0u);
  EXPECT_EQ(domain.allocated_count(), 0u);
  for (unsigned v = 0; v < 16; ++v) EXPECT_EQ(dev->eventfd(v), -1) << v;
  EXPECT_EQ(open_fds(), before);  // the 16 eventfds made for the first try are closed
  // The next allocation knows the limit before it asks: one try, 0..11.
  auto fits = domain.alloc(12, 16);
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  EXPECT_EQ(fits->size(), 12u);
  EXPECT_EQ(fits->back(), 11u);
  EXPECT_EQ(dev->msix_enabled(), 12u);
}

TEST(VectorDomain, HostLimitOnADeviceThatCannotGrow) {
  auto dev = make_short_device(16, 12, /*can_grow=*/false);
  VectorDomain domain(*dev);
  auto got = domain.alloc(4, 16);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 12u);
  EXPECT_EQ(got->back(), 11u);
  auto more = domain.alloc(1, 1);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().message,
            "soft0: 1 vectors requested at least, 0 available of 16 (MSI-X is enabled with 12 entries and the device "
            "cannot grow)");
}

// A first enable inside the host's vectors learns nothing: the limit shows
// only when the kernel answers short; growing past it fails with ENOSPC
// and arms nothing.
TEST(VectorDomain, GrowingPastTheHostsVectorsFailsAndArmsNothing) {
  auto dev = make_short_device(16, 12);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(10, 10).ok());
  EXPECT_EQ(dev->msix_enable_max(), 16u);
  auto more = domain.alloc(4, 4);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().message, "soft0: SET_IRQS(MSIX, start 10, count 4): " + errno_string(ENOSPC) +
                                      " (the host has 12 interrupt vectors for this device)");
  EXPECT_EQ(domain.allocated_count(), 10u);
  for (unsigned v = 10; v < 16; ++v) EXPECT_EQ(dev->eventfd(v), -1) << v;
  auto two = domain.alloc(1, 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<unsigned>{10, 11}));
}

TEST(VectorDomain, RejectsAnEmptyOrInvertedRange) {
  auto dev = make_device(8);
  VectorDomain domain(*dev);
  EXPECT_EQ(domain.alloc(0, 4).error().message, "vector range 0..4 is not valid (accepted: 1 <= min <= max)");
  EXPECT_EQ(domain.alloc(5, 4).error().message, "vector range 5..4 is not valid (accepted: 1 <= min <= max)");
  EXPECT_EQ(domain.prepare_calls(), 0u);
}

TEST(VectorDomain, DeviceThatCannotGrowKeepsTheFirstEnabledRange) {
  auto dev = make_device(8, /*can_grow=*/false);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(4, 4).ok());
  EXPECT_EQ(domain.enabled(), 4u);
  auto more = domain.alloc(1, 1);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error().message,
            "soft0: 1 vectors requested at least, 0 available of 8 (MSI-X is enabled with 4 entries and the device "
            "cannot grow)");
  auto at = domain.alloc_at(6);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.error().message,
            "soft0: MSI-X entry 6 is past the 4 entries MSI-X was enabled with, and the device cannot grow "
            "(VFIO_IRQ_INFO_NORESIZE)");
  // A freed entry inside the range can be allocated again.
  ASSERT_TRUE(domain.free({2}, true).ok());
  auto again = domain.alloc(1, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, std::vector<unsigned>{2});
}

TEST(VectorDomain, AllocAtArmsExactlyThatEntryOnADeviceThatCanGrow) {
  auto dev = make_device(8);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(2, 2).ok());
  auto at = domain.alloc_at(6);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, 6u);
  EXPECT_EQ(domain.enabled(), 7u);
  for (unsigned v : {2u, 3u, 4u, 5u, 7u}) EXPECT_EQ(dev->eventfd(v), -1) << v;
  EXPECT_EQ(dev->eventfd(6), domain.eventfd(6));
  EXPECT_EQ(domain.alloc_at(6).error().message, "soft0: MSI-X entry 6 is already allocated");
  EXPECT_EQ(domain.alloc_at(8).error().message, "soft0: MSI-X entry 8 is out of range (accepted: 0..7)");
  auto any = domain.alloc_at(kAnyIndex);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(*any, 2u);
}

TEST(VectorDomain, FiresReachTheDomainsEventfds) {
  auto dev = make_device(4);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(4, 4).ok());
  ASSERT_TRUE(dev->fire(1, 100));
  ASSERT_TRUE(dev->fire(1, 200));
  ASSERT_TRUE(dev->fire(3, 300));
  EXPECT_EQ(read_count(domain.eventfd(1)), 2u);
  EXPECT_EQ(read_count(domain.eventfd(3)), 1u);
  EXPECT_EQ(dev->consume(1, 2), 100u);
}

TEST(VectorDomain, FreeWithDisarmReturnsWhatTheEventfdsHeld) {
  auto dev = make_device(4);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(4, 4).ok());
  ASSERT_TRUE(dev->fire(2, 1));
  ASSERT_TRUE(dev->fire(2, 2));
  ASSERT_TRUE(dev->fire(3, 3));
  VectorDomain::Leftovers left;
  ASSERT_TRUE(domain.free({2, 3}, /*disarm=*/true, &left).ok());
  EXPECT_EQ(left, (VectorDomain::Leftovers{{2, 2}, {3, 1}}));
  EXPECT_EQ(domain.eventfd(2), -1);
  EXPECT_EQ(dev->eventfd(2), -1);
  EXPECT_FALSE(dev->fire(2, 4));  // the interrupt never happens: entry unarmed
  EXPECT_EQ(dev->unarmed(), 1u);
  EXPECT_EQ(domain.free({2}, true).error().message, "soft0: MSI-X entry 2 is not allocated");
}

TEST(VectorDomain, FreeWithoutDisarmKeepsTheEventfdsForTheUnbindPath) {
  auto dev = make_device(4);
  VectorDomain domain(*dev);
  ASSERT_TRUE(domain.alloc(2, 2).ok());
  const int fd = domain.eventfd(0);
  ASSERT_TRUE(domain.free({0, 1}, /*disarm=*/false).ok());
  EXPECT_EQ(domain.eventfd(0), fd);
  ASSERT_TRUE(dev->fire(0, 7));  // still armed until MSI-X is disabled
  ASSERT_TRUE(domain.disable_msix().ok());
  EXPECT_FALSE(dev->fire(0, 8));
  EXPECT_EQ(domain.read_leftovers(), (VectorDomain::Leftovers{{0, 1}}));
  EXPECT_EQ(domain.close_eventfds(), 2u);
  EXPECT_EQ(domain.close_eventfds(), 0u);
}

}  // namespace
}  // namespace irqd
