// SPDX-License-Identifier: GPL-2.0-only
//
// The built-in drivers irqd can bind to a device:
//   count  allocates managed, spread vectors (alloc_managed_vectors with
//          kIrqAffinity, as a multi-queue driver does); its handler does
//          nothing, since the host counts every interrupt per vector
//          before it calls any driver;
//   leaky  allocates explicit vectors (alloc_vectors) and never frees them,
//          so unbind reports the leak: the ownership rule made visible.

#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "device/binding.h"

namespace irqd {

struct DriverOptions {
  unsigned max_vectors = 0;  // 0: every entry the device has
  AffinitySpec affinity;     // count: pre/post vectors and sets
};

// Names, for --help and errors.
std::string driver_names();
Result<std::unique_ptr<Driver>> make_driver(std::string_view name, DriverOptions options);

}  // namespace irqd
