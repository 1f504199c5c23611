// SPDX-License-Identifier: GPL-2.0-only

#include "host/host.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <limits>
#include <utility>

#include "dispatch/sys.h"

namespace irqd {

// What the host keeps live for one bound device, written by its handler
// wrapper on the worker (or reactor) threads and read by the control
// thread, the control socket and the metrics endpoint.
struct LiveCounters {
  explicit LiveCounters(unsigned entries)
      : entries(entries), handled(std::make_unique<std::atomic<std::uint64_t>[]>(entries)) {}
  unsigned entries;
  std::unique_ptr<std::atomic<std::uint64_t>[]> handled;  // per MSI-X entry
  std::atomic<std::uint64_t> invocations{0};
  std::atomic<std::uint64_t> dropped_queue_full{0};
  LiveLatency latency;
  // The unbind's drain, on its own: set once arming has stopped, after
  // which every eventfd read (it reaches consume_stamp) is the drain's.
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> drain_reads{0};
  std::atomic<std::uint64_t> drain_interrupts{0};
  std::uint64_t handled_total() const {
    std::uint64_t n = 0;
    for (unsigned i = 0; i < entries; ++i) n += handled[i].load(std::memory_order_relaxed);
    return n;
  }
};

struct Host::Hosted {
  DeviceSpec spec;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<Binding> binding;
  SoftwareDevice* soft = nullptr;  // owned by the binding
  std::unique_ptr<LiveCounters> live;
  // The host's engine when the device was added (a reload with other
  // reactor settings starts a new one; this one lives while its devices do).
  std::shared_ptr<DispatchEngine> dispatch;
  std::optional<DispatchEngine::DeviceId> dispatch_id;  // set while its vectors are served
  DispatchStats dispatched;                             // what a failed start read
  std::uint64_t moves = 0;
  LatencyHistogram move_unarmed;  // per move: how long the vector was armed nowhere
  std::unique_ptr<FiringEngine> engine;
  std::vector<Vector> vectors;
  bool unplugged = false;

  // The engine plays the hardware: it goes before the binding (and so the
  // device) it fires into; the dispatch engine runs the driver's handler
  // and the live counters, so the device leaves it before they go.
  ~Hosted() {
    engine.reset();
    if (dispatch_id) (void)dispatch->remove_device(*dispatch_id);
    binding.reset();
  }
};

namespace {

bool valid_bdf(std::string_view s) {
  // DDDD:BB:DD.F, hex digits.
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11})
    if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return false;
  return true;
}

// What the drain itself did, not the totals since bind (those are in the
// report line): the eventfd reads after arming stopped and the interrupts
// they returned; what the handlers took and what was dropped meanwhile
// (queued entries included).
std::string drain_summary(std::uint64_t reads, std::uint64_t interrupts, std::uint64_t handled, std::uint64_t calls,
                          std::uint64_t dropped) {
  return std::to_string(reads) + " reads of " + std::to_string(interrupts) + " interrupts after arming stopped; " +
         std::to_string(handled) + " handled in " + std::to_string(calls) + " calls, " + std::to_string(dropped) +
         " dropped (queue_full) while draining";
}

// Reads and discards what a request eventfd holds (the kernel re-signals
// a held VFIO request every ~10 s; one unbind is enough).
void clear_request(int fd) {
  while (eventfd_read_nowait(fd) > 0) {
  }
}

void add_vectors(std::vector<std::uint64_t>& total, const std::vector<std::uint64_t>& part) {
  if (total.size() < part.size()) total.resize(part.size(), 0);
  for (std::size_t i = 0; i < part.size(); ++i) total[i] += part[i];
}

}  // namespace

