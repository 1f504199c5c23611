// SPDX-License-Identifier: GPL-2.0-only
//
// Replacing a file so that no reader, and no crash, ever sees half of it:
// the text goes to a new temporary file beside it (created with O_EXCL, so a
// link planted under that name is never followed), is synced, and is
// renamed over the target; then the directory is synced so the rename
// survives a power cut. What irqd writes for other processes and for its
// own next start (the final report, the bind state) goes through here.

#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace irqd {

inline Status replace_file(const std::string& path, std::string_view text, mode_t mode = 0644) {
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmp = path + ".XXXXXX";
  // mkostemp: O_CREAT | O_EXCL, mode 0600 until the fchmod below.
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return Error{"cannot create a temporary file beside " + path + ": " + errno_string(errno)};
  auto fail = [&](const std::string& step) {
    const int err = errno;
    (void)::unlink(tmp.c_str());
    return Error{"cannot " + step + ": " + errno_string(err)};
  };
  for (std::string_view rest = text; !rest.empty();) {
    const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write " + tmp);
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fchmod(fd.get(), mode) != 0) return fail("chmod " + tmp);
  if (::fsync(fd.get()) != 0) return fail("sync " + tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename " + tmp + " to " + path);
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) (void)::fsync(d.get());  // best effort: some filesystems refuse
  return ok_status();
}

}  // namespace irqd
