// SPDX-License-Identifier: GPL-2.0-only
//
// One conformance suite, run against every reactor and hand-off mode: a
// reactor that does not pass all of it is not done. The device side is
// plain eventfds written by the test, so every count is known exactly.

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "base/unique_fd.h"
#include "dispatch/dispatcher.h"
#include "dispatch/engine.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

struct Variant {
  const char* name;
  ReactorKind reactor;
  UringMethod method;
  std::uint64_t busy_poll_ns;
  Handoff handoff;
  unsigned switch_every;  // io_uring switching method every this many waits; 0: never
};

std::string variant_name(const testing::TestParamInfo<Variant>& info) { return info.param.name; }

const Variant kVariants[] = {
    {"io_uring_read_queue", ReactorKind::kIoUring, UringMethod::kReadSqe, 0, Handoff::kQueue, 0},
    {"io_uring_read_inline", ReactorKind::kIoUring, UringMethod::kReadSqe, 0, Handoff::kInline, 0},
    {"io_uring_poll_queue", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kQueue, 0},
    {"io_uring_poll_inline", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kInline, 0},
    {"io_uring_busy_queue", ReactorKind::kIoUring, UringMethod::kReadSqe, 20'000, Handoff::kQueue, 0},
    {"epoll_queue", ReactorKind::kEpoll, UringMethod::kReadSqe, 0, Handoff::kQueue, 0},
    {"epoll_inline", ReactorKind::kEpoll, UringMethod::kReadSqe, 0, Handoff::kInline, 0},
    {"thread_queue", ReactorKind::kThread, UringMethod::kReadSqe, 0, Handoff::kQueue, 0},
    {"thread_inline", ReactorKind::kThread, UringMethod::kReadSqe, 0, Handoff::kInline, 0},
    // The adaptive reactor in every mode it can take: each method forced,
    // the method it measures itself, and the hand-off that switches between
    // running the handler on the reactor and queueing it.
    {"io_uring_read_adaptive", ReactorKind::kIoUring, UringMethod::kReadSqe, 0, Handoff::kAdaptive, 0},
    {"io_uring_poll_adaptive", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kAdaptive, 0},
    {"io_uring_auto_adaptive", ReactorKind::kIoUring, UringMethod::kAuto, 0, Handoff::kAdaptive, 0},
    {"io_uring_auto_queue", ReactorKind::kIoUring, UringMethod::kAuto, 0, Handoff::kQueue, 0},
    // Switching between read SQEs and multishot poll every other wait,
    // whatever the load: every switch happens with reads or polls in flight.
    {"io_uring_switching_queue", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kQueue, 2},
    {"io_uring_switching_inline", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kInline, 2},
    {"io_uring_switching_adaptive", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kAdaptive, 2},
    {"epoll_adaptive", ReactorKind::kEpoll, UringMethod::kReadSqe, 0, Handoff::kAdaptive, 0},
    {"thread_adaptive", ReactorKind::kThread, UringMethod::kReadSqe, 0, Handoff::kAdaptive, 0},
};

// Inline variants have no queue to fill.
std::vector<Variant> queue_variants() {
  std::vector<Variant> out;
  for (const Variant& v : kVariants)
    if (v.handoff == Handoff::kQueue) out.push_back(v);
  return out;
}

std::set<std::string> open_fds() {
  std::set<std::string> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.insert(e.path().filename());
  return fds;
}

unsigned online_cpus() { return static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))); }

