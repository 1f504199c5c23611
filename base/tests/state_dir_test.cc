// SPDX-License-Identifier: GPL-2.0-only
//
// ensure_state_dir(): creates 0755 whatever the umask; refuses a link, a
// file, a directory writable by others or owned by another user.

#include "base/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/tests/temp_dir.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777U : 0U;
}

TEST(StateDir, CreatesEveryMissingComponent0755WhateverTheUmask) {
  TempDir base;
  const std::string dir = base.path() + "/run/irqd/bound";
  const mode_t old = ::umask(077);
  const Status s = ensure_state_dir(dir);
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(mode_of(base.path() + "/run"), 0755U);
  EXPECT_EQ(mode_of(base.path() + "/run/irqd"), 0755U);
  EXPECT_EQ(mode_of(dir), 0755U);
  EXPECT_TRUE(ensure_state_dir(dir).ok()) << "an existing good directory is used as it is";
}

TEST(StateDir, RefusesALinkAFileAndADirectoryOthersMayWrite) {
  TempDir base;
  fs::create_directory(base.path() + "/elsewhere");
  fs::create_directory_symlink(base.path() + "/elsewhere", base.path() + "/link");
  EXPECT_EQ(ensure_state_dir(base.path() + "/link").error().message,
            base.path() + "/link is a symbolic link: a state directory must be a real directory");
  std::ofstream(base.path() + "/file") << "x";
  EXPECT_EQ(ensure_state_dir(base.path() + "/file").error().message, base.path() + "/file is not a directory");
  fs::create_directory(base.path() + "/open");
  ASSERT_EQ(::chmod((base.path() + "/open").c_str(), 01777), 0);
  EXPECT_EQ(ensure_state_dir(base.path() + "/open").error().message,
            base.path() +
                "/open has mode 1777: writable by group or others, who could choose what is read back from "
                "it (chmod 0755 it)");
}

TEST(StateDir, RefusesADirectoryOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  TempDir base;
  const std::string dir = base.path() + "/theirs";
  fs::create_directory(dir);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_EQ(ensure_state_dir(dir).error().message,
            dir +
                " belongs to uid 65534, not 0: another user could choose what is read back from it (remove it, or "
                "chown it)");
}

}  // namespace
}  // namespace irqd
