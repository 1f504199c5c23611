// SPDX-License-Identifier: GPL-2.0-only
//
// PCI facts that more than one library checks values against: the config
// file's schema (config/) and the devices themselves (device/) must agree
// on them without one of them including the other.

#pragma once

namespace irqd {

// The largest MSI-X table a PCI function can have: the Table Size field of
// the MSI-X Message Control register is 11 bits, N - 1 encoded
// (PCI_MSIX_FLAGS_QSIZE + 1).
inline constexpr unsigned kMaxMsixVectors = 2048;

}  // namespace irqd