// Blocking eventfds standing in for a device's vectors. Each fire queues
// its stamp before the eventfd write, so a read of count c always finds c
// stamps; consume() pops them and returns the oldest.
class FakeDevice {
 public:
  explicit FakeDevice(unsigned n) : stamps_(n) {
    for (unsigned i = 0; i < n; ++i) fds_.emplace_back(eventfd(0, EFD_CLOEXEC));
  }
  int fd(unsigned v) const { return fds_[v].get(); }
  void fire(unsigned v, std::uint64_t count = 1) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::uint64_t i = 0; i < count; ++i) stamps_[v].push_back(monotonic_ns());
    }
    ASSERT_EQ(eventfd_add(fds_[v].get(), count), 0);
  }
  std::uint64_t consume(unsigned v, std::uint64_t count) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = stamps_[v];
    if (q.size() < count) {
      missing_stamps_ += count;
      return 0;
    }
    std::uint64_t oldest = q.front();
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(count));
    return oldest;
  }
  std::uint64_t missing_stamps() {
    std::lock_guard<std::mutex> lock(mu_);
    return missing_stamps_;
  }
  // True once nothing is pending on the vector's eventfd (a reactor read it).
  bool drained(unsigned v) const {
    pollfd p{fds_[v].get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  std::vector<UniqueFd> fds_;
  std::mutex mu_;
  std::vector<std::deque<std::uint64_t>> stamps_;
  std::uint64_t missing_stamps_ = 0;
};

// A guard against hangs, not a timing assertion.
template <typename Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

class ReactorConformance : public testing::TestWithParam<Variant> {
 protected:
  static DispatchOptions options(FakeDevice& dev) {
    DispatchOptions o;
    const Variant& v = GetParam();
    o.reactor = v.reactor;
    o.uring_method = v.method;
    o.busy_poll_ns = v.busy_poll_ns;
    o.handoff = v.handoff;
    o.uring_switch_by_load = v.switch_every > 0;
    o.uring_switch_every = v.switch_every;
    o.consume_stamp = [&dev](unsigned v, std::uint64_t c) { return dev.consume(v, c); };
    return o;
  }
  // Vectors 0..n-1 spread over the machine's CPUs (at most two).
  static std::vector<VectorBinding> bindings(const FakeDevice& dev, unsigned n) {
    std::vector<VectorBinding> b;
    unsigned cpus = std::min(2U, online_cpus());
    for (unsigned v = 0; v < n; ++v) b.push_back({v, dev.fd(v), v % cpus});
    return b;
  }
};

TEST_P(ReactorConformance, CountsEveryInterruptExactly) {
  constexpr unsigned kVectors = 8;
  constexpr unsigned kFires = 300;
  FakeDevice dev(kVectors);
  auto d = Dispatcher::start(bindings(dev, kVectors), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (unsigned k = 0; k < kFires; ++k)
    for (unsigned v = 0; v < kVectors; ++v) dev.fire(v);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), kVectors * kFires);
  EXPECT_LE(s.invocations(), kVectors * kFires);
  EXPECT_GE(s.invocations(), kVectors);
  EXPECT_EQ(s.dropped_queue_full(), 0U);
  for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(s.handled_per_vector[v], kFires) << "vector " << v;
  EXPECT_EQ(s.latency.count(), s.invocations());
  EXPECT_EQ(dev.missing_stamps(), 0U) << "a reactor consumed more interrupts than it read";
}

TEST_P(ReactorConformance, HandlesLiveTrafficThenDrainsTheRest) {
  FakeDevice dev(4);
  std::atomic<std::uint64_t> seen{0};
  DispatchOptions o = options(dev);
  o.handler = [&](unsigned, std::uint64_t count, std::uint64_t) { seen += count; };
  auto d = Dispatcher::start(bindings(dev, 4), o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(2, 5);
  ASSERT_TRUE(eventually([&] { return seen.load() == 5; })) << "a live interrupt was never handled";
  dev.fire(0, 7);
  dev.fire(3, 1);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(seen.load(), 13U);
  EXPECT_EQ(s.handled(), 13U);
  EXPECT_EQ(s.handled_per_vector, (std::vector<std::uint64_t>{7, 0, 5, 1}));
}

// A firing thread keeps every vector busy while the reactor runs: the
// switching variants change method under that load (every other wait),
// the others never do; either way every interrupt is handled exactly once.
TEST_P(ReactorConformance, SwitchingMethodUnderLoadLosesAndDoublesNothing) {
  constexpr unsigned kVectors = 8;
  constexpr unsigned kFires = 2000;
  FakeDevice dev(kVectors);
  auto d = Dispatcher::start(bindings(dev, kVectors), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  std::thread firer([&] {
    for (unsigned k = 0; k < kFires; ++k) {
      dev.fire(k % kVectors);
      if (k % 64 == 63) std::this_thread::yield();  // room for the reactors on a one-CPU machine
    }
  });
  firer.join();
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), kFires);
  for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(s.handled_per_vector[v], kFires / kVectors) << "vector " << v;
  EXPECT_EQ(dev.missing_stamps(), 0U) << "a reactor consumed more interrupts than it read";
  EXPECT_TRUE(s.errors.empty()) << s.errors.front();
  std::uint64_t switches = 0;
  for (const CpuStats& c : s.cpus) switches += c.method_switches;
  if (GetParam().switch_every > 0) {
    EXPECT_GT(switches, 0U) << "each CPU waits at least twice (its first interrupt, the stop)";
  } else if (GetParam().method != UringMethod::kAuto) {
    EXPECT_EQ(switches, 0U);
  }
}

