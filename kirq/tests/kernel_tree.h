// SPDX-License-Identifier: GPL-2.0-only
//
// A fake /proc + /sys in a temporary directory, copied from a capture in
// kirq/tests/data/ (see capture.sh there): what git cannot keep is put
// back here. Every path listed in the capture's read-only file gets mode
// 0444, as the kernel creates smp_affinity_list of an interrupt whose
// affinity userspace cannot set (a managed one); every other file 0644.
// Removed with everything in it on destruction.

#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace irqd::test {

class KernelTree {
 public:
  // name: a directory of IRQD_TEST_DATA (the test's compile definition).
  explicit KernelTree(const std::string& name) {
    namespace fs = std::filesystem;
    std::string templ = (fs::temp_directory_path() / "irqd-kernel-tree.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    base_ = templ;
    const fs::path source = fs::path(IRQD_TEST_DATA) / name;
    if (!fs::is_directory(source)) throw std::runtime_error("no capture " + source.string());
    fs::copy(source, base_, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(base_)) {
      if (e.is_symlink() || !e.is_regular_file()) continue;
      fs::permissions(e.path(), fs::perms(0644));
    }
    std::ifstream ro(source / "read-only");
    for (std::string line; std::getline(ro, line);)
      if (!line.empty()) fs::permissions(fs::path(base_) / line, fs::perms(0444));
  }
  KernelTree(const KernelTree&) = delete;
  KernelTree& operator=(const KernelTree&) = delete;
  ~KernelTree() {
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
  }

  std::string proc() const { return base_ + "/proc"; }
  std::string sys() const { return base_ + "/sys"; }
  std::string path(const std::string& rel) const { return base_ + "/" + rel; }

  std::string read(const std::string& rel) const {
    std::ifstream f(path(rel));
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  void write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::ofstream(path(rel)) << text;
  }
  // smp_affinity_list of irq, as the kernel prints it.
  std::string affinity(unsigned irq) const { return read("proc/irq/" + std::to_string(irq) + "/smp_affinity_list"); }

 private:
  std::string base_;
};

}  // namespace irqd::test
