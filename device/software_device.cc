// SPDX-License-Identifier: GPL-2.0-only

#include "device/software_device.h"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <string>
#include <utility>

#include "base/unique_fd.h"

namespace irqd {
namespace {

// Largest ring we accept: 2048 vectors x 65536 stamps x 8 bytes is 1 GiB,
// already far more than any backlog worth measuring.
constexpr unsigned kMaxRingSize = 65536;

// Adds 1 to an eventfd's count. Returns 0 or errno.
int eventfd_add_one(int fd) {
  const std::uint64_t one = 1;
  while (true) {
    ssize_t n = ::write(fd, &one, sizeof one);
    if (n == static_cast<ssize_t>(sizeof one)) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? errno : EIO;  // an eventfd write is all or nothing
  }
}

}  // namespace

// The firing thread writes `fired` (and its cached view of `consumed`); the
// reader writes `consumed`. Each lives on its own cache line so that a fire
// does not evict the line the reader is about to update and vice versa;
// the ring pointer and the self-armed fd, read by both and written by
// neither, get a third line.
//
// `armed_fd` and `firing` form a Dekker (store-buffering) pair between the
// firing thread and the thread that re-arms the entry (set_msix_eventfds,
// disable_msix, close: the control thread):
//
//   fire()                               arm(new_fd)
//   F1 firing = true        (seq_cst)    A1 armed_fd = new_fd  (seq_cst)
//   F2 fd = armed_fd        (seq_cst)    A2 while (firing)     (seq_cst)
//   F3 write(fd, 1)                      A3 return
//   F4 firing = false       (release)
//
// Each side stores, then loads what the other stored; with weaker orders
// both loads could read the old values (a store may wait in the store
// buffer while the load behind it goes ahead), the fire writing the old
// eventfd after arm() returned. Here all four are seq_cst operations (no
// standalone fence: ThreadSanitizer sees and checks these), so they sit in
// one total order S, and each load reads the last store to its object
// before it in S (or a later one):
//   - A1 before F2 in S: F2 reads new_fd (or later): the fire goes to the
//     new eventfd (-1: refused, counted unarmed).
//   - F2 before A1: then F1 < F2 < A1 < A2 in S, so A2 reads F1's true or a
//     later store; it spins until it reads F4's false, and F4's release
//     with A2's acquire makes F3, the write to the old eventfd, happen
//     before arm() returns. A later fire's F1 is sequenced after F4, so
//     that false can never be read from an older fire once a newer one
//     has raised `firing` again.
// Once arm() returns, no fire can still write to the old eventfd. That is
// what lets the unbind sequence read an eventfd's leftovers after disabling
// MSI-X and know nothing more will arrive.
struct SoftwareDevice::Vector {
  explicit Vector(unsigned ring_size) : ring(std::make_unique<std::atomic<std::uint64_t>[]>(ring_size)) {}

  alignas(64) std::atomic<std::uint64_t> fired{0};
  // The producer's last look at `consumed`. While it shows room, fire() does
  // not touch the reader's line at all; it reloads only when the ring looks
  // full.
  std::uint64_t consumed_seen = 0;
  std::atomic<bool> firing{false};
  std::atomic<int> armed_fd{-1};

  alignas(64) std::atomic<std::uint64_t> consumed{0};
  // The reader's last look at `fired`, the mirror of consumed_seen: while
  // it covers what a consume takes, consume() does not touch the
  // producer's line (see consume()).
  std::uint64_t fired_seen = 0;

