// The tunables of a built-in policy as a table: name, help, allowed range,
// and where the value lives. One implementation of set_param/params() for
// all built-in policies, so they check ranges and word errors the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cc/congestion_control.h"

namespace flexins::cc {

class ParamTable {
 public:
  // Each parameter points into the policy's config struct; the table must not
  // outlive it (the policy owns both).
  void add(std::string name, std::string help, double* field, double min, double max);
  void add(std::string name, std::string help, uint64_t* field, uint64_t min, uint64_t max);

  // A check across parameters (e.g. min_rate <= line_rate), run after a
  // change; an error rolls the change back.
  void set_validator(std::function<std::optional<std::string>()> validate) {
    validate_ = std::move(validate);
  }

  // `policy` names the policy in error messages.
  std::optional<std::string> set(std::string_view policy, std::string_view key, double value);
  std::vector<ParamInfo> list() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::variant<double*, uint64_t*> field;
    double min;
    double max;
  };
  std::vector<Entry> entries_;
  std::function<std::optional<std::string>()> validate_;
};

}  // namespace flexins::cc