// The unbind sequence's first two steps: after stop_arming() a reactor
// still drains what was signalled before it, and once stop() returns it
// reads nothing more (what arrives later stays in the eventfd for the
// binding to account as dropped after the drain).
TEST_P(ReactorConformance, StopArmingThenDrainAccountsForWhatWasSignalled) {
  FakeDevice dev(4);
  auto d = Dispatcher::start(bindings(dev, 4), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(1, 3);
  dev.fire(2, 4);
  (*d)->stop_arming();
  (*d)->stop_arming();  // idempotent
  dev.fire(3, 2);       // signalled before the drain finished, or after it
  const DispatchStats& s = (*d)->stop();
  dev.fire(0, 6);  // after stop(): nobody reads it
  std::uint64_t late = 0;
  ASSERT_EQ(::read(dev.fd(0), &late, sizeof late), static_cast<ssize_t>(sizeof late));
  EXPECT_EQ(late, 6U);
  EXPECT_EQ(s.handled_per_vector[1], 3U);
  EXPECT_EQ(s.handled_per_vector[2], 4U);
  // Vector 3's fires were either drained or are still in the eventfd:
  // never lost, never counted twice.
  std::uint64_t left3 = 0;
  if (!dev.drained(3)) {
    ASSERT_EQ(::read(dev.fd(3), &left3, sizeof left3), static_cast<ssize_t>(sizeof left3));
  }
  EXPECT_EQ(s.handled_per_vector[3] + left3, 2U);
}

TEST_P(ReactorConformance, ThreadsAndHandlersRunOnTheServingCpu) {
  FakeDevice dev(4);
  std::mutex mu;
  std::set<std::pair<unsigned, int>> where;  // (vector, cpu seen in handler)
  DispatchOptions o = options(dev);
  o.handler = [&](unsigned v, std::uint64_t, std::uint64_t) {
    std::lock_guard<std::mutex> lock(mu);
    where.insert({v, sched_getcpu()});
  };
  auto binds = bindings(dev, 4);
  auto d = Dispatcher::start(binds, o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (unsigned v = 0; v < 4; ++v) dev.fire(v);
  const DispatchStats& s = (*d)->stop();
  for (const CpuStats& c : s.cpus) {
    EXPECT_EQ(c.reactor_ran_on, static_cast<int>(c.cpu));
    if (GetParam().handoff != Handoff::kInline) {
      EXPECT_EQ(c.worker_ran_on, static_cast<int>(c.cpu));
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(where.size(), 4U);
  for (const auto& [v, cpu] : where) EXPECT_EQ(cpu, static_cast<int>(binds[v].cpu)) << "vector " << v;
}

TEST_P(ReactorConformance, LatencyIsNeverNegativeAndCpuTimeIsCounted) {
  FakeDevice dev(2);
  auto d = Dispatcher::start(bindings(dev, 2), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (int k = 0; k < 50; ++k) {
    dev.fire(0);
    dev.fire(1);
  }
  const DispatchStats& s = (*d)->stop();
  for (const CpuStats& c : s.cpus) {
    EXPECT_EQ(c.negative_latency, 0U);
    EXPECT_GT(c.reactor_cpu_ns, 0U);
  }
  EXPECT_EQ(s.latency.count(), s.invocations());
}

TEST_P(ReactorConformance, StopClosesEveryFdItOpened) {
  FakeDevice dev(4);
  std::set<std::string> before = open_fds();
  {
    auto d = Dispatcher::start(bindings(dev, 4), options(dev));
    ASSERT_TRUE(d.ok()) << d.error().message;
    dev.fire(1);
    (*d)->stop();
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_P(ReactorConformance, UnusableCpuFailsAndLeavesNothingRunning) {
  FakeDevice dev(2);
  std::set<std::string> before = open_fds();
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, dev.fd(1), 4000}};
  auto d = Dispatcher::start(b, options(dev));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("CPU 4000"), std::string::npos) << d.error().message;
  EXPECT_EQ(open_fds(), before);
}

// Lanes start in CPU order: the lane of CPU 0 is up (and has read vector
// 0's pending interrupts, or reads them in the stop's drain) before the lane
// of CPU 4000 fails. What it read comes back with the error, every count
// of it, and the eventfd is left empty: nothing read is thrown away.
TEST_P(ReactorConformance, AFailedStartReturnsWhatTheLanesThatStartedRead) {
  FakeDevice dev(2);
  dev.fire(0, 5);
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, dev.fd(1), 4000}};
  DispatchStats partial;
  auto d = Dispatcher::start(b, options(dev), &partial);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(dev.drained(0));
  EXPECT_EQ(partial.handled() + partial.dropped_queue_full(), 5U);
  ASSERT_GE(partial.handled_per_vector.size(), 1U);
  EXPECT_EQ(partial.handled_per_vector[0], partial.handled());
}

// Vector 1's fd cannot be read at all (/dev/null opened write-only: every
// read fails with EBADF at once). A reactor that retried it would spin its
// CPU for ever. Either the reactor refuses it when starting (epoll cannot
// watch /dev/null), or it reports it once, stops reading it and serves the
// other vector as before.
TEST_P(ReactorConformance, AnUnreadableVectorIsReportedOnceAndTheOthersAreServed) {
  FakeDevice dev(1);
  UniqueFd unreadable(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(unreadable.valid());
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, unreadable.get(), 0}};
  auto d = Dispatcher::start(b, options(dev));
  if (!d.ok()) {
    EXPECT_NE(d.error().message.find("epoll_ctl"), std::string::npos) << d.error().message;
    return;
  }
  for (int i = 0; i < 20; ++i) {
    dev.fire(0);
    ASSERT_TRUE(eventually([&] { return dev.drained(0); }));
  }
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), 20U);
  ASSERT_EQ(s.errors.size(), 1U);
  EXPECT_NE(s.errors[0].find("vector 1"), std::string::npos) << s.errors[0];
  EXPECT_NE(s.errors[0].find("Bad file descriptor"), std::string::npos) << s.errors[0];
}

