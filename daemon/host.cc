// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/host.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "dispatch/sys.h"

namespace irqd {

struct Host::Hosted {
  DeviceSpec spec;
  std::unique_ptr<CountingDriver> driver;
  std::unique_ptr<Binding> binding;
  SoftwareDevice* soft = nullptr;  // owned by the binding
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<FiringEngine> engine;
  std::vector<Vector> vectors;
  bool unplugged = false;

  // The engine plays the hardware: it goes before the binding (and so the
  // device) it fires into.
  ~Hosted() {
    engine.reset();
    dispatcher.reset();
    binding.reset();
  }
};

namespace {

bool valid_bdf(std::string_view s) {
  // DDDD:BB:DD.F, hex digits.
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11})
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

std::string drain_summary(const DispatchStats& s) {
  std::uint64_t reads = 0;
  for (const CpuStats& c : s.cpus) reads += c.reads;
  return std::to_string(reads) + " reads, " + std::to_string(s.handled()) + " interrupts handled in " +
         std::to_string(s.invocations()) + " calls, " + std::to_string(s.dropped_queue_full()) +
         " dropped (queue_full)";
}

// Reads and discards what a request eventfd holds (the kernel re-signals
// a held VFIO request every ~10 s; one unbind is enough).
void clear_request(int fd) {
  while (eventfd_read_nowait(fd) > 0) {
  }
}

}  // namespace

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
    return spec;
  }
  return Error{"device '" + std::string(text) + "' is not understood" + accepted};
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

std::vector<std::string> Host::bound() const {
  std::vector<std::string> out;
  for (const auto& h : hosted_) out.push_back(h->spec.name);
  return out;
}

const CountingDriver* Host::driver(const std::string& name) const {
  for (const auto& h : hosted_)
    if (h->spec.name == name) return h->driver.get();
  return nullptr;
}

MsixDevice* Host::device(const std::string& name) {
  Hosted* h = find(name);
  return h != nullptr ? &h->binding->device() : nullptr;
}

Status Host::add(const DeviceSpec& spec) {
  if (find(spec.name) != nullptr) return Error{"device " + spec.name + " is already bound"};
  auto h = std::make_unique<Hosted>();
  h->spec = spec;

  std::unique_ptr<MsixDevice> device;
  if (spec.kind == DeviceSpec::Kind::kSoftware) {
    SoftwareDevice::Options o;
    o.nvectors = spec.vectors;
    o.self_armed = false;
    o.name = spec.name;
    auto soft = SoftwareDevice::create(o);
    if (!soft) return Error{spec.name + ": " + soft.error().message};
    h->soft = soft->get();
    device = std::move(*soft);
  } else {
    if (!options_.open_vfio) return Error{spec.name + ": this build cannot open VFIO devices"};
    auto vfio = options_.open_vfio(spec.name);
    if (!vfio) return vfio.error();
    device = std::move(*vfio);
  }

  auto driver = make_driver(options_.driver, options_.driver_options);
  if (!driver) return driver.error();
  h->driver = std::move(*driver);
  h->binding = std::make_unique<Binding>(std::move(device), *h->driver, topo_, options_.planner);
  if (Status s = h->binding->probe(); !s) return s;  // the binding released what probe took
  h->vectors = h->binding->live_vectors();

  std::vector<VectorBinding> bindings;
  for (const Vector& v : h->vectors) {
    // A vector whose mask holds no present CPU would be shut down by the
    // kernel; here it is served by the first CPU irqd may use.
    const int cpu = v.serving_cpu >= 0 ? v.serving_cpu : static_cast<int>(topo_.present().first());
    bindings.push_back({v.index, v.eventfd, static_cast<unsigned>(cpu)});
  }
  DispatchOptions d = options_.dispatch;
  MsixDevice* dev = &h->binding->device();
  CountingDriver* drv = h->driver.get();
  d.consume_stamp = [dev](unsigned index, std::uint64_t count) { return dev->consume_stamp(index, count); };
  d.handler = [drv](unsigned index, std::uint64_t count, std::uint64_t stamp) { drv->handle(index, count, stamp); };
  auto dispatcher = Dispatcher::start(bindings, std::move(d));
  if (!dispatcher) {
    h->binding->unbind("dispatch failed", {});
    return Error{spec.name + ": " + dispatcher.error().message};
  }
  h->dispatcher = std::move(*dispatcher);

  if (h->soft != nullptr && options_.fire) {
    FiringEngine::Options firing = options_.firing;
    for (const Vector& v : h->vectors) firing.vectors.push_back(v.index);  // what the driver allocated
    auto engine = FiringEngine::start(*h->soft, firing);
    if (!engine) {
      (void)h->dispatcher->stop();
      h->binding->unbind("firing failed", {});
      return Error{spec.name + ": " + engine.error().message};
    }
    h->engine = std::move(*engine);
  }
  log("bound " + spec.name + " backend=" + h->binding->device().backend() + " driver=" + h->driver->name() +
      " vectors=" + std::to_string(h->vectors.size()) + " msix=" + std::to_string(h->binding->device().msix_count()));
  hosted_.push_back(std::move(h));
  return ok_status();
}

