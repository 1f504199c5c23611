// SPDX-License-Identifier: GPL-2.0-only

#include "host/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

#include "device/vfio_device.h"
#include "irqd/driver.h"

namespace irqd {
namespace {

static_assert(IRQD_IRQ_MSIX == kIrqMsix && IRQD_IRQ_AFFINITY == kIrqAffinity, "flags must match device/binding.h");
static_assert(IRQD_ANY_INDEX == kAnyIndex, "IRQD_ANY_INDEX must match device/vector_domain.h");

constexpr unsigned kMaxBar = 5;             // BAR0..BAR5
constexpr std::size_t kMaxLogLine = 1024;   // longer plugin messages are cut
constexpr std::size_t kMaxDriverName = 32;  // as a config device name

struct DlClose {
  void operator()(void* handle) const { (void)dlclose(handle); }
};
using DlHandle = std::unique_ptr<void, DlClose>;

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

}  // namespace

Result<std::unique_ptr<Driver>> load_plugin(const std::string& path, std::map<std::string, std::string> options,
                                            PluginLog log) {
  const std::string where = "driver plugin " + path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error{where + ": " + errno_string(errno) + " (accepted: the path of a .so built against irqd/driver.h)"};
  if (!S_ISREG(st.st_mode)) return Error{where + ": not a regular file (accepted: a .so built against irqd/driver.h)"};
  // A name without a slash would make dlopen() search the library path.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;

  (void)dlerror();  // NOLINT(concurrency-mt-unsafe): per thread in glibc
  DlHandle lib(dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!lib) return Error{where + ": cannot load it: " + dl_error()};
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
