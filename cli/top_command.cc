// SPDX-License-Identifier: GPL-2.0-only

#include "cli/top_command.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <ctime>
#include <limits>
#include <map>
#include <ostream>
#include <tuple>

#include "base/unique_fd.h"
#include "cli/ctl_command.h"
#include "cli/irqs_command.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

constexpr double kMinInterval = 0.1;
constexpr double kMaxInterval = 60;

std::string accepted() { return fmt::format(" (accepted: {}; see irqd top --help)", kTopUsage); }

Result<double> parse_interval(const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !(value >= kMinInterval && value <= kMaxInterval))
    return Error{fmt::format("--interval '{}' is not a number of seconds {}..{}{}", text, kMinInterval, kMaxInterval,
                             accepted())};
  return value;
}

Result<unsigned> parse_iterations(const std::string& text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0)
    return Error{fmt::format("--iterations '{}' is not an integer 1..{}{}", text, ~0U, accepted())};
  return value;
}

// The unsigned integer at key, or an error naming where it should be.
Result<std::uint64_t> get_count(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  // A non-negative integer, however the JSON library typed it.
  if (it == obj.end() || !it->is_number_integer() || (!it->is_number_unsigned() && it->get<std::int64_t>() < 0))
    return Error{fmt::format("malformed stats from irqd: {} has no unsigned \"{}\"", where, key)};
  return it->get<std::uint64_t>();
}

Result<TopEntry> entry_from_vector(const json& v, const std::string& device) {
  const std::string where = fmt::format("a vector of device {}", device);
  if (!v.is_object()) return Error{"malformed stats from irqd: " + where + " is not an object"};
  auto index = get_count(v, "index", where);
  if (!index) return index.error();
  auto handled = get_count(v, "handled", where);
  if (!handled) return handled.error();
  auto cpu = v.find("cpu");
  if (cpu == v.end() || !cpu->is_number_integer())
    return Error{"malformed stats from irqd: " + where + " has no integer \"cpu\""};
  auto owner = v.find("ownership");
  TopEntry e;
  e.source = "irqd";
  e.device = device;
  e.vector = static_cast<unsigned>(*index);
  e.name = owner != v.end() && owner->is_string() ? owner->get<std::string>() : "";
  e.per_cpu = {{static_cast<int>(std::max<std::int64_t>(cpu->get<std::int64_t>(), -1)), *handled}};
  return e;
}

Result<TopSample> sample_irqd(const std::string& socket, int timeout_ms) {
  ControlRequest request;
  request.cmd = ControlCommand::kStats;
  auto stats = control_call(socket, request, timeout_ms);
  if (!stats) return stats.error();
  return top_sample_from_stats(*stats);
}

std::string rate_text(double rate) { return fmt::format("{:.1f}", rate); }

// Rows of cells: columns in right_aligned padded on the left, the others on
// the right, the last one not padded.
std::string align(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned) {
  std::vector<std::size_t> width(right_aligned.size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      line += right_aligned[c] ? fmt::format("{:>{}}", row[c], width[c]) : fmt::format("{:<{}}", row[c], width[c]);
    }
    while (line.ends_with(' ')) line.pop_back();
    out += line + "\n";
  }
  return out;
}

