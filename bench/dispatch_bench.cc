// SPDX-License-Identifier: GPL-2.0-only
//
// dispatch_bench: the cost of one reactor iteration per event, for each
// reactor, through irqd's own Dispatcher (hand-off, accounting and all):
// what floor_bench's bare loops become once they are irqd.
//
// A Dispatcher hosts 64 blocking eventfds, every one served by CPU 0. The
// benchmark thread, pinned to CPU 1, writes 1 to each of the 64 in turn (a
// burst) and spins until the handler has counted all 64, so every iteration
// is one burst, delivered, dispatched and handled. Variants:
//
//   io_uring_read   read SQEs re-armed in batches (irqd bench's io_uring)
//   io_uring_poll   multishot poll + read()       (irqd bench's io_uring-poll)
//   epoll           level-triggered epoll + read()
//   thread          one blocking read() thread per eventfd
//
// each with the handler run inline on the reactor thread, and with the
// queue hand-off to CPU 0's worker thread (which shares the CPU).
//
// Counters:
//   cpu_ns/event     CPU time of the dispatcher's threads (reactors and
//                    workers, their thread CPU clocks, from DispatchStats)
//                    per handled event: the reactor-iteration cost
//   events/s         handled events per second of wall time
//   calls/event      handler invocations per event (1: no coalescing, as
//                    each burst writes each eventfd once and waits)
// The Time column is one burst's round trip, writer to last handler.
//
//   cmake --preset release && cmake --build --preset release --target dispatch_bench
//   build/release/bench/dispatch_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Needs two CPUs. On a shared 2-CPU host anything else running lands on the
// dispatcher's or the writer's CPU; see floor_bench.cc for running it in its
// own autogroup at nice -20, and say how it was run next to the figures.

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "dispatch/dispatcher.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

constexpr unsigned kFds = 64;
constexpr unsigned kServingCpu = 0;
constexpr unsigned kWriterCpu = 1;
// A burst not handled in this long means the dispatcher lost an event: the
// run ends with an error instead of spinning for ever.
constexpr std::uint64_t kLostAfterNs = 10'000'000'000;

struct Variant {
  const char* name;
  ReactorKind reactor;
  UringMethod method;
};

constexpr Variant kVariants[] = {
    {"io_uring_read", ReactorKind::kIoUring, UringMethod::kReadSqe},
    {"io_uring_poll", ReactorKind::kIoUring, UringMethod::kPollMultishot},
    {"epoll", ReactorKind::kEpoll, UringMethod::kReadSqe},
    {"thread", ReactorKind::kThread, UringMethod::kReadSqe},
};

// Pins the calling thread for the scope and puts its old CPU set back after,
// so the next benchmark starts from where this one did.
class PinnedScope {
 public:
  explicit PinnedScope(unsigned cpu) : saved_(save(old_)), status_(pin_to_cpu(cpu)) {}
  PinnedScope(const PinnedScope&) = delete;
  PinnedScope& operator=(const PinnedScope&) = delete;
  ~PinnedScope() {
    if (saved_) sched_setaffinity(0, sizeof(old_), &old_);
  }
  const Status& status() const { return status_; }

 private:
  static bool save(cpu_set_t& set) {
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof(set), &set) == 0;
  }

  cpu_set_t old_{};
  bool saved_;
  Status status_;
};

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void dispatch_burst(benchmark::State& state, const Variant& variant, Handoff handoff) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    state.SkipWithError("needs two CPUs: one serving, one writing");
    return;
  }
  std::vector<UniqueFd> fds;
  std::vector<VectorBinding> bindings;
  for (unsigned v = 0; v < kFds; ++v) {
    // Blocking, as a VFIO user's eventfds are: io_uring's read SQEs and the
    // thread reactor's read() wait on them.
    fds.emplace_back(eventfd(0, EFD_CLOEXEC));
    if (!fds.back().valid()) {
      state.SkipWithError("eventfd failed");
      return;
    }
    bindings.push_back({v, fds.back().get(), kServingCpu});
  }

  // Written by the handler's one thread (the worker, or CPU 0's reactor
  // when inline); its own cache line, away from what the writer touches.
  // The thread reactor has 64 reactor threads, so inline it has 64 writers:
  // fetch_add keeps that exact.
  alignas(64) std::atomic<std::uint64_t> handled{0};
  DispatchOptions options;
  options.reactor = variant.reactor;
  options.uring_method = variant.method;
  options.handoff = handoff;
  options.handler = [&handled](unsigned /*vector*/, std::uint64_t count, std::uint64_t /*stamp*/) {
    handled.fetch_add(count, std::memory_order_release);
  };
  auto dispatcher = Dispatcher::start(bindings, std::move(options));
  if (!dispatcher) {
    state.SkipWithError(("Dispatcher::start: " + dispatcher.error().message).c_str());
    return;
  }

  PinnedScope pinned(kWriterCpu);
  if (!pinned.status().ok()) {
    state.SkipWithError(("pin writer: " + pinned.status().error().message).c_str());
    return;
  }

  std::uint64_t target = 0;
  bool lost = false;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    for (const UniqueFd& fd : fds) eventfd_add(fd.get(), 1);
    target += kFds;
    std::uint64_t spins = 0;
    std::uint64_t deadline = 0;
    while (handled.load(std::memory_order_acquire) < target) {
      cpu_relax();
      // Read the clock only now and then: the spin is what is timed.
      if ((++spins & 0xffff) == 0) {
        std::uint64_t now = monotonic_ns();
        if (deadline == 0) deadline = now + kLostAfterNs;
        if (now > deadline) {
          lost = true;
          break;
        }
      }
    }
    if (lost) break;
  }

  const DispatchStats& stats = (*dispatcher)->stop();
  if (lost) {
    state.SkipWithError("a burst was not handled within 10 s: the dispatcher lost an event");
    return;
  }
  if (stats.handled() != target || handled.load() != target) {
    state.SkipWithError(("handled " + std::to_string(stats.handled()) + " of " + std::to_string(target)).c_str());
    return;
  }
  const auto events = static_cast<double>(stats.handled());
  state.counters["cpu_ns/event"] = events > 0 ? static_cast<double>(stats.cpu_ns()) / events : 0;
  state.counters["events/s"] = benchmark::Counter(events, benchmark::Counter::kIsRate);
  state.counters["calls/event"] = events > 0 ? static_cast<double>(stats.invocations()) / events : 0;
}

}  // namespace
}  // namespace irqd

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (const irqd::Variant& v : irqd::kVariants) {
    for (auto [handoff, name] :
         {std::pair{irqd::Handoff::kInline, "inline"}, std::pair{irqd::Handoff::kQueue, "queue"}}) {
      benchmark::RegisterBenchmark(
          (std::string("dispatch/") + v.name + "/" + name).c_str(),
          [&v, handoff = handoff](benchmark::State& s) { irqd::dispatch_burst(s, v, handoff); })
          // The writer spins while it waits, so its CPU time is its wall
          // time; rates are per wall second all the same.
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
