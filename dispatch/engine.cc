// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/engine.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "base/unique_fd.h"
#include "dispatch/load_gauge.h"
#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

std::unique_ptr<Reactor> make_reactor(ReactorKind kind, unsigned cpu, const DispatchOptions& options, Worker* worker) {
  switch (kind) {
    case ReactorKind::kIoUring: return make_uring_reactor(cpu, options, worker);
    case ReactorKind::kEpoll: return make_epoll_reactor(cpu, options, worker);
    case ReactorKind::kThread: return make_thread_reactor(cpu, options, worker);
  }
  return nullptr;
}

// A CPU this process may run on other than `cpu` (the firer of a
// calibration), or `cpu` itself on a one-CPU machine.
unsigned another_cpu(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpu;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (c != cpu && CPU_ISSET(c, &set)) return c;
  return cpu;
}

// Interrupts per second one io_uring method delivers from
// kCalibrationVectors eventfds on `cpu`, saturated by a thread on
// `fire_cpu`, through the engine's own hand-off (the winner differs with
// it: inline, read SQEs led here; through the queue, multishot poll did),
// over kCalibrationNs. 0 when it cannot run.
constexpr unsigned kCalibrationVectors = 64;
constexpr std::uint64_t kCalibrationNs = 30'000'000;

double measure_uring(DispatchOptions options, UringMethod method, unsigned cpu, unsigned fire_cpu) {
  options.uring_method = method;
  options.uring_switch_by_load = false;
  options.fault = {};
  auto engine = DispatchEngine::create(options);
  if (!engine) return 0;
  std::vector<UniqueFd> fds;
  std::vector<VectorBinding> vectors;
  for (unsigned v = 0; v < kCalibrationVectors; ++v) {
    fds.emplace_back(eventfd(0, EFD_CLOEXEC));
    if (!fds.back().valid()) return 0;
    vectors.push_back({v, fds.back().get(), cpu});
  }
  auto id = (*engine)->add_device(vectors, DeviceSink{});
  if (!id) return 0;
  std::atomic<bool> firing{true};
  std::thread firer([&] {
    if (fire_cpu != cpu) (void)pin_to_cpu(fire_cpu);
    for (unsigned k = 0; firing.load(std::memory_order_relaxed); ++k)
      (void)eventfd_add(fds[k % kCalibrationVectors].get(), 1);
  });
  const std::uint64_t t0 = monotonic_ns();
  while (monotonic_ns() - t0 < kCalibrationNs) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  firing = false;
  firer.join();
  const std::uint64_t elapsed = monotonic_ns() - t0;
  const DispatchStats st = (*engine)->remove_device(*id);
  return static_cast<double>(st.handled()) * 1e9 / static_cast<double>(elapsed);
}

std::string rate_text(double per_s) { return fmt::format("{:.2f} M/s", per_s / 1e6); }

void add_into(std::vector<std::uint64_t>& total, const std::vector<std::uint64_t>& part) {
  if (total.size() < part.size()) total.resize(part.size(), 0);
  for (std::size_t i = 0; i < part.size(); ++i) total[i] += part[i];
}

}  // namespace

// One serving CPU: its worker (queue hand-off only) and its reactor. The
// worker goes last: a reactor delivers to it until it stops.
struct DispatchEngine::Lane {
  unsigned cpu = 0;
  unsigned sources = 0;  // armed on its reactor now
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Reactor> reactor;
  ~Lane() {
    if (reactor) reactor->stop_and_join();
    if (worker) worker->finish_and_join();
  }
};

