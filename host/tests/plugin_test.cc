// SPDX-License-Identifier: GPL-2.0-only
//
// Driver plugins through a real Binding on a software device: the example
// plugins (count: managed, spread, counted; leaky: explicit, never freed,
// reported at unbind), every load error (missing file, not a shared object,
// no descriptor, NULL or incomplete descriptor, ABI mismatch), a probe that
// fails after allocating (nothing stays allocated), the ownership misuse a
// plugin can attempt through the ops table, the library's lifetime, and
// the trust check before loading (owner and mode of the file and every
// directory above it, no symbolic link as the file, the checked file is
// the one loaded).

#include "host/plugin.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device/binding.h"
#include "device/software_device.h"
#include "irqd/driver.h"

namespace irqd {
namespace {

struct Line {
  int level;
  std::string message;
  bool operator==(const Line&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Line& l) { return os << l.level << " " << l.message; }

std::vector<unsigned> indices(const std::vector<Vector>& v) {
  std::vector<unsigned> out;
  out.reserve(v.size());
  for (const Vector& x : v) out.push_back(x.index);
  return out;
}

std::vector<std::string> messages(const std::vector<Line>& lines) {
  std::vector<std::string> out;
  out.reserve(lines.size());
  for (const Line& l : lines) out.push_back(l.message);
  return out;
}

bool library_loaded(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  (void)dlclose(h);
  return true;
}

// The build tree is trusted from its top down: above it (a CI clone under
// /tmp, say) nothing the tests control. Everything below is checked.
PluginTrust test_trust() {
  PluginTrust t = PluginTrust::of_this_process();
  t.unchecked_through = IRQD_TEST_BUILD_ROOT;
  return t;
}

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = Topology::load("synthetic:pack:1 core:4 pu:1");
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = std::make_unique<Topology>(std::move(*t));
  }

  std::unique_ptr<Driver> load(const char* path, std::map<std::string, std::string> options = {}) {
    auto d = load_plugin(
        path, std::move(options),
        [this](int level, const std::string& m) {
          lines_.push_back({level, m});
        },
        test_trust());
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() ? std::move(*d) : nullptr;
  }

  std::string load_error(const std::string& path) {
    auto d = load_plugin(
        path, {},
        [this](int level, const std::string& m) {
          lines_.push_back({level, m});
        },
        test_trust());
    EXPECT_FALSE(d.ok());
    return d.ok() ? "" : d.error().message;
  }

  std::unique_ptr<Binding> bind(Driver& driver, unsigned nvectors = 8, std::string name = "soft0") {
    SoftwareDevice::Options o;
    o.nvectors = nvectors;
    o.self_armed = false;
    o.name = std::move(name);
    auto dev = SoftwareDevice::create(o);
    EXPECT_TRUE(dev.ok());
    return std::make_unique<Binding>(std::move(*dev), driver, *topo_);
  }

  std::unique_ptr<Topology> topo_;
  std::vector<Line> lines_;
};

TEST_F(PluginTest, CountSpreadsManagedVectorsCountsAndIsReleasedAtUnbind) {
  auto driver = load(IRQD_PLUGIN_COUNT);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->name(), "count");
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());

  // Spreading caps the 8 entries at one per CPU: 4 managed vectors, one CPU each.
  const std::vector<Vector> live = b->live_vectors();
  ASSERT_EQ(indices(live), (std::vector<unsigned>{0, 1, 2, 3}));
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(live[i].ownership, Ownership::kManaged);
    EXPECT_TRUE(live[i].affinity_managed);
    EXPECT_EQ(live[i].serving_cpu, static_cast<int>(i));
    EXPECT_EQ(live[i].cpus.weight(), 1u);
    EXPECT_TRUE(live[i].cpus.test_cpu(i));
  }
  EXPECT_EQ(lines_, (std::vector<Line>{{IRQD_LOG_INFO, "4 managed vectors, spread"}}));

  driver->handle(0, 5, 0);
  driver->handle(3, 2, 100);
  driver->handle(3, 1, 200);
  driver->handle(99, 7, 0);  // not an entry of the table: ignored by the plugin
  lines_.clear();

  const UnbindReport& r = b->unbind("command", {});
  EXPECT_EQ(r.driver, "count");
  EXPECT_EQ(r.managed_sets_released, 1u);
  EXPECT_TRUE(r.leaks.empty());
  EXPECT_TRUE(r.problems.empty());
  EXPECT_TRUE(r.errors.empty());
  ASSERT_GE(r.steps.size(), 4u);
  EXPECT_EQ(r.steps[2].step, UnbindStep::kRemove);
  EXPECT_EQ(r.steps[3].step, UnbindStep::kRelease);
  EXPECT_EQ(r.steps[3].detail, "managed vectors 0-3");
  EXPECT_EQ(b->domain().allocated_count(), 0u);
  EXPECT_EQ(lines_, (std::vector<Line>{{IRQD_LOG_DEBUG, "vector 0: 5 interrupts"},
                                       {IRQD_LOG_DEBUG, "vector 3: 3 interrupts"},
                                       {IRQD_LOG_INFO, "8 interrupts on 4 vectors"}}));
}

