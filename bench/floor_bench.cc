// SPDX-License-Identifier: GPL-2.0-only
//
// floor_bench: the floor irqd's reactors are judged against. Bare loops, no
// hand-off, no accounting beyond a few counters: 64 eventfds, one writer
// pinned to CPU 0 writing 1 to them round-robin as fast as it can (or paced),
// one reader pinned to CPU 1. Whatever a reactor adds on top of these numbers
// is its own cost. The epoll, uring and threads64 readers are the loops of
// bench/floor.h (irqd::floor_*_loop), the same `irqd bench --floor` runs;
// the busy-poll readers, the latency benchmarks and spsc are this file's own.
//
//   throughput (each method, saturated and paced at 100k/s):
//     write_alone            eventfd write with nobody waiting
//     epoll_read             level-triggered epoll, read() each ready fd
//     uring_read/<flags>     one 8-byte IORING_OP_READ per fd (fixed files),
//                            all CQEs reaped, all re-armed, one submit_and_wait
//     uring_poll/<flags>     multishot POLLIN per fd, read() on each CQE
//     threads64              one thread per fd blocked in read()
//     busy_poll/<how>        non-blocking reads spinning over 64 fds
//   <flags>: none, coop_taskrun, single_issuer+defer_taskrun
//   latency:
//     wake/cross_cpu, wake/same_cpu   eventfd write -> blocked read() returns
//     busy_poll_latency/<how>         eventfd write -> spinning read sees it
//                                     (64 fds read each sweep, 64 fds behind
//                                     poll(0), or a single fd)
//     spsc                            boost::lockfree::spsc_queue between CPUs
//
// Counters: irq/s (sum of eventfd counts read), reads/s (read completions),
// events/s (epoll events or CQEs: shows how much each wait batches),
// empty/s (reads that found nothing), cpu_ns/irq (reader threads' CPU clocks),
// writes/s, writer_ns/write (saturated: the writer's CPU clock per write;
// paced: the wall time inside write(), as the writer spins between writes),
// other_ns/irq (process CPU outside the reader, writer and main threads:
// io-wq workers, if any; ~0 means none).
//
// Every benchmark is one fixed window (Iterations(1), manual time = the
// window): --benchmark_min_time has no effect on it. Pass --floor_seconds=S
// (default 1.5) to change the window, and take medians over repetitions:
//
//   cmake --preset release && cmake --build --preset release --target floor_bench
//   build/release/bench/floor_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// The host must be otherwise quiet: on a 2-CPU machine anything else running
// lands on the writer's or the reader's CPU. On a shared host, give the run
// its own autogroup at nice -20 (with autogroup on, a plain `nice` only ranks
// it within its own session) and say so next to the figures:
//
//   setsid sh -c 'echo -20 > /proc/self/autogroup; exec nice -n -20 build/release/bench/floor_bench ...'

#include <benchmark/benchmark.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bench/floor.h"

namespace {

constexpr int kFds = 64;
constexpr int kWriterCpu = 0;
constexpr int kReaderCpu = 1;
// Steady state only: thread start-up, ring set-up and first faults stay out.
constexpr double kWarmupSeconds = 0.2;
constexpr uint64_t kPaced = 100'000;

double g_window_seconds = 1.5;

int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t thread_cpu_ns(pthread_t thread) {
  clockid_t clock;
  if (pthread_getcpuclockid(thread, &clock) != 0) return 0;
  return now_ns(clock);
}

void cpu_relax() { __builtin_ia32_pause(); }

std::string errno_text(std::string_view what, int err) {
  return std::string(what) + ": " + std::error_code(err, std::generic_category()).message();
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The first error any thread hits; the benchmark reports it and skips.
class Failure {
 public:
  void set(std::string what) {
    std::lock_guard lock(mu_);
    if (what_.empty()) what_ = std::move(what);
    failed_.store(true, std::memory_order_release);
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string what() {
    std::lock_guard lock(mu_);
    return what_;
  }

 private:
  std::mutex mu_;
  std::string what_;
  std::atomic<bool> failed_{false};
};

bool pin_self(int cpu, Failure& fail) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (err != 0) fail.set(errno_text("pthread_setaffinity_np(CPU " + std::to_string(cpu) + ")", err));
  return err == 0;
}

bool have_both_cpus(benchmark::State& state) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0 || !CPU_ISSET(kWriterCpu, &set) || !CPU_ISSET(kReaderCpu, &set)) {
    state.SkipWithError("needs CPUs 0 and 1: this machine (or this process's affinity) has fewer");
    return false;
  }
  return true;
}

