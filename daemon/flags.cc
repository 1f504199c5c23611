// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/flags.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>

namespace irqd {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!text.empty() && text.back() == sep) out.emplace_back();
  return out;
}

Result<double> parse_seconds(std::string_view flag, const std::string& text, double lo, double hi) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(v >= lo) || !(v <= hi))
    return Error{fmt::format("{} '{}' is not valid (accepted: seconds in {}..{})", flag, text, lo, hi)};
  return v;
}

Result<unsigned> parse_uint(std::string_view flag, const std::string& text, unsigned lo, unsigned hi) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    return Error{fmt::format("{} '{}' is not valid (accepted: an integer in {}..{})", flag, text, lo, hi)};
  return v;
}

Result<ReactorVariant> parse_reactor(std::string_view flag, const std::string& name, std::uint64_t busy_ns) {
  if (name == "io_uring") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kReadSqe, 0};
  if (name == "io_uring-poll") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kPollMultishot, 0};
  if (name == "io_uring-busy") return ReactorVariant{name, ReactorKind::kIoUring, UringMethod::kReadSqe, busy_ns};
  if (name == "epoll") return ReactorVariant{name, ReactorKind::kEpoll, UringMethod::kReadSqe, 0};
  if (name == "thread") return ReactorVariant{name, ReactorKind::kThread, UringMethod::kReadSqe, 0};
  return Error{fmt::format("{}: unknown reactor '{}' (accepted: {})", flag, name, kReactorNames)};
}

Result<Handoff> parse_handoff(std::string_view flag, const std::string& text) {
  if (text == "queue") return Handoff::kQueue;
  if (text == "inline") return Handoff::kInline;
  return Error{fmt::format("{} '{}' is not valid (accepted: queue, inline)", flag, text)};
}

Result<FullPolicy> parse_when_full(std::string_view flag, const std::string& text) {
  if (text == "backoff") return FullPolicy::kBackoff;
  if (text == "drop") return FullPolicy::kDrop;
  return Error{fmt::format("{} '{}' is not valid (accepted: backoff, drop)", flag, text)};
}

}  // namespace irqd
