// SPDX-License-Identifier: GPL-2.0-only
//
// The hand-off between a CPU's reactor thread(s) and its worker: one
// boost::lockfree::spsc_queue per producer thread, a worker that drains
// them and sleeps on a futex (std::atomic::wait) when all are empty, and the
// accounting each side keeps for itself (no counter is written by two
// threads).

#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "dispatch/dispatcher.h"

namespace irqd {

struct Delivery {
  std::uint32_t vector;
  std::uint64_t count;
  std::uint64_t stamp;
};

using DeliveryQueue = boost::lockfree::spsc_queue<Delivery>;

// Runs the handler and accounts for it; owned by one thread (the worker,
// or the reactor thread when inline).
class HandlerSide {
 public:
  HandlerSide(const DispatchOptions& options, unsigned nvectors);
  void run(const Delivery& d);

  std::uint64_t handled = 0;
  std::uint64_t invocations = 0;
  std::uint64_t negative_latency = 0;  // a stamp after handler start: a clock bug
  std::vector<std::uint64_t> handled_per_vector;
  std::vector<std::uint64_t> invocations_per_vector;
  LatencyHistogram latency;

 private:
  const DispatchOptions& options_;
};

class Worker;

// What one reactor thread feeds: into its queue to the worker, or straight
// into its own HandlerSide when inline.
class Producer {
 public:
  Producer(const DispatchOptions& options, unsigned nvectors, Worker* worker);

  // One eventfd read's worth: count interrupts of vector, oldest at stamp.
  void deliver(unsigned vector, std::uint64_t count, std::uint64_t stamp);
  // Wakes the worker if it sleeps; call once per reactor batch.
  void flush();
  // No more deliveries will come (the reactor thread is exiting).
  void finish();

  DeliveryQueue* queue() { return queue_.get(); }
  HandlerSide* inline_side() { return inline_.get(); }

  std::uint64_t reads = 0;
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t backoffs = 0;
  std::vector<std::uint64_t> dropped_per_vector;

 private:
  const DispatchOptions& options_;
  Worker* worker_;  // null when inline
  std::unique_ptr<DeliveryQueue> queue_;
  std::unique_ptr<HandlerSide> inline_;
};

// The CPU's worker thread: pinned, drains every producer's queue.
class Worker {
 public:
  Worker(const DispatchOptions& options, unsigned nvectors, unsigned cpu);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add_queue(DeliveryQueue* q) { queues_.push_back(q); }
  // Starts the thread; returns once it is pinned (or failed to be).
  Status start();
  // Wakes the worker if it is asleep.
  void wake();
  // Every producer has finished: drain what is queued, then exit and join.
  void finish_and_join();

  HandlerSide& side() { return side_; }
  int ran_on() const { return ran_on_; }
  unsigned cpu() const { return cpu_; }
  std::uint64_t cpu_ns() const { return cpu_ns_; }

 private:
  void loop();
  bool drain_once();

  const DispatchOptions& options_;
  unsigned cpu_;
  HandlerSide side_;
  std::vector<DeliveryQueue*> queues_;
  std::thread thread_;
  alignas(64) std::atomic<bool> sleeping_{false};
  std::atomic<std::uint32_t> wake_seq_{0};
  std::atomic<bool> finishing_{false};
  int ran_on_ = -1;
  std::uint64_t cpu_ns_ = 0;
};

}  // namespace irqd
