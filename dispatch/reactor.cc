// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/reactor.h"

#include <sched.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <future>
#include <string>

#include "dispatch/sys.h"

namespace irqd {

Reactor::Reactor(Context ctx) : ctx_(std::move(ctx)) {
  for (unsigned i = 0; i < ctx_.producers; ++i)
    producers_.push_back(std::make_unique<Producer>(*ctx_.options, ctx_.nvectors, ctx_.worker));
}

void Reactor::deliver(Producer& p, const VectorBinding& b, std::uint64_t count) const {
  std::uint64_t stamp = ctx_.options->consume_stamp ? ctx_.options->consume_stamp(b.vector, count) : 0;
  p.deliver(b.vector, count, stamp);
}

// One read per eventfd, not "until empty": a read takes the whole count
// signalled so far, and a device still firing at full rate would keep a
// read-until-empty loop going forever. What arrives after this pass stays
// in the eventfd for the unbind sequence to account (dropped, after_drain).
void Reactor::drain(Producer& p, const std::vector<VectorBinding>& vectors) {
  for (const VectorBinding& b : vectors) {
    std::int64_t n = eventfd_read_nowait(b.fd);
    if (n > 0) deliver(p, b, static_cast<std::uint64_t>(n));
  }
  p.flush();
}

SingleThreadReactor::SingleThreadReactor(Context ctx) : Reactor(std::move(ctx)) {
  stopfd_errno_ = inject_fault(fault(), "eventfd");
  if (stopfd_errno_ == 0) stopfd_ = UniqueFd(eventfd(0, EFD_CLOEXEC));
  if (stopfd_errno_ == 0 && !stopfd_.valid()) stopfd_errno_ = errno;
}

// Derived destructors run first, so the thread must already be gone; this
// only guards against a reactor destroyed without stop_and_join().
SingleThreadReactor::~SingleThreadReactor() { stop_and_join(); }

Status SingleThreadReactor::start() {
  if (!stopfd_.valid())
    return Error{"reactor for CPU " + std::to_string(ctx_.cpu) + ": its stop eventfd: " + errno_string(stopfd_errno_)};
  std::promise<Status> started;
  auto result = started.get_future();
  auto thread = spawn_thread(fault(), [this, &started] {
    Status s = pin();
    if (s.ok()) s = setup();
    bool ok = s.ok();
    started.set_value(std::move(s));
    if (ok) run(*producers_.front());
    add_cpu_ns(thread_cpu_ns());
  });
  if (!thread)
    return Error{"reactor for CPU " + std::to_string(ctx_.cpu) +
                 ": cannot create its thread: " + thread.error().message};
  thread_ = std::move(*thread);
  Status s = result.get();
  if (!s.ok()) thread_.join();
  return s;
}

void SingleThreadReactor::request_stop() {
  if (!thread_.joinable() || stop_requested_) return;
  stop_requested_ = true;
  eventfd_add(stopfd_.get(), 1);
}

void SingleThreadReactor::join() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> Reactor::errors() const {
  std::lock_guard<std::mutex> lock(errors_mu_);
  return errors_;
}

void Reactor::record_error(std::string message) {
  std::lock_guard<std::mutex> lock(errors_mu_);
  errors_.push_back("CPU " + std::to_string(ctx_.cpu) + ": " + std::move(message));
}

Status Reactor::pin() {
  Status s = pin_to_cpu(ctx_.cpu, fault());
  ran_on_.store(sched_getcpu());
  return s;
}

}  // namespace irqd
