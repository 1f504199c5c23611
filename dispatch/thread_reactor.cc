// SPDX-License-Identifier: GPL-2.0-only
//
// The thread reactor: one thread per vector, pinned to the vector's CPU,
// blocked in read() on its eventfd. The naive host, kept as a baseline; it
// is the one reactor whose thread count grows with the vectors.
//
// Stopping a thread blocked in read() needs something to read: remove()
// adds kStopToken (2^62) to the eventfd. Real counts never come near it,
// so whichever read returns >= kStopToken carries the token plus whatever
// real interrupts were pending, and the token is subtracted exactly once.

#include <future>
#include <map>
#include <string>

#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

constexpr std::uint64_t kStopToken = std::uint64_t{1} << 62;

class ThreadReactor final : public Reactor {
 public:
  using Reactor::Reactor;
  ~ThreadReactor() override { stop_and_join(); }

  Status start() override { return ok_status(); }

  Status add(Source* source) override {
    // Each reader feeds the worker through a queue of its own (SPSC).
    auto reader = std::make_unique<Reader>();
    reader->producer = std::make_unique<Producer>(options_, worker_);
    std::promise<Status> started;
    auto result = started.get_future();
    Producer* producer = reader->producer.get();
    auto thread = spawn_thread(fault(), [this, producer, source, &started] {
      Status s = pin();
      bool ok = s.ok();
      started.set_value(std::move(s));
      if (ok) run(*producer, *source);
      add_cpu_ns(thread_cpu_ns());
    });
    if (!thread) {
      detach_unused(*reader);
      return Error{"reader of vector " + std::to_string(source->vector) + " on CPU " + std::to_string(cpu()) +
                   ": cannot create its thread: " + thread.error().message};
    }
    reader->thread = std::move(*thread);
    Status s = result.get();
    if (!s.ok()) {
      reader->thread.join();
      detach_unused(*reader);
      return s;
    }
    readers_[source] = std::move(reader);
    return ok_status();
  }

  // Synchronous, unlike the other reactors: the reader's queue must be
  // detached from the worker before the reader and its queue go.
  void remove(Source* source, Fence* fence) override {
    auto it = readers_.find(source);
    if (it == readers_.end()) {
      fence->done.signal();
      return;
    }
    Reader& r = *it->second;
    eventfd_add(source->fd, kStopToken);
    r.thread.join();
    // The reader is gone: its producer is this thread's now. The fence
    // goes behind the reader's last delivery and takes its queue off the
    // worker.
    fence->detach = true;
    r.producer->push_fence(fence);
    fence->done.wait();
    readers_.erase(it);
  }

  void stop_and_join() override {
    // The engine removes every source first; nothing runs by now.
  }

  unsigned threads() const override { return static_cast<unsigned>(readers_.size()); }

 private:
  struct Reader {
    std::thread thread;
    std::unique_ptr<Producer> producer;
  };

  // A reader that never ran still attached its queue: detach it.
  void detach_unused(Reader& r) {
    Fence fence;
    fence.detach = true;
    r.producer->push_fence(&fence);
    fence.done.wait();
  }

  void run(Producer& producer, Source& source) {
    for (;;) {
      std::int64_t n = eventfd_read_blocking(source.fd);
      if (n < 0) {  // the fd went bad: nothing more can be read from it
        record_error(source, "read: " + errno_string(static_cast<int>(-n)));
        return;
      }
      auto count = static_cast<std::uint64_t>(n);
      bool stopping = count >= kStopToken;
      if (stopping) count -= kStopToken;
      if (count > 0) producer.deliver(source, count);
      producer.flush();
      if (stopping) break;
    }
    drain(producer, source);
  }

  std::map<Source*, std::unique_ptr<Reader>> readers_;
};

}  // namespace

std::unique_ptr<Reactor> make_thread_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker) {
  return std::make_unique<ThreadReactor>(cpu, options, worker);
}

}  // namespace irqd
