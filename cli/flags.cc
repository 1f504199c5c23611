// SPDX-License-Identifier: GPL-2.0-only

#include "cli/flags.h"

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

}  // namespace irqd
