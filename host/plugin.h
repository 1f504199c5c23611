// SPDX-License-Identifier: GPL-2.0-only
//
// Driver plugins: a shared object built against include/irqd/driver.h (the
// C ABI), loaded with dlopen() and wrapped in an irqd::Driver, so the
// Binding treats it exactly as a built-in driver: its explicit sets are
// VectorSets held by the adapter (one never freed is that driver's leak at
// unbind), its managed sets go on the binding's release list, and a failed
// probe leaves nothing allocated.

#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "device/binding.h"

namespace irqd {

// Where a plugin's log() lines go: the level (IRQD_LOG_*, the syslog
// priorities) and the message, one line, as the plugin wrote it (the caller
// prefixes the driver and device). The adapter also logs the reason of
// each refused host callback through it, at IRQD_LOG_ERR or _WARNING.
// Calls are serialized by the adapter; they may come from worker threads.
using PluginLog = std::function<void(int level, const std::string& message)>;

// Who may own a plugin and the directories above it. A plugin runs with
// irqd's privileges (as root: everything), so whoever can write the file,
// or any directory on the way to it, can run code as root; this is the
// check sudo and systemd make of what they run.
//
// Rule, for the file and every directory from / down to it (symbolic links
// to directories are followed, and the link and its target are checked
// too; the file itself must not be a link):
//   - owned by one of `owners`;
//   - not writable by group or others. A world-writable directory with the
//     sticky bit (/tmp) is refused as well: anyone may create the name
//     before the owner does (sudo refuses these too).
// ACLs are not read: a grant by ACL on top of go-w mode bits is not seen.
struct PluginTrust {
  // The uids accepted as owners. of_this_process(): root alone when irqd
  // runs as root (euid 0); root or the effective uid when it does not (a
  // user's own `irqd serve`, the tests: a user's plugin runs with nothing
  // more than that user's rights, but another user's plugin would run as
  // this one).
  std::vector<uid_t> owners;
  // Tests only: called with the path after the file was opened and checked
  // and before it is loaded, to show that what is loaded is the file that
  // was checked (replacing the path here changes nothing).
  std::function<void(const std::string& path)> before_load;
  // Tests only: the directories on the way down to this one, it included,
  // are walked but not checked (a test build tree may lie under /tmp, which
  // is rightly refused). Empty, as in production: every directory from /
  // is checked.
  std::string unchecked_through;

  static PluginTrust of_this_process();
};

// Opens the plugin (O_NOFOLLOW, walking the path from / one component at a
// time, each directory opened O_NOFOLLOW and checked as in PluginTrust),
// then dlopen("/proc/self/fd/N", RTLD_NOW | RTLD_LOCAL) of that open file:
// no rename or symlink swap between the check and the load changes what is
// loaded. Not covered: the libraries the plugin needs (DT_NEEDED), which
// the dynamic linker finds on its own search path (root-owned system
// directories, unless LD_LIBRARY_PATH or the plugin's RUNPATH say
// otherwise). Needs /proc mounted.
//
// Then looks up irqd_driver_descriptor(), checks its ABI version against
// IRQD_DRIVER_ABI_VERSION and returns the adapter. `options` are the
// driver's configured options (the plugin reads them with option()). No
// log sink: lines go to stderr as "irqd: driver NAME: message".
//
// The library stays loaded until the returned driver is destroyed, which
// must happen after the Binding it was given to is unbound (the Binding
// holds a reference to it anyway). One Binding at a time: probe() again
// only after the previous binding was unbound.
//
// Errors (one line, naming the file): missing file or directory (named),
// a symbolic link (ELOOP), not a regular file, an owner or mode the trust
// rule refuses (the component, its owner and mode, and the chown/chmod
// that fixes it), not a shared object (dlerror()'s text), no descriptor
// symbol, a NULL or incomplete descriptor, an ABI version mismatch (both
// versions named).
Result<std::unique_ptr<Driver>> load_plugin(const std::string& path, std::map<std::string, std::string> options,
                                            PluginLog log = {}, PluginTrust trust = PluginTrust::of_this_process());

}  // namespace irqd
