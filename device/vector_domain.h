// SPDX-License-Identifier: GPL-2.0-only
//
// VectorDomain: the MSI-X vectors of one device, as genirq/msi keeps them
// in a per-device domain. It owns one eventfd per allocated table entry and
// arms it on the device.
//
// The .msi_prepare()/.msi_teardown() pairing is kept to the letter:
// prepare runs exactly once, before the first entry is allocated, and
// sizes the domain from the device's MSI-X count; teardown is its exact
// reverse and runs exactly once when the domain is destroyed, and only if
// prepare succeeded. An allocation that fails after a successful prepare
// leaves the domain prepared (teardown still runs once, at the end); a
// failed prepare is retried by the next allocation and never torn down.

#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/fault.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "device/msix_device.h"

namespace irqd {

// MSI_ANY_INDEX: alloc_at() picks the lowest free entry.
inline constexpr unsigned kAnyIndex = ~0u;

class VectorDomain {
 public:
  // (entry, count) pairs read from eventfds no reactor will read again.
  using Leftovers = std::vector<std::pair<unsigned, std::uint64_t>>;

  // fault: tests only (base/fault.h), fails the eventfd() of an entry.
  explicit VectorDomain(MsixDevice& device, FaultHook fault = {}) : device_(device), fault_(std::move(fault)) {}
  ~VectorDomain();  // teardown(), if prepared and not yet torn down
  VectorDomain(const VectorDomain&) = delete;
  VectorDomain& operator=(const VectorDomain&) = delete;

  // Allocates between min and max entries (max is capped at what the
  // device can still give), each with a new eventfd armed on the device,
  // and returns their indices ascending. The first allocation takes
  // entries 0..n-1 and so enables MSI-X with n entries; later ones take
  // the lowest free entries, inside that range unless the device can grow.
  // Fewer than min available is an error that allocates nothing.
  // When the first enable comes back short (the host could enable only N
  // entries: MsixDevice::msix_enable_max()), it is retried with entries
  // 0..N-1 if N >= min, and fails naming N and min otherwise, leaving MSI-X
  // disabled; every later allocation stays below N.
  Result<std::vector<unsigned>> alloc(unsigned min, unsigned max);
  // One entry at `index` (kAnyIndex: the lowest free one) after the
  // initial set, like pci_msix_alloc_irq_at(). Needs a device that can
  // grow unless the entry lies inside the enabled range.
  Result<unsigned> alloc_at(unsigned index);

  // Returns entries to the domain. With disarm, each is disarmed on the
  // device (SET_IRQS with fd -1) and its eventfd closed now; without (the
  // unbind path, where MSI-X is disabled as a whole next), the eventfds
  // stay open until close_eventfds(). With disarm, what the eventfds still
  // held is appended to *leftovers. Freeing a free entry is a bug in the
  // caller and is refused, freeing nothing.
  Status free(const std::vector<unsigned>& indices, bool disarm, Leftovers* leftovers = nullptr);

  // Unbind: SET_IRQS(DATA_NONE, count 0) once any entry was ever enabled.
  Status disable_msix();
  // Reads (without blocking) what each still-open eventfd holds: what the
  // device signalled that no reactor read. Index -> count, only nonzero.
  Leftovers read_leftovers();
  // Closes every eventfd the domain still holds; returns how many.
  unsigned close_eventfds();
  // .msi_teardown(): exactly once, only after a successful prepare. A
  // second call does nothing and returns false.
  bool teardown();

  int eventfd(unsigned index) const;
  bool allocated(unsigned index) const;
  unsigned size() const { return static_cast<unsigned>(entries_.size()); }  // 0 until prepared
  unsigned enabled() const { return enabled_; }                             // entries MSI-X was enabled with
  unsigned allocated_count() const;

  // For the ownership tests: how often each hook ran.
  unsigned prepare_calls() const { return prepare_calls_; }
  unsigned teardown_calls() const { return teardown_calls_; }
  bool prepared() const { return prepared_; }

 private:
  struct Entry {
    bool allocated = false;
    UniqueFd fd;  // open while allocated, and after a free without disarm until close_eventfds()
  };
  Status prepare_once();
  Status arm(const std::vector<unsigned>& indices);
  unsigned free_within(unsigned limit) const;
  unsigned range_limit() const;

  MsixDevice& device_;
  FaultHook fault_;
  std::vector<Entry> entries_;
  unsigned enabled_ = 0;
  bool prepared_ = false;
  bool torn_down_ = false;
  bool msix_enabled_ = false;
  unsigned prepare_calls_ = 0;
  unsigned teardown_calls_ = 0;
};

}  // namespace irqd
