// SPDX-License-Identifier: GPL-2.0-only
//
// What the guest's kernel line lets the VFIO lab tests expect.

#pragma once

#include <sys/utsname.h>

#include <cstdio>

namespace irqd {

// vfio-pci offers dynamic MSI-X (no VFIO_IRQ_INFO_NORESIZE: entries armed
// after MSI-X is enabled are allocated then) since 6.5, where the MSI
// domain can (pci_msix_can_alloc_dyn: x86 with interrupt remapping can).
inline bool guest_has_dynamic_msix() {
  utsname u{};
  unsigned major = 0;
  unsigned minor = 0;
  if (::uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 5);
}

}  // namespace irqd
