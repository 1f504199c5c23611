// SPDX-License-Identifier: GPL-2.0-only
//
// The firing engine and the small pieces it is built from: the pattern and
// vector-choice parsers, the paced timetable (FireSchedule) and the vector
// sampler. The timetable and the sampler are plain objects, deterministic
// for a seed, so tests check them without a thread or a clock.

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <ctime>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/thread_name.h"
#include "device/software_device.h"

namespace irqd {
namespace {

constexpr std::uint64_t kNsPerSec = 1'000'000'000;

std::uint64_t to_ns(const timespec& ts) {
  return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<std::uint64_t>(ts.tv_nsec);
}

timespec to_timespec(std::uint64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  ts.tv_nsec = static_cast<long>(ns % kNsPerSec);
  return ts;
}

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return to_ns(ts);
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// A uniform double in [0, 1) from the top 53 bits of one draw: the same
// bits give the same value on every platform, unlike the standard
// distributions, whose algorithms the library chooses.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1p-53; }

// "123", "1.5", "100k", "1.5M": digits, optionally a fraction, optionally a
// k (x1e3) or M (x1e6) suffix when allowed. No sign, exponent or spaces, so
// that what the user typed is what they get.
std::optional<double> parse_decimal(std::string_view text, bool allow_suffix) {
  double scale = 1;
  if (allow_suffix && !text.empty()) {
    if (text.back() == 'k') scale = 1e3;
    if (text.back() == 'M') scale = 1e6;
    if (scale != 1) text.remove_suffix(1);
  }
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  auto all_digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(frac))) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  value *= scale;
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

// The shortest text that reads back as `value` ("0.5", "1e+30"), for error
// messages about values that did not come from text.
std::string shortest(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::optional<unsigned> parse_count(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_positive_rate(std::string_view text) {
  auto rate = parse_decimal(text, /*allow_suffix=*/true);
  if (!rate || *rate <= 0) return std::nullopt;
  return rate;
}

}  // namespace

Result<FirePattern> parse_fire_pattern(std::string_view text) {
  auto invalid = [text] {
    return Error{"pattern '" + std::string(text) +
                 "' is not valid (accepted: saturate, rate:R, poisson:R, burst:B@R with R > 0, "
                 "e.g. 250000, 250k or 1.5M, and B >= 1)"};
  };
  FirePattern p;
  if (text == "saturate") return p;
  if (text.starts_with("rate:") || text.starts_with("poisson:")) {
    p.kind = text.starts_with("rate:") ? FirePattern::Kind::kRate : FirePattern::Kind::kPoisson;
    auto rate = parse_positive_rate(text.substr(text.find(':') + 1));
    if (!rate) return invalid();
    p.rate = *rate;
    return p;
  }
  if (text.starts_with("burst:")) {
    std::string_view rest = text.substr(6);
    const std::size_t at = rest.find('@');
    if (at == std::string_view::npos) return invalid();
    auto burst = parse_count(rest.substr(0, at));
    auto rate = parse_positive_rate(rest.substr(at + 1));
    if (!burst || *burst < 1 || !rate) return invalid();
    p.kind = FirePattern::Kind::kBurst;
    p.burst = *burst;
    p.rate = *rate;
    return p;
  }
  return invalid();
}

Result<VectorChoice> parse_vector_choice(std::string_view text) {
  VectorChoice c;
  if (text == "uniform") return c;
  if (text.starts_with("zipf:")) {
    auto s = parse_decimal(text.substr(5), /*allow_suffix=*/false);
    if (s && *s > 0) {
      c.kind = VectorChoice::Kind::kZipf;
      c.s = *s;
      return c;
    }
  }
  return Error{"vector choice '" + std::string(text) + "' is not valid (accepted: uniform, zipf:S with S > 0)"};
}

FireSchedule::FireSchedule(const FirePattern& pattern, std::uint64_t seed)
    : kind_(pattern.kind),
      ns_per_event_(pattern.rate > 0 ? 1e9 / pattern.rate : 0),
      rate_(pattern.rate),
      fires_per_event_(pattern.kind == FirePattern::Kind::kBurst ? std::max(pattern.burst, 1U) : 1),
      rng_(seed) {}

std::uint64_t FireSchedule::next_offset_ns() {
  switch (kind_) {
    case FirePattern::Kind::kSaturate: return 0;
    case FirePattern::Kind::kRate:
    case FirePattern::Kind::kBurst:
      // From the index, not a running sum: a rounded period added a
      // million times would drift; index x period does not.
      return static_cast<std::uint64_t>(std::llround(static_cast<double>(index_++) * ns_per_event_));
    case FirePattern::Kind::kPoisson: {
      // The first event is due at once, like rate's; each later one an
      // exponential gap (inverse CDF of a uniform draw) after the previous.
      if (index_++ == 0) return 0;
      const double gap_ns = -std::log1p(-uniform01(rng_)) * 1e9 / rate_;
      poisson_offset_ns_ += static_cast<std::uint64_t>(std::llround(gap_ns));
      return poisson_offset_ns_;
    }
  }
  return 0;
}

VectorSampler::VectorSampler(const VectorChoice& choice, unsigned nvectors, std::uint64_t seed)
    : nvectors_(std::max(nvectors, 1U)), rng_(seed) {
  if (choice.kind != VectorChoice::Kind::kZipf) return;
  cdf_.resize(nvectors_);
  double sum = 0;
  for (unsigned k = 0; k < nvectors_; ++k) {
    sum += std::pow(static_cast<double>(k) + 1, -choice.s);
    cdf_[k] = sum;
  }
  for (double& p : cdf_) p /= sum;
  // Exactly 1 so that every draw in [0, 1) finds a vector.
  cdf_.back() = 1.0;
}

unsigned VectorSampler::next() {
  if (cdf_.empty()) {
    // Multiply-shift maps a 64-bit draw onto [0, n) without a division.
    return static_cast<unsigned>((static_cast<unsigned __int128>(rng_()) * nvectors_) >> 64);
  }
  const double u = uniform01(rng_);
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return std::min(static_cast<unsigned>(it - cdf_.begin()), nvectors_ - 1);
}

struct FiringEngine::State {
  State(SoftwareDevice& device_in, const Options& options_in)
      : device(device_in),
        options(options_in),
        schedule(options_in.pattern, options_in.seed),
        // A different stream from the timetable's, so that changing the
        // vector count does not change when poisson fires happen.
        sampler(options_in.choice,
                options_in.vectors.empty() ? device_in.nvectors() : static_cast<unsigned>(options_in.vectors.size()),
                options_in.seed ^ 0x9e3779b97f4a7c15ULL) {}
  ~State() { stop(); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  void stop() {
    stop_requested.store(true, std::memory_order_relaxed);
    join();
  }
  void join() {
    // stop() and wait() may race from different threads; join() may not.
    std::lock_guard lock(join_mutex);
    if (thread.joinable()) thread.join();
  }

  void run(std::promise<Status> ready);
  void run_saturate();
  void run_paced();
  bool wait_until(std::uint64_t due_ns) const;
  // The entry of the next fire: the sampler's k-th of the entries to fire.
  unsigned next_vector() {
    const unsigned k = sampler.next();
    return options.vectors.empty() ? k : options.vectors[k];
  }
  bool done_after_fire() {
    fires.store(++fired_here, std::memory_order_relaxed);
    return options.max_fires != 0 && fired_here >= options.max_fires;
  }

  SoftwareDevice& device;
  const Options options;
  FireSchedule schedule;         // firing thread only
  VectorSampler sampler;         // firing thread only
  std::uint64_t fired_here = 0;  // firing thread only; published as `fires`

  std::atomic<bool> stop_requested{false};
  std::atomic<std::uint64_t> fires{0};
  int cpu = -1;                           // set before `ready`, then constant
  clockid_t cpu_clock = CLOCK_MONOTONIC;  // likewise; the firing thread's CPU clock
  std::atomic<bool> exited{false};
  std::atomic<std::uint64_t> final_cpu_ns{0};

  std::mutex join_mutex;
  std::thread thread;
};

void FiringEngine::State::run(std::promise<Status> ready) {
  auto finish = [this] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    final_cpu_ns.store(to_ns(ts), std::memory_order_relaxed);
    exited.store(true, std::memory_order_release);
  };
  ::pthread_getcpuclockid(::pthread_self(), &cpu_clock);
  if (options.cpu >= 0) {
    const auto want = static_cast<unsigned>(options.cpu);
    const std::size_t size = CPU_ALLOC_SIZE(want + 1);
    cpu_set_t* set = CPU_ALLOC(want + 1);
    CPU_ZERO_S(size, set);
    CPU_SET_S(want, size, set);
    int err = inject_fault(options.fault, "sched_setaffinity");
    if (err == 0 && ::sched_setaffinity(0, size, set) != 0) err = errno;
    CPU_FREE(set);
    if (err != 0) {
      finish();
      ready.set_value(Error{"cannot pin the firing thread to CPU " + std::to_string(want) +
                            ": sched_setaffinity: " + errno_string(err)});
      return;
    }
    // The kernel moves the thread before sched_setaffinity() returns; check
    // rather than trust, since the CPU is reported with every result.
    cpu = ::sched_getcpu();
    if (cpu != options.cpu) {
      finish();
      ready.set_value(Error{"the firing thread was pinned to CPU " + std::to_string(want) + " but runs on CPU " +
                            std::to_string(cpu)});
      return;
    }
  }
  ready.set_value(ok_status());
  if (options.pattern.kind == FirePattern::Kind::kSaturate) {
    run_saturate();
  } else {
    run_paced();
  }
  finish();
}

void FiringEngine::State::run_saturate() {
  while (!stop_requested.load(std::memory_order_relaxed)) {
    const unsigned v = next_vector();
    // A refused fire (ring full) is counted by the device; drawing the next
    // vector instead of retrying keeps one slow vector from stalling all.
    if (device.fire(v, monotonic_now_ns()) && done_after_fire()) return;
  }
}

void FiringEngine::State::run_paced() {
  // The default 50 us timer slack would make every sleep overshoot by up to
  // that much; 1 ns asks for the wake-up we schedule. Per thread.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  const std::uint64_t t0 = monotonic_now_ns();
  const unsigned per_event = schedule.fires_per_event();
  while (true) {
    const std::uint64_t due = t0 + schedule.next_offset_ns();
    if (!wait_until(due)) return;
    for (unsigned b = 0; b < per_event; ++b) {
      const unsigned v = next_vector();
      // Open loop: the fire keeps its scheduled stamp however late it goes
      // out, so a full ring (a reader that fell behind) shows as latency.
      // An entry with no eventfd armed (MSI-X off, or never allocated) will
      // not take it however long we wait: that fire never happens (the
      // device counts it as unarmed).
      bool fired = true;
      for (unsigned tries = 0; !device.fire(v, due); ++tries) {
        if (stop_requested.load(std::memory_order_relaxed)) return;
        if (device.eventfd(v) < 0) {
          fired = false;
          break;
        }
        // Yield after a short spin: the reader we wait for may share our CPU.
        if (tries < 64) {
          cpu_relax();
        } else {
          ::sched_yield();
        }
      }
      if (fired && done_after_fire()) return;
    }
  }
}

// Waits until CLOCK_MONOTONIC reaches due_ns: sleeps (in slices, so that
// stop() is seen within one) while more than kSpinNs away, then spins, since
// a sleep wakes tens of microseconds late. Returns false if stopped.
bool FiringEngine::State::wait_until(std::uint64_t due_ns) const {
  constexpr std::uint64_t kSpinNs = 50'000;
  constexpr std::uint64_t kMaxSleepNs = 10'000'000;
  while (true) {
    if (stop_requested.load(std::memory_order_relaxed)) return false;
    const std::uint64_t now = monotonic_now_ns();
    if (now >= due_ns) return true;
    if (due_ns - now > kSpinNs) {
      const std::uint64_t wake = std::min(due_ns - kSpinNs, now + kMaxSleepNs);
      const timespec ts = to_timespec(wake);
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);  // EINTR: the loop sleeps again
    } else {
      cpu_relax();
    }
  }
}

FiringEngine::FiringEngine(std::unique_ptr<State> state) : state_(std::move(state)) {}

FiringEngine::~FiringEngine() = default;  // State's destructor stops and joins

Result<std::unique_ptr<FiringEngine>> FiringEngine::start(SoftwareDevice& device, const Options& options) {
  if (options.cpu < -1)
    return Error{"firing CPU " + std::to_string(options.cpu) + " is not valid (accepted: -1 for not pinned, or 0 up)"};
  const FirePattern& p = options.pattern;
  if (p.kind != FirePattern::Kind::kSaturate && !(p.rate > 0 && std::isfinite(p.rate)))
    return Error{"firing rate " + shortest(p.rate) + " is not valid (accepted: > 0 per second)"};
  if (p.kind == FirePattern::Kind::kBurst && p.burst < 1)
    return Error{"burst size " + std::to_string(p.burst) + " is not valid (accepted: 1 up)"};
  if (options.choice.kind == VectorChoice::Kind::kZipf && !(options.choice.s > 0 && std::isfinite(options.choice.s)))
    return Error{"zipf exponent " + shortest(options.choice.s) + " is not valid (accepted: > 0)"};

  for (unsigned v : options.vectors)
    if (v >= device.nvectors())
      return Error{"firing vector " + std::to_string(v) + " is not valid (accepted: 0.." +
                   std::to_string(device.nvectors() - 1) + ")"};

  auto state = std::make_unique<State>(device, options);
  std::promise<Status> ready;
  std::future<Status> started = ready.get_future();
  auto thread = spawn_thread(options.fault, [s = state.get(), r = std::move(ready), name = device.name()]() mutable {
    set_thread_name("irqd-fire/" + name);
    s->run(std::move(r));
  });
  if (!thread) return Error{"cannot start the firing thread: " + thread.error().message};
  state->thread = std::move(*thread);
  Status status = started.get();
  if (!status) return status.error();  // the thread has ended; `state` joins it
  return std::unique_ptr<FiringEngine>(new FiringEngine(std::move(state)));
}

void FiringEngine::stop() { state_->stop(); }

void FiringEngine::wait() { state_->join(); }

int FiringEngine::cpu() const { return state_->cpu; }

std::uint64_t FiringEngine::fires() const { return state_->fires.load(std::memory_order_relaxed); }

std::uint64_t FiringEngine::cpu_ns() const {
  if (!state_->exited.load(std::memory_order_acquire)) {
    // Another thread's CPU clock can be read while that thread lives. If it
    // ends between the check and the read, the read fails and the final
    // value, stored before it ended, is the answer.
    timespec ts{};
    if (::clock_gettime(state_->cpu_clock, &ts) == 0) return to_ns(ts);
    // Acquire again: pairs with the release after the final value's store.
    static_cast<void>(state_->exited.load(std::memory_order_acquire));
  }
  return state_->final_cpu_ns.load(std::memory_order_relaxed);
}

}  // namespace irqd