std::vector<Fd> make_eventfds(int n, int extra_flags, Failure& fail) {
  std::vector<Fd> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = eventfd(0, EFD_CLOEXEC | extra_flags);
    if (fd < 0) {
      fail.set(errno_text("eventfd", errno));
      break;
    }
    fds.emplace_back(fd);
  }
  return fds;
}

std::vector<int> raw(const std::vector<Fd>& fds) {
  std::vector<int> out;
  out.reserve(fds.size());
  for (const Fd& fd : fds) out.push_back(fd.get());
  return out;
}

// What a writer has done so far, on its own cache line as a reader's
// irqd::FloorProgress: running totals in relaxed stores, loaded by the main
// thread twice per run (window start and end), so the line does not bounce.
struct alignas(64) WriterProgress {
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> write_ns{0};  // paced writer: wall time inside write()
};

// A reader body gets where to publish (an irqd::FloorProgress), whom to tell
// it is set up, and where to put an error (the Rig's Failure).
using ReaderBody = std::function<void(irqd::FloorReader&)>;

// One throughput run: reader threads (set up by their bodies), one writer,
// a warm-up, one measured window, then stop: writer first, then the stop
// token on every fd, then the readers. Threads are jthreads, joined by the
// destructor even if a step fails; stop() runs from the destructor too so a
// reader blocked in read() is always woken.
class Rig {
 public:
  struct Window {
    double seconds = 0;
    uint64_t irqs = 0, reads = 0, events = 0, empty = 0, writes = 0;
    double reader_cpu_ns = 0, writer_cpu_ns = 0, other_cpu_ns = 0;
    bool paced = false;
  };

  Rig(std::vector<int> write_fds, uint64_t rate) : write_fds_(std::move(write_fds)), rate_(rate) {}
  ~Rig() { stop(); }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  Failure& fail() { return fail_; }

  void add_reader(int cpu, ReaderBody body) {
    irqd::FloorProgress& progress = progress_.emplace_back();
    ++expected_ready_;
    readers_.emplace_back([this, cpu, body = std::move(body), &progress] {
      bool signalled = false;
      irqd::FloorReader r{progress,
                          [&] {
                            signalled = true;
                            signal_ready();
                          },
                          [this](std::string why) { fail_.set(std::move(why)); }};
      if (pin_self(cpu, fail_)) body(r);
      if (!signalled) signal_ready();
    });
  }

  // Starts the writer, waits for everyone, measures one window.
  Window run() {
    ++expected_ready_;
    writer_ = std::jthread([this] { write_loop(); });
    for (int n = ready_.load(); n < expected_ready_; n = ready_.load()) ready_.wait(n);
    Window w;
    if (fail_.failed()) return w;
    go_.store(true);
    go_.notify_all();
    sleep_seconds(kWarmupSeconds);
    const Snapshot a = snapshot();
    sleep_seconds(g_window_seconds);
    const Snapshot b = snapshot();
    stop();
    w.seconds = static_cast<double>(b.t - a.t) * 1e-9;
    w.irqs = b.irqs - a.irqs;
    w.reads = b.reads - a.reads;
    w.events = b.events - a.events;
    w.empty = b.empty - a.empty;
    w.writes = b.writes - a.writes;
    w.reader_cpu_ns = static_cast<double>(b.reader_cpu - a.reader_cpu);
    w.paced = rate_ != 0;
    w.writer_cpu_ns =
        w.paced ? static_cast<double>(b.write_ns - a.write_ns) : static_cast<double>(b.writer_cpu - a.writer_cpu);
    w.other_cpu_ns = static_cast<double>((b.proc_cpu - a.proc_cpu) - (b.reader_cpu - a.reader_cpu) -
                                         (b.writer_cpu - a.writer_cpu) - (b.main_cpu - a.main_cpu));
    return w;
  }

