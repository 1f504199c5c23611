// SPDX-License-Identifier: GPL-2.0-only
//
// The dispatch path: per serving CPU, one reactor thread pinned to that CPU
// reads the eventfds of the vectors it serves and hands (vector, count,
// stamp) to that CPU's worker through its own lock-free SPSC queue, or runs
// the handler itself (inline). Nothing is shared between CPUs; the only
// cross-thread traffic is each reactor's queue to its worker.
//
// Three reactors behind one interface, picked by name:
//   io_uring  one ring per CPU, registered files, read SQEs re-armed in
//             batches or multishot poll + read(), optional busy-poll;
//   epoll     one epoll thread per CPU, read() per ready fd (what DPDK's
//             EAL interrupt thread does);
//   thread    one blocking thread per vector (the naive host).

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fault.h"
#include "base/result.h"
#include "dispatch/histogram.h"

namespace irqd {

enum class ReactorKind { kIoUring, kEpoll, kThread };
Result<ReactorKind> reactor_from_name(std::string_view name);
std::string_view reactor_name(ReactorKind kind);

// kAdaptive: the reactor runs the handler itself while its worker shares
// its CPU, has nothing queued and is not in a handler (no wake-up to pay,
// no second thread to run on); under backlog it queues, so it can keep
// reading. One vector is still handled by one thread at a time: the
// reactor runs a handler only when its worker can have nothing to run.
enum class Handoff { kQueue, kInline, kAdaptive };
std::string_view handoff_name(Handoff handoff);
// What a reactor does when its worker's queue is full: wait for room
// (counted as a back-off) or drop the interrupts (counted, reason queue_full).
enum class FullPolicy { kBackoff, kDrop };
// How the io_uring reactor learns of a signalled eventfd. kAuto: the engine
// measures both on the machine it runs on (a short saturated run of each
// when its first lane starts) and uses the faster; DispatchStats says
// which and why.
enum class UringMethod { kReadSqe, kPollMultishot, kAuto };
std::string_view uring_method_name(UringMethod method);

// Where kAuto keeps what it measured, so that a machine calibrates once
// per kernel, hand-off and CPU count instead of at every start (and keeps
// its choice: two close methods can swap places from run to run). The
// engine makes the key (uring_choice_key()); the daemon keeps the file.
// Either function may be empty.
struct UringChoiceCache {
  struct Entry {
    UringMethod method = UringMethod::kReadSqe;
    std::string why;        // the measurement that chose it
    double read_per_s = 0;  // what read SQEs served saturated in it
  };
  std::function<std::optional<Entry>(const std::string& key)> lookup;
  std::function<void(const std::string& key, const Entry& entry)> store;
};

struct DispatchOptions {
  ReactorKind reactor = ReactorKind::kIoUring;
  Handoff handoff = Handoff::kQueue;
  FullPolicy when_full = FullPolicy::kBackoff;
  unsigned queue_capacity = 4096;
  UringMethod uring_method = UringMethod::kReadSqe;
  UringChoiceCache uring_cache;  // kAuto only
  // io_uring: serve with read SQEs while the load is well below what they
  // served saturated (uring_read_ceiling_per_s) and with uring_method near
  // it (LoadGauge), switching on the fly. Set by kAuto where multishot poll
  // measured faster saturated: at light load read SQEs cost one system call
  // less per interrupt.
  bool uring_switch_by_load = false;
  double uring_read_ceiling_per_s = 0;
  // Tests only: with uring_switch_by_load, switch every this many waits
  // whatever the load (0: by load).
  unsigned uring_switch_every = 0;
  // io_uring: spin on the completion ring this long before sleeping in the
  // kernel; 0 sleeps at once.
  std::uint64_t busy_poll_ns = 0;
  // The CPU of the worker serving a reactor's CPU; unset: the same CPU (the
  // Seastar shape). Another CPU lets a busy-polling reactor keep its CPU
  // without starving its own worker.
  std::function<unsigned(unsigned reactor_cpu)> worker_cpu;
  // Where a read's trigger stamp comes from: consume(vector, count) returns
  // the CLOCK_MONOTONIC time of the oldest of those interrupts, 0 if not
  // known. Called on the reactor thread that read the eventfd.
  std::function<std::uint64_t(unsigned vector, std::uint64_t count)> consume_stamp;
  // The driver's handler, on the worker (queue) or the reactor (inline)
  // thread of the vector's CPU. May be empty: counting only.
  std::function<void(unsigned vector, std::uint64_t count, std::uint64_t stamp)> handler;
  // Told of every drop (reason queue_full) as it happens, on the reactor
  // thread, for live counters; the totals are in DispatchStats either way.
  std::function<void(unsigned vector, std::uint64_t count)> on_drop;
  // Tests only (base/fault.h): fails the system calls of start(): thread
  // creation and pinning, each reactor's stop eventfd, io_uring setup and
  // register, epoll_create1 and epoll_ctl. Empty in production.
  FaultHook fault;
};

// A vector to host: its number, its eventfd (blocking), its serving CPU.
struct VectorBinding {
  unsigned vector = 0;
  int fd = -1;
  unsigned cpu = 0;
};

struct CpuStats {
  unsigned cpu = 0;
  int reactor_ran_on = -1;        // sched_getcpu() seen by the reactor thread(s)
  int worker_ran_on = -1;         // and by the worker; -1 inline
  int worker_cpu = -1;            // where the worker was pinned; -1 inline
  std::uint64_t reads = 0;        // eventfd reads that returned a count
  std::uint64_t handled = 0;      // sum of counts that reached the handler
  std::uint64_t invocations = 0;  // handler calls
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t backoffs = 0;  // times a reactor waited for queue room
  // Handoff::kAdaptive: handler calls the reactor made itself (the rest of
  // invocations went through the queue).
  std::uint64_t inline_invocations = 0;
  // Invocations whose trigger stamp was after the handler started: a clock
  // or stamp bug; expected to stay 0.
  std::uint64_t negative_latency = 0;
  std::uint64_t reactor_cpu_ns = 0;
  std::uint64_t worker_cpu_ns = 0;
  std::uint64_t method_switches = 0;  // io_uring switching by load: times it switched
  LatencyHistogram latency;           // trigger -> handler start, per invocation
};

struct DispatchStats {
  std::vector<CpuStats> cpus;  // one per serving CPU, ascending
  // Indexed by vector number (size = highest vector + 1).
  std::vector<std::uint64_t> handled_per_vector;
  std::vector<std::uint64_t> invocations_per_vector;
  std::vector<std::uint64_t> dropped_per_vector;
  LatencyHistogram latency;  // all CPUs merged
  // What took a vector or a reactor out of service while it ran, one line
  // each (the CPU, the step, the vector, the errno text); empty normally.
  std::vector<std::string> errors;
  // UringMethod::kAuto: the method chosen and the measurement behind it;
  // empty otherwise.
  std::string uring_choice;
  std::uint64_t handled() const;
  std::uint64_t invocations() const;
  std::uint64_t dropped_queue_full() const;
  std::uint64_t cpu_ns() const;  // reactors + workers
};

class Dispatcher {
 public:
  // Starts one reactor (and, with Handoff::kQueue, one worker) per serving
  // CPU, pinned there, in CPU order. Fails if a CPU cannot be used or a ring
  // cannot be set up; then every lane that did start is stopped (drained
  // and joined) and nothing keeps running. The lanes that started before
  // the failing one may already have read and handled interrupts: on
  // failure their totals go to *partial (when given), so that the caller
  // can account them; an error never throws counted interrupts away.
  static Result<std::unique_ptr<Dispatcher>> start(const std::vector<VectorBinding>& vectors, DispatchOptions options,
                                                   DispatchStats* partial = nullptr);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The first half of stop(): every reactor stops arming new reads and
  // starts draining; returns without waiting. The unbind sequence calls it
  // as its own step before stop().
  void stop_arming();

  // Stops arming new reads, drains what is already signalled (one last
  // read of every eventfd, dispatched or dropped with a reason), drains the
  // queues, joins every thread and returns the totals; idempotent (a second
  // call returns the same). A device still firing may signal after the
  // drain: that count stays in the eventfd for the caller (the unbind
  // sequence reads it once MSI-X is off).
  const DispatchStats& stop();

  // Which io_uring method is in use (for reports).
  ReactorKind reactor() const;

 private:
  struct Impl;
  explicit Dispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace irqd