Result<const DeviceReport*> Host::unbind(const std::string& name, const std::string& reason) {
  const UnbindHooks& extra = options_.unbind_hooks;
  Hosted* h = find(name);
  if (h == nullptr) return Error{"no bound device named " + name};
  log("unbind " + name + " reason=" + reason);

  DeviceReport rep;
  rep.name = name;
  rep.backend = h->binding->device().backend();
  rep.driver = h->driver->name();
  rep.vectors = h->vectors;
  UnbindHooks hooks;
  hooks.before_step = extra.before_step;
  hooks.stop_arming = [&] {
    if (h->dispatcher) h->dispatcher->stop_arming();
    if (extra.stop_arming) extra.stop_arming();
  };
  hooks.drain = [&] {
    std::string summary = "nothing dispatched";
    if (h->dispatcher) {
      rep.dispatch = h->dispatcher->stop();
      summary = drain_summary(rep.dispatch);
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

  std::erase_if(hosted_, [&](const auto& p) { return p.get() == h; });
  reports_.push_back(std::move(rep));
  return &reports_.back();
}

void Host::unbind_all(const std::string& reason) {
  while (!hosted_.empty()) (void)unbind(hosted_.front()->spec.name, reason);
}

void Host::request_unbind(std::string name, std::string reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back({std::move(name), std::move(reason)});
  }
  eventfd_add(wake_fd_.get(), 1);
}

void Host::request_stop(std::string reason) { request_unbind("", std::move(reason)); }

std::vector<Host::Command> Host::take_commands() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(commands_, {});
}

void Host::run(const RunOptions& o) {
  const std::uint64_t start = monotonic_ns();
  const auto deadline = [&](double s) { return s > 0 ? start + static_cast<std::uint64_t>(s * 1e9) : 0; };
  const std::uint64_t end_at = deadline(o.duration_s);
  std::uint64_t unplug_at = deadline(o.unplug_after_s);

  while (!hosted_.empty()) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({o.signal_fd, POLLIN, 0});  // -1 is ignored by poll()
    for (const auto& h : hosted_) fds.push_back({h->binding->device().request_fd(), POLLIN, 0});

    const std::uint64_t now = monotonic_ns();
    std::uint64_t next = 0;
    for (std::uint64_t t : {end_at, unplug_at})
      if (t != 0 && (next == 0 || t < next)) next = t;
    int timeout_ms = -1;
    if (next != 0) timeout_ms = next <= now ? 0 : static_cast<int>((next - now + 999'999) / 1'000'000);
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      log("poll failed: " + errno_string(errno) + "; unbinding everything");
      unbind_all("host error");
      return;
    }

    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      const std::string sig =
          ::read(o.signal_fd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      unbind_all(sig);
      return;
    }
    if (fds[0].revents & POLLIN) {
      (void)eventfd_read_nowait(wake_fd_.get());
      for (const Command& c : take_commands()) {
        if (c.name.empty()) {
          unbind_all(c.reason);
          return;
        }
        if (auto r = unbind(c.name, c.reason); !r) log("command: " + r.error().message);
      }
    }
    // Device requests: the kernel wants the device back (VFIO) or the
    // software device was unplugged.
    std::vector<std::string> requested;
    for (std::size_t i = 0; i < fds.size() - 2 && i < hosted_.size(); ++i)
      if (fds[i + 2].revents & POLLIN) requested.push_back(hosted_[i]->spec.name);
    for (const std::string& name : requested) {
      Hosted* h = find(name);
      if (h == nullptr) continue;
      clear_request(h->binding->device().request_fd());
      (void)unbind(name, h->soft != nullptr ? "hot-unplug" : "device request");
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
    if (end_at != 0 && later >= end_at) {
      unbind_all("duration");
      return;
    }
  }
}

}  // namespace irqd
