// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/drivers.h"

namespace irqd {
namespace {

unsigned wanted(const DriverOptions& o, const Binding& b, MsixDevice& dev) {
  (void)b;
  return o.max_vectors == 0 ? dev.msix_count() : std::min(o.max_vectors, dev.msix_count());
}

class CountDriver final : public CountingDriver {
 public:
  explicit CountDriver(DriverOptions o) : CountingDriver("count", std::move(o)) {}
  Status probe(Binding& b) override {
    const unsigned max = wanted(options(), b, b.device());
    if (max == 0) return Error{b.device().name() + " has no MSI-X entries"};
    size_counters(b.device().msix_count());
    // Managed and spread: the binding frees them at unbind, in reverse.
    const unsigned min = std::max(1u, options().affinity.pre_vectors + options().affinity.post_vectors);
    auto set = b.alloc_managed_vectors(min, max, kIrqMsix | kIrqAffinity, options().affinity);
    if (!set) return set.error();
    return ok_status();
  }
};

class LeakyDriver final : public CountingDriver {
 public:
  explicit LeakyDriver(DriverOptions o) : CountingDriver("leaky", std::move(o)) {}
  Status probe(Binding& b) override {
    const unsigned max = wanted(options(), b, b.device());
    if (max == 0) return Error{b.device().name() + " has no MSI-X entries"};
    size_counters(b.device().msix_count());
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

void CountingDriver::size_counters(unsigned entries) {
  counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(entries);
  entries_ = entries;
}

void CountingDriver::handle(unsigned index, std::uint64_t count, std::uint64_t stamp_ns) {
  (void)stamp_ns;
  if (index < entries_) counts_[index].fetch_add(count, std::memory_order_relaxed);
}

void CountingDriver::remove(Binding& binding) {
  (void)binding;
  removed_ = true;
}

std::uint64_t CountingDriver::counted(unsigned index) const {
  return index < entries_ ? counts_[index].load(std::memory_order_relaxed) : 0;
}

std::uint64_t CountingDriver::counted_total() const {
  std::uint64_t n = 0;
  for (unsigned i = 0; i < entries_; ++i) n += counts_[i].load(std::memory_order_relaxed);
  return n;
}

std::string driver_names() { return "count, leaky"; }

Result<std::unique_ptr<CountingDriver>> make_driver(std::string_view name, DriverOptions options) {
  if (name == "count") return std::unique_ptr<CountingDriver>(new CountDriver(std::move(options)));
  if (name == "leaky") return std::unique_ptr<CountingDriver>(new LeakyDriver(std::move(options)));
  return Error{"unknown driver '" + std::string(name) + "' (accepted: " + driver_names() + ")"};
}

}  // namespace irqd
