// SPDX-License-Identifier: GPL-2.0-only
//
// The epoll reactor: one thread per CPU in epoll_wait() over the eventfds
// of every vector served there (level-triggered) and its doorbell, one
// read() per ready fd. The shape of DPDK's EAL interrupt thread, and the
// baseline io_uring has to beat.

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
  using SingleThreadReactor::SingleThreadReactor;
  // The thread uses epfd_: join it before the members go.
  ~EpollReactor() override { stop_and_join(); }

 private:
  // On the reactor thread, once it is pinned.
  Status setup() override {
    if (int err = inject_fault(fault(), "epoll_create1"); err != 0) return Error{"epoll_create1: " + errno_string(err)};
    epfd_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
    if (!epfd_.valid()) return Error{"epoll_create1: " + errno_string(errno)};
    if (int err = ctl(EPOLL_CTL_ADD, doorbell(), nullptr); err != 0)
      return Error{"epoll_ctl(doorbell): " + errno_string(err)};
    return ok_status();
  }

  // EPOLL_CTL_ADD / DEL, level-triggered, the source as the token (null:
  // the doorbell); 0 or the errno.
  int ctl(int op, int fd, Source* source) {
    if (op == EPOLL_CTL_ADD) {
      if (int err = inject_fault(fault(), "epoll_ctl"); err != 0) return err;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = source;
    return epoll_ctl(epfd_.get(), op, fd, &ev) == 0 ? 0 : errno;
  }

  // Applies the inbox in order; false once told to stop.
  bool apply_commands(Producer& producer) {
    (void)eventfd_read_nowait(doorbell());
    bool running = true;
    for (const Command& c : take_commands()) {
      switch (c.kind) {
        case Command::Kind::kAdd: {
          int err = ctl(EPOLL_CTL_ADD, c.source->fd, c.source);
          c.added->set_value(err == 0 ? ok_status()
                                      : Status(Error{"epoll_ctl(vector " + std::to_string(c.source->vector) +
                                                     "): " + errno_string(err)}));
          break;
        }
        case Command::Kind::kRemove:
          // Not armed from here on (a DEL of a dead source's fd may fail:
          // it was never re-added; nothing to undo either way).
          (void)ctl(EPOLL_CTL_DEL, c.source->fd, c.source);
          drain(producer, *c.source);
          producer.push_fence(c.fence);
          break;
        case Command::Kind::kStop: running = false; break;
      }
    }
    return running;
  }

  void run(Producer& producer) override {
    std::array<epoll_event, 64> events{};
    for (;;) {
      int n = epoll_wait(epfd_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // Retrying a persistent error would spin this CPU: serve nothing
        // more, but keep taking commands (removes need their fences) by
        // waiting on the doorbell alone.
        failed_ = errno_string(errno);
        wait_doorbell_only(producer);
        return;
      }
      bool doorbell_rang = false;
      for (int i = 0; i < n; ++i) {
        auto* source = static_cast<Source*>(events[static_cast<std::size_t>(i)].data.ptr);
        if (source == nullptr) {
          doorbell_rang = true;
          continue;
        }
        // Level-triggered and the only reader: the fd holds a count, but
        // read without blocking anyway so a spurious wake cannot hang us.
        std::int64_t count = eventfd_read_nowait(source->fd);
        if (count > 0) producer.deliver(*source, static_cast<std::uint64_t>(count));
      }
      producer.flush();
      // Commands after the batch: a source removed now may still be named
      // by an event later in this same batch.
      if (doorbell_rang && !apply_commands(producer)) return;
    }
  }

  // After epoll_wait failed for good: every source still added is taken
  // out of service (said once each as it leaves), commands still served.
  void wait_doorbell_only(Producer& producer) {
    for (;;) {
      if (eventfd_read_blocking(doorbell()) < 0) return;
      for (const Command& c : take_commands()) {
        switch (c.kind) {
          case Command::Kind::kAdd:
            c.added->set_value(Error{"epoll_wait failed on CPU " + std::to_string(cpu()) + ": " + failed_});
            break;
          case Command::Kind::kRemove:
            record_error(*c.source, "epoll_wait: " + failed_);
            drain(producer, *c.source);
            producer.push_fence(c.fence);
            break;
          case Command::Kind::kStop: return;
        }
      }
    }
  }

  UniqueFd epfd_;  // made by setup(), on the reactor thread
  std::string failed_;
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker) {
  return std::make_unique<EpollReactor>(cpu, options, worker);
}

}  // namespace irqd
