#include "cc/none_policy.h"

namespace flexins::cc {

NonePolicy::NonePolicy(const NoneConfig& config) : config_(config) {
  table_.add("window", "most bytes in flight; 0 = unlimited", &config_.window_bytes, 0, uint64_t{1} << 40);
}

}  // namespace flexins::cc