struct DispatchEngine::Device {
  DeviceSink sink;  // sources point at it: a Device never moves
  unsigned nvectors = 0;
  std::map<unsigned, std::unique_ptr<Source>> sources;  // in service, by vector
  // The handler side's counts: one per CPU, shared by the device's sources
  // there, or one per source where each reader runs its own handler (the
  // thread reactor, inline).
  std::vector<std::unique_ptr<HandlerCounts>> counts;
  std::map<unsigned, HandlerCounts*> counts_by_cpu;
  // The reactor side's, folded from each source as it leaves a CPU.
  struct ReactorCounts {
    std::uint64_t reads = 0;
    std::uint64_t dropped_queue_full = 0;
    std::uint64_t backoffs = 0;
    std::uint64_t inline_invocations = 0;
  };
  std::map<unsigned, ReactorCounts> reactor_counts;
  std::vector<std::uint64_t> dropped_per_vector;
  std::vector<std::string> errors;
  // Posted by stop_arming(), waited for by remove_device().
  std::vector<std::pair<Source*, std::unique_ptr<Fence>>> removals;
  bool arming_stopped = false;
};

DispatchEngine::DispatchEngine(DispatchOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<DispatchEngine>> DispatchEngine::create(DispatchOptions options) {
  utsname u{};
  if (::uname(&u) == 0) {
    if (Status s = check_kernel_release(u.release); !s) return s.error();
  }
  if (options.queue_capacity < 2)
    return Error{"queue capacity " + std::to_string(options.queue_capacity) + " is too small (accepted: 2 or more)"};
  return std::unique_ptr<DispatchEngine>(new DispatchEngine(std::move(options)));
}

DispatchEngine::~DispatchEngine() { (void)stop_lanes(); }

std::string uring_choice_key(const DispatchOptions& options) {
  utsname u{};
  const std::string release = ::uname(&u) == 0 ? u.release : "unknown";
  std::string model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (!line.starts_with("model name")) continue;
    if (auto colon = line.find(':'); colon != std::string::npos) model = line.substr(colon + 2);
    break;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  return fmt::format("linux {}; {}; {} CPUs; handoff {}; busy_poll_ns {}", release, model, cpus,
                     handoff_name(options.handoff), options.busy_poll_ns);
}

// Read SQEs or multishot poll: which wins saturated differs from machine
// to machine (and kernel to kernel, and with the hand-off), so it is
// measured, once per machine where a cache keeps it, before the first lane
// starts. Where multishot poll wins, the reactors switch by load: it costs
// a read() per interrupt that read SQEs do not, which at light load, one
// interrupt per wake, is most of the difference.
void DispatchEngine::choose_uring(unsigned cpu) {
  const UringChoiceCache& cache = options_.uring_cache;
  const std::string key = cache.lookup || cache.store ? uring_choice_key(options_) : "";
  bool cached = false;
  std::string why;
  if (cache.lookup) {
    if (auto hit = cache.lookup(key); hit && hit->method != UringMethod::kAuto && hit->read_per_s > 0) {
      options_.uring_method = hit->method;
      options_.uring_read_ceiling_per_s = hit->read_per_s;
      why = fmt::format("cached for {}: {}", key, hit->why);
      cached = true;
    }
  }
  if (!cached) {
    auto measured = calibrate_uring(cpu);
    why = measured ? *measured : "the calibration could not run; the default";
    if (measured && cache.store) cache.store(key, {options_.uring_method, why, options_.uring_read_ceiling_per_s});
  }
  options_.uring_switch_by_load =
      options_.uring_method == UringMethod::kPollMultishot && options_.uring_read_ceiling_per_s > 0;
  uring_choice_ =
      options_.uring_switch_by_load
          ? fmt::format("poll-multishot from {} on, read-sqe below {} ({})",
                        rate_text(options_.uring_read_ceiling_per_s * LoadGauge::kBehindPercent / 100),
                        rate_text(options_.uring_read_ceiling_per_s * LoadGauge::kKeepingUpPercent / 100), why)
          : fmt::format("{} ({})", uring_method_name(options_.uring_method), why);
}

// Each method twice, interleaved, best of its two, with this engine's
// settings. Sets options_.uring_method to the faster and what read SQEs
// served as their ceiling; returns the figures.
std::optional<std::string> DispatchEngine::calibrate_uring(unsigned cpu) {
  const unsigned fire_cpu = another_cpu(cpu);
  double read = 0;
  double poll = 0;
  for (int round = 0; round < 2; ++round) {
    read = std::max(read, measure_uring(options_, UringMethod::kReadSqe, cpu, fire_cpu));
    poll = std::max(poll, measure_uring(options_, UringMethod::kPollMultishot, cpu, fire_cpu));
  }
  options_.uring_method = poll > read ? UringMethod::kPollMultishot : UringMethod::kReadSqe;
  options_.uring_read_ceiling_per_s = read;
  if (read == 0 && poll == 0) return std::nullopt;
  return fmt::format("measured on CPU {}, {} eventfds saturated from CPU {}: read-sqe {}, poll-multishot {}", cpu,
                     kCalibrationVectors, fire_cpu, rate_text(read), rate_text(poll));
}

Result<DispatchEngine::Lane*> DispatchEngine::lane_for(unsigned cpu) {
  if (auto it = lanes_.find(cpu); it != lanes_.end()) return it->second.get();
  if (lanes_stopped_) return Error{"the dispatch engine is stopped"};
  if (options_.reactor == ReactorKind::kIoUring && options_.uring_method == UringMethod::kAuto) choose_uring(cpu);
  auto lane = std::make_unique<Lane>();
  lane->cpu = cpu;
  if (options_.handoff != Handoff::kInline) {
    const unsigned worker_cpu = options_.worker_cpu ? options_.worker_cpu(cpu) : cpu;
    lane->worker = std::make_unique<Worker>(options_, worker_cpu);
    // The worker first: a reactor delivers as soon as it runs.
    if (Status s = lane->worker->start(); !s) return s.error();
  }
  lane->reactor = make_reactor(options_.reactor, cpu, options_, lane->worker.get());
  if (Status s = lane->reactor->start(); !s) return s.error();  // ~Lane joins the worker
  Lane* raw = lane.get();
  lanes_[cpu] = std::move(lane);
  return raw;
}

HandlerCounts* DispatchEngine::counts_for(Device& d, unsigned cpu) {
  const bool per_reader = options_.reactor == ReactorKind::kThread && options_.handoff == Handoff::kInline;
  if (!per_reader) {
    if (auto it = d.counts_by_cpu.find(cpu); it != d.counts_by_cpu.end()) return it->second;
  }
  d.counts.push_back(std::make_unique<HandlerCounts>(cpu, d.nvectors));
  HandlerCounts* c = d.counts.back().get();
  if (!per_reader) d.counts_by_cpu[cpu] = c;
  return c;
}

Status DispatchEngine::arm(Device& d, Source& source) {
  auto lane = lane_for(source.cpu);
  if (!lane) return lane.error();
  source.counts = counts_for(d, source.cpu);
  source.dead = false;
  Status s = (*lane)->reactor->add(&source);
  if (s) (*lane)->sources++;
  return s;
}

// A lane whose last source left stops: an engine holds threads only on
// the CPUs that serve something, and a failed bind leaves none behind.
void DispatchEngine::retire_idle_lanes() {
  for (auto it = lanes_.begin(); it != lanes_.end();) {
    if (it->second->sources != 0) {
      ++it;
      continue;
    }
    keep_lane_stats(stop_lane(*it->second));
    it = lanes_.erase(it);
  }
}

CpuStats DispatchEngine::stop_lane(Lane& lane) {
  lane.reactor->stop_and_join();
  CpuStats c;
  c.cpu = lane.cpu;
  c.reactor_ran_on = lane.reactor->ran_on();
  c.reactor_cpu_ns = lane.reactor->cpu_ns();
  c.method_switches = lane.reactor->method_switches();
  if (lane.worker) {
    lane.worker->finish_and_join();
    c.worker_ran_on = lane.worker->ran_on();
    c.worker_cpu = static_cast<int>(lane.worker->cpu());
    c.worker_cpu_ns = lane.worker->cpu_ns();
  }
  return c;
}

// The source has left its reactor (its fence passed): its reactor-side
// counts go to the device's, under the CPU it was served on.
void DispatchEngine::fold(Device& d, Source& source) {
  if (auto lane = lanes_.find(source.cpu); lane != lanes_.end()) lane->second->sources--;
  Device::ReactorCounts& r = d.reactor_counts[source.cpu];
  r.reads += std::exchange(source.reads, 0);
  r.backoffs += std::exchange(source.backoffs, 0);
  r.inline_invocations += std::exchange(source.inline_invocations, 0);
  const std::uint64_t dropped = std::exchange(source.dropped_queue_full, 0);
  r.dropped_queue_full += dropped;
  d.dropped_per_vector[source.vector] += dropped;
  for (std::string& e : source.errors) d.errors.push_back(std::move(e));
  source.errors.clear();
}

Result<DispatchEngine::DeviceId> DispatchEngine::add_device(const std::vector<VectorBinding>& vectors, DeviceSink sink,
                                                            DispatchStats* partial) {
  std::set<unsigned> seen;
  unsigned nvectors = 0;
  for (const VectorBinding& b : vectors) {
    if (b.fd < 0) return Error{"vector " + std::to_string(b.vector) + " has no eventfd"};
    if (!seen.insert(b.vector).second) return Error{"vector " + std::to_string(b.vector) + " bound twice"};
    nvectors = std::max(nvectors, b.vector + 1);
  }
  const DeviceId id = next_id_++;
  auto owned = std::make_unique<Device>();
  Device& d = *owned;
  d.sink = std::move(sink);
  d.nvectors = nvectors;
  d.dropped_per_vector.assign(nvectors, 0);
  devices_[id] = std::move(owned);
  for (const VectorBinding& b : vectors) {
    auto source = std::make_unique<Source>();
    source->vector = b.vector;
    source->fd = b.fd;
    source->cpu = b.cpu;
    source->sink = &d.sink;
    if (Status s = arm(d, *source); !s) {
      // What the vectors armed so far read is counted, then the device goes.
      DispatchStats got = remove_device(id);
      if (partial != nullptr) *partial = std::move(got);
      return s.error();
    }
    d.sources[b.vector] = std::move(source);
  }
  return id;
}

void DispatchEngine::stop_arming(DeviceId id) {
  auto it = devices_.find(id);
  if (it == devices_.end() || it->second->arming_stopped) return;
  Device& d = *it->second;
  d.arming_stopped = true;
  for (auto& [vector, source] : d.sources) {
    auto fence = std::make_unique<Fence>();
    lanes_.at(source->cpu)->reactor->remove(source.get(), fence.get());
    d.removals.emplace_back(source.get(), std::move(fence));
  }
}

DispatchStats DispatchEngine::remove_device(DeviceId id) {
  auto it = devices_.find(id);
  if (it == devices_.end()) return {};
  stop_arming(id);
  Device& d = *it->second;
  for (auto& [source, fence] : d.removals) {
    fence->done.wait();
    fold(d, *source);
  }
  DispatchStats st = totals(d);
  devices_.erase(it);
  retire_idle_lanes();
  return st;
}

DispatchStats DispatchEngine::totals(Device& d) {
  DispatchStats st;
  st.handled_per_vector.assign(d.nvectors, 0);
  st.invocations_per_vector.assign(d.nvectors, 0);
  st.dropped_per_vector = d.dropped_per_vector;
  st.errors = d.errors;
  st.uring_choice = uring_choice_;
  std::map<unsigned, CpuStats> cpus;
  for (const auto& [cpu, r] : d.reactor_counts) {
    CpuStats& c = cpus[cpu];
    c.reads += r.reads;
    c.dropped_queue_full += r.dropped_queue_full;
    c.backoffs += r.backoffs;
    c.inline_invocations += r.inline_invocations;
  }
  for (const auto& counts : d.counts) {
    CpuStats& c = cpus[counts->cpu];
    c.handled += counts->handled;
    c.invocations += counts->invocations;
    c.negative_latency += counts->negative_latency;
    c.latency.merge(counts->latency);
    add_into(st.handled_per_vector, counts->handled_per_vector);
    add_into(st.invocations_per_vector, counts->invocations_per_vector);
  }
  for (auto& [cpu, c] : cpus) {
    c.cpu = cpu;
    if (auto lane = lanes_.find(cpu); lane != lanes_.end()) {
      c.reactor_ran_on = lane->second->reactor->ran_on();
      if (const Worker* w = lane->second->worker.get()) {
        c.worker_ran_on = w->ran_on();
        c.worker_cpu = static_cast<int>(w->cpu());
      }
    }
    st.latency.merge(c.latency);
    st.cpus.push_back(std::move(c));
  }
  return st;
}

Result<MoveTiming> DispatchEngine::move(DeviceId id, unsigned vector, unsigned cpu) {
  auto it = devices_.find(id);
  if (it == devices_.end()) return Error{"no such device in the dispatch engine"};
  Device& d = *it->second;
  if (d.arming_stopped) return Error{"the device is being removed"};
  auto found = d.sources.find(vector);
  if (found == d.sources.end()) return Error{"vector " + std::to_string(vector) + " is not served"};
  Source& source = *found->second;
  if (source.cpu == cpu) return MoveTiming{};
  // The new CPU's lane first: if it cannot start, nothing moved.
  if (auto lane = lane_for(cpu); !lane) return lane.error();

  const std::uint64_t t0 = monotonic_ns();
  Fence fence;
  lanes_.at(source.cpu)->reactor->remove(&source, &fence);
  fence.done.wait();  // the old worker has handled all it read
  const std::uint64_t t1 = monotonic_ns();
  fold(d, source);
  const unsigned from = source.cpu;
  source.cpu = cpu;
  if (Status s = arm(d, source); !s) {
    source.cpu = from;
    if (Status back = arm(d, source); !back) {
      d.sources.erase(found);
      retire_idle_lanes();
      return Error{s.error().message + "; re-arming it on CPU " + std::to_string(from) + " failed too (" +
                   back.error().message + "): vector " + std::to_string(vector) + " is out of service"};
    }
    return s.error();
  }
  const MoveTiming timing{monotonic_ns() - t0, t1 - t0};
  retire_idle_lanes();
  return timing;
}

unsigned DispatchEngine::threads() const {
  unsigned n = 0;
  for (const auto& [cpu, lane] : lanes_) n += lane->reactor->threads() + (lane->worker ? 1 : 0);
  return n;
}

std::vector<unsigned> DispatchEngine::lane_cpus() const {
  std::vector<unsigned> cpus;
  for (const auto& [cpu, lane] : lanes_) cpus.push_back(cpu);
  return cpus;
}

// One entry per CPU, however often its lane stopped and started again (a
// daemon that rebinds for weeks must not keep one per lane it ever ran).
void DispatchEngine::keep_lane_stats(const CpuStats& c) {
  auto [it, fresh] = lane_stats_.try_emplace(c.cpu, c);
  if (fresh) return;
  it->second.reactor_ran_on = c.reactor_ran_on;
  it->second.worker_ran_on = c.worker_ran_on;
  it->second.worker_cpu = c.worker_cpu;
  it->second.reactor_cpu_ns += c.reactor_cpu_ns;
  it->second.worker_cpu_ns += c.worker_cpu_ns;
  it->second.method_switches += c.method_switches;
}

std::vector<CpuStats> DispatchEngine::stop_lanes() {
  if (!lanes_stopped_) {
    while (!devices_.empty()) (void)remove_device(devices_.begin()->first);
    lanes_stopped_ = true;
    for (auto& [cpu, lane] : lanes_) keep_lane_stats(stop_lane(*lane));
    lanes_.clear();
  }
  std::vector<CpuStats> out;
  for (const auto& [cpu, c] : lane_stats_) out.push_back(c);
  return out;
}

}  // namespace irqd
