// SPDX-License-Identifier: GPL-2.0-only
//
// The io_uring reactor: one ring per CPU, created and driven by the
// reactor thread pinned there, with that CPU's eventfds as registered
// files. Two ways to learn of an interrupt:
//
//   read SQEs       one 8-byte IORING_OP_READ in flight per eventfd; its
//                   completion carries the count; every completion of a
//                   batch is re-armed and the batch submitted with the
//                   next wait, so a busy ring costs one io_uring_enter per
//                   batch.
//   multishot poll  one IORING_OP_POLL_ADD (multishot) per eventfd; each
//                   completion says "readable" and the count is read with
//                   a non-blocking read().
//
// Without busy-poll the ring is IORING_SETUP_SINGLE_ISSUER |
// IORING_SETUP_DEFER_TASKRUN: completions are posted only when this thread
// waits, which is what keeps its CPU cost per interrupt at epoll's level
// when the ring sleeps between interrupts. With busy-poll the thread spins
// on the completion ring, so task work must run without it entering the
// kernel: the ring then uses the default (signal-based) task work.

#include <liburing.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "base/unique_fd.h"
#include "dispatch/reactor.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

class Ring {
 public:
  Ring() = default;
  ~Ring() {
    if (ready_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Tries each flag set in turn (older kernels lack the newer flags).
  Status init(unsigned entries, std::initializer_list<unsigned> flag_sets, const FaultHook& fault) {
    int err = 0;
    for (unsigned flags : flag_sets) {
      io_uring_params p{};
      p.flags = flags;
      err = -inject_fault(fault, "io_uring_setup");
      if (err == 0) err = io_uring_queue_init_params(entries, &ring_, &p);
      if (err == 0) {
        ready_ = true;
        flags_ = flags;
        return ok_status();
      }
    }
    return Error{"io_uring_setup: " + errno_string(-err)};
  }

  io_uring* get() { return &ring_; }
  unsigned flags() const { return flags_; }

  // An SQE, submitting what is queued first if the SQ is full.
  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
      io_uring_submit(&ring_);
      s = io_uring_get_sqe(&ring_);
    }
    return s;
  }

 private:
  io_uring ring_{};
  bool ready_ = false;
  unsigned flags_ = 0;
};

class UringReactor final : public SingleThreadReactor {
 public:
  explicit UringReactor(Context ctx) : SingleThreadReactor(std::move(ctx)), bufs_(ctx_.vectors.size(), 0) {}
  // The thread uses ring_ and bufs_: join it before the members go.
  ~UringReactor() override { stop_and_join(); }

 private:
  // user_data of the stop eventfd's read and of the cancel request; vector
  // slots are 0..n-1.
  std::uint64_t stop_token() const { return ctx_.vectors.size(); }
  std::uint64_t cancel_token() const { return ctx_.vectors.size() + 1; }
  bool poll_method() const { return ctx_.options->uring_method == UringMethod::kPollMultishot; }

  Status setup() override {
    Ring& ring = ring_;
    auto n = static_cast<unsigned>(ctx_.vectors.size());
    unsigned entries = 64;
    while (entries < 2 * n + 8) entries *= 2;
    if (ctx_.options->busy_poll_ns > 0) {
      if (Status s = ring.init(entries, {0}, fault()); !s) return s;
    } else {
      Status s = ring.init(entries,
                           {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0},
                           fault());
      if (!s) return s;
    }
    std::vector<int> fds;
    fds.reserve(n + 1);
    for (const VectorBinding& b : ctx_.vectors) fds.push_back(b.fd);
    fds.push_back(stop_fd());
    int err = -inject_fault(fault(), "io_uring_register");
    if (err == 0) err = io_uring_register_files(ring.get(), fds.data(), n + 1);
    if (err < 0) return Error{"io_uring_register_files: " + errno_string(-err)};
    for (unsigned i = 0; i < n; ++i) arm(ring, i);
    io_uring_sqe* sqe = ring.sqe();
    io_uring_prep_read(sqe, static_cast<int>(n), &stop_buf_, sizeof(stop_buf_), 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, stop_token());
    io_uring_submit(ring.get());
    return ok_status();
  }

  void arm(Ring& ring, unsigned slot) {
    io_uring_sqe* sqe = ring.sqe();
    if (poll_method()) {
      io_uring_prep_poll_multishot(sqe, static_cast<int>(slot), POLLIN);
    } else {
      io_uring_prep_read(sqe, static_cast<int>(slot), &bufs_[slot], sizeof(bufs_[slot]), 0);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, slot);
    in_flight_++;
  }

  // Waits for at least one completion, submitting the re-arms queued by
  // the last batch in the same system call.
  void wait(Ring& ring) {
    io_uring* r = ring.get();
    if (std::uint64_t spin = ctx_.options->busy_poll_ns; spin > 0) {
      io_uring_submit(r);
      std::uint64_t deadline = monotonic_ns() + spin;
      while (io_uring_cq_ready(r) == 0) {
        if (monotonic_ns() >= deadline) break;
      }
      if (io_uring_cq_ready(r) > 0) return;
    }
    if (batch_target_ <= 1) {
      io_uring_submit_and_wait(r, 1);
      return;
    }
    // Under load, wait for a batch (bounded by a short timeout) instead of
    // the first completion: each wake of this thread costs a context switch
    // to the worker sharing its CPU and back, so fewer, fuller batches cut
    // the CPU spent per interrupt. The timeout caps what a lone interrupt
    // waits when the load drops.
    __kernel_timespec ts{0, static_cast<long long>(kBatchWaitNs)};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(r, &cqe, batch_target_, &ts, nullptr);
  }

