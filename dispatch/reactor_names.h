// SPDX-License-Identifier: GPL-2.0-only
//
// The reactors, hand-offs and full policies by the names users type, on the
// command line (`irqd bench`, `irqd serve`) and in the config file
// ([reactor] of `irqd run`). Every error names where the value came from
// (`what`: a flag or a config key), the value and the accepted names.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "dispatch/dispatcher.h"

namespace irqd {

// A reactor as users name it: io_uring (read SQEs or multishot poll,
// whichever measures faster here), io_uring-read (read SQEs),
// io_uring-poll (multishot poll), io_uring-busy (read SQEs, busy-polling
// the completion ring), epoll, thread.
struct ReactorVariant {
  std::string name;
  ReactorKind kind = ReactorKind::kIoUring;
  UringMethod method = UringMethod::kReadSqe;
  std::uint64_t busy_poll_ns = 0;
};

inline constexpr std::string_view kReactorNames =
    "io_uring, io_uring-read, io_uring-poll, io_uring-busy, epoll, thread";

Result<ReactorVariant> parse_reactor(std::string_view what, const std::string& name, std::uint64_t busy_ns);
// "queue" | "inline" | "adaptive".
Result<Handoff> parse_handoff(std::string_view what, const std::string& text);
// "backoff" | "drop".
Result<FullPolicy> parse_when_full(std::string_view what, const std::string& text);

}  // namespace irqd