  alignas(64) UniqueFd own_fd;  // self-armed devices only
  // Stamps; slot = fire index & mask. Atomics, stored and loaded relaxed
  // (plain moves on x86), because consume() may read a slot without an
  // acquire of `fired` in between.
  std::unique_ptr<std::atomic<std::uint64_t>[]> ring;
};

Result<std::unique_ptr<SoftwareDevice>> SoftwareDevice::create(unsigned nvectors, unsigned ring_size) {
  Options options;
  options.nvectors = nvectors;
  options.ring_size = ring_size;
  return create(options);
}

Result<std::unique_ptr<SoftwareDevice>> SoftwareDevice::create(const Options& options) {
  const unsigned nvectors = options.nvectors;
  const unsigned ring_size = options.ring_size;
  if (nvectors < 1 || nvectors > kMaxSoftwareVectors)
    return Error{"vector count " + std::to_string(nvectors) + " is not valid (accepted: 1 to " +
                 std::to_string(kMaxSoftwareVectors) + ")"};
  if (ring_size < 1 || ring_size > kMaxRingSize || !std::has_single_bit(ring_size))
    return Error{"ring size " + std::to_string(ring_size) + " is not valid (accepted: a power of two from 1 to " +
                 std::to_string(kMaxRingSize) + ")"};

  std::unique_ptr<SoftwareDevice> device(new SoftwareDevice());
  device->ring_mask_ = ring_size - 1;
  device->name_ = options.name;
  device->can_grow_ = options.can_grow;
  device->host_vectors_ = options.host_vectors;
  device->no_msix_ = options.no_msix;
  device->fail_set_irqs_call_ = options.fail_set_irqs_call;
  device->fault_ = options.fault;
  if (int err = inject_fault(options.fault, "eventfd"); err != 0)
    return Error{"cannot create the request eventfd: " + errno_string(err)};
  device->request_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (device->request_fd_.get() < 0) return Error{"cannot create the request eventfd: " + errno_string(errno)};
  device->vectors_.reserve(nvectors);
  for (unsigned v = 0; v < nvectors; ++v) {
    device->vectors_.push_back(std::make_unique<Vector>(ring_size));
    if (!options.self_armed) continue;
    // Blocking on purpose (see eventfd() in the header); close-on-exec so a
    // spawned helper does not keep the device's vectors alive.
    int err = inject_fault(options.fault, "eventfd");
    UniqueFd fd(err == 0 ? ::eventfd(0, EFD_CLOEXEC) : -1);
    if (fd.get() < 0) {
      if (err == 0) err = errno;
      std::string message = "cannot create the eventfd of vector " + std::to_string(v) + " (of " +
                            std::to_string(nvectors) + "): " + errno_string(err);
      // Running out of descriptors is the likely failure with many vectors;
      // say which limit so the user knows what to raise.
      if (rlimit lim{}; (err == EMFILE) && ::getrlimit(RLIMIT_NOFILE, &lim) == 0)
        message += " (RLIMIT_NOFILE soft limit " + std::to_string(lim.rlim_cur) + ")";
      return Error{std::move(message)};  // the fds made so far close with `device`
    }
    device->vectors_.back()->armed_fd.store(fd.get());
    device->vectors_.back()->own_fd = std::move(fd);
  }
  if (options.self_armed) device->enabled_ = nvectors;
  return device;
}

SoftwareDevice::~SoftwareDevice() = default;  // each Vector's own_fd closes its eventfd

unsigned SoftwareDevice::nvectors() const { return static_cast<unsigned>(vectors_.size()); }

int SoftwareDevice::eventfd(unsigned vector) const {
  assert(vector < vectors_.size());
  return vectors_[vector]->armed_fd.load();
}

void SoftwareDevice::arm(unsigned vector, int fd) {
  Vector& v = *vectors_[vector];
  v.armed_fd.store(fd);      // A1, seq_cst: the Dekker pair with fire() (see Vector)
  while (v.firing.load()) {  // A2, seq_cst
  }
}

unsigned SoftwareDevice::msix_count() const { return no_msix_ ? 0 : nvectors(); }

Status SoftwareDevice::set_msix_eventfds(unsigned start, std::span<const int> fds) {
  const std::string what =
      name_ + ": SET_IRQS(MSIX, start " + std::to_string(start) + ", count " + std::to_string(fds.size()) + ")";
  if (closed_) return Error{what + ": the device is closed"};
  if (fail_set_irqs_call_ != 0 && ++set_irqs_calls_ == fail_set_irqs_call_)
    return Error{what + ": " + errno_string(EINVAL) + " (injected fault)"};
  if (int err = inject_fault(fault_, "VFIO_DEVICE_SET_IRQS"); err != 0) return Error{what + ": " + errno_string(err)};
  const std::size_t end = start + fds.size();
  if (fds.empty() || end > vectors_.size())
    return Error{what + ": " + errno_string(EINVAL) + " (table has " + std::to_string(vectors_.size()) + " entries)"};
  // As vfio-pci without dynamic MSI-X: the first call enables the range,
  // later calls stay inside it.
  if (enabled_ != 0 && end > enabled_ && !can_grow_)
    return Error{what + ": " + errno_string(EINVAL) + " (MSI-X enabled with " + std::to_string(enabled_) +
                 " entries and the device cannot grow)"};
  if (host_vectors_ != 0 && end > host_vectors_) {
    if (enabled_ == 0) {
      // vfio_msi_enable(): pci_alloc_irq_vectors(pdev, 1, end) gave
      // host_vectors; vfio-pci frees them and returns that count.
      enable_max_ = host_vectors_;
      return Error{what + " returned " + std::to_string(host_vectors_) + ": " +
                   msix_short_message(host_vectors_, static_cast<unsigned>(end)) + "; MSI-X stays disabled"};
    }
    return Error{what + ": " + errno_string(ENOSPC) + " (the host has " + std::to_string(host_vectors_) +
                 " interrupt vectors for this device)"};
  }
  enabled_ = std::max<unsigned>(enabled_, static_cast<unsigned>(end));
  if (enable_max_ != 0) enable_max_ = std::max(enable_max_, enabled_);
  for (std::size_t i = 0; i < fds.size(); ++i) arm(start + static_cast<unsigned>(i), fds[i]);
  return ok_status();
}

Status SoftwareDevice::disable_msix() {
  if (closed_) return Error{name_ + ": SET_IRQS(MSIX, DATA_NONE): the device is closed"};
  if (int err = inject_fault(fault_, "VFIO_DEVICE_SET_IRQS"); err != 0)
    return Error{name_ + ": SET_IRQS(MSIX, DATA_NONE): " + errno_string(err)};
  for (unsigned v = 0; v < vectors_.size(); ++v) arm(v, -1);
  enabled_ = 0;
  return ok_status();
}

void SoftwareDevice::request_unplug() { eventfd_add_one(request_fd_.get()); }

void SoftwareDevice::close() {
  if (closed_) return;
  closed_ = true;
  for (unsigned v = 0; v < vectors_.size(); ++v) arm(v, -1);
}

bool SoftwareDevice::fire(unsigned vector, std::uint64_t stamp_ns) {
  assert(vector < vectors_.size());
  Vector& v = *vectors_[vector];
  const std::uint64_t f = v.fired.load(std::memory_order_relaxed);  // only this thread writes it
  if (f - v.consumed_seen > ring_mask_) {
    // Acquire: the reader has finished reading the slots it released, so
    // overwriting them below is safe.
    v.consumed_seen = v.consumed.load(std::memory_order_acquire);
    if (f - v.consumed_seen > ring_mask_) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  v.firing.store(true);              // F1, seq_cst: the Dekker pair with arm() (see Vector)
  const int fd = v.armed_fd.load();  // F2, seq_cst
  if (fd < 0) {
    v.firing.store(false, std::memory_order_release);
    unarmed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  v.ring[f & ring_mask_].store(stamp_ns, std::memory_order_relaxed);
  // Publish before the write: a reader that sees the eventfd count must
  // find the stamp of every fire in it.
  v.fired.store(f + 1, std::memory_order_release);
  const int err = eventfd_add_one(fd);
  if (err != 0) {
    // The count never reached the eventfd, so no reader can consume this
    // fire: taking it back keeps fired == sum of eventfd counts.
    v.fired.store(f, std::memory_order_release);
    write_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  v.firing.store(false, std::memory_order_release);  // F4: the write happens before arm() returns
  return err == 0;
}

std::uint64_t SoftwareDevice::consume(unsigned vector, std::uint64_t count) {
  assert(vector < vectors_.size());
  Vector& v = *vectors_[vector];
  const std::uint64_t c = v.consumed.load(std::memory_order_relaxed);  // only this thread writes it
  if (count > v.fired_seen - c) {
    // Acquire pairs with fire()'s release: it makes the stamps of every
    // fire up to `fired` visible in the C++ memory model (and to
    // ThreadSanitizer). Loading it on every consume would pull the
    // producer's line over to this CPU on every eventfd read and make the
    // producer's next fire miss on it (perf, saturated: a third of fire()
    // and of consume() waited for that line), so the reader keeps what it
    // saw, like the producer keeps consumed_seen.
    v.fired_seen = v.fired.load(std::memory_order_acquire);
  }
  // Where the cache alone covers `count`, the stamps read below were stored
  // before the write(2) that raised the eventfd count this thread's read
  // returned; the eventfd's wait-queue lock orders that write before the
  // read, so they are the fires' own stamps, and the slots cannot have been
  // reused: the producer refills a slot only after `consumed` passed it.
  assert(count <= v.fired_seen - c);
  // Never step past what was fired, even if a caller over-counts: the slots
  // beyond hold stale stamps the producer may be rewriting.
  count = std::min(count, v.fired_seen - c);
  if (count == 0) return 0;
  const std::uint64_t oldest = v.ring[c & ring_mask_].load(std::memory_order_relaxed);
  v.consumed.store(c + count, std::memory_order_release);
  return oldest;
}

std::uint64_t SoftwareDevice::fired(unsigned vector) const {
  assert(vector < vectors_.size());
  return vectors_[vector]->fired.load(std::memory_order_relaxed);
}

std::uint64_t SoftwareDevice::consumed(unsigned vector) const {
  assert(vector < vectors_.size());
  return vectors_[vector]->consumed.load(std::memory_order_relaxed);
}

std::uint64_t SoftwareDevice::total_fired() const {
  std::uint64_t total = 0;
  for (const auto& v : vectors_) total += v->fired.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t SoftwareDevice::refused() const { return refused_.load(std::memory_order_relaxed); }

std::uint64_t SoftwareDevice::unarmed() const { return unarmed_.load(std::memory_order_relaxed); }

std::uint64_t SoftwareDevice::write_errors() const { return write_errors_.load(std::memory_order_relaxed); }

}  // namespace irqd