int poll_timeout_ms(std::uint64_t now_ns, std::uint64_t deadline_ns) {
  if (deadline_ns <= now_ns) return 0;
  // Rounded up, so poll() never wakes just before the deadline and spins.
  const std::uint64_t ms = (deadline_ns - now_ns + 999'999) / 1'000'000;
  return static_cast<int>(std::min<std::uint64_t>(ms, std::numeric_limits<int>::max()));
}

KernelVersion host_kernel_version() {
  auto live = parse_kernel_version("live");
  return live ? *live : default_kernel_version();
}

void raise_nofile_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

void merge_dispatch_stats(DispatchStats& total, const DispatchStats& part) {
  for (const CpuStats& c : part.cpus) {
    auto it = std::find_if(total.cpus.begin(), total.cpus.end(), [&](const CpuStats& t) { return t.cpu == c.cpu; });
    if (it == total.cpus.end()) {
      total.cpus.push_back(c);
      continue;
    }
    it->reads += c.reads;
    it->handled += c.handled;
    it->invocations += c.invocations;
    it->dropped_queue_full += c.dropped_queue_full;
    it->backoffs += c.backoffs;
    it->negative_latency += c.negative_latency;
    it->reactor_cpu_ns += c.reactor_cpu_ns;
    it->worker_cpu_ns += c.worker_cpu_ns;
    it->latency.merge(c.latency);
  }
  std::sort(total.cpus.begin(), total.cpus.end(), [](const CpuStats& a, const CpuStats& b) { return a.cpu < b.cpu; });
  add_vectors(total.handled_per_vector, part.handled_per_vector);
  add_vectors(total.invocations_per_vector, part.invocations_per_vector);
  add_vectors(total.dropped_per_vector, part.dropped_per_vector);
  total.latency.merge(part.latency);
  total.errors.insert(total.errors.end(), part.errors.begin(), part.errors.end());
}

Result<DeviceSpec> parse_device_spec(std::string_view text, unsigned software_ordinal) {
  const std::string accepted =
      " (accepted: soft:N with N in 1.." + std::to_string(kMaxSoftwareVectors) + ", or vfio:DDDD:BB:DD.F)";
  DeviceSpec spec;
  if (text.starts_with("soft:")) {
    std::string_view n = text.substr(5);
    unsigned value = 0;
    bool digits = !n.empty() && n.size() <= 5 && std::all_of(n.begin(), n.end(), ::isdigit);
    if (digits) value = static_cast<unsigned>(std::stoul(std::string(n)));
    if (!digits || value < 1 || value > kMaxSoftwareVectors)
      return Error{"device '" + std::string(text) + "' has an invalid vector count" + accepted};
    spec.kind = DeviceSpec::Kind::kSoftware;
    spec.vectors = value;
    spec.name = "soft" + std::to_string(software_ordinal);
    return spec;
  }
  if (text.starts_with("vfio:")) {
    std::string_view bdf = text.substr(5);
    if (!valid_bdf(bdf)) return Error{"device '" + std::string(text) + "' has a malformed PCI address" + accepted};
    spec.kind = DeviceSpec::Kind::kVfio;
    spec.name = std::string(bdf);
    spec.address = std::string(bdf);
    return spec;
  }
  return Error{"device '" + std::string(text) + "' is not understood" + accepted};
}

void ReportTotals::add(const DeviceReport& r) {
  ++unbinds;
  if (!r.accounted()) ++not_accounted;
  handled += r.dispatch.handled();
  dropped += r.dropped();
  leaked_vectors += r.unbind.leaked_vectors();
  problems += r.unbind.other_problems();
  errors += r.unbind.errors.size();
}

Host::Host(const Topology& topo, HostOptions options)
    : topo_(topo), options_(std::move(options)), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Host::~Host() { unbind_all("shutdown"); }

void Host::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Host::Hosted* Host::find(const std::string& name) {
  for (auto& h : hosted_)
    if (h->spec.name == name) return h.get();
  return nullptr;
}

const Host::Hosted* Host::find(const std::string& name) const {
  for (const auto& h : hosted_)
    if (h->spec.name == name) return h.get();
  return nullptr;
}

std::vector<std::string> Host::bound() const {
  std::vector<std::string> out;
  for (const auto& h : hosted_) out.push_back(h->spec.name);
  return out;
}

const DeviceSpec* Host::spec(const std::string& name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

MsixDevice* Host::device(const std::string& name) {
  Hosted* h = find(name);
  return h != nullptr ? &h->binding->device() : nullptr;
}

std::uint64_t Host::handled(const std::string& name, unsigned index) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Hosted* h = find(name);
  if (h == nullptr || index >= h->live->entries) return 0;
  return h->live->handled[index].load(std::memory_order_relaxed);
}

Result<DeviceStatus> Host::status(const std::string& name) const {
  const Hosted* h = find(name);
  if (h == nullptr) return Error{"no bound device named " + name};
  DeviceStatus s;
  s.name = name;
  s.backend = h->binding->device().backend();
  s.driver = h->driver->name();
  s.msix_count = h->binding->device().msix_count();
  s.vectors = h->vectors;
  for (const Vector& v : h->vectors) {
    const std::uint64_t n = h->live->handled[v.index].load(std::memory_order_relaxed);
    s.handled_per_vector.push_back(n);
    s.handled += n;
  }
  s.invocations = h->live->invocations.load(std::memory_order_relaxed);
  s.dropped_queue_full = h->live->dropped_queue_full.load(std::memory_order_relaxed);
  if (h->soft != nullptr) {
    s.fired_known = true;
    s.fired = h->soft->total_fired();
  }
  s.moves = h->moves;
  s.move_unarmed_p50_ns = h->move_unarmed.percentile(50);
  s.move_unarmed_p99_ns = h->move_unarmed.percentile(99);
  s.move_unarmed_max_ns = h->move_unarmed.max();
  s.latency = &h->live->latency;
  return s;
}

Status Host::start_dispatch(Hosted& h) {
  std::vector<VectorBinding> bindings;
  for (const Vector& v : h.vectors) {
    // A vector whose mask holds no present CPU would be shut down by the
    // kernel; here it is served by the first CPU irqd may use.
    const int cpu = v.serving_cpu >= 0 ? v.serving_cpu : static_cast<int>(topo_.present().first());
    bindings.push_back({v.index, v.eventfd, static_cast<unsigned>(cpu)});
  }
  if (!dispatch_) {
    DispatchOptions d = options_.dispatch;
    d.fault = options_.fault;
    auto engine = DispatchEngine::create(std::move(d));
    if (!engine) return Error{h.spec.name + ": cannot start dispatching: " + engine.error().message};
    dispatch_ = std::move(*engine);
  }
  MsixDevice* dev = &h.binding->device();
  Driver* drv = h.driver.get();
  LiveCounters* live = h.live.get();
  DeviceSink sink;
  sink.consume_stamp = [dev, live](unsigned index, std::uint64_t count) {
    if (live->draining.load(std::memory_order_relaxed)) {
      live->drain_reads.fetch_add(1, std::memory_order_relaxed);
      live->drain_interrupts.fetch_add(count, std::memory_order_relaxed);
    }
    return dev->consume_stamp(index, count);
  };
  // Count first, then the driver: the live counters are the host's, so
  // every driver (built-in or plugin) is counted the same way.
  sink.handler = [drv, live](unsigned index, std::uint64_t count, std::uint64_t stamp) {
    if (index < live->entries) live->handled[index].fetch_add(count, std::memory_order_relaxed);
    live->invocations.fetch_add(1, std::memory_order_relaxed);
    if (stamp != 0) {
      const std::uint64_t now = monotonic_ns();
      live->latency.record(now > stamp ? now - stamp : 0);
    }
    drv->handle(index, count, stamp);
  };
  sink.on_drop = [live](unsigned, std::uint64_t count) {
    live->dropped_queue_full.fetch_add(count, std::memory_order_relaxed);
  };
  DispatchStats partial;
  auto id = dispatch_->add_device(bindings, std::move(sink), &partial);
  if (!id) {
    // The vectors that were armed may have read interrupts: they count.
    merge_dispatch_stats(h.dispatched, partial);
    return Error{h.spec.name + ": cannot start dispatching: " + id.error().message};
  }
  h.dispatch = dispatch_;
  h.dispatch_id = *id;
  return ok_status();
}

Status Host::add(const DeviceSpec& spec) {
  if (find(spec.name) != nullptr) return Error{"device " + spec.name + " is already bound"};
  specs_[spec.name] = spec;
  auto h = std::make_unique<Hosted>();
  h->spec = spec;

  std::unique_ptr<MsixDevice> device;
  if (spec.kind == DeviceSpec::Kind::kSoftware) {
    SoftwareDevice::Options o;
    o.nvectors = spec.vectors;
    o.self_armed = false;
    o.name = spec.name;
    o.fault = options_.fault;
    auto soft = SoftwareDevice::create(o);
    if (!soft) return Error{spec.name + ": " + soft.error().message};
    h->soft = soft->get();
    device = std::move(*soft);
  } else {
    if (!options_.open_vfio) return Error{spec.name + ": this build cannot open VFIO devices"};
    auto vfio = options_.open_vfio(spec.address.empty() ? spec.name : spec.address);
    if (!vfio) return vfio.error();
    device = std::move(*vfio);
  }

  if (options_.make_driver) {
    auto driver = options_.make_driver(spec);
    if (!driver) return Error{spec.name + ": " + driver.error().message};
    h->driver = std::move(*driver);
  } else {
    if (!spec.plugin.empty()) return Error{spec.name + ": this host cannot load driver plugins"};
    auto driver = irqd::make_driver(spec.driver, spec.driver_options);
    if (!driver) return driver.error();
    h->driver = std::move(*driver);
  }
  h->live = std::make_unique<LiveCounters>(device->msix_count());
  h->binding = std::make_unique<Binding>(std::move(device), *h->driver, topo_, spec.planner,
                                         spec.kernel ? *spec.kernel : host_kernel_version(), options_.fault);
  if (Status s = h->binding->probe(); !s) return s;  // the binding released what probe took
  h->vectors = h->binding->live_vectors();

  if (Status s = start_dispatch(*h); !s) {
    h->binding->unbind("dispatch failed", {});
    return s;
  }
  if (h->soft != nullptr && spec.fire) {
    FiringEngine::Options firing = spec.firing;
    for (const Vector& v : h->vectors) firing.vectors.push_back(v.index);  // what the driver allocated
    firing.fault = options_.fault;
    auto engine = FiringEngine::start(*h->soft, firing);
    if (!engine) {
      merge_dispatch_stats(h->dispatched, h->dispatch->remove_device(*h->dispatch_id));
      h->dispatch_id.reset();
      h->binding->unbind("firing failed", {});
      return Error{spec.name + ": " + engine.error().message};
    }
    h->engine = std::move(*engine);
  }
  log("bound " + spec.name + " backend=" + h->binding->device().backend() + " driver=" + h->driver->name() +
      " vectors=" + std::to_string(h->vectors.size()) + " msix=" + std::to_string(h->binding->device().msix_count()));
  if (const std::string& choice = h->dispatch->uring_choice(); !choice.empty() && choice != logged_uring_choice_) {
    log("io_uring reactor: " + choice);
    logged_uring_choice_ = choice;
  }
  if (const MsixDevice& d = h->binding->device(); d.msix_enable_max() < d.msix_count())
    log(spec.name + ": the host could enable only " + std::to_string(d.msix_enable_max()) + " of its " +
        std::to_string(d.msix_count()) +
        " MSI-X entries (pci_alloc_irq_vectors gave fewer: the CPUs are short of interrupt vectors); bound with " +
        std::to_string(h->vectors.size()) + " vectors");
  std::lock_guard<std::mutex> lock(mu_);
  hosted_.push_back(std::move(h));
  return ok_status();
}

Status Host::move(const std::string& name, unsigned index, unsigned cpu) {
  Hosted* h = find(name);
  if (h == nullptr) return Error{"no bound device named " + name};
  auto v = std::find_if(h->vectors.begin(), h->vectors.end(), [&](const Vector& x) { return x.index == index; });
  if (v == h->vectors.end())
    return Error{name + ": vector " + std::to_string(index) +
                 " is not allocated (allocated: " + std::to_string(h->vectors.size()) + " vectors)"};
  if (cpu >= topo_.nr_cpu_ids() || !topo_.present().test_cpu(cpu))
    return Error{"CPU " + std::to_string(cpu) + " is not a CPU irqd may use (accepted: " + topo_.present().to_list() +
                 ")"};
  if (v->serving_cpu == static_cast<int>(cpu)) return ok_status();
  // As the kernel, which refuses a user affinity change on a managed
  // interrupt (irq_set_affinity: -EIO): a managed vector is served inside
  // its mask only.
  if (v->affinity_managed && !v->cpus.test_cpu(cpu))
    return Error{name + ": vector " + std::to_string(index) + " is managed: it is served inside its mask " +
                 v->cpus.to_list() + " only (the kernel refuses affinity changes of managed interrupts); CPU " +
                 std::to_string(cpu) + " is outside it"};
  const int from = v->serving_cpu;
  // Only this vector moves: its old reactor stops arming it and reads it
  // once, its old worker finishes what was read, its new reactor arms it.
  // Every other vector keeps being served throughout.
  auto moved = h->dispatch->move(*h->dispatch_id, index, cpu);
  if (!moved) {
    if (moved.error().message.find("out of service") == std::string::npos) return moved.error();
    // Served by nothing, the vector would count nothing more: take the
    // device through the unbind sequence instead (what its eventfds hold
    // is accounted there).
    log("move " + name + ": " + moved.error().message + "; unbinding it");
    (void)unbind(name, "dispatch lost: " + moved.error().message);
    return Error{moved.error().message + ", so " + name + " was unbound"};
  }
  v->serving_cpu = static_cast<int>(cpu);
  h->moves++;
  h->move_unarmed.record(moved->unarmed_ns);
  log("move " + name + " vector=" + std::to_string(index) + " cpu " + std::to_string(from) + " -> " +
      std::to_string(cpu) + " unarmed_us=" + std::to_string(moved->unarmed_ns / 1000));
  return ok_status();
}

Result<const DeviceReport*> Host::unbind(const std::string& name, const std::string& reason) {
  Hosted* h = find(name);
  if (h == nullptr) return Error{"no bound device named " + name};
  const UnbindHooks& extra = options_.unbind_hooks;
  log("unbind " + name + " reason=" + reason);

  DeviceReport rep;
  rep.name = name;
  rep.backend = h->binding->device().backend();
  rep.driver = h->driver->name();
  rep.vectors = h->vectors;
  UnbindHooks hooks;
  hooks.before_step = extra.before_step;
  LiveCounters& live = *h->live;
  std::uint64_t handled_before = 0;
  std::uint64_t calls_before = 0;
  std::uint64_t dropped_before = 0;
  hooks.stop_arming = [&] {
    // Counted from here: the reactors see the flag before the stop request
    // that makes them drain (a write to their eventfd, a system call).
    handled_before = live.handled_total();
    calls_before = live.invocations.load(std::memory_order_relaxed);
    dropped_before = live.dropped_queue_full.load(std::memory_order_relaxed);
    live.draining.store(true);
    if (h->dispatch_id) h->dispatch->stop_arming(*h->dispatch_id);
    if (extra.stop_arming) extra.stop_arming();
  };
  hooks.drain = [&] {
    rep.dispatch = h->dispatched;
    std::string summary = "nothing dispatched";
    if (h->dispatch_id) {
      // Every interrupt read from the device was handled: the counts below are final.
      const DispatchStats last = h->dispatch->remove_device(*h->dispatch_id);
      h->dispatch_id.reset();
      summary = drain_summary(
          live.drain_reads.load(std::memory_order_relaxed), live.drain_interrupts.load(std::memory_order_relaxed),
          live.handled_total() - handled_before, live.invocations.load(std::memory_order_relaxed) - calls_before,
          live.dropped_queue_full.load(std::memory_order_relaxed) - dropped_before);
      merge_dispatch_stats(rep.dispatch, last);
    }
    if (extra.drain) summary += "; " + extra.drain();
    return summary;
  };
  rep.unbind = h->binding->unbind(reason, hooks);
  // The device is closed: every later fire is refused, so the totals are final.
  if (h->engine) h->engine->stop();
  if (h->soft != nullptr) {
    rep.fired_known = true;
    rep.fired = h->soft->total_fired();
    rep.unarmed = h->soft->unarmed();
  }
  for (const UnbindTraceEntry& s : rep.unbind.steps)
    log("unbind " + name + " step=" + unbind_step_name(s.step) + " " + s.detail);
  for (const OwnershipProblem& p : rep.unbind.problems) log("ownership " + name + ": " + p.message);
  for (const std::string& e : rep.unbind.errors) log("unbind " + name + " error: " + e);
  log("report " + name + " fired=" + (rep.fired_known ? std::to_string(rep.fired) : "unknown") +
      " handled=" + std::to_string(rep.dispatch.handled()) +
      " dropped_queue_full=" + std::to_string(rep.dispatch.dropped_queue_full()) +
      " dropped_after_drain=" + std::to_string(rep.unbind.dropped_after_drain_total()) +
      " leaks=" + std::to_string(rep.unbind.leaks.size()) + (rep.accounted() ? " accounted" : " NOT ACCOUNTED"));

  std::unique_ptr<Hosted> gone;  // destroyed (threads joined) outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(hosted_.begin(), hosted_.end(), [&](const auto& p) { return p.get() == h; });
    gone = std::move(*it);
    hosted_.erase(it);
  }
  gone.reset();
  totals_.add(rep);
  if (options_.on_report) options_.on_report(rep);
  // Dropped from the front: the reference returned below stays valid.
  while (reports_.size() >= std::max<std::size_t>(options_.report_history, 1)) reports_.pop_front();
  reports_.push_back(std::move(rep));
  return &reports_.back();
}