// SIGINT/SIGTERM through a signalfd and, when stdin is a terminal, 'q'
// read without waiting for Enter; both put back on destruction.
class Interaction {
 public:
  Interaction() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &mask, &old_mask_);
    signals_ = UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &old_term_) == 0) {
      termios raw = old_term_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      raw_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
  }
  Interaction(const Interaction&) = delete;
  Interaction& operator=(const Interaction&) = delete;
  Interaction(Interaction&&) = delete;
  Interaction& operator=(Interaction&&) = delete;
  ~Interaction() {
    if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &old_term_);
    signals_.reset();
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  // Waits up to ms; true when the user asked to quit.
  bool wait(int ms) {
    std::uint64_t deadline = monotonic_now_ns() + static_cast<std::uint64_t>(ms) * 1'000'000U;
    for (;;) {
      std::uint64_t now = monotonic_now_ns();
      if (now >= deadline) return false;
      pollfd fds[2] = {{signals_.get(), POLLIN, 0}, {raw_ ? STDIN_FILENO : -1, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>((deadline - now + 999'999) / 1'000'000));
      if (n < 0 && errno != EINTR) return true;
      if (n <= 0) continue;
      if (fds[0].revents != 0) {
        // Taken here, so that it is not delivered once the mask is put back.
        signalfd_siginfo info{};
        (void)!::read(signals_.get(), &info, sizeof info);
        return true;
      }
      if (fds[1].revents != 0 && quit_key()) return true;
    }
  }

 private:
  bool quit_key() {
    char c = 0;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 0) raw_ = false;  // stdin closed: stop watching it
    return n == 1 && (c == 'q' || c == 'Q');
  }

  sigset_t old_mask_{};
  UniqueFd signals_;
  termios old_term_{};
  bool raw_ = false;
};

void sleep_ms(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1'000'000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void put_error(std::ostream& err, std::string message) {
  std::replace_if(
      message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  err << "irqd: error: irqd top: " << message << "\n";
}

}  // namespace

std::string top_help() {
  return std::string(
             "SOURCE irqd: the vectors of a running irqd run, through its control socket; kernel: the lines of "
             "/proc/interrupts. CPU: irqd's serving CPU, or the CPU that took most of a kernel interrupt in the "
             "interval (- none). RATE/S: interrupts per second over the last interval; TOTAL: since the vector was "
             "set up. On a terminal the table is redrawn until q or Ctrl-C; into a pipe or a file, the tables follow "
             "one another.\n"
             "For testing: ") +
         kProcRootEnv + "=DIR reads a fake /proc tree instead of /proc.\n";
}

Result<TopOptions> parse_top_options(const TopFlags& flags) {
  TopOptions o;
  if (flags.socket.empty()) return Error{"--socket '' is empty" + accepted()};
  o.socket = flags.socket;
  if (flags.source == "irqd")
    o.source = TopSource::kIrqd;
  else if (flags.source == "kernel")
    o.source = TopSource::kKernel;
  else if (flags.source == "both")
    o.source = TopSource::kBoth;
  else
    return Error{fmt::format("--source '{}' is not one of irqd, kernel, both{}", flags.source, accepted())};
  if (flags.sort == "rate")
    o.sort = TopSort::kRate;
  else if (flags.sort == "total")
    o.sort = TopSort::kTotal;
  else if (flags.sort == "name")
    o.sort = TopSort::kName;
  else if (flags.sort == "cpu")
    o.sort = TopSort::kCpu;
  else
    return Error{fmt::format("--sort '{}' is not one of rate, total, name, cpu{}", flags.sort, accepted())};
  auto interval = parse_interval(flags.interval);
  if (!interval) return interval.error();
  o.interval_s = *interval;
  o.batch = flags.batch;
  o.iterations = flags.batch ? 1 : 0;
  if (!flags.iterations.empty()) {
    auto n = parse_iterations(flags.iterations);
    if (!n) return n.error();
    o.iterations = *n;
  }
  o.cpu = flags.cpu;
  return o;
}

Result<TopSample> top_sample_from_stats(const json& stats) {
  if (!stats.is_object()) return Error{"malformed stats from irqd: the result is not an object"};
  auto time = get_count(stats, "time_ns", "the result");
  if (!time) return time.error();
  auto devices = stats.find("devices");
  if (devices == stats.end() || !devices->is_array())
    return Error{"malformed stats from irqd: the result has no \"devices\" array"};
  TopSample sample;
  sample.time_ns = *time;
  for (const json& d : *devices) {
    auto name = d.is_object() ? d.find("name") : d.end();
    if (!d.is_object() || name == d.end() || !name->is_string())
      return Error{"malformed stats from irqd: a device has no \"name\""};
    const std::string device = name->get<std::string>();
    auto vectors = d.find("vectors");
    if (vectors == d.end() || !vectors->is_array())
      return Error{fmt::format("malformed stats from irqd: device {} has no \"vectors\" array", device)};
    for (const json& v : *vectors) {
      auto entry = entry_from_vector(v, device);
      if (!entry) return entry.error();
      sample.entries.push_back(std::move(*entry));
    }
  }
  return sample;
}

std::string format_top(const TopView& view, TopSort sort, bool cpus) {
  double sum = 0;
  for (const TopRow& r : view.rows) sum += r.rate.value_or(0.0);
  std::string out =
      fmt::format("irqd top: {} vector{}, {} interrupts/s over {:.1f} s, sorted by {}\n", view.rows.size(),
                  view.rows.size() == 1 ? "" : "s", rate_text(sum), view.interval_s, top_sort_name(sort));
  std::vector<std::vector<std::string>> rows{{"SOURCE", "DEVICE", "VECTOR", "CPU", "RATE/S", "TOTAL", "NAME"}};
  for (const TopRow& r : view.rows)
    rows.push_back({r.source, r.device, std::to_string(r.vector), r.cpu < 0 ? "-" : std::to_string(r.cpu),
                    r.rate ? rate_text(*r.rate) : "-", std::to_string(r.total), r.name.empty() ? "-" : r.name});
  out += align(rows, {false, false, true, true, true, true, false});
  if (!cpus) return out;
  std::vector<std::vector<std::string>> per_cpu{{"CPU", "RATE/S", "TOTAL"}};
  for (const TopCpu& c : view.cpus)
    per_cpu.push_back({std::to_string(c.cpu), rate_text(c.rate), std::to_string(c.total)});
  return out + "\n" + align(per_cpu, {true, true, true});
}

int run_top(const TopOptions& options, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  bool use_irqd = options.source != TopSource::kKernel;
  const bool use_kernel = options.source != TopSource::kIrqd;
  auto take = [&](std::vector<TopSample>& samples) -> Status {
    samples.clear();
    if (use_irqd) {
      auto s = sample_irqd(options.socket, options.timeout_ms);
      if (!s) return s.error();
      samples.push_back(std::move(*s));
    }
    if (use_kernel) {
      auto s = sample_proc_interrupts(roots);
      if (!s) return s.error();
      samples.push_back(std::move(*s));
    }
    return ok_status();
  };

  std::vector<TopSample> prev;
  Status first = take(prev);
  if (!first && options.source == TopSource::kBoth && use_irqd) {
    // Without a daemon there is still the kernel to watch.
    err << "irqd: note: irqd top: " << first.error().message << "; showing the kernel's interrupts only\n";
    use_irqd = false;
    first = take(prev);
  }
  if (!first) {
    put_error(err, first.error().message);
    return 1;
  }

  std::optional<Interaction> interaction;
  if (!options.batch) interaction.emplace();
  const int interval_ms = static_cast<int>(std::lround(options.interval_s * 1000));
  for (unsigned i = 0; options.iterations == 0 || i < options.iterations; ++i) {
    if (interaction) {
      if (interaction->wait(interval_ms)) break;
    } else {
      sleep_ms(interval_ms);
    }
    std::vector<TopSample> cur;
    if (Status s = take(cur); !s) {
      put_error(err, s.error().message);
      return 1;
    }
    TopView view;
    for (std::size_t k = 0; k < cur.size(); ++k) add_top_rates(view, prev[k], cur[k]);
    sort_top_rows(view.rows, options.sort);
    if (options.batch || !options.screen) {
      out << (i > 0 ? "\n" : "") << format_top(view, options.sort, options.cpu);
    } else {
      // Home and clear, then the table: no curses needed for a redraw.
      out << "\x1b[H\x1b[2J" << format_top(view, options.sort, options.cpu) << "(q or Ctrl-C quits)\n";
    }
    if (!out.flush()) return 1;
    prev = std::move(cur);
  }
  return 0;
}

}  // namespace irqd
