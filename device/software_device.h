// SPDX-License-Identifier: GPL-2.0-only
//
// SoftwareDevice: a device with N MSI-X-like vectors, each a real eventfd,
// that behaves like a VFIO device whose vectors are armed with eventfds
// (VFIO_DEVICE_SET_IRQS, DATA_EVENTFD | ACTION_TRIGGER): firing a vector is
// an eventfd write, and repeated fires coalesce into the eventfd's count.
//
// Every fire also records a CLOCK_MONOTONIC stamp (the trigger time) in a
// per-vector single-producer single-consumer ring, so the side that reads
// the eventfd can learn when the oldest interrupt it is about to handle was
// raised. The ring is lock-free: the firing thread owns the write index,
// the vector's reader owns the read index.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/fault.h"
#include "base/pci.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "device/msix_device.h"

namespace irqd {

// A software device has an MSI-X table like any other: at most as large as
// PCI allows.
inline constexpr unsigned kMaxSoftwareVectors = kMaxMsixVectors;

// Two ways to use it. Self-armed (create(n)): the device makes and arms
// its own eventfds, for benchmarks that want the bare data path. Unarmed
// (create(options) with self_armed false): an MsixDevice like a VFIO one,
// whose entries signal the eventfds a vector domain hands to
// set_msix_eventfds(); a fire on an entry with no eventfd is refused.
class SoftwareDevice final : public MsixDevice {
 public:
  struct Options {
    unsigned nvectors = 64;
    // A power of two: the fires one vector may have outstanding (fired, not
    // yet consumed).
    unsigned ring_size = 1024;
    bool self_armed = true;
    std::string name = "soft0";
    bool can_grow = true;  // entries past the first enabled range may be armed later
    // The interrupt vectors the host can give this device, as the kernel's
    // pci_alloc_irq_vectors() would (0: no limit). A first
    // set_msix_eventfds() enabling more entries fails as vfio-pci does:
    // nothing enabled, nothing armed, msix_enable_max() lowered to this; an
    // entry armed later past it (a device that can grow) fails with ENOSPC,
    // as pci_msix_alloc_irq_at() does.
    unsigned host_vectors = 0;
    // Fault injection for the ownership tests: msix_count() reports 0 (the
    // domain's prepare fails), or the Nth set_msix_eventfds() call (1-based)
    // fails with EINVAL.
    bool no_msix = false;
    unsigned fail_set_irqs_call = 0;
    // Tests only (base/fault.h): fails the eventfd() calls of create() and
    // the SET_IRQS of set_msix_eventfds()/disable_msix() (named
    // VFIO_DEVICE_SET_IRQS, as on the device this one stands in for).
    FaultHook fault;
  };
  // nvectors in 1..kMaxSoftwareVectors; self-armed.
  static Result<std::unique_ptr<SoftwareDevice>> create(unsigned nvectors, unsigned ring_size = 1024);
  static Result<std::unique_ptr<SoftwareDevice>> create(const Options& options);
  ~SoftwareDevice() override;  // closes the eventfds it made itself
  SoftwareDevice(const SoftwareDevice&) = delete;
  SoftwareDevice& operator=(const SoftwareDevice&) = delete;

  unsigned nvectors() const;
  // The eventfd a vector signals now, -1 when unarmed: close-on-exec and
  // blocking, like the eventfds a VFIO user hands to SET_IRQS. Blocking
  // matters: io_uring returns -EAGAIN at once for a read on an O_NONBLOCK
  // file instead of waiting, and the thread reactor blocks in read().
  int eventfd(unsigned vector) const;

  // Firing side (one thread at a time). Records stamp_ns and adds 1 to the
  // vector's eventfd. Returns false, firing nothing, when the vector already
  // has ring_size fires outstanding (the caller decides: skip, retry) or has
  // no eventfd armed (counted in unarmed(); the interrupt never happened).
  bool fire(unsigned vector, std::uint64_t stamp_ns);

  // Hot-unplug: signals request_fd(), as the kernel signals a VFIO user's
  // device request before it unbinds the device. The device must outlive
  // the call: a Host unbinds and destroys a device on its control thread as
  // soon as the request is readable, so only that thread may call this on a
  // hosted device. Another thread (a test playing the kernel) signals a
  // dup() of request_fd() instead, as the kernel holds its own reference to
  // a VFIO request eventfd.
  void request_unplug();

  // MsixDevice.
  const std::string& name() const override { return name_; }
  const char* backend() const override { return "software"; }
  unsigned msix_count() const override;
  bool msix_can_grow() const override { return can_grow_; }
  unsigned msix_enable_max() const override { return enable_max_ != 0 ? enable_max_ : msix_count(); }
  Status set_msix_eventfds(unsigned start, std::span<const int> fds) override;
  Status disable_msix() override;
  std::uint64_t consume_stamp(unsigned index, std::uint64_t count) override { return consume(index, count); }
  int request_fd() const override { return request_fd_.get(); }
  void close() override;

  // Reader side (the one thread that read the vector's eventfd): marks
  // `count` fires of the vector consumed and returns the stamp of the
  // oldest of them. count must not exceed what the eventfd returned; a
  // count of 0 consumes nothing and returns 0 ("not known").
  std::uint64_t consume(unsigned vector, std::uint64_t count);