// io_uring with UringMethod::kAuto says which method it measured faster,
// and both measurements; every other reactor says nothing.
TEST_P(ReactorConformance, TheAutoMethodSaysWhatItChoseAndWhy) {
  FakeDevice dev(2);
  auto d = Dispatcher::start(bindings(dev, 2), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(0, 3);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), 3U);
  const Variant& v = GetParam();
  if (v.reactor != ReactorKind::kIoUring || v.method != UringMethod::kAuto) {
    EXPECT_EQ(s.uring_choice, "");
    return;
  }
  const bool read = s.uring_choice.rfind("read-sqe (measured on CPU ", 0) == 0;
  const bool poll = std::regex_match(s.uring_choice, std::regex(R"(poll-multishot from [0-9.]+ M/s on, read-sqe below )"
                                                                R"([0-9.]+ M/s \(measured on CPU .*)"));
  EXPECT_TRUE(read || poll) << s.uring_choice;
  EXPECT_NE(s.uring_choice.find(": read-sqe "), std::string::npos) << s.uring_choice;
  EXPECT_NE(s.uring_choice.find(", poll-multishot "), std::string::npos) << s.uring_choice;
}

// kAuto with a cache: the first start measures and stores exactly once
// under uring_choice_key(); a later start takes the stored method without
// measuring (and says so), whichever method it is.
TEST_P(ReactorConformance, TheAutoMethodIsMeasuredOnceAndThenTakenFromTheCache) {
  const Variant& v = GetParam();
  if (v.reactor != ReactorKind::kIoUring || v.method != UringMethod::kAuto) GTEST_SKIP() << "io_uring auto only";
  FakeDevice dev(2);
  std::map<std::string, UringChoiceCache::Entry> kept;
  unsigned lookups = 0;
  unsigned stores = 0;
  DispatchOptions o = options(dev);
  o.uring_cache.lookup = [&](const std::string& key) -> std::optional<UringChoiceCache::Entry> {
    ++lookups;
    auto it = kept.find(key);
    return it == kept.end() ? std::nullopt : std::optional(it->second);
  };
  o.uring_cache.store = [&](const std::string& key, const UringChoiceCache::Entry& e) {
    ++stores;
    kept[key] = e;
  };
  const std::string key = uring_choice_key(o);
  std::string measured;
  {
    auto d = Dispatcher::start(bindings(dev, 2), o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    dev.fire(1, 4);
    const DispatchStats& s = (*d)->stop();
    EXPECT_EQ(s.handled(), 4U);
    measured = s.uring_choice;
  }
  ASSERT_EQ(stores, 1U);
  ASSERT_EQ(kept.count(key), 1U);
  EXPECT_EQ(kept[key].why.rfind("measured on CPU ", 0), 0U) << kept[key].why;
  EXPECT_GT(kept[key].read_per_s, 0);
  EXPECT_EQ(measured, kept[key].method == UringMethod::kReadSqe
                          ? "read-sqe (" + kept[key].why + ")"
                          : fmt::format("poll-multishot from {:.2f} M/s on, read-sqe below {:.2f} M/s ({})",
                                        kept[key].read_per_s * 70 / 100 / 1e6, kept[key].read_per_s * 50 / 100 / 1e6,
                                        kept[key].why));
  // Whatever was measured, a stored poll-multishot is taken as it is.
  kept[key] = {UringMethod::kPollMultishot, "stored by the test", 1e6};
  auto d = Dispatcher::start(bindings(dev, 2), o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(0, 5);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), 5U);
  EXPECT_EQ(s.uring_choice,
            "poll-multishot from 0.70 M/s on, read-sqe below 0.50 M/s (cached for " + key + ": stored by the test)");
  EXPECT_EQ(stores, 1U);
  EXPECT_EQ(lookups, 2U);
}

