// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/uring_cache.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "base/atomic_file.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

// 2: "why" holds the measurement only (1 held the method's name too), and
// "read_per_s" the read SQEs' saturated rate.
constexpr int kFormat = 2;
constexpr std::size_t kMaxBytes = 1 << 20;

// The file's choices; an empty object when it is missing or not ours.
json read_choices(const std::string& path) {
  std::ifstream in(path);
  if (!in) return json::object();
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxBytes) return json::object();
  json root = json::parse(text.str(), nullptr, false);
  if (root.is_discarded() || !root.is_object() || root.value("irqd_uring_choice", 0) != kFormat ||
      !root.contains("choices") || !root["choices"].is_object())
    return json::object();
  return root["choices"];
}

std::optional<UringMethod> method_named(const std::string& name) {
  for (UringMethod m : {UringMethod::kReadSqe, UringMethod::kPollMultishot})
    if (uring_method_name(m) == name) return m;
  return std::nullopt;
}

}  // namespace

UringChoiceCache file_uring_cache(const std::string& path, std::function<void(const std::string&)> warn) {
  UringChoiceCache cache;
  cache.lookup = [path](const std::string& key) -> std::optional<UringChoiceCache::Entry> {
    const json choices = read_choices(path);
    auto it = choices.find(key);
    if (it == choices.end() || !it->is_object()) return std::nullopt;
    // A field of the wrong type is a miss (value() would throw).
    const auto method_field = it->find("method");
    const auto why_field = it->find("why");
    const auto rate_field = it->find("read_per_s");
    if (method_field == it->end() || !method_field->is_string() || why_field == it->end() || !why_field->is_string() ||
        rate_field == it->end() || !rate_field->is_number())
      return std::nullopt;
    auto method = method_named(method_field->get<std::string>());
    const double read_per_s = rate_field->get<double>();
    if (!method || !(read_per_s > 0)) return std::nullopt;
    return UringChoiceCache::Entry{*method, why_field->get<std::string>(), read_per_s};
  };
  cache.store = [path, warn = std::move(warn)](const std::string& key, const UringChoiceCache::Entry& e) {
    json choices = read_choices(path);
    choices[key] = {{"method", std::string(uring_method_name(e.method))}, {"why", e.why}, {"read_per_s", e.read_per_s}};
    const json root = {{"irqd_uring_choice", kFormat}, {"choices", std::move(choices)}};
    if (Status s = replace_file(path, root.dump(2) + "\n", 0644); !s && warn)
      warn("reactor.calibration_cache: cannot keep the io_uring calibration in " + path + ": " + s.error().message +
           " (the next start measures again)");
  };
  return cache;
}

}  // namespace irqd
