// SPDX-License-Identifier: GPL-2.0-only

#include "host/drivers.h"

#include <algorithm>

namespace irqd {
namespace {

// What the built-in drivers share: a name, their options, and nothing to
// do per interrupt or at remove().
class BuiltinDriver : public Driver {
 public:
  BuiltinDriver(std::string name, DriverOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  const std::string& name() const override { return name_; }
  void handle(unsigned, std::uint64_t, std::uint64_t) override {}
  void remove(Binding&) override {}

 protected:
  // How many vectors to ask for at most: the option, capped at the table.
  unsigned wanted(MsixDevice& dev) const {
    return options_.max_vectors == 0 ? dev.msix_count() : std::min(options_.max_vectors, dev.msix_count());
  }
  const DriverOptions& options() const { return options_; }

 private:
  std::string name_;
  DriverOptions options_;
};

class CountDriver final : public BuiltinDriver {
 public:
  explicit CountDriver(DriverOptions o) : BuiltinDriver("count", std::move(o)) {}
  Status probe(Binding& b) override {
    const unsigned max = wanted(b.device());
    if (max == 0) return Error{b.device().name() + " has no MSI-X entries"};
    // Managed and spread: the binding frees them at unbind, in reverse.
    const unsigned min = std::max(1u, options().affinity.pre_vectors + options().affinity.post_vectors);
    auto set = b.alloc_managed_vectors(min, max, kIrqMsix | kIrqAffinity, options().affinity);
    if (!set) return set.error();
    return ok_status();
  }
};

class LeakyDriver final : public BuiltinDriver {
 public:
  explicit LeakyDriver(DriverOptions o) : BuiltinDriver("leaky", std::move(o)) {}
  Status probe(Binding& b) override {
    const unsigned max = wanted(b.device());
    if (max == 0) return Error{b.device().name() + " has no MSI-X entries"};
    auto set = b.alloc_vectors(1, max, kIrqMsix);
    if (!set) return set.error();
    // Kept and never freed, not even in remove(): unbind reports the leak.
    kept_.push_back(std::move(*set));
    return ok_status();
  }

 private:
  std::vector<VectorSet> kept_;
};

}  // namespace

std::string driver_names() { return "count, leaky"; }

Result<std::unique_ptr<Driver>> make_driver(std::string_view name, DriverOptions options) {
  if (name == "count") return std::unique_ptr<Driver>(new CountDriver(std::move(options)));
  if (name == "leaky") return std::unique_ptr<Driver>(new LeakyDriver(std::move(options)));
  return Error{"unknown driver '" + std::string(name) + "' (accepted: " + driver_names() + ")"};
}

}  // namespace irqd
