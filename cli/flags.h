// SPDX-License-Identifier: GPL-2.0-only
//
// Flag parsing shared by the front-ends: every error names the flag, the
// value as typed and the accepted form or range. The reactor, hand-off and
// full-policy names are dispatch/'s (dispatch/reactor_names.h), shared with
// the config file.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dispatch/reactor_names.h"

namespace irqd {

// Splits on sep; a trailing separator gives a trailing empty item.
std::vector<std::string> split(const std::string& text, char sep);
Result<double> parse_seconds(std::string_view flag, const std::string& text, double lo, double hi);
Result<unsigned> parse_uint(std::string_view flag, const std::string& text, unsigned lo, unsigned hi);

}  // namespace irqd
