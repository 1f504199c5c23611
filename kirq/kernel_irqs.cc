// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/kernel_irqs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <map>
#include <system_error>

#include "affinity/cpumask.h"
#include "base/unique_fd.h"
#include "device/pci_sysfs.h"
#include "kirq/nic_queues.h"

namespace irqd::kirq {
namespace {

namespace fs = std::filesystem;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// The next whitespace-separated token of s from pos; pos moves past it.
std::string_view next_token(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
  const std::size_t start = pos;
  while (pos < s.size() && !is_space(s[pos])) ++pos;
  return s.substr(start, pos - start);
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

Error malformed(std::string_view line, std::string_view why) {
  return Error{"malformed /proc/interrupts line '" + std::string(trim(line)) + "': " + std::string(why)};
}

Result<InterruptLine> parse_numbered_line(std::string_view line, unsigned irq, std::size_t pos, std::size_t ncpus) {
  InterruptLine out;
  out.irq = irq;
  std::size_t after = pos;
  for (std::size_t i = 0; i < ncpus; ++i) {
    std::size_t probe = after;
    std::string_view tok = next_token(line, probe);
    std::uint64_t count = 0;
    // A line cut short (a CPU that went offline while it was printed) reads
    // as zero for the missing columns.
    if (tok.empty() || !all_digits(tok)) break;
    if (!parse_number(tok, count)) return malformed(line, "count '" + std::string(tok) + "' out of range");
    out.counts.push_back(count);
    after = probe;
  }
  out.counts.resize(ncpus, 0);
  out.chip = std::string(next_token(line, after));
  std::size_t probe = after;
  std::string_view hw = next_token(line, probe);
  if (!hw.empty() && hw.front() >= '0' && hw.front() <= '9') {
    out.hwirq = std::string(hw);
    after = probe;
    // CONFIG_GENERIC_IRQ_SHOW_LEVEL prints the trigger as its own word.
    std::string_view level = next_token(line, probe);
    if (level == "Level" || level == "Edge") {
      out.hwirq += " " + std::string(level);
      after = probe;
    }
  }
  out.name = std::string(trim(line.substr(after)));
  return out;
}

std::string join_path(const std::string& root, std::string_view rest) { return root + "/" + std::string(rest); }

int read_int_or(const std::string& path, int fallback) {
  const std::string line = read_line(path);
  int v = 0;
  const std::string_view t = trim(line);
  if (!t.empty() && t.front() == '-') {
    if (parse_number(t.substr(1), v)) return -v;
    return fallback;
  }
  return parse_number(t, v) ? v : fallback;
}

// Which PCI function owns which interrupt, and as what.
struct Owner {
  std::vector<std::string> bdfs;
  std::string mode;
};

void add_owner(std::map<unsigned, Owner>& owners, unsigned irq, const std::string& bdf, const std::string& mode) {
  Owner& o = owners[irq];
  o.bdfs.push_back(bdf);
  if (o.mode.empty()) o.mode = mode;
}

// One function's vectors: msi_irqs/N (holding "msi" or "msix"), or, with no
// MSI in use, its INTx line from the irq attribute.
void scan_function(const std::string& sysfs, const std::string& bdf, std::map<unsigned, Owner>& owners) {
  const std::string dir = sysfs + "/bus/pci/devices/" + bdf;
  bool any_msi = false;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir + "/msi_irqs", ec)) {
    unsigned irq = 0;
    const std::string name = e.path().filename().string();
    if (!parse_number(std::string_view(name), irq)) continue;
    std::string mode(trim(read_line(e.path().string())));
    add_owner(owners, irq, bdf, mode.empty() ? "msi" : mode);
    any_msi = true;
  }
  if (any_msi) return;
  const int intx = read_int_or(dir + "/irq", 0);
  if (intx > 0) add_owner(owners, static_cast<unsigned>(intx), bdf, "intx");
}

std::vector<std::string> list_functions(const std::string& sysfs) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(sysfs + "/bus/pci/devices", ec))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void read_irq_files(const std::string& proc, KernelIrq& k) {
  const std::string dir = proc + "/irq/" + std::to_string(k.irq);
  const std::string list = dir + "/smp_affinity_list";
  k.affinity = std::string(trim(read_line(list)));
  struct stat st {};
  // Read-only is how the kernel says userspace cannot set this affinity
  // (register_irq_proc: S_IWUSR only when irq_can_set_affinity_usr()).
  k.managed = ::stat(list.c_str(), &st) == 0 && (st.st_mode & S_IWUSR) == 0;
  const std::string eff = dir + "/effective_affinity_list";
  k.has_effective = ::access(eff.c_str(), F_OK) == 0;
  if (k.has_effective) k.effective = std::string(trim(read_line(eff)));
  k.node = read_int_or(dir + "/node", -1);
  if (auto hint = parse_hex_cpumask(read_line(dir + "/affinity_hint")); hint && !hint->empty())
    k.hint = cpumask_of(hint->back() + 1, *hint).to_list();
}

