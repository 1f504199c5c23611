// SPDX-License-Identifier: GPL-2.0-only
//
// reactor.calibration_cache's file: what is stored is found again by its
// key only, other keys are kept, and a file that is not ours is a miss
// that the next store replaces.

#include "daemon/uring_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/tests/temp_dir.h"

namespace irqd {
namespace {

using test::TempDir;

TEST(UringCacheFile, WhatIsStoredIsFoundByItsKeyOnly) {
  TempDir dir;
  const std::string path = dir.file("uring-choice.json");
  std::vector<std::string> warnings;
  UringChoiceCache cache = file_uring_cache(path, [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_FALSE(cache.lookup("k1"));  // no file yet
  cache.store("k1", {UringMethod::kPollMultishot, "measured ...", 450e3});
  cache.store("k2", {UringMethod::kReadSqe, "measured ...", 500e3});
  auto one = cache.lookup("k1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->method, UringMethod::kPollMultishot);
  EXPECT_EQ(one->why, "measured ...");
  EXPECT_EQ(one->read_per_s, 450e3);
  EXPECT_EQ(cache.lookup("k2")->method, UringMethod::kReadSqe);
  EXPECT_FALSE(cache.lookup("k3"));
  const auto root = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(root["irqd_uring_choice"], 2);
  EXPECT_EQ(root["choices"]["k1"]["method"], "poll-multishot");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0644U);
  EXPECT_TRUE(warnings.empty());
}

TEST(UringCacheFile, AFileThatIsNotOursIsAMissAndIsReplaced) {
  TempDir dir;
  const std::string path = dir.file("uring-choice.json");
  UringChoiceCache cache = file_uring_cache(path, nullptr);
  for (const char* text :
       {"not json", R"({"irqd_uring_choice":1,"choices":{"k":{"method":"read-sqe"}}})",
        R"({"irqd_uring_choice":2,"choices":{"k":{"method":"auto","why":"","read_per_s":1}}})",
        R"({"irqd_uring_choice":2,"choices":[]})",
        R"({"irqd_uring_choice":2,"choices":{"k":{"method":"read-sqe","why":""}}})",
        R"({"irqd_uring_choice":2,"choices":{"k":{"method":"read-sqe","why":"","read_per_s":"fast"}}})",
        R"({"irqd_uring_choice":2,"choices":{"k":{"method":"read-sqe","why":"","read_per_s":0}}})",
        R"({"irqd_uring_choice":2,"choices":{"k":{"method":7,"why":"","read_per_s":1}}})"}) {
    std::ofstream(path) << text;
    EXPECT_FALSE(cache.lookup("k")) << text;
  }
  cache.store("k", {UringMethod::kReadSqe, "why", 1e6});
  EXPECT_EQ(cache.lookup("k")->method, UringMethod::kReadSqe);
}

TEST(UringCacheFile, AStoreThatFailsIsReportedNotThrown) {
  TempDir dir;
  std::vector<std::string> warnings;
  UringChoiceCache cache =
      file_uring_cache(dir.file("missing/uring.json"), [&](const std::string& w) { warnings.push_back(w); });
  cache.store("k", {UringMethod::kReadSqe, "why", 1e6});
  ASSERT_EQ(warnings.size(), 1U);
  EXPECT_EQ(warnings[0].rfind("reactor.calibration_cache: cannot keep the io_uring calibration in " +
                                  dir.file("missing/uring.json") + ": ",
                              0),
            0U)
      << warnings[0];
  EXPECT_FALSE(cache.lookup("k"));
}

}  // namespace
}  // namespace irqd
