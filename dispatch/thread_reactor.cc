// SPDX-License-Identifier: GPL-2.0-only
//
// The thread reactor: one thread per vector, pinned to the vector's CPU,
// blocked in read() on its eventfd. The naive host, kept as a baseline.
//
// Stopping a thread blocked in read() needs something to read: the stopper
// adds kStopToken (2^62) to each eventfd. Real counts never come near it,
// so whichever read returns >= kStopToken carries the token plus whatever
// real interrupts were pending, and the token is subtracted exactly once.

#include <future>
#include <string>

#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

constexpr std::uint64_t kStopToken = std::uint64_t{1} << 62;

class ThreadReactor final : public Reactor {
 public:
  explicit ThreadReactor(Context ctx) : Reactor(std::move(ctx)) {}
  ~ThreadReactor() override { stop_and_join(); }

  Status start() override {
    for (std::size_t i = 0; i < ctx_.vectors.size(); ++i) {
      const VectorBinding& b = ctx_.vectors[i];
      Producer& producer = *producers_[i];
      std::promise<Status> started;
      auto result = started.get_future();
      auto thread = spawn_thread(fault(), [this, &producer, &started, b] {
        Status s = pin();
        bool ok = s.ok();
        started.set_value(std::move(s));
        if (ok) run(producer, b);
        add_cpu_ns(thread_cpu_ns());
      });
      if (!thread) {
        stop_and_join();
        return Error{"reader of vector " + std::to_string(b.vector) + " on CPU " + std::to_string(ctx_.cpu) +
                     ": cannot create its thread: " + thread.error().message};
      }
      threads_.push_back(std::move(*thread));
      Status s = result.get();
      if (!s.ok()) {
        threads_.back().join();
        threads_.pop_back();
        stop_and_join();
        return s;
      }
    }
    return ok_status();
  }

  void request_stop() override {
    if (stop_requested_) return;
    stop_requested_ = true;
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      if (threads_[i].joinable()) eventfd_add(ctx_.vectors[i].fd, kStopToken);
    }
  }

  void join() override {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void run(Producer& producer, const VectorBinding& b) {
    for (;;) {
      std::int64_t n = eventfd_read_blocking(b.fd);
      if (n < 0) {  // the fd went bad: nothing more can be read from it
        record_error("vector " + std::to_string(b.vector) + ": read: " + errno_string(errno) + "; no longer served");
        break;
      }
      auto count = static_cast<std::uint64_t>(n);
      bool stopping = count >= kStopToken;
      if (stopping) count -= kStopToken;
      if (count > 0) deliver(producer, b, count);
      producer.flush();
      if (stopping) break;
    }
    drain(producer, {b});
    producer.finish();
  }

  std::vector<std::thread> threads_;
  bool stop_requested_ = false;
};

}  // namespace

std::unique_ptr<Reactor> make_thread_reactor(Reactor::Context ctx) {
  return std::make_unique<ThreadReactor>(std::move(ctx));
}

}  // namespace irqd