TEST_F(PluginTest, CountReadsItsOptions) {
  auto driver = load(IRQD_PLUGIN_COUNT, {{"max_vectors", "2"}, {"pre_vectors", "1"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  const std::vector<Vector> live = b->live_vectors();
  ASSERT_EQ(indices(live), (std::vector<unsigned>{0, 1}));
  EXPECT_FALSE(live[0].affinity_managed);  // the pre vector: default affinity
  EXPECT_EQ(live[0].cpus.weight(), 4u);
  EXPECT_TRUE(live[1].affinity_managed);
  EXPECT_EQ(live[0].ownership, Ownership::kManaged);
  // Every option was read: no warning.
  EXPECT_EQ(lines_, (std::vector<Line>{{IRQD_LOG_INFO, "2 managed vectors, spread"}}));
}

TEST_F(PluginTest, CountRefusesABadOptionAndAllocatesNothing) {
  auto driver = load(IRQD_PLUGIN_COUNT, {{"max_vectors", "lots"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  Status s = b->probe();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "driver count probe of soft0 failed: probe returned -22 (Invalid argument): "
            "option max_vectors = \"lots\" is not valid (accepted: 0..8)");
  EXPECT_EQ(b->domain().allocated_count(), 0u);
}

TEST_F(PluginTest, LeakyLeakIsReportedAtUnbindWithTheDriverAndTheVectors) {
  auto driver = load(IRQD_PLUGIN_LEAKY);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->name(), "leaky");
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  const std::vector<Vector> live = b->live_vectors();
  ASSERT_EQ(indices(live), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (const Vector& v : live) EXPECT_EQ(v.ownership, Ownership::kExplicit);
  driver->handle(2, 4, 0);
  driver->handle(6, 1, 0);

  const UnbindReport& r = b->unbind("command", {});
  ASSERT_EQ(r.leaks.size(), 1u);
  EXPECT_EQ(r.leaks[0].kind, OwnershipProblem::Kind::kLeak);
  EXPECT_EQ(r.leaks[0].driver, "leaky");
  EXPECT_EQ(r.leaks[0].indices, (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(r.leaks[0].message,
            "driver leaky leaked explicit vectors 0-7 of soft0 (alloc_vectors, never freed): freed at unbind");
  EXPECT_EQ(r.managed_sets_released, 0u);
  EXPECT_EQ(b->domain().allocated_count(), 0u);
  EXPECT_EQ(lines_, (std::vector<Line>{{IRQD_LOG_INFO, "8 explicit vectors, never freed: unbind reports the leak"},
                                       {IRQD_LOG_INFO, "5 interrupts"}}));
}

TEST_F(PluginTest, LeakyHonoursMaxVectors) {
  auto driver = load(IRQD_PLUGIN_LEAKY, {{"max_vectors", "3"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  const UnbindReport& r = b->unbind("SIGTERM", {});
  ASSERT_EQ(r.leaks.size(), 1u);
  EXPECT_EQ(r.leaks[0].indices, (std::vector<unsigned>{0, 1, 2}));
}

TEST_F(PluginTest, AbiMismatchNamesBothVersionsAndTheFile) {
  const std::string path = IRQD_TEST_PLUGIN_BAD_ABI;
  EXPECT_EQ(load_error(path), "driver plugin " + path + " was built for driver ABI version " +
                                  std::to_string(IRQD_DRIVER_ABI_VERSION + 1) + ", this irqd speaks version " +
                                  std::to_string(IRQD_DRIVER_ABI_VERSION) +
                                  " (rebuild it against this irqd's irqd/driver.h)");
  EXPECT_FALSE(library_loaded(IRQD_TEST_PLUGIN_BAD_ABI));  // unloaded again
}

TEST_F(PluginTest, MissingFile) {
  EXPECT_EQ(load_error("/nonexistent/driver.so"),
            "driver plugin /nonexistent/driver.so: /nonexistent: No such file or directory (accepted: the path of a "
            ".so built against irqd/driver.h)");
  const std::string missing = std::string(IRQD_PLUGIN_TEST_DIR) + "/no_such_plugin.so";
  EXPECT_EQ(load_error(missing), "driver plugin " + missing +
                                     ": No such file or directory (accepted: the path of a .so built against "
                                     "irqd/driver.h)");
}

TEST_F(PluginTest, NotASharedObjectGivesDlerrorText) {
  // In the build tree: /tmp (TempDir()) is refused before dlopen() is tried.
  const std::string path = std::string(IRQD_PLUGIN_TEST_DIR) + "/plugin_test_not_elf.so";
  {
    std::ofstream out(path);
    out << "this is a text file pretending to be a driver plugin; dlopen() must refuse it politely\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  // dlerror() names the file as loaded (/proc/self/fd/N): the message names the path instead.
  EXPECT_EQ(load_error(path), "driver plugin " + path + ": cannot load it: " + path + ": invalid ELF header");
  (void)std::remove(path.c_str());

  EXPECT_EQ(load_error(::testing::TempDir()), "driver plugin " + ::testing::TempDir() +
                                                  ": not a regular file (accepted: a .so built against "
                                                  "irqd/driver.h)");
}

TEST_F(PluginTest, DescriptorErrors) {
  const std::string none = IRQD_TEST_PLUGIN_NO_DESCRIPTOR;
  EXPECT_EQ(load_error(none), "driver plugin " + none +
                                  ": exports no irqd_driver_descriptor() (is it an irqd driver? see irqd/driver.h)");
  const std::string null = IRQD_TEST_PLUGIN_NULL_DESCRIPTOR;
  EXPECT_EQ(load_error(null), "driver plugin " + null + ": irqd_driver_descriptor() returned NULL");
  const std::string no_handle = IRQD_TEST_PLUGIN_NO_HANDLE;
  EXPECT_EQ(load_error(no_handle),
            "driver plugin " + no_handle + ": driver script has no handle() (both are required)");
}

TEST_F(PluginTest, ProbeFailingAfterAllocatingLeavesNothingAllocated) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "alloc:2,managed:3,fail:-12"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  Status s = b->probe();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "driver script probe of soft0 failed: probe returned -12 (Cannot allocate memory): failing on purpose "
            "with -12");
  EXPECT_EQ(b->domain().allocated_count(), 0u);
  EXPECT_TRUE(b->live_vectors().empty());
  // The explicit set it left behind is its leak; the managed one was released.
  ASSERT_EQ(b->problems().size(), 1u);
  EXPECT_EQ(b->problems()[0].kind, OwnershipProblem::Kind::kLeak);
  EXPECT_EQ(b->problems()[0].driver, "script");
  EXPECT_EQ(b->problems()[0].indices, (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(messages(lines_),
            (std::vector<std::string>{"alloc:2 -> 1 (0 1)", "managed:3 -> 2 (2 3 4)", "failing on purpose with -12"}));
  // remove() is not called after a failed probe, and unbind still works.
  lines_.clear();
  const UnbindReport& r = b->unbind("destroyed", {});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(lines_.empty());
}

TEST_F(PluginTest, ProbeReturningAPositiveValueIsAFailure) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "fail:5"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  Status s = b->probe();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "driver script probe of soft0 failed: probe returned 5 (accepted: 0 or a negative errno): failing on "
            "purpose with 5");
}

TEST_F(PluginTest, MapBarOnASoftwareDeviceIsENODEV) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "bar:0,bar:6"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  EXPECT_EQ(lines_, (std::vector<Line>{{IRQD_LOG_INFO, "bar:0 -> -19"},
                                       {IRQD_LOG_ERR, "map_bar(6): no such BAR (accepted: 0..5)"},
                                       {IRQD_LOG_INFO, "bar:6 -> -22"}}));
}

TEST_F(PluginTest, OwnershipMisuseIsRefusedWithAnErrnoAndReported) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT,
                     {{"do", "managed:2,free:1,alloc:2,free:2,free:2,free:7,badflags,at:6,at:6,at:any"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  const std::string freed_managed =
      "freeing managed vectors 0-1 of soft0 by driver script refused: alloc_managed_vectors() sets are freed by "
      "the binding at unbind";
  EXPECT_EQ(messages(lines_),
            (std::vector<std::string>{
                "managed:2 -> 1 (0 1)",
                freed_managed,
                "free:1 -> -1",
                "alloc:2 -> 2 (2 3)",
                "free:2 -> 0",
                "double free caught: explicit vectors 2-3 of soft0 by driver script were already freed; ignored",
                "free:2 -> -114",
                "free_vectors(7): no set has this handle (driver script)",
                "free:7 -> -9",
                "alloc_vectors(1, 1): flags 0 not accepted (accepted: IRQD_IRQ_MSIX, optionally | IRQD_IRQ_AFFINITY)",
                "badflags -> -22",
                "at:6 -> 3 (6)",
                "alloc_vector_at(6): MSI-X entry 6 of soft0 is already allocated",
                "at:6 -> -16",
                "at:any -> 4 (2)",
            }));
  ASSERT_EQ(b->problems().size(), 2u);
  EXPECT_EQ(b->problems()[0].kind, OwnershipProblem::Kind::kFreedManaged);
  EXPECT_EQ(b->problems()[0].indices, (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(b->problems()[1].kind, OwnershipProblem::Kind::kDoubleFree);
  EXPECT_EQ(b->problems()[1].indices, (std::vector<unsigned>{2, 3}));

  // The managed set is released once; the two single vectors never freed
  // are this driver's leaks.
  const UnbindReport& r = b->unbind("command", {});
  EXPECT_EQ(r.managed_sets_released, 1u);
  ASSERT_EQ(r.leaks.size(), 2u);
  EXPECT_EQ(r.leaks[0].indices, (std::vector<unsigned>{6}));
  EXPECT_EQ(r.leaks[1].indices, (std::vector<unsigned>{2}));
  EXPECT_EQ(r.problems.size(), 4u);
  EXPECT_EQ(b->domain().allocated_count(), 0u);
}

TEST_F(PluginTest, RemoveMayFreeItsExplicitSets) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "alloc:3"}, {"undo", "free:1"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  const UnbindReport& r = b->unbind("command", {});
  EXPECT_TRUE(r.leaks.empty());
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(messages(lines_), (std::vector<std::string>{"alloc:3 -> 1 (0 1 2)", "free:1 -> 0"}));
  EXPECT_EQ(b->domain().allocated_count(), 0u);
}

TEST_F(PluginTest, OptionsDeviceInfoAndUnreadOptions) {
  auto driver =
      load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "opt:color,opt:shape,name"}, {"color", "blue"}, {"colour", "red"}});
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver, 16, "nic0");
  ASSERT_TRUE(b->probe().ok());
  EXPECT_EQ(lines_, (std::vector<Line>{
                        {IRQD_LOG_INFO, "opt:color -> blue"},
                        {IRQD_LOG_INFO, "opt:shape -> (unset)"},
                        {IRQD_LOG_INFO, "name -> nic0 16"},
                        {IRQD_LOG_WARNING, "option 'colour' was never read by driver script (misspelt?)"},
                    }));
}

TEST_F(PluginTest, HandleMayNotAllocate) {
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT);
  ASSERT_NE(driver, nullptr);
  auto b = bind(*driver);
  ASSERT_TRUE(b->probe().ok());
  driver->handle(0, 1, 0);
  (void)b->unbind("command", {});
  EXPECT_EQ(lines_, (std::vector<Line>{
                        {IRQD_LOG_ERR, "alloc_vectors called outside probe() and remove() (driver script)"},
                        {IRQD_LOG_INFO, "handle alloc -> -1"},
                    }));
  EXPECT_EQ(b->domain().allocated_count(), 0u);
}

TEST_F(PluginTest, OneBindingAtATime) {
  auto driver = load(IRQD_PLUGIN_COUNT);
  ASSERT_NE(driver, nullptr);
  auto first = bind(*driver, 8, "soft0");
  ASSERT_TRUE(first->probe().ok());
  auto second = bind(*driver, 8, "soft1");
  Status s = second->probe();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, std::string("driver count probe of soft1 failed: driver count (") + IRQD_PLUGIN_COUNT +
                                   ") is bound to soft0 already; load the plugin once per device");
  // The refused binding's unbind does not remove the first one's driver.
  lines_.clear();
  (void)second->unbind("command", {});
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(first->live_vectors().size(), 4u);
  (void)first->unbind("command", {});
  EXPECT_EQ(messages(lines_), (std::vector<std::string>{"0 interrupts on 4 vectors"}));

  // Unbound: the same driver may probe a new device.
  auto third = bind(*driver, 2, "soft2");
  ASSERT_TRUE(third->probe().ok());
  EXPECT_EQ(third->live_vectors().size(), 2u);
}

TEST_F(PluginTest, TheLibraryStaysLoadedUntilTheDriverIsDestroyed) {
  // The script plugin, not loaded by anything else in this test.
  auto driver = load(IRQD_TEST_PLUGIN_SCRIPT, {{"do", "alloc:1"}});
  ASSERT_NE(driver, nullptr);
  {
    auto b = bind(*driver);
    ASSERT_TRUE(b->probe().ok());
    (void)b->unbind("command", {});
    EXPECT_TRUE(library_loaded(IRQD_TEST_PLUGIN_SCRIPT));
  }
  EXPECT_TRUE(library_loaded(IRQD_TEST_PLUGIN_SCRIPT));
  driver.reset();
  EXPECT_FALSE(library_loaded(IRQD_TEST_PLUGIN_SCRIPT));
}

// The trust check: a scratch directory in the build tree (root or this
// user's, 0755 on the way down), plugins copied into it, then modes,
// owners and links changed one at a time.
class PluginTrustTest : public PluginTest {
 protected:
  void SetUp() override {
    PluginTest::SetUp();
    std::string templ = std::string(IRQD_PLUGIN_TEST_DIR) + "/plugin_trust.XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << templ;
    dir_ = templ;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A copy of `from` as `to` (mode 0755, owned by whoever runs the test).
  static void copy(const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
    ASSERT_EQ(::chmod(to.c_str(), 0755), 0);
  }
  std::string subdir(const std::string& name, mode_t mode) {
    const std::string d = dir_ + "/" + name;
    EXPECT_EQ(::mkdir(d.c_str(), 0700), 0) << d;
    EXPECT_EQ(::chmod(d.c_str(), mode), 0) << d;  // chmod: the umask does not apply
    return d;
  }
  static gid_t gid_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_gid;
  }
  // PluginTrust::of_this_process()'s owners, as the messages name them.
  static std::string owners() { return ::geteuid() == 0 ? "root" : "root or uid " + std::to_string(::geteuid()); }
  static std::string rule() {
    return "; a plugin runs with irqd's privileges, so it and every directory above it must be owned by " + owners() +
           " and writable by no one else";
  }
  std::string trust_error(const std::string& path, PluginTrust trust) {
    trust.unchecked_through = IRQD_TEST_BUILD_ROOT;
    auto d = load_plugin(path, {}, {}, std::move(trust));
    EXPECT_FALSE(d.ok());
    return d.ok() ? "" : d.error().message;
  }

  std::string dir_;
};

TEST_F(PluginTrustTest, AGoodFileLoads) {
  const std::string path = dir_ + "/count.so";
  copy(IRQD_PLUGIN_COUNT, path);
  auto driver = load(path.c_str());
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->name(), "count");
}

TEST_F(PluginTrustTest, AGroupOrWorldWritableDirectoryOrFileIsRefused) {
  const std::string g = subdir("group", 0775);
  copy(IRQD_PLUGIN_COUNT, g + "/count.so");
  EXPECT_EQ(load_error(g + "/count.so"), "driver plugin " + g + "/count.so: refused: directory " + g + " (owner uid " +
                                             std::to_string(::geteuid()) +
                                             ", mode 0775) is writable by its group (gid " + std::to_string(gid_of(g)) +
                                             ")" + rule() + " (fix: chmod go-w " + g + ")");

  const std::string o = subdir("other", 0757);
  copy(IRQD_PLUGIN_COUNT, o + "/count.so");
  EXPECT_EQ(load_error(o + "/count.so"), "driver plugin " + o + "/count.so: refused: directory " + o + " (owner uid " +
                                             std::to_string(::geteuid()) + ", mode 0757) is writable by anyone" +
                                             rule() + " (fix: chmod go-w " + o + ")");

  const std::string f = dir_ + "/count.so";
  copy(IRQD_PLUGIN_COUNT, f);
  ASSERT_EQ(::chmod(f.c_str(), 0666), 0);
  EXPECT_EQ(load_error(f), "driver plugin " + f + ": refused: file " + f + " (owner uid " +
                               std::to_string(::geteuid()) + ", mode 0666) is writable by its group (gid " +
                               std::to_string(gid_of(f)) + "), writable by anyone" + rule() + " (fix: chmod go-w " + f +
                               ")");
  ASSERT_EQ(::chmod(f.c_str(), 0755), 0);
  EXPECT_NE(load(f.c_str()), nullptr);  // the fix works
}

TEST_F(PluginTrustTest, AStickyWorldWritableDirectoryLikeTmpIsRefused) {
  const std::string t = subdir("tmp", 01777);
  copy(IRQD_PLUGIN_COUNT, t + "/count.so");
  EXPECT_EQ(load_error(t + "/count.so"),
            "driver plugin " + t + "/count.so: refused: directory " + t + " (owner uid " + std::to_string(::geteuid()) +
                ", mode 1777) is writable by its group (gid " + std::to_string(gid_of(t)) +
                "), writable by anyone (sticky, like /tmp: still refused, as sudo refuses it: anyone "
                "may create or pre-create names in it)" +
                rule() + " (fix: move the plugin to a directory only root can write to, e.g. /usr/local/lib/irqd)");
}

TEST_F(PluginTrustTest, ASymlinkedPluginFileIsRefused) {
  copy(IRQD_PLUGIN_COUNT, dir_ + "/count.so");
  const std::string link = dir_ + "/link.so";
  ASSERT_EQ(::symlink("count.so", link.c_str()), 0);
  EXPECT_EQ(load_error(link), "driver plugin " + link + ": refused: " + link +
                                  " is a symbolic link (opened with O_NOFOLLOW: Too many levels of symbolic links); "
                                  "name the file it points to, so what is checked is what is loaded");
}

TEST_F(PluginTrustTest, ASymlinkedDirectoryIsFollowedAndItsTargetChecked) {
  const std::string real = subdir("real", 0755);
  copy(IRQD_PLUGIN_COUNT, real + "/count.so");
  ASSERT_EQ(::symlink("real", (dir_ + "/alias").c_str()), 0);
  auto driver = load((dir_ + "/alias/count.so").c_str());
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(driver->name(), "count");

  // The target is checked under its own name, also through an absolute link and "..".
  const std::string open = subdir("open", 0777);
  copy(IRQD_PLUGIN_COUNT, open + "/count.so");
  ASSERT_EQ(::symlink((real + "/../open").c_str(), (dir_ + "/alias2").c_str()), 0);
  EXPECT_EQ(load_error(dir_ + "/alias2/count.so"),
            "driver plugin " + dir_ + "/alias2/count.so: refused: directory " + open + " (owner uid " +
                std::to_string(::geteuid()) + ", mode 0777) is writable by its group (gid " +
                std::to_string(gid_of(open)) + "), writable by anyone" + rule() + " (fix: chmod go-w " + open + ")");
}

TEST_F(PluginTrustTest, AFileOwnedByAnotherUidIsRefused) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to chown a file to uid 65534; OwnerRuleIsInjected checks the owner rule as any user";
  const std::string f = dir_ + "/count.so";
  copy(IRQD_PLUGIN_COUNT, f);
  ASSERT_EQ(::chown(f.c_str(), 65534, 65534), 0);
  EXPECT_EQ(load_error(f), "driver plugin " + f + ": refused: file " + f +
                               " (owner uid 65534, mode 0755) is not owned by root" + rule() +
                               " (fix: chown root:root " + f + ")");
  // A directory too.
  const std::string d = subdir("nobody", 0755);
  copy(IRQD_PLUGIN_COUNT, d + "/count.so");
  ASSERT_EQ(::chown(d.c_str(), 65534, 65534), 0);
  EXPECT_EQ(load_error(d + "/count.so"), "driver plugin " + d + "/count.so: refused: directory " + d +
                                             " (owner uid 65534, mode 0755) is not owned by root" + rule() +
                                             " (fix: chown root:root " + d + ")");
}

TEST_F(PluginTrustTest, OwnerRuleIsInjected) {
  // Trusting one uid that owns nothing on the way: / is the first refused.
  const uid_t stranger = ::geteuid() == 12345 ? 12346 : 12345;
  struct stat root {};
  ASSERT_EQ(::stat("/", &root), 0);
  ASSERT_EQ(root.st_mode & 022, 0u) << "/ itself is group- or world-writable here";
  const std::string f = dir_ + "/count.so";
  copy(IRQD_PLUGIN_COUNT, f);
  PluginTrust trust;
  trust.owners = {stranger};
  char mode[8];
  (void)std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(root.st_mode & 07777));
  // Checked from / (no unchecked_through): / is refused before anything
  // the build tree's place could change.
  auto refused = load_plugin(f, {}, {}, trust);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "driver plugin " + f + ": refused: directory / (owner uid " + std::to_string(root.st_uid) + ", mode " +
                mode + ") is not owned by uid " + std::to_string(stranger) +
                "; a plugin runs with irqd's privileges, so it and every directory above it "
                "must be owned by uid " +
                std::to_string(stranger) + " and writable by no one else (fix: chown root:root /)");

  // Trusting only root when not root: our own file is another user's.
  if (::geteuid() != 0) {
    trust.owners = {0};
    EXPECT_NE(trust_error(f, trust).find("is not owned by root"), std::string::npos);
  }
  const std::vector<uid_t> expected = ::geteuid() == 0 ? std::vector<uid_t>{0} : std::vector<uid_t>{0, ::geteuid()};
  EXPECT_EQ(PluginTrust::of_this_process().owners, expected);
}