// Adaptive hand-off, one interrupt at a time (each waits until handled):
// the worker has nothing to do when the next one comes, so the reactor runs
// handlers itself. Every count stays exact either way.
TEST_P(ReactorConformance, AnAdaptiveReactorRunsHandlersItselfWhenItsWorkerIsIdle) {
  if (GetParam().handoff != Handoff::kAdaptive) GTEST_SKIP() << "adaptive hand-off only";
  FakeDevice dev(1);
  std::atomic<std::uint64_t> handled{0};
  DispatchOptions o = options(dev);
  o.handler = [&](unsigned, std::uint64_t c, std::uint64_t) { handled += c; };
  auto d = Dispatcher::start({{0, dev.fd(0), 0}}, o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (std::uint64_t i = 1; i <= 50; ++i) {
    dev.fire(0);
    ASSERT_TRUE(eventually([&] { return handled.load() == i; }));
  }
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), 50U);
  ASSERT_EQ(s.cpus.size(), 1U);
  if (GetParam().reactor == ReactorKind::kThread) {
    EXPECT_EQ(s.cpus[0].inline_invocations, 0U) << "the thread reactor has a producer per vector: it always queues";
    return;
  }
  EXPECT_GT(s.cpus[0].inline_invocations, 0U);
  EXPECT_LE(s.cpus[0].inline_invocations, s.cpus[0].invocations);
}

