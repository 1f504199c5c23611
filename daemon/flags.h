// SPDX-License-Identifier: GPL-2.0-only
//
// Flag parsing shared by the subcommands: every error names the flag, the
// value as typed and the accepted form or range.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dispatch/dispatcher.h"

namespace irqd {

// A reactor as named on the command line: io_uring (read SQEs),
// io_uring-poll (multishot poll), io_uring-busy (read SQEs, busy-polling
// the completion ring), epoll, thread.
struct ReactorVariant {
  std::string name;
  ReactorKind kind = ReactorKind::kIoUring;
  UringMethod method = UringMethod::kReadSqe;
  std::uint64_t busy_poll_ns = 0;
};

inline constexpr std::string_view kReactorNames = "io_uring, io_uring-poll, io_uring-busy, epoll, thread";

// Splits on sep; a trailing separator gives a trailing empty item.
std::vector<std::string> split(const std::string& text, char sep);
Result<double> parse_seconds(std::string_view flag, const std::string& text, double lo, double hi);
Result<unsigned> parse_uint(std::string_view flag, const std::string& text, unsigned lo, unsigned hi);
Result<ReactorVariant> parse_reactor(std::string_view flag, const std::string& name, std::uint64_t busy_ns);
// "queue" | "inline".
Result<Handoff> parse_handoff(std::string_view flag, const std::string& text);
// "backoff" | "drop".
Result<FullPolicy> parse_when_full(std::string_view flag, const std::string& text);

}  // namespace irqd
