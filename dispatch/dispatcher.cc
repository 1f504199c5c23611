// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/dispatcher.h"

#include <algorithm>

#include "dispatch/engine.h"

namespace irqd {

Result<ReactorKind> reactor_from_name(std::string_view name) {
  if (name == "io_uring") return ReactorKind::kIoUring;
  if (name == "epoll") return ReactorKind::kEpoll;
  if (name == "thread") return ReactorKind::kThread;
  return Error{"unknown reactor '" + std::string(name) + "' (accepted: io_uring, epoll, thread)"};
}

std::string_view reactor_name(ReactorKind kind) {
  switch (kind) {
    case ReactorKind::kIoUring: return "io_uring";
    case ReactorKind::kEpoll: return "epoll";
    case ReactorKind::kThread: return "thread";
  }
  return "?";
}

std::string_view uring_method_name(UringMethod method) {
  switch (method) {
    case UringMethod::kReadSqe: return "read-sqe";
    case UringMethod::kPollMultishot: return "poll-multishot";
    case UringMethod::kAuto: return "auto";
  }
  return "?";
}

std::string_view handoff_name(Handoff handoff) {
  switch (handoff) {
    case Handoff::kQueue: return "queue";
    case Handoff::kInline: return "inline";
    case Handoff::kAdaptive: return "adaptive";
  }
  return "?";
}

std::uint64_t DispatchStats::handled() const {
  std::uint64_t n = 0;
  for (const CpuStats& c : cpus) n += c.handled;
  return n;
}

std::uint64_t DispatchStats::invocations() const {
  std::uint64_t n = 0;
  for (const CpuStats& c : cpus) n += c.invocations;
  return n;
}

std::uint64_t DispatchStats::dropped_queue_full() const {
  std::uint64_t n = 0;
  for (const CpuStats& c : cpus) n += c.dropped_queue_full;
  return n;
}

std::uint64_t DispatchStats::cpu_ns() const {
  std::uint64_t n = 0;
  for (const CpuStats& c : cpus) n += c.reactor_cpu_ns + c.worker_cpu_ns;
  return n;
}

struct Dispatcher::Impl {
  std::unique_ptr<DispatchEngine> engine;
  DispatchEngine::DeviceId device = 0;
  bool stopped = false;
  DispatchStats stats;

  void stop();
};

// The device's totals, with each CPU's lane fields (where its threads ran,
// their CPU time): exact here, the engine serves this one device only.
void Dispatcher::Impl::stop() {
  if (stopped) return;
  stopped = true;
  stats = engine->remove_device(device);
  for (const CpuStats& lane : engine->stop_lanes()) {
    auto it = std::find_if(stats.cpus.begin(), stats.cpus.end(), [&](const CpuStats& c) { return c.cpu == lane.cpu; });
    if (it == stats.cpus.end()) {
      stats.cpus.push_back(lane);
      continue;
    }
    it->reactor_ran_on = lane.reactor_ran_on;
    it->worker_ran_on = lane.worker_ran_on;
    it->worker_cpu = lane.worker_cpu;
    it->reactor_cpu_ns = lane.reactor_cpu_ns;
    it->worker_cpu_ns = lane.worker_cpu_ns;
    it->method_switches = lane.method_switches;
  }
  std::sort(stats.cpus.begin(), stats.cpus.end(), [](const CpuStats& a, const CpuStats& b) { return a.cpu < b.cpu; });
}

Dispatcher::Dispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Dispatcher::~Dispatcher() {
  if (impl_) impl_->stop();
}

Result<std::unique_ptr<Dispatcher>> Dispatcher::start(const std::vector<VectorBinding>& vectors,
                                                      DispatchOptions options, DispatchStats* partial) {
  auto impl = std::make_unique<Impl>();
  DeviceSink sink{options.consume_stamp, options.handler, options.on_drop};
  auto engine = DispatchEngine::create(std::move(options));
  if (!engine) return engine.error();
  impl->engine = std::move(*engine);
  auto device = impl->engine->add_device(vectors, std::move(sink), partial);
  if (!device) {
    // Whatever did start is stopped and joined; the lanes' CPU time is
    // dropped with them (what they read is in *partial).
    (void)impl->engine->stop_lanes();
    return device.error();
  }
  impl->device = *device;
  return std::unique_ptr<Dispatcher>(new Dispatcher(std::move(impl)));
}

void Dispatcher::stop_arming() { impl_->engine->stop_arming(impl_->device); }

const DispatchStats& Dispatcher::stop() {
  impl_->stop();
  return impl_->stats;
}

ReactorKind Dispatcher::reactor() const { return impl_->engine->reactor(); }

}  // namespace irqd