 private:
  struct Snapshot {
    int64_t t = 0;
    uint64_t irqs = 0, reads = 0, events = 0, empty = 0, writes = 0, write_ns = 0;
    int64_t reader_cpu = 0, writer_cpu = 0, proc_cpu = 0, main_cpu = 0;
  };

  static void sleep_seconds(double s) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(s * 1e9)));
  }

  void signal_ready() {
    ready_.fetch_add(1);
    ready_.notify_all();
  }

  Snapshot snapshot() {
    Snapshot s;
    s.t = now_ns();
    s.proc_cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    s.main_cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
    s.writer_cpu = thread_cpu_ns(writer_.native_handle());
    s.writes = writer_progress_.writes.load(std::memory_order_relaxed);
    s.write_ns = writer_progress_.write_ns.load(std::memory_order_relaxed);
    for (std::jthread& t : readers_) s.reader_cpu += thread_cpu_ns(t.native_handle());
    for (const irqd::FloorProgress& p : progress_) {
      s.irqs += p.irqs.load(std::memory_order_relaxed);
      s.reads += p.reads.load(std::memory_order_relaxed);
      s.events += p.events.load(std::memory_order_relaxed);
      s.empty += p.empty.load(std::memory_order_relaxed);
    }
    return s;
  }

  void write_loop() {
    const bool pinned = pin_self(kWriterCpu, fail_);
    signal_ready();
    go_.wait(false);
    if (!pinned) return;
    const uint64_t one = 1;
    uint64_t writes = 0;
    uint64_t write_ns = 0;
    int64_t before = 0;
    size_t i = 0;
    const int64_t period = rate_ ? static_cast<int64_t>(1'000'000'000 / rate_) : 0;
    int64_t next = now_ns();
    while (!stop_.load(std::memory_order_relaxed)) {
      if (period) {
        // Spin, not sleep: a timer wake-up would cost more than the gap.
        while ((before = now_ns()) < next) cpu_relax();
        next += period;
      }
      if (::write(write_fds_[i], &one, sizeof one) != sizeof one) {
        if (errno == EINTR) continue;
        fail_.set(errno_text("writer: write", errno));
        break;
      }
      if (period) {
        write_ns += static_cast<uint64_t>(now_ns() - before);
        writer_progress_.write_ns.store(write_ns, std::memory_order_relaxed);
      }
      writer_progress_.writes.store(++writes, std::memory_order_relaxed);
      if (++i == write_fds_.size()) i = 0;
    }
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    stop_.store(true);
    go_.store(true);  // a writer still waiting for go must see stop, not hang
    go_.notify_all();
    if (writer_.joinable()) writer_.join();
    // Only now: with the writer gone nothing else raises the counts, so the
    // token cannot push a count past the eventfd maximum and block. Every fd
    // gets it: the library's loops return once each of theirs delivered it.
    for (int fd : write_fds_) {
      const uint64_t token = irqd::kFloorStop;
      if (::write(fd, &token, sizeof token) != sizeof token) fail_.set(errno_text("stop token: write", errno));
    }
    for (std::jthread& t : readers_) t.join();
  }

  std::vector<int> write_fds_;
  uint64_t rate_;
  Failure fail_;
  std::atomic<int> ready_{0};
  int expected_ready_ = 0;
  std::atomic<bool> go_{false};
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  WriterProgress writer_progress_;
  std::deque<irqd::FloorProgress> progress_;  // a deque: readers hold references into it
  std::vector<std::jthread> readers_;
  std::jthread writer_;
};

