// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/dispatcher.h"

#include <sys/utsname.h>

#include <algorithm>
#include <map>
#include <set>

#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

// One serving CPU: its worker (queue hand-off only) and its reactor.
struct Lane {
  unsigned cpu = 0;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Reactor> reactor;
};

std::unique_ptr<Reactor> make_reactor(ReactorKind kind, Reactor::Context ctx) {
  switch (kind) {
    case ReactorKind::kIoUring: return make_uring_reactor(std::move(ctx));
    case ReactorKind::kEpoll: return make_epoll_reactor(std::move(ctx));
    case ReactorKind::kThread: return make_thread_reactor(std::move(ctx));
  }
  return nullptr;
}

void add_into(std::vector<std::uint64_t>& total, const std::vector<std::uint64_t>& part) {
  for (std::size_t i = 0; i < part.size(); ++i) total[i] += part[i];
}

void account_handler_side(const HandlerSide& side, CpuStats& cpu, DispatchStats& all) {
  cpu.handled += side.handled;
  cpu.invocations += side.invocations;
  cpu.negative_latency += side.negative_latency;
  cpu.latency.merge(side.latency);
  add_into(all.handled_per_vector, side.handled_per_vector);
  add_into(all.invocations_per_vector, side.invocations_per_vector);
}

}  // namespace

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
  return method == UringMethod::kReadSqe ? "read-sqe" : "poll-multishot";
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
  DispatchOptions options;  // lanes hold references: never moves
  unsigned nvectors = 0;
  std::vector<Lane> lanes;
  bool stopped = false;
  DispatchStats stats;

  Status start(const std::vector<VectorBinding>& vectors);
  void stop();
};

Status Dispatcher::Impl::start(const std::vector<VectorBinding>& vectors) {
  std::map<unsigned, std::vector<VectorBinding>> by_cpu;
  std::set<unsigned> seen;
  for (const VectorBinding& b : vectors) {
    if (b.fd < 0) return Error{"vector " + std::to_string(b.vector) + " has no eventfd"};
    if (!seen.insert(b.vector).second) return Error{"vector " + std::to_string(b.vector) + " bound twice"};
    nvectors = std::max(nvectors, b.vector + 1);
    by_cpu[b.cpu].push_back(b);
  }
  if (options.queue_capacity < 2) return Error{"queue capacity must be at least 2"};

  for (auto& [cpu, bound] : by_cpu) {
    Lane lane;
    lane.cpu = cpu;
    unsigned producers = options.reactor == ReactorKind::kThread ? static_cast<unsigned>(bound.size()) : 1;
    lanes.push_back(std::move(lane));
    Lane& l = lanes.back();
    if (options.handoff == Handoff::kQueue) {
      unsigned worker_cpu = options.worker_cpu ? options.worker_cpu(cpu) : cpu;
      l.worker = std::make_unique<Worker>(options, nvectors, worker_cpu);
    }
    l.reactor =
        make_reactor(options.reactor, Reactor::Context{cpu, bound, &options, nvectors, l.worker.get(), producers});
    // The worker first: a reactor delivers as soon as it runs.
    if (l.worker) {
      if (Status s = l.worker->start(); !s) return s;
    }
    if (Status s = l.reactor->start(); !s) return s;
  }
  return ok_status();
}

void Dispatcher::Impl::stop() {
  if (stopped) return;
  stopped = true;
  stats.handled_per_vector.assign(nvectors, 0);
  stats.invocations_per_vector.assign(nvectors, 0);
  stats.dropped_per_vector.assign(nvectors, 0);
  for (Lane& lane : lanes) {
    // Reactors first: each drains its eventfds into the queue; then the
    // worker drains the queue and exits.
    if (lane.reactor) lane.reactor->stop_and_join();
    if (lane.worker) lane.worker->finish_and_join();

    CpuStats cpu;
    cpu.cpu = lane.cpu;
    if (lane.reactor) {
      cpu.reactor_ran_on = lane.reactor->ran_on();
      for (std::string& e : lane.reactor->errors()) stats.errors.push_back(std::move(e));
      cpu.reactor_cpu_ns = lane.reactor->cpu_ns();
      for (const auto& p : lane.reactor->producers()) {
        cpu.reads += p->reads;
        cpu.dropped_queue_full += p->dropped_queue_full;
        cpu.backoffs += p->backoffs;
        add_into(stats.dropped_per_vector, p->dropped_per_vector);
        if (p->inline_side() != nullptr) account_handler_side(*p->inline_side(), cpu, stats);
      }
    }
    if (lane.worker) {
      cpu.worker_ran_on = lane.worker->ran_on();
      cpu.worker_cpu = static_cast<int>(lane.worker->cpu());
      cpu.worker_cpu_ns = lane.worker->cpu_ns();
      account_handler_side(lane.worker->side(), cpu, stats);
    }
    stats.latency.merge(cpu.latency);
    stats.cpus.push_back(cpu);
  }
}

Dispatcher::Dispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Dispatcher::~Dispatcher() {
  if (impl_) impl_->stop();
}

Result<std::unique_ptr<Dispatcher>> Dispatcher::start(const std::vector<VectorBinding>& vectors,
                                                      DispatchOptions options, DispatchStats* partial) {
  utsname u{};
  if (::uname(&u) == 0) {
    if (Status s = check_kernel_release(u.release); !s) return s.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (Status s = impl->start(vectors); !s) {
    impl->stop();  // whatever did start is stopped, drained and joined
    if (partial != nullptr) *partial = std::move(impl->stats);
    return s.error();
  }
  return std::unique_ptr<Dispatcher>(new Dispatcher(std::move(impl)));
}

void Dispatcher::stop_arming() {
  for (Lane& lane : impl_->lanes)
    if (lane.reactor) lane.reactor->request_stop();
}

const DispatchStats& Dispatcher::stop() {
  impl_->stop();
  return impl_->stats;
}

ReactorKind Dispatcher::reactor() const { return impl_->options.reactor; }

}  // namespace irqd
