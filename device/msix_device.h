// SPDX-License-Identifier: GPL-2.0-only
//
// MsixDevice: what a vector domain needs from a PCI function with an MSI-X
// table, in the terms VFIO gives it (include/uapi/linux/vfio.h). Two
// backends implement it: VfioDevice (the real ioctls) and SoftwareDevice
// (the same eventfd contract, fired by irqd's own firing engine).
//
// The interface is as thin as the kernel's: a vector is armed by handing
// the device an eventfd for its MSI-X table entry, exactly what
// VFIO_DEVICE_SET_IRQS(VFIO_PCI_MSIX_IRQ_INDEX, DATA_EVENTFD |
// ACTION_TRIGGER) does; who owns those eventfds is the vector domain's
// business (device/vector_domain.h), not the device's.

#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace irqd {

// What a first SET_IRQS(MSIX) that came back with a positive count means,
// in one wording for both backends: "the host could enable only 12 of the
// 16 MSI-X entries asked (...)".
inline std::string msix_short_message(unsigned enabled, unsigned asked) {
  return "the host could enable only " + std::to_string(enabled) + " of the " + std::to_string(asked) +
         " MSI-X entries asked (pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt vectors)";
}

class MsixDevice {
 public:
  virtual ~MsixDevice() = default;

  // "0000:00:01.0" for a PCI function, "soft0" for a software device.
  virtual const std::string& name() const = 0;
  // "vfio" or "software".
  virtual const char* backend() const = 0;

  // VFIO_DEVICE_GET_IRQ_INFO(VFIO_PCI_MSIX_IRQ_INDEX).count: the size of
  // the MSI-X table, 0 when the function has none.
  virtual unsigned msix_count() const = 0;
  // Whether entries past the ones enabled first can be armed later
  // (VFIO_IRQ_INFO_NORESIZE clear; the kernel's pci_msix_can_alloc_dyn()).
  virtual bool msix_can_grow() const = 0;
  // The most entries the host can enable, as the kernel last answered:
  // msix_count() until a first SET_IRQS that enables MSI-X came back short.
  // vfio_msi_enable() asks pci_alloc_irq_vectors(pdev, 1, nvec) and, given
  // fewer than nvec (the CPUs are short of interrupt vectors), frees them and
  // returns that count N > 0 from VFIO_DEVICE_SET_IRQS, MSI-X left disabled;
  // the device records N here and fails the call. A vector domain then
  // retries with N entries, as QEMU does for MSI, and stays inside them.
  virtual unsigned msix_enable_max() const { return msix_count(); }

  // SET_IRQS(MSIX, DATA_EVENTFD | ACTION_TRIGGER, start, fds.size(), fds):
  // entry start+i signals fds[i]; an fd of -1 disarms that entry. The first
  // call enables MSI-X with start + fds.size() entries; without
  // msix_can_grow() later calls must stay inside that range. A first call
  // asking for more than the host can enable fails, enables nothing and
  // lowers msix_enable_max().
  virtual Status set_msix_eventfds(unsigned start, std::span<const int> fds) = 0;
  // SET_IRQS(MSIX, DATA_NONE | ACTION_TRIGGER, 0, 0): disarms every entry
  // and disables MSI-X. Once it returns, no entry signals any eventfd.
  virtual Status disable_msix() = 0;

  // The trigger stamp (CLOCK_MONOTONIC ns) of the oldest of `count`
  // interrupts just read from entry `index`'s eventfd, marking them
  // consumed; 0 when the device cannot tell (a real device). Called by the
  // one thread that reads that eventfd.
  virtual std::uint64_t consume_stamp(unsigned index, std::uint64_t count) = 0;

  // An eventfd that becomes readable when the device must be given up: the
  // VFIO device request (VFIO_PCI_REQ_IRQ_INDEX, signalled when the kernel
  // wants to unbind vfio-pci) or a software hot-unplug. -1 when there is
  // none. Owned by the device.
  virtual int request_fd() const = 0;

  // Closes the device (the VFIO device fd and its BAR mappings). After it,
  // every other call fails. Idempotent.
  virtual void close() = 0;
};

}  // namespace irqd
