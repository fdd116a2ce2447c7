// Policies by name with parameter overrides, and the errors for bad specs.
#include "cc/registry.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "cc/none_policy.h"

namespace flexins::cc {
namespace {

double param(const CongestionControl& p, const std::string& name) {
  for (const ParamInfo& i : p.params()) {
    if (i.name == name) return i.value;
  }
  ADD_FAILURE() << "no parameter " << name;
  return -1;
}

// The message of the std::invalid_argument that create(spec) throws.
std::string create_error(const PolicyRegistry& r, std::string_view spec) {
  try {
    r.create(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "'" << spec << "' was accepted";
  return "";
}

TEST(Registry, BuiltinsByName) {
  PolicyRegistry r = PolicyRegistry::with_builtins();
  EXPECT_EQ(r.names(), (std::vector<std::string>{"dcqcn", "none", "swift"}));
  for (const char* name : {"none", "dcqcn", "swift"}) EXPECT_EQ(r.create(name)->name(), name);
}

TEST(Registry, OverridesApplyInOrder) {
  PolicyRegistry r = PolicyRegistry::with_builtins();
  auto p = r.create("dcqcn,g=0.00390625,rai_bps=5e6,g=0.0625,");
  EXPECT_DOUBLE_EQ(param(*p, "g"), 0.0625);
  EXPECT_DOUBLE_EQ(param(*p, "rai_bps"), 5e6);
  auto s = r.create("swift,target_delay_ns=30000");
  EXPECT_DOUBLE_EQ(param(*s, "target_delay_ns"), 30000);
  // Each create is a fresh policy with the defaults.
  EXPECT_DOUBLE_EQ(param(*r.create("dcqcn"), "g"), 1.0 / 256);
}

TEST(Registry, ClearErrors) {
  PolicyRegistry r = PolicyRegistry::with_builtins();
  EXPECT_EQ(create_error(r, "cubic"), "cc: unknown policy 'cubic' (known: dcqcn, none, swift)");
  EXPECT_EQ(create_error(r, ""), "cc: unknown policy '' (known: dcqcn, none, swift)");
  std::string e = create_error(r, "dcqcn,gain=1");
  EXPECT_NE(e.find("dcqcn: unknown parameter 'gain' (known: line_rate_bps,"), std::string::npos) << e;
  EXPECT_EQ(create_error(r, "dcqcn,g"), "cc: expected key=value, got 'g'");
  EXPECT_EQ(create_error(r, "dcqcn,=1"), "cc: expected key=value, got '=1'");
  EXPECT_EQ(create_error(r, "dcqcn,g=1/256"), "cc: dcqcn: 'g=1/256': the value is not a number");
  EXPECT_EQ(create_error(r, "dcqcn,g="), "cc: dcqcn: 'g=': the value is not a number");
  e = create_error(r, "dcqcn,g=2");
  EXPECT_NE(e.find("cc: dcqcn: g=2 is out of range [0, 1]"), std::string::npos) << e;
  e = create_error(r, "swift,retx_reset_threshold=2.5");
  EXPECT_NE(e.find("must be a whole number"), std::string::npos) << e;
  e = create_error(r, "none,window=nan");
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(Registry, AddRefusesTakenAndMalformedNames) {
  PolicyRegistry r = PolicyRegistry::with_builtins();
  auto factory = [] { return std::make_unique<NonePolicy>(); };
  EXPECT_THROW(r.add("none", factory), std::invalid_argument);
  EXPECT_THROW(r.add("", factory), std::invalid_argument);
  EXPECT_THROW(r.add("a,b", factory), std::invalid_argument);
  EXPECT_THROW(r.add("a=b", factory), std::invalid_argument);
  r.add("window_only", factory);
  EXPECT_TRUE(r.has("window_only"));
  EXPECT_EQ(r.create("window_only,window=8192")->window_bytes(), 8192u);
}

}  // namespace
}  // namespace flexins::cc