// The worker sits in the handler of the first interrupt; further reads of
// the same vector fill its queue (capacity 2) and the next one finds it
// full. Every step waits for the eventfd to be read, so it is not a race.
class QueuePressure : public ReactorConformance {
 protected:
  static DispatchStats run_with_full_queue(FullPolicy policy) {
    FakeDevice dev(1);
    std::latch entered(1);
    std::latch release(1);
    std::atomic<bool> first{true};
    DispatchOptions o = options(dev);
    o.queue_capacity = 2;
    o.when_full = policy;
    o.handler = [&](unsigned, std::uint64_t, std::uint64_t) {
      if (first.exchange(false)) {
        entered.count_down();
        release.wait();
      }
    };
    auto d = Dispatcher::start({{0, dev.fd(0), 0}}, o);
    EXPECT_TRUE(d.ok()) << d.error().message;
    dev.fire(0);
    entered.wait();
    for (int i = 0; i < 3; ++i) {  // two fill the queue, the third finds it full
      dev.fire(0);
      EXPECT_TRUE(eventually([&] { return dev.drained(0); }));
    }
    release.count_down();
    return (*d)->stop();
  }
};

TEST_P(QueuePressure, BackoffLosesNothing) {
  DispatchStats s = run_with_full_queue(FullPolicy::kBackoff);
  EXPECT_EQ(s.handled(), 4U);
  EXPECT_EQ(s.dropped_queue_full(), 0U);
  EXPECT_GE(s.cpus.at(0).backoffs, 1U);
}

TEST_P(QueuePressure, DropCountsWithItsReason) {
  DispatchStats s = run_with_full_queue(FullPolicy::kDrop);
  EXPECT_EQ(s.handled(), 3U);
  EXPECT_EQ(s.dropped_queue_full(), 1U);
  EXPECT_EQ(s.dropped_per_vector.at(0), 1U);
  EXPECT_EQ(s.handled() + s.dropped_queue_full(), 4U);
}

// The engine behind every dispatcher: one lane per CPU shared by every
// device, vectors added, removed and moved while the others keep being
// served. The same variants, the same exactness.
class EngineConformance : public ReactorConformance {
 protected:
  std::unique_ptr<DispatchEngine> engine() {
    DispatchOptions o;
    const Variant& v = GetParam();
    o.reactor = v.reactor;
    o.uring_method = v.method;
    o.busy_poll_ns = v.busy_poll_ns;
    o.handoff = v.handoff;
    o.uring_switch_by_load = v.switch_every > 0;
    o.uring_switch_every = v.switch_every;
    auto e = DispatchEngine::create(o);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? std::move(*e) : nullptr;
  }
  static DeviceSink sink(FakeDevice& dev) {
    DeviceSink s;
    s.consume_stamp = [&dev](unsigned v, std::uint64_t c) { return dev.consume(v, c); };
    return s;
  }
  static bool single_thread_reactor() { return GetParam().reactor != ReactorKind::kThread; }
  static unsigned threads_per_lane() {
    return (single_thread_reactor() ? 1U : 0U) + (GetParam().handoff != Handoff::kInline ? 1U : 0U);
  }
};

// Names of this process's threads, from /proc/self/task/*/comm.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::FILE* f = std::fopen((e.path() / "comm").c_str(), "r");
    if (f == nullptr) continue;
    char buf[32] = {};
    if (std::fgets(buf, sizeof buf, f) != nullptr) {
      std::string name(buf);
      if (!name.empty() && name.back() == '\n') name.pop_back();
      names.insert(name);
    }
    std::fclose(f);
  }
  return names;
}

