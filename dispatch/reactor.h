// SPDX-License-Identifier: GPL-2.0-only
//
// A reactor: the thread(s) of one CPU that read the eventfds of every
// vector served on that CPU, whatever device each belongs to, and feed the
// hand-off. Vectors come and go while it runs: add() arms one, remove()
// stops arming it, reads what it holds once and fences it, and the other
// vectors are served throughout. Each kind implements the reading; the
// base classes do the pinning, the start-up handshake, the command inbox
// and the bookkeeping they share.

#pragma once

#include <atomic>
#include <future>
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
  // worker: null when inline.
  Reactor(unsigned cpu, const DispatchOptions& options, Worker* worker)
      : cpu_(cpu), options_(options), worker_(worker) {}
  virtual ~Reactor() = default;
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Starts the reactor's own thread, if it has one; returns once it is
  // pinned and ready, or the first error (then nothing keeps running).
  virtual Status start() = 0;
  // From the control thread: serve `source` (its cpu is this reactor's).
  // Returns once it is armed, or the error; then it is not served and the
  // reactor holds no reference to it.
  virtual Status add(Source* source) = 0;
  // From the control thread: stop arming `source`, read its eventfd once,
  // deliver what it held and push `fence` behind it. Returns at once;
  // fence->done says when every interrupt read from it was handled. After
  // that the reactor holds no reference to it.
  virtual void remove(Source* source, Fence* fence) = 0;
  // Every source must have been removed. Stops the thread(s) and joins.
  virtual void stop_and_join() = 0;
  // Threads this reactor runs now.
  virtual unsigned threads() const = 0;

  std::uint64_t cpu_ns() const { return cpu_ns_.load(); }
  std::uint64_t method_switches() const { return method_switches_.load(); }
  int ran_on() const { return ran_on_.load(); }
  unsigned cpu() const { return cpu_; }

 protected:
  // Reads an eventfd once without blocking and delivers what it held: the
  // last read of a source that leaves, once it is no longer armed. One
  // read, not "until empty": a device still firing at full rate would keep
  // such a loop going for ever. What arrives later stays in the eventfd
  // for the next reactor (a move) or the unbind sequence (dropped,
  // after_drain).
  static void drain(Producer& p, Source& source);
  // Called by each reactor thread first; records where it runs.
  Status pin();
  const FaultHook& fault() const { return options_.fault; }
  void add_cpu_ns(std::uint64_t ns) { cpu_ns_ += ns; }
  void count_method_switch() { method_switches_.fetch_add(1, std::memory_order_relaxed); }
  // A persistent error on a source, recorded with it: it is then no
  // longer armed, so the read it came from never spins a CPU.
  void record_error(Source& source, std::string message) const;

  const unsigned cpu_;
  const DispatchOptions& options_;
  Worker* const worker_;

 private:
  std::atomic<std::uint64_t> cpu_ns_{0};
  std::atomic<std::uint64_t> method_switches_{0};
  std::atomic<int> ran_on_{-1};
};

// One pinned thread for all the CPU's sources, woken through a doorbell
// eventfd of its own for commands (epoll and io_uring). setup() runs on
// that thread once it is pinned (a SINGLE_ISSUER ring must be created by
// the thread that submits to it); start() returns its status.
class SingleThreadReactor : public Reactor {
 public:
  SingleThreadReactor(unsigned cpu, const DispatchOptions& options, Worker* worker);
  ~SingleThreadReactor() override;
  Status start() final;
  Status add(Source* source) final;
  void remove(Source* source, Fence* fence) final;
  void stop_and_join() final;
  unsigned threads() const final { return thread_.joinable() ? 1 : 0; }

 protected:
  struct Command {
    enum class Kind { kAdd, kRemove, kStop };
    Kind kind;
    Source* source;
    Fence* fence;                 // kRemove
    std::promise<Status>* added;  // kAdd
  };

  virtual Status setup() { return ok_status(); }
  // Runs until a kStop command, then returns. Calls take_commands() when
  // the doorbell rings and applies them in order.
  virtual void run(Producer& producer) = 0;
  int doorbell() const { return doorbell_.get(); }
  // The commands posted since the last call, in order.
  std::vector<Command> take_commands();

 private:
  void post(Command c);

  UniqueFd doorbell_;
  int doorbell_errno_ = 0;  // why doorbell_ could not be made
  std::mutex inbox_mu_;
  std::vector<Command> inbox_;
  std::unique_ptr<Producer> producer_;
  std::thread thread_;
};

std::unique_ptr<Reactor> make_epoll_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker);
std::unique_ptr<Reactor> make_thread_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker);
std::unique_ptr<Reactor> make_uring_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker);

}  // namespace irqd