KernelIrq make_irq(const InterruptLine* line, unsigned irq, std::size_t ncpus) {
  KernelIrq k;
  k.irq = irq;
  if (line != nullptr) {
    k.name = line->name;
    k.chip = line->chip;
    k.hwirq = line->hwirq;
    k.counts = line->counts;
  } else {
    k.counts.assign(ncpus, 0);
  }
  k.queue = parse_queue(k.name);
  k.msi_index = msi_index_of(k.chip, k.hwirq);
  return k;
}

bool is_pci_function(const std::string& sysfs, const std::string& name) {
  auto bdf = pci::parse_bdf(name);
  if (!bdf || *bdf != name) return false;
  std::error_code ec;
  return fs::exists(sysfs + "/bus/pci/devices/" + name, ec);
}

// The interfaces that lead somewhere, for the unknown-device message.
std::string net_interfaces(const std::string& sysfs) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(sysfs + "/class/net", ec)) {
    std::error_code ec2;
    if (fs::exists(e.path() / "device", ec2)) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// The class device directories called name: net first, then the others.
std::vector<fs::path> class_devices(const std::string& sysfs, const std::string& name) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::exists(fs::path(sysfs) / "class/net" / name, ec)) out.push_back(fs::path(sysfs) / "class/net" / name);
  std::vector<fs::path> others;
  for (const fs::directory_entry& cls : fs::directory_iterator(sysfs + "/class", ec)) {
    if (cls.path().filename() == "net") continue;
    std::error_code ec2;
    if (fs::exists(cls.path() / name, ec2)) others.push_back(cls.path() / name);
  }
  std::sort(others.begin(), others.end());
  out.insert(out.end(), others.begin(), others.end());
  return out;
}

