// SPDX-License-Identifier: GPL-2.0-only
//
// The io_uring reactor: one ring per CPU, created and driven by the
// reactor thread pinned there, with the eventfds of every vector served on
// that CPU as registered files (a sparse table; a slot is filled when a
// vector arrives and emptied when it leaves). Two ways to learn of an
// interrupt:
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
// Switching by load (DispatchOptions::uring_switch_by_load), the reactor
// goes from one to the other while it runs: to multishot poll, each read
// in flight is cancelled and its completion (the cancel, or a count that
// raced it, delivered) arms the poll; to read SQEs, each poll is abandoned
// (its completions read nothing) and a read armed at once, which completes
// at once with whatever the eventfd holds. Both read the eventfd's counter
// on this one thread, so nothing is read twice or left behind.
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
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "base/unique_fd.h"
#include "dispatch/load_gauge.h"
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
  using SingleThreadReactor::SingleThreadReactor;
  // The thread uses ring_: join it before the members go.
  ~UringReactor() override { stop_and_join(); }

 private:
  // user_data: an address with the operation in its low three bits (a
  // Source and a PollOp are 8-byte aligned): a read SQE's Source, a
  // multishot poll's PollOp and that poll's removal; the doorbell and read
  // cancels, whose completions need nothing done, carry no address.
  enum Tag : std::uint64_t { kReadTag = 0, kPollTag = 1, kPollRemoveTag = 2, kDoorbellTag = 3, kCancelTag = 4 };
  static constexpr std::uint64_t kTagMask = 7;
  // Registered-file slots per ring: slot 0 is the doorbell. A source that
  // finds them all taken is served through its plain fd (one fdget per
  // read more, nothing else).
  static constexpr unsigned kFixedSlots = 1024;
  static std::uint64_t token(const void* p, Tag tag) { return reinterpret_cast<std::uintptr_t>(p) | tag; }
  static_assert(alignof(Source) >= 8);

  // A multishot poll in flight. A source leaving cannot always wait for
  // its poll to end: under load the poll is nearly always being woken, and
  // the kernel then refuses its removal (-EALREADY) until its task work
  // has run, which may race again. So a leaving source abandons its poll
  // (source = null): its completions read nothing (the counts stay in the
  // eventfd for whoever serves the vector next), the removal is retried
  // until it lands, and the op is freed with its last completion.
  struct alignas(8) PollOp {
    Source* source;
  };
  // The method new reads are armed with: fixed, or switched by load.
  UringMethod method_ = UringMethod::kReadSqe;
  bool poll_method() const { return method_ == UringMethod::kPollMultishot; }

  Status setup() override {
    // Switching by load starts with read SQEs: the ring starts idle.
    method_ = options_.uring_switch_by_load ? UringMethod::kReadSqe : options_.uring_method;
    Ring& ring = ring_;
    if (options_.busy_poll_ns > 0) {
      if (Status s = ring.init(kEntries, {0}, fault()); !s) return s;
    } else {
      Status s = ring.init(kEntries,
                           {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0},
                           fault());
      if (!s) return s;
    }
    int err = -inject_fault(fault(), "io_uring_register");
    if (err == 0) err = io_uring_register_files_sparse(ring.get(), kFixedSlots);
    if (err < 0) return Error{"io_uring_register_files_sparse: " + errno_string(-err)};
    const int bell = doorbell();
    err = io_uring_register_files_update(ring.get(), 0, &bell, 1);
    if (err < 0) return Error{"io_uring_register_files_update(doorbell): " + errno_string(-err)};
    free_slots_.reserve(kFixedSlots - 1);
    for (unsigned slot = kFixedSlots - 1; slot >= 1; --slot) free_slots_.push_back(static_cast<int>(slot));
    arm_doorbell();
    io_uring_submit(ring.get());
    return ok_status();
  }

  void arm_doorbell() {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_read(sqe, 0, &doorbell_buf_, sizeof(doorbell_buf_), 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, kDoorbellTag);
  }

  void arm(Source& s) {
    io_uring_sqe* sqe = ring_.sqe();
    const int fd = s.fixed >= 0 ? s.fixed : s.fd;
    if (poll_method()) {
      auto op = std::make_unique<PollOp>(PollOp{&s});
      io_uring_prep_poll_multishot(sqe, fd, POLLIN);
      io_uring_sqe_set_data64(sqe, token(op.get(), kPollTag));
      s.poll_op = op.get();
      polls_[op.get()] = std::move(op);
    } else {
      io_uring_prep_read(sqe, fd, &s.buf, sizeof(s.buf), 0);
      io_uring_sqe_set_data64(sqe, token(&s, kReadTag));
    }
    if (s.fixed >= 0) sqe->flags |= IOSQE_FIXED_FILE;
    s.armed = true;
  }

  Status add_source(Source& s) {
    s.fixed = -1;
    if (!free_slots_.empty()) {
      const int slot = free_slots_.back();
      if (io_uring_register_files_update(ring_.get(), static_cast<unsigned>(slot), &s.fd, 1) == 1) {
        s.fixed = slot;
        free_slots_.pop_back();
      }
    }
    sources_.push_back(&s);
    max_batch_ = std::max<unsigned>(1, sources_.size() / 2);
    arm(s);
    return ok_status();
  }

  // The source's op is over (or it had none): its last read, its fence,
  // and its registered-file slot back.
  void finish_remove(Source& s, Producer& producer) {
    drain(producer, s);
    if (s.fixed >= 0) {
      const int none = -1;
      (void)io_uring_register_files_update(ring_.get(), static_cast<unsigned>(s.fixed), &none, 1);
      free_slots_.push_back(s.fixed);
      s.fixed = -1;
    }
    sources_.erase(std::find(sources_.begin(), sources_.end(), &s));
    max_batch_ = std::max<unsigned>(1, sources_.size() / 2);
    Fence* fence = std::exchange(s.removal, nullptr);
    producer.push_fence(fence);
  }

  void start_remove(Source& s, Fence* fence, Producer& producer) {
    s.removal = fence;
    if (s.poll_op != nullptr) abandon_poll(s);
    if (!s.armed) {
      finish_remove(s, producer);
      return;
    }
    // A read ends with the cancel, or with a count that raced it (which is
    // delivered): finish_remove() runs on that completion.
    cancel_read(s);
  }

  void cancel_read(Source& s) {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel64(sqe, token(&s, kReadTag), 0);
    io_uring_sqe_set_data64(sqe, kCancelTag);
  }

  // New reads are armed with `to` from now on; what is in flight moves over
  // (see the top of this file). Sources leaving or out of service stay as
  // they are.
  void switch_method(UringMethod to) {
    method_ = to;
    count_method_switch();
    if (!batching()) batch_target_ = 1;
    for (Source* s : sources_) {
      if (!s->armed || s->removal != nullptr || s->dead) continue;
      if (s->poll_op != nullptr && to == UringMethod::kReadSqe) {
        abandon_poll(*s);
        arm(*s);
      } else if (s->poll_op == nullptr && to == UringMethod::kPollMultishot) {
        cancel_read(*s);  // its completion arms the poll
      }
    }
  }

  // Switching by load: read SQEs while they keep up, the configured method
  // near their ceiling; or, in tests, every uring_switch_every waits.
  void consider_switch() {
    if (unsigned every = options_.uring_switch_every; every > 0) {
      if (++waits_since_switch_ >= every) {
        waits_since_switch_ = 0;
        switch_method(poll_method() ? UringMethod::kReadSqe : UringMethod::kPollMultishot);
      }
      return;
    }
    const std::uint64_t now = monotonic_ns();
    if (!gauge_.due(now)) return;
    switch (gauge_.judge(now, served_)) {
      case LoadGauge::Verdict::kBehind:
        if (method_ != options_.uring_method) switch_method(options_.uring_method);
        break;
      case LoadGauge::Verdict::kKeepingUp:
        if (method_ != UringMethod::kReadSqe) switch_method(UringMethod::kReadSqe);
        break;
      case LoadGauge::Verdict::kUndecided: break;
    }
  }

  // The source stops being served by its poll at once; the poll itself
  // ends later (see PollOp).
  void abandon_poll(Source& s) {
    auto* op = static_cast<PollOp*>(std::exchange(s.poll_op, nullptr));
    s.armed = false;
    op->source = nullptr;
    remove_poll(op);
  }

  void remove_poll(PollOp* op) {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_poll_remove(sqe, token(op, kPollTag));
    io_uring_sqe_set_data64(sqe, token(op, kPollRemoveTag));
  }

  // A poll removal's completion: retried while the kernel says the poll is
  // busy and the poll has not ended meanwhile.
  void poll_removal_done(PollOp* op, int res) {
    if (res == -EALREADY && polls_.count(op) != 0) remove_poll(op);
  }

  // Applies the inbox in order; false once told to stop.
  bool apply_commands(Producer& producer) {
    bool running = true;
    for (const Command& c : take_commands()) {
      switch (c.kind) {
        case Command::Kind::kAdd: c.added->set_value(add_source(*c.source)); break;
        case Command::Kind::kRemove: start_remove(*c.source, c.fence, producer); break;
        case Command::Kind::kStop: running = false; break;
      }
    }
    return running;
  }

  // Waits for at least one completion, submitting the re-arms queued by
  // the last batch in the same system call.
  void wait() {
    io_uring* r = ring_.get();
    if (std::uint64_t spin = options_.busy_poll_ns; spin > 0) {
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

  // Whether waits may gather batches: not while busy-polling, and not with
  // read SQEs while switching by load (its gauge says the ring keeps up
  // then). Paced at 100k/s, bursts of the firer grew the batch target and
  // the timed waits that followed cost CPU and p99: with the handler on the
  // reactor (adaptive hand-off) 4754-5248 ns and 63-68 us batched against
  // 3950-4013 ns and 33-41 us not; with the queue hand-off, once the worker
  // slept on a plain futex (a wake-up costs less, so fewer wakes save
  // less), 7236-8215 ns and p99 59-126 us batched against 7006-8032 ns and
  // 39-78 us not (5 repeats each, two runs). Saturated, batches help read
  // SQEs (462-474k/s against 441-448k): the fixed io_uring-read keeps them.
  bool batching() const {
    if (options_.busy_poll_ns > 0) return false;
    return !options_.uring_switch_by_load || method_ != UringMethod::kReadSqe;
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

  // Whether a source's read (or poll) is armed again after a completion
  // with result res: yes after a count or a transient error; no after a
  // persistent one (EBADF, EINVAL, EFAULT, ...), which would complete at
  // once every time and spin this CPU. That source is then reported and
  // no longer served; its eventfd keeps what it is signalled for whoever
  // reads it next (a move, or the unbind sequence).
  bool rearm_after(Source& s, int res, const char* what) {
    if (s.dead) return false;
    if (res >= 0 || res == -EINTR || res == -EAGAIN || res == -ECANCELED) return true;
    take_out_of_service(s, what, res);
    return false;
  }

  // Reports a source's persistent error once and stops arming it; a
  // multishot poll still armed on it is removed (its last completion then
  // comes without IORING_CQE_F_MORE and is not re-armed).
  void take_out_of_service(Source& s, const char* what, int res) {
    record_error(s, std::string("io_uring ") + what + ": " + errno_string(-res));
    if (s.poll_op != nullptr) abandon_poll(s);
  }

  void deliver(Producer& producer, Source& s, std::uint64_t count) {
    producer.deliver(s, count);
    served_ += count;
  }

  // A multishot poll's completion.
  void complete_poll(PollOp* op, const io_uring_cqe& cqe, Producer& producer) {
    const bool op_over = (cqe.flags & IORING_CQE_F_MORE) == 0;
    Source* s = op->source;
    if (op_over) {
      polls_.erase(op);  // frees op
      if (s != nullptr) {
        s->poll_op = nullptr;
        s->armed = false;
      }
    }
    if (s == nullptr) return;  // abandoned: reads nothing
    if (cqe.res > 0 && (cqe.res & POLLIN) != 0) {
      std::int64_t count = eventfd_read_nowait(s->fd);
      if (count > 0) deliver(producer, *s, static_cast<std::uint64_t>(count));
      if (count < 0 && !s->dead) take_out_of_service(*s, "read", static_cast<int>(count));
    }
    if (op_over && rearm_after(*s, cqe.res, "poll")) arm(*s);
  }

  // A read SQE's completion.
  void complete_read(Source& s, const io_uring_cqe& cqe, Producer& producer) {
    if (cqe.res == sizeof(std::uint64_t)) deliver(producer, s, s.buf);
    s.armed = false;
    if (s.removal != nullptr) {
      finish_remove(s, producer);
      return;
    }
    if (rearm_after(s, cqe.res, "read")) arm(s);
  }

  // Handles every completion that is ready; returns how many, and whether
  // the doorbell rang.
  unsigned reap(Producer& producer, bool* doorbell_rang) {
    io_uring* r = ring_.get();
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(r, head, cqe) {
      seen++;
      const std::uint64_t t = cqe->user_data;
      // liburing's internal timeout entry on kernels without
      // IORING_FEAT_EXT_ARG (before 5.11).
      if (t == LIBURING_UDATA_TIMEOUT) continue;
      void* p = reinterpret_cast<void*>(t & ~kTagMask);
      switch (t & kTagMask) {
        case kReadTag: complete_read(*static_cast<Source*>(p), *cqe, producer); break;
        case kPollTag: complete_poll(static_cast<PollOp*>(p), *cqe, producer); break;
        case kPollRemoveTag: poll_removal_done(static_cast<PollOp*>(p), cqe->res); break;
        case kDoorbellTag: *doorbell_rang = true; break;
        default: break;  // a read cancel's own completion
      }
    }
    io_uring_cq_advance(r, seen);
    producer.flush();
    return seen;
  }

  void run(Producer& producer) override {
    bool running = true;
    while (running) {
      wait();
      bool doorbell_rang = false;
      unsigned reaped = reap(producer, &doorbell_rang);
      if (batching()) adapt(reaped);
      if (options_.uring_switch_by_load) consider_switch();
      if (doorbell_rang) {
        // Commands after the batch: a source removed now may be named by a
        // completion later in this same batch.
        running = apply_commands(producer);
        arm_doorbell();
      }
    }
    // Every source was removed before the stop; what is left in flight is
    // the doorbell's read, which goes with the ring.
  }

  static constexpr unsigned kEntries = 256;  // the SQ; ring.sqe() submits when it is full
  std::uint64_t doorbell_buf_ = 0;
  Ring ring_;                                         // created on the reactor thread by setup()
  std::map<PollOp*, std::unique_ptr<PollOp>> polls_;  // in flight, abandoned ones too
  std::vector<int> free_slots_;
  std::vector<Source*> sources_;  // served here now
  LoadGauge gauge_{options_.uring_read_ceiling_per_s};
  std::uint64_t served_ = 0;         // interrupts read here so far, for the gauge
  unsigned waits_since_switch_ = 0;  // uring_switch_every
  static constexpr std::uint64_t kBatchWaitNs = 20'000;
  static constexpr unsigned kMinBacklog = 4;
  unsigned batch_target_ = 1;
  // At most half the sources: a batch can only fill from distinct fds
  // (read SQEs) and needs slack to fill before the timeout.
  unsigned max_batch_ = 1;
};

}  // namespace

std::unique_ptr<Reactor> make_uring_reactor(unsigned cpu, const DispatchOptions& options, Worker* worker) {
  return std::make_unique<UringReactor>(cpu, options, worker);
}

}  // namespace irqd
