// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/systemd.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

namespace irqd {

Notifier::Notifier() {
  // unset_environment = 0: plugins or helpers spawned later do not get the
  // socket, but irqd itself keeps notifying for its whole life.
  active_ = std::getenv("NOTIFY_SOCKET") != nullptr;  // NOLINT(concurrency-mt-unsafe): read before threads start
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

void Notifier::send(const std::string& state) {
  if (active_) (void)sd_notify(0, state.c_str());
}

void Notifier::ready(const std::string& status) { send("READY=1\nSTATUS=" + status); }

void Notifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::uint64_t usec =
      static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping() { send("STOPPING=1"); }

void Notifier::status(const std::string& status) { send("STATUS=" + status); }

void Notifier::watchdog() { send("WATCHDOG=1"); }

}  // namespace irqd