  // Grows the batch target only while completions pile up well beyond it
  // (the ring is behind: saturation), drops back to 1 as soon as a batch
  // comes up short. Paced load that now and then delivers two completions
  // at once must stay at 1: a timed wait arms an hrtimer and holds a lone
  // interrupt up to kBatchWaitNs, which measured 1.6x the CPU per interrupt
  // and 3x the p50 latency at 100k/s.
  void adapt(unsigned reaped) {
    if (reaped >= 2 * std::max(batch_target_, kMinBacklog)) {
      batch_target_ = std::min(batch_target_ * 2, max_batch_);
    } else if (reaped * 2 < batch_target_) {
      batch_target_ = 1;
    }
  }

  // Whether a vector's read (or poll) is armed again after a completion
  // with result res: yes after a count or a transient error; no after a
  // persistent one (EBADF, EINVAL, EFAULT, ...), which would complete at
  // once every time and spin this CPU. That vector is then reported and no
  // longer served; its eventfd keeps what it is signalled for the unbind
  // sequence to account.
  bool rearm_after(Ring& ring, unsigned slot, int res, const char* what) {
    if (dead_[slot]) return false;
    if (res >= 0 || res == -EINTR || res == -EAGAIN || res == -ECANCELED) return true;
    take_out_of_service(ring, slot, what, res);
    return false;
  }

  // Reports a vector's persistent error once and stops arming it; a
  // multishot poll still armed on it is removed (its last completion then
  // comes without IORING_CQE_F_MORE and is not re-armed).
  void take_out_of_service(Ring& ring, unsigned slot, const char* what, int res) {
    dead_[slot] = 1;
    record_error("vector " + std::to_string(ctx_.vectors[slot].vector) + ": io_uring " + what + ": " +
                 errno_string(-res) + "; no longer served");
    if (!poll_method()) return;
    io_uring_sqe* sqe = ring.sqe();
    io_uring_prep_poll_remove(sqe, slot);
    io_uring_sqe_set_data64(sqe, cancel_token());
  }

  // Handles every completion that is ready; returns false once stopped.
  unsigned reap(Ring& ring, Producer& producer, bool arming) {
    io_uring* r = ring.get();
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(r, head, cqe) {
      seen++;
      std::uint64_t token = cqe->user_data;
      if (token == stop_token()) {
        stopping_ = true;
        continue;
      }
      // The cancel request's own completion, and liburing's internal timeout
      // entry on kernels without IORING_FEAT_EXT_ARG (before 5.11).
      if (token == cancel_token() || token == LIBURING_UDATA_TIMEOUT) continue;
      auto slot = static_cast<unsigned>(token);
      const VectorBinding& b = ctx_.vectors[slot];
      if (poll_method()) {
        if (cqe->res > 0 && (cqe->res & POLLIN) != 0) {
          std::int64_t count = eventfd_read_nowait(b.fd);
          if (count > 0) deliver(producer, b, static_cast<std::uint64_t>(count));
          if (count < 0 && !dead_[slot]) take_out_of_service(ring, slot, "read", static_cast<int>(count));
        }
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
          in_flight_--;
          if (arming && !stopping_ && rearm_after(ring, slot, cqe->res, "poll")) arm(ring, slot);
        }
      } else {
        in_flight_--;
        if (cqe->res == sizeof(std::uint64_t)) deliver(producer, b, bufs_[slot]);
        if (arming && !stopping_ && rearm_after(ring, slot, cqe->res, "read")) arm(ring, slot);
      }
    }
    io_uring_cq_advance(r, seen);
    producer.flush();
    return seen;
  }

  void run(Producer& producer) override {
    Ring& ring = ring_;
    while (!stopping_) {
      wait(ring);
      unsigned reaped = reap(ring, producer, true);
      if (ctx_.options->busy_poll_ns == 0) adapt(reaped);
    }
    // Stop arming; cancel what is in flight. A read that completes with a
    // count before its cancel lands is delivered like any other.
    io_uring_sqe* sqe = ring.sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, cancel_token());
    while (in_flight_ > 0) {
      io_uring_submit_and_wait(ring.get(), 1);
      reap(ring, producer, false);
    }
    drain(producer, ctx_.vectors);
    producer.finish();
  }

  std::vector<std::uint64_t> bufs_;                                     // one read buffer per slot
  std::vector<char> dead_ = std::vector<char>(ctx_.vectors.size(), 0);  // slots out of service
  std::uint64_t stop_buf_ = 0;
  Ring ring_;  // created on the reactor thread by setup()
  unsigned in_flight_ = 0;
  bool stopping_ = false;
  static constexpr std::uint64_t kBatchWaitNs = 20'000;
  static constexpr unsigned kMinBacklog = 4;
  unsigned batch_target_ = 1;
  // At most half the vectors: a batch can only fill from distinct fds
  // (read SQEs) and needs slack to fill before the timeout.
  unsigned max_batch_ = std::max(1U, static_cast<unsigned>(ctx_.vectors.size() / 2));
};

}  // namespace

std::unique_ptr<Reactor> make_uring_reactor(Reactor::Context ctx) {
  return std::make_unique<UringReactor>(std::move(ctx));
}

}  // namespace irqd
