// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/lane.h"

#include <sched.h>

#include <array>
#include <future>
#include <string>
#include <system_error>

#include "dispatch/sys.h"

namespace irqd {

HandlerSide::HandlerSide(const DispatchOptions& options, unsigned nvectors)
    : handled_per_vector(nvectors, 0), invocations_per_vector(nvectors, 0), options_(options) {}

void HandlerSide::run(const Delivery& d) {
  // Handler start is now: the latency is trigger -> here, queueing included.
  std::uint64_t now = monotonic_ns();
  if (d.stamp != 0) {
    if (d.stamp <= now) {
      latency.record(now - d.stamp);
    } else {
      negative_latency++;
    }
  }
  handled += d.count;
  invocations++;
  handled_per_vector[d.vector] += d.count;
  invocations_per_vector[d.vector]++;
  if (options_.handler) options_.handler(d.vector, d.count, d.stamp);
}

Producer::Producer(const DispatchOptions& options, unsigned nvectors, Worker* worker)
    : dropped_per_vector(nvectors, 0), options_(options), worker_(worker) {
  if (worker_ != nullptr) {
    queue_ = std::make_unique<DeliveryQueue>(options.queue_capacity);
    worker_->add_queue(queue_.get());
  } else {
    inline_ = std::make_unique<HandlerSide>(options, nvectors);
  }
}

void Producer::deliver(unsigned vector, std::uint64_t count, std::uint64_t stamp) {
  reads++;
  Delivery d{vector, count, stamp};
  if (inline_) {
    inline_->run(d);
    return;
  }
  while (!queue_->push(d)) {
    if (options_.when_full == FullPolicy::kDrop) {
      dropped_queue_full += count;
      dropped_per_vector[vector] += count;
      if (options_.on_drop) options_.on_drop(vector, count);
      return;
    }
    // The worker shares this CPU: let it run, then try again.
    backoffs++;
    worker_->wake();
    sched_yield();
  }
}

void Producer::flush() {
  if (worker_ != nullptr) worker_->wake();
}

void Producer::finish() { flush(); }

Worker::Worker(const DispatchOptions& options, unsigned nvectors, unsigned cpu) : cpu_(cpu), side_(options, nvectors) {}

Worker::~Worker() {
  if (thread_.joinable()) finish_and_join();
}

Status Worker::start() {
  std::promise<Status> pinned;
  auto result = pinned.get_future();
  try {
    thread_ = std::thread([this, &pinned] {
      Status s = pin_to_cpu(cpu_);
      ran_on_ = sched_getcpu();
      bool ok = s.ok();
      pinned.set_value(std::move(s));
      if (ok) loop();
      cpu_ns_ = thread_cpu_ns();
    });
  } catch (const std::system_error& e) {
    // EAGAIN under a TasksMax or RLIMIT_NPROC: an error, not an exception
    // that would cross into the caller's thread of control.
    return Error{"worker for CPU " + std::to_string(cpu_) + ": cannot create its thread: " + e.what()};
  }
  Status s = result.get();
  if (!s.ok()) {
    thread_.join();
    return s;
  }
  return ok_status();
}

void Worker::wake() {
  // Pairs with the fence in loop(): either the worker sees the new entry
  // when it re-checks, or we see it asleep and bump the futex word.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_relaxed)) {
    wake_seq_.fetch_add(1, std::memory_order_release);
    wake_seq_.notify_one();
  }
}

bool Worker::drain_once() {
  // Pop a batch out of the queue before running handlers, so the reactor
  // has the room back while they run (consume_all() would hold every
  // entry's slot until the last handler returned).
  std::array<Delivery, 64> batch{};
  bool any = false;
  for (DeliveryQueue* q : queues_) {
    std::size_t n = q->pop(batch.data(), batch.size());
    for (std::size_t i = 0; i < n; ++i) side_.run(batch[i]);
    any |= n > 0;
  }
  return any;
}

void Worker::loop() {
  for (;;) {
    if (drain_once()) continue;
    // Nothing queued. Announce sleep, then look once more before sleeping,
    // so a push that raced with the announcement is not missed.
    std::uint32_t seq = wake_seq_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool finishing = finishing_.load(std::memory_order_acquire);
    if (drain_once()) {
      sleeping_.store(false, std::memory_order_relaxed);
      continue;
    }
    if (finishing) break;  // producers are done and nothing is left
    wake_seq_.wait(seq, std::memory_order_acquire);
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

void Worker::finish_and_join() {
  finishing_.store(true, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wake_seq_.fetch_add(1, std::memory_order_release);
  wake_seq_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace irqd
