// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: one request line of the control socket, as the server
// hands it to parse_control_request() (the line without its newline, at
// most kControlMaxRequest bytes). Beyond "no crash": an accepted request
// written back in its wire form (control_request_line(), what `irqd ctl`
// sends) parses to the same request, and the response line the server
// would send for it, ok or error, is one line of JSON that parses.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "daemon/control.h"

namespace {

void check_response(const std::string& line) {
  if (line.find('\n') != std::string::npos) std::abort();
  if (!nlohmann::json::accept(line)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > irqd::kControlMaxRequest) return 0;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  if (line.find('\n') != std::string_view::npos) return 0;  // the server splits lines first
  auto request = irqd::parse_control_request(line);
  if (!request) {
    check_response(irqd::control_error_line(request.error().message));
    return 0;
  }
  const std::string wire = irqd::control_request_line(*request);
  auto again = irqd::parse_control_request(wire);
  if (!again || again->cmd != request->cmd || again->device != request->device || again->vector != request->vector ||
      again->cpu != request->cpu)
    std::abort();
  check_response(irqd::control_ok_line(nlohmann::ordered_json{{"device", request->device}}));
  return 0;
}
