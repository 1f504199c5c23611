// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/reactor_names.h"

#include <fmt/format.h>

namespace irqd {

Result<ReactorVariant> parse_reactor(std::string_view flag, const std::string& name, std::uint64_t busy_ns) {
  if (name == "io_uring") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kAuto, 0};
  if (name == "io_uring-read") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kReadSqe, 0};
  if (name == "io_uring-poll") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kPollMultishot, 0};
  if (name == "io_uring-busy") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kReadSqe, busy_ns};
  if (name == "epoll") return ReactorVariant{name, ReactorKind::kEpoll, UringMethod::kReadSqe, 0};
  if (name == "thread") return ReactorVariant{name, ReactorKind::kThread, UringMethod::kReadSqe, 0};
  return Error{fmt::format("{}: unknown reactor '{}' (accepted: {})", flag, name, kReactorNames)};
}

Result<Handoff> parse_handoff(std::string_view flag, const std::string& text) {
  if (text == "queue") return Handoff::kQueue;
  if (text == "inline") return Handoff::kInline;
  if (text == "adaptive") return Handoff::kAdaptive;
  return Error{fmt::format("{} '{}' is not valid (accepted: queue, inline, adaptive)", flag, text)};
}

Result<FullPolicy> parse_when_full(std::string_view flag, const std::string& text) {
  if (text == "backoff") return FullPolicy::kBackoff;
  if (text == "drop") return FullPolicy::kDrop;
  return Error{fmt::format("{} '{}' is not valid (accepted: backoff, drop)", flag, text)};
}

}  // namespace irqd