void report(benchmark::State& state, Rig& rig, const Rig::Window& w) {
  state.SetIterationTime(w.seconds > 0 ? w.seconds : 1e-9);
  if (rig.fail().failed()) {
    state.SkipWithError(rig.fail().what().c_str());
    return;
  }
  // Rates are divided by the manual time, i.e. the window.
  using benchmark::Counter;
  state.counters["writes/s"] = Counter(static_cast<double>(w.writes), Counter::kIsRate);
  state.counters["writer_ns/write"] = w.writer_cpu_ns / static_cast<double>(w.writes ? w.writes : 1);
  if (w.irqs == 0) return;  // no reader (write_alone)
  const auto irqs = static_cast<double>(w.irqs);
  state.counters["irq/s"] = Counter(irqs, Counter::kIsRate);
  state.counters["reads/s"] = Counter(static_cast<double>(w.reads), Counter::kIsRate);
  state.counters["events/s"] = Counter(static_cast<double>(w.events), Counter::kIsRate);
  state.counters["empty/s"] = Counter(static_cast<double>(w.empty), Counter::kIsRate);
  state.counters["cpu_ns/irq"] = w.reader_cpu_ns / irqs;
  state.counters["other_ns/irq"] = w.other_cpu_ns / irqs;
}

using Setup = std::function<void(Rig&, const std::vector<int>& fds)>;

// Runs one throughput benchmark: 64 eventfds (blocking unless `fd_flags`
// says otherwise), readers added by `setup`, one window.
void throughput(benchmark::State& state, int fd_flags, uint64_t rate, const Setup& setup) {
  if (!have_both_cpus(state)) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    Failure fd_fail;
    std::vector<Fd> fds = make_eventfds(kFds, fd_flags, fd_fail);
    if (fd_fail.failed()) {
      state.SkipWithError(fd_fail.what().c_str());
      break;
    }
    const std::vector<int> raw_fds = raw(fds);
    Rig rig(raw_fds, rate);
    if (setup) setup(rig, raw_fds);
    const Rig::Window w = rig.run();
    report(state, rig, w);
  }
}

// ---- readers ---------------------------------------------------------------
//
// epoll_read, uring_read, uring_poll and threads64 run irqd::floor_epoll_loop,
// floor_uring_read_loop, floor_uring_poll_loop and floor_blocking_loop
// (bench/floor.cc); the ring set-up flags of each <flags> variant are passed
// to the uring loops as they are.

constexpr unsigned kFlagVariants[] = {0, IORING_SETUP_COOP_TASKRUN,
                                      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
constexpr const char* kFlagNames[] = {"none", "coop_taskrun", "single_issuer+defer_taskrun"};

// fds are O_NONBLOCK. use_poll: poll() with timeout 0 first and read only
// what it reports, instead of reading all 64 every sweep.
void busy_reader(const std::vector<int>& fds, bool use_poll, irqd::FloorReader& r) {
  std::array<pollfd, kFds> pfds{};
  for (int i = 0; i < kFds; ++i) pfds[i] = pollfd{fds[i], POLLIN, 0};
  r.ready();
  irqd::FloorTally t;
  for (bool done = false; !done;) {
    if (use_poll) {
      const int n = ::poll(pfds.data(), kFds, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return r.fail(errno_text("poll", errno));
      }
      if (n == 0) ++t.empty;
    }
    for (int i = 0; i < kFds; ++i) {
      if (use_poll && !(pfds[i].revents & POLLIN)) continue;
      uint64_t v;
      if (::read(fds[i], &v, sizeof v) == sizeof v) {
        ++t.events;
        done |= t.count(v);
      } else if (errno == EAGAIN) {
        ++t.empty;
      } else {
        return r.fail(errno_text("read", errno));
      }
    }
    t.publish(r.progress);
  }
}

// ---- latency ---------------------------------------------------------------

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

Percentiles percentiles(std::vector<int64_t>& v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]);
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back());
  return p;
}

void report_latency(benchmark::State& state, std::vector<int64_t>& samples) {
  const Percentiles p = percentiles(samples);
  state.counters["samples"] = static_cast<double>(samples.size());
  state.counters["p50_ns"] = p.p50;
  state.counters["p99_ns"] = p.p99;
  state.counters["p999_ns"] = p.p999;
  state.counters["max_ns"] = p.max;
}

