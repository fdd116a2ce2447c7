// Plug-ins loaded with dlopen: the example fixed_rate plug-in driven through
// the C++ interface and the registry; a wrong ABI version, a library without
// the entry symbol and a missing file are refused with clear messages.
#include "cc/plugin_loader.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "flexins/cc_plugin.h"

namespace flexins::cc {
namespace {

std::string load_error(const std::string& path) {
  try {
    CcPlugin::load(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << path << " loaded";
  return "";
}

TEST(Plugin, ExampleFixedRateIsAPolicy) {
  auto plugin = CcPlugin::load(FIXED_RATE_PLUGIN);
  EXPECT_EQ(plugin->name(), "fixed_rate");
  std::unique_ptr<CongestionControl> p = plugin->create();
  EXPECT_EQ(p->name(), "fixed_rate");
  EXPECT_EQ(p->rate_bps(), 1'000'000'000u);
  EXPECT_EQ(p->window_bytes(), 1u << 20);
  EXPECT_EQ(p->next_timer_ns(), kNoTimer);
  // Events it ignores (NULL callbacks) are harmless.
  p->on_send(10, 4096, 7);
  p->on_ack(20, 4096, 5000, true);
  p->on_loss(30);
  p->on_timeout(40);
  // A CNP halves the rate; its timer restores it 100 µs later.
  p->on_cnp(1'000'000);
  EXPECT_EQ(p->rate_bps(), 500'000'000u);
  EXPECT_EQ(p->next_timer_ns(), 1'100'000u);
  p->on_timer(1'100'000);
  EXPECT_EQ(p->rate_bps(), 1'000'000'000u);
  EXPECT_EQ(p->next_timer_ns(), kNoTimer);
}

TEST(Plugin, ParamsAndErrorsCrossTheAbi) {
  auto plugin = CcPlugin::load(FIXED_RATE_PLUGIN);
  auto p = plugin->create();
  EXPECT_FALSE(p->set_param("rate_bps", 2e9));
  EXPECT_EQ(p->rate_bps(), 2'000'000'000u);
  EXPECT_FALSE(p->set_param("window_bytes", 0));
  EXPECT_EQ(p->window_bytes(), kUnlimitedWindow);
  auto err = p->set_param("speed", 1);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "fixed_rate: unknown parameter 'speed' (known: rate_bps, window_bytes)");
  err = p->set_param("rate_bps", 5);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("out of range"), std::string::npos) << *err;
  auto params = p->params();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "rate_bps");
  EXPECT_DOUBLE_EQ(params[0].value, 2e9);
  EXPECT_EQ(params[1].name, "window_bytes");
}

TEST(Plugin, RegisteredPluginIsCreatedBySpecAndOutlivesItsHandle) {
  PolicyRegistry r = PolicyRegistry::with_builtins();
  register_plugin(r, CcPlugin::load(FIXED_RATE_PLUGIN));
  std::unique_ptr<CongestionControl> a = r.create("fixed_rate,rate_bps=5e9");
  std::unique_ptr<CongestionControl> b = r.create("fixed_rate");
  r = PolicyRegistry::with_builtins();  // the registry lets go of the plug-in
  EXPECT_EQ(a->rate_bps(), 5'000'000'000u);  // state is per policy
  EXPECT_EQ(b->rate_bps(), 1'000'000'000u);
  a->on_cnp(0);
  EXPECT_EQ(a->rate_bps(), 2'500'000'000u);
  EXPECT_EQ(b->rate_bps(), 1'000'000'000u);
  EXPECT_THROW(r.create("fixed_rate"), std::invalid_argument);
}

TEST(Plugin, WrongAbiVersionIsRefusedNamingBothVersions) {
  std::string e = load_error(WRONG_ABI_PLUGIN);
  std::string theirs = std::to_string(FLEXINS_CC_ABI_VERSION + 1);
  std::string ours = std::to_string(FLEXINS_CC_ABI_VERSION);
  EXPECT_EQ(e, std::string("cc plug-in ") + WRONG_ABI_PLUGIN + ": built for cc plug-in ABI version " + theirs +
                   ", this engine speaks version " + ours);
}

TEST(Plugin, NotAPluginOrMissingIsRefused) {
  std::string e = load_error("libm.so.6");  // loads, but has no entry symbol
  EXPECT_EQ(e, "cc plug-in libm.so.6: no symbol flexins_cc_plugin_entry (not a FlexiNS cc plug-in?)");
  e = load_error("/nonexistent/plugin.so");
  EXPECT_EQ(e.rfind("cc plug-in /nonexistent/plugin.so: cannot load: ", 0), 0u) << e;
}

}  // namespace
}  // namespace flexins::cc
