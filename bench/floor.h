// SPDX-License-Identifier: GPL-2.0-only
//
// The floor irqd's reactors are judged against: bare loops that read the
// same number of eventfds, fired with the same pattern from the same CPU,
// on the same dispatch CPUs as `irqd bench` runs its reactors, and nothing
// else. "Floor" means exactly that, and the loops must stay that way:
//
//   - no hand-off: the reading thread is the only thread per CPU (one per
//     vector for `thread`), nothing is queued to a worker;
//   - no accounting beyond the count: each loop adds up the eventfd counts
//     it reads, in locals published with relaxed stores once per batch; no
//     per-vector counters, no histogram;
//   - no stamps: the writer writes 1 to plain eventfds, it does not record a
//     trigger time, and the reader reads no clock.
//
// Whatever a reactor measures above these figures (in the same invocation,
// on the same CPUs) is what irqd adds. bench/floor_bench runs the same
// loops under Google Benchmark, with more variants (ring set-up flags, busy
// polling, latency); `irqd bench --floor` interleaves them with the
// reactors' runs.

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "device/software_device.h"

namespace irqd {

// How a bare loop reads its eventfds. The io_uring ones set up their ring
// with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, the fastest
// flags floor_bench found on both machines measured (DESIGN.md).
enum class FloorMethod {
  kUringRead,  // one 8-byte IORING_OP_READ per fd (registered files), re-armed in batches
  kUringPoll,  // multishot POLLIN per fd, one read per signalled fd per batch
  kEpoll,      // level-triggered epoll, read() each ready fd
  kThread,     // one thread per fd blocked in read()
};

inline constexpr std::string_view kFloorMethodNames = "uring-read, uring-poll, epoll, thread";
inline constexpr FloorMethod kFloorMethods[] = {FloorMethod::kUringRead, FloorMethod::kUringPoll, FloorMethod::kEpoll,
                                                FloorMethod::kThread};

std::string_view floor_method_name(FloorMethod method);
// `what` names the flag in the error, with the value and the accepted names.
Result<FloorMethod> parse_floor_method(std::string_view what, const std::string& name);

// One bare run: a writer pinned to fire_cpu fires `pattern` over the
// vectors (drawn by `choice`, with the firing engine's seed, schedule and
// wait: FireSchedule, VectorSampler), and the method's reader(s) pinned to
// each vector's serving CPU read them. Measured as the runner measures a
// reactor: from the writer's start until every reader has read the last
// fire, interrupts/s = interrupts read / that time, CPU ns per interrupt =
// the readers' thread CPU time / interrupts read.
struct FloorRunOptions {
  FloorMethod method = FloorMethod::kUringRead;
  FirePattern pattern;
  VectorChoice choice;
  int fire_cpu = -1;
  // The serving CPU of vector i; one entry per vector.
  std::vector<unsigned> vector_cpus;
  double seconds = 1;
  std::uint64_t seed = 1;  // FiringEngine::Options' default
};

struct FloorResult {
  double seconds = 0;
  std::uint64_t fired = 0;       // eventfd writes of 1
  std::uint64_t interrupts = 0;  // the eventfd counts read; == fired, checked
  std::uint64_t reader_cpu_ns = 0;
  double interrupts_per_s() const { return seconds > 0 ? static_cast<double>(interrupts) / seconds : 0; }
  double cpu_ns_per_interrupt() const {
    return interrupts > 0 ? static_cast<double>(reader_cpu_ns) / static_cast<double>(interrupts) : 0;
  }
};

// Fails when a thread cannot be pinned, a set-up step fails, a loop hits an
// error, or the counts read differ from the fires (a bug in a loop).
Result<FloorResult> run_floor(const FloorRunOptions& options);

// ---- the loops themselves, shared with bench/floor_bench -------------------

// Written to every eventfd once the writer has stopped: far above any count
// a writer reaches, so a loop tells it apart and subtracts it. A loop
// returns once every one of its fds has delivered it.
inline constexpr std::uint64_t kFloorStop = std::uint64_t{1} << 62;

// What one reader has done so far, on its own cache line: running totals
// stored with relaxed stores once per batch, loaded by whoever measures.
struct alignas(64) FloorProgress {
  std::atomic<std::uint64_t> irqs{0};    // sum of eventfd counts read
  std::atomic<std::uint64_t> reads{0};   // reads that returned a count
  std::atomic<std::uint64_t> events{0};  // epoll events, CQEs, or reads: how each wait batches
  std::atomic<std::uint64_t> empty{0};   // reads that found nothing (multishot poll's stale CQEs)
};

// The running totals of one loop, kept in locals and published once per
// batch.
struct FloorTally {
  std::uint64_t irqs = 0, reads = 0, events = 0, empty = 0, stops = 0;
  void publish(FloorProgress& p) const {
    p.irqs.store(irqs, std::memory_order_relaxed);
    p.reads.store(reads, std::memory_order_relaxed);
    p.events.store(events, std::memory_order_relaxed);
    p.empty.store(empty, std::memory_order_relaxed);
  }
  // Counts one read that returned v; true when it carried kFloorStop.
  bool count(std::uint64_t v) {
    ++reads;
    if (v >= kFloorStop) {
      irqs += v - kFloorStop;
      ++stops;
      return true;
    }
    irqs += v;
    return false;
  }
};

struct FloorReader {
  FloorProgress& progress;
  std::function<void()> ready;            // set up: the writer may start
  std::function<void(std::string)> fail;  // the first error wins; the loop returns
};

// Each runs on the calling thread (already pinned) until every fd delivered
// kFloorStop. The fds are blocking eventfds (the software device's kind).
void floor_epoll_loop(std::span<const int> fds, FloorReader& r);
void floor_uring_read_loop(std::span<const int> fds, unsigned setup_flags, FloorReader& r);
void floor_uring_poll_loop(std::span<const int> fds, unsigned setup_flags, FloorReader& r);
void floor_blocking_loop(int fd, FloorReader& r);

// The ring flags of FloorMethod::kUringRead and kUringPoll.
unsigned floor_uring_flags();

}  // namespace irqd