// xorshift64: gaps between fires, so the reader is not always caught at the
// same point of its loop.
uint64_t next_random(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Sleeping, not spinning, between fires: on one CPU the reader must get the
// CPU back and block in read() before the next fire.
void sleep_gap(uint64_t& rng) {
  const timespec gap{0, static_cast<long>(10'000 + next_random(rng) % 30'000)};
  clock_nanosleep(CLOCK_MONOTONIC, 0, &gap, nullptr);
}

// Shared by the latency benchmarks: a window of fires, one in flight at a
// time, each stamped (CLOCK_MONOTONIC) in `stamp` just before the write.
// The padding is the point: stamp and acked each get a cache line of their own.
struct Pingpong {  // NOLINT(clang-analyzer-optin.performance.Padding)
  Failure fail;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false}, measuring{false};
  alignas(64) std::atomic<int64_t> stamp{0};
  alignas(64) std::atomic<uint64_t> acked{0};
  std::vector<int64_t> samples;

  Pingpong() { samples.reserve(1 << 20); }
  void signal_ready() {
    ready.fetch_add(1);
    ready.notify_all();
  }
  void record(int64_t t) {
    const int64_t lat = t - stamp.load(std::memory_order_acquire);
    if (measuring.load(std::memory_order_relaxed) && samples.size() < samples.capacity()) samples.push_back(lat);
  }
  // Warm-up, window, stop: writer joined first, then `wake` sends the token.
  double run(std::jthread& writer, std::jthread& reader, const std::function<void()>& wake) {
    for (int n = ready.load(); n < 2; n = ready.load()) ready.wait(n);
    go.store(true);
    go.notify_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(kWarmupSeconds * 1000)));
    measuring.store(true);
    const int64_t t0 = now_ns();
    std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(g_window_seconds * 1e9)));
    measuring.store(false);
    const int64_t t1 = now_ns();
    stop.store(true);
    writer.join();
    wake();
    reader.join();
    return static_cast<double>(t1 - t0) * 1e-9;
  }
};

// eventfd write -> blocked read() returns. The writer waits for the reader's
// ack on a second eventfd (blocking: on one CPU the reader needs the CPU).
void wake_latency(benchmark::State& state, bool same_cpu) {
  if (!have_both_cpus(state)) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    Pingpong pp;
    std::vector<Fd> fds = make_eventfds(2, 0, pp.fail);
    if (pp.fail.failed()) {
      state.SkipWithError(pp.fail.what().c_str());
      break;
    }
    const int fire = fds[0].get();
    const int ack = fds[1].get();
    std::jthread reader([&] {
      const bool ok = pin_self(kReaderCpu, pp.fail);
      pp.signal_ready();
      const uint64_t one = 1;
      for (; ok;) {
        uint64_t v;
        if (::read(fire, &v, sizeof v) != sizeof v) {
          if (errno == EINTR) continue;
          return pp.fail.set(errno_text("read", errno));
        }
        const int64_t t = now_ns();
        if (v >= irqd::kFloorStop) return;
        pp.record(t);
        if (::write(ack, &one, sizeof one) != sizeof one) return pp.fail.set(errno_text("ack write", errno));
      }
    });
    std::jthread writer([&] {
      const bool ok = pin_self(same_cpu ? kReaderCpu : kWriterCpu, pp.fail);
      pp.signal_ready();
      pp.go.wait(false);
      uint64_t rng = 0x9e3779b97f4a7c15ULL;
      const uint64_t one = 1;
      while (ok && !pp.stop.load(std::memory_order_relaxed) && !pp.fail.failed()) {
        sleep_gap(rng);
        pp.stamp.store(now_ns(), std::memory_order_release);
        if (::write(fire, &one, sizeof one) != sizeof one) return pp.fail.set(errno_text("write", errno));
        uint64_t v;
        while (::read(ack, &v, sizeof v) != sizeof v) {
          if (errno != EINTR) return pp.fail.set(errno_text("ack read", errno));
        }
      }
    });
    const double seconds = pp.run(writer, reader, [&] {
      const uint64_t token = irqd::kFloorStop;
      if (::write(fire, &token, sizeof token) != sizeof token) pp.fail.set(errno_text("stop token", errno));
    });
    state.SetIterationTime(seconds);
    if (pp.fail.failed()) {
      state.SkipWithError(pp.fail.what().c_str());
      break;
    }
    report_latency(state, pp.samples);
  }
}

