// SPDX-License-Identifier: GPL-2.0-only
//
// The JSON report of hosted devices, as `irqd serve --report` and the final
// report of `irqd run` write it: per device in unbind order, its counts
// (fired, handled, dropped by reason, accounted), latency, vectors, the
// unbind steps in order, leaks and ownership problems.

#pragma once

#include <string>
#include <vector>

#include "host/host.h"

namespace irqd {

// {"devices":[{"name","backend","driver","reason","fired"|null,"handled",
// "invocations","dropped":{"queue_full","after_drain"},"accounted",
// "refused_msix_off","latency_ns":{"p50","p99","p999","max"},"vectors":[...],
// "unbind":[{"step","detail"}],"leaks":[...],"problems":[...],"errors":[...]}]}
std::string format_host_report(const std::vector<DeviceReport>& reports);

}  // namespace irqd
