// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd ctl`: the client of irqd run's control socket. Sends one request,
// reads one response, and prints the result readably (objects as aligned
// "key: value" lines, arrays of objects as tables) or, with --json, as the
// daemon sent it. Exit 0 on success, 1 when the daemon cannot be reached
// or answers with an error, 2 on a usage error (main.cc).
//
// Timeouts say what became of the request (daemon/control_client.h): the
// daemon either starts it within 5 s and it runs to completion, or cancels
// it and answers "cancelled: ... (it did not run)"; only a daemon that said
// neither leaves it "not known whether it ran".

#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "daemon/control.h"
#include "daemon/control_client.h"

namespace irqd {

inline constexpr std::string_view kCtlUsage =
    "irqd ctl [--socket PATH] [--json] status|stats [DEVICE]|plan [DEVICE]|move DEVICE VECTOR CPU|unbind DEVICE|"
    "bind DEVICE|reload";

struct CtlFlags {
  std::string socket{kDefaultControlSocket};
  bool json = false;
  std::vector<std::string> args;  // the command and its arguments
};

struct CtlOptions {
  std::string socket;
  bool json = false;
  ControlRequest request;
  // How long to wait for the daemon to accept and to answer (a reload
  // rebinds devices, which takes a while); the request itself must start
  // within the smaller of this and 5 s or the daemon cancels it.
  int timeout_ms = 60000;
};

Result<CtlOptions> parse_ctl_options(const CtlFlags& flags);

// Runs the request; the result on out, an error as one line on err.
int run_ctl(const CtlOptions& options, std::ostream& out, std::ostream& err);

// The readable form of a result. stats and plan in the daemon's shape (a
// list of devices, each with its vectors): a table of the devices (stats:
// counts and latency as P50, P99, MAX columns), then each device's vectors
// as a table. Anything else generically: a confirmation line for the
// commands that change something, then scalars as aligned "key: value"
// lines, nested objects indented under their key, arrays of objects as
// tables with a header row (a row holding a table of its own as a block).
std::string format_ctl_result(const ControlRequest& request, const nlohmann::ordered_json& result);

}  // namespace irqd