TEST_F(PluginTrustTest, TheCheckedFileIsTheOneLoaded) {
  const std::string path = dir_ + "/driver.so";
  copy(IRQD_PLUGIN_COUNT, path);
  PluginTrust trust = test_trust();
  int swaps = 0;
  // Between the check and dlopen(): the path now names another plugin.
  trust.before_load = [&](const std::string& p) {
    ++swaps;
    ASSERT_EQ(p, path);
    ASSERT_EQ(::rename(path.c_str(), (dir_ + "/old.so").c_str()), 0);
    copy(IRQD_PLUGIN_LEAKY, path);
  };
  auto driver = load_plugin(path, {}, {}, trust);
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  EXPECT_EQ(swaps, 1);
  EXPECT_EQ((*driver)->name(), "count");  // the checked file, not what the path names now
  auto now = load(path.c_str());
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->name(), "leaky");
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(PluginTrustTest, TheFileIsOpenWhileLoadedAndClosedAfter) {
  const std::string path = dir_ + "/count.so";
  copy(IRQD_PLUGIN_COUNT, path);
  const std::size_t before = open_fds();
  auto driver = load(path.c_str());
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(open_fds(), before + 1);  // "/proc/self/fd/N" must go on naming this file
  driver.reset();
  EXPECT_EQ(open_fds(), before);
  EXPECT_FALSE(library_loaded(path.c_str()));
  // Refused or failed loads leave nothing open either.
  (void)load_error(dir_ + "/missing.so");
  (void)load_error(IRQD_TEST_PLUGIN_BAD_ABI);
  EXPECT_EQ(open_fds(), before);
}

}  // namespace
}  // namespace irqd
