// SPDX-License-Identifier: GPL-2.0-only
//
// For the fuzz harnesses of readers that take a root directory (PCI sysfs,
// /proc/irq, /proc/interrupts as read_irqs() reads them): one fuzz input
// becomes a small fake /sys or /proc tree, in a directory of its own under
// $TMPDIR (or /dev/shm when it is writable), emptied and rebuilt for every
// input. The input is a list of sections, each starting with a header line:
//
//   @@ PATH              a file; the lines up to the next header its text
//   @@ ro PATH           the same, mode 0444 (the kernel's read-only files)
//   @@ link PATH TARGET  a symbolic link; TARGET is "../" repeated, then
//                        names, and stays in the tree (sysfs's links)
//   @@ dir PATH          an empty directory
//   @@ arg               not a file: text the harness reads (a device name)
//
// PATH is relative, its first component one of the roots the harness
// allows ("proc", "sys"), the others made of [A-Za-z0-9_.:@+,-] and not
// "." or ".."; a section whose header does not follow these rules, or whose
// PATH or TARGET leads out of the tree through the links made before it, is
// ignored, so that no input reads or writes outside the tree.

#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace irqd::fuzz {

class FakeTree {
 public:
  explicit FakeTree(std::initializer_list<std::string_view> roots) : roots_(roots) {
    std::string base = "/tmp";
    if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0')
      base = tmp;
    else if (::access("/dev/shm", W_OK) == 0)
      base = "/dev/shm";
    std::string templ = base + "/irqd-fuzz-tree.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = templ;
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;
  ~FakeTree() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& dir() const { return dir_; }
  std::string path(std::string_view rel) const { return dir_ + "/" + std::string(rel); }
  // The text of the last "@@ arg" section ("" when none).
  const std::string& arg() const { return arg_; }

  // Empties the tree and builds the one the input describes.
  void build(std::string_view input) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (std::string_view root : roots_) fs::remove_all(path(root), ec);
    for (std::string_view root : roots_) fs::create_directories(path(root), ec);
    arg_.clear();
    std::size_t sections = 0;
    while (!input.empty() && sections < kMaxSections) {
      const std::size_t at = input.find("@@ ");
      if (at == std::string_view::npos) break;
      input.remove_prefix(at + 3);
      const std::size_t eol = input.find('\n');
      const std::string_view header = input.substr(0, eol);
      input.remove_prefix(eol == std::string_view::npos ? input.size() : eol + 1);
      const std::size_t next = input.find("\n@@ ");
      const std::string_view text = input.substr(0, next == std::string_view::npos ? input.size() : next + 1);
      input.remove_prefix(text.size());
      ++sections;
      apply(header, text);
    }
  }

 private:
  static constexpr std::size_t kMaxSections = 128;
  static constexpr std::size_t kMaxDepth = 12;

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '@' || c == '+' || c == ',' || c == '-';
  }

  bool valid_path(std::string_view p) const {
    std::size_t depth = 0;
    bool first = true;
    while (true) {
      const std::size_t slash = p.find('/');
      const std::string_view part = p.substr(0, slash);
      if (part.empty() || part == "." || part == ".." || part.size() > 64) return false;
      for (char c : part)
        if (!name_char(c)) return false;
      if (first) {
        bool known = false;
        for (std::string_view r : roots_) known = known || part == r;
        if (!known) return false;
        first = false;
      }
      if (++depth > kMaxDepth) return false;
      if (slash == std::string_view::npos) return true;
      p.remove_prefix(slash + 1);
    }
  }

  // Whether p, with every link on the way resolved, lies in the tree.
  bool inside(const std::filesystem::path& p) const {
    std::error_code ec;
    const std::string real = std::filesystem::weakly_canonical(p, ec).string();
    return !ec && real.starts_with(dir_ + "/");
  }

  // "../" as often as needed, then names, as sysfs's links are: resolved
  // from the real folder of the link, which never moves, such a target stays
  // in the tree whatever links are made after it.
  static bool valid_target(std::string_view target) {
    if (target.empty() || target.size() > 512) return false;
    bool names = false;  // past the leading ".."s
    while (true) {
      const std::size_t slash = target.find('/');
      const std::string_view part = target.substr(0, slash);
      if (part == ".." && !names) {
        // another step up
      } else if (part.empty() || part == "." || part == "..") {
        return false;
      } else {
        names = true;
        for (char c : part)
          if (!name_char(c)) return false;
      }
      if (slash == std::string_view::npos) return true;
      target.remove_prefix(slash + 1);
    }
  }

  void apply(std::string_view header, std::string_view text) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (header == "arg") {
      arg_ = std::string(text.substr(0, text.ends_with('\n') ? text.size() - 1 : text.size()));
      return;
    }
    std::string_view kind;
    for (std::string_view k : {"ro ", "link ", "dir "})
      if (header.starts_with(k)) kind = k;
    header.remove_prefix(kind.size());
    std::string_view target;
    if (kind == "link ") {
      const std::size_t space = header.find(' ');
      if (space == std::string_view::npos) return;
      target = header.substr(space + 1);
      header = header.substr(0, space);
      if (!valid_target(target)) return;
    }
    if (!valid_path(header)) return;
    const std::string p = path(header);
    // Links already made may lead elsewhere: what is made, and where a new
    // link points, must still be in the tree once they are followed.
    if (!inside(p)) return;
    if (kind == "link " && !inside(fs::path(p).parent_path() / std::string(target))) return;
    fs::create_directories(fs::path(p).parent_path(), ec);
    if (kind == "dir ") {
      fs::create_directories(p, ec);
    } else if (kind == "link ") {
      fs::create_symlink(std::string(target), p, ec);
    } else {
      FILE* f = std::fopen(p.c_str(), "w");
      if (f == nullptr) return;
      (void)std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
      ::chmod(p.c_str(), kind == "ro " ? 0444 : 0644);
    }
  }

  std::vector<std::string_view> roots_;
  std::string dir_;
  std::string arg_;
};

}  // namespace irqd::fuzz
