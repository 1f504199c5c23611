// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/reactor.h"

#include <sched.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "dispatch/sys.h"

namespace irqd {

void Reactor::drain(Producer& p, Source& source) {
  std::int64_t n = eventfd_read_nowait(source.fd);
  if (n > 0) p.deliver(source, static_cast<std::uint64_t>(n));
  p.flush();
}

void Reactor::record_error(Source& source, std::string message) const {
  source.dead = true;
  source.errors.push_back("CPU " + std::to_string(cpu_) + ": vector " + std::to_string(source.vector) + ": " +
                          std::move(message) + "; no longer served");
}

Status Reactor::pin() {
  set_thread_name("irqd-rx/" + std::to_string(cpu_));
  Status s = pin_to_cpu(cpu_, fault());
  ran_on_.store(sched_getcpu());
  return s;
}

SingleThreadReactor::SingleThreadReactor(unsigned cpu, const DispatchOptions& options, Worker* worker)
    : Reactor(cpu, options, worker) {
  doorbell_errno_ = inject_fault(fault(), "eventfd");
  if (doorbell_errno_ == 0) doorbell_ = UniqueFd(eventfd(0, EFD_CLOEXEC));
  if (doorbell_errno_ == 0 && !doorbell_.valid()) doorbell_errno_ = errno;
}

// Derived destructors run first, so the thread must already be gone; this
// only guards against a reactor destroyed without stop_and_join().
SingleThreadReactor::~SingleThreadReactor() { stop_and_join(); }

Status SingleThreadReactor::start() {
  if (!doorbell_.valid())
    return Error{"reactor for CPU " + std::to_string(cpu_) +
                 ": its doorbell eventfd: " + errno_string(doorbell_errno_)};
  // Adaptive only where the worker shares this CPU: elsewhere the queue
  // buys parallelism, not just a wake-up.
  const bool adaptive = options_.handoff == Handoff::kAdaptive && worker_ != nullptr && worker_->cpu() == cpu_;
  producer_ = std::make_unique<Producer>(options_, worker_, adaptive);
  std::promise<Status> started;
  auto result = started.get_future();
  auto thread = spawn_thread(fault(), [this, &started] {
    Status s = pin();
    if (s.ok()) s = setup();
    bool ok = s.ok();
    started.set_value(std::move(s));
    if (ok) run(*producer_);
    add_cpu_ns(thread_cpu_ns());
  });
  if (!thread)
    return Error{"reactor for CPU " + std::to_string(cpu_) + ": cannot create its thread: " + thread.error().message};
  thread_ = std::move(*thread);
  Status s = result.get();
  if (!s.ok()) thread_.join();
  return s;
}

void SingleThreadReactor::post(Command c) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_.push_back(c);
  }
  eventfd_add(doorbell_.get(), 1);
}

std::vector<SingleThreadReactor::Command> SingleThreadReactor::take_commands() {
  std::lock_guard<std::mutex> lock(inbox_mu_);
  return std::exchange(inbox_, {});
}

Status SingleThreadReactor::add(Source* source) {
  if (!thread_.joinable()) return Error{"reactor for CPU " + std::to_string(cpu_) + " is not running"};
  std::promise<Status> added;
  auto result = added.get_future();
  post(Command{Command::Kind::kAdd, source, nullptr, &added});
  return result.get();
}

void SingleThreadReactor::remove(Source* source, Fence* fence) {
  post(Command{Command::Kind::kRemove, source, fence, nullptr});
}

void SingleThreadReactor::stop_and_join() {
  if (!thread_.joinable()) return;
  post(Command{Command::Kind::kStop, nullptr, nullptr, nullptr});
  thread_.join();
}

}  // namespace irqd
