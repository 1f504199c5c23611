// SPDX-License-Identifier: GPL-2.0-only
//
// sd_notify(3) for `irqd run` under a Type=notify unit: READY, RELOADING
// (with MONOTONIC_USEC, as systemd 253 asks of Type=notify-reload),
// STOPPING, STATUS and the watchdog. Outside systemd (no $NOTIFY_SOCKET)
// every call does nothing.

#pragma once

#include <cstdint>
#include <string>

namespace irqd {

class Notifier {
 public:
  Notifier();
  bool active() const { return active_; }
  void ready(const std::string& status);
  void reloading();
  void stopping();
  void status(const std::string& status);
  // The watchdog interval systemd asked for (WatchdogSec=), 0 if none.
  std::uint64_t watchdog_usec() const { return watchdog_usec_; }
  void watchdog();

 private:
  void send(const std::string& state);
  bool active_ = false;
  std::uint64_t watchdog_usec_ = 0;
};

}  // namespace irqd
