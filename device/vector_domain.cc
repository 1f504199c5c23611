// SPDX-License-Identifier: GPL-2.0-only

#include "device/vector_domain.h"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace irqd {
namespace {

// Reads an eventfd's count without blocking (the eventfds are blocking for
// io_uring's sake; RWF_NOWAIT makes this one read not wait). 0 when empty.
std::uint64_t read_nowait(int fd) {
  std::uint64_t count = 0;
  iovec iov{&count, sizeof count};
  while (true) {
    ssize_t n = ::preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
    if (n == static_cast<ssize_t>(sizeof count)) return count;
    if (n < 0 && errno == EINTR) continue;
    return 0;  // EAGAIN: nothing signalled
  }
}

Result<UniqueFd> make_vector_eventfd(unsigned index, const FaultHook& fault) {
  // Blocking (io_uring read SQEs wait on it) and close-on-exec (a spawned
  // helper must not keep a vector, or the device, alive).
  int err = inject_fault(fault, "eventfd");
  UniqueFd fd(err == 0 ? ::eventfd(0, EFD_CLOEXEC) : -1);
  if (fd.get() >= 0) return fd;
  if (err == 0) err = errno;
  std::string message = "cannot create the eventfd of vector " + std::to_string(index) + ": " + errno_string(err);
  if (rlimit lim{}; err == EMFILE && ::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    message += " (RLIMIT_NOFILE soft limit " + std::to_string(lim.rlim_cur) + "; raise it with ulimit -n)";
  return Error{std::move(message)};
}

// Splits ascending indices into runs of consecutive ones: one SET_IRQS each.
template <typename Fn>
Status for_each_run(const std::vector<unsigned>& indices, Fn&& fn) {
  std::size_t i = 0;
  while (i < indices.size()) {
    std::size_t j = i + 1;
    while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
    if (Status s = fn(indices[i], j - i); !s) return s;
    i = j;
  }
  return ok_status();
}

}  // namespace

VectorDomain::~VectorDomain() { teardown(); }

Status VectorDomain::prepare_once() {
  if (prepared_) return ok_status();
  ++prepare_calls_;
  const unsigned count = device_.msix_count();
  if (count == 0) return Error{device_.name() + ": the device has no MSI-X table (msix_prepare: 0 entries)"};
  entries_ = std::vector<Entry>(count);
  prepared_ = true;
  return ok_status();
}

unsigned VectorDomain::free_within(unsigned limit) const {
  unsigned n = 0;
  for (unsigned i = 0; i < limit; ++i) n += entries_[i].allocated ? 0 : 1;
  return n;
}

unsigned VectorDomain::allocated_count() const {
  unsigned n = 0;
  for (const Entry& e : entries_) n += e.allocated ? 1 : 0;
  return n;
}

Status VectorDomain::arm(const std::vector<unsigned>& indices) {
  // Make every eventfd first: a failure here leaves the device untouched.
  std::vector<UniqueFd> fds;
  for (unsigned index : indices) {
    auto fd = make_vector_eventfd(index, fault_);
    if (!fd) return fd.error();
    fds.push_back(std::move(*fd));
  }
  std::size_t next = 0;
  Status armed = for_each_run(indices, [&](unsigned start, std::size_t count) {
    std::vector<int> raw;
    for (std::size_t k = 0; k < count; ++k) raw.push_back(fds[next + k].get());
    Status s = device_.set_msix_eventfds(start, raw);
    if (s) next += count;
    return s;
  });
  if (!armed) {
    // Undo the runs that did arm: their entries go back to no eventfd.
    std::vector<unsigned> done(indices.begin(), indices.begin() + static_cast<std::ptrdiff_t>(next));
    (void)for_each_run(done, [&](unsigned start, std::size_t count) {
      std::vector<int> none(count, -1);
      return device_.set_msix_eventfds(start, none);
    });
    return armed;
  }
  msix_enabled_ = true;
  enabled_ = std::max(enabled_, indices.back() + 1);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    entries_[indices[k]].allocated = true;
    entries_[indices[k]].fd = std::move(fds[k]);
  }
  return ok_status();
}

unsigned VectorDomain::range_limit() const {
  // What the device can give: the whole table before MSI-X is enabled (the
  // first allocation enables it), then the free entries inside the enabled
  // range, or anywhere when the table can grow; never past what the host
  // said it can enable.
  const unsigned limit = (!msix_enabled_ || device_.msix_can_grow()) ? size() : enabled_;
  return std::min(limit, device_.msix_enable_max());
}

