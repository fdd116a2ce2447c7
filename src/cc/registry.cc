#include "cc/registry.h"

#include <charconv>
#include <stdexcept>

#include "cc/dcqcn.h"
#include "cc/none_policy.h"
#include "cc/swift.h"

namespace flexins::cc {

PolicyRegistry PolicyRegistry::with_builtins() {
  PolicyRegistry r;
  r.add("none", [] { return std::make_unique<NonePolicy>(); });
  r.add("dcqcn", [] { return std::make_unique<DcqcnPolicy>(); });
  r.add("swift", [] { return std::make_unique<SwiftPolicy>(); });
  return r;
}

void PolicyRegistry::add(const std::string& name, PolicyFactory factory) {
  if (name.empty() || name.find_first_of(",=") != std::string::npos) {
    throw std::invalid_argument("cc: bad policy name '" + name + "' (empty, or has ',' or '=')");
  }
  if (!factories_.emplace(name, std::move(factory)).second) {
    throw std::invalid_argument("cc: a policy named '" + name + "' is already registered");
  }
}

std::vector<std::string> PolicyRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

std::unique_ptr<CongestionControl> PolicyRegistry::create(std::string_view spec) const {
  std::string_view name = spec.substr(0, spec.find(','));
  std::string_view rest = name.size() < spec.size() ? spec.substr(name.size() + 1) : std::string_view{};
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("cc: unknown policy '" + std::string(name) + "' (known: " + known + ")");
  }
  std::unique_ptr<CongestionControl> policy = it->second();
  apply_params(*policy, rest);
  return policy;
}

void apply_params(CongestionControl& policy, std::string_view assignments) {
  while (!assignments.empty()) {
    size_t comma = assignments.find(',');
    std::string_view item = assignments.substr(0, comma);
    assignments = comma == std::string_view::npos ? std::string_view{} : assignments.substr(comma + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      throw std::invalid_argument("cc: expected key=value, got '" + std::string(item) + "'");
    }
    std::string_view key = item.substr(0, eq), text = item.substr(eq + 1);
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      throw std::invalid_argument("cc: " + std::string(policy.name()) + ": '" + std::string(item) +
                                  "': the value is not a number");
    }
    if (auto err = policy.set_param(key, value)) throw std::invalid_argument("cc: " + *err);
  }
}

}  // namespace flexins::cc