  // Totals, readable from any thread (relaxed; exact once firing stopped).
  std::uint64_t fired(unsigned vector) const;
  std::uint64_t consumed(unsigned vector) const;
  std::uint64_t total_fired() const;
  // Fires refused because the vector's ring was full.
  std::uint64_t refused() const;
  // Fires refused because the entry had no eventfd armed.
  std::uint64_t unarmed() const;
  // Entries MSI-X is enabled with (0: disabled) and whether close() ran:
  // what a test checks a failed bind left behind.
  unsigned msix_enabled() const { return enabled_; }
  bool closed() const { return closed_; }
  // Fires refused because write() to the eventfd failed (other than EINTR,
  // which is retried). Never expected: a blocking eventfd cannot overflow
  // while at most ring_size fires are outstanding; nonzero means a bug.
  std::uint64_t write_errors() const;

 private:
  struct Vector;
  SoftwareDevice() = default;
  void arm(unsigned vector, int fd);
  std::vector<std::unique_ptr<Vector>> vectors_;
  unsigned ring_mask_ = 0;
  std::string name_;
  bool can_grow_ = true;
  unsigned host_vectors_ = 0;
  unsigned enable_max_ = 0;  // 0: msix_count(); else the short answer of a first enable
  bool no_msix_ = false;
  unsigned fail_set_irqs_call_ = 0;
  unsigned set_irqs_calls_ = 0;
  FaultHook fault_;
  unsigned enabled_ = 0;  // entries MSI-X is enabled with; 0: disabled
  bool closed_ = false;
  UniqueFd request_fd_;
  std::atomic<std::uint64_t> unarmed_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> write_errors_{0};
};

// How the firing engine paces fires.
struct FirePattern {
  enum class Kind { kSaturate, kRate, kPoisson, kBurst };
  Kind kind = Kind::kSaturate;
  double rate = 0;     // fires per second (rate, poisson) or bursts per second (burst)
  unsigned burst = 1;  // fires per burst
};
// "saturate", "rate:R", "poisson:R", "burst:B@R" (R > 0, B >= 1).
Result<FirePattern> parse_fire_pattern(std::string_view text);

// Which vector each fire goes to.
struct VectorChoice {
  enum class Kind { kUniform, kZipf };
  Kind kind = Kind::kUniform;
  double s = 0;  // zipf exponent (> 0)
};
// "uniform" or "zipf:S".
Result<VectorChoice> parse_vector_choice(std::string_view text);

// The timetable of a paced pattern: when each event (one fire, or one burst
// of B fires) is due, in ns after the start. rate and burst compute each
// offset from the event's index, so there is no accumulated drift; poisson
// sums exponential gaps drawn from an mt19937_64 seeded with `seed`, so a
// seed always gives the same timetable. saturate has none (always 0).
class FireSchedule {
 public:
  FireSchedule(const FirePattern& pattern, std::uint64_t seed);
  // The next event's offset; never less than the previous one.
  std::uint64_t next_offset_ns();
  // Fires per event: B for burst, 1 otherwise.
  unsigned fires_per_event() const { return fires_per_event_; }

 private:
  FirePattern::Kind kind_;
  double ns_per_event_;
  double rate_;
  unsigned fires_per_event_;
  std::uint64_t index_ = 0;
  std::uint64_t poisson_offset_ns_ = 0;
  std::mt19937_64 rng_;
};

// Draws the vector of each fire: uniform, or zipf (vector k with weight
// 1/(k+1)^S, so vector 0 is the most frequent), from an mt19937_64 seeded
// with `seed`. Deterministic for a seed.
class VectorSampler {
 public:
  VectorSampler(const VectorChoice& choice, unsigned nvectors, std::uint64_t seed);
  unsigned next();

 private:
  unsigned nvectors_;
  std::vector<double> cdf_;  // zipf only: cdf_[k] = P(vector <= k), last exactly 1
  std::mt19937_64 rng_;
};

// A thread pinned to one CPU that fires the device's vectors with a pattern
// until stopped. Paced patterns schedule fires in advance and stamp each
// with its scheduled time (open loop): a firer or dispatcher that falls
// behind shows up as latency, not as a slower rate.
//
// When a vector's ring is full, saturate draws the next vector and goes on
// (the refusal is counted by the device), so one slow vector cannot stall
// the others; paced patterns retry the same fire until it is accepted or
// stop() is called, so the interrupt still happens, late, with its
// scheduled stamp.
class FiringEngine {
 public:
  struct Options {
    FirePattern pattern;
    VectorChoice choice;
    int cpu = -1;  // -1: not pinned
    std::uint64_t seed = 1;
    // Stop on its own after this many accepted fires; 0: only stop() ends it.
    std::uint64_t max_fires = 0;
    // The entries to fire (the ones a driver allocated); empty: all of the
    // device's. The choice draws among these, in this order.
    std::vector<unsigned> vectors;
    // Tests only (base/fault.h): fails the thread's pthread_create or its
    // sched_setaffinity.
    FaultHook fault;
  };
  // The device must outlive the engine. Fails, with no thread left behind,
  // on invalid options or when the thread cannot be pinned to options.cpu.
  static Result<std::unique_ptr<FiringEngine>> start(SoftwareDevice& device, const Options& options);
  ~FiringEngine();  // stops and joins
  FiringEngine(const FiringEngine&) = delete;
  FiringEngine& operator=(const FiringEngine&) = delete;

  // Stops firing and joins the thread; idempotent.
  void stop();
  // Joins without asking the thread to stop: returns once max_fires fires
  // were made (or another thread called stop()).
  void wait();
  // The CPU the thread ran on (sched_getcpu() after pinning), -1 when not
  // pinned (it may then run anywhere).
  int cpu() const;
  std::uint64_t fires() const;  // accepted fires so far
  // Thread CPU time used so far (the thread's CPU clock), ns; after the
  // thread ended, its final value.
  std::uint64_t cpu_ns() const;

 private:
  struct State;
  explicit FiringEngine(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace irqd