void Host::unbind_all(const std::string& reason) {
  while (!hosted_.empty()) (void)unbind(hosted_.front()->spec.name, reason);
}

void Host::request_unbind(std::string name, std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back({std::move(name), std::move(reason), nullptr});
  }
  eventfd_add(wake_fd_.get(), 1);
}

void Host::request_stop(std::string reason) { request_unbind("", std::move(reason)); }

void Host::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back({"", "", std::move(fn)});
  }
  eventfd_add(wake_fd_.get(), 1);
}

std::vector<Host::Command> Host::take_commands() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(commands_, {});
}

void Host::run(const RunOptions& o) {
  const std::uint64_t start = monotonic_ns();
  const auto deadline = [&](double s) { return s > 0 ? start + static_cast<std::uint64_t>(s * 1e9) : 0; };
  const std::uint64_t end_at = deadline(o.duration_s);
  std::uint64_t unplug_at = deadline(o.unplug_after_s);
  std::uint64_t tick_at = o.tick_ms > 0 ? start + std::uint64_t{o.tick_ms} * 1'000'000 : 0;

  while (o.keep_running || !hosted_.empty()) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({o.signal_fd, POLLIN, 0});  // -1 is ignored by poll()
    std::vector<std::string> polled;
    for (const auto& h : hosted_) {
      fds.push_back({h->binding->device().request_fd(), POLLIN, 0});
      polled.push_back(h->spec.name);
    }

    const std::uint64_t now = monotonic_ns();
    std::uint64_t next = 0;
    for (std::uint64_t t : {end_at, unplug_at, tick_at})
      if (t != 0 && (next == 0 || t < next)) next = t;
    const int n = ::poll(fds.data(), fds.size(), next == 0 ? -1 : poll_timeout_ms(now, next));
    if (n < 0 && errno != EINTR) {
      log("poll failed: " + errno_string(errno) + "; unbinding everything");
      unbind_all("host error");
      return;
    }

    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(o.signal_fd, &si, sizeof si) == sizeof si) {
        const int signo = static_cast<int>(si.ssi_signo);
        if (signo == SIGTERM || signo == SIGINT) {
          unbind_all(signo == SIGINT ? "SIGINT" : "SIGTERM");
          return;
        }
        if (o.on_signal) o.on_signal(signo);
      }
    }
    if (fds[0].revents & POLLIN) {
      (void)eventfd_read_nowait(wake_fd_.get());
      for (Command& c : take_commands()) {
        if (c.fn) {
          c.fn();
          continue;
        }
        if (c.name.empty()) {
          unbind_all(c.reason);
          return;
        }
        if (auto r = unbind(c.name, c.reason); !r) log("command: " + r.error().message);
      }
    }
    // Device requests: the kernel wants the device back (VFIO) or the
    // software device was unplugged. By name: a command above may have
    // unbound a device already.
    for (std::size_t i = 0; i < polled.size(); ++i) {
      if ((fds[i + 2].revents & POLLIN) == 0) continue;
      Hosted* h = find(polled[i]);
      if (h == nullptr) continue;
      clear_request(h->binding->device().request_fd());
      (void)unbind(polled[i], h->soft != nullptr ? "hot-unplug" : "device request");
    }

    const std::uint64_t later = monotonic_ns();
    if (unplug_at != 0 && later >= unplug_at) {
      unplug_at = 0;  // once
      for (auto& h : hosted_)
        if (h->soft != nullptr && !h->unplugged) {
          h->unplugged = true;
          log("hot-unplug " + h->spec.name);
          h->soft->request_unplug();
        }
    }
    if (tick_at != 0 && later >= tick_at) {
      tick_at = later + std::uint64_t{o.tick_ms} * 1'000'000;
      if (o.on_tick) o.on_tick();
    }
    if (end_at != 0 && later >= end_at) {
      unbind_all("duration");
      return;
    }
  }
}

}  // namespace irqd
