#include "cc/param_table.h"

#include <cmath>
#include <sstream>

namespace flexins::cc {

void ParamTable::add(std::string name, std::string help, double* field, double min, double max) {
  entries_.push_back({std::move(name), std::move(help), field, min, max});
}

void ParamTable::add(std::string name, std::string help, uint64_t* field, uint64_t min, uint64_t max) {
  entries_.push_back({std::move(name), std::move(help), field, static_cast<double>(min), static_cast<double>(max)});
}

std::optional<std::string> ParamTable::set(std::string_view policy, std::string_view key, double value) {
  for (Entry& e : entries_) {
    if (e.name != key) continue;
    std::ostringstream err;
    err << policy << ": " << key << "=" << value;
    if (!std::isfinite(value) || value < e.min || value > e.max) {
      err << " is out of range [" << e.min << ", " << e.max << "] (" << e.help << ")";
      return err.str();
    }
    if (auto* u = std::get_if<uint64_t*>(&e.field)) {
      if (value != std::floor(value)) {
        err << " must be a whole number (" << e.help << ")";
        return err.str();
      }
      uint64_t old = **u;
      **u = static_cast<uint64_t>(value);
      if (auto bad = validate_ ? validate_() : std::nullopt) {
        **u = old;
        return std::string(policy) + ": " + *bad;
      }
    } else {
      double* d = std::get<double*>(e.field);
      double old = *d;
      *d = value;
      if (auto bad = validate_ ? validate_() : std::nullopt) {
        *d = old;
        return std::string(policy) + ": " + *bad;
      }
    }
    return std::nullopt;
  }
  std::string known;
  for (const Entry& e : entries_) known += (known.empty() ? "" : ", ") + e.name;
  return std::string(policy) + ": unknown parameter '" + std::string(key) + "' (known: " + known + ")";
}

std::vector<ParamInfo> ParamTable::list() const {
  std::vector<ParamInfo> out;
  for (const Entry& e : entries_) {
    double v = std::visit([](auto* p) { return static_cast<double>(*p); }, e.field);
    out.push_back({e.name, v, e.help});
  }
  return out;
}

}  // namespace flexins::cc
