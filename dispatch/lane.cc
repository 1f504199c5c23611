// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/lane.h"

#include <sched.h>

#include <array>
#include <future>
#include <string>
#include <utility>

#include "dispatch/sys.h"

namespace irqd {

void run_handler(const Delivery& d) {
  // Handler start is now: the latency is trigger -> here, queueing included.
  const std::uint64_t now = monotonic_ns();
  HandlerCounts& c = *d.source->counts;
  if (d.stamp != 0) {
    if (d.stamp <= now) {
      c.latency.record(now - d.stamp);
    } else {
      c.negative_latency++;
    }
  }
  const unsigned vector = d.source->vector;
  c.handled += d.count;
  c.invocations++;
  c.handled_per_vector[vector] += d.count;
  c.invocations_per_vector[vector]++;
  if (d.source->sink->handler) d.source->sink->handler(vector, d.count, d.stamp);
}

Producer::Producer(const DispatchOptions& options, Worker* worker, bool adaptive)
    : options_(options), worker_(worker), adaptive_(adaptive && worker != nullptr) {
  if (worker_ == nullptr) return;
  queue_ = std::make_unique<DeliveryQueue>(options.queue_capacity);
  worker_->attach(queue_.get());
}

Producer::~Producer() = default;

void Producer::deliver(Source& source, std::uint64_t count) {
  source.reads++;
  const std::uint64_t stamp = source.sink->consume_stamp ? source.sink->consume_stamp(source.vector, count) : 0;
  push(Delivery{&source, count, stamp, nullptr}, &source);
}

bool Producer::worker_idle() const {
  // Empty as the producer sees it: the worker popped everything (its pop
  // released the read index after it set busy_, so busy_ reads true here
  // until its handlers are done).
  return queue_->write_available() == options_.queue_capacity && !worker_->busy();
}

void Producer::push_fence(Fence* fence) {
  if (worker_ == nullptr || (adaptive_ && worker_idle())) {
    // Inline: every delivery before this one already ran its handler.
    fence->done.signal();
    return;
  }
  push(Delivery{nullptr, 0, 0, fence}, nullptr);
  worker_->wake();
}

void Producer::push(const Delivery& d, Source* drop_to) {
  if (worker_ == nullptr) {
    run_handler(d);
    return;
  }
  if (adaptive_ && drop_to != nullptr && worker_idle()) {
    drop_to->inline_invocations++;
    run_handler(d);
    return;
  }
  pushed_ = true;
  while (!queue_->push(d)) {
    if (drop_to != nullptr && options_.when_full == FullPolicy::kDrop) {
      drop_to->dropped_queue_full += d.count;
      if (drop_to->sink->on_drop) drop_to->sink->on_drop(drop_to->vector, d.count);
      return;
    }
    // The worker shares this CPU: let it run, then try again. A fence
    // always waits: it is what a remove or a move is waiting for.
    if (drop_to != nullptr) drop_to->backoffs++;
    worker_->wake();
    sched_yield();
  }
}

void Producer::flush() {
  // Nothing pushed since the last flush: nothing to wake the worker for
  // (an adaptive reactor that ran every handler itself must not pay the
  // wake-up it saved).
  if (worker_ != nullptr && std::exchange(pushed_, false)) worker_->wake();
}

Worker::Worker(const DispatchOptions& options, unsigned cpu) : options_(options), cpu_(cpu) {}

Worker::~Worker() {
  if (thread_.joinable()) finish_and_join();
}

void Worker::attach(DeliveryQueue* q) {
  std::lock_guard<std::mutex> lock(attach_mu_);
  attached_.push_back(q);
  attach_pending_.store(true, std::memory_order_release);
}

void Worker::take_attached() {
  if (!attach_pending_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(attach_mu_);
  queues_.insert(queues_.end(), attached_.begin(), attached_.end());
  attached_.clear();
  attach_pending_.store(false, std::memory_order_relaxed);
}

Status Worker::start() {
  std::promise<Status> pinned;
  auto result = pinned.get_future();
  // EAGAIN under a TasksMax or RLIMIT_NPROC: an error, not an exception
  // that would cross into the caller's thread of control.
  auto thread = spawn_thread(options_.fault, [this, &pinned] {
    set_thread_name("irqd-wk/" + std::to_string(cpu_));
    Status s = pin_to_cpu(cpu_, options_.fault);
    ran_on_ = sched_getcpu();
    bool ok = s.ok();
    pinned.set_value(std::move(s));
    if (ok) loop();
    cpu_ns_ = thread_cpu_ns();
  });
  if (!thread)
    return Error{"worker for CPU " + std::to_string(cpu_) + ": cannot create its thread: " + thread.error().message};
  thread_ = std::move(*thread);
  Status s = result.get();
  if (!s.ok()) {
    thread_.join();
    return s;
  }
  return ok_status();
}

// The sleep/wake protocol between the producers and the worker
// ------------------------------------------------------------
// Two store-buffering (Dekker) pairs, each closed by two seq_cst fences.
// Standalone fences are what GCC's -fsanitize=thread refuses (-Wtsan) and
// what ThreadSanitizer does not model at all: it checks that every access
// here is atomic, not the argument below, which is the proof.
//
// Pair 1, a push against the worker's sleep (wake() vs loop()):
//
//   producer (reactor thread)          worker
//   P1 queue push (write_index_,       W1 seq = wake_seq_ (acquire)
//      release)                        W2 sleeping_ = true
//   P2 fence(seq_cst)                  W3 fence(seq_cst)
//   P3 load sleeping_                  W4 re-check every queue (load
//   P4 if true: ++wake_seq_,              write_index_)
//      futex_wake_one                  W5 nothing: futex_wait(wake_seq_, seq)
//
// Each side stores, then loads what the other stored. Without the fences
// both loads may read the old values (x86 lets a load pass an earlier store
// still in the store buffer): the producer reads sleeping_ == false and
// skips the wake, the worker finds the queues empty and sleeps, and the
// entry waits for the next interrupt, for ever if none comes. With them,
// P2 and W3 are ordered in the single total order S of seq_cst operations
// ([atomics.order]):
//   - P2 before W3: P1 is sequenced before P2, W4 after W3, so W4 reads
//     P1's write_index_ or a later one: the worker sees the entry.
//   - W3 before P2: likewise P3 reads W2's true, or a later store: the
//     worker's sleeping_ = false after it woke, and then its next round's
//     fence comes after P2 and the first case applies to that round. On
//     true, P4 bumps wake_seq_. W1 read a value before that bump in wake_seq_'s
//     modification order (had W1 read the bump or later, the bump's release
//     would make P3 happen before W2, and P3 could not read W2), so
//     futex_wait returns at once or is woken: the kernel compares the
//     value under the futex's lock, so a bump between W1 and the wait is
//     never lost. A spurious return goes round the loop, which re-checks.
// A stale sleeping_ == true (the worker already awake) costs one spurious
// bump and a futex wake, nothing else; sleeping_ itself is only a hint,
// hence relaxed.
//
// Pair 2, the end (finish_and_join() vs loop()):
//
//   controller                         worker
//   F1 finishing_ = true (release)     W1 seq = wake_seq_ (acquire)
//   F2 fence(seq_cst)                  W3 fence(seq_cst)
//   F3 ++wake_seq_, wake               W3' finishing = finishing_ (acquire)
//
// If W3' reads false, then W3 precedes F2 in S (else W3' would read F1).
// W1 is sequenced before W3 and F3 after F2, so W1 is coherence-ordered
// before F3 (C++20 [atomics.order]p4: otherwise F2 would precede W3): W1
// read a value older than F3's, and the wait that follows returns. If W3'
// reads true, the worker drains once more and exits; the acquire makes
// every push the producers made happen before that drain (Dispatcher::stop
// joins every reactor before it calls finish_and_join), so the last drain
// sees everything: finishing_ is loaded before that drain, not after, for
// exactly this reason.
void Worker::wake() {
  // Pair 1, P2: orders the caller's push before the look at sleeping_.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_relaxed)) {
    wake_seq_.fetch_add(1, std::memory_order_release);
    futex_wake_one(wake_seq_);
  }
}

bool Worker::drain_once() {
  take_attached();
  // Busy before the pop, idle after the handlers: an adaptive producer that
  // sees the queue empty and the worker idle may run a handler itself.
  busy_.store(true, std::memory_order_seq_cst);
  // Pop a batch out of the queue before running handlers, so the reactor
  // has the room back while they run (consume_all() would hold every
  // entry's slot until the last handler returned).
  std::array<Delivery, 64> batch{};
  bool any = false;
  bool detached = false;
  for (DeliveryQueue*& q : queues_) {
    std::size_t n = q->pop(batch.data(), batch.size());
    for (std::size_t i = 0; i < n; ++i) {
      const Delivery& d = batch[i];
      if (d.source != nullptr) {
        run_handler(d);
        continue;
      }
      // A fence is its producer's last entry when it detaches: nothing
      // follows it, and the producer may be gone once it is signalled.
      if (d.fence->detach) {
        q = nullptr;
        detached = true;
      }
      d.fence->done.signal();
      if (q == nullptr) break;
    }
    any |= n > 0;
  }
  if (detached) std::erase(queues_, nullptr);
  busy_.store(false, std::memory_order_release);
  return any;
}

void Worker::loop() {
  for (;;) {
    if (drain_once()) continue;
    // Nothing queued. Announce sleep, then look once more before sleeping,
    // so a push that raced with the announcement is not missed.
    // W1, W2, W3 and W3' of the protocol above wake(): the fence pairs
    // with wake()'s (a racing push is seen or wakes us) and with
    // finish_and_join()'s (a racing finish is seen or wakes us).
    std::uint32_t seq = wake_seq_.load(std::memory_order_acquire);
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool finishing = finishing_.load(std::memory_order_acquire);
    if (drain_once()) {
      sleeping_.store(false, std::memory_order_relaxed);
      continue;
    }
    if (finishing) break;  // producers are done and nothing is left
    if (wake_seq_.load(std::memory_order_acquire) == seq) futex_wait(wake_seq_, seq);
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

void Worker::finish_and_join() {
  // F1, F2, F3 of the protocol above wake(): either the worker sees
  // finishing_ or its wait sees this bump.
  finishing_.store(true, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wake_seq_.fetch_add(1, std::memory_order_release);
  futex_wake_one(wake_seq_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace irqd
