// SPDX-License-Identifier: GPL-2.0-only
//
// The client side of the control socket (daemon/control.h): one request,
// one response, with a timeout on connect, send and read, and errors that
// say what to do (no socket: is irqd run running? EACCES: the [control]
// group). `irqd ctl` and `irqd top` use it.

#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "daemon/control.h"

namespace irqd {

// One request over the socket at `socket`: the daemon's result, or the
// one-line reason there is none (the daemon's own error message, or why it
// could not be asked).
//
// The request goes with "start_within_ms" (the caller's, else the smaller
// of timeout_ms and 5 s), so the daemon either says {"started":true} and
// later answers, or cancels it by then and answers that it did not run. On
// timeout_ms the error says which: "started ... it runs to completion", or
// the daemon's "cancelled: ... (it did not run)"; only a daemon that said
// neither within start_within_ms + 2 s gets "not known whether it ran".
Result<nlohmann::ordered_json> control_call(const std::string& socket, const ControlRequest& request, int timeout_ms);

}  // namespace irqd
