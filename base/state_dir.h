// SPDX-License-Identifier: GPL-2.0-only
//
// A directory root keeps state in (/run/irqd/bound, /run/irqd/tune): made
// with mode 0755 whatever the umask, and, when it is already there, used
// only if it is a real directory (not a link), owned by this process's
// user, and writable by nobody else. Otherwise another user who could
// create or replace it would choose what root reads back (the driver
// `irqd unbind` restores, the masks `irqd tune --restore` writes).

#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "base/result.h"

namespace irqd {

inline Status ensure_state_dir(const std::string& dir) {
  if (dir.empty()) return Error{"an empty state directory name"};
  // Each missing component, from the top: mkdir applies the umask, so the
  // mode is set again.
  for (std::string::size_type at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    const std::string part = at == std::string::npos ? dir : dir.substr(0, at);
    if (::mkdir(part.c_str(), 0755) == 0) {
      if (::chmod(part.c_str(), 0755) != 0) return Error{"cannot chmod 0755 " + part + ": " + errno_string(errno)};
    } else if (errno != EEXIST) {
      return Error{"cannot create " + part + ": " + errno_string(errno)};
    }
    if (at == std::string::npos) break;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return Error{"cannot stat " + dir + ": " + errno_string(errno)};
  if (S_ISLNK(st.st_mode)) return Error{dir + " is a symbolic link: a state directory must be a real directory"};
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  if (st.st_uid != ::geteuid())
    return Error{dir + " belongs to uid " + std::to_string(st.st_uid) + ", not " + std::to_string(::geteuid()) +
                 ": another user could choose what is read back from it (remove it, or chown it)"};
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777U);
    return Error{dir + " has mode " + mode + ": writable by group or others, who could choose what is read back " +
                 "from it (chmod 0755 it)"};
  }
  return ok_status();
}

}  // namespace irqd
