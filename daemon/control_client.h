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
Result<nlohmann::ordered_json> control_call(const std::string& socket, const ControlRequest& request, int timeout_ms);

}  // namespace irqd