Result<std::vector<unsigned>> VectorDomain::alloc(unsigned min, unsigned max) {
  if (min == 0 || max < min)
    return Error{"vector range " + std::to_string(min) + ".." + std::to_string(max) +
                 " is not valid (accepted: 1 <= min <= max)"};
  if (Status s = prepare_once(); !s) return s.error();
  while (true) {
    const unsigned limit = range_limit();
    const unsigned available = free_within(limit);
    if (available < min) {
      const unsigned host = device_.msix_enable_max();
      if (host < size() && (!msix_enabled_ || device_.msix_can_grow()))
        return Error{device_.name() + ": " + std::to_string(min) + " vectors requested at least, but the host can " +
                     "enable only " + std::to_string(host) + " of the " + std::to_string(size()) +
                     " MSI-X entries (pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt vectors)" +
                     (available < host ? ", " + std::to_string(available) + " of them free" : std::string()) +
                     (available == 0 ? ": free some of them first" : ": ask for at most " + std::to_string(available)) +
                     ", or free interrupt vectors on the host (fewer devices, more CPUs)"};
      std::string why =
          msix_enabled_ && !device_.msix_can_grow()
              ? " (MSI-X is enabled with " + std::to_string(enabled_) + " entries and the device cannot grow)"
              : "";
      return Error{device_.name() + ": " + std::to_string(min) + " vectors requested at least, " +
                   std::to_string(available) + " available of " + std::to_string(size()) + why};
    }
    const unsigned n = std::min(max, available);
    std::vector<unsigned> indices;
    for (unsigned i = 0; i < limit && indices.size() < n; ++i)
      if (!entries_[i].allocated) indices.push_back(i);
    const unsigned host_before = device_.msix_enable_max();
    Status s = arm(indices);
    if (s) return indices;
    // The first enable came back short (vfio_msi_enable returned N > 0,
    // nothing enabled, nothing armed): go round again inside those N, as
    // QEMU retries MSI with the count the kernel gave. The limit only
    // falls, so this ends.
    if (msix_enabled_ || device_.msix_enable_max() >= host_before) return s.error();
  }
}

Result<unsigned> VectorDomain::alloc_at(unsigned index) {
  if (Status s = prepare_once(); !s) return s.error();
  if (index == kAnyIndex) {
    const unsigned limit = range_limit();
    for (unsigned i = 0; i < limit && index == kAnyIndex; ++i)
      if (!entries_[i].allocated) index = i;
    if (index == kAnyIndex) return Error{device_.name() + ": no free MSI-X entry left"};
  }
  if (index >= size())
    return Error{device_.name() + ": MSI-X entry " + std::to_string(index) + " is out of range (accepted: 0.." +
                 std::to_string(size() - 1) + ")"};
  if (entries_[index].allocated)
    return Error{device_.name() + ": MSI-X entry " + std::to_string(index) + " is already allocated"};
  if (msix_enabled_ && index >= enabled_ && !device_.msix_can_grow())
    return Error{device_.name() + ": MSI-X entry " + std::to_string(index) + " is past the " +
                 std::to_string(enabled_) + " entries MSI-X was enabled with, and the device cannot grow " +
                 "(VFIO_IRQ_INFO_NORESIZE)"};
  if (index >= device_.msix_enable_max())
    return Error{device_.name() + ": MSI-X entry " + std::to_string(index) + " is past the " +
                 std::to_string(device_.msix_enable_max()) +
                 " entries the host can enable (pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt " +
                 "vectors)"};
  if (Status s = arm({index}); !s) return s.error();
  return index;
}

Status VectorDomain::free(const std::vector<unsigned>& indices, bool disarm, Leftovers* leftovers) {
  for (unsigned index : indices)
    if (index >= size() || !entries_[index].allocated)
      return Error{device_.name() + ": MSI-X entry " + std::to_string(index) + " is not allocated"};
  for (unsigned index : indices) entries_[index].allocated = false;
  if (!disarm) return ok_status();
  std::vector<unsigned> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  Status s = for_each_run(sorted, [&](unsigned start, std::size_t count) {
    std::vector<int> none(count, -1);
    return device_.set_msix_eventfds(start, none);
  });
  // Disarmed: nothing more arrives; what the eventfds hold is read before
  // they close, so the caller can account it.
  for (unsigned index : sorted) {
    if (std::uint64_t n = read_nowait(entries_[index].fd.get()); n != 0 && leftovers != nullptr)
      leftovers->emplace_back(index, n);
    entries_[index].fd.reset();
  }
  return s;
}

Status VectorDomain::disable_msix() {
  if (!msix_enabled_) return ok_status();
  msix_enabled_ = false;
  enabled_ = 0;
  return device_.disable_msix();
}

VectorDomain::Leftovers VectorDomain::read_leftovers() {
  Leftovers out;
  for (unsigned i = 0; i < size(); ++i) {
    if (entries_[i].fd.get() < 0) continue;
    if (std::uint64_t n = read_nowait(entries_[i].fd.get()); n != 0) out.emplace_back(i, n);
  }
  return out;
}

unsigned VectorDomain::close_eventfds() {
  unsigned n = 0;
  for (Entry& e : entries_) {
    if (e.fd.get() < 0) continue;
    e.fd.reset();
    ++n;
  }
  return n;
}

bool VectorDomain::teardown() {
  if (!prepared_ || torn_down_) return false;
  torn_down_ = true;
  ++teardown_calls_;
  // The reverse of prepare: nothing may still be enabled, armed or open.
  (void)disable_msix();
  close_eventfds();
  for (Entry& e : entries_) e.allocated = false;
  return true;
}

int VectorDomain::eventfd(unsigned index) const { return index < size() ? entries_[index].fd.get() : -1; }

bool VectorDomain::allocated(unsigned index) const { return index < size() && entries_[index].allocated; }

}  // namespace irqd
