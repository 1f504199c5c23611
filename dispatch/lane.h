// SPDX-License-Identifier: GPL-2.0-only
//
// The hand-off between a CPU's reactor thread(s) and its worker: one
// boost::lockfree::spsc_queue per producer thread, a worker that drains
// them and sleeps on a futex (futex_wait, dispatch/sys.h) when all are empty, and the
// accounting each side keeps for itself (no counter is written by two
// threads).
//
// A Source is one vector in service: its eventfd, the device it belongs to
// (DeviceSink) and where its counts go. Every device's vectors on a CPU go
// through that CPU's one reactor and one worker; a delivery carries its
// Source, so the worker needs no table to find the device. A Fence pushed
// behind a source's last delivery tells the one who removed it that every
// interrupt read from it has been handled.

#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/dispatcher.h"

namespace irqd {

// Where one device's interrupts go: set once per device, called on the
// threads of the CPUs its vectors are served on.
struct DeviceSink {
  // The CLOCK_MONOTONIC time of the oldest of `count` interrupts just read
  // from `vector`, 0 if not known. On the reactor thread that read it.
  std::function<std::uint64_t(unsigned vector, std::uint64_t count)> consume_stamp;
  // The driver's handler, on the worker (queue) or reactor (inline) thread.
  std::function<void(unsigned vector, std::uint64_t count, std::uint64_t stamp)> handler;
  // Every drop (reason queue_full) as it happens, on the reactor thread.
  std::function<void(unsigned vector, std::uint64_t count)> on_drop;
};

// What the handler side counted for one device on one CPU. Written by the
// one thread that runs that device's handler there; read by the control
// thread once a fence says that thread is done with the device.
struct HandlerCounts {
  HandlerCounts(unsigned cpu, unsigned nvectors)
      : cpu(cpu), handled_per_vector(nvectors, 0), invocations_per_vector(nvectors, 0) {}
  unsigned cpu;
  std::uint64_t handled = 0;
  std::uint64_t invocations = 0;
  std::uint64_t negative_latency = 0;  // a stamp after handler start: a clock bug
  std::vector<std::uint64_t> handled_per_vector;
  std::vector<std::uint64_t> invocations_per_vector;
  LatencyHistogram latency;  // trigger -> handler start
};

struct Fence;

// One vector in service on one CPU. The control thread fills the first
// block before handing it to a reactor and reads the counters after the
// reactor handed it back (a fence); in between only the reactor thread
// serving it touches the rest.
struct Source {
  unsigned vector = 0;
  int fd = -1;
  unsigned cpu = 0;
  const DeviceSink* sink = nullptr;
  HandlerCounts* counts = nullptr;  // the handler side's, on this CPU

  // Reactor side, since the control thread last folded them.
  std::uint64_t reads = 0;  // eventfd reads that returned a count
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t backoffs = 0;            // times the reactor waited for queue room
  std::uint64_t inline_invocations = 0;  // adaptive: handler calls on the reactor
  std::vector<std::string> errors;       // what took it out of service
  std::uint64_t buf = 0;                 // io_uring: the read SQE's buffer
  int fixed = -1;                        // io_uring: its registered-file slot, -1 none
  void* poll_op = nullptr;               // io_uring: its multishot poll in flight
  bool armed = false;                    // io_uring: a read or poll is in flight
  bool dead = false;                     // out of service after a persistent error
  Fence* removal = nullptr;              // io_uring: the remove waiting for the op to end
};

// Signalled once, waited for by one thread (the one that removed a source).
// A 32-bit word, so the wait is a futex on it: libstdc++ waits on other
// sizes through a shared proxy, and a Completion lives on the waiter's
// stack, where its address is reused moments later.
class Completion {
 public:
  void signal() {
    done_.store(1, std::memory_order_release);
    done_.notify_all();
  }
  void wait() const {
    while (done_.load(std::memory_order_acquire) == 0) done_.wait(0, std::memory_order_acquire);
  }
  bool done() const { return done_.load(std::memory_order_acquire) != 0; }

 private:
  std::atomic<std::uint32_t> done_{0};
};

// Goes through a queue behind a source's last delivery: when the worker
// reaches it, everything before it was handled. detach: the queue it came
// through has no producer any more (a thread reactor's reader exited) and
// the worker stops looking at it.
struct Fence {
  Completion done;
  bool detach = false;
};

struct Delivery {
  Source* source;  // null: a fence
  std::uint64_t count;
  std::uint64_t stamp;
  Fence* fence;
};

using DeliveryQueue = boost::lockfree::spsc_queue<Delivery>;

// Runs a delivery's handler and counts it, on the thread that owns the
// source's HandlerCounts (the worker, or the reactor thread when inline).
void run_handler(const Delivery& d);

class Worker;

// What one reactor thread feeds: into its queue to the worker, or straight
// into the handler when inline.
class Producer {
 public:
  // worker null: inline. adaptive: run the handler here whenever the
  // worker has nothing to run (Handoff::kAdaptive; this producer must be
  // the worker's only one, on the worker's CPU).
  Producer(const DispatchOptions& options, Worker* worker, bool adaptive = false);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // One eventfd read's worth: count interrupts of source, taking the stamp.
  void deliver(Source& source, std::uint64_t count);
  // Behind everything delivered so far; never dropped (waits for room).
  void push_fence(Fence* fence);
  // Wakes the worker if it sleeps; call once per reactor batch.
  void flush();

 private:
  void push(const Delivery& d, Source* drop_to);

  // Adaptive: nothing queued and the worker in no handler, so it cannot
  // run one until this (its only) producer pushes again.
  bool worker_idle() const;

  const DispatchOptions& options_;
  Worker* worker_;  // null when inline
  bool adaptive_;
  bool pushed_ = false;  // since the last flush(): a wake-up is owed
  std::unique_ptr<DeliveryQueue> queue_;
};

// The CPU's worker thread: pinned, drains every producer's queue.
class Worker {
 public:
  Worker(const DispatchOptions& options, unsigned cpu);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // A producer's queue, before the producer's first push. Any thread.
  void attach(DeliveryQueue* q);
  // Starts the thread; returns once it is pinned (or failed to be).
  Status start();
  // Wakes the worker if it is asleep.
  void wake();
  // Every producer has finished: drain what is queued, then exit and join.
  void finish_and_join();

  int ran_on() const { return ran_on_; }
  unsigned cpu() const { return cpu_; }
  std::uint64_t cpu_ns() const { return cpu_ns_; }
  // Whether the worker is between popping a batch and finishing its
  // handlers (acquire: once false, what those handlers wrote is visible).
  bool busy() const { return busy_.load(std::memory_order_acquire); }

 private:
  void loop();
  bool drain_once();
  void take_attached();

  const DispatchOptions& options_;
  unsigned cpu_;
  std::vector<DeliveryQueue*> queues_;  // the worker thread's own list
  std::mutex attach_mu_;
  std::vector<DeliveryQueue*> attached_;  // handed over by attach()
  std::atomic<bool> attach_pending_{false};
  std::thread thread_;
  alignas(64) std::atomic<bool> sleeping_{false};
  std::atomic<bool> busy_{false};
  std::atomic<std::uint32_t> wake_seq_{0};
  std::atomic<bool> finishing_{false};
  int ran_on_ = -1;
  std::uint64_t cpu_ns_ = 0;
};

}  // namespace irqd
