// SPDX-License-Identifier: GPL-2.0-only

#include "host/plugin.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

#include "base/unique_fd.h"
#include "device/vfio_device.h"
#include "irqd/driver.h"

namespace irqd {
namespace {

static_assert(IRQD_IRQ_MSIX == kIrqMsix && IRQD_IRQ_AFFINITY == kIrqAffinity, "flags must match device/binding.h");
static_assert(IRQD_ANY_INDEX == kAnyIndex, "IRQD_ANY_INDEX must match device/vector_domain.h");

constexpr unsigned kMaxBar = 5;             // BAR0..BAR5
constexpr std::size_t kMaxLogLine = 1024;   // longer plugin messages are cut
constexpr std::size_t kMaxDriverName = 32;  // as a config device name

constexpr unsigned kMaxSymlinks = 40;  // as the kernel's path walk (ELOOP past it)
constexpr const char* kAccepted = " (accepted: the path of a .so built against irqd/driver.h)";

// A plugin loaded as "/proc/self/fd/N" and the checked file N is: N stays
// open while the library may be resident. glibc finds a loaded object by
// the name it was loaded (or looked up) as before it looks at the file, so
// if N were closed while the library stays resident (another handle holds
// it, or it cannot be unloaded: C++ code with unique symbols is
// NODELETE), the next plugin opened as fd N would be taken for it.
class DlHandle {
 public:
  // Takes a duplicate N of `file` (the same open file), named
  // "/proc/self/fd/N", held as a plain int: the destructor may have to
  // keep it open for good.
  explicit DlHandle(const UniqueFd& file)
      : fd_(::fcntl(file.get(), F_DUPFD_CLOEXEC, 0)), name_("/proc/self/fd/" + std::to_string(fd_)) {}
  DlHandle(DlHandle&& o) noexcept
      : handle_(std::exchange(o.handle_, nullptr)), fd_(std::exchange(o.fd_, -1)), name_(std::move(o.name_)) {}
  DlHandle& operator=(DlHandle&&) = delete;
  DlHandle(const DlHandle&) = delete;
  DlHandle& operator=(const DlHandle&) = delete;
  ~DlHandle() {
    bool resident = false;
    if (handle_ != nullptr) {
      (void)dlclose(handle_);
      if (void* still = dlopen(name_.c_str(), RTLD_LAZY | RTLD_NOLOAD); still != nullptr) {
        (void)dlclose(still);
        resident = true;
      }
    }
    // Still resident under our name: the fd stays open for the life of the
    // process (one fd per plugin that outlived its driver), so the name
    // goes on meaning this file.
    if (fd_ >= 0 && !resident) ::close(fd_);
  }