// From a device directory up to the PCI function it sits on; the names
// passed on the way go into path.
Result<std::string> walk_to_function(const std::string& sysfs, const fs::path& start, std::vector<std::string>& path) {
  std::error_code ec;
  const fs::path top = fs::canonical(sysfs, ec);
  for (fs::path p = start; !p.empty() && p != top && p != p.root_path(); p = p.parent_path()) {
    const std::string base = p.filename().string();
    if (path.empty() || path.back() != base) path.push_back(base);
    if (is_pci_function(sysfs, base)) return base;
  }
  return Error{"'" + path.front() + "' is not on a PCI device (its device is " + start.string() + ")"};
}

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string dash_if_empty(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

Result<std::string> read_text_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error{"cannot read " + path + ": " + errno_string(errno)};
  std::string out;
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot read " + path + ": " + errno_string(errno)};
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_line(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return "";
  const std::size_t nl = text->find('\n');
  return nl == std::string::npos ? *text : text->substr(0, nl);
}

Result<ProcInterrupts> parse_proc_interrupts(std::string_view text) {
  ProcInterrupts out;
  const std::vector<std::string_view> lines = split_lines(text);
  std::size_t i = 0;
  while (i < lines.size() && trim(lines[i]).empty()) ++i;
  if (i == lines.size()) return Error{"/proc/interrupts is empty"};
  std::size_t pos = 0;
  for (std::string_view tok = next_token(lines[i], pos); !tok.empty(); tok = next_token(lines[i], pos)) {
    unsigned cpu = 0;
    if (tok.substr(0, 3) != "CPU" || !parse_number(tok.substr(3), cpu))
      return Error{"malformed /proc/interrupts header '" + std::string(trim(lines[i])) + "' (expected CPU0 CPU1 ...)"};
    out.cpus.push_back(cpu);
  }
  for (++i; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view label = trim(line.substr(0, colon));
    unsigned irq = 0;
    if (!all_digits(label)) continue;
    if (!parse_number(label, irq)) return malformed(line, "irq number out of range");
    auto parsed = parse_numbered_line(line, irq, colon + 1, out.cpus.size());
    if (!parsed) return parsed.error();
    out.lines.push_back(std::move(*parsed));
  }
  return out;
}

int parse_queue(std::string_view name) {
  name = name.substr(0, name.find('@'));
  // Shared lines list several actions; the first names the line.
  name = trim(name.substr(0, name.find(',')));
  std::size_t digits = name.size();
  while (digits > 0 && name[digits - 1] >= '0' && name[digits - 1] <= '9') --digits;
  if (digits == name.size() || digits == 0) return -1;
  const std::string_view prefix = name.substr(0, digits);
  const char sep = prefix.back();
  const bool separated = sep == '.' || sep == '-' || sep == '_';
  // nvme0q1: a 'q' right after the controller's own number.
  const bool nvme_style =
      sep == 'q' && prefix.size() >= 2 && prefix[prefix.size() - 2] >= '0' && prefix[prefix.size() - 2] <= '9';
  // The word the number belongs to, after the last separator.
  std::string_view word = separated ? prefix.substr(0, prefix.size() - 1) : prefix;
  const std::size_t word_start = word.find_last_of(".-_");
  if (word_start != std::string_view::npos) word = word.substr(word_start + 1);
  std::string lower;
  for (char c : word) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // mlx5_comp3: a queue word glued to its number, after a separator.
  static constexpr std::array<std::string_view, 7> kQueueWords = {"comp", "rx", "tx", "txrx", "queue", "qp", "io"};
  const bool word_style = !separated && word_start != std::string_view::npos &&
                          std::find(kQueueWords.begin(), kQueueWords.end(), lower) != kQueueWords.end();
  if (!separated && !nvme_style && !word_style) return -1;  // eth0, virtio2, ens1f0, ehci_hcd:usb1
  // Control vectors are not queues.
  static constexpr std::array<std::string_view, 12> kControl = {"async",  "config", "ctrl", "cmd",   "admin", "event",
                                                                "events", "misc",   "mbox", "other", "link",  "err"};
  if (std::find(kControl.begin(), kControl.end(), lower) != kControl.end()) return -1;
  int q = 0;
  if (!parse_number(name.substr(digits), q)) return -1;
  return q;
}

int msi_index_of(std::string_view chip, std::string_view hwirq) {
  if (chip.substr(0, 3) == "IR-") chip.remove_prefix(3);
  if (chip.substr(0, 7) != "PCI-MSI") return -1;
  chip.remove_prefix(7);
  if (!chip.empty() && chip.front() == 'X') chip.remove_prefix(1);
  const bool per_device = !chip.empty() && chip.front() == '-';
  if (!chip.empty() && !per_device) return -1;
  std::size_t end = 0;
  while (end < hwirq.size() && hwirq[end] >= '0' && hwirq[end] <= '9') ++end;
  unsigned long hw = 0;
  if (end == 0 || !parse_number(hwirq.substr(0, end), hw)) return -1;
  // The global PCI-MSI domain: hwirq = (pci_dev_id << 11) | index. A
  // per-device domain's hwirq is the index itself, below the 2048 entries
  // an MSI-X table has at most; anything above is no index.
  constexpr unsigned long kIndexMask = 0x7ff;
  if (per_device && hw > kIndexMask) return -1;
  return static_cast<int>(per_device ? hw : (hw & kIndexMask));
}

std::uint64_t KernelIrq::total() const {
  std::uint64_t sum = 0;
  for (std::uint64_t c : counts) sum += c;
  return sum;
}

Result<IrqTable> read_irqs(const KernelRoots& roots, const std::string& only_bdf) {
  auto text = read_text_file(roots.proc + "/interrupts");
  if (!text) return text.error();
  auto parsed = parse_proc_interrupts(*text);
  if (!parsed) return parsed.error();
  std::map<unsigned, Owner> owners;
  if (only_bdf.empty()) {
    for (const std::string& bdf : list_functions(roots.sysfs)) scan_function(roots.sysfs, bdf, owners);
  } else {
    scan_function(roots.sysfs, only_bdf, owners);
  }
  std::map<unsigned, const InterruptLine*> by_irq;
  for (const InterruptLine& l : parsed->lines) by_irq[l.irq] = &l;

  IrqTable table;
  table.cpus = parsed->cpus;
  auto add = [&](unsigned irq, const InterruptLine* line) {
    KernelIrq k = make_irq(line, irq, table.cpus.size());
    if (auto it = owners.find(irq); it != owners.end()) {
      k.bdfs = it->second.bdfs;
      k.mode = it->second.mode;
    }
    read_irq_files(roots.proc, k);
    table.irqs.push_back(std::move(k));
  };
  if (only_bdf.empty()) {
    for (const InterruptLine& l : parsed->lines) add(l.irq, &l);
    return table;
  }
  // A vector allocated but never requested has no /proc/interrupts line;
  // it is still one of the device's vectors.
  for (const auto& [irq, owner] : owners) {
    auto it = by_irq.find(irq);
    add(irq, it == by_irq.end() ? nullptr : it->second);
  }
  const bool indexed =
      std::all_of(table.irqs.begin(), table.irqs.end(), [](const KernelIrq& k) { return k.msi_index >= 0; });
  if (indexed)
    std::stable_sort(table.irqs.begin(), table.irqs.end(),
                     [](const KernelIrq& a, const KernelIrq& b) { return a.msi_index < b.msi_index; });
  return table;
}

Result<KernelDevice> find_device(const KernelRoots& roots, const std::string& name) {
  const std::string& sysfs = roots.sysfs;
  KernelDevice dev;
  dev.name = name;
  std::error_code ec;
  auto bdf = pci::parse_bdf(name);
  if (!bdf && name.find(':') != std::string::npos && std::count(name.begin(), name.end(), ':') == 1)
    bdf = pci::parse_bdf("0000:" + name);
  if (bdf) {
    if (!fs::exists(sysfs + "/bus/pci/devices/" + *bdf, ec))
      return Error{"no PCI function " + *bdf + " in " + sysfs + "/bus/pci/devices (irqd devices lists them)"};
    dev.bdf = *bdf;
    dev.path = {*bdf};
  } else if (name.find(':') != std::string::npos) {
    return Error{bdf.error().message};
  } else {
    fs::path start;
    for (const fs::path& cls : class_devices(sysfs, name)) {
      if (!fs::exists(cls / "device", ec))
        return Error{"'" + name + "' is a virtual device (no " + (cls / "device").string() +
                     "): it has no interrupts of its own"};
      start = fs::canonical(cls / "device", ec);
      if (!ec) break;
    }
    if (start.empty() && fs::exists(sysfs + "/bus/virtio/devices/" + name, ec))
      start = fs::canonical(sysfs + "/bus/virtio/devices/" + name, ec);
    if (start.empty())
      return Error{"no device '" + name + "' (accepted: a network interface (here: " + net_interfaces(sysfs) +
                   "), a class device such as nvme0 or vda, a virtio device such as virtio2, or a PCI address "
                   "DDDD:BB:DD.F)"};
    dev.path = {name};
    auto fn = walk_to_function(sysfs, start, dev.path);
    if (!fn) return fn.error();
    dev.bdf = *fn;
  }
  const std::string dir = sysfs + "/bus/pci/devices/" + dev.bdf;
  if (fs::path drv = fs::read_symlink(dir + "/driver", ec); !ec) dev.driver = drv.filename().string();
  dev.class_code = std::string(trim(read_line(dir + "/class")));
  dev.numa_node = read_int_or(dir + "/numa_node", -1);
  dev.local_cpulist = std::string(trim(read_line(dir + "/local_cpulist")));
  return dev;
}

std::vector<pid_t> find_processes(const std::string& proc_root, std::string_view comm) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(proc_root, ec)) {
    const std::string name = e.path().filename().string();
    pid_t pid = 0;
    if (!all_digits(name) || !parse_number(std::string_view(name), pid)) continue;
    if (trim(read_line(join_path(proc_root, name + "/comm"))) == comm) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string read_boot_id(const KernelRoots& roots) {
  return std::string(trim(read_line(roots.proc + "/sys/kernel/random/boot_id")));
}

std::string describe_device(const KernelDevice& dev) {
  return joined(dev.path, " -> ") + " (" + (dev.driver.empty() ? "no driver" : dev.driver) + ", class " +
         dash_if_empty(dev.class_code) + ", NUMA node " + std::to_string(dev.numa_node) + ", local CPUs " +
         dash_if_empty(dev.local_cpulist) + ")";
}

}  // namespace irqd::kirq
