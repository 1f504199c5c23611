// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/nic_queues.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <system_error>

namespace irqd::kirq {
namespace {

namespace fs = std::filesystem;

// The decimal number that is the whole of text, -1 otherwise.
int whole_number(std::string_view text) {
  if (text.empty() || text.size() > 6) return -1;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The kind word of a "<prefix>-<kind>-<N>" name.
QueueKind kind_of_word(std::string_view word) {
  const std::string w = lower(word);
  if (w == "rx") return QueueKind::kRx;
  if (w == "tx") return QueueKind::kTx;
  if (w == "txrx" || w == "rxtx" || w == "combined" || w == "fp") return QueueKind::kCombined;
  return QueueKind::kNone;
}

NicQueue queue(int index, QueueKind kind) {
  if (index < 0 || kind == QueueKind::kNone) return {};
  return {index, kind};
}

}  // namespace

std::string_view queue_kind_name(QueueKind kind) {
  switch (kind) {
    case QueueKind::kRx: return "rx";
    case QueueKind::kTx: return "tx";
    case QueueKind::kCombined: return "rxtx";
    case QueueKind::kNone: break;
  }
  return "";
}

NicQueue nic_queue_of(std::string_view name) {
  // mlx5 and ena append "@pci:<bdf>".
  name = name.substr(0, name.find('@'));
  if (name.starts_with("virtio")) {
    const std::size_t dash = name.find('-');
    if (dash == std::string_view::npos) return {};
    const std::string_view vq = name.substr(dash + 1);
    if (vq.starts_with("input.")) return queue(whole_number(vq.substr(6)), QueueKind::kRx);
    if (vq.starts_with("output.")) return queue(whole_number(vq.substr(7)), QueueKind::kTx);
    return {};
  }
  if (name.starts_with("mlx5_comp")) return queue(whole_number(name.substr(9)), QueueKind::kCombined);
  if (name.starts_with("ena-comp-")) return queue(whole_number(name.substr(9)), QueueKind::kCombined);
  // <prefix>-<kind>-<N>: ixgbe, igb, bnxt (eth0-TxRx-3), ice and i40e
  // (ice-eth0-TxRx-3) and the drivers that follow them.
  const std::size_t last = name.rfind('-');
  if (last == std::string_view::npos || last == 0) return {};
  const int index = whole_number(name.substr(last + 1));
  const std::size_t before = name.rfind('-', last - 1);
  if (index < 0 || before == std::string_view::npos || before == 0) return {};
  return queue(index, kind_of_word(name.substr(before + 1, last - before - 1)));
}

std::vector<std::string> net_interfaces_of(const KernelRoots& roots, const std::string& bdf) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path function = fs::canonical(roots.sysfs + "/bus/pci/devices/" + bdf, ec);
  if (ec) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(roots.sysfs + "/class/net", ec)) {
    std::error_code ec2;
    const fs::path where = fs::canonical(e.path(), ec2);
    if (ec2) continue;
    // Below the function: .../0000:00:03.0/net/eth0 or .../virtio2/net/eth0.
    auto [f, w] = std::mismatch(function.begin(), function.end(), where.begin(), where.end());
    if (f == function.end() && w != where.end()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string xps_path(const KernelRoots& roots, const std::string& iface, int queue) {
  return roots.sysfs + "/class/net/" + iface + "/queues/tx-" + std::to_string(queue) + "/xps_cpus";
}

std::optional<std::vector<unsigned>> parse_hex_cpumask(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  std::vector<unsigned> cpus;
  unsigned bit = 0;
  std::size_t group_digits = 0;
  const bool grouped = text.find(',') != std::string_view::npos;
  // From the least significant digit up; a group holds 32 bits.
  for (auto it = text.rbegin(); it != text.rend(); ++it) {
    if (*it == ',') {
      if (group_digits == 0 || group_digits > 8) return std::nullopt;
      bit += static_cast<unsigned>(8 - group_digits) * 4;
      group_digits = 0;
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(*it))) return std::nullopt;
    const unsigned char c = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(*it)));
    const unsigned nibble = c <= '9' ? c - '0' : c - 'a' + 10;
    for (unsigned b = 0; b < 4; ++b)
      if ((nibble >> b) & 1U) cpus.push_back(bit + b);
    bit += 4;
    ++group_digits;
    if (bit > 65536) return std::nullopt;
  }
  if (group_digits == 0 || (grouped && group_digits > 8)) return std::nullopt;
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

std::string format_hex_cpumask(const std::vector<unsigned>& cpus) {
  const unsigned top = cpus.empty() ? 0 : *std::max_element(cpus.begin(), cpus.end());
  std::vector<std::uint32_t> groups(top / 32 + 1, 0);
  for (unsigned cpu : cpus) groups[cpu / 32] |= std::uint32_t{1} << (cpu % 32);
  std::string out = fmt::format("{:x}", groups.back());
  for (std::size_t i = groups.size() - 1; i-- > 0;) out += fmt::format(",{:08x}", groups[i]);
  return out;
}

}  // namespace irqd::kirq