// eventfd write -> a reader spinning over `nfds` O_NONBLOCK eventfds sees
// it, reading all of them each sweep or (use_poll) only what poll() with
// timeout 0 reports. With 64 fds a fire waits on average half a sweep; with
// one fd this is the latency floor of any userspace reader. The writer spins
// for the ack (an atomic): the reader never sleeps.
void busy_poll_latency(benchmark::State& state, int nfds, bool use_poll) {
  if (!have_both_cpus(state)) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    Pingpong pp;
    std::vector<Fd> fds = make_eventfds(nfds, EFD_NONBLOCK, pp.fail);
    if (pp.fail.failed()) {
      state.SkipWithError(pp.fail.what().c_str());
      break;
    }
    const std::vector<int> raw_fds = raw(fds);
    std::jthread reader([&] {
      const bool ok = pin_self(kReaderCpu, pp.fail);
      pp.signal_ready();
      std::vector<pollfd> pfds;
      pfds.reserve(raw_fds.size());
      for (int fd : raw_fds) pfds.push_back(pollfd{fd, POLLIN, 0});
      uint64_t acked = 0;
      for (bool done = !ok; !done;) {
        if (use_poll && ::poll(pfds.data(), pfds.size(), 0) <= 0) continue;
        for (size_t i = 0; i < raw_fds.size(); ++i) {
          if (use_poll && !(pfds[i].revents & POLLIN)) continue;
          uint64_t v;
          if (::read(raw_fds[i], &v, sizeof v) != sizeof v) {
            if (errno == EAGAIN) continue;
            return pp.fail.set(errno_text("read", errno));
          }
          const int64_t t = now_ns();
          if (v >= irqd::kFloorStop) {
            done = true;
            break;
          }
          pp.record(t);
          pp.acked.store(++acked, std::memory_order_release);
        }
      }
    });
    std::jthread writer([&] {
      const bool ok = pin_self(kWriterCpu, pp.fail);
      pp.signal_ready();
      pp.go.wait(false);
      uint64_t rng = 0x9e3779b97f4a7c15ULL;
      uint64_t sent = 0;
      const uint64_t one = 1;
      for (size_t i = 0; ok && !pp.stop.load(std::memory_order_relaxed) && !pp.fail.failed();
           i = (i + 1) % raw_fds.size()) {
        sleep_gap(rng);
        pp.stamp.store(now_ns(), std::memory_order_release);
        if (::write(raw_fds[i], &one, sizeof one) != sizeof one) return pp.fail.set(errno_text("write", errno));
        ++sent;
        while (pp.acked.load(std::memory_order_acquire) != sent && !pp.fail.failed()) cpu_relax();
      }
    });
    const double seconds = pp.run(writer, reader, [&] {
      const uint64_t token = irqd::kFloorStop;
      if (::write(raw_fds[0], &token, sizeof token) != sizeof token) pp.fail.set(errno_text("stop token", errno));
    });
    state.SetIterationTime(seconds);
    if (pp.fail.failed()) {
      state.SkipWithError(pp.fail.what().c_str());
      break;
    }
    report_latency(state, pp.samples);
  }
}

struct Item {
  uint32_t vector;
  uint64_t count;
  uint64_t stamp;
};

