// SPDX-License-Identifier: GPL-2.0-only
//
// The epoll reactor: one thread per CPU in epoll_wait() over that CPU's
// eventfds (level-triggered) and a stop eventfd, one read() per ready fd.
// The shape of DPDK's EAL interrupt thread, and the baseline io_uring has
// to beat.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <future>

#include "base/unique_fd.h"
#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

class EpollReactor final : public Reactor {
 public:
  explicit EpollReactor(Context ctx) : Reactor(std::move(ctx)) {}
  ~EpollReactor() override { stop_and_join(); }

  Status start() override {
    if (epfd_.get() < 0 || stopfd_.get() < 0) return Error{"epoll reactor: " + errno_string(errno)};
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kStopToken;
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, stopfd_.get(), &ev) != 0)
      return Error{"epoll_ctl(stop fd): " + errno_string(errno)};
    for (std::size_t i = 0; i < ctx_.vectors.size(); ++i) {
      ev.data.u64 = i;
      if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, ctx_.vectors[i].fd, &ev) != 0)
        return Error{"epoll_ctl(vector " + std::to_string(ctx_.vectors[i].vector) + "): " + errno_string(errno)};
    }
    Producer& producer = *producers_.front();
    std::promise<Status> started;
    auto result = started.get_future();
    thread_ = std::thread([this, &producer, &started] {
      Status s = pin();
      bool ok = s.ok();
      started.set_value(std::move(s));
      if (ok) run(producer);
      add_cpu_ns(thread_cpu_ns());
    });
    Status s = result.get();
    if (!s.ok()) thread_.join();
    return s;
  }

  void stop_and_join() override {
    if (!thread_.joinable()) return;
    eventfd_add(stopfd_.get(), 1);
    thread_.join();
  }

 private:
  static constexpr std::uint64_t kStopToken = ~std::uint64_t{0};

  void run(Producer& producer) {
    std::array<epoll_event, 64> events{};
    bool stopping = false;
    while (!stopping) {
      int n = epoll_wait(epfd_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) continue;  // EINTR
      for (int i = 0; i < n; ++i) {
        std::uint64_t token = events[static_cast<std::size_t>(i)].data.u64;
        if (token == kStopToken) {
          stopping = true;
          continue;
        }
        const VectorBinding& b = ctx_.vectors[token];
        // Level-triggered and the only reader: the fd holds a count, but
        // read without blocking anyway so a spurious wake cannot hang us.
        std::int64_t count = eventfd_read_nowait(b.fd);
        if (count > 0) deliver(producer, b, static_cast<std::uint64_t>(count));
      }
      producer.flush();
    }
    drain(producer, ctx_.vectors);
    producer.finish();
  }

  UniqueFd epfd_{epoll_create1(EPOLL_CLOEXEC)};
  UniqueFd stopfd_{eventfd(0, EFD_CLOEXEC)};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor(Reactor::Context ctx) {
  return std::make_unique<EpollReactor>(std::move(ctx));
}

}  // namespace irqd
