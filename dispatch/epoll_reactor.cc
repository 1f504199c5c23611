// SPDX-License-Identifier: GPL-2.0-only
//
// The epoll reactor: one thread per CPU in epoll_wait() over that CPU's
// eventfds (level-triggered) and a stop eventfd, one read() per ready fd.
// The shape of DPDK's EAL interrupt thread, and the baseline io_uring has
// to beat.

#include <sys/epoll.h>
#include <unistd.h>

#include <array>

#include "base/unique_fd.h"
#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

class EpollReactor final : public SingleThreadReactor {
 public:
  explicit EpollReactor(Context ctx) : SingleThreadReactor(std::move(ctx)) {}
  // The thread uses epfd_: join it before the members go.
  ~EpollReactor() override { stop_and_join(); }

 private:
  // On the reactor thread, once it is pinned.
  Status setup() override {
    if (int err = inject_fault(fault(), "epoll_create1"); err != 0) return Error{"epoll_create1: " + errno_string(err)};
    epfd_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    if (!epfd_.valid()) return Error{"epoll_create1: " + errno_string(errno)};
    if (int err = add(stop_fd(), kStopToken); err != 0) return Error{"epoll_ctl(stop fd): " + errno_string(err)};
    for (std::size_t i = 0; i < ctx_.vectors.size(); ++i) {
      if (int err = add(ctx_.vectors[i].fd, i); err != 0)
        return Error{"epoll_ctl(vector " + std::to_string(ctx_.vectors[i].vector) + "): " + errno_string(err)};
    }
    return ok_status();
  }

  // EPOLL_CTL_ADD, level-triggered; 0 or the errno.
  int add(int fd, std::uint64_t token) {
    if (int err = inject_fault(fault(), "epoll_ctl"); err != 0) return err;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    return epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
  }

  static constexpr std::uint64_t kStopToken = ~std::uint64_t{0};

  void run(Producer& producer) override {
    std::array<epoll_event, 64> events{};
    bool stopping = false;
    while (!stopping) {
      int n = epoll_wait(epfd_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // Retrying a persistent error would spin this CPU: stop serving,
        // drain what is signalled, and say why.
        record_error("epoll_wait: " + errno_string(errno) + "; the reactor stopped");
        break;
      }
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

  UniqueFd epfd_;  // made by setup(), on the reactor thread
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor(Reactor::Context ctx) {
  return std::make_unique<EpollReactor>(std::move(ctx));
}

}  // namespace irqd