// Producer on CPU 0 pushing stamped items, consumer on CPU 1 popping. rate 0:
// as fast as the producer can (the consumer reads the clock only every 16th item, so it
// stays ahead and the queue stays short); otherwise paced, one item every
// 1/rate s, for the unloaded one-way latency.
void spsc(benchmark::State& state, uint64_t rate) {
  if (!have_both_cpus(state)) return;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    using Queue = boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<4096>>;
    auto queue = std::make_unique<Queue>();
    Pingpong pp;
    std::atomic<bool> producer_done{false};
    irqd::FloorProgress popped_progress;
    WriterProgress pushed_progress;
    std::jthread consumer([&] {
      const bool ok = pin_self(kReaderCpu, pp.fail);
      pp.signal_ready();
      if (!ok) return;
      uint64_t popped = 0;
      uint64_t sum = 0;
      Item item;
      for (;;) {
        if (queue->pop(item)) {
          ++popped;
          sum += item.count;
          if (rate || (popped & 15) == 0) {
            const int64_t lat = now_ns() - static_cast<int64_t>(item.stamp);
            if (pp.measuring.load(std::memory_order_relaxed) && pp.samples.size() < pp.samples.capacity())
              pp.samples.push_back(lat);
          }
          popped_progress.reads.store(popped, std::memory_order_relaxed);
        } else if (producer_done.load(std::memory_order_acquire)) {
          while (queue->pop(item)) ++popped;  // what was pushed before done
          break;
        } else {
          cpu_relax();
        }
      }
      benchmark::DoNotOptimize(sum);
    });
    std::jthread producer([&] {
      const bool ok = pin_self(kWriterCpu, pp.fail);
      pp.signal_ready();
      pp.go.wait(false);
      const int64_t period = rate ? static_cast<int64_t>(1'000'000'000 / rate) : 0;
      int64_t next = now_ns();
      uint64_t pushed = 0;
      Item item{0, 1, 0};
      while (ok && !pp.stop.load(std::memory_order_relaxed)) {
        if (period) {
          while (now_ns() < next) cpu_relax();
          next += period;
        }
        item.vector = static_cast<uint32_t>(pushed % kFds);
        // Re-stamped on every try: latency starts at the push that succeeds.
        do item.stamp = static_cast<uint64_t>(now_ns());
        while (!queue->push(item) && !pp.stop.load(std::memory_order_relaxed));
        pushed_progress.writes.store(++pushed, std::memory_order_relaxed);
      }
    });
    // The window's counts: taken between the run's warm-up and stop.
    uint64_t pops0 = 0;
    uint64_t pops1 = 0;
    uint64_t pushes0 = 0;
    uint64_t pushes1 = 0;
    for (int n = pp.ready.load(); n < 2; n = pp.ready.load()) pp.ready.wait(n);
    pp.go.store(true);
    pp.go.notify_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(kWarmupSeconds * 1000)));
    pp.measuring.store(true);
    const int64_t t0 = now_ns();
    pops0 = popped_progress.reads.load(std::memory_order_relaxed);
    pushes0 = pushed_progress.writes.load(std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(g_window_seconds * 1e9)));
    pp.measuring.store(false);
    const int64_t t1 = now_ns();
    pops1 = popped_progress.reads.load(std::memory_order_relaxed);
    pushes1 = pushed_progress.writes.load(std::memory_order_relaxed);
    pp.stop.store(true);
    producer.join();
    producer_done.store(true, std::memory_order_release);
    consumer.join();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (pp.fail.failed()) {
      state.SkipWithError(pp.fail.what().c_str());
      break;
    }
    using benchmark::Counter;
    state.counters["ops/s"] = Counter(static_cast<double>(pops1 - pops0), Counter::kIsRate);
    state.counters["pushes/s"] = Counter(static_cast<double>(pushes1 - pushes0), Counter::kIsRate);
    report_latency(state, pp.samples);
  }
}

// ---- registration ----------------------------------------------------------

void configure(benchmark::internal::Benchmark* b) { b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond); }