  // dlopen(name(), flags); false: dlerror() says why (or errno, if the
  // duplicate failed: fd() < 0).
  bool load(int flags) {
    if (fd_ >= 0) handle_ = dlopen(name_.c_str(), flags);
    return handle_ != nullptr;
  }
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  void* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  void* handle_ = nullptr;
  int fd_ = -1;
  std::string name_;
};

// "-12 (Cannot allocate memory)".
std::string errno_text(int neg) { return std::to_string(neg) + " (" + errno_string(-neg) + ")"; }

std::string dl_error() {
  const char* e = dlerror();  // NOLINT(concurrency-mt-unsafe): glibc keeps dlerror() state per thread
  return e != nullptr ? e : "unknown dlopen error";
}

bool valid_driver_name(const char* name) {
  if (name == nullptr) return false;
  const std::string n(name);
  return !n.empty() && n.size() <= kMaxDriverName && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// One line: control characters (newlines included) become spaces.
std::string one_line(const char* message) {
  std::string s = message != nullptr ? message : "(null)";
  if (s.size() > kMaxLogLine) s.resize(kMaxLogLine);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

class PluginDriver;

// What the plugin sees as struct irqd_host. `host` is the first member of
// a standard-layout struct, so the plugin's irqd_host* converts back.
struct HostBlock {
  irqd_host host;
  PluginDriver* driver;
};
static_assert(std::is_standard_layout_v<HostBlock>);

class PluginDriver final : public Driver {
 public:
  PluginDriver(DlHandle lib, const irqd_driver* desc, std::string path, std::map<std::string, std::string> options,
               PluginLog log)
      : lib_(std::move(lib)),
        desc_(desc),
        name_(desc->name),
        path_(std::move(path)),
        options_(std::move(options)),
        log_(std::move(log)) {
    block_.host.ops = &kOps;
    block_.driver = this;
  }
  PluginDriver(const PluginDriver&) = delete;
  PluginDriver& operator=(const PluginDriver&) = delete;
  ~PluginDriver() override = default;

  const std::string& name() const override { return name_; }
  Status probe(Binding& binding) override;
  void remove(Binding& binding) override;
  void handle(unsigned index, std::uint64_t count, std::uint64_t stamp_ns) override {
    desc_->handle(ctx_, index, count, stamp_ns);
  }

 private:
  static PluginDriver& self(irqd_host* host) { return *reinterpret_cast<HostBlock*>(host)->driver; }
  static const irqd_host_ops kOps;

  // The callbacks, behind kOps.
  int alloc(bool managed, unsigned min, unsigned max, unsigned flags, const irqd_affinity* affd, unsigned* vectors,
            unsigned* nr);
  int alloc_at(unsigned index, unsigned* vector);
  int free_set(int handle);
  int map_bar(unsigned bar, volatile void** addr, std::size_t* size);
  const char* option(const char* key);
  void log(int level, const std::string& message);

  // -err, after logging why (the plugin gets the errno, the user the words).
  int refuse(int err, const std::string& why) {
    log(IRQD_LOG_ERR, why);
    return -err;
  }
  bool may_allocate() const { return in_control_.load(std::memory_order_acquire) && binding_ != nullptr; }
  int outside(const char* what) {
    return refuse(EPERM, std::string(what) + " called outside probe() and remove() (driver " + name_ + ")");
  }
  int add_set(VectorSet owned, VectorSetRef ref);
  void warn_unread_options();

  DlHandle lib_;  // first: unloaded last, after every member that may point into the library
  const irqd_driver* desc_;
  std::string name_;
  std::string path_;
  std::map<std::string, std::string> options_;
  PluginLog log_;
  std::mutex log_mu_;       // serializes log_ (workers may log) and guards last_error_
  std::string last_error_;  // the plugin's last IRQD_LOG_ERR line during probe
  HostBlock block_{};
  std::atomic<bool> in_control_{false};  // inside probe() or remove()
  Binding* binding_ = nullptr;
  std::string device_name_;
  unsigned msix_count_ = 0;
  void* ctx_ = nullptr;
  bool probed_ = false;
  std::set<std::string> read_options_;
  // Every set the plugin was given, by handle; explicit ones owned here as
  // VectorSets (still alive at unbind: this driver's leak). Kept after a
  // free, so a second free is caught by the binding as a double free.
  struct Set {
    VectorSet owned;  // explicit only
    VectorSetRef ref;
  };
  std::map<int, Set> sets_;
  int next_handle_ = 1;
  std::map<unsigned, std::shared_ptr<BarMapping>> bars_;
};

// Called from C: noexcept, so an exception (bad_alloc) terminates here
// instead of unwinding through the plugin's frames.
// NOLINTNEXTLINE(cert-err58-cpp): captureless lambdas to function pointers; the initialization calls nothing.
const irqd_host_ops PluginDriver::kOps = {
    .alloc_vectors = [](irqd_host* h, unsigned min, unsigned max, unsigned flags, const irqd_affinity* affd,
                        unsigned* vectors,
                        unsigned* nr) noexcept { return self(h).alloc(false, min, max, flags, affd, vectors, nr); },
    .alloc_managed_vectors =
        [](irqd_host* h, unsigned min, unsigned max, unsigned flags, const irqd_affinity* affd, unsigned* vectors,
           unsigned* nr) noexcept { return self(h).alloc(true, min, max, flags, affd, vectors, nr); },
    .alloc_vector_at = [](irqd_host* h, unsigned index,
                          unsigned* vector) noexcept { return self(h).alloc_at(index, vector); },
    .free_vectors = [](irqd_host* h, int handle) noexcept { return self(h).free_set(handle); },
    .map_bar = [](irqd_host* h, unsigned bar, volatile void** addr,
                  std::size_t* size) noexcept { return self(h).map_bar(bar, addr, size); },
    .option = [](irqd_host* h, const char* key) noexcept { return self(h).option(key); },
    .log = [](irqd_host* h, int level, const char* message) noexcept { self(h).log(level, one_line(message)); },
    .device_name = [](irqd_host* h) noexcept { return self(h).device_name_.c_str(); },
    .msix_count = [](irqd_host* h) noexcept { return self(h).msix_count_; },
};

Status PluginDriver::probe(Binding& binding) {
  if (probed_)
    return Error{"driver " + name_ + " (" + path_ + ") is bound to " + device_name_ +
                 " already; load the plugin once per device"};
  binding_ = &binding;
  device_name_ = binding.device().name();
  msix_count_ = binding.device().msix_count();
  sets_.clear();  // a previous binding's sets: all freed by its unbind
  bars_.clear();
  read_options_.clear();
  {
    const std::lock_guard lock(log_mu_);
    last_error_.clear();
  }
  void* ctx = nullptr;
  in_control_.store(true, std::memory_order_release);
  const int rc = desc_->probe(&block_.host, &ctx);
  in_control_.store(false, std::memory_order_release);
  if (rc != 0) {
    // The binding releases the managed sets and reports (then frees) the
    // explicit ones still held in sets_: nothing stays allocated.
    binding_ = nullptr;
    std::string why = rc < 0 ? "probe returned " + errno_text(rc)
                             : "probe returned " + std::to_string(rc) + " (accepted: 0 or a negative errno)";
    const std::lock_guard lock(log_mu_);
    if (!last_error_.empty()) why += ": " + last_error_;
    return Error{why};
  }
  ctx_ = ctx;
  probed_ = true;
  warn_unread_options();
  return ok_status();
}

void PluginDriver::remove(Binding& binding) {
  // Every Binding calls remove() at unbind, also one whose probe failed
  // (then there is nothing to remove) or one refused because this plugin
  // is bound elsewhere (not ours to remove).
  if (!probed_ || &binding != binding_) return;
  in_control_.store(true, std::memory_order_release);
  if (desc_->remove != nullptr) desc_->remove(&block_.host, ctx_);
  in_control_.store(false, std::memory_order_release);
  ctx_ = nullptr;
  probed_ = false;
  binding_ = nullptr;
}

void PluginDriver::warn_unread_options() {
  for (const auto& [key, value] : options_)
    if (!read_options_.contains(key))
      log(IRQD_LOG_WARNING, "option '" + key + "' was never read by driver " + name_ + " (misspelt?)");
}

int PluginDriver::add_set(VectorSet owned, VectorSetRef ref) {
  const int handle = next_handle_++;
  sets_.emplace(handle, Set{std::move(owned), std::move(ref)});
  return handle;
}

int PluginDriver::alloc(bool managed, unsigned min, unsigned max, unsigned flags, const irqd_affinity* affd,
                        unsigned* vectors, unsigned* nr) {
  const char* what = managed ? "alloc_managed_vectors" : "alloc_vectors";
  if (!may_allocate()) return outside(what);
  const std::string call = std::string(what) + "(" + std::to_string(min) + ", " + std::to_string(max) + ")";
  if ((flags & IRQD_IRQ_MSIX) == 0 || (flags & ~(IRQD_IRQ_MSIX | IRQD_IRQ_AFFINITY)) != 0)
    return refuse(EINVAL, call + ": flags " + std::to_string(flags) +
                              " not accepted (accepted: IRQD_IRQ_MSIX, optionally | IRQD_IRQ_AFFINITY)");
  if (min == 0 || max < min) return refuse(EINVAL, call + ": not a valid range (accepted: 1 <= min <= max)");
  AffinitySpec spec;
  if (affd != nullptr) {
    const bool any = affd->pre_vectors != 0 || affd->post_vectors != 0 || affd->nr_sets != 0;
    if (any && (flags & IRQD_IRQ_AFFINITY) == 0)
      return refuse(EINVAL, call + ": an affinity description needs IRQD_IRQ_AFFINITY");
    if (affd->nr_sets > IRQD_AFFINITY_MAX_SETS)
      return refuse(EINVAL, call + ": " + std::to_string(affd->nr_sets) + " sets (accepted: 0.." +
                                std::to_string(IRQD_AFFINITY_MAX_SETS) + ")");
    if (affd->pre_vectors + affd->post_vectors > min)
      return refuse(EINVAL, call + ": pre + post vectors exceed min (accepted: pre + post <= min)");
    spec.pre_vectors = affd->pre_vectors;
    spec.post_vectors = affd->post_vectors;
    spec.sets.assign(affd->set_size, affd->set_size + affd->nr_sets);
  }
  if (next_handle_ == INT_MAX) return refuse(ENOSPC, call + ": out of set handles");

  VectorSet owned;
  VectorSetRef ref;
  if (managed) {
    auto r = binding_->alloc_managed_vectors(min, max, flags, spec);
    if (!r) return refuse(ENOSPC, call + ": " + r.error().message);
    ref = *r;
  } else {
    auto r = binding_->alloc_vectors(min, max, flags, spec);
    if (!r) return refuse(ENOSPC, call + ": " + r.error().message);
    ref = r->ref();
    owned = std::move(*r);
  }
  const std::vector<Vector>& got = ref.vectors();
  if (nr != nullptr) *nr = static_cast<unsigned>(got.size());
  if (vectors != nullptr)
    for (std::size_t i = 0; i < got.size(); ++i) vectors[i] = got[i].index;
  return add_set(std::move(owned), std::move(ref));
}

int PluginDriver::alloc_at(unsigned index, unsigned* vector) {
  if (!may_allocate()) return outside("alloc_vector_at");
  const std::string call = "alloc_vector_at(" + std::to_string(index) + ")";
  if (index != IRQD_ANY_INDEX && index >= msix_count_)
    return refuse(EINVAL, call + ": past the MSI-X table of " + device_name_ + " (accepted: 0.." +
                              std::to_string(msix_count_) + "-1, or IRQD_ANY_INDEX)");
  if (index != IRQD_ANY_INDEX && binding_->domain().allocated(index))
    return refuse(EBUSY,
                  call + ": MSI-X entry " + std::to_string(index) + " of " + device_name_ + " is already allocated");
  if (next_handle_ == INT_MAX) return refuse(ENOSPC, call + ": out of set handles");
  auto r = binding_->alloc_vector_at(index);
  if (!r) return refuse(ENOSPC, call + ": " + r.error().message);
  if (vector != nullptr) *vector = r->vectors().front().index;
  VectorSetRef ref = r->ref();
  return add_set(std::move(*r), std::move(ref));
}

int PluginDriver::free_set(int handle) {
  if (!may_allocate()) return outside("free_vectors");
  auto it = sets_.find(handle);
  if (it == sets_.end())
    return refuse(EBADF, "free_vectors(" + std::to_string(handle) + "): no set has this handle (driver " + name_ + ")");
  Set& set = it->second;
  if (set.ref.ownership() == Ownership::kManaged) {
    // Refused and reported by the binding as this driver's problem.
    Status s = binding_->free_vectors(set.ref);
    return refuse(EPERM, s ? "free_vectors: managed set freed" : s.error().message);
  }
  const bool was_live = set.ref.live();
  Status s = set.owned.free();  // a second free: caught and reported by the binding
  if (s) return 0;
  return refuse(was_live ? EIO : EALREADY, s.error().message);
}

int PluginDriver::map_bar(unsigned bar, volatile void** addr, std::size_t* size) {
  if (!may_allocate()) return outside("map_bar");
  const std::string call = "map_bar(" + std::to_string(bar) + ")";
  if (addr == nullptr || size == nullptr) return refuse(EINVAL, call + ": addr and size must not be NULL");
  if (bar > kMaxBar) return refuse(EINVAL, call + ": no such BAR (accepted: 0..5)");
  auto* vfio = dynamic_cast<VfioDevice*>(&binding_->device());
  if (vfio == nullptr) return -ENODEV;  // a software device has no BARs; not an error worth a line
  auto it = bars_.find(bar);
  if (it == bars_.end()) {
    auto m = vfio->map_bar(bar);
    if (!m) return refuse(EIO, call + ": " + m.error().message);
    auto mapping = std::make_shared<BarMapping>(std::move(*m));
    // pcim_iomap(): a managed resource, unmapped by the release list.
    binding_->devres_add("BAR" + std::to_string(bar) + " mapping (driver " + name_ + ")",
                         [mapping] { mapping->reset(); });
    it = bars_.emplace(bar, std::move(mapping)).first;
  }
  *addr = it->second->data();
  *size = it->second->size();
  return 0;
}

const char* PluginDriver::option(const char* key) {
  if (key == nullptr) return nullptr;
  auto it = options_.find(key);
  // Only the control thread records what was read (workers may look too).
  if (in_control_.load(std::memory_order_acquire)) read_options_.insert(key);
  return it == options_.end() ? nullptr : it->second.c_str();
}

void PluginDriver::log(int level, const std::string& message) {
  level = std::clamp(level, 0, IRQD_LOG_DEBUG);
  const std::lock_guard lock(log_mu_);
  if (level <= IRQD_LOG_ERR && in_control_.load(std::memory_order_acquire)) last_error_ = message;
  if (log_) {
    log_(level, message);
    return;
  }
  const std::string line = "irqd: driver " + name_ + ": " + message + "\n";
  (void)std::fputs(line.c_str(), stderr);
}

// "root", "root or uid 1000".
std::string owner_names(const std::vector<uid_t>& owners) {
  std::string out;
  for (std::size_t i = 0; i < owners.size(); ++i) {
    if (i > 0) out += i + 1 == owners.size() ? " or " : ", ";
    out += owners[i] == 0 ? "root" : "uid " + std::to_string(owners[i]);
  }
  return out.empty() ? "nobody" : out;
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  (void)std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// The trust rule (PluginTrust) for one component: `what` is "directory",
// "symbolic link" (its mode bits mean nothing: owner only) or "file".
// Whether `dir` is PluginTrust::unchecked_through or lies above it.
bool unchecked(const std::string& dir, const PluginTrust& trust) {
  const std::string& through = trust.unchecked_through;
  if (through.empty()) return false;
  if (dir == "/" || dir == through) return true;
  return through.size() > dir.size() && through.compare(0, dir.size(), dir) == 0 && through[dir.size()] == '/';
}

Status check_trust(const struct stat& st, const std::string& shown, const char* what, const std::string& where,
                   const PluginTrust& trust) {
  const bool owner_ok = std::find(trust.owners.begin(), trust.owners.end(), st.st_uid) != trust.owners.end();
  const bool link = S_ISLNK(st.st_mode);
  const bool group_w = !link && (st.st_mode & S_IWGRP) != 0;
  const bool other_w = !link && (st.st_mode & S_IWOTH) != 0;
  const bool sticky_dir = other_w && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
  if (owner_ok && !group_w && !other_w) return ok_status();

  std::vector<std::string> why;
  if (!owner_ok) why.push_back("not owned by " + owner_names(trust.owners));
  if (group_w) why.push_back("writable by its group (gid " + std::to_string(st.st_gid) + ")");
  if (sticky_dir)
    why.push_back(
        "writable by anyone (sticky, like /tmp: still refused, as sudo refuses it: anyone may create "
        "or pre-create names in it)");
  else if (other_w)
    why.push_back("writable by anyone");
  std::vector<std::string> fix;
  if (sticky_dir) {
    fix.push_back("move the plugin to a directory only root can write to, e.g. /usr/local/lib/irqd");
  } else {
    if (!owner_ok) fix.push_back("chown root:root " + shown);
    if (group_w || other_w) fix.push_back("chmod go-w " + shown);
  }
  std::string text = where + ": refused: " + what + " " + shown + " (owner uid " + std::to_string(st.st_uid);
  if (!link) text += ", mode " + octal_mode(st.st_mode);
  text += ") is ";
  for (std::size_t i = 0; i < why.size(); ++i) text += (i > 0 ? ", " : "") + why[i];
  text += "; a plugin runs with irqd's privileges, so it and every directory above it must be owned by " +
          owner_names(trust.owners) + " and writable by no one else (fix: ";
  for (std::size_t i = 0; i < fix.size(); ++i) text += (i > 0 ? " && " : "") + fix[i];
  return Error{text + ")"};
}

void split_path(const std::string& path, std::deque<std::string>& out, bool front) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  if (front)
    out.insert(out.begin(), parts.begin(), parts.end());
  else
    out.insert(out.end(), parts.begin(), parts.end());
}

// Opens the plugin for load_plugin(): from / down, one component at a
// time with openat(O_NOFOLLOW), each directory checked before the next is
// opened in it (so no directory can be swapped between its check and its
// use); a symbolic link to a directory is checked (owner) and its target
// walked the same way; the file is opened O_NOFOLLOW and checked last.
Result<UniqueFd> open_trusted(const std::string& path, const std::string& where, const PluginTrust& trust) {
  std::string abs = path;
  if (abs.empty() || abs.front() != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr)
      return Error{where + ": cannot read the current directory to resolve it: " + errno_string(errno)};
    abs = std::string(cwd) + "/" + path;
  }
  std::deque<std::string> todo;
  split_path(abs, todo, false);

  struct Dir {
    UniqueFd fd;
    std::string shown;  // the real path walked so far
  };
  std::vector<Dir> dirs;
  {
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    if (!root.valid() || ::fstat(root.get(), &st) != 0) return Error{where + ": /: " + errno_string(errno)};
    if (!unchecked("/", trust)) {
      if (Status s = check_trust(st, "/", "directory", where, trust); !s) return s.error();
    }
    dirs.push_back({std::move(root), "/"});
  }
  unsigned links = 0;
  while (!todo.empty()) {
    const std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {  // the parent was checked on the way here
      if (dirs.size() > 1) dirs.pop_back();
      continue;
    }
    const Dir& dir = dirs.back();
    const std::string shown = dir.shown == "/" ? "/" + name : dir.shown + "/" + name;
    struct stat st {};
    if (todo.empty()) {
      // The file. O_NONBLOCK: a FIFO put here must not hang the open.
      UniqueFd fd(::openat(dir.fd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
      if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP)
          return Error{where + ": refused: " + shown + " is a symbolic link (opened with O_NOFOLLOW: " +
                       errno_string(err) + "); name the file it points to, so what is checked is what is loaded"};
        return Error{where + ": " + errno_string(err) + kAccepted};
      }
      if (::fstat(fd.get(), &st) != 0) return Error{where + ": fstat: " + errno_string(errno)};
      if (!S_ISREG(st.st_mode))
        return Error{where + ": not a regular file (accepted: a .so built against irqd/driver.h)"};
      if (Status s = check_trust(st, shown, "file", where, trust); !s) return s.error();
      return fd;
    }
    UniqueFd fd(::openat(dir.fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Error{where + ": " + shown + ": " + errno_string(errno) + kAccepted};
    if (::fstat(fd.get(), &st) != 0) return Error{where + ": fstat " + shown + ": " + errno_string(errno)};
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks)
        return Error{where + ": more than " + std::to_string(kMaxSymlinks) + " symbolic links on the way (" +
                     errno_string(ELOOP) + ")"};
      if (Status s = check_trust(st, shown, "symbolic link", where, trust); !s) return s.error();
      char target[PATH_MAX];
      const ssize_t n = ::readlinkat(fd.get(), "", target, sizeof(target));
      if (n < 0 || static_cast<std::size_t>(n) >= sizeof(target))
        return Error{where + ": cannot read the symbolic link " + shown + ": " +
                     errno_string(n < 0 ? errno : ENAMETOOLONG)};
      const std::string to(target, static_cast<std::size_t>(n));
      if (!to.empty() && to.front() == '/') dirs.resize(1);  // from / again (checked already)
      split_path(to, todo, true);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return Error{where + ": " + shown + " is not a directory" + kAccepted};
    if (!unchecked(shown, trust)) {
      if (Status s = check_trust(st, shown, "directory", where, trust); !s) return s.error();
    }
    dirs.push_back({std::move(fd), shown});
  }
  return Error{where + ": not a regular file (accepted: a .so built against irqd/driver.h)"};
}

}  // namespace

PluginTrust PluginTrust::of_this_process() {
  PluginTrust t;
  t.owners.push_back(0);
  if (const uid_t euid = ::geteuid(); euid != 0) t.owners.push_back(euid);
  return t;
}

Result<std::unique_ptr<Driver>> load_plugin(const std::string& path, std::map<std::string, std::string> options,
                                            PluginLog log, PluginTrust trust) {
  const std::string where = "driver plugin " + path;
  auto file = open_trusted(path, where, trust);
  if (!file) return file.error();
  if (trust.before_load) trust.before_load(path);

  (void)dlerror();  // NOLINT(concurrency-mt-unsafe): per thread in glibc
  DlHandle lib(*file);
  if (lib.fd() < 0) return Error{where + ": cannot duplicate its fd: " + errno_string(errno)};
  if (!lib.load(RTLD_NOW | RTLD_LOCAL)) {
    // dlerror() names the file as loaded: say which one that is.
    std::string e = dl_error();
    if (const auto at = e.find(lib.name()); at != std::string::npos) e.replace(at, lib.name().size(), path);
    return Error{where + ": cannot load it: " + e};
  }
  (void)dlerror();  // NOLINT(concurrency-mt-unsafe): per thread in glibc
  void* sym = dlsym(lib.get(), "irqd_driver_descriptor");
  if (sym == nullptr)
    return Error{where + ": exports no irqd_driver_descriptor() (is it an irqd driver? see irqd/driver.h)"};
  using DescriptorFn = const irqd_driver* (*)();
  const irqd_driver* desc = reinterpret_cast<DescriptorFn>(sym)();
  if (desc == nullptr) return Error{where + ": irqd_driver_descriptor() returned NULL"};
  if (desc->abi_version != IRQD_DRIVER_ABI_VERSION)
    return Error{where + " was built for driver ABI version " + std::to_string(desc->abi_version) +
                 ", this irqd speaks version " + std::to_string(IRQD_DRIVER_ABI_VERSION) +
                 " (rebuild it against this irqd's irqd/driver.h)"};
  if (!valid_driver_name(desc->name))
    return Error{where + ": the descriptor's name is not valid (accepted: [a-z0-9_-], 1.." +
                 std::to_string(kMaxDriverName) + " characters)"};
  if (desc->probe == nullptr || desc->handle == nullptr)
    return Error{where + ": driver " + desc->name + " has no " + (desc->probe == nullptr ? "probe" : "handle") +
                 "() (both are required)"};
  return std::unique_ptr<Driver>(new PluginDriver(std::move(lib), desc, path, std::move(options), std::move(log)));
}

}  // namespace irqd
