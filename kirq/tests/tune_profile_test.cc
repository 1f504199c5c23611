// SPDX-License-Identifier: GPL-2.0-only
//
// Profiles (saved, loaded, refused, matched to an interface for udev) and
// the irqbalance ban (the banned list and irqbalance's drop-in), on
// temporary directories.

#include "kirq/tune_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kirq/tests/kernel_tree.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using test::KernelTree;
using ::testing::HasSubstr;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "irqd-profile.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

TEST(TuneProfile, SavedAndLoadedAsGiven) {
  TempDir dir;
  const TuneProfile p{"nic-a", "eth1", "0000:00:04.0", "per-core", "0-3", true, false};
  auto path = save_profile(dir.file("tune.d"), p);
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_EQ(*path, dir.file("tune.d/nic-a.json"));
  struct stat st {};
  ASSERT_EQ(::stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0644U);
  EXPECT_EQ(slurp(*path),
            "{\n  \"irqd_tune_profile\": 1,\n  \"device\": \"eth1\",\n  \"pci\": \"0000:00:04.0\",\n  \"planner\": "
            "\"per-core\",\n  \"cpus\": \"0-3\",\n  \"xps\": true,\n  \"ban_from_irqbalance\": false\n}\n");
  auto back = load_profile(dir.file("tune.d"), "nic-a");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, "nic-a");
  EXPECT_EQ(back->device, "eth1");
  EXPECT_EQ(back->pci, "0000:00:04.0");
  EXPECT_EQ(back->planner, "per-core");
  EXPECT_EQ(back->cpus, "0-3");
  EXPECT_TRUE(back->xps);
  EXPECT_FALSE(back->ban_from_irqbalance);
  // Saving again replaces it.
  TuneProfile q = p;
  q.planner = "kernel";
  ASSERT_TRUE(save_profile(dir.file("tune.d"), q));
  EXPECT_EQ(load_profile(dir.file("tune.d"), "nic-a")->planner, "kernel");
}

TEST(TuneProfile, NamesThatAreNotUnitInstancesOrFileNamesAreRefused) {
  for (const char* good : {"a", "nic-0", "eth1.fast", "A_b"}) EXPECT_TRUE(check_profile_name(good)) << good;
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "a/b", "../x", "a b", "nic@1", std::string(65, 'a')}) {
    auto s = check_profile_name(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().message,
              "profile name '" + bad + "' (accepted: 1-64 of A-Z a-z 0-9 _ . -, not starting with '.')");
  }
  TempDir dir;
  EXPECT_FALSE(save_profile(dir.file("d"), TuneProfile{"../evil", "eth0", "", "kernel", "", false, false}));
  EXPECT_FALSE(fs::exists(dir.file("evil.json")));
}

TEST(TuneProfile, MissingAndForeignFilesAreRefusedWithTheReason) {
  TempDir dir;
  auto missing = load_profile(dir.file(""), "nope");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("--profile nope: no such profile ("));
  EXPECT_THAT(missing.error().message, HasSubstr("save one with --save-profile nope)"));
  const std::map<std::string, std::string> cases = {
      {"[]", "p.json is not a profile of irqd tune --save-profile (not a JSON object)"},
      {R"({"device":"eth0"})",
       "p.json is not a profile of irqd tune --save-profile (no \"irqd_tune_profile\" format "
       "number)"},
      {R"({"irqd_tune_profile":2})", "p.json has profile format 2 (accepted: 1)"},
      {R"({"irqd_tune_profile":1,"device":"eth0","pci":"","planner":"kernel"})",
       "p.json is not a profile of irqd tune --save-profile (\"cpus\" is missing or not a string)"},
      {R"({"irqd_tune_profile":1,"device":"eth0","pci":"","planner":"kernel","cpus":"","xps":"yes"})",
       "p.json is not a profile of irqd tune --save-profile (\"xps\" is not true or false)"},
      {R"({"irqd_tune_profile":1,"device":"","pci":"","planner":"kernel","cpus":""})",
       "p.json is not a profile of irqd tune --save-profile (neither \"device\" nor \"pci\" names a device)"},
  };
  for (const auto& [text, message] : cases) {
    auto p = parse_profile(text, "p.json", "p");
    ASSERT_FALSE(p) << text;
    EXPECT_EQ(p.error().message, message) << text;
  }
}

TEST(TuneProfile, UdevFindsTheProfilesOfAnInterfaceByNameOrPciAddress) {
  KernelTree t("vm-virtio");
  const kirq::KernelRoots roots{t.proc(), t.sys()};
  TempDir dir;
  const std::string d = dir.file("tune.d");
  ASSERT_TRUE(save_profile(d, {"by-name", "eth0", "0000:00:03.0", "per-core", "", false, false}));
  ASSERT_TRUE(save_profile(d, {"by-pci", "0000:00:03.0", "0000:00:03.0", "kernel", "", false, false}));
  // Saved when the function had another name: its address still matches.
  ASSERT_TRUE(save_profile(d, {"renamed", "ens3", "0000:00:03.0", "kernel", "", false, false}));
  ASSERT_TRUE(save_profile(d, {"other", "eth9", "0000:00:09.0", "kernel", "", false, false}));
  std::ofstream(d + "/broken.json") << "{";
  std::ofstream(d + "/notes.txt") << "x";
  EXPECT_EQ(profiles_for_interface(d, roots, "eth0"), (std::vector<std::string>{"by-name", "by-pci", "renamed"}));
  EXPECT_EQ(profiles_for_interface(d, roots, "eth9"), (std::vector<std::string>{"other"}));
  EXPECT_EQ(profiles_for_interface(d, roots, "lo"), (std::vector<std::string>{}));
  EXPECT_EQ(profiles_for_interface(dir.file("none"), roots, "eth0"), (std::vector<std::string>{}));
}

class IrqbalanceBanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ban_.banned = dir_.file("etc/irqd/irqbalance-banned");
    ban_.dropin_dir = dir_.file("etc/systemd/system/irqbalance.service.d");
    ban_.units = {dir_.file("etc/irqbalance.service"), dir_.file("lib/irqbalance.service")};
    ban_.policy_script = dir_.file("lib/irqd/irqbalance-policy");
    fs::create_directories(dir_.file("lib/irqd"));
    std::ofstream(ban_.policy_script) << "#!/bin/sh\n";
    std::ofstream(ban_.units[1]) << "[Service]\nEnvironmentFile=-/etc/default/irqbalance\n"
                                    "ExecStart=/usr/sbin/irqbalance --foreground $IRQBALANCE_ARGS\n";
  }
  TempDir dir_;
  IrqbalanceBan ban_;
};

TEST_F(IrqbalanceBanTest, ListsTheFunctionOnceAndRunsIrqbalanceWithThePolicyScript) {
  auto done = ban_from_irqbalance(ban_, "0000:00:04.0");
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_THAT(*done, HasSubstr("0000:00:04.0 added to " + ban_.banned));
  EXPECT_THAT(*done, HasSubstr("systemctl daemon-reload && systemctl restart irqbalance"));
  ASSERT_TRUE(ban_from_irqbalance(ban_, "0000:5e:00.0"));
  auto again = ban_from_irqbalance(ban_, "0000:00:04.0");
  ASSERT_TRUE(again);
  EXPECT_THAT(*again, HasSubstr("0000:00:04.0 is in " + ban_.banned + " already"));
  EXPECT_THAT(*again, HasSubstr("irqd.conf in place already"));
  EXPECT_EQ(slurp(ban_.banned),
            "# PCI functions irqbalance leaves alone (irqd tune --ban-from-irqbalance)\n0000:00:04.0\n0000:5e:00.0\n");
  const std::string dropin = slurp(ban_.dropin_dir + "/irqd.conf");
  EXPECT_THAT(dropin, HasSubstr("\n[Service]\nExecStart=\nExecStart=/usr/sbin/irqbalance --foreground "
                                "$IRQBALANCE_ARGS --policyscript=" +
                                ban_.policy_script + "\n"));
}

// Applied from a profile (irqd-tune@.service: /etc read-only): checked,
// never written; what is missing is said.
TEST_F(IrqbalanceBanTest, WithoutWriteItOnlyChecksThatTheBanIsInPlace) {
  auto missing = ban_from_irqbalance(ban_, "0000:00:04.0", false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "--ban-from-irqbalance: the ban is not in place (0000:00:04.0 is not in " +
                                         ban_.banned +
                                         ") and this run writes nothing there: run irqd tune --device 0000:00:04.0 "
                                         "--planner P --apply --ban-from-irqbalance once");
  EXPECT_FALSE(fs::exists(ban_.banned));
  EXPECT_FALSE(fs::exists(ban_.dropin_dir));
  ASSERT_TRUE(ban_from_irqbalance(ban_, "0000:00:04.0"));
  auto in_place = ban_from_irqbalance(ban_, "0000:00:04.0", false);
  ASSERT_TRUE(in_place) << in_place.error().message;
  EXPECT_THAT(*in_place, HasSubstr("is in " + ban_.banned + " already"));
  std::ofstream(ban_.dropin_dir + "/irqd.conf") << "[Service]\n";  // out of date
  auto stale = ban_from_irqbalance(ban_, "0000:00:04.0", false);
  ASSERT_FALSE(stale);
  EXPECT_THAT(stale.error().message, HasSubstr("irqd.conf is missing or out of date"));
  EXPECT_EQ(slurp(ban_.dropin_dir + "/irqd.conf"), "[Service]\n");
}

TEST_F(IrqbalanceBanTest, AnAdministratorsUnitWinsAndItsOwnPolicyScriptIsNotReplaced) {
  fs::create_directories(dir_.file("etc"));
  std::ofstream(ban_.units[0]) << "[Service]\nExecStart=/usr/sbin/irqbalance --policyscript=/etc/mine\n";
  auto done = ban_from_irqbalance(ban_, "0000:00:04.0");
  ASSERT_FALSE(done);
  EXPECT_THAT(done.error().message, HasSubstr("irqbalance already runs a policy script of its own"));
  EXPECT_FALSE(fs::exists(ban_.banned));
  EXPECT_FALSE(fs::exists(ban_.dropin_dir));
}

TEST_F(IrqbalanceBanTest, NoIrqbalanceOrNoScriptIsSaidAndNothingWritten) {
  IrqbalanceBan none = ban_;
  none.units = {dir_.file("nowhere.service")};
  auto r = ban_from_irqbalance(none, "0000:00:04.0");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--ban-from-irqbalance: irqbalance is not installed (no irqbalance.service)");
  IrqbalanceBan no_script = ban_;
  no_script.policy_script = dir_.file("missing");
  auto s = ban_from_irqbalance(no_script, "0000:00:04.0");
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("is not installed (install irqd's package, or cmake --install)"));
  EXPECT_FALSE(fs::exists(ban_.banned));
  EXPECT_EQ(policy_script_beside("/usr/bin/irqd"), "/usr/lib/irqd/irqbalance-policy");
}

}  // namespace
}  // namespace irqd
