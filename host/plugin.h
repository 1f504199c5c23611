// SPDX-License-Identifier: GPL-2.0-only
//
// Driver plugins: a shared object built against include/irqd/driver.h (the
// C ABI), loaded with dlopen() and wrapped in an irqd::Driver, so the
// Binding treats it exactly as a built-in driver: its explicit sets are
// VectorSets held by the adapter (one never freed is that driver's leak at
// unbind), its managed sets go on the binding's release list, and a failed
// probe leaves nothing allocated.

#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/result.h"
#include "device/binding.h"

namespace irqd {

// Where a plugin's log() lines go: the level (IRQD_LOG_*, the syslog
// priorities) and the message, one line, as the plugin wrote it (the caller
// prefixes the driver and device). The adapter also logs the reason of
// each refused host callback through it, at IRQD_LOG_ERR or _WARNING.
// Calls are serialized by the adapter; they may come from worker threads.
using PluginLog = std::function<void(int level, const std::string& message)>;

// dlopen(path, RTLD_NOW | RTLD_LOCAL), looks up irqd_driver_descriptor(),
// checks its ABI version against IRQD_DRIVER_ABI_VERSION and returns the
// adapter. `options` are the driver's configured options (the plugin reads
// them with option()). No log sink: lines go to stderr as
// "irqd: driver NAME: message".
//
// The library stays loaded until the returned driver is destroyed, which
// must happen after the Binding it was given to is unbound (the Binding
// holds a reference to it anyway). One Binding at a time: probe() again
// only after the previous binding was unbound.
//
// Errors (one line, naming the file): missing file, not a shared object
// (dlerror()'s text), no descriptor symbol, a NULL or incomplete
// descriptor, an ABI version mismatch (both versions named).
Result<std::unique_ptr<Driver>> load_plugin(const std::string& path, std::map<std::string, std::string> options,
                                            PluginLog log = {});

}  // namespace irqd