void register_all() {
  const std::pair<const char*, uint64_t> rates[] = {{"saturate", 0}, {"paced_100k", kPaced}};

  configure(benchmark::RegisterBenchmark("write_alone", [](benchmark::State& s) { throughput(s, 0, 0, nullptr); }));

  for (const auto& entry : rates) {
    // Named copies, not structured bindings: clang 14 (clang-tidy here)
    // cannot capture a structured binding in a lambda.
    const auto& rate_name = entry.first;
    const auto rate = entry.second;
    const std::string suffix = std::string("/") + rate_name;
    configure(benchmark::RegisterBenchmark(("epoll_read" + suffix).c_str(), [rate](benchmark::State& s) {
      throughput(s, 0, rate, [](Rig& rig, const std::vector<int>& fds) {
        rig.add_reader(kReaderCpu, [fds](irqd::FloorReader& r) { irqd::floor_epoll_loop(fds, r); });
      });
    }));
    for (size_t v = 0; v < std::size(kFlagVariants); ++v) {
      const unsigned flags = kFlagVariants[v];
      configure(benchmark::RegisterBenchmark(
          (std::string("uring_read/") + kFlagNames[v] + suffix).c_str(), [rate, flags](benchmark::State& s) {
            throughput(s, 0, rate, [flags](Rig& rig, const std::vector<int>& fds) {
              rig.add_reader(kReaderCpu,
                             [fds, flags](irqd::FloorReader& r) { irqd::floor_uring_read_loop(fds, flags, r); });
            });
          }));
    }
    for (size_t v = 0; v < std::size(kFlagVariants); ++v) {
      const unsigned flags = kFlagVariants[v];
      configure(benchmark::RegisterBenchmark(
          (std::string("uring_poll/") + kFlagNames[v] + suffix).c_str(), [rate, flags](benchmark::State& s) {
            throughput(s, 0, rate, [flags](Rig& rig, const std::vector<int>& fds) {
              rig.add_reader(kReaderCpu,
                             [fds, flags](irqd::FloorReader& r) { irqd::floor_uring_poll_loop(fds, flags, r); });
            });
          }));
    }
    configure(benchmark::RegisterBenchmark(("threads64" + suffix).c_str(), [rate](benchmark::State& s) {
      throughput(s, 0, rate, [](Rig& rig, const std::vector<int>& fds) {
        for (int fd : fds) rig.add_reader(kReaderCpu, [fd](irqd::FloorReader& r) { irqd::floor_blocking_loop(fd, r); });
      });
    }));
  }
  // Busy polling burns its CPU whatever the rate; only saturated is useful.
  for (const bool use_poll : {false, true}) {
    configure(benchmark::RegisterBenchmark(
        use_poll ? "busy_poll/poll0+read/saturate" : "busy_poll/read_all/saturate", [use_poll](benchmark::State& s) {
          throughput(s, EFD_NONBLOCK, 0, [use_poll](Rig& rig, const std::vector<int>& fds) {
            rig.add_reader(kReaderCpu, [fds, use_poll](irqd::FloorReader& r) { busy_reader(fds, use_poll, r); });
          });
        }));
  }

  configure(benchmark::RegisterBenchmark("wake/cross_cpu", [](benchmark::State& s) { wake_latency(s, false); }));
  configure(benchmark::RegisterBenchmark("wake/same_cpu", [](benchmark::State& s) { wake_latency(s, true); }));
  configure(benchmark::RegisterBenchmark("busy_poll_latency/read_all_64",
                                         [](benchmark::State& s) { busy_poll_latency(s, kFds, false); }));
  configure(benchmark::RegisterBenchmark("busy_poll_latency/poll0_64",
                                         [](benchmark::State& s) { busy_poll_latency(s, kFds, true); }));
  configure(benchmark::RegisterBenchmark("busy_poll_latency/read_1",
                                         [](benchmark::State& s) { busy_poll_latency(s, 1, false); }));
  configure(benchmark::RegisterBenchmark("spsc/saturate", [](benchmark::State& s) { spsc(s, 0); }));
  configure(benchmark::RegisterBenchmark("spsc/paced_500k", [](benchmark::State& s) { spsc(s, 500'000); }));
}

}  // namespace

int main(int argc, char** argv) {
  // --floor_seconds=S is ours; strip it before benchmark sees the flags.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--floor_seconds=")) {
      g_window_seconds = std::atof(argv[i] + std::strlen("--floor_seconds="));
      if (!(g_window_seconds > 0)) g_window_seconds = 1.5;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
