#include "cc/plugin_loader.h"

#include <dlfcn.h>

#include <stdexcept>

#include "cc/plugin_policy.h"
#include "flexins/cc_plugin.h"

namespace flexins::cc {

namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::runtime_error("cc plug-in " + path + ": " + why);
}

// Closes the handle unless released: the load checks may throw.
struct HandleGuard {
  void* handle;
  ~HandleGuard() {
    if (handle) dlclose(handle);
  }
};

}  // namespace

std::shared_ptr<CcPlugin> CcPlugin::load(const std::string& path) {
  // RTLD_LOCAL: two plug-ins may define the same helper names.
  HandleGuard guard{dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)};
  if (!guard.handle) refuse(path, std::string("cannot load: ") + dlerror());
  dlerror();
  void* sym = dlsym(guard.handle, FLEXINS_CC_PLUGIN_ENTRY);
  if (!sym) refuse(path, "no symbol " FLEXINS_CC_PLUGIN_ENTRY " (not a FlexiNS cc plug-in?)");
  auto entry = reinterpret_cast<flexins_cc_plugin_entry_fn>(sym);
  const flexins_cc_plugin* desc = entry();
  if (!desc) refuse(path, FLEXINS_CC_PLUGIN_ENTRY "() returned NULL");
  // abi_version is the first field in every ABI version, so it is safe to
  // read before knowing the rest of the layout.
  if (desc->abi_version != FLEXINS_CC_ABI_VERSION) {
    refuse(path, "built for cc plug-in ABI version " + std::to_string(desc->abi_version) +
                     ", this engine speaks version " + std::to_string(FLEXINS_CC_ABI_VERSION));
  }
  if (!desc->name || desc->name[0] == '\0') refuse(path, "has no name");
  if (!desc->create || !desc->destroy || !desc->rate_bps || !desc->window_bytes) {
    refuse(path, "lacks a required callback (create, destroy, rate_bps, window_bytes)");
  }
  void* handle = guard.handle;
  guard.handle = nullptr;
  return std::shared_ptr<CcPlugin>(new CcPlugin(path, handle, desc));
}

CcPlugin::CcPlugin(std::string path, void* handle, const flexins_cc_plugin* desc)
    : path_(std::move(path)), handle_(handle), desc_(desc), name_(desc->name) {}

CcPlugin::~CcPlugin() { dlclose(handle_); }

std::unique_ptr<CongestionControl> CcPlugin::create() const {
  void* state = desc_->create();
  if (!state) throw std::runtime_error("cc plug-in " + name_ + ": create() failed");
  return std::make_unique<PluginPolicy>(shared_from_this(), desc_, state);
}

void register_plugin(PolicyRegistry& registry, std::shared_ptr<const CcPlugin> plugin) {
  std::string name = plugin->name();
  registry.add(name, [plugin = std::move(plugin)] { return plugin->create(); });
}

}  // namespace flexins::cc