TEST_P(EngineConformance, DevicesShareOneLanePerCpuAndCountApart) {
  constexpr unsigned kDevices = 3;
  constexpr unsigned kVectors = 4;
  const unsigned cpus = std::min(2U, online_cpus());
  auto e = engine();
  ASSERT_NE(e, nullptr);
  std::vector<std::unique_ptr<FakeDevice>> devs;
  std::vector<DispatchEngine::DeviceId> ids;
  for (unsigned d = 0; d < kDevices; ++d) {
    devs.push_back(std::make_unique<FakeDevice>(kVectors));
    auto id = e->add_device(bindings(*devs.back(), kVectors), sink(*devs.back()));
    ASSERT_TRUE(id.ok()) << id.error().message;
    ids.push_back(*id);
  }
  // O(CPUs), not O(devices x CPUs); the thread reactor reads each vector
  // on a thread of its own, and is the one exception.
  const unsigned expected =
      single_thread_reactor() ? cpus * threads_per_lane() : kDevices * kVectors + cpus * threads_per_lane();
  EXPECT_EQ(e->threads(), expected);
  const auto names = thread_names();
  for (unsigned cpu = 0; cpu < cpus; ++cpu) {
    const std::string rx = "irqd-rx/" + std::to_string(cpu);
    const std::string wk = "irqd-wk/" + std::to_string(cpu);
    EXPECT_EQ(names.count(rx), single_thread_reactor() ? 1U : kDevices * kVectors / cpus) << rx;
    EXPECT_EQ(names.count(wk), GetParam().handoff != Handoff::kInline ? 1U : 0U) << wk;
  }
  for (unsigned d = 0; d < kDevices; ++d)
    for (unsigned v = 0; v < kVectors; ++v) devs[d]->fire(v, 10 * (d + 1) + v);
  for (unsigned d = 0; d < kDevices; ++d) {
    DispatchStats s = e->remove_device(ids[d]);
    for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(s.handled_per_vector[v], 10 * (d + 1) + v) << d << "/" << v;
    EXPECT_EQ(s.dropped_queue_full(), 0U);
    EXPECT_EQ(s.latency.count(), s.invocations());
  }
  // The last vector of a CPU took its lane with it.
  EXPECT_EQ(e->threads(), 0U);
  EXPECT_TRUE(e->lane_cpus().empty());
}

// Device A fires without pause from a thread of its own while device B is
// added, fired, removed and added again: B's counts are exact each time,
// and so are A's once its firing stops.
TEST_P(EngineConformance, AddAndRemoveWhileAnotherDeviceFires) {
  constexpr unsigned kVectors = 4;
  auto e = engine();
  ASSERT_NE(e, nullptr);
  FakeDevice a(kVectors);
  auto ida = e->add_device(bindings(a, kVectors), sink(a));
  ASSERT_TRUE(ida.ok()) << ida.error().message;
  std::atomic<bool> firing{true};
  std::vector<std::uint64_t> fired(kVectors, 0);
  std::thread firer([&] {
    for (unsigned k = 0; firing.load(); ++k) {
      a.fire(k % kVectors);
      fired[k % kVectors]++;
    }
  });
  for (int round = 0; round < 5; ++round) {
    FakeDevice b(kVectors);
    auto idb = e->add_device(bindings(b, kVectors), sink(b));
    ASSERT_TRUE(idb.ok()) << idb.error().message;
    for (unsigned v = 0; v < kVectors; ++v) b.fire(v, 7 + v);
    DispatchStats sb = e->remove_device(*idb);
    for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(sb.handled_per_vector[v], 7 + v) << "round " << round;
    // Removed: what B's eventfds are signalled now stays there, unread.
    b.fire(0);
    EXPECT_FALSE(b.drained(0));
  }
  firing = false;
  firer.join();
  DispatchStats sa = e->remove_device(*ida);
  for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(sa.handled_per_vector[v], fired[v]) << "vector " << v;
}

