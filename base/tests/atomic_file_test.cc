// SPDX-License-Identifier: GPL-2.0-only
//
// replace_file(): the whole text or the old file, never a part; no
// temporary left behind; a link at the target is replaced, never written
// through.

#include "base/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "base/tests/temp_dir.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::TempDir;

std::size_t entries(const std::string& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(ReplaceFile, WritesTheWholeTextWithTheModeAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("report.json");
  ASSERT_TRUE(replace_file(path, "first\n", 0640).ok());
  EXPECT_EQ(slurp(path), "first\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0640U);
  ASSERT_TRUE(replace_file(path, "second, longer\n").ok());
  EXPECT_EQ(slurp(path), "second, longer\n");
  EXPECT_EQ(entries(dir.path()), 1U);
}

TEST(ReplaceFile, ALinkAtTheTargetIsReplacedNotFollowed) {
  TempDir dir;
  const std::string victim = dir.file("victim");
  const std::string path = dir.file("state");
  { std::ofstream(victim) << "precious\n"; }
  fs::create_symlink(victim, path);
  ASSERT_TRUE(replace_file(path, "driver=virtio-pci\n").ok());
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_FALSE(fs::is_symlink(path));
  EXPECT_EQ(slurp(path), "driver=virtio-pci\n");
}

TEST(ReplaceFile, AMissingDirectoryIsAnErrorThatNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/report.json");
  Status s = replace_file(path, "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "cannot create a temporary file beside " + path + ": No such file or directory");
  EXPECT_EQ(entries(dir.path()), 0U);
}

}  // namespace
}  // namespace irqd
