// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd run --config FILE`: the long-running host. It binds the configured
// devices and serves them until SIGTERM/SIGINT (every device through the
// full unbind sequence, a final JSON report, exit 0). SIGHUP or the
// `reload` command re-reads the file: an invalid file keeps the running
// configuration; changed devices are rebound, unchanged ones keep running.
// It serves the control socket (daemon/control.h), Prometheus metrics
// (daemon/metrics.h), and talks to systemd (daemon/systemd.h).

#pragma once

#include <functional>
#include <iosfwd>
#include <string>

#include "config/config.h"
#include "daemon/control.h"

namespace irqd {

class Host;

struct DaemonOptions {
  std::string config;     // default /etc/irqd/irqd.toml
  std::string log_level;  // overrides the file's log_level when given
};

// Returns the exit status: 0 after a clean stop, 2 when the configuration
// cannot be used (errors on err, one per line, FILE:LINE:COLUMN first).
int run_daemon(const DaemonOptions& flags, std::ostream& err);

// The parsers config/ checks device values with (firing pattern, vector
// choice: device/'s), for every reader of a config file: the daemon, its
// reload and `irqd config check` accept exactly the same files.
ValueSyntax config_value_syntax();

// Whether SIGTERM or SIGINT is pending: sent, blocked (as in every irqd
// thread), and not yet read from the signalfd. Does not consume it.
bool stop_signal_pending();

// Hands a control request to the host's control thread (Host::post). There
// it runs through `answer` to completion, unless a stop signal is pending by
// then: the signal wins over every request not yet started, which is
// cancelled (its client told "irqd is stopping"; `log` gets a line) and
// never runs. A job the host never gets to (it stopped) is cancelled when
// the host drops it.
void post_control_job(Host& host, ControlJob job, ControlHandler answer,
                      std::function<void(const std::string&)> log = {});

}  // namespace irqd
