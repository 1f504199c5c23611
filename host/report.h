// SPDX-License-Identifier: GPL-2.0-only
//
// The JSON report of hosted devices, as `irqd serve --report` and the final
// report of `irqd run` write it: per device in unbind order, its counts
// (fired, handled, dropped by reason, accounted), latency, vectors, the
// unbind steps in order, leaks and ownership problems; and the running
// totals over every unbind, including those whose reports a long-running
// daemon no longer keeps (HostOptions::report_history).

#pragma once

#include <deque>
#include <string>

#include "base/result.h"
#include "host/host.h"

namespace irqd {

// {"devices":[{"name","backend","driver","reason","fired"|null,"handled",
// "invocations","dropped":{"queue_full","after_drain"},"accounted",
// "refused_msix_off","latency_ns":{"p50","p99","p999","max"},"vectors":[...],
// "unbind":[{"step","detail"}],"leaks":[...],"problems":[...],"errors":[...]}],
// "totals":{"unbinds","listed","not_accounted","handled","dropped",
// "leaked_vectors","problems","errors"}}
// Each ownership problem is listed once: a leak under "leaks" (the driver
// and the vectors it never freed), every other kind (a managed set freed
// by hand, a double free) under "problems". "listed" < "unbinds" says that
// the oldest reports were dropped.
std::string format_host_report(const std::deque<DeviceReport>& reports, const ReportTotals& totals);

// One element of "devices" above (the control socket's unbind answer).
std::string format_device_report(const DeviceReport& report);

// format_host_report() written to path through replace_file(): a reader
// never sees half a report. The error names the path and says why (errno
// text).
Status write_host_report(const std::string& path, const std::deque<DeviceReport>& reports, const ReportTotals& totals);

// The directory a file path goes into: "." for a bare name, "/" for /NAME.
std::string directory_of(const std::string& path);

// Whether a file can be created in dir now: it exists, is a directory, and
// a probe file can be created in it (and is removed). Checked before a run
// whose output goes there, so that a bad path fails at once rather than
// after the run. irqd creates no directories. The error is the reason,
// errno text included.
Status check_output_directory(const std::string& dir);

}  // namespace irqd
