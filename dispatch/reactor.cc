// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/reactor.h"

#include <sched.h>

#include "dispatch/sys.h"

namespace irqd {

Reactor::Reactor(Context ctx) : ctx_(std::move(ctx)) {
  for (unsigned i = 0; i < ctx_.producers; ++i)
    producers_.push_back(std::make_unique<Producer>(*ctx_.options, ctx_.nvectors, ctx_.worker));
}

void Reactor::deliver(Producer& p, const VectorBinding& b, std::uint64_t count) const {
  std::uint64_t stamp = ctx_.options->consume_stamp ? ctx_.options->consume_stamp(b.vector, count) : 0;
  p.deliver(b.vector, count, stamp);
}

void Reactor::drain(Producer& p, const std::vector<VectorBinding>& vectors) {
  for (const VectorBinding& b : vectors) {
    for (;;) {
      std::int64_t n = eventfd_read_nowait(b.fd);
      if (n <= 0) break;
      deliver(p, b, static_cast<std::uint64_t>(n));
    }
  }
  p.flush();
}

Status Reactor::pin() {
  Status s = pin_to_cpu(ctx_.cpu);
  ran_on_.store(sched_getcpu());
  return s;
}

}  // namespace irqd
