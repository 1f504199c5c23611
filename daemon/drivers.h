// SPDX-License-Identifier: GPL-2.0-only
//
// The built-in drivers irqd can bind to a device:
//   count  allocates managed, spread vectors (alloc_managed_vectors with
//          kIrqAffinity, as a multi-queue driver does) and counts every
//          interrupt per vector;
//   leaky  allocates explicit vectors (alloc_vectors) and never frees them,
//          so unbind reports the leak: the ownership rule made visible.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "device/binding.h"

namespace irqd {

struct DriverOptions {
  unsigned max_vectors = 0;  // 0: every entry the device has
  AffinitySpec affinity;     // count: pre/post vectors and sets
};

class CountingDriver : public Driver {
 public:
  CountingDriver(std::string name, DriverOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  const std::string& name() const override { return name_; }
  void handle(unsigned index, std::uint64_t count, std::uint64_t stamp_ns) override;
  void remove(Binding& binding) override;
  // Per MSI-X entry, as seen by handle(); sized at probe.
  std::uint64_t counted(unsigned index) const;
  std::uint64_t counted_total() const;
  bool removed() const { return removed_; }

 protected:
  void size_counters(unsigned entries);
  const DriverOptions& options() const { return options_; }

 private:
  std::string name_;
  DriverOptions options_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  unsigned entries_ = 0;
  bool removed_ = false;
};

// Names and one-line summaries, for --help and errors.
std::string driver_names();
Result<std::unique_ptr<CountingDriver>> make_driver(std::string_view name, DriverOptions options);

}  // namespace irqd