// Moves under load: vector 0 goes back and forth between the CPUs while
// every vector fires as fast as the test can. Nothing is lost or counted
// twice, and the handler of one vector never runs on two threads at once.
TEST_P(EngineConformance, MovesUnderLoadLoseAndDoubleNothing) {
  if (online_cpus() < 2) GTEST_SKIP() << "needs two CPUs";
  constexpr unsigned kVectors = 4;
  constexpr int kMoves = 200;
  auto e = engine();
  ASSERT_NE(e, nullptr);
  FakeDevice dev(kVectors);
  std::vector<std::atomic<int>> inside(kVectors);
  std::atomic<std::uint64_t> overlaps{0};
  DeviceSink s = sink(dev);
  s.handler = [&](unsigned v, std::uint64_t, std::uint64_t) {
    if (inside[v].fetch_add(1) != 0) overlaps++;
    inside[v].fetch_sub(1);
  };
  auto id = e->add_device(bindings(dev, kVectors), s);
  ASSERT_TRUE(id.ok()) << id.error().message;
  std::atomic<bool> firing{true};
  std::vector<std::uint64_t> fired(kVectors, 0);
  std::thread firer([&] {
    for (unsigned k = 0; firing.load(); ++k) {
      dev.fire(k % kVectors);
      fired[k % kVectors]++;
    }
  });
  for (int m = 0; m < kMoves; ++m) {
    auto t = e->move(*id, 0, static_cast<unsigned>((m + 1) % 2));
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_GE(t->unarmed_ns, t->fence_ns);
  }
  firing = false;
  firer.join();
  DispatchStats st = e->remove_device(*id);
  for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(st.handled_per_vector[v], fired[v]) << "vector " << v;
  EXPECT_EQ(overlaps.load(), 0U);
  EXPECT_EQ(dev.missing_stamps(), 0U);
  // Vector 0 was served on both CPUs: both have its reads.
  ASSERT_EQ(st.cpus.size(), 2U);
  EXPECT_GT(st.cpus[0].reads, 0U);
  EXPECT_GT(st.cpus[1].reads, 0U);
}

TEST_P(EngineConformance, AMoveThatCannotHappenLeavesTheVectorWhereItWas) {
  auto e = engine();
  ASSERT_NE(e, nullptr);
  FakeDevice dev(2);
  auto id = e->add_device(bindings(dev, 2), sink(dev));
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto bad = e->move(*id, 0, 4095);  // no such CPU: its lane cannot pin
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("4095"), std::string::npos) << bad.error().message;
  auto unknown = e->move(*id, 7, 0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "vector 7 is not served");
  dev.fire(0, 5);
  EXPECT_TRUE(eventually([&] { return dev.drained(0); }));
  DispatchStats st = e->remove_device(*id);
  EXPECT_EQ(st.handled_per_vector[0], 5U);
}

INSTANTIATE_TEST_SUITE_P(Reactors, ReactorConformance, testing::ValuesIn(kVariants), variant_name);
INSTANTIATE_TEST_SUITE_P(Reactors, EngineConformance, testing::ValuesIn(kVariants), variant_name);
INSTANTIATE_TEST_SUITE_P(Reactors, QueuePressure, testing::ValuesIn(queue_variants()), variant_name);

TEST(ReactorNames, RoundTripAndUnknown) {
  for (ReactorKind k : {ReactorKind::kIoUring, ReactorKind::kEpoll, ReactorKind::kThread}) {
    auto back = reactor_from_name(reactor_name(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  auto bad = reactor_from_name("kqueue");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "unknown reactor 'kqueue' (accepted: io_uring, epoll, thread)");
}

// The oldest kernel the dispatch path claims, checked at every start. In
// the lab (reactor_conformance_min_kernel) IRQD_EXPECT_KERNEL says which
// line the guest must be running, so the suite above is known to have run
// there.
TEST(MinimumKernel, OlderKernelsAreRefusedWithTheReason) {
  EXPECT_TRUE(check_kernel_release("6.1.0-37-amd64").ok());
  EXPECT_TRUE(check_kernel_release("6.12.117+deb12-amd64").ok());
  EXPECT_TRUE(check_kernel_release("7.0").ok());
  EXPECT_EQ(check_kernel_release("5.19.0-1-amd64").error().message,
            "Linux 5.19.0-1-amd64 is older than 6.1, the oldest kernel irqd dispatches on (it needs "
            "IORING_ASYNC_CANCEL_ANY, 5.19, and RWF_NOWAIT reads of eventfds, 5.12)");
  EXPECT_FALSE(check_kernel_release("6.0.12").ok());
  EXPECT_EQ(check_kernel_release("linux").error().message, "cannot tell the kernel version from 'linux'");
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_TRUE(check_kernel_release(u.release).ok()) << u.release;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread of this test starts
  if (const char* want = std::getenv("IRQD_EXPECT_KERNEL"); want != nullptr) {
    EXPECT_EQ(std::string(u.release).rfind(std::string(want) + ".", 0), 0U) << u.release << " is not " << want;
  }
}

}  // namespace
}  // namespace irqd
