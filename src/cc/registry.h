// Congestion-control policies by name: the built-in ones and any plug-in
// registered at run time. A spec names a policy and overrides its parameters:
//   "dcqcn"   "dcqcn,g=0.00390625,rai_bps=40e6"   "swift,target_delay_ns=30000"
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cc/congestion_control.h"

namespace flexins::cc {

using PolicyFactory = std::function<std::unique_ptr<CongestionControl>()>;

class PolicyRegistry {
 public:
  // "none", "dcqcn" and "swift".
  static PolicyRegistry with_builtins();

  // Throws std::invalid_argument if the name is empty, has a ',' or '=', or
  // is taken.
  void add(const std::string& name, PolicyFactory factory);
  bool has(std::string_view name) const { return factories_.find(name) != factories_.end(); }
  std::vector<std::string> names() const;

  // "NAME[,key=value...]": a new policy with the overrides applied, in order.
  // Throws std::invalid_argument with a message naming the bad part.
  std::unique_ptr<CongestionControl> create(std::string_view spec) const;

 private:
  std::map<std::string, PolicyFactory, std::less<>> factories_;
};

// Applies "key=value,key=value" (decimal numbers, e.g. 0.5, 40e6) to a
// policy, in order. Throws std::invalid_argument naming the bad part; the
// assignments before it stay applied.
void apply_params(CongestionControl& policy, std::string_view assignments);

}  // namespace flexins::cc
