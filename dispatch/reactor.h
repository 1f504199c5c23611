// SPDX-License-Identifier: GPL-2.0-only
//
// A reactor: the thread(s) of one CPU that read that CPU's eventfds and
// feed the hand-off. Each kind implements run(); the base class does the
// pinning, the start-up handshake and the bookkeeping they share.

#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "dispatch/dispatcher.h"
#include "dispatch/lane.h"

namespace irqd {

class Reactor {
 public:
  struct Context {
    unsigned cpu;
    std::vector<VectorBinding> vectors;  // the ones this CPU serves
    const DispatchOptions* options;
    unsigned nvectors;   // highest vector number + 1, sizes per-vector arrays
    Worker* worker;      // null when inline
    unsigned producers;  // hand-off queues this reactor feeds (one per thread)
  };

  // Creates the producers (and so the worker's queues) up front: the worker
  // starts before any reactor thread and never sees its queue list change.
  explicit Reactor(Context ctx);
  virtual ~Reactor() = default;
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Starts the thread(s); returns once each is pinned and armed, or the
  // first error (then nothing keeps running).
  virtual Status start() = 0;
  // Stop arming: the thread(s) stop re-arming reads, drain what is
  // signalled and exit. Returns at once; idempotent.
  virtual void request_stop() = 0;
  // Waits for the thread(s) to finish draining and exit.
  virtual void join() = 0;
  void stop_and_join() {
    request_stop();
    join();
  }

  const std::vector<std::unique_ptr<Producer>>& producers() const { return producers_; }
  // What took a vector, or the whole reactor, out of service, one line
  // each naming the step, the vector and the errno text. Read after join().
  std::vector<std::string> errors() const;
  std::uint64_t cpu_ns() const { return cpu_ns_.load(); }
  int ran_on() const { return ran_on_.load(); }
  unsigned cpu() const { return ctx_.cpu; }

 protected:
  // Delivers one read's count for a binding, taking its stamp.
  void deliver(Producer& p, const VectorBinding& b, std::uint64_t count) const;
  // Reads every vector's eventfd once and delivers what it holds:
  // the last step of every reactor once arming has stopped.
  void drain(Producer& p, const std::vector<VectorBinding>& vectors);
  // Called by each reactor thread first; records where it runs.
  Status pin();
  const FaultHook& fault() const { return ctx_.options->fault; }
  void add_cpu_ns(std::uint64_t ns) { cpu_ns_ += ns; }
  // From any of the reactor's threads: a persistent error is recorded once
  // and the read it came from is not retried, so it never spins a CPU.
  void record_error(std::string message);

  Context ctx_;
  std::vector<std::unique_ptr<Producer>> producers_;

 private:
  std::atomic<std::uint64_t> cpu_ns_{0};
  std::atomic<int> ran_on_{-1};
  mutable std::mutex errors_mu_;
  std::vector<std::string> errors_;
};

// One pinned thread for all the CPU's vectors, woken to stop through an
// eventfd of its own (epoll and io_uring). setup() runs on that thread once
// it is pinned (a SINGLE_ISSUER ring must be created by the thread that
// submits to it); start() returns its status.
class SingleThreadReactor : public Reactor {
 public:
  explicit SingleThreadReactor(Context ctx);
  ~SingleThreadReactor() override;
  Status start() final;
  void request_stop() final;
  void join() final;

 protected:
  virtual Status setup() { return ok_status(); }
  // Runs until the stop eventfd is readable, then drains and returns.
  virtual void run(Producer& producer) = 0;
  int stop_fd() const { return stopfd_.get(); }

 private:
  UniqueFd stopfd_;
  int stopfd_errno_ = 0;  // why stopfd_ could not be made
  bool stop_requested_ = false;
  std::thread thread_;
};

std::unique_ptr<Reactor> make_epoll_reactor(Reactor::Context ctx);
std::unique_ptr<Reactor> make_thread_reactor(Reactor::Context ctx);
std::unique_ptr<Reactor> make_uring_reactor(Reactor::Context ctx);

}  // namespace irqd
